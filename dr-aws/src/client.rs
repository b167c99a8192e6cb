//! How this crate talks to AWS: one lazily loaded SDK configuration per resource.
//! Each service module adds its SDK client to [`Aws`] (`Aws::route53()` in
//! `route53/mod.rs`, ..), so this file names no service's SDK.
//!
//! Factories do no I/O, and loading an AWS configuration may (a profile's SSO
//! token, IMDS), so [`Aws`] loads it on the first call and keeps it. What it sets:
//! - credentials: the standard chain only (environment, shared config/SSO, web
//!   identity, ECS/IMDS), or `profile`. Never a plan setting.
//! - `region`, `endpoint_url` from the resource (else the chain's and
//!   `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>`).
//! - **SDK retries off** (`RetryConfig::disabled()`): the dr-core executor retries
//!   retryable kinds within the step's budget, so attempts never multiply
//!   (SDK 3 attempts x executor 4 would be 12 calls, with two backoffs).
//! - timeouts: connect 5 s, each call `timeout` (default 30 s).
//! - the HTTPS client: hyper 1 + rustls on `ring` (aws-smithy-http-client), with
//!   the platform's root certificates.
//! - every secret access key and session token the chain gives is registered with
//!   [`dr_core::hide_secret`] before it signs a request ([`Hidden`]), so a proxy's
//!   error echoing the headers, or the SDK's own trace log of
//!   `x-amz-security-token`, shows `******`.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider, future};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use tokio::sync::OnceCell;

use crate::config::AwsCommon;

/// Connect timeout of every call.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A resource's view of AWS: its settings and, once loaded, its SDK configuration.
pub(crate) struct Aws {
    common: AwsCommon,
    sdk: OnceCell<SdkConfig>,
}

impl std::fmt::Debug for Aws {
    /// The settings only: the loaded configuration holds credentials and is long.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aws")
            .field("common", &self.common)
            .field("loaded", &self.sdk.initialized())
            .finish()
    }
}

#[cfg(feature = "testing")]
pub(crate) static TEST_CREDENTIALS: std::sync::OnceLock<
    aws_types::sdk_config::SharedCredentialsProvider,
> = std::sync::OnceLock::new();

impl Aws {
    pub(crate) fn new(common: AwsCommon) -> Self {
        // The environment's credentials, hidden before anything is loaded.
        for var in ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"] {
            if let Ok(v) = std::env::var(var) {
                dr_core::hide_secret(&v);
            }
        }
        Aws {
            common,
            sdk: OnceCell::new(),
        }
    }

    /// The resource's settings (its waits: `wait`, `poll_every`).
    #[cfg(any(feature = "route53", feature = "rds", feature = "ec2"))]
    pub(crate) fn common(&self) -> &AwsCommon {
        &self.common
    }

    /// The SDK configuration, loaded on first use.
    pub(crate) async fn sdk(&self) -> &SdkConfig {
        self.sdk.get_or_init(|| load(&self.common)).await
    }
}

/// Loads an SDK configuration for `common`.
async fn load(common: &AwsCommon) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_timeout(common.timeout)
                .build(),
        );
    if let Some(r) = &common.region {
        loader = loader.region(Region::new(r.to_string()));
    }
    if let Some(url) = &common.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(p) = &common.profile {
        loader = loader.profile_name(p);
    }
    #[cfg(feature = "testing")]
    if let Some(creds) = TEST_CREDENTIALS.get() {
        loader = loader.credentials_provider(creds.clone());
    }
    let sdk = loader.load().await;
    match sdk.credentials_provider() {
        Some(chain) => sdk
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(Hidden(chain)))
            .build(),
        None => sdk,
    }
}

/// A credentials provider whose secrets are hidden from every redactor as they
/// are obtained (however they arrived: environment, profile, SSO, IMDS, ...).
#[derive(Debug)]
pub(crate) struct Hidden(pub(crate) SharedCredentialsProvider);

impl ProvideCredentials for Hidden {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let creds = self.0.provide_credentials().await?;
            dr_core::hide_secret(creds.secret_access_key());
            if let Some(token) = creds.session_token() {
                dr_core::hide_secret(token);
            }
            Ok(creds)
        })
    }
}
