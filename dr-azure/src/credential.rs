//! Where the ARM bearer token comes from: [`TokenSource`].
//!
//! `AZURE_ACCESS_TOKEN` (a token fetched beforehand, e.g. by
//! `az account get-access-token`) when it is set, else the official
//! `azure_identity` 1.x credentials, tried in this order and the first that gives
//! a token kept for the rest of the process:
//!
//! 1. client secret from the environment (`AZURE_TENANT_ID`, `AZURE_CLIENT_ID`,
//!    `AZURE_CLIENT_SECRET`): `ClientSecretCredential`;
//! 2. workload identity (`AZURE_FEDERATED_TOKEN_FILE` set, as AKS does):
//!    `WorkloadIdentityCredential`;
//! 3. managed identity (App Service, VM, ...): `ManagedIdentityCredential`;
//! 4. developer tools (Azure CLI, Azure Developer CLI): `DeveloperToolsCredential`.
//!
//! The `azure_identity` credentials cache and refresh their tokens themselves.
//! Certificate credentials need `azure_identity`'s `client_certificate` feature
//! (OpenSSL) and are not built in; an embedding program passes any
//! `TokenCredential` through [`IdentityToken::new`] and
//! [`register_with`](crate::register_with).
//!
//! Every token, whatever its source, and the client secret of the environment
//! are registered with [`dr_core::hide_secret`] as they are obtained, so an ARM
//! or proxy error echoing the `Authorization` header, or a third-party crate's
//! trace log, shows `******`.

use std::fmt;
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use azure_core::credentials::TokenCredential;
use dr_core::ProviderError;
#[cfg(any(
    feature = "traffic_manager",
    feature = "front_door",
    feature = "storage_account",
    feature = "postgres_flexible",
    feature = "web_app"
))]
use dr_core::http::{Auth, RequestBuilder};
use tokio::sync::Mutex;

use crate::error::{auth, transient};

/// The environment variable holding a ready ARM bearer token.
pub const ACCESS_TOKEN_ENV: &str = "AZURE_ACCESS_TOKEN";
/// The scope of ARM tokens.
pub const ARM_SCOPE: &str = "https://management.azure.com/.default";

/// Gives a bearer token for ARM. `Debug` never prints a token.
#[async_trait]
pub trait TokenSource: fmt::Debug + Send + Sync {
    /// A token valid now.
    async fn token(&self) -> Result<String, ProviderError>;
}

/// A fixed token (from `AZURE_ACCESS_TOKEN`, or a test's).
#[derive(Clone)]
pub struct StaticToken(String);

impl StaticToken {
    /// Wraps `token`.
    pub fn new(token: impl Into<String>) -> Self {
        let token = token.into();
        dr_core::hide_secret(&token);
        StaticToken(token)
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticToken(******)")
    }
}

#[async_trait]
impl TokenSource for StaticToken {
    async fn token(&self) -> Result<String, ProviderError> {
        Ok(self.0.clone())
    }
}

/// Tokens from `azure_identity` credentials: the first of the list that gives one
/// is kept.
pub struct IdentityToken {
    chain: Vec<Arc<dyn TokenCredential>>,
    chosen: Mutex<Option<usize>>,
}

impl IdentityToken {
    /// Tries `chain` in order.
    pub fn new(chain: Vec<Arc<dyn TokenCredential>>) -> Self {
        IdentityToken {
            chain,
            chosen: Mutex::new(None),
        }
    }

    /// The default chain (see the module docs). Builds credentials only (no I/O);
    /// one that cannot be built from this environment is left out.
    pub fn default_chain() -> Self {
        IdentityToken::new(default_credentials())
    }
}

/// The `azure_identity` credentials this environment configures, in chain order
/// (see the module docs); building them does no I/O.
pub(crate) fn default_credentials() -> Vec<Arc<dyn TokenCredential>> {
    {
        use azure_identity::{
            ClientSecretCredential, DeveloperToolsCredential, ManagedIdentityCredential,
            WorkloadIdentityCredential,
        };
        let mut chain: Vec<Arc<dyn TokenCredential>> = Vec::new();
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        if let Some(secret) = env("AZURE_CLIENT_SECRET") {
            dr_core::hide_secret(&secret);
        }
        if let (Some(tenant), Some(client), Some(secret)) = (
            env("AZURE_TENANT_ID"),
            env("AZURE_CLIENT_ID"),
            env("AZURE_CLIENT_SECRET"),
        ) && let Ok(c) = ClientSecretCredential::new(&tenant, client, secret.into(), None)
        {
            chain.push(c);
        }
        if env("AZURE_FEDERATED_TOKEN_FILE").is_some()
            && let Ok(c) = WorkloadIdentityCredential::new(None)
        {
            chain.push(c);
        }
        if let Ok(c) = ManagedIdentityCredential::new(None) {
            chain.push(c);
        }
        if let Ok(c) = DeveloperToolsCredential::new(None) {
            chain.push(c);
        }
        chain
            .into_iter()
            .map(|c| Arc::new(Hidden(c)) as Arc<dyn TokenCredential>)
            .collect()
    }
}

/// A credential whose tokens are hidden from every redactor as they are
/// obtained (the blob canary hands its credentials to the Azure SDK, which
/// never goes through [`ArmAuth`]).
#[derive(Debug)]
struct Hidden(Arc<dyn TokenCredential>);

#[async_trait]
impl TokenCredential for Hidden {
    async fn get_token(
        &self,
        scopes: &[&str],
        options: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure_core::credentials::AccessToken> {
        let token = self.0.get_token(scopes, options).await?;
        dr_core::hide_secret(token.token.secret());
        Ok(token)
    }
}

impl fmt::Debug for IdentityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityToken")
            .field("credentials", &self.chain.len())
            .finish()
    }
}

#[async_trait]
impl TokenSource for IdentityToken {
    async fn token(&self) -> Result<String, ProviderError> {
        let mut chosen = self.chosen.lock().await;
        let order: Vec<usize> = match *chosen {
            Some(i) => vec![i],
            None => (0..self.chain.len()).collect(),
        };
        let mut failures = Vec::new();
        let mut unreachable = false;
        for i in order {
            match self.chain[i].get_token(&[ARM_SCOPE], None).await {
                Ok(t) => {
                    *chosen = Some(i);
                    dr_core::hide_secret(t.token.secret());
                    return Ok(t.token.secret().to_string());
                }
                Err(e) => {
                    unreachable |= matches!(
                        e.kind(),
                        azure_core::error::ErrorKind::Io | azure_core::error::ErrorKind::Connection
                    );
                    failures.push(e.to_string());
                }
            }
        }
        let message = format!(
            "no Azure credential gave an ARM token (set {ACCESS_TOKEN_ENV}, a service principal \
             in AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET, or log in with `az login`): {}",
            if failures.is_empty() {
                "no credential could be built".to_string()
            } else {
                failures.join("; ")
            }
        );
        Err(if unreachable {
            transient(message)
        } else {
            auth(message)
        })
    }
}

/// The token source `register` uses: `AZURE_ACCESS_TOKEN` when set, else
/// [`IdentityToken::default_chain`], decided at the first call (so building the
/// registry does no I/O and reads no environment).
#[derive(Default)]
pub struct DefaultToken {
    inner: OnceLock<Arc<dyn TokenSource>>,
}

impl DefaultToken {
    /// A source that decides at its first use.
    pub fn new() -> Self {
        Self::default()
    }
}

impl fmt::Debug for DefaultToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DefaultToken")
    }
}

#[async_trait]
impl TokenSource for DefaultToken {
    async fn token(&self) -> Result<String, ProviderError> {
        let inner = self.inner.get_or_init(|| {
            match std::env::var(ACCESS_TOKEN_ENV)
                .ok()
                .filter(|t| !t.trim().is_empty())
            {
                Some(t) => Arc::new(StaticToken::new(t.trim())),
                None => Arc::new(IdentityToken::default_chain()),
            }
        });
        inner.token().await
    }
}

/// `Authorization: Bearer <token>` from a [`TokenSource`], for dr-core's `HttpClient`.
#[cfg(any(
    feature = "traffic_manager",
    feature = "front_door",
    feature = "storage_account",
    feature = "postgres_flexible",
    feature = "web_app"
))]
#[derive(Debug, Clone)]
pub(crate) struct ArmAuth(pub(crate) Arc<dyn TokenSource>);

/// How long getting a token may take (an unreachable managed-identity endpoint
/// must not hang a step).
#[cfg(any(
    feature = "traffic_manager",
    feature = "front_door",
    feature = "storage_account",
    feature = "postgres_flexible",
    feature = "web_app"
))]
const TOKEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

#[cfg(any(
    feature = "traffic_manager",
    feature = "front_door",
    feature = "storage_account",
    feature = "postgres_flexible",
    feature = "web_app"
))]
#[async_trait]
impl Auth for ArmAuth {
    async fn apply(&self, req: RequestBuilder) -> Result<RequestBuilder, ProviderError> {
        match tokio::time::timeout(TOKEN_TIMEOUT, self.0.token()).await {
            Ok(token) => {
                // Whatever the source (an embedding program's own included).
                let token = token?;
                dr_core::hide_secret(&token);
                Ok(req.bearer_auth(token))
            }
            Err(_) => Err(transient(format!(
                "no ARM token within {}s (is the credential's endpoint reachable?)",
                TOKEN_TIMEOUT.as_secs()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_static_token_is_given_and_never_printed() {
        let t = StaticToken::new("s3cret-token");
        assert_eq!(t.token().await.unwrap(), "s3cret-token");
        assert!(!format!("{t:?}").contains("s3cret"));
        #[cfg(any(
            feature = "traffic_manager",
            feature = "front_door",
            feature = "storage_account",
            feature = "postgres_flexible",
            feature = "web_app"
        ))]
        {
            let auth = ArmAuth(Arc::new(t));
            assert!(!format!("{auth:?}").contains("s3cret"));
        }
    }

    #[tokio::test]
    async fn an_empty_chain_is_an_auth_error_that_says_what_to_do() {
        let e = IdentityToken::new(Vec::new()).token().await.unwrap_err();
        assert_eq!(e.kind(), &dr_core::ErrorKind::Auth);
        assert!(e.message().contains(ACCESS_TOKEN_ENV), "{e}");
    }
}
