//! A real moto server on a loopback port, for this crate's tests and yours
//! (feature `testing`).
//!
//! ```no_run
//! # #[tokio::main] async fn main() {
//! let moto = dr_aws::testing::MotoServer::start().await;   // 127.0.0.1, a free port
//! let s3 = moto.s3("us-east-1").await;                     // the harness's own client
//! s3.create_bucket().bucket("east").send().await.unwrap();
//! // point a resource at it: endpoint_url = moto.url(), region = "us-east-1"
//! # }
//! ```
//!
//! Each [`MotoServer`] is its own process (one per test, so tests of one binary,
//! which cargo runs in parallel threads, never share or reset each other's
//! state), and is killed when dropped, also when the test panics.
//!
//! Credentials: [`MotoServer::start`] calls [`use_test_credentials`], which makes
//! every resource built in this process sign with the static test key
//! `testing`/`testing` instead of the standard chain. It exists only with the
//! `testing` feature and only once called; nothing reads credentials from a plan.

mod fake;

pub use fake::{FakeAws, FakeGlobal, FakeInstance, FakeState};

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3::config::Credentials;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The environment variable naming the `moto_server` binary (set by
/// `scripts/deps/moto.sh`).
pub const MOTO_ENV: &str = "DR_MOTO_SERVER";

/// The account id moto uses for every resource.
pub const ACCOUNT: &str = "123456789012";

/// How long moto may take to answer after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Makes every resource built in this process sign with the static test key
/// (`testing`/`testing`) rather than the standard credential chain.
pub fn use_test_credentials() {
    let _ = crate::client::TEST_CREDENTIALS.set(
        aws_types::sdk_config::SharedCredentialsProvider::new(test_credentials()),
    );
}

fn test_credentials() -> Credentials {
    Credentials::new("testing", "testing", None, None, "dr-aws-testing")
}

/// A `moto_server` process on `127.0.0.1`, killed on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
}

fn moto_binary() -> PathBuf {
    if let Some(p) = std::env::var_os(MOTO_ENV) {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "{MOTO_ENV}={} does not exist: run scripts/test or source scripts/deps/moto.sh",
            p.display()
        );
        return p;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("moto_server");
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "moto_server is not on PATH and {MOTO_ENV} is not set, and these tests run a real moto \
         server: run scripts/test or source scripts/deps/moto.sh (it installs \
         'moto[server]==5.2.5' into a venv and exports {MOTO_ENV})"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a free loopback port")
}

/// Sends one bodyless HTTP/1.1 request, returns the status code.
async fn http(port: u16, method: &str, path: &str) -> std::io::Result<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).await?;
    s.write_all(
        format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    )
    .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("not HTTP: {text:.80}")))
}

impl MotoServer {
    /// Starts `moto_server -H 127.0.0.1 -p PORT` on a free port, waits until it
    /// answers and resets it. Panics with an install hint when moto is missing.
    pub async fn start() -> MotoServer {
        use_test_credentials();
        let bin = moto_binary();
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", bin.display()));
            let mut server = MotoServer { child, port };
            let deadline = tokio::time::Instant::now() + START_TIMEOUT;
            while tokio::time::Instant::now() < deadline {
                if let Ok(Some(status)) = server.child.try_wait() {
                    last = format!("moto_server exited with {status} (port {port} taken?)");
                    break;
                }
                match http(port, "POST", "/moto-api/reset").await {
                    Ok(200) => return server,
                    Ok(code) => last = format!("reset answered HTTP {code}"),
                    Err(e) => last = e.to_string(),
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            drop(server);
        }
        panic!("moto_server did not start: {last}");
    }

    /// `http://127.0.0.1:PORT`: a resource's `endpoint_url`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// An SDK configuration of the harness's own (plain HTTP, static test key)
    /// for `region`, to set up and inspect what the tests need.
    pub async fn sdk(&self, region: &str) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .region(Region::new(region.to_string()))
            .endpoint_url(self.url())
            .credentials_provider(test_credentials())
            .load()
            .await
    }

    /// An S3 client (path-style) for `region`.
    pub async fn s3(&self, region: &str) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk(region).await)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    /// A Route 53 client.
    pub async fn route53(&self) -> aws_sdk_route53::Client {
        aws_sdk_route53::Client::new(&self.sdk("us-east-1").await)
    }

    /// An RDS client for `region`.
    pub async fn rds(&self, region: &str) -> aws_sdk_rds::Client {
        aws_sdk_rds::Client::new(&self.sdk(region).await)
    }

    /// An EC2 client for `region`.
    pub async fn ec2(&self, region: &str) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk(region).await)
    }

    /// An Auto Scaling client for `region`.
    pub async fn autoscaling(&self, region: &str) -> aws_sdk_autoscaling::Client {
        aws_sdk_autoscaling::Client::new(&self.sdk(region).await)
    }
}

impl MotoServer {
    /// Creates two versioned buckets and a replication rule `src` -> `dst`
    /// (id `east-to-west`, role `arn:aws:iam::ACCOUNT:role/replication`).
    pub async fn replicated_buckets(&self, region: &str, src: &str, dst: &str) {
        use aws_sdk_s3::types::{
            BucketVersioningStatus, DeleteMarkerReplication, DeleteMarkerReplicationStatus,
            Destination, ReplicationConfiguration, ReplicationRule, ReplicationRuleFilter,
            ReplicationRuleStatus, VersioningConfiguration,
        };
        let s3 = self.s3(region).await;
        for b in [src, dst] {
            s3.create_bucket().bucket(b).send().await.unwrap();
            s3.put_bucket_versioning()
                .bucket(b)
                .versioning_configuration(
                    VersioningConfiguration::builder()
                        .status(BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
        let rule = ReplicationRule::builder()
            .id("east-to-west")
            .priority(1)
            .status(ReplicationRuleStatus::Enabled)
            .filter(ReplicationRuleFilter::builder().prefix("").build())
            .delete_marker_replication(
                DeleteMarkerReplication::builder()
                    .status(DeleteMarkerReplicationStatus::Disabled)
                    .build(),
            )
            .destination(
                Destination::builder()
                    .bucket(format!("arn:aws:s3:::{dst}"))
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        s3.put_bucket_replication()
            .bucket(src)
            .replication_configuration(
                ReplicationConfiguration::builder()
                    .role(format!("arn:aws:iam::{ACCOUNT}:role/replication"))
                    .rules(rule)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }

    /// `(rule id, status, destination bucket ARN)` of `bucket`'s replication
    /// rules (none when it has no configuration).
    pub async fn replication_rules(
        &self,
        region: &str,
        bucket: &str,
    ) -> Vec<(String, String, String)> {
        match self
            .s3(region)
            .await
            .get_bucket_replication()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(out) => out
                .replication_configuration()
                .map(|c| {
                    c.rules()
                        .iter()
                        .map(|r| {
                            (
                                r.id().unwrap_or_default().to_string(),
                                r.status().as_str().to_string(),
                                r.destination()
                                    .map(|d| d.bucket().to_string())
                                    .unwrap_or_default(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
            Err(_) => vec![],
        }
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
