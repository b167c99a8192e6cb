//! Answers that are not AWS error documents (a proxy's 500 page, a load
//! balancer's 429 with `Retry-After`), through the real SDK client: reported as
//! status, request id and kind, never the SDK's dump of the response.

use std::time::Duration;

use crate::common::*;
use dr_core::ErrorKind;
use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, ResponseTemplate};

const COOKIE: &str = "lb-session=cookie-value-5e1d0c";

async fn route53_answering(answer: ResponseTemplate) -> dr_core::ProviderError {
    dr_aws::testing::use_test_credentials();
    let server = MockServer::start().await;
    Mock::given(any()).respond_with(answer).mount(&server).await;
    let r = router(&settings(
        "front",
        "aws.route53",
        &server.uri(),
        json!({"hosted_zone_id": "Z1", "record_name": "app.example.com",
               "targets": {"east": "east", "west": "west"}}),
    ));
    r.current(None).await.unwrap_err()
}

fn html(status: u16) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .insert_header("content-type", "text/html")
        .insert_header("set-cookie", COOKIE)
        .insert_header("x-amzn-requestid", format!("req-{status}"))
        .set_body_string("<html><body><h1>Bad things</h1></body></html>")
}

fn assert_no_dump(e: &dr_core::ProviderError) {
    for text in [e.to_string(), format!("{e:?}")] {
        for leak in [
            "cookie-value",
            "set-cookie",
            "<html",
            "HeaderMap",
            "Response {",
        ] {
            assert!(
                !text
                    .to_ascii_lowercase()
                    .contains(&leak.to_ascii_lowercase()),
                "{leak} in {text}"
            );
        }
    }
}

#[tokio::test]
async fn an_html_500_is_transient_with_its_status_and_request_id() {
    let e = route53_answering(html(500)).await;
    assert_eq!(e.kind(), &ErrorKind::Transient, "{e}");
    assert!(e.message().contains("HTTP 500"), "{e}");
    assert_eq!(e.request_id(), Some("req-500"), "{e}");
    assert_no_dump(&e);
}

#[tokio::test]
async fn an_html_429_is_throttled_for_its_retry_after() {
    let e = route53_answering(html(429).insert_header("retry-after", "7")).await;
    assert_eq!(
        e.kind(),
        &ErrorKind::Throttled {
            retry_after: Some(Duration::from_secs(7))
        },
        "{e}"
    );
    assert!(e.message().contains("HTTP 429"), "{e}");
    assert_eq!(e.request_id(), Some("req-429"), "{e}");
    assert_no_dump(&e);
}
