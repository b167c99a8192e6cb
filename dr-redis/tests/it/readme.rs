//! The README's example plan validates (with its `${env:..}` unset, as in a CI
//! without secrets), and turns invalid once its caches are marked `managed`.

use dr_core::{LoadOptions, Plan, Registry};

fn registry() -> Registry {
    let mut r = Registry::new();
    dr_redis::register(&mut r);
    r
}

/// The first ```toml block of the README, as a whole plan.
fn readme_plan() -> String {
    let readme = include_str!("../../README.md");
    let start = readme.find("```toml\n").expect("a toml block") + "```toml\n".len();
    let end = start + readme[start..].find("```").expect("the block ends");
    format!("[plan]\nname = \"readme\"\n\n{}", &readme[start..end])
}

#[test]
fn the_readme_example_plan_validates() {
    let text = readme_plan();
    assert!(
        text.contains("rediss://") && text.contains("ca_file"),
        "{text}"
    );
    let opts = LoadOptions::with_env(|_| None).allow_unset_env();
    Plan::parse("README.md", &text, &registry(), &opts)
        .unwrap_or_else(|d| panic!("the README's plan does not validate:\n{d}\n{text}"));
}

#[test]
fn the_readme_example_plan_is_rejected_for_managed_caches() {
    let text = readme_plan().replace(
        "provider = \"redis\"\n",
        "provider = \"redis\"\nmanaged = true\n",
    );
    let opts = LoadOptions::with_env(|_| None).allow_unset_env();
    let d = Plan::parse("README.md", &text, &registry(), &opts).unwrap_err();
    let shown = d.to_string();
    assert!(shown.contains("cannot promote"), "{shown}");
    assert!(shown.contains("cannot fence"), "{shown}");
}
