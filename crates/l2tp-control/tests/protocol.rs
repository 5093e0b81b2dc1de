//! Control connection and session protocol: tie breaking, authentication,
//! unknown AVPs, L2TPv2 peers, teardown, outgoing calls, encapsulation.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use l2tp_control::*;
use l2tp_wire::avp::{Avp, AvpValue};
use l2tp_wire::control::Version;
use l2tp_wire::message::{DigestType, Message, MessageType, Security};

/// A hand-driven L2TPv3 peer speaking through the wire codec.
struct Raw {
    idx: usize,
    addr: SocketAddr,
    my_ccid: u32,
    peer_ccid: u32,
    ns: u16,
    nr: u16,
}

impl Raw {
    fn new(sim: &mut Sim, last: u8, my_ccid: u32) -> Raw {
        let a = addr(last);
        let idx = sim.add_scripted(a);
        Raw {
            idx,
            addr: a,
            my_ccid,
            peer_ccid: 0,
            ns: 0,
            nr: 0,
        }
    }

    fn send(&mut self, sim: &mut Sim, mut m: Message) {
        m.header.tunnel_id = self.peer_ccid;
        m.header.ns = self.ns;
        m.header.nr = self.nr;
        if !m.is_zlb() {
            self.ns = self.ns.wrapping_add(1);
        }
        let b = m.to_bytes(&Security::default()).unwrap();
        sim.send(self.addr, addr(1), b);
    }

    /// Everything received so far, parsed; acknowledges in-order messages.
    fn recv(&mut self, sim: &mut Sim) -> Vec<Message> {
        let inbox = std::mem::take(&mut sim.node(self.idx).inbox);
        let mut out = Vec::new();
        for (_, _, b) in inbox {
            let m = Message::parse_unvalidated(&b, &Security::default()).unwrap();
            if !m.is_zlb() && m.header.ns == self.nr {
                self.nr = self.nr.wrapping_add(1);
            }
            out.push(m);
        }
        out
    }

    fn sccrq(&self) -> Message {
        Message::new(Version::V3, MessageType::Sccrq, 0, 0)
            .with(AvpValue::host_name("scripted"))
            .with(AvpValue::RouterId(0x0a000009))
            .with(AvpValue::AssignedControlConnectionId(self.my_ccid))
            .with(AvpValue::PseudowireCapabilitiesList(vec![5, 4]))
            .with(AvpValue::ReceiveWindowSize(8))
    }

    /// SCCRQ / SCCRP / SCCCN with endpoint node 0.
    fn establish(&mut self, sim: &mut Sim) {
        let m = self.sccrq();
        self.send(sim, m);
        sim.run_for(Duration::from_millis(50));
        let got = self.recv(sim);
        let sccrp = got
            .iter()
            .find(|m| m.message_type() == Some(MessageType::Sccrp))
            .expect("SCCRP");
        assert_eq!(sccrp.header.tunnel_id, self.my_ccid);
        self.peer_ccid = sccrp.assigned_control_connection_id().unwrap();
        self.send(sim, Message::new(Version::V3, MessageType::Scccn, 0, 0));
        sim.run_for(Duration::from_millis(200));
        self.recv(sim);
        assert_eq!(sim.nodes[0].count(is_tunnel_up), 1);
    }

    fn icrq(&self, local_sid: u32) -> Message {
        Message::new(Version::V3, MessageType::Icrq, 0, 0)
            .with(AvpValue::LocalSessionId(local_sid))
            .with(AvpValue::RemoteSessionId(0))
            .with(AvpValue::CallSerialNumber(local_sid))
            .with(AvpValue::PseudowireType(5))
            .with(AvpValue::RemoteEndId(b"eth0".to_vec()))
            .with(AvpValue::CircuitStatus(1))
    }
}

fn unknown_avp(attr: u16, mandatory: bool) -> Avp {
    Avp {
        mandatory,
        hidden: false,
        value: AvpValue::Unknown {
            vendor_id: 0,
            attr_type: attr,
            value: vec![1, 2, 3],
        },
    }
}

fn acceptor(seed: u64) -> Sim {
    let mut sim = Sim::new(seed, NetConfig::default());
    sim.add(
        addr(1),
        endpoint(
            seed,
            EndpointConfig::default(),
            allow_all(TunnelConfig::default(), SessionConfig::default()),
        ),
    );
    sim
}

fn result_of(m: &Message) -> (u16, Option<u16>) {
    let r = m.result_code().unwrap();
    (r.result, r.error)
}

#[test]
fn unknown_mandatory_avp_gets_cdn_then_stopccn() {
    let mut sim = acceptor(21);
    let mut r = Raw::new(&mut sim, 9, 0x1234);
    r.establish(&mut sim);

    // ICRQ with an unknown AVP that has the M bit: CDN, Result 2, Error 8.
    let m = r.icrq(1001).with_avp(unknown_avp(999, true));
    r.send(&mut sim, m);
    sim.run_for(Duration::from_millis(50));
    let got = r.recv(&mut sim);
    let cdn = got
        .iter()
        .find(|m| m.message_type() == Some(MessageType::Cdn))
        .expect("CDN");
    assert_eq!(result_of(cdn), (2, Some(8)));
    assert_eq!(cdn.remote_session_id(), Some(1001));
    assert!(cdn.result_code().unwrap().message_text().contains("999"));
    assert!(sim
        .ep(0)
        .session_by_id(cdn.local_session_id().unwrap())
        .is_none());

    // The same without the M bit: ignored, the session is accepted.
    let m = r.icrq(1002).with_avp(unknown_avp(999, false));
    r.send(&mut sim, m);
    sim.run_for(Duration::from_millis(50));
    let got = r.recv(&mut sim);
    let icrp = got
        .iter()
        .find(|m| m.message_type() == Some(MessageType::Icrp))
        .expect("ICRP");
    assert_eq!(icrp.remote_session_id(), Some(1002));

    // A control connection message (HELLO) with it: StopCCN 2/8.
    let m = Message::new(Version::V3, MessageType::Hello, 0, 0).with_avp(unknown_avp(4000, true));
    r.send(&mut sim, m);
    sim.run_for(Duration::from_millis(50));
    let got = r.recv(&mut sim);
    let stop = got
        .iter()
        .find(|m| m.message_type() == Some(MessageType::StopCcn))
        .expect("StopCCN");
    assert_eq!(result_of(stop), (2, Some(8)));
    assert_eq!(stop.assigned_control_connection_id(), Some(r.peer_ccid));
    let (_, e) = sim.nodes[0].find(is_tunnel_down).unwrap();
    match e {
        Event::TunnelDown {
            reason: TunnelDownReason::Error(ri),
            ..
        } => assert_eq!((ri.result, ri.error), (2, Some(8))),
        e => panic!("{e:?}"),
    }
    // Acknowledge the StopCCN: the endpoint forgets the connection.
    r.send(&mut sim, Message::zlb(Version::V3, 0, 0, 0, 0));
    sim.run_for(Duration::from_millis(50));
    assert!(sim.ep(0).tunnels().is_empty());
}

#[test]
fn unknown_mandatory_avp_in_sccrq_is_refused() {
    let mut sim = acceptor(22);
    let mut r = Raw::new(&mut sim, 9, 77);
    let m = r.sccrq().with_avp(unknown_avp(1234, true));
    r.send(&mut sim, m);
    sim.run_for(Duration::from_millis(50));
    let got = r.recv(&mut sim);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].message_type(), Some(MessageType::StopCcn));
    assert_eq!(got[0].header.tunnel_id, 77);
    assert_eq!(result_of(&got[0]), (2, Some(8)));
    assert!(sim.ep(0).tunnels().is_empty());
    assert_eq!(sim.ep(0).stats().rejected, 1);
}

#[test]
fn l2tpv2_sccrq_gets_unsupported_version() {
    let mut sim = acceptor(23);
    let idx = sim.add_scripted(addr(9));
    let sccrq = Message::new(Version::V2, MessageType::Sccrq, 0, 0)
        .with(AvpValue::ProtocolVersion {
            version: 1,
            revision: 0,
        })
        .with(AvpValue::host_name("xl2tpd"))
        .with(AvpValue::FramingCapabilities(3))
        .with(AvpValue::AssignedTunnelId(4242));
    sim.send(
        addr(9),
        addr(1),
        sccrq.to_bytes(&Security::default()).unwrap(),
    );
    sim.run_for(Duration::from_millis(50));
    let inbox = std::mem::take(&mut sim.node(idx).inbox);
    assert_eq!(inbox.len(), 1);
    let m = Message::parse(&inbox[0].2).unwrap();
    assert_eq!(m.version(), Version::V2);
    assert_eq!(m.message_type(), Some(MessageType::StopCcn));
    assert_eq!(m.header.tunnel_id, 4242);
    assert_eq!((m.header.ns, m.header.nr), (0, 1));
    // Result Code 5, Error Code = highest version supported.
    assert_eq!(result_of(&m), (5, Some(3)));
    assert!(sim.ep(0).tunnels().is_empty());
    assert_eq!(sim.ep(0).stats().v2_rejected, 1);
}

#[test]
fn l2tpv2_format_sccrq_with_v3_avps_is_answered_as_v3() {
    // RFC 3931 4.7.3 automatic fallback probe: Ver 2 header, L2TPv2 AVPs,
    // L2TPv3 AVPs with the M bit clear.
    let mut sim = acceptor(24);
    let idx = sim.add_scripted(addr(9));
    let v3 = |v: AvpValue| Avp::new(v).with_mandatory(false);
    let sccrq = Message::new(Version::V2, MessageType::Sccrq, 0, 0)
        .with(AvpValue::ProtocolVersion {
            version: 1,
            revision: 0,
        })
        .with(AvpValue::host_name("dual"))
        .with(AvpValue::FramingCapabilities(3))
        .with(AvpValue::AssignedTunnelId(5))
        .with_avp(v3(AvpValue::RouterId(9)))
        .with_avp(v3(AvpValue::AssignedControlConnectionId(555)))
        .with_avp(v3(AvpValue::PseudowireCapabilitiesList(vec![5])));
    sim.send(
        addr(9),
        addr(1),
        sccrq.to_bytes(&Security::default()).unwrap(),
    );
    sim.run_for(Duration::from_millis(50));
    let inbox = std::mem::take(&mut sim.node(idx).inbox);
    let m = Message::parse(&inbox[0].2).unwrap();
    assert_eq!(m.version(), Version::V3);
    assert_eq!(m.message_type(), Some(MessageType::Sccrp));
    assert_eq!(m.header.tunnel_id, 555);
}

#[test]
fn simultaneous_sccrqs_resolved_by_tie_breaker() {
    for seed in 1..=100u64 {
        let net = NetConfig {
            loss: [0.0, 0.05, 0.15, 0.3][(seed % 4) as usize],
            reorder: 0.2,
            ..NetConfig::default()
        };
        let cfg = with_retries(10);
        let mut sim = Sim::pair_alike(seed, net, cfg.clone());
        let ta = sim.connect(0, addr(2), cfg.clone());
        let tb = sim.connect(1, addr(1), cfg.clone());
        sim.open(0, ta, SessionConfig::default());
        sim.open(1, tb, SessionConfig::default());
        assert!(
            sim.run_until(Duration::from_secs(300), |s| {
                s.nodes[0].count(is_session_up) == 2 && s.nodes[1].count(is_session_up) == 2
            }),
            "seed {seed}"
        );
        // Let any stray connection attempt expire.
        sim.run_for(Duration::from_secs(60));
        assert_eq!(sim.ep(0).tunnels(), vec![ta], "seed {seed}");
        assert_eq!(sim.ep(1).tunnels(), vec![tb], "seed {seed}");
        let ia = sim.ep(0).tunnel_info(ta).unwrap();
        let ib = sim.ep(1).tunnel_info(tb).unwrap();
        assert_eq!(ia.peer_id, ib.local_id);
        assert_eq!(ib.peer_id, ia.local_id);
        assert_ne!(ia.initiator, ib.initiator, "exactly one side initiated");
        assert_eq!(sim.ep(0).tunnel_state(ta), Some(TunnelState::Established));
        assert_eq!(sim.ep(1).tunnel_state(tb), Some(TunnelState::Established));
        for n in 0..2 {
            assert_eq!(sim.nodes[n].count(is_tunnel_up), 1, "seed {seed}");
            assert_eq!(sim.nodes[n].count(is_tunnel_down), 0, "seed {seed}");
        }
        let (sa, sb) = (sim.ep(0).stats(), sim.ep(1).stats());
        assert!(sa.tie_lost + sb.tie_lost >= 1, "seed {seed}: {sa:?} {sb:?}");
        assert_eq!(sa.tie_lost.min(1) + sb.tie_lost.min(1), 1, "one loser");
    }
}

#[test]
fn digest_on_unauthenticated_connection_must_verify() {
    // RFC 3931 4.3: a Message Digest is checked (with an empty secret) even
    // when the connection does not authenticate.
    let mut sim = acceptor(25);
    let mut r = Raw::new(&mut sim, 9, 0x77);
    r.establish(&mut sim);
    let t = sim.ep(0).tunnels()[0];
    let hello = || {
        Message::new(Version::V3, MessageType::Hello, 0, 0).with(DigestType::HmacMd5.placeholder())
    };
    let before = sim.ep(0).tunnel_stats(t).unwrap();
    r.send(&mut sim, hello());
    sim.run_for(Duration::from_millis(200));
    let good = sim.ep(0).tunnel_stats(t).unwrap();
    assert_eq!(good.rx_messages, before.rx_messages + 1);
    assert_eq!(good.bad_digest, 0);
    // The digest is the last AVP: flipping the last byte breaks it.
    sim.filter = Some(Box::new(|p| {
        let mut b = p.payload.clone();
        *b.last_mut().unwrap() ^= 0x01;
        Verdict::Replace(b)
    }));
    r.send(&mut sim, hello());
    sim.run_for(Duration::from_millis(200));
    let bad = sim.ep(0).tunnel_stats(t).unwrap();
    assert_eq!(bad.rx_messages, good.rx_messages);
    assert_eq!(bad.bad_digest, 1);
}

fn auth_cfg(secret: &str, alg: DigestAlgorithm) -> TunnelConfig {
    TunnelConfig {
        auth: Some(Auth {
            secret: secret.as_bytes().to_vec(),
            algorithm: alg,
        }),
        ..TunnelConfig::default()
    }
}

#[test]
fn wrong_secret_never_establishes() {
    let a = auth_cfg("alpha", DigestAlgorithm::Md5);
    let b = auth_cfg("bravo", DigestAlgorithm::Md5);
    let mut sim = Sim::pair_with(
        31,
        NetConfig::default(),
        a.clone(),
        b,
        SessionConfig::default(),
    );
    let t = sim.connect(0, addr(2), a);
    sim.open(0, t, SessionConfig::default());
    sim.run_for(Duration::from_secs(120));
    assert_eq!(sim.nodes[0].count(is_tunnel_up), 0);
    assert_eq!(sim.nodes[1].count(|_| true), 0, "B never saw a connection");
    let (at, e) = sim.nodes[0].find(is_tunnel_down).unwrap().clone();
    assert_eq!(at, Duration::from_secs(31));
    assert_eq!(
        e,
        Event::TunnelDown {
            tunnel: t,
            reason: TunnelDownReason::Timeout
        }
    );
    assert_eq!(sim.nodes[0].count(is_session_down), 1);
    // The SCCRQ and its 5 retransmissions all failed B's digest check.
    assert_eq!(sim.ep(1).stats().bad_digest, 6);
    assert!(sim.ep(1).tunnels().is_empty());
    // No reply ever left B.
    assert!(sim.log.iter().all(|p| p.src == addr(1)));
}

#[test]
fn authenticated_tunnel_with_mixed_digests_and_corruption_counted() {
    let a = auth_cfg("s3cret", DigestAlgorithm::Sha1);
    let b = auth_cfg("s3cret", DigestAlgorithm::Md5);
    let mut sim = Sim::pair_with(
        32,
        NetConfig::default(),
        a.clone(),
        b,
        SessionConfig::default(),
    );
    // Corrupt the first ICRP B sends (one bit in its last AVP).
    let mut done = false;
    sim.filter = Some(Box::new(move |p| {
        if !done && p.kind() == Some(l2tp_wire::message::MessageType::Icrp) {
            done = true;
            let mut b = p.payload.clone();
            *b.last_mut().unwrap() ^= 0x01;
            Verdict::Replace(b)
        } else {
            Verdict::Pass
        }
    }));
    let t = sim.connect(0, addr(2), a);
    let s = sim.open(0, t, SessionConfig::default());
    assert!(
        sim.run_until(Duration::from_secs(10), |s| s.nodes[0].count(is_session_up)
            == 1)
    );
    assert!(sim.ep(0).tunnel_info(t).unwrap().authenticated);
    let st = sim.ep(0).tunnel_stats(t).unwrap();
    assert_eq!(st.bad_digest, 1, "{st:?}");
    let tb = sim.ep(1).tunnels()[0];
    assert_eq!(sim.ep(1).tunnel_stats(tb).unwrap().retransmissions, 1);
    assert_eq!(sim.ep(0).session_state(s), Some(SessionState::Established));
    sim.run_for(Duration::from_secs(1));
    // Every message carries a digest right after the Message Type; acks
    // are explicit ACK messages, never ZLBs.
    for p in &sim.log {
        let m = p.message();
        assert!(!m.is_zlb(), "ZLB sent with authentication on");
        assert!(
            matches!(m.avps[1].value, AvpValue::MessageDigest { .. }),
            "{:?}",
            m.message_type()
        );
        let want = if p.src == addr(1) { 1 } else { 0 };
        match &m.avps[1].value {
            AvpValue::MessageDigest { digest_type, .. } => assert_eq!(*digest_type, want),
            _ => unreachable!(),
        }
    }
    assert!(sim
        .log
        .iter()
        .any(|p| p.kind() == Some(l2tp_wire::message::MessageType::Ack)));
}

#[test]
fn authentication_required_but_peer_has_none() {
    let b = auth_cfg("x", DigestAlgorithm::Md5);
    let mut sim = Sim::pair_with(
        33,
        NetConfig::default(),
        TunnelConfig::default(),
        b,
        SessionConfig::default(),
    );
    let t = sim.connect(0, addr(2), TunnelConfig::default());
    sim.run_for(Duration::from_secs(1));
    let (_, e) = sim.nodes[0].find(is_tunnel_down).unwrap();
    match e {
        Event::TunnelDown {
            tunnel,
            reason: TunnelDownReason::PeerStopCcn(ri),
        } => {
            assert_eq!(*tunnel, t);
            assert_eq!(ri.result, 4);
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn policy_refusal_is_a_stopccn_result_4() {
    let mut sim = Sim::new(34, NetConfig::default());
    sim.add(addr(1), endpoint(1, EndpointConfig::default(), RejectAll));
    let only_b3 =
        AllowList::new(TunnelConfig::default(), SessionConfig::default()).allow(addr(3).ip());
    sim.add(addr(2), endpoint(2, EndpointConfig::default(), only_b3));
    let t = sim.connect(0, addr(2), TunnelConfig::default());
    sim.run_for(Duration::from_secs(40));
    assert_eq!(sim.nodes[0].events.len(), 1);
    match &sim.nodes[0].events[0].1 {
        Event::TunnelDown {
            tunnel,
            reason: TunnelDownReason::PeerStopCcn(ri),
        } => {
            assert_eq!(*tunnel, t);
            assert_eq!(ri.result, 4);
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(sim.ep(1).stats().rejected, 1);
    // A acknowledged the StopCCN, lingered, and forgot the connection.
    assert!(sim.ep(0).tunnels().is_empty());
}

#[test]
fn close_tunnel_reaches_peer_and_lingers() {
    let mut sim = Sim::pair(35, NetConfig::default());
    let t = sim.connect(0, addr(2), TunnelConfig::default());
    for _ in 0..2 {
        sim.open(0, t, SessionConfig::default());
    }
    assert!(
        sim.run_until(Duration::from_secs(5), |s| s.nodes[1].count(is_session_up)
            == 2)
    );
    let now = sim.now;
    sim.ep(0).close_tunnel(now, t).unwrap();
    // Local events come at once: sessions, then the tunnel.
    sim.run_for(Duration::from_millis(1));
    let kinds: Vec<bool> = sim.nodes[0]
        .events
        .iter()
        .filter(|(_, e)| is_session_down(e) || is_tunnel_down(e))
        .map(|(_, e)| is_tunnel_down(e))
        .collect();
    assert_eq!(kinds, vec![false, false, true]);
    assert!(matches!(
        sim.nodes[0].find(is_tunnel_down).unwrap().1,
        Event::TunnelDown {
            reason: TunnelDownReason::Closed,
            ..
        }
    ));
    sim.run_for(Duration::from_secs(1));
    let tb = sim.ep(1).tunnels()[0];
    assert_eq!(sim.ep(1).tunnel_state(tb), Some(TunnelState::Lingering));
    assert_eq!(sim.nodes[1].count(is_session_down), 2);
    match &sim.nodes[1].find(is_tunnel_down).unwrap().1 {
        Event::TunnelDown {
            reason: TunnelDownReason::PeerStopCcn(ri),
            ..
        } => assert_eq!(ri.result, 1),
        e => panic!("{e:?}"),
    }
    // A's StopCCN was acknowledged: A is done; B lingers a full cycle.
    assert!(sim.ep(0).tunnels().is_empty());
    sim.run_for(Duration::from_secs(31));
    assert!(sim.ep(1).tunnels().is_empty());
}

#[test]
fn stopccn_retransmission_is_reacked_while_lingering() {
    let mut sim = Sim::pair(36, NetConfig::default());
    let t = sim.connect(0, addr(2), TunnelConfig::default());
    assert!(
        sim.run_until(Duration::from_secs(5), |s| s.nodes[1].count(is_tunnel_up)
            == 1)
    );
    sim.run_for(Duration::from_secs(1));
    // B's acknowledgement of the StopCCN is lost once.
    let mut dropped = false;
    sim.filter = Some(Box::new(move |p| {
        if p.src == addr(2) && p.is_ack() && !dropped {
            dropped = true;
            Verdict::Drop
        } else {
            Verdict::Pass
        }
    }));
    let now = sim.now;
    sim.ep(0).close_tunnel(now, t).unwrap();
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.sent_by(addr(1), Some(MessageType::StopCcn)).len(), 2);
    let tb = sim.ep(1).tunnels()[0];
    assert_eq!(sim.ep(1).tunnel_stats(tb).unwrap().duplicates, 1);
    assert!(sim.ep(0).tunnels().is_empty(), "second ack reached A");
    assert_eq!(sim.nodes[1].count(is_tunnel_down), 1);
}

#[test]
fn close_session_sends_cdn() {
    let mut sim = Sim::pair(37, NetConfig::default());
    let t = sim.connect(0, addr(2), TunnelConfig::default());
    let s = sim.open(0, t, SessionConfig::default());
    assert!(
        sim.run_until(Duration::from_secs(5), |s| s.nodes[1].count(is_session_up)
            == 1)
    );
    let bs = match &sim.nodes[1].find(is_session_up).unwrap().1 {
        Event::SessionUp { session, .. } => *session,
        _ => unreachable!(),
    };
    let now = sim.now;
    sim.ep(0).close_session(now, s).unwrap();
    sim.run_for(Duration::from_secs(1));
    assert_eq!(
        sim.nodes[0].find(is_session_down).unwrap().1,
        Event::SessionDown {
            tunnel: t,
            session: s,
            reason: SessionDownReason::Closed
        }
    );
    match &sim.nodes[1].find(is_session_down).unwrap().1 {
        Event::SessionDown {
            session,
            reason: SessionDownReason::PeerCdn(ri),
            ..
        } => {
            assert_eq!(*session, bs);
            assert_eq!(ri.result, 3);
        }
        e => panic!("{e:?}"),
    }
    assert!(sim.ep(1).session_params(bs).is_none());
    assert!(matches!(
        sim.ep(0).close_session(now, s),
        Err(Error::UnknownSession(_))
    ));
}

#[test]
fn outgoing_call() {
    let mut sim = Sim::pair(38, NetConfig::default());
    let t = sim.connect(0, addr(2), TunnelConfig::default());
    let s = sim.open(
        0,
        t,
        SessionConfig {
            call: CallType::Outgoing,
            cookie_len: 4,
            sequencing: DataSequencing::All,
            ..SessionConfig::default()
        },
    );
    assert!(
        sim.run_until(Duration::from_secs(5), |s| s.nodes[0].count(is_session_up)
            == 1)
    );
    let kinds: Vec<_> = sim.log.iter().filter_map(|p| p.kind()).collect();
    assert_eq!(
        kinds,
        vec![
            MessageType::Sccrq,
            MessageType::Sccrp,
            MessageType::Scccn,
            MessageType::Ocrq,
            MessageType::Ocrp,
            MessageType::Occn
        ]
    );
    let p = sim.ep(0).session_params(s).unwrap();
    assert_eq!(p.call, CallType::Outgoing);
    let bs = sim.ep(1).session_by_id(p.remote_session_id).unwrap();
    let q = sim.ep(1).session_params(bs).unwrap();
    assert_eq!(q.tx_sequencing, DataSequencing::All);
    assert_eq!(q.tx_l2spec, L2SpecType::Default);
    assert_eq!(q.peer_cookie, p.local_cookie);
}

#[test]
fn unsupported_pw_type_and_sequencing_without_sublayer() {
    // Peer's capabilities lack PPP: refused locally once the tunnel is up,
    // or with SessionDown (CDN result 14 semantics) if queued before.
    let mut sim = Sim::pair(39, NetConfig::default());
    let t = sim.connect(0, addr(2), TunnelConfig::default());
    let ppp = SessionConfig {
        pw_type: pw::PPP,
        ..SessionConfig::default()
    };
    let queued = sim.open(0, t, ppp.clone());
    sim.run_for(Duration::from_secs(1));
    match &sim.nodes[0].find(is_session_down).unwrap().1 {
        Event::SessionDown {
            session,
            reason: SessionDownReason::Error(ri),
            ..
        } => {
            assert_eq!(*session, queued);
            assert_eq!(ri.result, 14);
        }
        e => panic!("{e:?}"),
    }
    let now = sim.now;
    assert_eq!(
        sim.ep(0).open_session(now, t, ppp),
        Err(Error::PwTypeNotSupported(pw::PPP))
    );
    assert!(matches!(
        sim.ep(0).open_session(
            now,
            t,
            SessionConfig {
                l2spec: L2SpecType::None,
                sequencing: DataSequencing::All,
                ..SessionConfig::default()
            }
        ),
        Err(Error::InvalidConfig {
            field: "sequencing",
            ..
        })
    ));

    // A scripted peer asking for PPP, then for sequencing without a
    // sublayer, gets CDNs 14 and 15.
    let mut sim = acceptor(40);
    let mut r = Raw::new(&mut sim, 9, 99);
    r.establish(&mut sim);
    let mut m = r.icrq(7);
    for a in &mut m.avps {
        if let AvpValue::PseudowireType(p) = &mut a.value {
            *p = pw::PPP;
        }
    }
    r.send(&mut sim, m);
    let m = r
        .icrq(8)
        .with(AvpValue::L2SpecificSublayer(0))
        .with(AvpValue::DataSequencing(2));
    r.send(&mut sim, m);
    sim.run_for(Duration::from_millis(50));
    let cdns: Vec<(u32, u16)> = r
        .recv(&mut sim)
        .iter()
        .filter(|m| m.message_type() == Some(MessageType::Cdn))
        .map(|m| (m.remote_session_id().unwrap(), result_of(m).0))
        .collect();
    assert_eq!(cdns, vec![(7, 14), (8, 15)]);
}

#[test]
fn circuit_status_via_sli() {
    let mut sim = Sim::pair(41, NetConfig::default());
    let t = sim.connect(0, addr(2), TunnelConfig::default());
    let s = sim.open(0, t, SessionConfig::default());
    assert!(
        sim.run_until(Duration::from_secs(5), |s| s.nodes[1].count(is_session_up)
            == 1)
    );
    let now = sim.now;
    let status = CircuitStatus::AC_RX_FAULT; // RFC 5641 bit, A clear.
    sim.ep(0).set_circuit_status(now, s, status).unwrap();
    sim.run_for(Duration::from_secs(1));
    let (_, e) = sim.nodes[1]
        .find(|e| matches!(e, Event::CircuitStatus { .. }))
        .unwrap();
    match e {
        Event::CircuitStatus { status: st, .. } => {
            assert_eq!(st.0, status);
            assert!(!st.active());
        }
        _ => unreachable!(),
    }
    let tb = sim.ep(1).tunnels()[0];
    let bs = sim.ep(1).sessions(tb)[0];
    assert!(!sim.ep(1).session_params(bs).unwrap().peer_circuit_active);
}

#[test]
fn ip_encapsulation_adds_and_strips_zero_session_id() {
    let mut sim = Sim::new(42, NetConfig::default());
    let cfg = EndpointConfig {
        encap: Encap::Ip,
        ..EndpointConfig::default()
    };
    sim.add(
        addr(1),
        endpoint(
            1,
            cfg.clone(),
            allow_all(TunnelConfig::default(), SessionConfig::default()),
        ),
    );
    sim.add(
        addr(2),
        endpoint(
            2,
            cfg,
            allow_all(TunnelConfig::default(), SessionConfig::default()),
        ),
    );
    let t = sim.connect(0, addr(2), TunnelConfig::default());
    sim.open(0, t, SessionConfig::default());
    assert!(
        sim.run_until(Duration::from_secs(5), |s| s.nodes[1].count(is_session_up)
            == 1)
    );
    for p in &sim.log {
        assert_eq!(&p.payload[..4], &[0, 0, 0, 0]);
        let m = l2tp_wire::control::strip_ip_prefix(&p.payload).unwrap();
        assert!(Message::parse(m).is_ok());
    }
    // A data packet (non-zero session ID) is not for the control plane.
    let before = sim.ep(1).stats().rx_data;
    let now = sim.now;
    sim.ep(1)
        .handle_datagram(now, addr(1), &[0, 0, 0, 9, 1, 2, 3]);
    assert_eq!(sim.ep(1).stats().rx_data, before + 1);
}

#[test]
fn monitor_reports_every_message() {
    let mut sim = Sim::new(43, NetConfig::default());
    let cfg = EndpointConfig {
        monitor: true,
        ..EndpointConfig::default()
    };
    sim.add(
        addr(1),
        endpoint(
            1,
            cfg,
            allow_all(TunnelConfig::default(), SessionConfig::default()),
        ),
    );
    sim.add(
        addr(2),
        endpoint(
            2,
            EndpointConfig::default(),
            allow_all(TunnelConfig::default(), SessionConfig::default()),
        ),
    );
    let t = sim.connect(0, addr(2), TunnelConfig::default());
    sim.open(0, t, SessionConfig::default());
    sim.run_for(Duration::from_secs(2));
    let mut seen: Vec<(Direction, String)> = Vec::new();
    for (_, e) in &sim.nodes[0].events {
        if let Event::Message {
            tunnel,
            direction,
            summary,
            ..
        } = e
        {
            assert_eq!(*tunnel, Some(t));
            seen.push((*direction, summary.kind.clone()));
            if summary.kind == "SCCRQ" {
                assert!(summary
                    .avps
                    .iter()
                    .any(|(n, v)| n == "Host Name" && v == "\"l2tp-rs\""));
            }
        }
    }
    let sent = sim.log.iter().filter(|p| p.src == addr(1)).count();
    let recv = sim.log.iter().filter(|p| p.dst == addr(1)).count();
    assert_eq!(
        seen.iter().filter(|(d, _)| *d == Direction::Sent).count(),
        sent
    );
    assert_eq!(
        seen.iter()
            .filter(|(d, _)| *d == Direction::Received)
            .count(),
        recv
    );
    assert!(seen.contains(&(Direction::Sent, "SCCRQ".into())));
    assert!(seen.contains(&(Direction::Received, "ICRP".into())));
    assert!(seen.contains(&(Direction::Received, "ZLB".into())));
}

#[test]
fn equal_tie_breakers_restart_both_sides() {
    // Same RNG seed on both sides: the first tie breakers are equal. B's
    // HELLO jitter draw then desynchronises the generators, so the
    // restarted attempts differ.
    let mut sim = Sim::new(44, NetConfig::default());
    let a_cfg = TunnelConfig {
        hello_jitter: Duration::ZERO,
        ..TunnelConfig::default()
    };
    let b_cfg = TunnelConfig::default();
    sim.add(
        addr(1),
        endpoint(
            7,
            EndpointConfig::default(),
            allow_all(a_cfg.clone(), SessionConfig::default()),
        ),
    );
    sim.add(
        addr(2),
        endpoint(
            7,
            EndpointConfig::default(),
            allow_all(b_cfg.clone(), SessionConfig::default()),
        ),
    );
    let ta = sim.connect(0, addr(2), a_cfg);
    let tb = sim.connect(1, addr(1), b_cfg);
    sim.open(0, ta, SessionConfig::default());
    assert!(sim.run_until(Duration::from_secs(60), |s| {
        s.nodes[0].count(is_session_up) == 1 && s.nodes[1].count(is_session_up) == 1
    }));
    sim.run_for(Duration::from_secs(40));
    assert_eq!(sim.ep(0).stats().tie_equal, 1);
    assert_eq!(sim.ep(1).stats().tie_equal, 1);
    assert_eq!(sim.ep(0).tunnels(), vec![ta]);
    assert_eq!(sim.ep(1).tunnels(), vec![tb]);
    let (ia, ib) = (
        sim.ep(0).tunnel_info(ta).unwrap(),
        sim.ep(1).tunnel_info(tb).unwrap(),
    );
    assert_eq!((ia.peer_id, ib.peer_id), (ib.local_id, ia.local_id));
    assert_ne!(ia.initiator, ib.initiator);
}
