//! The tests of dr-examples as one integration-test binary (`cargo test -p
//! dr-examples --test it`): the former `tests/plans.rs` is the module `plans`.

mod plans;
