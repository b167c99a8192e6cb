//! # dr-aws: Route 53, ARC, RDS and Aurora global, S3 replication, EC2/ASG, CloudWatch
//!
//! AWS has official Rust SDKs, so this crate speaks AWS through them (`aws-sdk-*`,
//! `aws-config`), with no default features: an HTTPS client of hyper 1 + rustls
//! on `ring` built in `client.rs`, the standard credential chain only,
//! SigV4 by the SDK. The SDK's own retries are **off**: the dr-core executor is the
//! only retry loop (it retries `throttled`, `transient` and `timeout`, honouring the
//! step's budget), so an attempt is never multiplied by a second loop hidden
//! below it. Every SDK call has a bounded timeout (`timeout`, default 30 s).
//!
//! ## How the AWS services map onto the traits
//!
//! - **Routers.** `aws.route53`: the weighted (or failover) record sets of one
//!   name, a target per `SetIdentifier`. A split is one `ChangeResourceRecordSets`
//!   batch of UPSERTs that keep each record as read except `Weight`/`Failover`, and
//!   `apply` returns when `GetChange` is `INSYNC`. `aws.arc_routing_control`: ARC
//!   routing controls, failover-only, one `UpdateRoutingControlStates` per change
//!   so safety rules judge it whole, cluster endpoints tried in turn.
//! - **Probes.** `aws.route53_health_check` (Route 53's >18 % rule),
//!   `aws.cloudwatch.alarm` (alarm state).
//! - **Stores.** `aws.rds` (an instance: promote a read replica, fence by stopping
//!   the instance), `aws.aurora_global` (a member of a global database: switchover,
//!   or failover with data loss only with `allow_data_loss = true`).
//! - **Replicators.** `aws.rds` (the link into a read replica, observe only: lag
//!   from CloudWatch `ReplicaLag`), `aws.s3_replication` (bucket replication rules:
//!   stop disables them, reverse installs the mirror rule on the destination).
//! - **Actions.** `aws.ec2.start_instances`, `aws.autoscaling.set_capacity`, and
//!   `aws.arc.set_routing_control` (the ARC change as a step, with the step's own
//!   `override_safety_rules`, recorded in the audit log).
//!
//! ```toml
//! [resources.front]
//! provider = "aws.route53"
//! region = "us-east-1"
//! hosted_zone_id = "Z0123456789"
//! record_name = "app.example.com"
//! targets = { east = "east", west = "west" }
//! ```
//!
//! ## Files
//!
//! Those of every `dr` provider crate (see `docs/provider-template.md`), one
//! module per AWS service with its trait files inside it:
//!
//! - `route53/`: `config.rs`, `router.rs` (`aws.route53`), `probe.rs`
//!   (`aws.route53_health_check`);
//! - `arc/`: `config.rs`, `router.rs` (`aws.arc_routing_control`, with the
//!   cluster-endpoint rotation), `action.rs` (`aws.arc.set_routing_control`);
//! - `rds/`: `config.rs`, `store.rs` (`aws.rds`), `replicator.rs` (the link into a
//!   read replica), `aurora.rs` (`aws.aurora_global`);
//! - `s3/`: `config.rs`, `replicator.rs` (`aws.s3_replication`);
//! - `ec2/`, `autoscaling/`: `config.rs`, `action.rs`;
//! - `cloudwatch/`: `config.rs`, `probe.rs` (`aws.cloudwatch.alarm`), `metric.rs`
//!   (the metric reader the RDS replicator uses for `ReplicaLag`).
//!
//! Shared by all: `config.rs` (the common keys, [`AwsCommon`]), `client.rs` (the
//! lazily loaded SDK configuration; each service module adds its SDK client),
//! `error.rs` (AWS errors -> kinds; every error is made there), `names.rs` (every
//! provider and action name).
#![warn(missing_docs)]

mod arc;
mod autoscaling;
mod client;
mod cloudwatch;
mod config;
mod ec2;
mod error;
mod names;
mod rds;
mod route53;
mod s3;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use dr_core::Registry;

pub use arc::{ARC_PROVIDER, ARC_SET, ArcConfig, ArcEndpoint, ArcRouter, ArcSetAction};
pub use autoscaling::{SET_CAPACITY, SetCapacityAction, SetCapacityConfig};
pub use cloudwatch::{ALARM_PROVIDER, AlarmConfig, CloudWatchAlarmProbe};
pub use config::{AwsCommon, DEFAULT_POLL, DEFAULT_TIMEOUT, DEFAULT_WAIT};
pub use ec2::{START_INSTANCES, StartInstancesAction, StartInstancesConfig};
pub use rds::{
    AURORA_PROVIDER, AuroraConfig, AuroraGlobalStore, AuroraMode, RDS_PROVIDER, RdsConfig,
    RdsReplicator, RdsStore,
};
pub use route53::{
    HEALTH_CHECK_PROVIDER, HealthCheckConfig, ROUTE53_PROVIDER, Route53Config,
    Route53HealthCheckProbe, Route53Router,
};
pub use s3::{S3_REPLICATION_PROVIDER, S3ReplicationConfig, S3Replicator};

/// The prefix of every provider and action name of this crate, and the provider
/// every error decided by this crate names.
pub const PROVIDER: &str = "aws";

/// Registers every `aws.*` resource and action of this crate.
pub fn register(registry: &mut Registry) {
    registry.router(ROUTE53_PROVIDER, |s| {
        Ok(Arc::new(Route53Router::from_settings(s)?))
    });
    registry.router(ARC_PROVIDER, |s| Ok(Arc::new(ArcRouter::from_settings(s)?)));
    registry.probe(HEALTH_CHECK_PROVIDER, |s| {
        Ok(Arc::new(Route53HealthCheckProbe::from_settings(s)?))
    });
    registry.probe(ALARM_PROVIDER, |s| {
        Ok(Arc::new(CloudWatchAlarmProbe::from_settings(s)?))
    });
    registry.store(RDS_PROVIDER, |s| Ok(Arc::new(RdsStore::from_settings(s)?)));
    registry.replicator(RDS_PROVIDER, |s| {
        Ok(Arc::new(RdsReplicator::from_settings(s)?))
    });
    registry.store(AURORA_PROVIDER, |s| {
        Ok(Arc::new(AuroraGlobalStore::from_settings(s)?))
    });
    registry.replicator(S3_REPLICATION_PROVIDER, |s| {
        Ok(Arc::new(S3Replicator::from_settings(s)?))
    });
    registry.action(START_INSTANCES, |s| {
        Ok(Arc::new(StartInstancesAction::from_settings(s)?))
    });
    registry.action(SET_CAPACITY, |s| {
        Ok(Arc::new(SetCapacityAction::from_settings(s)?))
    });
    registry.action(ARC_SET, |s| Ok(Arc::new(ArcSetAction::from_settings(s)?)));
}

#[cfg(test)]
mod tests {
    use super::*;
    use dr_core::Kind;

    #[test]
    fn every_name_starts_with_the_provider_prefix() {
        for name in [
            ROUTE53_PROVIDER,
            ARC_PROVIDER,
            HEALTH_CHECK_PROVIDER,
            ALARM_PROVIDER,
            RDS_PROVIDER,
            AURORA_PROVIDER,
            S3_REPLICATION_PROVIDER,
            START_INSTANCES,
            SET_CAPACITY,
            ARC_SET,
        ] {
            assert!(name.starts_with(&format!("{PROVIDER}.")), "{name}");
        }
        let mut r = Registry::new();
        register(&mut r);
        assert_eq!(r.kinds(ROUTE53_PROVIDER), [Kind::Router]);
        assert_eq!(r.kinds(ARC_PROVIDER), [Kind::Router]);
        assert_eq!(r.kinds(HEALTH_CHECK_PROVIDER), [Kind::Probe]);
        assert_eq!(r.kinds(ALARM_PROVIDER), [Kind::Probe]);
        assert_eq!(r.kinds(RDS_PROVIDER), [Kind::Store, Kind::Replicator]);
        assert_eq!(r.kinds(AURORA_PROVIDER), [Kind::Store]);
        assert_eq!(r.kinds(S3_REPLICATION_PROVIDER), [Kind::Replicator]);
        assert!(
            r.has_action(START_INSTANCES) && r.has_action(SET_CAPACITY) && r.has_action(ARC_SET)
        );
    }
}
