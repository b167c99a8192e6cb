//! Route 53 `GetHealthCheckStatus` on rest-xml, per-checker results (moto always
//! says Success).

use wiremock::ResponseTemplate;

use super::{FakeState, Handler};

impl Handler {
    pub(super) fn health(&self, s: &mut FakeState, path: &str) -> ResponseTemplate {
        let id = path
            .trim_start_matches("/2013-04-01/healthcheck/")
            .trim_end_matches("/status");
        let Some(checkers) = s.health_checks.get(id) else {
            return ResponseTemplate::new(404)
                .insert_header("content-type", "text/xml")
                .insert_header("x-amzn-requestid", "fake-route53-request")
                .set_body_string(format!(
                    "<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><Error>\
                     <Type>Sender</Type><Code>NoSuchHealthCheck</Code><Message>No health check with id {id}</Message>\
                     </Error><RequestId>fake-route53-request</RequestId></ErrorResponse>"
                ));
        };
        let mut x = String::from(
            "<GetHealthCheckStatusResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\"><HealthCheckObservations>",
        );
        for (n, ok) in checkers.iter().enumerate() {
            let status = if *ok {
                "Success: HTTP Status Code 200, OK"
            } else {
                "Failure: Connection timed out."
            };
            x.push_str(&format!(
                "<HealthCheckObservation><Region>us-east-1</Region><IPAddress>15.177.0.{n}</IPAddress>\
                 <StatusReport><Status>{status}</Status><CheckedTime>2026-11-22T07:00:00Z</CheckedTime>\
                 </StatusReport></HealthCheckObservation>"
            ));
        }
        x.push_str("</HealthCheckObservations></GetHealthCheckStatusResponse>");
        ResponseTemplate::new(200)
            .insert_header("content-type", "text/xml")
            .insert_header("x-amzn-requestid", "fake-route53-request")
            .set_body_string(x)
    }
}
