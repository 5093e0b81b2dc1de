//! Segmentation of the large frames a TAP device with TSO/USO hands over:
//! each segment gets the original headers with its own lengths, IPv4 ID,
//! TCP sequence number, flags and a complete checksum, as the kernel's
//! `tcp_gso_segment` / `__udp_gso_segment` would produce them. Payload is
//! never copied here: a segment is its rewritten headers plus a range of
//! the original frame.

use std::ops::Range;

use super::csum::Sum;
use super::vnet::{VnetHdr, F_NEEDS_CSUM, GSO_TCPV4, GSO_TCPV6, GSO_UDP, GSO_UDP_L4};
use super::{
    be16, be32, err, l3_offset, put16, put32, put_bytes, rewrite_ip_len, OffloadError,
    ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_TCP, IPPROTO_UDP,
};

/// Longest header stack (Ethernet, two tags, IP with options or extension
/// headers, TCP with options) a segment may have.
pub const MAX_SEG_HEADER: usize = 256;

const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// How one GSO frame splits; built by [`plan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segments {
    tcp: bool,
    v6: bool,
    l3: usize,
    l4: usize,
    hdr_len: usize,
    mss: usize,
    len: usize,
    count: usize,
    ip_id: u16,
    seq: u32,
    flags: u8,
}

/// Checks a GSO frame (`frame` starts at the Ethernet header, after the
/// virtio header `h`) and works out its segments.
pub fn plan(h: &VnetHdr, frame: &[u8]) -> Result<Segments, OffloadError> {
    let tcp = match h.gso_kind() {
        GSO_TCPV4 | GSO_TCPV6 => true,
        GSO_UDP_L4 => false,
        GSO_UDP => {
            return Err(err(
                "gso_type",
                "UDP fragmentation offload was not negotiated",
            ))
        }
        _ => return Err(err("gso_type", "unknown GSO type")),
    };
    let mss = usize::from(h.gso_size);
    if mss == 0 {
        return Err(err("gso_size", "zero"));
    }
    let (l3, ethertype) = l3_offset(frame).ok_or(err("ethernet", "truncated header"))?;
    let proto = if tcp { IPPROTO_TCP } else { IPPROTO_UDP };
    let needs_csum = h.flags & F_NEEDS_CSUM != 0;
    let (v6, l4) = match ethertype {
        ETHERTYPE_IPV4 => {
            if h.gso_kind() == GSO_TCPV6 {
                return Err(err("gso_type", "TCPv6 segmentation of an IPv4 packet"));
            }
            let vihl = *frame.get(l3).ok_or(err("ipv4", "truncated header"))?;
            let ihl = usize::from(vihl & 0x0f) * 4;
            if vihl >> 4 != 4 || ihl < 20 {
                return Err(err("ipv4", "bad version or header length"));
            }
            if frame.get(l3 + 9) != Some(&proto) {
                return Err(err("ipv4.protocol", "does not match the GSO type"));
            }
            let l4 = l3 + ihl;
            if needs_csum && usize::from(h.csum_start) != l4 {
                return Err(err("csum_start", "not at the transport header"));
            }
            (false, l4)
        }
        ETHERTYPE_IPV6 => {
            if h.gso_kind() == GSO_TCPV4 {
                return Err(err("gso_type", "TCPv4 segmentation of an IPv6 packet"));
            }
            if frame.get(l3).map(|b| b >> 4) != Some(6) {
                return Err(err("ipv6", "bad version"));
            }
            let next = *frame.get(l3 + 6).ok_or(err("ipv6", "truncated header"))?;
            let l4 = if next == proto {
                l3 + 40
            } else if needs_csum && usize::from(h.csum_start) > l3 + 40 {
                // Extension headers: the kernel said where the transport
                // header is; they are copied into every segment.
                usize::from(h.csum_start)
            } else {
                return Err(err("ipv6.next_header", "transport header not found"));
            };
            (true, l4)
        }
        _ => return Err(err("ethertype", "not IPv4 or IPv6")),
    };
    let l4_hlen = if tcp {
        let doff = usize::from(frame.get(l4 + 12).ok_or(err("tcp", "truncated header"))? >> 4) * 4;
        if doff < 20 {
            return Err(err("tcp.data_offset", "below 20 bytes"));
        }
        doff
    } else {
        8
    };
    let hdr_len = l4 + l4_hlen;
    if hdr_len > MAX_SEG_HEADER {
        return Err(err("headers", "longer than 256 bytes"));
    }
    if hdr_len >= frame.len() {
        return Err(err("payload", "empty or truncated"));
    }
    let payload = frame.len() - hdr_len;
    Ok(Segments {
        tcp,
        v6,
        l3,
        l4,
        hdr_len,
        mss,
        len: frame.len(),
        count: payload.div_ceil(mss),
        ip_id: if v6 {
            0
        } else {
            be16(frame, l3 + 4).unwrap_or(0)
        },
        seq: if tcp {
            be32(frame, l4 + 4).unwrap_or(0)
        } else {
            0
        },
        flags: if tcp {
            frame.get(l4 + 13).copied().unwrap_or(0)
        } else {
            0
        },
    })
}

impl Segments {
    /// Number of segments.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Header bytes in front of every segment's payload.
    pub fn header_len(&self) -> usize {
        self.hdr_len
    }

    /// Payload bytes per segment (the last may have fewer).
    pub fn mss(&self) -> usize {
        self.mss
    }

    /// The payload of segment `i` within the original frame.
    pub fn payload(&self, i: usize) -> Range<usize> {
        let start = (self.hdr_len + i * self.mss).min(self.len);
        start..(start + self.mss).min(self.len)
    }

    /// Writes segment `i`'s headers into `out` (at least
    /// [`header_len`](Self::header_len) bytes) and returns its payload range
    /// in `frame`. Checksums cover the payload, so `frame` must be the one
    /// [`plan`] saw.
    pub fn write_headers(&self, frame: &[u8], i: usize, out: &mut [u8]) -> Range<usize> {
        let payload = self.payload(i);
        let (Some(out), Some(src), Some(data)) = (
            out.get_mut(..self.hdr_len),
            frame.get(..self.hdr_len),
            frame.get(payload.clone()),
        ) else {
            return payload;
        };
        out.copy_from_slice(src);
        let chunk = data.len();
        let (l3, l4) = (self.l3, self.l4);
        let l4_len = self.hdr_len - l4 + chunk;
        if !self.v6 {
            put16(out, l3 + 4, self.ip_id.wrapping_add(i as u16));
        }
        let proto = if self.tcp { IPPROTO_TCP } else { IPPROTO_UDP };
        let pseudo = rewrite_ip_len(out, l3, l4, self.v6, proto, l4_len);
        let csum_at = if self.tcp {
            put32(out, l4 + 4, self.seq.wrapping_add((i * self.mss) as u32));
            let mut flags = self.flags;
            if i > 0 {
                flags &= !TCP_CWR;
            }
            if i + 1 < self.count {
                flags &= !(TCP_FIN | TCP_PSH);
            }
            if let Some(f) = out.get_mut(l4 + 13) {
                *f = flags;
            }
            l4 + 16
        } else {
            put16(out, l4 + 4, l4_len as u16);
            l4 + 6
        };
        put16(out, csum_at, 0);
        let c = pseudo
            .feed(out.get(l4..).unwrap_or(&[]))
            .feed(data)
            .finish();
        put_bytes(out, csum_at, c);
        payload
    }
}

/// Completes a checksum the host left partial (`NEEDS_CSUM` without GSO):
/// sums from `csum_start` to the end, where the field already holds the
/// pseudo-header sum, and stores the result.
pub fn complete_checksum(h: &VnetHdr, frame: &mut [u8]) -> Result<(), OffloadError> {
    if h.flags & F_NEEDS_CSUM == 0 {
        return Ok(());
    }
    let start = usize::from(h.csum_start);
    let at = start + usize::from(h.csum_offset);
    // Trailing Ethernet padding is not part of the packet.
    let end = super::parse_ip(frame).map_or(frame.len(), |ip| ip.end);
    if at + 2 > end || start >= end {
        return Err(err("csum_start", "beyond the packet"));
    }
    let c = Sum::new()
        .feed(frame.get(start..end).unwrap_or(&[]))
        .finish();
    put_bytes(frame, at, c);
    Ok(())
}

#[cfg(test)]
mod tests;
