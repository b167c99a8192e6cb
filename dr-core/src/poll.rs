//! Waiting for something to finish: one loop for long-running operations and gates.
//!
//! A failover waits a lot: for an Azure `Azure-AsyncOperation` to say
//! `Succeeded`, for a Redis replica to finish a switchover, for a probe to turn
//! healthy. Each such loop has the same four ways out (done, failed, out of
//! time, interrupted) and the same two subtleties (honour the service's
//! `Retry-After`; never sleep past the deadline), so it is written once:
//! [`until`] looks, then sleeps `every` (or as long as the service asked), and
//! looks again until the answer is ready, a look fails, the deadline passes or
//! the run is cancelled.
//!
//! A look that fails with [`ErrorKind::Throttled`] is waited out like a
//! [`Poll::RetryAfter`] (the status endpoint asked us to slow down; the
//! operation itself is fine); any other error ends the wait, and the executor's
//! retry policy decides what happens next.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::{ErrorKind, ProviderError};

/// Re-exported so providers name the same token without depending on `tokio-util`.
pub use tokio_util::sync::CancellationToken;

/// The shortest pause between two looks.
const MIN_EVERY: Duration = Duration::from_millis(1);

/// What one look found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Poll<T> {
    /// Finished, with the result.
    Ready(T),
    /// Not yet; look again after `every`.
    Pending,
    /// Not yet, and the service said not to look again before this long (ARM's
    /// `Retry-After` on a 202); [`until`] waits the longer of this and `every`.
    RetryAfter(Duration),
}

/// Why [`until`] returned without a result. Converts into a [`ProviderError`],
/// so `?` works in a provider method.
#[derive(Debug)]
#[non_exhaustive]
pub enum PollError {
    /// A look failed (an error other than [`ErrorKind::Throttled`]).
    Failed(ProviderError),
    /// The deadline passed: an [`ErrorKind::Timeout`] error naming what was awaited.
    TimedOut(ProviderError),
    /// The cancellation token fired.
    Cancelled {
        /// What was being waited for.
        what: String,
    },
}

impl fmt::Display for PollError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PollError::Failed(e) | PollError::TimedOut(e) => e.fmt(f),
            PollError::Cancelled { what } => write!(f, "cancelled while waiting for {what}"),
        }
    }
}

impl std::error::Error for PollError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PollError::Failed(e) | PollError::TimedOut(e) => Some(e),
            PollError::Cancelled { .. } => None,
        }
    }
}

impl From<PollError> for ProviderError {
    /// The error itself; a cancellation becomes [`ErrorKind::Fatal`] (never retried:
    /// the operator stopped the run).
    fn from(e: PollError) -> Self {
        match e {
            PollError::Failed(e) | PollError::TimedOut(e) => e,
            PollError::Cancelled { what } => {
                ProviderError::fatal(format!("cancelled while waiting for {what}"))
            }
        }
    }
}

/// Calls `f` until it returns [`Poll::Ready`], then returns the value.
///
/// - `what` names what is awaited in the timeout error (`"storage account
///   failover"`): `"timed out after 10m waiting for storage account failover"`.
/// - `f` is called at once, then after `every` ([`Poll::Pending`]) or the longer
///   of `every` and the asked wait ([`Poll::RetryAfter`], or a `Throttled` error's
///   `retry_after`). A wait never goes past `deadline`: after a `Pending`, `f` gets
///   one last look at the deadline; a wait the service asked for that ends after
///   the deadline is not cut short, so [`until`] gives up at the deadline instead.
/// - An error from `f` (other than `Throttled`) is returned at once as
///   [`PollError::Failed`].
/// - `cancel` is checked before every look and interrupts both a look and a
///   sleep ([`PollError::Cancelled`]). A provider, whose calls the executor
///   cancels by dropping them, passes a token of its own that never fires.
/// - An `every` under 1 ms is taken as 1 ms, so a pending look never spins.
/// - `f` must bound its own looks (an `http::HttpClient` has
///   a timeout); a look is not cut short by the deadline.
///
/// `f` is a closure returning a future (`|| async move { .. }`), not an async
/// closure: the future of an `AsyncFnMut` cannot be proven `Send` for every
/// borrow, and provider methods (`#[async_trait]`) need `Send` futures. Keep
/// state across looks in the closure (its synchronous part runs once per look)
/// and move what a look needs into the future: references, a cloned connection.
///
/// Uses tokio's clock, so tests run it on paused time.
///
/// ```
/// use std::time::Duration;
/// use dr_core::poll::{self, CancellationToken, Poll};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
/// let mut looks = 0;
/// let done = poll::until(
///     "the operation",
///     tokio::time::Instant::now() + Duration::from_secs(60),
///     Duration::from_secs(5),
///     &CancellationToken::new(),
///     || {
///         looks += 1;
///         let n = looks;
///         // A real look would GET the operation's status here.
///         async move { Ok(if n == 3 { Poll::Ready("Succeeded") } else { Poll::Pending }) }
///     },
/// )
/// .await
/// .unwrap();
/// assert_eq!((done, looks), ("Succeeded", 3));
/// # }
/// ```
pub async fn until<T, F, Fut>(
    what: &str,
    deadline: Instant,
    every: Duration,
    cancel: &CancellationToken,
    mut f: F,
) -> Result<T, PollError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>, ProviderError>>,
{
    let every = every.max(MIN_EVERY);
    let started = Instant::now();
    let cancelled = || PollError::Cancelled {
        what: what.to_string(),
    };
    let mut last_throttle: Option<ProviderError> = None;
    loop {
        if cancel.is_cancelled() {
            return Err(cancelled());
        }
        let look = tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(cancelled()),
            look = f() => look,
        };
        // How long to wait, and whether the remote side asked for it (a wait that
        // must not be cut short by the deadline).
        let (wait, asked) = match look {
            Ok(Poll::Ready(value)) => return Ok(value),
            Ok(Poll::Pending) => (every, false),
            Ok(Poll::RetryAfter(after)) => (after.max(every), true),
            Err(e) if matches!(e.kind(), ErrorKind::Throttled { .. }) => {
                let after = e.retry_after().unwrap_or(every).max(every);
                last_throttle = Some(e);
                (after, true)
            }
            Err(e) => return Err(PollError::Failed(e)),
        };
        let now = Instant::now();
        // A wait too long to add (`Retry-After: 99999999999999999999`) ends past
        // any deadline.
        let wake = now.checked_add(wait);
        let give_up = now >= deadline || (asked && wake.is_none_or(|w| w > deadline));
        let until = if give_up {
            deadline
        } else {
            wake.map_or(deadline, |w| w.min(deadline))
        };
        if until > now {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => return Err(cancelled()),
                _ = tokio::time::sleep_until(until) => {}
            }
        }
        if give_up {
            let mut message = format!(
                "timed out after {} waiting for {what}",
                crate::format_duration(Instant::now() - started)
            );
            if let Some(e) = &last_throttle {
                message.push_str(&format!("; the last look was throttled: {e}"));
            }
            let mut err = ProviderError::new(ErrorKind::Timeout, message);
            if let Some(id) = last_throttle.as_ref().and_then(|e| e.request_id()) {
                err = err.with_request_id(id);
            }
            return Err(PollError::TimedOut(err));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVERY: Duration = Duration::from_secs(1);

    fn in_secs(s: u64) -> Instant {
        Instant::now() + Duration::from_secs(s)
    }

    fn never() -> CancellationToken {
        CancellationToken::new()
    }

    #[tokio::test(start_paused = true)]
    async fn returns_the_value_on_the_first_ready_look() {
        let t0 = Instant::now();
        let mut looks = Vec::new();
        let v = until("op", in_secs(60), EVERY, &never(), || {
            looks.push(Instant::now() - t0);
            let n = looks.len();
            async move {
                Ok(if n == 3 {
                    Poll::Ready(42)
                } else {
                    Poll::Pending
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(v, 42);
        assert_eq!(
            looks,
            [0, 1, 2].map(Duration::from_secs),
            "looks at once, then every second"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_at_the_deadline_after_a_last_look_naming_what_was_awaited() {
        let t0 = Instant::now();
        let mut looks = Vec::new();
        let e = until(
            "the failover of `sto1`",
            t0 + Duration::from_millis(2500),
            EVERY,
            &never(),
            || {
                looks.push(Instant::now() - t0);
                async { Ok(Poll::<()>::Pending) }
            },
        )
        .await
        .unwrap_err();
        assert_eq!(
            looks,
            [0, 1000, 2000, 2500].map(Duration::from_millis),
            "the last look is at the deadline, never after"
        );
        assert_eq!(Instant::now() - t0, Duration::from_millis(2500));
        let PollError::TimedOut(e) = e else {
            panic!("{e:?}")
        };
        assert_eq!(e.kind(), &ErrorKind::Timeout);
        assert_eq!(
            e.message(),
            "timed out after 2.500s waiting for the failover of `sto1`"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_look_ends_the_wait_at_once() {
        let mut looks = 0;
        let e = until("op", in_secs(60), EVERY, &never(), || {
            looks += 1;
            let n = looks;
            async move {
                if n == 2 {
                    Err(ProviderError::new(ErrorKind::Conflict, "operation Failed"))
                } else {
                    Ok(Poll::<()>::Pending)
                }
            }
        })
        .await
        .unwrap_err();
        assert_eq!(looks, 2);
        assert!(matches!(&e, PollError::Failed(e) if e.kind() == &ErrorKind::Conflict));
        assert_eq!(ProviderError::from(e).message(), "operation Failed");
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_from_the_service_stretches_the_wait() {
        let t0 = Instant::now();
        let mut looks = Vec::new();
        until("op", in_secs(60), EVERY, &never(), || {
            looks.push(Instant::now() - t0);
            let n = looks.len();
            async move {
                Ok(match n {
                    1 => Poll::RetryAfter(Duration::from_secs(7)),
                    // Shorter than `every`: `every` wins.
                    2 => Poll::RetryAfter(Duration::from_millis(10)),
                    _ => Poll::Ready(()),
                })
            }
        })
        .await
        .unwrap();
        assert_eq!(looks, [0, 7, 8].map(Duration::from_secs));
    }

    /// `Retry-After: 99999999999999999999` reads as `Duration::MAX`: the poll
    /// gives up at once instead of overflowing the clock.
    #[tokio::test(start_paused = true)]
    async fn a_wait_too_long_to_represent_gives_up_at_once() {
        let mut looks = 0;
        let e = until("op", in_secs(60), EVERY, &never(), || {
            looks += 1;
            async { Ok::<Poll<()>, _>(Poll::RetryAfter(Duration::MAX)) }
        })
        .await
        .unwrap_err();
        assert_eq!(looks, 1);
        assert!(ProviderError::from(e).message().contains("timed out"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_look_is_waited_out_and_others_are_not() {
        let t0 = Instant::now();
        let mut looks = Vec::new();
        let v = until("op", in_secs(60), EVERY, &never(), || {
            looks.push(Instant::now() - t0);
            let n = looks.len();
            async move {
                if n == 1 {
                    Err(ProviderError::throttled(
                        Some(Duration::from_secs(4)),
                        "HTTP 429",
                    ))
                } else {
                    Ok(Poll::Ready("done"))
                }
            }
        })
        .await
        .unwrap();
        assert_eq!(v, "done");
        assert_eq!(looks, [0, 4].map(Duration::from_secs));
    }

    #[tokio::test(start_paused = true)]
    async fn an_asked_wait_past_the_deadline_gives_up_at_the_deadline_without_looking() {
        let t0 = Instant::now();
        let mut looks = 0;
        let e = until("op", in_secs(5), EVERY, &never(), || {
            looks += 1;
            async {
                Err::<Poll<()>, _>(
                    ProviderError::throttled(Some(Duration::from_secs(30)), "HTTP 429")
                        .with_request_id("req-9"),
                )
            }
        })
        .await
        .unwrap_err();
        assert_eq!(looks, 1);
        assert_eq!(Instant::now() - t0, Duration::from_secs(5));
        let e = ProviderError::from(e);
        assert_eq!(e.kind(), &ErrorKind::Timeout);
        assert!(e.message().contains("throttled"), "{e}");
        assert_eq!(e.request_id(), Some("req-9"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_deadline_already_passed_still_gets_one_look() {
        let mut looks = 0;
        let e = until("op", Instant::now(), EVERY, &never(), || {
            looks += 1;
            async { Ok(Poll::<()>::Pending) }
        })
        .await
        .unwrap_err();
        assert_eq!(looks, 1);
        assert!(matches!(e, PollError::TimedOut(_)));
        let v = until("op", Instant::now(), EVERY, &never(), || async {
            Ok(Poll::Ready(7))
        })
        .await
        .unwrap();
        assert_eq!(v, 7);
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_interrupts_a_sleep_and_prevents_a_look() {
        let cancel = CancellationToken::new();
        let t0 = Instant::now();
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            c.cancel();
        });
        let mut looks = 0;
        let e = until("the switchover", in_secs(60), EVERY, &cancel, || {
            looks += 1;
            async { Ok(Poll::<()>::Pending) }
        })
        .await
        .unwrap_err();
        assert_eq!(looks, 2, "looks at 0s and 1s; cancelled while sleeping");
        assert_eq!(Instant::now() - t0, Duration::from_millis(1500));
        assert!(matches!(&e, PollError::Cancelled { what } if what == "the switchover"));
        let e = ProviderError::from(e);
        assert_eq!(e.kind(), &ErrorKind::Fatal);
        assert_eq!(e.message(), "cancelled while waiting for the switchover");

        let mut looks = 0;
        let e = until("op", in_secs(60), EVERY, &cancel, || {
            looks += 1;
            async { Ok(Poll::Ready(())) }
        })
        .await
        .unwrap_err();
        assert_eq!(looks, 0, "a cancelled token stops before the first look");
        assert!(matches!(e, PollError::Cancelled { .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_interrupts_a_look_in_progress() {
        let cancel = CancellationToken::new();
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            c.cancel();
        });
        let t0 = Instant::now();
        let e = until("op", in_secs(60), EVERY, &cancel, || async {
            // A look that hangs.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(Poll::Ready(()))
        })
        .await
        .unwrap_err();
        assert!(matches!(e, PollError::Cancelled { .. }));
        assert_eq!(Instant::now() - t0, Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_interval_does_not_spin() {
        let t0 = Instant::now();
        let mut looks = 0;
        let e = until(
            "op",
            t0 + Duration::from_millis(10),
            Duration::ZERO,
            &never(),
            || {
                looks += 1;
                async { Ok(Poll::<()>::Pending) }
            },
        )
        .await
        .unwrap_err();
        assert!(matches!(e, PollError::TimedOut(_)));
        assert_eq!(
            looks, 11,
            "one look per millisecond, and one at the deadline"
        );
    }

    /// Providers call `until` inside `#[async_trait]` methods, whose futures must
    /// be `Send`, with looks that borrow the provider and keep state across looks.
    #[allow(dead_code)]
    fn the_future_is_send_when_the_look_is() {
        fn assert_send<T: Send>(_: T) {}
        struct Provider {
            name: String,
        }
        impl Provider {
            async fn status(&self) -> Result<bool, ProviderError> {
                tokio::task::yield_now().await;
                Ok(!self.name.is_empty())
            }
            async fn wait(&self) -> Result<usize, ProviderError> {
                let mut looks = 0;
                Ok(until("op", Instant::now(), EVERY, &never(), || {
                    looks += 1;
                    let n = looks;
                    async move {
                        Ok(if self.status().await? {
                            Poll::Ready(n)
                        } else {
                            Poll::Pending
                        })
                    }
                })
                .await?)
            }
        }
        let p = Provider { name: "p".into() };
        assert_send(p.wait());
    }
}
