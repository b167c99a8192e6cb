//! Settings of the action `azure.web_app.set_connection_string`.

use std::fmt;

use dr_core::{ConfigError, Settings};
use serde::Deserialize;

use crate::config::specific;

/// A connection string value: `Debug` prints `******`.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        SecretValue(value.into())
    }
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("******")
    }
}

/// Settings of the action `azure.web_app.set_connection_string`.
///
/// ```
/// use dr_azure::SecretValue;
/// assert_eq!(format!("{:?}", SecretValue::new("Server=db;Password=s3cret")), "******");
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionStringConfig {
    /// The web app.
    pub app: String,
    /// A deployment slot, else the production slot.
    #[serde(default)]
    pub slot: Option<String>,
    /// The connection string's name.
    pub name: String,
    /// Its value (a secret).
    pub value: SecretValue,
    /// Its type (`PostgreSQL`, `SQLAzure`, `Custom`, ...; default `Custom`).
    #[serde(default = "custom", rename = "type")]
    pub kind: String,
}

fn custom() -> String {
    "Custom".to_string()
}

impl ConnectionStringConfig {
    /// Connection string `name` of `app` set to `value`, type `Custom`.
    pub fn new(app: impl Into<String>, name: impl Into<String>, value: SecretValue) -> Self {
        ConnectionStringConfig {
            app: app.into(),
            slot: None,
            name: name.into(),
            value,
            kind: custom(),
        }
    }

    /// Replaces the type (`PostgreSQL`, `SQLAzure`, ...).
    pub fn with_type(mut self, kind: impl Into<String>) -> Self {
        self.kind = kind.into();
        self
    }

    /// Targets a deployment slot.
    pub fn with_slot(mut self, slot: impl Into<String>) -> Self {
        self.slot = Some(slot.into());
        self
    }

    /// Reads the step's settings.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        for k in ["app", "name", "value"] {
            settings.str(k)?;
        }
        let cfg: ConnectionStringConfig = specific(settings)?;
        const TYPES: [&str; 11] = [
            "MySql",
            "SQLServer",
            "SQLAzure",
            "Custom",
            "NotificationHub",
            "ServiceBus",
            "EventHub",
            "ApiHub",
            "DocDb",
            "RedisCache",
            "PostgreSQL",
        ];
        if !TYPES.contains(&cfg.kind.as_str()) {
            return Err(ConfigError::key(
                "type",
                format!("expected one of {}", TYPES.join(", ")),
            ));
        }
        Ok(cfg)
    }
}
