//! Web app: the connection string set, verified, compensated and never shown.

use dr_azure::testing::{ArmStandIn, connection_strings_path, db_connection_string, names};
use serde_json::json;

use crate::common;

#[tokio::test]
async fn the_connection_string_is_set_verified_compensated_and_never_shown() {
    let arm = ArmStandIn::proseware().await;
    let secret = db_connection_string(names::DB_WEST);
    let action = common::conn_action(&arm, &secret);
    assert!(!action.verify().await.unwrap());
    let out = action.run().await.unwrap();
    for shown in [action.describe(), out.to_string(), format!("{action:?}")] {
        assert!(
            !shown.contains("pw-proseware"),
            "the secret leaked: {shown}"
        );
    }
    assert!(action.verify().await.unwrap());
    let path = connection_strings_path(names::WEB_APP);
    let set = arm.get(&path).unwrap();
    assert_eq!(
        set["properties"][names::CONNECTION_STRING]["value"],
        json!(secret)
    );
    assert_eq!(
        set["properties"]["Redis"]["type"],
        json!("RedisCache"),
        "the other entries are kept"
    );
    let put = arm
        .requests()
        .into_iter()
        .find(|r| r.method == "PUT")
        .unwrap();
    assert_eq!(put.path, path);
    assert_eq!(put.api_version.as_deref(), Some(dr_azure::api::WEB));
    assert_eq!(
        put.body.unwrap()["properties"].as_object().unwrap().len(),
        2,
        "the whole set is PUT"
    );
    action.compensate().await.unwrap();
    assert_eq!(
        arm.get(&path).unwrap()["properties"][names::CONNECTION_STRING]["value"],
        json!(db_connection_string(names::DB_EAST))
    );
}

/// The action for `app` (and `slot`) and connection string `name`, set to `value`.
fn conn_action_for(
    arm: &ArmStandIn,
    app: &str,
    slot: Option<&str>,
    name: &str,
    value: &str,
) -> std::sync::Arc<dyn dr_core::Action> {
    let mut extra = json!({ "app": app, "name": name, "value": value, "type": "PostgreSQL" });
    if let Some(slot) = slot {
        extra["slot"] = json!(slot);
    }
    let s = common::settings(
        arm,
        "set-conn",
        "azure.web_app.set_connection_string",
        extra,
    );
    common::registry()
        .build_action("azure.web_app.set_connection_string", &s)
        .unwrap()
        .unwrap()
}

/// `preflight()` as (ok, message) pairs, asserting no connection string value
/// (the step's, or any the app holds) is in a message.
async fn preflight(arm: &ArmStandIn, action: &dyn dr_core::Action) -> Vec<(bool, String)> {
    let found: Vec<(bool, String)> = action
        .preflight()
        .await
        .unwrap()
        .into_iter()
        .map(|p| (p.ok, p.message))
        .collect();
    let shown = format!("{found:?}");
    for value in ["pw-proseware", "Server=", "redis.cache.windows.net", "6380"] {
        assert!(!shown.contains(value), "a value leaked: {shown}");
    }
    assert!(
        arm.requests().iter().all(|r| r.method == "GET"
            || (r.method == "POST" && r.path.ends_with("/connectionstrings/list"))),
        "read only: {:?}",
        common::lines(&arm.requests())
    );
    found
}

#[tokio::test]
async fn the_connection_string_preflight_finds_the_app_and_the_entry_and_never_shows_a_value() {
    let arm = ArmStandIn::proseware().await;
    let secret = db_connection_string(names::DB_WEST);
    let app = names::WEB_APP;

    // Present: ok.
    let ok = conn_action_for(&arm, app, None, names::CONNECTION_STRING, &secret);
    assert_eq!(
        preflight(&arm, ok.as_ref()).await,
        [
            (true, format!("web app `{app}` exists")),
            (
                true,
                format!(
                    "web app `{app}` has connection string `{}` (type PostgreSQL)",
                    names::CONNECTION_STRING
                )
            ),
        ]
    );
    assert_eq!(
        common::lines(&arm.take_requests()),
        [
            format!("GET {}", dr_azure::testing::web_app_path(app)),
            format!("POST {}/list", connection_strings_path(app)),
        ]
    );

    // A connection string the app does not have: not ok, named.
    let typo = conn_action_for(&arm, app, None, "ProsewareDB2", &secret);
    assert_eq!(
        preflight(&arm, typo.as_ref()).await[1],
        (
            false,
            format!(
                "web app `{app}` has no connection string `ProsewareDB2` (it has: ProsewareDb, \
                 Redis): the step would add a new one; check the name"
            )
        )
    );

    // An app, or a slot, that does not exist: not ok, and nothing else asked.
    arm.take_requests();
    let missing = conn_action_for(&arm, "proseware-web-nowhere", None, "ProsewareDb", &secret);
    assert_eq!(
        preflight(&arm, missing.as_ref()).await,
        [(
            false,
            "web app `proseware-web-nowhere` does not exist in resource group `proseware`"
                .to_string()
        )]
    );
    let slot = conn_action_for(&arm, app, Some("staging"), "ProsewareDb", &secret);
    assert_eq!(
        preflight(&arm, slot.as_ref()).await,
        [(
            false,
            format!("web app `{app}` slot `staging` does not exist in resource group `proseware`")
        )]
    );
    assert!(
        arm.requests().iter().all(|r| r.method == "GET"),
        "{:?}",
        common::lines(&arm.requests())
    );
    // Nothing changed.
    assert_eq!(
        arm.get(&connection_strings_path(app)).unwrap()["properties"][names::CONNECTION_STRING]["value"],
        json!(db_connection_string(names::DB_EAST))
    );
}

/// `dr check` of a plan whose value comes from the environment: the findings
/// name the app and the entry, never the value. The variable (`DB`) is not
/// named like a secret and `value` is not a credential-named key, so the
/// plan's redactor would not hide it: the action itself must never show it.
#[tokio::test]
async fn dr_check_reports_the_connection_string_preflight_without_the_value() {
    let arm = ArmStandIn::proseware().await;
    let secret = db_connection_string(names::DB_WEST);
    let text = format!(
        "[plan]\nname = \"conn\"\n\
         [[steps]]\nid = \"conn\"\naction = \"azure.web_app.set_connection_string\"\n\
         app = \"{}\"\nname = \"Missing\"\nvalue = \"${{env:DB}}\"\n\
         subscription = \"{}\"\nresource_group = \"{}\"\narm_endpoint = \"{}\"\n",
        names::WEB_APP,
        dr_azure::testing::SUBSCRIPTION,
        dr_azure::testing::RESOURCE_GROUP,
        arm.uri()
    );
    let env_secret = secret.clone();
    let plan = dr_core::Plan::parse(
        "conn.toml",
        &text,
        &common::registry(),
        &dr_core::LoadOptions::with_env(move |k| (k == "DB").then(|| env_secret.clone())),
    )
    .unwrap_or_else(|d| panic!("{d}"));
    let findings = dr_core::check::check(&plan).await;
    assert!(!dr_core::check::ready(&findings));
    let pre: Vec<_> = findings
        .iter()
        .filter(|f| f.check == "action_preflight")
        .collect();
    assert_eq!(pre.len(), 2, "{findings:#?}");
    assert!(pre[0].ok && !pre[1].ok, "{findings:#?}");
    assert_eq!(pre[1].step.as_deref(), Some("conn"));
    assert!(pre[1].message.contains("no connection string `Missing`"));
    let shown = format!("{findings:?}");
    assert!(
        !shown.contains(&secret) && !shown.contains("pw-proseware"),
        "{shown}"
    );
}
