//! The real Wireshark dissector must decode what this codec emits: every
//! sample message, over UDP and (v3) over IP, without malformed or
//! bad-length warnings, with the same message type and AVP list, and with
//! our Message Digests verified by tshark's own implementation.

mod common;

use common::{ipv4, ipv4_udp, scratch, tshark, write_pcap, A, B};
use l2tp_wire::message::{Message, Security};
use l2tp_wire::testing::{v2_messages, v3_messages, Sender, SAMPLE_SECRET};

struct Expect {
    name: &'static str,
    msg: Message,
}

fn fields(pcap: &std::path::Path, extra: &[&str]) -> Vec<Vec<String>> {
    let mut args = vec![
        "-T",
        "fields",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
        "-E",
        "separator=|",
        "-e",
        "frame.number",
        "-e",
        "l2tp.avp.message_type",
        "-e",
        "l2tp.avp.type",
        "-e",
        "_ws.malformed",
        "-e",
        "l2tp.avp_length.bad",
        "-e",
        "l2tp.incorrect_digest",
        "-e",
        "_ws.expert.severity",
    ];
    args.extend_from_slice(extra);
    tshark(pcap, &args)
        .lines()
        .map(|l| l.split('|').map(str::to_string).collect())
        .collect()
}

fn check(rows: &[Vec<String>], expect: &[Expect]) {
    assert_eq!(rows.len(), expect.len(), "frame count");
    for (row, e) in rows.iter().zip(expect) {
        let want_types: Vec<String> = e
            .msg
            .avps
            .iter()
            .map(|a| a.value.vendor_attr().1.to_string())
            .collect();
        let mt = e
            .msg
            .message_type()
            .map(|t| t.to_u16().to_string())
            .unwrap_or_default();
        assert_eq!(row[1], mt, "{}: message type", e.name);
        assert_eq!(row[2], want_types.join(","), "{}: AVP types", e.name);
        assert_eq!(row[3], "", "{}: tshark says malformed", e.name);
        assert_eq!(row[4], "", "{}: tshark says bad AVP length", e.name);
        assert_eq!(row[5], "", "{}: tshark says incorrect digest", e.name);
    }
}

#[test]
fn tshark_decodes_v2_samples() {
    let mut frames = Vec::new();
    let mut expect = Vec::new();
    for (i, (name, m)) in v2_messages().into_iter().enumerate() {
        let b = m.to_bytes(&Security::default()).unwrap();
        let (s, d) = if i % 2 == 0 { (A, B) } else { (B, A) };
        frames.push(ipv4_udp(s, d, &b));
        expect.push(Expect { name, msg: m });
    }
    let p = scratch("v2");
    write_pcap(&p, &frames);
    let rows = fields(
        &p,
        &[
            "-e",
            "l2tp.avp.host_name",
            "-e",
            "l2tp.avp.assigned_tunnel_id",
        ],
    );
    check(&rows, &expect);
    assert_eq!(rows[0][7], "lac1.example.net");
    assert_eq!(rows[0][8], "4711");
    common::cleanup(&p);
}

fn v3_frames(over_ip: bool) -> (Vec<Vec<u8>>, Vec<Expect>) {
    let mut frames = Vec::new();
    let mut expect = Vec::new();
    for (name, sender, m) in v3_messages() {
        let b = m.to_bytes(&sender.security()).unwrap();
        let (s, d) = match sender {
            Sender::A => (A, B),
            Sender::B => (B, A),
        };
        frames.push(if over_ip {
            let mut p = vec![0u8; 4];
            p.extend_from_slice(&b);
            ipv4(s, d, 115, &p)
        } else {
            ipv4_udp(s, d, &b)
        });
        expect.push(Expect { name, msg: m });
    }
    (frames, expect)
}

#[test]
fn tshark_decodes_and_verifies_v3_samples() {
    let secret = format!(
        "l2tp.shared_secret:{}",
        std::str::from_utf8(SAMPLE_SECRET).unwrap()
    );
    for over_ip in [false, true] {
        let (frames, expect) = v3_frames(over_ip);
        let p = scratch(if over_ip { "v3ip" } else { "v3udp" });
        write_pcap(&p, &frames);
        let rows = fields(
            &p,
            &[
                "-o",
                &secret,
                "-e",
                "l2tp.avp.assigned_control_conn_id",
                "-e",
                "l2tp.avp.local_session_id",
            ],
        );
        check(&rows, &expect);
        assert_eq!(rows[0][7], (0x0a0b_0c0du32).to_string());
        common::cleanup(&p);
    }
}

#[test]
fn tshark_flags_a_corrupted_digest() {
    // Proves the digest check above is live: flip one AVP byte.
    let secret = format!(
        "l2tp.shared_secret:{}",
        std::str::from_utf8(SAMPLE_SECRET).unwrap()
    );
    let (mut frames, _) = v3_frames(false);
    let hello = frames.len() - 14; // a frame after SCCRQ/SCCRP/SCCCN/StopCCN
    let last = frames[hello].len() - 1;
    frames[hello][last] ^= 0x01;
    let p = scratch("v3bad");
    write_pcap(&p, &frames);
    let out = tshark(
        &p,
        &["-o", &secret, "-T", "fields", "-e", "l2tp.incorrect_digest"],
    );
    let flagged = out.lines().filter(|l| !l.is_empty()).count();
    common::cleanup(&p);
    assert_eq!(flagged, 1, "tshark should flag exactly the corrupted frame");
}
