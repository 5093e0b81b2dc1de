//! Scale and removal speed. 100,000 null sessions (no device, thread,
//! descriptor or buffer each) fit in a few tens of megabytes and still
//! count what arrives for them; deleting a session with a TAP device
//! returns once the device has left the namespace, about a millisecond
//! (well under with asynchronous removal), the rest of the unregistration
//! running in the background, many devices at once.
//! One test per binary on purpose: it measures this process's memory and
//! threads.

mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use common::*;
use l2tp_dataplane::{
    Cookie, Dataplane, Encap, FastpathOptions, L2SpecType, PseudowireType, SeqMode, SessionConfig,
    TunnelConfig,
};
use l2tp_wire::data::V3DataRepr;

fn tunnel(id: u32, local: IpAddr, remote: IpAddr, port: u16) -> TunnelConfig {
    TunnelConfig {
        tunnel_id: id,
        peer_tunnel_id: id,
        encap: Encap::Udp,
        local,
        remote,
        udp_sport: port,
        udp_dport: port,
        udp_csum: false,
        udp6_csum_tx: true,
        udp6_csum_rx: true,
    }
}

fn session(
    tunnel_id: u32,
    sid: u32,
    pw_type: PseudowireType,
    ifname: Option<String>,
) -> SessionConfig {
    SessionConfig {
        tunnel_id,
        session_id: sid,
        peer_session_id: sid,
        pw_type,
        ifname,
        cookie: Cookie::new(&[]).unwrap(),
        peer_cookie: Cookie::new(&[]).unwrap(),
        l2spec: L2SpecType::Default,
        seq: SeqMode::default(),
        mtu: None,
        reorder_timeout: None,
    }
}

fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn null_sessions_scale_and_deletes_are_fast() {
    let pair = Pair::new(80);
    let b = NsDataplane::spawn(&pair.b.name);
    let (a4, b4) = (pair.a4, pair.b4);
    b.run(move |d| d.add_tunnel(tunnel(1, b4, a4, 1701)))
        .unwrap();
    let threads0 = thread_count();
    let rss0 = rss_kib();

    // 100,000 null sessions.
    const N: u32 = 100_000;
    let t = Instant::now();
    b.run(|d| {
        for sid in 1..=N {
            d.add_session(session(1, sid, PseudowireType::Null, None))
                .unwrap();
        }
    });
    let add = t.elapsed();
    let rss1 = rss_kib();
    let per_session = (rss1.saturating_sub(rss0)) * 1024 / u64::from(N);
    println!(
        "{N} null sessions: added in {:.2} s ({:.1} us each), {per_session} bytes each",
        add.as_secs_f64(),
        add.as_secs_f64() * 1e6 / f64::from(N)
    );
    assert_eq!(
        thread_count(),
        threads0,
        "a null session must not add threads"
    );
    assert!(per_session < 1024, "{per_session} bytes per null session");

    // Frames for a null session are counted and dropped.
    let ns_a = pair.a.name.clone();
    std::thread::spawn(move || {
        enter_netns(&ns_a).unwrap();
        let s = UdpSocket::bind(SocketAddr::new(a4, 1701)).unwrap();
        let repr = V3DataRepr {
            session_id: 777,
            cookie: Cookie::new(&[]).unwrap(),
            seq: None,
            l2spec: L2SpecType::Default,
        };
        let frame = test_frame(1, 100);
        let mut pkt = vec![0u8; repr.header_len(Encap::Udp) + frame.len()];
        let n = repr.emit(Encap::Udp, &mut pkt).unwrap();
        pkt[n..].copy_from_slice(&frame);
        for _ in 0..3 {
            s.send_to(&pkt, SocketAddr::new(b4, 1701)).unwrap();
        }
    })
    .join()
    .unwrap();
    let mut c = Default::default();
    for _ in 0..100 {
        c = b.run(|d| d.session_counters(1, 777)).unwrap();
        if c.rx_packets == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!((c.rx_packets, c.rx_bytes), (3, 300), "{c:?}");

    // Deleting them: one by one, then the rest with their tunnel.
    let one: Vec<Duration> = b.run(|d| {
        (1..=1000)
            .map(|sid| {
                let t = Instant::now();
                d.del_session(1, sid).unwrap();
                t.elapsed()
            })
            .collect()
    });
    let t = Instant::now();
    b.run(|d| d.del_tunnel(1)).unwrap();
    let rest = t.elapsed();
    println!(
        "null sessions: del_session median {:?}, del_tunnel with {} sessions {:?}",
        median(one.clone()),
        N - 1000,
        rest
    );
    assert!(median(one) < Duration::from_millis(1));

    drop(b);
    // Sessions with TAP devices: deleting one waits only until its device
    // has left the namespace; with asynchronous removal not even that.
    // Without the tc-bpf fast path: detaching its programs from a device
    // waits for an RCU grace period (~15 ms on this VM), measured apart.
    for (i, (async_removal, tc_bpf)) in [(false, false), (true, false), (false, true)]
        .into_iter()
        .enumerate()
    {
        let opts = FastpathOptions {
            async_removal,
            tc_bpf,
            ..FastpathOptions::from_env()
        };
        taps(&pair, opts, i as u32 * 10);
    }
}

fn taps(pair: &Pair, opts: FastpathOptions, base: u32) {
    let b = NsDataplane::spawn_with(&pair.b.name, opts);
    let (a4, b4) = (pair.a4, pair.b4);
    let mode = if opts.tc_bpf {
        "on the tc-bpf fast path"
    } else if opts.async_removal {
        "asynchronous removal"
    } else {
        "userspace only"
    };
    b.run(move |d| d.add_tunnel(tunnel(base + 2, b4, a4, 1702)))
        .unwrap();
    let names: Vec<String> = (0..20).map(|i| format!("pwscale{i}")).collect();
    let add_names = names.clone();
    b.run(move |d| {
        for (i, n) in add_names.into_iter().enumerate() {
            d.add_session(session(
                base + 2,
                200 + i as u32,
                PseudowireType::Ethernet,
                Some(n),
            ))
            .unwrap();
        }
    });
    let dels: Vec<Duration> = b.run(move |d| {
        (0..10)
            .map(|i| {
                let t = Instant::now();
                d.del_session(base + 2, 200 + i).unwrap();
                t.elapsed()
            })
            .collect()
    });
    if !opts.async_removal {
        // Gone on return.
        for n in &names[..10] {
            assert!(!device_exists(&pair.b.name, n), "{n} left behind");
        }
    }
    let t = Instant::now();
    b.run(move |d| d.del_tunnel(base + 2)).unwrap();
    let del_tunnel = t.elapsed();
    let t = Instant::now();
    b.run(|d| d.settle());
    let settle = t.elapsed();
    println!(
        "TAP sessions, {mode}: del_session median {:?} (max {:?}), del_tunnel with 10 sessions {:?}, completely gone {:?} later",
        median(dels.clone()),
        dels.iter().max().unwrap(),
        del_tunnel,
        settle
    );
    let limit = if opts.tc_bpf {
        Duration::from_millis(50)
    } else if opts.async_removal {
        Duration::from_millis(1)
    } else {
        Duration::from_millis(5)
    };
    assert!(median(dels) < limit, "{mode}");
    assert!(del_tunnel < limit * 10, "{mode}: {del_tunnel:?}");
    for n in &names {
        assert!(!device_exists(&pair.b.name, n), "{n} left behind");
    }

    // Shutdown with devices: removal is batched, so it does not grow by a
    // grace period per device.
    b.run(move |d| d.add_tunnel(tunnel(base + 3, b4, a4, 1703)))
        .unwrap();
    let add_names = names.clone();
    b.run(move |d| {
        for (i, n) in add_names.into_iter().enumerate() {
            d.add_session(session(
                base + 3,
                300 + i as u32,
                PseudowireType::Ethernet,
                Some(n),
            ))
            .unwrap();
        }
    });
    let t = Instant::now();
    b.run(|d| d.shutdown());
    let shutdown = t.elapsed();
    println!(
        "TAP sessions, {mode}: shutdown with 20 sessions {shutdown:?} (devices gone on return)"
    );
    for n in &names {
        assert!(!device_exists(&pair.b.name, n), "{n} left behind");
    }
    assert!(shutdown < Duration::from_millis(300), "{shutdown:?}");
}
