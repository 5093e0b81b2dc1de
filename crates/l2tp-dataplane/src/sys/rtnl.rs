//! rtnetlink: device groups (to delete many devices at once), and the two
//! questions the tc-BPF fast path asks: which device a peer is reached
//! through (`ip route get`), and what kind of devices are in the namespace
//! (`ip -d link`), to tell a hardware NIC from a virtual link. A child of
//! `sys`: its `unsafe` is the socket calls.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::cvt;

const NLMSG_HDRLEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_MULTI: u16 = 2;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const RTM_SETLINK: u16 = 19;
const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
/// `struct rtmsg` and `struct ifinfomsg` lengths.
const RTMSG_LEN: usize = 12;
const IFINFOMSG_LEN: usize = 16;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINK: u16 = 5;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_GROUP: u16 = 27;
const IFLA_INFO_KIND: u16 = 1;
/// Attribute types carry flag bits above these.
const NLA_TYPE_MASK: u16 = 0x3fff;
const IFF_LOOPBACK: u32 = 0x8;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn malformed() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "malformed rtnetlink reply")
}

/// The attributes (type, payload) in `b`, which starts at the first one.
fn attrs(mut b: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(b, 0)?);
        let ty = u16_at(b, 2)? & NLA_TYPE_MASK;
        let payload = b.get(4..len)?;
        b = b.get((len + 3) & !3..).unwrap_or(&[]);
        Some((ty, payload))
    })
}

/// A route-netlink socket, bound to the namespace it was opened in.
#[derive(Debug)]
pub struct RtNetlink {
    fd: OwnedFd,
    seq: u32,
}

impl RtNetlink {
    /// Opens the socket (in the calling thread's network namespace).
    pub fn open() -> io::Result<Self> {
        // SAFETY: plain socket(2); the result is checked.
        let raw = cvt(unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        })?;
        // SAFETY: the kernel just returned this descriptor; nobody else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        Ok(Self { fd, seq: 0 })
    }

    /// Puts device `ifindex` in device group `group`.
    pub fn set_group(&mut self, ifindex: u32, group: u32) -> io::Result<()> {
        self.group_request(RTM_SETLINK, ifindex, group)
    }

    /// Deletes every device of group `group` at once (one unregistration,
    /// one RCU grace period for all of them).
    pub fn delete_group(&mut self, group: u32) -> io::Result<()> {
        self.group_request(RTM_DELLINK, 0, group)
    }

    fn group_request(&mut self, ty: u16, ifindex: u32, group: u32) -> io::Result<()> {
        // ifinfomsg: family AF_UNSPEC, type 0, index, flags 0, change 0;
        // then IFLA_GROUP.
        let mut body = [0u8; IFINFOMSG_LEN + 8];
        body[4..8].copy_from_slice(&ifindex.to_ne_bytes());
        body[16..18].copy_from_slice(&8u16.to_ne_bytes());
        body[18..20].copy_from_slice(&IFLA_GROUP.to_ne_bytes());
        body[20..24].copy_from_slice(&group.to_ne_bytes());
        self.talk(ty, NLM_F_ACK, &body, 0).map(drop)
    }

    /// Sends one request of type `ty` with `body` and returns the payloads
    /// of the replies of type `want` (everything after each `nlmsghdr`),
    /// until `NLMSG_DONE` for a dump, or after the one reply (or the ACK)
    /// otherwise. Replies to earlier requests are skipped.
    fn talk(&mut self, ty: u16, flags: u16, body: &[u8], want: u16) -> io::Result<Vec<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let mut req = Vec::with_capacity(NLMSG_HDRLEN + body.len());
        req.extend_from_slice(&((NLMSG_HDRLEN + body.len()) as u32).to_ne_bytes());
        req.extend_from_slice(&ty.to_ne_bytes());
        req.extend_from_slice(&(NLM_F_REQUEST | flags).to_ne_bytes());
        req.extend_from_slice(&self.seq.to_ne_bytes());
        req.extend_from_slice(&0u32.to_ne_bytes()); // pid: the kernel
        req.extend_from_slice(body);
        // SAFETY: `req` is a valid buffer of `req.len()` bytes; the kernel is
        // the default destination of an unbound netlink socket.
        let sent = unsafe { libc::send(self.fd.as_raw_fd(), req.as_ptr().cast(), req.len(), 0) };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut out = Vec::new();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            // SAFETY: `buf` is writable for its whole length.
            let n =
                unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let mut b = &buf[..n as usize];
            let mut more = false;
            let mut ours = false;
            while !b.is_empty() {
                let len = u32_at(b, 0).ok_or_else(malformed)? as usize;
                let mty = u16_at(b, 4).ok_or_else(malformed)?;
                let mflags = u16_at(b, 6).ok_or_else(malformed)?;
                let mseq = u32_at(b, 8).ok_or_else(malformed)?;
                let msg = b.get(..len).filter(|_| len >= NLMSG_HDRLEN);
                let msg = msg.ok_or_else(malformed)?;
                b = b.get((len + 3) & !3..).unwrap_or(&[]);
                if mseq != self.seq {
                    continue;
                }
                ours = true;
                match mty {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let errno = u32_at(msg, NLMSG_HDRLEN).ok_or_else(malformed)? as i32;
                        if errno != 0 {
                            return Err(io::Error::from_raw_os_error(-errno));
                        }
                    }
                    t if t == want => out.push(msg[NLMSG_HDRLEN..].to_vec()),
                    _ => {}
                }
                more |= mflags & NLM_F_MULTI != 0;
            }
            if ours && !more {
                return Ok(out);
            }
        }
    }
}

/// The device the kernel would send a packet to `dst` through
/// (`ip route get DST`).
pub fn route_oif(dst: IpAddr) -> io::Result<u32> {
    let (family, addr): (u8, Vec<u8>) = match dst {
        IpAddr::V4(a) => (libc::AF_INET as u8, a.octets().to_vec()),
        IpAddr::V6(a) => (libc::AF_INET6 as u8, a.octets().to_vec()),
    };
    // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope,
    // type, flags; then RTA_DST.
    let mut body = vec![family, (addr.len() * 8) as u8, 0, 0, 0, 0, 0, 0];
    body.extend_from_slice(&0u32.to_ne_bytes());
    body.extend_from_slice(&((4 + addr.len()) as u16).to_ne_bytes());
    body.extend_from_slice(&RTA_DST.to_ne_bytes());
    body.extend_from_slice(&addr);
    let replies = RtNetlink::open()?.talk(RTM_GETROUTE, 0, &body, RTM_NEWROUTE)?;
    let reply = replies.first().ok_or_else(malformed)?;
    parse_route(reply)
}

fn parse_route(reply: &[u8]) -> io::Result<u32> {
    let at = reply.get(RTMSG_LEN..).ok_or_else(malformed)?;
    attrs(at)
        .find(|(ty, _)| *ty == RTA_OIF)
        .and_then(|(_, v)| u32_at(v, 0))
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "the route has no output device"))
}

/// One network device as rtnetlink describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Link {
    pub ifindex: u32,
    pub name: String,
    /// `IFLA_INFO_KIND` ("veth", "bridge", "vlan", "tun"...): set by every
    /// software device; hardware drivers have none.
    pub kind: Option<String>,
    /// `IFLA_LINK`: the lower device of a VLAN, macvlan... (or a veth's peer).
    pub link: Option<u32>,
    /// `IFLA_MASTER`: the bond, team or bridge this device is a port of.
    pub master: Option<u32>,
    /// `IFLA_GROUP`: the device group (0 unless set).
    pub group: u32,
    pub loopback: bool,
}

/// Every device of this network namespace (`ip -d link`).
pub fn links() -> io::Result<Vec<Link>> {
    let body = [0u8; IFINFOMSG_LEN]; // AF_UNSPEC, every device
    RtNetlink::open()?
        .talk(RTM_GETLINK, NLM_F_DUMP, &body, RTM_NEWLINK)?
        .iter()
        .map(|m| parse_link(m))
        .collect()
}

fn parse_link(msg: &[u8]) -> io::Result<Link> {
    let mut link = Link {
        ifindex: u32_at(msg, 4).ok_or_else(malformed)?,
        loopback: u32_at(msg, 8).ok_or_else(malformed)? & IFF_LOOPBACK != 0,
        ..Link::default()
    };
    for (ty, v) in attrs(msg.get(IFINFOMSG_LEN..).ok_or_else(malformed)?) {
        match ty {
            IFLA_IFNAME => {
                let name = v.split(|&c| c == 0).next().unwrap_or(&[]);
                link.name = String::from_utf8_lossy(name).into_owned();
            }
            IFLA_LINK => link.link = u32_at(v, 0),
            IFLA_MASTER => link.master = u32_at(v, 0),
            IFLA_GROUP => link.group = u32_at(v, 0).unwrap_or(0),
            IFLA_LINKINFO => {
                link.kind = attrs(v).find(|(t, _)| *t == IFLA_INFO_KIND).map(|(_, k)| {
                    let k = k.split(|&c| c == 0).next().unwrap_or(&[]);
                    String::from_utf8_lossy(k).into_owned()
                });
            }
            _ => {}
        }
    }
    Ok(link)
}

/// Whether frames sent through `ifindex` have their inner checksums filled
/// in before they leave this host; `Err` says why not.
///
/// A frame the fast path encapsulates keeps the host's "checksum left to
/// the device" state (like VXLAN). A hardware NIC, or the kernel for one
/// that cannot, fills the inner TCP/UDP checksum in. A virtual link (veth,
/// TAP, bridge, loopback...) hands the frame on unfilled to a receiver on
/// this host, and the Linux kernel's own L2TP receiver (l2tp_eth) then
/// drops it. So: no `IFLA_INFO_KIND` (a hardware driver), or a VLAN, bond
/// or team whose lower devices all qualify.
pub fn fills_checksums(links: &[Link], ifindex: u32) -> Result<(), String> {
    fn check(links: &[Link], ifindex: u32, depth: u32) -> Result<(), String> {
        let dev = links
            .iter()
            .find(|l| l.ifindex == ifindex)
            .ok_or_else(|| format!("device {ifindex} not found"))?;
        if depth > 8 {
            return Err(format!("{} is stacked too deep to follow", dev.name));
        }
        if dev.loopback {
            return Err(format!("{} is the loopback device", dev.name));
        }
        match dev.kind.as_deref() {
            None => Ok(()),
            Some("vlan") => {
                let lower = dev
                    .link
                    .ok_or_else(|| format!("VLAN {} has no lower device", dev.name))?;
                check(links, lower, depth + 1)
            }
            Some(k @ ("bond" | "team")) => {
                let mut ports = links.iter().filter(|l| l.master == Some(ifindex));
                let mut any = false;
                ports.try_for_each(|p| {
                    any = true;
                    check(links, p.ifindex, depth + 1)
                })?;
                if any {
                    Ok(())
                } else {
                    Err(format!("{k} {} has no ports", dev.name))
                }
            }
            Some(k) => Err(format!("{} is a {k} device (a virtual link)", dev.name)),
        }
    }
    check(links, ifindex, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put_attr(m: &mut Vec<u8>, ty: u16, v: &[u8]) {
        m.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
        m.extend_from_slice(&ty.to_ne_bytes());
        m.extend_from_slice(v);
        while !m.len().is_multiple_of(4) {
            m.push(0);
        }
    }

    #[test]
    fn route_reply_parsing() {
        let mut m = vec![0u8; RTMSG_LEN];
        put_attr(&mut m, RTA_DST, &[198, 18, 0, 2]);
        put_attr(&mut m, RTA_OIF, &7u32.to_ne_bytes());
        assert_eq!(parse_route(&m).unwrap(), 7);
        assert!(parse_route(&m[..RTMSG_LEN + 8]).is_err(), "no RTA_OIF");
        assert!(parse_route(&m[..5]).is_err());
    }

    #[test]
    fn link_parsing() {
        let mut m = vec![0u8; IFINFOMSG_LEN];
        m[4..8].copy_from_slice(&12u32.to_ne_bytes());
        put_attr(&mut m, IFLA_IFNAME, b"bond0.100\0");
        put_attr(&mut m, IFLA_LINK, &11u32.to_ne_bytes());
        let mut info = Vec::new();
        put_attr(&mut info, IFLA_INFO_KIND, b"vlan\0");
        put_attr(&mut m, IFLA_LINKINFO | 0x8000, &info);
        let l = parse_link(&m).unwrap();
        assert_eq!(l.ifindex, 12);
        assert_eq!(l.name, "bond0.100");
        assert_eq!(l.kind.as_deref(), Some("vlan"));
        assert_eq!((l.link, l.master, l.loopback), (Some(11), None, false));
        // A truncated attribute ends the walk; a truncated header is an error.
        assert_eq!(parse_link(&m[..IFINFOMSG_LEN + 6]).unwrap().name, "");
        assert!(parse_link(&m[..6]).is_err());
    }

    fn dev(ifindex: u32, name: &str, kind: Option<&str>) -> Link {
        Link {
            ifindex,
            name: name.into(),
            kind: kind.map(Into::into),
            ..Link::default()
        }
    }

    #[test]
    fn which_devices_fill_checksums() {
        let mut links = vec![
            Link {
                loopback: true,
                ..dev(1, "lo", None)
            },
            dev(2, "eth0", None),
            dev(3, "eth1", None),
            dev(4, "bond0", Some("bond")),
            Link {
                link: Some(4),
                ..dev(5, "bond0.7", Some("vlan"))
            },
            dev(6, "veth0", Some("veth")),
            dev(7, "br0", Some("bridge")),
            Link {
                link: Some(2),
                ..dev(8, "eth0.9", Some("vlan"))
            },
            dev(9, "bond1", Some("bond")),
        ];
        for port in [2, 3] {
            links[port - 1].master = Some(4);
        }
        assert_eq!(fills_checksums(&links, 2), Ok(()));
        assert_eq!(fills_checksums(&links, 8), Ok(()), "VLAN on a NIC");
        assert_eq!(fills_checksums(&links, 4), Ok(()), "bond of NICs");
        assert_eq!(fills_checksums(&links, 5), Ok(()), "VLAN on a bond");
        let err = fills_checksums(&links, 6).unwrap_err();
        assert!(err.contains("veth0 is a veth"), "{err}");
        assert!(fills_checksums(&links, 7).is_err(), "bridge");
        assert!(fills_checksums(&links, 1).unwrap_err().contains("loopback"));
        assert!(fills_checksums(&links, 9).unwrap_err().contains("no ports"));
        assert!(fills_checksums(&links, 99).is_err());
        // A veth in the bond spoils it.
        links[5].master = Some(4);
        assert!(fills_checksums(&links, 5).unwrap_err().contains("veth0"));
        // A loop of VLANs is cut off, not followed forever.
        links.push(Link {
            link: Some(11),
            ..dev(10, "a", Some("vlan"))
        });
        links.push(Link {
            link: Some(10),
            ..dev(11, "b", Some("vlan"))
        });
        assert!(fills_checksums(&links, 10).unwrap_err().contains("deep"));
    }

    /// Runs `f` on a thread of its own in a new, empty network namespace
    /// (just `lo`); `None` without root.
    fn in_new_netns<R: Send + 'static>(f: impl FnOnce() -> R + Send + 'static) -> Option<R> {
        std::thread::spawn(move || {
            // SAFETY: unshare(2) with a flag constant; it only affects this
            // thread, which ends with the test.
            (unsafe { libc::unshare(libc::CLONE_NEWNET) } == 0).then(f)
        })
        .join()
        .unwrap()
    }

    #[test]
    fn device_groups_are_set_and_refused_with_the_kernels_reason() {
        let Some(()) = in_new_netns(|| {
            let mut nl = RtNetlink::open().unwrap();
            let lo = links().unwrap().into_iter().find(|l| l.loopback).unwrap();
            assert_eq!(lo.group, 0);
            nl.set_group(lo.ifindex, 7).unwrap();
            let lo = links().unwrap().into_iter().find(|l| l.loopback).unwrap();
            assert_eq!(lo.group, 7);
            // Errors come back from the ACK, and the socket stays usable.
            let err = nl.set_group(999_999, 7).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ENODEV), "{err}");
            nl.set_group(lo.ifindex, 0).unwrap();
            assert_eq!(links().unwrap()[0].group, 0);
        }) else {
            eprintln!("skipped: needs root for a network namespace");
            return;
        };
    }

    #[test]
    fn route_to_loopback_uses_lo_and_lo_is_listed() {
        let oif = route_oif("127.0.0.1".parse().unwrap()).unwrap();
        let links = links().unwrap();
        let lo = links.iter().find(|l| l.ifindex == oif).unwrap();
        assert_eq!(lo.name, "lo");
        assert!(lo.loopback && lo.kind.is_none());
        assert!(fills_checksums(&links, oif).is_err());
    }
}
