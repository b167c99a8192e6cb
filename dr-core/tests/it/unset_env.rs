//! `LoadOptions::allow_unset_env`: an unset `${env:..}` becomes a warning with a
//! placeholder (what `dr validate --allow-unset-env` uses), and stays an error
//! without it.

use dr_core::{Diagnostic, LoadOptions, Plan, Registry};

/// Only `SET` is set.
fn env(name: &str) -> Option<String> {
    (name == "SET").then(|| "value-from-env".to_string())
}

fn strict() -> LoadOptions {
    LoadOptions::with_env(env)
}

fn lenient() -> LoadOptions {
    LoadOptions::with_env(env).allow_unset_env()
}

fn parse(name: &str, text: &str, opts: &LoadOptions) -> Result<Plan, dr_core::Diagnostics> {
    Plan::parse(name, text, &Registry::with_builtins(), opts)
}

/// The text a diagnostic points at.
fn at<'a>(text: &'a str, d: &Diagnostic) -> &'a str {
    &text[d.span.clone()]
}

const PLAN: &str = r#"[plan]
name = "p"

[resources.web]
provider = "http"
url = "${env:WEB_URL}"
headers = { Authorization = "Bearer ${env:API_TOKEN}", X-Region = "${env:SET}" }

[resources.front]
provider = "sim.router"
targets = ["east", "west"]

[[steps]]
id = "west"
action = "traffic.set"
router = "front"
split = { west = 100 }
"#;

#[test]
fn without_the_option_an_unset_variable_is_an_error_at_its_value() {
    let d = parse("plan.toml", PLAN, &strict()).unwrap_err();
    // (The unsubstituted value may fail its own check too, as it always did.)
    let messages: Vec<String> = d
        .iter()
        .map(|d| d.to_string())
        .filter(|m| m.contains("is not set"))
        .collect();
    assert_eq!(
        messages,
        [
            "plan.toml:6:7: resources.web.url: environment variable `WEB_URL` is not set",
            "plan.toml:7:29: resources.web.headers.Authorization: environment variable \
             `API_TOKEN` is not set",
        ],
        "{d}"
    );
}

#[test]
fn with_the_option_the_plan_is_valid_with_a_warning_at_each_reference() {
    let plan = parse("plan.toml", PLAN, &lenient()).unwrap();
    let w = &plan.warnings;
    assert_eq!(w.len(), 2, "{w:#?}");

    assert_eq!(
        (w[0].file.as_str(), w[0].line, w[0].column),
        ("plan.toml", 6, 8)
    );
    assert_eq!(w[0].key, "resources.web.url");
    assert_eq!(at(PLAN, &w[0]), "${env:WEB_URL}");
    assert!(
        w[0].message.contains("`WEB_URL` is not set")
            && w[0].message.contains("`http://placeholder.invalid/`"),
        "{}",
        w[0].message
    );

    // Inside a string: the column of the reference, not of the string.
    assert_eq!((w[1].line, w[1].column), (7, 37));
    assert_eq!(w[1].key, "resources.web.headers.Authorization");
    assert_eq!(at(PLAN, &w[1]), "${env:API_TOKEN}");
    assert!(
        w[1].message.contains("`placeholder-api-token`"),
        "{}",
        w[1].message
    );

    // The placeholders are what the settings hold; a set variable keeps its value.
    let web = &plan.resource("web").unwrap().settings;
    assert_eq!(web.str("url").unwrap(), "http://placeholder.invalid/");
    let headers = web.get("headers").unwrap();
    assert_eq!(headers["Authorization"], "Bearer placeholder-api-token");
    assert_eq!(headers["X-Region"], "value-from-env");
    // Only set variables count as the plan's environment (what resume compares).
    assert_eq!(
        plan.env_values(),
        [("SET".to_string(), "value-from-env".to_string())]
    );
}

#[test]
fn warnings_keep_file_order_with_the_other_warnings() {
    let text = r#"[plan]
name = "p"
[resources.db]
provider = "sim.store"
role = "replica"
[resources.front]
provider = "sim.router"
targets = ["east", "west"]
[[steps]]
id = "promote"
action = "datastore.promote"
store = "db"
[[steps]]
id = "shift"
action = "traffic.set"
router = "front"
split = { west = 100 }
depends_on = ["promote"]
on_failure = "rollback"
[[steps]]
id = "tell"
action = "notify"
url = "https://hooks.example/${env:HOOK_PATH}"
depends_on = ["shift"]
"#;
    let plan = parse("plan.toml", text, &lenient()).unwrap();
    let lines: Vec<(usize, bool)> = plan
        .warnings
        .iter()
        .map(|w| (w.line, w.message.contains("HOOK_PATH")))
        .collect();
    assert_eq!(lines, [(19, false), (23, true)], "{:#?}", plan.warnings);
    assert_eq!(plan.warnings[1].column, 30);
}

#[test]
fn a_check_the_placeholder_fails_names_the_variable_to_set() {
    let text = "[plan]\nname = \"p\"\n[resources.web]\nprovider = \"http\"\nurl = \"https://h/x\"\ntimeout = \"${env:WEB_TIMEOUT}\"\n";
    let d = parse("plan.toml", text, &lenient()).unwrap_err();
    assert_eq!(d.len(), 1, "{d}");
    let e = &d.0[0];
    assert_eq!((e.line, e.key.as_str()), (6, "resources.web.timeout"));
    assert!(
        e.message
            .contains("`WEB_TIMEOUT` is not set and `placeholder-web-timeout` stood in"),
        "{e}"
    );
    // Without the option it is the usual error, with no mention of placeholders.
    let d = parse("plan.toml", text, &strict()).unwrap_err();
    assert!(!d.to_string().contains("placeholder"), "{d}");
    assert!(d.0[0].message.contains("`WEB_TIMEOUT` is not set"), "{d}");
}

#[test]
fn placeholders_pass_the_url_and_address_checks_of_the_builtin_probes() {
    let text = r#"[plan]
name = "p"
[resources.web]
provider = "http"
url = "https://${env:WEB_HOST}/healthz"
[resources.hook_target]
provider = "http"
url = "${env:HOOK_URL}"
[resources.db]
provider = "tcp"
address = "${env:DB_ADDRESS}"
[resources.db2]
provider = "tcp"
address = "${env:DB2_HOST}:5432"
"#;
    let plan = parse("plan.toml", text, &lenient()).unwrap();
    assert_eq!(plan.warnings.len(), 4, "{:#?}", plan.warnings);
    let setting = |r: &str, k: &str| {
        plan.resource(r)
            .unwrap()
            .settings
            .str(k)
            .unwrap()
            .to_string()
    };
    assert_eq!(
        setting("web", "url"),
        "https://placeholder-web-host/healthz"
    );
    assert_eq!(setting("hook_target", "url"), "http://placeholder.invalid/");
    assert_eq!(setting("db", "address"), "placeholder.invalid:1");
    assert_eq!(setting("db2", "address"), "placeholder-db2-host:5432");
    assert!(parse("plan.toml", text, &strict()).is_err());
}

#[test]
fn json_plans_locate_the_reference_too() {
    let text = "{\n  \"plan\": { \"name\": \"p\" },\n  \"resources\": {\n    \"web\": { \"provider\": \"http\", \"url\": \"https://${env:HOST}/healthz\" }\n  },\n  \"steps\": []\n}\n";
    let plan = parse("plan.json", text, &lenient()).unwrap();
    assert_eq!(plan.warnings.len(), 1, "{:#?}", plan.warnings);
    let w = &plan.warnings[0];
    assert_eq!(at(text, w), "${env:HOST}");
    assert_eq!((w.line, w.column), (4, 50));
    assert_eq!(
        plan.resource("web").unwrap().settings.str("url").unwrap(),
        "https://placeholder-host/healthz"
    );
}
