//! Errors and clean-up: every refused operation leaves no socket, device or
//! thread behind; deletions remove devices. One test per binary on purpose:
//! it counts this process's threads.

mod common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use common::*;
use l2tp_dataplane::{
    Cookie, Dataplane, DataplaneError, Encap, FastpathOptions, L2SpecType, PseudowireType, SeqMode,
    SessionConfig, TunnelConfig,
};

fn tunnel(id: u32, encap: Encap, local: IpAddr, remote: IpAddr, sport: u16) -> TunnelConfig {
    TunnelConfig {
        tunnel_id: id,
        peer_tunnel_id: id,
        encap,
        local,
        remote,
        udp_sport: sport,
        udp_dport: 1701,
        udp_csum: false,
        udp6_csum_tx: true,
        udp6_csum_rx: true,
    }
}

fn session(tunnel_id: u32, session_id: u32, ifname: Option<&str>) -> SessionConfig {
    SessionConfig {
        tunnel_id,
        session_id,
        peer_session_id: session_id,
        pw_type: PseudowireType::Ethernet,
        ifname: ifname.map(str::to_string),
        cookie: Cookie::new(&[1, 2, 3, 4]).unwrap(),
        peer_cookie: Cookie::new(&[5, 6, 7, 8]).unwrap(),
        l2spec: L2SpecType::Default,
        seq: SeqMode::default(),
        mtu: None,
        reorder_timeout: None,
    }
}

fn link_count(ns: &str) -> usize {
    String::from_utf8(ns_sh(ns, &["ip", "-o", "link", "show"]).stdout)
        .unwrap()
        .lines()
        .count()
}

/// Settles thread exits (join has returned, but /proc may lag a moment).
fn threads_settle(want: usize) -> usize {
    for _ in 0..50 {
        if thread_count() == want {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    thread_count()
}

macro_rules! expect_err {
    ($e:expr, $pat:pat $(if $guard:expr)?) => {
        match $e {
            Err($pat) $(if $guard)? => {}
            other => panic!("expected {}, got {:?}", stringify!($pat), other),
        }
    };
}

#[test]
fn errors_leave_nothing_behind_and_deletes_clean_up() {
    let pair = Pair::new(30);
    let dp = NsDataplane::spawn(&pair.a.name);
    let ns = pair.a.name.clone();
    let (a4, b4, a6, b6) = (pair.a4, pair.b4, pair.a6, pair.b6);
    let base_threads = thread_count();
    // Transmit workers: a pool started with the first device, one per queue.
    let w = FastpathOptions::from_env().effective_queues();
    let base_links = link_count(&ns);

    // Configuration errors.
    expect_err!(
        dp.run(move |d| d.add_tunnel(tunnel(1, Encap::Udp, a4, b6, 1701))),
        DataplaneError::AddressFamilyMismatch { .. }
    );
    expect_err!(
        dp.run(move |d| d.add_tunnel(tunnel(0, Encap::Udp, a4, b4, 1701))),
        DataplaneError::Invalid {
            field: "tunnel_id",
            ..
        }
    );
    expect_err!(
        dp.run(move |d| d.add_tunnel(TunnelConfig {
            udp_dport: 0,
            ..tunnel(1, Encap::Udp, a4, b4, 1701)
        })),
        DataplaneError::Invalid {
            field: "udp_dport",
            ..
        }
    );
    let foreign: IpAddr = "198.18.99.1".parse().unwrap();
    expect_err!(
        dp.run(move |d| d.add_tunnel(tunnel(1, Encap::Udp, foreign, b4, 1701))),
        DataplaneError::Invalid { field: "local", .. }
    );
    // Port taken by another socket in the namespace.
    let blocker: UdpSocket = dp.run(move |_| UdpSocket::bind(SocketAddr::new(a4, 1702)).unwrap());
    expect_err!(
        dp.run(move |d| d.add_tunnel(tunnel(1, Encap::Udp, a4, b4, 1702))),
        DataplaneError::PortInUse { local } if local == SocketAddr::new(a4, 1702)
    );
    drop(blocker);
    assert_eq!(
        threads_settle(base_threads),
        base_threads,
        "a failed add_tunnel left a thread"
    );
    assert!(
        dp.run(|d| d.underlay_stats()).is_empty(),
        "a failed add_tunnel left a socket"
    );
    // A cookie of a length the RFC does not allow cannot even be built.
    assert!(Cookie::new(&[1, 2, 3]).is_err());

    // Unknown objects.
    expect_err!(dp.run(|d| d.del_tunnel(7)), DataplaneError::NoSuchTunnel(7));
    expect_err!(
        dp.run(|d| d.tunnel_counters(7)),
        DataplaneError::NoSuchTunnel(7)
    );
    expect_err!(
        dp.run(|d| d.add_session(session(7, 70, None))),
        DataplaneError::NoSuchTunnel(7)
    );

    // A working tunnel: one receive thread.
    dp.run(move |d| d.add_tunnel(tunnel(1, Encap::Udp, a4, b4, 1701)))
        .unwrap();
    assert_eq!(thread_count(), base_threads + 1);
    expect_err!(
        dp.run(move |d| d.add_tunnel(tunnel(1, Encap::Udp, a4, b4, 1703))),
        DataplaneError::TunnelExists(1)
    );
    // A second tunnel on the same local port shares the socket and thread.
    dp.run(move |d| d.add_tunnel(tunnel(2, Encap::Udp, a4, b4, 1701)))
        .unwrap();
    assert_eq!(thread_count(), base_threads + 1);
    assert_eq!(dp.run(|d| d.underlay_stats()).len(), 1);
    // ...but only with the same checksum settings.
    expect_err!(
        dp.run(move |d| d.add_tunnel(TunnelConfig {
            udp_csum: true,
            ..tunnel(3, Encap::Udp, a4, b4, 1701)
        })),
        DataplaneError::Invalid {
            field: "udp_csum",
            ..
        }
    );
    // Port 0: the kernel picks one.
    dp.run(move |d| d.add_tunnel(tunnel(4, Encap::Udp, a6, b6, 0)))
        .unwrap();
    let picked = dp.run(|d| d.tunnel_local_addr(4)).unwrap();
    assert_ne!(picked.port(), 0);
    dp.run(|d| d.del_tunnel(4)).unwrap();
    assert_eq!(threads_settle(base_threads + 1), base_threads + 1);

    // Session errors leave no device and no thread.
    expect_err!(
        dp.run(|d| d.add_session(session(1, 10, Some("vdpa")))),
        DataplaneError::DeviceExists(name) if name == "vdpa"
    );
    expect_err!(
        dp.run(|d| d.add_session(SessionConfig {
            mtu: Some(20),
            ..session(1, 10, None)
        })),
        DataplaneError::Invalid { field: "mtu", .. }
    );
    expect_err!(
        dp.run(|d| d.add_session(session(1, 0, None))),
        DataplaneError::Invalid {
            field: "session_id",
            ..
        }
    );
    expect_err!(
        dp.run(|d| d.add_session(SessionConfig {
            peer_session_id: 0,
            ..session(1, 10, None)
        })),
        DataplaneError::Invalid {
            field: "peer_session_id",
            ..
        }
    );
    expect_err!(
        dp.run(|d| d.add_session(session(1, 10, Some("bad name")))),
        DataplaneError::Invalid {
            field: "ifname",
            ..
        }
    );
    assert_eq!(
        link_count(&ns),
        base_links,
        "a failed add_session left a device"
    );
    assert_eq!(threads_settle(base_threads + 1), base_threads + 1);

    // Named device; session IDs are unique across tunnels.
    let info = dp
        .run(|d| d.add_session(session(1, 10, Some("pwtest0"))))
        .unwrap();
    assert_eq!(info.ifname, "pwtest0");
    assert_eq!(info.mtu, 1500 - (20 + 8 + 4 + 4 + 4 + 4 + 14));
    assert!(device_exists(&ns, "pwtest0"));
    assert_eq!(thread_count(), base_threads + 1 + w);
    expect_err!(
        dp.run(|d| d.add_session(session(2, 10, None))),
        DataplaneError::SessionExists(10)
    );
    expect_err!(
        dp.run(|d| d.add_session(session(1, 11, Some("pwtest0")))),
        DataplaneError::DeviceExists(_)
    );
    expect_err!(
        dp.run(|d| d.del_session(2, 10)),
        DataplaneError::NoSuchSession {
            tunnel_id: 2,
            session_id: 10
        }
    );
    expect_err!(
        dp.run(|d| d.session_counters(2, 10)),
        DataplaneError::NoSuchSession { .. }
    );
    let c = dp.run(|d| d.session_counters(1, 10)).unwrap();
    assert_eq!(c, Default::default(), "a silent device has no traffic");

    // Deleting the session removes the device; the name is reusable.
    dp.run(|d| d.del_session(1, 10)).unwrap();
    assert!(!device_exists(&ns, "pwtest0"));
    assert_eq!(threads_settle(base_threads + 1 + w), base_threads + 1 + w);
    let info = dp
        .run(|d| d.add_session(session(1, 10, Some("pwtest0"))))
        .unwrap();
    assert_eq!(info.ifname, "pwtest0");
    let info2 = dp
        .run(|d| {
            d.add_session(SessionConfig {
                mtu: Some(9000),
                ..session(2, 20, None)
            })
        })
        .unwrap();
    assert_eq!(info2.mtu, 9000);
    let link =
        String::from_utf8(ns_sh(&ns, &["ip", "-o", "link", "show", "dev", &info2.ifname]).stdout)
            .unwrap();
    assert!(link.contains("mtu 9000"), "{link}");

    // IP encapsulation on its own raw socket.
    dp.run(move |d| d.add_tunnel(tunnel(5, Encap::Ip, a4, b4, 0)))
        .unwrap();
    dp.run(|d| d.add_session(session(5, 50, None))).unwrap();
    assert_eq!(thread_count(), base_threads + 2 + w);

    // Deleting a tunnel removes its sessions; the shared socket stays while
    // tunnel 1 uses it.
    dp.run(|d| d.del_tunnel(2)).unwrap();
    assert!(!device_exists(&ns, &info2.ifname));
    assert!(device_exists(&ns, "pwtest0"));
    expect_err!(
        dp.run(|d| d.session_counters(2, 20)),
        DataplaneError::NoSuchTunnel(2)
    );
    assert_eq!(dp.run(|d| d.underlay_stats()).len(), 2);

    // A device deleted behind the data plane's back: the worker must not
    // spin, and the session can still be deleted.
    dp.run(|d| d.add_session(session(1, 60, Some("pwgone"))))
        .unwrap();
    ns_sh(&ns, &["ip", "link", "del", "pwgone"]);
    std::thread::sleep(Duration::from_millis(200));
    let cpu0 = cpu_time();
    std::thread::sleep(Duration::from_millis(500));
    let spent = cpu_time() - cpu0;
    assert!(
        spent < Duration::from_millis(150),
        "spinning: {spent:?} CPU in 500 ms"
    );
    dp.run(|d| d.del_session(1, 60)).unwrap();

    // Shutdown removes everything and stops every thread.
    dp.run(|d| d.shutdown());
    assert!(!device_exists(&ns, "pwtest0"));
    assert_eq!(link_count(&ns), base_links);
    assert_eq!(threads_settle(base_threads), base_threads);
    assert!(dp.run(|d| d.tunnel_ids()).is_empty());

    // Without CAP_NET_ADMIN / CAP_NET_RAW the kernel refuses, and the error
    // says so.
    let denied = dp.run(move |d| {
        let saved = drop_net_caps();
        let raw = d.add_tunnel(tunnel(6, Encap::Ip, a4, b4, 0));
        d.add_tunnel(tunnel(7, Encap::Udp, a4, b4, 1701)).unwrap();
        let tap = d.add_session(session(7, 70, None));
        restore_caps(saved);
        d.del_tunnel(7).unwrap();
        (raw, tap)
    });
    expect_err!(denied.0, DataplaneError::PermissionDenied { .. });
    expect_err!(denied.1, DataplaneError::PermissionDenied { .. });
    assert_eq!(link_count(&ns), base_links);
    assert_eq!(threads_settle(base_threads), base_threads);
    let msg = dp
        .run(move |d| {
            let saved = drop_net_caps();
            let r = d.add_tunnel(tunnel(6, Encap::Ip, a4, b4, 0));
            restore_caps(saved);
            r
        })
        .unwrap_err()
        .to_string();
    assert!(msg.contains("permission denied"), "{msg}");
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_V3: u32 = 0x2008_0522;
const CAP_NET_ADMIN: u32 = 12;
const CAP_NET_RAW: u32 = 13;

/// Drops CAP_NET_ADMIN and CAP_NET_RAW from the calling thread's effective
/// set (they stay permitted, so [`restore_caps`] can raise them again).
fn drop_net_caps() -> [CapData; 2] {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget with a v3 header and room for two data structs.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        )
    };
    assert_eq!(r, 0, "capget: {}", std::io::Error::last_os_error());
    let saved = data;
    data[0].effective &= !((1 << CAP_NET_ADMIN) | (1 << CAP_NET_RAW));
    // SAFETY: capset with the same layout; only lowers the effective set.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) };
    assert_eq!(r, 0, "capset: {}", std::io::Error::last_os_error());
    saved
}

fn restore_caps(saved: [CapData; 2]) {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    // SAFETY: capset with a v3 header and two data structs from capget.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, saved.as_ptr()) };
    assert_eq!(r, 0, "capset restore: {}", std::io::Error::last_os_error());
}

/// CPU time (user + system) this process has used.
fn cpu_time() -> Duration {
    // SAFETY: rusage is plain old data; getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer to a writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    tv(ru.ru_utime) + tv(ru.ru_stime)
}
