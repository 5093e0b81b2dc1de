//! Thin wrappers over the Linux syscalls the data plane needs. This is the
//! only module with `unsafe`; everything above it works with safe types.

use std::ffi::CString;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

pub mod bpf;
pub mod fast;
pub mod rtnl;

/// Most messages moved per `sendmmsg`/`recvmmsg` call.
pub const MAX_BATCH: usize = 64;

/// `SO_NO_CHECK` (asm-generic/socket.h): skip IPv4 UDP transmit checksums.
const SO_NO_CHECK: libc::c_int = 11;
/// `UDP_NO_CHECK6_TX` (linux/udp.h): send IPv6 UDP with a zero checksum.
const UDP_NO_CHECK6_TX: libc::c_int = 101;
/// `UDP_NO_CHECK6_RX` (linux/udp.h): accept IPv6 UDP with a zero checksum.
const UDP_NO_CHECK6_RX: libc::c_int = 102;
/// Interface names are at most 15 bytes plus the NUL.
pub const IFNAMSIZ: usize = 16;

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// A socket address in the kernel's representation.
#[derive(Clone, Copy)]
pub struct SockAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl SockAddr {
    /// Converts from the std type.
    pub fn new(addr: SocketAddr) -> Self {
        // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
        let mut storage: libc::sockaddr_storage = unsafe { zeroed() };
        let len = match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than and suitably
                // aligned for sockaddr_in.
                unsafe {
                    std::ptr::write(
                        (&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in>(),
                        sin,
                    )
                };
                size_of::<libc::sockaddr_in>()
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: sockaddr_storage is larger than and suitably
                // aligned for sockaddr_in6.
                unsafe {
                    std::ptr::write(
                        (&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr_in6>(),
                        sin6,
                    )
                };
                size_of::<libc::sockaddr_in6>()
            }
        };
        Self {
            storage,
            len: len as libc::socklen_t,
        }
    }

    /// An empty address for the kernel to fill in.
    pub fn empty() -> Self {
        // SAFETY: sockaddr_storage is plain old data; all-zero is valid.
        let storage: libc::sockaddr_storage = unsafe { zeroed() };
        Self {
            storage,
            len: size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    /// Converts to the std type; `None` for families other than IPv4/IPv6.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match libc::c_int::from(self.storage.ss_family) {
            libc::AF_INET if self.len as usize >= size_of::<libc::sockaddr_in>() => {
                // SAFETY: the family says the storage holds a sockaddr_in,
                // and sockaddr_storage is aligned for it.
                let sin = unsafe {
                    &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>()
                };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Some(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 if self.len as usize >= size_of::<libc::sockaddr_in6>() => {
                // SAFETY: the family says the storage holds a sockaddr_in6,
                // and sockaddr_storage is aligned for it.
                let sin6 = unsafe {
                    &*(&self.storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
                };
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

/// `socket(2)` with close-on-exec.
pub fn socket(domain: libc::c_int, ty: libc::c_int, proto: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall with integer arguments.
    let fd = cvt(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, proto) })?;
    // SAFETY: the kernel just returned this descriptor; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt(2)` for an `int` option.
pub fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: the pointer and length describe a live c_int.
    cvt(unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// UDP transmit checksums on (true) or off (IPv6: sent as zero, RFC 6935).
pub fn set_udp_tx_csum(fd: RawFd, v6: bool, on: bool) -> io::Result<()> {
    let off = libc::c_int::from(!on);
    if v6 {
        setsockopt_int(fd, libc::IPPROTO_UDP, UDP_NO_CHECK6_TX, off)
    } else {
        setsockopt_int(fd, libc::SOL_SOCKET, SO_NO_CHECK, off)
    }
}

/// Whether IPv6 UDP with a zero checksum is accepted.
pub fn set_udp6_rx_zero(fd: RawFd, accept: bool) -> io::Result<()> {
    setsockopt_int(
        fd,
        libc::IPPROTO_UDP,
        UDP_NO_CHECK6_RX,
        libc::c_int::from(accept),
    )
}

/// Grows socket buffers so bursts are not dropped; tries the privileged
/// variants (beyond `rmem_max`) first and ignores failures, as a smaller
/// buffer only costs throughput.
pub fn grow_buffers(fd: &OwnedFd, bytes: libc::c_int) {
    let fd = fd.as_raw_fd();
    if setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, bytes).is_err() {
        let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_RCVBUF, bytes);
    }
    if setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUFFORCE, bytes).is_err() {
        let _ = setsockopt_int(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, bytes);
    }
}

/// `bind(2)`.
pub fn bind(fd: &OwnedFd, addr: SocketAddr) -> io::Result<()> {
    let sa = SockAddr::new(addr);
    // SAFETY: the pointer and length describe a live, initialised sockaddr.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sa.storage as *const libc::sockaddr_storage).cast(),
            sa.len,
        )
    })?;
    Ok(())
}

/// `getsockname(2)`.
pub fn local_addr(fd: &OwnedFd) -> io::Result<SocketAddr> {
    let mut sa = SockAddr::empty();
    // SAFETY: the pointers describe a writable sockaddr_storage and its
    // length.
    cvt(unsafe {
        libc::getsockname(
            fd.as_raw_fd(),
            (&mut sa.storage as *mut libc::sockaddr_storage).cast(),
            &mut sa.len,
        )
    })?;
    sa.socket_addr()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an IP socket"))
}

/// Sends each of `pkts` to `dest` with one `sendmmsg(2)` per
/// [`MAX_BATCH`]; returns how many went out (fewer on an error after the
/// first message, which the caller retries or counts).
pub fn sendmmsg(fd: RawFd, dest: &SockAddr, pkts: &[&[u8]]) -> io::Result<usize> {
    let n = pkts.len().min(MAX_BATCH);
    // SAFETY: iovec and mmsghdr are plain old data; zero is valid.
    let mut iovs: [libc::iovec; MAX_BATCH] = unsafe { zeroed() };
    // SAFETY: as above.
    let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { zeroed() };
    for ((pkt, iov), hdr) in pkts
        .iter()
        .zip(iovs.iter_mut())
        .zip(hdrs.iter_mut())
        .take(n)
    {
        iov.iov_base = pkt.as_ptr() as *mut libc::c_void;
        iov.iov_len = pkt.len();
        hdr.msg_hdr.msg_name =
            (&dest.storage as *const libc::sockaddr_storage) as *mut libc::c_void;
        hdr.msg_hdr.msg_namelen = dest.len;
        hdr.msg_hdr.msg_iov = iov as *mut libc::iovec;
        hdr.msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: `hdrs[..n]` point at `dest` and at `pkts` through `iovs`, all
    // alive and unmoved for the duration of the call; the kernel only reads
    // them (apart from msg_len).
    let sent = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), n as libc::c_uint, 0) };
    cvt(sent).map(|s| s as usize)
}

/// `read(2)`; `Ok(None)` when the descriptor has nothing (EAGAIN).
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<Option<usize>> {
    // SAFETY: the pointer and length describe a writable buffer.
    match cvt_size(unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }) {
        Ok(n) => Ok(Some(n)),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e),
    }
}

/// `write(2)`.
pub fn write(fd: RawFd, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the pointer and length describe a readable buffer.
    cvt_size(unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) })
}

/// What [`poll2`] saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Readiness {
    /// `fd` has data.
    pub readable: bool,
    /// `fd` is broken (POLLERR/POLLHUP/POLLNVAL), e.g. its device was
    /// deleted; reading will not drain this.
    pub broken: bool,
    /// `stop` was signalled.
    pub stop: bool,
}

/// Waits for `fd` or `stop` to become readable. `timeout_ms` < 0 waits
/// forever.
pub fn poll2(fd: RawFd, stop: RawFd, timeout_ms: libc::c_int) -> io::Result<Readiness> {
    let mut fds = [
        libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: stop,
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: the pointer and count describe the two pollfds above.
    match cvt(unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) }) {
        Ok(_) => Ok(Readiness {
            readable: fds[0].revents & libc::POLLIN != 0,
            broken: fds[0].revents & (libc::POLLERR | libc::POLLHUP | libc::POLLNVAL) != 0,
            stop: fds[1].revents != 0,
        }),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Readiness::default()),
        Err(e) => Err(e),
    }
}

/// Blocks until `stop` is signalled (for a worker whose descriptor broke).
pub fn wait_stop(stop: RawFd) {
    let mut fds = [libc::pollfd {
        fd: stop,
        events: libc::POLLIN,
        revents: 0,
    }];
    loop {
        // SAFETY: the pointer and count describe the pollfd above.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), 1, -1) };
        if r > 0 || (r < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted) {
            return;
        }
    }
}

/// An eventfd used to wake a worker out of `poll` when it must stop.
#[derive(Debug)]
pub struct EventFd(OwnedFd);

impl EventFd {
    /// A new, unsignalled eventfd.
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain syscall with integer arguments.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        // SAFETY: the kernel just returned this descriptor; nobody else owns it.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Makes the eventfd readable (for good: it is never drained).
    pub fn signal(&self) {
        let one: u64 = 1;
        // SAFETY: writes the 8 bytes of `one`, as eventfd expects.
        unsafe { libc::write(self.0.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// The descriptor to poll.
    pub fn raw(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

/// `struct ifreq`: a name and a 24-byte union; we use its short/int members.
#[repr(C, align(8))]
struct IfReq {
    name: [u8; IFNAMSIZ],
    data: [u8; 24],
}

impl IfReq {
    fn new(name: &str) -> io::Result<Self> {
        let bytes = name.as_bytes();
        if bytes.is_empty() || bytes.len() >= IFNAMSIZ || bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "interface name must be 1 to 15 bytes without NUL",
            ));
        }
        let mut req = Self {
            name: [0; IFNAMSIZ],
            data: [0; 24],
        };
        req.name[..bytes.len()].copy_from_slice(bytes);
        Ok(req)
    }

    fn name(&self) -> String {
        let end = self.name.iter().position(|&b| b == 0).unwrap_or(IFNAMSIZ);
        String::from_utf8_lossy(&self.name[..end]).into_owned()
    }

    fn short(&self) -> i16 {
        i16::from_ne_bytes([self.data[0], self.data[1]])
    }

    fn set_short(&mut self, v: i16) {
        self.data[..2].copy_from_slice(&v.to_ne_bytes());
    }

    fn set_int(&mut self, v: i32) {
        self.data[..4].copy_from_slice(&v.to_ne_bytes());
    }
}

fn ioctl_ifreq(fd: RawFd, req: libc::c_ulong, ifr: &mut IfReq) -> io::Result<()> {
    // SAFETY: `ifr` is a live, correctly laid out struct ifreq the kernel
    // may read and write.
    cvt(unsafe { libc::ioctl(fd, req as _, ifr as *mut IfReq) })?;
    Ok(())
}

/// A datagram socket used only as a handle for interface ioctls (in the
/// caller's network namespace).
fn ioctl_socket() -> io::Result<OwnedFd> {
    socket(libc::AF_INET, libc::SOCK_DGRAM, 0)
}

/// Sets a device's MTU.
pub fn set_mtu(name: &str, mtu: u32) -> io::Result<()> {
    let s = ioctl_socket()?;
    let mut ifr = IfReq::new(name)?;
    ifr.set_int(i32::try_from(mtu).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?);
    ioctl_ifreq(s.as_raw_fd(), libc::SIOCSIFMTU as libc::c_ulong, &mut ifr)
}

/// Sets IFF_UP on a device.
pub fn set_up(name: &str) -> io::Result<()> {
    let s = ioctl_socket()?;
    let mut ifr = IfReq::new(name)?;
    ioctl_ifreq(s.as_raw_fd(), libc::SIOCGIFFLAGS as libc::c_ulong, &mut ifr)?;
    ifr.set_short(ifr.short() | libc::IFF_UP as i16);
    ioctl_ifreq(s.as_raw_fd(), libc::SIOCSIFFLAGS as libc::c_ulong, &mut ifr)
}

/// Interface index of `name`, or `None` if there is no such device.
pub fn ifindex(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (idx != 0).then_some(idx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockaddr_round_trip() {
        for a in [
            "198.18.0.1:1701".parse::<SocketAddr>().unwrap(),
            "[2001:db8::1]:5000".parse().unwrap(),
        ] {
            assert_eq!(SockAddr::new(a).socket_addr(), Some(a));
        }
        assert_eq!(SockAddr::empty().socket_addr(), None);
    }

    #[test]
    fn ifreq_rejects_bad_names() {
        assert!(IfReq::new("").is_err());
        assert!(IfReq::new("sixteen_chars_xx").is_err());
        assert_eq!(IfReq::new("l2tpeth%d").unwrap().name(), "l2tpeth%d");
        assert_eq!(size_of::<IfReq>(), 40);
    }
}
