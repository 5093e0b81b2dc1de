//! Raw sockets for tests: AF_PACKET on a device (send and receive whole
//! Ethernet frames, no IP stack involved) and raw IP sockets to send
//! hand-made L2TP packets. All are opened inside a test namespace with
//! [`Netns::enter`] and can then be used from any thread.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use crate::netns::Netns;

/// An EtherType from the IEEE "local experimental" range: nothing in the
/// stack answers or generates it.
pub const ETH_P_TEST: u16 = 0x88b5;

/// Builds an Ethernet frame (no FCS).
pub fn ethernet_frame(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A payload of `len` bytes that starts with `tag` and continues with a
/// pattern covering every byte value, so any corruption shows.
pub fn pattern(tag: &[u8], len: usize) -> Vec<u8> {
    let mut p: Vec<u8> = tag.iter().copied().take(len).collect();
    let mut i = 0u32;
    while p.len() < len {
        p.push((i.wrapping_mul(7).wrapping_add(i >> 8)) as u8);
        i += 1;
    }
    p
}

fn cvt(rc: libc::c_int) -> io::Result<libc::c_int> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

fn set_rcv_timeout(fd: &OwnedFd, timeout: Duration) -> io::Result<()> {
    let tv = libc::timeval {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_usec: timeout.subsec_micros().max(1) as libc::suseconds_t,
    };
    // SAFETY: setsockopt with a valid fd and a timeval of the right size.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&tv as *const libc::timeval).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// An AF_PACKET/SOCK_RAW socket bound to one device and one EtherType.
pub struct PacketSocket {
    fd: OwnedFd,
    pub ifname: String,
}

impl PacketSocket {
    /// Opens it in `ns` on `ifname` for frames of `ethertype`.
    pub fn open(ns: &Netns, ifname: &str, ethertype: u16) -> io::Result<PacketSocket> {
        let name = ifname.to_string();
        let fd = ns.enter(move || {
            let cname = std::ffi::CString::new(name.clone())
                .map_err(|_| io::Error::other("interface name has a NUL byte"))?;
            // SAFETY: if_nametoindex reads a valid NUL-terminated string.
            let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
            if ifindex == 0 {
                return Err(io::Error::other(format!(
                    "no device {name}: {}",
                    io::Error::last_os_error()
                )));
            }
            let proto = ethertype.to_be();
            // SAFETY: plain socket(2) call; the result is checked.
            let raw = cvt(unsafe {
                libc::socket(
                    libc::AF_PACKET,
                    libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                    libc::c_int::from(proto),
                )
            })?;
            // SAFETY: `raw` is a fresh fd that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            sll.sll_family = libc::AF_PACKET as u16;
            sll.sll_protocol = proto;
            sll.sll_ifindex = ifindex as i32;
            // SAFETY: bind with a valid fd and a sockaddr_ll of the right size.
            cvt(unsafe {
                libc::bind(
                    fd.as_raw_fd(),
                    (&sll as *const libc::sockaddr_ll).cast(),
                    std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
                )
            })?;
            Ok(fd)
        })?;
        Ok(PacketSocket {
            fd,
            ifname: ifname.to_string(),
        })
    }

    /// Sends one whole frame out of the device.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: send(2) reads `frame.len()` bytes from a valid slice.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n as usize != frame.len() {
            return Err(io::Error::other(format!(
                "short send on {}: {n} of {}",
                self.ifname,
                frame.len()
            )));
        }
        Ok(())
    }

    /// Next frame that arrived on the device (outgoing copies skipped), or
    /// `None` after `timeout`.
    pub fn recv(&self, timeout: Duration) -> io::Result<Option<Vec<u8>>> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65536];
        loop {
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            set_rcv_timeout(&self.fd, deadline - now)?;
            // SAFETY: sockaddr_ll is plain old data; all-zero is valid.
            let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut sl = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
            // SAFETY: recvfrom(2) writes at most buf.len() bytes into buf and
            // at most `sl` bytes into `sll`.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                    (&mut sll as *mut libc::sockaddr_ll).cast(),
                    &mut sl,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => return Ok(None),
                    io::ErrorKind::Interrupted => continue,
                    _ => return Err(e),
                }
            }
            if sll.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            return Ok(Some(buf[..n as usize].to_vec()));
        }
    }

    /// Waits for an arriving frame for which `want` is true; others are
    /// dropped.
    pub fn recv_matching(
        &self,
        timeout: Duration,
        mut want: impl FnMut(&[u8]) -> bool,
    ) -> io::Result<Option<Vec<u8>>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left)? {
                Some(f) if want(&f) => return Ok(Some(f)),
                Some(_) => continue,
                None => return Ok(None),
            }
        }
    }

    /// Drops everything queued now.
    pub fn drain(&self) -> io::Result<usize> {
        let mut n = 0;
        while self.recv(Duration::from_millis(1))?.is_some() {
            n += 1;
        }
        Ok(n)
    }
}

/// A raw IP socket (IPv4 or IPv6) for one IP protocol; the kernel adds the
/// IP header, we write everything after it.
pub struct RawIpSocket {
    fd: OwnedFd,
}

/// IP protocol number of L2TPv3 over IP.
pub const IPPROTO_L2TP: i32 = 115;

impl RawIpSocket {
    /// Opens it in `ns` for `protocol` (e.g. [`IPPROTO_L2TP`] or
    /// `libc::IPPROTO_UDP` to write UDP headers by hand).
    pub fn open(ns: &Netns, ipv6: bool, protocol: i32) -> io::Result<RawIpSocket> {
        let fd = ns.enter(move || {
            let domain = if ipv6 { libc::AF_INET6 } else { libc::AF_INET };
            // SAFETY: plain socket(2) call; the result is checked.
            let raw = cvt(unsafe {
                libc::socket(domain, libc::SOCK_RAW | libc::SOCK_CLOEXEC, protocol)
            })?;
            // SAFETY: `raw` is a fresh fd that nothing else owns.
            Ok(unsafe { OwnedFd::from_raw_fd(raw) })
        })?;
        if ipv6 && protocol == libc::IPPROTO_UDP {
            // IPv6 raw sockets of a protocol with a checksum at offset 6:
            // let the kernel fill the UDP checksum in (mandatory over IPv6).
            let offset: libc::c_int = 6;
            // SAFETY: setsockopt with a valid fd and an int option value.
            cvt(unsafe {
                libc::setsockopt(
                    fd.as_raw_fd(),
                    libc::IPPROTO_IPV6,
                    libc::IPV6_CHECKSUM,
                    (&offset as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            })?;
        }
        Ok(RawIpSocket { fd })
    }

    /// Sends `data` (everything after the IP header) to `dst`.
    pub fn send_to(&self, data: &[u8], dst: IpAddr) -> io::Result<()> {
        let addr = SocketAddr::new(dst, 0);
        let (storage, len) = sockaddr(&addr);
        // SAFETY: sendto(2) reads data.len() bytes from `data` and `len`
        // bytes of a sockaddr_storage filled for this address family.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                data.as_ptr().cast(),
                data.len(),
                0,
                (&storage as *const libc::sockaddr_storage).cast(),
                len,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

fn sockaddr(addr: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage; both are POD.
            unsafe {
                std::ptr::write(
                    (&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>(),
                    sin,
                )
            };
            (
                storage,
                std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: sockaddr_in6 fits in sockaddr_storage; both are POD.
            unsafe {
                std::ptr::write(
                    (&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>(),
                    sin6,
                )
            };
            (
                storage,
                std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        }
    }
}

/// An L2TPv3 data message body: session ID, cookie, optional default
/// sublayer (`Some(seq)` sets the S bit), then the frame. Over UDP prefix
/// [`UDP_V3_HEADER`].
pub fn l2tpv3_data(
    session_id: u32,
    cookie: &[u8],
    sublayer: Option<Option<u32>>,
    frame: &[u8],
) -> Vec<u8> {
    let mut p = Vec::with_capacity(16 + frame.len());
    p.extend_from_slice(&session_id.to_be_bytes());
    p.extend_from_slice(cookie);
    match sublayer {
        None => {}
        Some(None) => p.extend_from_slice(&0u32.to_be_bytes()),
        Some(Some(seq)) => p.extend_from_slice(&(0x4000_0000 | (seq & 0x00ff_ffff)).to_be_bytes()),
    }
    p.extend_from_slice(frame);
    p
}

/// The L2TPv3-over-UDP flags/version word: T=0, version 3, reserved 0.
pub const UDP_V3_HEADER: [u8; 4] = [0x00, 0x03, 0x00, 0x00];

/// A UDP datagram (header + payload) with a zero checksum, for a raw
/// `IPPROTO_UDP` socket (over IPv6 the kernel fills the checksum in).
pub fn udp_datagram(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut d = Vec::with_capacity(8 + payload.len());
    d.extend_from_slice(&sport.to_be_bytes());
    d.extend_from_slice(&dport.to_be_bytes());
    d.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    d.extend_from_slice(&[0, 0]);
    d.extend_from_slice(payload);
    d
}
