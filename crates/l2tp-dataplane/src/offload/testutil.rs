//! Frame builders and an independent checksum check for the offload tests.

/// RFC 1071 the slow, obvious way: big-endian 16-bit words, carries folded
/// as they happen. Returns the folded sum (not complemented).
pub fn naive_sum(parts: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
    let mut s: u32 = 0;
    let mut i = 0;
    while i < bytes.len() {
        let hi = u32::from(bytes[i]);
        let lo = u32::from(*bytes.get(i + 1).unwrap_or(&0));
        s += (hi << 8) | lo;
        while s > 0xffff {
            s = (s & 0xffff) + (s >> 16);
        }
        i += 2;
    }
    s as u16
}

/// What a test frame looks like.
#[derive(Clone, Debug)]
pub struct Spec {
    /// TPIDs of VLAN tags, outermost first (0x88a8 for QinQ's outer).
    pub tags: Vec<u16>,
    pub v6: bool,
    /// IPv4 options (a multiple of 4 bytes).
    pub ip_opts: Vec<u8>,
    pub udp: bool,
    /// TCP options (a multiple of 4 bytes).
    pub tcp_opts: Vec<u8>,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub ip_id: u16,
    pub tos: u8,
    pub ttl: u8,
    pub sport: u16,
    pub dport: u16,
    pub payload: Vec<u8>,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            tags: vec![],
            v6: false,
            ip_opts: vec![],
            udp: false,
            tcp_opts: vec![],
            seq: 1000,
            ack: 77,
            flags: 0x10,
            window: 500,
            ip_id: 0x1234,
            tos: 0,
            ttl: 64,
            sport: 40000,
            dport: 5201,
            payload: vec![],
        }
    }
}

pub const SRC4: [u8; 4] = [198, 18, 0, 1];
pub const DST4: [u8; 4] = [198, 18, 0, 2];
pub const SRC6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
pub const DST6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

/// Deterministic payload bytes.
pub fn payload(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

/// Builds the frame with correct lengths and checksums.
pub fn build(s: &Spec) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    for (i, t) in s.tags.iter().enumerate() {
        f.extend_from_slice(&t.to_be_bytes());
        f.extend_from_slice(&(100 + i as u16).to_be_bytes());
    }
    f.extend_from_slice(&(if s.v6 { 0x86ddu16 } else { 0x0800 }).to_be_bytes());
    let l3 = f.len();
    let proto = if s.udp { 17u8 } else { 6 };
    let mut l4 = Vec::new();
    if s.udp {
        l4.extend_from_slice(&s.sport.to_be_bytes());
        l4.extend_from_slice(&s.dport.to_be_bytes());
        l4.extend_from_slice(&((8 + s.payload.len()) as u16).to_be_bytes());
        l4.extend_from_slice(&[0, 0]);
    } else {
        l4.extend_from_slice(&s.sport.to_be_bytes());
        l4.extend_from_slice(&s.dport.to_be_bytes());
        l4.extend_from_slice(&s.seq.to_be_bytes());
        l4.extend_from_slice(&s.ack.to_be_bytes());
        let doff = ((20 + s.tcp_opts.len()) / 4) as u8;
        l4.push(doff << 4);
        l4.push(s.flags);
        l4.extend_from_slice(&s.window.to_be_bytes());
        l4.extend_from_slice(&[0, 0, 0, 0]);
        l4.extend_from_slice(&s.tcp_opts);
    }
    l4.extend_from_slice(&s.payload);
    let l4_len = l4.len();
    let pseudo: Vec<u8> = if s.v6 {
        let mut p = SRC6.to_vec();
        p.extend_from_slice(&DST6);
        p.extend_from_slice(&(l4_len as u32).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, proto]);
        p
    } else {
        let mut p = SRC4.to_vec();
        p.extend_from_slice(&DST4);
        p.extend_from_slice(&[0, proto]);
        p.extend_from_slice(&(l4_len as u16).to_be_bytes());
        p
    };
    let c = !naive_sum(&[&pseudo, &l4]);
    let c = if s.udp && c == 0 { 0xffff } else { c };
    let at = if s.udp { 6 } else { 16 };
    l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    if s.v6 {
        f.extend_from_slice(&[0x60 | (s.tos >> 4), (s.tos << 4) | 0x0a, 0xbc, 0xde]);
        f.extend_from_slice(&(l4_len as u16).to_be_bytes());
        f.push(proto);
        f.push(s.ttl);
        f.extend_from_slice(&SRC6);
        f.extend_from_slice(&DST6);
    } else {
        let ihl = 20 + s.ip_opts.len();
        f.push(0x40 | (ihl / 4) as u8);
        f.push(s.tos);
        f.extend_from_slice(&((ihl + l4_len) as u16).to_be_bytes());
        f.extend_from_slice(&s.ip_id.to_be_bytes());
        f.extend_from_slice(&[0x40, 0]);
        f.push(s.ttl);
        f.push(proto);
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(&SRC4);
        f.extend_from_slice(&DST4);
        f.extend_from_slice(&s.ip_opts);
        let c = !naive_sum(&[&f[l3..]]);
        f[l3 + 10..l3 + 12].copy_from_slice(&c.to_be_bytes());
    }
    f.extend_from_slice(&l4);
    f
}

/// Parsed view of a test frame, checked with [`naive_sum`].
#[derive(Debug)]
pub struct Parsed {
    pub l3: usize,
    pub l4: usize,
    pub hdr_len: usize,
    pub v6: bool,
    pub udp: bool,
    pub ip_id: u16,
    pub seq: u32,
    pub flags: u8,
    pub payload: Vec<u8>,
}

/// Parses a frame built like [`build`] and verifies its lengths and
/// checksums; panics with a message on any inconsistency.
pub fn check(f: &[u8]) -> Parsed {
    let mut at = 12;
    while matches!(u16::from_be_bytes([f[at], f[at + 1]]), 0x8100 | 0x88a8) {
        at += 4;
    }
    let v6 = u16::from_be_bytes([f[at], f[at + 1]]) == 0x86dd;
    let l3 = at + 2;
    let (l4, proto, l4_len, ip_id, pseudo) = if v6 {
        let plen = usize::from(u16::from_be_bytes([f[l3 + 4], f[l3 + 5]]));
        assert_eq!(l3 + 40 + plen, f.len(), "IPv6 payload length");
        let mut p = f[l3 + 8..l3 + 40].to_vec();
        p.extend_from_slice(&(plen as u32).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, f[l3 + 6]]);
        (l3 + 40, f[l3 + 6], plen, 0, p)
    } else {
        let ihl = usize::from(f[l3] & 0xf) * 4;
        let tot = usize::from(u16::from_be_bytes([f[l3 + 2], f[l3 + 3]]));
        assert_eq!(l3 + tot, f.len(), "IPv4 total length");
        assert_eq!(
            naive_sum(&[&f[l3..l3 + ihl]]),
            0xffff,
            "IPv4 header checksum"
        );
        let mut p = f[l3 + 12..l3 + 20].to_vec();
        p.extend_from_slice(&[0, f[l3 + 9]]);
        p.extend_from_slice(&((tot - ihl) as u16).to_be_bytes());
        let id = u16::from_be_bytes([f[l3 + 4], f[l3 + 5]]);
        (l3 + ihl, f[l3 + 9], tot - ihl, id, p)
    };
    assert_eq!(l4 + l4_len, f.len());
    assert_eq!(naive_sum(&[&pseudo, &f[l4..]]), 0xffff, "L4 checksum");
    let udp = proto == 17;
    let hdr_len = if udp {
        assert_eq!(
            usize::from(u16::from_be_bytes([f[l4 + 4], f[l4 + 5]])),
            l4_len,
            "UDP length"
        );
        l4 + 8
    } else {
        l4 + usize::from(f[l4 + 12] >> 4) * 4
    };
    Parsed {
        l3,
        l4,
        hdr_len,
        v6,
        udp,
        ip_id,
        seq: if udp {
            0
        } else {
            u32::from_be_bytes(f[l4 + 4..l4 + 8].try_into().unwrap())
        },
        flags: if udp { 0 } else { f[l4 + 13] },
        payload: f[hdr_len..].to_vec(),
    }
}
