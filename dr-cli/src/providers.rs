//! The providers the reference CLI ships (commands and the demo share them),
//! plus the registration hook of a team's own binary ([`crate::main_with`]).

use std::sync::OnceLock;

use dr_core::Registry;

type Hook = Box<dyn Fn(&mut Registry) + Send + Sync>;

static HOOK: OnceLock<Hook> = OnceLock::new();

/// Installs the hook [`registry`] runs after registering what `dr` ships. The
/// first hook wins: `main_with` is called once per process.
pub(crate) fn set_hook(hook: Hook) {
    let _ = HOOK.set(hook);
}

/// Every provider the reference CLI ships (the built-ins `http`, `tcp`,
/// `sim.*`, Redis, Cloudflare, AWS and Azure: ARM tokens from
/// `AZURE_ACCESS_TOKEN` or the `azure_identity` chain), then those of the binary's hook.
pub fn registry() -> Registry {
    let mut r = Registry::with_builtins();
    dr_redis::register(&mut r);
    dr_cloudflare::register(&mut r);
    dr_aws::register(&mut r);
    dr_azure::register(&mut r);
    if let Some(hook) = HOOK.get() {
        hook(&mut r);
    }
    r
}
