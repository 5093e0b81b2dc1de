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
