//! What keeps many sessions on one tunnel cheap: session requests are built
//! only as the send window drains, a burst of received datagrams is
//! acknowledged once (`handle_datagram_deferred` + `flush`), and message
//! summaries are made only while monitoring is on.

mod common;

use std::time::{Duration, Instant};

use common::*;
use l2tp_control::*;
use l2tp_wire::message::MessageType;

/// Endpoint A at .1 and B at .2, both accepting anything.
fn pair() -> (Endpoint, Endpoint) {
    let a = endpoint(
        1,
        EndpointConfig::default(),
        allow_all(TunnelConfig::default(), SessionConfig::default()),
    );
    let b = endpoint(
        2,
        EndpointConfig::default(),
        allow_all(TunnelConfig::default(), SessionConfig::default()),
    );
    (a, b)
}

/// Moves datagrams both ways (without loss, at `now`) until both are quiet;
/// returns how many went each way.
fn exchange(a: &mut Endpoint, b: &mut Endpoint, now: Instant) -> (usize, usize) {
    let (mut ab, mut ba) = (0, 0);
    loop {
        let mut moved = false;
        while let Some(tx) = a.poll_transmit() {
            b.handle_datagram(now, addr(1), &tx.payload);
            ab += 1;
            moved = true;
        }
        while let Some(tx) = b.poll_transmit() {
            a.handle_datagram(now, addr(2), &tx.payload);
            ba += 1;
            moved = true;
        }
        if !moved {
            return (ab, ba);
        }
    }
}

/// Runs both endpoints' timers and traffic from `start` until `deadline`.
fn run(a: &mut Endpoint, b: &mut Endpoint, start: Instant, deadline: Instant) {
    let mut clock = start;
    loop {
        exchange(a, b, clock);
        let next = [a.poll_timeout(), b.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(t) if t <= deadline => {
                clock = t.max(clock);
                a.handle_timeout(clock);
                b.handle_timeout(clock);
            }
            _ => return,
        }
    }
}

/// Handles of the sessions reported up, in order.
fn ups(ep: &mut Endpoint) -> Vec<SessionHandle> {
    std::iter::from_fn(|| ep.poll_event())
        .filter_map(|e| match e {
            Event::SessionUp { session, .. } => Some(session),
            _ => None,
        })
        .collect()
}

fn count(ep: &mut Endpoint, f: impl Fn(&Event) -> bool) -> usize {
    let mut n = 0;
    while let Some(e) = ep.poll_event() {
        n += usize::from(f(&e));
    }
    n
}

#[test]
fn waiting_sessions_hold_no_queued_messages() {
    let (mut a, mut b) = pair();
    let now = Instant::now();
    let t = a.connect(now, addr(2), TunnelConfig::default()).unwrap();
    let sessions: Vec<SessionHandle> = (0..2000)
        .map(|_| a.open_session(now, t, SessionConfig::default()).unwrap())
        .collect();
    // SCCRQ to B; B's SCCRP establishes A, which then starts sessions.
    let sccrq = a.poll_transmit().unwrap();
    b.handle_datagram(now, addr(1), &sccrq.payload);
    let sccrp = b.poll_transmit().unwrap();
    a.handle_datagram(now, addr(2), &sccrp.payload);
    assert_eq!(a.tunnel_state(t), Some(TunnelState::Established));
    let st = a.tunnel_stats(t).unwrap();
    // The queue holds what the congestion window lets out (2 after the
    // SCCRP acknowledged the SCCRQ): the SCCCN and one ICRQ.
    assert_eq!((st.cwnd, st.unacked), (2, 2), "{st:?}");
    let waiting = sessions
        .iter()
        .filter(|s| a.session_state(**s) == Some(SessionState::WaitTunnel))
        .count();
    assert_eq!(waiting, 2000 - 1);
    assert_eq!(a.session_state(sessions[0]), Some(SessionState::WaitReply));
    assert_eq!(
        a.session_state(sessions[1999]),
        Some(SessionState::WaitTunnel)
    );
    // A closed waiting session never reaches the wire.
    a.close_session(now, sessions[1999]).unwrap();
    run(&mut a, &mut b, now, now + Duration::from_secs(30));
    let up_a = ups(&mut a);
    assert_eq!(up_a.len(), 1999);
    assert_eq!(ups(&mut b).len(), 1999);
    // In the order they were asked for.
    assert_eq!(up_a.as_slice(), &sessions[..1999]);
    assert_eq!(a.session_count(), 1999);
    assert_eq!(b.session_count(), 1999);
    let st = a.tunnel_stats(t).unwrap();
    assert_eq!(st.retransmissions, 0);
    // SCCRQ, SCCCN, 1999 ICRQs and ICCNs: no CDN for the closed one.
    assert_eq!(st.tx_messages, 2 + 2 * 1999);
}

/// A up with B and `n` sessions established; returns A's tunnel handle and
/// the sessions.
fn established(a: &mut Endpoint, b: &mut Endpoint, n: usize) -> (TunnelHandle, Vec<SessionHandle>) {
    let now = Instant::now();
    let t = a.connect(now, addr(2), TunnelConfig::default()).unwrap();
    let s = (0..n)
        .map(|_| a.open_session(now, t, SessionConfig::default()).unwrap())
        .collect();
    // Until every delayed acknowledgement went out (HELLOs come at 59 s).
    run(a, b, now, now + Duration::from_secs(5));
    assert_eq!(ups(a).len(), n);
    assert_eq!(ups(b).len(), n);
    (t, s)
}

/// Closes 10 sessions at A and returns A's 10 CDNs.
fn ten_cdns(a: &mut Endpoint, sessions: &[SessionHandle], now: Instant) -> Vec<Vec<u8>> {
    for s in &sessions[..10] {
        a.close_session(now, *s).unwrap();
    }
    let cdns: Vec<Vec<u8>> = std::iter::from_fn(|| a.poll_transmit())
        .map(|t| t.payload)
        .collect();
    assert_eq!(cdns.len(), 10);
    assert!(cdns.iter().all(|p| kind_of(p) == Some(MessageType::Cdn)));
    cdns
}

#[test]
fn a_deferred_burst_is_acknowledged_once() {
    let (mut a, mut b) = pair();
    let (_, sessions) = established(&mut a, &mut b, 20);
    let now = Instant::now() + Duration::from_secs(6);
    let cdns = ten_cdns(&mut a, &sessions, now);
    for c in &cdns {
        b.handle_datagram_deferred(now, addr(1), c);
    }
    // Nothing goes out until the flush, and the endpoint says it is due.
    assert!(b.poll_transmit().is_none());
    assert!(b.poll_timeout().is_some_and(|t| t <= now));
    b.flush(now);
    let out: Vec<Vec<u8>> = std::iter::from_fn(|| b.poll_transmit())
        .map(|t| t.payload)
        .collect();
    assert_eq!(out.len(), 1, "one acknowledgement for the burst");
    assert_eq!(kind_of(&out[0]), None, "a ZLB");
    // Its Nr covers all ten CDNs.
    let zlb = header_of(&out[0]);
    let first = header_of(&cdns[0]).ns;
    assert_eq!(zlb.nr, first + cdns.len() as u16);
    assert_eq!(
        count(&mut b, |e| matches!(e, Event::SessionDown { .. })),
        10
    );
}

#[test]
fn without_deferral_every_second_message_is_acknowledged() {
    let (mut a, mut b) = pair();
    let (_, sessions) = established(&mut a, &mut b, 20);
    let now = Instant::now() + Duration::from_secs(6);
    let cdns = ten_cdns(&mut a, &sessions, now);
    for c in &cdns {
        b.handle_datagram(now, addr(1), c);
    }
    let acks = std::iter::from_fn(|| b.poll_transmit()).count();
    assert_eq!(acks, 5);
}

#[test]
fn handle_timeout_flushes_deferred_output() {
    let (mut a, mut b) = pair();
    let (t, _) = established(&mut a, &mut b, 0);
    let now = Instant::now() + Duration::from_secs(6);
    a.open_session(now, t, SessionConfig::default()).unwrap();
    let icrq = a.poll_transmit().unwrap();
    assert_eq!(kind_of(&icrq.payload), Some(MessageType::Icrq));
    b.handle_datagram_deferred(now, addr(1), &icrq.payload);
    // The ICRP waits for a flush; an owner driving only timers gets it
    // from handle_timeout at the datagram's time.
    assert!(b.poll_transmit().is_none());
    let due = b.poll_timeout().unwrap();
    assert!(due <= now);
    b.handle_timeout(due);
    let icrp = b.poll_transmit().unwrap();
    assert_eq!(kind_of(&icrp.payload), Some(MessageType::Icrp));
    assert_eq!(header_of(&icrp.payload).nr, header_of(&icrq.payload).ns + 1);
    assert!(b.poll_timeout().is_none_or(|t| t > now));
}

#[test]
fn summaries_only_while_monitoring() {
    let (mut a, mut b) = pair();
    let now = Instant::now();
    a.set_monitor(true);
    let t = a.connect(now, addr(2), TunnelConfig::default()).unwrap();
    exchange(&mut a, &mut b, now);
    let seen = count(&mut a, |e| matches!(e, Event::Message { .. }));
    assert!(seen >= 3, "SCCRQ, SCCRP, SCCCN at least: {seen}");
    assert_eq!(count(&mut b, |e| matches!(e, Event::Message { .. })), 0);
    a.set_monitor(false);
    a.open_session(now, t, SessionConfig::default()).unwrap();
    run(&mut a, &mut b, now, now + Duration::from_secs(5));
    let mut up = 0;
    let mut messages = 0;
    while let Some(e) = a.poll_event() {
        up += usize::from(matches!(e, Event::SessionUp { .. }));
        messages += usize::from(matches!(e, Event::Message { .. }));
    }
    assert_eq!((up, messages), (1, 0));
}
