//! Property tests: whatever text is handed to `Plan::parse` (TOML or JSON),
//! parsing and validation never panic, and every diagnostic points inside the
//! text (line >= 1, column >= 1, within the text's lines and that line's
//! characters).
//!
//! Two sources of input: arbitrary strings and bytes, and a valid plan skeleton
//! (every built-in action on the sim providers) mutated with random keys and
//! values: integers past 64 bits, NaN and infinities, huge durations, long and
//! non-ASCII strings, `${env:..}` references, nested arrays and tables. Each
//! structured case is checked as TOML and as JSON, whole and cut short.
//!
//! `cargo fuzz` (dr-core/fuzz) runs the same check for millions of inputs.

use std::sync::OnceLock;

use dr_core::{LoadOptions, Plan, Registry};
use proptest::prelude::*;
use serde_json::json;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    // `http`, `tcp` and the `sim.*` providers.
    REGISTRY.get_or_init(Registry::with_builtins)
}

fn options() -> LoadOptions {
    LoadOptions::with_env(|name| (name == "SET").then(|| "value".to_string()))
}

/// Parses `text` as `name`; on errors, checks that each one is placed inside the text.
fn check(name: &str, text: &str) -> Result<(), TestCaseError> {
    let Err(diags) = Plan::parse(name, text, registry(), &options()) else {
        return Ok(());
    };
    prop_assert!(!diags.is_empty());
    let lines: Vec<&str> = text.split('\n').collect();
    for d in diags.iter() {
        prop_assert!(d.line >= 1 && d.column >= 1, "{d}");
        prop_assert!(
            d.line <= lines.len(),
            "{d}: the text has {} lines",
            lines.len()
        );
        let width = lines[d.line - 1].chars().count();
        prop_assert!(
            d.column <= width + 1,
            "{d}: line {} is {width} wide",
            d.line
        );
        prop_assert!(d.span.start <= text.len(), "{d}: span {:?}", d.span);
        prop_assert_eq!(&d.file, name);
        prop_assert!(!d.message.is_empty(), "{}", d);
    }
    let _ = diags.to_string();
    Ok(())
}

/// Checks `text` as TOML and as JSON, whole and cut at `cut` (a fraction).
fn check_both(text: &str, cut: f64) -> Result<(), TestCaseError> {
    check("plan.toml", text)?;
    check("plan.json", text)?;
    let mut at = ((text.len() as f64) * cut) as usize;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    check("cut.toml", &text[..at])?;
    check("cut.json", &text[..at])
}

// ---------------------------------------------------------------------------
// A plan as a tree, rendered to TOML and to JSON.
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum V {
    Bool(bool),
    Int(i64),
    /// A number written as given: (TOML text, JSON text).
    Num(String, String),
    Str(String),
    Arr(Vec<V>),
    Table(Vec<(String, V)>),
}

impl V {
    fn from_json(v: &serde_json::Value) -> V {
        match v {
            serde_json::Value::Null => V::Str(String::new()),
            serde_json::Value::Bool(b) => V::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => V::Int(i),
                None => V::Num(n.to_string(), n.to_string()),
            },
            serde_json::Value::String(s) => V::Str(s.clone()),
            serde_json::Value::Array(a) => V::Arr(a.iter().map(V::from_json).collect()),
            serde_json::Value::Object(m) => V::Table(
                m.iter()
                    .map(|(k, v)| (k.clone(), V::from_json(v)))
                    .collect(),
            ),
        }
    }

    fn json(&self) -> String {
        match self {
            V::Bool(b) => b.to_string(),
            V::Int(i) => i.to_string(),
            V::Num(_, j) => j.clone(),
            V::Str(s) => quote(s),
            V::Arr(items) => {
                let items: Vec<String> = items.iter().map(V::json).collect();
                format!("[{}]", items.join(", "))
            }
            V::Table(entries) => {
                let entries: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("{}: {}", quote(k), v.json()))
                    .collect();
                format!("{{\n{}\n}}", entries.join(",\n"))
            }
        }
    }

    /// The value inline, as TOML writes it on one line.
    fn toml_inline(&self) -> String {
        match self {
            V::Bool(b) => b.to_string(),
            V::Int(i) => i.to_string(),
            V::Num(t, _) => t.clone(),
            V::Str(s) => quote(s),
            V::Arr(items) => {
                let items: Vec<String> = items.iter().map(V::toml_inline).collect();
                format!("[{}]", items.join(", "))
            }
            V::Table(entries) => {
                let entries: Vec<String> = entries
                    .iter()
                    .map(|(k, v)| format!("{} = {}", quote(k), v.toml_inline()))
                    .collect();
                format!("{{ {} }}", entries.join(", "))
            }
        }
    }

    /// A whole document: plain keys first, then `[table]`s, `[table."sub"]`s
    /// for tables of tables, and `[[array]]`s of tables.
    fn toml_document(&self) -> String {
        let V::Table(entries) = self else {
            return format!("x = {}\n", self.toml_inline());
        };
        let mut head = String::new();
        let mut sections = String::new();
        for (k, v) in entries {
            match v {
                V::Table(inner) if inner.iter().all(|(_, v)| matches!(v, V::Table(_))) => {
                    for (sub, v) in inner {
                        sections.push_str(&format!("\n[{}.{}]\n", quote(k), quote(sub)));
                        sections.push_str(&toml_lines(v));
                    }
                    if inner.is_empty() {
                        sections.push_str(&format!("\n[{}]\n", quote(k)));
                    }
                }
                V::Table(_) => {
                    sections.push_str(&format!("\n[{}]\n", quote(k)));
                    sections.push_str(&toml_lines(v));
                }
                V::Arr(items)
                    if !items.is_empty() && items.iter().all(|v| matches!(v, V::Table(_))) =>
                {
                    for item in items {
                        sections.push_str(&format!("\n[[{}]]\n", quote(k)));
                        sections.push_str(&toml_lines(item));
                    }
                }
                _ => head.push_str(&format!("{} = {}\n", quote(k), v.toml_inline())),
            }
        }
        head + &sections
    }

    /// Every table in the tree, by path of keys/indices.
    fn tables(&self, path: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        match self {
            V::Table(entries) => {
                out.push(path.clone());
                for (i, (_, v)) in entries.iter().enumerate() {
                    path.push(i);
                    v.tables(path, out);
                    path.pop();
                }
            }
            V::Arr(items) => {
                for (i, v) in items.iter().enumerate() {
                    path.push(i);
                    v.tables(path, out);
                    path.pop();
                }
            }
            _ => {}
        }
    }

    fn at_mut(&mut self, path: &[usize]) -> &mut V {
        let Some((first, rest)) = path.split_first() else {
            return self;
        };
        match self {
            V::Table(entries) => entries[*first].1.at_mut(rest),
            V::Arr(items) => items[*first].at_mut(rest),
            _ => unreachable!("paths come from tables()"),
        }
    }
}

/// The `key = value` lines of a table's entries.
fn toml_lines(v: &V) -> String {
    match v {
        V::Table(entries) => entries
            .iter()
            .map(|(k, v)| format!("{} = {}\n", quote(k), v.toml_inline()))
            .collect(),
        other => format!("x = {}\n", other.toml_inline()),
    }
}

/// A quoted string, valid in both JSON and TOML.
fn quote(s: &str) -> String {
    serde_json::to_string(s)
        .unwrap()
        .replace('\u{7f}', "\\u007f")
}

/// A valid plan using every built-in action on the sim providers.
fn skeleton() -> V {
    V::from_json(&json!({
        "plan": {
            "name": "prop",
            "description": "a plan to mutate",
            "rto": "15m",
            "rpo": "1m",
            "max_parallel": 4,
            "safety": {"never_route_to_unhealthy": true, "min_healthy_targets": 1}
        },
        "resources": {
            "front": {
                "provider": "sim.router",
                "targets": ["east", "west", "maint"],
                "initial": {"east": 100},
                "health": {"west": "web"},
                "latency": "5ms"
            },
            "web": {"provider": "sim.probe", "follows": "front:west"},
            "db": {"provider": "sim.store", "role": "replica", "lag": "2s"},
            "cache": {"provider": "sim.store", "role": "primary"},
            "link": {"provider": "sim.replicator", "lag": "1s"},
            "site": {"provider": "http", "url": "https://example.invalid/healthz"}
        },
        "steps": [
            {"id": "maint", "action": "traffic.set", "router": "front",
             "split": {"maint": 100}, "retries": 2, "timeout": "1m"},
            {"id": "check", "action": "replication.check", "replicator": "link",
             "max_lag": "5s", "depends_on": ["maint"]},
            {"id": "stop", "action": "replication.stop", "replicator": "link",
             "depends_on": ["check"]},
            {"id": "promote", "action": "datastore.promote", "store": "db",
             "max_lag": "5s", "depends_on": ["stop"]},
            {"id": "flush", "action": "datastore.flush", "store": "cache"},
            {"id": "ready", "action": "probe.wait", "probe": "web", "times": 2,
             "every": "100ms", "healthy_for": "1s", "timeout": "10s"},
            {"id": "shift", "action": "traffic.shift", "router": "front", "to": "west",
             "phases": [20, 60, 100],
             "gate": {"probe": "web", "times": 2, "every": "10ms", "healthy_for": "1s",
                      "timeout": "1m"},
             "on_failure": "rollback", "depends_on": ["promote", "ready"]},
            {"id": "pause", "action": "wait", "duration": "1.5s"},
            {"id": "ok", "action": "approval", "message": "go on?"},
            {"id": "tell", "action": "notify", "url": "https://example.invalid/hook",
             "message": "done", "headers": {"x-run": "${env:SET}"}},
            {"id": "run", "action": "exec", "command": ["true"], "timeout": "10s",
             "on_failure": "continue", "env": {"A": "b"}}
        ]
    }))
}

// ---------------------------------------------------------------------------
// Strategies.
// ---------------------------------------------------------------------------

const KEYS: &[&str] = &[
    "name",
    "rto",
    "rpo",
    "max_parallel",
    "safety",
    "min_healthy_targets",
    "never_route_to_unhealthy",
    "provider",
    "targets",
    "initial",
    "health",
    "latency",
    "state_file",
    "lag",
    "role",
    "follows",
    "fail_first",
    "url",
    "id",
    "action",
    "depends_on",
    "timeout",
    "retries",
    "on_failure",
    "router",
    "split",
    "scope",
    "to",
    "phases",
    "gate",
    "probe",
    "times",
    "healthy_for",
    "every",
    "replicator",
    "max_lag",
    "store",
    "duration",
    "message",
    "headers",
    "command",
    "cwd",
    "env",
    "$schema",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(KEYS).prop_map(str::to_string),
        1 => "[a-z_]{1,10}",
        1 => ".{0,8}",
    ]
}

fn duration() -> impl Strategy<Value = V> {
    let number = prop_oneof![
        (0u64..1000).prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        prop_oneof![
            Just("365"),
            Just("366"),
            Just("0"),
            Just("200000000000000"),
            Just("18446744073709551615"),
            Just("99999999999999999999999999999999999999999"),
            Just("0.0001"),
            Just("1.5"),
            Just(".5"),
            Just("1."),
        ]
        .prop_map(str::to_string),
    ];
    let unit = proptest::sample::select(&["ms", "s", "m", "h", "d", "", "w", "us", " s"][..]);
    proptest::collection::vec((number, unit), 1..4)
        .prop_map(|parts| V::Str(parts.into_iter().map(|(n, u)| format!("{n}{u}")).collect()))
}

fn number() -> impl Strategy<Value = V> {
    prop_oneof![
        any::<i64>().prop_map(V::Int),
        (-5i64..=10_100).prop_map(V::Int),
        Just(V::Int(u32::MAX as i64)),
        Just(V::Int(u32::MAX as i64 + 1)),
        "[1-9][0-9]{18,40}".prop_map(|d| V::Num(d.clone(), d)),
        "-[1-9][0-9]{18,40}".prop_map(|d| V::Num(d.clone(), d)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| V::Num(format!("{f:?}"), format!("{f:?}"))),
        proptest::sample::select(
            &[
                ("nan", "1e400"),
                ("+nan", "-1e400"),
                ("-nan", "1E+999"),
                ("inf", "1e400"),
                ("-inf", "-1e400"),
                ("+inf", "1e309"),
                ("1e400", "1e400"),
                ("-1e400", "-1e400"),
                ("1e-400", "1e-400"),
                ("0.5", "0.5"),
                ("1e2", "1e2"),
                ("0x7fffffffffffffff", "9223372036854775807"),
                ("-9223372036854775808", "-9223372036854775808"),
                ("9_223_372_036_854_775_808", "9223372036854775808"),
            ][..]
        )
        .prop_map(|(t, j)| V::Num(t.to_string(), j.to_string())),
    ]
}

fn leaf() -> impl Strategy<Value = V> {
    prop_oneof![
        any::<bool>().prop_map(V::Bool),
        number(),
        number(),
        duration(),
        duration(),
        ".{0,40}".prop_map(V::Str),
        "[a-z_.:-]{0,12}".prop_map(V::Str),
        proptest::sample::select(KEYS).prop_map(|k| V::Str(k.to_string())),
        (1usize..20_000).prop_map(|n| V::Str("é".repeat(n))),
        "[A-Z_]{1,8}".prop_map(|v| V::Str(format!("${{env:{v}}}"))),
        Just(V::Str("${env:".into())),
    ]
}

fn value() -> impl Strategy<Value = V> {
    leaf().prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(V::Arr),
            proptest::collection::vec((key(), inner), 0..6).prop_map(V::Table),
        ]
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Sets `key` in a table (adding it, or replacing the first of that name).
    Set(usize, String, V),
    /// Replaces the value of an existing entry.
    Replace(usize, usize, V),
    /// Removes an entry.
    Remove(usize, usize),
    /// Duplicates an entry (same key twice).
    Duplicate(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<usize>(), key(), value()).prop_map(|(t, k, v)| Mutation::Set(t, k, v)),
        3 => (any::<usize>(), any::<usize>(), value())
            .prop_map(|(t, e, v)| Mutation::Replace(t, e, v)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(t, e)| Mutation::Remove(t, e)),
        1 => (any::<usize>(), any::<usize>()).prop_map(|(t, e)| Mutation::Duplicate(t, e)),
    ]
}

fn mutate(plan: &mut V, m: &Mutation) {
    let mut tables = Vec::new();
    plan.tables(&mut Vec::new(), &mut tables);
    let pick = |i: usize| tables[i % tables.len()].clone();
    let (t, op) = match m {
        Mutation::Set(t, ..)
        | Mutation::Replace(t, ..)
        | Mutation::Remove(t, _)
        | Mutation::Duplicate(t, _) => (pick(*t), m),
    };
    let V::Table(entries) = plan.at_mut(&t) else {
        unreachable!("tables() lists tables")
    };
    match op {
        Mutation::Set(_, k, v) => match entries.iter_mut().find(|(key, _)| key == k) {
            Some(e) => e.1 = v.clone(),
            None => entries.push((k.clone(), v.clone())),
        },
        Mutation::Replace(_, e, v) if !entries.is_empty() => {
            let n = entries.len();
            entries[e % n].1 = v.clone();
        }
        Mutation::Remove(_, e) if !entries.is_empty() => {
            let n = entries.len();
            entries.remove(e % n);
        }
        Mutation::Duplicate(_, e) if !entries.is_empty() => {
            let n = entries.len();
            let dup = entries[e % n].clone();
            entries.push(dup);
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// The properties.
// ---------------------------------------------------------------------------

#[test]
fn the_skeleton_is_a_valid_plan_in_both_syntaxes() {
    let plan = skeleton();
    for (name, text) in [
        ("plan.toml", plan.toml_document()),
        ("plan.json", plan.json()),
    ] {
        if let Err(d) = Plan::parse(name, &text, registry(), &options()) {
            panic!("{name} should be valid:\n{d}\n{text}");
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in ".{0,300}", cut in 0.0..=1.0f64) {
        check_both(&text, cut)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let text = String::from_utf8_lossy(&bytes);
        check_both(&text, 0.5)?;
    }

    #[test]
    fn plan_shaped_noise_never_panics(
        text in "[\\[\\]{}\"'=,.:#\\\\ \\n\\ta-z0-9_+-]{0,300}",
        cut in 0.0..=1.0f64,
    ) {
        check_both(&text, cut)?;
    }

    #[test]
    fn mutated_plans_never_panic(
        mutations in proptest::collection::vec(mutation(), 1..6),
        cut in 0.0..=1.0f64,
    ) {
        let mut plan = skeleton();
        for m in &mutations {
            mutate(&mut plan, m);
        }
        check_both(&plan.toml_document(), cut)?;
        check_both(&plan.json(), cut)?;
    }

    #[test]
    fn any_value_anywhere_in_a_step_never_panics(
        step in 0usize..11,
        k in key(),
        v in value(),
    ) {
        let mut plan = skeleton();
        if let V::Table(root) = &mut plan
            && let Some((_, V::Arr(steps))) = root.iter_mut().find(|(k, _)| k == "steps")
            && let V::Table(entries) = &mut steps[step]
        {
            match entries.iter_mut().find(|(key, _)| *key == k) {
                Some(e) => e.1 = v,
                None => entries.push((k, v)),
            }
        }
        check_both(&plan.toml_document(), 1.0)?;
        check_both(&plan.json(), 1.0)?;
    }
}

/// Regression inputs: the tester's, and what the fuzzer and these properties found.
#[test]
fn known_bad_inputs_are_diagnostics() {
    for text in [
        "[plan]\nname = \"p\"\nrto = \"18446744073709551615s\"\n",
        "[plan]\nname = \"p\"\nrto = \"200000000000000d200000000000000d\"\n",
        "[plan]\nname = \"p\"\nrto = nan\nrpo = inf\nmax_parallel = 99999999999999999999\n",
        "{\"plan\": {\"name\": \"p\", \"max_parallel\": 1e400}}",
        "{\"plan\": {\"name\": \"p\", \"max_parallel\": -99999999999999999999}}",
        "[plan]\nname = \"p\"\n[resources.r]\nprovider = \"sim.router\"\ntargets = [\"a\", \"b\"]\ninitial = { a = 4294967295, b = 101 }\n",
        "{\"plan\": {\"name\": \"\\ud800\\u+123\"}}",
        "{\"a\": \"é",
        "[plan]\nname = \"é\"\nx = \"\\u",
    ] {
        check("plan.toml", text).unwrap();
        check("plan.json", text).unwrap();
        assert!(Plan::parse("plan.toml", text, registry(), &options()).is_err());
    }
}
