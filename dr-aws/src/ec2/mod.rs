//! EC2 (feature `ec2`): the `aws.ec2.start_instances` action.

mod action;
mod config;

pub use action::{START_INSTANCES, StartInstancesAction};
pub use config::StartInstancesConfig;

use crate::client::Aws;

impl Aws {
    /// The EC2 client.
    pub(crate) async fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(self.sdk().await)
    }
}
