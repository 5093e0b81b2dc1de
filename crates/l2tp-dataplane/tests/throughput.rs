//! iperf3 across a pseudowire between two namespaces. Ignored by default
//! (slow, load-sensitive); run in release mode:
//! `cargo test -p l2tp-dataplane --release --test throughput -- --ignored --nocapture`

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use l2tp_dataplane::{
    Cookie, Dataplane, Encap, L2SpecType, PseudowireType, SeqMode, SessionConfig, TunnelConfig,
};

/// The first number under `key` after `anchor` in iperf3's JSON (no JSON
/// dependency needed for three fields).
fn json_num(json: &str, anchor: &str, key: &str) -> f64 {
    let from = json
        .find(anchor)
        .unwrap_or_else(|| panic!("{anchor} missing: {json}"));
    let key = format!("\"{key}\":");
    let at = json[from..].find(&key).expect("key") + from + key.len();
    let num: String = json[at..]
        .chars()
        .skip_while(|c| c.is_whitespace())
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-'))
        .collect();
    num.parse().expect("number")
}

/// Runs iperf3 from A to `server` (in B) with extra client `args`; returns
/// the client's JSON report.
fn iperf(pair: &Pair, server: &str, args: &[&str]) -> String {
    let mut srv = Command::new("ip")
        .args([
            "netns",
            "exec",
            &pair.b.name,
            "iperf3",
            "-s",
            "-1",
            "-B",
            server,
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("iperf3 server");
    std::thread::sleep(Duration::from_millis(500));
    let mut cmd = vec!["iperf3", "-c", server, "-J"];
    cmd.extend_from_slice(args);
    let out = ns_try(&pair.a.name, &cmd);
    let _ = srv.wait();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// TCP goodput in bit/s.
fn iperf_tcp(pair: &Pair, server: &str, secs: u32) -> f64 {
    let json = iperf(pair, server, &["-t", &secs.to_string()]);
    json_num(&json, "\"sum_received\"", "bits_per_second")
}

#[test]
#[ignore]
fn iperf3_over_pseudowire() {
    let pair = Pair::new(60);
    let a = NsDataplane::spawn(&pair.a.name);
    let b = NsDataplane::spawn(&pair.b.name);
    let secs = 5;
    let base = iperf_tcp(&pair, &pair.b4.to_string(), secs);
    println!("underlay veth, no tunnel: {:.0} Mbit/s", base / 1e6);
    for (tid, encap, seq) in [
        (1u32, Encap::Udp, false),
        (2, Encap::Ip, false),
        (3, Encap::Udp, true),
    ] {
        let (a4, b4) = (pair.a4, pair.b4);
        let t = move |local, remote| TunnelConfig {
            tunnel_id: tid,
            peer_tunnel_id: tid,
            encap,
            local,
            remote,
            udp_sport: 1701 + tid as u16,
            udp_dport: 1701 + tid as u16,
            udp_csum: false,
            udp6_csum_tx: true,
            udp6_csum_rx: true,
        };
        let s = move |sid, peer| SessionConfig {
            tunnel_id: tid,
            session_id: sid,
            peer_session_id: peer,
            pw_type: PseudowireType::Ethernet,
            ifname: Some(format!("pwperf{tid}")),
            cookie: Cookie::new(&[1, 2, 3, 4]).unwrap(),
            peer_cookie: Cookie::new(&[1, 2, 3, 4]).unwrap(),
            l2spec: L2SpecType::Default,
            seq: SeqMode {
                send: seq,
                recv: seq,
            },
            mtu: None,
            reorder_timeout: seq.then_some(Duration::from_millis(100)),
        };
        a.run(move |d| d.add_tunnel(t(a4, b4))).unwrap();
        b.run(move |d| d.add_tunnel(t(b4, a4))).unwrap();
        a.run(move |d| d.add_session(s(100 + tid, 200 + tid)))
            .unwrap();
        b.run(move |d| d.add_session(s(200 + tid, 100 + tid)))
            .unwrap();
        let dev = format!("pwperf{tid}");
        ns_sh(
            &pair.a.name,
            &[
                "ip",
                "addr",
                "add",
                &format!("198.19.{tid}.1/24"),
                "dev",
                &dev,
            ],
        );
        ns_sh(
            &pair.b.name,
            &[
                "ip",
                "addr",
                "add",
                &format!("198.19.{tid}.2/24"),
                "dev",
                &dev,
            ],
        );
        ns_sh(
            &pair.a.name,
            &["ping", "-c", "1", "-W", "2", &format!("198.19.{tid}.2")],
        );
        let bps = iperf_tcp(&pair, &format!("198.19.{tid}.2"), secs);
        let c = a.run(move |d| d.session_counters(tid, 100 + tid)).unwrap();
        println!(
            "pseudowire {encap:?} seq={seq}: {:.0} Mbit/s (A tx {} pkts, {} errors; rx {} pkts, seq discards {}, oos {})",
            bps / 1e6,
            c.tx_packets,
            c.tx_errors,
            c.rx_packets,
            c.rx_seq_discards,
            c.rx_oos_packets
        );
        assert!(bps > 20e6, "{encap:?}: only {bps} bit/s");
        if tid == 1 {
            // Small frames: what the per-packet path costs.
            let before_a = a.run(move |d| d.session_counters(tid, 100 + tid)).unwrap();
            let before_b = b.run(move |d| d.session_counters(tid, 200 + tid)).unwrap();
            let json = iperf(
                &pair,
                "198.19.1.2",
                &["-u", "-b", "0", "-l", "64", "-t", &secs.to_string()],
            );
            let sent = json_num(&json, "\"sum_received\"", "packets");
            let lost = json_num(&json, "\"sum_received\"", "lost_packets");
            let secs_run = json_num(&json, "\"sum_received\"", "seconds");
            println!(
                "pseudowire Udp, 64-byte UDP payloads: {:.0} kpps offered, {:.0} kpps delivered",
                sent / secs_run / 1e3,
                (sent - lost) / secs_run / 1e3
            );
            let after_a = a.run(move |d| d.session_counters(tid, 100 + tid)).unwrap();
            let after_b = b.run(move |d| d.session_counters(tid, 200 + tid)).unwrap();
            let tap_a = String::from_utf8_lossy(
                &ns_sh(&pair.a.name, &["ip", "-s", "link", "show", "pwperf1"]).stdout,
            )
            .into_owned();
            println!(
                "  A tunnel tx {} pkts -> B tunnel rx {} pkts; TAP A stats:\n{tap_a}",
                after_a.tx_packets - before_a.tx_packets,
                after_b.rx_packets - before_b.rx_packets
            );
            assert!(sent > lost, "nothing delivered");
        }
    }
}
