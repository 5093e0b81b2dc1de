//! Independent check: everything we emit into a pcap is decoded by
//! Wireshark's L2TP dissector (tshark) to the same field values that we
//! decode ourselves, and tshark flags nothing as malformed.
//!
//! Requires tshark (installed by the project's install script).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use l2tp_capture::{
    ip115_frame, udp_frame, CaptureReader, Encap, Finding, L2tpFinder, LinkType, PcapWriter,
    Timestamp,
};
use l2tp_wire::data::{self, Cookie, L2SpecType, V3DataConfig, V3DataRepr};
use l2tp_wire::json::hex_plain as hex;
use l2tp_wire::v2::DataRepr;

fn a(s: &str) -> IpAddr {
    s.parse().unwrap()
}

const V4: (&str, &str) = ("198.18.10.1", "198.18.10.2");
const V6: (&str, &str) = ("2001:db8:10::1", "2001:db8:10::2");

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
        .join(format!("l2tp-capture-tshark-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn tshark_bin() -> &'static str {
    match Command::new("tshark").arg("--version").output() {
        Ok(o) if o.status.success() => "tshark",
        _ => panic!(
            "tshark is not installed or does not run: it is required for this test; \
             run the project's install script (it installs the tshark package)"
        ),
    }
}

/// Runs tshark with `-T fields`, returning per packet every occurrence of each field.
fn tshark_fields(
    file: &Path,
    prefs: &[&str],
    fields: &[&str],
) -> Vec<HashMap<String, Vec<String>>> {
    let mut cmd = Command::new(tshark_bin());
    cmd.arg("-n").arg("-r").arg(file);
    for p in prefs {
        cmd.arg("-o").arg(p);
    }
    cmd.args(["-T", "fields", "-E", "header=n", "-E", "separator=/t"]);
    cmd.args(["-E", "occurrence=a", "-E", "aggregator=|"]);
    for f in fields {
        cmd.arg("-e").arg(f);
    }
    let out = cmd.output().expect("running tshark");
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), fields.len(), "tshark line {line:?}");
            fields
                .iter()
                .zip(cols)
                .map(|(f, v)| {
                    let vals = if v.is_empty() {
                        Vec::new()
                    } else {
                        v.split('|').map(str::to_string).collect()
                    };
                    (f.to_string(), vals)
                })
                .collect()
        })
        .collect()
}

/// Numbers as tshark prints them (decimal or 0x-hex).
fn num(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None => s.parse().unwrap_or_else(|_| panic!("not a number: {s:?}")),
    }
}

fn one(p: &HashMap<String, Vec<String>>, field: &str) -> Option<String> {
    let v = p.get(field)?;
    assert!(v.len() <= 1, "{field} occurs {} times: {v:?}", v.len());
    v.first().cloned()
}

fn one_num(p: &HashMap<String, Vec<String>>, field: &str) -> Option<u64> {
    one(p, field).map(|s| num(&s))
}

/// Like [`tshark_fields`], and fails when tshark saw a malformed packet or
/// raised a warning/error expert item.
fn tshark_clean_fields(
    file: &Path,
    prefs: &[&str],
    fields: &[&str],
) -> Vec<HashMap<String, Vec<String>>> {
    let mut all: Vec<&str> = fields.to_vec();
    all.extend(["_ws.malformed", "_ws.expert.severity", "_ws.expert.message"]);
    let pk = tshark_fields(file, prefs, &all);
    assert!(
        !pk.is_empty(),
        "tshark read no packets from {}",
        file.display()
    );
    for (i, p) in pk.iter().enumerate() {
        assert!(
            p["_ws.malformed"].is_empty(),
            "{}: frame {} is malformed for tshark: {:?}",
            file.display(),
            i + 1,
            p["_ws.expert.message"]
        );
        for (sev, msg) in p["_ws.expert.severity"]
            .iter()
            .zip(p["_ws.expert.message"].iter())
        {
            // 0x00600000 = warning, 0x00800000 = error.
            assert!(
                num(sev) < 0x0060_0000,
                "{}: frame {}: tshark expert info {sev}: {msg}",
                file.display(),
                i + 1
            );
        }
    }
    pk
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).unwrap();
    for (i, f) in frames.iter().enumerate() {
        w.write_frame(Timestamp::new(1_700_000_000 + i as i64, 1000), f)
            .unwrap();
    }
    std::fs::write(path, w.into_inner().unwrap()).unwrap();
}

/// What our side finds in each frame of a file: (encap, L2TP bytes).
fn ours(path: &Path) -> Vec<(Encap, Vec<u8>)> {
    let bytes = std::fs::read(path).unwrap();
    let finder = L2tpFinder::new();
    CaptureReader::new(&bytes)
        .unwrap()
        .map(|f| {
            let f = f.unwrap();
            match finder.find_in_frame(&f).unwrap() {
                Finding::L2tp(p) => (p.encap, p.payload.to_vec()),
                other => panic!("frame {}: {other:?}", f.index),
            }
        })
        .collect()
}

/// An Ethernet frame (ARP request) as pseudowire payload.
fn inner_ethernet() -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x0a, 0x08, 0x06]);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 0x0a]);
    f.extend_from_slice(&[198, 18, 20, 1, 0, 0, 0, 0, 0, 0, 198, 18, 20, 2]);
    f
}

/// A PPP LCP Configure-Request (address/control + protocol) as v2 payload.
fn inner_ppp() -> Vec<u8> {
    vec![
        0xff, 0x03, 0xc0, 0x21, 0x01, 0x07, 0x00, 0x0a, 0x05, 0x06, 0x12, 0x34, 0x56, 0x78,
    ]
}

const V3_FIELDS: &[&str] = &[
    "frame.number",
    "l2tp.type",
    "l2tp.version",
    "l2tp.sid",
    "l2tp.cookie",
    "l2tp.l2_spec_s",
    "l2tp.l2_spec_sequence",
    "data.data",
];

#[test]
fn v3_data_headers_match_tshark() {
    let dir = scratch("v3data");
    let mut checked = 0;
    for cookie_len in [0u8, 4, 8] {
        for l2spec in [L2SpecType::None, L2SpecType::Default] {
            // One file per data-header config, since tshark needs it as a preference.
            let mut frames = Vec::new();
            let mut truth = Vec::new();
            let mut n = 0u32;
            for encap in [data::Encap::Udp, data::Encap::Ip] {
                for (s, d) in [V4, V6] {
                    let seqs: &[Option<u32>] = match l2spec {
                        L2SpecType::Default => &[None, Some(0), Some(1), Some(0x00ff_fffe)],
                        _ => &[None],
                    };
                    for &seq in seqs {
                        n += 1;
                        let cookie = match cookie_len {
                            4 => Cookie::from_u32(0xdead_0000 | n),
                            8 => Cookie::from_u64(0x0102_0304_0506_0000 | u64::from(n)),
                            _ => Cookie::NONE,
                        };
                        let repr = V3DataRepr {
                            session_id: 0x0001_0000 + n,
                            cookie,
                            seq,
                            l2spec,
                        };
                        let mut buf = vec![0u8; repr.header_len(encap)];
                        repr.emit(encap, &mut buf).unwrap();
                        buf.extend_from_slice(&inner_ethernet());
                        frames.push(match encap {
                            data::Encap::Udp => udp_frame(a(s), a(d), 1701, 1701, &buf),
                            data::Encap::Ip => ip115_frame(a(s), a(d), &buf),
                        });
                        truth.push((encap, repr));
                    }
                }
            }
            let name = format!(
                "v3-cookie{cookie_len}-{}.pcap",
                if l2spec == L2SpecType::Default {
                    "default"
                } else {
                    "none"
                }
            );
            let path = dir.join(&name);
            write_pcap(&path, &frames);
            let cookie_pref = match cookie_len {
                0 => "l2tp.cookie_size:None",
                4 => "l2tp.cookie_size:4 Byte Cookie",
                _ => "l2tp.cookie_size:8 Byte Cookie",
            };
            let l2_pref = match l2spec {
                L2SpecType::Default => "l2tp.l2_specific:Default L2-Specific",
                _ => "l2tp.l2_specific:None",
            };
            let prefs = [cookie_pref, l2_pref];
            let ts = tshark_clean_fields(&path, &prefs, V3_FIELDS);
            let our = ours(&path);
            assert_eq!(ts.len(), truth.len(), "{name}");
            assert_eq!(our.len(), truth.len(), "{name}");
            for ((t, (encap, want)), (our_encap, bytes)) in ts.iter().zip(&truth).zip(&our) {
                let ctx = format!("{name} frame {}", one(t, "frame.number").unwrap());
                // Ours.
                let cfg = V3DataConfig {
                    encap: *encap,
                    cookie_len,
                    l2spec,
                };
                let (got, off) = V3DataRepr::parse(bytes, &cfg).unwrap();
                assert_eq!(&got, want, "{ctx}: our parse");
                assert_eq!(&bytes[off..], inner_ethernet().as_slice(), "{ctx}");
                assert_eq!(
                    *our_encap,
                    match encap {
                        data::Encap::Udp => Encap::Udp,
                        data::Encap::Ip => Encap::Ip,
                    },
                    "{ctx}"
                );
                // tshark.
                assert_eq!(
                    one_num(t, "l2tp.sid"),
                    Some(u64::from(got.session_id)),
                    "{ctx}: session ID"
                );
                if *encap == data::Encap::Udp {
                    assert_eq!(one_num(t, "l2tp.type"), Some(0), "{ctx}: T bit");
                    assert_eq!(one_num(t, "l2tp.version"), Some(3), "{ctx}: version");
                }
                let ts_cookie = one(t, "l2tp.cookie").map(|c| c.replace(':', ""));
                let our_cookie = (cookie_len > 0).then(|| hex(got.cookie.as_bytes()));
                assert_eq!(ts_cookie, our_cookie, "{ctx}: cookie");
                match l2spec {
                    L2SpecType::Default => {
                        let s_bit = one_num(t, "l2tp.l2_spec_s").expect("S bit");
                        assert_eq!(s_bit == 1, got.seq.is_some(), "{ctx}: S bit");
                        let ts_seq = one_num(t, "l2tp.l2_spec_sequence");
                        assert_eq!(
                            ts_seq,
                            Some(u64::from(got.seq.unwrap_or(0))),
                            "{ctx}: sequence number"
                        );
                    }
                    _ => assert_eq!(one(t, "l2tp.l2_spec_s"), None, "{ctx}: no sublayer"),
                }
                // tshark's payload (undissected without a control channel) starts
                // where ours does.
                assert_eq!(
                    one(t, "data.data").map(|d| d.replace(':', "")),
                    Some(hex(&inner_ethernet())),
                    "{ctx}: payload"
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 2 * 2 * (1 + 4) * 3);
}

const V2_FIELDS: &[&str] = &[
    "frame.number",
    "l2tp.type",
    "l2tp.version",
    "l2tp.length_bit",
    "l2tp.seq_bit",
    "l2tp.offset_bit",
    "l2tp.priority",
    "l2tp.length",
    "l2tp.tunnel",
    "l2tp.session",
    "l2tp.Ns",
    "l2tp.Nr",
    "l2tp.offset",
    "ppp.protocol",
    "ppp.code",
];

#[test]
fn v2_data_headers_match_tshark() {
    let dir = scratch("v2data");
    let mut frames = Vec::new();
    let mut truth = Vec::new();
    let mut n = 0u16;
    for with_len in [false, true] {
        for ns_nr in [None, Some((7u16, 9u16)), Some((0xfffe, 0))] {
            for offset in [None, Some(0u16), Some(3)] {
                for priority in [false, true] {
                    for (s, d) in [V4, V6] {
                        n += 1;
                        let mut repr = DataRepr {
                            length: None,
                            tunnel_id: 100 + n,
                            session_id: 200 + n,
                            ns_nr,
                            offset,
                            priority,
                        };
                        if with_len {
                            repr = repr.with_payload_len(inner_ppp().len()).unwrap();
                        }
                        let mut buf = vec![0u8; repr.header_len()];
                        repr.emit_bytes(&mut buf).unwrap();
                        buf.extend_from_slice(&inner_ppp());
                        frames.push(udp_frame(a(s), a(d), 1701, 1701, &buf));
                        truth.push(repr);
                    }
                }
            }
        }
    }
    let path = dir.join("v2-data.pcap");
    write_pcap(&path, &frames);
    let ts = tshark_clean_fields(&path, &[], V2_FIELDS);
    let our = ours(&path);
    assert_eq!(ts.len(), truth.len());
    assert_eq!(our.len(), truth.len());
    for ((t, want), (encap, bytes)) in ts.iter().zip(&truth).zip(&our) {
        let ctx = format!("frame {}", one(t, "frame.number").unwrap());
        assert_eq!(*encap, Encap::Udp);
        let (got, off) = DataRepr::parse_bytes(bytes).unwrap();
        assert_eq!(&got, want, "{ctx}: our parse");
        assert_eq!(&bytes[off..], inner_ppp().as_slice(), "{ctx}: payload");
        assert_eq!(one_num(t, "l2tp.type"), Some(0), "{ctx}");
        assert_eq!(one_num(t, "l2tp.version"), Some(2), "{ctx}");
        assert_eq!(
            one_num(t, "l2tp.tunnel"),
            Some(u64::from(got.tunnel_id)),
            "{ctx}"
        );
        assert_eq!(
            one_num(t, "l2tp.session"),
            Some(u64::from(got.session_id)),
            "{ctx}"
        );
        assert_eq!(
            one_num(t, "l2tp.length"),
            got.length.map(u64::from),
            "{ctx}: length"
        );
        assert_eq!(
            one_num(t, "l2tp.Ns"),
            got.ns_nr.map(|x| u64::from(x.0)),
            "{ctx}: Ns"
        );
        assert_eq!(
            one_num(t, "l2tp.Nr"),
            got.ns_nr.map(|x| u64::from(x.1)),
            "{ctx}: Nr"
        );
        assert_eq!(
            one_num(t, "l2tp.offset"),
            got.offset.map(u64::from),
            "{ctx}: offset"
        );
        assert_eq!(
            one_num(t, "l2tp.priority"),
            Some(u64::from(got.priority)),
            "{ctx}"
        );
        // tshark found the PPP frame after the header and padding, as we did.
        assert_eq!(one_num(t, "ppp.code"), Some(1), "{ctx}: inner PPP");
    }
}

/// A field value as we expect tshark to print it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Exp {
    Num(u64),
    Str(String),
    Bytes(Vec<u8>),
    Bool(bool),
    /// The field exists but carries no value (FT_NONE).
    Present,
}

impl Exp {
    fn matches(&self, got: &str) -> bool {
        match self {
            Exp::Num(n) => {
                got.strip_prefix("0x").map_or_else(
                    || got.parse::<u64>().ok(),
                    |h| u64::from_str_radix(h, 16).ok(),
                ) == Some(*n)
            }
            Exp::Str(s) => got == s,
            Exp::Bytes(b) => got.replace(':', "") == hex(b),
            Exp::Bool(b) => matches!(
                (got, b),
                ("1" | "True" | "true", true) | ("0" | "False" | "false", false)
            ),
            Exp::Present => true,
        }
    }
}

fn text_exp(b: &[u8]) -> Exp {
    Exp::Str(String::from_utf8(b.to_vec()).expect("sample text AVPs are UTF-8"))
}

/// AVP types Wireshark 4.0 does not decode (it shows their value as
/// "Vendor-Specific AVP data" with a warning); only their headers are compared.
const UNKNOWN_TO_TSHARK: &[u16] = &[79];

/// The tshark fields (in the order tshark emits them) for one of our typed AVP values.
fn tshark_expectation(v: &l2tp_wire::avp::AvpValue) -> Vec<(&'static str, Exp)> {
    use l2tp_wire::avp::bits::*;
    use l2tp_wire::avp::circuit_status::{ACTIVE, NEW};
    use l2tp_wire::avp::AvpValue as V;
    use Exp::*;
    let n = |x: u64| Num(x);
    match v {
        V::MessageType(m) => vec![("l2tp.avp.message_type", n(m.to_u16().into()))],
        V::ResultCode(r) => {
            let mut f = vec![("l2tp.result_code", n(r.result.into()))];
            if let Some(e) = r.error {
                f.push(("l2tp.avp.error_code", n(e.into())));
            }
            if !r.message.is_empty() {
                f.push(("l2tp.avp.error_message", text_exp(&r.message)));
            }
            f
        }
        V::ProtocolVersion { version, revision } => vec![
            ("l2tp.avp.protocol_version", n((*version).into())),
            ("l2tp.avp.protocol_revision", n((*revision).into())),
        ],
        V::FramingCapabilities(x) => vec![
            (
                "l2tp.avp.async_framing_supported",
                Bool(x & FRAMING_ASYNC != 0),
            ),
            (
                "l2tp.avp.sync_framing_supported",
                Bool(x & FRAMING_SYNC != 0),
            ),
        ],
        V::BearerCapabilities(x) => vec![
            (
                "l2tp.avp.analog_access_supported",
                Bool(x & BEARER_ANALOG != 0),
            ),
            (
                "l2tp.avp.digital_access_supported",
                Bool(x & BEARER_DIGITAL != 0),
            ),
        ],
        V::TieBreaker(x) => vec![("l2tp.tie_breaker", n(*x))],
        V::FirmwareRevision(x) => vec![("l2tp.avp.firmware_revision", n((*x).into()))],
        V::HostName(b) => vec![("l2tp.avp.host_name", text_exp(b))],
        V::VendorName(b) => vec![("l2tp.avp.vendor_name", text_exp(b))],
        V::AssignedTunnelId(x) => vec![("l2tp.avp.assigned_tunnel_id", n((*x).into()))],
        V::ReceiveWindowSize(x) => vec![("l2tp.avp.receive_window_size", n((*x).into()))],
        V::Challenge(b) => vec![("l2tp.avp.chap_challenge", Bytes(b.clone()))],
        V::Q931CauseCode {
            cause_code,
            cause_msg,
            advisory,
        } => vec![
            ("l2tp.avp.cause_code", n((*cause_code).into())),
            ("l2tp.avp.cause_msg", n((*cause_msg).into())),
            ("l2tp.avp.advisory_msg", text_exp(advisory)),
        ],
        V::ChallengeResponse(b) => vec![("l2tp.avp.chap_challenge_response", Bytes(b.to_vec()))],
        V::AssignedSessionId(x) => vec![("l2tp.avp.assigned_session_id", n((*x).into()))],
        V::CallSerialNumber(x) => vec![("l2tp.avp.call_serial_number", n((*x).into()))],
        V::MinimumBps(x) => vec![("l2tp.avp.minimum_bps", n((*x).into()))],
        V::MaximumBps(x) => vec![("l2tp.avp.maximum_bps", n((*x).into()))],
        V::BearerType(x) => vec![
            ("l2tp.avp.analog_bearer_type", Bool(x & BEARER_ANALOG != 0)),
            (
                "l2tp.avp.digital_bearer_type",
                Bool(x & BEARER_DIGITAL != 0),
            ),
        ],
        V::FramingType(x) => vec![
            ("l2tp.avp.async_framing_type", Bool(x & FRAMING_ASYNC != 0)),
            ("l2tp.avp.sync_framing_type", Bool(x & FRAMING_SYNC != 0)),
        ],
        V::CalledNumber(b) => vec![("l2tp.avp.called_number", text_exp(b))],
        V::CallingNumber(b) => vec![("l2tp.avp.calling_number", text_exp(b))],
        V::SubAddress(b) => vec![("l2tp.avp.sub_address", text_exp(b))],
        V::TxConnectSpeed(x) => vec![("l2tp.avp.connect_speed", n((*x).into()))],
        V::PhysicalChannelId(x) => vec![("l2tp.avp.physical_channel", n((*x).into()))],
        V::InitialReceivedLcpConfreq(b) => {
            vec![("l2tp.avp.initial_received_lcp_confreq", Bytes(b.clone()))]
        }
        V::LastSentLcpConfreq(b) => vec![("l2tp.avp.last_sent_lcp_confreq", Bytes(b.clone()))],
        V::LastReceivedLcpConfreq(b) => {
            vec![("l2tp.avp.last_received_lcp_confreq", Bytes(b.clone()))]
        }
        V::ProxyAuthenType(x) => vec![("l2tp.avp.proxy_authen_type", n((*x).into()))],
        V::ProxyAuthenName(b) => vec![("l2tp.avp.proxy_authen_name", text_exp(b))],
        V::ProxyAuthenChallenge(b) => {
            vec![("l2tp.avp.proxy_authen_challenge", Bytes(b.clone()))]
        }
        V::ProxyAuthenId(x) => vec![("l2tp.avp.proxy_authen_id", n((*x).into()))],
        V::ProxyAuthenResponse(b) => vec![("l2tp.avp.proxy_authen_response", Bytes(b.clone()))],
        V::CallErrors(c) => vec![
            ("l2tp.avp.crc_errors", n(c.crc_errors.into())),
            ("l2tp.avp.framing_errors", n(c.framing_errors.into())),
            ("l2tp.avp.hardware_overruns", n(c.hardware_overruns.into())),
            ("l2tp.avp.buffer_overruns", n(c.buffer_overruns.into())),
            ("l2tp.avp.time_out_errors", n(c.timeout_errors.into())),
            ("l2tp.avp.alignment_errors", n(c.alignment_errors.into())),
        ],
        V::Accm { send, recv } => vec![
            ("l2tp.avp.send_accm", n((*send).into())),
            ("l2tp.avp.receive_accm", n((*recv).into())),
        ],
        V::RandomVector(b) => vec![("l2tp.avp.random_vector", Bytes(b.clone()))],
        V::PrivateGroupId(b) => vec![("l2tp.avp.private_group_id", Bytes(b.clone()))],
        V::RxConnectSpeed(x) => vec![("l2tp.avp.rx_connect_speed", n((*x).into()))],
        V::SequencingRequired => vec![],
        V::PppDisconnectCauseCode {
            code,
            protocol,
            direction,
            message,
        } => vec![
            ("l2tp.avp.disconnect_code", n((*code).into())),
            ("l2tp.avp.control_protocol_number", n((*protocol).into())),
            ("l2tp.avp.cause_code_direction", n((*direction).into())),
            ("l2tp.avp.cause_code_message", text_exp(message)),
        ],
        // tshark shows the digest type octet as part of the digest bytes.
        V::MessageDigest {
            digest_type,
            digest,
        } => {
            let mut b = vec![*digest_type];
            b.extend_from_slice(digest);
            vec![("l2tp.avp.message_digest", Bytes(b))]
        }
        V::RouterId(x) => vec![("l2tp.avp.router_id", n((*x).into()))],
        V::AssignedControlConnectionId(x) => {
            vec![("l2tp.avp.assigned_control_conn_id", n((*x).into()))]
        }
        V::PseudowireCapabilitiesList(l) => l
            .iter()
            .map(|t| ("l2tp.avp.pw_type", n((*t).into())))
            .collect(),
        V::LocalSessionId(x) => vec![("l2tp.avp.local_session_id", n((*x).into()))],
        V::RemoteSessionId(x) => vec![("l2tp.avp.remote_session_id", n((*x).into()))],
        V::AssignedCookie(c) => vec![("l2tp.avp.assigned_cookie", Bytes(c.as_bytes().to_vec()))],
        V::RemoteEndId(b) => vec![("l2tp.avp.remote_end_id", text_exp(b))],
        V::PseudowireType(x) => vec![("l2tp.avp.pseudowire_type", n((*x).into()))],
        V::L2SpecificSublayer(x) => {
            vec![("l2tp.avp.layer2_specific_sublayer", n((*x).into()))]
        }
        V::DataSequencing(x) => vec![("l2tp.avp.data_sequencing", n((*x).into()))],
        // Wireshark 4.0 knows only the A (active) and N (new) bits.
        V::CircuitStatus(x) => vec![
            ("l2tp.avp.circuit_status", Bool(x & ACTIVE != 0)),
            ("l2tp.avp.circuit_type", Bool(x & NEW != 0)),
        ],
        V::PreferredLanguage(b) => vec![("l2tp.avp.preferred_language", text_exp(b))],
        V::ControlMessageAuthNonce(b) => vec![("l2tp.avp.nonce", Bytes(b.clone()))],
        V::TxConnectSpeedV3(x) => vec![("l2tp.avp.tx_connect_speed_v3", n(*x))],
        V::RxConnectSpeedV3(x) => vec![("l2tp.avp.rx_connect_speed_v3", n(*x))],
        other => {
            let (vendor, attr) = other.vendor_attr();
            assert!(
                vendor == 0 && UNKNOWN_TO_TSHARK.contains(&attr),
                "no tshark mapping for {other:?}: extend tshark_expectation"
            );
            vec![("l2tp.vendor_specific_avp_data", Present)]
        }
    }
}

/// Header and AVP-header fields that every control message may show.
const CONTROL_HEADER_FIELDS: &[&str] = &[
    "frame.number",
    "_ws.malformed",
    "_ws.expert.severity",
    "_ws.expert.message",
    "l2tp.type",
    "l2tp.version",
    "l2tp.length",
    "l2tp.tunnel",
    "l2tp.session",
    "l2tp.ccid",
    "l2tp.sid",
    "l2tp.Ns",
    "l2tp.Nr",
    "l2tp.zero_length_body_message",
    "l2tp.incorrect_digest",
    "l2tp.avp.vendor_id",
    "l2tp.avp.type",
    "l2tp.avp.mandatory",
    "l2tp.avp.hidden",
    "l2tp.avp.length",
];

/// Structural keys tshark's JSON shows besides the compared fields.
const STRUCTURAL_KEYS: &[&str] = &[
    "l2tp.flags",
    "l2tp.length_bit",
    "l2tp.seq_bit",
    "l2tp.offset_bit",
    "l2tp.priority",
];

/// Every `l2tp.*` key in a tshark JSON subtree.
fn l2tp_keys(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                if k.starts_with("l2tp.") && !k.ends_with("_tree") {
                    out.push(k.clone());
                }
                l2tp_keys(v, out);
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| l2tp_keys(v, out)),
        _ => {}
    }
}

#[test]
fn control_messages_match_tshark() {
    use l2tp_wire::control::Version;
    use l2tp_wire::message::{verify_digest, Message};
    use l2tp_wire::testing::{self, Sender};

    let samples = testing::sample_messages();
    let v3 = testing::v3_messages();
    let v2 = testing::v2_messages();
    // Truth: the structures the samples were built from.
    let truth = |name: &str| -> (Message, Option<Sender>) {
        if let Some((_, m)) = v2.iter().find(|(n, _)| *n == name) {
            return (m.clone(), None);
        }
        let (_, s, m) = v3.iter().find(|(n, _, _)| *n == name).expect(name);
        (m.clone(), Some(*s))
    };
    assert!(samples.len() >= 30, "only {} samples", samples.len());

    // One conversation per (family, encap), each with every sample in order,
    // so tshark can learn the v3 nonces and verify each Message Digest. The
    // responder's (LCCE B's) messages travel in the other direction.
    let mut frames = Vec::new();
    let mut index = Vec::new();
    for (s, d) in [V4, V6] {
        for encap in [Encap::Udp, Encap::Ip] {
            for (name, bytes) in &samples {
                let (_, sender) = truth(name);
                if sender.is_none() && encap == Encap::Ip {
                    continue; // L2TPv2 has no IP encapsulation
                }
                let (src, dst) = if sender == Some(Sender::B) {
                    (d, s)
                } else {
                    (s, d)
                };
                frames.push(match encap {
                    Encap::Udp => udp_frame(a(src), a(dst), 1701, 1701, bytes),
                    Encap::Ip => {
                        let mut ip = vec![0u8; 4];
                        ip.extend_from_slice(bytes);
                        ip115_frame(a(src), a(dst), &ip)
                    }
                });
                index.push((*name, encap));
            }
        }
    }
    let dir = scratch("control");
    let path = dir.join("control.pcap");
    write_pcap(&path, &frames);
    let secret = format!(
        "l2tp.shared_secret:{}",
        std::str::from_utf8(testing::SAMPLE_SECRET).unwrap()
    );
    let prefs = [secret.as_str()];

    // Which value fields to ask tshark for: all those our AVPs map to.
    let ours_found = ours(&path);
    assert_eq!(ours_found.len(), index.len());
    let mut parsed = Vec::new();
    let mut fields: Vec<&str> = CONTROL_HEADER_FIELDS.to_vec();
    for ((name, encap), (our_encap, bytes)) in index.iter().zip(&ours_found) {
        assert_eq!(encap, our_encap, "{name}");
        let msg_bytes: &[u8] = match encap {
            Encap::Ip => {
                assert_eq!(&bytes[..4], &[0, 0, 0, 0], "{name}: zero session ID");
                &bytes[4..]
            }
            Encap::Udp => bytes,
        };
        let m = Message::parse(msg_bytes).unwrap_or_else(|e| panic!("{name}: ours: {e}"));
        let (want, sender) = truth(name);
        assert_eq!(m.header.version, want.header.version, "{name}");
        assert_eq!(m.header.tunnel_id, want.header.tunnel_id, "{name}");
        assert_eq!(m.header.session_id, want.header.session_id, "{name}");
        assert_eq!(
            (m.header.ns, m.header.nr),
            (want.header.ns, want.header.nr),
            "{name}"
        );
        assert_eq!(usize::from(m.header.length), msg_bytes.len(), "{name}");
        assert_eq!(m.avps.len(), want.avps.len(), "{name}");
        for (got, exp) in m.avps.iter().zip(&want.avps) {
            if matches!(exp.value, l2tp_wire::avp::AvpValue::MessageDigest { .. }) {
                continue; // the placeholder is filled in on emit
            }
            assert_eq!(got, exp, "{name}");
        }
        if let Some(sender) = sender.filter(|_| !m.is_zlb()) {
            verify_digest(msg_bytes, &sender.peer_security())
                .unwrap_or_else(|e| panic!("{name}: our digest check: {e}"));
        }
        for a in &m.avps {
            for (f, _) in tshark_expectation(&a.value) {
                if !fields.contains(&f) {
                    fields.push(f);
                }
            }
        }
        parsed.push((m, msg_bytes.to_vec()));
    }

    let ts = tshark_fields(&path, &prefs, &fields);
    assert_eq!(ts.len(), index.len());
    let json_out = Command::new(tshark_bin())
        .args([
            "-n",
            "-T",
            "json",
            "--no-duplicate-keys",
            "-o",
            prefs[0],
            "-r",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(json_out.status.success());
    let json: serde_json::Value = serde_json::from_slice(&json_out.stdout).unwrap();
    let json = json.as_array().unwrap();
    assert_eq!(json.len(), index.len());

    let mut compared_values = 0;
    for (i, (((name, encap), (m, bytes)), t)) in index.iter().zip(&parsed).zip(&ts).enumerate() {
        let ctx = format!("frame {} ({name} over {encap:?})", i + 1);
        assert!(t["_ws.malformed"].is_empty(), "{ctx}: malformed for tshark");
        assert!(
            t["l2tp.incorrect_digest"].is_empty(),
            "{ctx}: tshark says the digest is wrong"
        );
        // Only tshark's own "I cannot decode this AVP" warning is tolerated.
        for (sev, msg) in t["_ws.expert.severity"]
            .iter()
            .zip(&t["_ws.expert.message"])
        {
            let known_gap = msg == "Vendor-Specific AVP data"
                && m.avps.iter().any(|a| {
                    let (v, ty) = a.value.vendor_attr();
                    v == 0 && UNKNOWN_TO_TSHARK.contains(&ty)
                });
            assert!(
                num(sev) < 0x0060_0000 || known_gap,
                "{ctx}: tshark expert info {sev}: {msg}"
            );
        }
        // Header.
        let h = &m.header;
        assert_eq!(one_num(t, "l2tp.type"), Some(1), "{ctx}: T bit");
        assert_eq!(
            one_num(t, "l2tp.version"),
            Some(u64::from(h.version.number())),
            "{ctx}: version"
        );
        assert_eq!(
            one_num(t, "l2tp.length"),
            Some(u64::from(h.length)),
            "{ctx}: length"
        );
        match h.version {
            Version::V2 => {
                assert_eq!(
                    one_num(t, "l2tp.tunnel"),
                    Some(u64::from(h.tunnel_id)),
                    "{ctx}"
                );
                assert_eq!(
                    one_num(t, "l2tp.session"),
                    Some(u64::from(h.session_id)),
                    "{ctx}"
                );
                assert_eq!(one(t, "l2tp.ccid"), None, "{ctx}");
            }
            _ => {
                assert_eq!(
                    one_num(t, "l2tp.ccid"),
                    Some(u64::from(h.tunnel_id)),
                    "{ctx}: CCID"
                );
                assert_eq!(one(t, "l2tp.tunnel"), None, "{ctx}");
            }
        }
        let want_sid = (*encap == Encap::Ip).then_some(0);
        assert_eq!(one_num(t, "l2tp.sid"), want_sid, "{ctx}: IP session ID 0");
        assert_eq!(one_num(t, "l2tp.Ns"), Some(u64::from(h.ns)), "{ctx}: Ns");
        assert_eq!(one_num(t, "l2tp.Nr"), Some(u64::from(h.nr)), "{ctx}: Nr");
        assert_eq!(
            !t["l2tp.zero_length_body_message"].is_empty(),
            m.is_zlb(),
            "{ctx}: ZLB"
        );
        // AVP headers, in order.
        let raws: Vec<_> = l2tp_wire::avp::iter(&bytes[12..])
            .map(|r| r.unwrap())
            .collect();
        let col = |f: &str| t[f].clone();
        let ours_col = |g: &dyn Fn(&l2tp_wire::avp::RawAvp<'_>) -> u64| -> Vec<u64> {
            raws.iter().map(g).collect()
        };
        let ts_nums = |f: &str| -> Vec<u64> { col(f).iter().map(|s| num(s)).collect() };
        assert_eq!(
            ts_nums("l2tp.avp.type"),
            ours_col(&|r| r.attr_type.into()),
            "{ctx}: AVP types"
        );
        assert_eq!(
            ts_nums("l2tp.avp.vendor_id"),
            ours_col(&|r| r.vendor_id.into()),
            "{ctx}: AVP vendors"
        );
        assert_eq!(
            ts_nums("l2tp.avp.length"),
            ours_col(&|r| r.len() as u64),
            "{ctx}: AVP lengths"
        );
        let bools =
            |f: &str| -> Vec<bool> { col(f).iter().map(|s| Exp::Bool(true).matches(s)).collect() };
        assert_eq!(
            bools("l2tp.avp.mandatory"),
            m.avps.iter().map(|a| a.mandatory).collect::<Vec<_>>(),
            "{ctx}: M bits"
        );
        assert_eq!(
            bools("l2tp.avp.hidden"),
            m.avps.iter().map(|a| a.hidden).collect::<Vec<_>>(),
            "{ctx}: H bits"
        );
        // AVP values: every value field, occurrences in order.
        let mut want: HashMap<&str, Vec<Exp>> = HashMap::new();
        for a in &m.avps {
            for (f, e) in tshark_expectation(&a.value) {
                want.entry(f).or_default().push(e);
            }
        }
        for f in &fields[CONTROL_HEADER_FIELDS.len()..] {
            let got = &t[*f];
            let exp = want.remove(f).unwrap_or_default();
            assert_eq!(
                got.len(),
                exp.len(),
                "{ctx}: {f}: tshark {got:?}, ours {exp:?}"
            );
            for (g, e) in got.iter().zip(&exp) {
                assert!(e.matches(g), "{ctx}: {f}: tshark {g:?}, ours {e:?}");
                compared_values += 1;
            }
        }
        // tshark decoded nothing we did not compare.
        let mut keys = Vec::new();
        l2tp_keys(&json[i]["_source"]["layers"]["l2tp"], &mut keys);
        for k in keys {
            assert!(
                fields.contains(&k.as_str()) || STRUCTURAL_KEYS.contains(&k.as_str()),
                "{ctx}: tshark decoded {k}, which this test does not compare"
            );
        }
    }
    // Every message type of both versions went through.
    let names: Vec<&str> = index.iter().map(|(n, _)| *n).collect();
    for t in [
        "SCCRQ", "SCCRP", "SCCCN", "StopCCN", "HELLO", "ICRQ", "ICRP", "ICCN", "OCRQ", "OCRP",
        "OCCN", "CDN", "WEN", "SLI", "ZLB",
    ] {
        assert!(
            names.contains(&format!("v2-{t}").as_str()),
            "v2-{t} missing"
        );
        assert!(
            names.contains(&format!("v3-{t}").as_str()),
            "v3-{t} missing"
        );
    }
    assert!(
        compared_values > 500,
        "only {compared_values} AVP values compared"
    );
    println!(
        "compared {} messages, {compared_values} AVP value fields",
        index.len()
    );
}

/// The frame for `ip` (an IP packet) under each link type tshark and we both walk.
fn link_frames(ip: &[u8], v6: bool) -> Vec<(LinkType, Vec<u8>)> {
    let et: u16 = if v6 { 0x86dd } else { 0x0800 };
    let mut sll = vec![0, 0, 0, 1, 0, 6, 2, 0, 0x5e, 0, 0, 1, 0, 0];
    sll.extend_from_slice(&et.to_be_bytes());
    sll.extend_from_slice(ip);
    let mut sll2 = et.to_be_bytes().to_vec();
    sll2.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0x5e, 0, 0, 1, 0, 0]);
    sll2.extend_from_slice(ip);
    // BSD loopback: AF_INET 2, AF_INET6 24 (NetBSD/OpenBSD value, as libpcap writes).
    let mut null = (if v6 { 24u32 } else { 2 }).to_le_bytes().to_vec();
    null.extend_from_slice(ip);
    let fixed = if v6 { LinkType::IPV6 } else { LinkType::IPV4 };
    vec![
        (
            LinkType::ETHERNET,
            l2tp_capture::ethernet_frame(&[(0x88a8, 300), (0x8100, 42)], et, ip),
        ),
        (LinkType::LINUX_SLL, sll),
        (LinkType::LINUX_SLL2, sll2),
        (LinkType::NULL, null),
        (LinkType::RAW, ip.to_vec()),
        (fixed, ip.to_vec()),
    ]
}

/// tshark and our reader agree on the frames of pcap (both byte orders and
/// resolutions) and multi-interface pcapng files we write, and both find the
/// L2TP packet behind every link type, VLAN tags and IPv6 extension headers.
#[test]
fn capture_formats_and_link_types_agree_with_tshark() {
    use l2tp_capture::{ip_packet, udp_datagram, Endian, PcapOptions, PcapngWriter};
    use l2tp_wire::message::Message;

    let hello = Message::zlb(l2tp_wire::control::Version::V2, 77, 0, 5, 6)
        .to_bytes(&Default::default())
        .unwrap();
    let mut packets = Vec::new();
    for (s, d) in [V4, V6] {
        let udp = udp_datagram(a(s), a(d), 1701, 1701, &hello);
        packets.push((ip_packet(a(s), a(d), 17, &udp), s.contains(':'), a(s)));
    }
    // IPv4 with 8 bytes of options (Router Alert, NOP NOP NOP, EOL).
    let (s, d) = V4;
    let udp = udp_datagram(a(s), a(d), 1701, 1701, &hello);
    let mut ip = ip_packet(a(s), a(d), 17, &udp);
    ip.splice(20..20, [0x94, 4, 0, 0, 1, 1, 1, 0]);
    ip[0] = 0x47;
    let total = ip.len() as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[10..12].copy_from_slice(&[0, 0]);
    let sum = ip[..28]
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum::<u32>();
    let sum = (sum & 0xffff) + (sum >> 16);
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    packets.push((ip, false, a(s)));
    // IPv6 with hop-by-hop and destination-options headers before UDP.
    let (s, d) = V6;
    let mut ext = vec![60, 0, 1, 4, 0, 0, 0, 0, 17, 0, 1, 4, 0, 0, 0, 0];
    ext.extend_from_slice(&udp_datagram(a(s), a(d), 1701, 1701, &hello));
    packets.push((ip_packet(a(s), a(d), 0, &ext), true, a(s)));
    let dir = scratch("formats");
    let mut files = Vec::new();
    // pcapng: one interface per link type, in the given byte order, nanosecond and microsecond clocks.
    for endian in [Endian::Little, Endian::Big] {
        let mut w = PcapngWriter::new(Vec::new(), endian).unwrap();
        let mut ifaces: Vec<(LinkType, u32, bool)> = Vec::new();
        let mut expect = Vec::new();
        let mut t = 0;
        for (ip, v6, src) in &packets {
            for (lt, frame) in link_frames(ip, *v6) {
                let (id, nanos) = match ifaces.iter().find(|(l, _, _)| *l == lt) {
                    Some((_, id, nanos)) => (*id, *nanos),
                    None => {
                        let nanos = ifaces.len() & 1 == 0;
                        let id = w.add_interface(lt, nanos).unwrap();
                        ifaces.push((lt, id, nanos));
                        (id, nanos)
                    }
                };
                t += 1;
                let ts = Timestamp::new(1_700_000_000 + t, 123_456_000 + t as u32);
                w.write_frame(id, ts, &frame).unwrap();
                // A microsecond interface keeps only whole microseconds.
                let kept = if nanos {
                    ts
                } else {
                    Timestamp::new(ts.secs, 123_456_000)
                };
                expect.push((lt, kept, id, *src));
            }
        }
        let path = dir.join(format!("multi-{endian:?}.pcapng"));
        std::fs::write(&path, w.into_inner().unwrap()).unwrap();
        files.push((path, expect));
    }
    // pcap: both byte orders and resolutions, one link type per file.
    // pcap: one file per link type holding every packet, little-endian/µs;
    // the other byte order and resolution on Ethernet.
    for (endian, nanos) in [(Endian::Little, false), (Endian::Big, true)] {
        let lts = [
            LinkType::ETHERNET,
            LinkType::LINUX_SLL,
            LinkType::LINUX_SLL2,
            LinkType::NULL,
            LinkType::RAW,
            LinkType::IPV4,
            LinkType::IPV6,
        ];
        for lt in lts {
            if endian == Endian::Big && lt != LinkType::ETHERNET {
                continue;
            }
            let opts = PcapOptions {
                endian,
                nanos,
                ..Default::default()
            };
            let mut w = PcapWriter::with_options(Vec::new(), lt, opts).unwrap();
            let mut expect = Vec::new();
            for (i, (ip, v6, src)) in packets.iter().enumerate() {
                let Some((_, frame)) = link_frames(ip, *v6).into_iter().find(|(l, _)| *l == lt)
                else {
                    continue; // LINKTYPE_IPV4 carries no IPv6 and vice versa
                };
                let ts = Timestamp::new(1_600_000_000 + i as i64, 987_654_321);
                w.write_frame(ts, &frame).unwrap();
                let ts = if nanos {
                    ts
                } else {
                    Timestamp::new(ts.secs, 987_654_000)
                };
                expect.push((lt, ts, 0, *src));
            }
            let path = dir.join(format!("{endian:?}-{nanos}-{}.pcap", lt.0));
            std::fs::write(&path, w.into_inner().unwrap()).unwrap();
            files.push((path, expect));
        }
    }
    let finder = L2tpFinder::new();
    let mut checked = 0;
    for (path, expect) in &files {
        let ts = tshark_clean_fields(
            path,
            &[],
            &[
                "frame.number",
                "frame.time_epoch",
                "frame.interface_id",
                "ip.src",
                "ipv6.src",
                "l2tp.tunnel",
                "l2tp.Ns",
            ],
        );
        let bytes = std::fs::read(path).unwrap();
        let frames: Vec<_> = CaptureReader::new(&bytes)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(ts.len(), expect.len(), "{}", path.display());
        assert_eq!(frames.len(), expect.len(), "{}", path.display());
        for ((t, f), (lt, when, iface, src)) in ts.iter().zip(&frames).zip(expect) {
            let ctx = format!("{} frame {} ({lt})", path.display(), f.index);
            assert_eq!(one_num(t, "frame.number"), Some(f.index), "{ctx}");
            assert_eq!(f.link_type, *lt, "{ctx}");
            assert_eq!(f.timestamp, *when, "{ctx}");
            let epoch = one(t, "frame.time_epoch").unwrap();
            assert_eq!(
                epoch,
                format!("{}.{:09}", when.secs, when.nanos),
                "{ctx}: tshark time"
            );
            if path.extension().unwrap() == "pcapng" {
                assert_eq!(
                    one_num(t, "frame.interface_id"),
                    Some(u64::from(*iface)),
                    "{ctx}"
                );
                assert_eq!(f.interface_id, *iface, "{ctx}");
            }
            let Finding::L2tp(p) = finder.find_in_frame(f).unwrap() else {
                panic!("{ctx}: we found no L2TP")
            };
            assert_eq!(p.payload, hello.as_slice(), "{ctx}");
            assert_eq!(p.src, *src, "{ctx}");
            let ts_src = one(t, "ip.src").or_else(|| one(t, "ipv6.src")).unwrap();
            assert_eq!(
                ts_src.parse::<IpAddr>().unwrap(),
                *src,
                "{ctx}: tshark source"
            );
            assert_eq!(
                one_num(t, "l2tp.tunnel"),
                Some(77),
                "{ctx}: tshark found L2TP"
            );
            assert_eq!(one_num(t, "l2tp.Ns"), Some(5), "{ctx}");
            checked += 1;
        }
    }
    assert_eq!(checked, 2 * 24 + 24 + 4);
}
