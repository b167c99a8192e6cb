//! `dr status`, `dr check` and `dr plan` read resources concurrently, at most
//! the plan's `max_parallel` at once (hardening round 3, item 23). Counted, not
//! timed: a gauge router records how many reads were in flight at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use dr_core::executor::{Executor, RunOptions};
use dr_core::{
    LoadOptions, Plan, ProviderError, Registry, RouterCapabilities, TrafficRouter, TrafficSplit,
};

#[derive(Debug, Default)]
struct Gauge {
    now: AtomicUsize,
    most: AtomicUsize,
    reads: AtomicUsize,
}

#[derive(Debug)]
struct GaugeRouter(Arc<Gauge>);

#[async_trait]
impl TrafficRouter for GaugeRouter {
    fn targets(&self) -> Vec<String> {
        vec!["east".into(), "west".into()]
    }

    fn capabilities(&self) -> RouterCapabilities {
        RouterCapabilities::weighted()
    }

    async fn current(&self, _scope: Option<&str>) -> Result<TrafficSplit, ProviderError> {
        let g = &self.0;
        g.reads.fetch_add(1, Ordering::SeqCst);
        let now = g.now.fetch_add(1, Ordering::SeqCst) + 1;
        g.most.fetch_max(now, Ordering::SeqCst);
        // Long enough for the other reads to start when they are concurrent.
        tokio::time::sleep(Duration::from_millis(100)).await;
        g.now.fetch_sub(1, Ordering::SeqCst);
        Ok(TrafficSplit::all_to("east"))
    }

    async fn apply(
        &self,
        _split: &TrafficSplit,
        _scope: Option<&str>,
    ) -> Result<(), ProviderError> {
        Err(ProviderError::invalid("read-only gauge"))
    }
}

fn setup(max_parallel: usize, routers: usize) -> (Plan, Registry, Arc<Gauge>) {
    let gauge = Arc::new(Gauge::default());
    let mut registry = Registry::with_builtins();
    let g = gauge.clone();
    registry.router("gauge", move |_| {
        Ok(Arc::new(GaugeRouter(g.clone())) as Arc<dyn TrafficRouter>)
    });
    let mut t = format!("[plan]\nname = \"gauge\"\nmax_parallel = {max_parallel}\n");
    for i in 0..routers {
        t.push_str(&format!("[resources.r{i}]\nprovider = \"gauge\"\n"));
    }
    for i in 0..routers {
        t.push_str(&format!(
            "[[steps]]\nid = \"s{i}\"\naction = \"traffic.set\"\nrouter = \"r{i}\"\nsplit = {{ west = 100 }}\n"
        ));
    }
    let plan = Plan::parse(
        "gauge.toml",
        &t,
        &registry,
        &LoadOptions::with_env(|_| None),
    )
    .unwrap_or_else(|d| panic!("{d}"));
    (plan, registry, gauge)
}

fn most_at_once(g: &Gauge) -> (usize, usize) {
    let most = g.most.swap(0, Ordering::SeqCst);
    let reads = g.reads.swap(0, Ordering::SeqCst);
    (most, reads)
}

#[tokio::test]
async fn status_check_and_plan_read_up_to_max_parallel_at_once() {
    let (plan, registry, gauge) = setup(4, 12);
    let dir = tempfile::tempdir().unwrap();

    let rows = dr_core::status::collect(&plan, &registry).await;
    assert!(rows.iter().all(|r| r.error.is_none()), "{rows:?}");
    assert_eq!(most_at_once(&gauge), (4, 12), "status");

    let findings = dr_core::check::check(&plan).await;
    assert!(dr_core::check::ready(&findings), "{findings:?}");
    assert_eq!(most_at_once(&gauge), (4, 12), "check");

    let preview = Executor::new(plan, RunOptions::new(dir.path()))
        .preview()
        .await;
    assert_eq!(preview.len(), 12);
    assert!(
        preview
            .iter()
            .all(|p| p.change.contains("east 100 -> west 100")),
        "{preview:?}"
    );
    assert_eq!(most_at_once(&gauge), (4, 12), "plan");
}
