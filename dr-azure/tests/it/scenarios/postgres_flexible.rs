//! PostgreSQL flexible server: fence and promote bodies, the lag metric, the
//! reverse replica.

use std::sync::Arc;
use std::time::Duration;

use dr_azure::testing::{ArmStandIn, names, pg_path};
use dr_core::{DataStore, ErrorKind};
use serde_json::{Value, json};

use crate::common;

#[tokio::test]
async fn postgres_fence_stops_the_server_and_promote_patches_the_replica_body() {
    let arm = ArmStandIn::proseware().await;
    let east = common::pg_store(&arm, names::DB_EAST);
    assert!(east.writable().await.unwrap());
    east.fence().await.unwrap();
    assert!(!east.writable().await.unwrap());
    arm.take_requests();
    east.fence().await.unwrap();
    assert!(
        arm.take_requests().iter().all(|r| r.method == "GET"),
        "fencing a stopped server changes nothing"
    );
    let mut extra = common::pg_settings(names::DB_WEST, None);
    extra["promote_option"] = json!("forced");
    let s = common::settings(&arm, "db", "azure.postgres_flexible", extra);
    common::registry()
        .build_store(&s)
        .unwrap()
        .unwrap()
        .promote()
        .await
        .unwrap();
    let patch = arm
        .take_requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .unwrap();
    assert_eq!(patch.path, pg_path(names::DB_WEST));
    assert_eq!(patch.api_version.as_deref(), Some("2025-08-01"));
    assert_eq!(
        patch.body,
        Some(
            json!({"properties": {"replica": {"promoteMode": "Standalone", "promoteOption": "Forced"}}})
        )
    );
}

#[tokio::test]
async fn postgres_lag_comes_from_the_azure_monitor_metric() {
    let arm = ArmStandIn::proseware().await;
    arm.set_metric(
        &pg_path(names::DB_WEST),
        "physical_replication_delay_in_seconds",
        42.0,
    );
    let status = common::pg_replicator(&arm, names::DB_WEST, None)
        .status()
        .await
        .unwrap();
    assert_eq!(status.lag, Some(Duration::from_secs(42)));
    let metrics = arm
        .take_requests()
        .into_iter()
        .find(|r| r.path.ends_with("/providers/Microsoft.Insights/metrics"))
        .unwrap();
    assert_eq!(
        metrics.path,
        format!(
            "{}/providers/Microsoft.Insights/metrics",
            pg_path(names::DB_WEST)
        )
    );
    assert_eq!(metrics.api_version.as_deref(), Some("2023-10-01"));
}

#[tokio::test]
async fn metrics_are_read_over_an_explicit_iso_8601_window_ending_now() {
    let arm = ArmStandIn::proseware().await;
    let before = chrono::Utc::now() - chrono::Duration::seconds(1);
    common::pg_replicator(&arm, names::DB_WEST, None)
        .status()
        .await
        .unwrap();
    let after = chrono::Utc::now() + chrono::Duration::seconds(1);
    let metrics = arm
        .take_requests()
        .into_iter()
        .find(|r| r.path.ends_with("/providers/Microsoft.Insights/metrics"))
        .unwrap();
    let timespan = &metrics.query["timespan"];
    let (start, end) = timespan.split_once('/').expect("START/END");
    let start = chrono::DateTime::parse_from_rfc3339(start).unwrap();
    let end = chrono::DateTime::parse_from_rfc3339(end).unwrap();
    assert_eq!(end - start, chrono::Duration::minutes(15), "{timespan}");
    assert!(before <= end && end <= after, "{timespan} ends now");
}

#[tokio::test]
async fn the_reverse_replica_already_existing_is_ok_and_another_server_of_that_name_is_a_conflict()
{
    let arm = ArmStandIn::proseware().await;
    common::pg_store(&arm, names::DB_WEST)
        .promote()
        .await
        .unwrap();
    // `proseware-db-eastus` exists and is not a replica of westus.
    let e = common::pg_replicator(&arm, names::DB_WEST, Some((names::DB_EAST, "eastus")))
        .reverse()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict);
    let rep = common::pg_replicator(
        &arm,
        names::DB_WEST,
        Some(("proseware-db-eastus-2", "eastus")),
    );
    rep.reverse().await.unwrap();
    arm.take_requests();
    rep.reverse().await.unwrap();
    assert!(arm.take_requests().iter().all(|r| r.method == "GET"));
}

/// The run's mode picks the promote option: `promote_option` (default
/// planned) in a graceful run, `Forced` in an ungraceful one whatever
/// `promote_option` says.
#[tokio::test]
async fn the_run_mode_picks_a_planned_or_a_forced_promote() {
    use dr_core::{Promotion, RunMode};
    for (mode, option) in [
        (RunMode::Graceful, "Planned"),
        (RunMode::Ungraceful, "Forced"),
    ] {
        let arm = ArmStandIn::proseware().await;
        let mut extra = common::pg_settings(names::DB_WEST, None);
        extra["promote_option"] = json!("planned");
        let s = common::settings(&arm, "db", "azure.postgres_flexible", extra);
        let store = common::registry().build_store(&s).unwrap().unwrap();
        assert!(store.capabilities().modes);
        arm.take_requests();
        store.promote_with(Promotion::new(mode)).await.unwrap();
        let patch = arm
            .take_requests()
            .into_iter()
            .find(|r| r.method == "PATCH")
            .unwrap();
        assert_eq!(
            patch.body,
            Some(
                json!({"properties": {"replica": {"promoteMode": "Standalone", "promoteOption": option}}})
            ),
            "{mode}"
        );
        assert_eq!(store.role().await.unwrap(), dr_core::Role::Primary);
    }
}

fn read_only_path(server: &str) -> String {
    format!(
        "{}/configurations/default_transaction_read_only",
        pg_path(server)
    )
}

fn pg_store_fenced_by(arm: &ArmStandIn, server: &str, fence: &str) -> Arc<dyn DataStore> {
    let mut extra = common::pg_settings(server, None);
    extra["fence"] = json!(fence);
    let s = common::settings(arm, "db", "azure.postgres_flexible", extra);
    common::registry().build_store(&s).unwrap().unwrap()
}

/// Azure starts a stopped flexible server again after 7 days (and for
/// maintenance): the default fence sets `default_transaction_read_only = on`
/// before stopping, so the server comes back refusing writes.
#[tokio::test]
async fn the_default_fence_sets_default_transaction_read_only_then_stops_and_survives_a_restart() {
    let arm = ArmStandIn::proseware().await;
    let east = common::pg_store(&arm, names::DB_EAST);
    arm.take_requests();
    east.fence().await.unwrap();
    let reqs = arm.take_requests();
    let put = reqs.iter().position(|r| r.method == "PUT").expect("a PUT");
    let stop = reqs
        .iter()
        .position(|r| r.method == "POST")
        .expect("a stop");
    assert!(
        put < stop,
        "read-only before the stop: {:#?}",
        common::lines(&reqs)
    );
    assert_eq!(reqs[put].path, read_only_path(names::DB_EAST));
    assert_eq!(reqs[put].api_version.as_deref(), Some("2025-08-01"));
    assert_eq!(
        reqs[put].body,
        Some(json!({"properties": {"value": "on", "source": "user-override"}}))
    );
    assert_eq!(
        arm.get(&read_only_path(names::DB_EAST)).unwrap()["properties"]["value"],
        json!("on")
    );
    assert!(!east.writable().await.unwrap());
    // Azure starts the server again.
    let mut srv = arm.get(&pg_path(names::DB_EAST)).unwrap();
    srv["properties"]["state"] = json!("Ready");
    arm.put(&pg_path(names::DB_EAST), srv);
    assert!(
        !east.writable().await.unwrap(),
        "a server Azure started again is still read-only"
    );
}

#[tokio::test]
async fn a_read_only_fence_leaves_the_server_running_and_refusing_writes() {
    let arm = ArmStandIn::proseware().await;
    let east = pg_store_fenced_by(&arm, names::DB_EAST, "read_only");
    assert!(east.writable().await.unwrap());
    east.fence().await.unwrap();
    assert_eq!(
        arm.get(&pg_path(names::DB_EAST)).unwrap()["properties"]["state"],
        json!("Ready")
    );
    assert!(!east.writable().await.unwrap());
    arm.take_requests();
    east.fence().await.unwrap();
    assert!(
        arm.take_requests().iter().all(|r| r.method == "GET"),
        "fencing a read-only server again changes nothing"
    );
    // fence = "stop" alone sets no parameter.
    let arm2 = ArmStandIn::proseware().await;
    pg_store_fenced_by(&arm2, names::DB_EAST, "stop")
        .fence()
        .await
        .unwrap();
    assert!(!arm2.requests().iter().any(|r| r.method == "PUT"));
    assert!(arm2.get(&read_only_path(names::DB_EAST)).is_none());
}

#[tokio::test]
async fn promoting_a_server_again_undoes_its_read_only_fence() {
    let arm = ArmStandIn::proseware().await;
    // Failback: the old primary was fenced read-only, and is promoted again.
    let east = pg_store_fenced_by(&arm, names::DB_EAST, "read_only");
    east.fence().await.unwrap();
    assert!(!east.writable().await.unwrap());
    east.promote().await.unwrap();
    assert_eq!(
        arm.get(&read_only_path(names::DB_EAST)).unwrap()["properties"]["value"],
        json!("off")
    );
    assert!(east.writable().await.unwrap());
    // A replica that carries the parameter is writable once promoted.
    arm.put(
        &read_only_path(names::DB_WEST),
        json!({"name": "default_transaction_read_only", "properties": {"value": "on", "source": "user-override"}}),
    );
    let west = common::pg_store(&arm, names::DB_WEST);
    west.promote().await.unwrap();
    assert!(west.writable().await.unwrap());
}

#[tokio::test]
async fn promoting_a_server_fenced_by_stop_and_read_only_starts_it_and_makes_it_writable() {
    let arm = ArmStandIn::proseware().await;
    // Failback after the default fence (`both`): the old primary is stopped
    // and read-only; promoting it again must leave it serving writes.
    let east = pg_store_fenced_by(&arm, names::DB_EAST, "both");
    east.fence().await.unwrap();
    assert_eq!(
        arm.get(&pg_path(names::DB_EAST)).unwrap()["properties"]["state"],
        json!("Stopped")
    );
    east.promote().await.unwrap();
    assert_eq!(
        arm.get(&pg_path(names::DB_EAST)).unwrap()["properties"]["state"],
        json!("Ready")
    );
    assert_eq!(
        arm.get(&read_only_path(names::DB_EAST)).unwrap()["properties"]["value"],
        json!("off")
    );
    assert!(east.writable().await.unwrap());
    // Promoting it once more starts nothing (the stand-in refuses starting a
    // running server) and changes nothing.
    east.promote().await.unwrap();
    assert!(east.writable().await.unwrap());
}

#[tokio::test]
async fn a_stopped_server_without_the_read_only_parameter_cannot_be_fenced_read_only() {
    let arm = ArmStandIn::proseware().await;
    let mut srv = arm.get(&pg_path(names::DB_EAST)).unwrap();
    srv["properties"]["state"] = json!("Stopped");
    arm.put(&pg_path(names::DB_EAST), srv);
    let e = common::pg_store(&arm, names::DB_EAST)
        .fence()
        .await
        .unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::Conflict, "{e}");
    assert!(e.to_string().contains("Azure starts it again"), "{e}");
}

#[tokio::test]
async fn an_unknown_fence_is_refused_in_the_settings() {
    let arm = ArmStandIn::proseware().await;
    let mut extra = common::pg_settings(names::DB_EAST, None);
    extra["fence"] = json!("unplug");
    let s = common::settings(&arm, "db", "azure.postgres_flexible", extra);
    assert!(common::registry().build_store(&s).unwrap().is_err());
}

/// A primary in a virtual network, with customer-managed keys, user-assigned
/// identities and an availability zone, as the stand-in's eastus server.
fn make_east_private_and_encrypted(arm: &ArmStandIn) -> Value {
    let id = |name: &str| {
        format!(
            "/subscriptions/{}/resourceGroups/proseware/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
            dr_azure::testing::SUBSCRIPTION
        )
    };
    let mut srv = arm.get(&pg_path(names::DB_EAST)).unwrap();
    srv["identity"] = json!({"type": "UserAssigned", "userAssignedIdentities": {
        id("db-key-east"): {"principalId": "p1", "clientId": "c1"},
        id("db-key-geo"): {"principalId": "p2", "clientId": "c2"}}});
    srv["properties"]["network"] = json!({
        "delegatedSubnetResourceId": "/subscriptions/x/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/vnet-east/subnets/db",
        "privateDnsZoneArmResourceId": "/subscriptions/x/resourceGroups/net/providers/Microsoft.Network/privateDnsZones/proseware.postgres.database.azure.com",
        "publicNetworkAccess": "Disabled"});
    srv["properties"]["dataEncryption"] = json!({"type": "AzureKeyVault",
        "primaryKeyURI": "https://kv-east.vault.azure.net/keys/db/1",
        "primaryUserAssignedIdentityId": id("db-key-east"),
        "geoBackupKeyURI": "https://kv-west.vault.azure.net/keys/db/1",
        "geoBackupUserAssignedIdentityId": id("db-key-geo"),
        "primaryEncryptionKeyStatus": "Valid"});
    srv["properties"]["availabilityZone"] = json!("2");
    arm.put(&pg_path(names::DB_EAST), srv.clone());
    vnet(arm, "vnet-east", "eastus");
    vnet(arm, "vnet-west", "westus");
    srv
}

#[tokio::test]
async fn re_protecting_a_private_encrypted_server_carries_network_identity_keys_and_zone() {
    let arm = ArmStandIn::proseware().await;
    let east = make_east_private_and_encrypted(&arm);
    let mut extra = common::pg_settings(names::DB_EAST, Some(("proseware-db-westus-2", "westus")));
    extra["reverse_subnet"] = json!(
        "/subscriptions/x/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/vnet-west/subnets/db"
    );
    let s = common::settings(&arm, "db", "azure.postgres_flexible", extra);
    let rep = common::registry().build_replicator(&s).unwrap().unwrap();
    arm.take_requests();
    rep.reverse().await.unwrap();
    let put = arm
        .take_requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    let body = put.body.unwrap();
    assert_eq!(
        body["properties"]["network"],
        json!({
            "delegatedSubnetResourceId": "/subscriptions/x/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/vnet-west/subnets/db",
            "privateDnsZoneArmResourceId": east["properties"]["network"]["privateDnsZoneArmResourceId"],
            "publicNetworkAccess": "Disabled"})
    );
    let mut want_keys = east["properties"]["dataEncryption"].clone();
    want_keys
        .as_object_mut()
        .unwrap()
        .remove("primaryEncryptionKeyStatus");
    assert_eq!(body["properties"]["dataEncryption"], want_keys);
    assert_eq!(body["properties"]["availabilityZone"], json!("2"));
    assert_eq!(body["identity"]["type"], json!("UserAssigned"));
    assert_eq!(
        body["identity"]["userAssignedIdentities"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        east["identity"]["userAssignedIdentities"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>()
    );
    let replica = arm.get(&pg_path("proseware-db-westus-2")).unwrap();
    assert_eq!(
        replica["properties"]["replicationRole"],
        json!("GeoAsyncReplica")
    );
    assert_eq!(
        replica["properties"]["dataEncryption"]["primaryKeyURI"],
        json!("https://kv-east.vault.azure.net/keys/db/1")
    );
}

#[tokio::test]
async fn a_public_unencrypted_server_is_re_protected_with_the_plain_replica_body() {
    let arm = ArmStandIn::proseware().await;
    let rep = common::pg_replicator(
        &arm,
        names::DB_EAST,
        Some(("proseware-db-westus-2", "westus")),
    );
    arm.take_requests();
    rep.reverse().await.unwrap();
    let put = arm
        .take_requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert_eq!(
        put.body.unwrap(),
        json!({"location": "westus", "properties": {"createMode": "Replica", "sourceServerResourceId": pg_path(names::DB_EAST)}})
    );
}

/// A virtual network `name` in `location` (the stand-in places a delegated
/// subnet by its network's region).
fn vnet(arm: &ArmStandIn, name: &str, location: &str) -> String {
    let id = format!(
        "/subscriptions/x/resourceGroups/net/providers/Microsoft.Network/virtualNetworks/{name}"
    );
    arm.put(
        &id,
        json!({"id": id, "name": name, "type": "Microsoft.Network/virtualNetworks", "location": location}),
    );
    format!("{id}/subnets/db")
}

/// The westus replica (the server a failover promotes) in a virtual network of
/// westus, with customer-managed keys: geo-redundant backup and its key and
/// identity when `geo_key`, else geo-redundant backup without them.
fn make_west_private_and_encrypted(arm: &ArmStandIn, geo_key: bool) {
    let id = |name: &str| {
        format!(
            "/subscriptions/{}/resourceGroups/proseware/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}",
            dr_azure::testing::SUBSCRIPTION
        )
    };
    let subnet = vnet(arm, "vnet-west", "westus");
    let mut srv = arm.get(&pg_path(names::DB_WEST)).unwrap();
    srv["identity"] = json!({"type": "UserAssigned", "userAssignedIdentities": {
        id("db-key-west"): {"principalId": "p1", "clientId": "c1"},
        id("db-key-geo"): {"principalId": "p2", "clientId": "c2"}}});
    srv["properties"]["network"] = json!({
        "delegatedSubnetResourceId": subnet,
        "privateDnsZoneArmResourceId": "/subscriptions/x/resourceGroups/net/providers/Microsoft.Network/privateDnsZones/proseware.postgres.database.azure.com",
        "publicNetworkAccess": "Disabled"});
    srv["properties"]["backup"] =
        json!({"geoRedundantBackup": "Enabled", "backupRetentionDays": 7});
    srv["properties"]["dataEncryption"] = json!({"type": "AzureKeyVault",
        "primaryKeyURI": "https://kv-west.vault.azure.net/keys/db/1",
        "primaryUserAssignedIdentityId": id("db-key-west")});
    if geo_key {
        srv["properties"]["dataEncryption"]["geoBackupKeyURI"] =
            json!("https://kv-east.vault.azure.net/keys/db/1");
        srv["properties"]["dataEncryption"]["geoBackupUserAssignedIdentityId"] =
            json!(id("db-key-geo"));
    }
    arm.put(&pg_path(names::DB_WEST), srv);
}

/// The re-protect plan of the failover to westus: reverse the link into
/// `proseware-db-westus` by creating `proseware-db-eastus-2` in eastus; `extra`
/// are more settings of the resource (TOML lines).
fn reprotect_plan(arm: &ArmStandIn, extra: &str) -> dr_core::Plan {
    let text = format!(
        "[plan]\nname = \"reprotect\"\n\n[resources.db]\nprovider = \"azure.postgres_flexible\"\n\
         server = \"{}\"\nreverse_replica = \"proseware-db-eastus-2\"\nreverse_location = \"eastus\"\n\
         subscription = \"{}\"\nresource_group = \"{}\"\narm_endpoint = \"{}\"\npoll_interval = \"10ms\"\n{extra}\n\
         [[steps]]\nid = \"reverse\"\naction = \"replication.reverse\"\nreplicator = \"db\"\n",
        names::DB_WEST,
        dr_azure::testing::SUBSCRIPTION,
        dr_azure::testing::RESOURCE_GROUP,
        arm.uri()
    );
    dr_core::Plan::parse(
        "reprotect.toml",
        &text,
        &common::registry(),
        &dr_core::LoadOptions::default(),
    )
    .unwrap_or_else(|d| panic!("{d}"))
}

/// The `action_preflight` findings of the reverse step, as (ok, message).
async fn reverse_preflight(plan: &dr_core::Plan) -> (bool, Vec<(bool, String)>) {
    let findings = dr_core::check::check(plan).await;
    let pre = findings
        .iter()
        .filter(|f| f.check == "action_preflight")
        .inspect(|f| {
            assert_eq!(f.step.as_deref(), Some("reverse"));
            assert_eq!(f.resource.as_deref(), Some("db"));
        })
        .map(|f| (f.ok, f.message.clone()))
        .collect();
    (dr_core::check::ready(&findings), pre)
}

/// A private server whose replica goes to another region cannot take its
/// subnet along (a subnet is regional): `dr check` of the re-protect plan is
/// not ready and says to set `reverse_subnet`, before any failover; with it,
/// ready. The reverse agrees: refused before any change without it, the
/// replica created in the eastus subnet with it.
#[tokio::test]
async fn dr_check_finds_a_private_server_whose_replica_in_another_region_needs_reverse_subnet() {
    let arm = ArmStandIn::proseware().await;
    make_west_private_and_encrypted(&arm, true);
    let east_subnet = vnet(&arm, "vnet-east", "eastus");

    let (ready, pre) = reverse_preflight(&reprotect_plan(&arm, "")).await;
    assert!(!ready, "{pre:?}");
    assert_eq!(pre.len(), 2, "network and data encryption: {pre:?}");
    let (ok, network) = &pre[0];
    assert!(!ok, "{network}");
    for part in ["virtual network in westus", "in eastus", "`reverse_subnet`"] {
        assert!(network.contains(part), "{part}: {network}");
    }
    assert!(pre[1].0, "keys and identities carry: {pre:?}");

    let with_subnet = format!("reverse_subnet = \"{east_subnet}\"");
    let (ready, pre) = reverse_preflight(&reprotect_plan(&arm, &with_subnet)).await;
    assert!(ready, "{pre:?}");
    assert!(pre.iter().all(|(ok, _)| *ok), "{pre:?}");
    assert!(pre[0].1.contains(&east_subnet), "{pre:?}");
    assert!(
        arm.take_requests().iter().all(|r| r.method == "GET"),
        "dr check reads only"
    );

    // After the failover, the reverse itself.
    common::pg_store(&arm, names::DB_WEST)
        .promote()
        .await
        .unwrap();
    let without = reprotect_plan(&arm, "");
    let rep = without.resource("db").unwrap().replicator().unwrap();
    let e = rep.reverse().await.unwrap_err();
    assert_eq!(e.kind(), &ErrorKind::InvalidRequest, "{e}");
    assert!(e.message().contains("`reverse_subnet`"), "{e}");
    assert!(arm.get(&pg_path("proseware-db-eastus-2")).is_none());
    let with = reprotect_plan(&arm, &with_subnet);
    with.resource("db")
        .unwrap()
        .replicator()
        .unwrap()
        .reverse()
        .await
        .unwrap();
    let replica = arm.get(&pg_path("proseware-db-eastus-2")).unwrap();
    assert_eq!(
        replica["properties"]["network"]["delegatedSubnetResourceId"],
        json!(east_subnet)
    );
    assert!(arm.violations().is_empty(), "{:?}", arm.violations());
}

/// A server with customer-managed keys and geo-redundant backup uses a second
/// key for its geo backups; read without it, its replica cannot be created:
/// `dr check` is not ready and names what is missing.
#[tokio::test]
async fn dr_check_finds_customer_managed_keys_whose_geo_backup_key_is_missing() {
    let arm = ArmStandIn::proseware().await;
    make_west_private_and_encrypted(&arm, false);
    let east_subnet = vnet(&arm, "vnet-east", "eastus");
    let plan = reprotect_plan(&arm, &format!("reverse_subnet = \"{east_subnet}\""));
    let (ready, pre) = reverse_preflight(&plan).await;
    assert!(!ready, "{pre:?}");
    assert!(pre[0].0, "the network carries: {pre:?}");
    let (ok, keys) = &pre[1];
    assert!(!ok, "{keys}");
    for part in [
        "geo-redundant backup",
        "`geoBackupKeyURI` is missing",
        "`geoBackupUserAssignedIdentityId` is missing",
    ] {
        assert!(keys.contains(part), "{part}: {keys}");
    }

    // A public server with service-managed keys has nothing to carry.
    let arm = ArmStandIn::proseware().await;
    let (ready, pre) = reverse_preflight(&reprotect_plan(&arm, "")).await;
    assert!(ready, "{pre:?}");
    assert!(pre[0].1.contains("public access"), "{pre:?}");
    assert!(pre[1].1.contains("service-managed"), "{pre:?}");
}
