//! What the conformance suites do not see: the exact ARM calls, long-running
//! operations both ways and failed, ARM errors, throttling, a rejected token, the
//! storage failover refusal, and the connection string secret; one file per
//! service, and `arm.rs` for what the ARM client does for all of them.

mod arm;
mod front_door;
mod postgres_flexible;
mod storage_account;
mod throttled;
mod traffic_manager;
mod web_app;
