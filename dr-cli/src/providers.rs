//! The providers the reference CLI ships (commands and the demo share them).

use dr_core::Registry;

/// Every provider the reference CLI ships: the built-ins (`http`, `tcp`,
/// `sim.*`), Redis, Cloudflare and Azure (`azure.*`, ARM tokens from
/// `AZURE_ACCESS_TOKEN` or the `azure_identity` chain).
pub fn registry() -> Registry {
    let mut r = Registry::with_builtins();
    dr_redis::register(&mut r);
    dr_cloudflare::register(&mut r);
    dr_azure::register(&mut r);
    r
}
