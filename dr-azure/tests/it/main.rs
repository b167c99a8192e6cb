//! dr-azure's integration tests, one test binary (`cargo test -p dr-azure --test
//! it`): the dr-core conformance suites against the ARM stand-in and Azurite, and
//! the scenarios they do not see, by service.

mod common;
mod conformance;
mod scenarios;
