mod common;

use std::time::Duration;

use common::*;
use l2tp_control::*;

#[test]
fn tunnel_and_session_come_up() {
    let mut sim = Sim::pair(1, NetConfig::default());
    let now = sim.now;
    let t = sim
        .ep(0)
        .connect(now, addr(2), TunnelConfig::default())
        .unwrap();
    let s = sim
        .ep(0)
        .open_session(
            now,
            t,
            SessionConfig {
                cookie_len: 8,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(
        sim.run_until(Duration::from_secs(5), |s| s.nodes[0].count(is_session_up)
            == 1
            && s.nodes[1].count(is_session_up) == 1)
    );
    for (at, e) in &sim.nodes[0].events {
        println!("A {at:?} {e:?}");
    }
    for (at, e) in &sim.nodes[1].events {
        println!("B {at:?} {e:?}");
    }
    for p in &sim.log {
        println!(
            "{:?} {} -> {} {:?} {:?}",
            p.at,
            p.src,
            p.dst,
            p.kind(),
            p.header()
        );
    }
    let pa = sim.ep(0).session_params(s).unwrap();
    let bs = sim.ep(1).session_by_id(pa.remote_session_id).unwrap();
    let pb = sim.ep(1).session_params(bs).unwrap();
    assert_eq!(pa.local_cookie, pb.peer_cookie);
    assert_eq!(pa.peer_cookie, pb.local_cookie);
    assert_eq!(pa.local_cookie.len(), 8);
}
