//! Auto Scaling (feature `autoscaling`): the `aws.autoscaling.set_capacity` action.

mod action;
mod config;

pub use action::{SET_CAPACITY, SetCapacityAction};
pub use config::SetCapacityConfig;

use std::sync::Arc;

use dr_core::Registry;

use crate::client::Aws;

impl Aws {
    /// The Auto Scaling client.
    pub(crate) async fn autoscaling(&self) -> aws_sdk_autoscaling::Client {
        aws_sdk_autoscaling::Client::new(self.sdk().await)
    }
}

/// Registers the `aws.autoscaling.set_capacity` action.
pub(crate) fn register(registry: &mut Registry) {
    registry.action(SET_CAPACITY, |s| {
        Ok(Arc::new(SetCapacityAction::from_settings(s)?))
    });
}
