//! The endpoint on real UDP sockets with the real clock, between two
//! network namespaces (root only): two of our LCCEs, and xl2tpd (an
//! L2TPv2-only LAC) against ours.
//!
//! Each namespace runs this test binary again (`driver` below, enabled by
//! environment variables) so no `setns` is needed.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use l2tp_control::{
    AllowList, Auth, DigestAlgorithm, Endpoint, EndpointConfig, Event, SessionConfig, TunnelConfig,
    TunnelDownReason,
};
use rand::rngs::StdRng;
use rand::SeedableRng;

fn env(k: &str) -> Option<String> {
    std::env::var(k).ok()
}

/// One LCCE on a UDP socket, configured from L2TPCTL_* variables; prints
/// `EVENT ...` and `STATS ...` lines.
#[test]
fn driver() {
    if env("L2TPCTL_DRIVER").is_none() {
        return;
    }
    let bind: SocketAddr = env("L2TPCTL_BIND").unwrap().parse().unwrap();
    let peer: Option<SocketAddr> = env("L2TPCTL_PEER").map(|p| p.parse().unwrap());
    let sessions: usize = env("L2TPCTL_SESSIONS").map_or(0, |s| s.parse().unwrap());
    let run = Duration::from_millis(env("L2TPCTL_RUN_MS").unwrap().parse().unwrap());
    let close_at = env("L2TPCTL_CLOSE_MS").map(|s| Duration::from_millis(s.parse().unwrap()));
    let tcfg = TunnelConfig {
        auth: env("L2TPCTL_SECRET").map(|s| Auth {
            secret: s.into_bytes(),
            algorithm: DigestAlgorithm::Md5,
        }),
        hello_interval: Some(Duration::from_secs(1)),
        hello_jitter: Duration::from_millis(100),
        ..TunnelConfig::default()
    };
    let policy = AllowList::new(
        tcfg.clone(),
        SessionConfig {
            cookie_len: 4,
            ..SessionConfig::default()
        },
    )
    .allow_any();
    let rng = StdRng::from_rng(&mut rand::rng());
    let mut ep = Endpoint::new(EndpointConfig::default(), Box::new(policy), Box::new(rng));
    let sock = UdpSocket::bind(bind).unwrap();
    let start = Instant::now();
    let mut tunnel = None;
    if let Some(p) = peer {
        let t = ep.connect(start, p, tcfg).unwrap();
        for _ in 0..sessions {
            ep.open_session(
                start,
                t,
                SessionConfig {
                    cookie_len: 8,
                    ..SessionConfig::default()
                },
            )
            .unwrap();
        }
        tunnel = Some(t);
    }
    let mut buf = [0u8; 4096];
    loop {
        let now = Instant::now();
        if now - start >= run {
            break;
        }
        if let (Some(c), Some(t)) = (close_at, tunnel) {
            if now - start >= c {
                ep.close_tunnel(now, t).unwrap();
                tunnel = None;
            }
        }
        while let Some(tx) = ep.poll_transmit() {
            sock.send_to(&tx.payload, tx.dst).unwrap();
        }
        while let Some(ev) = ep.poll_event() {
            let line = match ev {
                Event::TunnelUp { info, .. } => format!("TunnelUp {}", info.peer_id),
                Event::TunnelDown { reason, .. } => format!("TunnelDown {reason:?}"),
                Event::SessionUp { params, .. } => {
                    format!("SessionUp {}", params.peer_cookie.len())
                }
                Event::SessionDown { reason, .. } => format!("SessionDown {reason:?}"),
                e => format!("{e:?}"),
            };
            println!("EVENT {line}");
        }
        let wait = ep
            .poll_timeout()
            .map_or(Duration::from_millis(50), |t| {
                t.saturating_duration_since(now)
            })
            .clamp(Duration::from_millis(1), Duration::from_millis(50));
        sock.set_read_timeout(Some(wait)).unwrap();
        if let Ok((n, from)) = sock.recv_from(&mut buf) {
            ep.handle_datagram(Instant::now(), from, &buf[..n]);
        }
        let now = Instant::now();
        if ep.poll_timeout().is_some_and(|t| t <= now) {
            ep.handle_timeout(now);
        }
    }
    println!("STATS {:?}", ep.stats());
    for t in ep.tunnels() {
        println!("TUNNEL {:?}", ep.tunnel_stats(t).unwrap());
    }
}

fn sh(args: &[&str]) {
    let st = Command::new(args[0]).args(&args[1..]).status().unwrap();
    assert!(st.success(), "{args:?}");
}

/// Two namespaces joined by a veth pair, removed on drop.
struct Pair {
    a: String,
    b: String,
}

impl Pair {
    fn new(tag: &str, subnet: u8) -> Pair {
        assert!(
            Command::new("id").arg("-u").output().unwrap().stdout == b"0\n",
            "these tests create network namespaces: run as root"
        );
        let pid = std::process::id();
        let a = format!("l2tpctl-{tag}{pid}a");
        let b = format!("l2tpctl-{tag}{pid}b");
        let (va, vb) = (format!("lc{tag}{pid}a"), format!("lc{tag}{pid}b"));
        let p = Pair {
            a: a.clone(),
            b: b.clone(),
        };
        sh(&["ip", "netns", "add", &a]);
        sh(&["ip", "netns", "add", &b]);
        sh(&[
            "ip", "link", "add", &va, "netns", &a, "type", "veth", "peer", "name", &vb, "netns", &b,
        ]);
        let ipa = format!("198.18.{subnet}.1/24");
        let ipb = format!("198.18.{subnet}.2/24");
        sh(&["ip", "-n", &a, "addr", "add", &ipa, "dev", &va]);
        sh(&["ip", "-n", &b, "addr", "add", &ipb, "dev", &vb]);
        for (ns, dev) in [(&a, &va), (&b, &vb)] {
            sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        p
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn spawn_driver(ns: &str, vars: &[(&str, String)]) -> Child {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns])
        .arg(exe)
        .args(["driver", "--exact", "--nocapture", "--test-threads=1"])
        .env("L2TPCTL_DRIVER", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

fn lines(out: &Output, prefix: &str) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        // libtest prints "test driver ... " before the driver's first line.
        .filter_map(|l| l.find(prefix).map(|i| l[i + prefix.len()..].to_string()))
        .collect()
}

#[test]
fn two_lcces_over_real_udp() {
    let pair = Pair::new("u", 10);
    let b = spawn_driver(
        &pair.b,
        &[
            ("L2TPCTL_BIND", "198.18.10.2:1701".into()),
            ("L2TPCTL_SECRET", "netns-secret".into()),
            ("L2TPCTL_RUN_MS", "5000".into()),
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let a = spawn_driver(
        &pair.a,
        &[
            ("L2TPCTL_BIND", "198.18.10.1:1701".into()),
            ("L2TPCTL_PEER", "198.18.10.2:1701".into()),
            ("L2TPCTL_SECRET", "netns-secret".into()),
            ("L2TPCTL_SESSIONS", "20".into()),
            ("L2TPCTL_CLOSE_MS", "3000".into()),
            ("L2TPCTL_RUN_MS", "4000".into()),
        ],
    );
    let a = a.wait_with_output().unwrap();
    let b = b.wait_with_output().unwrap();
    let (ea, eb) = (lines(&a, "EVENT "), lines(&b, "EVENT "));
    println!("A: {ea:#?}\nB: {eb:#?}");
    let count = |v: &[String], p: &str| v.iter().filter(|l| l.starts_with(p)).count();
    assert_eq!(count(&ea, "TunnelUp"), 1);
    assert_eq!(count(&eb, "TunnelUp"), 1);
    // A asked for 4-byte cookies from B's policy; B got A's 8-byte ones.
    assert_eq!(count(&ea, "SessionUp 4"), 20);
    assert_eq!(count(&eb, "SessionUp 8"), 20);
    // HELLOs every second kept it up until A closed it at 3 s.
    assert_eq!(count(&ea, "SessionDown TunnelDown"), 20);
    assert_eq!(count(&eb, "SessionDown TunnelDown"), 20);
    assert!(ea.contains(&format!("TunnelDown {:?}", TunnelDownReason::Closed)));
    assert_eq!(count(&eb, "TunnelDown PeerStopCcn"), 1);
    let b_tunnels = lines(&b, "TUNNEL ");
    assert_eq!(b_tunnels.len(), 1, "B still lingering: {b_tunnels:?}");
    assert!(b_tunnels[0].contains("bad_digest: 0"));
}

#[test]
fn xl2tpd_is_told_l2tpv2_is_unsupported() {
    if Command::new("xl2tpd").arg("-v").output().is_err() {
        panic!("xl2tpd is not installed");
    }
    let pair = Pair::new("x", 11);
    let dir = std::env::temp_dir().join(format!("l2tpctl-xl2tpd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("xl2tpd.conf");
    std::fs::write(
        &conf,
        "[global]\nport = 1701\nlisten-addr = 198.18.11.1\n\n\
         [lac probe]\nlns = 198.18.11.2\nautodial = yes\nredial = no\n",
    )
    .unwrap();
    let b = spawn_driver(
        &pair.b,
        &[
            ("L2TPCTL_BIND", "198.18.11.2:1701".into()),
            ("L2TPCTL_RUN_MS", "3000".into()),
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut x = Command::new("ip")
        .args(["netns", "exec", &pair.a, "xl2tpd", "-D", "-c"])
        .arg(&conf)
        .arg("-p")
        .arg(dir.join("pid"))
        .arg("-C")
        .arg(dir.join("control"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2000));
    x.kill().unwrap();
    let xo = x.wait_with_output().unwrap();
    let b = b.wait_with_output().unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let xlog = format!(
        "{}{}",
        String::from_utf8_lossy(&xo.stdout),
        String::from_utf8_lossy(&xo.stderr)
    );
    println!("xl2tpd:\n{xlog}\nours: {:?}", lines(&b, "STATS"));
    let stats = lines(&b, "STATS ");
    assert_eq!(stats.len(), 1);
    assert!(!stats[0].contains("v2_rejected: 0"), "{}", stats[0]);
    assert!(lines(&b, "EVENT ").is_empty(), "no tunnel was created");
    // xl2tpd accepted our StopCCN and closed the connection with its text.
    assert!(
        xlog.contains("Connection closed to 198.18.11.2")
            && xlog.contains("highest supported version is 3"),
        "xl2tpd did not act on the StopCCN:\n{xlog}"
    );
}
