//! The providers the reference CLI ships (commands and the demo share them),
//! plus the registration hook of a team's own binary ([`crate::main_with`]).
//!
//! Each provider crate sits behind a cargo feature of `dr-cli` (all on by
//! default). A crate compiled out leaves its provider and action names in the
//! registry as [`Registry::compiled_out`], so a plan naming one fails
//! validation with the feature to turn on.

use std::sync::OnceLock;

use dr_core::Registry;

type Hook = Box<dyn Fn(&mut Registry) + Send + Sync>;

static HOOK: OnceLock<Hook> = OnceLock::new();

/// Installs the hook [`registry`] runs after registering what `dr` ships. The
/// first hook wins: `main_with` is called once per process.
pub(crate) fn set_hook(hook: Hook) {
    let _ = HOOK.set(hook);
}

/// The provider and action names each optional provider crate brings, by the
/// `dr-cli` feature that compiles it in, and whether it is compiled in. A test
/// checks the lists against what the crates register.
pub(crate) const CRATES: &[(&str, bool, &[&str])] = &[
    ("redis", cfg!(feature = "redis"), &["redis"]),
    (
        "cloudflare",
        cfg!(feature = "cloudflare"),
        &[
            "cloudflare.load_balancer",
            "cloudflare.dns_record",
            "cloudflare.pool.disable_origin",
            "cloudflare.pool.enable_origin",
        ],
    ),
    (
        "aws",
        cfg!(feature = "aws"),
        &[
            "aws.route53",
            "aws.route53_health_check",
            "aws.arc_routing_control",
            "aws.arc.set_routing_control",
            "aws.cloudwatch.alarm",
            "aws.rds",
            "aws.aurora_global",
            "aws.s3_replication",
            "aws.ec2.start_instances",
            "aws.autoscaling.set_capacity",
        ],
    ),
    (
        "azure",
        cfg!(feature = "azure"),
        &[
            "azure.traffic_manager",
            "azure.front_door",
            "azure.storage_account",
            "azure.postgres_flexible",
            "azure.blob_canary",
            "azure.web_app.set_connection_string",
        ],
    ),
];

/// Every provider the reference CLI ships (the built-ins `http`, `tcp`,
/// `sim.*`, then Redis, Cloudflare, AWS and Azure as far as their features are
/// on; Azure's ARM tokens come from `AZURE_ACCESS_TOKEN` or the
/// `azure_identity` chain), then those of the binary's hook.
pub fn registry() -> Registry {
    let mut r = Registry::with_builtins();
    for (feature, enabled, names) in CRATES {
        if !enabled {
            for name in *names {
                r.compiled_out(name, &format!("dr-cli/{feature}"));
            }
        }
    }
    #[cfg(feature = "redis")]
    dr_redis::register(&mut r);
    #[cfg(feature = "cloudflare")]
    dr_cloudflare::register(&mut r);
    #[cfg(feature = "aws")]
    dr_aws::register(&mut r);
    #[cfg(feature = "azure")]
    dr_azure::register(&mut r);
    if let Some(hook) = HOOK.get() {
        hook(&mut r);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With a crate's feature on, every name listed for it is registered (so
    /// the compiled-out message of a build without it names real providers).
    #[test]
    fn the_compiled_out_names_are_what_the_crates_register() {
        let r = registry();
        for (feature, enabled, names) in CRATES {
            if !enabled {
                continue;
            }
            for name in *names {
                assert!(
                    !r.kinds(name).is_empty() || r.has_action(name),
                    "`{name}` is listed under feature `{feature}` but not registered"
                );
            }
        }
    }
}
