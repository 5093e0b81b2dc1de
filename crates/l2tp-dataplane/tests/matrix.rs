//! Table-driven end-to-end test: two namespaces, a data plane in each,
//! every combination of encap (udp|ip) x family (IPv4|IPv6) x cookie
//! (none|4|8) x sublayer (none|default) x sequencing (none|both) as one
//! session each over four shared tunnels. Frames with an arbitrary
//! EtherType go through AF_PACKET sockets on the TAP devices and must
//! arrive intact; counters must match; ping works across a pseudowire.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::*;
use l2tp_dataplane::{
    Cookie, Counters, Dataplane, DataplaneError, Encap, FastpathOptions, L2SpecType,
    PseudowireType, SeqMode, SessionConfig, SessionInfo, TunnelConfig,
};

#[derive(Clone, Copy, Debug)]
struct Case {
    encap: Encap,
    v6: bool,
    cookie_len: usize,
    l2spec: L2SpecType,
    seq: bool,
}

fn cases() -> Vec<Case> {
    let mut v = Vec::new();
    for encap in [Encap::Udp, Encap::Ip] {
        for v6 in [false, true] {
            for cookie_len in [0, 4, 8] {
                for l2spec in [L2SpecType::None, L2SpecType::Default] {
                    for seq in [false, true] {
                        // Sequence numbers live in the default sublayer.
                        if seq && l2spec == L2SpecType::None {
                            continue;
                        }
                        v.push(Case {
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

fn tunnel_id(c: &Case) -> u32 {
    1 + u32::from(c.v6) + 2 * u32::from(c.encap == Encap::Ip)
}

fn cookie(len: usize, seed: u8) -> Cookie {
    let bytes: Vec<u8> = (0..len as u8)
        .map(|i| seed.wrapping_mul(17).wrapping_add(i))
        .collect();
    Cookie::new(&bytes).unwrap()
}

/// The kernel's l2tp_eth MTU, computed independently of the crate.
fn expected_mtu(c: &Case) -> u32 {
    let mut overhead = if c.v6 { 40 } else { 20 };
    if c.encap == Encap::Udp {
        overhead += 8 + 4;
    }
    overhead += 4 + c.cookie_len as u32;
    if c.l2spec == L2SpecType::Default {
        overhead += 4;
    }
    1500 - overhead - 14
}

const FRAMES: usize = 12;

/// Re-reads counters until `done` holds (or a second passes).
fn settle(read: impl Fn() -> Counters, done: impl Fn(&Counters) -> bool) -> Counters {
    for _ in 0..100 {
        let c = read();
        if done(&c) {
            return c;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    read()
}

/// Frame lengths used per session: minimum, typical, and exactly MTU+14.
fn frame_len(i: usize, mtu: u32) -> usize {
    match i % 4 {
        0 => 60,
        1 => 200 + i,
        2 => 1000,
        _ => mtu as usize + 14,
    }
}

#[test]
fn all_combinations_carry_frames_and_count_them() {
    run_matrix(20, FastpathOptions::default());
}

/// The same without any offload: plain frames, one datagram per send, one
/// queue.
#[test]
fn all_combinations_without_offloads() {
    run_matrix(21, FastpathOptions::plain());
}

fn run_matrix(subnet: u8, opts: FastpathOptions) {
    let pair = Pair::new(subnet);
    let a = NsDataplane::spawn_with(&pair.a.name, opts);
    let b = NsDataplane::spawn_with(&pair.b.name, opts);

    for (encap, v6) in [
        (Encap::Udp, false),
        (Encap::Udp, true),
        (Encap::Ip, false),
        (Encap::Ip, true),
    ] {
        let tid = tunnel_id(&Case {
            encap,
            v6,
            cookie_len: 0,
            l2spec: L2SpecType::None,
            seq: false,
        });
        let (la, lb): (IpAddr, IpAddr) = if v6 {
            (pair.a6, pair.b6)
        } else {
            (pair.a4, pair.b4)
        };
        // Checksum options differ per side so both settings are exercised:
        // A sends IPv6 UDP with zero checksums, B accepts them.
        let ta = TunnelConfig {
            tunnel_id: tid,
            peer_tunnel_id: tid + 100,
            encap,
            local: la,
            remote: lb,
            udp_sport: 1701,
            udp_dport: 1701,
            udp_csum: true,
            udp6_csum_tx: false,
            udp6_csum_rx: true,
        };
        let tb = TunnelConfig {
            tunnel_id: tid + 100,
            peer_tunnel_id: tid,
            local: lb,
            remote: la,
            udp_csum: false,
            udp6_csum_tx: true,
            udp6_csum_rx: false,
            ..ta.clone()
        };
        a.run(move |dp| dp.add_tunnel(ta)).expect("add tunnel A");
        b.run(move |dp| dp.add_tunnel(tb)).expect("add tunnel B");
    }

    let cases = cases();
    assert_eq!(cases.len(), 36);
    let mut sessions: Vec<(Case, u32, u32, SessionInfo, SessionInfo)> = Vec::new();
    for (k, c) in cases.iter().copied().enumerate() {
        let k = k as u32;
        let (sa, sb) = (1000 + k, 5000 + k);
        let sc = |tunnel_id, session_id, peer_session_id, cookie, peer_cookie| SessionConfig {
            tunnel_id,
            session_id,
            peer_session_id,
            pw_type: PseudowireType::Ethernet,
            ifname: None,
            cookie,
            peer_cookie,
            l2spec: c.l2spec,
            seq: SeqMode {
                send: c.seq,
                recv: c.seq,
            },
            mtu: None,
            reorder_timeout: c.seq.then_some(Duration::from_millis(50)),
        };
        let (ab, ba) = (
            cookie(c.cookie_len, k as u8),
            cookie(c.cookie_len, 100 + k as u8),
        );
        let cfg_a = sc(tunnel_id(&c), sa, sb, ab, ba);
        let cfg_b = sc(tunnel_id(&c) + 100, sb, sa, ba, ab);
        let ia = a
            .run(move |dp| dp.add_session(cfg_a))
            .expect("add session A");
        let ib = b
            .run(move |dp| dp.add_session(cfg_b))
            .expect("add session B");
        assert!(ia.ifname.starts_with("l2tpeth"), "{}", ia.ifname);
        assert_eq!(ia.mtu, expected_mtu(&c), "{c:?}");
        assert_eq!(ib.mtu, expected_mtu(&c), "{c:?}");
        assert!(ia.ifindex > 0);
        sessions.push((c, sa, sb, ia, ib));
    }

    // The devices exist with the reported MTU and are up.
    let (_, _, _, ia0, _) = &sessions[0];
    let link = String::from_utf8(
        ns_sh(
            &pair.a.name,
            &["ip", "-o", "link", "show", "dev", &ia0.ifname],
        )
        .stdout,
    )
    .unwrap();
    assert!(link.contains(&format!("mtu {}", ia0.mtu)), "{link}");
    assert!(link.contains("UP"), "{link}");

    // Sequencing without the default sublayer is refused.
    let bad = SessionConfig {
        tunnel_id: 1,
        session_id: 999,
        peer_session_id: 999,
        pw_type: PseudowireType::Ethernet,
        ifname: None,
        cookie: Cookie::default(),
        peer_cookie: Cookie::default(),
        l2spec: L2SpecType::None,
        seq: SeqMode {
            send: true,
            recv: true,
        },
        mtu: None,
        reorder_timeout: None,
    };
    match a.run(move |dp| dp.add_session(bad)) {
        Err(DataplaneError::Invalid { field: "seq", .. }) => {}
        other => panic!("expected Invalid seq, got {other:?}"),
    }

    // Frames both ways on every session.
    let mut failures = Vec::new();
    for (c, sa, sb, ia, ib) in &sessions {
        let (ixa, ixb) = (ia.ifindex, ib.ifindex);
        let pa = a.run(move |_| PacketSocket::open(ixa, 0x88b5)).unwrap();
        let pb = b.run(move |_| PacketSocket::open(ixb, 0x88b5)).unwrap();
        let mut bytes = 0u64;
        for (dir, (tx, rx)) in [("A->B", (&pa, &pb)), ("B->A", (&pb, &pa))] {
            for i in 0..FRAMES {
                let frame = test_frame(*sa * 100 + i as u32, frame_len(i, ia.mtu));
                if dir == "A->B" {
                    bytes += frame.len() as u64;
                }
                tx.send(&frame)
                    .unwrap_or_else(|e| panic!("{c:?} send {}: {e}", frame.len()));
                match rx.recv() {
                    Some(got) if got == frame => {}
                    Some(got) => failures.push(format!(
                        "{c:?} {dir}: frame {i} corrupted (len {} vs {})",
                        got.len(),
                        frame.len()
                    )),
                    None => {
                        failures.push(format!("{c:?} {dir}: frame {i} (len {}) lost", frame.len()))
                    }
                }
            }
        }
        let (sa, sb) = (*sa, *sb);
        let ta = tunnel_id(c);
        let want = FRAMES as u64;
        // A frame is counted just after the device took it: let the last
        // increment land before reading.
        let settled = |c: &Counters| c.rx_packets >= want && c.tx_packets >= want;
        let ca: Counters = settle(
            || a.run(move |dp| dp.session_counters(ta, sa)).unwrap(),
            settled,
        );
        let cb: Counters = settle(
            || b.run(move |dp| dp.session_counters(ta + 100, sb)).unwrap(),
            settled,
        );
        if ca.tx_packets != want
            || ca.rx_packets != want
            || cb.tx_packets != want
            || cb.rx_packets != want
        {
            failures.push(format!("{c:?}: counters A {ca:?} B {cb:?}"));
        }
        if ca.tx_bytes != bytes || cb.rx_bytes != bytes {
            failures.push(format!(
                "{c:?}: bytes A tx {} B rx {} want {bytes}",
                ca.tx_bytes, cb.rx_bytes
            ));
        }
        for cnt in [&ca, &cb] {
            if cnt.rx_errors
                + cnt.tx_errors
                + cnt.rx_seq_discards
                + cnt.rx_cookie_discards
                + cnt.rx_invalid
                != 0
            {
                failures.push(format!("{c:?}: errors {cnt:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Tunnel counters are the sums over their sessions.
    for tid in 1..=4u32 {
        let want: u64 = sessions
            .iter()
            .filter(|(c, ..)| tunnel_id(c) == tid)
            .count() as u64
            * FRAMES as u64;
        let t = a.run(move |dp| dp.tunnel_counters(tid)).unwrap();
        assert_eq!(t.tx_packets, want, "tunnel {tid}");
        assert_eq!(t.rx_packets, want, "tunnel {tid}");
    }

    // IP traffic: ping across one pseudowire per tunnel.
    for tid in 1..=4u32 {
        let (c, _, _, ia, ib) = sessions.iter().find(|(c, ..)| tunnel_id(c) == tid).unwrap();
        let net = format!("198.19.{}", 10 + tid);
        ns_sh(
            &pair.a.name,
            &[
                "ip",
                "addr",
                "add",
                &format!("{net}.1/24"),
                "dev",
                &ia.ifname,
            ],
        );
        ns_sh(
            &pair.b.name,
            &[
                "ip",
                "addr",
                "add",
                &format!("{net}.2/24"),
                "dev",
                &ib.ifname,
            ],
        );
        let out = ns_try(
            &pair.a.name,
            &[
                "ping",
                "-c",
                "3",
                "-i",
                "0.2",
                "-W",
                "2",
                &format!("{net}.2"),
            ],
        );
        assert!(
            out.status.success(),
            "ping over {c:?} failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        // A full-size packet with DF set must fit the computed MTU.
        let size = (ia.mtu - 28).to_string();
        let out = ns_try(
            &pair.a.name,
            &[
                "ping",
                "-c",
                "2",
                "-i",
                "0.2",
                "-W",
                "2",
                "-M",
                "do",
                "-s",
                &size,
                &format!("{net}.2"),
            ],
        );
        assert!(
            out.status.success(),
            "full-size ping over {c:?} failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    // Removing a tunnel removes its sessions' devices.
    let names: Vec<String> = sessions
        .iter()
        .filter(|(c, ..)| tunnel_id(c) == 1)
        .map(|(_, _, _, ia, _)| ia.ifname.clone())
        .collect();
    a.run(|dp| dp.del_tunnel(1)).unwrap();
    for n in &names {
        assert!(!device_exists(&pair.a.name, n), "{n} still exists");
    }
    assert!(matches!(
        a.run(|dp| dp.tunnel_counters(1)),
        Err(DataplaneError::NoSuchTunnel(1))
    ));
    // Shutdown removes everything else.
    let remaining = sessions
        .iter()
        .filter(|(c, ..)| tunnel_id(c) != 1)
        .map(|(_, _, _, ia, _)| ia.ifname.clone())
        .collect::<Vec<_>>();
    a.run(|dp| dp.shutdown());
    for n in &remaining {
        assert!(
            !device_exists(&pair.a.name, n),
            "{n} still exists after shutdown"
        );
    }
}
