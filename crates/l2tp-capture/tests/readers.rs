//! pcap / pcapng readers on hand-built files: both byte orders, both
//! timestamp resolutions, multi-interface pcapng, and every kind of damage.

use l2tp_capture::{
    detect_format, CaptureError, CaptureReader, Endian, Format, Frame, LinkType, PcapOptions,
    PcapWriter, PcapngWriter, Timestamp,
};
use proptest::prelude::*;

fn frames(buf: &[u8]) -> Result<Vec<Frame<'_>>, CaptureError> {
    CaptureReader::new(buf)?.collect()
}

/// A little-endian microsecond pcap with two Ethernet frames, written out by hand.
fn pcap_le_micro() -> Vec<u8> {
    let mut f = vec![
        0xd4, 0xc3, 0xb2, 0xa1, // magic
        0x02, 0x00, 0x04, 0x00, // version 2.4
        0x00, 0x00, 0x00, 0x00, // thiszone
        0x00, 0x00, 0x00, 0x00, // sigfigs
        0xff, 0xff, 0x00, 0x00, // snaplen 65535
        0x01, 0x00, 0x00, 0x00, // Ethernet
    ];
    // record 1: ts 1.000002, 3 bytes of 5
    f.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 5, 0, 0, 0]);
    f.extend_from_slice(&[0xaa, 0xbb, 0xcc]);
    // record 2: ts 0x01020304.999999, 2 bytes
    f.extend_from_slice(&[4, 3, 2, 1, 0x3f, 0x42, 0x0f, 0, 2, 0, 0, 0, 2, 0, 0, 0]);
    f.extend_from_slice(&[0x11, 0x22]);
    f
}

#[test]
fn pcap_little_endian_micro_by_hand() {
    let buf = pcap_le_micro();
    assert_eq!(detect_format(&buf).unwrap(), Format::Pcap);
    let fr = frames(&buf).unwrap();
    assert_eq!(fr.len(), 2);
    assert_eq!(fr[0].index, 1);
    assert_eq!(fr[0].timestamp, Timestamp::new(1, 2_000));
    assert_eq!(fr[0].data, &[0xaa, 0xbb, 0xcc]);
    assert_eq!(fr[0].orig_len, 5);
    assert!(fr[0].is_truncated());
    assert_eq!(fr[0].link_type, LinkType::ETHERNET);
    assert_eq!(fr[1].index, 2);
    assert_eq!(fr[1].timestamp, Timestamp::new(0x0102_0304, 999_999_000));
    assert_eq!(fr[1].data, &[0x11, 0x22]);
    assert!(!fr[1].is_truncated());
}

#[test]
fn pcap_big_endian_nano_by_hand() {
    let mut f = vec![
        0xa1, 0xb2, 0x3c, 0x4d, // nanosecond magic, big-endian
        0x00, 0x02, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0x00, 0x00, 0xff, 0xff, //
        0x00, 0x00, 0x00, 0x65, // raw IP (101)
    ];
    f.extend_from_slice(&[
        0, 0, 0, 7, 0x3b, 0x9a, 0xc9, 0xff, 0, 0, 0, 1, 0, 0, 0, 1, 0x45,
    ]);
    let fr = frames(&f).unwrap();
    assert_eq!(fr.len(), 1);
    assert_eq!(fr[0].link_type, LinkType::RAW);
    assert_eq!(fr[0].timestamp, Timestamp::new(7, 999_999_999));
    assert_eq!(fr[0].data, &[0x45]);
}

#[test]
fn pcap_fcs_bits_in_link_type_are_masked() {
    let mut buf = pcap_le_micro();
    buf[23] = 0x10 | 0x20; // FCS-present flag and length in the top bits
    let fr = frames(&buf).unwrap();
    assert_eq!(fr[0].link_type, LinkType::ETHERNET);
}

#[test]
fn pcap_writer_all_layouts_round_trip() {
    for endian in [Endian::Little, Endian::Big] {
        for nanos in [false, true] {
            let opts = PcapOptions {
                endian,
                nanos,
                ..PcapOptions::default()
            };
            let mut w = PcapWriter::with_options(Vec::new(), LinkType::LINUX_SLL, opts).unwrap();
            w.write_frame(Timestamp::new(100, 123_456_789), &[1, 2, 3])
                .unwrap();
            w.write_packet(Timestamp::new(101, 0), &[4], 60).unwrap();
            let buf = w.into_inner().unwrap();
            let fr = frames(&buf).unwrap();
            assert_eq!(fr.len(), 2, "{endian:?} nanos={nanos}");
            let want_nanos = if nanos { 123_456_789 } else { 123_456_000 };
            assert_eq!(fr[0].timestamp, Timestamp::new(100, want_nanos));
            assert_eq!(fr[0].link_type, LinkType::LINUX_SLL);
            assert_eq!(fr[0].data, &[1, 2, 3]);
            assert_eq!(fr[1].orig_len, 60);
            assert_eq!(fr[1].data, &[4]);
        }
    }
}

/// Builds one pcapng block by hand in the given byte order.
fn block(e: Endian, kind: u32, body: &[u8]) -> Vec<u8> {
    let put = |v: u32| match e {
        Endian::Little => v.to_le_bytes(),
        Endian::Big => v.to_be_bytes(),
    };
    let padded = body.len().div_ceil(4) * 4;
    let total = (padded + 12) as u32;
    let mut b = Vec::new();
    b.extend_from_slice(&put(kind));
    b.extend_from_slice(&put(total));
    b.extend_from_slice(body);
    b.resize(8 + padded, 0);
    b.extend_from_slice(&put(total));
    b
}

fn u16b(e: Endian, v: u16) -> [u8; 2] {
    match e {
        Endian::Little => v.to_le_bytes(),
        Endian::Big => v.to_be_bytes(),
    }
}

fn u32b(e: Endian, v: u32) -> [u8; 4] {
    match e {
        Endian::Little => v.to_le_bytes(),
        Endian::Big => v.to_be_bytes(),
    }
}

fn shb(e: Endian) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u32b(e, 0x1a2b_3c4d));
    body.extend_from_slice(&u16b(e, 1));
    body.extend_from_slice(&u16b(e, 0));
    body.extend_from_slice(&[0xff; 8]);
    // shb_userappl option, to exercise option skipping in a section header
    body.extend_from_slice(&u16b(e, 4));
    body.extend_from_slice(&u16b(e, 3));
    body.extend_from_slice(b"abc\0");
    body.extend_from_slice(&[0, 0, 0, 0]);
    block(e, 0x0a0d_0d0a, &body)
}

fn idb(e: Endian, link_type: u16, tsresol: Option<u8>, snaplen: u32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u16b(e, link_type));
    body.extend_from_slice(&u16b(e, 0));
    body.extend_from_slice(&u32b(e, snaplen));
    // if_name first, so if_tsresol is not the first option
    body.extend_from_slice(&u16b(e, 2));
    body.extend_from_slice(&u16b(e, 5));
    body.extend_from_slice(b"eth0\0\0\0\0");
    if let Some(r) = tsresol {
        body.extend_from_slice(&u16b(e, 9));
        body.extend_from_slice(&u16b(e, 1));
        body.extend_from_slice(&[r, 0, 0, 0]);
    }
    body.extend_from_slice(&[0, 0, 0, 0]);
    block(e, 1, &body)
}

fn epb(e: Endian, iface: u32, ticks: u64, data: &[u8], orig: u32) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u32b(e, iface));
    body.extend_from_slice(&u32b(e, (ticks >> 32) as u32));
    body.extend_from_slice(&u32b(e, ticks as u32));
    body.extend_from_slice(&u32b(e, data.len() as u32));
    body.extend_from_slice(&u32b(e, orig));
    body.extend_from_slice(data);
    block(e, 6, &body)
}

fn spb(e: Endian, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&u32b(e, data.len() as u32));
    body.extend_from_slice(data);
    block(e, 3, &body)
}

/// Two interfaces (Ethernet, µs; raw IP, ns), an unknown block, EPBs on both and an SPB.
fn pcapng_multi(e: Endian) -> Vec<u8> {
    let mut f = shb(e);
    f.extend(idb(e, 1, None, 0));
    f.extend(idb(e, 101, Some(9), 0));
    f.extend(block(e, 0x0000_0bad, &[1, 2, 3, 4, 5])); // unknown: skipped
    f.extend(block(e, 5, &[0; 12])); // interface statistics: skipped
    f.extend(epb(e, 0, 1_500_000, &[0xde, 0xad, 0xbe], 3));
    f.extend(epb(e, 1, 2_000_000_007, &[0x45, 0x00], 40));
    f.extend(spb(e, &[9, 8, 7, 6, 5]));
    f
}

#[test]
fn pcapng_multi_interface_both_byte_orders() {
    for e in [Endian::Little, Endian::Big] {
        let buf = pcapng_multi(e);
        assert_eq!(detect_format(&buf).unwrap(), Format::Pcapng);
        let fr = frames(&buf).unwrap();
        assert_eq!(fr.len(), 3, "{e:?}");
        assert_eq!(fr[0].index, 1);
        assert_eq!(fr[0].interface_id, 0);
        assert_eq!(fr[0].link_type, LinkType::ETHERNET);
        assert_eq!(fr[0].timestamp, Timestamp::new(1, 500_000_000));
        assert_eq!(fr[0].data, &[0xde, 0xad, 0xbe]);
        assert_eq!(fr[1].index, 2);
        assert_eq!(fr[1].interface_id, 1);
        assert_eq!(fr[1].link_type, LinkType::RAW);
        assert_eq!(fr[1].timestamp, Timestamp::new(2, 7));
        assert_eq!(fr[1].orig_len, 40);
        assert!(fr[1].is_truncated());
        assert_eq!(fr[2].index, 3);
        assert_eq!(fr[2].link_type, LinkType::ETHERNET);
        assert_eq!(fr[2].data, &[9, 8, 7, 6, 5]);
    }
}

#[test]
fn pcapng_sections_switch_byte_order_and_reset_interfaces() {
    let mut f = pcapng_multi(Endian::Little);
    f.extend(shb(Endian::Big));
    f.extend(idb(Endian::Big, 113, Some(0x80 | 10), 0)); // 2^-10 s units
    f.extend(epb(Endian::Big, 0, 1024 * 3 + 512, &[1], 1));
    let fr = frames(&f).unwrap();
    assert_eq!(fr.len(), 4);
    assert_eq!(fr[3].index, 4);
    assert_eq!(fr[3].link_type, LinkType::LINUX_SLL);
    assert_eq!(fr[3].timestamp, Timestamp::new(3, 500_000_000));

    // Interface 1 existed in the first section only.
    let mut g = pcapng_multi(Endian::Little);
    g.extend(shb(Endian::Big));
    g.extend(idb(Endian::Big, 1, None, 0));
    g.extend(epb(Endian::Big, 1, 0, &[1], 1));
    let err = frames(&g).unwrap_err();
    assert!(
        matches!(
            err,
            CaptureError::UnknownInterface {
                interface_id: 1,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn pcapng_simple_packet_respects_snaplen() {
    let e = Endian::Little;
    let mut f = shb(e);
    f.extend(idb(e, 1, None, 4));
    f.extend(spb(e, &[1, 2, 3, 4, 5, 6]));
    let fr = frames(&f).unwrap();
    assert_eq!(fr[0].data, &[1, 2, 3, 4]);
    assert_eq!(fr[0].orig_len, 6);
}

#[test]
fn pcapng_writer_round_trip() {
    for e in [Endian::Little, Endian::Big] {
        let mut w = PcapngWriter::new(Vec::new(), e).unwrap();
        let a = w.add_interface(LinkType::ETHERNET, false).unwrap();
        let b = w.add_interface(LinkType::LINUX_SLL2, true).unwrap();
        w.write_frame(b, Timestamp::new(5, 123_456_789), &[1, 2, 3, 4, 5])
            .unwrap();
        w.write_frame(a, Timestamp::new(6, 1_000), &[6]).unwrap();
        w.write_simple(&[7, 7]).unwrap();
        w.write_raw_block(0x4000_0bad, &[0; 7]).unwrap();
        assert!(w.write_frame(9, Timestamp::default(), &[]).is_err());
        let buf = w.into_inner().unwrap();
        let fr = frames(&buf).unwrap();
        assert_eq!(fr.len(), 3);
        assert_eq!(fr[0].link_type, LinkType::LINUX_SLL2);
        assert_eq!(fr[0].timestamp, Timestamp::new(5, 123_456_789));
        assert_eq!(fr[0].data, &[1, 2, 3, 4, 5]);
        assert_eq!(fr[1].link_type, LinkType::ETHERNET);
        assert_eq!(fr[1].timestamp, Timestamp::new(6, 1_000));
        assert_eq!(fr[2].data, &[7, 7]);
    }
}

#[test]
fn unknown_magic_is_typed() {
    let err = CaptureReader::new(b"GIF89a....").unwrap_err();
    assert_eq!(err, CaptureError::UnknownFormat { magic: *b"GIF8" });
    assert!(err.to_string().contains("47494638"), "{err}");
    assert!(matches!(
        CaptureReader::new(&[0xd4, 0xc3]).unwrap_err(),
        CaptureError::Truncated {
            needed: 4,
            available: 2,
            ..
        }
    ));
}

#[test]
fn pcap_bad_major_version() {
    let mut buf = pcap_le_micro();
    buf[4] = 3;
    let err = CaptureReader::new(&buf).unwrap_err();
    assert!(
        matches!(
            err,
            CaptureError::BadField {
                field: "major version",
                value: 3,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn pcapng_bad_blocks_are_typed() {
    let e = Endian::Little;
    // byte-order magic wrong
    let mut f = shb(e);
    f[8] = 0;
    assert!(matches!(
        CaptureReader::new(&f).unwrap_err(),
        CaptureError::BadField {
            field: "byte-order magic",
            ..
        }
    ));
    // block length not a multiple of 4
    let mut f = shb(e);
    let mut b = epb(e, 0, 0, &[1, 2, 3, 4], 4);
    b[4] = b[4].wrapping_add(1);
    f.extend(idb(e, 1, None, 0));
    f.extend(b);
    let err = frames(&f).unwrap_err();
    assert!(
        matches!(
            err,
            CaptureError::BadField {
                field: "block total length",
                ..
            }
        ),
        "{err:?}"
    );
    // trailing length differs
    let mut f = shb(e);
    f.extend(idb(e, 1, None, 0));
    let mut b = epb(e, 0, 0, &[1, 2, 3, 4], 4);
    let n = b.len();
    b[n - 4] = 0;
    f.extend(b);
    let err = frames(&f).unwrap_err();
    assert!(
        matches!(
            err,
            CaptureError::BadField {
                field: "trailing block total length",
                ..
            }
        ),
        "{err:?}"
    );
    // captured length past the block end
    let mut f = shb(e);
    f.extend(idb(e, 1, None, 0));
    let mut b = epb(e, 0, 0, &[1, 2, 3, 4], 4);
    b[20] = 200;
    f.extend(b);
    let err = frames(&f).unwrap_err();
    assert!(
        matches!(
            err,
            CaptureError::BadField {
                field: "captured packet length",
                value: 200,
                ..
            }
        ),
        "{err:?}"
    );
    // packet before any interface
    let mut f = shb(e);
    f.extend(epb(e, 0, 0, &[1], 1));
    assert!(matches!(
        frames(&f).unwrap_err(),
        CaptureError::UnknownInterface {
            interface_id: 0,
            ..
        }
    ));
    // unrepresentable if_tsresol
    let mut f = shb(e);
    f.extend(idb(e, 1, Some(30), 0));
    let err = frames(&f).unwrap_err();
    assert!(
        matches!(
            err,
            CaptureError::BadField {
                field: "if_tsresol option",
                value: 30,
                ..
            }
        ),
        "{err:?}"
    );
    // major version 2
    let mut f = shb(e);
    f[12] = 2;
    assert!(matches!(
        CaptureReader::new(&f).unwrap_err(),
        CaptureError::BadField {
            field: "major version",
            value: 2,
            ..
        }
    ));
}

/// Every strict prefix of a valid file either ends cleanly on a record/block
/// boundary or yields a Truncated error, and never panics.
fn check_prefixes(full: &[u8], boundaries: &[usize]) {
    let total = frames(full).unwrap().len();
    for cut in 0..full.len() {
        let prefix = &full[..cut];
        let result: Result<Vec<_>, _> = match CaptureReader::new(prefix) {
            Ok(r) => r.collect(),
            Err(e) => Err(e),
        };
        if boundaries.contains(&cut) {
            let got = result.unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            assert!(got.len() < total || cut == full.len());
        } else {
            match result {
                Err(CaptureError::Truncated { .. }) => {}
                other => panic!("cut at {cut}: expected Truncated, got {other:?}"),
            }
        }
    }
}

#[test]
fn truncated_pcap_gives_typed_error_at_every_cut() {
    let buf = pcap_le_micro();
    check_prefixes(&buf, &[24, 24 + 16 + 3]);
}

#[test]
fn truncated_pcapng_gives_typed_error_at_every_cut() {
    for e in [Endian::Little, Endian::Big] {
        let buf = pcapng_multi(e);
        // Block boundaries after the SHB are clean ends.
        let mut bounds = Vec::new();
        let mut pos = 0;
        while pos < buf.len() {
            let len = match e {
                Endian::Little => u32::from_le_bytes(buf[pos + 4..pos + 8].try_into().unwrap()),
                Endian::Big => u32::from_be_bytes(buf[pos + 4..pos + 8].try_into().unwrap()),
            } as usize;
            pos += len;
            bounds.push(pos);
        }
        check_prefixes(&buf, &bounds);
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(r) = CaptureReader::new(&data) {
            for f in r.take(1000) {
                let _ = f;
            }
        }
    }

    #[test]
    fn mutated_files_never_panic(
        which in 0usize..3,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
    ) {
        let mut buf = match which {
            0 => pcap_le_micro(),
            1 => pcapng_multi(Endian::Little),
            _ => pcapng_multi(Endian::Big),
        };
        for (at, v) in flips {
            let n = buf.len();
            buf[at % n] = v;
        }
        if let Ok(r) = CaptureReader::new(&buf) {
            let mut count = 0;
            for f in r {
                count += 1;
                prop_assert!(count < 100);
                if let Ok(f) = f {
                    prop_assert!(f.data.len() <= buf.len());
                }
            }
        }
    }
}
