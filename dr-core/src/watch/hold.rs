//! The hold-down shared by every `dr watch` of a plan: the last trigger that
//! ran the plan, recorded where all of them look.
//!
//! Two watches of one plan (a redundant pair, or one restarted by systemd)
//! each keep their own detector; without a shared record, the second sees the
//! lock free once the first's run ended and runs the failover again for the
//! same outage. So a watch, before it runs the plan, *claims* the trigger
//! through a [`TriggerLog`]: the claim fails, naming the earlier trigger, when
//! one happened less than `hold_down` ago; it succeeds and records this
//! trigger otherwise. A watch reads the record before it triggers at all (a
//! dry run only reads).
//!
//! [`StateDirTriggers`], the default, keeps the record in
//! `<state-dir>/watch/<plan>.last-trigger` (JSON, replaced atomically by a
//! rename). Its read-check-write is not one atomic step across processes; two
//! watches that claim in the same instant both win, and the plan's lock then
//! lets only one of them run (the other's trigger is refused, and the record
//! holds it down afterwards). A coordination backend (etcd) implements
//! [`TriggerLog::claim`] as one transaction (compare the record's revision,
//! put), which closes that window too.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A trigger that ran (or was approved to run) the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TriggerRecord {
    /// The plan's name.
    pub plan: String,
    /// When the watch decided to run it.
    pub triggered_at: DateTime<Utc>,
    /// The host of the watch.
    pub host: String,
    /// Its process.
    pub pid: u32,
}

impl TriggerRecord {
    /// A trigger of `plan` by this process, now.
    pub fn now(plan: &str) -> Self {
        TriggerRecord {
            plan: plan.to_string(),
            triggered_at: Utc::now(),
            host: crate::lock::host(),
            pid: std::process::id(),
        }
    }

    /// How much of `hold_down` is left at `now` after this trigger (`None`:
    /// none). A record from the future (clocks apart) holds for all of it.
    pub fn remaining(&self, hold_down: Duration, now: DateTime<Utc>) -> Option<Duration> {
        let since = (now - self.triggered_at).to_std().unwrap_or(Duration::ZERO);
        hold_down.checked_sub(since).filter(|d| !d.is_zero())
    }
}

/// The outcome of [`TriggerLog::claim`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// No trigger within `hold_down`: this one is recorded and may run.
    Won,
    /// An earlier trigger holds it down.
    Held(TriggerRecord),
}

/// Where the watches of a plan share its last trigger. The state dir by
/// default ([`StateDirTriggers`]); a coordination backend provides its own.
pub trait TriggerLog: Send + Sync + std::fmt::Debug {
    /// The last recorded trigger of `plan`, if any.
    fn last(&self, plan: &str) -> io::Result<Option<TriggerRecord>>;

    /// Records `trigger` unless a trigger of the same plan was recorded less
    /// than `hold_down` before it; then returns that one.
    fn claim(&self, trigger: &TriggerRecord, hold_down: Duration) -> io::Result<Claim>;
}

/// [`TriggerLog`] in `<state-dir>/watch/<plan>.last-trigger`.
#[derive(Debug, Clone)]
pub struct StateDirTriggers {
    dir: PathBuf,
}

impl StateDirTriggers {
    /// The record of the state dir `state_dir`.
    pub fn new(state_dir: &Path) -> Self {
        StateDirTriggers {
            dir: state_dir.join("watch"),
        }
    }

    /// The file of `plan`'s record.
    pub fn path(&self, plan: &str) -> PathBuf {
        self.dir
            .join(format!("{}.last-trigger", crate::state::file_stem(plan)))
    }
}

impl TriggerLog for StateDirTriggers {
    fn last(&self, plan: &str) -> io::Result<Option<TriggerRecord>> {
        match std::fs::read(self.path(plan)) {
            Ok(b) => Ok(serde_json::from_slice(&b).ok()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn claim(&self, trigger: &TriggerRecord, hold_down: Duration) -> io::Result<Claim> {
        if let Some(last) = self.last(&trigger.plan)?
            && last.remaining(hold_down, trigger.triggered_at).is_some()
        {
            return Ok(Claim::Held(last));
        }
        std::fs::create_dir_all(&self.dir)?;
        let path = self.path(&trigger.plan);
        let tmp = path.with_extension(format!("last-trigger.{}.tmp", std::process::id()));
        let body = serde_json::to_vec(trigger).map_err(io::Error::other)?;
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&body)?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        Ok(Claim::Won)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_within_hold_down_is_held_by_the_earlier_one() {
        let dir = tempfile::tempdir().unwrap();
        let log = StateDirTriggers::new(dir.path());
        assert_eq!(log.last("eu/api").unwrap(), None);
        let first = TriggerRecord::now("eu/api");
        assert_eq!(
            log.claim(&first, Duration::from_secs(60)).unwrap(),
            Claim::Won
        );
        let mut second = TriggerRecord::now("eu/api");
        second.triggered_at = first.triggered_at + chrono::Duration::seconds(30);
        assert_eq!(
            log.claim(&second, Duration::from_secs(60)).unwrap(),
            Claim::Held(first.clone())
        );
        // Another plan is not held by it.
        assert_eq!(
            log.claim(&TriggerRecord::now("eu_api"), Duration::from_secs(60))
                .unwrap(),
            Claim::Won
        );
        // Once the hold-down is over, the next claim wins and is recorded.
        second.triggered_at = first.triggered_at + chrono::Duration::seconds(61);
        assert_eq!(
            log.claim(&second, Duration::from_secs(60)).unwrap(),
            Claim::Won
        );
        assert_eq!(log.last("eu/api").unwrap(), Some(second));
    }
}
