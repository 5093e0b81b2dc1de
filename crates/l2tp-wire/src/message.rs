//! Control messages: header + AVP list, for both versions.
//!
//! [`Message::parse`] checks the header, walks the AVPs (Message Type must
//! come first and not be hidden), unhides hidden AVPs when a secret is
//! given, types every value, and checks the AVPs each message type MUST
//! carry (RFC 2661 section 6, RFC 3931 section 6). [`Message::to_bytes`] is
//! the inverse and also fills in any Message Digest AVP (RFC 3931 5.4.1);
//! [`verify_digest`] checks one on received bytes.

use core::ops::Range;

use hmac::{KeyInit, Mac};

use crate::avp::{self, hidden, Avp, AvpType, AvpValue, ResultCodeValue, IETF_VENDOR};
use crate::control::{ControlHeaderRepr, ControlPacket, Version, HEADER_LEN};
use crate::data::Cookie;
use crate::error::{Error, Result};
use crate::json;

macro_rules! message_types {
    ($( $(#[$m:meta])* $v:ident = $n:literal, $short:literal, $long:literal; )*) => {
        /// Message Type AVP values (RFC 2661 3.2, RFC 3931 3.1 and the IANA
        /// registry).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum MessageType {
            $( $(#[$m])* $v, )*
            /// A value this codec has no name for.
            Unknown(u16),
        }

        impl MessageType {
            /// Every named type, in numeric order.
            pub const ALL: &'static [MessageType] = &[$(MessageType::$v),*];

            pub const fn from_u16(v: u16) -> MessageType {
                match v { $($n => MessageType::$v,)* o => MessageType::Unknown(o) }
            }

            pub const fn to_u16(self) -> u16 {
                match self { $(MessageType::$v => $n,)* MessageType::Unknown(o) => o }
            }

            /// The RFC abbreviation ("SCCRQ", "StopCCN", ...).
            pub const fn name(self) -> &'static str {
                match self { $(MessageType::$v => $short,)* MessageType::Unknown(_) => "Unknown" }
            }

            /// The RFC's full name ("Start-Control-Connection-Request", ...).
            pub const fn long_name(self) -> &'static str {
                match self { $(MessageType::$v => $long,)* MessageType::Unknown(_) => "Unknown" }
            }
        }
    };
}

message_types! {
    Sccrq = 1, "SCCRQ", "Start-Control-Connection-Request";
    Sccrp = 2, "SCCRP", "Start-Control-Connection-Reply";
    Scccn = 3, "SCCCN", "Start-Control-Connection-Connected";
    StopCcn = 4, "StopCCN", "Stop-Control-Connection-Notification";
    Hello = 6, "HELLO", "Hello";
    Ocrq = 7, "OCRQ", "Outgoing-Call-Request";
    Ocrp = 8, "OCRP", "Outgoing-Call-Reply";
    Occn = 9, "OCCN", "Outgoing-Call-Connected";
    Icrq = 10, "ICRQ", "Incoming-Call-Request";
    Icrp = 11, "ICRP", "Incoming-Call-Reply";
    Iccn = 12, "ICCN", "Incoming-Call-Connected";
    Cdn = 14, "CDN", "Call-Disconnect-Notify";
    Wen = 15, "WEN", "WAN-Error-Notify";
    Sli = 16, "SLI", "Set-Link-Info";
    /// RFC 3573.
    Mdmst = 17, "MDMST", "Modem-Status";
    /// RFC 3817.
    Srrq = 18, "SRRQ", "Service-Relay-Request";
    /// RFC 3817.
    Srrp = 19, "SRRP", "Service-Relay-Reply";
    /// RFC 3931.
    Ack = 20, "ACK", "Explicit-Acknowledgement";
    /// RFC 4951.
    Fsq = 21, "FSQ", "Failover-Session-Query";
    /// RFC 4951.
    Fsr = 22, "FSR", "Failover-Session-Response";
    /// RFC 4045.
    Msrq = 23, "MSRQ", "Multicast-Session-Request";
    /// RFC 4045.
    Msrp = 24, "MSRP", "Multicast-Session-Response";
    /// RFC 4045.
    Mse = 25, "MSE", "Multicast-Session-Establishment";
    /// RFC 4045.
    Msi = 26, "MSI", "Multicast-Session-Information";
    /// RFC 4045.
    Msen = 27, "MSEN", "Multicast-Session-End-Notify";
    /// RFC 5515.
    Csun = 28, "CSUN", "Connect-Speed-Update-Notification";
    /// RFC 5515.
    Csurq = 29, "CSURQ", "Connect-Speed-Update-Request";
}

impl MessageType {
    /// True for messages about one session (answered with a CDN when they
    /// carry an unknown mandatory AVP); false for control-connection ones
    /// (answered with a StopCCN), per RFC 3931 5.2.
    pub const fn is_session_scoped(self) -> bool {
        matches!(
            self,
            MessageType::Icrq
                | MessageType::Icrp
                | MessageType::Iccn
                | MessageType::Ocrq
                | MessageType::Ocrp
                | MessageType::Occn
                | MessageType::Cdn
                | MessageType::Wen
                | MessageType::Sli
                | MessageType::Csun
                | MessageType::Csurq
        )
    }
}

impl core::fmt::Display for MessageType {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            MessageType::Unknown(v) => write!(f, "Unknown({v})"),
            m => f.write_str(m.name()),
        }
    }
}

/// The AVPs a message type MUST carry in a given version (RFC 2661 6.x,
/// RFC 3931 6.x; RFC 4951 for FSQ/FSR). Message Type itself is included.
pub fn required_avps(version: Version, message: MessageType) -> &'static [AvpType] {
    use AvpType as A;
    use MessageType as M;
    match (version, message) {
        (Version::V2, M::Sccrq | M::Sccrp) => &[
            A::MessageType,
            A::ProtocolVersion,
            A::HostName,
            A::FramingCapabilities,
            A::AssignedTunnelId,
        ],
        (Version::V2, M::StopCcn) => &[A::MessageType, A::AssignedTunnelId, A::ResultCode],
        (Version::V2, M::Icrq) => &[A::MessageType, A::AssignedSessionId, A::CallSerialNumber],
        (Version::V2, M::Icrp | M::Ocrp) => &[A::MessageType, A::AssignedSessionId],
        (Version::V2, M::Iccn | M::Occn) => &[A::MessageType, A::TxConnectSpeed, A::FramingType],
        (Version::V2, M::Ocrq) => &[
            A::MessageType,
            A::AssignedSessionId,
            A::CallSerialNumber,
            A::MinimumBps,
            A::MaximumBps,
            A::BearerType,
            A::FramingType,
            A::CalledNumber,
        ],
        (Version::V2, M::Cdn) => &[A::MessageType, A::ResultCode, A::AssignedSessionId],
        (Version::V2, M::Wen) => &[A::MessageType, A::CallErrors],
        (Version::V2, M::Sli) => &[A::MessageType, A::Accm],
        (Version::V3, M::Sccrq | M::Sccrp) => &[
            A::MessageType,
            A::HostName,
            A::RouterId,
            A::AssignedControlConnectionId,
            A::PseudowireCapabilitiesList,
        ],
        (Version::V3, M::StopCcn) => &[A::MessageType, A::ResultCode],
        (Version::V3, M::Icrq | M::Ocrq) => &[
            A::MessageType,
            A::LocalSessionId,
            A::RemoteSessionId,
            A::CallSerialNumber,
            A::PseudowireType,
            A::RemoteEndId,
            A::CircuitStatus,
        ],
        (Version::V3, M::Icrp | M::Ocrp) => &[
            A::MessageType,
            A::LocalSessionId,
            A::RemoteSessionId,
            A::CircuitStatus,
        ],
        (Version::V3, M::Iccn | M::Occn | M::Sli) => {
            &[A::MessageType, A::LocalSessionId, A::RemoteSessionId]
        }
        (Version::V3, M::Cdn) => &[
            A::MessageType,
            A::ResultCode,
            A::LocalSessionId,
            A::RemoteSessionId,
        ],
        (Version::V3, M::Wen) => &[
            A::MessageType,
            A::LocalSessionId,
            A::RemoteSessionId,
            A::CallErrors,
        ],
        (_, M::Fsq | M::Fsr) => &[A::MessageType, A::FailoverSessionState],
        _ => &[A::MessageType],
    }
}

/// Keys and nonces for hidden AVPs and the Message Digest.
///
/// L2TPv2 hides with `secret` directly; L2TPv3 derives its hiding and
/// digest keys from it (RFC 3931 5.3, 5.4.1). With no secret, digests are
/// computed as the RFC's unauthenticated integrity check (empty key).
#[derive(Clone, Copy, Debug, Default)]
pub struct Security<'a> {
    /// The shared secret (tunnel password).
    pub secret: Option<&'a [u8]>,
    /// v3: the nonce this side sent in its SCCRQ/SCCRP.
    pub local_nonce: &'a [u8],
    /// v3: the nonce the peer sent.
    pub remote_nonce: &'a [u8],
}

impl<'a> Security<'a> {
    /// Only a secret (enough for hidden AVPs and for SCCRQ digests).
    pub fn with_secret(secret: &'a [u8]) -> Security<'a> {
        Security {
            secret: Some(secret),
            ..Security::default()
        }
    }
}

/// Message Digest algorithms (RFC 3931 5.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DigestType {
    HmacMd5,
    HmacSha1,
}

impl DigestType {
    pub const fn code(self) -> u8 {
        match self {
            DigestType::HmacMd5 => 0,
            DigestType::HmacSha1 => 1,
        }
    }

    pub fn from_code(c: u8) -> Result<DigestType> {
        match c {
            0 => Ok(DigestType::HmacMd5),
            1 => Ok(DigestType::HmacSha1),
            c => Err(Error::UnknownDigestType(c.into())),
        }
    }

    /// Digest length in bytes.
    pub const fn len(self) -> usize {
        match self {
            DigestType::HmacMd5 => 16,
            DigestType::HmacSha1 => 20,
        }
    }

    /// Never true; digests have a fixed non-zero length.
    pub const fn is_empty(self) -> bool {
        false
    }

    /// A Message Digest AVP value with a zero digest, to be filled in by
    /// [`Message::to_bytes`].
    pub fn placeholder(self) -> AvpValue {
        AvpValue::MessageDigest {
            digest_type: self.code(),
            digest: vec![0; self.len()],
        }
    }
}

/// L2TPv3 digest key: HMAC-MD5 of the single octet 2 under the secret.
pub fn v3_digest_key(secret: &[u8]) -> [u8; 16] {
    hidden::hmac_md5(secret, &[2])
}

fn hmac_parts<M: Mac + KeyInit>(
    key: &[u8],
    parts: &[&[u8]],
    message: &[u8],
    zeroed: &[Range<usize>],
) -> Vec<u8> {
    let Ok(mut m) = <M as KeyInit>::new_from_slice(key) else {
        // HMAC takes keys of any length; unreachable, but no panic path.
        return Vec::new();
    };
    for p in parts {
        m.update(p);
    }
    const ZEROS: [u8; 32] = [0; 32];
    let mut pos = 0;
    for r in zeroed {
        let start = r.start.clamp(pos, message.len());
        let end = r.end.clamp(start, message.len());
        m.update(message.get(pos..start).unwrap_or(&[]));
        let mut n = end - start;
        while n > 0 {
            let k = n.min(ZEROS.len());
            m.update(&ZEROS[..k]);
            n -= k;
        }
        pos = end;
    }
    m.update(message.get(pos..).unwrap_or(&[]));
    m.finalize().into_bytes().to_vec()
}

/// HMAC over `nonces` then `message` with the `zeroed` byte ranges read as
/// zeros (the digest fields), keyed with the derived v3 digest key.
pub fn compute_digest(
    digest_type: DigestType,
    secret: &[u8],
    nonces: &[&[u8]],
    message: &[u8],
    zeroed: &[Range<usize>],
) -> Vec<u8> {
    let key = v3_digest_key(secret);
    match digest_type {
        DigestType::HmacMd5 => hmac_parts::<hmac::Hmac<md5::Md5>>(&key, nonces, message, zeroed),
        DigestType::HmacSha1 => hmac_parts::<hmac::Hmac<sha1::Sha1>>(&key, nonces, message, zeroed),
    }
}

/// The nonces a digest covers (RFC 3931 5.4.1): the sender's then the
/// receiver's, or none for an SCCRQ since no nonce has been exchanged yet
/// (empty slices add nothing to the HMAC).
fn digest_nonces<'a>(is_sccrq: bool, sender: &'a [u8], receiver: &'a [u8]) -> [&'a [u8]; 2] {
    if is_sccrq {
        [&[], &[]]
    } else {
        [sender, receiver]
    }
}

/// RFC 2661 4.1, RFC 3931 5.4.1: a non-ZLB message starts with the Message
/// Type AVP, and that AVP is never hidden.
fn check_first_avp(vendor_id: u16, attr_type: u16, hidden: bool) -> Result<()> {
    if attr_type != AvpType::MessageType.code() {
        return Err(Error::MessageTypeNotFirst {
            vendor_id,
            attr_type,
        });
    }
    if hidden {
        return Err(Error::HiddenMessageType);
    }
    Ok(())
}

/// RFC 3931 5.4.1 forbids hiding the Message Digest AVP; parse and emit
/// refuse it with the same error.
const HIDDEN_DIGEST: Error = Error::BadAvpValue {
    avp: AvpType::MessageDigest,
    reason: "must not be hidden",
};

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Verifies the Message Digest AVP(s) of a received message (bytes from the
/// T bit on). Passes if any digest matches (RFC 3931 5.4.1 allows two).
/// The receiver hashes remote nonce then local nonce; an SCCRQ uses none.
pub fn verify_digest(buf: &[u8], sec: &Security<'_>) -> Result<()> {
    let packet = ControlPacket::new_checked(buf)?;
    let msg = packet.message();
    let mut digests: Vec<(Range<usize>, u8)> = Vec::new();
    let mut msg_type = None;
    for (i, raw) in avp::iter(packet.body()).enumerate() {
        let raw = raw?;
        if raw.vendor_id != IETF_VENDOR {
            continue;
        }
        if i == 0 && raw.attr_type == AvpType::MessageType.code() {
            msg_type = raw.value.get(..2).map(crate::data::be16);
        }
        if raw.attr_type == AvpType::MessageDigest.code() && !raw.hidden && !raw.value.is_empty() {
            let start = HEADER_LEN + raw.offset + avp::HEADER_LEN + 1;
            digests.push((start..start + raw.value.len() - 1, raw.value[0]));
        }
    }
    if digests.is_empty() {
        return Err(Error::MissingDigest);
    }
    let ranges: Vec<Range<usize>> = digests.iter().map(|(r, _)| r.clone()).collect();
    let secret = sec.secret.unwrap_or(&[]);
    let nonces = digest_nonces(
        msg_type == Some(MessageType::Sccrq.to_u16()),
        sec.remote_nonce,
        sec.local_nonce,
    );
    let mut last_err = Error::BadDigest;
    for (range, code) in &digests {
        let dt = match DigestType::from_code(*code) {
            Ok(d) => d,
            Err(e) => {
                last_err = e;
                continue;
            }
        };
        let want = compute_digest(dt, secret, &nonces, msg, &ranges);
        if msg.get(range.clone()).is_some_and(|got| ct_eq(got, &want)) {
            return Ok(());
        }
        last_err = Error::BadDigest;
    }
    Err(last_err)
}

/// The hiding key, derived on first use since most messages hide nothing
/// (v2 uses the secret as is; v3 derives it, RFC 3931 5.3).
struct HidingKey<'a> {
    version: Version,
    secret: Option<&'a [u8]>,
    v3: Option<[u8; 16]>,
}

impl<'a> HidingKey<'a> {
    fn new(version: Version, secret: Option<&'a [u8]>) -> HidingKey<'a> {
        HidingKey {
            version,
            secret,
            v3: None,
        }
    }

    fn get(&mut self, attr_type: u16) -> Result<&[u8]> {
        let s = self
            .secret
            .ok_or(Error::HiddenWithoutSecret { attr_type })?;
        Ok(match self.version {
            Version::V2 => s,
            Version::V3 => self.v3.get_or_insert_with(|| hidden::v3_hiding_key(s)),
        })
    }
}

/// A parsed (or to-be-emitted) control message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// On emit, `length` is recomputed; the other fields are written as is.
    pub header: ControlHeaderRepr,
    /// Message Type first (unless ZLB), values always cleartext.
    pub avps: Vec<Avp>,
}

macro_rules! getter {
    ($(#[$m:meta])* $fn:ident, $variant:ident, $ty:ty) => {
        $(#[$m])*
        pub fn $fn(&self) -> Option<$ty> {
            self.avps.iter().find_map(|a| match &a.value {
                AvpValue::$variant(v) => Some(v.clone()),
                _ => None,
            })
        }
    };
}

impl Message {
    /// A message with only its Message Type AVP; add the rest with `with`.
    pub fn new(
        version: Version,
        message_type: MessageType,
        tunnel_id: u32,
        session_id: u16,
    ) -> Message {
        // A ZLB plus its first AVP; `to_bytes` computes the real Length.
        Message::zlb(version, tunnel_id, session_id, 0, 0).with(AvpValue::MessageType(message_type))
    }

    /// A Zero-Length Body acknowledgement.
    pub fn zlb(version: Version, tunnel_id: u32, session_id: u16, ns: u16, nr: u16) -> Message {
        Message {
            header: ControlHeaderRepr::zlb(version, tunnel_id, session_id, ns, nr),
            avps: Vec::new(),
        }
    }

    /// Appends an AVP with its default M bit.
    pub fn with(mut self, value: AvpValue) -> Message {
        self.avps.push(Avp::new(value));
        self
    }

    /// Appends an AVP as given.
    pub fn with_avp(mut self, avp: Avp) -> Message {
        self.avps.push(avp);
        self
    }

    /// Sets Ns/Nr.
    pub fn with_seq(mut self, ns: u16, nr: u16) -> Message {
        self.header.ns = ns;
        self.header.nr = nr;
        self
    }

    pub fn version(&self) -> Version {
        self.header.version
    }

    pub fn is_zlb(&self) -> bool {
        self.avps.is_empty()
    }

    /// The IETF message type; `None` for a ZLB or a vendor message type.
    pub fn message_type(&self) -> Option<MessageType> {
        match self.avps.first().map(|a| &a.value) {
            Some(AvpValue::MessageType(m)) => Some(*m),
            _ => None,
        }
    }

    /// First AVP of the given IETF type.
    pub fn get(&self, t: AvpType) -> Option<&AvpValue> {
        self.avps
            .iter()
            .map(|a| &a.value)
            .find(|v| v.avp_type() == Some(t))
    }

    /// True when an AVP of the type is present.
    pub fn has(&self, t: AvpType) -> bool {
        self.get(t).is_some()
    }

    /// The first unrecognised AVP with the M bit set: RFC 2661 4.2 / RFC
    /// 3931 5.2 require tearing down the session (CDN) or control
    /// connection (StopCCN) with Result 2, Error 8.
    pub fn unknown_mandatory(&self) -> Option<&Avp> {
        self.avps
            .iter()
            .find(|a| a.mandatory && matches!(a.value, AvpValue::Unknown { .. }))
    }

    getter!(assigned_tunnel_id, AssignedTunnelId, u16);
    getter!(assigned_session_id, AssignedSessionId, u16);
    getter!(
        assigned_control_connection_id,
        AssignedControlConnectionId,
        u32
    );
    getter!(local_session_id, LocalSessionId, u32);
    getter!(remote_session_id, RemoteSessionId, u32);
    getter!(router_id, RouterId, u32);
    getter!(receive_window_size, ReceiveWindowSize, u16);
    getter!(call_serial_number, CallSerialNumber, u32);
    getter!(pseudowire_type, PseudowireType, u16);
    getter!(l2_specific_sublayer, L2SpecificSublayer, u16);
    getter!(data_sequencing, DataSequencing, u16);
    getter!(circuit_status, CircuitStatus, u16);
    getter!(tie_breaker, TieBreaker, u64);
    getter!(assigned_cookie, AssignedCookie, Cookie);
    getter!(result_code, ResultCode, ResultCodeValue);
    getter!(host_name, HostName, Vec<u8>);
    getter!(challenge, Challenge, Vec<u8>);
    getter!(challenge_response, ChallengeResponse, [u8; 16]);
    getter!(remote_end_id, RemoteEndId, Vec<u8>);
    getter!(
        pseudowire_capabilities,
        PseudowireCapabilitiesList,
        Vec<u16>
    );
    getter!(
        /// The Control Message Authentication Nonce (SCCRQ/SCCRP).
        nonce,
        ControlMessageAuthNonce,
        Vec<u8>
    );

    /// Checks the RFC rules this codec can check without session state:
    /// Message Type first and not hidden, and every AVP the type MUST carry.
    pub fn validate(&self) -> Result<()> {
        self.check_first()?;
        if let Some(m) = self.message_type() {
            for &req in required_avps(self.header.version, m) {
                if !self.has(req) {
                    return Err(Error::MissingAvp {
                        message: m,
                        avp: req,
                    });
                }
            }
        }
        Ok(())
    }

    /// [`check_first_avp`] on the first AVP; a ZLB has none to check.
    fn check_first(&self) -> Result<()> {
        match self.avps.first() {
            Some(first) => {
                let (vendor_id, attr_type) = first.value.vendor_attr();
                check_first_avp(vendor_id, attr_type, first.hidden)
            }
            None => Ok(()),
        }
    }

    /// Parses and validates a message with no secret (hidden AVPs fail).
    pub fn parse(buf: &[u8]) -> Result<Message> {
        Self::parse_with(buf, &Security::default())
    }

    /// Parses and validates, unhiding with `sec.secret`.
    pub fn parse_with(buf: &[u8], sec: &Security<'_>) -> Result<Message> {
        let m = Self::parse_unvalidated(buf, sec)?;
        m.validate()?;
        Ok(m)
    }

    /// Parses without the MUST-be-present check (for decoders that want to
    /// show incomplete messages). Structure errors are still errors.
    pub fn parse_unvalidated(buf: &[u8], sec: &Security<'_>) -> Result<Message> {
        let (header, body) = ControlHeaderRepr::parse_bytes(buf)?;
        let mut hiding_key = HidingKey::new(header.version, sec.secret);
        let mut avps = Vec::new();
        let mut random_vector: Option<Vec<u8>> = None;
        for (i, raw) in avp::iter(body).enumerate() {
            let raw = raw?;
            if i == 0 {
                check_first_avp(raw.vendor_id, raw.attr_type, raw.hidden)?;
            }
            if raw.hidden
                && raw.vendor_id == IETF_VENDOR
                && raw.attr_type == AvpType::MessageDigest.code()
            {
                return Err(HIDDEN_DIGEST);
            }
            let clear;
            let value_bytes: &[u8] = if raw.hidden {
                let key = hiding_key.get(raw.attr_type)?;
                let rv = random_vector
                    .as_deref()
                    .ok_or(Error::HiddenWithoutRandomVector {
                        attr_type: raw.attr_type,
                    })?;
                clear = hidden::unhide(raw.attr_type, key, rv, raw.value)?;
                &clear
            } else {
                raw.value
            };
            let value = match AvpValue::decode(raw.vendor_id, raw.attr_type, value_bytes) {
                Ok(v) => v,
                // RFC 3931 7.1: a malformed AVP without M is ignored, i.e.
                // kept as unrecognised; with M it sinks the message.
                Err(e) if raw.mandatory => return Err(e),
                Err(_) => AvpValue::Unknown {
                    vendor_id: raw.vendor_id,
                    attr_type: raw.attr_type,
                    value: value_bytes.to_vec(),
                },
            };
            if let AvpValue::RandomVector(rv) = &value {
                random_vector = Some(rv.clone());
            }
            avps.push(Avp {
                mandatory: raw.mandatory,
                hidden: raw.hidden,
                value,
            });
        }
        Ok(Message { header, avps })
    }

    /// Serialises the message (Length computed), hiding AVPs marked hidden
    /// (with the latest preceding Random Vector, no padding) and filling in
    /// every Message Digest AVP. Errors if Message Type is not first.
    pub fn to_bytes(&self, sec: &Security<'_>) -> Result<Vec<u8>> {
        self.check_first()?;
        let mut hiding_key = HidingKey::new(self.header.version, sec.secret);
        let mut out = vec![0u8; HEADER_LEN];
        let mut rv: Option<Vec<u8>> = None;
        // Every digest field is read as zeros while hashing (RFC 3931
        // 5.4.1); only known digest types get computed and filled in.
        let mut digests: Vec<(Range<usize>, Option<DigestType>)> = Vec::new();
        let mut value = Vec::new();
        for a in &self.avps {
            let (vendor_id, attr_type) = a.value.vendor_attr();
            value.clear();
            a.value.encode(&mut value);
            let is_digest = vendor_id == IETF_VENDOR && attr_type == AvpType::MessageDigest.code();
            if is_digest && a.hidden {
                return Err(HIDDEN_DIGEST);
            }
            if is_digest && !value.is_empty() {
                let dt = match &a.value {
                    AvpValue::MessageDigest { digest_type, .. } => {
                        DigestType::from_code(*digest_type).ok()
                    }
                    _ => None,
                };
                if let Some(dt) = dt {
                    value.truncate(1);
                    value.resize(1 + dt.len(), 0);
                }
                let start = out.len() + avp::HEADER_LEN + 1;
                digests.push((start..start + value.len() - 1, dt));
            }
            if a.hidden {
                let key = hiding_key.get(attr_type)?;
                let rv = rv
                    .as_deref()
                    .ok_or(Error::HiddenWithoutRandomVector { attr_type })?;
                value = hidden::hide(attr_type, key, rv, &value, 0)?;
            }
            // A Random Vector applies to the AVPs after it, so update it
            // only once this AVP (possibly itself hidden) is encoded.
            if let AvpValue::RandomVector(v) = &a.value {
                rv = Some(v.clone());
            }
            let len = avp::HEADER_LEN + value.len();
            if len > avp::MAX_LEN {
                return Err(Error::TooLong { field: "AVP", len });
            }
            let start = out.len();
            out.resize(start + len, 0);
            avp::emit_raw(
                &mut out[start..],
                a.mandatory,
                a.hidden,
                vendor_id,
                attr_type,
                &value,
            )?;
        }
        let total = u16::try_from(out.len()).map_err(|_| Error::TooLong {
            field: "message",
            len: out.len(),
        })?;
        let header = ControlHeaderRepr {
            length: total,
            ..self.header
        };
        header.emit_bytes(&mut out)?;
        if !digests.is_empty() {
            let secret = sec.secret.unwrap_or(&[]);
            let nonces = digest_nonces(
                self.message_type() == Some(MessageType::Sccrq),
                sec.local_nonce,
                sec.remote_nonce,
            );
            let ranges: Vec<Range<usize>> = digests.iter().map(|(r, _)| r.clone()).collect();
            for (r, dt) in &digests {
                let Some(dt) = dt else { continue };
                let d = compute_digest(*dt, secret, &nonces, &out, &ranges);
                if let Some(dst) = out.get_mut(r.clone()) {
                    dst.copy_from_slice(&d);
                }
            }
        }
        Ok(out)
    }

    /// Writes the message into the front of `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8], sec: &Security<'_>) -> Result<usize> {
        let bytes = self.to_bytes(sec)?;
        crate::error::check_room(buf, bytes.len())?;
        buf[..bytes.len()].copy_from_slice(&bytes);
        Ok(bytes.len())
    }

    /// Like [`Self::to_bytes`] with the 4 zero bytes L2TPv3-over-IP puts
    /// before a control message (RFC 3931 4.1.1.2).
    pub fn to_bytes_ip(&self, sec: &Security<'_>) -> Result<Vec<u8>> {
        let mut v = vec![0u8; crate::control::IP_PREFIX_LEN];
        v.extend_from_slice(&self.to_bytes(sec)?);
        Ok(v)
    }

    /// Bytes `to_bytes` will produce.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + self
                .avps
                .iter()
                .map(|a| {
                    let v = match &a.value {
                        AvpValue::MessageDigest {
                            digest_type,
                            digest,
                        } => DigestType::from_code(*digest_type)
                            .map_or(1 + digest.len(), |d| 1 + d.len()),
                        v => v.to_bytes().len(),
                    };
                    avp::HEADER_LEN + v + if a.hidden { 2 } else { 0 }
                })
                .sum::<usize>()
    }

    /// JSON rendering for `l2tp decode --json`.
    pub fn to_json(&self) -> String {
        let h = &self.header;
        let avps: Vec<String> = self.avps.iter().map(Avp::to_json).collect();
        let mut fields = vec![
            ("version", h.version.number().to_string()),
            ("length", h.length.to_string()),
        ];
        match h.version {
            Version::V2 => {
                fields.push(("tunnel_id", h.tunnel_id.to_string()));
                fields.push(("session_id", h.session_id.to_string()));
            }
            Version::V3 => fields.push(("control_connection_id", h.tunnel_id.to_string())),
        }
        fields.push(("ns", h.ns.to_string()));
        fields.push(("nr", h.nr.to_string()));
        fields.push((
            "message_type",
            match (self.is_zlb(), self.message_type()) {
                (true, _) => json::string("ZLB"),
                (false, Some(m)) => json::string(m.name()),
                (false, None) => "null".into(),
            },
        ));
        fields.push(("avps", format!("[{}]", avps.join(","))));
        json::object(&fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sccrq_v2() -> Message {
        Message::new(Version::V2, MessageType::Sccrq, 0, 0)
            .with(AvpValue::ProtocolVersion {
                version: 1,
                revision: 0,
            })
            .with(AvpValue::host_name("lac"))
            .with(AvpValue::FramingCapabilities(3))
            .with(AvpValue::AssignedTunnelId(7))
    }

    #[test]
    fn v2_round_trip() {
        let m = sccrq_v2();
        let b = m.to_bytes(&Security::default()).unwrap();
        assert_eq!(b.len(), m.buffer_len());
        let p = Message::parse(&b).unwrap();
        assert_eq!(p.avps, m.avps);
        assert_eq!(p.header.length as usize, b.len());
        assert_eq!(p.assigned_tunnel_id(), Some(7));
        assert_eq!(p.to_bytes(&Security::default()).unwrap(), b);
    }

    #[test]
    fn missing_mandatory_avp() {
        let mut m = sccrq_v2();
        m.avps.pop();
        let b = m.to_bytes(&Security::default()).unwrap();
        assert_eq!(
            Message::parse(&b),
            Err(Error::MissingAvp {
                message: MessageType::Sccrq,
                avp: AvpType::AssignedTunnelId
            })
        );
        assert!(Message::parse_unvalidated(&b, &Security::default()).is_ok());
    }

    #[test]
    fn hidden_round_trip_v2_and_v3() {
        for v in [Version::V2, Version::V3] {
            let m = Message::new(v, MessageType::Hello, 1, 0)
                .with(AvpValue::RandomVector(vec![1; 16]))
                .with_avp(Avp::new(AvpValue::host_name("secret-name")).hidden());
            let sec = Security::with_secret(b"pw");
            let b = m.to_bytes(&sec).unwrap();
            assert!(!b.windows(11).any(|w| w == b"secret-name"));
            assert_eq!(Message::parse_with(&b, &sec).unwrap().avps, m.avps);
            assert_eq!(
                Message::parse(&b),
                Err(Error::HiddenWithoutSecret { attr_type: 7 })
            );
        }
    }

    #[test]
    fn digest_sign_verify() {
        for dt in [DigestType::HmacMd5, DigestType::HmacSha1] {
            let m = Message::new(Version::V3, MessageType::Hello, 9, 0).with(dt.placeholder());
            let tx = Security {
                secret: Some(b"pw"),
                local_nonce: b"aaaa",
                remote_nonce: b"bbbb",
            };
            let rx = Security {
                secret: Some(b"pw"),
                local_nonce: b"bbbb",
                remote_nonce: b"aaaa",
            };
            let b = m.to_bytes(&tx).unwrap();
            assert_eq!(verify_digest(&b, &rx), Ok(()));
            assert_eq!(verify_digest(&b, &tx), Err(Error::BadDigest));
            let mut bad = b.clone();
            *bad.last_mut().unwrap() ^= 1;
            assert_eq!(verify_digest(&bad, &rx), Err(Error::BadDigest));
        }
        let zlb = Message::zlb(Version::V3, 1, 0, 0, 0)
            .to_bytes(&Security::default())
            .unwrap();
        assert_eq!(
            verify_digest(&zlb, &Security::default()),
            Err(Error::MissingDigest)
        );
    }

    #[test]
    fn malformed_optional_avp_is_kept_raw() {
        // Rx Connect Speed v3 with 4 bytes and M clear (RFC 3931 7.1 example).
        let m = Message::new(Version::V3, MessageType::Hello, 1, 0).with_avp(Avp {
            mandatory: false,
            hidden: false,
            value: AvpValue::Unknown {
                vendor_id: 0,
                attr_type: 75,
                value: vec![0, 0, 0, 1],
            },
        });
        let b = m.to_bytes(&Security::default()).unwrap();
        assert_eq!(Message::parse(&b).unwrap(), Message::parse(&b).unwrap());
        let mut mm = m.clone();
        mm.avps[1].mandatory = true;
        let b = mm.to_bytes(&Security::default()).unwrap();
        assert_eq!(
            Message::parse(&b),
            Err(Error::BadAvpValueLength {
                avp: AvpType::RxConnectSpeedV3,
                len: 4
            })
        );
    }

    #[test]
    fn message_type_table() {
        for m in MessageType::ALL {
            assert_eq!(MessageType::from_u16(m.to_u16()), *m);
        }
        assert_eq!(MessageType::Ack.to_u16(), 20);
        assert_eq!(MessageType::from_u16(99), MessageType::Unknown(99));
        assert!(MessageType::Cdn.is_session_scoped());
        assert!(!MessageType::Hello.is_session_scoped());
    }
}
