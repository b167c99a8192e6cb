//! Validation benchmark; prints figures, asserts nothing about time (run with
//! `cargo bench -p dr-core --bench validate`).
//!
//! Validates generated plans of 2,000 and 20,000 steps (traffic, probe and
//! datastore steps over a handful of resources, each step depending on the two
//! before it), once valid and once with an error in every tenth step, and
//! prints the time each took. Validation is meant to grow linearly: ten times
//! the steps, about ten times the time.

use std::time::Instant;

use dr_core::{LoadOptions, Plan, Registry};

fn plan(n: usize, broken: bool) -> String {
    let mut t = String::from(
        "[plan]\nname = \"bench\"\nrpo = \"1m\"\n\
         [resources.front]\nprovider = \"sim.router\"\ntargets = [\"east\", \"west\", \"maint\"]\n\
         [resources.web]\nprovider = \"sim.probe\"\nfollows = \"front:west\"\n\
         [resources.db]\nprovider = \"sim.store\"\nrole = \"replica\"\n\
         [resources.link]\nprovider = \"sim.replicator\"\nlag = \"1s\"\n",
    );
    for i in 0..n {
        t.push_str(&format!("[[steps]]\nid = \"s{i}\"\n"));
        match i % 4 {
            0 => t.push_str(
                "action = \"traffic.set\"\nrouter = \"front\"\nsplit = { east = 50, west = 50 }\n",
            ),
            1 => t.push_str(
                "action = \"traffic.shift\"\nrouter = \"front\"\nto = \"west\"\nphases = [50, 100]\n\
                 gate = { probe = \"web\", times = 2, every = \"10ms\" }\n",
            ),
            2 => t.push_str("action = \"replication.check\"\nreplicator = \"link\"\n"),
            _ => t.push_str("action = \"datastore.flush\"\nstore = \"db\"\n"),
        }
        let deps: Vec<String> = (i.saturating_sub(2)..i)
            .map(|d| format!("\"s{d}\""))
            .collect();
        if broken && i % 10 == 9 {
            t.push_str("depends_on = [\"nosuch\"]\n");
        } else if !deps.is_empty() {
            t.push_str(&format!("depends_on = [{}]\n", deps.join(", ")));
        }
    }
    t
}

fn main() {
    let registry = Registry::with_builtins();
    let opts = LoadOptions::default();
    println!("validation time (Plan::parse), {} build", build());
    for n in [2_000, 20_000] {
        for broken in [false, true] {
            let text = plan(n, broken);
            let started = Instant::now();
            let result = Plan::parse("bench.toml", &text, &registry, &opts);
            let took = started.elapsed();
            let outcome = match &result {
                Ok(p) => format!("valid, {} steps", p.steps.len()),
                Err(d) => format!("{} diagnostics", d.len()),
            };
            println!(
                "  {n:>6} steps, {:<7}: {:>9.1} ms ({outcome})",
                if broken { "broken" } else { "valid" },
                took.as_secs_f64() * 1000.0
            );
            assert_eq!(result.is_err(), broken, "{:?}", result.err());
        }
    }
}

fn build() -> &'static str {
    if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    }
}
