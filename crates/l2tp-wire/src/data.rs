//! L2TPv3 data messages: the session header over IP (RFC 3931 4.1.1.1) and
//! over UDP (4.1.2.1), the optional cookie, and the default L2-Specific
//! Sublayer (4.6).
//!
//! A v3 data header is not self-describing: the cookie length and the
//! sublayer type are session configuration. So the view and the parser take
//! a [`V3DataConfig`]; [`v3_session_id`] peeks the session ID needed to look
//! that configuration up. Nothing here allocates.

use crate::error::{check_room, Error, Result};

/// Flag/version word of the UDP session header: T bit and Ver nibble.
const T_BIT: u16 = 0x8000;
const VER_MASK: u16 = 0x000f;
/// S bit of the default L2-Specific Sublayer (bit 1 of the first octet).
const L2SPEC_S: u32 = 0x4000_0000;
const SEQ_MASK: u32 = 0x00ff_ffff;

mod field {
    pub type Field = core::ops::Range<usize>;
    /// UDP encapsulation only: T/ver word and reserved word.
    pub const UDP_FLAGS: Field = 0..2;
    pub const UDP_RESERVED: Field = 2..4;
    pub const UDP_PREFIX: usize = 4;
    /// Relative to the start of the session header proper.
    pub const SESSION_ID: Field = 0..4;
    pub const COOKIE: usize = 4;
    pub const L2SPEC_LEN: usize = 4;
}

/// A session cookie (RFC 3931 4.1): 0, 4 or 8 bytes, compared by value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash)]
pub struct Cookie {
    len: u8,
    bytes: [u8; 8],
}

impl Cookie {
    /// The empty cookie.
    pub const NONE: Cookie = Cookie {
        len: 0,
        bytes: [0; 8],
    };

    /// Builds a cookie; only the three lengths the RFC allows are accepted.
    pub fn new(bytes: &[u8]) -> Result<Cookie> {
        match bytes.len() {
            0 | 4 | 8 => {
                let mut c = Cookie {
                    len: bytes.len() as u8,
                    bytes: [0; 8],
                };
                c.bytes[..bytes.len()].copy_from_slice(bytes);
                Ok(c)
            }
            n => Err(Error::BadCookieLen(n)),
        }
    }

    /// Cookie from a 32-bit value (network order on the wire).
    pub fn from_u32(v: u32) -> Cookie {
        let mut c = Cookie {
            len: 4,
            bytes: [0; 8],
        };
        c.bytes[..4].copy_from_slice(&v.to_be_bytes());
        c
    }

    /// Cookie from a 64-bit value (network order on the wire).
    pub fn from_u64(v: u64) -> Cookie {
        Cookie {
            len: 8,
            bytes: v.to_be_bytes(),
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Which L2-Specific Sublayer sits between the session header and payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum L2SpecType {
    /// No sublayer (L2-Specific Sublayer AVP value 0).
    None,
    /// The default sublayer of RFC 3931 4.6 (AVP value 1).
    Default,
}

impl L2SpecType {
    /// Bytes the sublayer occupies on the wire.
    pub const fn len(self) -> usize {
        match self {
            L2SpecType::None => 0,
            L2SpecType::Default => field::L2SPEC_LEN,
        }
    }

    /// True when no sublayer bytes are present.
    pub const fn is_empty(self) -> bool {
        matches!(self, L2SpecType::None)
    }
}

/// The packet-switched network the v3 session runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encap {
    /// IP protocol 115: the session header is the first byte of IP payload.
    Ip,
    /// UDP: a 4-byte T/Ver/reserved word precedes the session ID.
    Udp,
}

impl Encap {
    const fn prefix_len(self) -> usize {
        match self {
            Encap::Ip => 0,
            Encap::Udp => field::UDP_PREFIX,
        }
    }
}

/// What a receiver must know to parse a v3 data header (cookie length and
/// sublayer are not self-describing).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct V3DataConfig {
    pub encap: Encap,
    pub cookie_len: u8,
    pub l2spec: L2SpecType,
}

impl V3DataConfig {
    /// Length of the whole data header (prefix, session ID, cookie,
    /// sublayer) under this configuration.
    pub const fn header_len(&self) -> usize {
        self.encap.prefix_len() + field::COOKIE + self.cookie_len as usize + self.l2spec.len()
    }
}

/// A zero-copy view of a v3 data message under a given session config.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    cfg: V3DataConfig,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps without checks; getters may panic if the buffer is short.
    pub const fn new_unchecked(buffer: T, cfg: V3DataConfig) -> Packet<T> {
        Packet { buffer, cfg }
    }

    /// Wraps and validates so that no getter can panic.
    pub fn new_checked(buffer: T, cfg: V3DataConfig) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer, cfg);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the buffer holds the whole header this config implies, that
    /// the cookie length is legal, and (UDP) that this is a v3 data message.
    pub fn check_len(&self) -> Result<()> {
        let cl = usize::from(self.cfg.cookie_len);
        if !matches!(cl, 0 | 4 | 8) {
            return Err(Error::BadCookieLen(cl));
        }
        let buf = self.buffer.as_ref();
        if buf.len() < self.cfg.header_len() {
            return Err(Error::Truncated);
        }
        if self.cfg.encap == Encap::Udp {
            let w = self.udp_flags();
            if w & T_BIT != 0 {
                return Err(Error::UnexpectedControl);
            }
            let ver = (w & VER_MASK) as u8;
            if ver != 3 {
                return Err(Error::BadVersion(ver));
            }
        }
        Ok(())
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn config(&self) -> &V3DataConfig {
        &self.cfg
    }

    fn base(&self) -> usize {
        self.cfg.encap.prefix_len()
    }

    /// UDP only: the T/x/Ver word (0 under IP encapsulation).
    pub fn udp_flags(&self) -> u16 {
        match self.cfg.encap {
            Encap::Ip => 0,
            Encap::Udp => be16(&self.buffer.as_ref()[field::UDP_FLAGS]),
        }
    }

    pub fn session_id(&self) -> u32 {
        let b = self.base();
        be32(&self.buffer.as_ref()[b + field::SESSION_ID.start..b + field::SESSION_ID.end])
    }

    pub fn cookie(&self) -> &[u8] {
        let s = self.base() + field::COOKIE;
        &self.buffer.as_ref()[s..s + usize::from(self.cfg.cookie_len)]
    }

    fn l2spec_off(&self) -> usize {
        self.base() + field::COOKIE + usize::from(self.cfg.cookie_len)
    }

    /// The raw 32-bit default sublayer word, if configured.
    pub fn l2spec_word(&self) -> Option<u32> {
        match self.cfg.l2spec {
            L2SpecType::None => None,
            L2SpecType::Default => {
                let o = self.l2spec_off();
                Some(be32(&self.buffer.as_ref()[o..o + 4]))
            }
        }
    }

    /// The 24-bit sequence number when the sublayer's S bit says it is valid.
    pub fn seq(&self) -> Option<u32> {
        self.l2spec_word()
            .filter(|w| w & L2SPEC_S != 0)
            .map(|w| w & SEQ_MASK)
    }

    pub fn header_len(&self) -> usize {
        self.cfg.header_len()
    }

    /// The tunnelled frame after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.cfg.header_len()..]
    }
}

impl<'a> Packet<&'a [u8]> {
    /// [`Self::payload`] with the buffer's lifetime.
    pub fn payload_bytes(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer;
        &b[self.cfg.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn set_session_id(&mut self, id: u32) {
        let b = self.base();
        self.buffer.as_mut()[b..b + 4].copy_from_slice(&id.to_be_bytes());
    }

    /// Writes the cookie; `cookie.len()` must match the config.
    pub fn set_cookie(&mut self, cookie: &[u8]) {
        let s = self.base() + field::COOKIE;
        self.buffer.as_mut()[s..s + usize::from(self.cfg.cookie_len)].copy_from_slice(cookie);
    }

    /// Sets the default sublayer: S bit and 24-bit sequence, or all zero.
    pub fn set_seq(&mut self, seq: Option<u32>) {
        if self.cfg.l2spec == L2SpecType::Default {
            let o = self.l2spec_off();
            let w = match seq {
                Some(s) => L2SPEC_S | (s & SEQ_MASK),
                None => 0,
            };
            self.buffer.as_mut()[o..o + 4].copy_from_slice(&w.to_be_bytes());
        }
    }

    /// UDP only: writes T=0, Ver=3 and a zero reserved word.
    pub fn set_udp_prefix(&mut self) {
        if self.cfg.encap == Encap::Udp {
            let b = self.buffer.as_mut();
            b[field::UDP_FLAGS].copy_from_slice(&3u16.to_be_bytes());
            b[field::UDP_RESERVED].copy_from_slice(&[0, 0]);
        }
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let h = self.cfg.header_len();
        &mut self.buffer.as_mut()[h..]
    }
}

/// The decoded fields of a v3 data header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct V3DataRepr {
    pub session_id: u32,
    pub cookie: Cookie,
    /// Some only with the Default sublayer and its S bit set; 24-bit.
    pub seq: Option<u32>,
    pub l2spec: L2SpecType,
}

impl V3DataRepr {
    /// Parses a checked view.
    pub fn parse_packet<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<V3DataRepr> {
        packet.check_len()?;
        Self::from_checked(packet)
    }

    /// Decodes a packet whose `check_len` already passed.
    fn from_checked<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<V3DataRepr> {
        let session_id = packet.session_id();
        if session_id == 0 {
            // Over IP this is the control-message marker; over UDP it is
            // simply reserved. Either way it is not a data session.
            return Err(match packet.cfg.encap {
                Encap::Ip => Error::UnexpectedControl,
                Encap::Udp => Error::ZeroSessionId,
            });
        }
        Ok(V3DataRepr {
            session_id,
            cookie: Cookie::new(packet.cookie())?,
            seq: packet.seq(),
            l2spec: packet.cfg.l2spec,
        })
    }

    /// Returns the header and the offset where the payload (e.g. the
    /// Ethernet frame) starts.
    pub fn parse(buf: &[u8], cfg: &V3DataConfig) -> Result<(V3DataRepr, usize)> {
        let p = Packet::new_checked(buf, *cfg)?;
        Ok((Self::from_checked(&p)?, p.header_len()))
    }

    /// The config a receiver needs to parse what [`emit`](Self::emit) writes.
    pub fn config(&self, encap: Encap) -> V3DataConfig {
        V3DataConfig {
            encap,
            cookie_len: self.cookie.len,
            l2spec: self.l2spec,
        }
    }

    pub fn header_len(&self, encap: Encap) -> usize {
        self.config(encap).header_len()
    }

    /// Writes the header into the front of `buf`, returns its length.
    pub fn emit(&self, encap: Encap, buf: &mut [u8]) -> Result<usize> {
        if let Some(s) = self.seq {
            if self.l2spec == L2SpecType::None {
                return Err(Error::SequenceWithoutSublayer);
            }
            if s > SEQ_MASK {
                return Err(Error::ValueTooLarge {
                    field: "L2-Specific Sublayer sequence number",
                    value: u64::from(s),
                });
            }
        }
        let len = self.header_len(encap);
        check_room(buf, len)?;
        let mut p = Packet::new_unchecked(&mut buf[..len], self.config(encap));
        p.set_udp_prefix();
        p.set_session_id(self.session_id);
        p.set_cookie(self.cookie.as_bytes());
        p.set_seq(self.seq);
        Ok(len)
    }
}

/// Peeks the 32-bit session ID before the session config is known.
///
/// Returns 0 for a control message under either encapsulation (session ID
/// 0 over IP, T bit set over UDP), so a receiver demultiplexes with one
/// comparison. Over UDP a non-v3 header is `BadVersion`.
pub fn v3_session_id(buf: &[u8], encap: Encap) -> Result<u32> {
    match encap {
        Encap::Ip => buf.get(field::SESSION_ID).map(be32).ok_or(Error::Truncated),
        Encap::Udp => {
            let w = buf
                .get(field::UDP_FLAGS)
                .map(be16)
                .ok_or(Error::Truncated)?;
            let ver = (w & VER_MASK) as u8;
            if ver != 3 {
                return Err(Error::BadVersion(ver));
            }
            if w & T_BIT != 0 {
                return Ok(0);
            }
            buf.get(field::UDP_PREFIX..field::UDP_PREFIX + 4)
                .map(be32)
                .ok_or(Error::Truncated)
        }
    }
}

/// True when the message is a control message: T bit set (UDP) or session
/// ID 0 (IP). Works for v2 and v3 over UDP since the T bit is shared.
pub fn is_control(buf: &[u8], encap: Encap) -> Result<bool> {
    match encap {
        Encap::Ip => buf
            .get(field::SESSION_ID)
            .map(|b| be32(b) == 0)
            .ok_or(Error::Truncated),
        Encap::Udp => buf.first().map(|b| b & 0x80 != 0).ok_or(Error::Truncated),
    }
}

/// Reads the Ver nibble of a UDP-encapsulated L2TP header (2 or 3 in
/// practice) so one UDP socket can serve both versions.
pub fn udp_version(buf: &[u8]) -> Result<u8> {
    buf.get(1).map(|b| b & 0x0f).ok_or(Error::Truncated)
}

#[inline]
pub(crate) fn be16(b: &[u8]) -> u16 {
    match b {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

#[inline]
pub(crate) fn be32(b: &[u8]) -> u32 {
    match b {
        [a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(encap: Encap, cookie_len: u8, l2spec: L2SpecType) -> V3DataConfig {
        V3DataConfig {
            encap,
            cookie_len,
            l2spec,
        }
    }

    #[test]
    fn ip_with_cookie_and_seq() {
        let bytes = [
            0x00, 0x00, 0x12, 0x34, // session
            0xde, 0xad, 0xbe, 0xef, // cookie
            0x40, 0x00, 0x00, 0x05, // S=1 seq=5
            0xaa, 0xbb,
        ];
        let (r, off) = V3DataRepr::parse(&bytes, &cfg(Encap::Ip, 4, L2SpecType::Default)).unwrap();
        assert_eq!(off, 12);
        assert_eq!(r.session_id, 0x1234);
        assert_eq!(r.cookie.as_bytes(), &[0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(r.seq, Some(5));
        let mut out = [0u8; 12];
        assert_eq!(r.emit(Encap::Ip, &mut out).unwrap(), 12);
        assert_eq!(&out[..], &bytes[..12]);
    }

    #[test]
    fn udp_header_and_demux() {
        let bytes = [0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x01];
        assert_eq!(v3_session_id(&bytes, Encap::Udp).unwrap(), 7);
        assert!(!is_control(&bytes, Encap::Udp).unwrap());
        let (r, off) = V3DataRepr::parse(&bytes, &cfg(Encap::Udp, 0, L2SpecType::None)).unwrap();
        assert_eq!((r.session_id, off, r.seq), (7, 8, None));
        let ctl = [0xc8, 0x03, 0, 12, 0, 0, 0, 1, 0, 0, 0, 0];
        assert_eq!(v3_session_id(&ctl, Encap::Udp).unwrap(), 0);
        assert!(is_control(&ctl, Encap::Udp).unwrap());
        assert_eq!(
            V3DataRepr::parse(&ctl, &cfg(Encap::Udp, 0, L2SpecType::None)),
            Err(Error::UnexpectedControl)
        );
    }

    #[test]
    fn s_bit_clear_means_no_seq() {
        let bytes = [0, 0, 0, 9, 0x00, 0x00, 0x00, 0x05];
        let (r, _) = V3DataRepr::parse(&bytes, &cfg(Encap::Ip, 0, L2SpecType::Default)).unwrap();
        assert_eq!(r.seq, None);
    }

    #[test]
    fn rejects() {
        let c = cfg(Encap::Ip, 8, L2SpecType::Default);
        assert_eq!(V3DataRepr::parse(&[0, 0, 0, 1], &c), Err(Error::Truncated));
        assert_eq!(
            V3DataRepr::parse(&[0; 16], &cfg(Encap::Ip, 3, L2SpecType::None)),
            Err(Error::BadCookieLen(3))
        );
        assert_eq!(Cookie::new(&[1, 2]), Err(Error::BadCookieLen(2)));
        let r = V3DataRepr {
            session_id: 1,
            cookie: Cookie::NONE,
            seq: Some(1 << 24),
            l2spec: L2SpecType::Default,
        };
        assert!(matches!(
            r.emit(Encap::Ip, &mut [0; 8]),
            Err(Error::ValueTooLarge { .. })
        ));
        let r = V3DataRepr { seq: Some(1), ..r };
        assert_eq!(
            r.emit(Encap::Udp, &mut [0; 4]),
            Err(Error::BufferTooSmall {
                needed: 12,
                available: 4
            })
        );
    }
}
