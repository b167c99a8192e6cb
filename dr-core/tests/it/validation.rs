//! Every class of invalid plan is reported with its exact file, line, column and key.

use std::sync::Arc;

use dr_core::plan::{OnFailure, StepAction};
use dr_core::{
    ConfigError, DataStore, Diagnostics, HealthProbe, LoadOptions, Plan, ProviderError, Registry,
    Replicator, ReplicatorCapabilities, Role, RouterCapabilities, Settings, StoreCapabilities,
    TrafficRouter, TrafficSplit, async_trait,
};

#[derive(Debug)]
struct Router(Vec<String>, bool);
#[async_trait]
impl TrafficRouter for Router {
    fn targets(&self) -> Vec<String> {
        self.0.clone()
    }
    fn capabilities(&self) -> RouterCapabilities {
        if self.1 {
            RouterCapabilities::weighted().with_scopes(["WNAM"])
        } else {
            RouterCapabilities::failover_only()
        }
    }
    async fn current(&self, _: Option<&str>) -> Result<TrafficSplit, ProviderError> {
        Ok(TrafficSplit::all_to(&self.0[0]))
    }
    async fn apply(&self, _: &TrafficSplit, _: Option<&str>) -> Result<(), ProviderError> {
        Ok(())
    }
}
#[derive(Debug)]
struct Probe;
#[async_trait]
impl HealthProbe for Probe {
    async fn probe(&self) -> Result<dr_core::Health, ProviderError> {
        Ok(dr_core::Health::healthy(Default::default()))
    }
}
#[derive(Debug)]
struct Store;
#[async_trait]
impl DataStore for Store {
    fn capabilities(&self) -> StoreCapabilities {
        StoreCapabilities::promote_and_fence()
    }
    async fn role(&self) -> Result<Role, ProviderError> {
        Ok(Role::Primary)
    }
    async fn writable(&self) -> Result<bool, ProviderError> {
        Ok(true)
    }
    async fn promote(&self) -> Result<(), ProviderError> {
        Ok(())
    }
    async fn fence(&self) -> Result<(), ProviderError> {
        Ok(())
    }
    async fn flush(&self) -> Result<(), ProviderError> {
        Ok(())
    }
}
#[derive(Debug)]
struct Link;
#[async_trait]
impl Replicator for Link {
    fn capabilities(&self) -> ReplicatorCapabilities {
        ReplicatorCapabilities::observe_only()
    }
    async fn status(&self) -> Result<dr_core::ReplicationStatus, ProviderError> {
        Ok(dr_core::ReplicationStatus::new(
            dr_core::ReplicationState::Replicating,
            None,
        ))
    }
    async fn stop(&self) -> Result<(), ProviderError> {
        Ok(())
    }
    async fn reverse(&self) -> Result<(), ProviderError> {
        Ok(())
    }
}

fn registry() -> Registry {
    let mut r = Registry::new();
    r.router("t.router", |s: &Settings| {
        let targets: Vec<String> = s
            .deserialize::<std::collections::BTreeMap<String, serde_json::Value>>()?
            .get("targets")
            .and_then(|t| t.as_array().cloned())
            .ok_or_else(|| ConfigError::key("targets", "missing required setting"))?
            .into_iter()
            .filter_map(|v| v.as_str().map(String::from))
            .collect();
        let weighted = s.get("weighted").and_then(|v| v.as_bool()).unwrap_or(true);
        Ok(Arc::new(Router(targets, weighted)))
    });
    r.probe("t.probe", |s: &Settings| {
        if let Some(u) = s.get("url")
            && !u.as_str().unwrap_or("").starts_with("http")
        {
            return Err(ConfigError::key("url", "must be an http(s) URL"));
        }
        Ok(Arc::new(Probe))
    });
    r.store("t.db", |_| Ok(Arc::new(Store)));
    r.replicator("t.link", |_| Ok(Arc::new(Link)));
    r
}

fn env(name: &str) -> Option<String> {
    (name == "SET").then(|| "value-from-env".to_string())
}

fn check(text: &str) -> Result<Plan, Diagnostics> {
    Plan::parse("plan.toml", text, &registry(), &LoadOptions::with_env(env))
}

/// `(line, column, key, message fragment)` of every diagnostic.
fn errors(text: &str) -> Vec<(usize, usize, String, String)> {
    let d = check(text).expect_err("plan should be invalid");
    d.iter()
        .map(|d| (d.line, d.column, d.key.clone(), d.message.clone()))
        .collect()
}

fn assert_one(text: &str, line: usize, column: usize, key: &str, fragment: &str) {
    let errs = errors(text);
    assert!(
        errs.iter()
            .any(|(l, c, k, m)| *l == line && *c == column && k == key && m.contains(fragment)),
        "expected {line}:{column} {key}: …{fragment}…, got {errs:#?}"
    );
}

const HEAD: &str = r#"[plan]
name = "p"
rto = "15m"

[resources.front]
provider = "t.router"
targets = ["east", "west", "maint"]

[resources.web]
provider = "t.probe"

[resources.db]
provider = "t.db"

[resources.link]
provider = "t.link"
"#;
// HEAD is 16 lines; the first step table starts on line 17.

#[test]
fn a_valid_plan_loads_with_typed_steps() {
    let plan = check(&format!(
        "{HEAD}
[[steps]]
id = \"maint\"
action = \"traffic.set\"
router = \"front\"
split = {{ maint = 100 }}

[[steps]]
id = \"shift\"
action = \"traffic.shift\"
router = \"front\"
to = \"west\"
phases = [20, 40, 60, 80, 100]
gate = {{ probe = \"web\", healthy_for = \"2m\", every = \"10s\" }}
on_failure = \"rollback\"
depends_on = [\"maint\"]
"
    ))
    .unwrap();
    assert_eq!(plan.name, "p");
    assert_eq!(plan.rto, Some(std::time::Duration::from_secs(900)));
    assert_eq!(plan.steps.len(), 2);
    assert_eq!(plan.steps[1].on_failure, OnFailure::Rollback);
    assert_eq!(plan.steps[1].line, 24);
    match &plan.steps[1].action {
        StepAction::TrafficShift {
            phases,
            gate: Some(g),
            ..
        } => {
            assert_eq!(phases, &vec![20, 40, 60, 80, 100]);
            assert_eq!(g.every, std::time::Duration::from_secs(10));
        }
        other => panic!("{other:?}"),
    }
    assert!(plan.resource("front").unwrap().router().is_some());
    assert!(plan.resource("web").unwrap().probe().is_some());
}

#[test]
fn unknown_provider() {
    assert_one(
        "[plan]\nname = \"p\"\n[resources.x]\nprovider = \"nope.thing\"\n",
        4,
        12,
        "resources.x.provider",
        "unknown provider `nope.thing`",
    );
}

#[test]
fn unknown_resource() {
    assert_one(
        &format!(
            "{HEAD}[[steps]]\nid = \"a\"\naction = \"traffic.set\"\nrouter = \"frnt\"\nsplit = {{ west = 100 }}\n"
        ),
        20,
        10,
        "steps[0].router",
        "unknown resource `frnt` (did you mean `front`?)",
    );
}

#[test]
fn unknown_action() {
    assert_one(
        &format!("{HEAD}[[steps]]\nid = \"a\"\naction = \"traffic.sett\"\n"),
        19,
        10,
        "steps[0].action",
        "unknown action `traffic.sett` (did you mean `traffic.set`?)",
    );
}

#[test]
fn action_resource_kind_mismatch() {
    assert_one(
        &format!(
            "{HEAD}[[steps]]\nid = \"a\"\naction = \"datastore.promote\"\nstore = \"front\"\n"
        ),
        20,
        9,
        "steps[0].store",
        "resource `front` (provider `t.router`) is not a store",
    );
}

#[test]
fn missing_capability() {
    assert_one(
        &format!(
            "{HEAD}[[steps]]\nid = \"a\"\naction = \"replication.stop\"\nreplicator = \"link\"\n"
        ),
        20,
        14,
        "steps[0].replicator",
        "cannot stop replication",
    );
    assert_one(
        &format!("{HEAD}[[steps]]\nid = \"a\"\naction = \"datastore.flush\"\nstore = \"db\"\n"),
        20,
        9,
        "steps[0].store",
        "cannot flush",
    );
    assert_one(
        &format!(
            "{HEAD}[[steps]]\nid = \"a\"\naction = \"traffic.set\"\nrouter = \"front\"\nscope = \"WEU\"\nsplit = {{ west = 100 }}\n"
        ),
        21,
        9,
        "steps[0].scope",
        "does not accept scope `WEU`",
    );
}

#[test]
fn duplicate_step_ids() {
    assert_one(
        &format!(
            "{HEAD}[[steps]]\nid = \"a\"\naction = \"wait\"\nduration = \"1s\"\n\n[[steps]]\nid = \"a\"\naction = \"wait\"\nduration = \"1s\"\n"
        ),
        23,
        6,
        "steps[1].id",
        "duplicate step id `a` (first used on line 18)",
    );
}

#[test]
fn missing_dependency() {
    assert_one(
        &format!(
            "{HEAD}[[steps]]\nid = \"a\"\naction = \"wait\"\nduration = \"1s\"\ndepends_on = [\"b\"]\n"
        ),
        21,
        15,
        "steps[0].depends_on[0]",
        "depends on unknown step `b`",
    );
}

#[test]
fn dependency_cycle_is_named() {
    let text = format!(
        "{HEAD}[[steps]]\nid = \"a\"\naction = \"wait\"\nduration = \"1s\"\ndepends_on = [\"c\"]\n\n\
         [[steps]]\nid = \"b\"\naction = \"wait\"\nduration = \"1s\"\ndepends_on = [\"a\"]\n\n\
         [[steps]]\nid = \"c\"\naction = \"wait\"\nduration = \"1s\"\ndepends_on = [\"b\"]\n"
    );
    assert_one(
        &text,
        21,
        15,
        "steps[0].depends_on[0]",
        "dependency cycle: a -> c -> b -> a",
    );
    assert_eq!(errors(&text).len(), 1, "a cycle is reported once");
}

#[test]
fn weights_not_summing_to_100_or_naming_unknown_targets() {
    assert_one(
        &format!(
            "{HEAD}[[steps]]\nid = \"a\"\naction = \"traffic.set\"\nrouter = \"front\"\nsplit = {{ east = 90, west = 20 }}\n"
        ),
        21,
        9,
        "steps[0].split",
        "weights sum to 110, not 100",
    );
    assert_one(
        &format!(
            "{HEAD}[[steps]]\nid = \"a\"\naction = \"traffic.set\"\nrouter = \"front\"\nsplit = {{ north = 100 }}\n"
        ),
        21,
        11,
        "steps[0].split.north",
        "unknown target `north`",
    );
}

#[test]
fn unparsable_durations() {
    assert_one(
        &format!("{HEAD}[[steps]]\nid = \"a\"\naction = \"wait\"\nduration = \"10 parsecs\"\n"),
        20,
        12,
        "steps[0].duration",
        "unparsable duration `10 parsecs`",
    );
    assert_one(
        "[plan]\nname = \"p\"\nrto = \"soon\"\n",
        3,
        7,
        "plan.rto",
        "unparsable duration",
    );
}

#[test]
fn unset_env_var_is_an_error_not_an_empty_string() {
    assert_one(
        "[plan]\nname = \"p\"\n[resources.w]\nprovider = \"t.probe\"\nurl = \"${env:UNSET_VAR}\"\n",
        5,
        7,
        "resources.w.url",
        "environment variable `UNSET_VAR` is not set",
    );
    let plan = check("[plan]\nname = \"p\"\n[resources.w]\nprovider = \"t.probe\"\nurl = \"https://x/${env:SET}\"\n").unwrap();
    assert_eq!(
        plan.resources[0].settings.str("url").unwrap(),
        "https://x/value-from-env"
    );
    // `SET` is not a secret name and its value lands in the URL's path, not its
    // password or query: not a secret, so kept verbatim (see `Redactor`).
    assert_eq!(
        plan.redactor().redact("token value-from-env"),
        "token value-from-env"
    );
}

#[test]
fn phases_not_increasing_or_not_ending_at_100() {
    let step = |phases: &str| {
        format!(
            "{HEAD}[[steps]]\nid = \"s\"\naction = \"traffic.shift\"\nrouter = \"front\"\nto = \"west\"\nphases = {phases}\n"
        )
    };
    assert_one(
        &step("[20, 60, 40, 100]"),
        22,
        19,
        "steps[0].phases[2]",
        "phases must increase: 40 after 60",
    );
    assert_one(
        &step("[20, 40, 80]"),
        22,
        19,
        "steps[0].phases[2]",
        "phases must end at 100, not 80",
    );
}

#[test]
fn unknown_keys_and_missing_keys_are_pointed_at() {
    assert_one(
        &format!("{HEAD}[[steps]]\nid = \"a\"\naction = \"wait\"\nduraton = \"1s\"\n"),
        20,
        1,
        "steps[0].duraton",
        "unknown key `duraton`",
    );
    assert_one(
        &format!("{HEAD}[[steps]]\nid = \"a\"\naction = \"wait\"\n"),
        17,
        1,
        "steps[0].duration",
        "missing required key `duration`",
    );
    assert_one(
        "[plan]\nname = \"p\"\nnmae = 1\n",
        3,
        1,
        "plan.nmae",
        "unknown key `nmae`",
    );
}

#[test]
fn provider_config_errors_point_at_the_setting() {
    assert_one(
        &format!("{HEAD}[resources.bad]\nprovider = \"t.probe\"\nurl = \"ftp://x\"\n"),
        19,
        7,
        "resources.bad.url",
        "must be an http(s) URL",
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = format!(
        "{HEAD}[[steps]]\nid = \"a\"\naction = \"wat\"\n\n[[steps]]\nid = \"b\"\naction = \"wait\"\nduration = \"x\"\ndepends_on = [\"zz\"]\n"
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 3, "{errs:#?}");
}

#[test]
fn json_plans_get_the_same_checks_with_positions() {
    let text = r#"{
  "plan": {"name": "p"},
  "resources": {"front": {"provider": "t.router", "targets": ["east", "west"]}},
  "steps": [
    {"id": "a", "action": "traffic.set", "router": "front", "split": {"east": 50, "west": 40}}
  ]
}"#;
    let d = Plan::parse("plan.json", text, &registry(), &LoadOptions::with_env(env)).unwrap_err();
    let d = d.iter().next().unwrap();
    assert_eq!(
        (d.line, d.column, d.key.as_str()),
        (5, 70, "steps[0].split")
    );
    assert_eq!(
        d.to_string(),
        "plan.json:5:70: steps[0].split: weights sum to 90, not 100"
    );
}

#[test]
fn syntax_errors_have_positions() {
    let d = check("[plan]\nname = \"p\"\n[[steps]\n").unwrap_err();
    assert_eq!(d.len(), 1);
    let d = d.iter().next().unwrap();
    assert_eq!(d.line, 3);
    assert!(d.message.contains("TOML syntax error"), "{}", d.message);
}

/// Every diagnostic of `text`, read as `name` (TOML, or JSON for `.json`).
fn errors_in(name: &str, text: &str) -> Vec<(usize, usize, String, String)> {
    Plan::parse(name, text, &registry(), &LoadOptions::with_env(env))
        .expect_err("plan should be invalid")
        .iter()
        .map(|d| (d.line, d.column, d.key.clone(), d.message.clone()))
        .collect()
}

/// Exactly one diagnostic, at `line:column` on `key`, saying `fragment`.
fn assert_only(name: &str, text: &str, line: usize, column: usize, key: &str, fragment: &str) {
    let errs = errors_in(name, text);
    assert!(
        errs.len() == 1
            && errs
                .iter()
                .all(|(l, c, k, m)| *l == line && *c == column && k == key && m.contains(fragment)),
        "expected only {line}:{column} {key}: …{fragment}…, got {errs:#?}"
    );
}

#[test]
fn durations_over_365_days_are_errors_never_panics() {
    // The tester's inputs: `validate` used to panic (exit 101) on the first two,
    // and accept the third, then panic mid-run after applying the first phase.
    assert_only(
        "plan.toml",
        &format!(
            "{HEAD}[[steps]]\nid = \"a\"\naction = \"wait\"\nduration = \"1s\"\ntimeout = \"18446744073709551615s\"\n"
        ),
        21,
        11,
        "steps[0].timeout",
        "duration `18446744073709551615s` is longer than the maximum of 365d",
    );
    assert_only(
        "plan.toml",
        "[plan]\nname = \"p\"\nrto = \"200000000000000d200000000000000d\"\n",
        3,
        7,
        "plan.rto",
        "longer than the maximum of 365d",
    );
    assert_only(
        "plan.toml",
        &format!(
            "{HEAD}[[steps]]\nid = \"s\"\naction = \"traffic.shift\"\nrouter = \"front\"\nto = \"west\"\n\
             phases = [20, 100]\ngate = {{ probe = \"web\", timeout = \"200000000000000d\" }}\non_failure = \"rollback\"\n"
        ),
        23,
        35,
        "steps[0].gate.timeout",
        "duration `200000000000000d` is longer than the maximum of 365d",
    );
    // Every other place a plan writes a duration.
    let step = |body: &str| format!("{HEAD}[[steps]]\nid = \"a\"\n{body}\n");
    for (body, line, column, key) in [
        (
            "action = \"wait\"\nduration = \"366d\"",
            20,
            12,
            "steps[0].duration",
        ),
        (
            "action = \"probe.wait\"\nprobe = \"web\"\nhealthy_for = \"8761h\"",
            21,
            15,
            "steps[0].healthy_for",
        ),
        (
            "action = \"probe.wait\"\nprobe = \"web\"\nevery = \"365d1ms\"",
            21,
            9,
            "steps[0].every",
        ),
        (
            "action = \"replication.check\"\nreplicator = \"link\"\nmax_lag = \"9999999999d\"",
            21,
            11,
            "steps[0].max_lag",
        ),
        (
            "action = \"datastore.promote\"\nstore = \"db\"\nreplicator = \"link\"\nmax_lag = \"1000d\"",
            22,
            11,
            "steps[0].max_lag",
        ),
    ] {
        assert_only(
            "plan.toml",
            &step(body),
            line,
            column,
            key,
            "longer than the maximum of 365d",
        );
    }
    assert_only(
        "plan.toml",
        "[plan]\nname = \"p\"\nrpo = \"99999999999999999999999999999999999999999s\"\n",
        3,
        7,
        "plan.rpo",
        "longer than the maximum of 365d",
    );
    // JSON, and the largest duration allowed.
    assert_only(
        "plan.json",
        "{\"plan\": {\"name\": \"p\",\n  \"rto\": \"200000000000000d200000000000000d\"}}",
        2,
        10,
        "plan.rto",
        "longer than the maximum of 365d",
    );
    let plan = check("[plan]\nname = \"p\"\nrto = \"365d\"\nrpo = \"8760h\"\n").unwrap();
    assert_eq!(plan.rto, Some(dr_core::MAX_DURATION));
    assert_eq!(plan.rpo, Some(dr_core::MAX_DURATION));
}

#[test]
fn provider_setting_durations_have_the_same_bound() {
    let text = "[plan]\nname = \"p\"\n\n[resources.web]\nprovider = \"sim.probe\"\nlatency = \"200000000000000d\"\n";
    let d = Plan::parse(
        "plan.toml",
        text,
        &Registry::with_builtins(),
        &LoadOptions::with_env(env),
    )
    .unwrap_err();
    let d: Vec<_> = d.iter().collect();
    assert_eq!(d.len(), 1, "{d:#?}");
    assert_eq!((d[0].line, d[0].column), (6, 11));
    assert_eq!(d[0].key, "resources.web.latency");
    assert!(d[0].message.contains("maximum of 365d"), "{}", d[0].message);
}

#[test]
fn gate_polling_must_not_spin_and_times_is_bounded() {
    let wait = |keys: &str| {
        format!("{HEAD}[[steps]]\nid = \"a\"\naction = \"probe.wait\"\nprobe = \"web\"\n{keys}\n")
    };
    for zero in ["0", "0s", "0ms", "0.5ms"] {
        assert_only(
            "plan.toml",
            &wait(&format!("every = \"{zero}\"")),
            21,
            9,
            "steps[0].every",
            "every must be at least 1ms",
        );
    }
    assert!(check(&wait("every = \"1ms\"")).is_ok());
    for (times, ok) in [(0, false), (1, true), (10_000, true), (10_001, false)] {
        let text = wait(&format!("times = {times}"));
        if ok {
            assert!(check(&text).is_ok(), "times = {times}");
        } else {
            assert_only(
                "plan.toml",
                &text,
                21,
                9,
                "steps[0].times",
                &format!("times must be between 1 and 10000, not {times}"),
            );
        }
    }
    let shift = format!(
        "{HEAD}[[steps]]\nid = \"s\"\naction = \"traffic.shift\"\nrouter = \"front\"\nto = \"west\"\n\
         gate = {{ probe = \"web\", every = \"0s\", times = 0 }}\n"
    );
    let errs = errors(&shift);
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert_one(
        &shift,
        22,
        33,
        "steps[0].gate.every",
        "every must be at least 1ms, not 0s",
    );
    assert_one(
        &shift,
        22,
        47,
        "steps[0].gate.times",
        "times must be between 1 and 10000, not 0",
    );
}

#[test]
fn retries_and_max_parallel_are_bounded() {
    let step = |retries: &str| {
        format!(
            "{HEAD}[[steps]]\nid = \"a\"\naction = \"wait\"\nduration = \"1s\"\nretries = {retries}\n"
        )
    };
    assert!(check(&step("100")).is_ok());
    assert_only(
        "plan.toml",
        &step("101"),
        21,
        11,
        "steps[0].retries",
        "retries must be at most 100, not 101",
    );
    assert_only(
        "plan.toml",
        &step("4294967295"),
        21,
        11,
        "steps[0].retries",
        "retries must be at most 100",
    );
    let meta = |line: &str| format!("[plan]\nname = \"p\"\n{line}\n");
    assert!(check(&meta("max_parallel = 1024")).is_ok());
    for bad in ["0", "1025"] {
        assert_only(
            "plan.toml",
            &meta(&format!("max_parallel = {bad}")),
            3,
            16,
            "plan.max_parallel",
            &format!("max_parallel must be between 1 and 1024, not {bad}"),
        );
    }
    assert_only(
        "plan.toml",
        &meta("[plan.safety]\nmin_healthy_targets = 1025"),
        4,
        23,
        "plan.safety.min_healthy_targets",
        "min_healthy_targets must be at most 1024, not 1025",
    );
}

#[test]
fn numbers_out_of_range_are_errors_never_unset() {
    // TOML: an integer past 64 bits, NaN and the infinities, each where it stands.
    let step = |line: &str| {
        format!("{HEAD}[[steps]]\nid = \"a\"\naction = \"wait\"\nduration = \"1s\"\n{line}\n")
    };
    assert_only(
        "plan.toml",
        &step("retries = 99999999999999999999"),
        21,
        11,
        "steps[0].retries",
        "number `99999999999999999999` is out of range",
    );
    for (value, fragment) in [
        ("nan", "`nan` is not a number"),
        ("+nan", "`+nan` is not a number"),
        ("inf", "`inf` is out of range"),
        ("-inf", "`-inf` is out of range"),
        ("1e400", "`1e400` is out of range"),
    ] {
        assert_only(
            "plan.toml",
            &format!("[plan]\nname = \"p\"\nrto = {value}\n"),
            3,
            7,
            "plan.rto",
            fragment,
        );
        assert_only(
            "plan.toml",
            &format!("[plan]\nname = \"p\"\nmax_parallel = {value}\n"),
            3,
            16,
            "plan.max_parallel",
            fragment,
        );
    }
    // A required number (a weight) that does not fit is reported once, as that.
    assert_only(
        "plan.toml",
        &format!(
            "{HEAD}[[steps]]\nid = \"a\"\naction = \"traffic.set\"\nrouter = \"front\"\nsplit = {{ west = 100, east = 1e400 }}\n"
        ),
        21,
        30,
        "steps[0].split.east",
        "number `1e400` is out of range",
    );
    // Provider settings too.
    assert_only(
        "plan.toml",
        &format!("{HEAD}[resources.w]\nprovider = \"t.probe\"\nport = nan\n"),
        19,
        8,
        "resources.w.port",
        "`nan` is not a number",
    );

    // JSON: `1e400` is infinite, a 20-digit integer does not fit.
    let json = |plan: &str, step: &str| {
        format!(
            "{{\n  \"plan\": {{\"name\": \"p\"{plan}}},\n  \"steps\": [\n    {{\"id\": \"a\", \"action\": \"wait\", \"duration\": \"1s\"{step}}}\n  ]\n}}"
        )
    };
    assert_only(
        "plan.json",
        &json(", \"max_parallel\": 1e400", ""),
        2,
        41,
        "plan.max_parallel",
        "number `1e400` is out of range",
    );
    assert_only(
        "plan.json",
        &json(", \"rto\": -1e400", ""),
        2,
        32,
        "plan.rto",
        "number `-1e400` is out of range",
    );
    assert_only(
        "plan.json",
        &json("", ", \"retries\": 99999999999999999999"),
        4,
        64,
        "steps[0].retries",
        "number `99999999999999999999` is out of range",
    );
    assert_only(
        "plan.json",
        &json("", ", \"retries\": 101"),
        4,
        64,
        "steps[0].retries",
        "retries must be at most 100, not 101",
    );
    assert_only(
        "plan.json",
        &json("", ", \"retries\": -99999999999999999999"),
        4,
        64,
        "steps[0].retries",
        "number `-99999999999999999999` is out of range",
    );
}

#[test]
fn split_weights_are_bounded_and_summed_without_wrapping() {
    let text = format!(
        "{HEAD}[[steps]]\nid = \"a\"\naction = \"traffic.set\"\nrouter = \"front\"\nsplit = {{ west = 4294967295, east = 101 }}\n"
    );
    let errs = errors(&text);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert_one(
        &text,
        21,
        9,
        "steps[0].split",
        "weights sum to 4294967396, not 100",
    );
    assert_one(
        &text,
        21,
        18,
        "steps[0].split.west",
        "weight 4294967295 is more than 100",
    );
    assert_one(
        &text,
        21,
        37,
        "steps[0].split.east",
        "weight 101 is more than 100",
    );
    let json = r#"{
  "plan": {"name": "p"},
  "resources": {"front": {"provider": "t.router", "targets": ["east", "west"]}},
  "steps": [
    {"id": "a", "action": "traffic.set", "router": "front", "split": {"west": 4294967295, "east": 101}}
  ]
}"#;
    let errs = errors_in("plan.json", json);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(
        errs.contains(&(
            5,
            70,
            "steps[0].split".into(),
            "weights sum to 4294967396, not 100".into()
        )),
        "{errs:#?}"
    );
    assert!(
        errs.iter()
            .any(|(l, c, k, _)| (*l, *c, k.as_str()) == (5, 79, "steps[0].split.west")),
        "{errs:#?}"
    );
    // Past u32, it is a number that does not fit the weight, at the weight.
    let errs = errors_in("plan.json", &json.replace("4294967295", "4294967296"));
    assert_eq!(errs.len(), 1, "{errs:#?}");
    assert_eq!((errs[0].0, errs[0].1), (5, 79), "{errs:#?}");
    assert_eq!(errs[0].2, "steps[0].split.west");
}

/// A step on line 17 of `HEAD`, with `body` after its `id` (line 18).
fn step(body: &str) -> String {
    format!("{HEAD}[[steps]]\nid = \"a\"\n{body}")
}

#[test]
fn wrong_types_inside_nested_values_point_at_the_value() {
    let set = "action = \"traffic.set\"\nrouter = \"front\"\n";
    let shift = "action = \"traffic.shift\"\nrouter = \"front\"\nto = \"west\"\n";
    // split, phases, gate times and unknown gate keys: line 21 (or 22).
    assert_one(
        &step(&format!("{set}split = {{ east = \"lots\" }}\n")),
        21,
        18,
        "steps[0].split.east",
        "invalid type",
    );
    assert_one(
        &step(&format!("{shift}phases = [20, \"x\", 100]\n")),
        22,
        15,
        "steps[0].phases[1]",
        "invalid type",
    );
    assert_one(
        &step(&format!(
            "{shift}gate = {{ probe = \"web\", times = \"two\" }}\n"
        )),
        22,
        33,
        "steps[0].gate.times",
        "invalid type",
    );
    assert_one(
        &step(&format!("{shift}gate = {{ probe = \"web\", tiems = 2 }}\n")),
        22,
        25,
        "steps[0].gate.tiems",
        "unknown key `tiems`",
    );
    // command: a number, and an array with a number in it.
    let exec = "action = \"exec\"\n";
    assert_one(
        &step(&format!("{exec}command = 5\n")),
        20,
        11,
        "steps[0].command",
        "a string (run by `sh -c`) or an array of strings",
    );
    assert_one(
        &step(&format!("{exec}command = [\"ls\", 5]\n")),
        20,
        18,
        "steps[0].command[1]",
        "expected a string",
    );
    let errs = errors(&step(&format!("{exec}command = 5\n")));
    assert!(
        errs.iter().all(|(.., m)| !m.contains("untagged")),
        "{errs:?}"
    );
}

#[test]
fn wrong_types_inside_nested_values_point_at_the_value_in_json() {
    let head = r#"{
  "plan": {"name": "p"},
  "resources": {"front": {"provider": "t.router", "targets": ["east", "west"]},
                "web": {"provider": "t.probe"}},
  "steps": [
"#;
    let json = |step: &str| format!("{head}    {step}\n  ]\n}}");
    // Line 6 holds the step.
    let cases = [
        (
            r#"{"id": "a", "action": "traffic.set", "router": "front", "split": {"east": "lots"}}"#,
            "steps[0].split.east",
            "\"lots\"",
        ),
        (
            r#"{"id": "a", "action": "traffic.shift", "router": "front", "to": "west", "phases": [20, "x", 100]}"#,
            "steps[0].phases[1]",
            "\"x\"",
        ),
        (
            r#"{"id": "a", "action": "traffic.shift", "router": "front", "to": "west", "gate": {"probe": "web", "tiems": 2}}"#,
            "steps[0].gate.tiems",
            "\"tiems\"",
        ),
        (
            r#"{"id": "a", "action": "exec", "command": ["ls", 5]}"#,
            "steps[0].command[1]",
            "5]",
        ),
    ];
    for (step, key, at) in cases {
        let text = json(step);
        let line6 = text.lines().nth(5).unwrap();
        let column = line6[..line6.find(at).unwrap()].chars().count() + 1;
        assert_only("plan.json", &text, 6, column, key, "");
    }
}

#[test]
fn plan_text_with_a_bom_and_columns_in_characters() {
    // A UTF-8 BOM is skipped, in TOML and in JSON.
    let toml = format!("\u{FEFF}{HEAD}");
    assert!(check(&toml).is_ok());
    let json = "\u{FEFF}{\"plan\": {\"name\": \"p\", \"description\": \"é\"}}";
    let plan = Plan::parse("p.json", json, &registry(), &LoadOptions::with_env(env)).unwrap();
    assert_eq!(plan.description.as_deref(), Some("é"));
    // Columns count characters: `é` is one.
    assert_only(
        "p.toml",
        "[plan]\nname = \"p\"\ndescription = \"é\"; rto = \"x\"\n",
        3,
        18,
        "",
        "TOML syntax error",
    );
    // A stray non-ASCII character in JSON is named whole, not by its first byte.
    let errs = errors_in("p.json", "{\"plan\": é}");
    assert!(errs[0].3.contains("`é`"), "{errs:?}");
    assert_eq!((errs[0].0, errs[0].1), (1, 10));
}

#[test]
fn step_ids_have_no_spaces_line_breaks_or_control_characters() {
    for id in ["two words", "line\\nbreak", "tab\\there", "nul\\u0000"] {
        assert_one(
            &format!("{HEAD}[[steps]]\nid = \"{id}\"\naction = \"approval\"\n"),
            18,
            6,
            "steps[0].id",
            "an id is one word without spaces",
        );
    }
    assert!(
        check(&format!(
            "{HEAD}[[steps]]\nid = \"Ok.id_2-x\"\naction = \"approval\"\n"
        ))
        .is_ok()
    );
}

#[test]
fn bidi_overrides_and_control_characters_are_refused_in_ids_and_names() {
    // A step id with a right-to-left override or an isolate.
    for id in ["evil\\u202Eexe", "x\\u2066y"] {
        assert_one(
            &format!("{HEAD}[[steps]]\nid = \"{id}\"\naction = \"approval\"\n"),
            18,
            6,
            "steps[0].id",
            "(a bidi control)",
        );
    }
    // The plan name: control characters and bidi controls.
    for name in ["p\\u001b[2J", "p\\u202E"] {
        let text = HEAD.replacen("name = \"p\"", &format!("name = \"{name}\""), 1);
        assert_one(&text, 2, 8, "plan.name", "the plan name contains U+");
    }
    // A router's target name.
    let text = HEAD.replacen("\"maint\"", "\"ma\\rint\"", 1);
    assert_one(
        &text,
        7,
        28,
        "resources.front.targets[2]",
        "the target name contains a line break",
    );
    // A resource name (a key) with an escape character.
    assert_one(
        &format!("{HEAD}[resources.\"db\\u001b\"]\nprovider = \"t.probe\"\n"),
        17,
        12,
        "resources.\"db\u{1b}\"",
        "contains U+001B (a control character)",
    );
    // A bidi override anywhere in the text.
    assert_one(
        &format!("{HEAD}[[steps]]\nid = \"s\"\naction = \"approval\"\nmessage = \"ok \\u202E\"\n"),
        20,
        11,
        "steps[0].message",
        "bidi override",
    );
}

#[test]
fn empty_names_zero_timeouts_empty_commands_and_probe_less_gates() {
    assert_one(
        &format!("{HEAD}[resources.\"\"]\nprovider = \"t.probe\"\n"),
        17,
        12,
        "resources.\"\"",
        "resource name must not be empty",
    );
    assert_one(
        &step("action = \"wait\"\nduration = \"1s\"\ntimeout = \"0s\"\n"),
        21,
        11,
        "steps[0].timeout",
        "timeout must be more than 0",
    );
    for command in ["\"\"", "\"  \"", "[]", "[\"\"]"] {
        assert_one(
            &step(&format!("action = \"exec\"\ncommand = {command}\n")),
            20,
            11,
            "steps[0].command",
            "command must not be empty",
        );
    }
    assert_one(
        &step(
            "action = \"traffic.shift\"\nrouter = \"front\"\nto = \"west\"\ngate = { times = 2 }\n",
        ),
        22,
        8,
        "steps[0].gate",
        "a gate needs `probe",
    );
}

#[test]
fn sim_probe_follows_names_a_sim_router_and_its_target() {
    let registry = Registry::with_builtins();
    let text = |follows: &str| {
        format!(
            "[plan]\nname = \"p\"\n[resources.front]\nprovider = \"sim.router\"\ntargets = [\"east\", \"west\"]\n\
             [resources.web]\nprovider = \"sim.probe\"\nfollows = \"{follows}\"\n"
        )
    };
    let parse = |f: &str| Plan::parse("p.toml", &text(f), &registry, &LoadOptions::with_env(env));
    assert!(parse("front:west").is_ok());
    assert!(parse("west").is_ok());
    for (follows, fragment) in [
        ("nope:mars", "router `nope`, which is not a `sim.router`"),
        (
            "front:mars",
            "router `front` has no target `mars` (targets: east, west)",
        ),
        (
            "mars",
            "not a target of this plan's sim routers (targets: east, west)",
        ),
    ] {
        let d = parse(follows).unwrap_err();
        let d = d.iter().next().unwrap();
        assert_eq!(
            (d.line, d.column, d.key.as_str()),
            (8, 11, "resources.web.follows"),
            "{d}"
        );
        assert!(d.message.contains(fragment), "{d}");
    }
}
