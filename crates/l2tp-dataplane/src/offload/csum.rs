//! The Internet checksum (RFC 1071) of TCP, UDP and IPv4 headers.
//!
//! Words are summed in native byte order with end-around carries and the
//! folded result is stored as is: RFC 1071 section 2(B) shows the sum is
//! byte-order independent, so no swapping is needed per word.

use std::net::{Ipv4Addr, Ipv6Addr};

/// A running ones'-complement sum. Partial sums of pieces that each start
/// at an even offset of the checksummed data can be added in any order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sum(u64);

impl Sum {
    /// An empty sum.
    pub const fn new() -> Self {
        Self(0)
    }

    /// Adds `data` (an odd trailing byte is padded with zero, as RFC 1071
    /// asks for the last byte of the checksummed data).
    #[inline]
    pub fn feed(self, data: &[u8]) -> Self {
        let mut acc = self.0;
        let mut chunks = data.chunks_exact(16);
        for c in &mut chunks {
            let (a, b) = c.split_at(8);
            // Two independent carries per round keep the adds pipelined.
            let (s1, o1) = acc.overflowing_add(u64::from_ne_bytes(a.try_into().unwrap_or([0; 8])));
            let (s2, o2) = s1.overflowing_add(u64::from_ne_bytes(b.try_into().unwrap_or([0; 8])));
            acc = s2.wrapping_add(u64::from(o1) + u64::from(o2));
        }
        let mut rest = chunks.remainder();
        if rest.len() >= 8 {
            let (a, b) = rest.split_at(8);
            let (s, o) = acc.overflowing_add(u64::from_ne_bytes(a.try_into().unwrap_or([0; 8])));
            acc = s.wrapping_add(u64::from(o));
            rest = b;
        }
        let mut tail = [0u8; 8];
        if let Some(dst) = tail.get_mut(..rest.len()) {
            dst.copy_from_slice(rest);
        }
        let (s, o) = acc.overflowing_add(u64::from_ne_bytes(tail));
        Self(s.wrapping_add(u64::from(o)))
    }

    /// Adds a 16-bit value given in host order (a length or protocol field
    /// of a pseudo-header).
    #[inline]
    pub fn add_u16(self, v: u16) -> Self {
        self.feed(&v.to_be_bytes())
    }

    /// Adds another partial sum.
    #[inline]
    pub fn combine(self, other: Sum) -> Self {
        let (s, o) = self.0.overflowing_add(other.0);
        Self(s.wrapping_add(u64::from(o)))
    }

    /// The sum folded to 16 bits, in wire byte order, not complemented:
    /// what a checksum field holds for a partial (offloaded) checksum.
    #[inline]
    pub fn fold(self) -> [u8; 2] {
        let mut s = (self.0 & 0xffff_ffff) + (self.0 >> 32);
        s = (s & 0xffff_ffff) + (s >> 32);
        let mut t = (s & 0xffff) + (s >> 16);
        t = (t & 0xffff) + (t >> 16);
        t = (t & 0xffff) + (t >> 16);
        (t as u16).to_ne_bytes()
    }

    /// The checksum to store: the complement of the folded sum, with zero
    /// sent as 0xffff (zero means "no checksum" in UDP; both are the same
    /// value in ones'-complement arithmetic, so TCP accepts it too).
    #[inline]
    pub fn finish(self) -> [u8; 2] {
        let f = u16::from_ne_bytes(self.fold());
        let c = !f;
        if c == 0 {
            [0xff, 0xff]
        } else {
            c.to_ne_bytes()
        }
    }

    /// True when data that includes its checksum field sums to all ones,
    /// i.e. the checksum is correct.
    #[inline]
    pub fn verifies(self) -> bool {
        self.fold() == [0xff, 0xff]
    }
}

/// The TCP/UDP pseudo-header over IPv4 (RFC 793 / RFC 768).
pub fn pseudo_v4(src: [u8; 4], dst: [u8; 4], proto: u8, l4_len: u16) -> Sum {
    Sum::new()
        .feed(&src)
        .feed(&dst)
        .add_u16(u16::from(proto))
        .add_u16(l4_len)
}

/// The upper-layer pseudo-header over IPv6 (RFC 8200 section 8.1).
pub fn pseudo_v6(src: [u8; 16], dst: [u8; 16], proto: u8, l4_len: u32) -> Sum {
    Sum::new()
        .feed(&src)
        .feed(&dst)
        .feed(&l4_len.to_be_bytes())
        .feed(&[0, 0, 0, proto])
}

/// Pseudo-header from addresses in the std types (tests, diagnostics).
pub fn pseudo_v4_addr(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, l4_len: u16) -> Sum {
    pseudo_v4(src.octets(), dst.octets(), proto, l4_len)
}

/// Pseudo-header from addresses in the std types (tests, diagnostics).
pub fn pseudo_v6_addr(src: Ipv6Addr, dst: Ipv6Addr, proto: u8, l4_len: u32) -> Sum {
    pseudo_v6(src.octets(), dst.octets(), proto, l4_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 done the obvious way: big-endian 16-bit words.
    fn reference(data: &[u8]) -> u16 {
        let mut s: u32 = 0;
        for c in data.chunks(2) {
            let w = (u32::from(c[0]) << 8) | u32::from(*c.get(1).unwrap_or(&0));
            s += w;
            s = (s & 0xffff) + (s >> 16);
        }
        !(s as u16)
    }

    #[test]
    fn matches_reference_for_all_lengths_and_alignments() {
        let data: Vec<u8> = (0..600u32).map(|i| (i * 7919 % 251) as u8).collect();
        for start in 0..4 {
            for len in 0..200 {
                let d = &data[start..start + len];
                let want = reference(d);
                let got = u16::from_be_bytes(Sum::new().feed(d).finish());
                let want = if want == 0 { 0xffff } else { want };
                assert_eq!(got, want, "start {start} len {len}");
            }
        }
    }

    #[test]
    fn even_pieces_combine() {
        let data: Vec<u8> = (0..1001u32).map(|i| (i * 31 + 7) as u8).collect();
        let whole = Sum::new().feed(&data).finish();
        let parts = Sum::new()
            .feed(&data[..10])
            .combine(Sum::new().feed(&data[10..600]))
            .feed(&data[600..])
            .finish();
        assert_eq!(whole, parts);
    }

    #[test]
    fn all_ones_runs_carry() {
        let data = vec![0xffu8; 4096];
        assert_eq!(Sum::new().feed(&data).fold(), [0xff, 0xff]);
        let mut with = vec![0x12u8, 0x34, 0, 0];
        let c = Sum::new().feed(&with).finish();
        with[2..].copy_from_slice(&c);
        assert!(Sum::new().feed(&with).verifies());
    }

    #[test]
    fn ipv4_header_example() {
        // A classic example header with its known checksum 0xb861.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(Sum::new().feed(&h).finish(), [0xb8, 0x61]);
    }
}
