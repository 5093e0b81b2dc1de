//! Wireshark's L2TP dissector must decode everything the endpoint sends:
//! a simulated exchange is written to a pcap and read back with tshark.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;
use l2tp_control::*;

fn ipv4_checksum(h: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in h.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Raw-IPv4 pcap (linktype 228) of the log: UDP/1701, or IP protocol 115.
fn write_pcap(path: &Path, log: &[Sent], ip_encap: bool) {
    let mut f = Vec::new();
    f.extend_from_slice(&0xa1b2c3d4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    f.extend_from_slice(&0i32.to_le_bytes());
    f.extend_from_slice(&0u32.to_le_bytes());
    f.extend_from_slice(&65535u32.to_le_bytes());
    f.extend_from_slice(&228u32.to_le_bytes());
    for p in log {
        let (SocketAddr::V4(src), SocketAddr::V4(dst)) = (p.src, p.dst) else {
            panic!("IPv4 only");
        };
        let l4_len = if ip_encap {
            p.payload.len()
        } else {
            8 + p.payload.len()
        };
        let total = 20 + l4_len;
        let mut ip = vec![
            0x45,
            0,
            0,
            0,
            0,
            0,
            0x40,
            0,
            64,
            if ip_encap { 115 } else { 17 },
            0,
            0,
        ];
        ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        ip.extend_from_slice(&src.ip().octets());
        ip.extend_from_slice(&dst.ip().octets());
        let c = ipv4_checksum(&ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let mut pkt = ip;
        if !ip_encap {
            pkt.extend_from_slice(&src.port().to_be_bytes());
            pkt.extend_from_slice(&dst.port().to_be_bytes());
            pkt.extend_from_slice(&((8 + p.payload.len()) as u16).to_be_bytes());
            pkt.extend_from_slice(&[0, 0]);
        }
        pkt.extend_from_slice(&p.payload);
        f.extend_from_slice(&(p.at.as_secs() as u32).to_le_bytes());
        f.extend_from_slice(&p.at.subsec_micros().to_le_bytes());
        f.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
        f.extend_from_slice(&(pkt.len() as u32).to_le_bytes());
        f.extend_from_slice(&pkt);
    }
    std::fs::write(path, f).unwrap();
}

fn scenario(auth: Option<Auth>, encap: Encap) -> Vec<Sent> {
    let mut sim = Sim::new(61, NetConfig::default());
    let tcfg = TunnelConfig {
        auth,
        hello_interval: Some(Duration::from_secs(5)),
        hello_jitter: Duration::ZERO,
        ..TunnelConfig::default()
    };
    let ecfg = EndpointConfig {
        encap,
        ..EndpointConfig::default()
    };
    sim.add(
        addr(1),
        endpoint(
            1,
            ecfg.clone(),
            allow_all(tcfg.clone(), SessionConfig::default()),
        ),
    );
    let b_sess = SessionConfig {
        cookie_len: 4,
        ..SessionConfig::default()
    };
    sim.add(addr(2), endpoint(2, ecfg, allow_all(tcfg.clone(), b_sess)));
    let t = sim.connect(0, addr(2), tcfg);
    let s1 = sim.open(
        0,
        t,
        SessionConfig {
            cookie_len: 8,
            remote_end_id: b"ge-0/0/1".to_vec(),
            ..Default::default()
        },
    );
    sim.open(
        0,
        t,
        SessionConfig {
            call: CallType::Outgoing,
            sequencing: DataSequencing::All,
            ..Default::default()
        },
    );
    sim.run_for(Duration::from_secs(7));
    let now = sim.now;
    sim.ep(0)
        .set_circuit_status(now, s1, CircuitStatus::PW_TX_FAULT)
        .unwrap();
    sim.run_for(Duration::from_secs(1));
    let now = sim.now;
    sim.ep(0).close_session(now, s1).unwrap();
    sim.run_for(Duration::from_secs(1));
    let now = sim.now;
    sim.ep(0).close_tunnel(now, t).unwrap();
    sim.run_for(Duration::from_secs(1));
    sim.log.clone()
}

fn tshark(path: &Path, fields: &[&str], secret: Option<&str>) -> String {
    let mut cmd = Command::new("tshark");
    cmd.arg("-r")
        .arg(path)
        .arg("-o")
        .arg("l2tp.cookie_size:Detect");
    if let Some(s) = secret {
        cmd.arg("-o").arg(format!("l2tp.shared_secret:{s}"));
    }
    if fields.is_empty() {
        cmd.arg("-V");
    } else {
        cmd.args(["-T", "fields", "-E", "separator=|"]);
        for f in fields {
            cmd.args(["-e", f]);
        }
    }
    let out = cmd.output().expect("tshark is installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn tshark_decodes_every_message() {
    if Command::new("tshark").arg("--version").output().is_err() {
        panic!("tshark not installed");
    }
    let dir = std::env::temp_dir().join(format!("l2tp-control-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        ("plain-udp", None, Encap::Udp),
        (
            "md5-udp",
            Some(Auth {
                secret: b"pw".to_vec(),
                algorithm: DigestAlgorithm::Md5,
            }),
            Encap::Udp,
        ),
        (
            "sha1-ip",
            Some(Auth {
                secret: b"pw".to_vec(),
                algorithm: DigestAlgorithm::Sha1,
            }),
            Encap::Ip,
        ),
    ];
    for (name, auth, encap) in cases {
        let log = scenario(auth, encap);
        let path = dir.join(format!("{name}.pcap"));
        write_pcap(&path, &log, encap == Encap::Ip);
        let verbose = tshark(&path, &[], None);
        std::fs::write(dir.join(format!("{name}.txt")), &verbose).unwrap();
        assert!(
            !verbose.contains("Malformed"),
            "{name}: malformed packet, see {}",
            dir.display()
        );
        assert!(
            !verbose.contains("[Expert Info (Error"),
            "{name}: expert error"
        );
        assert!(verbose.contains("Layer 2 Tunneling Protocol version 3"));
        let types = tshark(
            &path,
            &["l2tp.avp.message_type", "l2tp.ccid", "l2tp.Ns", "l2tp.Nr"],
            None,
        );
        println!("{name}:\n{types}");
        assert_eq!(types.lines().count(), log.len());
        let kinds: Vec<&str> = types
            .lines()
            .map(|l| l.split('|').next().unwrap())
            .collect();
        // SCCRQ SCCRP SCCCN ICRQ OCRQ OCRP OCCN ICRP ICCN HELLO SLI CDN StopCCN.
        for k in [
            "1", "2", "3", "10", "11", "12", "7", "8", "9", "6", "16", "14", "4",
        ] {
            assert!(kinds.contains(&k), "{name}: message type {k} missing");
        }
        if name != "plain-udp" {
            // Wireshark recomputes every Message Digest (RFC 3931 5.4.1,
            // nonces included) and agrees with ours only under the right
            // secret.
            let good = tshark(&path, &[], Some("pw"));
            assert_eq!(good.matches("Incorrect Digest").count(), 0, "{name}");
            let bad = tshark(&path, &[], Some("wrong"));
            assert!(
                bad.matches("Incorrect Digest").count() >= log.len(),
                "{name}"
            );
            assert!(
                kinds.iter().all(|k| !k.is_empty()),
                "{name}: ZLB sent with authentication"
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}
