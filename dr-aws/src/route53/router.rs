//! `aws.route53`: weighted or failover record sets of one name as a traffic router.

use std::collections::BTreeMap;

use aws_sdk_route53::types::{
    Change, ChangeAction, ChangeBatch, ChangeStatus, ResourceRecordSet, ResourceRecordSetFailover,
    RrType,
};
use dr_core::poll::{self, CancellationToken, Poll};
use dr_core::{
    ConfigError, ProviderError, RouterCapabilities, Settings, TrafficRouter, TrafficSplit,
    async_trait,
};
use tokio::time::Instant;

use super::config::Route53Config;
use crate::client::Aws;
use crate::config::AwsCommon;
use crate::error::{conflict, fatal, from_poll, from_sdk, invalid};

/// The provider name of Route 53 record-set routers.
pub const ROUTE53_PROVIDER: &str = crate::names::ROUTE53;

/// How the live record sets route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Weighted,
    Failover,
}

/// Route 53 record sets of one name and type, one per target (`SetIdentifier`).
///
/// Weighted record sets take a weighted split (`Weight` = the target's percentage,
/// 0 allowed); failover record sets (`PRIMARY`/`SECONDARY`) take all traffic to
/// one target (its record becomes `PRIMARY`, the others `SECONDARY`). `apply`
/// sends one `ChangeResourceRecordSets` batch of UPSERTs, each record as read with
/// only `Weight` or `Failover` changed, and returns once `GetChange` is `INSYNC`.
#[derive(Debug)]
pub struct Route53Router {
    cfg: Route53Config,
    failover_only: bool,
    aws: Aws,
}

impl Route53Router {
    /// A router over `cfg`'s record sets. `failover_only` declares the router
    /// failover-only before anything is read (`routing_policy = "failover"`).
    pub fn new(mut cfg: Route53Config, common: AwsCommon, failover_only: bool) -> Self {
        cfg.hosted_zone_id = cfg
            .hosted_zone_id
            .trim_start_matches("/hostedzone/")
            .to_string();
        if !cfg.record_name.ends_with('.') {
            cfg.record_name.push('.');
        }
        Route53Router {
            cfg,
            failover_only,
            aws: Aws::new(common),
        }
    }

    /// Builds the router from a resource's settings. `routing_policy =
    /// "failover"` declares it failover-only (validation then refuses weighted
    /// splits before anything runs); without it the router declares weighted and
    /// follows the live records, refusing a multi-target split on failover
    /// records at `apply`.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let mut values = settings.values().clone();
        let failover_only = match values.remove("routing_policy") {
            None => false,
            Some(v) => match v.as_str() {
                Some("weighted") => false,
                Some("failover") => true,
                _ => {
                    return Err(ConfigError::key(
                        "routing_policy",
                        "expected \"weighted\" or \"failover\"",
                    ));
                }
            },
        };
        let s = Settings::new(settings.name(), settings.provider(), values);
        Ok(Self::new(
            Route53Config::from_settings(&s)?,
            AwsCommon::from_settings(&s)?,
            failover_only,
        ))
    }

    /// The record sets of the targets, by target, as Route 53 returns them.
    async fn read(&self) -> Result<BTreeMap<String, ResourceRecordSet>, ProviderError> {
        let client = self.aws.route53().await;
        let rtype = RrType::from(self.cfg.record_type.as_str());
        let want = self.cfg.record_name.to_ascii_lowercase();
        let mut found: Vec<ResourceRecordSet> = Vec::new();
        let mut next: Option<(String, Option<RrType>, Option<String>)> = None;
        loop {
            let (name, ty, id) =
                next.take()
                    .unwrap_or((self.cfg.record_name.clone(), Some(rtype.clone()), None));
            let out = client
                .list_resource_record_sets()
                .hosted_zone_id(&self.cfg.hosted_zone_id)
                .start_record_name(name)
                .set_start_record_type(ty)
                .set_start_record_identifier(id)
                .send()
                .await
                .map_err(|e| from_sdk("Route 53 ListResourceRecordSets", e))?;
            let mut past = false;
            for r in out.resource_record_sets() {
                if r.name().to_ascii_lowercase() != want || r.r#type() != &rtype {
                    past = true;
                    break;
                }
                found.push(r.clone());
            }
            if past || !out.is_truncated() {
                break;
            }
            next = Some((
                out.next_record_name().unwrap_or_default().to_string(),
                out.next_record_type().cloned(),
                out.next_record_identifier().map(str::to_string),
            ));
        }
        let mut by_target = BTreeMap::new();
        for (target, set_id) in &self.cfg.targets {
            let rec = found
                .iter()
                .find(|r| r.set_identifier() == Some(set_id.as_str()))
                .ok_or_else(|| {
                    conflict(format!(
                        "{} {} in zone {} has no record set with SetIdentifier `{set_id}` \
                         (target `{target}`)",
                        self.cfg.record_name, self.cfg.record_type, self.cfg.hosted_zone_id
                    ))
                })?;
            by_target.insert(target.clone(), rec.clone());
        }
        Ok(by_target)
    }

    fn mode(&self, records: &BTreeMap<String, ResourceRecordSet>) -> Result<Mode, ProviderError> {
        let weighted = records.values().all(|r| r.weight.is_some());
        let failover = records.values().all(|r| r.failover.is_some());
        match (weighted, failover) {
            (true, false) => Ok(Mode::Weighted),
            (false, true) => Ok(Mode::Failover),
            _ => Err(conflict(format!(
                "the record sets of {} {} are neither all weighted nor all failover records",
                self.cfg.record_name, self.cfg.record_type
            ))),
        }
    }

    /// Waits until the change is `INSYNC` on every Route 53 name server.
    async fn wait_insync(&self, change_id: &str) -> Result<(), ProviderError> {
        let client = self.aws.route53().await;
        let common = self.aws.common();
        let deadline = Instant::now() + common.wait;
        poll::until(
            &format!("Route 53 change {change_id} to be INSYNC"),
            deadline,
            common.poll_every,
            &CancellationToken::new(),
            || {
                let client = client.clone();
                async move {
                    let out = client
                        .get_change()
                        .id(change_id)
                        .send()
                        .await
                        .map_err(|e| from_sdk("Route 53 GetChange", e))?;
                    match out.change_info().map(|c| c.status()) {
                        Some(ChangeStatus::Insync) => Ok(Poll::Ready(())),
                        _ => Ok(Poll::Pending),
                    }
                }
            },
        )
        .await
        .map_err(from_poll)
    }
}

/// The largest `Weight` Route 53 accepts on a record set.
pub(crate) const MAX_WEIGHT: i64 = 255;

/// The split weighted records give: each weight as a share of the total, in
/// percent (largest remainder, so it sums to 100). All weights 0 is an equal split
/// (Route 53 then answers with every record alike). A weight outside Route 53's
/// documented 0..=255 is an answer we refuse by name, not arithmetic we attempt.
pub(crate) fn split_of_weights(
    weights: &BTreeMap<String, i64>,
) -> Result<TrafficSplit, ProviderError> {
    let mut units = Vec::with_capacity(weights.len());
    for (t, w) in weights {
        let w = u64::try_from(*w).ok().filter(|w| *w <= MAX_WEIGHT as u64).ok_or_else(|| {
            fatal(format!(
                "the record set of target `{t}` has Weight {w}, outside Route 53's 0..={MAX_WEIGHT}"
            ))
        })?;
        units.push((t.clone(), w));
    }
    Ok(TrafficSplit::proportional(units.iter().cloned())
        .or_else(|| TrafficSplit::proportional(units.into_iter().map(|(t, _)| (t, 1))))
        .unwrap_or_default())
}

#[async_trait]
impl TrafficRouter for Route53Router {
    fn targets(&self) -> Vec<String> {
        self.cfg.targets.keys().cloned().collect()
    }

    fn capabilities(&self) -> RouterCapabilities {
        if self.failover_only {
            RouterCapabilities::failover_only()
        } else {
            RouterCapabilities::weighted()
        }
    }

    async fn current(&self, scope: Option<&str>) -> Result<TrafficSplit, ProviderError> {
        if let Some(s) = scope {
            return Err(invalid(format!(
                "Route 53 record sets take no scope (asked `{s}`)"
            )));
        }
        let records = self.read().await?;
        match self.mode(&records)? {
            Mode::Weighted => split_of_weights(
                &records
                    .iter()
                    .map(|(t, r)| (t.clone(), r.weight.unwrap_or(0)))
                    .collect(),
            ),
            Mode::Failover => {
                let primaries: Vec<&String> = records
                    .iter()
                    .filter(|(_, r)| r.failover == Some(ResourceRecordSetFailover::Primary))
                    .map(|(t, _)| t)
                    .collect();
                match primaries.as_slice() {
                    [one] => Ok(TrafficSplit::all_to(one.as_str())),
                    _ => Err(conflict(format!(
                        "{} failover records of {} are PRIMARY; expected exactly one",
                        primaries.len(),
                        self.cfg.record_name
                    ))),
                }
            }
        }
    }

    async fn apply(&self, split: &TrafficSplit, scope: Option<&str>) -> Result<(), ProviderError> {
        if let Some(s) = scope {
            return Err(invalid(format!(
                "Route 53 record sets take no scope (asked `{s}`)"
            )));
        }
        split.check(&self.targets()).map_err(invalid)?;
        if self.failover_only && split.iter().count() > 1 {
            return Err(invalid(format!(
                "`{split}`: this router is failover-only (one target at 100)"
            )));
        }
        let records = self.read().await?;
        let mode = self.mode(&records)?;
        if mode == Mode::Failover && split.iter().count() > 1 {
            return Err(invalid(format!(
                "`{split}`: {} uses failover record sets, which send all traffic to one target",
                self.cfg.record_name
            )));
        }
        let mut changes = Vec::new();
        let mut ttl = None;
        for (target, rec) in &records {
            ttl = ttl.or(rec.ttl);
            let mut want = rec.clone();
            match mode {
                Mode::Weighted => want.weight = Some(i64::from(split.weight(target))),
                Mode::Failover => {
                    want.failover = Some(if split.weight(target) == 100 {
                        ResourceRecordSetFailover::Primary
                    } else {
                        ResourceRecordSetFailover::Secondary
                    })
                }
            }
            if &want != rec {
                changes.push(
                    Change::builder()
                        .action(ChangeAction::Upsert)
                        .resource_record_set(want)
                        .build()
                        .map_err(|e| fatal(format!("building a Route 53 change: {e}")))?,
                );
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        let batch = ChangeBatch::builder()
            .comment(format!("dr: {split}"))
            .set_changes(Some(changes))
            .build()
            .map_err(|e| fatal(format!("building a Route 53 change batch: {e}")))?;
        let out = self
            .aws
            .route53()
            .await
            .change_resource_record_sets()
            .hosted_zone_id(&self.cfg.hosted_zone_id)
            .change_batch(batch)
            .send()
            .await
            .map_err(|e| from_sdk("Route 53 ChangeResourceRecordSets", e))?;
        let change_id = out
            .change_info()
            .map(|c| c.id().to_string())
            .ok_or_else(|| fatal("Route 53 ChangeResourceRecordSets returned no ChangeInfo"))?;
        self.wait_insync(&change_id).await?;
        tracing::info!(
            record = %self.cfg.record_name,
            split = %split,
            ttl_seconds = ttl,
            "Route 53 change {change_id} is INSYNC; resolvers may keep the previous answer for the record TTL"
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs.iter().map(|(t, w)| (t.to_string(), *w)).collect()
    }

    #[test]
    fn weights_become_percentages_summing_to_100() {
        assert_eq!(
            split_of_weights(&w(&[("east", 80), ("west", 20)])).unwrap(),
            TrafficSplit::from_pairs([("east", 80), ("west", 20)])
        );
        assert_eq!(
            split_of_weights(&w(&[("east", 1), ("west", 1), ("m", 1)]))
                .unwrap()
                .total(),
            100
        );
        assert_eq!(
            split_of_weights(&w(&[("east", 0), ("west", 0)])).unwrap(),
            TrafficSplit::from_pairs([("east", 50), ("west", 50)])
        );
        assert_eq!(
            split_of_weights(&w(&[("east", 0), ("west", 255)])).unwrap(),
            TrafficSplit::all_to("west")
        );
    }

    #[test]
    fn a_weight_outside_route53s_range_is_refused_not_overflowed() {
        for bad in [i64::MAX, 256, -1, i64::MIN] {
            let e = split_of_weights(&w(&[("east", bad), ("west", i64::MAX)])).unwrap_err();
            assert!(
                e.message().contains("target `east` has Weight") && e.message().contains("0..=255"),
                "{bad}: {e}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn any_weights_give_a_split_of_100_or_a_named_error(
            weights in proptest::collection::btree_map("[a-d]", proptest::num::i64::ANY, 1..4),
        ) {
            match split_of_weights(&weights) {
                Ok(s) => proptest::prop_assert_eq!(s.total(), 100),
                Err(e) => proptest::prop_assert!(e.message().contains("outside Route 53's 0..=255")),
            }
        }

        #[test]
        fn in_range_weights_always_read_back(
            weights in proptest::collection::btree_map("[a-d]", 0i64..=255, 1..4),
        ) {
            proptest::prop_assert_eq!(split_of_weights(&weights).unwrap().total(), 100);
        }
    }
}
