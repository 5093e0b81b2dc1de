//! Deterministic tests of the receive/transmit logic with a fake clock.

use super::*;
use crate::Counters;

const SID: u32 = 0x1234_5678;
const T0: Duration = Duration::from_millis(100);

fn cookie(b: &[u8]) -> Cookie {
    Cookie::new(b).unwrap()
}

/// A packet as the peer would send it, built by the codec.
fn packet(
    encap: Encap,
    ck: Cookie,
    l2spec: L2SpecType,
    seq: Option<u32>,
    payload: &[u8],
) -> Vec<u8> {
    let repr = V3DataRepr {
        session_id: SID,
        cookie: ck,
        seq,
        l2spec,
    };
    let mut buf = vec![0u8; repr.header_len(encap) + payload.len()];
    let n = repr.emit(encap, &mut buf).unwrap();
    buf[n..].copy_from_slice(payload);
    buf
}

struct Harness {
    rx: RxSession,
    send_seq: AtomicBool,
    stats: Counters,
    out: Vec<Vec<u8>>,
    encap: Encap,
    ck: Cookie,
    now: Instant,
}

impl Harness {
    fn new(recv_seq: bool, reorder: Option<Duration>) -> Self {
        Self::with(
            Encap::Udp,
            cookie(&[]),
            L2SpecType::Default,
            recv_seq,
            reorder,
        )
    }

    fn with(
        encap: Encap,
        ck: Cookie,
        l2spec: L2SpecType,
        recv_seq: bool,
        reorder: Option<Duration>,
    ) -> Self {
        Self {
            rx: RxSession::new(RxConfig {
                encap,
                session_id: SID,
                peer_cookie: ck,
                l2spec,
                recv_seq,
                reorder_timeout: reorder,
            }),
            send_seq: AtomicBool::new(false),
            stats: Counters::default(),
            out: Vec::new(),
            encap,
            ck,
            now: Instant::now(),
        }
    }

    fn feed_raw(&mut self, pkt: &[u8]) {
        let out = &mut self.out;
        self.rx.receive(
            pkt,
            self.now,
            &self.send_seq,
            &mut self.stats,
            &mut |f: &[u8]| {
                out.push(f.to_vec());
                true
            },
        );
    }

    /// Sends a frame whose payload is the sequence number itself.
    fn seq(&mut self, ns: u32) {
        let pkt = packet(
            self.encap,
            self.ck,
            L2SpecType::Default,
            Some(ns),
            &ns.to_be_bytes(),
        );
        self.feed_raw(&pkt);
    }

    fn unsequenced(&mut self, tag: u32) {
        let pkt = packet(
            self.encap,
            self.ck,
            L2SpecType::Default,
            None,
            &tag.to_be_bytes(),
        );
        self.feed_raw(&pkt);
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        let out = &mut self.out;
        self.rx.poll(self.now, &mut self.stats, &mut |f: &[u8]| {
            out.push(f.to_vec());
            true
        });
    }

    /// Delivered payloads decoded back to numbers, and forgotten.
    fn take(&mut self) -> Vec<u32> {
        self.out
            .drain(..)
            .map(|f| u32::from_be_bytes(f[..4].try_into().unwrap()))
            .collect()
    }
}

#[test]
fn cookie_match_delivers_and_mismatch_is_counted() {
    for (encap, ck, wrong) in [
        (Encap::Udp, cookie(&[1, 2, 3, 4]), cookie(&[1, 2, 3, 5])),
        (
            Encap::Ip,
            cookie(&[9, 8, 7, 6, 5, 4, 3, 2]),
            cookie(&[9, 8, 7, 6, 5, 4, 3, 0]),
        ),
    ] {
        let mut h = Harness::with(encap, ck, L2SpecType::None, false, None);
        h.feed_raw(&packet(encap, ck, L2SpecType::None, None, b"good frame"));
        h.feed_raw(&packet(encap, wrong, L2SpecType::None, None, b"bad frame!"));
        assert_eq!(h.out, vec![b"good frame".to_vec()]);
        assert_eq!(h.stats.rx_packets, 1);
        assert_eq!(h.stats.rx_bytes, 10);
        assert_eq!(h.stats.rx_cookie_discards, 1);
        assert_eq!(h.stats.rx_errors, 1);
    }
}

#[test]
fn truncated_and_misaddressed_packets_are_invalid() {
    let mut h = Harness::with(
        Encap::Udp,
        cookie(&[1, 2, 3, 4]),
        L2SpecType::Default,
        false,
        None,
    );
    let good = packet(
        Encap::Udp,
        cookie(&[1, 2, 3, 4]),
        L2SpecType::Default,
        None,
        b"x",
    );
    for cut in 0..(good.len() - 1) {
        h.feed_raw(&good[..cut]);
    }
    let mut other = good.clone();
    other[4..8].copy_from_slice(&(SID + 1).to_be_bytes());
    h.feed_raw(&other);
    assert!(h.out.is_empty());
    assert_eq!(h.stats.rx_invalid, (good.len() - 1) as u64 + 1);
    // The header alone (empty payload) is a valid, if odd, frame.
    h.feed_raw(&good[..good.len() - 1]);
    assert_eq!(h.out, vec![Vec::<u8>::new()]);
}

#[test]
fn recv_seq_requires_sequence_numbers() {
    let mut h = Harness::new(true, None);
    h.unsequenced(7);
    assert!(h.out.is_empty());
    assert_eq!(h.stats.rx_seq_discards, 1);
    assert_eq!(h.stats.rx_errors, 1);
    h.seq(0);
    assert_eq!(h.take(), vec![0]);
}

#[test]
fn no_sequencing_passes_everything() {
    let mut h = Harness::new(false, None);
    for tag in [5, 1, 9] {
        h.unsequenced(tag);
    }
    assert_eq!(h.take(), vec![5, 1, 9]);
    assert_eq!(h.stats.rx_packets, 3);
}

#[test]
fn in_order_packets_are_not_held() {
    let mut h = Harness::new(true, Some(T0));
    for ns in 1000..1010 {
        h.seq(ns);
        assert_eq!(h.rx.queued(), 0);
    }
    assert_eq!(h.take(), (1000..1010).collect::<Vec<_>>());
    assert_eq!(h.stats.rx_oos_packets, 0);
    assert_eq!(h.rx.expected_seq(), Some(1010));
}

#[test]
fn out_of_order_is_held_then_completed() {
    let mut h = Harness::new(true, Some(T0));
    h.seq(0);
    h.seq(2);
    h.seq(3);
    assert_eq!(h.take(), vec![0]);
    assert_eq!(h.rx.queued(), 2);
    h.advance(T0 - Duration::from_millis(1));
    assert!(h.take().is_empty(), "released before the timeout");
    h.seq(1);
    assert_eq!(h.take(), vec![1, 2, 3]);
    assert_eq!(h.rx.queued(), 0);
    assert_eq!(h.stats.rx_oos_packets, 1);
    assert_eq!(h.stats.rx_seq_discards, 0);
    assert_eq!(h.stats.rx_packets, 4);
}

#[test]
fn held_packets_are_released_at_timeout_and_late_ones_dropped() {
    let mut h = Harness::new(true, Some(T0));
    h.seq(10);
    h.seq(13);
    h.advance(Duration::from_millis(20));
    h.seq(12);
    assert_eq!(h.take(), vec![10]);
    assert_eq!(
        h.rx.next_deadline(),
        Some(h.now - Duration::from_millis(20) + T0)
    );
    // 13 expires first; 12 (held, before it) goes out with it.
    h.advance(T0 - Duration::from_millis(20) - Duration::from_millis(1));
    assert!(h.take().is_empty());
    h.advance(Duration::from_millis(1));
    assert_eq!(h.take(), vec![12, 13]);
    assert_eq!(h.rx.next_deadline(), None);
    // 11 was given up on: when it finally arrives it is too old.
    h.seq(11);
    assert!(h.take().is_empty());
    assert_eq!(h.stats.rx_seq_discards, 1);
    assert_eq!(h.stats.rx_oos_packets, 1);
    h.seq(14);
    assert_eq!(h.take(), vec![14]);
}

#[test]
fn timeout_releases_only_up_to_the_next_gap() {
    let mut h = Harness::new(true, Some(T0));
    h.seq(0);
    h.seq(2);
    h.advance(Duration::from_millis(50));
    h.seq(5);
    assert_eq!(h.take(), vec![0]);
    h.advance(T0 - Duration::from_millis(50));
    // 2 expired: give up on 1, deliver 2; 5 still has time, 3-4 may come.
    assert_eq!(h.take(), vec![2]);
    assert_eq!(h.rx.queued(), 1);
    h.seq(3);
    h.seq(4);
    assert_eq!(h.take(), vec![3, 4, 5]);
}

#[test]
fn duplicates_are_dropped() {
    let mut h = Harness::new(true, Some(T0));
    h.seq(0);
    h.seq(1);
    h.seq(1); // already delivered
    h.seq(3);
    h.seq(3); // already held
    h.seq(2);
    assert_eq!(h.take(), vec![0, 1, 2, 3]);
    assert_eq!(h.stats.rx_seq_discards, 2);
    assert_eq!(h.stats.rx_errors, 2);

    let mut strict = Harness::new(true, None);
    strict.seq(0);
    strict.seq(0);
    assert_eq!(strict.take(), vec![0]);
    assert_eq!(strict.stats.rx_seq_discards, 1);
}

#[test]
fn too_old_and_too_far_ahead_are_dropped() {
    let mut h = Harness::new(true, Some(T0));
    h.seq(100_000);
    h.seq(100_000 - 50);
    h.seq(100_000 + WINDOW + 10);
    assert_eq!(h.take(), vec![100_000]);
    assert_eq!(h.stats.rx_seq_discards, 2);
    assert_eq!(h.rx.queued(), 0);
}

#[test]
fn reordering_works_across_the_24_bit_wrap() {
    let mut h = Harness::new(true, Some(T0));
    h.seq(0xff_fffe);
    h.seq(0);
    h.seq(0xff_ffff);
    h.seq(2);
    h.seq(1);
    assert_eq!(h.take(), vec![0xff_fffe, 0xff_ffff, 0, 1, 2]);
    assert_eq!(h.stats.rx_oos_packets, 2);
    assert_eq!(h.stats.rx_seq_discards, 0);
    assert_eq!(h.rx.expected_seq(), Some(3));
    // Strict mode wraps too.
    let mut s = Harness::new(true, None);
    for ns in [0xff_fffe, 0xff_ffff, 0, 1] {
        s.seq(ns);
    }
    assert_eq!(s.take(), vec![0xff_fffe, 0xff_ffff, 0, 1]);
}

#[test]
fn strict_mode_drops_until_the_peer_is_followed() {
    let mut h = Harness::new(true, None);
    h.seq(0);
    h.seq(1);
    // 2 is lost; like the kernel, 3..=7 are dropped and 8 resynchronises.
    for ns in 3..=9 {
        h.seq(ns);
    }
    assert_eq!(h.take(), vec![0, 1, 8, 9]);
    assert_eq!(h.stats.rx_seq_discards, 5);
    assert_eq!(h.rx.queued(), 0);
}

#[test]
fn unsequenced_packet_keeps_its_place_behind_held_ones() {
    let mut h = Harness::new(false, Some(T0));
    h.seq(0);
    h.seq(2);
    h.unsequenced(0xaaaa);
    assert_eq!(h.take(), vec![0]);
    h.seq(1);
    assert_eq!(h.take(), vec![1, 2, 0xaaaa]);
}

#[test]
fn full_queue_gives_up_the_oldest_gap() {
    let mut h = Harness::new(true, Some(Duration::from_secs(10)));
    h.seq(0);
    // Hold REORDER_QUEUE_MAX packets behind a gap at 1.
    for ns in 2..(2 + REORDER_QUEUE_MAX as u32) {
        h.seq(ns);
    }
    assert_eq!(h.take(), vec![0]);
    assert_eq!(h.rx.queued(), REORDER_QUEUE_MAX);
    // One more (after another gap) forces the held run out.
    let next = 3 + REORDER_QUEUE_MAX as u32;
    h.seq(next);
    let got = h.take();
    assert_eq!(got.len(), REORDER_QUEUE_MAX);
    assert_eq!(got.first(), Some(&2));
    assert_eq!(h.rx.queued(), 1);
    // Buffers are recycled: the pool holds the released ones.
    assert!(h.rx.pool.len() >= REORDER_QUEUE_MAX - 1);
}

#[test]
fn unsequenced_flood_behind_a_gap_stays_within_the_bound() {
    let mut h = Harness::new(false, Some(Duration::from_secs(10)));
    h.seq(0);
    h.seq(2);
    assert_eq!(h.take(), vec![0]);
    let capacity = h.rx.queue.capacity();
    let flood = 3 * REORDER_QUEUE_MAX as u32;
    for tag in 0..flood {
        h.unsequenced(0x1_0000 + tag);
        assert!(h.rx.queued() <= REORDER_QUEUE_MAX, "after {tag}");
    }
    // Nothing grew, nothing was lost or reordered: the gap at 1 was given
    // up on and the unsequenced packets followed 2 in arrival order.
    assert_eq!(h.rx.queue.capacity(), capacity);
    h.advance(Duration::from_secs(11));
    let want: Vec<u32> = std::iter::once(2)
        .chain((0..flood).map(|t| 0x1_0000 + t))
        .collect();
    assert_eq!(h.take(), want);
    assert_eq!(h.rx.queued(), 0);
    assert_eq!(h.stats.rx_packets, 1 + u64::from(flood) + 1);
}

#[test]
fn send_seq_follows_the_peer_like_a_kernel_lac() {
    let mut h = Harness::new(false, None);
    h.seq(0);
    assert!(h.send_seq.load(Relaxed), "peer numbers: we start numbering");
    h.unsequenced(1);
    assert!(!h.send_seq.load(Relaxed), "peer stopped: we stop too");
    assert_eq!(h.take(), vec![0, 1]);
}

#[test]
fn tx_header_numbers_and_wraps() {
    let ck = cookie(&[0xde, 0xad, 0xbe, 0xef]);
    let mut tx = TxHeader::new(Encap::Udp, SID, ck, L2SpecType::Default).unwrap();
    assert_eq!(tx.len(), 4 + 4 + 4 + 4);
    tx.ns = SEQ_MASK - 1;
    let cfg = V3DataConfig {
        encap: Encap::Udp,
        cookie_len: 4,
        l2spec: L2SpecType::Default,
    };
    let mut seen = Vec::new();
    for _ in 0..3 {
        let mut buf = [0u8; 16];
        tx.write(&mut buf, true);
        let (repr, off) = V3DataRepr::parse(&buf, &cfg).unwrap();
        assert_eq!(off, 16);
        assert_eq!(repr.session_id, SID);
        assert_eq!(repr.cookie, ck);
        seen.push(repr.seq);
    }
    assert_eq!(seen, vec![Some(SEQ_MASK - 1), Some(SEQ_MASK), Some(0)]);
    let mut buf = [0xffu8; 16];
    tx.write(&mut buf, false);
    assert_eq!(&buf[12..], &[0, 0, 0, 0], "no S bit, no number");
    assert_eq!(
        tx.next_seq(),
        1,
        "unnumbered packets do not consume numbers"
    );
}

#[test]
fn tx_header_layouts() {
    let ip = TxHeader::new(Encap::Ip, 7, cookie(&[]), L2SpecType::None).unwrap();
    assert_eq!(ip.len(), 4);
    let udp8 = TxHeader::new(Encap::Udp, 7, cookie(&[1; 8]), L2SpecType::None).unwrap();
    assert_eq!(udp8.len(), 16);
    assert_eq!(&udp8.template[..8], &[0, 3, 0, 0, 0, 0, 0, 7]);
    assert!(matches!(
        TxHeader::new(Encap::Ip, 0, cookie(&[]), L2SpecType::None),
        Err(DataplaneError::Invalid {
            field: "peer_session_id",
            ..
        })
    ));
}

#[test]
fn tx_then_rx_round_trip() {
    for encap in [Encap::Ip, Encap::Udp] {
        for ck in [
            cookie(&[]),
            cookie(&[1, 2, 3, 4]),
            cookie(&[1, 2, 3, 4, 5, 6, 7, 8]),
        ] {
            for l2spec in [L2SpecType::None, L2SpecType::Default] {
                let mut tx = TxHeader::new(encap, SID, ck, l2spec).unwrap();
                let mut h = Harness::with(encap, ck, l2spec, false, None);
                let numbered = l2spec == L2SpecType::Default;
                for i in 0..3u32 {
                    let mut pkt = vec![0u8; tx.len() + 4];
                    let n = tx.len();
                    tx.write(&mut pkt[..n], numbered);
                    pkt[n..].copy_from_slice(&i.to_be_bytes());
                    h.feed_raw(&pkt);
                }
                assert_eq!(h.take(), vec![0, 1, 2], "{encap:?} {} {l2spec:?}", ck.len());
                assert_eq!(h.stats.rx_errors, 0);
            }
        }
    }
}

#[test]
fn default_mtu_matches_kernel_overheads() {
    // IPv4/UDP, no cookie, default sublayer: 20 + 8 + 4 + 4 + 4 + 14 = 54.
    assert_eq!(default_mtu(Encap::Udp, false, 0, L2SpecType::Default), 1446);
    // IPv4/IP, no cookie, default sublayer (kernel l2tp_eth gives 1458).
    assert_eq!(default_mtu(Encap::Ip, false, 0, L2SpecType::Default), 1458);
    // IPv6/IP, 8-byte cookie, no sublayer: 40 + 4 + 8 + 14 = 66.
    assert_eq!(default_mtu(Encap::Ip, true, 8, L2SpecType::None), 1434);
    // IPv6/UDP, 4-byte cookie, default sublayer: 40 + 8 + 4 + 4 + 4 + 4 + 14 = 78.
    assert_eq!(default_mtu(Encap::Udp, true, 4, L2SpecType::Default), 1422);
}
