//! Small pcap/pcapng writers and frame builders, so tests can put known
//! L2TP bytes on a synthetic wire and read them back (with us or tshark).

use core::net::{IpAddr, Ipv6Addr};
use std::io::{self, Write};

use crate::bytes::Endian;
use crate::dissect::{ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPPROTO_L2TP, IPPROTO_UDP};
use crate::frame::{LinkType, Timestamp};
use crate::pcap::{MAGIC_MICRO, MAGIC_NANO};
use crate::pcapng::{BLOCK_EPB, BLOCK_IDB, BLOCK_SHB, BLOCK_SPB, BYTE_ORDER_MAGIC};

/// Locally administered MACs used by the frame builders.
pub const SRC_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x00, 0x01];
pub const DST_MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x00, 0x02];

const DEFAULT_SNAPLEN: u32 = 262_144;

/// Layout choices for [`PcapWriter`]; the default is little-endian, microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PcapOptions {
    pub endian: Endian,
    pub nanos: bool,
    pub snaplen: u32,
}

impl Default for PcapOptions {
    fn default() -> Self {
        PcapOptions {
            endian: Endian::Little,
            nanos: false,
            snaplen: DEFAULT_SNAPLEN,
        }
    }
}

/// Writes a classic pcap file.
#[derive(Debug)]
pub struct PcapWriter<W: Write> {
    out: W,
    opts: PcapOptions,
    buf: Vec<u8>,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the global header for a little-endian, microsecond file.
    pub fn new(out: W, link_type: LinkType) -> io::Result<PcapWriter<W>> {
        PcapWriter::with_options(out, link_type, PcapOptions::default())
    }

    pub fn with_options(
        mut out: W,
        link_type: LinkType,
        opts: PcapOptions,
    ) -> io::Result<PcapWriter<W>> {
        let e = opts.endian;
        let mut h = Vec::with_capacity(24);
        e.put_u32(&mut h, if opts.nanos { MAGIC_NANO } else { MAGIC_MICRO });
        e.put_u16(&mut h, 2);
        e.put_u16(&mut h, 4);
        e.put_u32(&mut h, 0); // thiszone
        e.put_u32(&mut h, 0); // sigfigs
        e.put_u32(&mut h, opts.snaplen);
        e.put_u32(&mut h, link_type.0);
        out.write_all(&h)?;
        Ok(PcapWriter {
            out,
            opts,
            buf: Vec::with_capacity(16),
        })
    }

    /// Writes a complete frame.
    pub fn write_frame(&mut self, ts: Timestamp, data: &[u8]) -> io::Result<()> {
        let orig = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.write_packet(ts, data, orig)
    }

    /// Writes `data` as a capture of a packet that was `orig_len` bytes on the wire.
    pub fn write_packet(&mut self, ts: Timestamp, data: &[u8], orig_len: u32) -> io::Result<()> {
        let incl = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame longer than 4 GiB"))?;
        let e = self.opts.endian;
        let frac = if self.opts.nanos {
            ts.nanos
        } else {
            ts.nanos / 1000
        };
        self.buf.clear();
        e.put_u32(&mut self.buf, ts.secs as u32);
        e.put_u32(&mut self.buf, frac);
        e.put_u32(&mut self.buf, incl);
        e.put_u32(&mut self.buf, orig_len);
        self.out.write_all(&self.buf)?;
        self.out.write_all(data)
    }

    /// Flushes and returns the underlying writer.
    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes a pcapng file with one section and any number of interfaces.
#[derive(Debug)]
pub struct PcapngWriter<W: Write> {
    out: W,
    endian: Endian,
    /// Units per second of each interface, indexed by interface ID.
    resolutions: Vec<u64>,
}

impl<W: Write> PcapngWriter<W> {
    /// Writes a Section Header Block in the given byte order.
    pub fn new(mut out: W, endian: Endian) -> io::Result<PcapngWriter<W>> {
        let mut body = Vec::with_capacity(16);
        endian.put_u32(&mut body, BYTE_ORDER_MAGIC);
        endian.put_u16(&mut body, 1);
        endian.put_u16(&mut body, 0);
        endian.put_u64(&mut body, u64::MAX); // section length unknown
        write_block(&mut out, endian, BLOCK_SHB, &body)?;
        Ok(PcapngWriter {
            out,
            endian,
            resolutions: Vec::new(),
        })
    }

    /// Declares an interface and returns its ID. `nanos` selects if_tsresol 9 instead of 6.
    pub fn add_interface(&mut self, link_type: LinkType, nanos: bool) -> io::Result<u32> {
        let e = self.endian;
        let lt = u16::try_from(link_type.0).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, "pcapng link types are 16-bit")
        })?;
        let mut body = Vec::with_capacity(20);
        e.put_u16(&mut body, lt);
        e.put_u16(&mut body, 0);
        e.put_u32(&mut body, DEFAULT_SNAPLEN);
        if nanos {
            e.put_u16(&mut body, 9); // if_tsresol
            e.put_u16(&mut body, 1);
            body.extend_from_slice(&[9, 0, 0, 0]);
            e.put_u16(&mut body, 0); // opt_endofopt
            e.put_u16(&mut body, 0);
        }
        write_block(&mut self.out, e, BLOCK_IDB, &body)?;
        self.resolutions
            .push(if nanos { 1_000_000_000 } else { 1_000_000 });
        Ok((self.resolutions.len() - 1) as u32)
    }

    /// Writes an Enhanced Packet Block on interface `interface_id`.
    pub fn write_frame(&mut self, interface_id: u32, ts: Timestamp, data: &[u8]) -> io::Result<()> {
        let Some(&units) = self.resolutions.get(interface_id as usize) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("interface {interface_id} was never added"),
            ));
        };
        let len = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame longer than 4 GiB"))?;
        let e = self.endian;
        let ticks = (ts.secs.max(0) as u64)
            .saturating_mul(units)
            .saturating_add(u64::from(ts.nanos) * units / 1_000_000_000);
        let mut body = Vec::with_capacity(20 + data.len() + 3);
        e.put_u32(&mut body, interface_id);
        e.put_u32(&mut body, (ticks >> 32) as u32);
        e.put_u32(&mut body, ticks as u32);
        e.put_u32(&mut body, len);
        e.put_u32(&mut body, len);
        body.extend_from_slice(data);
        write_block(&mut self.out, e, BLOCK_EPB, &body)
    }

    /// Writes a Simple Packet Block (always interface 0, no timestamp).
    pub fn write_simple(&mut self, data: &[u8]) -> io::Result<()> {
        let len = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "frame longer than 4 GiB"))?;
        let mut body = Vec::with_capacity(4 + data.len() + 3);
        self.endian.put_u32(&mut body, len);
        body.extend_from_slice(data);
        write_block(&mut self.out, self.endian, BLOCK_SPB, &body)
    }

    /// Writes an arbitrary block (e.g. to test that readers skip unknown types).
    pub fn write_raw_block(&mut self, block_type: u32, body: &[u8]) -> io::Result<()> {
        write_block(&mut self.out, self.endian, block_type, body)
    }

    pub fn into_inner(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Frames `body` (padded to 4 bytes) with the type and both length fields.
fn write_block<W: Write>(out: &mut W, e: Endian, kind: u32, body: &[u8]) -> io::Result<()> {
    let padded = body.len().next_multiple_of(4);
    let total = u32::try_from(padded + 12)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pcapng block too large"))?;
    let mut b = Vec::with_capacity(padded + 12);
    e.put_u32(&mut b, kind);
    e.put_u32(&mut b, total);
    b.extend_from_slice(body);
    b.resize(8 + padded, 0);
    e.put_u32(&mut b, total);
    out.write_all(&b)
}

/// Internet checksum over `parts` concatenated.
fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u64 = 0;
    let mut odd: Option<u8> = None;
    for part in parts {
        for &b in *part {
            match odd.take() {
                Some(hi) => sum += u64::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u64::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Both addresses in one family: a lone IPv4 address becomes IPv4-mapped IPv6.
fn same_family(src: IpAddr, dst: IpAddr) -> (IpAddr, IpAddr) {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V6(d)) => (IpAddr::V6(s.to_ipv6_mapped()), IpAddr::V6(d)),
        (IpAddr::V6(s), IpAddr::V4(d)) => (IpAddr::V6(s), IpAddr::V6(d.to_ipv6_mapped())),
        other => other,
    }
}

fn v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V6(a) => a,
        IpAddr::V4(a) => a.to_ipv6_mapped(),
    }
}

/// Largest transport payload an IP length field can describe.
const MAX_IP_PAYLOAD: usize = 65_535 - 20;

/// An IP packet (no link header) carrying `payload` as `protocol`. IPv4 gets
/// DF, TTL 64 and a valid header checksum; IPv6 hop limit 64. Mixed address
/// families are emitted as IPv6 with the IPv4 address mapped. Payloads longer
/// than 65515 bytes are cut to fit the length field.
pub fn ip_packet(src: IpAddr, dst: IpAddr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let payload = payload.get(..MAX_IP_PAYLOAD).unwrap_or(payload);
    let (src, dst) = same_family(src, dst);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = (20 + payload.len()) as u16;
            let mut p = Vec::with_capacity(20 + payload.len());
            p.extend_from_slice(&[0x45, 0]);
            p.extend_from_slice(&total.to_be_bytes());
            p.extend_from_slice(&[0, 0, 0x40, 0, 64, protocol, 0, 0]);
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            let c = checksum(&[&p]);
            p[10..12].copy_from_slice(&c.to_be_bytes());
            p.extend_from_slice(payload);
            p
        }
        _ => {
            let mut p = Vec::with_capacity(40 + payload.len());
            p.extend_from_slice(&[0x60, 0, 0, 0]);
            p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
            p.extend_from_slice(&[protocol, 64]);
            p.extend_from_slice(&v6(src).octets());
            p.extend_from_slice(&v6(dst).octets());
            p.extend_from_slice(payload);
            p
        }
    }
}

/// A UDP datagram (header + payload) with its checksum computed over the pseudo-header.
pub fn udp_datagram(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let payload = payload.get(..MAX_IP_PAYLOAD - 8).unwrap_or(payload);
    let (src, dst) = same_family(src, dst);
    let len = (8 + payload.len()) as u16;
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&len.to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let mut pseudo = Vec::with_capacity(40);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&[0, IPPROTO_UDP]);
            pseudo.extend_from_slice(&len.to_be_bytes());
        }
        _ => {
            pseudo.extend_from_slice(&v6(src).octets());
            pseudo.extend_from_slice(&v6(dst).octets());
            pseudo.extend_from_slice(&u32::from(len).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, IPPROTO_UDP]);
        }
    }
    let c = match checksum(&[&pseudo, &u]) {
        0 => 0xffff, // 0 means "no checksum" in UDP
        c => c,
    };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    u
}

/// An Ethernet II frame from [`SRC_MAC`] to [`DST_MAC`], with optional VLAN
/// tags given as (TPID, TCI) outermost first.
pub fn ethernet_frame(vlan_tags: &[(u16, u16)], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + 4 * vlan_tags.len() + payload.len());
    f.extend_from_slice(&DST_MAC);
    f.extend_from_slice(&SRC_MAC);
    for &(tpid, tci) in vlan_tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&tci.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn ethertype_for(ip: &[u8]) -> u16 {
    match ip.first().map(|b| b >> 4) {
        Some(6) => ETHERTYPE_IPV6,
        _ => ETHERTYPE_IPV4,
    }
}

/// Ethernet + IPv4/IPv6 + UDP around `payload` (an L2TP packet when a port is 1701).
pub fn udp_frame(src: IpAddr, dst: IpAddr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let udp = udp_datagram(src, dst, sport, dport, payload);
    let ip = ip_packet(src, dst, IPPROTO_UDP, &udp);
    ethernet_frame(&[], ethertype_for(&ip), &ip)
}

/// Ethernet + IPv4/IPv6 with protocol 115 around an L2TPv3-over-IP `payload`.
pub fn ip115_frame(src: IpAddr, dst: IpAddr, payload: &[u8]) -> Vec<u8> {
    let ip = ip_packet(src, dst, IPPROTO_L2TP, payload);
    ethernet_frame(&[], ethertype_for(&ip), &ip)
}
