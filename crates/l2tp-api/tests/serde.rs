//! Encoding of the management protocol: round trips, the exact wire form of
//! each request (so a change is a deliberate protocol bump), defaults, and
//! refusal of malformed input.

use std::net::IpAddr;

use l2tp_api::*;
use serde_json::json;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn full_tunnel() -> TunnelSpec {
    TunnelSpec {
        tunnel_id: 10,
        peer_tunnel_id: 20,
        encap: Encap::Ip,
        local: Some(ip("2001:db8::1")),
        remote: ip("2001:db8::2"),
        udp_sport: Some(5000),
        udp_dport: Some(6000),
        udp_csum: true,
        udp6_csum_tx: false,
        udp6_csum_rx: false,
    }
}

fn full_session() -> SessionSpec {
    SessionSpec {
        tunnel_id: 10,
        session_id: 11,
        peer_session_id: 12,
        pw_type: PseudowireType::Ethernet,
        name: Some("pw0".into()),
        cookie: Some(Cookie::from_hex("0102030405060708").unwrap()),
        peer_cookie: Some(Cookie::from_hex("CAFEBABE").unwrap()),
        l2spec_type: L2SpecType::None,
        seq: SeqMode::Both,
        mtu: Some(1400),
        reorder_timeout_ms: Some(250),
    }
}

fn session_state() -> SessionState {
    SessionState {
        tunnel_id: 1,
        peer_tunnel_id: 2,
        session_id: 3,
        peer_session_id: 4,
        pw_type: PseudowireType::Ethernet,
        ifname: "l2tpeth0".into(),
        ifindex: 7,
        mtu: 1446,
        cookie: None,
        peer_cookie: Some(Cookie::from_bytes(&[1, 2, 3, 4]).unwrap()),
        l2spec_type: L2SpecType::Default,
        seq: SeqMode::Recv,
        reorder_timeout_ms: None,
        origin: Origin::Dynamic,
        stats: Counters {
            tx_packets: 1,
            tx_bytes: 2,
            tx_errors: 3,
            rx_packets: 4,
            rx_bytes: 5,
            rx_errors: 6,
            rx_seq_discards: 7,
            rx_oos_packets: 8,
            rx_cookie_discards: 9,
            rx_invalid: u64::MAX,
        },
        control: Some(SessionControl {
            tunnel_name: "to-b".into(),
            remote_end_id: "pw-1".into(),
            serial_number: 9,
            initiator: true,
            peer_circuit_active: true,
        }),
        fast_path: l2tp_api::FastPath {
            tx: false,
            rx: true,
            tx_note: Some("veth0 is a veth device (a virtual link); L2TP_DP_TCBPF_TX=auto".into()),
        },
    }
}

fn tunnel_state() -> TunnelState {
    TunnelState {
        tunnel_id: 1,
        peer_tunnel_id: 2,
        encap: Encap::Udp,
        local: ip("198.18.0.1"),
        remote: ip("198.18.0.2"),
        udp_sport: 1701,
        udp_dport: 1702,
        udp_csum: false,
        udp6_csum_tx: true,
        udp6_csum_rx: true,
        origin: Origin::Static,
        session_count: 1,
        stats: Counters::default(),
        control: None,
    }
}

fn dynamic_tunnel_state() -> TunnelState {
    TunnelState {
        origin: Origin::Dynamic,
        control: Some(TunnelControl {
            name: "to-b".into(),
            state: "established".into(),
            initiator: true,
            authenticated: true,
            peer_host_name: Some("lcce-b".into()),
            peer_router_id: Some(7),
            peer_vendor_name: None,
            sessions: 3,
            stats: ControlCounters {
                retransmissions: 4,
                ..ControlCounters::default()
            },
        }),
        ..tunnel_state()
    }
}

fn monitor_message() -> MonitorMessage {
    MonitorMessage {
        time_ms: 1_700_000_000_123,
        direction: "received".into(),
        encap: Encap::Ip,
        peer: "198.18.0.1:0".into(),
        tunnel_id: None,
        ccid: 0,
        message: "SCCRQ".into(),
        ns: 0,
        nr: 0,
        retransmit: false,
        avps: vec![MonitorAvp {
            name: "Host Name".into(),
            value: "\"lcce-a\"".into(),
        }],
    }
}

fn all_requests() -> Vec<Request> {
    vec![
        Request::Hello {
            client: "test".into(),
        },
        Request::AddTunnel(full_tunnel()),
        Request::AddTunnel(TunnelSpec::new(1, 2, ip("198.18.0.2"))),
        Request::DelTunnel { tunnel_id: 4 },
        Request::AddSession(full_session()),
        Request::AddSession(SessionSpec::new(1, 2, 3)),
        Request::DelSession {
            tunnel_id: 1,
            session_id: u32::MAX,
        },
        Request::ShowTunnels { tunnel_id: None },
        Request::ShowTunnels { tunnel_id: Some(9) },
        Request::ShowSessions {
            tunnel_id: Some(1),
            session_id: None,
        },
        Request::ShowSessions {
            tunnel_id: None,
            session_id: Some(2),
        },
        Request::AddDynamicSession(DynamicSessionSpec {
            tunnel: "to-b".into(),
            pw_type: PseudowireType::Null,
            remote_end_id: Some("pw-1".into()),
            name: None,
            cookie_len: 8,
            l2spec_type: L2SpecType::Default,
            seq: SeqMode::Recv,
            mtu: Some(1400),
        }),
        Request::ShowControl,
        Request::Monitor,
    ]
}

fn all_responses() -> Vec<Response> {
    vec![
        Response::Hello {
            version: PROTOCOL_VERSION,
            server: "l2tpd 0.1.0".into(),
        },
        Response::TunnelAdded(tunnel_state()),
        Response::SessionAdded(session_state()),
        Response::Done,
        Response::Tunnels {
            tunnels: vec![tunnel_state(), tunnel_state()],
        },
        Response::Tunnels { tunnels: vec![] },
        Response::Sessions {
            sessions: vec![session_state()],
        },
        Response::Error(ApiError::new(ErrorKind::TunnelExists, "tunnel 1 exists")),
        Response::Error(ApiError::invalid("cookie", "too long")),
        Response::Tunnels {
            tunnels: vec![dynamic_tunnel_state()],
        },
        Response::SessionRequested {
            tunnel_id: 1,
            session_id: 2,
        },
        Response::Control(ControlStatus {
            listeners: vec!["udp 198.18.0.1:1701".into()],
            tunnels: vec![ConfiguredTunnel {
                name: "to-b".into(),
                state: "retry-wait".into(),
                retry_in_ms: Some(10),
                last_error: Some("timeout".into()),
                ..ConfiguredTunnel::default()
            }],
            endpoints: vec![EndpointCounters {
                v2_rejected: 1,
                ..EndpointCounters::default()
            }],
        }),
        Response::MonitorStarted,
        Response::Message(monitor_message()),
    ]
}

#[test]
fn control_plane_wire_forms() {
    assert_eq!(
        serde_json::to_value(Request::Monitor).unwrap(),
        json!({"type": "monitor"})
    );
    assert_eq!(
        serde_json::to_value(Request::ShowControl).unwrap(),
        json!({"type": "show_control"})
    );
    // Only the tunnel is required; the rest takes the defaults.
    let r: Request =
        serde_json::from_value(json!({"type": "add_dynamic_session", "tunnel": "7"})).unwrap();
    let Request::AddDynamicSession(s) = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        (s.tunnel.as_str(), s.pw_type, s.cookie_len, s.seq),
        ("7", PseudowireType::Ethernet, 0, SeqMode::None)
    );
    assert_eq!(
        serde_json::to_value(PseudowireType::Null).unwrap(),
        json!("none")
    );
    // Static objects carry no control block on the wire, so older clients
    // read newer daemons' answers.
    let v = serde_json::to_value(tunnel_state()).unwrap();
    assert!(v.get("control").is_none(), "{v}");
    let v = serde_json::to_value(dynamic_tunnel_state()).unwrap();
    assert_eq!(v["control"]["stats"]["retransmissions"], 4);
    let v = serde_json::to_value(Response::Message(monitor_message())).unwrap();
    assert_eq!(v["type"], "message");
    assert_eq!(v["avps"][0]["name"], "Host Name");
}

#[test]
fn requests_round_trip() {
    for r in all_requests() {
        let env = RequestEnvelope {
            version: PROTOCOL_VERSION,
            request: r,
        };
        let line = serde_json::to_string(&env).unwrap();
        assert!(!line.contains('\n'), "one line per message: {line}");
        let back: RequestEnvelope = serde_json::from_str(&line).unwrap();
        assert_eq!(back, env);
    }
}

#[test]
fn responses_round_trip() {
    for r in all_responses() {
        let env = ResponseEnvelope {
            version: PROTOCOL_VERSION,
            response: r,
        };
        let line = serde_json::to_string(&env).unwrap();
        assert!(!line.contains('\n'));
        let back: ResponseEnvelope = serde_json::from_str(&line).unwrap();
        assert_eq!(back, env);
    }
}

#[test]
fn wire_form_is_stable() {
    let env = RequestEnvelope {
        version: 1,
        request: Request::AddSession(full_session()),
    };
    assert_eq!(
        serde_json::to_value(&env).unwrap(),
        json!({"version": 1, "request": {
            "type": "add_session", "tunnel_id": 10, "session_id": 11, "peer_session_id": 12,
            "pw_type": "ethernet", "name": "pw0", "cookie": "0102030405060708",
            "peer_cookie": "cafebabe", "l2spec_type": "none", "seq": "both",
            "mtu": 1400, "reorder_timeout_ms": 250}})
    );
    assert_eq!(
        serde_json::to_value(Request::DelTunnel { tunnel_id: 4 }).unwrap(),
        json!({"type": "del_tunnel", "tunnel_id": 4})
    );
    assert_eq!(
        serde_json::to_value(Request::AddTunnel(full_tunnel())).unwrap(),
        json!({"type": "add_tunnel", "tunnel_id": 10, "peer_tunnel_id": 20, "encap": "ip",
               "local": "2001:db8::1", "remote": "2001:db8::2", "udp_sport": 5000,
               "udp_dport": 6000, "udp_csum": true, "udp6_csum_tx": false,
               "udp6_csum_rx": false})
    );
    assert_eq!(
        serde_json::to_value(Response::Error(ApiError::new(ErrorKind::NoSuchTunnel, "x"))).unwrap(),
        json!({"type": "error", "kind": "no_such_tunnel", "message": "x"})
    );
}

#[test]
fn omitted_fields_take_ip_l2tp_defaults() {
    let r: Request = serde_json::from_value(json!({
        "type": "add_tunnel", "tunnel_id": 1, "peer_tunnel_id": 2, "remote": "198.18.0.2"}))
    .unwrap();
    assert_eq!(
        r,
        Request::AddTunnel(TunnelSpec::new(1, 2, ip("198.18.0.2")))
    );
    let Request::AddTunnel(t) = r else { panic!() };
    assert_eq!(t.encap, Encap::Udp);
    assert!(!t.udp_csum && t.udp6_csum_tx && t.udp6_csum_rx);

    let r: Request = serde_json::from_value(json!({
        "type": "add_session", "tunnel_id": 1, "session_id": 2, "peer_session_id": 3}))
    .unwrap();
    assert_eq!(r, Request::AddSession(SessionSpec::new(1, 2, 3)));
    let Request::AddSession(s) = r else { panic!() };
    assert_eq!(s.l2spec_type, L2SpecType::Default);
    assert_eq!(s.seq, SeqMode::None);

    let r: Request = serde_json::from_value(json!({"type": "show_sessions"})).unwrap();
    assert_eq!(
        r,
        Request::ShowSessions {
            tunnel_id: None,
            session_id: None
        }
    );
}

#[test]
fn malformed_requests_are_refused() {
    let bad = [
        r#"{"type":"add_tunnel","tunnel_id":1,"peer_tunnel_id":2}"#, // no remote
        r#"{"type":"add_tunnel","tunnel_id":-1,"peer_tunnel_id":2,"remote":"198.18.0.1"}"#,
        r#"{"type":"add_tunnel","tunnel_id":4294967296,"peer_tunnel_id":2,"remote":"198.18.0.1"}"#,
        r#"{"type":"add_tunnel","tunnel_id":1,"peer_tunnel_id":2,"remote":"nowhere"}"#,
        r#"{"type":"add_tunnel","tunnel_id":1,"peer_tunnel_id":2,"remote":"198.18.0.1","encap":"gre"}"#,
        r#"{"type":"add_session","tunnel_id":1,"session_id":2,"peer_session_id":3,"cookie":"010203"}"#,
        r#"{"type":"add_session","tunnel_id":1,"session_id":2,"peer_session_id":3,"cookie":"0102030g"}"#,
        r#"{"type":"add_session","tunnel_id":1,"session_id":2,"peer_session_id":3,"seq":"sideways"}"#,
        r#"{"type":"reboot"}"#,
        r#"{"tunnel_id":1}"#,
        r#"[]"#,
        r#""#,
    ];
    for line in bad {
        assert!(
            serde_json::from_str::<Request>(line).is_err(),
            "accepted malformed request {line}"
        );
    }
}

#[test]
fn unknown_error_kinds_from_newer_daemons_decode() {
    let r: Response = serde_json::from_value(json!({
        "type": "error", "kind": "quota_exceeded", "message": "too many"}))
    .unwrap();
    assert_eq!(
        r,
        Response::Error(ApiError::new(ErrorKind::Unknown, "too many"))
    );
}

#[test]
fn cookie_parsing() {
    let c = Cookie::from_hex("DeadBeef").unwrap();
    assert_eq!(c.as_bytes(), &[0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(c.len(), 4);
    assert_eq!(c.to_hex(), "deadbeef");
    let c = Cookie::from_hex("0011223344556677").unwrap();
    assert_eq!(c.as_bytes(), &[0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77]);
    assert_eq!(c.to_string(), "0011223344556677");

    for (s, want) in [
        ("", CookieError::BadLength { digits: 0 }),
        ("0102", CookieError::BadLength { digits: 4 }),
        ("010203040", CookieError::BadLength { digits: 9 }),
        ("010203040506070809", CookieError::BadLength { digits: 18 }),
        ("0x010203", CookieError::NotHex),
        ("0102 304", CookieError::NotHex),
        ("ééééééé1", CookieError::NotHex),
        ("0102030é", CookieError::NotHex),
    ] {
        assert_eq!(Cookie::from_hex(s), Err(want), "{s:?}");
    }
    assert!(Cookie::from_bytes(&[1, 2, 3]).is_err());
    assert!(Cookie::from_bytes(&[]).is_err());
    assert_eq!(Cookie::from_bytes(&[9; 8]).unwrap().len(), 8);
    let msg = CookieError::BadLength { digits: 6 }.to_string();
    assert!(msg.contains("8 or 16 hex digits"), "{msg}");
}

#[test]
fn seq_mode_flags() {
    for (send, recv) in [(false, false), (true, false), (false, true), (true, true)] {
        let m = SeqMode::from_flags(send, recv);
        assert_eq!((m.send(), m.recv()), (send, recv));
    }
}
