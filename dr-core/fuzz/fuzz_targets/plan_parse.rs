//! Feeds arbitrary bytes to `Plan::parse`, read as a TOML plan and as a JSON plan,
//! with the built-in and sim providers registered. Parsing and validation must
//! never panic, and every diagnostic must point inside the text.
#![no_main]

use std::sync::OnceLock;

use dr_core::{LoadOptions, Plan, Registry};
use libfuzzer_sys::fuzz_target;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    // `with_builtins` registers `http`, `tcp` and the `sim.*` providers.
    REGISTRY.get_or_init(Registry::with_builtins)
}

fn options() -> &'static LoadOptions {
    static OPTIONS: OnceLock<LoadOptions> = OnceLock::new();
    OPTIONS.get_or_init(|| LoadOptions::with_env(|name| (name == "SET").then(|| "x".into())))
}

fn check(name: &str, text: &str) {
    if let Err(diags) = Plan::parse(name, text, registry(), options()) {
        let lines = text.split('\n').count();
        for d in diags.iter() {
            assert!(d.line >= 1 && d.column >= 1, "{d}");
            assert!(d.line <= lines + 1, "{d} (text has {lines} lines)");
            assert!(d.span.start <= text.len(), "{d}: span {:?}", d.span);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check("fuzz.toml", &text);
    check("fuzz.json", &text);
});
