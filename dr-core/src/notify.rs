//! The `notify` webhook POST, shared by the executor's `notify` step and
//! `dr watch`'s approval requests.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::ProviderError;

/// POSTs `body` to the webhook through the shared HTTP layer: statuses map by its
/// table (a 429 or 503 with `Retry-After` is `throttled`, so the retry waits as
/// asked) and messages never show the URL, whose path often is the secret.
pub(crate) async fn notify(
    url: &str,
    headers: &BTreeMap<String, String>,
    body: &Value,
) -> Result<(), ProviderError> {
    let client = crate::http::HttpClient::builder("notify")
        .timeout(Some(Duration::from_secs(30)))
        .build()
        .map_err(|e| ProviderError::fatal(e.to_string()).with_provider("notify"))?;
    let mut req = client.request(reqwest::Method::POST, url).json(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    client.send("webhook", req).await?;
    Ok(())
}
