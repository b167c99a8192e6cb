//! dr-aws's integration tests, one binary (`cargo test -p dr-aws --test it`).
//!
//! - `conformance`: the dr-core suites for every router, probe, store and
//!   replicator of the crate.
//! - one module per service (`route53`, `arc`, `rds`, `s3`, `ec2`,
//!   `autoscaling`, `cloudwatch`): what the suites do not cover, the exact calls
//!   and the failure shapes (ARC safety rules and endpoint rotation, throttling,
//!   `InvalidDBInstanceState`, health-check and alarm states), record fields
//!   kept, actions and compensation.
//!
//! Each test runs against its own moto server or wiremock stand-in
//! (`dr_aws::testing`); moto needs `DR_MOTO_SERVER` (`source scripts/deps/moto.sh`)
//! or `moto_server` on PATH.

mod common;

mod arc;
mod autoscaling;
mod cloudwatch;
mod conformance;
mod ec2;
mod errors;
mod rds;
mod route53;
mod s3;
