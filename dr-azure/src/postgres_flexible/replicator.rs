//! The replication link into a PostgreSQL flexible server as a [`Replicator`].
//!
//! The link *into* `server` (a replica). `replica.replicationState`
//! `Active`/`Catchup` is replicating, `Broken` broken, the transitional states
//! unknown; a server that is not a replica has no link into it (broken). The lag
//! is the newest `Maximum` of the Azure Monitor metric
//! `physical_replication_delay_in_seconds` of the replica in the last 15 minutes.
//! A replica stops replicating only by being promoted, so `stop` is not offered
//! (`datastore.promote` does it). `reverse()` re-protects the server after it was
//! promoted: it creates `reverse_replica` in `reverse_location` as its replica
//! (`PUT` with `createMode = "Replica"`, carrying from the server what Azure
//! requires of a replica of a server in a virtual network or with customer-managed
//! keys: network, user-assigned identities, data encryption, availability zone),
//! polled to the end; that replica already existing as a replica of this server is
//! `Ok`.
//!
//! What cannot be carried is found before the run: `reverse_preflight()` (run by
//! `dr check` for a plan that reverses the link) reads the server and says, for
//! its network and its data encryption, whether the replica body would do (see
//! [`carry_network`] and [`carry_encryption`]); `reverse()` refuses, before any
//! change, what the preflight would not pass.

use std::sync::Arc;

use dr_core::http::Method;
use dr_core::{
    ConfigError, ErrorKind, Preflight, ProviderError, ReplicationState, ReplicationStatus,
    Replicator, ReplicatorCapabilities, Settings, async_trait,
};
use serde_json::{Value, json};

use super::PgServer;
use super::config::PostgresConfig;
use crate::client::api;
use crate::config::ArmConfig;
use crate::credential::TokenSource;
use crate::error::{conflict, invalid};

/// The replication link into a PostgreSQL flexible server.
#[derive(Debug)]
pub struct PostgresReplicator {
    server: PgServer,
}

impl PostgresReplicator {
    /// The replicator for `cfg`, named `resource` in errors.
    pub fn new(
        resource: &str,
        arm: ArmConfig,
        cfg: PostgresConfig,
        token: Arc<dyn TokenSource>,
    ) -> Result<Self, ConfigError> {
        Ok(PostgresReplicator {
            server: PgServer::new(resource, arm, cfg, token)?,
        })
    }

    /// Builds the replicator from a resource's settings.
    pub fn from_settings(s: &Settings, token: Arc<dyn TokenSource>) -> Result<Self, ConfigError> {
        Ok(PostgresReplicator {
            server: PgServer::from_settings(s, token)?,
        })
    }
}

/// The body that creates `reverse_replica` as a replica of `source` (the server
/// as read): what Azure requires of a replica of a server in a virtual network or
/// with customer-managed keys, carried from the source: `network`
/// (`delegatedSubnetResourceId` and `privateDnsZoneArmResourceId`, overridden by
/// `reverse_subnet` / `reverse_private_dns_zone`; `publicNetworkAccess`), the
/// user-assigned `identity`, `dataEncryption` (`primaryKeyURI`,
/// `primaryUserAssignedIdentityId`, `geoBackupKeyURI`,
/// `geoBackupUserAssignedIdentityId`, `type`) and `availabilityZone`.
fn replica_body(cfg: &PostgresConfig, location: &str, source_id: &str, source: &Value) -> Value {
    let mut props = json!({ "createMode": "Replica", "sourceServerResourceId": source_id });
    let p = source.get("properties").cloned().unwrap_or(Value::Null);
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    };
    let net = p.get("network").cloned().unwrap_or(Value::Null);
    let mut network = serde_json::Map::new();
    let subnet = cfg
        .reverse_subnet
        .clone()
        .or_else(|| text(&net, "delegatedSubnetResourceId"));
    if let Some(subnet) = subnet {
        network.insert("delegatedSubnetResourceId".into(), json!(subnet));
        if let Some(zone) = cfg
            .reverse_private_dns_zone
            .clone()
            .or_else(|| text(&net, "privateDnsZoneArmResourceId"))
        {
            network.insert("privateDnsZoneArmResourceId".into(), json!(zone));
        }
    }
    if let Some(access) = text(&net, "publicNetworkAccess") {
        network.insert("publicNetworkAccess".into(), json!(access));
    }
    if !network.is_empty() {
        props["network"] = Value::Object(network);
    }
    let enc = p.get("dataEncryption").cloned().unwrap_or(Value::Null);
    if text(&enc, "primaryKeyURI").is_some() {
        let mut de = serde_json::Map::new();
        for k in [
            "type",
            "primaryKeyURI",
            "primaryUserAssignedIdentityId",
            "geoBackupKeyURI",
            "geoBackupUserAssignedIdentityId",
        ] {
            if let Some(v) = text(&enc, k) {
                de.insert(k.into(), json!(v));
            }
        }
        props["dataEncryption"] = Value::Object(de);
    }
    if let Some(zone) = text(&p, "availabilityZone") {
        props["availabilityZone"] = json!(zone);
    }
    let mut body = json!({ "location": location, "properties": props });
    let ids: serde_json::Map<String, Value> = source
        .pointer("/identity/userAssignedIdentities")
        .and_then(Value::as_object)
        .map(|m| m.keys().map(|k| (k.clone(), json!({}))).collect())
        .unwrap_or_default();
    if !ids.is_empty() {
        body["identity"] = json!({ "type": "UserAssigned", "userAssignedIdentities": ids });
    }
    body
}

/// A non-empty string at `key` of `v`.
fn text_at<'v>(v: &'v Value, key: &[&str]) -> Option<&'v str> {
    key.iter()
        .try_fold(v, |v, k| v.get(k))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// An Azure location as a name (`West US` and `westus` are one region).
fn region(location: &str) -> String {
    location
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether the network of `source` (the server as read) can be carried to a
/// replica in `location`. A server in a virtual network has a delegated subnet,
/// and a subnet is regional: a replica in another region needs
/// `reverse_subnet`, a subnet in that region.
fn carry_network(cfg: &PostgresConfig, location: &str, source: &Value) -> Preflight {
    let server = &cfg.server;
    let Some(subnet) = text_at(
        source,
        &["properties", "network", "delegatedSubnetResourceId"],
    ) else {
        return Preflight::ok(format!(
            "network: server `{server}` has public access (no delegated subnet): its replica \
             in {location} needs no network settings"
        ));
    };
    let here = text_at(source, &["location"]).unwrap_or_default();
    if let Some(theirs) = &cfg.reverse_subnet {
        return Preflight::ok(format!(
            "network: server `{server}` is in a virtual network; its replica in {location} \
             gets `reverse_subnet` {theirs} (that subnet's region is not read: it must be \
             {location})"
        ));
    }
    if region(here) == region(location) {
        return Preflight::ok(format!(
            "network: server `{server}` is in a virtual network in {here}; its replica in the \
             same region gets the same subnet {subnet}"
        ));
    }
    Preflight::not_ok(format!(
        "network: server `{server}` is in a virtual network in {here} (subnet {subnet}), and a \
         subnet is regional: its replica in {location} needs a delegated subnet in {location}. \
         Set `reverse_subnet` (and `reverse_private_dns_zone` if the zone differs)"
    ))
}

/// Whether the customer-managed keys of `source` can be carried to a replica:
/// the key and the identity that reads it, each identity among the server's
/// user-assigned identities (which the replica gets), and, with geo-redundant
/// backup, the geo-backup key and its identity (a server with customer-managed
/// keys and geo-redundant backup uses two keys, each read by its own
/// identity). Service-managed keys need nothing.
fn carry_encryption(cfg: &PostgresConfig, source: &Value) -> Preflight {
    let server = &cfg.server;
    let de = |k: &str| text_at(source, &["properties", "dataEncryption", k]);
    let cmk = de("type").is_some_and(|t| t.eq_ignore_ascii_case("AzureKeyVault"))
        || de("primaryKeyURI").is_some();
    if !cmk {
        return Preflight::ok(format!(
            "data encryption: server `{server}` uses service-managed keys: nothing to carry"
        ));
    }
    let identities: Vec<String> = source
        .pointer("/identity/userAssignedIdentities")
        .and_then(Value::as_object)
        .map(|m| m.keys().map(|k| k.to_ascii_lowercase()).collect())
        .unwrap_or_default();
    let geo_backup = text_at(source, &["properties", "backup", "geoRedundantBackup"])
        .is_some_and(|g| g.eq_ignore_ascii_case("Enabled"));
    let mut pairs = vec![("primaryKeyURI", "primaryUserAssignedIdentityId")];
    if geo_backup
        || de("geoBackupKeyURI").is_some()
        || de("geoBackupUserAssignedIdentityId").is_some()
    {
        pairs.push(("geoBackupKeyURI", "geoBackupUserAssignedIdentityId"));
    }
    let mut wrong = Vec::new();
    for (key, identity) in &pairs {
        if de(key).is_none() {
            wrong.push(format!("`{key}` is missing"));
        }
        match de(identity) {
            None => wrong.push(format!("`{identity}` is missing")),
            Some(id) if !identities.contains(&id.to_ascii_lowercase()) => wrong.push(format!(
                "`{identity}` {id} is not among the server's user-assigned identities"
            )),
            Some(_) => {}
        }
    }
    let geo = if pairs.len() > 1 {
        " and geo-backup key"
    } else {
        ""
    };
    if wrong.is_empty() {
        return Preflight::ok(format!(
            "data encryption: server `{server}` uses customer-managed keys; its key{geo} and \
             identities are carried to the replica"
        ));
    }
    Preflight::not_ok(format!(
        "data encryption: server `{server}` uses customer-managed keys{}, and its replica \
         cannot be created with them as read: {}",
        if geo_backup {
            " with geo-redundant backup"
        } else {
            ""
        },
        wrong.join("; ")
    ))
}

/// What [`carry_network`] and [`carry_encryption`] say of `source`.
fn carry(cfg: &PostgresConfig, location: &str, source: &Value) -> Vec<Preflight> {
    vec![
        carry_network(cfg, location, source),
        carry_encryption(cfg, source),
    ]
}

#[async_trait]
impl Replicator for PostgresReplicator {
    fn capabilities(&self) -> ReplicatorCapabilities {
        let mut caps = ReplicatorCapabilities::observe_only();
        caps.reverse = self.server.cfg.reverse_replica.is_some();
        caps
    }

    async fn status(&self) -> Result<ReplicationStatus, ProviderError> {
        let st = self.server.read().await?;
        if !st.is_replica() {
            return Ok(ReplicationStatus::new(ReplicationState::Broken, None));
        }
        let state = match st.replication_state.as_deref() {
            Some("Active" | "Catchup") => ReplicationState::Replicating,
            Some("Broken") => ReplicationState::Broken,
            _ => ReplicationState::Unknown,
        };
        let lag = self
            .server
            .arm
            .latest_metric(
                &st.id,
                "physical_replication_delay_in_seconds",
                "Maximum",
                None,
            )
            .await?;
        Ok(ReplicationStatus::new(
            state,
            lag.as_ref()
                .and_then(|(secs, _)| dr_core::lag_from_secs(*secs)),
        ))
    }

    async fn stop(&self) -> Result<(), ProviderError> {
        Err(invalid(
            "a PostgreSQL flexible server replica stops replicating only by being promoted: \
             use datastore.promote",
        ))
    }

    async fn reverse(&self) -> Result<(), ProviderError> {
        let s = &self.server;
        let (Some(name), Some(location)) = (&s.cfg.reverse_replica, &s.cfg.reverse_location) else {
            return Err(invalid(
                "reverse needs `reverse_replica` and `reverse_location`",
            ));
        };
        let source = s
            .arm
            .get(&s.path_of(&s.cfg.server), api::POSTGRES, &[])
            .await?;
        let me = s.parse(&source);
        if me.is_replica() {
            return Err(conflict(format!(
                "server `{}` is still a replica: promote it before re-protecting it",
                s.cfg.server
            )));
        }
        let path = s.path_of(name);
        let is_ours = |v: &Value| {
            let st = s.parse(v);
            st.is_replica()
                && st
                    .source
                    .as_deref()
                    .is_some_and(|src| src.eq_ignore_ascii_case(&me.id))
        };
        match s.arm.get_opt(&path, api::POSTGRES).await? {
            Some(v) if is_ours(&v) => return Ok(()),
            Some(_) => {
                return Err(conflict(format!(
                    "server `{name}` exists and is not a replica of `{}`",
                    s.cfg.server
                )));
            }
            None => {}
        }
        let cannot: Vec<String> = carry(&s.cfg, location, &source)
            .into_iter()
            .filter(|p| !p.ok)
            .map(|p| p.message)
            .collect();
        if !cannot.is_empty() {
            return Err(invalid(format!(
                "cannot re-protect server `{}` with replica `{name}`: {} (nothing was \
                 created; `dr check` of the plan reports this before a run)",
                s.cfg.server,
                cannot.join("; ")
            )));
        }
        let body = replica_body(&s.cfg, location, &me.id, &source);
        s.arm
            .lro(Method::PUT, &path, api::POSTGRES, &[], Some(&body))
            .await?;
        match s.arm.get_opt(&path, api::POSTGRES).await? {
            Some(v) if is_ours(&v) => Ok(()),
            _ => Err(s.arm.answer(
                ErrorKind::Fatal,
                format!(
                    "server `{name}` is not a replica of `{}` after its creation",
                    s.cfg.server
                ),
            )),
        }
    }

    async fn reverse_preflight(&self) -> Result<Vec<Preflight>, ProviderError> {
        let s = &self.server;
        let Some(location) = &s.cfg.reverse_location else {
            // Validation refuses a reverse without it.
            return Ok(Vec::new());
        };
        let source = s
            .arm
            .get(&s.path_of(&s.cfg.server), api::POSTGRES, &[])
            .await?;
        Ok(carry(&s.cfg, location, &source))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_is_one_however_it_is_written_and_a_key_needs_its_identity() {
        let cfg = PostgresConfig::new("db");
        let private = json!({"location": "West US", "properties": {"network": {
            "delegatedSubnetResourceId": "/subscriptions/x/resourceGroups/n/providers/Microsoft.Network/virtualNetworks/v/subnets/db"}}});
        assert!(carry_network(&cfg, "westus", &private).ok);
        assert!(!carry_network(&cfg, "eastus", &private).ok);

        let keyed = |identities: Value| {
            json!({"identity": {"type": "UserAssigned", "userAssignedIdentities": identities},
                "properties": {"dataEncryption": {"type": "AzureKeyVault",
                    "primaryKeyURI": "https://kv/keys/k/1", "primaryUserAssignedIdentityId": "/ids/Key"}}})
        };
        assert!(carry_encryption(&cfg, &keyed(json!({"/ids/key": {}}))).ok);
        let p = carry_encryption(&cfg, &keyed(json!({"/ids/other": {}})));
        assert!(!p.ok);
        assert!(
            p.message
                .contains("/ids/Key is not among the server's user-assigned identities"),
            "{}",
            p.message
        );
    }
}
