//! Helpers shared by the integration tests: a minimal pcap writer (raw
//! IPv4, LINKTYPE_RAW) so captures can be handed to the real tshark.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

pub const A: [u8; 4] = [198, 18, 0, 1];
pub const B: [u8; 4] = [198, 18, 0, 2];

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 packet carrying `payload` as protocol `proto`.
pub fn ipv4(src: [u8; 4], dst: [u8; 4], proto: u8, payload: &[u8]) -> Vec<u8> {
    let total = 20 + payload.len();
    let mut h = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        proto,
        0,
        0,
    ];
    h.extend_from_slice(&src);
    h.extend_from_slice(&dst);
    let c = checksum(&h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

/// IPv4 + UDP (checksum 0, allowed for IPv4) between the L2TP ports.
pub fn ipv4_udp(src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let len = 8 + payload.len();
    let mut u = vec![0x06, 0xa5, 0x06, 0xa5, (len >> 8) as u8, len as u8, 0, 0];
    u.extend_from_slice(payload);
    ipv4(src, dst, 17, &u)
}

/// Writes raw-IP frames as a classic pcap file.
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut f = std::fs::File::create(path).unwrap();
    let mut g = Vec::new();
    g.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    g.extend_from_slice(&2u16.to_le_bytes());
    g.extend_from_slice(&4u16.to_le_bytes());
    g.extend_from_slice(&0i32.to_le_bytes());
    g.extend_from_slice(&0u32.to_le_bytes());
    g.extend_from_slice(&65535u32.to_le_bytes());
    g.extend_from_slice(&101u32.to_le_bytes()); // LINKTYPE_RAW
    for (i, fr) in frames.iter().enumerate() {
        g.extend_from_slice(&(1_700_000_000u32 + i as u32).to_le_bytes());
        g.extend_from_slice(&0u32.to_le_bytes());
        g.extend_from_slice(&(fr.len() as u32).to_le_bytes());
        g.extend_from_slice(&(fr.len() as u32).to_le_bytes());
        g.extend_from_slice(fr);
    }
    f.write_all(&g).unwrap();
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
