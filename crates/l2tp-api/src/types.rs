//! Request, response and state types, shared by the CLI and the daemon.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Underlay encapsulation of a tunnel (RFC 3931 4.1.1 IP, 4.1.2.1 UDP).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encap {
    /// IP protocol 115.
    Ip,
    /// UDP; the default, as in `ip l2tp`.
    #[default]
    Udp,
}

impl Encap {
    /// Spelling used by `ip l2tp show tunnel` ("UDP" / "IP").
    pub fn show_name(self) -> &'static str {
        match self {
            Encap::Ip => "IP",
            Encap::Udp => "UDP",
        }
    }
}

/// L2-Specific Sublayer carried in each data packet (RFC 3931 4.6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum L2SpecType {
    /// No sublayer.
    None,
    /// The 4-byte default sublayer; the `ip l2tp` default.
    #[default]
    Default,
}

/// Data-packet sequencing, as `ip l2tp add session ... seq`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SeqMode {
    #[default]
    None,
    Send,
    Recv,
    Both,
}

impl SeqMode {
    /// Builds the mode from the two independent flags.
    pub fn from_flags(send: bool, recv: bool) -> SeqMode {
        match (send, recv) {
            (false, false) => SeqMode::None,
            (true, false) => SeqMode::Send,
            (false, true) => SeqMode::Recv,
            (true, true) => SeqMode::Both,
        }
    }

    /// True when we number the packets we send.
    pub fn send(self) -> bool {
        matches!(self, SeqMode::Send | SeqMode::Both)
    }

    /// True when we check the peer's sequence numbers.
    pub fn recv(self) -> bool {
        matches!(self, SeqMode::Recv | SeqMode::Both)
    }
}

/// Pseudowire type of a session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PseudowireType {
    /// Ethernet port (RFC 4719, type 5): a TAP device per session.
    #[default]
    Ethernet,
    /// Negotiated as Ethernet but given no device: frames are discarded.
    /// For control-plane scale tests with thousands of sessions.
    #[serde(rename = "none")]
    Null,
}

impl PseudowireType {
    /// The word the CLI and the configuration file use.
    pub fn as_str(self) -> &'static str {
        match self {
            PseudowireType::Ethernet => "ethernet",
            PseudowireType::Null => "none",
        }
    }
}

/// Who created an object: an operator (`l2tp add`) or the control plane.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    #[default]
    Static,
    Dynamic,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Static => "static",
            Origin::Dynamic => "dynamic",
        }
    }
}

/// Why a cookie string or byte string was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CookieError {
    /// A cookie is 4 or 8 bytes, i.e. 8 or 16 hex digits.
    BadLength { digits: usize },
    /// A character that is not a hex digit.
    NotHex,
}

impl fmt::Display for CookieError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CookieError::BadLength { digits } => write!(
                f,
                "cookie must be either 8 or 16 hex digits (4 or 8 bytes), got {digits}"
            ),
            CookieError::NotHex => f.write_str("cookie must be a hex string"),
        }
    }
}

impl std::error::Error for CookieError {}

/// A non-empty L2TPv3 cookie (4 or 8 bytes). "No cookie" is `Option::None`.
///
/// Serialized as a lowercase hex string, which is also how `ip l2tp` prints it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cookie {
    len: u8,
    bytes: [u8; 8],
}

impl Cookie {
    /// Accepts exactly 4 or 8 bytes.
    pub fn from_bytes(b: &[u8]) -> Result<Cookie, CookieError> {
        if b.len() != 4 && b.len() != 8 {
            return Err(CookieError::BadLength {
                digits: b.len() * 2,
            });
        }
        let mut bytes = [0u8; 8];
        bytes[..b.len()].copy_from_slice(b);
        Ok(Cookie {
            len: b.len() as u8,
            bytes,
        })
    }

    /// Parses 8 or 16 hex digits, either case, no prefix (the `ip l2tp` HEXSTR).
    pub fn from_hex(s: &str) -> Result<Cookie, CookieError> {
        let digits = s.chars().count();
        if digits != 8 && digits != 16 {
            return Err(CookieError::BadLength { digits });
        }
        let mut bytes = [0u8; 8];
        for (i, pair) in s.as_bytes().chunks(2).enumerate() {
            let (hi, lo) = match pair {
                [hi, lo] => (hex_val(*hi)?, hex_val(*lo)?),
                _ => return Err(CookieError::NotHex),
            };
            match bytes.get_mut(i) {
                Some(slot) => *slot = (hi << 4) | lo,
                None => return Err(CookieError::NotHex),
            }
        }
        Ok(Cookie {
            len: (digits / 2) as u8,
            bytes,
        })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Always false: an empty cookie is represented by `None`. Present for clippy's sake.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Lowercase hex, the form `ip l2tp show session` prints.
    pub fn to_hex(&self) -> String {
        use fmt::Write;
        let mut s = String::with_capacity(16);
        for b in self.as_bytes() {
            let _ = write!(s, "{b:02x}");
        }
        s
    }
}

fn hex_val(c: u8) -> Result<u8, CookieError> {
    match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(CookieError::NotHex),
    }
}

impl fmt::Debug for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cookie({})", self.to_hex())
    }
}

impl fmt::Display for Cookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for Cookie {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for Cookie {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Cookie::from_hex(&s).map_err(serde::de::Error::custom)
    }
}

fn yes() -> bool {
    true
}

/// Everything `ip l2tp add tunnel` takes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelSpec {
    pub tunnel_id: u32,
    pub peer_tunnel_id: u32,
    #[serde(default)]
    pub encap: Encap,
    /// `None` (or `local any`): bind to the unspecified address of `remote`'s family.
    #[serde(default)]
    pub local: Option<IpAddr>,
    pub remote: IpAddr,
    /// UDP only; `None` means the L2TP port 1701.
    #[serde(default)]
    pub udp_sport: Option<u16>,
    /// UDP only; `None` means the L2TP port 1701.
    #[serde(default)]
    pub udp_dport: Option<u16>,
    /// IPv4 UDP checksums on transmit; off by default as in `ip l2tp`.
    #[serde(default)]
    pub udp_csum: bool,
    /// IPv6 UDP checksums on transmit; on by default.
    #[serde(default = "yes")]
    pub udp6_csum_tx: bool,
    /// Accept IPv6 UDP packets with a zero checksum when false; on by default.
    #[serde(default = "yes")]
    pub udp6_csum_rx: bool,
}

impl TunnelSpec {
    /// A UDP tunnel with `ip l2tp`'s defaults for everything not given.
    pub fn new(tunnel_id: u32, peer_tunnel_id: u32, remote: IpAddr) -> TunnelSpec {
        TunnelSpec {
            tunnel_id,
            peer_tunnel_id,
            encap: Encap::Udp,
            local: None,
            remote,
            udp_sport: None,
            udp_dport: None,
            udp_csum: false,
            udp6_csum_tx: true,
            udp6_csum_rx: true,
        }
    }
}

/// Everything `ip l2tp add session` takes, plus `mtu` and `reorder_timeout`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionSpec {
    pub tunnel_id: u32,
    pub session_id: u32,
    pub peer_session_id: u32,
    #[serde(default)]
    pub pw_type: PseudowireType,
    /// Interface name; the daemon picks `l2tpethN` when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Cookie we put in packets we send.
    #[serde(default)]
    pub cookie: Option<Cookie>,
    /// Cookie we require in packets we receive.
    #[serde(default)]
    pub peer_cookie: Option<Cookie>,
    #[serde(default)]
    pub l2spec_type: L2SpecType,
    #[serde(default)]
    pub seq: SeqMode,
    /// Device MTU; derived from the encapsulation overhead when absent.
    #[serde(default)]
    pub mtu: Option<u32>,
    /// How long out-of-order packets wait for the missing ones (milliseconds).
    #[serde(default)]
    pub reorder_timeout_ms: Option<u64>,
}

impl SessionSpec {
    /// An Ethernet session with `ip l2tp`'s defaults for everything not given.
    pub fn new(tunnel_id: u32, session_id: u32, peer_session_id: u32) -> SessionSpec {
        SessionSpec {
            tunnel_id,
            session_id,
            peer_session_id,
            pw_type: PseudowireType::Ethernet,
            name: None,
            cookie: None,
            peer_cookie: None,
            l2spec_type: L2SpecType::Default,
            seq: SeqMode::None,
            mtu: None,
            reorder_timeout_ms: None,
        }
    }
}

/// Data-plane counters, the kernel's L2TP genl statistics set.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_errors: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_errors: u64,
    pub rx_seq_discards: u64,
    pub rx_oos_packets: u64,
    pub rx_cookie_discards: u64,
    pub rx_invalid: u64,
}

/// A tunnel as the daemon runs it (defaults resolved).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelState {
    pub tunnel_id: u32,
    pub peer_tunnel_id: u32,
    pub encap: Encap,
    pub local: IpAddr,
    pub remote: IpAddr,
    /// 0 for IP encapsulation.
    pub udp_sport: u16,
    /// 0 for IP encapsulation.
    pub udp_dport: u16,
    pub udp_csum: bool,
    pub udp6_csum_tx: bool,
    pub udp6_csum_rx: bool,
    #[serde(default)]
    pub origin: Origin,
    /// Number of sessions in the tunnel.
    #[serde(default)]
    pub session_count: u32,
    #[serde(default)]
    pub stats: Counters,
    /// Control connection of a dynamic tunnel; `None` for static ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<TunnelControl>,
}

/// What the control plane knows about a dynamic tunnel.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TunnelControl {
    /// Name of the `[[tunnel]]` in the daemon's configuration file.
    pub name: String,
    /// "wait-ctl-reply", "wait-ctl-conn", "established", "closing", ...
    pub state: String,
    /// True when we sent the SCCRQ.
    pub initiator: bool,
    /// True when Control Message Authentication is in force.
    pub authenticated: bool,
    pub peer_host_name: Option<String>,
    pub peer_router_id: Option<u32>,
    pub peer_vendor_name: Option<String>,
    /// Sessions the control connection holds (established or not).
    pub sessions: u32,
    pub stats: ControlCounters,
}

/// Reliable-delivery counters of one control connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ControlCounters {
    pub tx_messages: u64,
    pub retransmissions: u64,
    pub tx_acks: u64,
    pub rx_messages: u64,
    pub rx_acks: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub out_of_window: u64,
    /// Messages dropped because the Message Digest did not verify.
    pub bad_digest: u64,
    pub malformed: u64,
    pub hellos_sent: u64,
    /// Our messages not yet acknowledged.
    pub unacked: u64,
}

/// A session as the daemon runs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    pub tunnel_id: u32,
    pub peer_tunnel_id: u32,
    pub session_id: u32,
    pub peer_session_id: u32,
    #[serde(default)]
    pub pw_type: PseudowireType,
    pub ifname: String,
    #[serde(default)]
    pub ifindex: u32,
    #[serde(default)]
    pub mtu: u32,
    #[serde(default)]
    pub cookie: Option<Cookie>,
    #[serde(default)]
    pub peer_cookie: Option<Cookie>,
    #[serde(default)]
    pub l2spec_type: L2SpecType,
    #[serde(default)]
    pub seq: SeqMode,
    #[serde(default)]
    pub reorder_timeout_ms: Option<u64>,
    #[serde(default)]
    pub origin: Origin,
    #[serde(default)]
    pub stats: Counters,
    /// What the control plane negotiated; `None` for static sessions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<SessionControl>,
    /// Which directions move inside the kernel (tc-bpf fast path).
    #[serde(default)]
    pub fast_path: FastPath,
}

/// Which halves of a session the in-kernel tc-bpf fast path carries; the
/// rest (and anything the programs do not take) goes through userspace.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FastPath {
    /// Frames from the device are encapsulated in the kernel.
    pub tx: bool,
    /// Packets from the peer are decapsulated in the kernel.
    pub rx: bool,
    /// Why transmit stays in userspace while receive is in the kernel
    /// (say, "veth0 is a veth device (a virtual link)").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_note: Option<String>,
}

/// What the control plane negotiated for a dynamic session.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionControl {
    /// Name of the tunnel in the configuration file.
    pub tunnel_name: String,
    /// Remote End ID AVP (as text when printable, else hex).
    pub remote_end_id: String,
    /// Serial Number AVP of the ICRQ.
    pub serial_number: u32,
    /// True when we sent the ICRQ.
    pub initiator: bool,
    /// Last Circuit Status A bit the peer reported.
    pub peer_circuit_active: bool,
}

/// `l2tp add session dynamic`: asks the control plane to set up a session
/// on a dynamic tunnel (ICRQ / ICRP / ICCN).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DynamicSessionSpec {
    /// The tunnel: its name in the configuration file, or its ID.
    pub tunnel: String,
    #[serde(default)]
    pub pw_type: PseudowireType,
    /// Remote End ID AVP: tells the peer which circuit to bind.
    #[serde(default)]
    pub remote_end_id: Option<String>,
    /// Interface name; `l2tpethN` when absent.
    #[serde(default)]
    pub name: Option<String>,
    /// Length of the random cookie the peer must send us: 0, 4 or 8.
    #[serde(default)]
    pub cookie_len: u8,
    #[serde(default)]
    pub l2spec_type: L2SpecType,
    /// `recv`/`both` ask the peer to number its packets; `send`/`both`
    /// number ours.
    #[serde(default)]
    pub seq: SeqMode,
    #[serde(default)]
    pub mtu: Option<u32>,
}

/// A control message seen by the daemon, for `l2tp monitor`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MonitorMessage {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// "sent" or "received".
    pub direction: String,
    /// "udp" or "ip".
    pub encap: Encap,
    pub peer: String,
    /// Our tunnel ID when the message belongs to a known tunnel.
    pub tunnel_id: Option<u32>,
    /// Control Connection ID in the header.
    pub ccid: u32,
    /// "SCCRQ", "ZLB", "HELLO", ...
    pub message: String,
    pub ns: u16,
    pub nr: u16,
    pub retransmit: bool,
    /// Every AVP in order.
    pub avps: Vec<MonitorAvp>,
}

/// One AVP of a monitored message; `value` is JSON text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorAvp {
    pub name: String,
    pub value: String,
}

/// Control-plane status for `l2tp show control`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ControlStatus {
    /// Where the daemon listens for SCCRQs ("udp 198.18.0.1:1701").
    pub listeners: Vec<String>,
    /// One per configured tunnel.
    pub tunnels: Vec<ConfiguredTunnel>,
    /// Per encapsulation: datagrams that belong to no tunnel.
    pub endpoints: Vec<EndpointCounters>,
}

/// A `[[tunnel]]` of the configuration file and how it is doing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfiguredTunnel {
    pub name: String,
    pub encap: Encap,
    pub local: String,
    /// Peer address, or "any".
    pub peer: String,
    /// True when this side sends the SCCRQ.
    pub initiate: bool,
    /// "down", "connecting", "established", "retry-wait", "listening".
    pub state: String,
    /// Our ID of the live control connection, if any.
    pub tunnel_id: Option<u32>,
    /// Connection attempts made (initiator) or accepted (responder).
    pub attempts: u64,
    /// Times the tunnel came up.
    pub established: u64,
    /// Why the last connection ended or failed.
    pub last_error: Option<String>,
    /// Milliseconds until the next attempt (initiator waiting to retry).
    pub retry_in_ms: Option<u64>,
}

/// Endpoint-wide control counters (one endpoint per encapsulation).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointCounters {
    pub encap: Encap,
    pub rx_datagrams: u64,
    pub rx_malformed: u64,
    pub rx_unknown_tunnel: u64,
    /// SCCRQs dropped because their Message Digest did not verify.
    pub bad_digest: u64,
    /// SCCRQs refused with a StopCCN (not allowed, limits, errors).
    pub rejected: u64,
    /// L2TPv2 SCCRQs answered with "unsupported protocol version".
    pub v2_rejected: u64,
    pub stateless_replies: u64,
}

/// One request from a client.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    /// First message on a connection; the daemon answers with its version.
    Hello {
        /// Free text naming the client, for the daemon's log.
        #[serde(default)]
        client: String,
    },
    AddTunnel(TunnelSpec),
    /// Removes the tunnel and all its sessions.
    DelTunnel {
        tunnel_id: u32,
    },
    AddSession(SessionSpec),
    DelSession {
        tunnel_id: u32,
        session_id: u32,
    },
    /// All tunnels, or the one given (an unknown ID is an error).
    ShowTunnels {
        #[serde(default)]
        tunnel_id: Option<u32>,
    },
    /// All sessions, or those matching the given IDs.
    ShowSessions {
        #[serde(default)]
        tunnel_id: Option<u32>,
        #[serde(default)]
        session_id: Option<u32>,
    },
    /// Opens a session on a dynamic tunnel through the control plane.
    AddDynamicSession(DynamicSessionSpec),
    /// Configured tunnels and control-plane counters.
    ShowControl,
    /// Turns the connection into a stream: [`Response::MonitorStarted`],
    /// then one [`Response::Message`] per control message until the client
    /// closes the connection.
    Monitor,
}

impl Request {
    /// Short name for logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Hello { .. } => "hello",
            Request::AddTunnel(_) => "add_tunnel",
            Request::DelTunnel { .. } => "del_tunnel",
            Request::AddSession(_) => "add_session",
            Request::DelSession { .. } => "del_session",
            Request::ShowTunnels { .. } => "show_tunnels",
            Request::ShowSessions { .. } => "show_sessions",
            Request::AddDynamicSession(_) => "add_dynamic_session",
            Request::ShowControl => "show_control",
            Request::Monitor => "monitor",
        }
    }
}

/// One response from the daemon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Response {
    Hello {
        version: u32,
        /// Daemon name and build version, e.g. "l2tpd 0.1.0".
        server: String,
    },
    TunnelAdded(TunnelState),
    SessionAdded(SessionState),
    /// A delete succeeded.
    Done,
    Tunnels {
        tunnels: Vec<TunnelState>,
    },
    Sessions {
        sessions: Vec<SessionState>,
    },
    /// The ICRQ is on its way; the session shows up once established.
    SessionRequested {
        tunnel_id: u32,
        session_id: u32,
    },
    Control(ControlStatus),
    /// A monitor stream begins.
    MonitorStarted,
    /// One control message of a monitor stream.
    Message(MonitorMessage),
    Error(ApiError),
}

/// What went wrong, as a machine-readable kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    TunnelExists,
    NoSuchTunnel,
    SessionExists,
    NoSuchSession,
    InvalidArgument,
    AddressFamilyMismatch,
    PortInUse,
    PermissionDenied,
    DeviceExists,
    /// The client speaks another protocol version.
    VersionMismatch,
    /// The request line was not valid JSON or not a known request.
    BadRequest,
    /// A request this daemon knows of but cannot do yet.
    Unsupported,
    Internal,
    /// A kind added by a newer daemon.
    #[serde(other)]
    Unknown,
}

/// An error the daemon reports for a request; `message` is for humans and
/// names the field and the reason.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ApiError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            message: message.into(),
        }
    }

    /// An [`ErrorKind::InvalidArgument`] naming the field.
    pub fn invalid(field: &str, reason: impl fmt::Display) -> ApiError {
        ApiError::new(
            ErrorKind::InvalidArgument,
            format!("invalid {field}: {reason}"),
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ApiError {}

/// A request line on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestEnvelope {
    pub version: u32,
    pub request: Request,
}

/// A response line on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseEnvelope {
    pub version: u32,
    pub response: Response,
}

/// Minimal view of a request line, used by the daemon to answer a version
/// mismatch even when the rest of the line is from an unknown protocol.
#[derive(Clone, Debug, Deserialize)]
pub struct VersionProbe {
    pub version: u32,
}
