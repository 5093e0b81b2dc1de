//! Configuration of the endpoint, its control connections and sessions.

use std::time::Duration;

pub use l2tp_wire::data::{Encap, L2SpecType};

pub use crate::reliable::ReliableConfig;

/// IANA L2TPv3 pseudowire types used by this implementation (RFC 4719,
/// RFC 4591, RFC 4349, RFC 4454).
pub mod pw {
    /// Frame Relay DLCI.
    pub const FRAME_RELAY_DLCI: u16 = 0x0001;
    /// ATM AAL5 SDU VCC transport.
    pub const ATM_AAL5: u16 = 0x0002;
    /// ATM Cell transparent Port Mode.
    pub const ATM_CELL_PORT: u16 = 0x0003;
    /// Ethernet VLAN (RFC 4719).
    pub const ETHERNET_VLAN: u16 = 0x0004;
    /// Ethernet port (RFC 4719).
    pub const ETHERNET: u16 = 0x0005;
    /// HDLC.
    pub const HDLC: u16 = 0x0006;
    /// PPP.
    pub const PPP: u16 = 0x0007;
}

/// Message Digest algorithm of Control Message Authentication (RFC 3931
/// 5.4.1, Digest Type 0 and 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigestAlgorithm {
    /// HMAC-MD5, 16-byte digest (RFC 3931: MUST be supported).
    Md5,
    /// HMAC-SHA-1, 20-byte digest.
    Sha1,
}

/// Control Message Authentication (RFC 3931 4.3): a shared secret and the
/// digest algorithm we send with. Received digests of either type verify.
#[derive(Clone, PartialEq, Eq)]
pub struct Auth {
    pub secret: Vec<u8>,
    pub algorithm: DigestAlgorithm,
}

impl core::fmt::Debug for Auth {
    // Never print the secret.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Auth")
            .field("secret", &"<redacted>")
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

/// Parameters of one control connection ("tunnel"); used for connections
/// we open and, through the [`crate::Policy`], for the ones we accept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TunnelConfig {
    /// Host Name AVP (at least one octet).
    pub host_name: String,
    /// Router ID AVP; identifies us for tie breaking.
    pub router_id: u32,
    /// Vendor Name AVP, if any.
    pub vendor_name: Option<String>,
    /// Our Control Connection ID; `None` picks a random free one.
    pub local_id: Option<u32>,
    /// Control Message Authentication; `None` sends no digests and refuses
    /// peers that ask for them.
    pub auth: Option<Auth>,
    /// Send a HELLO after this long without hearing from the peer
    /// (RFC 3931 4.4 recommends 60 s); `None` disables keepalives.
    pub hello_interval: Option<Duration>,
    /// The HELLO timer fires up to this much early, drawn from the RNG, so
    /// connections to one peer do not send HELLOs in step (RFC 3931 4.4).
    pub hello_jitter: Duration,
    /// Retransmission and window settings.
    pub reliable: ReliableConfig,
    /// Pseudowire Capabilities List AVP: the PW types we accept.
    pub pw_capabilities: Vec<u16>,
    /// Send a Control Connection Tie Breaker AVP so simultaneous SCCRQs
    /// between the same LCCEs collapse into one connection.
    pub tie_breaker: bool,
    /// Length of our Control Message Authentication Nonce (RFC: >= 16).
    pub nonce_len: usize,
}

impl Default for TunnelConfig {
    fn default() -> Self {
        TunnelConfig {
            host_name: "l2tp-rs".to_string(),
            router_id: 0,
            vendor_name: Some("l2tp-rs".to_string()),
            local_id: None,
            auth: None,
            hello_interval: Some(Duration::from_secs(60)),
            hello_jitter: Duration::from_secs(1),
            reliable: ReliableConfig::default(),
            pw_capabilities: vec![pw::ETHERNET, pw::ETHERNET_VLAN],
            tie_breaker: true,
            nonce_len: 16,
        }
    }
}

/// Which three-message exchange establishes a session (RFC 3931 3.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum CallType {
    /// ICRQ / ICRP / ICCN, sent by the side where the circuit appears.
    #[default]
    Incoming,
    /// OCRQ / OCRP / OCCN, asking the peer to place the call.
    Outgoing,
}

/// Data Sequencing AVP levels (RFC 3931 5.4.4): which of the data packets
/// *we receive* must carry sequence numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DataSequencing {
    #[default]
    None,
    NonIp,
    All,
}

impl DataSequencing {
    pub fn to_u16(self) -> u16 {
        match self {
            DataSequencing::None => 0,
            DataSequencing::NonIp => 1,
            DataSequencing::All => 2,
        }
    }

    /// Unknown levels are kept as the strictest known one.
    pub fn from_u16(v: u16) -> DataSequencing {
        match v {
            0 => DataSequencing::None,
            1 => DataSequencing::NonIp,
            _ => DataSequencing::All,
        }
    }
}

/// Parameters of one session (pseudowire).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    pub call: CallType,
    /// Pseudowire Type AVP, e.g. [`pw::ETHERNET`].
    pub pw_type: u16,
    /// Remote End ID AVP: binds the session to a circuit at the peer.
    pub remote_end_id: Vec<u8>,
    /// Length of the random cookie we ask the peer to send: 0, 4 or 8.
    pub cookie_len: u8,
    /// The L2-Specific Sublayer we require on data we receive.
    pub l2spec: L2SpecType,
    /// The sequencing we require on data we receive.
    pub sequencing: DataSequencing,
    /// Our Local Session ID; `None` picks a random free one.
    pub local_session_id: Option<u32>,
    /// Serial Number AVP; `None` uses the endpoint's running counter.
    pub serial_number: Option<u32>,
    /// Circuit Status A bit we advertise.
    pub circuit_active: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            call: CallType::Incoming,
            pw_type: pw::ETHERNET,
            remote_end_id: Vec::new(),
            cookie_len: 0,
            l2spec: L2SpecType::Default,
            sequencing: DataSequencing::None,
            local_session_id: None,
            serial_number: None,
            circuit_active: true,
        }
    }
}

/// Endpoint-wide settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointConfig {
    /// UDP or IP (protocol 115). Over IP control messages are preceded by a
    /// zero session ID, which the endpoint strips and adds.
    pub encap: Encap,
    /// Emit an [`crate::Event::Message`] for every control message sent or
    /// received (for `l2tp monitor`).
    pub monitor: bool,
    /// Refuse new control connections beyond this many.
    pub max_tunnels: usize,
    /// Refuse new sessions beyond this many per control connection.
    pub max_sessions_per_tunnel: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            encap: Encap::Udp,
            monitor: false,
            max_tunnels: 4096,
            max_sessions_per_tunnel: 65535,
        }
    }
}
