//! Every static pseudowire option against every other, on real parts: two
//! namespaces joined by veth, one `l2tpd` in each, configured with the real
//! `l2tp` CLI. For each combination of encap (udp, ip) x underlay (IPv4,
//! IPv6) x cookie (none, 4, 8 bytes) x l2spec_type (none, default) x seq
//! (none, both) it checks:
//!
//! - sessions with `l2spec_type none seq both` are refused (sequence
//!   numbers live in the default sublayer) and leave no device behind;
//! - `l2tp -j show session` reports the options as configured and the
//!   device MTU is the kernel's (1500 minus every header);
//! - ping crosses each pseudowire;
//! - frames of an EtherType nothing answers (0x88b5), minimum size and
//!   MTU size, sent with AF_PACKET on one TAP arrive byte for byte on the
//!   far TAP, in both directions;
//! - a TAP bridged with a veth to a third namespace carries that
//!   namespace's traffic to the far end;
//! - SIGTERM removes every device.
//!
//! One tunnel per (encap, family) carries all of that pair's sessions, so
//! the whole matrix shares two daemons and runs in seconds.

use std::time::{Duration, Instant};

use l2tp_integration::daemon::Daemon;
use l2tp_integration::netns::{veth, Netns};
use l2tp_integration::packet::{ethernet_frame, pattern, PacketSocket, ETH_P_TEST};

#[derive(Clone, Copy, Debug)]
struct Combo {
    idx: u32,
    encap: &'static str,
    v6: bool,
    cookie_len: usize,
    l2spec: &'static str,
    seq: &'static str,
}

impl Combo {
    fn valid(&self) -> bool {
        !(self.l2spec == "none" && self.seq != "none")
    }

    /// Tunnel ID on side A (B adds 100).
    fn tunnel(&self) -> u32 {
        match (self.encap, self.v6) {
            ("udp", false) => 1,
            ("udp", true) => 2,
            ("ip", false) => 3,
            _ => 4,
        }
    }

    fn tunnel_id(&self, a: bool) -> u32 {
        self.tunnel() + if a { 0 } else { 100 }
    }

    fn session_id(&self, a: bool) -> u32 {
        self.idx + if a { 1000 } else { 2000 }
    }

    fn ifname(&self) -> String {
        format!("pw{}", self.idx)
    }

    fn overlay(&self, host: u8) -> String {
        format!("198.19.{}.{host}", self.idx)
    }

    /// The cookie side A (or B) sends, as hex.
    fn cookie(&self, a: bool) -> Option<String> {
        let base: u64 = if a { 0xa000_0000 } else { 0xb000_0000 };
        match self.cookie_len {
            4 => Some(format!("{:08x}", base + u64::from(self.idx))),
            8 => Some(format!(
                "{:016x}",
                (base << 32) | 0x5a5a_0000 | u64::from(self.idx)
            )),
            _ => None,
        }
    }

    fn session_cmd(&self, a: bool) -> String {
        let mut cmd = format!(
            "add session name {} tunnel_id {} session_id {} peer_session_id {} \
             l2spec_type {} seq {}",
            self.ifname(),
            self.tunnel_id(a),
            self.session_id(a),
            self.session_id(!a),
            self.l2spec,
            self.seq
        );
        if let (Some(mine), Some(theirs)) = (self.cookie(a), self.cookie(!a)) {
            cmd += &format!(" cookie {mine} peer_cookie {theirs}");
        }
        cmd
    }

    /// The kernel's l2tp_eth MTU: 1500 minus outer IP, UDP, L2TP header,
    /// cookie, sublayer and the inner Ethernet header.
    fn expected_mtu(&self) -> u32 {
        let ip = if self.v6 { 40 } else { 20 };
        let udp = if self.encap == "udp" { 8 + 4 } else { 0 };
        let sublayer = if self.l2spec == "default" { 4 } else { 0 };
        1500 - (ip + udp + 4 + self.cookie_len as u32 + sublayer + 14)
    }
}

impl std::fmt::Display for Combo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "#{} encap {} {} cookie {} l2spec {} seq {}",
            self.idx,
            self.encap,
            if self.v6 { "IPv6" } else { "IPv4" },
            match self.cookie_len {
                0 => "none".to_string(),
                n => n.to_string(),
            },
            self.l2spec,
            self.seq
        )
    }
}

fn combos() -> Vec<Combo> {
    let mut v = Vec::new();
    for encap in ["udp", "ip"] {
        for v6 in [false, true] {
            for cookie_len in [0, 4, 8] {
                for l2spec in ["none", "default"] {
                    for seq in ["none", "both"] {
                        v.push(Combo {
                            idx: v.len() as u32,
                            encap,
                            v6,
                            cookie_len,
                            l2spec,
                            seq,
                        });
                    }
                }
            }
        }
    }
    v
}

fn tunnel_cmd(tunnel: u32, a: bool) -> String {
    let (encap, v6) = match tunnel {
        1 => ("udp", false),
        2 => ("udp", true),
        3 => ("ip", false),
        _ => ("ip", true),
    };
    let (mine, theirs) = if v6 {
        ("2001:db8:ff::1", "2001:db8:ff::2")
    } else {
        ("198.18.0.1", "198.18.0.2")
    };
    let (local, remote) = if a { (mine, theirs) } else { (theirs, mine) };
    let (tid, ptid) = if a {
        (tunnel, tunnel + 100)
    } else {
        (tunnel + 100, tunnel)
    };
    let (sport, dport) = if a { (5000, 6000) } else { (6000, 5000) };
    let mut cmd = format!(
        "add tunnel tunnel_id {tid} peer_tunnel_id {ptid} encap {encap} local {local} \
         remote {remote}"
    );
    if encap == "udp" {
        cmd += &format!(" udp_sport {} udp_dport {}", sport + tunnel, dport + tunnel);
    }
    cmd
}

/// Two namespaces with a veth underlay (198.18.0.1/24, 2001:db8:ff::1/64
/// on A; .2 on B) and an `l2tpd` in each.
struct Pair {
    // Daemons first: they must stop before their namespaces go.
    da: Daemon,
    db: Daemon,
    na: Netns,
    nb: Netns,
}

fn pair() -> Pair {
    let na = Netns::new("mxa");
    let nb = Netns::new("mxb");
    veth(&na, "ul0", &nb, "ul0");
    na.sh_ok("ip addr add 198.18.0.1/24 dev ul0 && ip addr add 2001:db8:ff::1/64 dev ul0 nodad");
    nb.sh_ok("ip addr add 198.18.0.2/24 dev ul0 && ip addr add 2001:db8:ff::2/64 dev ul0 nodad");
    let da = Daemon::start(&na);
    let db = Daemon::start(&nb);
    Pair { da, db, na, nb }
}

/// Sends one frame each way on every pseudowire and checks it arrives
/// unchanged; returns failures.
fn check_frames(p: &Pair, c: &Combo, sock_a: &PacketSocket, sock_b: &PacketSocket) -> Vec<String> {
    let mut failures = Vec::new();
    let name = c.ifname();
    let (mac_a, mac_b) = (p.na.mac(&name), p.nb.mac(&name));
    let mtu = p.na.mtu(&name) as usize;
    for (dir, (tx, rx, src, dst)) in [
        ("A->B", (sock_a, sock_b, mac_a, mac_b)),
        ("B->A", (sock_b, sock_a, mac_b, mac_a)),
    ] {
        // 60 bytes is the Ethernet minimum; mtu + 14 the largest frame the
        // TAP takes, which makes a full 1500-byte underlay packet.
        for (n, frame_len) in [60, 333, mtu + 14].into_iter().enumerate() {
            let tag = format!("l2it {} {dir} {n} ", c.idx);
            let frame = ethernet_frame(
                dst,
                src,
                ETH_P_TEST,
                &pattern(tag.as_bytes(), frame_len - 14),
            );
            if let Err(e) = tx.send(&frame) {
                failures.push(format!("{c}: {dir} send of {frame_len} bytes: {e}"));
                continue;
            }
            let got = rx
                .recv_matching(Duration::from_secs(3), |f| {
                    f.get(14..14 + tag.len()) == Some(tag.as_bytes())
                })
                .expect("AF_PACKET recv");
            match got {
                None => failures.push(format!(
                    "{c}: {dir} frame of {frame_len} bytes (0x88b5) never arrived"
                )),
                Some(f) if f != frame => failures.push(format!(
                    "{c}: {dir} frame of {frame_len} bytes arrived changed: {} bytes, first \
                     difference at {:?}",
                    f.len(),
                    f.iter().zip(&frame).position(|(x, y)| x != y)
                )),
                Some(_) => {}
            }
        }
    }
    failures
}

#[test]
fn every_option_combination_carries_traffic() {
    let started = Instant::now();
    let mut p = pair();
    for t in 1..=4 {
        p.da.l2tp_ok(&tunnel_cmd(t, true));
        p.db.l2tp_ok(&tunnel_cmd(t, false));
    }

    let all = combos();
    assert_eq!(
        all.len(),
        48,
        "2 encaps x 2 families x 3 cookies x 2 l2spec x 2 seq"
    );
    let mut valid = Vec::new();
    for c in &all {
        if !c.valid() {
            // Sequence numbers need the default sublayer: refused, no device.
            for (d, ns, a) in [(&p.da, &p.na, true), (&p.db, &p.nb, false)] {
                let out = d.l2tp(&c.session_cmd(a));
                assert_eq!(out.code, 2, "{c} must be refused: {}", out.stderr);
                assert!(out.stderr.contains("seq"), "{c}: {}", out.stderr);
                assert!(
                    !ns.has_link(&c.ifname()),
                    "{c}: refused session left a device"
                );
            }
            continue;
        }
        p.da.l2tp_ok(&c.session_cmd(true));
        p.db.l2tp_ok(&c.session_cmd(false));
        valid.push(*c);
    }
    assert_eq!(valid.len(), 36);
    let addrs = |host: u8| -> Vec<String> {
        valid
            .iter()
            .map(|c| format!("addr add {}/24 dev {}", c.overlay(host), c.ifname()))
            .collect()
    };
    p.na.ip_batch(&addrs(1));
    p.nb.ip_batch(&addrs(2));
    let setup = started.elapsed();

    let mut failures: Vec<String> = Vec::new();

    // What show reports, and the device MTU.
    for (d, ns, a) in [(&p.da, &p.na, true), (&p.db, &p.nb, false)] {
        let sessions = d.sessions_json();
        assert_eq!(sessions.len(), valid.len(), "one entry per session");
        for c in &valid {
            let Some(s) = sessions.iter().find(|s| s["session_id"] == c.session_id(a)) else {
                failures.push(format!("{c}: session {} not shown", c.session_id(a)));
                continue;
            };
            let want_cookie = c.cookie(a).map(serde_json::Value::from);
            let want_peer = c.cookie(!a).map(serde_json::Value::from);
            let checks = [
                ("interface", s["interface"] == c.ifname().as_str()),
                ("tunnel_id", s["tunnel_id"] == c.tunnel_id(a)),
                ("peer_session_id", s["peer_session_id"] == c.session_id(!a)),
                ("cookie", s.get("cookie").cloned() == want_cookie),
                ("peer_cookie", s.get("peer_cookie").cloned() == want_peer),
                ("l2spec_type", s["l2spec_type"] == c.l2spec),
                ("send_seq", s.get("send_seq").is_some() == (c.seq == "both")),
                ("recv_seq", s.get("recv_seq").is_some() == (c.seq == "both")),
                ("mtu", s["mtu"] == c.expected_mtu()),
            ];
            for (field, ok) in checks {
                if !ok {
                    failures.push(format!("{c}: show session {field} wrong: {s}"));
                }
            }
            let mtu = ns.mtu(&c.ifname());
            if mtu != c.expected_mtu() {
                failures.push(format!(
                    "{c}: {} MTU {mtu}, want {}",
                    c.ifname(),
                    c.expected_mtu()
                ));
            }
        }
    }

    // Ping across every pseudowire, eight at a time.
    let ping_started = Instant::now();
    for chunk in valid.chunks(8) {
        let results: Vec<(Combo, std::process::Output)> = std::thread::scope(|s| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|c| {
                    let ns = &p.na;
                    s.spawn(move || {
                        (
                            *c,
                            ns.sh(&format!("ping -c 2 -i 0.2 -W 2 {}", c.overlay(2))),
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (c, out) in results {
            if !out.status.success() {
                failures.push(format!(
                    "{c}: ping {} failed:\n{}",
                    c.overlay(2),
                    String::from_utf8_lossy(&out.stdout)
                ));
            }
        }
    }
    let ping_time = ping_started.elapsed();

    // Non-IP frames, byte for byte, both ways.
    let frames_started = Instant::now();
    for c in &valid {
        let sa = PacketSocket::open(&p.na, &c.ifname(), ETH_P_TEST).expect("AF_PACKET on A");
        let sb = PacketSocket::open(&p.nb, &c.ifname(), ETH_P_TEST).expect("AF_PACKET on B");
        failures.extend(check_frames(&p, c, &sa, &sb));
    }
    let frames_time = frames_started.elapsed();

    // Bridge one TAP per tunnel with a veth to a third namespace: C's
    // 198.19.N.3 reaches B's 198.19.N.2 through A's bridge and the
    // pseudowire.
    let nc = Netns::new("mxc");
    let bridged: Vec<Combo> = valid
        .iter()
        .filter(|c| c.cookie_len == 8 && c.l2spec == "default" && c.seq == "both")
        .copied()
        .collect();
    assert_eq!(bridged.len(), 4, "one per (encap, family)");
    for c in &bridged {
        let (br, vb, vc) = (
            format!("br{}", c.idx),
            format!("vb{}", c.idx),
            format!("vc{}", c.idx),
        );
        veth(&p.na, &vb, &nc, &vc);
        p.na.sh_ok(&format!(
            "ip link add {br} type bridge && ip link set {br} up && \
             ip addr flush dev {tap} && ip link set {tap} master {br} && \
             ip link set {vb} master {br}",
            tap = c.ifname()
        ));
        nc.sh_ok(&format!("ip addr add {}/24 dev {vc}", c.overlay(3)));
    }
    for c in &bridged {
        let out = nc.sh(&format!("ping -c 2 -i 0.2 -W 2 {}", c.overlay(2)));
        if !out.status.success() {
            failures.push(format!(
                "{c}: ping from the bridged namespace to {} failed:\n{}",
                c.overlay(2),
                String::from_utf8_lossy(&out.stdout)
            ));
            continue;
        }
        // B learnt C's MAC: the frames really came from C through the bridge.
        let mac_c = l2tp_integration::netns::mac_string(&nc.mac(&format!("vc{}", c.idx)));
        let neigh = p.nb.sh_ok(&format!("ip neigh show {}", c.overlay(3)));
        if !neigh.contains(&mac_c) {
            failures.push(format!(
                "{c}: B's neighbour entry for C is {neigh:?}, want {mac_c}"
            ));
        }
    }

    eprintln!(
        "static matrix: {} sessions; setup {setup:?}, pings {ping_time:?}, frames \
         {frames_time:?}, total {:?}",
        valid.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );

    // SIGTERM removes every device the daemon made.
    for (d, ns) in [(&mut p.da, &p.na), (&mut p.db, &p.nb)] {
        assert!(d.stop(), "l2tpd did not exit cleanly on SIGTERM");
        for c in &valid {
            assert!(
                !ns.has_link(&c.ifname()),
                "{} left behind after SIGTERM",
                c.ifname()
            );
        }
    }
}
