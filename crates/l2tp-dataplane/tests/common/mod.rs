//! Test fixtures with real parts: network namespaces joined by veth, a
//! data plane running inside each, AF_PACKET sockets on the TAP devices.
#![allow(dead_code)]

use std::fs::File;
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use l2tp_dataplane::{FastpathOptions, UserspaceDataplane};

/// Runs a command, panicking with its output if it fails.
pub fn sh(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("running {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a command inside namespace `ns`.
pub fn ns_sh(ns: &str, args: &[&str]) -> Output {
    let mut v = vec!["ip", "netns", "exec", ns];
    v.extend_from_slice(args);
    sh(&v)
}

/// Same as [`ns_sh`] but returns the output whatever the exit status.
pub fn ns_try(ns: &str, args: &[&str]) -> Output {
    Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .expect("running ip netns exec")
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A unique short tag for names (namespace names, veth names <= 15 bytes).
pub fn tag() -> String {
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("{}{}", std::process::id() % 100_000, n)
}

/// A network namespace removed on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(name: String) -> Self {
        sh(&["ip", "netns", "add", &name]);
        let ns = Self { name };
        ns_sh(&ns.name, &["ip", "link", "set", "lo", "up"]);
        ns
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Two namespaces joined by a veth pair: A has 198.18.<n>.1 and
/// 2001:db8:<n>::1, B has .2 / ::2. TAP devices created later get no IPv6
/// (so they stay silent unless a test sends something).
pub struct Pair {
    pub a: Netns,
    pub b: Netns,
    pub a4: std::net::IpAddr,
    pub b4: std::net::IpAddr,
    pub a6: std::net::IpAddr,
    pub b6: std::net::IpAddr,
}

impl Pair {
    /// `n` picks the underlay subnet (keep distinct across concurrent tests).
    pub fn new(n: u8) -> Self {
        let t = tag();
        let a = Netns::new(format!("l2dp{t}a"));
        let b = Netns::new(format!("l2dp{t}b"));
        sh(&[
            "ip", "link", "add", "vdpa", "netns", &a.name, "type", "veth", "peer", "name", "vdpb",
            "netns", &b.name,
        ]);
        for (ns, dev, host) in [(&a, "vdpa", 1), (&b, "vdpb", 2)] {
            ns_sh(
                &ns.name,
                &[
                    "ip",
                    "addr",
                    "add",
                    &format!("198.18.{n}.{host}/24"),
                    "dev",
                    dev,
                ],
            );
            ns_sh(
                &ns.name,
                &[
                    "ip",
                    "addr",
                    "add",
                    &format!("2001:db8:{n}::{host}/64"),
                    "dev",
                    dev,
                    "nodad",
                ],
            );
            ns_sh(&ns.name, &["ip", "link", "set", dev, "up"]);
            ns_sh(
                &ns.name,
                &["sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"],
            );
        }
        Self {
            a4: format!("198.18.{n}.1").parse().unwrap(),
            b4: format!("198.18.{n}.2").parse().unwrap(),
            a6: format!("2001:db8:{n}::1").parse().unwrap(),
            b6: format!("2001:db8:{n}::2").parse().unwrap(),
            a,
            b,
        }
    }
}

/// Moves the calling thread into namespace `ns`.
pub fn enter_netns(ns: &str) -> io::Result<()> {
    let f = File::open(format!("/var/run/netns/{ns}"))?;
    // SAFETY: plain syscall on a descriptor we own for the call's duration.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

type Job = Box<dyn FnOnce(&mut UserspaceDataplane) + Send>;

/// A [`UserspaceDataplane`] living on a thread inside a namespace (its
/// sockets, devices and workers are all created there).
pub struct NsDataplane {
    tx: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
    pub ns: String,
}

impl NsDataplane {
    pub fn spawn(ns: &str) -> Self {
        Self::spawn_with(ns, FastpathOptions::from_env())
    }

    /// Like [`spawn`](Self::spawn) with explicit fast-path options.
    pub fn spawn_with(ns: &str, opts: FastpathOptions) -> Self {
        let (tx, rx) = mpsc::channel::<Job>();
        let name = ns.to_string();
        let thread = std::thread::spawn(move || {
            enter_netns(&name).expect("setns");
            let mut dp = UserspaceDataplane::with_options(opts);
            for job in rx {
                job(&mut dp);
            }
            // `dp` drops here, inside the namespace.
        });
        Self {
            tx: Some(tx),
            thread: Some(thread),
            ns: ns.to_string(),
        }
    }

    /// Runs `f` on the namespace thread and returns its result.
    pub fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut UserspaceDataplane) -> R + Send + 'static,
    ) -> R {
        let (rtx, rrx) = mpsc::channel();
        self.tx
            .as_ref()
            .unwrap()
            .send(Box::new(move |dp| {
                let _ = rtx.send(f(dp));
            }))
            .expect("namespace thread gone");
        rrx.recv().expect("namespace thread panicked")
    }
}

impl Drop for NsDataplane {
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// An AF_PACKET socket bound to one device and one EtherType. Created on a
/// namespace thread (via [`NsDataplane::run`]), usable from any thread.
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
}

fn sockaddr_ll(ifindex: u32, ethertype: u16) -> libc::sockaddr_ll {
    // SAFETY: sockaddr_ll is plain old data; zero is valid.
    let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ethertype.to_be();
    sll.sll_ifindex = ifindex as i32;
    sll
}

impl PacketSocket {
    pub fn open(ifindex: u32, ethertype: u16) -> io::Result<Self> {
        // SAFETY: plain syscall with integer arguments.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                i32::from(ethertype.to_be()),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fresh descriptor, owned from here on.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let sll = sockaddr_ll(ifindex, ethertype);
        // SAFETY: pointer/length describe the sockaddr_ll above.
        let r = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        let s = Self { fd, ifindex };
        s.set_timeout(Duration::from_secs(2));
        Ok(s)
    }

    pub fn set_timeout(&self, d: Duration) {
        let tv = libc::timeval {
            tv_sec: d.as_secs() as libc::time_t,
            tv_usec: d.subsec_micros() as libc::suseconds_t,
        };
        // SAFETY: pointer/length describe the timeval above.
        unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                size_of::<libc::timeval>() as u32,
            )
        };
    }

    /// Transmits a complete Ethernet frame on the device.
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: pointer/length describe `frame`.
        let r = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Next frame received by the device (outgoing ones skipped); `None` on
    /// timeout.
    pub fn recv(&self) -> Option<Vec<u8>> {
        let mut buf = vec![0u8; 70_000];
        loop {
            let mut sll = sockaddr_ll(0, 0);
            let mut len = size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: buffer and address pointers/lengths describe live memory.
            let r = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    0,
                    (&mut sll as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            if r < 0 {
                return None;
            }
            if sll.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            buf.truncate(r as usize);
            return Some(buf);
        }
    }

    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }
}

/// A broadcast Ethernet frame with EtherType 0x88b5 (local experimental)
/// whose payload encodes `tag` and is padded to `len` bytes in total.
pub fn test_frame(tag: u32, len: usize) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0x02, 0x00, 0x5e, 0x10, 0x20, 0x30]);
    f.extend_from_slice(&0x88b5u16.to_be_bytes());
    f.extend_from_slice(&tag.to_be_bytes());
    let mut i = 0u8;
    while f.len() < len {
        f.push(i);
        i = i.wrapping_mul(31).wrapping_add(7);
    }
    f
}

/// Number of threads of this process.
pub fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Whether device `name` exists in namespace `ns`.
pub fn device_exists(ns: &str, name: &str) -> bool {
    ns_try(ns, &["ip", "link", "show", "dev", name])
        .status
        .success()
}
