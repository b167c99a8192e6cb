//! Conformance suites every provider runs against its emulator.
