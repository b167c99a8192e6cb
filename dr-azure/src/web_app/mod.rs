//! `azure.web_app.set_connection_string` (feature `web_app`): one connection
//! string of a web app (or slot) as an [`Action`](dr_core::Action):
//! read-modify-write of the app's connection strings; the value is a secret.

mod action;
mod config;

use std::sync::Arc;

use dr_core::Registry;

pub use action::ConnectionStringAction;
pub use config::{ConnectionStringConfig, SecretValue};

use crate::credential::TokenSource;

/// Action name: sets one connection string of a web app.
pub const SET_CONNECTION_STRING: &str = "azure.web_app.set_connection_string";

/// Registers the action.
pub(crate) fn register(registry: &mut Registry, token: Arc<dyn TokenSource>) {
    registry.action(SET_CONNECTION_STRING, move |s| {
        Ok(Arc::new(ConnectionStringAction::from_settings(
            s,
            token.clone(),
        )?))
    });
}
