//! The action `azure.web_app.set_connection_string`.

use std::sync::{Arc, Mutex};

use dr_core::http::Method;
use dr_core::{Action, ConfigError, ErrorKind, Preflight, ProviderError, Settings, async_trait};
use serde_json::{Map, Value, json};

use super::SET_CONNECTION_STRING;
use super::config::{ConnectionStringConfig, SecretValue};
use crate::client::{Arm, api};
use crate::config::ArmConfig;
use crate::credential::TokenSource;

/// One connection string entry: `{ "value": .., "type": .. }`.
#[derive(Clone, PartialEq, Eq)]
struct Entry {
    value: SecretValue,
    kind: String,
}

/// Sets one connection string of a web app (or slot), keeping the others.
///
/// ARM replaces the whole set on `PUT .../config/connectionstrings`, so `run()`
/// lists them (`POST .../config/connectionstrings/list`), changes the one entry and
/// PUTs the whole set back, then lists again to verify. `verify()` says whether the
/// entry already has the value and type. `compensate()` restores the entry captured
/// by `run()` (or removes it when it did not exist). The value is a secret: it is
/// never in `describe()`, `run()`'s result, an error or `Debug`. The captured
/// value is kept in memory only, so a rollback after `dr resume` in another process
/// cannot restore it (it reports the compensation as failed).
#[derive(Debug)]
pub struct ConnectionStringAction {
    cfg: ConnectionStringConfig,
    arm: Arm,
    /// `Some(previous)` once `run()` changed the set: the entry before (`None`: absent).
    captured: Mutex<Option<Option<Entry>>>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Entry(******, {})", self.kind)
    }
}

impl ConnectionStringAction {
    /// The action for `cfg`.
    pub fn new(
        step: &str,
        arm: ArmConfig,
        cfg: ConnectionStringConfig,
        token: Arc<dyn TokenSource>,
    ) -> Result<Self, ConfigError> {
        Ok(ConnectionStringAction {
            arm: Arm::new(SET_CONNECTION_STRING, step, arm, token)?,
            cfg,
            captured: Mutex::new(None),
        })
    }

    /// Builds the action from a step's settings.
    pub fn from_settings(s: &Settings, token: Arc<dyn TokenSource>) -> Result<Self, ConfigError> {
        Self::new(
            s.name(),
            ArmConfig::from_settings(s)?,
            ConnectionStringConfig::from_settings(s)?,
            token,
        )
    }

    /// The app's (or slot's) ARM path.
    fn site(&self) -> String {
        self.arm.path(&match &self.cfg.slot {
            Some(slot) => format!("Microsoft.Web/sites/{}/slots/{slot}", self.cfg.app),
            None => format!("Microsoft.Web/sites/{}", self.cfg.app),
        })
    }

    fn base(&self) -> String {
        format!("{}/config/connectionstrings", self.site())
    }

    fn label(&self) -> String {
        match &self.cfg.slot {
            Some(slot) => format!("web app `{}` slot `{slot}`", self.cfg.app),
            None => format!("web app `{}`", self.cfg.app),
        }
    }

    /// Every connection string of the app, as ARM lists them.
    async fn list(&self) -> Result<Map<String, Value>, ProviderError> {
        let v = self
            .arm
            .call(
                Method::POST,
                &format!("{}/list", self.base()),
                api::WEB,
                None,
            )
            .await?;
        Ok(v.get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default())
    }

    fn entry(set: &Map<String, Value>, name: &str) -> Option<Entry> {
        let e = set.get(name)?;
        Some(Entry {
            value: SecretValue::new(e.get("value").and_then(Value::as_str).unwrap_or("")),
            kind: e
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("Custom")
                .to_string(),
        })
    }

    fn wanted(&self) -> Entry {
        Entry {
            value: self.cfg.value.clone(),
            kind: self.cfg.kind.clone(),
        }
    }

    async fn put(
        &self,
        mut set: Map<String, Value>,
        entry: Option<&Entry>,
    ) -> Result<(), ProviderError> {
        match entry {
            Some(e) => {
                set.insert(
                    self.cfg.name.clone(),
                    json!({ "value": e.value.expose(), "type": e.kind }),
                );
            }
            None => {
                set.remove(&self.cfg.name);
            }
        }
        let body = json!({ "properties": set });
        self.arm
            .call(Method::PUT, &self.base(), api::WEB, Some(&body))
            .await?;
        let now = Self::entry(&self.list().await?, &self.cfg.name);
        if now.as_ref() != entry {
            return Err(self.arm.answer(
                ErrorKind::Fatal,
                format!(
                    "{}: connection string `{}` is not what was written after the PUT",
                    self.label(),
                    self.cfg.name
                ),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl Action for ConnectionStringAction {
    fn describe(&self) -> String {
        format!(
            "set connection string `{}` ({}) of {} to ******",
            self.cfg.name,
            self.cfg.kind,
            self.label()
        )
    }

    async fn verify(&self) -> Result<bool, ProviderError> {
        Ok(Self::entry(&self.list().await?, &self.cfg.name) == Some(self.wanted()))
    }

    /// `GET` the app (or slot): it exists; then the list of connection strings
    /// (`POST .../list`, read-only): the one the step sets is there. The
    /// values are never in a message (the other entries' names may be).
    async fn preflight(&self) -> Result<Vec<Preflight>, ProviderError> {
        let label = self.label();
        let name = &self.cfg.name;
        if self.arm.get_opt(&self.site(), api::WEB).await?.is_none() {
            return Ok(vec![Preflight::not_ok(format!(
                "{label} does not exist in resource group `{}`",
                self.arm.resource_group()
            ))]);
        }
        let mut found = vec![Preflight::ok(format!("{label} exists"))];
        let set = self.list().await?;
        found.push(match Self::entry(&set, name) {
            Some(e) => Preflight::ok(format!(
                "{label} has connection string `{name}` (type {})",
                e.kind
            )),
            None => {
                let mut names: Vec<&str> = set.keys().map(String::as_str).collect();
                names.sort_unstable();
                Preflight::not_ok(format!(
                    "{label} has no connection string `{name}` (it has: {}): the step would add a new one; check the name",
                    if names.is_empty() {
                        "none".to_string()
                    } else {
                        names.join(", ")
                    }
                ))
            }
        });
        Ok(found)
    }

    async fn run(&self) -> Result<Value, ProviderError> {
        let set = self.list().await?;
        let before = Self::entry(&set, &self.cfg.name);
        let wanted = self.wanted();
        let changed = before.as_ref() != Some(&wanted);
        {
            let mut captured = self.captured.lock().unwrap_or_else(|p| p.into_inner());
            if captured.is_none() {
                *captured = Some(before.clone());
            }
        }
        if changed {
            self.put(set, Some(&wanted)).await?;
        }
        Ok(json!({
            "app": self.cfg.app,
            "slot": self.cfg.slot,
            "connection_string": self.cfg.name,
            "type": self.cfg.kind,
            "changed": changed,
            "existed_before": before.is_some(),
        }))
    }

    fn idempotent(&self) -> bool {
        true
    }

    fn verifies(&self) -> bool {
        true
    }

    fn compensable(&self) -> bool {
        true
    }

    async fn compensate(&self) -> Result<(), ProviderError> {
        let captured = self
            .captured
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(before) = captured else {
            // run() did not run in this process (a resumed run, or verify() found
            // the value in place): the previous value is unknown.
            return Err(self.arm.answer(
                ErrorKind::Conflict,
                format!(
                    "{}: the previous value of `{}` was not captured by this process: \
                     restore it by hand",
                    self.label(),
                    self.cfg.name
                ),
            ));
        };
        let set = self.list().await?;
        if Self::entry(&set, &self.cfg.name) != before {
            self.put(set, before.as_ref()).await?;
        }
        Ok(())
    }
}
