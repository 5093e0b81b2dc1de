//! Walks a captured frame from the link layer down to where L2TP starts:
//! UDP to one of the configured ports, or IP protocol 115. Never allocates.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::bytes::{be16, be32};
use crate::error::{DissectError, Layer};
use crate::frame::{Frame, LinkType};

/// IANA-assigned L2TP port.
pub const L2TP_UDP_PORT: u16 = 1701;
/// IP protocol number of L2TPv3 over IP (RFC 3931 4.1.1).
pub const IPPROTO_L2TP: u8 = 115;
pub const IPPROTO_UDP: u8 = 17;

pub(crate) const ETHERTYPE_IPV4: u16 = 0x0800;
pub(crate) const ETHERTYPE_IPV6: u16 = 0x86dd;
/// 802.1Q, 802.1ad and the pre-standard QinQ TPIDs.
const VLAN_TPIDS: [u16; 4] = [0x8100, 0x88a8, 0x9100, 0x9200];
/// Address families that mean IPv6 in BSD loopback headers (Linux, NetBSD/OpenBSD, FreeBSD, Darwin).
const AF_INET6_VALUES: [u32; 4] = [10, 24, 28, 30];
const AF_INET: u32 = 2;
/// Linux ARPHRD types whose SLL protocol field is not an Ethertype.
const ARPHRD_NETLINK: u16 = 824;

/// How the L2TP packet was carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encap {
    Udp,
    Ip,
}

impl Encap {
    /// "udp" or "ip", as used in JSON output.
    pub fn as_str(self) -> &'static str {
        match self {
            Encap::Udp => "udp",
            Encap::Ip => "ip",
        }
    }
}

/// Where an L2TP packet sits inside a captured frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L2tpPacket<'a> {
    pub encap: Encap,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// UDP ports; `None` for IP encapsulation.
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    /// Offset of the first L2TP byte in the frame.
    pub offset: usize,
    /// The L2TP bytes, bounded by the IP/UDP length fields and what was captured.
    pub payload: &'a [u8],
    /// The IP or UDP length promised more bytes than were captured.
    pub truncated: bool,
    /// First fragment of a fragmented datagram: the payload is incomplete.
    pub fragmented: bool,
}

/// Outcome of looking for L2TP in one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finding<'a> {
    L2tp(L2tpPacket<'a>),
    /// A later fragment of an IP datagram: its transport header is elsewhere, so it is skipped.
    NonFirstFragment {
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
    },
    /// Not IP, not UDP to an L2TP port and not protocol 115.
    NotL2tp,
}

/// Finds L2TP in frames. Holds the UDP ports that count as L2TP (1701 plus configured ones).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct L2tpFinder {
    ports: Vec<u16>,
}

impl Default for L2tpFinder {
    fn default() -> Self {
        L2tpFinder::new()
    }
}

impl L2tpFinder {
    /// Matches UDP port 1701 only.
    pub fn new() -> L2tpFinder {
        L2tpFinder {
            ports: vec![L2TP_UDP_PORT],
        }
    }

    /// Matches 1701 and the given ports.
    pub fn with_ports(extra: &[u16]) -> L2tpFinder {
        let mut f = L2tpFinder::new();
        for &p in extra {
            f.add_port(p);
        }
        f
    }

    pub fn add_port(&mut self, port: u16) {
        if !self.ports.contains(&port) {
            self.ports.push(port);
        }
    }

    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Looks in a frame read from a capture file.
    pub fn find_in_frame<'a>(&self, frame: &Frame<'a>) -> Result<Finding<'a>, DissectError> {
        self.find(frame.link_type, frame.data)
    }

    /// Looks in `data`, whose first byte is a `link_type` header.
    pub fn find<'a>(
        &self,
        link_type: LinkType,
        data: &'a [u8],
    ) -> Result<Finding<'a>, DissectError> {
        let Some((net_offset, net)) = network_layer(link_type, data)? else {
            return Ok(Finding::NotL2tp);
        };
        let ip = match net {
            Net::V4 => ipv4(data, net_offset)?,
            Net::V6 => ipv6(data, net_offset)?,
        };
        let (src, dst, proto, t_off, t_end, truncated, fragmented) = match ip {
            Ip::Later { src, dst, protocol } => {
                return Ok(Finding::NonFirstFragment { src, dst, protocol })
            }
            Ip::Payload {
                src,
                dst,
                protocol,
                offset,
                end,
                truncated,
                fragmented,
            } => (src, dst, protocol, offset, end, truncated, fragmented),
        };
        let transport = data.get(t_off..t_end).unwrap_or(&[]);
        match proto {
            IPPROTO_L2TP => Ok(Finding::L2tp(L2tpPacket {
                encap: Encap::Ip,
                src,
                dst,
                src_port: None,
                dst_port: None,
                offset: t_off,
                payload: transport,
                truncated,
                fragmented,
            })),
            IPPROTO_UDP => {
                if transport.len() < 8 {
                    if fragmented {
                        // A first fragment too short for UDP cannot be dissected; not an error.
                        return Ok(Finding::NotL2tp);
                    }
                    return Err(DissectError::Truncated {
                        layer: Layer::Udp,
                        needed: 8,
                        available: transport.len(),
                    });
                }
                let sport = be16(transport, 0).unwrap_or(0);
                let dport = be16(transport, 2).unwrap_or(0);
                let ulen = be16(transport, 4).unwrap_or(0);
                if !self.ports.contains(&sport) && !self.ports.contains(&dport) {
                    return Ok(Finding::NotL2tp);
                }
                let ulen = usize::from(ulen);
                // Length 0 is what IPv6 jumbograms carry; take the IP payload then.
                let (end, short) = if ulen == 0 {
                    (transport.len(), false)
                } else if ulen < 8 {
                    return Err(DissectError::BadField {
                        layer: Layer::Udp,
                        field: "length",
                        value: ulen as u32,
                        reason: "is smaller than the 8-byte UDP header",
                    });
                } else {
                    (ulen.min(transport.len()), ulen > transport.len())
                };
                Ok(Finding::L2tp(L2tpPacket {
                    encap: Encap::Udp,
                    src,
                    dst,
                    src_port: Some(sport),
                    dst_port: Some(dport),
                    offset: t_off + 8,
                    payload: transport.get(8..end).unwrap_or(&[]),
                    truncated: truncated || (short && !fragmented),
                    fragmented,
                }))
            }
            _ => Ok(Finding::NotL2tp),
        }
    }
}

enum Net {
    V4,
    V6,
}

fn truncated(layer: Layer, needed: usize, data: &[u8], at: usize) -> DissectError {
    DissectError::Truncated {
        layer,
        needed,
        available: data.len().saturating_sub(at),
    }
}

/// Returns the offset of the IP header, or None if the frame carries something else.
fn network_layer(lt: LinkType, data: &[u8]) -> Result<Option<(usize, Net)>, DissectError> {
    match lt {
        LinkType::ETHERNET => {
            let Some(et) = be16(data, 12) else {
                return Err(truncated(Layer::Ethernet, 14, data, 0));
            };
            ethertype_chain(data, 14, et)
        }
        LinkType::LINUX_SLL => {
            let (Some(hatype), Some(proto)) = (be16(data, 2), be16(data, 14)) else {
                return Err(truncated(Layer::LinuxSll, 16, data, 0));
            };
            if hatype == ARPHRD_NETLINK {
                return Ok(None);
            }
            ethertype_chain(data, 16, proto)
        }
        LinkType::LINUX_SLL2 => {
            let (Some(proto), Some(hatype)) = (be16(data, 0), be16(data, 8)) else {
                return Err(truncated(Layer::LinuxSll2, 20, data, 0));
            };
            if data.len() < 20 {
                return Err(truncated(Layer::LinuxSll2, 20, data, 0));
            }
            if hatype == ARPHRD_NETLINK {
                return Ok(None);
            }
            ethertype_chain(data, 20, proto)
        }
        LinkType::NULL | LinkType::LOOP => {
            let Some(raw) = data.get(..4) else {
                return Err(truncated(Layer::Null, 4, data, 0));
            };
            let be = u32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]);
            // NULL is in the capturing host's byte order, which the file does not record:
            // the small interpretation is the right one.
            let family = if lt == LinkType::LOOP || be < 0x1_0000 {
                be
            } else {
                be.swap_bytes()
            };
            Ok(match family {
                AF_INET => Some((4, Net::V4)),
                f if AF_INET6_VALUES.contains(&f) => Some((4, Net::V6)),
                _ => None,
            })
        }
        LinkType::RAW => Ok(match data.first().map(|b| b >> 4) {
            Some(4) => Some((0, Net::V4)),
            Some(6) => Some((0, Net::V6)),
            Some(_) => None,
            None => return Err(truncated(Layer::Ipv4, 20, data, 0)),
        }),
        LinkType::IPV4 => Ok(Some((0, Net::V4))),
        LinkType::IPV6 => Ok(Some((0, Net::V6))),
        other => Err(DissectError::UnsupportedLinkType(other.0)),
    }
}

/// Skips any stack of VLAN tags starting with Ethertype `et` whose payload is at `at`.
fn ethertype_chain(
    data: &[u8],
    mut at: usize,
    mut et: u16,
) -> Result<Option<(usize, Net)>, DissectError> {
    loop {
        match et {
            ETHERTYPE_IPV4 => return Ok(Some((at, Net::V4))),
            ETHERTYPE_IPV6 => return Ok(Some((at, Net::V6))),
            t if VLAN_TPIDS.contains(&t) => {
                let Some(next) = be16(data, at + 2) else {
                    return Err(truncated(Layer::Vlan, 4, data, at));
                };
                et = next;
                at += 4;
            }
            _ => return Ok(None),
        }
    }
}

enum Ip {
    Payload {
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
        offset: usize,
        end: usize,
        truncated: bool,
        fragmented: bool,
    },
    Later {
        src: IpAddr,
        dst: IpAddr,
        protocol: u8,
    },
}

fn ipv4(data: &[u8], at: usize) -> Result<Ip, DissectError> {
    let Some(h) = data.get(at..).filter(|h| h.len() >= 20) else {
        return Err(truncated(Layer::Ipv4, 20, data, at));
    };
    let (version, ihl) = (h[0] >> 4, usize::from(h[0] & 0x0f) * 4);
    if version != 4 {
        return Err(DissectError::BadField {
            layer: Layer::Ipv4,
            field: "version",
            value: u32::from(version),
            reason: "is not 4",
        });
    }
    if ihl < 20 {
        return Err(DissectError::BadField {
            layer: Layer::Ipv4,
            field: "header length",
            value: ihl as u32,
            reason: "is below the 20-byte minimum",
        });
    }
    if h.len() < ihl {
        return Err(truncated(Layer::Ipv4, ihl, data, at));
    }
    let total = usize::from(be16(h, 2).unwrap_or(0));
    // Some capture paths (TSO on the sending host) record 0; trust the capture then.
    let total = if total == 0 { h.len() } else { total };
    if total < ihl {
        return Err(DissectError::BadField {
            layer: Layer::Ipv4,
            field: "total length",
            value: total as u32,
            reason: "is smaller than the header length",
        });
    }
    let frag = be16(h, 6).unwrap_or(0);
    let src = IpAddr::V4(Ipv4Addr::from(be32(h, 12).unwrap_or(0)));
    let dst = IpAddr::V4(Ipv4Addr::from(be32(h, 16).unwrap_or(0)));
    let protocol = h[9];
    if frag & 0x1fff != 0 {
        return Ok(Ip::Later { src, dst, protocol });
    }
    Ok(Ip::Payload {
        src,
        dst,
        protocol,
        offset: at + ihl,
        end: at + total.min(h.len()),
        truncated: total > h.len(),
        fragmented: frag & 0x2000 != 0,
    })
}

const V6_HOP_BY_HOP: u8 = 0;
const V6_ROUTING: u8 = 43;
const V6_FRAGMENT: u8 = 44;
const V6_AH: u8 = 51;
const V6_DEST_OPTS: u8 = 60;

fn ipv6(data: &[u8], at: usize) -> Result<Ip, DissectError> {
    let Some(h) = data.get(at..).filter(|h| h.len() >= 40) else {
        return Err(truncated(Layer::Ipv6, 40, data, at));
    };
    let version = h[0] >> 4;
    if version != 6 {
        return Err(DissectError::BadField {
            layer: Layer::Ipv6,
            field: "version",
            value: u32::from(version),
            reason: "is not 6",
        });
    }
    let plen = usize::from(be16(h, 4).unwrap_or(0));
    let mut next = h[6];
    let mut src = [0u8; 16];
    let mut dst = [0u8; 16];
    src.copy_from_slice(&h[8..24]);
    dst.copy_from_slice(&h[24..40]);
    let src = IpAddr::V6(Ipv6Addr::from(src));
    let dst = IpAddr::V6(Ipv6Addr::from(dst));
    // Payload length 0 means a jumbogram (or a TSO capture): use what was captured.
    let total = if plen == 0 { h.len() } else { 40 + plen };
    let end = total.min(h.len());
    let truncated_ip = total > h.len();
    let mut off = 40;
    let mut fragmented = false;
    loop {
        match next {
            V6_HOP_BY_HOP | V6_ROUTING | V6_DEST_OPTS | V6_AH | V6_FRAGMENT => {
                let (Some(&nh), Some(&len)) = (h.get(off), h.get(off + 1)) else {
                    return Err(truncated(Layer::Ipv6Extension, 8, h, off));
                };
                let ext_len = match next {
                    V6_FRAGMENT => 8,
                    V6_AH => (usize::from(len) + 2) * 4,
                    _ => (usize::from(len) + 1) * 8,
                };
                if off + ext_len > end {
                    return Err(truncated(
                        Layer::Ipv6Extension,
                        ext_len,
                        h.get(..end).unwrap_or(h),
                        off,
                    ));
                }
                if next == V6_FRAGMENT {
                    let fo = be16(h, off + 2).unwrap_or(0);
                    if fo >> 3 != 0 {
                        return Ok(Ip::Later {
                            src,
                            dst,
                            protocol: nh,
                        });
                    }
                    fragmented |= fo & 1 != 0;
                }
                next = nh;
                off += ext_len;
            }
            protocol => {
                return Ok(Ip::Payload {
                    src,
                    dst,
                    protocol,
                    offset: at + off,
                    end: at + end,
                    truncated: truncated_ip,
                    fragmented,
                })
            }
        }
    }
}
