//! A resource's (or a provider action step's) settings, as the plan gives them.

use std::fmt;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::ConfigError;

/// The settings table of one plan resource (or provider action step), after
/// `${env:VAR}` interpolation, without the keys the core consumes (`provider`,
/// `health`).
///
/// Factories read it with [`Settings::deserialize`] into their own config struct;
/// errors name the key so validation can point at it in the plan file.
///
/// `Debug` prints keys only, never values: values may hold secrets.
#[derive(Clone)]
pub struct Settings {
    name: String,
    provider: String,
    values: Map<String, Value>,
}

impl Settings {
    /// Settings for the resource `name` of provider `provider`.
    pub fn new(
        name: impl Into<String>,
        provider: impl Into<String>,
        values: Map<String, Value>,
    ) -> Self {
        Settings {
            name: name.into(),
            provider: provider.into(),
            values,
        }
    }

    /// Builds settings from a JSON object (handy in tests and embedding programs).
    ///
    /// # Panics
    /// When `values` is not an object.
    pub fn from_json(name: &str, provider: &str, values: Value) -> Self {
        match values {
            Value::Object(map) => Settings::new(name, provider, map),
            other => panic!("settings must be a JSON object, got {other}"),
        }
    }

    /// The resource's name in the plan.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The provider name (`redis`, `sim.router`).
    pub fn provider(&self) -> &str {
        &self.provider
    }

    /// The raw values.
    pub fn values(&self) -> &Map<String, Value> {
        &self.values
    }

    /// The raw value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.values.get(key)
    }

    /// A required string setting.
    pub fn str(&self, key: &str) -> Result<&str, ConfigError> {
        self.opt_str(key)?
            .ok_or_else(|| ConfigError::key(key, "missing required setting"))
    }

    /// An optional string setting.
    pub fn opt_str(&self, key: &str) -> Result<Option<&str>, ConfigError> {
        match self.values.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(ConfigError::key(
                key,
                format!("expected a string, found {}", type_name(other)),
            )),
        }
    }

    /// An optional duration setting (`"10s"`).
    pub fn duration(&self, key: &str) -> Result<Option<Duration>, ConfigError> {
        self.opt_str(key)?
            .map(|s| crate::parse_duration(s).map_err(|e| ConfigError::key(key, e)))
            .transpose()
    }

    /// Deserializes the whole table into `T`. Use `#[serde(deny_unknown_fields)]` on
    /// `T` so misspelt keys are reported. The error names the offending key path.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, ConfigError> {
        let value = Value::Object(self.values.clone());
        serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            let key = if path == "." || path.is_empty() {
                unknown_field_of(&inner)
            } else {
                Some(path)
            };
            ConfigError {
                key,
                message: inner,
            }
        })
    }
}

/// Checks a string setting against the service's documented length limits (in
/// characters, `min..=max`), naming `key`. Providers call it at validation for
/// every identifier they send, so a value the service (or its SDK) would reject
/// fails `dr validate` instead of the run.
pub fn check_length(key: &str, value: &str, min: usize, max: usize) -> Result<(), ConfigError> {
    let n = value.chars().count();
    if min > 0 && value.trim().is_empty() {
        return Err(ConfigError::key(key, "must not be empty"));
    }
    if n < min {
        return Err(ConfigError::key(
            key,
            format!("is {n} characters long; the service requires at least {min}"),
        ));
    }
    if n > max {
        return Err(ConfigError::key(
            key,
            format!("is {n} characters long; the service allows at most {max}"),
        ));
    }
    Ok(())
}

/// serde reports an unknown field at the parent path; pull the field name out of
/// the message so the diagnostic can point at the key itself.
fn unknown_field_of(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    Some(rest[..rest.find('`')?].to_string())
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "a table",
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("name", &self.name)
            .field("provider", &self.provider)
            .field("keys", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Cfg {
        url: String,
        #[serde(default)]
        nested: Option<Inner>,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        port: u16,
    }

    #[test]
    fn errors_name_the_key() {
        let s = Settings::from_json("db", "redis", json!({"url": "redis://x", "urk": 1}));
        assert_eq!(
            s.deserialize::<Cfg>().unwrap_err().key.as_deref(),
            Some("urk")
        );
        let s = Settings::from_json(
            "db",
            "redis",
            json!({"url": "redis://x", "nested": {"port": "x"}}),
        );
        assert_eq!(
            s.deserialize::<Cfg>().unwrap_err().key.as_deref(),
            Some("nested.port")
        );
        let s = Settings::from_json("db", "redis", json!({"url": 5}));
        assert_eq!(s.str("url").unwrap_err().key.as_deref(), Some("url"));
    }

    #[test]
    fn debug_hides_values() {
        let s = Settings::from_json("db", "redis", json!({"password": "hunter2"}));
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
