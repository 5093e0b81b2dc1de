//! Errors of the command API.

use core::fmt;

use crate::event::{SessionHandle, TunnelHandle};

/// Why a command was refused.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// No such control connection (never existed or already gone).
    UnknownTunnel(TunnelHandle),
    /// No such session.
    UnknownSession(SessionHandle),
    /// The control connection is shutting down and takes no new work.
    TunnelClosing(TunnelHandle),
    /// A configuration field is unusable.
    InvalidConfig {
        field: &'static str,
        reason: &'static str,
    },
    /// A fixed ID from the configuration is already taken.
    IdInUse { field: &'static str, id: u32 },
    /// No free random ID was found (the ID space is nearly full).
    IdsExhausted { field: &'static str },
    /// [`crate::EndpointConfig::max_tunnels`] reached.
    TooManyTunnels,
    /// [`crate::EndpointConfig::max_sessions_per_tunnel`] reached.
    TooManySessions(TunnelHandle),
    /// The peer did not list this PW type in its capabilities.
    PwTypeNotSupported(u16),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownTunnel(h) => write!(f, "no tunnel with handle {}", h.0),
            Error::UnknownSession(h) => write!(f, "no session with handle {}", h.0),
            Error::TunnelClosing(h) => write!(f, "tunnel {} is shutting down", h.0),
            Error::InvalidConfig { field, reason } => write!(f, "config {field}: {reason}"),
            Error::IdInUse { field, id } => write!(f, "{field} {id} is already in use"),
            Error::IdsExhausted { field } => write!(f, "no free {field} available"),
            Error::TooManyTunnels => write!(f, "tunnel limit reached"),
            Error::TooManySessions(h) => write!(f, "session limit reached on tunnel {}", h.0),
            Error::PwTypeNotSupported(t) => {
                write!(f, "peer does not support pseudowire type {t:#06x}")
            }
        }
    }
}

impl std::error::Error for Error {}
