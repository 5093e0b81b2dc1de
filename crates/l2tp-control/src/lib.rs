//! Sans-IO L2TPv3 control plane (RFC 3931): reliable delivery of control
//! messages, the control connection and session state machines, and an
//! [`Endpoint`] that owns many connections.
//!
//! In the style of quinn-proto nothing here touches a clock, a socket, a
//! thread or an entropy source: the owner feeds datagrams
//! ([`Endpoint::handle_datagram`]), expired timers
//! ([`Endpoint::handle_timeout`]) and commands ([`Endpoint::connect`],
//! [`Endpoint::open_session`], ...), each with the current `Instant`, and
//! drains [`Endpoint::poll_transmit`], [`Endpoint::poll_timeout`] and
//! [`Endpoint::poll_event`]. All randomness comes from the injected RNG.
//!
//! # Behaviour the owner can rely on
//!
//! - Handles ([`TunnelHandle`], [`SessionHandle`]) are opaque and never
//!   reused; the protocol IDs are in [`TunnelInfo`] and [`SessionParams`].
//! - [`Event::TunnelDown`] is reported for every connection the owner knows
//!   of (it called [`Endpoint::connect`], or [`Event::TunnelUp`] was
//!   reported), once, after an [`Event::SessionDown`] for each of its
//!   sessions. Sessions are likewise reported down only if the owner opened
//!   them or saw them up. Connections and sessions refused during setup
//!   from the peer's side stay silent (see [`EndpointStats`]).
//! - When both ends connect to each other at once and tie breakers are on,
//!   exactly one connection survives (RFC 3931 5.4.3). If ours loses, its
//!   handle and waiting sessions move to the peer's connection, so the
//!   handle from `connect` still comes up.
//! - A session's request (ICRQ/OCRQ) is built when the connection's send
//!   queue has room, so sessions opened in bulk wait in
//!   [`SessionState::WaitTunnel`] (holding no queued message) and go out in
//!   the order they were opened as acknowledgements drain the queue.
//! - [`Endpoint::handle_datagram_deferred`] holds a connection's replies and
//!   acknowledgements until [`Endpoint::flush`] (or [`Endpoint::handle_timeout`],
//!   which [`Endpoint::poll_timeout`] makes due at once), so a burst of
//!   received messages is acknowledged once.
//! - Session IDs are unique per endpoint, not just per connection, because
//!   over IP the data plane demultiplexes by Session ID alone.
//! - After a StopCCN (sent or received) the connection lingers for one full
//!   retransmission cycle ([`ReliableConfig::full_cycle`], 31 s by default)
//!   to acknowledge retransmissions; [`Endpoint::tunnel_state`] shows
//!   [`TunnelState::Closing`] / [`TunnelState::Lingering`] meanwhile.
//! - An L2TPv2 SCCRQ is answered statelessly with a v2 StopCCN, Result Code
//!   5, Error Code 3 (the highest version supported), unless it carries the
//!   L2TPv3 AVPs of the RFC 3931 4.7.3 fallback probe, which is then
//!   answered as L2TPv3.
//!
//! ```no_run
//! use std::time::Instant;
//! use l2tp_control::{AllowList, Endpoint, EndpointConfig, SessionConfig, TunnelConfig};
//! use rand::SeedableRng;
//!
//! let policy = AllowList::new(TunnelConfig::default(), SessionConfig::default()).allow_any();
//! let rng = rand::rngs::StdRng::seed_from_u64(1);
//! let mut ep = Endpoint::new(EndpointConfig::default(), Box::new(policy), Box::new(rng));
//! let now = Instant::now();
//! let t = ep.connect(now, "198.18.0.2:1701".parse().unwrap(), TunnelConfig::default()).unwrap();
//! ep.open_session(now, t, SessionConfig::default()).unwrap();
//! while let Some(tx) = ep.poll_transmit() {
//!     // socket.send_to(&tx.payload, tx.dst)
//!     # let _ = tx;
//! }
//! ```

mod config;
mod endpoint;
mod error;
mod event;
mod policy;
pub mod reliable;
pub mod seq;
mod stats;
mod tunnel;

pub use config::{
    pw, Auth, CallType, DataSequencing, DigestAlgorithm, Encap, EndpointConfig, L2SpecType,
    ReliableConfig, SessionConfig, TunnelConfig,
};
pub use endpoint::{Endpoint, Transmit};
pub use error::Error;
pub use event::{
    CallErrors, CircuitStatus, Direction, Event, MessageSummary, ResultInfo, SessionDownReason,
    SessionHandle, SessionParams, TunnelDownReason, TunnelHandle, TunnelInfo,
};
pub use l2tp_wire::data::Cookie;
pub use policy::{AllowList, PeerHello, Policy, RejectAll, SessionRequest};
pub use stats::{EndpointStats, TunnelStats};
pub use tunnel::{SessionState, TunnelState};
