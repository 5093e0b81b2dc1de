//! Integration tests live in tests/; this library holds their shared harness.
pub mod daemon;
pub mod kernel_peer;
pub mod netns;
pub mod packet;
