//! What Traffic Manager and Front Door share as routers and probes.
//!
//! Both express a split the same way: a target with weight `w > 0` is `Enabled`
//! with an Azure weight of `10 × w` (so 1..=100 % becomes 10..=1000, inside Azure's
//! 1–1000), a target at 0 is `Disabled`. Reading back, the enabled endpoints'
//! weights are turned into percentages (largest remainder, summing to 100). A
//! Traffic Manager *priority* profile is failover-only: the target at 100 is
//! `Enabled`, every other `Disabled`. Both probes report one target,
//! `probe_target`, else the first.

use std::collections::BTreeMap;

use dr_core::{ConfigError, ProviderError, TrafficSplit};
use serde_json::Value;

use crate::error::{conflict, invalid};

/// One endpoint or origin as read: enabled and its Azure weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Member {
    pub enabled: bool,
    pub weight: u32,
    pub priority: u32,
}

/// Checks `split` against the targets (and, failover-only, one target).
pub(crate) fn check_split(
    split: &TrafficSplit,
    targets: &[String],
    weighted: bool,
) -> Result<(), ProviderError> {
    split.check(targets).map_err(invalid)?;
    if !weighted && split.normalized().iter().count() > 1 {
        return Err(invalid(format!(
            "{split}: this router is failover-only (all traffic to one target)"
        )));
    }
    Ok(())
}

/// The members a split asks for, target by target (`weighted`: weight × 10;
/// failover-only: enabled or not, the weight left as it is).
pub(crate) fn desired(split: &TrafficSplit, targets: &[String]) -> BTreeMap<String, (bool, u32)> {
    targets
        .iter()
        .map(|t| {
            let w = split.weight(t);
            (t.clone(), (w > 0, w * 10))
        })
        .collect()
}

/// Percentages (summing to 100) from the enabled members' weights.
pub(crate) fn split_of(members: &BTreeMap<String, Member>, weighted: bool) -> Option<TrafficSplit> {
    let enabled: Vec<(&String, &Member)> = members.iter().filter(|(_, m)| m.enabled).collect();
    if enabled.is_empty() {
        return None;
    }
    if !weighted {
        // Priority routing: the enabled endpoint with the lowest priority number.
        let (t, _) = enabled
            .iter()
            .min_by_key(|(t, m)| (m.priority, (*t).clone()))?;
        return Some(TrafficSplit::all_to(t.as_str()));
    }
    TrafficSplit::proportional(
        enabled
            .iter()
            .map(|(t, m)| (t.as_str(), u64::from(m.weight.max(1)))),
    )
}

/// `properties.{key}` of an endpoint or origin as a number (0 when absent).
pub(crate) fn num(v: &Value, key: &str) -> u32 {
    v.pointer(&format!("/properties/{key}"))
        .and_then(Value::as_u64)
        .map_or(0, |n| u32::try_from(n).unwrap_or(u32::MAX))
}

/// No target is enabled: the router cannot say where traffic goes.
pub(crate) fn no_traffic(what: &str) -> ProviderError {
    conflict(format!(
        "{what}: no target is enabled, so no traffic is routed"
    ))
}

/// Checks that `probe_target`, when set, is one of `targets`.
pub(crate) fn check_probe_target(
    probe_target: &Option<String>,
    targets: &BTreeMap<String, String>,
) -> Result<(), ConfigError> {
    match probe_target {
        Some(t) if !targets.contains_key(t) => Err(ConfigError::key(
            "probe_target",
            format!("`{t}` is not one of `targets`"),
        )),
        _ => Ok(()),
    }
}

/// The target a probe reports: `probe_target`, else the first target.
pub(crate) fn probe_target(
    probe_target: &Option<String>,
    first: Option<&String>,
) -> Result<String, ConfigError> {
    probe_target
        .clone()
        .or_else(|| first.cloned())
        .ok_or_else(|| ConfigError::key("probe_target", "no target to probe"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use dr_core::ErrorKind;

    fn m(enabled: bool, weight: u32) -> Member {
        Member {
            enabled,
            weight,
            priority: 1,
        }
    }

    #[test]
    fn weights_become_percentages_summing_to_100() {
        let members = BTreeMap::from([
            ("a".to_string(), m(true, 1)),
            ("b".to_string(), m(true, 1)),
            ("c".to_string(), m(true, 1)),
            ("d".to_string(), m(false, 1000)),
        ]);
        let s = split_of(&members, true).unwrap();
        assert_eq!(s.total(), 100);
        assert_eq!(s.weight("d"), 0);
        let members = BTreeMap::from([
            ("a".to_string(), m(true, 700)),
            ("b".to_string(), m(true, 300)),
        ]);
        assert_eq!(
            split_of(&members, true).unwrap(),
            TrafficSplit::from_pairs([("a", 70), ("b", 30)])
        );
        assert!(split_of(&BTreeMap::from([("a".to_string(), m(false, 5))]), true).is_none());
    }

    #[test]
    fn a_split_maps_to_enabled_weights_times_ten_and_disabled_at_zero() {
        let targets = vec!["east".to_string(), "west".to_string(), "maint".to_string()];
        let d = desired(
            &TrafficSplit::from_pairs([("east", 20), ("west", 80)]),
            &targets,
        );
        assert_eq!(d["east"], (true, 200));
        assert_eq!(d["west"], (true, 800));
        assert_eq!(d["maint"], (false, 0));
        let one = desired(&TrafficSplit::all_to("west"), &targets);
        assert_eq!(one["west"], (true, 1000));
    }

    #[test]
    fn priority_profiles_report_the_first_enabled_endpoint() {
        let members = BTreeMap::from([
            (
                "east".to_string(),
                Member {
                    enabled: true,
                    weight: 1,
                    priority: 2,
                },
            ),
            (
                "west".to_string(),
                Member {
                    enabled: true,
                    weight: 1,
                    priority: 1,
                },
            ),
        ]);
        assert_eq!(
            split_of(&members, false).unwrap(),
            TrafficSplit::all_to("west")
        );
        let e = check_split(
            &TrafficSplit::from_pairs([("east", 50), ("west", 50)]),
            &["east".to_string(), "west".to_string()],
            false,
        )
        .unwrap_err();
        assert_eq!(e.kind(), &ErrorKind::InvalidRequest);
    }
}
