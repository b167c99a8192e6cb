//! Embedding `dr` in a program of your own: register your own providers next
//! to the built-in ones, load a plan from a string, run it, watch the events.
//!
//! ```text
//! cargo run -p dr-examples --example embed
//! ```
//!
//! The two providers here live in this file: `acme.balancer`, an in-process
//! weighted load balancer (a [`TrafficRouter`]), and `acme.warmup`, a probe that
//! reports degraded until it has been asked a few times (a [`HealthProbe`]), so
//! the shift's health gate visibly waits before it passes.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use dr_core::executor::{Event, Executor, RunOptions};
use dr_core::{
    ConfigError, Health, HealthProbe, LoadOptions, Plan, ProviderError, Registry,
    RouterCapabilities, Settings, TrafficRouter, TrafficSplit,
};

/// An in-process weighted load balancer: the weights live in memory.
#[derive(Debug)]
struct AcmeBalancer {
    backends: Vec<String>,
    weights: Mutex<TrafficSplit>,
}

impl AcmeBalancer {
    fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let backends: Vec<String> = settings
            .get("backends")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .ok_or_else(|| ConfigError::key("backends", "expected a list of backend names"))?;
        let first = backends
            .first()
            .ok_or_else(|| ConfigError::key("backends", "needs at least one backend"))?;
        Ok(AcmeBalancer {
            weights: Mutex::new(TrafficSplit::all_to(first.clone())),
            backends,
        })
    }
}

#[async_trait]
impl TrafficRouter for AcmeBalancer {
    fn targets(&self) -> Vec<String> {
        self.backends.clone()
    }

    fn capabilities(&self) -> RouterCapabilities {
        RouterCapabilities::weighted()
    }

    async fn current(&self, scope: Option<&str>) -> Result<TrafficSplit, ProviderError> {
        if let Some(s) = scope {
            return Err(ProviderError::invalid(format!(
                "acme.balancer has no scope `{s}`"
            )));
        }
        Ok(self.weights.lock().expect("weights lock").clone())
    }

    async fn apply(&self, split: &TrafficSplit, scope: Option<&str>) -> Result<(), ProviderError> {
        if let Some(s) = scope {
            return Err(ProviderError::invalid(format!(
                "acme.balancer has no scope `{s}`"
            )));
        }
        split
            .check(&self.backends)
            .map_err(ProviderError::invalid)?;
        *self.weights.lock().expect("weights lock") = split.clone();
        Ok(())
    }
}

/// Degraded for the first `warmup` probes, healthy after. (A gate between
/// traffic phases waits through `degraded`; `unhealthy` fails it at once.)
#[derive(Debug)]
struct AcmeWarmup {
    warmup: u32,
    asked: AtomicU32,
}

#[async_trait]
impl HealthProbe for AcmeWarmup {
    async fn probe(&self) -> Result<Health, ProviderError> {
        let n = self.asked.fetch_add(1, Ordering::SeqCst);
        Ok(if n < self.warmup {
            Health::degraded(format!("warming up ({}/{})", n + 1, self.warmup))
        } else {
            Health::healthy(Duration::from_millis(1))
        })
    }
}

/// What a provider crate exposes: one `register` that maps provider names to factories.
fn register(registry: &mut Registry) {
    registry.router("acme.balancer", |settings: &Settings| {
        Ok(Arc::new(AcmeBalancer::from_settings(settings)?))
    });
    registry.probe("acme.warmup", |settings: &Settings| {
        let warmup = match settings.get("warmup") {
            None => 2,
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| ConfigError::key("warmup", "expected a small integer"))?,
        };
        Ok(Arc::new(AcmeWarmup {
            warmup,
            asked: AtomicU32::new(0),
        }))
    });
}

const PLAN: &str = r#"
[plan]
name = "acme-blue-green"
rto = "30s"

[resources.lb]
provider = "acme.balancer"
backends = ["blue", "green"]

[resources.green_ready]
provider = "acme.warmup"
warmup = 3

[resources.db]
provider = "sim.store"
role = "replica"
lag = "1s"

[[steps]]
id = "promote"
action = "datastore.promote"
store = "db"
max_lag = "5s"

[[steps]]
id = "shift"
action = "traffic.shift"
router = "lb"
to = "green"
phases = [10, 50, 100]
gate = { probe = "green_ready", times = 1, every = "50ms", timeout = "5s" }
depends_on = ["promote"]
on_failure = "rollback"
"#;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut registry = Registry::with_builtins(); // http, tcp, sim.*
    register(&mut registry); // and ours

    let plan = match Plan::parse("acme.toml", PLAN, &registry, &LoadOptions::default()) {
        Ok(p) => p,
        Err(diagnostics) => {
            eprintln!("{diagnostics}");
            std::process::exit(2);
        }
    };

    let state_dir = std::env::temp_dir().join(format!("dr-embed-{}", std::process::id()));
    let opts = RunOptions::new(&state_dir)
        .with_operator("embed-example")
        .on_event(|e: &Event| match serde_json::to_string(e) {
            Ok(line) => println!("{line}"),
            Err(err) => eprintln!("event: {err}"),
        });
    let outcome = Executor::new(plan, opts).run().await?;
    println!();
    println!("{}", outcome.report.to_markdown());
    std::fs::remove_dir_all(&state_dir).ok();
    if outcome.status != dr_core::executor::RunStatus::Succeeded {
        std::process::exit(1);
    }
    Ok(())
}
