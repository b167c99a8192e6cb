//! The name of every provider and action of this crate and the feature that
//! brings it, compiled whatever the features: each service module's constant
//! (`ROUTE53_PROVIDER`, ..) is the one here, and [`crate::register`] marks the
//! names of the services left out of the build with [`SERVICES`].

use dr_core::Registry;

/// `aws.route53`: Route 53 record sets (router).
pub(crate) const ROUTE53: &str = "aws.route53";
/// `aws.route53_health_check`: a Route 53 health check (probe).
pub(crate) const HEALTH_CHECK: &str = "aws.route53_health_check";
/// `aws.arc_routing_control`: ARC routing controls (router).
pub(crate) const ARC: &str = "aws.arc_routing_control";
/// `aws.arc.set_routing_control`: the ARC change as a step (action).
pub(crate) const ARC_SET: &str = "aws.arc.set_routing_control";
/// `aws.rds`: an RDS instance (store and replicator).
pub(crate) const RDS: &str = "aws.rds";
/// `aws.aurora_global`: an Aurora global database member (store).
pub(crate) const AURORA: &str = "aws.aurora_global";
/// `aws.s3_replication`: S3 bucket replication (replicator).
pub(crate) const S3_REPLICATION: &str = "aws.s3_replication";
/// `aws.ec2.start_instances` (action).
pub(crate) const START_INSTANCES: &str = "aws.ec2.start_instances";
/// `aws.autoscaling.set_capacity` (action).
pub(crate) const SET_CAPACITY: &str = "aws.autoscaling.set_capacity";
/// `aws.cloudwatch.alarm`: a CloudWatch alarm (probe).
pub(crate) const ALARM: &str = "aws.cloudwatch.alarm";

/// One AWS service of this crate: its cargo feature, whether this build has it,
/// and the provider and action names it brings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Service {
    /// The cargo feature (`rds` for `dr-aws/rds`).
    pub(crate) feature: &'static str,
    /// Whether the feature is on in this build.
    pub(crate) compiled_in: bool,
    /// Its provider and action names.
    pub(crate) names: &'static [&'static str],
}

/// Every service of this crate.
pub(crate) const SERVICES: &[Service] = &[
    Service {
        feature: "route53",
        compiled_in: cfg!(feature = "route53"),
        names: &[ROUTE53, HEALTH_CHECK],
    },
    Service {
        feature: "arc",
        compiled_in: cfg!(feature = "arc"),
        names: &[ARC, ARC_SET],
    },
    Service {
        feature: "rds",
        compiled_in: cfg!(feature = "rds"),
        names: &[RDS, AURORA],
    },
    Service {
        feature: "s3",
        compiled_in: cfg!(feature = "s3"),
        names: &[S3_REPLICATION],
    },
    Service {
        feature: "ec2",
        compiled_in: cfg!(feature = "ec2"),
        names: &[START_INSTANCES],
    },
    Service {
        feature: "autoscaling",
        compiled_in: cfg!(feature = "autoscaling"),
        names: &[SET_CAPACITY],
    },
    Service {
        feature: "cloudwatch",
        compiled_in: cfg!(feature = "cloudwatch"),
        names: &[ALARM],
    },
];

/// Marks every name of each of `services` that this build does not have as
/// compiled out, with its feature (`dr-aws/<feature>`).
pub(crate) fn mark_compiled_out(registry: &mut Registry, services: &[Service]) {
    for service in services.iter().filter(|s| !s.compiled_in) {
        let feature = format!("dr-aws/{}", service.feature);
        for name in service.names {
            registry.compiled_out(name, &feature);
        }
    }
}
