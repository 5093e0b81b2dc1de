//! Underlay sockets: UDP (RFC 3931 4.1.2) or IP protocol 115 (4.1.1), IPv4
//! or IPv6. One socket per local address (and port) is shared by every
//! tunnel on it; sessions are told apart by session ID, as in the kernel.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::sys::{self, SockAddr};
use crate::{DataplaneError, Encap};

/// IANA protocol number of L2TP over IP.
pub const IPPROTO_L2TP: libc::c_int = 115;
/// Socket buffer size asked for: enough for a few thousand full frames.
const SOCKET_BUFFER: libc::c_int = 8 << 20;

/// A destination converted once to the kernel's form.
#[derive(Clone, Copy)]
pub struct Peer {
    addr: SockAddr,
    std: SocketAddr,
}

impl Peer {
    /// Destination for packets; the port is ignored over IP.
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr: SockAddr::new(addr),
            std: addr,
        }
    }

    /// The address as given.
    pub fn addr(&self) -> SocketAddr {
        self.std
    }
}

impl fmt::Debug for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.std.fmt(f)
    }
}

/// A socket carrying L2TPv3 packets.
pub trait Underlay: Send + Sync + fmt::Debug {
    /// UDP or IP.
    fn encap(&self) -> Encap;
    /// The bound local address (port 0 over IP).
    fn local(&self) -> SocketAddr;
    /// Descriptor to wait on for received packets.
    fn raw_fd(&self) -> RawFd;
    /// Sends `pkts` (each starting at the L2TP header) to `peer`; returns
    /// how many were sent before the first failure.
    fn send_batch(&self, peer: &Peer, pkts: &[&[u8]]) -> io::Result<usize> {
        sys::sendmmsg(self.raw_fd(), &peer.addr, pkts)
    }
    /// Where the L2TP header starts in a received datagram.
    fn l2tp_offset(&self, pkt: &[u8]) -> Option<usize>;
}

/// Maps a bind/socket error to what the user must change.
fn map_bind_error(e: io::Error, local: SocketAddr, what: &str) -> DataplaneError {
    match e.raw_os_error() {
        Some(libc::EADDRINUSE) => DataplaneError::PortInUse { local },
        Some(libc::EPERM) | Some(libc::EACCES) => DataplaneError::PermissionDenied {
            what: format!("{what} on {local}"),
        },
        Some(libc::EADDRNOTAVAIL) => DataplaneError::Invalid {
            field: "local",
            reason: format!("{} is not an address of this host", local.ip()),
        },
        Some(libc::EAFNOSUPPORT) => DataplaneError::Invalid {
            field: "local",
            reason: format!("address family of {} is not supported here", local.ip()),
        },
        _ => DataplaneError::Io {
            context: format!("{what} on {local}"),
            source: e,
        },
    }
}

fn family(ip: IpAddr) -> libc::c_int {
    match ip {
        IpAddr::V4(_) => libc::AF_INET,
        IpAddr::V6(_) => libc::AF_INET6,
    }
}

/// UDP encapsulation checksum choices (see [`crate::TunnelConfig`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UdpChecksums {
    /// IPv4: compute transmit checksums.
    pub v4_tx: bool,
    /// IPv6: compute transmit checksums (false sends zero).
    pub v6_tx: bool,
    /// IPv6: require checksums on receive (false accepts zero).
    pub v6_rx: bool,
}

/// L2TPv3 over UDP.
#[derive(Debug)]
pub struct UdpUnderlay {
    fd: OwnedFd,
    local: SocketAddr,
}

impl UdpUnderlay {
    /// Binds a UDP socket to `local` (port 0 picks one).
    pub fn bind(local: SocketAddr, csum: UdpChecksums) -> Result<Self, DataplaneError> {
        let fam = family(local.ip());
        let fd = sys::socket(fam, libc::SOCK_DGRAM, libc::IPPROTO_UDP)
            .map_err(|e| map_bind_error(e, local, "creating a UDP socket"))?;
        let opt = |r: io::Result<()>, what: &str| {
            r.map_err(|e| DataplaneError::Io {
                context: format!("setting {what} on the UDP socket for {local}"),
                source: e,
            })
        };
        let raw = fd.as_raw_fd();
        if fam == libc::AF_INET6 {
            opt(
                sys::setsockopt_int(raw, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, 1),
                "IPV6_V6ONLY",
            )?;
            opt(
                sys::set_udp_tx_csum(raw, true, csum.v6_tx)
                    .and_then(|()| sys::set_udp6_rx_zero(raw, !csum.v6_rx)),
                "UDP_NO_CHECK6_TX/RX",
            )?;
        } else {
            opt(sys::set_udp_tx_csum(raw, false, csum.v4_tx), "SO_NO_CHECK")?;
        }
        sys::grow_buffers(&fd, SOCKET_BUFFER);
        sys::bind(&fd, local).map_err(|e| map_bind_error(e, local, "binding the UDP socket"))?;
        let local = sys::local_addr(&fd).map_err(|e| DataplaneError::Io {
            context: format!("reading the bound address of {local}"),
            source: e,
        })?;
        Ok(Self { fd, local })
    }
}

impl Underlay for UdpUnderlay {
    fn encap(&self) -> Encap {
        Encap::Udp
    }
    fn local(&self) -> SocketAddr {
        self.local
    }
    fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
    fn l2tp_offset(&self, _pkt: &[u8]) -> Option<usize> {
        Some(0)
    }
}

/// L2TPv3 directly over IP (protocol 115) on a raw socket.
#[derive(Debug)]
pub struct IpUnderlay {
    fd: OwnedFd,
    local: SocketAddr,
    v4: bool,
}

impl IpUnderlay {
    /// Opens a raw protocol-115 socket receiving packets addressed to `local`.
    pub fn bind(local: IpAddr) -> Result<Self, DataplaneError> {
        let sa = SocketAddr::new(local, 0);
        let fd = sys::socket(family(local), libc::SOCK_RAW, IPPROTO_L2TP)
            .map_err(|e| map_bind_error(e, sa, "opening a raw IP protocol 115 socket"))?;
        sys::grow_buffers(&fd, SOCKET_BUFFER);
        sys::bind(&fd, sa).map_err(|e| map_bind_error(e, sa, "binding the raw IP socket"))?;
        Ok(Self {
            fd,
            local: sa,
            v4: local.is_ipv4(),
        })
    }
}

impl Underlay for IpUnderlay {
    fn encap(&self) -> Encap {
        Encap::Ip
    }
    fn local(&self) -> SocketAddr {
        self.local
    }
    fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
    /// Raw IPv4 sockets deliver the IP header too; IPv6 ones do not.
    fn l2tp_offset(&self, pkt: &[u8]) -> Option<usize> {
        if !self.v4 {
            return Some(0);
        }
        let ihl = usize::from(pkt.first()? & 0x0f) * 4;
        (ihl >= 20 && ihl <= pkt.len()).then_some(ihl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_offset_skips_ipv4_header_only() {
        let u = IpUnderlay {
            fd: sys::socket(libc::AF_INET, libc::SOCK_DGRAM, 0).unwrap(),
            local: "198.18.0.1:0".parse().unwrap(),
            v4: true,
        };
        let mut pkt = [0u8; 28];
        pkt[0] = 0x45;
        assert_eq!(u.l2tp_offset(&pkt), Some(20));
        pkt[0] = 0x46;
        assert_eq!(u.l2tp_offset(&pkt), Some(24));
        pkt[0] = 0x44;
        assert_eq!(u.l2tp_offset(&pkt), None);
        pkt[0] = 0x4f;
        assert_eq!(u.l2tp_offset(&pkt), None);
        assert_eq!(u.l2tp_offset(&[]), None);
    }
}
