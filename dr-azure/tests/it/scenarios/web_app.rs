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
