//! The one error type of the codec.
//!
//! Every variant says which field is wrong and why, so a caller can both log
//! it and decide (e.g. StopCCN vs. CDN vs. silent drop) without string
//! matching.

use core::fmt;

use crate::avp::AvpType;
use crate::message::MessageType;

/// Everything that can go wrong while parsing or emitting L2TP bytes.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer ends before the fixed part of a header does.
    Truncated,
    /// The header's Ver field holds this value, not the expected 2 or 3.
    BadVersion(u8),
    /// A header Length field is smaller than the header it describes or
    /// points past the end of the buffer.
    BadLength,
    /// A cookie must be 0, 4 or 8 bytes long (RFC 3931 4.1); this was given.
    BadCookieLen(usize),
    /// A data-message parser was handed a control message (T bit set, or
    /// session ID 0 over IP).
    UnexpectedControl,
    /// A control-message parser was handed a data message (T bit clear).
    UnexpectedData,
    /// A data message carries session ID 0, which is reserved (RFC 3931 4.1).
    ZeroSessionId,
    /// A control header lacks the L or S bit, or (v2) sets O/P (RFC 2661
    /// 3.1, RFC 3931 3.2.1); holds the 16 flag/version bits as received.
    BadControlFlags(u16),
    /// Over IP a control message must start with 32 zero bits (RFC 3931
    /// 4.1.1.2); this is the session ID found there.
    NonZeroControlPrefix(u32),
    /// The output buffer is too small for what is being emitted.
    BufferTooSmall {
        /// Bytes the emitter needs.
        needed: usize,
        /// Bytes the caller provided.
        available: usize,
    },
    /// A value does not fit its wire field (e.g. a 25-bit sequence number
    /// into the 24-bit field of the default L2-Specific Sublayer).
    ValueTooLarge {
        /// The field that overflowed.
        field: &'static str,
        /// The value that did not fit.
        value: u64,
    },
    /// A sequence number was given for a data header without a sublayer to
    /// carry it.
    SequenceWithoutSublayer,
    /// An AVP header's Length is below 6 or runs past the end of the message
    /// (RFC 2661 4.1, RFC 3931 5.1).
    BadAvpLength {
        /// Vendor ID of the AVP (0 = IETF), if it could be read.
        vendor_id: u16,
        /// Attribute type, if it could be read (0 otherwise).
        attr_type: u16,
        /// The Length field as found (or the bytes left, when not even a
        /// header fits).
        length: u16,
    },
    /// A known AVP's value has the wrong size for its format.
    BadAvpValueLength {
        /// The AVP.
        avp: AvpType,
        /// The value length received.
        len: usize,
    },
    /// A known AVP's value is structurally wrong beyond its length.
    BadAvpValue {
        /// The AVP.
        avp: AvpType,
        /// What is wrong.
        reason: &'static str,
    },
    /// A hidden AVP's cleartext "original length" prefix is longer than the
    /// hidden data, or the hidden value is shorter than the 2-byte prefix
    /// (RFC 2661 4.3) — usually a wrong shared secret.
    BadHiddenLength {
        /// Attribute type of the hidden AVP.
        attr_type: u16,
        /// The original length the decrypted prefix claims.
        claimed: u16,
        /// Bytes actually available after the prefix.
        available: usize,
    },
    /// A hidden AVP appeared with no Random Vector AVP before it.
    HiddenWithoutRandomVector {
        /// Attribute type of the hidden AVP.
        attr_type: u16,
    },
    /// A hidden AVP was met but no shared secret is configured.
    HiddenWithoutSecret {
        /// Attribute type of the hidden AVP.
        attr_type: u16,
    },
    /// The first AVP of a non-ZLB control message must be Message Type
    /// (RFC 2661 4.1, RFC 3931 5.4.1); this one is vendor/attr instead.
    MessageTypeNotFirst {
        /// Vendor ID of the AVP found first.
        vendor_id: u16,
        /// Attribute type of the AVP found first.
        attr_type: u16,
    },
    /// The Message Type AVP must not be hidden.
    HiddenMessageType,
    /// A control message lacks an AVP its type requires (RFC 2661 6.x,
    /// RFC 3931 6.x "MUST be present").
    MissingAvp {
        /// The message.
        message: MessageType,
        /// The AVP that is absent.
        avp: AvpType,
    },
    /// A control message carries no Message Digest AVP but one was required.
    MissingDigest,
    /// The Message Digest AVP does not match the computed HMAC.
    BadDigest,
    /// The Message Digest AVP names a digest type this codec does not know.
    UnknownDigestType(u16),
    /// A message body is too large for the 16-bit Length field, or an AVP
    /// value too large for the 10-bit AVP Length field.
    TooLong {
        /// What overflowed ("message" or "avp").
        field: &'static str,
        /// The size it would have had.
        len: usize,
    },
}

/// Result alias used across the crate.
pub type Result<T> = core::result::Result<T, Error>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated => write!(f, "buffer too short for the header"),
            Error::BadVersion(v) => write!(f, "header Ver field is {v}, not 2 or 3"),
            Error::BadLength => write!(
                f,
                "header Length field is smaller than the header or exceeds the buffer"
            ),
            Error::BadCookieLen(n) => write!(f, "cookie length {n} is not 0, 4 or 8"),
            Error::UnexpectedControl => write!(f, "expected a data message, got a control message"),
            Error::UnexpectedData => write!(f, "expected a control message, got a data message"),
            Error::ZeroSessionId => write!(f, "data message with reserved session ID 0"),
            Error::BadControlFlags(b) => write!(
                f,
                "control header flags {b:#06x}: L and S must be set (and v2 O, P clear)"
            ),
            Error::NonZeroControlPrefix(s) => {
                write!(f, "control message over IP: leading session ID is {s}, not 0")
            }
            Error::BufferTooSmall { needed, available } => {
                write!(f, "output buffer has {available} bytes, {needed} needed")
            }
            Error::ValueTooLarge { field, value } => {
                write!(f, "{field} value {value} does not fit its wire field")
            }
            Error::SequenceWithoutSublayer => {
                write!(f, "sequence number given but no L2-Specific Sublayer")
            }
            Error::BadAvpLength {
                vendor_id,
                attr_type,
                length,
            } => write!(
                f,
                "AVP vendor {vendor_id} type {attr_type}: length {length} is below 6 or past the end of the message"
            ),
            Error::BadAvpValueLength { avp, len } => {
                write!(f, "{} AVP: value length {len} is invalid", avp.name())
            }
            Error::BadAvpValue { avp, reason } => write!(f, "{} AVP: {reason}", avp.name()),
            Error::BadHiddenLength {
                attr_type,
                claimed,
                available,
            } => write!(
                f,
                "hidden AVP type {attr_type}: original length {claimed} exceeds the {available} hidden bytes (wrong secret?)"
            ),
            Error::HiddenWithoutRandomVector { attr_type } => write!(
                f,
                "hidden AVP type {attr_type} without a preceding Random Vector AVP"
            ),
            Error::HiddenWithoutSecret { attr_type } => {
                write!(f, "hidden AVP type {attr_type} but no shared secret")
            }
            Error::MessageTypeNotFirst {
                vendor_id,
                attr_type,
            } => write!(
                f,
                "first AVP is vendor {vendor_id} type {attr_type}, not Message Type"
            ),
            Error::HiddenMessageType => write!(f, "Message Type AVP must not be hidden"),
            Error::MissingAvp { message, avp } => write!(
                f,
                "{} message lacks mandatory {} AVP",
                message.name(),
                avp.name()
            ),
            Error::MissingDigest => write!(f, "Message Digest AVP required but absent"),
            Error::BadDigest => write!(f, "Message Digest AVP does not verify"),
            Error::UnknownDigestType(t) => write!(f, "unknown Message Digest type {t}"),
            Error::TooLong { field, len } => {
                write!(f, "{field} of {len} bytes is too long for its Length field")
            }
        }
    }
}

impl std::error::Error for Error {}

#[inline]
pub(crate) fn check_room(buf: &[u8], needed: usize) -> Result<()> {
    if buf.len() < needed {
        Err(Error::BufferTooSmall {
            needed,
            available: buf.len(),
        })
    } else {
        Ok(())
    }
}
