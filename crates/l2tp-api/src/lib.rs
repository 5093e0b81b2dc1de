//! Management protocol between the `l2tp` CLI and the `l2tpd` daemon.
//!
//! Transport: a Unix stream socket (default [`DEFAULT_SOCKET`]). Each message
//! is one line of JSON terminated by `\n`. The client sends a [`RequestEnvelope`]
//! and reads exactly one [`ResponseEnvelope`] back, in order, on the same
//! connection. Every envelope carries the protocol [`PROTOCOL_VERSION`] so
//! that a daemon and a CLI from different builds detect a mismatch instead of
//! misreading each other. [`Client::connect`] starts with a [`Request::Hello`]
//! handshake.
//!
//! The request and response enums are tagged by a `"type"` field, so new
//! kinds (dynamic tunnels from the control plane, a monitor stream) can be
//! added without changing the encoding of the existing ones.

mod client;
mod types;

pub use client::{Client, ClientError, MonitorStream};
pub use types::*;

/// Where `l2tpd` listens and `l2tp` connects unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/l2tpd.sock";

/// Environment variable the CLI reads for the socket path.
pub const SOCKET_ENV: &str = "L2TP_SOCKET";

/// Bumped on any incompatible change of the JSON encoding.
pub const PROTOCOL_VERSION: u32 = 1;

/// Longest request line the daemon accepts; a show of thousands of sessions
/// is far below the response limit.
pub const MAX_REQUEST_LINE: usize = 64 * 1024;

/// Longest response line the client accepts.
pub const MAX_RESPONSE_LINE: usize = 64 * 1024 * 1024;
