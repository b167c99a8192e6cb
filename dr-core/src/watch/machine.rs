//! The detector: healthy → suspect → failing, round by round. Pure: it is fed
//! each round's result with the round's timestamps and decides, so it is
//! tested (and benchmarked) without probes, clocks or a runtime.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::plan::Watch;

/// Where the watched side stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchState {
    /// The last round passed.
    Healthy,
    /// Rounds are failing, fewer than `failure_threshold` in a row.
    Suspect,
    /// `failure_threshold` rounds or more in a row failed.
    Failing,
}

impl WatchState {
    /// `healthy`, `suspect` or `failing`.
    pub fn as_str(self) -> &'static str {
        match self {
            WatchState::Healthy => "healthy",
            WatchState::Suspect => "suspect",
            WatchState::Failing => "failing",
        }
    }

    /// Every state, in order of severity.
    pub const ALL: [WatchState; 3] = [
        WatchState::Healthy,
        WatchState::Suspect,
        WatchState::Failing,
    ];
}

impl std::fmt::Display for WatchState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One round of probes as the detector sees it.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    /// When the round's probes were sent.
    pub started: Instant,
    /// The same moment on the wall clock (reported).
    pub started_at: DateTime<Utc>,
    /// When the last probe answered or timed out.
    pub ended: Instant,
    /// The same moment on the wall clock.
    pub ended_at: DateTime<Utc>,
    /// Probes that were unhealthy, failed or timed out.
    pub unhealthy: usize,
}

/// The detection that makes a trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detection {
    /// When the first failed probe of the failing streak was sent.
    pub first_failure: Instant,
    /// The same on the wall clock.
    pub first_failure_at: DateTime<Utc>,
    /// When the detector decided (the end of the round that completed the streak).
    pub decided: Instant,
    /// The same on the wall clock.
    pub decided_at: DateTime<Utc>,
    /// `decided - first_failure`.
    pub detection: Duration,
    /// Failed rounds in the streak so far.
    pub failed_rounds: u32,
}

/// What the detector decided after a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to do.
    None,
    /// Trigger the plan.
    Trigger(Detection),
    /// The side is failing, but a trigger happened less than `hold_down` ago;
    /// reported once per failing streak. The detector triggers when the
    /// hold-down ends if the side is still failing then.
    HeldDown {
        /// Time left of the hold-down.
        remaining: Duration,
    },
}

/// The outcome of one round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// The state changed: `(from, to)`.
    pub change: Option<(WatchState, WatchState)>,
    /// Whether the round failed (at least `quorum` probes unhealthy).
    pub failed: bool,
    /// What to do.
    pub decision: Decision,
}

/// The state machine of a watch.
///
/// A round *fails* when at least `quorum` probes are unhealthy. The first
/// failed round makes the state `suspect`; `failure_threshold` failed rounds in
/// a row make it `failing` and trigger, unless a trigger happened less than
/// `hold_down` before. One passing round makes it `healthy` again and ends the
/// streak, so isolated failures and flapping never trigger. One trigger per
/// failing streak.
///
/// Detection time is counted from the moment the first failed probe of the
/// streak was sent (its round's start) to the end of the round that completes
/// the streak: with rounds every `interval` and probes bounded by `timeout`,
/// it is at most `interval × (failure_threshold − 1) + timeout`, within the
/// contract's bound of `interval × failure_threshold + timeout`.
#[derive(Debug, Clone)]
pub struct Detector {
    quorum: usize,
    threshold: u32,
    hold_down: Duration,
    state: WatchState,
    consecutive: u32,
    streak_start: Option<(Instant, DateTime<Utc>)>,
    triggered_in_streak: bool,
    held_reported: bool,
    last_trigger: Option<Instant>,
    /// `last_trigger` before the latest trigger, so a trigger that did not
    /// happen (refused) can be taken back.
    before_trigger: Option<Instant>,
}

impl Detector {
    /// A detector for `[plan.watch]`.
    pub fn new(w: &Watch) -> Self {
        Self::with(w.quorum as usize, w.failure_threshold, w.hold_down)
    }

    /// A detector with these settings (`quorum` and `threshold` at least 1).
    pub fn with(quorum: usize, failure_threshold: u32, hold_down: Duration) -> Self {
        Detector {
            quorum: quorum.max(1),
            threshold: failure_threshold.max(1),
            hold_down,
            state: WatchState::Healthy,
            consecutive: 0,
            streak_start: None,
            triggered_in_streak: false,
            held_reported: false,
            last_trigger: None,
            before_trigger: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> WatchState {
        self.state
    }

    /// Failed rounds in a row so far.
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive
    }

    /// The last trigger did not happen (refused: nothing ran): it starts no
    /// hold-down, and the next failed round of the streak triggers again.
    pub fn trigger_refused(&mut self) {
        if self.triggered_in_streak {
            self.triggered_in_streak = false;
            self.last_trigger = self.before_trigger;
        }
    }

    /// The last trigger did not happen because the plan was triggered at
    /// `at` by someone else (another watch of the plan, a run that held its
    /// lock): the hold-down counts from `at`, and this detector triggers when
    /// it ends if the side is still failing then. Reported by the caller, so
    /// the detector does not report it again in this streak.
    pub fn triggered_elsewhere(&mut self, at: Instant) {
        self.trigger_refused();
        self.held_reported = true;
        self.last_trigger = Some(self.last_trigger.map_or(at, |t| t.max(at)));
    }

    /// Feeds one round.
    pub fn observe(&mut self, round: &Round) -> Observation {
        let failed = round.unhealthy >= self.quorum;
        let before = self.state;
        let mut decision = Decision::None;
        if !failed {
            self.state = WatchState::Healthy;
            self.consecutive = 0;
            self.streak_start = None;
            self.triggered_in_streak = false;
            self.held_reported = false;
        } else {
            self.consecutive = self.consecutive.saturating_add(1);
            let (first, first_at) = *self
                .streak_start
                .get_or_insert((round.started, round.started_at));
            if self.consecutive >= self.threshold {
                self.state = WatchState::Failing;
                if !self.triggered_in_streak {
                    let held = self
                        .last_trigger
                        .map(|t| round.ended.saturating_duration_since(t))
                        .filter(|since| *since < self.hold_down);
                    match held {
                        Some(since) => {
                            if !self.held_reported {
                                self.held_reported = true;
                                decision = Decision::HeldDown {
                                    remaining: self.hold_down - since,
                                };
                            }
                        }
                        None => {
                            self.triggered_in_streak = true;
                            self.before_trigger = self.last_trigger;
                            self.last_trigger = Some(round.ended);
                            decision = Decision::Trigger(Detection {
                                first_failure: first,
                                first_failure_at: first_at,
                                decided: round.ended,
                                decided_at: round.ended_at,
                                detection: round.ended.saturating_duration_since(first),
                                failed_rounds: self.consecutive,
                            });
                        }
                    }
                }
            } else {
                self.state = WatchState::Suspect;
            }
        }
        Observation {
            change: (before != self.state).then_some((before, self.state)),
            failed,
            decision,
        }
    }
}

/// The contract's bound on detection time: `interval × failure_threshold + timeout`.
pub fn detection_bound(w: &Watch) -> Duration {
    w.interval
        .saturating_mul(w.failure_threshold)
        .saturating_add(w.timeout)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rounds every `interval`, each lasting `took`, from `base`.
    struct Clock {
        base: Instant,
        wall: DateTime<Utc>,
        interval: Duration,
        n: u32,
    }

    impl Clock {
        fn new(interval_ms: u64) -> Self {
            Clock {
                base: Instant::now(),
                wall: Utc::now(),
                interval: Duration::from_millis(interval_ms),
                n: 0,
            }
        }
        fn round(&mut self, unhealthy: usize, took_ms: u64) -> Round {
            let off = self.interval * self.n;
            self.n += 1;
            let took = Duration::from_millis(took_ms);
            Round {
                started: self.base + off,
                started_at: self.wall + chrono::Duration::from_std(off).unwrap(),
                ended: self.base + off + took,
                ended_at: self.wall + chrono::Duration::from_std(off + took).unwrap(),
                unhealthy,
            }
        }
    }

    fn triggers(obs: &[Observation]) -> usize {
        obs.iter()
            .filter(|o| matches!(o.decision, Decision::Trigger(_)))
            .count()
    }

    #[test]
    fn healthy_suspect_failing_and_back() {
        let mut c = Clock::new(200);
        let mut d = Detector::with(1, 3, Duration::from_secs(60));
        assert_eq!(d.observe(&c.round(0, 5)).change, None);
        let o = d.observe(&c.round(1, 5));
        assert_eq!(o.change, Some((WatchState::Healthy, WatchState::Suspect)));
        assert_eq!(o.decision, Decision::None);
        assert_eq!(d.observe(&c.round(1, 5)).change, None);
        let o = d.observe(&c.round(1, 5));
        assert_eq!(o.change, Some((WatchState::Suspect, WatchState::Failing)));
        let Decision::Trigger(det) = o.decision else {
            panic!("{o:?}")
        };
        assert_eq!(det.failed_rounds, 3);
        assert_eq!(det.detection, Duration::from_millis(405));
        // Still failing: no second trigger in the same streak.
        assert_eq!(d.observe(&c.round(1, 5)).decision, Decision::None);
        let o = d.observe(&c.round(0, 5));
        assert_eq!(o.change, Some((WatchState::Failing, WatchState::Healthy)));
    }

    #[test]
    fn threshold_one_goes_straight_to_failing() {
        let mut c = Clock::new(100);
        let mut d = Detector::with(1, 1, Duration::ZERO);
        let o = d.observe(&c.round(1, 10));
        assert_eq!(o.change, Some((WatchState::Healthy, WatchState::Failing)));
        assert!(matches!(o.decision, Decision::Trigger(_)));
    }

    #[test]
    fn quorum_counts_unhealthy_probes() {
        let mut c = Clock::new(100);
        let mut d = Detector::with(2, 1, Duration::ZERO);
        assert!(!d.observe(&c.round(1, 1)).failed);
        assert!(d.observe(&c.round(2, 1)).failed);
        assert!(d.observe(&c.round(3, 1)).failed);
    }

    #[test]
    fn isolated_failures_and_flapping_never_trigger() {
        let mut c = Clock::new(100);
        let mut d = Detector::with(1, 3, Duration::ZERO);
        let pattern = [1, 0, 1, 1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 0];
        let obs: Vec<_> = (0..50)
            .flat_map(|_| pattern)
            .map(|u| d.observe(&c.round(u, 20)))
            .collect();
        assert_eq!(triggers(&obs), 0);
        assert!(
            obs.iter()
                .all(|o| o.change.is_none_or(|(_, to)| to != WatchState::Failing))
        );
    }

    #[test]
    fn one_timeout_is_one_failed_round() {
        // A probe that times out is unhealthy for its round only.
        let mut c = Clock::new(200);
        let mut d = Detector::with(1, 3, Duration::ZERO);
        d.observe(&c.round(0, 5));
        let o = d.observe(&c.round(1, 200));
        assert_eq!(o.change, Some((WatchState::Healthy, WatchState::Suspect)));
        let o = d.observe(&c.round(0, 5));
        assert_eq!(o.change, Some((WatchState::Suspect, WatchState::Healthy)));
    }

    #[test]
    fn hold_down_forbids_a_second_trigger_then_allows_it() {
        let mut c = Clock::new(100);
        let mut d = Detector::with(1, 2, Duration::from_millis(1000));
        let mut obs = Vec::new();
        for u in [1, 1, 0, 1, 1] {
            obs.push(d.observe(&c.round(u, 10)));
        }
        assert_eq!(triggers(&obs), 1);
        let Decision::HeldDown { remaining } = obs[4].decision else {
            panic!("{:?}", obs[4])
        };
        assert_eq!(remaining, Duration::from_millis(700));
        // Still failing: reported once, then the trigger when the hold-down ends.
        let mut later = Vec::new();
        for _ in 0..7 {
            later.push(d.observe(&c.round(1, 10)));
        }
        assert!(
            later[..6].iter().all(|o| o.decision == Decision::None),
            "{later:?}"
        );
        assert!(
            matches!(later[6].decision, Decision::Trigger(_)),
            "{later:?}"
        );
    }

    #[test]
    fn a_refused_trigger_starts_no_hold_down_and_the_next_failed_round_triggers() {
        let mut c = Clock::new(100);
        let mut d = Detector::with(1, 2, Duration::from_secs(3600));
        d.observe(&c.round(1, 10));
        assert!(matches!(
            d.observe(&c.round(1, 10)).decision,
            Decision::Trigger(_)
        ));
        d.trigger_refused();
        // Still failing: the next round triggers again, not held down.
        assert!(matches!(
            d.observe(&c.round(1, 10)).decision,
            Decision::Trigger(_)
        ));
        // This one ran: the hold-down starts.
        d.observe(&c.round(0, 10));
        d.observe(&c.round(1, 10));
        assert!(matches!(
            d.observe(&c.round(1, 10)).decision,
            Decision::HeldDown { .. }
        ));
    }

    #[test]
    fn a_trigger_elsewhere_holds_down_from_its_time() {
        let mut c = Clock::new(100);
        let mut d = Detector::with(1, 1, Duration::from_millis(500));
        let r = c.round(1, 10);
        assert!(matches!(d.observe(&r).decision, Decision::Trigger(_)));
        // Another watch triggered 300ms before this round.
        d.triggered_elsewhere(r.ended - Duration::from_millis(300));
        // Held (reported by the caller), then a trigger once 500ms have passed.
        let later: Vec<_> = (0..3).map(|_| d.observe(&c.round(1, 10))).collect();
        assert_eq!(later[0].decision, Decision::None, "{later:?}");
        assert!(
            matches!(later[1].decision, Decision::Trigger(_)),
            "{later:?}"
        );
    }

    #[test]
    fn detection_stays_within_the_bound() {
        // Every streak length, probe duration and threshold: the recorded
        // detection time is at most interval × threshold + timeout.
        for threshold in 1..=5u32 {
            for took in [0, 1, 50, 199, 200] {
                let interval = 200;
                let timeout = Duration::from_millis(200);
                let mut c = Clock::new(interval);
                let mut d = Detector::with(1, threshold, Duration::ZERO);
                d.observe(&c.round(0, took));
                let mut det = None;
                for _ in 0..threshold {
                    if let Decision::Trigger(t) = d.observe(&c.round(1, took)).decision {
                        det = Some(t);
                    }
                }
                let det = det.expect("triggers after `threshold` failed rounds");
                let bound = Duration::from_millis(interval) * threshold + timeout;
                assert!(det.detection <= bound, "{det:?} > {bound:?}");
                assert_eq!(det.failed_rounds, threshold);
            }
        }
    }

    #[test]
    fn ten_thousand_noisy_rounds_without_three_in_a_row_never_trigger() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(14);
        let mut c = Clock::new(10);
        let mut d = Detector::with(1, 3, Duration::ZERO);
        let (mut run, mut failed, mut trig) = (0, 0, 0);
        for _ in 0..10_000 {
            let fail = run < 2 && rng.random_bool(0.2);
            run = if fail { run + 1 } else { 0 };
            failed += usize::from(fail);
            if matches!(
                d.observe(&c.round(usize::from(fail), 1)).decision,
                Decision::Trigger(_)
            ) {
                trig += 1;
            }
        }
        assert!(failed > 1500, "{failed}");
        assert_eq!(trig, 0);
    }
}
