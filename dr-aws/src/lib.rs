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
//! ## Cargo features
//!
//! One feature per AWS service, all on by default; a service compiled out brings
//! no SDK crate, and [`register`] tells a plan that names one of its providers
//! which feature brings it (`dr-aws/<feature>`):
//!
//! | feature | providers and actions | SDK crates |
//! |---|---|---|
//! | `route53` | `aws.route53`, `aws.route53_health_check` | `aws-sdk-route53` |
//! | `arc` | `aws.arc_routing_control`, `aws.arc.set_routing_control` | `aws-sdk-route53recoverycluster` |
//! | `rds` | `aws.rds`, `aws.aurora_global` | `aws-sdk-rds`, `aws-sdk-cloudwatch` (`ReplicaLag`) |
//! | `s3` | `aws.s3_replication` | `aws-sdk-s3` |
//! | `ec2` | `aws.ec2.start_instances` | `aws-sdk-ec2` |
//! | `autoscaling` | `aws.autoscaling.set_capacity` | `aws-sdk-autoscaling` |
//! | `cloudwatch` | `aws.cloudwatch.alarm` | `aws-sdk-cloudwatch` |
//!
//! `testing` (the moto and wiremock harness, `dr_aws::testing`) needs
//! every service feature.
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
//! module per AWS service (and feature) with its trait files inside it:
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
//!   (the metric reader the RDS replicator uses for `ReplicaLag`; the module is
//!   compiled with `cloudwatch` or `rds`, `metric.rs` with `rds`).
//!
//! Shared by all: `config.rs` (the common keys, [`AwsCommon`]), `client.rs` (the
//! lazily loaded SDK configuration; each service module adds its SDK client),
//! `error.rs` (AWS errors -> kinds; every error is made there), `names.rs` (every
//! provider and action name and the feature that brings it, compiled whatever
//! the features).
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "arc")]
mod arc;
#[cfg(feature = "autoscaling")]
mod autoscaling;
#[cfg(any(
    feature = "route53",
    feature = "arc",
    feature = "rds",
    feature = "s3",
    feature = "ec2",
    feature = "autoscaling",
    feature = "cloudwatch"
))]
mod client;
#[cfg(any(feature = "cloudwatch", feature = "rds"))]
mod cloudwatch;
mod config;
#[cfg(feature = "ec2")]
mod ec2;
#[cfg(any(
    feature = "route53",
    feature = "arc",
    feature = "rds",
    feature = "s3",
    feature = "ec2",
    feature = "autoscaling",
    feature = "cloudwatch"
))]
mod error;
mod names;
#[cfg(feature = "rds")]
mod rds;
#[cfg(feature = "route53")]
mod route53;
#[cfg(feature = "s3")]
mod s3;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;

use dr_core::Registry;

#[cfg(feature = "arc")]
#[cfg_attr(docsrs, doc(cfg(feature = "arc")))]
pub use arc::{ARC_PROVIDER, ARC_SET, ArcConfig, ArcEndpoint, ArcRouter, ArcSetAction};
#[cfg(feature = "autoscaling")]
#[cfg_attr(docsrs, doc(cfg(feature = "autoscaling")))]
pub use autoscaling::{SET_CAPACITY, SetCapacityAction, SetCapacityConfig};
#[cfg(feature = "cloudwatch")]
#[cfg_attr(docsrs, doc(cfg(feature = "cloudwatch")))]
pub use cloudwatch::{ALARM_PROVIDER, AlarmConfig, CloudWatchAlarmProbe};
pub use config::{AwsCommon, DEFAULT_POLL, DEFAULT_TIMEOUT, DEFAULT_WAIT};
#[cfg(feature = "ec2")]
#[cfg_attr(docsrs, doc(cfg(feature = "ec2")))]
pub use ec2::{START_INSTANCES, StartInstancesAction, StartInstancesConfig};
#[cfg(feature = "rds")]
#[cfg_attr(docsrs, doc(cfg(feature = "rds")))]
pub use rds::{
    AURORA_PROVIDER, AuroraConfig, AuroraGlobalStore, AuroraMode, RDS_PROVIDER, RdsConfig,
    RdsReplicator, RdsStore,
};
#[cfg(feature = "route53")]
#[cfg_attr(docsrs, doc(cfg(feature = "route53")))]
pub use route53::{
    HEALTH_CHECK_PROVIDER, HealthCheckConfig, ROUTE53_PROVIDER, Route53Config,
    Route53HealthCheckProbe, Route53Router,
};
#[cfg(feature = "s3")]
#[cfg_attr(docsrs, doc(cfg(feature = "s3")))]
pub use s3::{S3_REPLICATION_PROVIDER, S3ReplicationConfig, S3Replicator};

/// The prefix of every provider and action name of this crate, and the provider
/// every error decided by this crate names.
pub const PROVIDER: &str = "aws";

/// Registers every `aws.*` resource and action of the services compiled in, and
/// marks the names of every service compiled out with the feature that brings it
/// ([`Registry::compiled_out`], `"dr-aws/rds"`), so a plan naming one is told how
/// to get it.
pub fn register(registry: &mut Registry) {
    #[cfg(feature = "route53")]
    route53::register(registry);
    #[cfg(feature = "arc")]
    arc::register(registry);
    #[cfg(feature = "rds")]
    rds::register(registry);
    #[cfg(feature = "s3")]
    s3::register(registry);
    #[cfg(feature = "ec2")]
    ec2::register(registry);
    #[cfg(feature = "autoscaling")]
    autoscaling::register(registry);
    #[cfg(feature = "cloudwatch")]
    cloudwatch::register(registry);
    names::mark_compiled_out(registry, names::SERVICES);
}

#[cfg(test)]
mod tests {
    use super::*;
    use dr_core::Kind;

    #[test]
    fn every_name_starts_with_the_provider_prefix() {
        for service in names::SERVICES {
            for name in service.names {
                assert!(name.starts_with(&format!("{PROVIDER}.")), "{name}");
            }
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

    /// With every feature on (as the tests build): the table names exactly what
    /// `register` registers, each module's constant is in its service's row, and
    /// nothing is marked compiled out.
    #[test]
    fn the_service_table_and_the_registered_names_agree() {
        let mut r = Registry::new();
        register(&mut r);
        let mut registered = r.providers();
        registered.extend(r.actions());
        registered.retain(|n| n.starts_with(&format!("{PROVIDER}.")));
        registered.sort();
        registered.dedup();
        let mut table: Vec<String> = names::SERVICES
            .iter()
            .flat_map(|s| s.names.iter().map(|n| n.to_string()))
            .collect();
        table.sort();
        assert_eq!(registered, table);
        let row = |feature: &str| {
            names::SERVICES
                .iter()
                .find(|s| s.feature == feature)
                .map(|s| s.names.to_vec())
                .unwrap_or_default()
        };
        assert_eq!(row("route53"), [ROUTE53_PROVIDER, HEALTH_CHECK_PROVIDER]);
        assert_eq!(row("arc"), [ARC_PROVIDER, ARC_SET]);
        assert_eq!(row("rds"), [RDS_PROVIDER, AURORA_PROVIDER]);
        assert_eq!(row("s3"), [S3_REPLICATION_PROVIDER]);
        assert_eq!(row("ec2"), [START_INSTANCES]);
        assert_eq!(row("autoscaling"), [SET_CAPACITY]);
        assert_eq!(row("cloudwatch"), [ALARM_PROVIDER]);
        for service in names::SERVICES {
            assert!(service.compiled_in, "{}", service.feature);
            for name in service.names {
                assert_eq!(r.compiled_out_feature(name), None, "{name}");
            }
        }
    }

    /// A service compiled out leaves its names to `compiled_out`, with its feature.
    #[test]
    fn a_service_compiled_out_names_its_feature() {
        let mut services = names::SERVICES.to_vec();
        for s in services.iter_mut() {
            s.compiled_in = s.feature != "rds";
        }
        let mut r = Registry::new();
        names::mark_compiled_out(&mut r, &services);
        assert_eq!(r.compiled_out_feature(RDS_PROVIDER), Some("dr-aws/rds"));
        assert_eq!(r.compiled_out_feature(AURORA_PROVIDER), Some("dr-aws/rds"));
        assert_eq!(r.compiled_out_feature(ROUTE53_PROVIDER), None);
        assert!(r.kinds(RDS_PROVIDER).is_empty());
    }
}
