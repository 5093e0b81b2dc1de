//! The Linux kernel selftest tools/testing/selftests/net/l2tp.sh rebuilt
//! with `l2tpd` in place of the kernel's l2tp modules:
//!
//! ```text
//!            host-1          |   router   |     host-2
//!      lo          l2tp      |            |      l2tp           lo
//! 198.19.101.1 198.19.1.1    |            | 198.19.1.2    198.19.101.2
//! 2001:db8:101::1 2001:db8:f1::1          | 2001:db8:f1::2 2001:db8:101::2
//!                  eth0      |            |     eth0
//!                198.18.1.1  |            |   198.18.2.1
//!              2001:db8:1::1 |            | 2001:db8:2::1
//! ```
//!
//! The selftest's addresses (172.16/12, 10/8, fc00::/7) are mapped into
//! 198.18.0.0/15 and 2001:db8::/32; everything else is as there: IP
//! encapsulation over IPv4 (tunnel 1041/1042, device l2tp4) and IPv6
//! (1061/1062, l2tp6) between host-1 and host-2 through a routing
//! namespace, point-to-point addresses on the l2tp devices, routes to the
//! far loopback via the tunnel, and the same four pings (`-c1 -w1`). The
//! selftest repeats them with IPsec (ESP transport, rfc4106(gcm(aes)))
//! on the underlay and after tearing it down; that part runs when the host
//! kernel has ESP and GCM, and is skipped with a note otherwise.

use l2tp_integration::daemon::Daemon;
use l2tp_integration::netns::{veth, Netns};

/// create_ns: loopback addresses, unreachable defaults, forwarding on,
/// DAD off for devices created later.
fn create_ns(tag: &str, lo: Option<(&str, &str)>) -> Netns {
    let ns = Netns::new(tag);
    if let Some((v4, v6)) = lo {
        ns.sh_ok(&format!(
            "ip addr add dev lo {v4} && ip -6 addr add dev lo {v6}"
        ));
    }
    ns.sh_ok(
        "ip ro add unreachable default metric 8192 && \
         ip -6 ro add unreachable default metric 8192",
    );
    ns.sysctl(&[
        "net.ipv4.ip_forward=1",
        "net.ipv6.conf.all.keep_addr_on_down=1",
        "net.ipv6.conf.all.forwarding=1",
        "net.ipv6.conf.default.forwarding=1",
        "net.ipv6.conf.default.accept_dad=0",
    ]);
    ns
}

/// connect_ns: a veth pair with an address of each family on each end.
fn connect_ns(
    a: &Netns,
    dev_a: &str,
    addrs_a: (&str, &str),
    b: &Netns,
    dev_b: &str,
    addrs_b: (&str, &str),
) {
    veth(a, dev_a, b, dev_b);
    a.sh_ok(&format!(
        "ip addr add dev {dev_a} {} && ip addr add dev {dev_a} {}",
        addrs_a.0, addrs_a.1
    ));
    b.sh_ok(&format!(
        "ip addr add dev {dev_b} {} && ip addr add dev {dev_b} {}",
        addrs_b.0, addrs_b.1
    ));
}

struct Topology {
    d1: Daemon,
    d2: Daemon,
    h1: Netns,
    h2: Netns,
    _router: Netns,
}

fn setup() -> Topology {
    let h1 = create_ns("st-h1", Some(("198.19.101.1/32", "2001:db8:101::1/128")));
    let h2 = create_ns("st-h2", Some(("198.19.101.2/32", "2001:db8:101::2/128")));
    let router = create_ns("st-rt", None);
    connect_ns(
        &h1,
        "eth0",
        ("198.18.1.1/24", "2001:db8:1::1/64"),
        &router,
        "eth1",
        ("198.18.1.2/24", "2001:db8:1::2/64"),
    );
    connect_ns(
        &h2,
        "eth0",
        ("198.18.2.1/24", "2001:db8:2::1/64"),
        &router,
        "eth2",
        ("198.18.2.2/24", "2001:db8:2::2/64"),
    );
    h1.sh_ok(
        "ip ro add 198.18.2.0/24 via 198.18.1.2 && ip -6 ro add 2001:db8:2::/64 via 2001:db8:1::2",
    );
    h2.sh_ok(
        "ip ro add 198.18.1.0/24 via 198.18.2.2 && ip -6 ro add 2001:db8:1::/64 via 2001:db8:2::2",
    );

    let d1 = Daemon::start(&h1);
    let d2 = Daemon::start(&h2);

    // setup_l2tp_ipv4
    d1.l2tp_ok(
        "add tunnel tunnel_id 1041 peer_tunnel_id 1042 encap ip local 198.18.1.1 remote 198.18.2.1",
    );
    d1.l2tp_ok("add session name l2tp4 tunnel_id 1041 session_id 1041 peer_session_id 1042");
    h1.sh_ok("ip link set dev l2tp4 up && ip addr add dev l2tp4 198.19.1.1 peer 198.19.1.2");
    d2.l2tp_ok(
        "add tunnel tunnel_id 1042 peer_tunnel_id 1041 encap ip local 198.18.2.1 remote 198.18.1.1",
    );
    d2.l2tp_ok("add session name l2tp4 tunnel_id 1042 session_id 1042 peer_session_id 1041");
    h2.sh_ok("ip link set dev l2tp4 up && ip addr add dev l2tp4 198.19.1.2 peer 198.19.1.1");
    h1.sh_ok("ip ro add 198.19.101.2/32 via 198.19.1.2");
    h2.sh_ok("ip ro add 198.19.101.1/32 via 198.19.1.1");

    // setup_l2tp_ipv6
    d1.l2tp_ok("add tunnel tunnel_id 1061 peer_tunnel_id 1062 encap ip local 2001:db8:1::1 remote 2001:db8:2::1");
    d1.l2tp_ok("add session name l2tp6 tunnel_id 1061 session_id 1061 peer_session_id 1062");
    h1.sh_ok(
        "ip link set dev l2tp6 up && ip addr add dev l2tp6 2001:db8:f1::1 peer 2001:db8:f1::2",
    );
    d2.l2tp_ok("add tunnel tunnel_id 1062 peer_tunnel_id 1061 encap ip local 2001:db8:2::1 remote 2001:db8:1::1");
    d2.l2tp_ok("add session name l2tp6 tunnel_id 1062 session_id 1062 peer_session_id 1061");
    h2.sh_ok(
        "ip link set dev l2tp6 up && ip addr add dev l2tp6 2001:db8:f1::2 peer 2001:db8:f1::1",
    );
    h1.sh_ok("ip -6 ro add 2001:db8:101::2/128 via 2001:db8:f1::2");
    h2.sh_ok("ip -6 ro add 2001:db8:101::1/128 via 2001:db8:f1::1");

    Topology {
        d1,
        d2,
        h1,
        h2,
        _router: router,
    }
}

/// run_ping: the selftest's four pings from host-1; returns failures.
fn run_ping(t: &Topology, desc: &str) -> Vec<String> {
    let cases = [
        ("ping -c1 -w1 198.19.1.2", "IPv4 basic L2TP tunnel"),
        (
            "ping -c1 -w1 -I 198.19.101.1 198.19.101.2",
            "IPv4 route through L2TP tunnel",
        ),
        ("ping -6 -c1 -w1 2001:db8:f1::2", "IPv6 basic L2TP tunnel"),
        (
            "ping -6 -c1 -w1 -I 2001:db8:101::1 2001:db8:101::2",
            "IPv6 route through L2TP tunnel",
        ),
    ];
    let mut failures = Vec::new();
    for (cmd, name) in cases {
        let out = t.h1.sh(cmd);
        let ok = out.status.success();
        eprintln!(
            "TEST: {:<60}  [{}]",
            format!("{name} {desc}"),
            if ok { " OK " } else { "FAIL" }
        );
        if !ok {
            failures.push(format!(
                "{name} {desc}: `{cmd}` failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    failures
}

const KEY: &str = "0x0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f";

/// setup_ipsec: ESP transport between the underlay addresses, both
/// families. Err with the reason when the host kernel cannot do it.
fn setup_ipsec(t: &Topology) -> Result<(), String> {
    for (fam, h1a, h2a) in [
        ("", "198.18.1.1", "198.18.2.1"),
        ("-6", "2001:db8:1::1", "2001:db8:2::1"),
    ] {
        for (ns, out_src, out_dst) in [(&t.h1, h1a, h2a), (&t.h2, h2a, h1a)] {
            for (spi, src, dst) in [("0x1000", h1a, h2a), ("0x1001", h2a, h1a)] {
                let out = ns.sh(&format!(
                    "ip {fam} xfrm state add src {src} dst {dst} spi {spi} proto esp \
                     aead 'rfc4106(gcm(aes))' {KEY} 128 mode transport"
                ));
                if !out.status.success() {
                    return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
                }
            }
            ns.sh_ok(&format!(
                "ip {fam} xfrm policy add src {out_src} dst {out_dst} dir out tmpl proto esp mode transport && \
                 ip {fam} xfrm policy add src {out_dst} dst {out_src} dir in tmpl proto esp mode transport"
            ));
        }
    }
    Ok(())
}

fn teardown_ipsec(t: &Topology) {
    for ns in [&t.h1, &t.h2] {
        ns.sh_ok("ip xfrm state flush && ip xfrm policy flush");
    }
}

#[test]
fn kernel_selftest_l2tp_topology_pings_pass() {
    let t = setup();

    // The configuration reads back as ip l2tp shows it.
    assert_eq!(
        t.d1.l2tp_ok("show tunnel tunnel_id 1041"),
        "Tunnel 1041, encap IP\n  From 198.18.1.1 to 198.18.2.1\n  Peer tunnel 1042\n"
    );
    assert_eq!(
        t.d2.l2tp_ok("show session tunnel_id 1062"),
        "Session 1062 in tunnel 1062\n  Peer session 1061, tunnel 1061\n  \
         interface name: l2tp6\n  offset 0, peer offset 0\n\n"
    );

    let mut failures = run_ping(&t, "");
    match setup_ipsec(&t) {
        Ok(()) => {
            failures.extend(run_ping(&t, "- with IPsec"));
            // The traffic really went through ESP.
            let states = t.h1.sh_ok("ip -s xfrm state");
            assert!(states.contains("proto esp"), "{states}");
            teardown_ipsec(&t);
            failures.extend(run_ping(&t, "- after IPsec teardown"));
        }
        Err(why) => {
            teardown_ipsec(&t);
            eprintln!("IPsec part skipped: the host kernel cannot add the ESP state: {why}");
        }
    }

    // The pings crossed the pseudowires: both sessions on host-1 sent and
    // received.
    for d in [&t.d1, &t.d2] {
        for s in d.sessions_json() {
            let st = &s["stats"];
            assert!(
                st["tx_packets"].as_u64() >= Some(2) && st["rx_packets"].as_u64() >= Some(2),
                "session {} counted too little: {st}",
                s["session_id"]
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} ping(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
