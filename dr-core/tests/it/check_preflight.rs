//! `dr check` runs every provider action's read-only `preflight` (issue 23
//! point 5): its findings become `action_preflight` findings of the step, an
//! error is a not-ok finding naming the provider, the step, the operation and
//! the request id, an action without a preflight adds nothing, and the
//! preflights run at most the plan's `max_parallel` at once (counted). A link a
//! `replication.reverse` step reverses is asked its `reverse_preflight` the
//! same way (issue 26).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use dr_core::check::Finding;
use dr_core::{
    Action, ConfigError, ErrorKind, LoadOptions, Plan, Preflight, ProviderError, Registry,
    ReplicationState, ReplicationStatus, Replicator, ReplicatorCapabilities,
};

#[derive(Debug, Default)]
struct Gauge {
    now: AtomicUsize,
    most: AtomicUsize,
    calls: AtomicUsize,
    runs: AtomicUsize,
}

/// An action whose preflight answers as its `mode` setting says.
#[derive(Debug)]
struct Scripted {
    mode: String,
    gauge: Arc<Gauge>,
}

#[async_trait]
impl Action for Scripted {
    fn describe(&self) -> String {
        format!("scripted {}", self.mode)
    }

    async fn run(&self) -> Result<serde_json::Value, ProviderError> {
        self.gauge.runs.fetch_add(1, Ordering::SeqCst);
        Ok(serde_json::Value::Null)
    }

    async fn preflight(&self) -> Result<Vec<Preflight>, ProviderError> {
        let g = &self.gauge;
        g.calls.fetch_add(1, Ordering::SeqCst);
        let now = g.now.fetch_add(1, Ordering::SeqCst) + 1;
        g.most.fetch_max(now, Ordering::SeqCst);
        // Long enough for the other preflights to start when they are concurrent.
        tokio::time::sleep(Duration::from_millis(100)).await;
        g.now.fetch_sub(1, Ordering::SeqCst);
        match self.mode.as_str() {
            "ok" => Ok(vec![
                Preflight::ok("group `web` exists"),
                Preflight::ok("max size 6 >= desired 4"),
            ]),
            "bad" => Ok(vec![Preflight::not_ok("max size 2 < desired 4")]),
            "err" => {
                Err(ProviderError::new(ErrorKind::Auth, "access denied").with_request_id("req-7"))
            }
            "secret" => Ok(vec![Preflight::ok("token is hunter2-secret")]),
            _ => Ok(Vec::new()),
        }
    }
}

/// An action that keeps the default preflight.
#[derive(Debug)]
struct Plain;

#[async_trait]
impl Action for Plain {
    fn describe(&self) -> String {
        "plain".into()
    }

    async fn run(&self) -> Result<serde_json::Value, ProviderError> {
        Ok(serde_json::Value::Null)
    }
}

fn setup(max_parallel: usize, steps: &[(&str, &str)]) -> (Plan, Arc<Gauge>) {
    let gauge = Arc::new(Gauge::default());
    let mut registry = Registry::with_builtins();
    let g = gauge.clone();
    registry.action("test.scripted", move |s| {
        let mode = s
            .get("mode")
            .and_then(|v| v.as_str())
            .ok_or_else(|| ConfigError::key("mode", "expected a string"))?
            .to_string();
        Ok(Arc::new(Scripted {
            mode,
            gauge: g.clone(),
        }) as Arc<dyn Action>)
    });
    registry.action("test.plain", |_| Ok(Arc::new(Plain) as Arc<dyn Action>));
    let mut t = format!("[plan]\nname = \"pre\"\nmax_parallel = {max_parallel}\n");
    for (id, mode) in steps {
        if *mode == "plain" {
            t.push_str(&format!(
                "[[steps]]\nid = \"{id}\"\naction = \"test.plain\"\n"
            ));
        } else {
            t.push_str(&format!(
                "[[steps]]\nid = \"{id}\"\naction = \"test.scripted\"\nmode = \"{mode}\"\n"
            ));
        }
    }
    let env = |k: &str| (k == "TOKEN").then(|| "hunter2-secret".to_string());
    let t = t.replace(
        "mode = \"secret\"",
        "mode = \"secret\"\ntoken = \"${env:TOKEN}\"",
    );
    let plan = Plan::parse("pre.toml", &t, &registry, &LoadOptions::with_env(env))
        .unwrap_or_else(|d| panic!("{d}"));
    (plan, gauge)
}

fn preflights(findings: &[Finding]) -> Vec<&Finding> {
    findings
        .iter()
        .filter(|f| f.check == "action_preflight")
        .collect()
}

#[tokio::test]
async fn each_preflight_item_is_a_finding_of_its_step_and_an_error_is_not_ok() {
    let (plan, gauge) = setup(
        4,
        &[
            ("scale", "ok"),
            ("start", "bad"),
            ("denied", "err"),
            ("plain", "plain"),
        ],
    );
    let findings = dr_core::check::check(&plan).await;
    assert!(!dr_core::check::ready(&findings));
    let pre = preflights(&findings);
    let seen: Vec<(&str, bool, &str)> = pre
        .iter()
        .map(|f| (f.step.as_deref().unwrap(), f.ok, f.message.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("scale", true, "group `web` exists"),
            ("scale", true, "max size 6 >= desired 4"),
            ("start", false, "max size 2 < desired 4"),
            (
                "denied",
                false,
                "preflight of `test.scripted` failed: test.scripted resource `denied`: \
                 preflight failed: access denied [auth, request id req-7]"
            ),
        ],
        "{findings:#?}"
    );
    assert!(pre.iter().all(|f| f.resource.is_none()));
    // Read only: nothing ran.
    assert_eq!(gauge.runs.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn preflights_run_up_to_max_parallel_at_once() {
    let steps: Vec<(String, &str)> = (0..8).map(|i| (format!("s{i}"), "none")).collect();
    let steps: Vec<(&str, &str)> = steps.iter().map(|(s, m)| (s.as_str(), *m)).collect();
    let (plan, gauge) = setup(3, &steps);
    let findings = dr_core::check::check(&plan).await;
    assert!(
        preflights(&findings).is_empty(),
        "nothing to check: {findings:#?}"
    );
    assert_eq!(gauge.calls.load(Ordering::SeqCst), 8);
    assert_eq!(gauge.most.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_preflight_message_is_redacted() {
    let (plan, _) = setup(1, &[("tok", "secret")]);
    let findings = dr_core::check::check(&plan).await;
    let pre = preflights(&findings);
    assert_eq!(pre.len(), 1, "{findings:#?}");
    assert!(!pre[0].message.contains("hunter2"), "{findings:#?}");
}

/// A link whose `reverse_preflight` answers as its `mode` setting says,
/// counting its calls.
#[derive(Debug)]
struct Link {
    mode: String,
    calls: Arc<AtomicUsize>,
}

#[async_trait]
impl Replicator for Link {
    fn capabilities(&self) -> ReplicatorCapabilities {
        ReplicatorCapabilities::full()
    }
    async fn status(&self) -> Result<ReplicationStatus, ProviderError> {
        Ok(ReplicationStatus::new(ReplicationState::Replicating, None))
    }
    async fn stop(&self) -> Result<(), ProviderError> {
        Ok(())
    }
    async fn reverse(&self) -> Result<(), ProviderError> {
        Ok(())
    }
    async fn reverse_preflight(&self) -> Result<Vec<Preflight>, ProviderError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.mode.as_str() {
            "carried" => Ok(vec![Preflight::ok("network: the subnet of eastus is set")]),
            "stuck" => Ok(vec![
                Preflight::ok("data encryption: service-managed keys"),
                Preflight::not_ok("network: no subnet in eastus (set `reverse_subnet`)"),
            ]),
            "err" => Err(ProviderError::new(ErrorKind::Auth, "access denied")),
            _ => Ok(Vec::new()),
        }
    }
}

fn links_plan(links: &[(&str, &str)], steps: &[(&str, &str, &str)]) -> (Plan, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut registry = Registry::with_builtins();
    let c = calls.clone();
    registry.replicator("test.link", move |s| {
        let mode = s
            .get("mode")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        Ok(Arc::new(Link {
            mode,
            calls: c.clone(),
        }) as Arc<dyn Replicator>)
    });
    let mut t = String::from("[plan]\nname = \"reprotect\"\n");
    for (name, mode) in links {
        t.push_str(&format!(
            "[resources.{name}]\nprovider = \"test.link\"\nmode = \"{mode}\"\n"
        ));
    }
    for (id, action, link) in steps {
        t.push_str(&format!(
            "[[steps]]\nid = \"{id}\"\naction = \"{action}\"\nreplicator = \"{link}\"\n"
        ));
    }
    let plan = Plan::parse("reprotect.toml", &t, &registry, &LoadOptions::default())
        .unwrap_or_else(|d| panic!("{d}"));
    (plan, calls)
}

/// Every link a `replication.reverse` step reverses passes its replicator's
/// `reverse_preflight` (once per link): each item a finding of the step with
/// the replicator as the resource; an error is not ok; a link that is only
/// stopped is not asked.
#[tokio::test]
async fn a_reversed_links_reverse_preflight_is_a_finding_of_its_step() {
    let (plan, calls) = links_plan(
        &[("db", "stuck"), ("cache", "carried"), ("denied", "err")],
        &[
            ("reverse-db", "replication.reverse", "db"),
            ("reverse-db-again", "replication.reverse", "db"),
            ("reverse-cache", "replication.reverse", "cache"),
            ("reverse-denied", "replication.reverse", "denied"),
        ],
    );
    let findings = dr_core::check::check(&plan).await;
    assert!(!dr_core::check::ready(&findings));
    let seen: Vec<(&str, &str, bool, &str)> = preflights(&findings)
        .iter()
        .map(|f| {
            (
                f.step.as_deref().unwrap(),
                f.resource.as_deref().unwrap(),
                f.ok,
                f.message.as_str(),
            )
        })
        .collect();
    let stuck = "network: no subnet in eastus (set `reverse_subnet`)";
    assert_eq!(
        seen,
        [
            (
                "reverse-db",
                "db",
                true,
                "data encryption: service-managed keys"
            ),
            ("reverse-db", "db", false, stuck),
            (
                "reverse-db-again",
                "db",
                true,
                "data encryption: service-managed keys"
            ),
            ("reverse-db-again", "db", false, stuck),
            (
                "reverse-cache",
                "cache",
                true,
                "network: the subnet of eastus is set"
            ),
            (
                "reverse-denied",
                "denied",
                false,
                "reverse preflight of `denied` failed: test.link resource `denied`: \
                 reverse_preflight failed: access denied [auth]"
            ),
        ],
        "{findings:#?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3, "once per link");

    let (plan, calls) = links_plan(&[("db", "stuck")], &[("stop-db", "replication.stop", "db")]);
    let findings = dr_core::check::check(&plan).await;
    assert!(preflights(&findings).is_empty(), "{findings:#?}");
    assert!(dr_core::check::ready(&findings), "{findings:#?}");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "a stop does not ask");
}
