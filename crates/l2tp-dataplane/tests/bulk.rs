//! A 1 GiB stream over the pseudowire with every offload on: TCP between
//! two namespaces, one side writing pseudo-random data, the other reading
//! it; the SHA-1 of what was sent and of what arrived must match. Run with
//! and without sequence numbers, over UDP and over IP. The device and
//! tunnel counters also show that segmentation and coalescing happened
//! (fewer, larger frames on the devices than packets in the tunnel).
//!
//! Two more UDP cases pin the tc-BPF transmit half: by default (`auto`) it
//! stays in userspace over this veth underlay, and when forced on, TSO
//! frames leave through the kernel's tunnel segmentation and the stream
//! still arrives intact at the other l2tpd's receive fast path.
//!
//! Slow in debug builds; `cargo test --release -p l2tp-dataplane --test
//! bulk` takes well under a minute.

mod common;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::*;
use l2tp_dataplane::{
    Cookie, Dataplane, Encap, FastpathOptions, L2SpecType, PseudowireType, SeqMode, SessionConfig,
    TcBpfTx, TunnelConfig,
};
use sha1::{Digest, Sha1};

/// Bytes moved per case (1 GiB in release builds, less in debug builds
/// so a plain `cargo test` stays quick).
fn total() -> u64 {
    if cfg!(debug_assertions) {
        64 << 20
    } else {
        1 << 30
    }
}

/// xorshift64*: fast pseudo-random bytes, different in every chunk.
fn fill(buf: &mut [u8], state: &mut u64) {
    for c in buf.chunks_exact_mut(8) {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        c.copy_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
}

/// `ip -s link` RX/TX packet counts of a device.
fn link_packets(ns: &str, dev: &str) -> (u64, u64) {
    let out = String::from_utf8(ns_sh(ns, &["ip", "-s", "-j", "link", "show", "dev", dev]).stdout)
        .unwrap();
    let num = |key: &str| -> u64 {
        let at = out.find(key).unwrap_or_else(|| panic!("{key} in {out}")) + key.len();
        let at = out[at..].find("\"packets\":").unwrap() + at + 10;
        out[at..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect::<String>()
            .parse()
            .unwrap()
    };
    (num("\"rx\":"), num("\"tx\":"))
}

fn transfer(case: &str, pair: &Pair, tid: u32, encap: Encap, seq: bool) {
    transfer_with(case, pair, tid, encap, seq, FastpathOptions::default());
}

/// Runs one case and returns A's and B's session fast-path halves
/// (`(tx, rx)` each) as they were during the transfer.
fn transfer_with(
    case: &str,
    pair: &Pair,
    tid: u32,
    encap: Encap,
    seq: bool,
    opts: FastpathOptions,
) -> ((bool, bool), (bool, bool)) {
    let a = NsDataplane::spawn_with(&pair.a.name, opts);
    let b = NsDataplane::spawn_with(&pair.b.name, opts);
    let (a4, b4) = (pair.a4, pair.b4);
    let t = move |local: IpAddr, remote: IpAddr| TunnelConfig {
        tunnel_id: tid,
        peer_tunnel_id: tid,
        encap,
        local,
        remote,
        udp_sport: 1701,
        udp_dport: 1701,
        udp_csum: false,
        udp6_csum_tx: true,
        udp6_csum_rx: true,
    };
    let dev = format!("pwbulk{tid}");
    let s = {
        let dev = dev.clone();
        move |sid: u32, peer: u32| SessionConfig {
            tunnel_id: tid,
            session_id: sid,
            peer_session_id: peer,
            pw_type: PseudowireType::Ethernet,
            ifname: Some(dev.clone()),
            cookie: Cookie::new(&[9, 8, 7, 6]).unwrap(),
            peer_cookie: Cookie::new(&[9, 8, 7, 6]).unwrap(),
            l2spec: L2SpecType::Default,
            seq: SeqMode {
                send: seq,
                recv: seq,
            },
            mtu: None,
            reorder_timeout: seq.then_some(Duration::from_millis(50)),
        }
    };
    a.run(move |d| d.add_tunnel(t(a4, b4))).unwrap();
    b.run(move |d| d.add_tunnel(t(b4, a4))).unwrap();
    let sa = s.clone();
    a.run(move |d| d.add_session(sa(10 + tid, 20 + tid)))
        .unwrap();
    b.run(move |d| d.add_session(s(20 + tid, 10 + tid)))
        .unwrap();
    let (ip_a, ip_b) = (format!("198.19.{tid}.1"), format!("198.19.{tid}.2"));
    ns_sh(
        &pair.a.name,
        &["ip", "addr", "add", &format!("{ip_a}/24"), "dev", &dev],
    );
    ns_sh(
        &pair.b.name,
        &["ip", "addr", "add", &format!("{ip_b}/24"), "dev", &dev],
    );
    ns_sh(&pair.a.name, &["ping", "-c", "1", "-W", "3", &ip_b]);
    let (tap_a0, tap_b0) = (
        link_packets(&pair.a.name, &dev),
        link_packets(&pair.b.name, &dev),
    );

    let addr = SocketAddr::new(ip_b.parse().unwrap(), 5001);
    let ns_b = pair.b.name.clone();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let receiver = std::thread::spawn(move || {
        enter_netns(&ns_b).unwrap();
        let l = TcpListener::bind(addr).unwrap();
        ready_tx.send(()).unwrap();
        let (mut conn, _) = l.accept().unwrap();
        let mut h = Sha1::new();
        let mut buf = vec![0u8; 256 << 10];
        let mut n = 0u64;
        loop {
            match conn.read(&mut buf).unwrap() {
                0 => break,
                k => {
                    h.update(&buf[..k]);
                    n += k as u64;
                }
            }
        }
        (n, h.finalize().to_vec())
    });
    ready_rx.recv().unwrap();
    let ns_a = pair.a.name.clone();
    let sender = std::thread::spawn(move || {
        enter_netns(&ns_a).unwrap();
        let mut conn = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        let mut h = Sha1::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut state = 0x9e37_79b9_7f4a_7c15u64 ^ u64::from(tid);
        let mut left = total();
        let start = Instant::now();
        while left > 0 {
            let k = buf.len().min(left as usize);
            fill(&mut buf[..k], &mut state);
            conn.write_all(&buf[..k]).unwrap();
            h.update(&buf[..k]);
            left -= k as u64;
        }
        conn.shutdown(std::net::Shutdown::Write).unwrap();
        // Wait for the receiver to close so the timing covers delivery.
        let _ = conn.read(&mut [0u8; 1]);
        (h.finalize().to_vec(), start.elapsed())
    });
    let (sent_hash, took) = sender.join().expect("sender");
    let (got, got_hash) = receiver.join().expect("receiver");
    assert_eq!(got, total(), "{case}: byte count");
    assert_eq!(got_hash, sent_hash, "{case}: SHA-1 of the stream differs");

    let ca = a.run(move |d| d.session_counters(tid, 10 + tid)).unwrap();
    let cb = b.run(move |d| d.session_counters(tid, 20 + tid)).unwrap();
    let fast_a = a.run(move |d| d.fast_path(tid, 10 + tid));
    let fast_b = b.run(move |d| d.fast_path(tid, 20 + tid));
    let (tap_a1, tap_b1) = (
        link_packets(&pair.a.name, &dev),
        link_packets(&pair.b.name, &dev),
    );
    let frames_to_tunnel_a = tap_a1.1 - tap_a0.1;
    let frames_from_tunnel_b = tap_b1.0 - tap_b0.0;
    println!(
        "{case}: {:.2} Gbit/s; A: {} frames from the host became {} packets; B: {} packets became {} frames to the host; seq discards {}, oos {}",
        total() as f64 * 8.0 / took.as_secs_f64() / 1e9,
        frames_to_tunnel_a,
        ca.tx_packets,
        cb.rx_packets,
        frames_from_tunnel_b,
        cb.rx_seq_discards,
        cb.rx_oos_packets
    );
    // TSO on A: the host handed over far fewer (large) frames than went
    // into the tunnel; coalescing on B: the reverse. (Frames the fast path
    // moves pass the TAP's driver and its counters by, so these hold
    // trivially there; the session counters count them.)
    assert!(
        frames_to_tunnel_a * 4 < ca.tx_packets,
        "{case}: no segmentation offload on A"
    );
    assert!(
        frames_from_tunnel_b * 4 < cb.rx_packets,
        "{case}: no coalescing on B"
    );
    drop(a);
    drop(b);
    (fast_a, fast_b)
}

#[test]
fn one_gib_with_offloads_arrives_intact() {
    let pair = Pair::new(70);
    let t0 = Instant::now();
    transfer("udp, no sequencing", &pair, 1, Encap::Udp, false);
    transfer("udp, sequencing", &pair, 2, Encap::Udp, true);
    transfer("ip, sequencing", &pair, 3, Encap::Ip, true);
    // Without root for bpf(2) (or tcx) there is no fast path to pin.
    let kernel_rx = transfer_with(
        "udp, tc-bpf transmit auto",
        &pair,
        4,
        Encap::Udp,
        false,
        FastpathOptions::default(),
    );
    if kernel_rx.1 .1 {
        assert_eq!(
            kernel_rx,
            ((false, true), (false, true)),
            "auto: a veth underlay keeps transmit in userspace"
        );
        let both = transfer_with(
            "udp, tc-bpf transmit on",
            &pair,
            5,
            Encap::Udp,
            false,
            FastpathOptions {
                tc_bpf_tx: TcBpfTx::On,
                ..FastpathOptions::default()
            },
        );
        assert_eq!(both, ((true, true), (true, true)), "forced on: both halves");
    }
    println!("total {:.1} s", t0.elapsed().as_secs_f64());
}
