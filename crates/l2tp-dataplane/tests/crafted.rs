//! Hand-built packets from a plain socket in the peer namespace, checked at
//! the receiving data plane's TAP device and counters: reordering with a
//! real timer, cookie and source checks, control-message hand-off.

mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use l2tp_dataplane::{
    ControlHandler, Cookie, Dataplane, Encap, L2SpecType, PseudowireType, SeqMode, SessionConfig,
    TunnelConfig,
};
use l2tp_wire::data::V3DataRepr;

const SID: u32 = 0xabcd_0001;

/// Control messages the handler saw: sender and bytes.
type Seen = Vec<(SocketAddr, Vec<u8>)>;

fn data_packet(encap: Encap, cookie: Cookie, seq: Option<u32>, frame: &[u8]) -> Vec<u8> {
    let repr = V3DataRepr {
        session_id: SID,
        cookie,
        seq,
        l2spec: L2SpecType::Default,
    };
    let mut buf = vec![0u8; repr.header_len(encap) + frame.len()];
    let n = repr.emit(encap, &mut buf).unwrap();
    buf[n..].copy_from_slice(frame);
    buf
}

fn tag_of(frame: &[u8]) -> u32 {
    u32::from_be_bytes(frame[14..18].try_into().unwrap())
}

#[test]
fn udp_reorder_cookie_source_and_control() {
    let pair = Pair::new(40);
    let b = NsDataplane::spawn(&pair.b.name);
    let (a4, b4) = (pair.a4, pair.b4);
    let got: Arc<Mutex<Seen>> = Arc::default();
    let sink = Arc::clone(&got);
    let handler: ControlHandler = Arc::new(move |p| {
        sink.lock().unwrap().push((p.peer, p.data.to_vec()));
    });
    let cookie = Cookie::new(&[0xc0, 0x0c, 0x1e, 0x55]).unwrap();
    let info = b.run(move |dp| {
        dp.add_tunnel(TunnelConfig {
            tunnel_id: 9,
            peer_tunnel_id: 9,
            encap: Encap::Udp,
            local: b4,
            remote: a4,
            udp_sport: 1701,
            udp_dport: 1701,
            udp_csum: true,
            udp6_csum_tx: true,
            udp6_csum_rx: true,
        })
        .unwrap();
        dp.add_session(SessionConfig {
            tunnel_id: 9,
            session_id: SID,
            peer_session_id: 77,
            pw_type: PseudowireType::Ethernet,
            ifname: Some("pwcraft".into()),
            cookie: Cookie::default(),
            peer_cookie: cookie,
            l2spec: L2SpecType::Default,
            seq: SeqMode {
                send: false,
                recv: true,
            },
            mtu: None,
            reorder_timeout: Some(Duration::from_millis(300)),
        })
        .unwrap()
    });
    let ix = info.ifindex;
    let tap = b.run(move |_| PacketSocket::open(ix, 0x88b5)).unwrap();

    // The peer: a plain UDP socket at the tunnel's remote address and port,
    // and a stray one on another port.
    let a = NsDataplane::spawn(&pair.a.name);
    let peer: UdpSocket = a.run(move |_| UdpSocket::bind(SocketAddr::new(a4, 1701)).unwrap());
    let stray: UdpSocket = a.run(move |_| UdpSocket::bind(SocketAddr::new(a4, 1799)).unwrap());
    let dst = SocketAddr::new(b4, 1701);
    let send = |seq: u32, ck: Cookie| {
        let frame = test_frame(seq, 100);
        peer.send_to(&data_packet(Encap::Udp, ck, Some(seq), &frame), dst)
            .unwrap();
    };

    // 0, 2, 3, 1: held and released in order as soon as 1 arrives.
    for s in [0, 2, 3, 1] {
        send(s, cookie);
    }
    let order: Vec<u32> = (0..4)
        .map(|_| tag_of(&tap.recv().expect("frame")))
        .collect();
    assert_eq!(order, vec![0, 1, 2, 3]);

    // A gap (5 missing): 6 is held for the reorder timeout, then released.
    let t = Instant::now();
    send(4, cookie);
    send(6, cookie);
    assert_eq!(tag_of(&tap.recv().unwrap()), 4);
    assert_eq!(tag_of(&tap.recv().expect("held frame released")), 6);
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_millis(1500),
        "released after {waited:?}"
    );
    // 5 arrives too late; a duplicate of 6 too.
    send(5, cookie);
    send(6, cookie);
    // Wrong cookie, wrong source port, missing sequence number.
    send(7, Cookie::new(&[0, 0, 0, 0]).unwrap());
    stray
        .send_to(
            &data_packet(Encap::Udp, cookie, Some(7), &test_frame(7, 100)),
            dst,
        )
        .unwrap();
    peer.send_to(
        &data_packet(Encap::Udp, cookie, None, &test_frame(70, 100)),
        dst,
    )
    .unwrap();
    // An unknown session and a truncated datagram.
    let mut unknown = data_packet(Encap::Udp, cookie, Some(7), &test_frame(7, 100));
    unknown[4..8].copy_from_slice(&0xdead_beefu32.to_be_bytes());
    peer.send_to(&unknown, dst).unwrap();
    peer.send_to(&[0x00, 0x03], dst).unwrap();
    // Control messages (T bit): no handler yet, then one.
    let control = [0xc8u8, 0x03, 0x00, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0];
    peer.send_to(&control, dst).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    b.run(move |dp| dp.set_control_handler(Some(handler)));
    peer.send_to(&control, dst).unwrap();
    send(7, cookie);
    assert_eq!(tag_of(&tap.recv().expect("frame 7")), 7);
    tap.set_timeout(Duration::from_millis(300));
    assert!(tap.recv().is_none(), "a dropped packet reached the device");

    let c = b.run(move |dp| dp.session_counters(9, SID)).unwrap();
    assert_eq!(c.rx_packets, 7, "{c:?}"); // 0, 1, 2, 3, 4, 6, 7
    assert_eq!(c.rx_oos_packets, 1, "{c:?}");
    assert_eq!(c.rx_seq_discards, 3, "{c:?}"); // late 5, duplicate 6, unnumbered
    assert_eq!(c.rx_cookie_discards, 1, "{c:?}");
    assert_eq!(c.rx_invalid, 1, "{c:?}"); // stray source port
    assert_eq!(c.rx_errors, 5, "{c:?}");
    let u = b.run(|dp| dp.underlay_stats());
    assert_eq!(u.len(), 1);
    assert_eq!(u[0].unknown_session, 1);
    assert_eq!(u[0].invalid, 1);
    assert_eq!(u[0].control_dropped, 1);
    assert_eq!(u[0].control_delivered, 1);
    let seen = got.lock().unwrap().clone();
    assert_eq!(seen, vec![(SocketAddr::new(a4, 1701), control.to_vec())]);

    // The control plane can answer through the tunnel's socket.
    b.run(|dp| dp.send_control(9, &[0xc8, 0x03, 0, 0x0c, 0, 0, 0, 9, 0, 1, 0, 1]))
        .unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = peer.recv_from(&mut buf).expect("control reply");
    assert_eq!(from, dst);
    assert_eq!(&buf[..n], &[0xc8, 0x03, 0, 0x0c, 0, 0, 0, 9, 0, 1, 0, 1]);
}

/// Opens a raw IP protocol-115 socket (on the calling thread's namespace).
fn raw_l2tp_socket(v6: bool) -> OwnedFd {
    let fam = if v6 { libc::AF_INET6 } else { libc::AF_INET };
    // SAFETY: plain syscall.
    let fd = unsafe { libc::socket(fam, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 115) };
    assert!(fd >= 0, "raw socket: {}", std::io::Error::last_os_error());
    // SAFETY: fresh descriptor, owned from here on.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn raw_send(fd: &OwnedFd, to: IpAddr, pkt: &[u8]) {
    let r = match to {
        IpAddr::V4(ip) => {
            // SAFETY: sockaddr_in is plain old data.
            let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sin.sin_family = libc::AF_INET as u16;
            sin.sin_addr.s_addr = u32::from_ne_bytes(ip.octets());
            // SAFETY: pointers/lengths describe live memory.
            unsafe {
                libc::sendto(
                    fd.as_raw_fd(),
                    pkt.as_ptr().cast(),
                    pkt.len(),
                    0,
                    (&sin as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as u32,
                )
            }
        }
        IpAddr::V6(ip) => {
            // SAFETY: sockaddr_in6 is plain old data.
            let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as u16;
            sin6.sin6_addr.s6_addr = ip.octets();
            // SAFETY: pointers/lengths describe live memory.
            unsafe {
                libc::sendto(
                    fd.as_raw_fd(),
                    pkt.as_ptr().cast(),
                    pkt.len(),
                    0,
                    (&sin6 as *const libc::sockaddr_in6).cast(),
                    std::mem::size_of::<libc::sockaddr_in6>() as u32,
                )
            }
        }
    };
    assert!(r >= 0, "raw sendto: {}", std::io::Error::last_os_error());
}

#[test]
fn ip_encap_session_zero_is_control_and_data_is_demultiplexed() {
    let pair = Pair::new(41);
    let b = NsDataplane::spawn(&pair.b.name);
    let a = NsDataplane::spawn(&pair.a.name);
    for (local, remote, tid) in [(pair.b4, pair.a4, 1u32), (pair.b6, pair.a6, 2)] {
        let got: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let sink = Arc::clone(&got);
        let sid = SID + tid;
        let info = b.run(move |dp| {
            dp.set_control_handler(Some(Arc::new(move |p| {
                sink.lock().unwrap().push(p.data.to_vec())
            })));
            dp.add_tunnel(TunnelConfig {
                tunnel_id: tid,
                peer_tunnel_id: tid,
                encap: Encap::Ip,
                local,
                remote,
                udp_sport: 0,
                udp_dport: 0,
                udp_csum: false,
                udp6_csum_tx: true,
                udp6_csum_rx: true,
            })
            .unwrap();
            dp.add_session(SessionConfig {
                tunnel_id: tid,
                session_id: sid,
                peer_session_id: 5,
                pw_type: PseudowireType::Ethernet,
                ifname: None,
                cookie: Cookie::default(),
                peer_cookie: Cookie::default(),
                l2spec: L2SpecType::None,
                seq: SeqMode::default(),
                mtu: None,
                reorder_timeout: None,
            })
            .unwrap()
        });
        let ix = info.ifindex;
        let tap = b.run(move |_| PacketSocket::open(ix, 0x88b5)).unwrap();
        let raw = a.run(move |_| raw_l2tp_socket(remote.is_ipv6()));
        let control = [0u8, 0, 0, 0, 0xc8, 0x03, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0];
        raw_send(&raw, local, &control);
        let frame = test_frame(42, 64);
        let mut pkt = sid.to_be_bytes().to_vec();
        pkt.extend_from_slice(&frame);
        raw_send(&raw, local, &pkt);
        assert_eq!(tap.recv().expect("frame over IP"), frame);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(*got.lock().unwrap(), vec![control.to_vec()], "{local}");
        let c = b.run(move |dp| dp.session_counters(tid, sid)).unwrap();
        assert_eq!((c.rx_packets, c.rx_bytes, c.rx_errors), (1, 64, 0));
    }
}
