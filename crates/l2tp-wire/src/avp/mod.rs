//! Attribute-Value Pairs (RFC 2661 4.1, RFC 3931 5.1).
//!
//! Three layers: [`Packet`] is a zero-copy view of one AVP header; [`iter`]
//! walks an AVP list yielding [`RawAvp`]s and stops at the first malformed
//! header (it cannot loop: every step consumes at least 6 bytes);
//! [`AvpValue`] is the owned, typed value of every AVP this codec knows.

pub mod hidden;
mod value;

pub use value::{AvpValue, CallErrors, ResultCodeValue};

use crate::data::be16;
use crate::error::{Error, Result};

/// Mandatory bit.
pub const M_BIT: u16 = 0x8000;
/// Hidden bit.
pub const H_BIT: u16 = 0x4000;
/// The four reserved bits between H and Length.
pub const RESERVED_MASK: u16 = 0x3c00;
/// The 10-bit Length field.
pub const LEN_MASK: u16 = 0x03ff;
/// Flags/length, vendor ID, attribute type.
pub const HEADER_LEN: usize = 6;
/// Largest AVP the 10-bit Length field allows.
pub const MAX_LEN: usize = 1023;
/// Largest value that fits (after any hiding).
pub const MAX_VALUE_LEN: usize = MAX_LEN - HEADER_LEN;
/// Vendor ID of IETF-defined AVPs.
pub const IETF_VENDOR: u16 = 0;

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const FLAGS_LEN: Field = 0..2;
    pub const VENDOR: Field = 2..4;
    pub const ATTR: Field = 4..6;
}

/// A zero-copy view of one AVP (header plus value).
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps without checks; getters may panic if the buffer is short.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps and validates so that no getter can panic.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the header fits, Length >= 6 and Length <= buffer length.
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        if buf.len() < HEADER_LEN {
            return Err(Error::BadAvpLength {
                vendor_id: buf.get(field::VENDOR).map(be16).unwrap_or(0),
                attr_type: 0,
                length: buf.len() as u16,
            });
        }
        let len = usize::from(self.length());
        if len < HEADER_LEN || len > buf.len() {
            return Err(Error::BadAvpLength {
                vendor_id: self.vendor_id(),
                attr_type: self.attr_type(),
                length: len as u16,
            });
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn flags_len(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::FLAGS_LEN])
    }

    pub fn mandatory(&self) -> bool {
        self.flags_len() & M_BIT != 0
    }

    pub fn hidden(&self) -> bool {
        self.flags_len() & H_BIT != 0
    }

    /// The four reserved bits (must be sent as 0, ignored on receipt).
    pub fn reserved(&self) -> u8 {
        ((self.flags_len() & RESERVED_MASK) >> 10) as u8
    }

    /// Total AVP length including the 6-byte header.
    pub fn length(&self) -> u16 {
        self.flags_len() & LEN_MASK
    }

    pub fn vendor_id(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::VENDOR])
    }

    pub fn attr_type(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::ATTR])
    }

    /// The attribute value (still hidden if the H bit is set).
    pub fn value(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.length())]
    }
}

impl<'a> Packet<&'a [u8]> {
    /// The value with the buffer's lifetime rather than the view's.
    pub fn value_bytes(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer;
        &b[HEADER_LEN..usize::from(self.length())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes flags and length; `len` must be <= 1023.
    pub fn set_header(&mut self, mandatory: bool, hidden: bool, len: u16) {
        let mut w = len & LEN_MASK;
        if mandatory {
            w |= M_BIT;
        }
        if hidden {
            w |= H_BIT;
        }
        self.buffer.as_mut()[field::FLAGS_LEN].copy_from_slice(&w.to_be_bytes());
    }

    pub fn set_vendor_id(&mut self, v: u16) {
        self.buffer.as_mut()[field::VENDOR].copy_from_slice(&v.to_be_bytes());
    }

    pub fn set_attr_type(&mut self, t: u16) {
        self.buffer.as_mut()[field::ATTR].copy_from_slice(&t.to_be_bytes());
    }

    /// The value area up to the end of the buffer.
    pub fn value_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// One AVP as found on the wire, borrowed from the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawAvp<'a> {
    pub mandatory: bool,
    pub hidden: bool,
    pub vendor_id: u16,
    pub attr_type: u16,
    /// The value bytes (hidden form when `hidden`).
    pub value: &'a [u8],
    /// Offset of the AVP header within the list it was read from.
    pub offset: usize,
}

impl RawAvp<'_> {
    /// The IETF type, if vendor 0 and known.
    pub fn avp_type(&self) -> Option<AvpType> {
        if self.vendor_id == IETF_VENDOR {
            AvpType::from_code(self.attr_type)
        } else {
            None
        }
    }

    /// Total on-wire length.
    pub fn len(&self) -> usize {
        HEADER_LEN + self.value.len()
    }

    /// Never true: an AVP always has its 6-byte header.
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// Iterator over an AVP list; yields one `Err` for a malformed header and
/// then stops, so a hostile Length cannot make it loop or read past the end.
#[derive(Clone, Debug)]
pub struct AvpIter<'a> {
    buf: &'a [u8],
    pos: usize,
    failed: bool,
}

/// Iterates over the AVPs of a control message body.
pub fn iter(body: &[u8]) -> AvpIter<'_> {
    AvpIter {
        buf: body,
        pos: 0,
        failed: false,
    }
}

impl<'a> Iterator for AvpIter<'a> {
    type Item = Result<RawAvp<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let rest = self.buf.get(self.pos..)?;
        if rest.is_empty() {
            return None;
        }
        let p = match Packet::new_checked(rest) {
            Ok(p) => p,
            Err(e) => {
                self.failed = true;
                return Some(Err(e));
            }
        };
        let len = usize::from(p.length());
        let raw = RawAvp {
            mandatory: p.mandatory(),
            hidden: p.hidden(),
            vendor_id: p.vendor_id(),
            attr_type: p.attr_type(),
            value: p.value_bytes(),
            offset: self.pos,
        };
        // check_len guarantees len >= HEADER_LEN, so this always advances.
        self.pos += len;
        Some(Ok(raw))
    }
}

impl core::iter::FusedIterator for AvpIter<'_> {}

/// Writes one AVP header + value into the front of `buf`; returns its length.
pub fn emit_raw(
    buf: &mut [u8],
    mandatory: bool,
    hidden: bool,
    vendor_id: u16,
    attr_type: u16,
    value: &[u8],
) -> Result<usize> {
    let len = HEADER_LEN + value.len();
    if len > MAX_LEN {
        return Err(Error::TooLong { field: "AVP", len });
    }
    crate::error::check_room(buf, len)?;
    let mut p = Packet::new_unchecked(&mut buf[..len]);
    p.set_header(mandatory, hidden, len as u16);
    p.set_vendor_id(vendor_id);
    p.set_attr_type(attr_type);
    p.value_mut().copy_from_slice(value);
    Ok(len)
}

macro_rules! avp_types {
    ($( $(#[$m:meta])* $v:ident = $n:literal, $name:literal, $mand:literal; )*) => {
        /// IETF (vendor 0) attribute types, with their RFC names.
        #[non_exhaustive]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum AvpType {
            $( $(#[$m])* $v, )*
        }

        impl AvpType {
            /// Every known type in numeric order.
            pub const ALL: &'static [AvpType] = &[$(AvpType::$v),*];

            /// The attribute type number.
            pub const fn code(self) -> u16 {
                match self { $(AvpType::$v => $n,)* }
            }

            pub const fn from_code(c: u16) -> Option<AvpType> {
                match c { $($n => Some(AvpType::$v),)* _ => None }
            }

            /// Stable display name (used as the JSON "name").
            pub const fn name(self) -> &'static str {
                match self { $(AvpType::$v => $name,)* }
            }

            /// The M bit the RFCs prescribe (or recommend) when sending.
            pub const fn default_mandatory(self) -> bool {
                match self { $(AvpType::$v => $mand,)* }
            }
        }
    };
}

avp_types! {
    MessageType = 0, "Message Type", true;
    ResultCode = 1, "Result Code", true;
    ProtocolVersion = 2, "Protocol Version", true;
    FramingCapabilities = 3, "Framing Capabilities", true;
    BearerCapabilities = 4, "Bearer Capabilities", true;
    /// Control Connection / Session Tie Breaker in RFC 3931.
    TieBreaker = 5, "Tie Breaker", false;
    FirmwareRevision = 6, "Firmware Revision", false;
    HostName = 7, "Host Name", true;
    VendorName = 8, "Vendor Name", false;
    AssignedTunnelId = 9, "Assigned Tunnel ID", true;
    ReceiveWindowSize = 10, "Receive Window Size", true;
    Challenge = 11, "Challenge", true;
    Q931CauseCode = 12, "Q.931 Cause Code", true;
    ChallengeResponse = 13, "Challenge Response", true;
    AssignedSessionId = 14, "Assigned Session ID", true;
    /// "Serial Number" in RFC 3931.
    CallSerialNumber = 15, "Call Serial Number", true;
    MinimumBps = 16, "Minimum BPS", true;
    MaximumBps = 17, "Maximum BPS", true;
    BearerType = 18, "Bearer Type", true;
    FramingType = 19, "Framing Type", true;
    CalledNumber = 21, "Called Number", true;
    CallingNumber = 22, "Calling Number", true;
    SubAddress = 23, "Sub-Address", true;
    /// "(Tx) Connect Speed", 32-bit.
    TxConnectSpeed = 24, "Tx Connect Speed", true;
    PhysicalChannelId = 25, "Physical Channel ID", false;
    InitialReceivedLcpConfreq = 26, "Initial Received LCP CONFREQ", false;
    LastSentLcpConfreq = 27, "Last Sent LCP CONFREQ", false;
    LastReceivedLcpConfreq = 28, "Last Received LCP CONFREQ", false;
    ProxyAuthenType = 29, "Proxy Authen Type", false;
    ProxyAuthenName = 30, "Proxy Authen Name", false;
    ProxyAuthenChallenge = 31, "Proxy Authen Challenge", false;
    ProxyAuthenId = 32, "Proxy Authen ID", false;
    ProxyAuthenResponse = 33, "Proxy Authen Response", false;
    /// "Circuit Errors" in RFC 3931.
    CallErrors = 34, "Call Errors", true;
    Accm = 35, "ACCM", true;
    RandomVector = 36, "Random Vector", true;
    PrivateGroupId = 37, "Private Group ID", false;
    /// 32-bit.
    RxConnectSpeed = 38, "Rx Connect Speed", false;
    SequencingRequired = 39, "Sequencing Required", true;
    /// RFC 3145.
    PppDisconnectCauseCode = 46, "PPP Disconnect Cause Code", false;
    /// RFC 3931 5.1: 32-bit vendor ID wrapper.
    ExtendedVendorId = 58, "Extended Vendor ID", false;
    MessageDigest = 59, "Message Digest", true;
    RouterId = 60, "Router ID", true;
    AssignedControlConnectionId = 61, "Assigned Control Connection ID", true;
    PseudowireCapabilitiesList = 62, "Pseudowire Capabilities List", true;
    LocalSessionId = 63, "Local Session ID", true;
    RemoteSessionId = 64, "Remote Session ID", true;
    AssignedCookie = 65, "Assigned Cookie", true;
    RemoteEndId = 66, "Remote End ID", true;
    PseudowireType = 68, "Pseudowire Type", true;
    L2SpecificSublayer = 69, "L2-Specific Sublayer", true;
    DataSequencing = 70, "Data Sequencing", true;
    CircuitStatus = 71, "Circuit Status", true;
    PreferredLanguage = 72, "Preferred Language", false;
    ControlMessageAuthNonce = 73, "Control Message Authentication Nonce", true;
    /// 64-bit (RFC 3931).
    TxConnectSpeedV3 = 74, "Tx Connect Speed v3", false;
    /// 64-bit (RFC 3931).
    RxConnectSpeedV3 = 75, "Rx Connect Speed v3", false;
    /// RFC 4951.
    FailoverCapability = 76, "Failover Capability", false;
    /// RFC 4951.
    TunnelRecovery = 77, "Tunnel Recovery", true;
    /// RFC 4951.
    SuggestedControlSequence = 78, "Suggested Control Sequence", true;
    /// RFC 4951.
    FailoverSessionState = 79, "Failover Session State", true;
    /// RFC 4045.
    MulticastCapability = 80, "Multicast Capability", false;
    NewOutgoingSessions = 81, "New Outgoing Sessions", false;
    NewOutgoingSessionsAck = 82, "New Outgoing Sessions Acknowledgement", false;
    WithdrawOutgoingSessions = 83, "Withdraw Outgoing Sessions", false;
    MulticastPacketsPriority = 84, "Multicast Packets Priority", false;
    /// RFC 4591.
    FrameRelayHeaderLength = 85, "Frame-Relay Header Length", true;
    /// RFC 4454.
    AtmMaxConcatenatedCells = 86, "ATM Maximum Concatenated Cells", false;
    OamEmulationRequired = 87, "OAM Emulation Required", false;
    AtmAlarmStatus = 88, "ATM Alarm Status", false;
    /// RFC 4667.
    AttachmentGroupId = 89, "Attachment Group Identifier", true;
    /// RFC 4667.
    LocalEndId = 90, "Local End Identifier", true;
    /// RFC 4623.
    InterfaceMtu = 91, "Interface Maximum Transmission Unit", false;
    /// RFC 4720.
    FcsRetention = 92, "FCS Retention", false;
    TunnelSwitchingAggregatorId = 93, "Tunnel Switching Aggregator ID", false;
    MaximumReceiveUnit = 94, "Maximum Receive Unit", false;
    MaximumReassembledReceiveUnit = 95, "Maximum Reassembled Receive Unit", false;
    VccvCapability = 96, "VCCV Capability", false;
    ConnectSpeedUpdate = 97, "Connect Speed Update", false;
    ConnectSpeedUpdateEnable = 98, "Connect Speed Update Enable", false;
    TdmPseudowire = 99, "TDM Pseudowire", false;
    RtpAvp = 100, "RTP AVP", false;
    PwSwitchingPoint = 101, "PW Switching Point", false;
}

impl core::fmt::Display for AvpType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

code_enum! {
    /// L2TPv3 pseudowire types (IANA registry of RFC 3931 10.6; RFC 4719
    /// for Ethernet, RFC 4591 FR, RFC 4454 ATM, RFC 4349 HDLC, RFC 5611 TDM).
    PwType {
        FrameRelayDlci = 0x0001 => "Frame Relay DLCI",
        AtmAal5Vcc = 0x0002 => "ATM AAL5 SDU VCC transport",
        AtmCellPort = 0x0003 => "ATM Cell transparent Port Mode",
        EthernetVlan = 0x0004 => "Ethernet VLAN",
        Ethernet = 0x0005 => "Ethernet",
        Hdlc = 0x0006 => "HDLC",
        Ppp = 0x0007 => "PPP",
        AtmCellVcc = 0x0009 => "ATM Cell transport VCC Mode",
        AtmCellVpc = 0x000a => "ATM Cell transport VPC Mode",
        IpTransport = 0x000b => "IP Transport",
        Mptpw = 0x000c => "MPEG-TS Payload Type (MPTPW)",
        Psppw = 0x000d => "Packet Streaming Protocol (PSPPW)",
        SatopE1 = 0x0011 => "Structure-agnostic E1 circuit",
        SatopT1 = 0x0012 => "Structure-agnostic T1 (DS1) circuit",
        SatopE3 = 0x0013 => "Structure-agnostic E3 circuit",
        SatopT3 = 0x0014 => "Structure-agnostic T3 (DS3) circuit",
        CesopsnBasic = 0x0015 => "CESoPSN basic mode",
        CesopsnCas = 0x0017 => "CESoPSN TDM with CAS",
    }
}

code_enum! {
    /// L2-Specific Sublayer AVP values (RFC 3931 10.9 and later).
    L2SpecSublayerType {
        None = 0 => "No L2-Specific Sublayer",
        Default = 1 => "Default L2-Specific Sublayer present",
        Atm = 2 => "ATM-Specific Sublayer present",
        Mpt = 3 => "MPT-Specific Sublayer",
        Psp = 4 => "PSP-Specific Sublayer",
    }
}

code_enum! {
    /// Data Sequencing AVP levels (RFC 3931 10.10).
    DataSequencingLevel {
        None = 0 => "No incoming data packets require sequencing",
        NonIp = 1 => "Only non-IP data packets require sequencing",
        All = 2 => "All incoming data packets require sequencing",
    }
}

code_enum! {
    /// Proxy Authen Type AVP values (RFC 2661 4.4.5, RFC 3817 EAP).
    ProxyAuthenKind {
        Reserved = 0 => "Reserved",
        Textual = 1 => "Textual username/password exchange",
        Chap = 2 => "PPP CHAP",
        Pap = 3 => "PPP PAP",
        NoAuth = 4 => "No Authentication",
        MsChapV1 = 5 => "Microsoft CHAP Version 1",
        Eap = 7 => "EAP",
    }
}

/// Circuit Status AVP bits (RFC 3931 5.4.5 A/N; RFC 5641 adds the fault and
/// standby bits and deprecates N). Bit numbers in the RFCs count from the
/// most significant bit of the 16-bit field.
pub mod circuit_status {
    /// A: circuit is up/active/ready.
    pub const ACTIVE: u16 = 0x0001;
    /// N: status is for a new circuit (deprecated by RFC 5641).
    pub const NEW: u16 = 0x0002;
    /// R: local attachment circuit (ingress) receive fault (RFC 5641).
    pub const AC_RX_FAULT: u16 = 0x0004;
    /// T: local attachment circuit (egress) transmit fault (RFC 5641).
    pub const AC_TX_FAULT: u16 = 0x0008;
    /// I: local PSN-facing PW (ingress) receive fault (RFC 5641).
    pub const PW_RX_FAULT: u16 = 0x0010;
    /// E: local PSN-facing PW (egress) transmit fault (RFC 5641).
    pub const PW_TX_FAULT: u16 = 0x0020;
    /// S: standby (RFC 5641).
    pub const STANDBY: u16 = 0x0040;

    /// Names of the set bits, for logs and JSON.
    pub fn names(bits: u16) -> Vec<&'static str> {
        const ALL: [(u16, &str); 7] = [
            (ACTIVE, "active"),
            (NEW, "new"),
            (AC_RX_FAULT, "ac-rx-fault"),
            (AC_TX_FAULT, "ac-tx-fault"),
            (PW_RX_FAULT, "pw-rx-fault"),
            (PW_TX_FAULT, "pw-tx-fault"),
            (STANDBY, "standby"),
        ];
        ALL.iter()
            .filter(|(b, _)| bits & b != 0)
            .map(|(_, n)| *n)
            .collect()
    }
}

/// Framing/Bearer capability and type bits (RFC 2661 4.4.3, 4.4.4).
pub mod bits {
    /// Framing: synchronous.
    pub const FRAMING_SYNC: u32 = 0x0000_0001;
    /// Framing: asynchronous.
    pub const FRAMING_ASYNC: u32 = 0x0000_0002;
    /// Bearer: digital.
    pub const BEARER_DIGITAL: u32 = 0x0000_0001;
    /// Bearer: analog.
    pub const BEARER_ANALOG: u32 = 0x0000_0002;
    /// Failover Capability (RFC 4951): control channel failover.
    pub const FAILOVER_CONTROL: u16 = 0x0002;
    /// Failover Capability (RFC 4951): data channel failover.
    pub const FAILOVER_DATA: u16 = 0x0001;
}

/// One AVP of a parsed or to-be-emitted message: flags plus typed value.
/// `hidden` means "was / shall be hidden"; `value` is always cleartext.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Avp {
    pub mandatory: bool,
    pub hidden: bool,
    pub value: AvpValue,
}

impl Avp {
    /// An AVP with the M bit the RFCs prescribe for its type, not hidden.
    pub fn new(value: AvpValue) -> Avp {
        Avp {
            mandatory: value.default_mandatory(),
            hidden: false,
            value,
        }
    }

    /// The same AVP, to be hidden on emit (needs a secret and a preceding
    /// Random Vector AVP in the message).
    pub fn hidden(mut self) -> Avp {
        self.hidden = true;
        self
    }

    /// The same AVP with the M bit set as given.
    pub fn with_mandatory(mut self, m: bool) -> Avp {
        self.mandatory = m;
        self
    }

    /// `{"name":..,"vendor":..,"type":..,"mandatory":..,"hidden":..,"value":..}`.
    pub fn to_json(&self) -> String {
        let (vendor, attr) = self.value.vendor_attr();
        crate::json::object(&[
            ("name", crate::json::string(self.value.name())),
            ("vendor", vendor.to_string()),
            ("type", attr.to_string()),
            ("mandatory", self.mandatory.to_string()),
            ("hidden", self.hidden.to_string()),
            ("value", self.value.value_json()),
        ])
    }
}

impl From<AvpValue> for Avp {
    fn from(v: AvpValue) -> Avp {
        Avp::new(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iter_walks_and_stops() {
        let body = [
            0x80, 0x08, 0, 0, 0, 0, 0, 1, // Message Type = 1
            0x00, 0x07, 0, 0, 0, 7, b'x', // Host Name "x"
            0x00, 0x03, 0, 0, 0, 7, // length 3 < 6
            0x00, 0x08, 0, 0, 0, 0, 0, 1,
        ];
        let v: Vec<_> = iter(&body).collect();
        assert_eq!(v.len(), 3);
        let a = v[0].unwrap();
        assert!(a.mandatory && !a.hidden);
        assert_eq!((a.vendor_id, a.attr_type, a.value), (0, 0, &[0u8, 1][..]));
        assert_eq!(v[1].unwrap().value, b"x");
        assert_eq!(
            v[2],
            Err(Error::BadAvpLength {
                vendor_id: 0,
                attr_type: 7,
                length: 3
            })
        );
    }

    #[test]
    fn iter_past_end_and_short_tail() {
        let v: Vec<_> = iter(&[0x00, 0x20, 0, 0, 0, 1, 1]).collect();
        assert!(matches!(
            v[..],
            [Err(Error::BadAvpLength { length: 32, .. })]
        ));
        let v: Vec<_> = iter(&[0x00, 0x06, 0]).collect();
        assert!(matches!(
            v[..],
            [Err(Error::BadAvpLength { length: 3, .. })]
        ));
    }

    #[test]
    fn type_table_consistent() {
        for t in AvpType::ALL {
            assert_eq!(AvpType::from_code(t.code()), Some(*t));
        }
        assert_eq!(AvpType::from_code(20), None);
        assert_eq!(AvpType::AssignedControlConnectionId.code(), 61);
        assert_eq!(AvpType::MessageDigest.name(), "Message Digest");
    }

    #[test]
    fn emit_raw_roundtrip() {
        let mut buf = [0u8; 16];
        let n = emit_raw(&mut buf, true, false, 0, 7, b"lns").unwrap();
        assert_eq!(&buf[..n], &[0x80, 9, 0, 0, 0, 7, b'l', b'n', b's']);
        let big = vec![0u8; MAX_VALUE_LEN + 1];
        assert!(matches!(
            emit_raw(&mut [0u8; 2048], false, false, 0, 1, &big),
            Err(Error::TooLong { .. })
        ));
    }
}
