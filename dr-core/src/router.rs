//! Traffic routers: who gets how much of the traffic.

use std::collections::BTreeMap;
use std::fmt::{self, Debug};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::ProviderError;

/// A weight per target, in percent. Weights are integers that sum to 100; a target
/// absent from the split gets 0.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "engine", derive(schemars::JsonSchema))]
#[serde(transparent)]
pub struct TrafficSplit(BTreeMap<String, u32>);

impl TrafficSplit {
    /// An empty split (weights still to be set).
    pub fn new() -> Self {
        TrafficSplit(BTreeMap::new())
    }

    /// All traffic to `target`.
    pub fn all_to(target: impl Into<String>) -> Self {
        let mut s = TrafficSplit::new();
        s.set(target, 100);
        s
    }

    /// Builds a split from `(target, weight)` pairs.
    pub fn from_pairs<I, S>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (S, u32)>,
        S: Into<String>,
    {
        let mut s = TrafficSplit::new();
        for (t, w) in pairs {
            s.set(t, w);
        }
        s
    }

    /// The split in percent (summing to 100, largest remainder) of weights a
    /// service reports, each target's share of the total. Any `u64` weights are
    /// accepted: the arithmetic is done in `u128`, so nothing overflows. `None` when
    /// every weight is 0 (the caller says what that means for its service).
    ///
    /// Providers turn their service's weights (Route 53 `Weight`, Cloudflare pool
    /// and origin weights, Traffic Manager endpoint weights) into a split with this,
    /// after checking them against the service's documented range.
    pub fn proportional<I, S>(weights: I) -> Option<TrafficSplit>
    where
        I: IntoIterator<Item = (S, u64)>,
        S: Into<String>,
    {
        let (names, parts): (Vec<String>, Vec<u64>) =
            weights.into_iter().map(|(t, w)| (t.into(), w)).unzip();
        if parts.iter().all(|w| *w == 0) {
            return None;
        }
        let shares = apportion(100, &parts);
        Some(TrafficSplit::from_pairs(names.into_iter().zip(shares).map(
            // Each share is at most the total, 100.
            |(t, s)| (t, u32::try_from(s).unwrap_or(100)),
        )))
    }

    /// Sets `target`'s weight (0 removes it).
    pub fn set(&mut self, target: impl Into<String>, weight: u32) {
        let target = target.into();
        if weight == 0 {
            self.0.remove(&target);
        } else {
            self.0.insert(target, weight);
        }
    }

    /// The weight of `target` (0 when absent).
    pub fn weight(&self, target: &str) -> u32 {
        self.0.get(target).copied().unwrap_or(0)
    }

    /// The sum of all weights (100 for a valid split), summed wide so that no
    /// weights, however large, wrap around.
    pub fn total(&self) -> u64 {
        self.0
            .values()
            .map(|w| u64::from(*w))
            .fold(0, u64::saturating_add)
    }

    /// Targets with a non-zero weight, with their weights, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u32)> {
        self.0
            .iter()
            .filter(|(_, w)| **w > 0)
            .map(|(t, w)| (t.as_str(), *w))
    }

    /// Targets with a non-zero weight.
    pub fn targets(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|(t, _)| t)
    }

    /// Checks that weights sum to 100 and name only `known` targets.
    pub fn check(&self, known: &[String]) -> Result<(), String> {
        for t in self.0.keys() {
            if !known.iter().any(|k| k == t) {
                return Err(format!(
                    "unknown target `{t}` (known: {})",
                    known.join(", ")
                ));
            }
        }
        if self.total() != 100 {
            return Err(format!("weights sum to {}, not 100", self.total()));
        }
        Ok(())
    }

    /// The split with zero weights removed, for comparison.
    pub fn normalized(&self) -> TrafficSplit {
        TrafficSplit(
            self.0
                .iter()
                .filter(|(_, w)| **w > 0)
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
        )
    }

    /// Whether two splits give every target the same weight.
    pub fn same_as(&self, other: &TrafficSplit) -> bool {
        self.normalized() == other.normalized()
    }

    /// The split `phase` percent of the way to `to`: `to` gets `phase`, every other
    /// target keeps its share of the remaining `100 - phase`, in proportion to its
    /// weight in `self` (largest remainder rounding, so the result sums to 100).
    ///
    /// Any weights are accepted (the arithmetic is done in `u128`, so nothing
    /// overflows); the result always sums to 100.
    pub fn shifted_towards(&self, to: &str, phase: u32) -> TrafficSplit {
        let phase = phase.min(100);
        let others: Vec<(&str, u32)> = self.iter().filter(|(t, _)| *t != to).collect();
        // At most u32::MAX per target and fewer than 2^64 targets: no overflow.
        let others_total: u128 = others.iter().map(|(_, w)| u128::from(*w)).sum();
        let mut out = TrafficSplit::new();
        out.set(to, phase);
        let rest = 100 - phase;
        if rest == 0 || others_total == 0 {
            if rest > 0 {
                out.set(to, 100);
            }
            return out;
        }
        let weights: Vec<u64> = others.iter().map(|(_, w)| u64::from(*w)).collect();
        for ((t, _), w) in others.iter().zip(apportion(u64::from(rest), &weights)) {
            // `w <= rest <= 100`.
            out.set(*t, u32::try_from(w).unwrap_or(100));
        }
        out
    }
}

/// Splits `total` units in proportion to `parts`, by largest remainder: the
/// result sums to `total` exactly (when any part is non-zero), and ties go to the
/// earlier part. All zero parts give all zeros.
///
/// Any `u64` values are accepted: products and sums are computed in `u128`, which
/// cannot overflow for fewer than 2^64 parts.
pub fn apportion(total: u64, parts: &[u64]) -> Vec<u64> {
    let sum: u128 = parts.iter().map(|p| u128::from(*p)).sum();
    if sum == 0 {
        return vec![0; parts.len()];
    }
    let exact = |p: u64| u128::from(total) * u128::from(p);
    // Each quotient is at most `total`, so it fits a u64.
    let mut out: Vec<u64> = parts
        .iter()
        .map(|p| u64::try_from(exact(*p) / sum).unwrap_or(total))
        .collect();
    let mut order: Vec<(usize, u128)> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| (i, exact(*p) % sum))
        .collect();
    order.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut left = total.saturating_sub(out.iter().fold(0u64, |a, b| a.saturating_add(*b)));
    for (i, rem) in order {
        if left == 0 || rem == 0 {
            break;
        }
        out[i] += 1;
        left -= 1;
    }
    out
}

impl fmt::Display for TrafficSplit {
    /// `east 80, west 20`; an empty split prints `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (t, w) in self.iter() {
            if !first {
                f.write_str(", ")?;
            }
            write!(f, "{t} {w}")?;
            first = false;
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// What a router can do; validation rejects a plan step that needs more.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RouterCapabilities {
    /// Can split traffic between several targets (else only "all to one target").
    pub weighted: bool,
    /// Accepts a `scope` (a part of the traffic, e.g. a Cloudflare region code).
    pub scoped: bool,
    /// The scopes it accepts when `scoped`; empty means any.
    pub scopes: Vec<String>,
}

impl RouterCapabilities {
    /// A router that can only send all traffic to one target.
    pub fn failover_only() -> Self {
        Self::default()
    }

    /// A router that splits traffic by weight.
    pub fn weighted() -> Self {
        RouterCapabilities {
            weighted: true,
            ..Self::default()
        }
    }

    /// Adds scope support, for the given scopes (empty = any).
    pub fn with_scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scoped = true;
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Whether `scope` is accepted.
    pub fn accepts_scope(&self, scope: &str) -> bool {
        self.scoped && (self.scopes.is_empty() || self.scopes.iter().any(|s| s == scope))
    }
}

/// Decides which of its named targets receive traffic.
///
/// # Contract
///
/// - `targets()` is fixed for the router's lifetime and known without I/O.
/// - `current(scope)` reads the live configuration and reports the *effective*
///   split for that scope (for `None`, the traffic that no scope singles out). It
///   has no side effect.
/// - `apply(split, scope)` is idempotent: applying a split that is already in place
///   changes nothing, and applying it twice is the same as once. When it returns
///   `Ok`, a following `current(scope)` returns `split`.
/// - A split naming an unknown target, or with weights not summing to 100, is
///   [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest); so is a scope the
///   router does not accept. A router without `weighted` capability rejects a split
///   with more than one target the same way.
/// - Passing faults are `Transient`/`Throttled`/`Timeout` (the executor retries
///   them); anything else fails the step.
#[async_trait]
pub trait TrafficRouter: Send + Sync + Debug {
    /// The target names this router owns (`eastus`, `westus`, `maintenance`).
    fn targets(&self) -> Vec<String>;

    /// What this router can do.
    fn capabilities(&self) -> RouterCapabilities;

    /// The effective split now.
    async fn current(&self, scope: Option<&str>) -> Result<TrafficSplit, ProviderError>;

    /// Makes `split` the effective split.
    async fn apply(&self, split: &TrafficSplit, scope: Option<&str>) -> Result<(), ProviderError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportion_takes_any_u64_without_overflow() {
        assert_eq!(apportion(100, &[u64::MAX, u64::MAX]), vec![50, 50]);
        assert_eq!(apportion(100, &[u64::MAX, 0, 1]), vec![100, 0, 0]);
        assert_eq!(apportion(100, &[0, 0]), vec![0, 0]);
        assert_eq!(apportion(7, &[1, 1, 1]), vec![3, 2, 2]);
        assert_eq!(
            TrafficSplit::proportional([("a", u64::MAX), ("b", u64::MAX / 3)]),
            Some(TrafficSplit::from_pairs([("a", 75), ("b", 25)]))
        );
        assert_eq!(TrafficSplit::proportional([("a", 0u64)]), None);
    }

    proptest::proptest! {
        #[test]
        fn apportion_sums_to_total_and_stays_proportional(
            total in 0u64..=1_000_000,
            parts in proptest::collection::vec(proptest::num::u64::ANY, 1..12),
        ) {
            let out = apportion(total, &parts);
            proptest::prop_assert_eq!(out.len(), parts.len());
            let sum: u128 = parts.iter().map(|p| u128::from(*p)).sum();
            if sum == 0 {
                proptest::prop_assert!(out.iter().all(|o| *o == 0));
            } else {
                proptest::prop_assert_eq!(out.iter().map(|o| u128::from(*o)).sum::<u128>(), u128::from(total));
                for (o, p) in out.iter().zip(&parts) {
                    // Within one unit of the exact share.
                    let exact = u128::from(total) * u128::from(*p);
                    proptest::prop_assert!(u128::from(*o) * sum <= exact + sum);
                    proptest::prop_assert!(u128::from(*o) * sum + sum >= exact);
                }
            }
        }

        #[test]
        fn proportional_splits_sum_to_100(
            weights in proptest::collection::btree_map("[a-e]", proptest::num::u64::ANY, 1..5),
        ) {
            match TrafficSplit::proportional(weights.clone()) {
                Some(s) => proptest::prop_assert_eq!(s.total(), 100),
                None => proptest::prop_assert!(weights.values().all(|w| *w == 0)),
            }
        }

        #[test]
        fn shifting_any_split_sums_to_100(
            weights in proptest::collection::btree_map("[a-e]", proptest::num::u32::ANY, 0..5),
            phase in 0u32..=200,
        ) {
            let s = TrafficSplit::from_pairs(weights).shifted_towards("z", phase);
            proptest::prop_assert_eq!(s.total(), 100);
        }
    }

    #[test]
    fn shift_keeps_others_in_proportion_and_sums_to_100() {
        let start = TrafficSplit::from_pairs([("east", 70), ("maint", 30)]);
        for phase in [0, 20, 33, 40, 60, 80, 99, 100] {
            let s = start.shifted_towards("west", phase);
            assert_eq!(s.total(), 100, "phase {phase}: {s}");
            assert_eq!(s.weight("west"), phase);
        }
        let s = start.shifted_towards("west", 20);
        assert_eq!(
            s,
            TrafficSplit::from_pairs([("east", 56), ("maint", 24), ("west", 20)])
        );
    }

    #[test]
    fn huge_weights_neither_overflow_nor_wrap() {
        let s = TrafficSplit::from_pairs([("west", u32::MAX), ("east", 101)]);
        assert_eq!(s.total(), 4_294_967_396);
        assert!(
            s.check(&["east".to_string(), "west".to_string()])
                .unwrap_err()
                .contains("weights sum to 4294967396, not 100")
        );
        let max = TrafficSplit::from_pairs([("a", u32::MAX), ("b", u32::MAX), ("c", u32::MAX)]);
        assert_eq!(max.total(), 3 * u64::from(u32::MAX));
        for phase in [0, 1, 50, 99, 100, u32::MAX] {
            for from in [&s, &max] {
                let out = from.shifted_towards("west", phase);
                assert_eq!(out.total(), 100, "{from} -> west {phase}: {out}");
            }
        }
        assert_eq!(
            max.shifted_towards("d", 1),
            TrafficSplit::from_pairs([("a", 33), ("b", 33), ("c", 33), ("d", 1)])
        );
    }

    #[test]
    fn check_reports_unknown_targets_and_bad_sums() {
        let known = vec!["east".to_string(), "west".to_string()];
        assert!(
            TrafficSplit::from_pairs([("east", 50), ("west", 50)])
                .check(&known)
                .is_ok()
        );
        assert!(
            TrafficSplit::from_pairs([("east", 50), ("west", 40)])
                .check(&known)
                .unwrap_err()
                .contains("sum to 90")
        );
        assert!(
            TrafficSplit::all_to("north")
                .check(&known)
                .unwrap_err()
                .contains("unknown target `north`")
        );
    }
}
