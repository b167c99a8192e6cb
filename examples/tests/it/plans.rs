//! Every plan shipped in `examples/` validates against the providers of this
//! workspace (the `dr` binary's, plus the `postgres` plugin).

use std::path::{Path, PathBuf};

use dr_core::{LoadOptions, Plan, Registry};

fn registry() -> Registry {
    let mut r = Registry::with_builtins();
    dr_redis::register(&mut r);
    dr_cloudflare::register(&mut r);
    dr_aws::register(&mut r);
    dr_azure::register(&mut r);
    dr_postgres::register(&mut r);
    r
}

fn plans() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = vec![root.join("local-drill.toml")];
    // `plans/NAME.toml`, and `plans/PLAYBOOK/{failover,failback}.toml`.
    let mut dirs = vec![root.join("plans")];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "toml" || x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// How many `${env:NAME}` references `text` holds (`$${` is a literal `${`).
fn env_references(text: &str) -> usize {
    text.replace("$${", "").matches("${env:").count()
}

#[test]
fn every_example_plan_validates_without_its_secrets() {
    let registry = registry();
    // As `dr validate --allow-unset-env` in a CI that has none of the plans'
    // variables: every `${env:..}` is unset, a placeholder stands in, and each
    // reference is a warning. No fake values, so the placeholders' rules are
    // what is tested (a placeholder a setting rejects is an error here).
    let opts = LoadOptions::with_env(|_| None).allow_unset_env();
    let plans = plans();
    assert!(plans.len() >= 2, "{plans:?}");
    let mut with_env = 0;
    for p in plans {
        let plan = Plan::load_with(&p, &registry, &opts)
            .unwrap_or_else(|d| panic!("{} does not validate:\n{d}", p.display()));
        let text = std::fs::read_to_string(&p).unwrap();
        let unset: Vec<_> = plan
            .warnings
            .iter()
            .filter(|w| w.message.contains("is not set"))
            .collect();
        assert_eq!(
            unset.len(),
            env_references(&text),
            "{}: one warning per `${{env:..}}` reference: {unset:#?}",
            p.display()
        );
        for w in &unset {
            assert!(
                text[w.span.clone()].starts_with("${env:"),
                "{}: the warning points at the reference: {w}",
                p.display()
            );
        }
        with_env += usize::from(!unset.is_empty());
        // Without the option the same plan needs its variables.
        if !unset.is_empty() {
            let strict = LoadOptions::with_env(|_| None);
            let d = Plan::load_with(&p, &registry, &strict).unwrap_err();
            assert!(d.to_string().contains("is not set"), "{d}");
        }
    }
    assert!(with_env >= 1, "no example plan uses `${{env:..}}` any more");
}

#[test]
fn the_local_drill_is_the_demo_plan() {
    let drill =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("local-drill.toml"))
            .unwrap();
    assert_eq!(drill, dr_examples::LOCAL_DRILL);
    let plan = Plan::parse(
        "local-drill.toml",
        &drill,
        &registry(),
        &LoadOptions::default(),
    )
    .unwrap();
    assert_eq!(plan.name, "local-drill");
    assert!(
        plan.steps
            .iter()
            .any(|s| s.on_failure == dr_core::plan::OnFailure::Rollback)
    );
}
