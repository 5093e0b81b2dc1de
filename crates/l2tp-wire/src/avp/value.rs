//! Typed AVP values: one variant per AVP of RFC 2661, RFC 3931 and the
//! extensions this project uses (RFC 3145, 4623, 4667, 4951, 5641).
//!
//! Decoding checks each value's size against its RFC format; encoding is
//! the exact inverse, so `encode(decode(x)) == x` for every well-formed `x`
//! (reserved fields are written as zero, as the RFCs require).

use super::{AvpType, IETF_VENDOR};
use crate::data::{be16, be32, Cookie};
use crate::error::{Error, Result};
use crate::json;
use crate::message::MessageType;

/// Result Code AVP value (RFC 2661 4.4.2, RFC 3931 5.4.2). Interpret
/// `result` with [`crate::result::StopCcnResult`] or
/// [`crate::result::CdnResult`] depending on the message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct ResultCodeValue {
    pub result: u16,
    /// Present when the AVP is 10 bytes or longer.
    pub error: Option<u16>,
    /// UTF-8 text after the error code; needs `error` to be present (an
    /// error code of 0 is written if it is not).
    pub message: Vec<u8>,
}

impl ResultCodeValue {
    pub fn new(result: u16, error: Option<u16>, message: &str) -> ResultCodeValue {
        ResultCodeValue {
            result,
            error,
            message: message.as_bytes().to_vec(),
        }
    }

    pub fn error_code(&self) -> Option<crate::result::ErrorCode> {
        self.error.map(crate::result::ErrorCode::from_u16)
    }

    /// The error message as text (lossy for non-UTF-8 bytes).
    pub fn message_text(&self) -> String {
        String::from_utf8_lossy(&self.message).into_owned()
    }
}

/// Call Errors / Circuit Errors AVP counters (RFC 2661 4.4.6, RFC 3931
/// 5.4.5), preceded on the wire by 2 reserved bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct CallErrors {
    pub crc_errors: u32,
    pub framing_errors: u32,
    pub hardware_overruns: u32,
    pub buffer_overruns: u32,
    pub timeout_errors: u32,
    pub alignment_errors: u32,
}

/// The typed value of one AVP. Text-like values stay byte strings because
/// the wire does not guarantee UTF-8; `value_json` renders them as strings
/// when they are valid UTF-8.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AvpValue {
    MessageType(MessageType),
    ResultCode(ResultCodeValue),
    ProtocolVersion {
        version: u8,
        revision: u8,
    },
    /// Bits: [`super::bits::FRAMING_SYNC`], [`super::bits::FRAMING_ASYNC`].
    FramingCapabilities(u32),
    /// Bits: [`super::bits::BEARER_DIGITAL`], [`super::bits::BEARER_ANALOG`].
    BearerCapabilities(u32),
    TieBreaker(u64),
    FirmwareRevision(u16),
    HostName(Vec<u8>),
    VendorName(Vec<u8>),
    AssignedTunnelId(u16),
    ReceiveWindowSize(u16),
    Challenge(Vec<u8>),
    Q931CauseCode {
        cause_code: u16,
        cause_msg: u8,
        advisory: Vec<u8>,
    },
    ChallengeResponse([u8; 16]),
    AssignedSessionId(u16),
    CallSerialNumber(u32),
    MinimumBps(u32),
    MaximumBps(u32),
    BearerType(u32),
    FramingType(u32),
    CalledNumber(Vec<u8>),
    CallingNumber(Vec<u8>),
    SubAddress(Vec<u8>),
    TxConnectSpeed(u32),
    PhysicalChannelId(u32),
    InitialReceivedLcpConfreq(Vec<u8>),
    LastSentLcpConfreq(Vec<u8>),
    LastReceivedLcpConfreq(Vec<u8>),
    /// See [`super::ProxyAuthenKind`].
    ProxyAuthenType(u16),
    ProxyAuthenName(Vec<u8>),
    ProxyAuthenChallenge(Vec<u8>),
    /// The ID octet (the reserved octet before it is written as 0).
    ProxyAuthenId(u8),
    ProxyAuthenResponse(Vec<u8>),
    CallErrors(CallErrors),
    Accm {
        send: u32,
        recv: u32,
    },
    RandomVector(Vec<u8>),
    PrivateGroupId(Vec<u8>),
    RxConnectSpeed(u32),
    SequencingRequired,
    /// RFC 3145.
    PppDisconnectCauseCode {
        code: u16,
        protocol: u16,
        direction: u8,
        message: Vec<u8>,
    },
    /// RFC 3931 5.1: an AVP of a vendor with a 32-bit enterprise number.
    ExtendedVendorId {
        vendor_id: u32,
        attr_type: u16,
        value: Vec<u8>,
    },
    /// `digest_type` 0 = HMAC-MD5 (16 bytes), 1 = HMAC-SHA-1 (20 bytes).
    MessageDigest {
        digest_type: u8,
        digest: Vec<u8>,
    },
    RouterId(u32),
    AssignedControlConnectionId(u32),
    /// See [`super::PwType`].
    PseudowireCapabilitiesList(Vec<u16>),
    LocalSessionId(u32),
    RemoteSessionId(u32),
    AssignedCookie(Cookie),
    RemoteEndId(Vec<u8>),
    PseudowireType(u16),
    /// See [`super::L2SpecSublayerType`].
    L2SpecificSublayer(u16),
    /// See [`super::DataSequencingLevel`].
    DataSequencing(u16),
    /// Bits in [`super::circuit_status`].
    CircuitStatus(u16),
    PreferredLanguage(Vec<u8>),
    ControlMessageAuthNonce(Vec<u8>),
    TxConnectSpeedV3(u64),
    RxConnectSpeedV3(u64),
    /// RFC 4951: C/D bits in [`super::bits`], recovery time in ms.
    FailoverCapability {
        flags: u16,
        recovery_time_ms: u32,
    },
    /// RFC 4951.
    TunnelRecovery {
        recover_tunnel_id: u32,
        recover_remote_tunnel_id: u32,
    },
    /// RFC 4951.
    SuggestedControlSequence {
        ns: u16,
        nr: u16,
    },
    /// RFC 4951.
    FailoverSessionState {
        session_id: u32,
        remote_session_id: u32,
    },
    /// RFC 4667.
    AttachmentGroupId(Vec<u8>),
    /// RFC 4667.
    LocalEndId(Vec<u8>),
    /// RFC 4623.
    InterfaceMtu(u16),
    /// Anything else, kept verbatim: vendor AVPs, IETF AVPs without a typed
    /// form, and (M bit clear only) malformed values of known AVPs, which
    /// RFC 3931 7.1 says to treat as unrecognized.
    Unknown {
        vendor_id: u16,
        attr_type: u16,
        value: Vec<u8>,
    },
}

fn exact<const N: usize>(avp: AvpType, v: &[u8]) -> Result<[u8; N]> {
    <[u8; N]>::try_from(v).map_err(|_| Error::BadAvpValueLength { avp, len: v.len() })
}

fn u16v(avp: AvpType, v: &[u8]) -> Result<u16> {
    exact::<2>(avp, v).map(u16::from_be_bytes)
}

fn u32v(avp: AvpType, v: &[u8]) -> Result<u32> {
    exact::<4>(avp, v).map(u32::from_be_bytes)
}

fn u64v(avp: AvpType, v: &[u8]) -> Result<u64> {
    exact::<8>(avp, v).map(u64::from_be_bytes)
}

fn at_least(avp: AvpType, v: &[u8], n: usize) -> Result<()> {
    if v.len() < n {
        Err(Error::BadAvpValueLength { avp, len: v.len() })
    } else {
        Ok(())
    }
}

fn tail(v: &[u8], from: usize) -> Vec<u8> {
    v.get(from..).unwrap_or(&[]).to_vec()
}

impl AvpValue {
    /// Decodes a cleartext value. Vendor AVPs and IETF types without a
    /// typed form become `Unknown`; a known type with a bad value is an
    /// error (the message layer downgrades it to `Unknown` when M is clear).
    pub fn decode(vendor_id: u16, attr_type: u16, v: &[u8]) -> Result<AvpValue> {
        use AvpType as T;
        use AvpValue as V;
        let unknown = || V::Unknown {
            vendor_id,
            attr_type,
            value: v.to_vec(),
        };
        if vendor_id != IETF_VENDOR {
            return Ok(unknown());
        }
        let Some(t) = AvpType::from_code(attr_type) else {
            return Ok(unknown());
        };
        Ok(match t {
            T::MessageType => V::MessageType(MessageType::from_u16(u16v(t, v)?)),
            T::ResultCode => {
                if v.len() < 2 || v.len() == 3 {
                    return Err(Error::BadAvpValueLength {
                        avp: t,
                        len: v.len(),
                    });
                }
                V::ResultCode(ResultCodeValue {
                    result: be16(v),
                    error: v.get(2..4).map(be16),
                    message: tail(v, 4),
                })
            }
            T::ProtocolVersion => {
                let [version, revision] = exact::<2>(t, v)?;
                V::ProtocolVersion { version, revision }
            }
            T::FramingCapabilities => V::FramingCapabilities(u32v(t, v)?),
            T::BearerCapabilities => V::BearerCapabilities(u32v(t, v)?),
            T::TieBreaker => V::TieBreaker(u64v(t, v)?),
            T::FirmwareRevision => V::FirmwareRevision(u16v(t, v)?),
            T::HostName => V::HostName(v.to_vec()),
            T::VendorName => V::VendorName(v.to_vec()),
            T::AssignedTunnelId => V::AssignedTunnelId(u16v(t, v)?),
            T::ReceiveWindowSize => V::ReceiveWindowSize(u16v(t, v)?),
            T::Challenge => V::Challenge(v.to_vec()),
            T::Q931CauseCode => {
                at_least(t, v, 3)?;
                V::Q931CauseCode {
                    cause_code: be16(v),
                    cause_msg: v.get(2).copied().unwrap_or(0),
                    advisory: tail(v, 3),
                }
            }
            T::ChallengeResponse => V::ChallengeResponse(exact::<16>(t, v)?),
            T::AssignedSessionId => V::AssignedSessionId(u16v(t, v)?),
            T::CallSerialNumber => V::CallSerialNumber(u32v(t, v)?),
            T::MinimumBps => V::MinimumBps(u32v(t, v)?),
            T::MaximumBps => V::MaximumBps(u32v(t, v)?),
            T::BearerType => V::BearerType(u32v(t, v)?),
            T::FramingType => V::FramingType(u32v(t, v)?),
            T::CalledNumber => V::CalledNumber(v.to_vec()),
            T::CallingNumber => V::CallingNumber(v.to_vec()),
            T::SubAddress => V::SubAddress(v.to_vec()),
            T::TxConnectSpeed => V::TxConnectSpeed(u32v(t, v)?),
            T::PhysicalChannelId => V::PhysicalChannelId(u32v(t, v)?),
            T::InitialReceivedLcpConfreq => V::InitialReceivedLcpConfreq(v.to_vec()),
            T::LastSentLcpConfreq => V::LastSentLcpConfreq(v.to_vec()),
            T::LastReceivedLcpConfreq => V::LastReceivedLcpConfreq(v.to_vec()),
            T::ProxyAuthenType => V::ProxyAuthenType(u16v(t, v)?),
            T::ProxyAuthenName => V::ProxyAuthenName(v.to_vec()),
            T::ProxyAuthenChallenge => V::ProxyAuthenChallenge(v.to_vec()),
            T::ProxyAuthenId => V::ProxyAuthenId(exact::<2>(t, v)?[1]),
            T::ProxyAuthenResponse => V::ProxyAuthenResponse(v.to_vec()),
            T::CallErrors => {
                let b = exact::<26>(t, v)?;
                let w = |i: usize| be32(b.get(2 + 4 * i..).unwrap_or(&[]));
                V::CallErrors(CallErrors {
                    crc_errors: w(0),
                    framing_errors: w(1),
                    hardware_overruns: w(2),
                    buffer_overruns: w(3),
                    timeout_errors: w(4),
                    alignment_errors: w(5),
                })
            }
            T::Accm => {
                let b = exact::<10>(t, v)?;
                V::Accm {
                    send: be32(&b[2..]),
                    recv: be32(&b[6..]),
                }
            }
            T::RandomVector => V::RandomVector(v.to_vec()),
            T::PrivateGroupId => V::PrivateGroupId(v.to_vec()),
            T::RxConnectSpeed => V::RxConnectSpeed(u32v(t, v)?),
            T::SequencingRequired => {
                exact::<0>(t, v)?;
                V::SequencingRequired
            }
            T::PppDisconnectCauseCode => {
                at_least(t, v, 5)?;
                V::PppDisconnectCauseCode {
                    code: be16(v),
                    protocol: be16(v.get(2..).unwrap_or(&[])),
                    direction: v.get(4).copied().unwrap_or(0),
                    message: tail(v, 5),
                }
            }
            T::ExtendedVendorId => {
                at_least(t, v, 6)?;
                V::ExtendedVendorId {
                    vendor_id: be32(v),
                    attr_type: be16(v.get(4..).unwrap_or(&[])),
                    value: tail(v, 6),
                }
            }
            T::MessageDigest => {
                let (&digest_type, digest) = v
                    .split_first()
                    .ok_or(Error::BadAvpValueLength { avp: t, len: 0 })?;
                let want = match digest_type {
                    0 => Some(16),
                    1 => Some(20),
                    _ => None,
                };
                if want.is_some_and(|n| n != digest.len()) {
                    return Err(Error::BadAvpValueLength {
                        avp: t,
                        len: v.len(),
                    });
                }
                V::MessageDigest {
                    digest_type,
                    digest: digest.to_vec(),
                }
            }
            T::RouterId => V::RouterId(u32v(t, v)?),
            T::AssignedControlConnectionId => V::AssignedControlConnectionId(u32v(t, v)?),
            T::PseudowireCapabilitiesList => {
                if v.is_empty() || v.len() & 1 != 0 {
                    return Err(Error::BadAvpValueLength {
                        avp: t,
                        len: v.len(),
                    });
                }
                V::PseudowireCapabilitiesList(v.chunks_exact(2).map(be16).collect())
            }
            T::LocalSessionId => V::LocalSessionId(u32v(t, v)?),
            T::RemoteSessionId => V::RemoteSessionId(u32v(t, v)?),
            T::AssignedCookie => {
                V::AssignedCookie(Cookie::new(v).map_err(|_| Error::BadAvpValueLength {
                    avp: t,
                    len: v.len(),
                })?)
            }
            T::RemoteEndId => V::RemoteEndId(v.to_vec()),
            T::PseudowireType => V::PseudowireType(u16v(t, v)?),
            T::L2SpecificSublayer => V::L2SpecificSublayer(u16v(t, v)?),
            T::DataSequencing => V::DataSequencing(u16v(t, v)?),
            T::CircuitStatus => V::CircuitStatus(u16v(t, v)?),
            T::PreferredLanguage => V::PreferredLanguage(v.to_vec()),
            T::ControlMessageAuthNonce => V::ControlMessageAuthNonce(v.to_vec()),
            T::TxConnectSpeedV3 => V::TxConnectSpeedV3(u64v(t, v)?),
            T::RxConnectSpeedV3 => V::RxConnectSpeedV3(u64v(t, v)?),
            T::FailoverCapability => {
                let b = exact::<6>(t, v)?;
                V::FailoverCapability {
                    flags: be16(&b),
                    recovery_time_ms: be32(&b[2..]),
                }
            }
            T::TunnelRecovery => {
                let b = exact::<10>(t, v)?;
                V::TunnelRecovery {
                    recover_tunnel_id: be32(&b[2..]),
                    recover_remote_tunnel_id: be32(&b[6..]),
                }
            }
            T::SuggestedControlSequence => {
                let b = exact::<6>(t, v)?;
                V::SuggestedControlSequence {
                    ns: be16(&b[2..]),
                    nr: be16(&b[4..]),
                }
            }
            T::FailoverSessionState => {
                let b = exact::<10>(t, v)?;
                V::FailoverSessionState {
                    session_id: be32(&b[2..]),
                    remote_session_id: be32(&b[6..]),
                }
            }
            T::AttachmentGroupId => V::AttachmentGroupId(v.to_vec()),
            T::LocalEndId => V::LocalEndId(v.to_vec()),
            T::InterfaceMtu => V::InterfaceMtu(u16v(t, v)?),
            _ => unknown(),
        })
    }

    /// Appends the cleartext value bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        use AvpValue as V;
        let put16 = |o: &mut Vec<u8>, x: u16| o.extend_from_slice(&x.to_be_bytes());
        let put32 = |o: &mut Vec<u8>, x: u32| o.extend_from_slice(&x.to_be_bytes());
        match self {
            V::MessageType(m) => put16(out, m.to_u16()),
            V::ResultCode(r) => {
                put16(out, r.result);
                if r.error.is_some() || !r.message.is_empty() {
                    put16(out, r.error.unwrap_or(0));
                    out.extend_from_slice(&r.message);
                }
            }
            V::ProtocolVersion { version, revision } => {
                out.extend_from_slice(&[*version, *revision])
            }
            V::FramingCapabilities(x)
            | V::BearerCapabilities(x)
            | V::CallSerialNumber(x)
            | V::MinimumBps(x)
            | V::MaximumBps(x)
            | V::BearerType(x)
            | V::FramingType(x)
            | V::TxConnectSpeed(x)
            | V::PhysicalChannelId(x)
            | V::RxConnectSpeed(x)
            | V::RouterId(x)
            | V::AssignedControlConnectionId(x)
            | V::LocalSessionId(x)
            | V::RemoteSessionId(x) => put32(out, *x),
            V::TieBreaker(x) | V::TxConnectSpeedV3(x) | V::RxConnectSpeedV3(x) => {
                out.extend_from_slice(&x.to_be_bytes())
            }
            V::FirmwareRevision(x)
            | V::AssignedTunnelId(x)
            | V::ReceiveWindowSize(x)
            | V::AssignedSessionId(x)
            | V::ProxyAuthenType(x)
            | V::PseudowireType(x)
            | V::L2SpecificSublayer(x)
            | V::DataSequencing(x)
            | V::CircuitStatus(x)
            | V::InterfaceMtu(x) => put16(out, *x),
            V::HostName(b)
            | V::VendorName(b)
            | V::Challenge(b)
            | V::CalledNumber(b)
            | V::CallingNumber(b)
            | V::SubAddress(b)
            | V::InitialReceivedLcpConfreq(b)
            | V::LastSentLcpConfreq(b)
            | V::LastReceivedLcpConfreq(b)
            | V::ProxyAuthenName(b)
            | V::ProxyAuthenChallenge(b)
            | V::ProxyAuthenResponse(b)
            | V::RandomVector(b)
            | V::PrivateGroupId(b)
            | V::RemoteEndId(b)
            | V::PreferredLanguage(b)
            | V::ControlMessageAuthNonce(b)
            | V::AttachmentGroupId(b)
            | V::LocalEndId(b) => out.extend_from_slice(b),
            V::Q931CauseCode {
                cause_code,
                cause_msg,
                advisory,
            } => {
                put16(out, *cause_code);
                out.push(*cause_msg);
                out.extend_from_slice(advisory);
            }
            V::ChallengeResponse(r) => out.extend_from_slice(r),
            V::ProxyAuthenId(id) => out.extend_from_slice(&[0, *id]),
            V::CallErrors(c) => {
                put16(out, 0);
                for x in [
                    c.crc_errors,
                    c.framing_errors,
                    c.hardware_overruns,
                    c.buffer_overruns,
                    c.timeout_errors,
                    c.alignment_errors,
                ] {
                    put32(out, x);
                }
            }
            V::Accm { send, recv } => {
                put16(out, 0);
                put32(out, *send);
                put32(out, *recv);
            }
            V::SequencingRequired => {}
            V::PppDisconnectCauseCode {
                code,
                protocol,
                direction,
                message,
            } => {
                put16(out, *code);
                put16(out, *protocol);
                out.push(*direction);
                out.extend_from_slice(message);
            }
            V::ExtendedVendorId {
                vendor_id,
                attr_type,
                value,
            } => {
                put32(out, *vendor_id);
                put16(out, *attr_type);
                out.extend_from_slice(value);
            }
            V::MessageDigest {
                digest_type,
                digest,
            } => {
                out.push(*digest_type);
                out.extend_from_slice(digest);
            }
            V::PseudowireCapabilitiesList(l) => {
                for t in l {
                    put16(out, *t);
                }
            }
            V::AssignedCookie(c) => out.extend_from_slice(c.as_bytes()),
            V::FailoverCapability {
                flags,
                recovery_time_ms,
            } => {
                put16(out, *flags);
                put32(out, *recovery_time_ms);
            }
            V::TunnelRecovery {
                recover_tunnel_id,
                recover_remote_tunnel_id,
            } => {
                put16(out, 0);
                put32(out, *recover_tunnel_id);
                put32(out, *recover_remote_tunnel_id);
            }
            V::SuggestedControlSequence { ns, nr } => {
                put16(out, 0);
                put16(out, *ns);
                put16(out, *nr);
            }
            V::FailoverSessionState {
                session_id,
                remote_session_id,
            } => {
                put16(out, 0);
                put32(out, *session_id);
                put32(out, *remote_session_id);
            }
            V::Unknown { value, .. } => out.extend_from_slice(value),
        }
    }

    /// The cleartext value bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }

    /// The IETF type, or `None` for vendor and unrecognised AVPs.
    pub fn avp_type(&self) -> Option<AvpType> {
        use AvpType as T;
        use AvpValue as V;
        Some(match self {
            V::MessageType(_) => T::MessageType,
            V::ResultCode(_) => T::ResultCode,
            V::ProtocolVersion { .. } => T::ProtocolVersion,
            V::FramingCapabilities(_) => T::FramingCapabilities,
            V::BearerCapabilities(_) => T::BearerCapabilities,
            V::TieBreaker(_) => T::TieBreaker,
            V::FirmwareRevision(_) => T::FirmwareRevision,
            V::HostName(_) => T::HostName,
            V::VendorName(_) => T::VendorName,
            V::AssignedTunnelId(_) => T::AssignedTunnelId,
            V::ReceiveWindowSize(_) => T::ReceiveWindowSize,
            V::Challenge(_) => T::Challenge,
            V::Q931CauseCode { .. } => T::Q931CauseCode,
            V::ChallengeResponse(_) => T::ChallengeResponse,
            V::AssignedSessionId(_) => T::AssignedSessionId,
            V::CallSerialNumber(_) => T::CallSerialNumber,
            V::MinimumBps(_) => T::MinimumBps,
            V::MaximumBps(_) => T::MaximumBps,
            V::BearerType(_) => T::BearerType,
            V::FramingType(_) => T::FramingType,
            V::CalledNumber(_) => T::CalledNumber,
            V::CallingNumber(_) => T::CallingNumber,
            V::SubAddress(_) => T::SubAddress,
            V::TxConnectSpeed(_) => T::TxConnectSpeed,
            V::PhysicalChannelId(_) => T::PhysicalChannelId,
            V::InitialReceivedLcpConfreq(_) => T::InitialReceivedLcpConfreq,
            V::LastSentLcpConfreq(_) => T::LastSentLcpConfreq,
            V::LastReceivedLcpConfreq(_) => T::LastReceivedLcpConfreq,
            V::ProxyAuthenType(_) => T::ProxyAuthenType,
            V::ProxyAuthenName(_) => T::ProxyAuthenName,
            V::ProxyAuthenChallenge(_) => T::ProxyAuthenChallenge,
            V::ProxyAuthenId(_) => T::ProxyAuthenId,
            V::ProxyAuthenResponse(_) => T::ProxyAuthenResponse,
            V::CallErrors(_) => T::CallErrors,
            V::Accm { .. } => T::Accm,
            V::RandomVector(_) => T::RandomVector,
            V::PrivateGroupId(_) => T::PrivateGroupId,
            V::RxConnectSpeed(_) => T::RxConnectSpeed,
            V::SequencingRequired => T::SequencingRequired,
            V::PppDisconnectCauseCode { .. } => T::PppDisconnectCauseCode,
            V::ExtendedVendorId { .. } => T::ExtendedVendorId,
            V::MessageDigest { .. } => T::MessageDigest,
            V::RouterId(_) => T::RouterId,
            V::AssignedControlConnectionId(_) => T::AssignedControlConnectionId,
            V::PseudowireCapabilitiesList(_) => T::PseudowireCapabilitiesList,
            V::LocalSessionId(_) => T::LocalSessionId,
            V::RemoteSessionId(_) => T::RemoteSessionId,
            V::AssignedCookie(_) => T::AssignedCookie,
            V::RemoteEndId(_) => T::RemoteEndId,
            V::PseudowireType(_) => T::PseudowireType,
            V::L2SpecificSublayer(_) => T::L2SpecificSublayer,
            V::DataSequencing(_) => T::DataSequencing,
            V::CircuitStatus(_) => T::CircuitStatus,
            V::PreferredLanguage(_) => T::PreferredLanguage,
            V::ControlMessageAuthNonce(_) => T::ControlMessageAuthNonce,
            V::TxConnectSpeedV3(_) => T::TxConnectSpeedV3,
            V::RxConnectSpeedV3(_) => T::RxConnectSpeedV3,
            V::FailoverCapability { .. } => T::FailoverCapability,
            V::TunnelRecovery { .. } => T::TunnelRecovery,
            V::SuggestedControlSequence { .. } => T::SuggestedControlSequence,
            V::FailoverSessionState { .. } => T::FailoverSessionState,
            V::AttachmentGroupId(_) => T::AttachmentGroupId,
            V::LocalEndId(_) => T::LocalEndId,
            V::InterfaceMtu(_) => T::InterfaceMtu,
            V::Unknown { .. } => return None,
        })
    }

    /// (vendor ID, attribute type) as written on the wire.
    pub fn vendor_attr(&self) -> (u16, u16) {
        match self {
            AvpValue::Unknown {
                vendor_id,
                attr_type,
                ..
            } => (*vendor_id, *attr_type),
            v => (IETF_VENDOR, v.avp_type().map_or(0, AvpType::code)),
        }
    }

    /// Stable name for JSON output ("Host Name", ...); unknown vendor-0
    /// types use the IANA name when this codec knows one.
    pub fn name(&self) -> &'static str {
        match self {
            AvpValue::Unknown {
                vendor_id: IETF_VENDOR,
                attr_type,
                ..
            } => AvpType::from_code(*attr_type).map_or("Unknown", AvpType::name),
            AvpValue::Unknown { .. } => "Vendor-Specific",
            v => v.avp_type().map_or("Unknown", AvpType::name),
        }
    }

    /// The M bit to send with this value by default.
    pub fn default_mandatory(&self) -> bool {
        self.avp_type().is_some_and(AvpType::default_mandatory)
    }

    /// The value as JSON text: numbers as numbers, text as strings, octet
    /// strings as lowercase hex strings, composite values as objects.
    pub fn value_json(&self) -> String {
        use AvpValue as V;
        let n = |x: u64| x.to_string();
        match self {
            V::MessageType(m) => json::string(m.name()),
            V::ResultCode(r) => {
                let mut f = vec![("result_code", n(r.result.into()))];
                if let Some(e) = r.error {
                    f.push(("error_code", n(e.into())));
                }
                if !r.message.is_empty() {
                    f.push(("error_message", json::text(&r.message)));
                }
                json::object(&f)
            }
            V::ProtocolVersion { version, revision } => json::object(&[
                ("version", n((*version).into())),
                ("revision", n((*revision).into())),
            ]),
            V::FramingCapabilities(x)
            | V::BearerCapabilities(x)
            | V::CallSerialNumber(x)
            | V::MinimumBps(x)
            | V::MaximumBps(x)
            | V::BearerType(x)
            | V::FramingType(x)
            | V::TxConnectSpeed(x)
            | V::PhysicalChannelId(x)
            | V::RxConnectSpeed(x)
            | V::RouterId(x)
            | V::AssignedControlConnectionId(x)
            | V::LocalSessionId(x)
            | V::RemoteSessionId(x) => n((*x).into()),
            V::TxConnectSpeedV3(x) | V::RxConnectSpeedV3(x) => n(*x),
            // Random 64-bit value: hex keeps it exact for JSON consumers.
            V::TieBreaker(x) => json::hex(&x.to_be_bytes()),
            V::FirmwareRevision(x)
            | V::AssignedTunnelId(x)
            | V::ReceiveWindowSize(x)
            | V::AssignedSessionId(x)
            | V::ProxyAuthenType(x)
            | V::PseudowireType(x)
            | V::L2SpecificSublayer(x)
            | V::DataSequencing(x)
            | V::InterfaceMtu(x) => n((*x).into()),
            V::CircuitStatus(x) => json::object(&[
                ("bits", n((*x).into())),
                (
                    "flags",
                    format!(
                        "[{}]",
                        super::circuit_status::names(*x)
                            .iter()
                            .map(|s| json::string(s))
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                ),
            ]),
            V::HostName(b)
            | V::VendorName(b)
            | V::CalledNumber(b)
            | V::CallingNumber(b)
            | V::SubAddress(b)
            | V::ProxyAuthenName(b)
            | V::RemoteEndId(b)
            | V::PreferredLanguage(b)
            | V::AttachmentGroupId(b)
            | V::LocalEndId(b) => json::text(b),
            V::Challenge(b)
            | V::InitialReceivedLcpConfreq(b)
            | V::LastSentLcpConfreq(b)
            | V::LastReceivedLcpConfreq(b)
            | V::ProxyAuthenChallenge(b)
            | V::ProxyAuthenResponse(b)
            | V::RandomVector(b)
            | V::PrivateGroupId(b)
            | V::ControlMessageAuthNonce(b) => json::hex(b),
            V::Q931CauseCode {
                cause_code,
                cause_msg,
                advisory,
            } => json::object(&[
                ("cause_code", n((*cause_code).into())),
                ("cause_msg", n((*cause_msg).into())),
                ("advisory", json::text(advisory)),
            ]),
            V::ChallengeResponse(r) => json::hex(r),
            V::ProxyAuthenId(id) => n((*id).into()),
            V::CallErrors(c) => json::object(&[
                ("crc_errors", n(c.crc_errors.into())),
                ("framing_errors", n(c.framing_errors.into())),
                ("hardware_overruns", n(c.hardware_overruns.into())),
                ("buffer_overruns", n(c.buffer_overruns.into())),
                ("timeout_errors", n(c.timeout_errors.into())),
                ("alignment_errors", n(c.alignment_errors.into())),
            ]),
            V::Accm { send, recv } => json::object(&[
                ("send_accm", n((*send).into())),
                ("receive_accm", n((*recv).into())),
            ]),
            V::SequencingRequired => "null".into(),
            V::PppDisconnectCauseCode {
                code,
                protocol,
                direction,
                message,
            } => json::object(&[
                ("disconnect_code", n((*code).into())),
                ("control_protocol", n((*protocol).into())),
                ("direction", n((*direction).into())),
                ("message", json::text(message)),
            ]),
            V::ExtendedVendorId {
                vendor_id,
                attr_type,
                value,
            } => json::object(&[
                ("vendor_id", n((*vendor_id).into())),
                ("attr_type", n((*attr_type).into())),
                ("value", json::hex(value)),
            ]),
            V::MessageDigest {
                digest_type,
                digest,
            } => json::object(&[
                ("digest_type", n((*digest_type).into())),
                ("digest", json::hex(digest)),
            ]),
            V::PseudowireCapabilitiesList(l) => format!(
                "[{}]",
                l.iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            V::AssignedCookie(c) => json::hex(c.as_bytes()),
            V::FailoverCapability {
                flags,
                recovery_time_ms,
            } => json::object(&[
                (
                    "control",
                    (flags & super::bits::FAILOVER_CONTROL != 0).to_string(),
                ),
                (
                    "data",
                    (flags & super::bits::FAILOVER_DATA != 0).to_string(),
                ),
                ("recovery_time_ms", n((*recovery_time_ms).into())),
            ]),
            V::TunnelRecovery {
                recover_tunnel_id,
                recover_remote_tunnel_id,
            } => json::object(&[
                ("recover_tunnel_id", n((*recover_tunnel_id).into())),
                (
                    "recover_remote_tunnel_id",
                    n((*recover_remote_tunnel_id).into()),
                ),
            ]),
            V::SuggestedControlSequence { ns, nr } => {
                json::object(&[("ns", n((*ns).into())), ("nr", n((*nr).into()))])
            }
            V::FailoverSessionState {
                session_id,
                remote_session_id,
            } => json::object(&[
                ("session_id", n((*session_id).into())),
                ("remote_session_id", n((*remote_session_id).into())),
            ]),
            V::Unknown { value, .. } => json::hex(value),
        }
    }

    /// Shorthand for text AVPs.
    pub fn host_name(s: &str) -> AvpValue {
        AvpValue::HostName(s.as_bytes().to_vec())
    }

    /// Shorthand for text AVPs.
    pub fn vendor_name(s: &str) -> AvpValue {
        AvpValue::VendorName(s.as_bytes().to_vec())
    }

    /// Shorthand for a Result Code AVP.
    pub fn result_code(result: u16, error: Option<u16>, message: &str) -> AvpValue {
        AvpValue::ResultCode(ResultCodeValue::new(result, error, message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(v: AvpValue) {
        let (vendor, attr) = v.vendor_attr();
        let b = v.to_bytes();
        assert_eq!(AvpValue::decode(vendor, attr, &b).unwrap(), v, "{v:?}");
    }

    #[test]
    fn round_trips() {
        rt(AvpValue::MessageType(MessageType::Sccrq));
        rt(AvpValue::result_code(2, Some(6), "boom"));
        rt(AvpValue::result_code(1, None, ""));
        rt(AvpValue::result_code(1, Some(0), ""));
        rt(AvpValue::ProxyAuthenId(7));
        rt(AvpValue::CallErrors(CallErrors {
            crc_errors: 1,
            framing_errors: 2,
            hardware_overruns: 3,
            buffer_overruns: 4,
            timeout_errors: 5,
            alignment_errors: 6,
        }));
        rt(AvpValue::Accm {
            send: 0xffff_ffff,
            recv: 0,
        });
        rt(AvpValue::PseudowireCapabilitiesList(vec![5, 4]));
        rt(AvpValue::AssignedCookie(Cookie::from_u64(9)));
        rt(AvpValue::SequencingRequired);
        rt(AvpValue::MessageDigest {
            digest_type: 1,
            digest: vec![0; 20],
        });
        rt(AvpValue::Unknown {
            vendor_id: 9,
            attr_type: 1,
            value: vec![1, 2],
        });
    }

    #[test]
    fn bad_sizes() {
        assert_eq!(
            AvpValue::decode(0, 9, &[1]),
            Err(Error::BadAvpValueLength {
                avp: AvpType::AssignedTunnelId,
                len: 1
            })
        );
        assert!(AvpValue::decode(0, 1, &[0, 1, 2]).is_err());
        assert!(AvpValue::decode(0, 62, &[0, 1, 2]).is_err());
        assert!(AvpValue::decode(0, 65, &[0, 1]).is_err());
        assert!(AvpValue::decode(0, 59, &[0; 10]).is_err());
        assert!(AvpValue::decode(0, 39, &[0]).is_err());
    }

    #[test]
    fn json_rendering() {
        assert_eq!(AvpValue::host_name("lac").value_json(), "\"lac\"");
        assert_eq!(AvpValue::RouterId(5).value_json(), "5");
        assert_eq!(
            AvpValue::result_code(2, Some(8), "x").value_json(),
            "{\"result_code\":2,\"error_code\":8,\"error_message\":\"x\"}"
        );
        assert_eq!(
            AvpValue::RandomVector(vec![0xab, 1]).value_json(),
            "\"ab01\""
        );
        assert_eq!(
            AvpValue::AssignedControlConnectionId(1).name(),
            "Assigned Control Connection ID"
        );
        assert_eq!(
            AvpValue::Unknown {
                vendor_id: 0,
                attr_type: 96,
                value: vec![]
            }
            .name(),
            "VCCV Capability"
        );
    }
}
