//! The providers the reference CLI ships (commands and the demo share them).

use dr_core::Registry;

/// Every provider the reference CLI ships: the built-ins (`http`, `tcp`,
/// `sim.*`), Redis, Cloudflare and AWS.
pub fn registry() -> Registry {
    let mut r = Registry::with_builtins();
    dr_redis::register(&mut r);
    dr_cloudflare::register(&mut r);
    dr_aws::register(&mut r);
    r
}
