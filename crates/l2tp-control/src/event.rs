//! What the endpoint reports to its owner.

use std::net::SocketAddr;

pub use l2tp_wire::avp::CallErrors;
use l2tp_wire::avp::{circuit_status, ResultCodeValue};
use l2tp_wire::data::{Cookie, L2SpecType};

use crate::config::{CallType, DataSequencing};

/// Names one control connection for the life of the endpoint. Opaque and
/// never reused; the Control Connection IDs are in [`TunnelInfo`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TunnelHandle(pub u32);

/// Names one session for the life of the endpoint. Opaque and never
/// reused; the Session IDs are in [`SessionParams`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionHandle(pub u32);

/// A Result Code AVP as sent or received (RFC 3931 5.4.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResultInfo {
    pub result: u16,
    pub error: Option<u16>,
    pub message: Option<String>,
}

impl ResultInfo {
    pub fn new(result: u16, error: Option<u16>, message: Option<&str>) -> Self {
        ResultInfo {
            result,
            error,
            message: message.map(str::to_string),
        }
    }

    /// What a peer's StopCCN or CDN said; an empty message is no message.
    pub(crate) fn received(r: &ResultCodeValue) -> Self {
        ResultInfo {
            result: r.result,
            error: r.error,
            message: (!r.message.is_empty()).then(|| r.message_text()),
        }
    }
}

/// Why a control connection went down.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TunnelDownReason {
    /// [`crate::Endpoint::close_tunnel`] was called; we sent a StopCCN.
    Closed,
    /// The peer sent a StopCCN.
    PeerStopCcn(ResultInfo),
    /// A message went unacknowledged through every retransmission; a
    /// last StopCCN was sent without waiting for its acknowledgement.
    Timeout,
    /// We tore the connection down with this StopCCN because of a protocol
    /// error, a refused peer, or a failed authentication handshake.
    Error(ResultInfo),
}

/// Why a session went down.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionDownReason {
    /// [`crate::Endpoint::close_session`] was called; we sent a CDN.
    Closed,
    /// The peer sent a CDN.
    PeerCdn(ResultInfo),
    /// We sent this CDN because of a protocol error or a refused request.
    Error(ResultInfo),
    /// The control connection went down and took the session with it.
    TunnelDown,
}

/// What we learned about the peer while establishing a control connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelInfo {
    /// Our Control Connection ID (what the peer puts in headers).
    pub local_id: u32,
    /// The peer's Control Connection ID (what we put in headers).
    pub peer_id: u32,
    pub peer: SocketAddr,
    pub peer_host_name: Option<String>,
    pub peer_router_id: Option<u32>,
    pub peer_vendor_name: Option<String>,
    pub peer_pw_capabilities: Vec<u16>,
    /// The peer's Receive Window Size (4 when it sent none).
    pub peer_window: u16,
    /// True when we sent the SCCRQ that won.
    pub initiator: bool,
    /// True when Control Message Authentication is in force.
    pub authenticated: bool,
}

/// Everything a data plane needs to carry one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionParams {
    /// Our Session ID: the peer sends data with it, we demultiplex by it.
    pub local_session_id: u32,
    /// The peer's Session ID: we send data with it.
    pub remote_session_id: u32,
    /// The cookie we assigned: received data must carry it.
    pub local_cookie: Cookie,
    /// The cookie the peer assigned: data we send must carry it.
    pub peer_cookie: Cookie,
    pub pw_type: u16,
    /// Sublayer the peer requires on data we send.
    pub tx_l2spec: L2SpecType,
    /// Sublayer we required on data we receive.
    pub rx_l2spec: L2SpecType,
    /// Sequencing the peer requires on data we send.
    pub tx_sequencing: DataSequencing,
    /// Sequencing we required on data we receive.
    pub rx_sequencing: DataSequencing,
    pub remote_end_id: Vec<u8>,
    pub serial_number: u32,
    pub call: CallType,
    /// True when we sent the ICRQ/OCRQ.
    pub initiator: bool,
    /// The peer's last Circuit Status A bit.
    pub peer_circuit_active: bool,
    pub peer: SocketAddr,
    pub local_tunnel_id: u32,
    pub peer_tunnel_id: u32,
}

/// Circuit Status AVP (RFC 3931 5.4.5, extended by RFC 5641).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CircuitStatus(pub u16);

// The bit values live in the codec (`l2tp_wire::avp::circuit_status`).
impl CircuitStatus {
    /// A: circuit up (RFC 3931).
    pub const ACTIVE: u16 = circuit_status::ACTIVE;
    /// N: new circuit (RFC 3931; deprecated by RFC 5641).
    pub const NEW: u16 = circuit_status::NEW;
    /// R: local attachment circuit (ingress) receive fault (RFC 5641).
    pub const AC_RX_FAULT: u16 = circuit_status::AC_RX_FAULT;
    /// T: local attachment circuit (egress) transmit fault (RFC 5641).
    pub const AC_TX_FAULT: u16 = circuit_status::AC_TX_FAULT;
    /// I: local PSN-facing PW (ingress) receive fault (RFC 5641).
    pub const PW_RX_FAULT: u16 = circuit_status::PW_RX_FAULT;
    /// E: local PSN-facing PW (egress) transmit fault (RFC 5641).
    pub const PW_TX_FAULT: u16 = circuit_status::PW_TX_FAULT;
    /// S: standby (RFC 5641).
    pub const STANDBY: u16 = circuit_status::STANDBY;

    pub fn active(self) -> bool {
        self.0 & Self::ACTIVE != 0
    }
}

/// Direction of a monitored control message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Sent,
    Received,
}

/// A decoded control message for monitoring.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageSummary {
    /// Message type name ("SCCRQ", "ZLB", ...).
    pub kind: String,
    /// Header Control Connection ID.
    pub ccid: u32,
    pub ns: u16,
    pub nr: u16,
    /// True for a retransmission of an earlier message.
    pub retransmit: bool,
    /// Every AVP as (name, JSON-friendly value).
    pub avps: Vec<(String, String)>,
}

/// Reports from [`crate::Endpoint::poll_event`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A control connection reached the established state.
    TunnelUp {
        tunnel: TunnelHandle,
        info: TunnelInfo,
    },
    /// A control connection is gone; its sessions were reported down first.
    TunnelDown {
        tunnel: TunnelHandle,
        reason: TunnelDownReason,
    },
    /// A session is established; program the data plane with `params`.
    SessionUp {
        tunnel: TunnelHandle,
        session: SessionHandle,
        params: Box<SessionParams>,
    },
    /// A session is gone (or never came up).
    SessionDown {
        tunnel: TunnelHandle,
        session: SessionHandle,
        reason: SessionDownReason,
    },
    /// The peer reported a circuit status change (SLI or ICCN/OCCN).
    CircuitStatus {
        tunnel: TunnelHandle,
        session: SessionHandle,
        status: CircuitStatus,
    },
    /// The peer sent a WAN-Error-Notify with these cumulative counters.
    WanError {
        tunnel: TunnelHandle,
        session: SessionHandle,
        errors: CallErrors,
    },
    /// A control message was sent or received (only with
    /// [`crate::EndpointConfig::monitor`]). `tunnel` is `None` for
    /// stateless replies and messages that match no connection.
    Message {
        tunnel: Option<TunnelHandle>,
        peer: SocketAddr,
        direction: Direction,
        summary: Box<MessageSummary>,
    },
}
