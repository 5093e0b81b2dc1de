//! L2TPv2 data messages (RFC 2661 3.1): T L S O P bits, Ver 2, optional
//! Length, Tunnel/Session IDs, optional Ns/Nr, optional Offset Size + pad.
//!
//! Field positions move with the flag bits, so the view computes offsets
//! from the first word; nothing here allocates.

use crate::data::be16;
use crate::error::{check_room, Error, Result};

pub(crate) const T_BIT: u16 = 0x8000;
pub(crate) const L_BIT: u16 = 0x4000;
pub(crate) const S_BIT: u16 = 0x0800;
pub(crate) const O_BIT: u16 = 0x0200;
pub(crate) const P_BIT: u16 = 0x0100;
pub(crate) const VER_MASK: u16 = 0x000f;

mod field {
    pub type Field = core::ops::Range<usize>;
    pub const FLAGS: Field = 0..2;
    /// Minimal header: flags, tunnel ID, session ID.
    pub const MIN_LEN: usize = 6;
}

/// A zero-copy view of an L2TPv2 data message.
#[derive(Debug, Clone)]
pub struct DataPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> DataPacket<T> {
    /// Wraps without checks; getters may panic if the buffer is short.
    pub const fn new_unchecked(buffer: T) -> DataPacket<T> {
        DataPacket { buffer }
    }

    /// Wraps and validates so that no getter can panic.
    pub fn new_checked(buffer: T) -> Result<DataPacket<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks: data (T=0), Ver 2, every flagged field present, Length (if
    /// any) covers the header and fits the buffer, offset pad fits.
    pub fn check_len(&self) -> Result<()> {
        let buf = self.buffer.as_ref();
        let flags = buf.get(field::FLAGS).map(be16).ok_or(Error::Truncated)?;
        let ver = (flags & VER_MASK) as u8;
        if ver != 2 {
            return Err(Error::BadVersion(ver));
        }
        if flags & T_BIT != 0 {
            return Err(Error::UnexpectedControl);
        }
        let fixed = fixed_len(flags);
        if buf.len() < fixed {
            return Err(Error::Truncated);
        }
        let hdr = fixed + usize::from(self.offset_size().unwrap_or(0));
        let end = match self.length() {
            Some(l) => {
                let l = usize::from(l);
                if l < fixed || l > buf.len() {
                    return Err(Error::BadLength);
                }
                l
            }
            None => buf.len(),
        };
        if hdr > end {
            // The offset pad runs past the message.
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

    pub fn version(&self) -> u8 {
        (self.flags() & VER_MASK) as u8
    }

    pub fn has_length(&self) -> bool {
        self.flags() & L_BIT != 0
    }

    pub fn has_sequence(&self) -> bool {
        self.flags() & S_BIT != 0
    }

    pub fn has_offset(&self) -> bool {
        self.flags() & O_BIT != 0
    }

    pub fn priority(&self) -> bool {
        self.flags() & P_BIT != 0
    }

    fn at(&self, off: usize) -> u16 {
        be16(&self.buffer.as_ref()[off..off + 2])
    }

    /// The Length field (total message length), if the L bit is set.
    pub fn length(&self) -> Option<u16> {
        self.has_length().then(|| self.at(2))
    }

    fn ids_off(&self) -> usize {
        if self.has_length() {
            4
        } else {
            2
        }
    }

    pub fn tunnel_id(&self) -> u16 {
        self.at(self.ids_off())
    }

    pub fn session_id(&self) -> u16 {
        self.at(self.ids_off() + 2)
    }

    /// Ns and Nr, if the S bit is set (Nr is reserved in data messages).
    pub fn ns_nr(&self) -> Option<(u16, u16)> {
        let o = self.ids_off() + 4;
        self.has_sequence().then(|| (self.at(o), self.at(o + 2)))
    }

    /// The Offset Size field, if the O bit is set.
    pub fn offset_size(&self) -> Option<u16> {
        let o = fixed_len(self.flags()) - 2;
        self.has_offset().then(|| self.at(o))
    }

    /// Header length including any offset padding.
    pub fn header_len(&self) -> usize {
        fixed_len(self.flags()) + usize::from(self.offset_size().unwrap_or(0))
    }

    /// The PPP frame: after the header, up to Length when present.
    pub fn payload(&self) -> &[u8] {
        let buf = self.buffer.as_ref();
        let end = self.length().map_or(buf.len(), usize::from);
        &buf[self.header_len()..end]
    }
}

impl<'a> DataPacket<&'a [u8]> {
    /// [`Self::payload`] with the buffer's lifetime.
    pub fn payload_bytes(&self) -> &'a [u8] {
        let b: &'a [u8] = self.buffer;
        let end = self.length().map_or(b.len(), usize::from);
        &b[self.header_len()..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> DataPacket<T> {
    /// Sets the first word; call before the other setters since it moves them.
    pub fn set_flags(&mut self, flags: u16) {
        self.buffer.as_mut()[field::FLAGS].copy_from_slice(&flags.to_be_bytes());
    }

    fn put(&mut self, off: usize, v: u16) {
        self.buffer.as_mut()[off..off + 2].copy_from_slice(&v.to_be_bytes());
    }

    /// Writes the Length field; no effect without the L bit.
    pub fn set_length(&mut self, len: u16) {
        if self.has_length() {
            self.put(2, len);
        }
    }

    pub fn set_tunnel_id(&mut self, id: u16) {
        self.put(self.ids_off(), id);
    }

    pub fn set_session_id(&mut self, id: u16) {
        self.put(self.ids_off() + 2, id);
    }

    /// Writes Ns/Nr; no effect without the S bit.
    pub fn set_ns_nr(&mut self, ns: u16, nr: u16) {
        if self.has_sequence() {
            let o = self.ids_off() + 4;
            self.put(o, ns);
            self.put(o + 2, nr);
        }
    }

    /// Writes Offset Size and zeroes the pad; no effect without the O bit.
    pub fn set_offset_size(&mut self, size: u16) {
        if self.has_offset() {
            let o = fixed_len(self.flags()) - 2;
            self.put(o, size);
            let s = o + 2;
            self.buffer.as_mut()[s..s + usize::from(size)].fill(0);
        }
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let h = self.header_len();
        let end = self
            .length()
            .map_or(self.buffer.as_ref().len(), usize::from);
        &mut self.buffer.as_mut()[h..end]
    }
}

/// Header length implied by the flag bits, without the offset pad.
fn fixed_len(flags: u16) -> usize {
    let mut n = field::MIN_LEN;
    if flags & L_BIT != 0 {
        n += 2;
    }
    if flags & S_BIT != 0 {
        n += 4;
    }
    if flags & O_BIT != 0 {
        n += 2;
    }
    n
}

/// The decoded fields of an L2TPv2 data header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct DataRepr {
    /// Total message length (header + payload) when the L bit is set.
    pub length: Option<u16>,
    pub tunnel_id: u16,
    pub session_id: u16,
    pub ns_nr: Option<(u16, u16)>,
    /// Offset Size when the O bit is set; that many zero pad bytes follow.
    pub offset: Option<u16>,
    pub priority: bool,
}

impl DataRepr {
    /// Parses a view (the view is checked again, so unchecked ones are safe).
    pub fn parse<T: AsRef<[u8]>>(packet: &DataPacket<T>) -> Result<DataRepr> {
        packet.check_len()?;
        Ok(Self::from_checked(packet))
    }

    fn from_checked<T: AsRef<[u8]>>(packet: &DataPacket<T>) -> DataRepr {
        DataRepr {
            length: packet.length(),
            tunnel_id: packet.tunnel_id(),
            session_id: packet.session_id(),
            ns_nr: packet.ns_nr(),
            offset: packet.offset_size(),
            priority: packet.priority(),
        }
    }

    /// Parses raw bytes; returns the header and the payload's start offset.
    /// The payload ends at `length` when present, else at the buffer's end.
    pub fn parse_bytes(buf: &[u8]) -> Result<(DataRepr, usize)> {
        let p = DataPacket::new_checked(buf)?;
        Ok((Self::from_checked(&p), p.header_len()))
    }

    /// The first word this repr emits.
    pub fn flags(&self) -> u16 {
        let mut f = 2;
        if self.length.is_some() {
            f |= L_BIT;
        }
        if self.ns_nr.is_some() {
            f |= S_BIT;
        }
        if self.offset.is_some() {
            f |= O_BIT;
        }
        if self.priority {
            f |= P_BIT;
        }
        f
    }

    /// Header length including offset padding.
    pub fn header_len(&self) -> usize {
        fixed_len(self.flags()) + usize::from(self.offset.unwrap_or(0))
    }

    /// Sets `length` to header + `payload_len` when the L bit is wanted.
    pub fn with_payload_len(mut self, payload_len: usize) -> Result<DataRepr> {
        // The Length field itself is part of the header it measures.
        self.length = Some(0);
        let total = self.header_len() + payload_len;
        let l = u16::try_from(total).map_err(|_| Error::TooLong {
            field: "v2 data message",
            len: total,
        })?;
        self.length = Some(l);
        Ok(self)
    }

    /// Writes the header into a view whose buffer holds at least
    /// `header_len()` bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut DataPacket<T>) -> Result<()> {
        check_room(packet.buffer.as_ref(), self.header_len())?;
        packet.set_flags(self.flags());
        if let Some(l) = self.length {
            packet.set_length(l);
        }
        packet.set_tunnel_id(self.tunnel_id);
        packet.set_session_id(self.session_id);
        if let Some((ns, nr)) = self.ns_nr {
            packet.set_ns_nr(ns, nr);
        }
        if let Some(o) = self.offset {
            packet.set_offset_size(o);
        }
        Ok(())
    }

    /// Writes the header into the front of `buf`, returns its length.
    pub fn emit_bytes(&self, buf: &mut [u8]) -> Result<usize> {
        let n = self.header_len();
        check_room(buf, n)?;
        self.emit(&mut DataPacket::new_unchecked(&mut buf[..n]))?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_header() {
        let b = [0x00, 0x02, 0x00, 0x05, 0x00, 0x06, 0xff, 0x03];
        let (r, off) = DataRepr::parse_bytes(&b).unwrap();
        assert_eq!(off, 6);
        assert_eq!((r.tunnel_id, r.session_id), (5, 6));
        assert_eq!(r.length, None);
        let mut out = [0u8; 6];
        assert_eq!(r.emit_bytes(&mut out).unwrap(), 6);
        assert_eq!(out, b[..6]);
    }

    #[test]
    fn all_fields() {
        let b = [
            0x4b, 0x02, 0x00, 0x12, // L S O P, len 18
            0x00, 0x01, 0x00, 0x02, // tid sid
            0x00, 0x03, 0x00, 0x04, // ns nr
            0x00, 0x02, 0x00, 0x00, // offset 2 + pad
            0xff, 0x03, // payload
            0x99, // trailing garbage beyond Length
        ];
        let p = DataPacket::new_checked(&b[..]).unwrap();
        let r = DataRepr::parse(&p).unwrap();
        assert_eq!(p.payload(), &[0xff, 0x03]);
        assert_eq!(r.ns_nr, Some((3, 4)));
        assert_eq!(r.offset, Some(2));
        assert!(r.priority);
        let mut out = [0u8; 16];
        r.emit_bytes(&mut out).unwrap();
        assert_eq!(out, b[..16]);
    }

    #[test]
    fn rejects() {
        assert_eq!(DataRepr::parse_bytes(&[0x00]), Err(Error::Truncated));
        assert_eq!(
            DataRepr::parse_bytes(&[0, 3, 0, 0, 0, 0]),
            Err(Error::BadVersion(3))
        );
        assert_eq!(
            DataRepr::parse_bytes(&[0xc8, 2, 0, 12, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(Error::UnexpectedControl)
        );
        // Length 4 is below the 8-byte header it announces.
        assert_eq!(
            DataRepr::parse_bytes(&[0x40, 2, 0, 4, 0, 0, 0, 0]),
            Err(Error::BadLength)
        );
        // Offset pad of 100 bytes past the end.
        assert_eq!(
            DataRepr::parse_bytes(&[0x02, 2, 0, 0, 0, 0, 0, 100]),
            Err(Error::BadLength)
        );
    }
}
