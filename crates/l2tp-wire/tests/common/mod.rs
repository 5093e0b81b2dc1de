//! Helpers shared by the integration tests: raw-IP pcap files (built with
//! l2tp-capture's writer) handed to the real tshark.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;

use l2tp_capture::{ip_packet, udp_datagram, LinkType, PcapWriter, Timestamp, IPPROTO_UDP};

pub const A: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1));
pub const B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 18, 0, 2));

/// IPv4 + UDP between the L2TP ports.
pub fn ipv4_udp(src: IpAddr, dst: IpAddr, payload: &[u8]) -> Vec<u8> {
    let udp = udp_datagram(src, dst, 1701, 1701, payload);
    ip_packet(src, dst, IPPROTO_UDP, &udp)
}

/// Writes raw-IP frames as a classic pcap file, one second apart.
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut w = PcapWriter::new(Vec::new(), LinkType::RAW).unwrap();
    for (i, fr) in frames.iter().enumerate() {
        w.write_frame(Timestamp::new(1_700_000_000 + i as i64, 0), fr)
            .unwrap();
    }
    std::fs::write(path, w.into_inner().unwrap()).unwrap();
}

/// A scratch path unique to this process and tag.
pub fn scratch(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("l2tp-wire-{}-{tag}.pcap", std::process::id()))
}

/// Runs tshark with `args` on `pcap`; panics with stderr if it fails.
pub fn tshark(pcap: &Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-n")
        .arg("-r")
        .arg(pcap)
        .args(args)
        .output()
        .expect("tshark must be installed (apt-get install tshark)");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Removes a scratch file unless L2TP_WIRE_KEEP_PCAP is set (for manual
/// inspection with `tshark -V -r`).
pub fn cleanup(path: &Path) {
    if std::env::var_os("L2TP_WIRE_KEEP_PCAP").is_some() {
        eprintln!("kept {}", path.display());
    } else {
        std::fs::remove_file(path).ok();
    }
}
