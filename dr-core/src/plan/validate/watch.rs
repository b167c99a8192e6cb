//! `[plan.watch]`: probes that name probe resources, durations, quorum and
//! threshold bounds.

use std::time::Duration;

use super::{Use, Validator, key};
use crate::Kind;
use crate::plan::model::{Watch, WatchTable};
use crate::plan::source::{Node, Seg};

/// Most consecutive failed rounds a watch may wait for.
const MAX_FAILURE_THRESHOLD: u32 = 10_000;
/// More witnesses than this is a typo (etcd clusters have 3, 5 or 7 members).
const MAX_WITNESSES: u32 = 100;
/// Default round interval.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// Default per-probe timeout.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default hold-down.
const DEFAULT_HOLD_DOWN: Duration = Duration::from_secs(30 * 60);
/// Default readiness check period.
const DEFAULT_CHECK_EVERY: Duration = Duration::from_secs(30 * 60);

fn at(k: &str) -> Vec<Seg> {
    vec![key("plan"), key("watch"), key(k)]
}

impl Validator<'_> {
    /// The `probes` list of `[plan.<table>]`: at least one (`what` says whose
    /// health they are), none twice, each recorded as a probe use (so unknown
    /// resources and resources that are no probe are reported where they are
    /// named). Whether it is valid.
    pub(super) fn check_probe_list(
        &mut self,
        root: &Node,
        table: &str,
        probes: &[String],
        what: &str,
        uses: &mut Vec<Use>,
    ) -> bool {
        let mut ok = true;
        if probes.is_empty() {
            ok = false;
            self.err(
                root,
                &[key("plan"), key(table), key("probes")],
                false,
                format!("`probes` needs at least one probe resource ({what})"),
            );
        }
        for (i, p) in probes.iter().enumerate() {
            let path = vec![key("plan"), key(table), key("probes"), Seg::Index(i)];
            if probes[..i].contains(p) {
                ok = false;
                self.err(root, &path, false, format!("probe `{p}` is listed twice"));
                continue;
            }
            uses.push(Use {
                resource: p.clone(),
                kind: Kind::Probe,
                at: path,
            });
        }
        ok
    }

    /// The typed `[plan.watch]`, with its probes recorded as probe uses (so
    /// unknown resources and resources that are no probe are reported where
    /// they are named); `None` when it is invalid.
    pub(super) fn check_watch(
        &mut self,
        root: &Node,
        w: WatchTable,
        uses: &mut Vec<Use>,
    ) -> Option<Watch> {
        let mut ok =
            self.check_probe_list(root, "watch", &w.probes, "the active side's health", uses);
        let n = u32::try_from(w.probes.len()).unwrap_or(u32::MAX);
        let quorum = w.quorum.unwrap_or(n);
        if w.quorum.is_some() && !(1..=n.max(1)).contains(&quorum) {
            ok = false;
            self.err(
                root,
                &at("quorum"),
                false,
                format!("quorum must be between 1 and the number of probes ({n}), not {quorum}"),
            );
        }
        let threshold = w.failure_threshold.unwrap_or(3);
        if !(1..=MAX_FAILURE_THRESHOLD).contains(&threshold) {
            ok = false;
            self.err(
                root,
                &at("failure_threshold"),
                false,
                format!(
                    "failure_threshold must be between 1 and {MAX_FAILURE_THRESHOLD}, not {threshold}"
                ),
            );
        }
        let interval = w.interval.map_or(DEFAULT_INTERVAL, |d| d.0);
        let timeout = w.timeout.map_or(DEFAULT_TIMEOUT.min(interval), |d| d.0);
        let check_every = w.check_every.map_or(DEFAULT_CHECK_EVERY, |d| d.0);
        for (k, d) in [
            ("interval", interval),
            ("timeout", timeout),
            ("check_every", check_every),
        ] {
            if d.is_zero() {
                ok = false;
                self.err(root, &at(k), false, format!("{k} must be more than 0"));
            }
        }
        if timeout > interval {
            ok = false;
            self.err(
                root,
                &at("timeout"),
                false,
                format!(
                    "timeout ({}) must be at most the interval ({}): a round must end before the next one starts",
                    crate::format_duration(timeout),
                    crate::format_duration(interval)
                ),
            );
        }
        let witnesses = w.witnesses.unwrap_or(1);
        if !(1..=MAX_WITNESSES).contains(&witnesses) {
            ok = false;
            self.err(
                root,
                &at("witnesses"),
                false,
                format!("witnesses must be between 1 and {MAX_WITNESSES}, not {witnesses}"),
            );
        }
        ok.then(|| Watch {
            witnesses,
            probes: w.probes,
            interval,
            timeout,
            failure_threshold: threshold,
            quorum,
            hold_down: w.hold_down.map_or(DEFAULT_HOLD_DOWN, |d| d.0),
            mode: w.mode.unwrap_or_default(),
            check_every,
        })
    }
}
