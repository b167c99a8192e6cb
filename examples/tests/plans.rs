//! Every plan shipped in `examples/` validates against every built-in provider.

use std::path::{Path, PathBuf};

use dr_core::{LoadOptions, Plan, Registry};

fn registry() -> Registry {
    let mut r = Registry::with_builtins();
    dr_redis::register(&mut r);
    dr_cloudflare::register(&mut r);
    r
}

fn plans() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = vec![root.join("local-drill.toml")];
    for e in std::fs::read_dir(root.join("plans")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml" || x == "json") {
            out.push(p);
        }
    }
    out
}

#[test]
fn every_example_plan_validates() {
    let registry = registry();
    // `${env:..}` references get placeholder values: validation must not need real secrets.
    let opts = LoadOptions::with_env(|name| Some(format!("placeholder-{}", name.to_lowercase())));
    let plans = plans();
    assert!(plans.len() >= 2, "{plans:?}");
    for p in plans {
        if let Err(d) = Plan::load_with(&p, &registry, &opts) {
            panic!("{} does not validate:\n{d}", p.display());
        }
    }
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
