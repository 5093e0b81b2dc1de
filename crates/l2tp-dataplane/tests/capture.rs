//! What goes on the wire, checked by an independent decoder: tshark
//! captures the underlay and must see the right session IDs, cookies,
//! sequence numbers and UDP checksum choices.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use l2tp_dataplane::{
    Cookie, Dataplane, Encap, FastpathOptions, L2SpecType, PseudowireType, SeqMode, SessionConfig,
    SessionInfo, TunnelConfig,
};

const FRAMES: u32 = 5;

#[test]
fn tshark_decodes_what_we_send() {
    let pair = Pair::new(50);
    // A sends UDP GSO trains, which need checksums: they are always on.
    // B does not, so its checksums follow the configuration.
    let a = NsDataplane::spawn_with(&pair.a.name, FastpathOptions::default());
    let b = NsDataplane::spawn_with(
        &pair.b.name,
        FastpathOptions {
            gso: false,
            ..FastpathOptions::default()
        },
    );
    // (tunnel, encap, local A, local B)
    let kinds = [
        (1u32, Encap::Udp, pair.a4, pair.b4),
        (2, Encap::Udp, pair.a6, pair.b6),
        (3, Encap::Ip, pair.a4, pair.b4),
    ];
    let mut infos: Vec<(u32, u32, SessionInfo, SessionInfo)> = Vec::new();
    for (tid, encap, la, lb) in kinds {
        let t = TunnelConfig {
            tunnel_id: tid,
            peer_tunnel_id: tid,
            encap,
            local: la,
            remote: lb,
            udp_sport: 1701,
            udp_dport: 1701,
            // A: IPv4 checksums on, IPv6 zero checksums. B: the opposite.
            udp_csum: true,
            udp6_csum_tx: false,
            udp6_csum_rx: true,
        };
        let tb = TunnelConfig {
            local: lb,
            remote: la,
            udp_csum: false,
            udp6_csum_tx: true,
            udp6_csum_rx: false,
            ..t.clone()
        };
        a.run(move |d| d.add_tunnel(t)).unwrap();
        b.run(move |d| d.add_tunnel(tb)).unwrap();
        let (sa, sb) = (0x0a00_0000 + tid, 0x0b00_0000 + tid);
        let s = move |sid, peer, cookie: u32, peer_cookie: u32| SessionConfig {
            tunnel_id: tid,
            session_id: sid,
            peer_session_id: peer,
            pw_type: PseudowireType::Ethernet,
            ifname: None,
            cookie: Cookie::new(&cookie.to_be_bytes()).unwrap(),
            peer_cookie: Cookie::new(&peer_cookie.to_be_bytes()).unwrap(),
            l2spec: L2SpecType::Default,
            seq: SeqMode {
                send: true,
                recv: true,
            },
            mtu: None,
            reorder_timeout: None,
        };
        let ia = a
            .run(move |d| d.add_session(s(sa, sb, 0xaaaa_0000 + tid, 0xbbbb_0000 + tid)))
            .unwrap();
        let ib = b
            .run(move |d| d.add_session(s(sb, sa, 0xbbbb_0000 + tid, 0xaaaa_0000 + tid)))
            .unwrap();
        infos.push((sa, sb, ia, ib));
    }

    let pcap = std::env::temp_dir().join(format!("l2dp-capture-{}.pcap", std::process::id()));
    let total = infos.len() as u32 * FRAMES * 2;
    let mut tshark = Command::new("ip")
        .args([
            "netns",
            "exec",
            &pair.b.name,
            "tshark",
            "-q",
            "-i",
            "vdpb",
            "-c",
            &total.to_string(),
            "-w",
        ])
        .arg(&pcap)
        .args(["-f", "udp port 1701 or ip proto 115 or ip6 proto 115"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tshark");
    // Wait until it is really capturing.
    let mut err = BufReader::new(tshark.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 && !line.contains("Capturing on") {
        line.clear();
    }
    std::thread::sleep(Duration::from_millis(200));

    for (_, _, ia, ib) in &infos {
        let (ixa, ixb) = (ia.ifindex, ib.ifindex);
        let pa = a.run(move |_| PacketSocket::open(ixa, 0x88b5)).unwrap();
        let pb = b.run(move |_| PacketSocket::open(ixb, 0x88b5)).unwrap();
        for i in 0..FRAMES {
            let f = test_frame(i, 80);
            pa.send(&f).unwrap();
            assert_eq!(pb.recv().as_deref(), Some(&f[..]));
            pb.send(&f).unwrap();
            assert_eq!(pa.recv().as_deref(), Some(&f[..]));
        }
    }
    let status = wait_timeout(&mut tshark, Duration::from_secs(20));
    assert!(status, "tshark did not see {total} packets");

    let out = Command::new("tshark")
        .args(["-r"])
        .arg(&pcap)
        .args([
            "-o",
            "l2tp.cookie_size:4 Byte Cookie",
            "-o",
            "l2tp.l2_specific:Default L2-Specific",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "ip.src",
            "-e",
            "ipv6.src",
            "-e",
            "udp.checksum",
            "-e",
            "l2tp.sid",
            "-e",
            "l2tp.cookie",
            "-e",
            "l2tp.l2_spec_s",
            "-e",
            "l2tp.l2_spec_sequence",
        ])
        .output()
        .expect("tshark -r");
    let _ = std::fs::remove_file(&pcap);
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len() as u32, total, "{text}");

    let (a4, a6) = (pair.a4.to_string(), pair.a6.to_string());
    for (tid, encap, ..) in kinds {
        let (sa, sb, ..) = &infos[tid as usize - 1];
        for (from_a, sid, cookie) in [
            (true, *sb, 0xaaaa_0000 + tid),
            (false, *sa, 0xbbbb_0000 + tid),
        ] {
            let mine: Vec<&Vec<&str>> = rows
                .iter()
                .filter(|r| {
                    r[3].parse::<u64>().ok() == Some(u64::from(sid))
                        || r[3] == format!("0x{sid:08x}")
                })
                .collect();
            assert_eq!(
                mine.len() as u32,
                FRAMES,
                "tunnel {tid} sid {sid:#x}: {text}"
            );
            let mut seqs = Vec::new();
            for r in mine {
                let src_is_a = r[0] == a4 || r[1] == a6;
                assert_eq!(src_is_a, from_a, "{r:?}");
                let want_cookie = format!("{cookie:08x}");
                assert_eq!(r[4].replace(':', ""), want_cookie, "{r:?}");
                assert!(r[5] == "1" || r[5] == "True", "S bit: {r:?}");
                seqs.push(r[6].parse::<u32>().unwrap());
                if encap == Encap::Udp {
                    let csum = u32::from_str_radix(r[2].trim_start_matches("0x"), 16).unwrap();
                    let v6 = !r[1].is_empty();
                    // A: configured v4 on, v6 zero, but GSO turns them
                    // all on. B: v4 zero, v6 on, as configured.
                    let want_zero = !from_a && !v6;
                    assert_eq!(csum == 0, want_zero, "checksum {r:?}");
                }
            }
            assert_eq!(seqs, (0..FRAMES).collect::<Vec<_>>(), "tunnel {tid}");
        }
    }
}

/// Waits for the child to exit; kills it (by its PID) on timeout.
fn wait_timeout(child: &mut std::process::Child, limit: Duration) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(st)) = child.try_wait() {
            return st.success();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}
