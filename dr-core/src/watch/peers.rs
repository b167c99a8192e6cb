//! Several `dr watch` instances of one plan, on several machines, sharing what
//! they see through a coordination backend (etcd): one leader triggers, and
//! only when enough of them see the side failing ([`Peers`]).
//!
//! Each instance publishes its last round ([`Sighting`], gone with the
//! instance: lease-bound); one instance leads (elected through the backend);
//! the leader triggers only when at least `[plan.watch] witnesses` live
//! instances, itself included, saw the side failing within the same window
//! (two rounds plus a probe timeout), so one watcher whose own network broke
//! does not fail everything over. A leader also takes over a run of the plan
//! that no live process carries any more ([`Orphan`]: its journal has no end
//! and nobody holds the plan's lock), resuming it under `dr resume`'s rules.

use std::fmt::Debug;
use std::io;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::WatchState;
use super::hold::TriggerLog;

/// What one watch instance saw in its last round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sighting {
    /// The instance (`--instance`).
    pub instance: String,
    /// Its host.
    pub host: String,
    /// Whether its last round failed (at least `quorum` probes unhealthy).
    pub failed: bool,
    /// Its detector's state after that round.
    pub state: WatchState,
    /// When that round ended.
    pub at: DateTime<Utc>,
}

/// A run of the plan that no live process carries: its journal has no
/// `run_finished` after its last start or resume, and the plan's lock is free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    /// The run.
    pub run_id: String,
    /// Who carried it last (the watch instance, else `host pid`).
    pub from: String,
    /// When it last journaled.
    pub last_entry_at: DateTime<Utc>,
}

/// The watches of a plan on every machine, as a coordination backend shares
/// them. Async methods; failures mean "cannot tell": no trigger.
#[async_trait]
pub trait Peers: Send + Sync + Debug {
    /// This instance's name.
    fn instance(&self) -> &str;

    /// Publishes this instance's last round (gone when the instance dies).
    async fn publish(&self, sighting: &Sighting) -> io::Result<()>;

    /// The last round of every live instance, this one included.
    async fn sightings(&self) -> io::Result<Vec<Sighting>>;

    /// Campaigns for (or keeps) the leadership: `true` while this instance
    /// leads. The leader that dies or loses its lease loses it; another
    /// instance wins it at its next call.
    async fn lead(&self) -> io::Result<bool>;

    /// The runs of the plan no live process carries.
    async fn orphans(&self) -> io::Result<Vec<Orphan>>;

    /// Where the instances share the plan's last trigger (hold-down).
    fn triggers(&self) -> Arc<dyn TriggerLog>;
}

/// The instances whose last round, within `window` before `now`, failed.
pub fn witnesses(
    sightings: &[Sighting],
    now: DateTime<Utc>,
    window: std::time::Duration,
) -> Vec<String> {
    let since = now - chrono::Duration::from_std(window).unwrap_or(chrono::Duration::MAX);
    let mut seen: Vec<String> = sightings
        .iter()
        .filter(|s| s.failed && s.at >= since)
        .map(|s| s.instance.clone())
        .collect();
    seen.sort();
    seen.dedup();
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn s(instance: &str, failed: bool, ago_ms: i64, now: DateTime<Utc>) -> Sighting {
        Sighting {
            instance: instance.into(),
            host: "h".into(),
            failed,
            state: if failed {
                WatchState::Failing
            } else {
                WatchState::Healthy
            },
            at: now - chrono::Duration::milliseconds(ago_ms),
        }
    }

    #[test]
    fn only_recent_failed_rounds_witness() {
        let now = Utc::now();
        let all = [
            s("a", true, 100, now),
            s("b", false, 100, now),
            s("c", true, 5_000, now),
            s("a", true, 50, now),
        ];
        assert_eq!(witnesses(&all, now, Duration::from_secs(2)), ["a"]);
        assert_eq!(witnesses(&all, now, Duration::from_secs(10)), ["a", "c"]);
    }
}
