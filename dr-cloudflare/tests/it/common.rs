//! The fake Cloudflare API lives in `dr_cloudflare::testing` (the `testing`
//! feature), shared with the plans run end to end through the `dr` binary.
#![allow(unused_imports)]

pub use dr_cloudflare::testing::*;
