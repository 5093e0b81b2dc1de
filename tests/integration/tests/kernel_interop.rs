//! Interop with the Linux kernel's own L2TPv3 data plane (l2tp_eth over
//! l2tp_core, l2tp_ip, l2tp_ip6), booted under qemu (see
//! tests/kernel-peer/README.md).
//!
//! One namespace holds the guest's TAP (`kt0`, 198.18.0.1/24 and
//! 2001:db8::1/64; the guest's eth0 is .2/::2) and our `l2tpd`. The guest
//! side is configured with `ip l2tp`, ours with `l2tp`, then torn down and
//! recreated for the next configuration. One VM per test function.
//!
//! - `kernel_peer_pseudowires_carry_ping_and_tcp`: UDP and IP
//!   encapsulation over IPv4 and IPv6, 4- and 8-byte cookies (also of
//!   different lengths per direction), the default sublayer with `seq
//!   both`, and plain sessions. Each end's device MTU is 1500 minus the
//!   headers it sends (as l2tp_eth computes it); pings pass both ways,
//!   also with the largest frame both devices take (DF set); 3 s of
//!   iperf3 TCP each way runs above a floor with no error or discard.
//! - `kernel_peer_cookie_mismatch_and_counters`: with static neighbours
//!   and IPv6 off on the pseudowire devices (so only pings cross), our
//!   session counters and the kernel's l2tpeth0 device counters move by
//!   exactly the same packets, and by the same bytes once the kernel's way
//!   of counting received bytes (L2TP header included) is allowed for. A
//!   kernel `peer_cookie` that does not match what we send stops our
//!   frames at the kernel (they reach its eth0, not l2tpeth0); a wrong
//!   `peer_cookie` of ours stops the kernel's frames and counts each in
//!   our rx_cookie_discards. `ip l2tp` shows no per-session statistics,
//!   so the kernel's side is read from its devices.
//!
//! `L2TP_SKIP_KERNEL_PEER=1` skips these tests (scripts/test --quick).

use std::time::{Duration, Instant};

use l2tp_integration::daemon::{Counters, Daemon};
use l2tp_integration::kernel_lab::{
    KernelLab, Pseudowire, KERNEL_ADDR, OUR_ADDR, OUR_DEV, OUR_SID, OUR_TID,
};
use l2tp_integration::kernel_peer::skip_requested;

const TAP: &str = "kt0";

/// The guest, our daemon and their namespace. Fields drop in order: the
/// daemon stops, the guest powers off, the namespace goes.
struct Lab {
    d: Daemon,
    k: KernelLab,
}

impl Lab {
    fn start(tag: &str) -> Lab {
        let k = KernelLab::start(tag, TAP);
        let d = Daemon::start(&k.ns);
        Lab { d, k }
    }

    /// Kernel device counters: rx_packets, rx_bytes, tx_packets, tx_bytes,
    /// rx_errors, tx_dropped.
    fn guest_stats(&mut self, dev: &str) -> [u64; 6] {
        let out = self.k.guest(&format!(
            "cd /sys/class/net/{dev}/statistics && cat rx_packets rx_bytes tx_packets tx_bytes \
             rx_errors tx_dropped"
        ));
        let v: Vec<u64> = out
            .split_whitespace()
            .map(|w| {
                w.parse()
                    .unwrap_or_else(|_| panic!("bad counter {w:?} in {out:?}"))
            })
            .collect();
        v.try_into()
            .unwrap_or_else(|_| panic!("want 6 counters of {dev}, got {out:?}"))
    }

    fn ours(&self) -> Counters {
        self.d.session_counters(OUR_TID, OUR_SID)
    }

    /// Creates both ends of `c` and returns the smaller of the two device
    /// MTUs.
    fn configure(&mut self, c: &Pseudowire) -> u32 {
        self.k.add_pseudowire(&self.d, c);
        let kernel_mtu: u32 = self
            .k
            .guest("cat /sys/class/net/l2tpeth0/mtu")
            .trim()
            .parse()
            .expect("l2tpeth0 mtu");
        let our_mtu = self.k.ns.mtu(OUR_DEV);
        // Each end sizes its device for the header it sends, so the two
        // differ when the cookies do.
        assert_eq!(
            (our_mtu, kernel_mtu),
            (
                1500 - c.overhead(c.our_cookie),
                1500 - c.overhead(c.kernel_cookie)
            ),
            "{c}: (our MTU, the kernel's)"
        );
        our_mtu.min(kernel_mtu)
    }

    fn teardown(&mut self) {
        self.k.remove_pseudowire(&self.d);
    }
}

/// Runs iperf3 (TCP, 3 s) from our namespace to the guest's server;
/// returns the receiver's bits per second.
fn iperf(lab: &Lab, c: &Pseudowire, reverse: bool) -> f64 {
    let out = lab.k.ns.sh(&format!(
        "timeout 60 iperf3 -c {KERNEL_ADDR} -t 3 -J --connect-timeout 10000{}",
        if reverse { " -R" } else { "" }
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "{c}: iperf3 gave no JSON ({e}, {}):\n{text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success() && v.get("error").is_none(),
        "{c}: iperf3{} failed ({}): {}",
        if reverse { " -R" } else { "" },
        out.status,
        v.get("error").unwrap_or(&serde_json::Value::Null)
    );
    v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or_else(|| panic!("{c}: no end.sum_received.bits_per_second in {text}"))
}

fn ping_ok(lab: &mut Lab, c: &Pseudowire, mtu: u32) {
    let out = lab.k.ns.sh(&format!("ping -c 3 -i 0.2 -W 3 {KERNEL_ADDR}"));
    assert!(
        out.status.success(),
        "{c}: ping from our side failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (st, text) = lab
        .k
        .vm
        .run(&format!("ping -c 3 -i 0.2 -W 3 {OUR_ADDR}"))
        .unwrap();
    assert_eq!(st, 0, "{c}: ping from the kernel side failed:\n{text}");
    // The largest frame each side takes, unfragmented (DF), both ways.
    let big = mtu - 28;
    let out = lab.k.ns.sh(&format!(
        "ping -c 2 -i 0.2 -W 3 -M do -s {big} {KERNEL_ADDR}"
    ));
    assert!(
        out.status.success(),
        "{c}: MTU-sized ping ({big} data bytes) from our side failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (st, text) = lab
        .k
        .vm
        .run(&format!("ping -c 2 -i 0.2 -W 3 -M do -s {big} {OUR_ADDR}"))
        .unwrap();
    assert_eq!(
        st, 0,
        "{c}: MTU-sized ping from the kernel side failed:\n{text}"
    );
}

/// Below this the pseudowire is broken, not slow (TCG is slow: tens to
/// hundreds of Mbit/s are normal).
const FLOOR_BPS: f64 = 1e6;

#[test]
fn kernel_peer_pseudowires_carry_ping_and_tcp() {
    if skip_requested() {
        return;
    }
    let started = Instant::now();
    let mut lab = Lab::start("kia");
    lab.k.guest("iperf3 -s -D");
    let configs = [
        Pseudowire::matched(
            "udp",
            false,
            Some("0102030405060708"),
            Some("1112131415161718"),
            "default",
            true,
        ),
        Pseudowire::matched(
            "udp",
            true,
            Some("a1a2a3a4"),
            Some("b1b2b3b4"),
            "default",
            true,
        ),
        Pseudowire::matched(
            "ip",
            false,
            Some("c1c2c3c4"),
            Some("d1d2d3d4d5d6d7d8"),
            "default",
            true,
        ),
        Pseudowire::matched(
            "ip",
            true,
            Some("e1e2e3e4e5e6e7e8"),
            Some("f1f2f3f4f5f6f7f8"),
            "default",
            true,
        ),
        Pseudowire::matched("udp", false, None, None, "none", false),
        Pseudowire::matched("ip", true, None, None, "default", false),
    ];
    let mut results = Vec::new();
    for c in &configs {
        let t0 = Instant::now();
        let mtu = lab.configure(c);
        ping_ok(&mut lab, c, mtu);
        let up = iperf(&lab, c, false);
        let down = iperf(&lab, c, true);
        let ours = lab.ours();
        let kernel = lab.guest_stats("l2tpeth0");
        let tap = lab.k.ns.link_stats(TAP);
        let drops_text = lab.k.ns.sh_ok(
            "nstat -asz UdpRcvbufErrors Udp6RcvbufErrors; \
             awk 'FNR > 1 { d += $NF } END { print \"raw socket drops\", d + 0 }' \
             /proc/net/raw /proc/net/raw6",
        );
        let socket_drops = drops_text.split_once('\n').unwrap_or_default().1;
        lab.teardown();
        eprintln!(
            "{c}: mtu {mtu}, iperf3 to kernel {:.1} Mbit/s, from kernel {:.1} Mbit/s ({:?}); \
             ours {ours:?}; kernel l2tpeth0 rx/tx packets {}/{}; {TAP} rx_dropped {} \
             tx_dropped {}; {}",
            up / 1e6,
            down / 1e6,
            t0.elapsed(),
            kernel[0],
            kernel[2],
            tap.rx_dropped,
            tap.tx_dropped,
            socket_drops
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        );
        results.push((c.to_string(), up, down));
        assert!(up > FLOOR_BPS, "{c}: {up} bit/s to the kernel");
        assert!(down > FLOOR_BPS, "{c}: {down} bit/s from the kernel");
        assert_eq!(
            (
                ours.tx_errors,
                ours.rx_cookie_discards,
                ours.rx_seq_discards,
                ours.rx_invalid
            ),
            (0, 0, 0, 0),
            "{c}: our session counted errors: {ours:?}"
        );
        assert!(
            ours.rx_packets > 1000 && ours.tx_packets > 1000,
            "{c}: {ours:?}"
        );
        assert_eq!(
            (kernel[4], kernel[5]),
            (0, 0),
            "{c}: kernel l2tpeth0 rx_errors/tx_dropped"
        );
    }
    eprintln!("kernel interop matrix done in {:?}", started.elapsed());
    for (c, up, down) in results {
        eprintln!(
            "  {c:<45} to kernel {:>7.1} Mbit/s  from kernel {:>7.1} Mbit/s",
            up / 1e6,
            down / 1e6
        );
    }
}

#[test]
fn kernel_peer_cookie_mismatch_and_counters() {
    if skip_requested() {
        return;
    }
    let mut lab = Lab::start("kib");
    const N: u64 = 20;
    let (ours_k, kernels_k, wrong) = ("0102030405060708", "a1a2a3a4a5a6a7a8", "dead0000beef0000");
    let good = Pseudowire::matched(
        "udp",
        false,
        Some(ours_k),
        Some(kernels_k),
        "default",
        false,
    );

    // 1. Matching cookies: counters agree with the kernel's, packet for
    //    packet and byte for byte, over UDP/IPv4 and IP/IPv6.
    for c in [
        good,
        Pseudowire::matched(
            "ip",
            true,
            Some("11223344"),
            Some("55667788"),
            "default",
            true,
        ),
    ] {
        lab.configure(&c);
        lab.k.static_neighbours();
        // What iproute2 offers for the kernel's session statistics (no
        // counters, as of iproute2 6.1; logged for the record).
        let shown = lab.k.guest("ip -s l2tp show session");
        eprintln!("kernel `ip -s l2tp show session`:\n{shown}");
        std::thread::sleep(Duration::from_millis(300));
        let (o0, k0) = (lab.ours(), lab.guest_stats("l2tpeth0"));
        let out = lab
            .k
            .ns
            .sh(&format!("ping -c {N} -i 0.05 -W 3 {KERNEL_ADDR}"));
        assert!(
            out.status.success(),
            "{c}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        std::thread::sleep(Duration::from_millis(300));
        let (o1, k1) = (lab.ours(), lab.guest_stats("l2tpeth0"));
        let o = o1.since(&o0);
        let k: Vec<u64> = k1.iter().zip(k0).map(|(a, b)| a - b).collect();
        eprintln!(
            "{c}: {N} pings: ours {o:?}; kernel l2tpeth0 rx {} pkts {} B, tx {} pkts {} B",
            k[0], k[1], k[2], k[3]
        );
        assert_eq!(
            o.tx_packets, N,
            "{c}: our tx_packets moved by the pings only"
        );
        assert_eq!(
            o.rx_packets, N,
            "{c}: our rx_packets moved by the replies only"
        );
        // 98-byte frames: Ethernet 14 + IPv4 20 + ICMP 8 + 56 data.
        assert_eq!(o.tx_bytes, 98 * N, "{c}");
        // l2tp_eth counts received bytes as the whole L2TP packet (its
        // data_len: header, cookie, sublayer and frame) but sent bytes as
        // the frame; we count frames both ways.
        let hdr = u64::from(c.l2tp_header(c.our_cookie));
        assert_eq!(
            (k[0], k[1]),
            (o.tx_packets, o.tx_bytes + hdr * o.tx_packets),
            "{c}: kernel l2tpeth0 received what we sent"
        );
        assert_eq!(
            (k[2], k[3]),
            (o.rx_packets, o.rx_bytes),
            "{c}: we received what kernel l2tpeth0 sent"
        );
        lab.teardown();
    }

    // 2. The kernel expects a cookie we do not send: our frames reach its
    //    eth0 and stop there; its frames still reach us.
    let c = Pseudowire {
        kernel_peer_cookie: Some(wrong),
        ..good
    };
    lab.configure(&c);
    lab.k.static_neighbours();
    std::thread::sleep(Duration::from_millis(300));
    let (o0, k0, e0) = (
        lab.ours(),
        lab.guest_stats("l2tpeth0"),
        lab.guest_stats("eth0"),
    );
    let out = lab
        .k
        .ns
        .sh(&format!("ping -c {N} -i 0.05 -W 1 {KERNEL_ADDR}"));
    assert!(!out.status.success(), "{c}: ping must fail");
    let (st, _) = lab
        .k
        .vm
        .run(&format!("ping -c {N} -i 0.05 -W 1 {OUR_ADDR}"))
        .unwrap();
    assert_ne!(st, 0, "{c}: ping from the kernel must fail");
    std::thread::sleep(Duration::from_millis(300));
    let (o1, k1, e1) = (
        lab.ours(),
        lab.guest_stats("l2tpeth0"),
        lab.guest_stats("eth0"),
    );
    let o = o1.since(&o0);
    eprintln!(
        "{c}: ours {o:?}; kernel l2tpeth0 rx {} tx {}; eth0 rx {}",
        k1[0] - k0[0],
        k1[2] - k0[2],
        e1[0] - e0[0]
    );
    assert_eq!(
        k1[0] - k0[0],
        0,
        "{c}: kernel l2tpeth0 must receive nothing"
    );
    assert!(
        e1[0] - e0[0] >= 2 * N,
        "{c}: our {} packets must reach the guest's eth0",
        2 * N
    );
    assert_eq!(
        o.tx_packets,
        2 * N,
        "{c}: our N requests and N replies went out"
    );
    assert_eq!(
        (o.rx_packets, o.rx_cookie_discards),
        (N, 0),
        "{c}: the kernel's N requests reach us"
    );
    assert_eq!(k1[2] - k0[2], N, "{c}: kernel sent its N requests");
    lab.teardown();

    // 3. We expect a cookie the kernel does not send: every frame of the
    //    kernel's is a cookie discard here, ours reach it.
    let c = Pseudowire {
        our_peer_cookie: Some(wrong),
        ..good
    };
    lab.configure(&c);
    lab.k.static_neighbours();
    std::thread::sleep(Duration::from_millis(300));
    let (o0, k0) = (lab.ours(), lab.guest_stats("l2tpeth0"));
    let out = lab
        .k
        .ns
        .sh(&format!("ping -c {N} -i 0.05 -W 1 {KERNEL_ADDR}"));
    assert!(!out.status.success(), "{c}: ping must fail");
    std::thread::sleep(Duration::from_millis(300));
    let (o1, k1) = (lab.ours(), lab.guest_stats("l2tpeth0"));
    let o = o1.since(&o0);
    eprintln!(
        "{c}: ours {o:?}; kernel l2tpeth0 rx {} tx {}",
        k1[0] - k0[0],
        k1[2] - k0[2]
    );
    assert_eq!(
        (k1[0] - k0[0], k1[2] - k0[2]),
        (N, N),
        "{c}: the kernel got our N requests and answered them"
    );
    assert_eq!(
        (o.tx_packets, o.rx_packets, o.rx_cookie_discards),
        (N, 0, N),
        "{c}: each of the kernel's N replies is a cookie discard"
    );
    assert!(
        o.rx_errors >= N,
        "{c}: cookie discards are rx errors: {o:?}"
    );
    let text = lab.d.l2tp_ok("-s show session");
    assert!(
        text.contains(&format!("rx_cookie_discards {}", o1.rx_cookie_discards)),
        "{text}"
    );
    lab.teardown();

    // 4. Cookies fixed again: traffic flows (the failures above were the
    //    cookies, nothing else).
    let mtu = lab.configure(&good);
    ping_ok(&mut lab, &good, mtu);
    lab.teardown();
}
