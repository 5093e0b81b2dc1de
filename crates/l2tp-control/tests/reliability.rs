//! Reliable delivery on the simulated network: loss, retransmission
//! schedule, windows, sequence wrap, keepalive, delayed and duplicate acks.

mod common;

use std::time::Duration;

use common::*;
use l2tp_control::*;
use l2tp_wire::message::MessageType;

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn lossy_reliable() -> ReliableConfig {
    // At 30 % loss a round trip succeeds with p = 0.49, so six attempts
    // (the default 5 retries) fail together with p = 1.8 % per stalled
    // message; RFC 3931 recommends 10 retries, we give 12.
    ReliableConfig {
        max_retries: 12,
        ..ReliableConfig::default()
    }
}

#[test]
fn tunnel_and_100_sessions_at_30_percent_loss() {
    for seed in [1u64, 2, 3] {
        let net = NetConfig {
            loss: 0.3,
            reorder: 0.1,
            duplicate: 0.05,
            ..NetConfig::default()
        };
        let tcfg = TunnelConfig {
            reliable: lossy_reliable(),
            ..TunnelConfig::default()
        };
        let scfg = SessionConfig {
            cookie_len: 4,
            ..SessionConfig::default()
        };
        let mut sim = Sim::pair_with(seed, net, tcfg.clone(), tcfg.clone(), scfg.clone());
        let t = sim.connect(0, addr(2), tcfg.clone());
        let mut handles = Vec::new();
        for i in 0..100u32 {
            let cfg = SessionConfig {
                remote_end_id: format!("circuit-{i}").into_bytes(),
                cookie_len: 8,
                ..SessionConfig::default()
            };
            handles.push(sim.open(0, t, cfg));
        }
        let ok = sim.run_until(Duration::from_secs(3600), |s| {
            s.nodes[0].count(is_session_up) == 100 && s.nodes[1].count(is_session_up) == 100
        });
        assert!(ok, "seed {seed}: not all sessions came up");
        assert_eq!(sim.nodes[0].count(is_tunnel_down), 0);
        assert_eq!(sim.nodes[0].count(is_session_down), 0);
        // Both sides agree on every session's parameters.
        for h in &handles {
            let pa = sim.ep(0).session_params(*h).unwrap();
            let bh = sim.ep(1).session_by_id(pa.remote_session_id).unwrap();
            let pb = sim.ep(1).session_params(bh).unwrap();
            assert_eq!(pb.remote_session_id, pa.local_session_id);
            assert_eq!(pa.peer_cookie, pb.local_cookie);
            assert_eq!(pb.peer_cookie, pa.local_cookie);
            assert_eq!(pa.local_cookie.len(), 8);
            assert_eq!(pb.local_cookie.len(), 4);
            assert_eq!(pa.remote_end_id, pb.remote_end_id);
        }
        let st = sim.ep(0).tunnel_stats(t).unwrap();
        assert!(st.retransmissions > 0, "{st:?}");
        let dropped = sim.log.iter().filter(|p| !p.delivered).count();
        println!(
            "seed {seed}: 100 sessions up at {:.1} s virtual; {} datagrams ({} lost); A {:?}",
            secs(sim.elapsed()),
            sim.log.len(),
            dropped,
            st
        );
    }
}

/// Send times (seconds) of every SCCRQ transmission and of the final
/// StopCCN towards a peer that never answers.
fn silent_peer_schedule(cfg: ReliableConfig) -> (Vec<f64>, f64, f64) {
    let mut sim = Sim::new(7, NetConfig::default());
    sim.add(addr(1), endpoint(7, EndpointConfig::default(), RejectAll));
    let t = sim.connect(
        0,
        addr(2),
        TunnelConfig {
            reliable: cfg,
            ..TunnelConfig::default()
        },
    );
    sim.run_for(Duration::from_secs(120));
    let sccrq: Vec<f64> = sim
        .sent_by(addr(1), Some(MessageType::Sccrq))
        .iter()
        .map(|p| secs(p.at))
        .collect();
    let stop: Vec<Duration> = sim
        .sent_by(addr(1), Some(MessageType::StopCcn))
        .iter()
        .map(|p| p.at)
        .collect();
    assert_eq!(stop.len(), 1);
    let (down_at, ev) = sim.nodes[0].find(is_tunnel_down).unwrap().clone();
    assert_eq!(
        ev,
        Event::TunnelDown {
            tunnel: t,
            reason: TunnelDownReason::Timeout
        }
    );
    assert!(sim.ep(0).tunnels().is_empty(), "dead tunnel forgotten");
    (sccrq, secs(stop[0]), secs(down_at))
}

#[test]
fn retransmission_schedule_follows_config() {
    // Defaults: 1 s, doubling, capped at 8 s, 5 retries.
    let (tx, stop, down) = silent_peer_schedule(ReliableConfig::default());
    assert_eq!(tx, vec![0.0, 1.0, 3.0, 7.0, 15.0, 23.0]);
    assert_eq!(stop, 31.0);
    assert_eq!(down, 31.0);
    // Intervals 1, 2, 4, 8, 8.
    let gaps: Vec<f64> = tx.windows(2).map(|w| w[1] - w[0]).collect();
    assert_eq!(gaps, vec![1.0, 2.0, 4.0, 8.0, 8.0]);

    let custom = ReliableConfig {
        initial_timeout: Duration::from_millis(250),
        max_timeout: Duration::from_secs(1),
        max_retries: 4,
        ..ReliableConfig::default()
    };
    let (tx, stop, down) = silent_peer_schedule(custom);
    assert_eq!(tx, vec![0.0, 0.25, 0.75, 1.75, 2.75]);
    assert_eq!(stop, 3.75);
    assert_eq!(down, 3.75);
}

#[test]
fn window_limits_respected() {
    let net = NetConfig {
        loss: 0.1,
        reorder: 0.2,
        delay: Duration::from_millis(50),
        ..NetConfig::default()
    };
    let mut b_cfg = with_retries(10);
    b_cfg.reliable.receive_window = 4;
    let a_cfg = with_retries(10);
    let mut sim = Sim::pair_with(11, net, a_cfg.clone(), b_cfg, SessionConfig::default());
    let t = sim.connect(0, addr(2), a_cfg);
    for _ in 0..60 {
        sim.open(0, t, SessionConfig::default());
    }
    assert!(sim.run_until(Duration::from_secs(600), |s| s.nodes[0]
        .count(is_session_up)
        == 60));
    let st = sim.ep(0).tunnel_stats(t).unwrap();
    assert_eq!(st.peer_window, 4);
    assert_eq!(
        st.max_in_flight, 4,
        "window used but never exceeded: {st:?}"
    );
    // On the wire: every message A sends has Ns below B's latest Nr plus
    // the window B advertised.
    let mut b_nr: Option<u16> = None;
    let mut checked = 0;
    for p in &sim.log {
        let h = p.header();
        if p.src == addr(2) {
            b_nr = Some(match b_nr {
                Some(n) if l2tp_control::seq::lt(h.nr, n) => n,
                _ => h.nr,
            });
        } else if !p.is_ack() {
            let base = b_nr.unwrap_or(0);
            let ahead = l2tp_control::seq::diff(h.ns, base);
            assert!(
                ahead < 4,
                "Ns {} sent with peer Nr {} (window 4)",
                h.ns,
                base
            );
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
}

#[test]
fn sequence_numbers_wrap_past_65535() {
    let mut sim = Sim::pair(5, NetConfig::default());
    sim.keep_log = false;
    // Both sides may open sessions towards each other.
    let ta = sim.connect(0, addr(2), TunnelConfig::default());
    assert!(
        sim.run_until(Duration::from_secs(5), |s| s.nodes[1].count(is_tunnel_up)
            == 1)
    );
    let tb = match &sim.nodes[1].events[0].1 {
        Event::TunnelUp { tunnel, .. } => *tunnel,
        e => panic!("{e:?}"),
    };
    let mut rounds = 0;
    loop {
        let mut mine = Vec::new();
        for _ in 0..50 {
            mine.push((0, sim.open(0, ta, SessionConfig::default())));
            mine.push((1, sim.open(1, tb, SessionConfig::default())));
        }
        let ups = (
            sim.nodes[0].count(is_session_up),
            sim.nodes[1].count(is_session_up),
        );
        assert!(sim.run_until(sim.elapsed() + Duration::from_secs(60), |s| {
            s.nodes[0].count(is_session_up) == ups.0 + 100
                && s.nodes[1].count(is_session_up) == ups.1 + 100
        }));
        let now = sim.now;
        for (n, h) in mine {
            sim.ep(n).close_session(now, h).unwrap();
        }
        let downs = (
            sim.nodes[0].count(is_session_down),
            sim.nodes[1].count(is_session_down),
        );
        assert!(sim.run_until(sim.elapsed() + Duration::from_secs(60), |s| {
            s.nodes[0].count(is_session_down) == downs.0 + 100
                && s.nodes[1].count(is_session_down) == downs.1 + 100
        }));
        for n in &mut sim.nodes {
            n.events.clear();
        }
        rounds += 1;
        let sa = sim.ep(0).tunnel_stats(ta).unwrap();
        let sb = sim.ep(1).tunnel_stats(tb).unwrap();
        if sa.tx_messages > 70_000 && sb.tx_messages > 70_000 {
            println!("{rounds} rounds, A {sa:?}, B {sb:?}");
            break;
        }
    }
    // Still working after both Ns counters wrapped.
    let s = sim.open(0, ta, SessionConfig::default());
    assert!(
        sim.run_until(sim.elapsed() + Duration::from_secs(5), |x| x.nodes[0]
            .count(is_session_up)
            == 1)
    );
    assert_eq!(sim.ep(0).session_state(s), Some(SessionState::Established));
    assert_eq!(sim.ep(0).tunnel_stats(ta).unwrap().retransmissions, 0);
    assert_eq!(sim.ep(0).tunnel_stats(ta).unwrap().duplicates, 0);
}

#[test]
fn silent_peer_times_out_and_takes_sessions_down() {
    let mut sim = Sim::pair(3, NetConfig::default());
    let t = sim.connect(0, addr(2), TunnelConfig::default());
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(sim.open(0, t, SessionConfig::default()));
    }
    assert!(
        sim.run_until(Duration::from_secs(5), |s| s.nodes[1].count(is_session_up)
            == 3)
    );
    sim.run_for(Duration::from_secs(1));
    // The peer falls silent.
    sim.filter = Some(Box::new(|_| Verdict::Drop));
    let t0 = sim.elapsed();
    sessions.push(sim.open(0, t, SessionConfig::default()));
    sim.run_for(Duration::from_secs(40));
    let icrq: Vec<f64> = sim
        .sent_by(addr(1), Some(MessageType::Icrq))
        .iter()
        .filter(|p| p.at >= t0)
        .map(|p| secs(p.at - t0))
        .collect();
    assert_eq!(icrq, vec![0.0, 1.0, 3.0, 7.0, 15.0, 23.0]);
    let stop = sim.sent_by(addr(1), Some(MessageType::StopCcn));
    assert_eq!(stop.len(), 1);
    assert_eq!(secs(stop[0].at - t0), 31.0);
    // Events: every session down (reason TunnelDown), then the tunnel.
    let ev: Vec<&Event> = sim.nodes[0]
        .events
        .iter()
        .filter(|(at, _)| *at >= t0)
        .map(|(_, e)| e)
        .collect();
    assert_eq!(ev.len(), 5, "{ev:?}");
    for (i, e) in ev[..4].iter().enumerate() {
        assert_eq!(
            **e,
            Event::SessionDown {
                tunnel: t,
                session: sessions[i],
                reason: SessionDownReason::TunnelDown
            }
        );
    }
    assert_eq!(
        *ev[4],
        Event::TunnelDown {
            tunnel: t,
            reason: TunnelDownReason::Timeout
        }
    );
    // B notices through its HELLO keepalive (60 s idle + 31 s).
    sim.run_for(Duration::from_secs(120));
    let (at, e) = sim.nodes[1].find(is_tunnel_down).unwrap().clone();
    assert!(matches!(
        e,
        Event::TunnelDown {
            reason: TunnelDownReason::Timeout,
            ..
        }
    ));
    assert_eq!(sim.nodes[1].count(is_session_down), 3);
    let b_hello = sim.sent_by(addr(2), Some(MessageType::Hello));
    assert_eq!(b_hello.len(), 6, "HELLO and 5 retransmissions");
    assert_eq!(secs(at - b_hello[0].at), 31.0);
}

#[test]
fn hello_after_idle_interval_and_dead_peer_detected() {
    let cfg = TunnelConfig {
        hello_interval: Some(Duration::from_secs(10)),
        hello_jitter: Duration::ZERO,
        ..TunnelConfig::default()
    };
    let mut sim = Sim::pair_alike(9, NetConfig::default(), cfg.clone());
    let t = sim.connect(0, addr(2), cfg);
    sim.run_for(Duration::from_secs(35));
    assert_eq!(sim.nodes[0].count(is_tunnel_up), 1);
    let hellos: Vec<&Sent> = sim
        .log
        .iter()
        .filter(|p| p.kind() == Some(MessageType::Hello))
        .collect();
    assert!(hellos.len() >= 3, "{}", hellos.len());
    // Each HELLO goes out exactly 10 s after its sender last heard
    // anything (delivery takes 10 ms here).
    for h in &hellos {
        let last_rx = sim
            .log
            .iter()
            .filter(|p| p.dst == h.src && p.at + Duration::from_millis(10) <= h.at)
            .map(|p| p.at + Duration::from_millis(10))
            .max()
            .unwrap();
        assert_eq!(
            h.at - last_rx,
            Duration::from_secs(10),
            "HELLO at {:?}",
            h.at
        );
    }
    // B stops answering: A's next HELLO goes unacknowledged.
    sim.filter = Some(Box::new(|p| {
        if p.src == addr(2) {
            Verdict::Drop
        } else {
            Verdict::Pass
        }
    }));
    let cut = sim.elapsed();
    sim.run_for(Duration::from_secs(60));
    let (down_at, e) = sim.nodes[0].find(is_tunnel_down).unwrap().clone();
    assert_eq!(
        e,
        Event::TunnelDown {
            tunnel: t,
            reason: TunnelDownReason::Timeout
        }
    );
    let a_hellos: Vec<Duration> = sim
        .sent_by(addr(1), Some(MessageType::Hello))
        .iter()
        .filter(|p| p.at > cut)
        .map(|p| p.at)
        .collect();
    assert_eq!(a_hellos.len(), 6);
    assert!(a_hellos[0] - cut <= Duration::from_secs(10));
    assert_eq!(down_at - a_hellos[0], Duration::from_secs(31));
    assert!(sim.ep(0).tunnel_stats(t).is_none());
}

#[test]
fn zlb_ack_after_delay_and_piggyback() {
    let mut sim = Sim::pair(4, NetConfig::default());
    sim.connect(0, addr(2), TunnelConfig::default());
    sim.run_for(Duration::from_secs(2));
    // A: SCCRQ at 0; B: SCCRP at 10 ms (carries the ack, no ZLB for the
    // SCCRQ); A: SCCCN at 20 ms; nothing follows it, so B acknowledges it
    // with a ZLB 100 ms after it arrived (30 ms).
    let b_zlb = sim.sent_by(addr(2), None);
    assert_eq!(b_zlb.len(), 1);
    assert_eq!(b_zlb[0].at, Duration::from_millis(130));
    assert_eq!(b_zlb[0].header().nr, 2);
    assert_eq!(b_zlb[0].header().ns, 1);
    assert!(
        sim.sent_by(addr(1), None).is_empty(),
        "the SCCRP was acked by the SCCCN"
    );
    // A session request is answered by an ICRP carrying the ack, and the
    // ICCN's ack is a delayed ZLB again.
    let t = sim.ep(0).tunnels()[0];
    let base = sim.elapsed();
    sim.open(0, t, SessionConfig::default());
    sim.run_for(Duration::from_secs(1));
    let icrp = sim.sent_by(addr(2), Some(MessageType::Icrp));
    assert_eq!(icrp[0].at - base, Duration::from_millis(10));
    let zlbs: Vec<Duration> = sim
        .sent_by(addr(2), None)
        .iter()
        .filter(|p| p.at >= base)
        .map(|p| p.at - base)
        .collect();
    assert_eq!(zlbs.last().copied(), Some(Duration::from_millis(130)));
    assert!(
        sim.sent_by(addr(1), None).iter().all(|p| p.at < base),
        "ICRP acked by ICCN"
    );
}

#[test]
fn duplicates_are_reacknowledged_immediately() {
    let mut sim = Sim::pair(6, NetConfig::default());
    // Deliver the SCCCN a second time, 500 ms late.
    sim.filter = Some(Box::new(|p| {
        if p.kind() == Some(MessageType::Scccn) {
            Verdict::Echo(Duration::from_millis(500))
        } else {
            Verdict::Pass
        }
    }));
    sim.connect(0, addr(2), TunnelConfig::default());
    sim.run_for(Duration::from_secs(2));
    let b_zlb: Vec<Duration> = sim.sent_by(addr(2), None).iter().map(|p| p.at).collect();
    // Delayed ack at 130 ms; the duplicate arrives at 530 ms and is
    // acknowledged at once.
    assert_eq!(
        b_zlb,
        vec![Duration::from_millis(130), Duration::from_millis(530)]
    );
    let t = sim.ep(1).tunnels()[0];
    assert_eq!(sim.ep(1).tunnel_stats(t).unwrap().duplicates, 1);
    assert_eq!(sim.ep(1).tunnel_stats(t).unwrap().rx_messages, 3);
}

#[test]
fn reordering_and_duplication_deliver_in_order() {
    let net = NetConfig {
        reorder: 0.5,
        duplicate: 0.3,
        jitter: Duration::from_millis(300),
        ..NetConfig::default()
    };
    let mut sim = Sim::pair(12, net);
    let t = sim.connect(0, addr(2), TunnelConfig::default());
    let mut hs = Vec::new();
    for i in 0..40u32 {
        let cfg = SessionConfig {
            serial_number: Some(1000 + i),
            ..SessionConfig::default()
        };
        hs.push(sim.open(0, t, cfg));
    }
    assert!(sim.run_until(Duration::from_secs(120), |s| s.nodes[1]
        .count(is_session_up)
        == 40));
    // B saw the ICRQs in the order A sent them (serial numbers ascending).
    let serials: Vec<u32> = sim.nodes[1]
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            Event::SessionUp { params, .. } => Some(params.serial_number),
            _ => None,
        })
        .collect();
    let mut sorted = serials.clone();
    sorted.sort();
    assert_eq!(serials, sorted);
    let tb = sim.ep(1).tunnels()[0];
    let st = sim.ep(1).tunnel_stats(tb).unwrap();
    assert!(st.duplicates > 0 && st.out_of_order > 0, "{st:?}");
}
