//! Integration tests live in tests/; this library holds their shared harness.
pub mod kernel_peer;
