//! The kernel peer as the far end of static L2TPv3 pseudowires from our
//! `l2tpd`: the topology the kernel interop and kernel bulk tests share.
//!
//! One namespace holds the guest's TAP (198.18.0.1/24 and 2001:db8::1/64;
//! the guest's eth0 is .2/::2) and the tests' `l2tpd`. IPv6 is on only on
//! that underlay, so no router solicitation or MLD report crosses a
//! pseudowire. A pseudowire joins our tunnel [`OUR_TID`], session
//! [`OUR_SID`] (device [`OUR_DEV`], [`OUR_ADDR`]/24) to the kernel's tunnel
//! [`KERNEL_TID`], session [`KERNEL_SID`] (`l2tpeth0`, [`KERNEL_ADDR`]/24).

use std::net::Ipv4Addr;
use std::time::Duration;

use crate::daemon::Daemon;
use crate::kernel_peer::{BootOptions, KernelPeer};
use crate::netns::{mac_string, Netns};

pub const OUR_TID: u32 = 1;
pub const KERNEL_TID: u32 = 2;
pub const OUR_SID: u32 = 1001;
pub const KERNEL_SID: u32 = 2001;
pub const OUR_DEV: &str = "pw0";
pub const OUR_ADDR: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 1);
pub const KERNEL_ADDR: Ipv4Addr = Ipv4Addr::new(198, 19, 0, 2);

/// Both ends of one pseudowire. Each end's cookies are set on their own so
/// that mismatches can be built; [`Pseudowire::matched`] makes them agree.
#[derive(Clone, Copy, Debug)]
pub struct Pseudowire {
    /// `udp` or `ip`.
    pub encap: &'static str,
    /// Over the IPv6 underlay instead of IPv4.
    pub v6: bool,
    /// The cookie we send, as hex.
    pub our_cookie: Option<&'static str>,
    /// The cookie we expect.
    pub our_peer_cookie: Option<&'static str>,
    /// The cookie the kernel sends.
    pub kernel_cookie: Option<&'static str>,
    /// The cookie the kernel expects.
    pub kernel_peer_cookie: Option<&'static str>,
    /// `l2spec_type`: `default` or `none`.
    pub l2spec: &'static str,
    /// `seq both` (else `seq none`).
    pub seq: bool,
}

impl Pseudowire {
    /// Matching cookies: we send `ours`, the kernel sends `kernels`.
    pub const fn matched(
        encap: &'static str,
        v6: bool,
        ours: Option<&'static str>,
        kernels: Option<&'static str>,
        l2spec: &'static str,
        seq: bool,
    ) -> Pseudowire {
        Pseudowire {
            encap,
            v6,
            our_cookie: ours,
            our_peer_cookie: kernels,
            kernel_cookie: kernels,
            kernel_peer_cookie: ours,
            l2spec,
            seq,
        }
    }

    /// L2TP header bytes in front of each frame sent with `cookie`: the
    /// UDP flags word, session ID, cookie and sublayer (the kernel's
    /// `hdr_len`).
    pub fn l2tp_header(&self, cookie: Option<&str>) -> u32 {
        let udp = if self.encap == "udp" { 4 } else { 0 };
        let sublayer = if self.l2spec == "default" { 4 } else { 0 };
        udp + 4 + cookie.map_or(0, |c| c.len() as u32 / 2) + sublayer
    }

    /// Every byte the underlay adds to a frame sent with `cookie`, plus
    /// the inner Ethernet header: 1500 minus this is the device MTU.
    pub fn overhead(&self, cookie: Option<&str>) -> u32 {
        let ip = if self.v6 { 40 } else { 20 };
        let udp = if self.encap == "udp" { 8 } else { 0 };
        ip + udp + self.l2tp_header(cookie) + 14
    }

    fn seq_word(&self) -> &'static str {
        if self.seq {
            "both"
        } else {
            "none"
        }
    }
}

impl std::fmt::Display for Pseudowire {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = |c: Option<&str>| c.map_or(0, |c| c.len() / 2);
        write!(
            f,
            "encap {} {} cookie {}/{} l2spec {} seq {}",
            self.encap,
            if self.v6 { "IPv6" } else { "IPv4" },
            len(self.our_cookie),
            len(self.kernel_cookie),
            self.l2spec,
            self.seq_word()
        )
    }
}

/// The guest and the namespace holding its TAP. Fields drop in order: the
/// guest powers off, then the namespace goes.
pub struct KernelLab {
    pub vm: KernelPeer,
    pub ns: Netns,
}

impl KernelLab {
    /// A namespace `l2it-TAG-...` with the guest's NIC on TAP `tap` in it,
    /// the underlay addressed on both ends and answering ping over IPv4
    /// and IPv6.
    pub fn start(tag: &str, tap: &str) -> KernelLab {
        let ns = Netns::new(tag);
        // Devices created from now on (the TAP qemu makes, our session
        // TAPs) start without IPv6; the underlay TAP gets it back below.
        ns.sysctl(&["net.ipv6.conf.default.disable_ipv6=1"]);
        let opts = BootOptions {
            kernel_args: "kpeer.noipv6=1".into(),
            ..BootOptions::default()
        };
        let vm = KernelPeer::boot_with(&ns.name, tap, &opts).expect("booting the kernel peer");
        eprintln!("kernel peer booted in {:?}", vm.boot_time());
        let mut lab = KernelLab { vm, ns };
        lab.ns
            .sysctl(&[&format!("net.ipv6.conf.{tap}.disable_ipv6=0")]);
        lab.ns.sh_ok(&format!(
            "ip addr add 198.18.0.1/24 dev {tap} && ip addr add 2001:db8::1/64 dev {tap} nodad"
        ));
        lab.guest(
            "sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0 && \
             ip addr add 198.18.0.2/24 dev eth0 && ip addr add 2001:db8::2/64 dev eth0",
        );
        for addr in ["198.18.0.2", "2001:db8::2"] {
            assert!(
                lab.ns.wait_ping(addr, Duration::from_secs(10)),
                "guest not reachable at {addr} on the underlay"
            );
        }
        lab
    }

    /// Runs `cmd` in the guest; panics with its output unless it exits 0.
    pub fn guest(&mut self, cmd: &str) -> String {
        self.vm.run_ok(cmd).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Creates both ends of `pw` (ours through `d`), sets the kernel's
    /// device up and addresses both devices.
    pub fn add_pseudowire(&mut self, d: &Daemon, pw: &Pseudowire) {
        let (local, remote) = if pw.v6 {
            ("2001:db8::1", "2001:db8::2")
        } else {
            ("198.18.0.1", "198.18.0.2")
        };
        let ports = if pw.encap == "udp" {
            " udp_sport 1701 udp_dport 1701"
        } else {
            ""
        };
        let seq = pw.seq_word();
        let cookies = |send: Option<&str>, expect: Option<&str>| {
            let mut s = String::new();
            if let Some(k) = send {
                s += &format!(" cookie {k}");
            }
            if let Some(k) = expect {
                s += &format!(" peer_cookie {k}");
            }
            s
        };
        d.l2tp_ok(&format!(
            "add tunnel tunnel_id {OUR_TID} peer_tunnel_id {KERNEL_TID} encap {} local {local} \
             remote {remote}{ports}",
            pw.encap
        ));
        d.l2tp_ok(&format!(
            "add session name {OUR_DEV} tunnel_id {OUR_TID} session_id {OUR_SID} \
             peer_session_id {KERNEL_SID} l2spec_type {} seq {seq}{}",
            pw.l2spec,
            cookies(pw.our_cookie, pw.our_peer_cookie)
        ));
        self.ns
            .sh_ok(&format!("ip addr add {OUR_ADDR}/24 dev {OUR_DEV}"));
        self.guest(&format!(
            "ip l2tp add tunnel tunnel_id {KERNEL_TID} peer_tunnel_id {OUR_TID} encap {} \
             local {remote} remote {local}{ports} && \
             ip l2tp add session name l2tpeth0 tunnel_id {KERNEL_TID} session_id {KERNEL_SID} \
             peer_session_id {OUR_SID} l2spec_type {} seq {seq}{} && \
             ip link set l2tpeth0 up && ip addr add {KERNEL_ADDR}/24 dev l2tpeth0",
            pw.encap,
            pw.l2spec,
            cookies(pw.kernel_cookie, pw.kernel_peer_cookie)
        ));
    }

    /// Permanent neighbour entries both ways, so no ARP crosses.
    pub fn static_neighbours(&mut self) {
        let our_mac = mac_string(&self.ns.mac(OUR_DEV));
        let kernel_mac = self.guest("cat /sys/class/net/l2tpeth0/address");
        self.ns.sh_ok(&format!(
            "ip neigh replace {KERNEL_ADDR} lladdr {} dev {OUR_DEV} nud permanent",
            kernel_mac.trim()
        ));
        self.guest(&format!(
            "ip neigh replace {OUR_ADDR} lladdr {our_mac} dev l2tpeth0 nud permanent"
        ));
    }

    /// Deletes both ends' tunnels; both devices must go with them.
    pub fn remove_pseudowire(&mut self, d: &Daemon) {
        self.guest(&format!("ip l2tp del tunnel tunnel_id {KERNEL_TID}"));
        d.l2tp_ok(&format!("del tunnel tunnel_id {OUR_TID}"));
        assert!(!self.ns.has_link(OUR_DEV));
        self.guest("! ip link show l2tpeth0 2>/dev/null");
    }
}
