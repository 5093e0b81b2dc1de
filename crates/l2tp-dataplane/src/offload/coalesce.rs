//! Receive-side coalescing (what GRO does in the kernel): consecutive TCP
//! segments of one flow, and consecutive equal-sized UDP datagrams of one
//! flow, are merged into one large frame that is written to the TAP device
//! once, with a virtio GSO header telling the host how it was cut. The
//! host's stack then handles one 64 KiB packet instead of forty.
//!
//! Only frames that could have come from segmenting one large frame are
//! merged: same flow and headers (addresses, ports, TOS/traffic class, TTL,
//! IPv4 DF, TCP ack/window/options), no IPv4 options or IPv6 extension
//! headers, TCP sequence numbers that follow on exactly, IPv4 IDs that
//! count up by one, plain ACK segments (PSH allowed on the last one),
//! every segment the size of the first except a smaller last one. Frames
//! reach the coalescer after the session's sequence checks and reordering,
//! so they are already in order; a gap (lost or given-up packet) shows as
//! a TCP sequence gap and ends the merge.
//!
//! Payload is not copied when the frame lies in the receive buffer of the
//! current batch (it is written with `writev` straight from there); frames
//! from elsewhere (released from a reorder queue) are copied.

use super::csum::{pseudo_v4, pseudo_v6, Sum};
use super::segment::MAX_SEG_HEADER;
use super::vnet::{
    VnetHdr, F_DATA_VALID, F_NEEDS_CSUM, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4, VNET_HDR_LEN,
};
use super::{
    be16, be32, flow_hash, parse_ip, put16, put_bytes, rewrite_ip_len, IPPROTO_TCP, IPPROTO_UDP,
};

/// Flows merged at the same time per receive thread.
pub const MAX_ENTRIES: usize = 16;
/// Segments merged into one frame (the kernel's GRO limit too).
pub const MAX_SEGS: usize = 64;
/// Largest IP packet a merged frame may become.
const MAX_IP_LEN: usize = 65_535;
/// Room for the copied payload of frames not in the batch buffer.
const OWN_CAPACITY: usize = MAX_IP_LEN + 64;

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;
const TCP_URG: u8 = 0x20;
const TCP_CWR: u8 = 0x80;

/// Where merged frames go.
pub trait FrameSink {
    /// Writes one frame, given as pieces (the first starts with the virtio
    /// header), to the device of session `key`; `hash` is the flow's hash
    /// (for the queue choice) and `segs` how many received frames it holds
    /// (for error counts). Returns false if the device refused it.
    fn write(&mut self, key: u32, hash: u32, segs: usize, parts: &[&[u8]]) -> bool;
}

#[derive(Clone, Copy, Debug, Default)]
enum Src {
    /// In the batch buffer passed to `push`/`flush`.
    #[default]
    Batch,
    /// In the entry's own copy buffer.
    Own,
}

#[derive(Clone, Copy, Debug, Default)]
struct Piece {
    src: Src,
    start: u32,
    len: u32,
}

/// A received frame that may take part in a merge.
#[derive(Clone, Copy, Debug)]
struct Cand {
    tcp: bool,
    v6: bool,
    l3: usize,
    l4: usize,
    hdr_len: usize,
    end: usize,
    seq: u32,
    flags: u8,
    ip_id: u16,
    verified: bool,
}

impl Cand {
    fn payload_len(&self) -> usize {
        self.end - self.hdr_len
    }

    /// Can begin a merge: carries data, and for TCP is a plain ACK segment.
    fn startable(&self) -> bool {
        self.payload_len() > 0
            && (!self.tcp
                || (self.flags & TCP_ACK != 0
                    && self.flags & (TCP_SYN | TCP_RST | TCP_URG | TCP_FIN | TCP_CWR) == 0))
    }
}

/// One flow being merged.
struct Entry {
    key: u32,
    hash: u32,
    c: Cand,
    /// Virtio header room followed by the first frame's headers.
    hdr: Box<[u8]>,
    mss: usize,
    segs: usize,
    payload: usize,
    next_seq: u32,
    last_id: u16,
    closed: bool,
    psh: bool,
    verified: bool,
    pieces: Box<[Piece]>,
    own: Vec<u8>,
}

impl Entry {
    fn new() -> Self {
        Self {
            key: 0,
            hash: 0,
            c: Cand {
                tcp: false,
                v6: false,
                l3: 0,
                l4: 0,
                hdr_len: 0,
                end: 0,
                seq: 0,
                flags: 0,
                ip_id: 0,
                verified: false,
            },
            hdr: vec![0u8; VNET_HDR_LEN + MAX_SEG_HEADER].into_boxed_slice(),
            mss: 0,
            segs: 0,
            payload: 0,
            next_seq: 0,
            last_id: 0,
            closed: false,
            psh: false,
            verified: true,
            pieces: vec![Piece::default(); MAX_SEGS].into_boxed_slice(),
            own: Vec::new(),
        }
    }

    fn headers(&self) -> &[u8] {
        self.hdr
            .get(VNET_HDR_LEN..VNET_HDR_LEN + self.c.hdr_len)
            .unwrap_or(&[])
    }

    /// Same flow: same addresses, ports and protocol.
    fn same_flow(&self, key: u32, c: &Cand, frame: &[u8]) -> bool {
        if self.key != key || self.c.tcp != c.tcp || self.c.v6 != c.v6 || self.c.l3 != c.l3 {
            return false;
        }
        let h = self.headers();
        let addrs = if c.v6 {
            c.l3 + 8..c.l3 + 40
        } else {
            c.l3 + 12..c.l3 + 20
        };
        self.c.l4 == c.l4
            && h.get(addrs.clone()) == frame.get(addrs)
            && h.get(c.l4..c.l4 + 4) == frame.get(c.l4..c.l4 + 4)
    }

    /// Whether `c` (of the same flow) continues this merge.
    fn can_append(&self, c: &Cand, frame: &[u8]) -> bool {
        if self.closed || self.segs >= MAX_SEGS || self.c.hdr_len != c.hdr_len {
            return false;
        }
        let len = c.payload_len();
        if len == 0 || len > self.mss {
            return false;
        }
        let ip_len = c.hdr_len - c.l3 - if c.v6 { 40 } else { 0 } + self.payload + len;
        if ip_len > MAX_IP_LEN {
            return false;
        }
        let h = self.headers();
        let same = |r: std::ops::Range<usize>| h.get(r.clone()) == frame.get(r);
        let l3 = c.l3;
        // Link layer: addresses, tags, EtherType.
        if !same(0..l3) {
            return false;
        }
        if c.v6 {
            // Version/traffic class/flow label, next header, hop limit.
            if !same(l3..l3 + 4) || !same(l3 + 6..l3 + 8) {
                return false;
            }
        } else {
            let id_ok = c.ip_id == self.last_id.wrapping_add(1)
                || (c.ip_id == self.last_id && frame.get(l3 + 6).is_some_and(|f| f & 0x40 != 0));
            // TOS, flags (DF), TTL and protocol.
            if !id_ok || !same(l3 + 1..l3 + 2) || !same(l3 + 6..l3 + 7) || !same(l3 + 8..l3 + 10) {
                return false;
            }
        }
        if c.tcp {
            let l4 = c.l4;
            c.seq == self.next_seq
                && c.flags & !TCP_PSH == self.c.flags & !TCP_PSH
                && same(l4 + 8..l4 + 13)
                && same(l4 + 14..l4 + 16)
                && same(l4 + 20..c.hdr_len)
        } else {
            true
        }
    }
}

/// Merges received frames per flow until [`flush`](Coalescer::flush).
pub struct Coalescer {
    entries: Vec<Entry>,
    /// Active entries, oldest first.
    order: Vec<usize>,
    verify: bool,
}

impl std::fmt::Debug for Coalescer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Coalescer")
            .field("active", &self.order.len())
            .field("verify", &self.verify)
            .finish()
    }
}

/// Checks that `frame` is a TCP/UDP packet that merging could handle and,
/// with `verify`, that its checksums are right.
fn candidate(frame: &[u8], verify: bool) -> Option<Cand> {
    let ip = parse_ip(frame)?;
    if ip.frag || (ip.proto != IPPROTO_TCP && ip.proto != IPPROTO_UDP) {
        return None;
    }
    if !ip.v6 && ip.l4 != ip.l3 + 20 {
        // IPv4 options: the kernel's GRO does not merge these either.
        return None;
    }
    let tcp = ip.proto == IPPROTO_TCP;
    let hdr_len = if tcp {
        let doff = usize::from(frame.get(ip.l4 + 12)? >> 4) * 4;
        if doff < 20 {
            return None;
        }
        ip.l4 + doff
    } else {
        if usize::from(be16(frame, ip.l4 + 4)?) != ip.end.checked_sub(ip.l4)? {
            return None;
        }
        ip.l4 + 8
    };
    if hdr_len > ip.end || hdr_len > MAX_SEG_HEADER {
        return None;
    }
    let mut verified = false;
    if verify {
        let l4_len = ip.end - ip.l4;
        let pseudo = if ip.v6 {
            let src: [u8; 16] = frame.get(ip.l3 + 8..ip.l3 + 24)?.try_into().ok()?;
            let dst: [u8; 16] = frame.get(ip.l3 + 24..ip.l3 + 40)?.try_into().ok()?;
            pseudo_v6(src, dst, ip.proto, l4_len as u32)
        } else {
            if !Sum::new().feed(frame.get(ip.l3..ip.l4)?).verifies() {
                return None;
            }
            let src: [u8; 4] = frame.get(ip.l3 + 12..ip.l3 + 16)?.try_into().ok()?;
            let dst: [u8; 4] = frame.get(ip.l3 + 16..ip.l3 + 20)?.try_into().ok()?;
            pseudo_v4(src, dst, ip.proto, l4_len as u16)
        };
        let zero_udp = !tcp && !ip.v6 && be16(frame, ip.l4 + 6)? == 0;
        if !zero_udp {
            if !pseudo.feed(frame.get(ip.l4..ip.end)?).verifies() {
                return None;
            }
            verified = true;
        }
    }
    Some(Cand {
        tcp,
        v6: ip.v6,
        l3: ip.l3,
        l4: ip.l4,
        hdr_len,
        end: ip.end,
        seq: if tcp { be32(frame, ip.l4 + 4)? } else { 0 },
        flags: if tcp { *frame.get(ip.l4 + 13)? } else { 0 },
        ip_id: if ip.v6 { 0 } else { be16(frame, ip.l3 + 4)? },
        verified,
    })
}

/// Offset of `part` within `buf`, if it lies entirely inside it.
fn offset_in(buf: &[u8], part: &[u8]) -> Option<u32> {
    let b = buf.as_ptr() as usize;
    let p = part.as_ptr() as usize;
    if p >= b && p + part.len() <= b + buf.len() {
        u32::try_from(p - b).ok()
    } else {
        None
    }
}

impl Coalescer {
    /// An empty coalescer; `verify` checks inner checksums before merging.
    pub fn new(verify: bool) -> Self {
        Self {
            entries: (0..MAX_ENTRIES).map(|_| Entry::new()).collect(),
            order: Vec::with_capacity(MAX_ENTRIES),
            verify,
        }
    }

    /// Flows currently held.
    pub fn pending(&self) -> usize {
        self.order.len()
    }

    /// Takes one frame of session `key`. `batch` is the receive buffer the
    /// frame may lie in (its payload is then referenced, not copied, so
    /// the buffer must stay untouched until [`flush`](Self::flush)).
    pub fn push<W: FrameSink + ?Sized>(
        &mut self,
        key: u32,
        frame: &[u8],
        batch: &[u8],
        out: &mut W,
    ) {
        let Some(c) = candidate(frame, self.verify) else {
            // Not mergeable: keep it behind what the session already holds.
            self.flush_key(key, batch, out);
            let h = VnetHdr::default().emit();
            out.write(key, flow_hash(frame), 1, &[&h, frame]);
            return;
        };
        let found = self.order.iter().position(|&i| {
            self.entries
                .get(i)
                .is_some_and(|e| e.same_flow(key, &c, frame))
        });
        if let Some(pos) = found {
            let idx = self.order.get(pos).copied().unwrap_or(0);
            if self
                .entries
                .get(idx)
                .is_some_and(|e| e.can_append(&c, frame))
            {
                self.append(idx, &c, frame, batch);
                return;
            }
            self.flush_at(pos, batch, out);
        }
        if c.startable() {
            if self.order.len() >= MAX_ENTRIES {
                self.flush_at(0, batch, out);
            }
            self.start(key, &c, frame, batch);
        } else {
            let h = VnetHdr {
                flags: if c.verified { F_DATA_VALID } else { 0 },
                ..VnetHdr::default()
            }
            .emit();
            out.write(key, flow_hash(frame), 1, &[&h, frame]);
        }
    }

    /// Writes out everything held, oldest first.
    pub fn flush<W: FrameSink + ?Sized>(&mut self, batch: &[u8], out: &mut W) {
        while !self.order.is_empty() {
            self.flush_at(0, batch, out);
        }
    }

    /// Writes out what session `key` holds (before a frame that must not
    /// overtake it).
    pub fn flush_key<W: FrameSink + ?Sized>(&mut self, key: u32, batch: &[u8], out: &mut W) {
        let mut pos = 0;
        while let Some(&idx) = self.order.get(pos) {
            if self.entries.get(idx).is_some_and(|e| e.key == key) {
                self.flush_at(pos, batch, out);
            } else {
                pos += 1;
            }
        }
    }

    /// Forgets what session `key` holds without writing it (the session is
    /// going away).
    pub fn drop_key(&mut self, key: u32) {
        let entries = &self.entries;
        self.order
            .retain(|&i| entries.get(i).is_none_or(|e| e.key != key));
    }

    fn start(&mut self, key: u32, c: &Cand, frame: &[u8], batch: &[u8]) {
        let Some(idx) = (0..MAX_ENTRIES).find(|i| !self.order.contains(i)) else {
            return;
        };
        let Some(e) = self.entries.get_mut(idx) else {
            return;
        };
        let (Some(dst), Some(src)) = (
            e.hdr.get_mut(VNET_HDR_LEN..VNET_HDR_LEN + c.hdr_len),
            frame.get(..c.hdr_len),
        ) else {
            return;
        };
        dst.copy_from_slice(src);
        e.key = key;
        e.hash = flow_hash(frame);
        e.c = *c;
        e.mss = c.payload_len();
        e.segs = 0;
        e.payload = 0;
        e.closed = false;
        e.psh = false;
        e.verified = true;
        e.own.clear();
        self.order.push(idx);
        self.append(idx, c, frame, batch);
    }

    fn append(&mut self, idx: usize, c: &Cand, frame: &[u8], batch: &[u8]) {
        let Some(e) = self.entries.get_mut(idx) else {
            return;
        };
        let Some(data) = frame.get(c.hdr_len..c.end) else {
            return;
        };
        let piece = match offset_in(batch, data) {
            Some(start) => Piece {
                src: Src::Batch,
                start,
                len: data.len() as u32,
            },
            None => {
                if e.own.capacity() == 0 {
                    e.own.reserve_exact(OWN_CAPACITY);
                }
                let start = e.own.len() as u32;
                e.own.extend_from_slice(data);
                Piece {
                    src: Src::Own,
                    start,
                    len: data.len() as u32,
                }
            }
        };
        if let Some(p) = e.pieces.get_mut(e.segs) {
            *p = piece;
        }
        e.segs += 1;
        e.payload += data.len();
        e.next_seq = c.seq.wrapping_add(data.len() as u32);
        e.last_id = c.ip_id;
        e.verified &= c.verified;
        if c.tcp && c.flags & TCP_PSH != 0 {
            e.psh = true;
            e.closed = true;
        }
        if data.len() < e.mss {
            e.closed = true;
        }
    }

    /// Writes the entry at `order[pos]` and frees it.
    fn flush_at<W: FrameSink + ?Sized>(&mut self, pos: usize, batch: &[u8], out: &mut W) {
        if pos >= self.order.len() {
            return;
        }
        let idx = self.order.remove(pos);
        let Some(e) = self.entries.get_mut(idx) else {
            return;
        };
        let c = e.c;
        let vnet = if e.segs <= 1 {
            // Nothing merged: the frame as it came.
            VnetHdr {
                flags: if e.verified && c.verified {
                    F_DATA_VALID
                } else {
                    0
                },
                ..VnetHdr::default()
            }
        } else {
            let h = &mut e.hdr[VNET_HDR_LEN..];
            let l4_len = c.hdr_len - c.l4 + e.payload;
            let proto = if c.tcp { IPPROTO_TCP } else { IPPROTO_UDP };
            let pseudo = rewrite_ip_len(h, c.l3, c.l4, c.v6, proto, l4_len);
            // A partial checksum: the pseudo-header sum, left for the host
            // (or the segmentation that may follow) to complete.
            let csum_offset = if c.tcp {
                if e.psh {
                    if let Some(f) = h.get_mut(c.l4 + 13) {
                        *f |= TCP_PSH;
                    }
                }
                16
            } else {
                put16(h, c.l4 + 4, l4_len as u16);
                6
            };
            put_bytes(h, c.l4 + csum_offset, pseudo.fold());
            VnetHdr {
                flags: F_NEEDS_CSUM,
                gso_type: match (c.tcp, c.v6) {
                    (true, false) => GSO_TCPV4,
                    (true, true) => GSO_TCPV6,
                    (false, _) => GSO_UDP_L4,
                },
                hdr_len: c.hdr_len as u16,
                gso_size: e.mss as u16,
                csum_start: c.l4 as u16,
                csum_offset: csum_offset as u16,
            }
        };
        if let Some(v) = e.hdr.get_mut(..VNET_HDR_LEN) {
            v.copy_from_slice(&vnet.emit());
        }
        let mut parts: [&[u8]; MAX_SEGS + 1] = [&[]; MAX_SEGS + 1];
        parts[0] = e.hdr.get(..VNET_HDR_LEN + c.hdr_len).unwrap_or(&[]);
        let mut n = 1;
        for p in e.pieces.iter().take(e.segs) {
            let src: &[u8] = match p.src {
                Src::Batch => batch,
                Src::Own => &e.own,
            };
            let (s, l) = (p.start as usize, p.len as usize);
            if let (Some(slot), Some(data)) = (parts.get_mut(n), src.get(s..s + l)) {
                *slot = data;
                n += 1;
            }
        }
        out.write(e.key, e.hash, e.segs, parts.get(..n).unwrap_or(&[]));
    }
}

#[cfg(test)]
mod tests;
