//! `l2tp decode` run as a real process on generated pcap/pcapng files and on
//! the kernel captures in testdata/kernel/.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use l2tp_capture::{
    ethernet_frame, ip115_frame, ip_packet, udp_datagram, udp_frame, Endian, LinkType, PcapWriter,
    PcapngWriter, Timestamp,
};
use l2tp_wire::avp::{Avp, AvpValue};
use l2tp_wire::control::Version;
use l2tp_wire::data::{self, Cookie, L2SpecType, V3DataRepr};
use l2tp_wire::message::{DigestType, Message, MessageType, Security};
use l2tp_wire::v2::DataRepr;
use serde_json::Value;

const SECRET: &[u8] = b"decode-test-secret";

fn a(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A scratch directory under the target dir, unique per test; removed
/// when the test passes, kept for inspection when it fails.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("l2tp-decode-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn l2tp(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_l2tp"));
    cmd.arg("decode").args(args);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("run l2tp");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn json_lines(out: &Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "l2tp decode failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn inner_ethernet() -> Vec<u8> {
    ethernet_frame(&[], 0x0806, &[0u8; 28])
}

fn v3_data(encap: data::Encap, session_id: u32, seq: Option<u32>) -> Vec<u8> {
    let repr = V3DataRepr {
        session_id,
        cookie: Cookie::from_u32(0xcafe_f00d),
        seq,
        l2spec: L2SpecType::Default,
    };
    let mut buf = vec![0u8; repr.header_len(encap)];
    repr.emit(encap, &mut buf).unwrap();
    buf.extend_from_slice(&inner_ethernet());
    buf
}

fn v2_sccrq() -> Vec<u8> {
    Message::new(Version::V2, MessageType::Sccrq, 0, 0)
        .with(AvpValue::ProtocolVersion {
            version: 1,
            revision: 0,
        })
        .with(AvpValue::host_name("lac.example"))
        .with(AvpValue::FramingCapabilities(3))
        .with(AvpValue::AssignedTunnelId(4711))
        .with(AvpValue::RandomVector(vec![7; 16]))
        // Hidden with the secret: only --secret reveals it.
        .with_avp(Avp::new(AvpValue::vendor_name("hidden-vendor")).hidden())
        .to_bytes(&Security::with_secret(SECRET))
        .unwrap()
}

fn v3_icrq() -> Vec<u8> {
    Message::new(Version::V3, MessageType::Icrq, 0x0a0b_0c0d, 0)
        .with(DigestType::HmacMd5.placeholder())
        .with(AvpValue::LocalSessionId(0x1001))
        .with(AvpValue::RemoteSessionId(0))
        .with(AvpValue::CallSerialNumber(9))
        .with(AvpValue::PseudowireType(5))
        .with(AvpValue::AssignedCookie(Cookie::from_u32(0xcafe_f00d)))
        .with_seq(3, 4)
        .to_bytes(&Security::default())
        .unwrap()
}

fn v2_data() -> Vec<u8> {
    let ppp = [0xff, 0x03, 0xc0, 0x21, 0x09, 0x01, 0x00, 0x04];
    let repr = DataRepr {
        length: None,
        tunnel_id: 4711,
        session_id: 42,
        ns_nr: Some((10, 20)),
        offset: Some(2),
        priority: false,
    }
    .with_payload_len(ppp.len())
    .unwrap();
    let mut buf = vec![0u8; repr.header_len()];
    repr.emit_bytes(&mut buf).unwrap();
    buf.extend_from_slice(&ppp);
    buf
}

/// The frames of the generated capture, all on Ethernet.
fn frames() -> Vec<Vec<u8>> {
    let (v4s, v4d) = (a("198.18.5.1"), a("198.18.5.2"));
    let (v6s, v6d) = (a("2001:db8:5::1"), a("2001:db8:5::2"));
    let zlb = Message::zlb(Version::V2, 4711, 0, 1, 1)
        .to_bytes(&Security::default())
        .unwrap();
    let mut icrq_ip = vec![0u8; 4];
    icrq_ip.extend_from_slice(&v3_icrq());
    // AVP whose length runs past the end of the message.
    let mut broken = Message::new(Version::V2, MessageType::Hello, 4711, 0)
        .to_bytes(&Security::default())
        .unwrap();
    broken.extend_from_slice(&[0x80, 0x40, 0, 0, 0, 9]);
    let len = broken.len() as u16;
    broken[2..4].copy_from_slice(&len.to_be_bytes());
    // Second fragment of a fragmented UDP datagram.
    let mut later = ip_packet(v4s, v4d, 17, &[0u8; 24]);
    later[6] = 0x00;
    later[7] = 0x03;
    vec![
        /* 1 */ udp_frame(v4s, v4d, 40000, 1701, &v2_sccrq()),
        /* 2 */ ethernet_frame(&[], 0x0806, &[0u8; 28]), // ARP: skipped
        /* 3 */ udp_frame(v4d, v4s, 1701, 40000, &zlb),
        /* 4 */ udp_frame(v6s, v6d, 1701, 1701, &v3_icrq()),
        /* 5 */ ip115_frame(v6s, v6d, &icrq_ip),
        /* 6 */
        udp_frame(
            v4s,
            v4d,
            5000,
            5000,
            &v3_data(data::Encap::Udp, 0x8000_0001, Some(7)),
        ),
        /* 7 */
        ip115_frame(
            v4s,
            v4d,
            &v3_data(data::Encap::Ip, 0x1001, Some(0x00ff_ffff)),
        ),
        /* 8 */ udp_frame(v4s, v4d, 1701, 1701, &v2_data()),
        /* 9 */ udp_frame(v4s, v4d, 1701, 1701, &broken),
        /* 10 */ udp_frame(v4s, v4d, 53, 53, &[0u8; 12]), // DNS port: skipped
        /* 11 */ ethernet_frame(&[], 0x0800, &later), // later fragment: skipped
        /* 12 */ ip115_frame(v4s, v4d, &[0, 0]), // too short for a session ID
        /* 13 */
        ethernet_frame(
            &[(0x8100, 5)],
            0x86dd,
            &ip_packet(v6s, v6d, 17, &udp_datagram(v6s, v6d, 1701, 1701, &zlb)),
        ),
    ]
}

fn write_pcap(path: &Path) {
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).unwrap();
    for (i, f) in frames().iter().enumerate() {
        w.write_frame(Timestamp::new(1_700_000_000 + i as i64, 250_000_000), f)
            .unwrap();
    }
    std::fs::write(path, w.into_inner().unwrap()).unwrap();
}

/// Same frames in a big-endian pcapng, alternating between two Ethernet interfaces.
fn write_pcapng(path: &Path) {
    let mut w = PcapngWriter::new(Vec::new(), Endian::Big).unwrap();
    let i0 = w.add_interface(LinkType::ETHERNET, false).unwrap();
    let i1 = w.add_interface(LinkType::ETHERNET, true).unwrap();
    for (i, f) in frames().iter().enumerate() {
        let iface = if i % 2 == 0 { i0 } else { i1 };
        w.write_frame(
            iface,
            Timestamp::new(1_700_000_000 + i as i64, 250_000_000),
            f,
        )
        .unwrap();
    }
    std::fs::write(path, w.into_inner().unwrap()).unwrap();
}

const OPTS: &[&str] = &[
    "--json",
    "--cookie-len",
    "4",
    "--l2spec",
    "default",
    "--udp-port",
    "5000",
];

fn avp_names(p: &Value) -> Vec<String> {
    p["avps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn json_output_of_generated_pcap() {
    let dir = scratch("json");
    let path = dir.join("mixed.pcap");
    write_pcap(&path);
    let mut args = OPTS.to_vec();
    args.push(path.to_str().unwrap());
    let out = json_lines(&l2tp(&args, None));
    let frames: Vec<u64> = out.iter().map(|p| p["frame"].as_u64().unwrap()).collect();
    assert_eq!(frames, [1, 3, 4, 5, 6, 7, 8, 9, 12, 13], "frames with L2TP");

    // 1: v2 SCCRQ over UDP/IPv4 from an ephemeral port; hidden AVP kept opaque.
    let p = &out[0];
    assert_eq!(p["encap"], "udp");
    assert_eq!(p["src"], "198.18.5.1");
    assert_eq!(p["dst"], "198.18.5.2");
    assert_eq!(p["src_port"], 40000);
    assert_eq!(p["dst_port"], 1701);
    assert_eq!(p["version"], 2);
    assert_eq!(p["kind"], "control");
    assert_eq!(p["message"], "SCCRQ");
    assert_eq!(p["tunnel_id"], 0);
    assert_eq!(p["session_id"], 0);
    assert_eq!((p["ns"].as_u64(), p["nr"].as_u64()), (Some(0), Some(0)));
    assert!((p["time"].as_f64().unwrap() - 1_700_000_000.25).abs() < 1e-6);
    assert_eq!(
        avp_names(p),
        [
            "Message Type",
            "Protocol Version",
            "Host Name",
            "Framing Capabilities",
            "Assigned Tunnel ID",
            "Random Vector",
            "Vendor Name"
        ]
    );
    let avps = p["avps"].as_array().unwrap();
    assert_eq!(avps[0]["value"], "SCCRQ");
    assert_eq!(avps[0]["vendor"], 0);
    assert_eq!(avps[0]["type"], 0);
    assert_eq!(avps[0]["mandatory"], true);
    assert_eq!(avps[0]["hidden"], false);
    assert_eq!(avps[2]["value"], "lac.example");
    assert_eq!(avps[4]["value"], 4711);
    assert_eq!(avps[4]["type"], 9);
    assert_eq!(avps[6]["hidden"], true);
    assert_eq!(avps[6]["type"], 8);
    assert!(avps[6]["error"].as_str().unwrap().contains("--secret"));
    assert!(p.get("error").is_none(), "{p}");

    // 3: the ZLB answering it.
    let p = &out[1];
    assert_eq!(p["message"], "ZLB");
    assert_eq!(p["tunnel_id"], 4711);
    assert_eq!(p["avps"].as_array().unwrap().len(), 0);
    assert_eq!(p["src"], "198.18.5.2");

    // 4 and 5: v3 ICRQ over UDP/IPv6 and over IP/IPv6.
    for (p, encap) in [(&out[2], "udp"), (&out[3], "ip")] {
        assert_eq!(p["encap"], encap);
        assert_eq!(p["src"], "2001:db8:5::1");
        assert_eq!(p["version"], 3);
        assert_eq!(p["kind"], "control");
        assert_eq!(p["message"], "ICRQ");
        assert_eq!(p["tunnel_id"], 0x0a0b_0c0d);
        assert!(
            p.get("session_id").is_none(),
            "v3 control has no session ID: {p}"
        );
        assert_eq!((p["ns"].as_u64(), p["nr"].as_u64()), (Some(3), Some(4)));
        let avps = p["avps"].as_array().unwrap();
        assert_eq!(avps[1]["name"], "Message Digest");
        assert_eq!(avps[2]["value"], 0x1001);
        assert_eq!(avps[6]["name"], "Assigned Cookie");
        assert_eq!(avps[6]["value"], "cafef00d");
        assert!(p.get("error").is_none(), "{p}");
    }
    assert!(out[3].get("src_port").is_none());

    // 6: v3 data over UDP on the extra port, 7: over IP; cookie and sequence.
    let p = &out[4];
    assert_eq!(p["kind"], "data");
    assert_eq!(p["encap"], "udp");
    assert_eq!(p["src_port"], 5000);
    assert_eq!(p["session_id"], 0x8000_0001u64);
    assert_eq!(p["cookie"], "cafef00d");
    assert_eq!(p["seq"], 7);
    assert_eq!(p["payload_len"], inner_ethernet().len());
    let p = &out[5];
    assert_eq!(p["encap"], "ip");
    assert_eq!(p["session_id"], 0x1001);
    assert_eq!(p["seq"], 0x00ff_ffff);
    assert_eq!(p["cookie"], "cafef00d");

    // 8: v2 data with length, Ns/Nr and offset padding.
    let p = &out[6];
    assert_eq!(p["version"], 2);
    assert_eq!(p["kind"], "data");
    assert_eq!(p["tunnel_id"], 4711);
    assert_eq!(p["session_id"], 42);
    assert_eq!((p["ns"].as_u64(), p["nr"].as_u64()), (Some(10), Some(20)));
    assert_eq!(p["offset"], 2);
    assert_eq!(p["payload_len"], 8);
    assert_eq!(p["length"], v2_data().len());

    // 9: an AVP length past the message end is reported, and the run goes on.
    let p = &out[7];
    assert_eq!(p["message"], "HELLO");
    let e = p["error"].as_str().unwrap();
    assert!(e.contains("AVP 2"), "{e}");
    // 12: protocol 115 too short for its session ID.
    assert!(out[8]["error"].as_str().unwrap().contains("session ID"));
    assert_eq!(out[8]["encap"], "ip");
    // 13: behind an 802.1Q tag, over IPv6.
    assert_eq!(out[9]["message"], "ZLB");
    assert_eq!(out[9]["dst"], "2001:db8:5::2");
}

#[test]
fn secret_reveals_hidden_avps() {
    let dir = scratch("secret");
    let path = dir.join("mixed.pcap");
    write_pcap(&path);
    let secret = std::str::from_utf8(SECRET).unwrap();
    let out = json_lines(&l2tp(
        &["--json", "--secret", secret, path.to_str().unwrap()],
        None,
    ));
    let avp = &out[0]["avps"][6];
    assert_eq!(avp["name"], "Vendor Name");
    assert_eq!(avp["hidden"], true);
    assert_eq!(avp["value"], "hidden-vendor");
    assert!(avp.get("error").is_none(), "{avp}");
    // A wrong secret is a per-AVP error, not a failed run.
    let out = json_lines(&l2tp(
        &["--json", "--secret=nope", path.to_str().unwrap()],
        None,
    ));
    assert!(out[0]["avps"][6]["error"].as_str().is_some());
}

#[test]
fn pcapng_and_stdin_give_the_same_output() {
    let dir = scratch("ng");
    let pcap = dir.join("mixed.pcap");
    let pcapng = dir.join("mixed.pcapng");
    write_pcap(&pcap);
    write_pcapng(&pcapng);
    let mut args = OPTS.to_vec();
    args.push(pcap.to_str().unwrap());
    let from_pcap = l2tp(&args, None);
    args.pop();
    args.push(pcapng.to_str().unwrap());
    let from_ng = l2tp(&args, None);
    assert_eq!(json_lines(&from_pcap), json_lines(&from_ng));
    args.pop();
    args.push("-");
    let from_stdin = l2tp(&args, Some(&std::fs::read(&pcapng).unwrap()));
    assert_eq!(json_lines(&from_pcap), json_lines(&from_stdin));
    assert_eq!(json_lines(&from_pcap).len(), 10);
}

#[test]
fn text_output() {
    let dir = scratch("text");
    let path = dir.join("mixed.pcap");
    write_pcap(&path);
    let out = l2tp(
        &[
            "--cookie-len=4",
            "--l2spec=default",
            "--udp-port=5000",
            path.to_str().unwrap(),
        ],
        None,
    );
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10, "{text}");
    assert!(
        lines[0].starts_with("#1 198.18.5.1:40000 > 198.18.5.2:1701 udp v2 control SCCRQ tunnel=0 session=0 ns=0 nr=0"),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("Vendor Name(H)"), "{}", lines[0]);
    assert!(
        lines[3].starts_with(
            "#5 2001:db8:5::1 > 2001:db8:5::2 ip v3 control ICRQ ccid=168496141 ns=3 nr=4"
        ),
        "{}",
        lines[3]
    );
    assert!(
        lines[4].starts_with(
            "#6 198.18.5.1:5000 > 198.18.5.2:5000 udp v3 data session=2147483649 cookie=cafef00d seq=7"
        ),
        "{}",
        lines[4]
    );
    assert!(lines[7].contains("error: AVP 2"), "{}", lines[7]);
    let summary = String::from_utf8(out.stderr).unwrap();
    assert!(
        summary.contains(
            "13 frames, 10 L2TP packets (2 not decodable), 1 non-first IP fragments skipped"
        ),
        "{summary}"
    );
}

#[test]
fn without_the_extra_port_udp_5000_is_not_l2tp() {
    let dir = scratch("port");
    let path = dir.join("mixed.pcap");
    write_pcap(&path);
    let out = json_lines(&l2tp(&["--json", path.to_str().unwrap()], None));
    let frames: Vec<u64> = out.iter().map(|p| p["frame"].as_u64().unwrap()).collect();
    assert!(!frames.contains(&6), "{frames:?}");
    // Without cookie/sublayer settings the v3 data header is read as bare.
    let p = out.iter().find(|p| p["frame"] == 7).unwrap();
    assert_eq!(p["cookie"], "");
    assert!(p.get("seq").is_none());
}

fn assert_usage_error(args: &[&str], needle: &str) {
    let out = l2tp(args, None);
    assert_eq!(out.status.code(), Some(2), "{args:?}");
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains(needle),
        "{args:?}: stderr {err:?} lacks {needle:?}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_options_and_files_exit_2_naming_them() {
    let dir = scratch("bad");
    assert_usage_error(&["--cookie-len", "5", "x.pcap"], "'5'");
    assert_usage_error(&["--l2spec", "atm", "x.pcap"], "'atm'");
    assert_usage_error(&["--udp-port", "http", "x.pcap"], "'http'");
    assert_usage_error(&["--frobnicate", "x.pcap"], "'--frobnicate'");
    assert_usage_error(&["--json"], "missing FILE");
    let missing = dir.join("does-not-exist.pcap");
    assert_usage_error(&[missing.to_str().unwrap()], "does-not-exist.pcap");
    let junk = dir.join("junk.pcap");
    std::fs::write(&junk, b"this is not a capture file").unwrap();
    assert_usage_error(&[junk.to_str().unwrap()], "not a pcap or pcapng file");
    let empty = dir.join("empty.pcap");
    std::fs::write(&empty, b"").unwrap();
    assert_usage_error(&[empty.to_str().unwrap()], "empty.pcap");

    // A capture cut mid-record: the complete frames are printed, then exit 2.
    let path = dir.join("cut.pcap");
    write_pcap(&path);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.truncate(bytes.len() - 5);
    std::fs::write(&path, &bytes).unwrap();
    let out = l2tp(&["--json", path.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("cut.pcap") && err.contains("truncated"),
        "{err}"
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed.lines().count(), 8, "{printed}");

    let out = l2tp(&["--help"], None);
    assert!(out.status.success());
    assert!(String::from_utf8(out.stdout)
        .unwrap()
        .contains("--cookie-len"));
}

/// testdata/kernel/: captures of the Linux kernel's L2TPv3 data plane, with
/// the expected packets (decoded by tshark) in expect.json:
/// `{"FILE": {"encap", "underlay", "cookie_len", "l2spec", "packets": [{"frame",
/// "session_id", "cookie", "seq", "encap", "payload_len"}]}}`.
#[test]
fn kernel_captures_match_expectations() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/kernel");
    let expect_path = root.join("expect.json");
    let expect_text = std::fs::read_to_string(&expect_path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; the kernel captures and their expect.json come from tests/kernel-peer",
            expect_path.display()
        )
    });
    let expect: Value = serde_json::from_str(&expect_text).unwrap();
    let files = expect
        .as_object()
        .expect("expect.json is an object keyed by file");
    assert!(
        files.len() >= 10,
        "expect.json lists {} captures",
        files.len()
    );
    let mut total = 0;
    let mut encaps = Vec::new();
    for (file, spec) in files {
        let path = root.join(file);
        assert!(
            path.exists(),
            "{} is listed in expect.json but missing",
            path.display()
        );
        let cookie_len = spec["cookie_len"].as_u64().expect("cookie_len").to_string();
        let l2spec = spec["l2spec"].as_str().expect("l2spec");
        let packets = spec["packets"].as_array().expect("packets");
        let out = json_lines(&l2tp(
            &[
                "--json",
                "--cookie-len",
                &cookie_len,
                "--l2spec",
                l2spec,
                path.to_str().unwrap(),
            ],
            None,
        ));
        // Static sessions: everything L2TP in these files is data.
        assert_eq!(out.len(), packets.len(), "{file}: L2TP packets");
        for (got, want) in out.iter().zip(packets) {
            let ctx = format!("{file} frame {}", got["frame"]);
            assert!(got.get("error").is_none(), "{ctx}: {got}");
            assert_eq!(got["frame"], want["frame"], "{ctx}: frame number");
            assert_eq!(got["kind"], "data", "{ctx}");
            assert_eq!(got["version"], 3, "{ctx}");
            assert_eq!(got["session_id"], want["session_id"], "{ctx}: session_id");
            assert_eq!(got["cookie"], want["cookie"], "{ctx}: cookie");
            assert_eq!(
                got.get("seq").cloned().unwrap_or(Value::Null),
                want["seq"],
                "{ctx}: seq"
            );
            assert_eq!(got["encap"], want["encap"], "{ctx}: encap");
            assert_eq!(got["encap"], spec["encap"], "{ctx}: encap");
            assert_eq!(
                got["payload_len"], want["payload_len"],
                "{ctx}: payload_len"
            );
            let v6 = got["src"].as_str().unwrap().contains(':');
            assert_eq!(
                spec["underlay"],
                if v6 { "ipv6" } else { "ipv4" },
                "{ctx}: underlay"
            );
            total += 1;
        }
        encaps.push((spec["encap"].clone(), spec["underlay"].clone()));
    }
    // UDP and IP over both IPv4 and IPv6 were all covered.
    for e in ["udp", "ip"] {
        for u in ["ipv4", "ipv6"] {
            assert!(
                encaps.contains(&(e.into(), u.into())),
                "no {e} over {u} capture"
            );
        }
    }
    assert!(total >= 120, "only {total} kernel packets checked");
}
