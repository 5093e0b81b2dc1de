//! Finding L2TP in frames of every supported link type, through VLAN tags,
//! IPv4 options and fragments, and IPv6 extension headers.

use core::net::IpAddr;

use l2tp_capture::{
    ethernet_frame, ip115_frame, ip_packet, udp_datagram, udp_frame, DissectError, Encap, Finding,
    L2tpFinder, L2tpPacket, Layer, LinkType,
};
use proptest::prelude::*;

const L2TP: &[u8] = &[
    0xc8, 0x02, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

fn a(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn found<'a>(f: &L2tpFinder, lt: LinkType, data: &'a [u8]) -> L2tpPacket<'a> {
    match f.find(lt, data) {
        Ok(Finding::L2tp(p)) => p,
        other => panic!("expected L2TP, got {other:?}"),
    }
}

#[test]
fn ethernet_ipv4_udp() {
    let frame = udp_frame(a("198.18.0.1"), a("198.18.0.2"), 40000, 1701, L2TP);
    let p = found(&L2tpFinder::new(), LinkType::ETHERNET, &frame);
    assert_eq!(p.encap, Encap::Udp);
    assert_eq!(p.src, a("198.18.0.1"));
    assert_eq!(p.dst, a("198.18.0.2"));
    assert_eq!(p.src_port, Some(40000));
    assert_eq!(p.dst_port, Some(1701));
    assert_eq!(p.offset, 14 + 20 + 8);
    assert_eq!(p.payload, L2TP);
    assert_eq!(&frame[p.offset..], L2TP);
    assert!(!p.truncated && !p.fragmented);
}

#[test]
fn source_port_alone_matches_and_other_ports_do_not() {
    let f = L2tpFinder::new();
    let frame = udp_frame(a("198.18.0.1"), a("198.18.0.2"), 1701, 5000, L2TP);
    assert_eq!(found(&f, LinkType::ETHERNET, &frame).payload, L2TP);
    let other = udp_frame(a("198.18.0.1"), a("198.18.0.2"), 5000, 5001, L2TP);
    assert_eq!(
        f.find(LinkType::ETHERNET, &other).unwrap(),
        Finding::NotL2tp
    );
    let custom = L2tpFinder::with_ports(&[5001]);
    assert_eq!(custom.ports(), &[1701, 5001]);
    assert_eq!(
        found(&custom, LinkType::ETHERNET, &other).dst_port,
        Some(5001)
    );
}

#[test]
fn ethernet_ipv6_ip115() {
    let frame = ip115_frame(a("2001:db8::1"), a("2001:db8::2"), L2TP);
    let p = found(&L2tpFinder::new(), LinkType::ETHERNET, &frame);
    assert_eq!(p.encap, Encap::Ip);
    assert_eq!(p.src, a("2001:db8::1"));
    assert_eq!(p.dst, a("2001:db8::2"));
    assert_eq!(p.src_port, None);
    assert_eq!(p.offset, 14 + 40);
    assert_eq!(p.payload, L2TP);
}

#[test]
fn vlan_and_qinq() {
    let ip = ip_packet(
        a("198.18.1.1"),
        a("198.18.1.2"),
        17,
        &udp_datagram(a("198.18.1.1"), a("198.18.1.2"), 1701, 1701, L2TP),
    );
    let f = L2tpFinder::new();
    let one = ethernet_frame(&[(0x8100, 10)], 0x0800, &ip);
    assert_eq!(found(&f, LinkType::ETHERNET, &one).offset, 18 + 28);
    let two = ethernet_frame(&[(0x88a8, 100), (0x8100, 10)], 0x0800, &ip);
    let p = found(&f, LinkType::ETHERNET, &two);
    assert_eq!(p.offset, 22 + 28);
    assert_eq!(p.payload, L2TP);
    let old = ethernet_frame(&[(0x9100, 100), (0x8100, 10)], 0x0800, &ip);
    assert_eq!(found(&f, LinkType::ETHERNET, &old).payload, L2TP);
    // Truncated inside the tag stack.
    let cut = &two[..16];
    assert!(matches!(
        f.find(LinkType::ETHERNET, cut),
        Err(DissectError::Truncated {
            layer: Layer::Vlan,
            ..
        })
    ));
}

#[test]
fn ethernet_trailer_padding_is_trimmed() {
    let mut frame = ip115_frame(a("198.18.0.1"), a("198.18.0.2"), &[0, 0, 0, 0]);
    frame.resize(60, 0xee); // minimum Ethernet frame size
    let p = found(&L2tpFinder::new(), LinkType::ETHERNET, &frame);
    assert_eq!(p.payload, &[0, 0, 0, 0]);
}

#[test]
fn linux_sll_and_sll2() {
    let ip = ip_packet(a("2001:db8::1"), a("2001:db8::2"), 115, L2TP);
    let mut sll = vec![0, 4, 0, 1, 0, 6, 2, 0, 0x5e, 0, 0, 1, 0, 0, 0x86, 0xdd];
    sll.extend_from_slice(&ip);
    let p = found(&L2tpFinder::new(), LinkType::LINUX_SLL, &sll);
    assert_eq!((p.offset, p.payload), (16 + 40, L2TP));

    let mut sll2 = vec![
        0x86, 0xdd, 0, 0, 0, 0, 0, 3, 0, 1, 4, 6, 2, 0, 0x5e, 0, 0, 1, 0, 0,
    ];
    sll2.extend_from_slice(&ip);
    let p = found(&L2tpFinder::new(), LinkType::LINUX_SLL2, &sll2);
    assert_eq!((p.offset, p.payload), (20 + 40, L2TP));

    // Netlink captures are not IP even when the protocol field looks like it.
    let mut nl = sll.clone();
    nl[2..4].copy_from_slice(&824u16.to_be_bytes());
    assert_eq!(
        L2tpFinder::new().find(LinkType::LINUX_SLL, &nl).unwrap(),
        Finding::NotL2tp
    );
}

#[test]
fn raw_ip_link_types() {
    let v4 = ip_packet(
        a("198.18.0.1"),
        a("198.18.0.2"),
        17,
        &udp_datagram(a("198.18.0.1"), a("198.18.0.2"), 1701, 1701, L2TP),
    );
    let v6 = ip_packet(a("2001:db8::1"), a("2001:db8::2"), 115, L2TP);
    let f = L2tpFinder::new();
    assert_eq!(found(&f, LinkType::RAW, &v4).offset, 28);
    assert_eq!(found(&f, LinkType::RAW, &v6).offset, 40);
    assert_eq!(found(&f, LinkType::IPV4, &v4).payload, L2TP);
    assert_eq!(found(&f, LinkType::IPV6, &v6).payload, L2TP);
    // The wrong fixed family is a typed error, not a panic.
    assert!(matches!(
        f.find(LinkType::IPV4, &v6),
        Err(DissectError::BadField {
            layer: Layer::Ipv4,
            field: "version",
            value: 6,
            ..
        })
    ));
}

#[test]
fn null_and_loop_headers() {
    let v4 = ip_packet(a("198.18.0.1"), a("198.18.0.2"), 115, L2TP);
    let v6 = ip_packet(a("2001:db8::1"), a("2001:db8::2"), 115, L2TP);
    let f = L2tpFinder::new();
    for (hdr, ip) in [
        (2u32.to_le_bytes(), &v4),
        (2u32.to_be_bytes(), &v4),
        (10u32.to_le_bytes(), &v6),
        (24u32.to_be_bytes(), &v6),
        (30u32.to_le_bytes(), &v6),
    ] {
        let mut fr = hdr.to_vec();
        fr.extend_from_slice(ip);
        assert_eq!(found(&f, LinkType::NULL, &fr).payload, L2TP, "{hdr:?}");
    }
    let mut lo = 24u32.to_be_bytes().to_vec();
    lo.extend_from_slice(&v6);
    assert_eq!(found(&f, LinkType::LOOP, &lo).offset, 44);
    let mut other = 7u32.to_le_bytes().to_vec();
    other.extend_from_slice(&v4);
    assert_eq!(f.find(LinkType::NULL, &other).unwrap(), Finding::NotL2tp);
}

#[test]
fn ipv4_options_are_skipped() {
    let mut ip = ip_packet(a("198.18.0.1"), a("198.18.0.2"), 115, L2TP);
    // Insert 8 bytes of options (NOPs then EOL) and fix IHL and total length.
    ip.splice(20..20, [1, 1, 1, 1, 1, 1, 1, 0]);
    ip[0] = 0x47;
    let total = ip.len() as u16;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    let p = found(&L2tpFinder::new(), LinkType::RAW, &ip);
    assert_eq!(p.offset, 28);
    assert_eq!(p.payload, L2TP);
}

#[test]
fn ipv4_fragments() {
    let udp = udp_datagram(a("198.18.0.1"), a("198.18.0.2"), 1701, 1701, L2TP);
    let mut first = ip_packet(a("198.18.0.1"), a("198.18.0.2"), 17, &udp);
    first[6] = 0x20; // MF, offset 0
    let p = found(&L2tpFinder::new(), LinkType::RAW, &first);
    assert!(p.fragmented);
    assert_eq!(p.payload, L2TP);

    let mut later = first.clone();
    later[6] = 0x00;
    later[7] = 0x10; // offset 16*8, last fragment
    assert_eq!(
        L2tpFinder::new().find(LinkType::RAW, &later).unwrap(),
        Finding::NonFirstFragment {
            src: a("198.18.0.1"),
            dst: a("198.18.0.2"),
            protocol: 17
        }
    );
}

/// IPv6 with hop-by-hop, routing and destination-options headers, then
/// optionally a fragment header, before `proto`.
fn ipv6_with_extensions(proto: u8, payload: &[u8], frag: Option<(u16, bool)>) -> Vec<u8> {
    let mut ext = Vec::new();
    // hop-by-hop: next=routing, len 0 (8 bytes), PadN
    ext.extend_from_slice(&[43, 0, 1, 4, 0, 0, 0, 0]);
    // routing: next=dest opts, len 2 (24 bytes), type 0 with segments left 0
    ext.extend_from_slice(&[60, 2, 0, 0, 0, 0, 0, 0]);
    ext.extend_from_slice(&[0u8; 16]);
    // destination options: next=fragment or proto, len 1 (16 bytes)
    let after_dst = if frag.is_some() { 44 } else { proto };
    ext.extend_from_slice(&[after_dst, 1, 1, 12]);
    ext.extend_from_slice(&[0u8; 12]);
    if let Some((offset, more)) = frag {
        let fo = (offset << 3) | u16::from(more);
        ext.extend_from_slice(&[proto, 0]);
        ext.extend_from_slice(&fo.to_be_bytes());
        ext.extend_from_slice(&[0, 0, 0x12, 0x34]);
    }
    ext.extend_from_slice(payload);
    let mut ip = ip_packet(a("2001:db8::a"), a("2001:db8::b"), 0, &ext);
    ip[6] = 0; // first extension: hop-by-hop
    ip
}

#[test]
fn ipv6_extension_headers_are_skipped() {
    let udp = udp_datagram(a("2001:db8::a"), a("2001:db8::b"), 1701, 1701, L2TP);
    let ip = ipv6_with_extensions(17, &udp, None);
    let p = found(&L2tpFinder::new(), LinkType::RAW, &ip);
    assert_eq!(p.offset, 40 + 8 + 24 + 16 + 8);
    assert_eq!(p.payload, L2TP);
    assert!(!p.fragmented);

    let ip = ipv6_with_extensions(115, L2TP, Some((0, true)));
    let p = found(&L2tpFinder::new(), LinkType::RAW, &ip);
    assert_eq!(p.encap, Encap::Ip);
    assert_eq!(p.offset, 40 + 8 + 24 + 16 + 8);
    assert!(p.fragmented);

    let ip = ipv6_with_extensions(115, L2TP, Some((100, false)));
    assert_eq!(
        L2tpFinder::new().find(LinkType::RAW, &ip).unwrap(),
        Finding::NonFirstFragment {
            src: a("2001:db8::a"),
            dst: a("2001:db8::b"),
            protocol: 115
        }
    );

    // An extension header running past the packet is a typed error.
    let ip = ipv6_with_extensions(115, &[], None);
    let cut = &ip[..40 + 8 + 10];
    let mut fixed = cut.to_vec();
    fixed[4..6].copy_from_slice(&18u16.to_be_bytes());
    assert!(matches!(
        L2tpFinder::new().find(LinkType::RAW, &fixed),
        Err(DissectError::Truncated {
            layer: Layer::Ipv6Extension,
            needed: 24,
            ..
        })
    ));
}

#[test]
fn snaplen_cut_is_flagged_truncated() {
    let frame = udp_frame(a("198.18.0.1"), a("198.18.0.2"), 1701, 1701, L2TP);
    let cut = &frame[..frame.len() - 4];
    let p = found(&L2tpFinder::new(), LinkType::ETHERNET, cut);
    assert!(p.truncated);
    assert_eq!(p.payload, &L2TP[..L2TP.len() - 4]);
}

#[test]
fn malformed_headers_are_typed_errors() {
    let f = L2tpFinder::new();
    let frame = udp_frame(a("198.18.0.1"), a("198.18.0.2"), 1701, 1701, L2TP);
    assert!(matches!(
        f.find(LinkType::ETHERNET, &frame[..10]),
        Err(DissectError::Truncated {
            layer: Layer::Ethernet,
            needed: 14,
            available: 10
        })
    ));
    assert!(matches!(
        f.find(LinkType::ETHERNET, &frame[..30]),
        Err(DissectError::Truncated {
            layer: Layer::Ipv4,
            needed: 20,
            available: 16
        })
    ));
    let mut bad_ihl = frame.clone();
    bad_ihl[14] = 0x43;
    assert!(matches!(
        f.find(LinkType::ETHERNET, &bad_ihl),
        Err(DissectError::BadField {
            layer: Layer::Ipv4,
            field: "header length",
            value: 12,
            ..
        })
    ));
    let mut bad_total = frame.clone();
    bad_total[16..18].copy_from_slice(&10u16.to_be_bytes());
    assert!(matches!(
        f.find(LinkType::ETHERNET, &bad_total),
        Err(DissectError::BadField {
            layer: Layer::Ipv4,
            field: "total length",
            ..
        })
    ));
    let mut bad_udp = frame.clone();
    bad_udp[38..40].copy_from_slice(&5u16.to_be_bytes());
    let err = f.find(LinkType::ETHERNET, &bad_udp).unwrap_err();
    assert!(
        matches!(
            err,
            DissectError::BadField {
                layer: Layer::Udp,
                field: "length",
                value: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("UDP header"), "{err}");
    assert_eq!(
        f.find(LinkType(147), &frame).unwrap_err(),
        DissectError::UnsupportedLinkType(147)
    );
    // ARP is simply not L2TP.
    let arp = ethernet_frame(&[], 0x0806, &[0; 28]);
    assert_eq!(f.find(LinkType::ETHERNET, &arp).unwrap(), Finding::NotL2tp);
}

/// Internet checksum verification: summing a header including its checksum gives 0xffff.
fn sums_to_ones(parts: &[&[u8]]) -> bool {
    let mut sum = 0u32;
    let bytes: Vec<u8> = parts.concat();
    for c in bytes.chunks(2) {
        let hi = c[0];
        let lo = c.get(1).copied().unwrap_or(0);
        sum += u32::from(u16::from_be_bytes([hi, lo]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

#[test]
fn writer_checksums_are_valid() {
    let odd = [1u8, 2, 3, 4, 5];
    let frame = udp_frame(a("198.18.0.1"), a("198.18.0.2"), 1701, 1701, &odd);
    let ip = &frame[14..34];
    assert!(sums_to_ones(&[ip]));
    let udp = &frame[34..];
    let pseudo = [
        &frame[26..34],
        &[0, 17],
        &(udp.len() as u16).to_be_bytes()[..],
    ]
    .concat();
    assert!(sums_to_ones(&[&pseudo, udp]));

    let frame = udp_frame(a("2001:db8::1"), a("2001:db8::2"), 1701, 1701, &odd);
    let udp = &frame[54..];
    let mut pseudo = frame[22..54].to_vec();
    pseudo.extend_from_slice(&(udp.len() as u32).to_be_bytes());
    pseudo.extend_from_slice(&[0, 0, 0, 17]);
    assert!(sums_to_ones(&[&pseudo, udp]));
}

#[test]
fn mixed_families_become_mapped_ipv6() {
    let frame = ip115_frame(a("198.18.0.1"), a("2001:db8::2"), L2TP);
    let p = found(&L2tpFinder::new(), LinkType::ETHERNET, &frame);
    assert_eq!(p.src, a("::ffff:198.18.0.1"));
    assert_eq!(p.payload, L2TP);
}

proptest! {
    #[test]
    fn arbitrary_frames_never_panic(
        lt in prop_oneof![Just(0u32), Just(1), Just(101), Just(108), Just(113), Just(228), Just(229), Just(276), any::<u32>()],
        data in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let f = L2tpFinder::with_ports(&[1702]);
        if let Ok(Finding::L2tp(p)) = f.find(LinkType(lt), &data) {
            prop_assert!(p.offset + p.payload.len() <= data.len());
            prop_assert_eq!(&data[p.offset..p.offset + p.payload.len()], p.payload);
        }
    }

    #[test]
    fn mutated_frames_never_panic(
        v6 in any::<bool>(),
        udp in any::<bool>(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let (s, d) = if v6 { (a("2001:db8::1"), a("2001:db8::2")) } else { (a("198.18.0.1"), a("198.18.0.2")) };
        let mut frame = if udp { udp_frame(s, d, 1701, 1701, L2TP) } else { ip115_frame(s, d, L2TP) };
        for (at, v) in flips {
            let n = frame.len();
            frame[at % n] = v;
        }
        frame.truncate(cut % (frame.len() + 1));
        let _ = L2tpFinder::new().find(LinkType::ETHERNET, &frame);
    }
}
