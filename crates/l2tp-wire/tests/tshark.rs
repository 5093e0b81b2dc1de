//! The real Wireshark dissector must decode what this codec emits: every
//! sample message, over UDP and (v3) over IP, without malformed or
//! bad-length warnings, with the same message type and AVP list, and with
//! our Message Digests verified by tshark's own implementation.

mod common;

use common::{ipv4_udp, scratch, tshark, write_pcap, A, B};
use l2tp_capture::{ip_packet, IPPROTO_L2TP};
use l2tp_wire::json::hex_plain;
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
        let (s, d) = match sender {
            Sender::A => (A, B),
            Sender::B => (B, A),
        };
        frames.push(if over_ip {
            let b = m.to_bytes_ip(&sender.security()).unwrap();
            ip_packet(s, d, IPPROTO_L2TP, &b)
        } else {
            let b = m.to_bytes(&sender.security()).unwrap();
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

/// An Ethernet frame carrying a tiny IPv4/UDP packet, as a pseudowire
/// payload.
fn eth_frame() -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&ipv4_udp(
        [198, 18, 1, 1].into(),
        [198, 18, 1, 2].into(),
        b"hello",
    ));
    f
}

#[test]
fn tshark_decodes_v3_and_v2_data_headers() {
    use l2tp_wire::data::{Cookie, Encap, L2SpecType, V3DataRepr};
    use l2tp_wire::v2::DataRepr;

    // tshark learns PW type, cookies and sublayer from the ICRQ/ICRP, as a
    // real peer would; the data frames then must match what was signalled.
    let payload = eth_frame();
    let a_to_b = V3DataRepr {
        session_id: 0x0000_2002,               // B's Local Session ID (ICRP)
        cookie: Cookie::from_u32(0xdead_beef), // B's Assigned Cookie
        seq: Some(0x00ab_cdef),
        l2spec: L2SpecType::Default,
    };
    let b_to_a = V3DataRepr {
        session_id: 0x0000_1001,
        cookie: Cookie::from_u64(0x8899_aabb_ccdd_eeff),
        seq: Some(7),
        l2spec: L2SpecType::Default,
    };
    for encap in [Encap::Ip, Encap::Udp] {
        let (mut frames, _) = v3_frames(encap == Encap::Ip);
        frames.truncate(8); // SCCRQ .. ICCN
        frames.remove(3); // not the StopCCN
        for (r, s, d) in [(a_to_b, A, B), (b_to_a, B, A)] {
            let mut pkt = vec![0u8; r.header_len(encap)];
            r.emit(encap, &mut pkt).unwrap();
            pkt.extend_from_slice(&payload);
            frames.push(match encap {
                Encap::Ip => ip_packet(s, d, IPPROTO_L2TP, &pkt),
                Encap::Udp => ipv4_udp(s, d, &pkt),
            });
        }
        let p = scratch("v3data");
        write_pcap(&p, &frames);
        let out = tshark(
            &p,
            &[
                "-Y",
                "l2tp.sid != 0",
                "-T",
                "fields",
                "-E",
                "separator=|",
                "-E",
                "occurrence=l",
                "-e",
                "l2tp.sid",
                "-e",
                "l2tp.cookie",
                "-e",
                "l2tp.l2_spec_s",
                "-e",
                "l2tp.l2_spec_sequence",
                "-e",
                "eth.dst",
                "-e",
                "ip.dst",
                "-e",
                "_ws.malformed",
            ],
        );
        common::cleanup(&p);
        let rows: Vec<&str> = out.lines().collect();
        assert_eq!(rows.len(), 2, "{out}");
        for (row, r) in rows.iter().zip([a_to_b, b_to_a]) {
            let c: Vec<&str> = row.split('|').collect();
            assert_eq!(c[0], format!("0x{:08x}", r.session_id), "{encap:?} {row}");
            assert_eq!(
                c[1].replace(':', ""),
                hex_plain(r.cookie.as_bytes()),
                "{encap:?} {row}"
            );
            assert_eq!(c[2], "1", "{row}");
            assert_eq!(c[3], r.seq.unwrap().to_string(), "{row}");
            // The tunnelled Ethernet frame and its IPv4 packet decode.
            assert_eq!(c[4], "02:00:00:00:00:02", "{encap:?} {row}");
            assert_eq!(c[5], "198.18.1.2", "{row}");
            assert_eq!(c[6], "", "{row}");
        }
    }

    let r = DataRepr {
        length: None,
        tunnel_id: 4711,
        session_id: 42,
        ns_nr: Some((5, 0)),
        offset: Some(3),
        priority: true,
    };
    // PPP in HDLC-like framing: address/control, then LCP echo request.
    let ppp = [0xff, 0x03, 0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0, 0, 0, 0];
    let r = r.with_payload_len(ppp.len()).unwrap();
    let mut pkt = vec![0u8; r.header_len()];
    r.emit_bytes(&mut pkt).unwrap();
    pkt.extend_from_slice(&ppp);
    let p = scratch("v2data");
    write_pcap(&p, &[ipv4_udp(A, B, &pkt)]);
    let out = tshark(
        &p,
        &[
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "l2tp.tunnel",
            "-e",
            "l2tp.session",
            "-e",
            "l2tp.Ns",
            "-e",
            "l2tp.offset",
            "-e",
            "l2tp.priority",
            "-e",
            "l2tp.length",
            "-e",
            "ppp.protocol",
            "-e",
            "ppp.code",
            "-e",
            "_ws.malformed",
        ],
    );
    common::cleanup(&p);
    assert_eq!(
        out.trim_end(),
        format!("4711|42|5|3|1|{}|0xc021|9|", r.length.unwrap())
    );
}
