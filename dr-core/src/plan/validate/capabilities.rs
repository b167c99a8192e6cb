//! What each built-in step asks of its resources' providers: router targets,
//! weights and scopes, gate bounds, store and replicator operations.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::{Validator, key, with};
use crate::TrafficSplit;
use crate::plan::model::*;
use crate::plan::source::{Node, Seg};

/// Most consecutive healthy results a gate may ask for.
const MAX_GATE_TIMES: u32 = 10_000;
/// Shortest polling interval of a gate.
const MIN_GATE_EVERY: Duration = Duration::from_millis(1);

/// The keys of a `traffic.shift` step.
struct Shift {
    router: String,
    to: String,
    phases: Option<Vec<u32>>,
    gate: Option<GateTable>,
    scope: Option<String>,
}

impl Validator<'_> {
    /// A built-in step's keys, checked against what its resources' providers
    /// can do (one check per kind); `None` when one failed.
    pub(super) fn check_builtin(
        &mut self,
        root: &Node,
        path: &[Seg],
        b: BuiltinStep,
        res: &Resources<'_>,
        meta: Option<&PlanTable>,
    ) -> Option<StepAction> {
        let (action, ok) = match b {
            BuiltinStep::TrafficSet {
                router,
                split,
                scope,
            } => self.check_traffic_set(root, path, router, split, scope, res),
            BuiltinStep::TrafficShift {
                router,
                to,
                phases,
                gate,
                scope,
            } => self.check_traffic_shift(
                root,
                path,
                Shift {
                    router,
                    to,
                    phases,
                    gate,
                    scope,
                },
                res,
            ),
            BuiltinStep::ProbeWait(p) => self.check_probe_wait(root, path, p),
            BuiltinStep::ReplicationCheck {
                replicator,
                max_lag,
            } => self.check_replication_check(root, path, replicator, max_lag, meta),
            BuiltinStep::ReplicationStop { replicator } => {
                let ok =
                    self.check_replicator_cap(root, path, &replicator, res, "stop", |c| c.stop);
                (StepAction::ReplicationStop { replicator }, ok)
            }
            BuiltinStep::ReplicationReverse { replicator } => {
                let ok = self
                    .check_replicator_cap(root, path, &replicator, res, "reverse", |c| c.reverse);
                (StepAction::ReplicationReverse { replicator }, ok)
            }
            BuiltinStep::DatastorePromote {
                store,
                max_lag,
                replicator,
            } => self.check_promote(root, path, store, max_lag, replicator, res),
            BuiltinStep::DatastoreFence { store } => {
                let ok = self.check_store_cap(root, path, &store, res, "fence", |c| c.fence);
                (StepAction::DatastoreFence { store }, ok)
            }
            BuiltinStep::DatastoreFlush { store } => {
                let ok = self.check_store_cap(root, path, &store, res, "flush", |c| c.flush);
                (StepAction::DatastoreFlush { store }, ok)
            }
            BuiltinStep::Approval { message } => (StepAction::Approval { message }, true),
            BuiltinStep::PlanRun { plan } => (
                StepAction::PlanRun {
                    plan,
                    steps: Vec::new(),
                },
                true,
            ),
            BuiltinStep::Wait { duration } => (
                StepAction::Wait {
                    duration: duration.0,
                },
                true,
            ),
            BuiltinStep::Notify {
                url,
                message,
                headers,
            } => self.check_notify(root, path, url, message, headers),
            BuiltinStep::Exec {
                command,
                cwd,
                env,
                idempotent,
            } => self.check_exec(root, path, command, cwd, env, idempotent),
        };
        ok.then_some(action)
    }

    /// `probe.wait`: a bounded gate.
    fn check_probe_wait(
        &mut self,
        root: &Node,
        path: &[Seg],
        p: ProbeWaitTable,
    ) -> (StepAction, bool) {
        let ok = self.check_gate(root, path, p.times, p.every.map(|d| d.0));
        let action = StepAction::ProbeWait(
            GateTable {
                probe: p.probe,
                times: p.times,
                healthy_for: p.healthy_for,
                every: p.every,
                timeout: None,
            }
            .into_gate(),
        );
        (action, ok)
    }

    /// `replication.check`: a `max_lag`, or the plan's `rpo` in its place.
    fn check_replication_check(
        &mut self,
        root: &Node,
        path: &[Seg],
        replicator: String,
        max_lag: Option<DurationText>,
        meta: Option<&PlanTable>,
    ) -> (StepAction, bool) {
        let mut ok = true;
        let max_lag = max_lag
            .map(|d| d.0)
            .or(meta.and_then(|m| m.rpo.map(|d| d.0)));
        if max_lag.is_none() {
            ok = false;
            self.err(
                root,
                path,
                false,
                "replication.check needs `max_lag` (or a plan-level `rpo`)",
            );
        }
        let action = StepAction::ReplicationCheck {
            replicator,
            max_lag,
        };
        (action, ok)
    }

    /// `replication.stop` and `replication.reverse`: the replicator can `op`
    /// (when it was built).
    fn check_replicator_cap(
        &mut self,
        root: &Node,
        path: &[Seg],
        replicator: &str,
        res: &Resources<'_>,
        op: &str,
        has: impl Fn(&crate::ReplicatorCapabilities) -> bool,
    ) -> bool {
        let Some(r) = res.get(replicator).and_then(|r| r.replicator.clone()) else {
            return true;
        };
        if has(&r.capabilities()) {
            return true;
        }
        self.err(
            root,
            &with(path, &[key("replicator")]),
            false,
            format!(
                "replicator `{replicator}` (provider `{}`) cannot {op} replication",
                res.provider(replicator)
            ),
        );
        false
    }

    /// `datastore.promote`: an RPO gate (`max_lag`) has a lag source, and the
    /// store can promote.
    fn check_promote(
        &mut self,
        root: &Node,
        path: &[Seg],
        store: String,
        max_lag: Option<DurationText>,
        replicator: Option<String>,
        res: &Resources<'_>,
    ) -> (StepAction, bool) {
        let find = |name: &str| res.get(name);
        let mut ok = true;
        let max_lag = max_lag.map(|d| d.0);
        let lag_from = match &replicator {
            Some(r) => Some(r.clone()),
            None => find(&store)
                .filter(|r| r.replicator.is_some())
                .map(|r| r.name.clone()),
        };
        if max_lag.is_some() && lag_from.is_none() && find(&store).is_some() {
            ok = false;
            self.err(root, &with(path, &[key("max_lag")]), true, format!("`max_lag` needs a lag source: provider `{}` reports no replication lag; name one with `replicator = \"..\"`", res.provider(&store)));
        }
        ok &= self.check_store_cap(root, path, &store, res, "promote", |c| c.promote);
        let action = StepAction::DatastorePromote {
            store,
            max_lag,
            lag_from,
        };
        (action, ok)
    }

    /// `notify`: a valid URL.
    fn check_notify(
        &mut self,
        root: &Node,
        path: &[Seg],
        url: String,
        message: Option<String>,
        headers: Option<BTreeMap<String, String>>,
    ) -> (StepAction, bool) {
        let mut ok = true;
        if reqwest::Url::parse(&url).is_err() {
            ok = false;
            self.err(root, &with(path, &[key("url")]), false, "not a valid URL");
        }
        let action = StepAction::Notify {
            url,
            message: message.unwrap_or_default(),
            headers: headers.unwrap_or_default(),
        };
        (action, ok)
    }

    /// `exec`: a command that is not empty.
    fn check_exec(
        &mut self,
        root: &Node,
        path: &[Seg],
        command: CommandSpec,
        cwd: Option<String>,
        env: Option<BTreeMap<String, String>>,
        idempotent: Option<bool>,
    ) -> (StepAction, bool) {
        let mut ok = true;
        let empty = match &command {
            CommandSpec::Shell(s) => s.trim().is_empty(),
            CommandSpec::Argv(argv) => argv.first().is_none_or(|p| p.trim().is_empty()),
        };
        let command = command.into_argv();
        if empty {
            ok = false;
            self.err(
                root,
                &with(path, &[key("command")]),
                false,
                "command must not be empty",
            );
        }
        let action = StepAction::Exec {
            command,
            cwd,
            env: env.unwrap_or_default(),
            idempotent: idempotent.unwrap_or(false),
        };
        (action, ok)
    }

    /// `traffic.set`: weights are percentages summing to 100, to targets the router has.
    fn check_traffic_set(
        &mut self,
        root: &Node,
        path: &[Seg],
        router: String,
        split: BTreeMap<String, u32>,
        scope: Option<String>,
        res: &Resources<'_>,
    ) -> (StepAction, bool) {
        let find = |name: &str| res.get(name);
        let at = |k: &str| with(path, &[key(k)]);
        let mut ok = true;
        let action = {
            for (t, w) in &split {
                if *w > 100 {
                    ok = false;
                    self.err(
                        root,
                        &with(path, &[key("split"), key(t)]),
                        false,
                        format!("weight {w} is more than 100 (weights are percentages)"),
                    );
                }
            }
            let split = TrafficSplit::from_pairs(split);
            // Summed in u64: no weights wrap around to 100.
            if split.total() != 100 {
                ok = false;
                self.err(
                    root,
                    &at("split"),
                    false,
                    format!("weights sum to {}, not 100", split.total()),
                );
            }
            if let Some(r) = find(&router).and_then(|r| r.router.clone()) {
                let targets = r.targets();
                let caps = r.capabilities();
                for t in split.iter().map(|(t, _)| t.to_string()).collect::<Vec<_>>() {
                    if !targets.contains(&t) {
                        ok = false;
                        self.err(
                            root,
                            &with(path, &[key("split"), key(&t)]),
                            true,
                            format!(
                                "unknown target `{t}` of router `{router}` (targets: {})",
                                targets.join(", ")
                            ),
                        );
                    }
                }
                if split.iter().count() > 1 && !caps.weighted {
                    ok = false;
                    self.err(root, &at("split"), false, format!("router `{router}` (provider `{}`) cannot split traffic by weight; send 100 to one target", res.provider(&router)));
                }
                ok &= self.check_scope(root, path, scope.as_deref(), &router, &caps, res);
            }
            StepAction::TrafficSet {
                router,
                split,
                scope,
            }
        };
        (action, ok)
    }

    /// `traffic.shift`: increasing phases ending at 100, to a target the router has, a bounded gate.
    fn check_traffic_shift(
        &mut self,
        root: &Node,
        path: &[Seg],
        shift: Shift,
        res: &Resources<'_>,
    ) -> (StepAction, bool) {
        let Shift {
            router,
            to,
            phases,
            gate,
            scope,
        } = shift;
        let find = |name: &str| res.get(name);
        let at = |k: &str| with(path, &[key(k)]);
        let mut ok = true;
        let action = {
            let phases = phases.unwrap_or_else(|| vec![100]);
            if phases.is_empty() {
                ok = false;
                self.err(root, &at("phases"), false, "phases must not be empty");
            }
            for (i, w) in phases.windows(2).enumerate() {
                if w[1] <= w[0] {
                    ok = false;
                    self.err(
                        root,
                        &with(path, &[key("phases"), Seg::Index(i + 1)]),
                        false,
                        format!("phases must increase: {} after {}", w[1], w[0]),
                    );
                }
            }
            if let Some(last) = phases.last()
                && *last != 100
            {
                ok = false;
                self.err(
                    root,
                    &with(path, &[key("phases"), Seg::Index(phases.len() - 1)]),
                    false,
                    format!("phases must end at 100, not {last}"),
                );
            }
            if phases.iter().any(|p| *p == 0 || *p > 100) {
                ok = false;
                self.err(
                    root,
                    &at("phases"),
                    false,
                    "every phase must be between 1 and 100",
                );
            }
            if let Some(g) = &gate {
                ok &= self.check_gate(root, &at("gate"), g.times, g.every.map(|d| d.0));
            }
            if let Some(r) = find(&router).and_then(|r| r.router.clone()) {
                let caps = r.capabilities();
                if !r.targets().contains(&to) {
                    ok = false;
                    self.err(
                        root,
                        &at("to"),
                        false,
                        format!(
                            "unknown target `{to}` of router `{router}` (targets: {})",
                            r.targets().join(", ")
                        ),
                    );
                }
                if phases.len() > 1 && !caps.weighted {
                    ok = false;
                    self.err(root, &at("phases"), false, format!("router `{router}` (provider `{}`) cannot split traffic by weight; use `phases = [100]`", res.provider(&router)));
                }
                ok &= self.check_scope(root, path, scope.as_deref(), &router, &caps, res);
            }
            StepAction::TrafficShift {
                router,
                to,
                phases,
                gate: gate.map(GateTable::into_gate),
                scope,
            }
        };
        (action, ok)
    }

    /// Bounds on a gate (`probe.wait`, or a `gate` table at `path`): `times` in
    /// 1..=MAX_GATE_TIMES, `every` at least 1ms (a zero interval would poll in a
    /// busy loop).
    fn check_gate(
        &mut self,
        root: &Node,
        path: &[Seg],
        times: Option<u32>,
        every: Option<Duration>,
    ) -> bool {
        let mut ok = true;
        if let Some(n) = times
            && !(1..=MAX_GATE_TIMES).contains(&n)
        {
            ok = false;
            self.err(
                root,
                &with(path, &[key("times")]),
                false,
                format!("times must be between 1 and {MAX_GATE_TIMES}, not {n}"),
            );
        }
        if let Some(d) = every
            && d < MIN_GATE_EVERY
        {
            ok = false;
            self.err(
                root,
                &with(path, &[key("every")]),
                false,
                format!(
                    "every must be at least 1ms, not {} (a zero polling interval is a busy loop)",
                    crate::format_duration(d)
                ),
            );
        }
        ok
    }

    fn check_scope(
        &mut self,
        root: &Node,
        path: &[Seg],
        scope: Option<&str>,
        router: &str,
        caps: &crate::RouterCapabilities,
        res: &Resources<'_>,
    ) -> bool {
        let Some(scope) = scope else { return true };
        if caps.accepts_scope(scope) {
            return true;
        }
        let why = if caps.scoped {
            format!("accepted scopes: {}", caps.scopes.join(", "))
        } else {
            "it has no scopes".to_string()
        };
        self.err(
            root,
            &with(path, &[key("scope")]),
            false,
            format!(
                "router `{router}` (provider `{}`) does not accept scope `{scope}`: {why}",
                res.provider(router)
            ),
        );
        false
    }

    fn check_store_cap(
        &mut self,
        root: &Node,
        path: &[Seg],
        store: &str,
        res: &Resources<'_>,
        op: &str,
        has: impl Fn(&crate::StoreCapabilities) -> bool,
    ) -> bool {
        let Some(s) = res.get(store).and_then(|r| r.store.clone()) else {
            return true;
        };
        if has(&s.capabilities()) {
            return true;
        }
        self.err(
            root,
            &with(path, &[key("store")]),
            false,
            format!(
                "store `{store}` (provider `{}`) cannot {op}",
                res.provider(store)
            ),
        );
        false
    }
}

/// The built resources, looked up by name in constant time.
pub(super) struct Resources<'a> {
    by_name: HashMap<&'a str, &'a Resource>,
}

impl<'a> Resources<'a> {
    pub fn new(list: &'a [Resource]) -> Self {
        Resources {
            by_name: list.iter().map(|r| (r.name.as_str(), r)).collect(),
        }
    }

    fn get(&self, name: &str) -> Option<&'a Resource> {
        self.by_name.get(name).copied()
    }

    /// The provider of resource `name` (`?` when there is none).
    fn provider(&self, name: &str) -> &'a str {
        self.get(name).map_or("?", |r| r.provider.as_str())
    }
}
