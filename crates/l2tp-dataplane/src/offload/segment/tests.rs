use super::*;
use crate::offload::testutil::{build, check, naive_sum, payload, Spec};
use crate::offload::vnet::{F_NEEDS_CSUM, GSO_ECN, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4};

/// The header a TAP gives for a GSO frame: partial checksum at the
/// transport header. The checksum field is scribbled over because the
/// segmenter must not rely on it.
fn gso(frame: &mut [u8], kind: u8, mss: u16) -> VnetHdr {
    let p = check(frame);
    let at = p.l4 + if p.udp { 6 } else { 16 };
    frame[at] = 0xde;
    frame[at + 1] = 0xad;
    VnetHdr {
        flags: F_NEEDS_CSUM,
        gso_type: kind,
        hdr_len: p.hdr_len as u16,
        gso_size: mss,
        csum_start: p.l4 as u16,
        csum_offset: if p.udp { 6 } else { 16 },
    }
}

/// Segments `frame` and returns every segment as a whole frame.
fn split(h: &VnetHdr, frame: &[u8]) -> Vec<Vec<u8>> {
    let plan = plan(h, frame).expect("plan");
    (0..plan.count())
        .map(|i| {
            let mut out = vec![0u8; plan.header_len()];
            let r = plan.write_headers(frame, i, &mut out);
            out.extend_from_slice(&frame[r]);
            out
        })
        .collect()
}

fn tcp_case(spec: Spec, kind: u8, mss: usize) {
    let mut frame = build(&spec);
    let orig = check(&frame);
    let h = gso(&mut frame, kind, mss as u16);
    let segs = split(&h, &frame);
    let n = spec.payload.len().div_ceil(mss);
    assert_eq!(segs.len(), n);
    let mut data = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        let p = check(s);
        assert_eq!(p.hdr_len, orig.hdr_len, "headers keep their length");
        assert_eq!(&s[..p.l3], &frame[..orig.l3], "Ethernet and tags copied");
        assert_eq!(p.seq, spec.seq.wrapping_add((i * mss) as u32));
        if !spec.v6 {
            assert_eq!(p.ip_id, spec.ip_id.wrapping_add(i as u16));
        }
        let last = i + 1 == n;
        let want_len = if last {
            spec.payload.len() - i * mss
        } else {
            mss
        };
        assert_eq!(p.payload.len(), want_len);
        // FIN and PSH only on the last segment, CWR only on the first.
        let mut want = spec.flags;
        if !last {
            want &= !0x09;
        }
        if i > 0 {
            want &= !0x80;
        }
        assert_eq!(p.flags, want, "flags of segment {i}");
        // TCP options copied unchanged.
        assert_eq!(&s[p.l4 + 20..p.hdr_len], &frame[orig.l4 + 20..orig.hdr_len]);
        data.extend_from_slice(&p.payload);
    }
    assert_eq!(data, spec.payload);
}

#[test]
fn tcp4_plain() {
    tcp_case(
        Spec {
            payload: payload(5000, 1),
            flags: 0x18 | 0x01 | 0x80,
            ..Spec::default()
        },
        GSO_TCPV4 | GSO_ECN,
        1448,
    );
}

#[test]
fn tcp4_with_ip_and_tcp_options_and_exact_multiple() {
    let ts = [1, 1, 8, 10, 0, 0, 1, 2, 0, 0, 3, 4];
    tcp_case(
        Spec {
            ip_opts: vec![0x94, 0x04, 0, 0], // Router Alert
            tcp_opts: ts.to_vec(),
            payload: payload(3 * 1000, 2),
            seq: 0xffff_fc00, // wraps
            ip_id: 0xfffe,    // wraps
            ..Spec::default()
        },
        GSO_TCPV4,
        1000,
    );
}

#[test]
fn tcp6_with_options() {
    tcp_case(
        Spec {
            v6: true,
            tcp_opts: vec![1, 1, 8, 10, 9, 9, 9, 9, 8, 8, 8, 8],
            payload: payload(64_000, 3),
            flags: 0x18,
            ..Spec::default()
        },
        GSO_TCPV6,
        1428,
    );
}

#[test]
fn tcp_behind_vlan_and_qinq_tags() {
    for tags in [vec![0x8100], vec![0x88a8, 0x8100]] {
        for v6 in [false, true] {
            tcp_case(
                Spec {
                    tags: tags.clone(),
                    v6,
                    payload: payload(4000, 4),
                    ..Spec::default()
                },
                if v6 { GSO_TCPV6 } else { GSO_TCPV4 },
                1400,
            );
        }
    }
}

#[test]
fn udp_segmentation_v4_v6_and_tagged() {
    for (v6, tags) in [(false, vec![]), (true, vec![]), (false, vec![0x8100])] {
        let spec = Spec {
            udp: true,
            v6,
            tags,
            payload: payload(2500, 5),
            ..Spec::default()
        };
        let mut frame = build(&spec);
        let h = gso(&mut frame, GSO_UDP_L4, 1000);
        let segs = split(&h, &frame);
        assert_eq!(segs.len(), 3);
        let mut data = Vec::new();
        for (i, s) in segs.iter().enumerate() {
            let p = check(s);
            assert!(p.udp);
            assert_eq!(p.payload.len(), if i == 2 { 500 } else { 1000 });
            if !v6 {
                assert_eq!(p.ip_id, spec.ip_id.wrapping_add(i as u16));
            }
            data.extend_from_slice(&p.payload);
        }
        assert_eq!(data, spec.payload);
    }
}

#[test]
fn refuses_what_it_cannot_segment() {
    let mut frame = build(&Spec {
        payload: payload(3000, 6),
        ..Spec::default()
    });
    let h = gso(&mut frame, GSO_TCPV4, 1000);
    let e = |h: VnetHdr, f: &[u8]| plan(&h, f).unwrap_err().field;
    assert_eq!(e(VnetHdr { gso_type: 3, ..h }, &frame), "gso_type");
    assert_eq!(e(VnetHdr { gso_type: 9, ..h }, &frame), "gso_type");
    assert_eq!(e(VnetHdr { gso_size: 0, ..h }, &frame), "gso_size");
    assert_eq!(
        e(
            VnetHdr {
                gso_type: GSO_TCPV6,
                ..h
            },
            &frame
        ),
        "gso_type"
    );
    assert_eq!(
        e(
            VnetHdr {
                gso_type: GSO_UDP_L4,
                ..h
            },
            &frame
        ),
        "ipv4.protocol"
    );
    assert_eq!(
        e(
            VnetHdr {
                csum_start: 30,
                ..h
            },
            &frame
        ),
        "csum_start"
    );
    assert_eq!(e(h, &frame[..54]), "payload");
    assert_eq!(e(h, &frame[..40]), "tcp");
    assert_eq!(e(h, &frame[..14]), "ipv4");
    assert_eq!(e(h, &frame[..5]), "ethernet");
    let mut arp = frame.clone();
    arp[12..14].copy_from_slice(&0x0806u16.to_be_bytes());
    assert_eq!(e(h, &arp), "ethertype");
    let mut bad_doff = frame.clone();
    bad_doff[34 + 12] = 0x30;
    assert_eq!(e(h, &bad_doff), "tcp.data_offset");
    // Arbitrary bytes never panic.
    for len in 0..80 {
        let junk: Vec<u8> = (0..len).map(|i| (i * 37) as u8).collect();
        let _ = plan(&h, &junk);
    }
}

#[test]
fn completes_partial_checksums() {
    for (udp, v6) in [(false, false), (true, false), (false, true), (true, true)] {
        let spec = Spec {
            udp,
            v6,
            payload: payload(333, 7),
            ..Spec::default()
        };
        let good = build(&spec);
        let p = check(&good);
        let at = p.l4 + if udp { 6 } else { 16 };
        // What the host leaves: the pseudo-header sum, not complemented.
        let mut partial = good.clone();
        let pseudo: Vec<u8> = if v6 {
            let mut x = partial[p.l3 + 8..p.l3 + 40].to_vec();
            x.extend_from_slice(&((good.len() - p.l4) as u32).to_be_bytes());
            x.extend_from_slice(&[0, 0, 0, if udp { 17 } else { 6 }]);
            x
        } else {
            let mut x = partial[p.l3 + 12..p.l3 + 20].to_vec();
            x.extend_from_slice(&[0, if udp { 17 } else { 6 }]);
            x.extend_from_slice(&((good.len() - p.l4) as u16).to_be_bytes());
            x
        };
        partial[at..at + 2].copy_from_slice(&naive_sum(&[&pseudo]).to_be_bytes());
        let h = VnetHdr {
            flags: F_NEEDS_CSUM,
            csum_start: p.l4 as u16,
            csum_offset: (at - p.l4) as u16,
            ..VnetHdr::default()
        };
        complete_checksum(&h, &mut partial).unwrap();
        check(&partial);
        // Ethernet padding after the packet is left out of the sum.
        let mut padded = good.clone();
        padded[at..at + 2].copy_from_slice(&naive_sum(&[&pseudo]).to_be_bytes());
        padded.extend_from_slice(&[0xaa; 7]);
        complete_checksum(&h, &mut padded).unwrap();
        check(&padded[..good.len()]);
        let far = VnetHdr {
            csum_start: 2000,
            ..h
        };
        assert!(complete_checksum(&far, &mut partial).is_err());
    }
}
