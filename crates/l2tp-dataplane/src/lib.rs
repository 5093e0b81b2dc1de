//! Userspace L2TPv3 data plane.
//!
//! The Linux kernel splits L2TP into a protocol core (`l2tp_core.c`: headers,
//! cookies, sequence numbers, reordering), the underlay sockets (UDP or IP
//! protocol 115) and pseudowire drivers (`l2tp_eth.c`: one netdevice per
//! session). This crate does the same split in userspace so it runs on hosts
//! without the `l2tp_*` modules:
//!
//! * [`core`] — per-session protocol logic without I/O (time is a parameter),
//! * [`counters`] — the kernel's per-session / per-tunnel statistics,
//! * [`encap`] — underlay sockets (UDP or raw IP, IPv4 or IPv6),
//! * [`pseudowire`] — drivers that carry frames to the host (TAP for Ethernet,
//!   or a null pseudowire that only counts),
//! * [`offload`] — segmentation of the host's large (TSO/USO) frames,
//!   coalescing of received ones (GRO), checksums, and the switches
//!   ([`FastpathOptions`]) that turn each technique on or off,
//! * [`UserspaceDataplane`] — threads gluing it together behind the
//!   [`Dataplane`] trait the daemon programs against: a receive thread per
//!   socket (UDP GRO, `recvmmsg`), a pool of transmit workers, one per TAP
//!   queue (UDP GSO, `sendmmsg`), and a background remover of devices.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub mod core;
pub mod counters;
pub mod encap;
pub mod offload;
pub mod pseudowire;
mod reaper;
mod sys;
pub mod tcbpf;
mod txpool;
mod userspace;
mod worker;

/// The codec every header is built and parsed with.
pub(crate) use l2tp_wire::data as wire;

pub use offload::{FastpathOptions, TcBpfTx};
pub use userspace::{ControlHandler, ControlPacket, UnderlayStats, UserspaceDataplane};
pub use wire::{Cookie, Encap, L2SpecType};

/// One L2TPv3 tunnel's underlay: where packets go and how they are wrapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelConfig {
    /// Our tunnel (control connection) ID.
    pub tunnel_id: u32,
    /// The peer's tunnel ID (informational for static v3 data tunnels).
    pub peer_tunnel_id: u32,
    /// UDP or IP (protocol 115) encapsulation.
    pub encap: Encap,
    /// Local address the underlay socket is bound to.
    pub local: IpAddr,
    /// Peer address packets are sent to and accepted from.
    pub remote: IpAddr,
    /// Local UDP port (UDP encapsulation only).
    pub udp_sport: u16,
    /// Peer UDP port (UDP encapsulation only).
    pub udp_dport: u16,
    /// Compute UDP checksums on IPv4 transmit (kernel default: off).
    pub udp_csum: bool,
    /// Compute UDP checksums on IPv6 transmit (zero checksums need RFC 6935).
    pub udp6_csum_tx: bool,
    /// Require UDP checksums on IPv6 receive (false accepts zero checksums).
    pub udp6_csum_rx: bool,
}

/// Which directions use the default L2-Specific Sublayer's sequence numbers.
///
/// As in the kernel (a session not in LNS mode), `send` then follows the
/// peer: it is switched on when the peer's packets carry sequence numbers
/// and off when they stop carrying them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SeqMode {
    /// Number the packets we send (S bit set).
    pub send: bool,
    /// Require sequence numbers on the packets we receive.
    pub recv: bool,
}

/// Pseudowire kinds this data plane can terminate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PseudowireType {
    /// Ethernet (RFC 4719, pseudowire type 0x0005): a TAP device per session.
    Ethernet,
    /// No device: received frames are counted and dropped, nothing is sent.
    /// No thread, descriptor or buffer per session, for scale tests.
    Null,
}

/// One session (pseudowire) inside a tunnel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Tunnel the session belongs to.
    pub tunnel_id: u32,
    /// Our session ID: what the peer puts in packets it sends us.
    pub session_id: u32,
    /// The peer's session ID: what we put in packets we send.
    pub peer_session_id: u32,
    /// How frames reach the host.
    pub pw_type: PseudowireType,
    /// Interface name; `None` lets the kernel number an `l2tpeth%d` device.
    pub ifname: Option<String>,
    /// Cookie we send.
    pub cookie: Cookie,
    /// Cookie we expect from the peer (mismatches are dropped).
    pub peer_cookie: Cookie,
    /// Sublayer carried between the header and the frame.
    pub l2spec: L2SpecType,
    /// Sequence numbering (needs the default sublayer).
    pub seq: SeqMode,
    /// Device MTU; `None` computes it from the encapsulation overhead.
    pub mtu: Option<u32>,
    /// How long out-of-order packets are held for reordering; `None` drops
    /// them instead (the kernel's `reorder_timeout` 0).
    pub reorder_timeout: Option<Duration>,
}

/// Statistics of one session or one tunnel, the set `ip l2tp` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    /// Frames sent into the underlay.
    pub tx_packets: u64,
    /// Payload (frame) bytes sent.
    pub tx_bytes: u64,
    /// Frames that could not be sent.
    pub tx_errors: u64,
    /// Frames delivered to the pseudowire.
    pub rx_packets: u64,
    /// Payload (frame) bytes delivered.
    pub rx_bytes: u64,
    /// Received packets dropped for any reason.
    pub rx_errors: u64,
    /// Dropped for sequence reasons (missing, duplicate, too old, expired).
    pub rx_seq_discards: u64,
    /// Arrived out of order (whether later delivered or not).
    pub rx_oos_packets: u64,
    /// Dropped because the cookie did not match.
    pub rx_cookie_discards: u64,
    /// Malformed (truncated header, unknown session, wrong peer).
    pub rx_invalid: u64,
}

/// What the data plane reports about a created session's device.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    /// Name the device got (the kernel fills in `%d`).
    pub ifname: String,
    /// Interface index of the device.
    pub ifindex: u32,
    /// MTU the device was given.
    pub mtu: u32,
}

/// Why a data-plane operation failed; each says what to change.
#[derive(Debug)]
#[non_exhaustive]
pub enum DataplaneError {
    /// A tunnel with this ID already exists.
    TunnelExists(u32),
    /// No tunnel has this ID.
    NoSuchTunnel(u32),
    /// This session ID is already used (v3 session IDs are per daemon).
    SessionExists(u32),
    /// The tunnel has no such session.
    NoSuchSession {
        /// Tunnel searched.
        tunnel_id: u32,
        /// Session not found.
        session_id: u32,
    },
    /// Local and remote addresses are of different families.
    AddressFamilyMismatch {
        /// Configured local address.
        local: IpAddr,
        /// Configured remote address.
        remote: IpAddr,
    },
    /// The local address/port is taken by another socket.
    PortInUse {
        /// The address that could not be bound.
        local: SocketAddr,
    },
    /// The kernel refused an operation that needs privileges.
    PermissionDenied {
        /// The operation refused.
        what: String,
    },
    /// A network device with this name already exists.
    DeviceExists(String),
    /// A configuration field has an unusable value.
    Invalid {
        /// The field.
        field: &'static str,
        /// Why it is unusable.
        reason: String,
    },
    /// Any other system error.
    Io {
        /// What was being done.
        context: String,
        /// The system error.
        source: std::io::Error,
    },
}

impl fmt::Display for DataplaneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TunnelExists(id) => write!(f, "tunnel {id} already exists; pick another tunnel_id or delete it first"),
            Self::NoSuchTunnel(id) => write!(f, "tunnel {id} does not exist"),
            Self::SessionExists(id) => write!(f, "session ID {id} is already in use (L2TPv3 session IDs are unique per host); pick another session_id"),
            Self::NoSuchSession { tunnel_id, session_id } => {
                write!(f, "session {session_id} does not exist in tunnel {tunnel_id}")
            }
            Self::AddressFamilyMismatch { local, remote } => write!(
                f,
                "local address {local} and remote address {remote} are of different families; use two IPv4 or two IPv6 addresses"
            ),
            Self::PortInUse { local } => write!(f, "cannot bind {local}: address already in use by another socket"),
            Self::PermissionDenied { what } => {
                write!(f, "permission denied: {what} (needs root or CAP_NET_ADMIN/CAP_NET_RAW)")
            }
            Self::DeviceExists(name) => write!(f, "network device {name} already exists; choose another ifname"),
            Self::Invalid { field, reason } => write!(f, "invalid {field}: {reason}"),
            Self::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for DataplaneError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// The operations the daemon drives; implemented in userspace here and by
/// the kernel (netlink) elsewhere.
pub trait Dataplane: Send {
    /// Creates the tunnel's underlay (shared with other tunnels on the same
    /// local address and port).
    fn add_tunnel(&mut self, cfg: TunnelConfig) -> Result<(), DataplaneError>;
    /// Removes the tunnel and all of its sessions.
    fn del_tunnel(&mut self, tunnel_id: u32) -> Result<(), DataplaneError>;
    /// Creates the session and its device; the device is up on return.
    fn add_session(&mut self, cfg: SessionConfig) -> Result<SessionInfo, DataplaneError>;
    /// Removes the session; its device disappears.
    fn del_session(&mut self, tunnel_id: u32, session_id: u32) -> Result<(), DataplaneError>;
    /// Totals over every session the tunnel has had (kept when a session
    /// goes, as in the kernel). Packets matching no session are counted per
    /// socket instead (see `UserspaceDataplane::underlay_stats`).
    fn tunnel_counters(&self, tunnel_id: u32) -> Result<Counters, DataplaneError>;
    /// One session's statistics.
    fn session_counters(&self, tunnel_id: u32, session_id: u32)
        -> Result<Counters, DataplaneError>;
    /// Whether the session's frames move inside the kernel (the tc-bpf fast
    /// path), as `(transmit, receive)`.
    fn fast_path(&self, _tunnel_id: u32, _session_id: u32) -> (bool, bool) {
        (false, false)
    }
    /// Why a session on the fast path transmits from userspace, if it does.
    fn fast_path_note(&self, _tunnel_id: u32, _session_id: u32) -> Option<String> {
        None
    }
    /// Stops workers and removes every device; also done on drop.
    fn shutdown(&mut self);
}
