//! Syscalls of the fast path: epoll, scatter-gather writes to TAP devices,
//! UDP GSO sends and GRO receives, TAP offload ioctls. A child of `sys`,
//! sharing its private socket-address type and ioctl helpers.

use std::ffi::CStr;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::{cvt, cvt_size, ioctl_ifreq, setsockopt_int, IfReq, SockAddr, IFNAMSIZ, MAX_BATCH};

/// `TUNSETIFF` = `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
/// `TUNSETOFFLOAD` = `_IOW('T', 208, unsigned int)`; the flags are the
/// argument itself.
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;
/// `TUNGETIFF` = `_IOR('T', 210, unsigned int)`.
const TUNGETIFF: libc::c_ulong = 0x8004_54d2;
/// `TUNSETVNETHDRSZ` = `_IOW('T', 216, int)`.
const TUNSETVNETHDRSZ: libc::c_ulong = 0x4004_54d8;
const IFF_TAP: i16 = 0x0002;
const IFF_NO_PI: i16 = 0x1000;
const IFF_VNET_HDR: i16 = 0x4000;
const IFF_MULTI_QUEUE: i16 = 0x0100;

/// `TUN_F_*` offload bits (linux/if_tun.h).
pub const TUN_F_CSUM: libc::c_uint = 0x01;
/// TSO for IPv4.
pub const TUN_F_TSO4: libc::c_uint = 0x02;
/// TSO for IPv6.
pub const TUN_F_TSO6: libc::c_uint = 0x04;
/// USO for IPv4 (Linux 6.2).
pub const TUN_F_USO4: libc::c_uint = 0x20;
/// USO for IPv6 (Linux 6.2).
pub const TUN_F_USO6: libc::c_uint = 0x40;

/// `SOL_UDP` options (linux/udp.h).
const UDP_SEGMENT: libc::c_int = 103;
const UDP_GRO: libc::c_int = 104;

/// Most pieces one `writev` takes.
pub const MAX_WRITEV: usize = 80;
/// Most pieces (iovecs) in one [`GsoSender::send`] call.
pub const MAX_PIECES: usize = 1024;
/// Most messages in one [`GsoSender::send`] call.
pub const MAX_MSGS: usize = 64;

/// Turns on `UDP_GRO`: receives may return several datagrams glued
/// together, with their size in a control message.
pub fn set_udp_gro(fd: RawFd) -> io::Result<()> {
    setsockopt_int(fd, libc::SOL_UDP, UDP_GRO, 1)
}

// ---------------------------------------------------------------- epoll

/// An epoll instance (level-triggered, read interest only).
#[derive(Debug)]
pub struct Epoll(OwnedFd);

impl Epoll {
    /// A new, empty instance.
    pub fn new() -> io::Result<Self> {
        // SAFETY: plain syscall with an integer argument.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: the kernel just returned this descriptor; nobody else owns it.
        Ok(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// Watches `fd` for input, reporting `token`.
    pub fn add(&self, fd: RawFd, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: `ev` is a live epoll_event the kernel only reads.
        cvt(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) })?;
        Ok(())
    }

    /// Stops watching `fd`.
    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        let mut ev = libc::epoll_event { events: 0, u64: 0 };
        // SAFETY: as in `add` (the event is ignored for deletion).
        cvt(unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, &mut ev) })?;
        Ok(())
    }

    /// Waits up to `timeout_ms` (-1: forever) and fills `events`; returns
    /// how many are ready (0 on timeout or a signal).
    pub fn wait(&self, events: &mut Events, timeout_ms: libc::c_int) -> io::Result<usize> {
        let cap = events.buf.len().min(libc::c_int::MAX as usize) as libc::c_int;
        // SAFETY: the buffer holds `cap` writable epoll_events.
        let r = unsafe {
            libc::epoll_wait(self.0.as_raw_fd(), events.buf.as_mut_ptr(), cap, timeout_ms)
        };
        events.n = 0;
        match cvt(r) {
            Ok(n) => {
                events.n = n as usize;
                Ok(events.n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }
}

/// Room for the events of one [`Epoll::wait`].
pub struct Events {
    buf: Vec<libc::epoll_event>,
    n: usize,
}

impl Events {
    /// Room for `cap` events.
    pub fn with_capacity(cap: usize) -> Self {
        Self {
            buf: (0..cap.max(1))
                .map(|_| libc::epoll_event { events: 0, u64: 0 })
                .collect(),
            n: 0,
        }
    }

    /// `(token, events)` of the ready descriptors.
    pub fn iter(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.buf.iter().take(self.n).map(|e| {
            // Copies out of a (possibly packed) struct.
            let (tok, ev) = (e.u64, e.events);
            (tok, ev)
        })
    }
}

/// Event bits meaning the descriptor is broken (device gone).
pub const EPOLL_BROKEN: u32 = (libc::EPOLLERR | libc::EPOLLHUP) as u32;

// ---------------------------------------------------------------- TAP

/// `writev(2)` of up to [`MAX_WRITEV`] pieces as one frame.
pub fn writev(fd: RawFd, parts: &[&[u8]]) -> io::Result<usize> {
    if parts.len() > MAX_WRITEV {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    // SAFETY: iovec is plain old data; zero is valid.
    let mut iovs: [libc::iovec; MAX_WRITEV] = unsafe { zeroed() };
    for (iov, p) in iovs.iter_mut().zip(parts) {
        iov.iov_base = p.as_ptr() as *mut libc::c_void;
        iov.iov_len = p.len();
    }
    // SAFETY: the first `parts.len()` iovecs point at the live, readable
    // slices of `parts`.
    cvt_size(unsafe { libc::writev(fd, iovs.as_ptr(), parts.len() as libc::c_int) })
}

fn open_dev_tun() -> io::Result<OwnedFd> {
    // SAFETY: the path is a valid NUL-terminated string.
    let fd = cvt(unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    })?;
    // SAFETY: the kernel just returned this descriptor; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Creates a non-persistent TAP device named `name` (`%d` numbered by the
/// kernel) with `queues` queues (`IFF_MULTI_QUEUE` when more than one)
/// and, with `vnet`, a 10-byte virtio header on every frame. Returns one
/// non-blocking descriptor per queue and the device's name; the device
/// goes away when every descriptor is closed.
pub fn open_tap_queues(
    name: &str,
    vnet: bool,
    queues: usize,
) -> io::Result<(Vec<OwnedFd>, String)> {
    let queues = queues.max(1);
    let mut flags = IFF_TAP | IFF_NO_PI;
    if vnet {
        flags |= IFF_VNET_HDR;
    }
    if queues > 1 {
        flags |= IFF_MULTI_QUEUE;
    }
    let mut fds = Vec::with_capacity(queues);
    let mut actual = name.to_string();
    for q in 0..queues {
        let fd = open_dev_tun()?;
        let mut ifr = IfReq::new(&actual)?;
        ifr.set_short(flags);
        ioctl_ifreq(fd.as_raw_fd(), TUNSETIFF, &mut ifr)?;
        if q == 0 {
            actual = ifr.name();
        }
        if vnet {
            let sz: libc::c_int = 10;
            // SAFETY: the argument points at a live c_int the kernel reads.
            cvt(unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETVNETHDRSZ as _, &sz) })?;
        }
        fds.push(fd);
    }
    Ok((fds, actual))
}

/// `TUNSETOFFLOAD`: which offloads the host may hand us.
pub fn tap_set_offload(fd: RawFd, flags: libc::c_uint) -> io::Result<()> {
    // SAFETY: this ioctl takes the flags by value.
    cvt(unsafe { libc::ioctl(fd, TUNSETOFFLOAD as _, flags as libc::c_ulong) })?;
    Ok(())
}

/// The current name of the device a TAP descriptor is attached to (fails
/// once the device was deleted).
pub fn tap_name(fd: RawFd) -> io::Result<String> {
    let mut ifr = IfReq {
        name: [0; IFNAMSIZ],
        data: [0; 24],
    };
    ioctl_ifreq(fd, TUNGETIFF, &mut ifr)?;
    Ok(ifr.name())
}

/// The name of interface `index` in this namespace.
pub fn ifname_of(index: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; IFNAMSIZ];
    // SAFETY: the buffer has IF_NAMESIZE bytes, as if_indextoname needs.
    let p = unsafe { libc::if_indextoname(index, buf.as_mut_ptr()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: on success the buffer holds a NUL-terminated name.
    let name = unsafe { CStr::from_ptr(buf.as_ptr()) };
    Some(name.to_string_lossy().into_owned())
}

// ---------------------------------------------------------------- UDP GSO

/// A byte range of one of the two buffers a send draws from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Piece {
    /// 0 or 1: which buffer.
    pub buf: u8,
    /// Start offset.
    pub start: u32,
    /// Length.
    pub len: u32,
}

/// One datagram, or with `segment` > 0 a GSO train of datagrams of
/// `segment` bytes (the last may be shorter), made of consecutive pieces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutMsg {
    /// Index of the first piece.
    pub first: u32,
    /// Number of pieces.
    pub pieces: u32,
    /// `UDP_SEGMENT` size; 0 sends one plain datagram.
    pub segment: u16,
}

#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct Ctrl([u8; 32]);

/// Reusable `sendmmsg` state (iovecs, headers, control messages), so
/// sending allocates nothing.
pub struct GsoSender {
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
    ctrl: Vec<Ctrl>,
}

impl GsoSender {
    /// Room for [`MAX_PIECES`] pieces and [`MAX_MSGS`] messages.
    pub fn new() -> Self {
        Self {
            iovs: Vec::with_capacity(MAX_PIECES),
            hdrs: Vec::with_capacity(MAX_MSGS),
            ctrl: vec![Ctrl([0; 32]); MAX_MSGS],
        }
    }

    /// Sends `msgs` (pieces drawn from `bufs`) to `dest` with one
    /// `sendmmsg`; returns how many messages went out (an error only if the
    /// first failed).
    pub fn send(
        &mut self,
        fd: RawFd,
        dest: &SockAddr,
        bufs: [&[u8]; 2],
        pieces: &[Piece],
        msgs: &[OutMsg],
    ) -> io::Result<usize> {
        if pieces.len() > MAX_PIECES || msgs.len() > MAX_MSGS || msgs.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        self.iovs.clear();
        for p in pieces {
            let buf = bufs.get(usize::from(p.buf)).copied().unwrap_or(&[]);
            let (s, l) = (p.start as usize, p.len as usize);
            let slice = buf
                .get(s..s + l)
                .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
            self.iovs.push(libc::iovec {
                iov_base: slice.as_ptr() as *mut libc::c_void,
                iov_len: slice.len(),
            });
        }
        // SAFETY: pure arithmetic on the control-message layout.
        let (cmsg_hdr, cmsg_len, cmsg_space) = unsafe {
            (
                libc::CMSG_LEN(0) as usize,
                libc::CMSG_LEN(2) as usize,
                libc::CMSG_SPACE(2) as usize,
            )
        };
        self.hdrs.clear();
        let iov_base = self.iovs.as_mut_ptr();
        for (m, ctrl) in msgs.iter().zip(self.ctrl.iter_mut()) {
            let (first, count) = (m.first as usize, m.pieces as usize);
            if first + count > self.iovs.len() || count == 0 {
                return Err(io::Error::from_raw_os_error(libc::EINVAL));
            }
            // SAFETY: mmsghdr is plain old data; zero is valid.
            let mut h: libc::mmsghdr = unsafe { zeroed() };
            h.msg_hdr.msg_name =
                (&dest.storage as *const libc::sockaddr_storage) as *mut libc::c_void;
            h.msg_hdr.msg_namelen = dest.len;
            // SAFETY: `first + count <= iovs.len()` was checked, so the
            // offset stays inside the iovec vector.
            h.msg_hdr.msg_iov = unsafe { iov_base.add(first) };
            h.msg_hdr.msg_iovlen = count as _;
            if m.segment > 0 {
                // SAFETY: cmsghdr is plain old data; zero is valid.
                let mut c: libc::cmsghdr = unsafe { zeroed() };
                c.cmsg_len = cmsg_len as _;
                c.cmsg_level = libc::SOL_UDP;
                c.cmsg_type = UDP_SEGMENT;
                // SAFETY: the 8-aligned 32-byte buffer has room for a
                // cmsghdr (16 bytes) followed by the data.
                unsafe {
                    std::ptr::write_unaligned(ctrl.0.as_mut_ptr().cast::<libc::cmsghdr>(), c)
                };
                if let Some(d) = ctrl.0.get_mut(cmsg_hdr..cmsg_hdr + 2) {
                    d.copy_from_slice(&m.segment.to_ne_bytes());
                }
                h.msg_hdr.msg_control = ctrl.0.as_mut_ptr().cast();
                h.msg_hdr.msg_controllen = cmsg_space as _;
            }
            self.hdrs.push(h);
        }
        // SAFETY: every header points at `dest`, at iovecs inside
        // `self.iovs` (which point into the borrowed `bufs`) and at its own
        // control buffer; all stay alive and unmoved during the call.
        let r = unsafe {
            libc::sendmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as libc::c_uint,
                0,
            )
        };
        cvt(r).map(|n| n as usize)
    }
}

impl Default for GsoSender {
    fn default() -> Self {
        Self::new()
    }
}

// ---------------------------------------------------------------- UDP GRO

/// `recvmmsg(2)` slots that also collect the `UDP_GRO` segment size.
pub struct GroBatch {
    buf: Vec<u8>,
    slot: usize,
    lens: [usize; MAX_BATCH],
    segs: [u16; MAX_BATCH],
    addrs: [SockAddr; MAX_BATCH],
    ctrl: Vec<Ctrl>,
    count: usize,
}

impl GroBatch {
    /// `slots` buffers (at most [`MAX_BATCH`]) of `slot` bytes each.
    pub fn new(slots: usize, slot: usize) -> Self {
        let slots = slots.clamp(1, MAX_BATCH);
        Self {
            buf: vec![0; slots * slot],
            slot,
            lens: [0; MAX_BATCH],
            segs: [0; MAX_BATCH],
            addrs: [SockAddr::empty(); MAX_BATCH],
            ctrl: vec![Ctrl([0; 32]); slots],
            count: 0,
        }
    }

    /// The whole receive buffer (frames handed on point into it).
    pub fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// Message `i`: its bytes, sender, and GRO segment size (0: one
    /// datagram).
    pub fn get(&self, i: usize) -> Option<(&[u8], &SockAddr, u16)> {
        if i >= self.count {
            return None;
        }
        let start = i * self.slot;
        let len = (*self.lens.get(i)?).min(self.slot);
        Some((
            self.buf.get(start..start + len)?,
            self.addrs.get(i)?,
            *self.segs.get(i)?,
        ))
    }

    /// Receives what is queued without blocking; `Ok(0)` when nothing is.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        let slots = self.ctrl.len();
        // SAFETY: iovec and mmsghdr are plain old data; zero is valid.
        let mut iovs: [libc::iovec; MAX_BATCH] = unsafe { zeroed() };
        // SAFETY: as above.
        let mut hdrs: [libc::mmsghdr; MAX_BATCH] = unsafe { zeroed() };
        for (((chunk, iov), (hdr, addr)), ctrl) in self
            .buf
            .chunks_exact_mut(self.slot)
            .zip(iovs.iter_mut())
            .zip(hdrs.iter_mut().zip(self.addrs.iter_mut()))
            .zip(self.ctrl.iter_mut())
            .take(slots)
        {
            *addr = SockAddr::empty();
            iov.iov_base = chunk.as_mut_ptr().cast();
            iov.iov_len = chunk.len();
            hdr.msg_hdr.msg_name = (&mut addr.storage as *mut libc::sockaddr_storage).cast();
            hdr.msg_hdr.msg_namelen = addr.len;
            hdr.msg_hdr.msg_iov = iov as *mut libc::iovec;
            hdr.msg_hdr.msg_iovlen = 1;
            hdr.msg_hdr.msg_control = ctrl.0.as_mut_ptr().cast();
            hdr.msg_hdr.msg_controllen = ctrl.0.len() as _;
        }
        // SAFETY: every header points at a distinct writable slot of
        // `self.buf`, address and control buffer, alive during the call.
        let r = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                slots as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        self.count = 0;
        let n = match cvt(r) {
            Ok(n) => n as usize,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(0),
            Err(e) => return Err(e),
        };
        for (i, hdr) in hdrs.iter().enumerate().take(n) {
            self.lens[i] = hdr.msg_len as usize;
            self.addrs[i].len = hdr.msg_hdr.msg_namelen;
            // `msg_controllen` is a size_t with glibc, a socklen_t with musl.
            #[allow(clippy::unnecessary_cast)]
            let clen = (hdr.msg_hdr.msg_controllen as usize).min(32);
            self.segs[i] = self
                .ctrl
                .get(i)
                .map_or(0, |c| gro_size(c.0.get(..clen).unwrap_or(&[])));
        }
        self.count = n;
        Ok(n)
    }
}

/// The `UDP_GRO` segment size in a received control buffer, if any.
fn gro_size(ctrl: &[u8]) -> u16 {
    let hdr = size_of::<libc::cmsghdr>();
    let mut at = 0;
    while at + hdr <= ctrl.len() {
        let Some(h) = ctrl.get(at..at + hdr) else {
            break;
        };
        // SAFETY: `h` holds `size_of::<cmsghdr>()` initialised bytes; the
        // read is unaligned-safe and cmsghdr is plain old data.
        let c: libc::cmsghdr = unsafe { std::ptr::read_unaligned(h.as_ptr().cast()) };
        let len = c.cmsg_len as usize;
        if len < hdr {
            break;
        }
        if c.cmsg_level == libc::SOL_UDP && c.cmsg_type == UDP_GRO {
            // SAFETY: pure arithmetic on the control-message layout.
            let data = at + unsafe { libc::CMSG_LEN(0) } as usize;
            let v = ctrl
                .get(data..data + 4)
                .and_then(|b| b.try_into().ok())
                .map_or(0, i32::from_ne_bytes);
            return u16::try_from(v).unwrap_or(0);
        }
        at += (len + 7) & !7;
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gro_size_parses_a_control_message() {
        let hdr = size_of::<libc::cmsghdr>();
        let mut buf = vec![0u8; 64];
        // SAFETY: test-only: build a cmsghdr the way the kernel lays it out.
        let mut c: libc::cmsghdr = unsafe { zeroed() };
        c.cmsg_len = (hdr + 4) as _;
        c.cmsg_level = libc::SOL_UDP;
        c.cmsg_type = UDP_GRO;
        // SAFETY: the buffer is larger than a cmsghdr.
        unsafe { std::ptr::write_unaligned(buf.as_mut_ptr().cast(), c) };
        buf[hdr..hdr + 4].copy_from_slice(&1400i32.to_ne_bytes());
        assert_eq!(gro_size(&buf[..hdr + 4]), 1400);
        assert_eq!(gro_size(&buf[..hdr]), 0);
        assert_eq!(gro_size(&[]), 0);
        assert_eq!(gro_size(&[0xff; 7]), 0);
    }

    #[test]
    fn gso_sender_rejects_bad_ranges() {
        let s = super::super::socket(libc::AF_INET, libc::SOCK_DGRAM, 0).unwrap();
        let dest = SockAddr::new("198.18.0.1:9".parse().unwrap());
        let mut g = GsoSender::new();
        let data = [0u8; 10];
        let bad = [Piece {
            buf: 0,
            start: 5,
            len: 10,
        }];
        let msg = [OutMsg {
            first: 0,
            pieces: 1,
            segment: 0,
        }];
        assert!(g
            .send(s.as_raw_fd(), &dest, [&data, &[]], &bad, &msg)
            .is_err());
        let over = [OutMsg {
            first: 0,
            pieces: 2,
            segment: 0,
        }];
        let ok = [Piece {
            buf: 0,
            start: 0,
            len: 10,
        }];
        assert!(g
            .send(s.as_raw_fd(), &dest, [&data, &[]], &ok, &over)
            .is_err());
    }
}
