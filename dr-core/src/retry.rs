//! Retries, written once: exponential backoff with full jitter, a retry budget,
//! `retry_after` honoured, only retryable kinds retried.
//!
//! The executor wraps every provider object a step uses in a decorator that
//! retries its calls under the run's [`RetryPolicy`] and retry budget, so
//! providers never write retry loops. Only the policy is public: how retries
//! are carried out is the executor's business, not a plugin's.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rand::Rng;

use crate::{
    DataStore, Health, HealthProbe, ProviderError, ReplicationStatus, Replicator,
    ReplicatorCapabilities, Role, RouterCapabilities, StoreCapabilities, TrafficRouter,
    TrafficSplit,
};

/// Backoff parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries per call when the step does not set `retries` (default 3).
    pub max_retries: u32,
    /// First backoff ceiling (default 200 ms); doubles per attempt.
    pub base_delay: Duration,
    /// Backoff ceiling (default 10 s).
    pub max_delay: Duration,
    /// Retries allowed across a whole run (default 100): a run against a
    /// provider that is down fails instead of retrying for ever.
    pub budget: u32,
    /// The longest `retry_after` honoured (default 10 min): a provider that asks
    /// to wait longer fails the call at once, with its error, instead of
    /// stalling the failover for as long as it said.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            budget: 100,
            max_retry_after: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `attempt` (1-based): full jitter over
    /// `min(max_delay, base_delay * 2^(attempt-1))`, and never less than the
    /// remote side's `retry_after`.
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1u32 << (attempt.saturating_sub(1)).min(20))
            .min(self.max_delay);
        let jitter = if ceiling.is_zero() {
            Duration::ZERO
        } else {
            rand::rng().random_range(Duration::ZERO..=ceiling)
        };
        match retry_after {
            Some(after) => jitter.max(after),
            None => jitter,
        }
    }
}

/// Retries left in a run, shared by every call of the run.
#[derive(Debug)]
pub(crate) struct RetryBudget(AtomicU32);

impl RetryBudget {
    /// A budget of `n` retries.
    pub fn new(n: u32) -> Self {
        RetryBudget(AtomicU32::new(n))
    }

    /// Takes one retry; false when none is left.
    pub fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }
}

/// Called before each retry with (operation, failed attempt, delay, error).
pub(crate) type RetryHook = Arc<dyn Fn(&str, u32, Duration, &ProviderError) + Send + Sync>;

/// What a [`Retrying`] wrapper needs: policy, per-call retries, the run's budget,
/// a hook for events, and where to name the resource in errors.
pub(crate) struct RetryContext {
    policy: RetryPolicy,
    retries: u32,
    budget: Arc<RetryBudget>,
    hook: Option<RetryHook>,
    resource: String,
    provider: Option<String>,
    attempts: AtomicU32,
}

impl RetryContext {
    /// A context for calls on `resource`, retrying each call up to `retries` times.
    pub fn new(
        policy: RetryPolicy,
        retries: u32,
        budget: Arc<RetryBudget>,
        resource: impl Into<String>,
    ) -> Self {
        RetryContext {
            policy,
            retries,
            budget,
            hook: None,
            resource: resource.into(),
            provider: None,
            attempts: AtomicU32::new(0),
        }
    }

    /// Names the provider in errors that do not name one (the executor passes
    /// the resource's `provider = ".."`).
    pub fn with_provider(mut self, provider: impl Into<String>) -> Self {
        self.provider = Some(provider.into());
        self
    }

    /// Sets the hook called before each retry.
    pub fn with_hook(mut self, hook: RetryHook) -> Self {
        self.hook = Some(hook);
        self
    }

    /// The largest attempt count of any call made through this context.
    pub fn attempts(&self) -> u32 {
        self.attempts.load(Ordering::SeqCst)
    }

    /// Runs `f` until it succeeds, fails with a non-retryable error, runs out of
    /// retries or the budget is spent. Errors come back naming the resource and
    /// operation.
    pub async fn call<T, F, Fut>(&self, operation: &str, mut f: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let mut attempt = 1;
        loop {
            self.attempts.fetch_max(attempt, Ordering::SeqCst);
            match f().await {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let mut e = e.in_context(&self.resource, operation);
                    if let Some(p) = &self.provider {
                        e = e.or_provider(p);
                    }
                    let waits_too_long = e
                        .retry_after()
                        .is_some_and(|after| after > self.policy.max_retry_after);
                    if !e.is_retryable()
                        || waits_too_long
                        || attempt > self.retries
                        || !self.budget.take()
                    {
                        return Err(e);
                    }
                    let delay = self.policy.delay(attempt, e.retry_after());
                    if let Some(hook) = &self.hook {
                        hook(operation, attempt, delay, &e);
                    }
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
            }
        }
    }
}

impl fmt::Debug for RetryContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetryContext")
            .field("policy", &self.policy)
            .field("retries", &self.retries)
            .field("resource", &self.resource)
            .finish()
    }
}

/// A provider object whose every call goes through a [`RetryContext`].
#[derive(Debug)]
pub(crate) struct Retrying<T: ?Sized> {
    inner: Arc<T>,
    ctx: Arc<RetryContext>,
}

impl<T: ?Sized> Retrying<T> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<T>, ctx: Arc<RetryContext>) -> Self {
        Retrying { inner, ctx }
    }
}

#[async_trait]
impl TrafficRouter for Retrying<dyn TrafficRouter> {
    fn targets(&self) -> Vec<String> {
        self.inner.targets()
    }
    fn capabilities(&self) -> RouterCapabilities {
        self.inner.capabilities()
    }
    async fn current(&self, scope: Option<&str>) -> Result<TrafficSplit, ProviderError> {
        self.ctx.call("current", || self.inner.current(scope)).await
    }
    async fn apply(&self, split: &TrafficSplit, scope: Option<&str>) -> Result<(), ProviderError> {
        self.ctx
            .call("apply", || self.inner.apply(split, scope))
            .await
    }
}

#[async_trait]
impl DataStore for Retrying<dyn DataStore> {
    fn capabilities(&self) -> StoreCapabilities {
        self.inner.capabilities()
    }
    async fn role(&self) -> Result<Role, ProviderError> {
        self.ctx.call("role", || self.inner.role()).await
    }
    async fn writable(&self) -> Result<bool, ProviderError> {
        self.ctx.call("writable", || self.inner.writable()).await
    }
    async fn promote(&self) -> Result<(), ProviderError> {
        self.ctx.call("promote", || self.inner.promote()).await
    }
    async fn promote_with(&self, how: crate::Promotion) -> Result<(), ProviderError> {
        self.ctx
            .call("promote", || self.inner.promote_with(how))
            .await
    }
    async fn fence(&self) -> Result<(), ProviderError> {
        self.ctx.call("fence", || self.inner.fence()).await
    }
    async fn flush(&self) -> Result<(), ProviderError> {
        self.ctx.call("flush", || self.inner.flush()).await
    }
}

#[async_trait]
impl Replicator for Retrying<dyn Replicator> {
    fn capabilities(&self) -> ReplicatorCapabilities {
        self.inner.capabilities()
    }
    async fn status(&self) -> Result<ReplicationStatus, ProviderError> {
        self.ctx.call("status", || self.inner.status()).await
    }
    async fn stop(&self) -> Result<(), ProviderError> {
        self.ctx.call("stop", || self.inner.stop()).await
    }
    async fn reverse(&self) -> Result<(), ProviderError> {
        self.ctx.call("reverse", || self.inner.reverse()).await
    }
    async fn divergence(&self) -> Result<Option<u64>, ProviderError> {
        self.ctx
            .call("divergence", || self.inner.divergence())
            .await
    }
    async fn reverse_preflight(&self) -> Result<Vec<crate::Preflight>, ProviderError> {
        self.ctx
            .call("reverse_preflight", || self.inner.reverse_preflight())
            .await
    }
}

#[async_trait]
impl HealthProbe for Retrying<dyn HealthProbe> {
    async fn probe(&self) -> Result<Health, ProviderError> {
        self.ctx.call("probe", || self.inner.probe()).await
    }
    async fn peek(&self) -> Result<Health, ProviderError> {
        self.ctx.call("peek", || self.inner.peek()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn delay_is_jittered_under_the_ceiling_and_honours_retry_after() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            ..Default::default()
        };
        for _ in 0..200 {
            assert!(p.delay(1, None) <= Duration::from_millis(100));
            assert!(p.delay(3, None) <= Duration::from_millis(350));
            assert!(p.delay(1, Some(Duration::from_secs(2))) >= Duration::from_secs(2));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_longer_than_the_cap_fails_at_once() {
        let ctx = RetryContext::new(
            RetryPolicy::default(),
            5,
            Arc::new(RetryBudget::new(10)),
            "front",
        );
        let mut n = 0;
        let r: Result<(), _> = ctx
            .call("apply", || {
                n += 1;
                async {
                    Err(ProviderError::throttled(
                        Some(Duration::from_secs(1_000_000_000)),
                        "slow down",
                    ))
                }
            })
            .await;
        assert_eq!(n, 1, "no wait of 31 years");
        assert!(r.unwrap_err().retry_after().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn retries_only_retryable_errors_within_budget() {
        let ctx = RetryContext::new(
            RetryPolicy::default(),
            5,
            Arc::new(RetryBudget::new(2)),
            "db",
        )
        .with_provider("sim.store");
        let mut n = 0;
        let r: Result<(), _> = ctx
            .call("promote", || {
                n += 1;
                async { Err(ProviderError::transient("down")) }
            })
            .await;
        assert_eq!(n, 3, "two retries from the budget, then give up");
        let e = r.unwrap_err();
        assert_eq!(e.resource(), Some("db"));
        assert_eq!(e.provider(), Some("sim.store"), "tagged once, by the core");
        assert_eq!(e.operation(), Some("promote"));

        let ctx = RetryContext::new(
            RetryPolicy::default(),
            5,
            Arc::new(RetryBudget::new(10)),
            "db",
        );
        let mut n = 0;
        let r: Result<(), _> = ctx
            .call("promote", || {
                n += 1;
                async { Err(ProviderError::new(ErrorKind::Auth, "denied")) }
            })
            .await;
        assert_eq!(n, 1);
        assert_eq!(r.unwrap_err().kind(), &ErrorKind::Auth);
    }

    /// A link whose reverse preflight fails once, then finds one thing.
    #[derive(Debug, Default)]
    struct Flaky(std::sync::atomic::AtomicU32);

    #[async_trait]
    impl Replicator for Flaky {
        fn capabilities(&self) -> ReplicatorCapabilities {
            ReplicatorCapabilities::full()
        }
        async fn status(&self) -> Result<ReplicationStatus, ProviderError> {
            Err(ProviderError::fatal("not asked"))
        }
        async fn stop(&self) -> Result<(), ProviderError> {
            Ok(())
        }
        async fn reverse(&self) -> Result<(), ProviderError> {
            Ok(())
        }
        async fn reverse_preflight(&self) -> Result<Vec<crate::Preflight>, ProviderError> {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(ProviderError::transient("busy"));
            }
            Ok(vec![crate::Preflight::not_ok("no subnet in eastus")])
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_wrapper_forwards_a_reverse_preflight_with_retries() {
        let ctx = RetryContext::new(
            RetryPolicy::default(),
            2,
            Arc::new(RetryBudget::new(10)),
            "db",
        );
        let inner: Arc<dyn Replicator> = Arc::new(Flaky::default());
        let wrapped = Retrying::new(inner, Arc::new(ctx));
        let found = wrapped.reverse_preflight().await.unwrap();
        assert_eq!(found, [crate::Preflight::not_ok("no subnet in eastus")]);
    }
}
