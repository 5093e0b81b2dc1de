//! The control message header of both versions (RFC 2661 3.1, RFC 3931
//! 3.2.1): T=1 L=1 S=1, Length, v2 Tunnel/Session IDs or the v3 32-bit
//! Control Connection ID, Ns/Nr. Over IP (v3 only) four zero bytes precede
//! it ([`strip_ip_prefix`]). A header with nothing after it is a ZLB ack.

use crate::data::{be16, be32};
use crate::error::{check_room, Error, Result};
use crate::v2::{L_BIT, O_BIT, P_BIT, S_BIT, T_BIT, VER_MASK};

/// Control header length; the same 12 bytes in both versions.
pub const HEADER_LEN: usize = 12;
/// Length of the zero session ID before a v3 control message over IP.
pub const IP_PREFIX_LEN: usize = 4;

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const FLAGS: Field = 0..2;
    pub const LENGTH: Field = 2..4;
    /// v2: Tunnel ID then Session ID; v3: Control Connection ID.
    pub const V2_TUNNEL: Field = 4..6;
    pub const V2_SESSION: Field = 6..8;
    pub const V3_CCID: Field = 4..8;
    pub const NS: Field = 8..10;
    pub const NR: Field = 10..12;
}

/// Which protocol version the header speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// L2TPv2, RFC 2661.
    V2,
    /// L2TPv3, RFC 3931.
    V3,
}

impl Version {
    /// The Ver field value.
    pub const fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }

    pub fn from_number(v: u8) -> Result<Version> {
        match v {
            2 => Ok(Version::V2),
            3 => Ok(Version::V3),
            v => Err(Error::BadVersion(v)),
        }
    }
}

/// A zero-copy view of a control message starting at its T bit.
#[derive(Debug, Clone)]
pub struct ControlPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ControlPacket<T> {
    /// Wraps without checks; getters may panic if the buffer is short.
    pub const fn new_unchecked(buffer: T) -> ControlPacket<T> {
        ControlPacket { buffer }
    }

    /// Wraps and validates so that no getter or `body()` can panic.
    pub fn new_checked(buffer: T) -> Result<ControlPacket<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks version, control flags, and that Length covers the header and
    /// fits the buffer (bytes after Length are ignored, e.g. padding).
    /// Reserved flag bits are ignored, as both RFCs require.
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        let flags = buf.get(field::FLAGS).map(be16).ok_or(Error::Truncated)?;
        let version = Version::from_number((flags & VER_MASK) as u8)?;
        if flags & T_BIT == 0 {
            return Err(Error::UnexpectedData);
        }
        // O and P are defined (and must be 0 on control) only in v2; in v3
        // those bits are reserved and ignored on receipt.
        let forbidden = match version {
            Version::V2 => O_BIT | P_BIT,
            Version::V3 => 0,
        };
        if flags & (L_BIT | S_BIT) != (L_BIT | S_BIT) || flags & forbidden != 0 {
            return Err(Error::BadControlFlags(flags));
        }
        if buf.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let len = usize::from(self.length());
        if !(HEADER_LEN..=buf.len()).contains(&len) {
            return Err(Error::BadLength);
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn flags(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::FLAGS])
    }

    /// The Ver field; `check_len` guarantees 2 or 3.
    pub fn version(&self) -> Version {
        if self.flags() & VER_MASK == 3 {
            Version::V3
        } else {
            Version::V2
        }
    }

    pub fn length(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::LENGTH])
    }

    /// v2 Tunnel ID or v3 Control Connection ID, widened.
    pub fn tunnel_id(&self) -> u32 {
        let b = self.buffer.as_ref();
        match self.version() {
            Version::V2 => u32::from(be16(&b[field::V2_TUNNEL])),
            Version::V3 => be32(&b[field::V3_CCID]),
        }
    }

    /// v2 Session ID; 0 for v3.
    pub fn session_id(&self) -> u16 {
        match self.version() {
            Version::V2 => be16(&self.buffer.as_ref()[field::V2_SESSION]),
            Version::V3 => 0,
        }
    }

    pub fn ns(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::NS])
    }

    pub fn nr(&self) -> u16 {
        be16(&self.buffer.as_ref()[field::NR])
    }

    /// True for a Zero-Length Body acknowledgement.
    pub fn is_zlb(&self) -> bool {
        usize::from(self.length()) == HEADER_LEN
    }

    /// The AVP list: from after the header up to Length.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.length())]
    }

    /// The whole message up to Length (what the digest covers).
    pub fn message(&self) -> &[u8] {
        &self.buffer.as_ref()[..usize::from(self.length())]
    }
}

impl<'a> ControlPacket<&'a [u8]> {
    /// [`Self::body`] with the buffer's lifetime.
    pub fn body_bytes(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer;
        &b[HEADER_LEN..usize::from(self.length())]
    }

    /// [`Self::message`] with the buffer's lifetime.
    pub fn message_bytes(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer;
        &b[..usize::from(self.length())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ControlPacket<T> {
    /// Writes T L S and the version; reserved bits zero.
    pub fn set_version(&mut self, v: Version) {
        let f = T_BIT | L_BIT | S_BIT | u16::from(v.number());
        self.buffer.as_mut()[field::FLAGS].copy_from_slice(&f.to_be_bytes());
    }

    pub fn set_length(&mut self, len: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&len.to_be_bytes());
    }

    /// Writes the v3 CCID or, for v2, the low 16 bits as Tunnel ID.
    /// Call after `set_version`.
    pub fn set_tunnel_id(&mut self, id: u32) {
        match self.version() {
            Version::V2 => {
                self.buffer.as_mut()[field::V2_TUNNEL].copy_from_slice(&(id as u16).to_be_bytes())
            }
            Version::V3 => self.buffer.as_mut()[field::V3_CCID].copy_from_slice(&id.to_be_bytes()),
        }
    }

    /// v2 only; no effect for v3. Call after `set_version`.
    pub fn set_session_id(&mut self, id: u16) {
        if self.version() == Version::V2 {
            self.buffer.as_mut()[field::V2_SESSION].copy_from_slice(&id.to_be_bytes());
        }
    }

    pub fn set_ns(&mut self, ns: u16) {
        self.buffer.as_mut()[field::NS].copy_from_slice(&ns.to_be_bytes());
    }

    pub fn set_nr(&mut self, nr: u16) {
        self.buffer.as_mut()[field::NR].copy_from_slice(&nr.to_be_bytes());
    }

    /// The AVP area, up to the end of the buffer (Length is not consulted so
    /// it can be filled before the final Length is known).
    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// The decoded control header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ControlHeaderRepr {
    pub version: Version,
    /// Total message length including this header.
    pub length: u16,
    /// v2: 16-bit Tunnel ID; v3: Control Connection ID.
    pub tunnel_id: u32,
    /// v2 only, 0 for v3.
    pub session_id: u16,
    pub ns: u16,
    pub nr: u16,
}

impl ControlHeaderRepr {
    /// A Zero-Length Body acknowledgement header.
    pub fn zlb(version: Version, tunnel_id: u32, session_id: u16, ns: u16, nr: u16) -> Self {
        ControlHeaderRepr {
            version,
            length: HEADER_LEN as u16,
            tunnel_id,
            session_id: if version == Version::V2 {
                session_id
            } else {
                0
            },
            ns,
            nr,
        }
    }

    pub fn is_zlb(&self) -> bool {
        usize::from(self.length) == HEADER_LEN
    }

    /// Parses a view (re-checked, so unchecked views are safe too).
    pub fn parse<T: AsRef<[u8]>>(packet: &ControlPacket<T>) -> Result<ControlHeaderRepr> {
        packet.check_len()?;
        Ok(Self::from_checked(packet))
    }

    fn from_checked<T: AsRef<[u8]>>(packet: &ControlPacket<T>) -> ControlHeaderRepr {
        ControlHeaderRepr {
            version: packet.version(),
            length: packet.length(),
            tunnel_id: packet.tunnel_id(),
            session_id: packet.session_id(),
            ns: packet.ns(),
            nr: packet.nr(),
        }
    }

    /// Parses raw bytes starting at the T bit; returns the header and the
    /// AVP list (header end to Length).
    pub fn parse_bytes(buf: &[u8]) -> Result<(ControlHeaderRepr, &[u8])> {
        let p = ControlPacket::new_checked(buf)?;
        Ok((Self::from_checked(&p), p.body_bytes()))
    }

    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header (Length as given) into a view of >= 12 bytes.
    /// A v2 Tunnel ID above 65535 is refused rather than truncated.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut ControlPacket<T>) -> Result<()> {
        check_room(packet.buffer.as_ref(), HEADER_LEN)?;
        if self.version == Version::V2 && self.tunnel_id > u32::from(u16::MAX) {
            return Err(Error::ValueTooLarge {
                field: "v2 Tunnel ID",
                value: u64::from(self.tunnel_id),
            });
        }
        packet.set_version(self.version);
        packet.set_length(self.length);
        packet.set_tunnel_id(self.tunnel_id);
        // No effect for v3, whose CCID fills the v2 session field's bytes.
        packet.set_session_id(self.session_id);
        packet.set_ns(self.ns);
        packet.set_nr(self.nr);
        Ok(())
    }

    /// Writes the 12-byte header into the front of `buf`.
    pub fn emit_bytes(&self, buf: &mut [u8]) -> Result<usize> {
        check_room(buf, HEADER_LEN)?;
        self.emit(&mut ControlPacket::new_unchecked(&mut buf[..HEADER_LEN]))?;
        Ok(HEADER_LEN)
    }
}

/// Over IP (protocol 115) a v3 control message follows a zero session ID;
/// returns the message proper.
pub fn strip_ip_prefix(buf: &[u8]) -> Result<&[u8]> {
    let sid = buf.get(..IP_PREFIX_LEN).map(be32).ok_or(Error::Truncated)?;
    if sid != 0 {
        return Err(Error::NonZeroControlPrefix(sid));
    }
    Ok(buf.get(IP_PREFIX_LEN..).unwrap_or(&[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v2_zlb() {
        let b = [
            0xc8, 0x02, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x00, 0x03,
        ];
        let (h, body) = ControlHeaderRepr::parse_bytes(&b).unwrap();
        assert!(h.is_zlb());
        assert!(body.is_empty());
        assert_eq!(h, ControlHeaderRepr::zlb(Version::V2, 1, 0, 2, 3));
        let mut out = [0u8; 12];
        h.emit_bytes(&mut out).unwrap();
        assert_eq!(out, b);
    }

    #[test]
    fn v3_over_ip() {
        let b = [
            0, 0, 0, 0, 0xc8, 0x03, 0x00, 0x0e, 0xaa, 0xbb, 0xcc, 0xdd, 0, 1, 0, 2, 0x80, 0x08,
        ];
        let m = strip_ip_prefix(&b).unwrap();
        let (h, body) = ControlHeaderRepr::parse_bytes(m).unwrap();
        assert_eq!(h.version, Version::V3);
        assert_eq!(h.tunnel_id, 0xaabbccdd);
        assert_eq!(h.session_id, 0);
        assert_eq!(body, &[0x80, 0x08]);
        assert_eq!(
            strip_ip_prefix(&[0, 0, 0, 5]),
            Err(Error::NonZeroControlPrefix(5))
        );
    }

    #[test]
    fn rejects() {
        assert_eq!(
            ControlHeaderRepr::parse_bytes(&[0xc8]),
            Err(Error::Truncated)
        );
        assert_eq!(
            ControlHeaderRepr::parse_bytes(&[0x08, 0x02, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(Error::UnexpectedData)
        );
        assert_eq!(
            ControlHeaderRepr::parse_bytes(&[0x80, 0x02, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(Error::BadControlFlags(0x8002))
        );
        // v3 treats the v2 O/P positions as reserved: accepted.
        assert!(
            ControlHeaderRepr::parse_bytes(&[0xcb, 0x03, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0]).is_ok()
        );
        assert_eq!(
            ControlHeaderRepr::parse_bytes(&[0xc8, 0x01, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(Error::BadVersion(1))
        );
        assert_eq!(
            ControlHeaderRepr::parse_bytes(&[0xc8, 0x02, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(Error::BadLength)
        );
        assert_eq!(
            ControlHeaderRepr::parse_bytes(&[0xc8, 0x02, 0, 13, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(Error::BadLength)
        );
    }
}
