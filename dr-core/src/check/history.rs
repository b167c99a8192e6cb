//! What this plan's earlier runs measured: each step's time from the journals
//! in the state dir, for the RTO forecast of `dr check`.
//!
//! The last [`MAX_RUNS`] runs of the plan (its name; runs of `dr drill`
//! included) are read, newest first. A step's measured time is its duration
//! in a run where it succeeded (retries, gates and provider waits included);
//! the forecast uses the [`PERCENTILE`]th percentile of them (nearest rank),
//! never less than the step's static least time.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use crate::outcome::StepStatus;
use crate::report::Report;

/// How many of the plan's most recent runs are read.
pub const MAX_RUNS: usize = 20;

/// How many run directories are looked at, at most, to find them (the runs
/// of other plans sharing the state dir are skipped).
const MAX_LOOKED_AT: usize = 500;

/// The percentile of a step's measured times the forecast uses.
pub const PERCENTILE: usize = 90;

/// The measured step times of the plan's recent runs.
#[derive(Debug, Default)]
pub(super) struct History {
    /// The runs read, oldest first.
    pub runs: Vec<String>,
    /// Step id -> its measured times, in runs where it succeeded.
    times: HashMap<String, Vec<Duration>>,
}

impl History {
    /// Reads the recent runs of plan `plan` in `state_dir` (none when the
    /// state dir has no runs or cannot be read: the forecast falls back to
    /// the static bound).
    pub fn load(state_dir: &Path, plan: &str) -> History {
        let mut ids: Vec<String> = std::fs::read_dir(state_dir.join("runs"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| crate::state::check_run_id(id).is_ok())
            .collect();
        // Run ids start with their UTC start time: newest first.
        ids.sort_unstable_by(|a, b| b.cmp(a));
        let mut history = History::default();
        for id in ids.into_iter().take(MAX_LOOKED_AT) {
            if history.runs.len() == MAX_RUNS {
                break;
            }
            let Ok(report) = Report::load(state_dir, &id) else {
                continue;
            };
            if report.plan != plan {
                continue;
            }
            let mut any = false;
            for step in &report.steps {
                if step.status == StepStatus::Succeeded
                    && let Some(ms) = step.duration_ms
                {
                    any = true;
                    history
                        .times
                        .entry(step.id.clone())
                        .or_default()
                        .push(Duration::from_millis(ms));
                }
            }
            if any {
                history.runs.push(id);
            }
        }
        history.runs.reverse();
        history
    }

    /// The [`PERCENTILE`]th percentile of step `id`'s measured times (nearest
    /// rank), when it has any.
    pub fn step(&self, id: &str) -> Option<Duration> {
        let mut times = self.times.get(id)?.clone();
        if times.is_empty() {
            return None;
        }
        times.sort_unstable();
        let rank = (PERCENTILE * times.len()).div_ceil(100).max(1);
        times.get(rank - 1).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(times: &[(&str, &[u64])]) -> History {
        History {
            runs: vec!["r".into()],
            times: times
                .iter()
                .map(|(id, ms)| {
                    (
                        id.to_string(),
                        ms.iter().map(|m| Duration::from_millis(*m)).collect(),
                    )
                })
                .collect(),
        }
    }

    #[test]
    fn the_forecast_of_a_step_is_the_90th_percentile_by_nearest_rank() {
        let h = of(&[
            ("one", &[700]),
            ("ten", &[10, 90, 20, 30, 40, 50, 60, 70, 80, 100]),
            ("eleven", &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1000]),
        ]);
        assert_eq!(h.step("one"), Some(Duration::from_millis(700)));
        assert_eq!(h.step("ten"), Some(Duration::from_millis(90)));
        // 90 % of 11 is 9.9: the 10th of the sorted times.
        assert_eq!(h.step("eleven"), Some(Duration::from_millis(10)));
        assert_eq!(h.step("never"), None);
    }

    #[test]
    fn no_state_dir_is_no_history() {
        let dir = tempfile::tempdir().unwrap();
        let h = History::load(&dir.path().join("nope"), "p");
        assert!(h.runs.is_empty());
    }
}
