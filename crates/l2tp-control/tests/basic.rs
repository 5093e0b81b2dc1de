//! The plain path (one tunnel, one session, no loss) and command errors.

mod common;

use std::time::Duration;

use common::*;
use l2tp_control::*;
use l2tp_wire::message::MessageType;

#[test]
fn tunnel_and_session_come_up() {
    let mut sim = Sim::pair(1, NetConfig::default());
    let t = sim.connect(0, addr(2), TunnelConfig::default());
    assert_eq!(sim.ep(0).tunnel_state(t), Some(TunnelState::WaitCtlReply));
    let s = sim.open(
        0,
        t,
        SessionConfig {
            cookie_len: 8,
            remote_end_id: b"vlan100".to_vec(),
            ..Default::default()
        },
    );
    assert_eq!(sim.ep(0).session_state(s), Some(SessionState::WaitTunnel));
    assert!(sim.run_until(Duration::from_secs(5), |s| {
        s.nodes[0].count(is_session_up) == 1 && s.nodes[1].count(is_session_up) == 1
    }));
    // SCCRQ, SCCRP, SCCCN + ICRQ (cwnd 2 after the SCCRP), ICRP, ICCN.
    let kinds: Vec<_> = sim.log.iter().map(|p| p.kind()).collect();
    assert_eq!(
        kinds,
        vec![
            Some(MessageType::Sccrq),
            Some(MessageType::Sccrp),
            Some(MessageType::Scccn),
            Some(MessageType::Icrq),
            Some(MessageType::Icrp),
            Some(MessageType::Iccn),
        ]
    );
    assert_eq!(sim.elapsed(), Duration::from_millis(50));
    let ia = sim.ep(0).tunnel_info(t).unwrap();
    let tb = sim.ep(1).tunnel_by_id(ia.peer_id).unwrap();
    let ib = sim.ep(1).tunnel_info(tb).unwrap();
    assert_eq!(ib.peer_id, ia.local_id);
    assert!(ia.initiator && !ib.initiator);
    assert_eq!(ia.peer_host_name.as_deref(), Some("l2tp-rs"));
    assert_eq!(
        ia.peer_pw_capabilities,
        vec![pw::ETHERNET, pw::ETHERNET_VLAN]
    );
    assert_eq!(ia.peer_window, 16);
    let pa = sim.ep(0).session_params(s).unwrap();
    let bs = sim.ep(1).session_by_id(pa.remote_session_id).unwrap();
    assert_eq!(sim.ep(1).session_tunnel(bs), Some(tb));
    let pb = sim.ep(1).session_params(bs).unwrap();
    assert_eq!(pa.local_cookie, pb.peer_cookie);
    assert_eq!(pa.peer_cookie, pb.local_cookie);
    assert_eq!(pa.local_cookie.len(), 8);
    assert!(pa.peer_cookie.is_empty());
    assert_eq!(pb.remote_end_id, b"vlan100");
    assert_eq!(pa.tx_l2spec, L2SpecType::Default);
    assert_eq!(pa.local_tunnel_id, ia.local_id);
    assert_eq!(pa.peer, addr(2));
    assert_eq!(pb.peer, addr(1));
    assert!(pa.initiator && !pb.initiator);
    assert!(pa.local_session_id != 0 && pb.local_session_id != 0);
    // The events arrive in order: tunnel first.
    assert!(is_tunnel_up(&sim.nodes[0].events[0].1));
    assert!(is_session_up(&sim.nodes[0].events[1].1));
}

#[test]
fn commands_validate_their_input() {
    let mut ep = endpoint(1, EndpointConfig::default(), RejectAll);
    let now = std::time::Instant::now();
    let bad = |f: fn(&mut TunnelConfig)| {
        let mut c = TunnelConfig::default();
        f(&mut c);
        c
    };
    assert!(matches!(
        ep.connect(now, addr(2), bad(|c| c.host_name.clear())),
        Err(Error::InvalidConfig {
            field: "host_name",
            ..
        })
    ));
    assert!(matches!(
        ep.connect(now, addr(2), bad(|c| c.pw_capabilities.clear())),
        Err(Error::InvalidConfig {
            field: "pw_capabilities",
            ..
        })
    ));
    assert!(matches!(
        ep.connect(now, addr(2), bad(|c| c.reliable.receive_window = 0)),
        Err(Error::InvalidConfig {
            field: "reliable.receive_window",
            ..
        })
    ));
    assert!(matches!(
        ep.connect(
            now,
            addr(2),
            bad(|c| c.reliable.max_timeout = Duration::MAX)
        ),
        Err(Error::InvalidConfig {
            field: "reliable.max_timeout",
            ..
        })
    ));
    assert!(matches!(
        ep.connect(
            now,
            addr(2),
            bad(|c| c.hello_jitter = Duration::from_secs(60))
        ),
        Err(Error::InvalidConfig {
            field: "hello_jitter",
            ..
        })
    ));
    let t = ep
        .connect(
            now,
            addr(2),
            TunnelConfig {
                local_id: Some(7),
                ..TunnelConfig::default()
            },
        )
        .unwrap();
    assert_eq!(ep.tunnel_info(t).unwrap().local_id, 7);
    assert_eq!(
        ep.connect(
            now,
            addr(3),
            TunnelConfig {
                local_id: Some(7),
                ..TunnelConfig::default()
            }
        ),
        Err(Error::IdInUse {
            field: "local_id",
            id: 7
        })
    );
    assert!(matches!(
        ep.open_session(
            now,
            t,
            SessionConfig {
                cookie_len: 3,
                ..Default::default()
            }
        ),
        Err(Error::InvalidConfig {
            field: "cookie_len",
            ..
        })
    ));
    let s = ep
        .open_session(
            now,
            t,
            SessionConfig {
                local_session_id: Some(99),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(ep.session_params(s).unwrap().local_session_id, 99);
    assert_eq!(ep.session_by_id(99), Some(s));
    assert_eq!(
        ep.open_session(
            now,
            t,
            SessionConfig {
                local_session_id: Some(99),
                ..Default::default()
            }
        ),
        Err(Error::IdInUse {
            field: "local_session_id",
            id: 99
        })
    );
    assert_eq!(
        ep.open_session(now, TunnelHandle(999), SessionConfig::default()),
        Err(Error::UnknownTunnel(TunnelHandle(999)))
    );
    ep.close_tunnel(now, t).unwrap();
    assert_eq!(
        ep.open_session(now, t, SessionConfig::default()),
        Err(Error::TunnelClosing(t))
    );
    assert_eq!(
        ep.session_by_id(99),
        None,
        "closing released the session ID"
    );
    let limited = EndpointConfig {
        max_tunnels: 1,
        ..EndpointConfig::default()
    };
    let mut ep = endpoint(2, limited, RejectAll);
    ep.connect(now, addr(2), TunnelConfig::default()).unwrap();
    assert_eq!(
        ep.connect(now, addr(3), TunnelConfig::default()),
        Err(Error::TooManyTunnels)
    );
}
