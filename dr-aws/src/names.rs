//! The name of every provider and action of this crate, compiled whatever the
//! features: each service module's constant (`ROUTE53_PROVIDER`, ..) is the
//! one here.

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
