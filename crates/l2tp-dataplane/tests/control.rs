//! Control messages before any tunnel exists: a listener receives a peer's
//! first message and `send_control_to` answers from the same socket, which
//! tunnels added later share. UDP and IP, IPv4 and IPv6, two namespaces.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use l2tp_dataplane::{ControlHandler, Dataplane, DataplaneError, Encap, TunnelConfig};

/// (encap, our local address, where the message came from, the message)
type Got = (Encap, SocketAddr, SocketAddr, Vec<u8>);

fn collect(dp: &NsDataplane) -> mpsc::Receiver<Got> {
    let (tx, rx) = mpsc::channel::<Got>();
    let tx = Mutex::new(tx);
    let handler: ControlHandler = Arc::new(move |p| {
        let _ = tx
            .lock()
            .unwrap()
            .send((p.encap, p.local, p.peer, p.data.to_vec()));
    });
    dp.run(move |dp| dp.set_control_handler(Some(handler)));
    rx
}

/// A v3 control message (T, L, S bits, version 3) with a recognizable body;
/// over IP it is preceded by the zero session ID.
fn control_msg(encap: Encap, tag: u8) -> Vec<u8> {
    let mut m = Vec::new();
    if encap == Encap::Ip {
        m.extend_from_slice(&[0, 0, 0, 0]);
    }
    m.extend_from_slice(&[0xc8, 0x03, 0x00, 0x10, 0, 0, 0, 0, 0, 0, 0, 0]);
    m.extend_from_slice(&[tag, tag, tag, tag]);
    m
}

fn tunnel(id: u32, encap: Encap, local: SocketAddr, remote: IpAddr) -> TunnelConfig {
    TunnelConfig {
        tunnel_id: id,
        peer_tunnel_id: id,
        encap,
        local: local.ip(),
        remote,
        udp_sport: local.port(),
        udp_dport: 1701,
        udp_csum: false,
        udp6_csum_tx: true,
        udp6_csum_rx: true,
    }
}

#[test]
fn listener_receives_and_answers_before_any_tunnel() {
    let pair = Pair::new(71);
    let a = NsDataplane::spawn(&pair.a.name);
    let b = NsDataplane::spawn(&pair.b.name);
    let rx_a = collect(&a);
    let rx_b = collect(&b);
    let wait = Duration::from_secs(3);

    let cases = [
        (Encap::Udp, pair.a4, pair.b4),
        (Encap::Ip, pair.a4, pair.b4),
        (Encap::Udp, pair.a6, pair.b6),
        (Encap::Ip, pair.a6, pair.b6),
    ];
    for (n, (encap, a_ip, b_ip)) in cases.into_iter().enumerate() {
        let tag = n as u8 + 1;
        let a_local = SocketAddr::new(a_ip, 1701);
        // B talks from an ephemeral UDP port, as an initiator may.
        let b_req = SocketAddr::new(b_ip, 0);
        let a_bound = a.run(move |dp| dp.open_listener(encap, a_local)).unwrap();
        let b_bound = b.run(move |dp| dp.open_listener(encap, b_req)).unwrap();
        match encap {
            Encap::Udp => {
                assert_eq!(a_bound, a_local);
                assert_ne!(b_bound.port(), 0, "the kernel picked a port");
            }
            Encap::Ip => assert_eq!((a_bound.port(), b_bound.port()), (0, 0)),
        }
        // Listening twice is harmless.
        assert_eq!(
            a.run(move |dp| dp.open_listener(encap, a_local)).unwrap(),
            a_bound
        );

        // B -> A: A has no tunnel, the listener delivers the message.
        let dst = SocketAddr::new(a_ip, 1701);
        b.run(move |dp| dp.send_control_to(encap, b_bound, dst, &control_msg(encap, tag)))
            .unwrap();
        let (e, local, from, data) = rx_a.recv_timeout(wait).expect("A got the message");
        assert_eq!((e, local), (encap, a_bound));
        assert_eq!(from.ip(), b_ip);
        if encap == Encap::Udp {
            assert_eq!(from.port(), b_bound.port());
        }
        assert_eq!(data, control_msg(encap, tag));

        // A answers to where it came from, from the listening socket.
        a.run(move |dp| dp.send_control_to(encap, a_bound, from, &control_msg(encap, tag + 100)))
            .unwrap();
        let (_, local, from, data) = rx_b.recv_timeout(wait).expect("B got the answer");
        assert_eq!(local, b_bound);
        assert_eq!(from.ip(), a_ip);
        if encap == Encap::Udp {
            assert_eq!(from.port(), 1701, "answered from the shared port");
        }
        assert_eq!(data, control_msg(encap, tag + 100));

        // A tunnel on the listener's address shares its socket; removing
        // the tunnel keeps the listener.
        let tid = 500 + u32::from(tag);
        a.run(move |dp| dp.add_tunnel(tunnel(tid, encap, a_bound, b_ip)))
            .unwrap();
        assert_eq!(a.run(move |dp| dp.tunnel_local_addr(tid)).unwrap(), a_bound);
        a.run(move |dp| dp.del_tunnel(tid)).unwrap();
        b.run(move |dp| dp.send_control_to(encap, b_bound, dst, &control_msg(encap, tag + 50)))
            .unwrap();
        let (_, _, _, data) = rx_a
            .recv_timeout(wait)
            .expect("listener survives its tunnel");
        assert_eq!(data, control_msg(encap, tag + 50));

        // Closed: nothing to send from, nothing delivered.
        a.run(move |dp| dp.close_listener(encap, a_bound));
        let err = a
            .run(move |dp| dp.send_control_to(encap, a_bound, from, &control_msg(encap, 9)))
            .unwrap_err();
        assert!(
            matches!(err, DataplaneError::Invalid { field: "local", .. }),
            "{err}"
        );
        b.run(move |dp| dp.send_control_to(encap, b_bound, dst, &control_msg(encap, 7)))
            .unwrap();
        assert!(
            rx_a.recv_timeout(Duration::from_millis(300)).is_err(),
            "closed listener still delivers ({encap:?} {a_ip})"
        );
        b.run(move |dp| dp.close_listener(encap, b_bound));
    }
    // Every socket is gone: the UDP port can be bound again.
    let a_name = pair.a.name.clone();
    let a4 = pair.a4;
    let rebound = std::thread::spawn(move || {
        enter_netns(&a_name).unwrap();
        std::net::UdpSocket::bind(SocketAddr::new(a4, 1701)).is_ok()
    })
    .join()
    .unwrap();
    assert!(rebound, "port 1701 still held after close_listener");
}
