//! 32 MiB each way across the Linux kernel's own L2TPv3 data plane
//! (l2tp_eth over l2tp_core, in a Debian kernel under qemu; see
//! tests/kernel-peer/README.md), which must accept every frame we send.
//!
//! One namespace holds the guest's TAP (`kb0`: 198.18.0.1/24 and
//! 2001:db8::1/64, the guest's eth0 is .2/::2) and our `l2tpd`; the
//! pseudowire devices are `pw0` (198.19.0.1) here and `l2tpeth0`
//! (198.19.0.2) in the guest, with permanent neighbour entries so nothing
//! but the transfer crosses. Three static pseudowires, one after the other:
//! UDP over IPv4 with 8-byte cookies and `seq both` (userspace path), IP
//! over IPv6 with 4-byte cookies (received on the tc-bpf fast path,
//! transmitted from userspace), and UDP over IPv4 with 4-byte cookies and
//! no sequencing (wholly on the fast path: the host kernel segments our
//! 64 KiB frames as UDP tunnel packets, L2TP header copied into each).
//!
//! For each, with the data plane's default switches (offloads on): 32 MiB
//! of xorshift output over TCP from our namespace into the guest
//! (`nc -l | sha256sum` there), then 32 MiB of /dev/urandom from the guest's
//! tmpfs (`nc < file`) to a receiver in our namespace; the SHA-256 of what
//! arrived must be that of what was sent. Then our->kernel again with the
//! `L2TP_DP_*` switches all set on (two queues) and all set off (which
//! includes the fast path: `L2TP_DP_TCBPF=0`), checked to
//! have reached the data plane (our TAP's `tun_flags` and queue count).
//! Each run gets a fresh daemon and fresh sessions on both ends (the
//! kernel's expected sequence number must start over with ours).
//!
//! After each transfer (counter deltas across it, error counters since
//! the session was made):
//! - the kernel's session and tunnel (l2tp_debugfs, loaded from the guest
//!   kernel's own package) received exactly the frames our session sent and
//!   counted no receive error, which covers its cookie, sequence and
//!   malformed-packet discards; l2tpeth0 passed every one of them on and
//!   has no rx/tx error or drop; the host TAP dropped nothing either way;
//! - our session counts no tx_errors, rx_seq_discards, rx_cookie_discards
//!   or rx_invalid, and received every frame the kernel's session sent;
//! - no TCP, UDP or IP checksum error on either side (our segmentation and
//!   coalescing write the inner checksums).
//!
//! Rates, frame counts, drops on our own TAP and TCP retransmissions (with
//! tail loss probes, which a TCG guest's late ACKs provoke without loss)
//! are printed; run with `--nocapture` to see them.
//!
//! `L2TP_SKIP_KERNEL_PEER=1` skips the test (scripts/test --quick).

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use l2tp_integration::bulk::{self, snmp_value, KernelL2tpStats, Rate};
use l2tp_integration::daemon::{Counters, Daemon};
use l2tp_integration::kernel_lab::{
    KernelLab, Pseudowire, KERNEL_ADDR, KERNEL_SID, KERNEL_TID, OUR_ADDR, OUR_DEV, OUR_SID, OUR_TID,
};
use l2tp_integration::kernel_peer::skip_requested;
use l2tp_integration::netns::LinkStats;

const TAP: &str = "kb0";
const SIZE: usize = 32 << 20;
const SEED: u64 = 0x6b62_756c_6b33_326d;
const TO_KERNEL_PORT: u16 = 5001;
const FROM_KERNEL_PORT: u16 = 5002;
/// Per transfer; a healthy one takes seconds even under TCG.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(240);
/// The guest's copy of what it sends us.
const GUEST_FILE: &str = "/tmp/kb.tx";

const IFF_VNET_HDR: u32 = 0x4000;
const IFF_MULTI_QUEUE: u32 = 0x0100;

/// Every switch of the data plane's fast path (crates/l2tp-dataplane,
/// `FastpathOptions::from_env`).
const DP_VARS: [&str; 8] = [
    "L2TP_DP_TCBPF",
    "L2TP_DP_OFFLOAD",
    "L2TP_DP_GSO",
    "L2TP_DP_GRO",
    "L2TP_DP_COALESCE",
    "L2TP_DP_VERIFY",
    "L2TP_DP_QUEUES",
    "L2TP_DP_INLINE_TX",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Offloads {
    /// Whatever l2tpd does with none of the variables set.
    Default,
    On,
    Off,
}

impl Offloads {
    fn env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Offloads::Default => &[],
            Offloads::On => &[
                ("L2TP_DP_TCBPF", "1"),
                ("L2TP_DP_OFFLOAD", "1"),
                ("L2TP_DP_GSO", "1"),
                ("L2TP_DP_GRO", "1"),
                ("L2TP_DP_COALESCE", "1"),
                ("L2TP_DP_VERIFY", "1"),
                ("L2TP_DP_INLINE_TX", "1"),
                ("L2TP_DP_QUEUES", "2"),
            ],
            Offloads::Off => &[
                ("L2TP_DP_TCBPF", "0"),
                ("L2TP_DP_OFFLOAD", "0"),
                ("L2TP_DP_GSO", "0"),
                ("L2TP_DP_GRO", "0"),
                ("L2TP_DP_COALESCE", "0"),
                ("L2TP_DP_INLINE_TX", "0"),
                ("L2TP_DP_QUEUES", "1"),
            ],
        }
    }

    fn label(self) -> &'static str {
        match self {
            Offloads::Default => "offloads default",
            Offloads::On => "offloads on",
            Offloads::Off => "offloads off",
        }
    }
}

/// The first runs on the userspace path (sequencing); the other two receive
/// on the tc-bpf fast path and transmit from userspace (its transmit half
/// is opt-in, see README: the kernel's l2tp_eth in the guest drops frames
/// whose inner checksum was left to offload).
const CONFIGS: [Pseudowire; 3] = [
    Pseudowire::matched(
        "udp",
        false,
        Some("0102030405060708"),
        Some("a1a2a3a4a5a6a7a8"),
        "default",
        true,
    ),
    Pseudowire::matched(
        "ip",
        true,
        Some("c1c2c3c4"),
        Some("d1d2d3d4"),
        "default",
        false,
    ),
    Pseudowire::matched(
        "udp",
        false,
        Some("e1e2e3e4"),
        Some("f1f2f3f4"),
        "default",
        false,
    ),
];

/// Which way the bytes flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dir {
    ToKernel,
    FromKernel,
}

impl std::fmt::Display for Dir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Dir::ToKernel => "to kernel",
            Dir::FromKernel => "from kernel",
        })
    }
}

/// Everything counted on both ends at one moment.
#[derive(Clone, Debug)]
struct Snapshot {
    ours: Counters,
    k_tunnel: KernelL2tpStats,
    k_session: KernelL2tpStats,
    /// l2tpeth0: rx_packets rx_bytes tx_packets tx_bytes rx_errors
    /// rx_dropped tx_errors tx_dropped.
    k_dev: [u64; 8],
    /// The guest's checksum error counters (IP-level drops included).
    k_csum: u64,
    /// Guest TCP retransmissions.
    k_retrans: u64,
    tap: LinkStats,
    /// Our pseudowire TAP: its tx_dropped counts frames the host stack
    /// queued for l2tpd that l2tpd did not read in time.
    pw: LinkStats,
    our_csum: u64,
    our_retrans: u64,
    /// Tail loss probes we sent: retransmissions that a slow (TCG) peer's
    /// late ACKs provoke without any loss.
    our_tlp: u64,
}

/// Checksum error counters of /proc/net/snmp (+ snmp6) summed.
fn csum_errors(snmp: &str) -> u64 {
    [
        ("Tcp", "InCsumErrors"),
        ("Udp", "InCsumErrors"),
        ("Ip", "InHdrErrors"),
        ("Udp6", "Udp6InCsumErrors"),
        ("Ip6", "Ip6InHdrErrors"),
    ]
    .iter()
    .filter_map(|(p, f)| snmp_value(snmp, p, f))
    .sum()
}

struct Lab {
    k: KernelLab,
}

impl Lab {
    fn snapshot(&mut self, d: &Daemon) -> Snapshot {
        let ours = d.session_counters(OUR_TID, OUR_SID);
        let out = self.k.guest(
            "cat /sys/kernel/debug/l2tp/tunnels; echo __KB_DEV; \
             cd /sys/class/net/l2tpeth0/statistics && cat rx_packets rx_bytes tx_packets \
             tx_bytes rx_errors rx_dropped tx_errors tx_dropped; echo __KB_SNMP; \
             cat /proc/net/snmp /proc/net/snmp6",
        );
        let (debugfs, rest) = out
            .split_once("__KB_DEV")
            .unwrap_or_else(|| panic!("no device section in {out:?}"));
        let (dev, snmp) = rest
            .split_once("__KB_SNMP")
            .unwrap_or_else(|| panic!("no snmp section in {out:?}"));
        let (k_tunnel, k_session) = KernelL2tpStats::parse(debugfs, KERNEL_TID, KERNEL_SID)
            .unwrap_or_else(|| {
                panic!("kernel session {KERNEL_TID}/{KERNEL_SID} not in debugfs:\n{debugfs}")
            });
        let k_dev: Vec<u64> = dev
            .split_whitespace()
            .map(|w| {
                w.parse()
                    .unwrap_or_else(|_| panic!("bad counter {w:?} in {dev:?}"))
            })
            .collect();
        let k_dev: [u64; 8] = k_dev
            .try_into()
            .unwrap_or_else(|_| panic!("want 8 l2tpeth0 counters, got {dev:?}"));
        let host_snmp = self.k.ns.sh_ok("cat /proc/net/snmp /proc/net/snmp6");
        let host_netstat = self.k.ns.sh_ok("cat /proc/net/netstat");
        Snapshot {
            ours,
            k_tunnel,
            k_session,
            k_dev,
            k_csum: csum_errors(snmp),
            k_retrans: snmp_value(snmp, "Tcp", "RetransSegs").unwrap_or(0),
            tap: self.k.ns.link_stats(TAP),
            pw: self.k.ns.link_stats(OUR_DEV),
            our_csum: csum_errors(&host_snmp),
            our_retrans: snmp_value(&host_snmp, "Tcp", "RetransSegs").unwrap_or(0),
            our_tlp: snmp_value(&host_netstat, "TcpExt", "TCPLossProbes").unwrap_or(0),
        }
    }

    /// Creates both ends of `c` with static neighbours and checks the
    /// pseudowire answers a ping.
    fn configure(&mut self, d: &Daemon, c: &Pseudowire) {
        self.k.add_pseudowire(d, c);
        self.k.static_neighbours();
        assert!(
            self.k
                .ns
                .wait_ping(&KERNEL_ADDR.to_string(), Duration::from_secs(10)),
            "{c}: no ping across the pseudowire"
        );
    }

    /// Our pseudowire TAP's `tun_flags` (IFF_*) and its queue count.
    fn tap_mode(&self) -> (u32, usize) {
        let out = self.k.ns.sh_ok(&format!(
            "cat /sys/class/net/{OUR_DEV}/tun_flags; ls /sys/class/net/{OUR_DEV}/queues"
        ));
        let mut lines = out.lines();
        let flags = lines
            .next()
            .and_then(|l| u32::from_str_radix(l.trim().trim_start_matches("0x"), 16).ok())
            .unwrap_or_else(|| panic!("no tun_flags for {OUR_DEV}: {out:?}"));
        let queues = lines.filter(|l| l.starts_with("tx-")).count();
        (flags, queues)
    }

    /// 32 MiB of `payload` from our namespace into the guest; the guest's
    /// digest of what it read must be `digest`.
    fn send_to_kernel(&mut self, what: &str, payload: &[u8], digest: &str) -> Rate {
        self.k.guest(&format!(
            "rm -f /tmp/kb.sum; \
             setsid bash -c 'nc -l -p {TO_KERNEL_PORT} </dev/null | sha256sum >/tmp/kb.sum.part; \
             mv /tmp/kb.sum.part /tmp/kb.sum' >/dev/null 2>&1 &"
        ));
        let to = SocketAddr::new(IpAddr::V4(KERNEL_ADDR), TO_KERNEL_PORT);
        let rate = bulk::send_all(&self.k.ns, to, payload, TRANSFER_TIMEOUT)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let (st, out) = self
            .k
            .vm
            .run_timeout(
                "for i in $(seq 1200); do [ -e /tmp/kb.sum ] && break; sleep 0.05; done; \
                 cat /tmp/kb.sum",
                Duration::from_secs(90),
            )
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(st, 0, "{what}: the guest's digest never came: {out}");
        let got =
            bulk::parse_digest(&out).unwrap_or_else(|| panic!("{what}: no digest in {out:?}"));
        assert_eq!(got, digest, "{what}: SHA-256 of what the kernel side read");
        rate
    }

    /// The guest's file to a receiver in our namespace; returns the
    /// receiver's rate after checking the digest.
    fn receive_from_kernel(&mut self, what: &str, digest: &str) -> Rate {
        let at = SocketAddr::new(IpAddr::V4(OUR_ADDR), FROM_KERNEL_PORT);
        let listener =
            bulk::listen(&self.k.ns, at).unwrap_or_else(|e| panic!("{what}: listen: {e}"));
        let (vm, ns) = (&mut self.k.vm, &self.k.ns);
        let (received, guest) = std::thread::scope(|s| {
            let rx = s.spawn(|| bulk::receive_all(&listener, SIZE, TRANSFER_TIMEOUT));
            let guest = vm.run_timeout(
                &format!("nc {OUR_ADDR} {FROM_KERNEL_PORT} < {GUEST_FILE}"),
                TRANSFER_TIMEOUT,
            );
            if !matches!(guest, Ok((0, _))) {
                // The guest never connected: wake the receiver with an
                // empty connection instead of letting it wait it out.
                let _ = ns.enter(|| std::net::TcpStream::connect(at));
            }
            (rx.join().expect("receiver thread"), guest)
        });
        let (st, out) = guest.unwrap_or_else(|e| panic!("{what}: guest nc: {e}"));
        assert_eq!(st, 0, "{what}: guest nc failed: {out}");
        let (data, rate) = received.unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(data.len(), SIZE, "{what}: bytes received");
        let got = bulk::sha256_hex(&data).expect("sha256sum");
        assert_eq!(got, digest, "{what}: SHA-256 of what we received");
        rate
    }
}

/// Every frame one side sent was taken by the other, and nobody counted
/// an error.
fn check_frames(what: &str, dir: Dir, a: &Snapshot, b: &Snapshot) {
    let ours = b.ours.since(&a.ours);
    let ks = b.k_session.since(&a.k_session);
    let kt = b.k_tunnel.since(&a.k_tunnel);
    let kdev: Vec<u64> = b.k_dev.iter().zip(a.k_dev).map(|(x, y)| x - y).collect();
    let tap_tx_drop = b.tap.tx_dropped - a.tap.tx_dropped;
    let tap_rx_drop = b.tap.rx_dropped - a.tap.rx_dropped;
    let pw_tx_drop = b.pw.tx_dropped - a.pw.tx_dropped;
    eprintln!(
        "  {what}: ours tx {} pkts {} B, rx {} pkts; kernel session rx {} pkts, tx {} pkts, \
         rx_errors {}; l2tpeth0 rx {} tx {}; {TAP} tx_dropped {tap_tx_drop} rx_dropped \
         {tap_rx_drop}; {OUR_DEV} tx_dropped {pw_tx_drop}; TCP retransmits ours {} (loss probes {}) kernel {}",
        ours.tx_packets,
        ours.tx_bytes,
        ours.rx_packets,
        ks.rx_packets,
        ks.tx_packets,
        ks.rx_errors,
        kdev[0],
        kdev[2],
        b.our_retrans - a.our_retrans,
        b.our_tlp - a.our_tlp,
        b.k_retrans - a.k_retrans,
    );
    let bulk_side = match dir {
        Dir::ToKernel => ours.tx_packets,
        Dir::FromKernel => ks.tx_packets,
    };
    assert!(
        bulk_side as usize > SIZE / 1500,
        "{what}: too few frames for {SIZE} bytes: ours {ours:?}, kernel {ks:?}"
    );
    // Ours: absolute, the session is fresh for this run.
    let o = &b.ours;
    assert_eq!(
        (
            o.tx_errors,
            o.rx_seq_discards,
            o.rx_cookie_discards,
            o.rx_invalid
        ),
        (0, 0, 0, 0),
        "{what}: our session's tx_errors, rx_seq_discards, rx_cookie_discards, rx_invalid: {o:?}"
    );
    assert_eq!(
        (
            b.k_session.rx_errors,
            b.k_tunnel.rx_errors,
            b.k_session.tx_errors
        ),
        (0, 0, 0),
        "{what}: kernel session rx_errors, tunnel rx_errors, session tx_errors"
    );
    assert_eq!(
        &b.k_dev[4..],
        &[0, 0, 0, 0],
        "{what}: kernel l2tpeth0 rx_errors rx_dropped tx_errors tx_dropped"
    );
    assert_eq!(
        tap_tx_drop, 0,
        "{what}: the host TAP dropped frames on the way to the guest"
    );
    assert_eq!(
        ks.rx_packets, ours.tx_packets,
        "{what}: the kernel's session received every frame we sent"
    );
    assert_eq!(
        kt.rx_packets, ours.tx_packets,
        "{what}: the kernel's tunnel received every frame we sent"
    );
    assert_eq!(
        kdev[0], ks.rx_packets,
        "{what}: l2tpeth0 passed on every frame its session received"
    );
    assert_eq!(
        tap_rx_drop, 0,
        "{what}: the host TAP dropped frames from the guest"
    );
    assert_eq!(
        ours.rx_packets, ks.tx_packets,
        "{what}: we received every frame the kernel's session sent"
    );
    assert_eq!(
        (b.k_csum - a.k_csum, b.our_csum - a.our_csum),
        (0, 0),
        "{what}: checksum/header errors (kernel, ours)"
    );
}

#[test]
fn kernel_peer_bulk_32mib_each_way() {
    if skip_requested() {
        return;
    }
    let started = Instant::now();
    let mut lab = Lab {
        k: KernelLab::start("kbulk", TAP),
    };
    bulk::load_kernel_module(&mut lab.k.vm, "l2tp_debugfs").expect("loading l2tp_debugfs");

    let t = Instant::now();
    let payload = bulk::pattern(SIZE, SEED);
    let payload_digest = bulk::sha256_hex(&payload).expect("sha256sum");
    let out = lab.k.guest(&format!(
        "head -c {SIZE} /dev/urandom > {GUEST_FILE} && sha256sum {GUEST_FILE}"
    ));
    let guest_digest = bulk::parse_digest(&out).unwrap_or_else(|| panic!("no digest: {out}"));
    eprintln!("payloads ready in {:?}", t.elapsed());

    let mut results = Vec::new();
    for c in &CONFIGS {
        for mode in [Offloads::Default, Offloads::On, Offloads::Off] {
            let t0 = Instant::now();
            let d = Daemon::start_with_env(&lab.k.ns, mode.env(), &DP_VARS);
            lab.configure(&d, c);
            let (flags, queues) = lab.tap_mode();
            eprintln!(
                "{c}, {}: {OUR_DEV} tun_flags {flags:#x} (vnet_hdr {}, multi_queue {}), {queues} queue(s)",
                mode.label(),
                flags & IFF_VNET_HDR != 0,
                flags & IFF_MULTI_QUEUE != 0
            );
            // The switches must reach the data plane, or the on/off runs
            // would measure the same thing twice.
            match mode {
                Offloads::On => assert!(
                    flags & IFF_VNET_HDR != 0 && queues == 2,
                    "{c}: L2TP_DP_OFFLOAD=1 L2TP_DP_QUEUES=2 gave tun_flags {flags:#x}, {queues} queue(s)"
                ),
                Offloads::Off => assert!(
                    flags & IFF_VNET_HDR == 0 && queues == 1,
                    "{c}: L2TP_DP_OFFLOAD=0 L2TP_DP_QUEUES=1 gave tun_flags {flags:#x}, {queues} queue(s)"
                ),
                Offloads::Default => {}
            }
            let dirs: &[Dir] = if mode == Offloads::Default {
                &[Dir::ToKernel, Dir::FromKernel]
            } else {
                &[Dir::ToKernel]
            };
            for &dir in dirs {
                let what = format!("{c}, {}, {dir}", mode.label());
                // Let the ping's last frames land before counting.
                std::thread::sleep(Duration::from_millis(300));
                let before = lab.snapshot(&d);
                let rate = match dir {
                    Dir::ToKernel => lab.send_to_kernel(&what, &payload, &payload_digest),
                    Dir::FromKernel => lab.receive_from_kernel(&what, &guest_digest),
                };
                std::thread::sleep(Duration::from_millis(300));
                let after = lab.snapshot(&d);
                eprintln!("{what}: {rate}");
                check_frames(&what, dir, &before, &after);
                results.push((what, rate));
            }
            lab.k.remove_pseudowire(&d);
            let mut d = d;
            if !d.stop() {
                eprintln!("  note: l2tpd did not exit 0 on SIGTERM");
            }
            eprintln!("  run took {:?}", t0.elapsed());
        }
    }
    eprintln!("kernel bulk done in {:?}", started.elapsed());
    for (what, rate) in &results {
        eprintln!(
            "  {what:<80} {:>7.1} Mbit/s ({:.2} s)",
            rate.mbit_per_s(),
            rate.elapsed.as_secs_f64()
        );
    }
}
