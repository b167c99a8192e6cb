//! What a failover meant to leave behind, read back.

use serde::Serialize;

use crate::plan::StepAction;
use crate::{Plan, Role, TrafficSplit};

/// One finding of the end-state check.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct EndStateFinding {
    /// `traffic`, `role` or `health`.
    pub check: &'static str,
    /// The router, store or probe read.
    pub resource: String,
    /// Whether it is as the plan left it.
    pub ok: bool,
    /// What was read.
    pub message: String,
}

impl EndStateFinding {
    fn new(check: &'static str, resource: String, (ok, message): (bool, String)) -> Self {
        EndStateFinding {
            check,
            resource,
            ok,
            message,
        }
    }
}

/// What `plan` meant to leave behind once it succeeded, read back: each router
/// on the split of its last traffic step (per scope), each promoted store a
/// primary, each gate's and wait's probe healthy. Reads only.
pub async fn end_state(plan: &Plan) -> Vec<EndStateFinding> {
    let intent = Intent::of(plan);
    let mut findings = Vec::new();
    for (router, scope, want) in intent.last_split {
        let Some(r) = plan.resource(&router).and_then(|r| r.router()) else {
            continue;
        };
        let read = match r.current(scope.as_deref()).await {
            Ok(have) if have.same_as(&want) => (true, format!("on {have}")),
            Ok(have) => (false, format!("on {have}, the plan left it on {want}")),
            Err(e) => (false, format!("cannot read the split: {e}")),
        };
        findings.push(EndStateFinding::new("traffic", router, read));
    }
    for store in intent.promoted {
        let Some(s) = plan.resource(&store).and_then(|r| r.store()) else {
            continue;
        };
        let read = match s.role().await {
            Ok(Role::Primary) => (true, "primary".to_string()),
            Ok(role) => (false, format!("{role}, the plan promoted it")),
            Err(e) => (false, format!("cannot read the role: {e}")),
        };
        findings.push(EndStateFinding::new("role", store, read));
    }
    for probe in intent.probes {
        let Some(p) = plan.resource(&probe).and_then(|r| r.probe()) else {
            continue;
        };
        let read = match p.probe().await {
            Ok(h) if h.is_healthy() => (true, "healthy".to_string()),
            Ok(h) => (false, format!("{}: {}", h.status, h.detail)),
            Err(e) => (false, format!("cannot probe: {e}")),
        };
        findings.push(EndStateFinding::new("health", probe, read));
    }
    findings
}

/// What the plan's steps mean to leave behind.
#[derive(Default)]
struct Intent {
    /// (router, scope, split of its last traffic step for that scope)
    last_split: Vec<(String, Option<String>, TrafficSplit)>,
    promoted: Vec<String>,
    probes: Vec<String>,
}

impl Intent {
    fn of(plan: &Plan) -> Self {
        let mut i = Intent::default();
        for step in &plan.steps {
            match &step.action {
                StepAction::TrafficSet {
                    router,
                    split,
                    scope,
                } => i.set_last(router, scope, split.clone()),
                StepAction::TrafficShift {
                    router,
                    to,
                    gate,
                    scope,
                    ..
                } => {
                    i.set_last(router, scope, TrafficSplit::all_to(to));
                    if let Some(g) = gate {
                        i.probes.push(g.probe.clone());
                    }
                }
                StepAction::ProbeWait(g) => i.probes.push(g.probe.clone()),
                StepAction::DatastorePromote { store, .. } => i.promoted.push(store.clone()),
                _ => {}
            }
        }
        i.probes.sort();
        i.probes.dedup();
        i
    }

    fn set_last(&mut self, router: &str, scope: &Option<String>, split: TrafficSplit) {
        self.last_split
            .retain(|(r, s, _)| !(r == router && s == scope));
        self.last_split
            .push((router.to_string(), scope.clone(), split));
    }
}
