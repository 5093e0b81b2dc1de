//! Scale on the simulated network: 1,000 sessions over one tunnel, and many
//! tunnels on one endpoint. Prints virtual time to establish and the CPU
//! time the test thread spent (run with `--nocapture` to see them).

mod common;

use std::time::Duration;

use common::*;
use l2tp_control::*;

/// CPU time of the calling thread, from the scheduler's accounting.
fn thread_cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = s
        .split_whitespace()
        .next()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

fn thousand_sessions(seed: u64, net: NetConfig, label: &str) {
    let cfg = with_retries(10);
    let mut sim = Sim::pair_alike(seed, net, cfg.clone());
    sim.keep_log = false;
    let cpu0 = thread_cpu();
    let wall0 = std::time::Instant::now();
    let t = sim.connect(0, addr(2), cfg);
    for i in 0..1000u32 {
        let c = SessionConfig {
            cookie_len: 8,
            remote_end_id: i.to_be_bytes().to_vec(),
            ..SessionConfig::default()
        };
        sim.open(0, t, c);
    }
    assert!(sim.run_until(Duration::from_secs(3600), |s| {
        s.nodes[0].count(is_session_up) == 1000 && s.nodes[1].count(is_session_up) == 1000
    }));
    let cpu = thread_cpu() - cpu0;
    let wall = wall0.elapsed();
    let st = sim.ep(0).tunnel_stats(t).unwrap();
    assert_eq!(st.sessions, 1000);
    let tb = sim.ep(1).tunnels()[0];
    assert_eq!(sim.ep(1).sessions(tb).len(), 1000);
    // Session IDs are unique per endpoint.
    let mut ids: Vec<u32> = sim
        .ep(0)
        .sessions(t)
        .iter()
        .map(|s| {
            sim.nodes[0]
                .ep
                .as_ref()
                .unwrap()
                .session_params(*s)
                .unwrap()
                .local_session_id
        })
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 1000);
    println!(
        "{label}: 1000 sessions up after {:.3} s virtual, {:.3} s CPU ({:.3} s wall); \
         A sent {} msgs + {} retransmissions + {} acks, cwnd {}",
        sim.elapsed().as_secs_f64(),
        cpu.as_secs_f64(),
        wall.as_secs_f64(),
        st.tx_messages,
        st.retransmissions,
        st.tx_acks,
        st.cwnd
    );
    assert!(cpu < Duration::from_secs(60), "{cpu:?}");
}

#[test]
fn thousand_sessions_one_tunnel_lossless() {
    thousand_sessions(51, NetConfig::default(), "lossless, 10 ms one-way");
}

#[test]
fn thousand_sessions_one_tunnel_5_percent_loss() {
    let net = NetConfig {
        loss: 0.05,
        reorder: 0.05,
        ..NetConfig::default()
    };
    thousand_sessions(52, net, "5% loss, 10 ms one-way");
}

#[test]
fn hundred_tunnels_ten_sessions_each() {
    let mut sim = Sim::pair(53, NetConfig::default());
    sim.keep_log = false;
    let cpu0 = thread_cpu();
    let mut tunnels = Vec::new();
    for _ in 0..100 {
        let t = sim.connect(0, addr(2), TunnelConfig::default());
        for _ in 0..10 {
            sim.open(0, t, SessionConfig::default());
        }
        tunnels.push(t);
    }
    assert!(sim.run_until(Duration::from_secs(600), |s| s.nodes[1]
        .count(is_session_up)
        == 1000));
    assert_eq!(sim.ep(1).tunnels().len(), 100);
    let cpu = thread_cpu() - cpu0;
    println!(
        "100 tunnels x 10 sessions up after {:.3} s virtual, {:.3} s CPU",
        sim.elapsed().as_secs_f64(),
        cpu.as_secs_f64()
    );
    // Closing everything: every tunnel and session reported down on both
    // sides, and nothing left after the linger time.
    let now = sim.now;
    for t in tunnels {
        sim.ep(0).close_tunnel(now, t).unwrap();
    }
    sim.run_for(Duration::from_secs(40));
    assert_eq!(sim.nodes[0].count(is_tunnel_down), 100);
    assert_eq!(sim.nodes[1].count(is_tunnel_down), 100);
    assert_eq!(sim.nodes[1].count(is_session_down), 1000);
    assert!(sim.ep(0).tunnels().is_empty());
    assert!(sim.ep(1).tunnels().is_empty());
}
