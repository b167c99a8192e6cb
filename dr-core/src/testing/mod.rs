//! Conformance suites every provider runs against its emulator.
//!
//! Each suite takes a trait object, drives it through the trait's contract and
//! panics with a message naming the broken rule (and the provider's `Debug`) on
//! the first violation, so it is meant to be called from a `#[tokio::test]`:
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use dr_core::{Registry, Settings};
//!
//! // In a provider crate: `#[tokio::test] async fn passes_the_router_conformance_suite()`,
//! // with the router pointed at the emulator the test started.
//! let registry = Registry::with_builtins();
//! let settings = Settings::from_json(
//!     "front",
//!     "sim.router",
//!     serde_json::json!({ "targets": ["east", "west"] }),
//! );
//! let router = registry.build_router(&settings).unwrap().unwrap();
//! dr_core::testing::router_conformance(router.as_ref()).await;
//! dr_core::testing::router_scope_conformance(router.as_ref(), "WNAM").await;
//! # }
//! ```
//!
//! The suites mutate the resource they are given (they promote, fence, stop,
//! reverse); point them at an emulator or a throw-away resource, never at
//! production. Routers are restored to the split they started with.

#[cfg(feature = "testing-http")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing-http")))]
pub mod http;

use std::time::Duration;

use crate::{
    DataStore, ErrorKind, Health, HealthProbe, HealthStatus, ProviderError, ReplicationState,
    Replicator, Role, TrafficRouter, TrafficSplit,
};

/// A target name no router owns.
const UNKNOWN_TARGET: &str = "__dr_conformance_unknown_target__";

/// Scheduling slack allowed on top of a probe's own timeout.
const PROBE_SLACK: Duration = Duration::from_millis(500);

/// The largest lag a replicator may report before it is considered absurd.
const ABSURD_LAG: Duration = Duration::from_secs(24 * 3600);

fn ok<T>(
    what: &str,
    subject: &(dyn std::fmt::Debug + Sync),
    result: Result<T, ProviderError>,
) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("conformance: {what} failed on {subject:?}: {e}"),
    }
}

fn expect_invalid<T: std::fmt::Debug>(
    what: &str,
    subject: &(dyn std::fmt::Debug + Sync),
    result: Result<T, ProviderError>,
) {
    match result {
        Ok(v) => {
            panic!("conformance: {what} on {subject:?} must be Err(InvalidRequest), got Ok({v:?})")
        }
        Err(e) => assert!(
            matches!(e.kind(), ErrorKind::InvalidRequest),
            "conformance: {what} on {subject:?} must fail with kind invalid_request, got {}: {e}",
            e.kind()
        ),
    }
}

async fn current(router: &dyn TrafficRouter, scope: Option<&str>, when: &str) -> TrafficSplit {
    ok(
        &format!("current({scope:?}) {when}"),
        router,
        router.current(scope).await,
    )
}

async fn apply_and_check(router: &dyn TrafficRouter, split: &TrafficSplit, scope: Option<&str>) {
    ok(
        &format!("apply({split}, {scope:?})"),
        router,
        router.apply(split, scope).await,
    );
    let now = current(router, scope, &format!("after apply({split})")).await;
    assert!(
        now.same_as(split),
        "conformance: after apply({split}, {scope:?}) on {router:?}, current({scope:?}) is {now}, \
         not the applied split"
    );
}

async fn expect_rejected(
    router: &dyn TrafficRouter,
    split: &TrafficSplit,
    why: &str,
    before: &TrafficSplit,
) {
    expect_invalid(
        &format!("apply({split:?}) ({why})"),
        router,
        router.apply(split, None).await,
    );
    let after = current(router, None, &format!("after the rejected apply ({why})")).await;
    assert!(
        after.same_as(before),
        "conformance: a rejected apply ({why}) changed current() on {router:?} from {before} to {after}"
    );
}

/// Checks a [`TrafficRouter`] against the trait contract, unscoped.
///
/// Preconditions: the router can be read and changed, and may send all traffic
/// to each of its targets in turn.
///
/// Checks, in order:
/// - `targets()` is non-empty and returns the same list twice;
/// - `current(None)` is a valid split (weights sum to 100, only known targets);
/// - `apply(all to T)` for each target `T`, after which `current(None)` equals it;
/// - applying the same split again is `Ok` and leaves `current()` unchanged;
/// - with `capabilities().weighted` and two or more targets, a 70/30 split round-trips;
/// - a split naming an unknown target is `InvalidRequest` and leaves `current()` unchanged;
/// - a split summing to 90 is `InvalidRequest` and leaves `current()` unchanged;
/// - without `weighted`, a split over two targets is `InvalidRequest`.
///
/// At the end the router is given back the split it started with.
pub async fn router_conformance(router: &dyn TrafficRouter) {
    let targets = router.targets();
    assert!(
        !targets.is_empty(),
        "conformance: targets() of {router:?} is empty"
    );
    assert_eq!(
        router.targets(),
        targets,
        "conformance: targets() of {router:?} changed between two calls"
    );
    let caps = router.capabilities();

    let original = current(router, None, "at start").await;
    if let Err(why) = original.check(&targets) {
        panic!("conformance: current(None) of {router:?} is not a valid split ({original}): {why}");
    }

    for t in &targets {
        apply_and_check(router, &TrafficSplit::all_to(t.as_str()), None).await;
    }

    // Idempotency: the last split again.
    let last = TrafficSplit::all_to(targets[targets.len() - 1].as_str());
    let before = current(router, None, "before re-applying the same split").await;
    ok(
        "apply(same split again)",
        router,
        router.apply(&last, None).await,
    );
    let after = current(router, None, "after re-applying the same split").await;
    assert!(
        after.same_as(&before),
        "conformance: re-applying {last} on {router:?} changed current() from {before} to {after}"
    );

    if caps.weighted && targets.len() >= 2 {
        let split =
            TrafficSplit::from_pairs([(targets[0].as_str(), 70), (targets[1].as_str(), 30)]);
        apply_and_check(router, &split, None).await;
        ok(
            "apply(same weighted split again)",
            router,
            router.apply(&split, None).await,
        );
        let again = current(router, None, "after re-applying the weighted split").await;
        assert!(
            again.same_as(&split),
            "conformance: re-applying {split} on {router:?} changed current() to {again}"
        );
    }

    let before = current(router, None, "before invalid applies").await;
    expect_rejected(
        router,
        &TrafficSplit::all_to(UNKNOWN_TARGET),
        "unknown target",
        &before,
    )
    .await;
    expect_rejected(
        router,
        &TrafficSplit::from_pairs([(targets[0].as_str(), 90)]),
        "weights sum to 90",
        &before,
    )
    .await;
    if !caps.weighted && targets.len() >= 2 {
        expect_rejected(
            router,
            &TrafficSplit::from_pairs([(targets[0].as_str(), 50), (targets[1].as_str(), 50)]),
            "two targets on a router without the weighted capability",
            &before,
        )
        .await;
    }

    apply_and_check(router, &original, None).await;
}

/// Checks a [`TrafficRouter`]'s handling of `scope`.
///
/// Preconditions: `capabilities().accepts_scope(scope)` (asserted).
///
/// Checks, in order:
/// - records `current(None)`;
/// - applies a split in `scope` that differs from the unscoped one (70/30 over the
///   first two targets when the router is weighted and has two targets, else all to
///   a target other than the unscoped split's largest); then `current(Some(scope))`
///   equals it and `current(None)` is unchanged;
/// - applying it again is `Ok` and changes neither;
/// - finally applies the original unscoped split to the scope, after which
///   `current(Some(scope))` equals the unscoped split, which itself is unchanged.
pub async fn router_scope_conformance(router: &dyn TrafficRouter, scope: &str) {
    let caps = router.capabilities();
    assert!(
        caps.accepts_scope(scope),
        "conformance: {router:?} does not accept scope `{scope}` (capabilities {caps:?})"
    );
    let targets = router.targets();
    assert!(
        !targets.is_empty(),
        "conformance: targets() of {router:?} is empty"
    );
    let unscoped = current(router, None, "at start").await;

    let split = if caps.weighted && targets.len() >= 2 {
        let a = TrafficSplit::from_pairs([(targets[0].as_str(), 70), (targets[1].as_str(), 30)]);
        if a.same_as(&unscoped) {
            TrafficSplit::from_pairs([(targets[0].as_str(), 30), (targets[1].as_str(), 70)])
        } else {
            a
        }
    } else {
        let biggest = unscoped.iter().max_by_key(|(_, w)| *w).map(|(t, _)| t);
        let other = targets
            .iter()
            .find(|t| Some(t.as_str()) != biggest)
            .unwrap_or(&targets[0]);
        TrafficSplit::all_to(other.as_str())
    };

    apply_and_check(router, &split, Some(scope)).await;
    let global = current(router, None, "after a scoped apply").await;
    assert!(
        global.same_as(&unscoped),
        "conformance: apply({split}, Some({scope:?})) on {router:?} changed the unscoped split \
         from {unscoped} to {global}"
    );

    ok(
        "apply(same scoped split again)",
        router,
        router.apply(&split, Some(scope)).await,
    );
    let again = current(router, Some(scope), "after re-applying the scoped split").await;
    assert!(
        again.same_as(&split),
        "conformance: re-applying {split} in scope `{scope}` on {router:?} changed it to {again}"
    );
    let global = current(router, None, "after re-applying the scoped split").await;
    assert!(
        global.same_as(&unscoped),
        "conformance: re-applying a scoped split on {router:?} changed the unscoped split to {global}"
    );

    apply_and_check(router, &unscoped, Some(scope)).await;
    let global = current(router, None, "after restoring the scope").await;
    assert!(
        global.same_as(&unscoped),
        "conformance: restoring scope `{scope}` on {router:?} changed the unscoped split to {global}"
    );
}

async fn probe_once(probe: &dyn HealthProbe, timeout: Duration, which: &str) {
    let limit = timeout + PROBE_SLACK;
    let result = match tokio::time::timeout(limit, probe.probe()).await {
        Ok(r) => r,
        Err(_) => panic!(
            "conformance: the {which} probe() on {probe:?} did not return within its timeout \
             {timeout:?} + {PROBE_SLACK:?} slack"
        ),
    };
    match result {
        Ok(health) => check_health(probe, &health, limit, which),
        Err(e) => assert!(
            !e.message().is_empty(),
            "conformance: the {which} probe() on {probe:?} returned an error without a message"
        ),
    }
}

fn check_health(probe: &dyn HealthProbe, health: &Health, limit: Duration, which: &str) {
    if let Some(latency) = health.latency {
        assert!(
            latency <= limit,
            "conformance: the {which} probe() on {probe:?} reports latency {latency:?}, more than \
             the {limit:?} it was allowed to take"
        );
    }
    match health.status {
        HealthStatus::Healthy => assert!(
            !health.detail.to_lowercase().contains("unhealthy"),
            "conformance: the {which} probe() on {probe:?} is Healthy with detail `{}`",
            health.detail
        ),
        HealthStatus::Degraded | HealthStatus::Unhealthy => assert!(
            !health.detail.trim().is_empty(),
            "conformance: the {which} probe() on {probe:?} is {} without a detail saying why",
            health.status
        ),
    }
}

/// Checks a [`HealthProbe`] against the trait contract.
///
/// Preconditions: `timeout` is the probe's own configured timeout.
///
/// Checks:
/// - `probe()` returns (`Ok` or `Err`) within `timeout` plus 500 ms of slack,
///   measured with `tokio::time::timeout` (so it works under paused time);
/// - an `Ok` health is self-consistent: a reported latency is no longer than the
///   call was allowed to take, a `Healthy` detail does not say "unhealthy", and a
///   `Degraded` or `Unhealthy` result has a detail saying why;
/// - an `Err` carries a message;
/// - a second `probe()` right after the first also returns in time (probing has no
///   side effect that breaks the next probe).
pub async fn probe_conformance(probe: &dyn HealthProbe, timeout: Duration) {
    probe_once(probe, timeout, "first").await;
    probe_once(probe, timeout, "second").await;
}

/// Checks a [`DataStore`] against the trait contract.
///
/// Preconditions: `capabilities().promote` is true (asserted); the store may be
/// promoted, fenced and flushed. It is left promoted (and fenced, when it can be).
///
/// Checks, in order:
/// - `promote()`, then `role()` is `Primary` and `writable()` is true;
/// - `promote()` again is `Ok` and it is still a writable primary;
/// - with the `fence` capability: `fence()`, then `writable()` is false; `fence()`
///   again is `Ok` and it is still not writable. Without it, `fence()` is
///   `InvalidRequest`;
/// - with the `flush` capability: `flush()` is `Ok` twice. Without it, `flush()`
///   is `InvalidRequest`.
pub async fn store_conformance(store: &dyn DataStore) {
    let caps = store.capabilities();
    assert!(
        caps.promote,
        "conformance: store_conformance needs a store that can promote; {store:?} declares {caps:?}"
    );

    for attempt in ["promote()", "promote() again"] {
        ok(attempt, store, store.promote().await);
        let role = ok("role()", store, store.role().await);
        assert_eq!(
            role,
            Role::Primary,
            "conformance: after {attempt} on {store:?}, role() is {role}, not primary"
        );
        let writable = ok("writable()", store, store.writable().await);
        assert!(
            writable,
            "conformance: after {attempt} on {store:?}, writable() is false"
        );
    }

    if caps.fence {
        for attempt in ["fence()", "fence() again"] {
            ok(attempt, store, store.fence().await);
            let writable = ok("writable()", store, store.writable().await);
            assert!(
                !writable,
                "conformance: after {attempt} on {store:?}, writable() is still true"
            );
        }
    } else {
        expect_invalid(
            "fence() (not a declared capability)",
            store,
            store.fence().await,
        );
    }

    if caps.flush {
        ok("flush()", store, store.flush().await);
        ok("flush() again", store, store.flush().await);
    } else {
        expect_invalid(
            "flush() (not a declared capability)",
            store,
            store.flush().await,
        );
    }
}

fn check_lag(replicator: &dyn Replicator, lag: Option<Duration>, when: &str) {
    if let Some(lag) = lag {
        assert!(
            lag < ABSURD_LAG,
            "conformance: status() {when} on {replicator:?} reports an absurd lag of {lag:?}"
        );
    }
}

/// Checks a [`Replicator`]'s `status` and `stop` against the trait contract.
///
/// Preconditions: nothing else changes the link while the suite runs; the link
/// may be stopped (it is left stopped when it can be).
///
/// Checks, in order:
/// - `status()` is `Ok` twice and reports the same state both times;
/// - a reported lag is below one day;
/// - with the `stop` capability: `stop()`, then `status().state` is not
///   `Replicating`; `stop()` again is `Ok` and the state is still not `Replicating`
///   (status is consistent after stop). Without it, `stop()` is `InvalidRequest`.
pub async fn replicator_conformance(replicator: &dyn Replicator) {
    let first = ok("status()", replicator, replicator.status().await);
    check_lag(replicator, first.lag, "at start");
    let second = ok("status() again", replicator, replicator.status().await);
    check_lag(replicator, second.lag, "at start");
    assert_eq!(
        first.state, second.state,
        "conformance: two status() calls on {replicator:?} with nothing changed report {} then {}",
        first.state, second.state
    );

    if replicator.capabilities().stop {
        for attempt in ["stop()", "stop() again"] {
            ok(attempt, replicator, replicator.stop().await);
            let status = ok("status()", replicator, replicator.status().await);
            check_lag(replicator, status.lag, &format!("after {attempt}"));
            assert_ne!(
                status.state,
                ReplicationState::Replicating,
                "conformance: after {attempt} on {replicator:?}, status() still says replicating"
            );
        }
    } else {
        expect_invalid(
            "stop() (not a declared capability)",
            replicator,
            replicator.stop().await,
        );
    }
}

/// Checks a [`Replicator`]'s `reverse`.
///
/// Preconditions: `capabilities().reverse` is true (asserted), and the link is in
/// a state where it may be reversed (for most providers: after a failover).
///
/// Checks: `reverse()` is `Ok`, `reverse()` again is `Ok` (idempotent), and
/// `status()` is `Ok` afterwards with a lag below one day.
pub async fn replicator_reverse_conformance(replicator: &dyn Replicator) {
    let caps = replicator.capabilities();
    assert!(
        caps.reverse,
        "conformance: replicator_reverse_conformance needs a replicator that can reverse; \
         {replicator:?} declares {caps:?}"
    );
    ok("reverse()", replicator, replicator.reverse().await);
    ok("reverse() again", replicator, replicator.reverse().await);
    let status = ok(
        "status() after reverse()",
        replicator,
        replicator.status().await,
    );
    check_lag(replicator, status.lag, "after reverse()");
}
