//! Who may open control connections and sessions with us.

use std::net::{IpAddr, SocketAddr};

use crate::config::{CallType, DataSequencing, L2SpecType, SessionConfig, TunnelConfig};
use crate::event::TunnelHandle;

/// What an SCCRQ says about its sender. Nothing here is authenticated yet:
/// the Message Digest is checked with the secret of the config the policy
/// returns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerHello {
    pub host_name: Vec<u8>,
    pub router_id: u32,
    pub vendor_name: Option<Vec<u8>>,
    pub pw_capabilities: Vec<u16>,
    /// The SCCRQ carries a Control Message Authentication Nonce.
    pub wants_auth: bool,
}

/// An ICRQ or OCRQ from the peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRequest {
    pub call: CallType,
    pub pw_type: u16,
    pub remote_end_id: Vec<u8>,
    /// The peer's Local Session ID.
    pub peer_session_id: u32,
    pub serial_number: u32,
    /// Sublayer and sequencing the peer requires on what we send.
    pub l2spec: L2SpecType,
    pub sequencing: DataSequencing,
    pub circuit_status: u16,
}

/// Admission control. Returning `None` refuses: an SCCRQ gets a StopCCN
/// with Result Code 4 (not authorized), a session request a CDN.
pub trait Policy {
    /// Decides on a new control connection and supplies its parameters
    /// (secret, hello interval, windows, ...).
    fn accept_tunnel(&mut self, from: SocketAddr, peer: &PeerHello) -> Option<TunnelConfig>;

    /// Decides on a session the peer asks for. From the returned config
    /// only our side's choices are used: cookie length, sublayer,
    /// sequencing, local session ID, circuit status.
    fn accept_session(
        &mut self,
        tunnel: TunnelHandle,
        peer: SocketAddr,
        request: &SessionRequest,
    ) -> Option<SessionConfig>;
}

/// Accepts control connections from listed addresses (or anyone) with one
/// tunnel config, and every session with one session config.
#[derive(Clone, Debug)]
pub struct AllowList {
    /// Source addresses allowed to open connections; ignored when `any`.
    pub peers: Vec<IpAddr>,
    pub any: bool,
    pub tunnel: TunnelConfig,
    pub session: SessionConfig,
}

impl AllowList {
    /// Allows nobody until [`AllowList::allow`] or [`AllowList::allow_any`].
    pub fn new(tunnel: TunnelConfig, session: SessionConfig) -> Self {
        AllowList {
            peers: Vec::new(),
            any: false,
            tunnel,
            session,
        }
    }

    pub fn allow(mut self, ip: IpAddr) -> Self {
        self.peers.push(ip);
        self
    }

    pub fn allow_any(mut self) -> Self {
        self.any = true;
        self
    }
}

impl Policy for AllowList {
    fn accept_tunnel(&mut self, from: SocketAddr, _peer: &PeerHello) -> Option<TunnelConfig> {
        (self.any || self.peers.contains(&from.ip())).then(|| self.tunnel.clone())
    }

    fn accept_session(
        &mut self,
        _tunnel: TunnelHandle,
        _peer: SocketAddr,
        _request: &SessionRequest,
    ) -> Option<SessionConfig> {
        Some(self.session.clone())
    }
}

/// Refuses every incoming control connection and session (an initiator
/// that only dials out).
#[derive(Clone, Copy, Debug, Default)]
pub struct RejectAll;

impl Policy for RejectAll {
    fn accept_tunnel(&mut self, _from: SocketAddr, _peer: &PeerHello) -> Option<TunnelConfig> {
        None
    }

    fn accept_session(
        &mut self,
        _tunnel: TunnelHandle,
        _peer: SocketAddr,
        _request: &SessionRequest,
    ) -> Option<SessionConfig> {
        None
    }
}
