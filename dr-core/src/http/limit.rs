//! A client-side rate limit per credential.
//!
//! Remote APIs count requests per credential (Cloudflare: 1,200 per 5 minutes per
//! token, then a 5-minute lockout; ARM: per principal and subscription), not per
//! resource. So every client in the process that uses one credential must draw
//! from one bucket: [`RateLimiter::per_credential`] keeps one per
//! (scope, credential) for the life of the process, keyed by a hash so the map
//! never holds the secret.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

/// A token bucket that hands out reservations: a caller takes a token now and
/// waits the returned time (zero while the bucket is not empty).
#[derive(Debug)]
struct TokenBucket {
    capacity: f64,
    per_sec: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(capacity: f64, per_sec: f64, now: Instant) -> Self {
        TokenBucket {
            capacity,
            per_sec,
            tokens: capacity,
            last: now,
        }
    }

    /// Takes one token at `now`; returns how long the caller must wait before sending.
    fn reserve(&mut self, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = self.last.max(now);
        self.tokens = (self.tokens + elapsed * self.per_sec).min(self.capacity);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.per_sec)
        }
    }
}

/// Paces requests: `burst` may start at once, then `per_sec` per second.
///
/// Clones share the bucket. [`HttpClient`](super::HttpClient) calls
/// [`acquire`](Self::acquire) before every request when it has one.
///
/// ```
/// use dr_core::http::RateLimiter;
/// let a = RateLimiter::per_credential("cloudflare", "token-1", 100, 3.0);
/// let b = RateLimiter::per_credential("cloudflare", "token-1", 100, 3.0);
/// let c = RateLimiter::per_credential("cloudflare", "token-2", 100, 3.0);
/// assert!(a.shares_bucket_with(&b));
/// assert!(!a.shares_bucket_with(&c));
/// ```
#[derive(Clone)]
pub struct RateLimiter {
    bucket: Arc<Mutex<TokenBucket>>,
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.bucket.lock().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("RateLimiter")
            .field("burst", &b.capacity)
            .field("per_sec", &b.per_sec)
            .finish()
    }
}

type Buckets = Mutex<HashMap<u64, Arc<Mutex<TokenBucket>>>>;

impl RateLimiter {
    /// A limiter of its own (shared only with its clones).
    ///
    /// # Panics
    ///
    /// When `per_sec` is not a positive finite number.
    pub fn new(burst: u32, per_sec: f64) -> Self {
        assert!(
            per_sec.is_finite() && per_sec > 0.0,
            "RateLimiter: per_sec must be positive, not {per_sec}"
        );
        RateLimiter {
            bucket: Arc::new(Mutex::new(TokenBucket::new(
                f64::from(burst),
                per_sec,
                Instant::now(),
            ))),
        }
    }

    /// The limiter every client in this process shares for `credential` within
    /// `scope` (the API: `"cloudflare"`, `"azure.arm"`). The first call for a
    /// credential sets its `burst` and `per_sec`; later calls get the same bucket.
    ///
    /// # Panics
    ///
    /// When `per_sec` is not a positive finite number.
    pub fn per_credential(scope: &str, credential: &str, burst: u32, per_sec: f64) -> Self {
        static BUCKETS: OnceLock<Buckets> = OnceLock::new();
        let mut h = DefaultHasher::new();
        (scope, credential).hash(&mut h);
        let key = h.finish();
        let mut map = BUCKETS
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let bucket = map
            .entry(key)
            .or_insert_with(|| RateLimiter::new(burst, per_sec).bucket)
            .clone();
        RateLimiter { bucket }
    }

    /// Takes one token; returns how long the caller must wait before sending.
    pub fn reserve(&self) -> Duration {
        self.bucket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .reserve(Instant::now())
    }

    /// Takes one token and waits until the request may go.
    pub async fn acquire(&self) {
        let wait = self.reserve();
        if !wait.is_zero() {
            tracing::debug!(?wait, "client-side rate limit: pacing a request");
            tokio::time::sleep(wait).await;
        }
    }

    /// Whether `self` and `other` draw from one bucket.
    pub fn shares_bucket_with(&self, other: &RateLimiter) -> bool {
        Arc::ptr_eq(&self.bucket, &other.bucket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Cloudflare's numbers (dr-cloudflare): burst 100, 3 per second.
    const BURST: f64 = 100.0;
    const RATE_PER_SEC: f64 = 3.0;

    #[test]
    fn a_burst_passes_then_requests_are_paced() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(BURST, RATE_PER_SEC, t0);
        for _ in 0..100 {
            assert_eq!(b.reserve(t0), Duration::ZERO);
        }
        let wait = b.reserve(t0);
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(334),
            "{wait:?}"
        );
    }

    #[test]
    fn a_greedy_caller_never_exceeds_burst_plus_rate_in_any_window() {
        // A caller that sends as soon as the bucket lets it, for 20 simulated minutes:
        // at most 100 + 3 × 300 = 1,000 requests in any 5-minute window (Cloudflare
        // allows 1,200), and not much fewer.
        let t0 = Instant::now();
        let mut b = TokenBucket::new(BURST, RATE_PER_SEC, t0);
        let mut now = t0;
        let mut sent = Vec::new();
        while now < t0 + Duration::from_secs(1200) {
            now += b.reserve(now);
            sent.push(now);
        }
        let window = Duration::from_secs(300);
        let mut start = 0;
        let mut max_in_window = 0;
        for (i, t) in sent.iter().enumerate() {
            while *t - sent[start] >= window {
                start += 1;
            }
            max_in_window = max_in_window.max(i + 1 - start);
        }
        assert!(
            max_in_window <= 1000,
            "{max_in_window} requests in one 5-minute window"
        );
        assert!(
            max_in_window >= 990,
            "the limiter is far stricter than intended: {max_in_window}"
        );
    }

    #[test]
    fn clients_with_the_same_credential_share_one_bucket() {
        let a = RateLimiter::per_credential("test", "shared-token-for-this-test", 100, 3.0);
        let b = RateLimiter::per_credential("test", "shared-token-for-this-test", 5, 1.0);
        let c = RateLimiter::per_credential("test", "another-token-for-this-test", 100, 3.0);
        let d = RateLimiter::per_credential("other", "shared-token-for-this-test", 100, 3.0);
        assert!(a.shares_bucket_with(&b));
        assert!(a.shares_bucket_with(&a.clone()));
        assert!(!a.shares_bucket_with(&c));
        assert!(!a.shares_bucket_with(&d), "scopes do not share buckets");
        assert!(!format!("{a:?}").contains("token"));
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_waits_once_the_burst_is_spent() {
        let limiter = RateLimiter::new(2, 4.0);
        let t0 = Instant::now();
        limiter.acquire().await;
        limiter.acquire().await;
        assert_eq!(Instant::now(), t0, "the burst passes at once");
        limiter.acquire().await;
        assert_eq!(Instant::now() - t0, Duration::from_millis(250));
    }
}
