//! EC2 (feature `ec2`): the `aws.ec2.start_instances` action.

mod action;
mod config;

pub use action::{START_INSTANCES, StartInstancesAction};
pub use config::StartInstancesConfig;

use std::sync::Arc;

use dr_core::Registry;

use crate::client::Aws;

impl Aws {
    /// The EC2 client.
    pub(crate) async fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(self.sdk().await)
    }
}

/// Registers the `aws.ec2.start_instances` action.
pub(crate) fn register(registry: &mut Registry) {
    registry.action(START_INSTANCES, |s| {
        Ok(Arc::new(StartInstancesAction::from_settings(s)?))
    });
}
