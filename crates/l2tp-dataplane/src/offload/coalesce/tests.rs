use super::*;
use crate::offload::segment::plan;
use crate::offload::testutil::{build, check, naive_sum, payload, Spec};
use crate::offload::vnet::GSO_NONE;

/// What reached the "device".
#[derive(Default)]
struct Sink {
    out: Vec<(u32, VnetHdr, Vec<u8>, usize)>,
}

impl FrameSink for Sink {
    fn write(&mut self, key: u32, _hash: u32, segs: usize, parts: &[&[u8]]) -> bool {
        let all: Vec<u8> = parts.iter().flat_map(|p| p.iter().copied()).collect();
        let h = VnetHdr::parse(&all).unwrap();
        self.out.push((key, h, all[VNET_HDR_LEN..].to_vec(), segs));
        true
    }
}

/// A TCP stream cut like a sender's TSO would: `n` segments of `mss`
/// (the last `last` bytes long), consecutive sequence numbers and IDs.
fn stream(base: &Spec, mss: usize, n: usize, last: usize) -> Vec<Vec<u8>> {
    let data = payload(mss * (n - 1) + last, 9);
    (0..n)
        .map(|i| {
            let end = if i + 1 == n {
                data.len()
            } else {
                (i + 1) * mss
            };
            build(&Spec {
                seq: base.seq.wrapping_add((i * mss) as u32),
                ip_id: base.ip_id.wrapping_add(i as u16),
                payload: data[i * mss..end].to_vec(),
                ..base.clone()
            })
        })
        .collect()
}

/// Feeds frames (all lying in one batch buffer, as on the receive path).
fn run(frames: &[Vec<u8>], keys: &[u32]) -> Sink {
    let batch: Vec<u8> = frames.iter().flat_map(|f| f.iter().copied()).collect();
    let mut c = Coalescer::new(true);
    let mut sink = Sink::default();
    let mut off = 0;
    for (i, f) in frames.iter().enumerate() {
        let key = keys.get(i).copied().unwrap_or(1);
        c.push(key, &batch[off..off + f.len()], &batch, &mut sink);
        off += f.len();
    }
    c.flush(&batch, &mut sink);
    assert_eq!(c.pending(), 0);
    sink
}

/// A merged frame: lengths and the partial checksum are right, and cutting
/// it again gives back exactly the frames that went in.
fn assert_merged(h: &VnetHdr, merged: &[u8], originals: &[Vec<u8>]) {
    assert_eq!(h.flags, F_NEEDS_CSUM);
    let seg = plan(h, merged).expect("merged frame can be segmented");
    assert_eq!(seg.count(), originals.len());
    // The partial checksum is the pseudo-header sum over the whole length.
    let cs = usize::from(h.csum_start);
    let at = cs + usize::from(h.csum_offset);
    let field = u16::from_be_bytes([merged[at], merged[at + 1]]);
    let p = check(&originals[0]);
    let pseudo: Vec<u8> = if p.v6 {
        let mut x = merged[p.l3 + 8..p.l3 + 40].to_vec();
        x.extend_from_slice(&((merged.len() - cs) as u32).to_be_bytes());
        x.extend_from_slice(&[0, 0, 0, if p.udp { 17 } else { 6 }]);
        x
    } else {
        assert_eq!(
            naive_sum(&[&merged[p.l3..p.l4]]),
            0xffff,
            "IPv4 header checksum"
        );
        let tot = u16::from_be_bytes([merged[p.l3 + 2], merged[p.l3 + 3]]);
        assert_eq!(usize::from(tot), merged.len() - p.l3);
        let mut x = merged[p.l3 + 12..p.l3 + 20].to_vec();
        x.extend_from_slice(&[0, if p.udp { 17 } else { 6 }]);
        x.extend_from_slice(&((merged.len() - cs) as u16).to_be_bytes());
        x
    };
    assert_eq!(field, naive_sum(&[&pseudo]), "partial checksum");
    for (i, o) in originals.iter().enumerate() {
        let mut again = vec![0u8; seg.header_len()];
        let r = seg.write_headers(merged, i, &mut again);
        again.extend_from_slice(&merged[r]);
        assert_eq!(&again, o, "segment {i} differs after a round trip");
    }
}

#[test]
fn tcp_stream_merges_and_round_trips() {
    let ts = vec![1, 1, 8, 10, 0, 1, 2, 3, 4, 5, 6, 7];
    for (v6, tags) in [
        (false, vec![]),
        (true, vec![]),
        (false, vec![0x8100]),
        (true, vec![0x88a8, 0x8100]),
    ] {
        let base = Spec {
            v6,
            tags,
            tcp_opts: ts.clone(),
            ..Spec::default()
        };
        let mut frames = stream(&base, 1000, 10, 400);
        // PSH on the last, as a sender's last segment of a write has.
        let last = frames.len() - 1;
        let mut s = base.clone();
        s.seq = base.seq.wrapping_add(9000);
        s.ip_id = base.ip_id.wrapping_add(9);
        s.flags = 0x18;
        s.payload = check(&frames[last]).payload;
        frames[last] = build(&s);
        let sink = run(&frames, &[]);
        assert_eq!(sink.out.len(), 1, "one frame for the whole run");
        let (key, h, merged, segs) = &sink.out[0];
        assert_eq!((*key, *segs), (1, 10));
        assert_eq!(h.gso_type, if v6 { GSO_TCPV6 } else { GSO_TCPV4 });
        assert_eq!(h.gso_size, 1000);
        assert_merged(h, merged, &frames);
    }
}

#[test]
fn udp_datagrams_of_equal_size_merge() {
    for v6 in [false, true] {
        let base = Spec {
            udp: true,
            v6,
            ..Spec::default()
        };
        let frames: Vec<Vec<u8>> = (0..5)
            .map(|i| {
                build(&Spec {
                    ip_id: base.ip_id.wrapping_add(i),
                    payload: payload(if i == 4 { 20 } else { 64 }, u32::from(i)),
                    ..base.clone()
                })
            })
            .collect();
        let sink = run(&frames, &[]);
        assert_eq!(sink.out.len(), 1);
        let (_, h, merged, segs) = &sink.out[0];
        assert_eq!(*segs, 5);
        assert_eq!((h.gso_type, h.gso_size), (GSO_UDP_L4, 64));
        assert_merged(h, merged, &frames);
    }
}

/// Frames out, in order, as (gso type, segments).
fn shape(sink: &Sink) -> Vec<(u8, usize)> {
    sink.out
        .iter()
        .map(|(_, h, _, n)| (h.gso_type, *n))
        .collect()
}

#[test]
fn refuses_sequence_gaps() {
    let mut frames = stream(&Spec::default(), 1000, 6, 1000);
    frames.remove(3);
    let sink = run(&frames, &[]);
    assert_eq!(shape(&sink), vec![(GSO_TCPV4, 3), (GSO_TCPV4, 2)]);
    assert_merged(&sink.out[0].1, &sink.out[0].2, &frames[..3]);
    assert_merged(&sink.out[1].1, &sink.out[1].2, &frames[3..]);
}

#[test]
fn refuses_other_flows_but_merges_each() {
    let a = stream(&Spec::default(), 1000, 4, 1000);
    let b = stream(
        &Spec {
            sport: 40001,
            seq: 5,
            ..Spec::default()
        },
        1000,
        4,
        1000,
    );
    let mixed: Vec<Vec<u8>> = a
        .iter()
        .zip(b.iter())
        .flat_map(|(x, y)| [x.clone(), y.clone()])
        .collect();
    let sink = run(&mixed, &[]);
    assert_eq!(shape(&sink), vec![(GSO_TCPV4, 4), (GSO_TCPV4, 4)]);
    assert_merged(&sink.out[0].1, &sink.out[0].2, &a);
    assert_merged(&sink.out[1].1, &sink.out[1].2, &b);
    // The same flow in two sessions is two flows.
    let sink = run(&[a[0].clone(), a[1].clone()], &[1, 2]);
    assert_eq!(shape(&sink), vec![(GSO_NONE, 1), (GSO_NONE, 1)]);
    assert_eq!(sink.out[1].0, 2);
}

#[test]
fn refuses_flags_options_and_odd_headers() {
    let base = Spec::default();
    let good = stream(&base, 1000, 3, 1000);
    let variant = |f: &dyn Fn(&mut Spec)| -> Vec<u8> {
        let mut s = base.clone();
        s.seq = base.seq.wrapping_add(3000);
        s.ip_id = base.ip_id.wrapping_add(3);
        s.payload = payload(1000, 1);
        f(&mut s);
        build(&s)
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("FIN", variant(&|s| s.flags = 0x11)),
        ("SYN", variant(&|s| s.flags = 0x12)),
        ("RST", variant(&|s| s.flags = 0x14)),
        ("URG", variant(&|s| s.flags = 0x30)),
        ("CWR", variant(&|s| s.flags = 0x90)),
        (
            "other TCP options",
            variant(&|s| s.tcp_opts = vec![1, 1, 1, 1]),
        ),
        ("other ack", variant(&|s| s.ack = 78)),
        ("other window", variant(&|s| s.window = 501)),
        (
            "IP ID not +1",
            variant(&|s| s.ip_id = base.ip_id.wrapping_add(9)),
        ),
        ("other TOS", variant(&|s| s.tos = 4)),
        ("other TTL", variant(&|s| s.ttl = 63)),
        ("IPv4 options", variant(&|s| s.ip_opts = vec![1, 1, 1, 0])),
        ("bigger segment", variant(&|s| s.payload = payload(1001, 1))),
    ];
    for (what, odd) in cases {
        let mut frames = good.clone();
        frames.push(odd);
        let sink = run(&frames, &[]);
        let sh = shape(&sink);
        assert_eq!(sh[0], (GSO_TCPV4, 3), "{what}: the good run is merged");
        assert_eq!(
            sh.iter().map(|s| s.1).sum::<usize>(),
            4,
            "{what}: every frame out once"
        );
        assert_eq!(sh.len(), 2, "{what}: the odd frame is not merged");
        assert_eq!(sink.out[1].2, frames[3], "{what}: written as it came");
    }
}

#[test]
fn bad_checksum_is_passed_on_unverified_and_unmerged() {
    let mut frames = stream(&Spec::default(), 1000, 3, 1000);
    let n = frames[1].len();
    frames[1][n - 1] ^= 0xff;
    let sink = run(&frames, &[]);
    assert_eq!(
        shape(&sink),
        vec![(GSO_NONE, 1), (GSO_NONE, 1), (GSO_NONE, 1)]
    );
    assert_eq!(sink.out[0].1.flags, F_DATA_VALID);
    assert_eq!(sink.out[1].1.flags, 0, "the host must check it itself");
    assert_eq!(sink.out[1].2, frames[1]);
}

#[test]
fn limits_segments_and_size() {
    let frames = stream(&Spec::default(), 100, 70, 100);
    let sink = run(&frames, &[]);
    assert_eq!(shape(&sink), vec![(GSO_TCPV4, 64), (GSO_TCPV4, 6)]);
    let frames = stream(&Spec::default(), 9000, 10, 9000);
    let sink = run(&frames, &[]);
    let sh = shape(&sink);
    assert_eq!(sh, vec![(GSO_TCPV4, 7), (GSO_TCPV4, 3)]);
    assert!(sink.out.iter().all(|o| o.2.len() - 14 <= 65_535));
}

#[test]
fn other_frames_keep_their_place_in_the_session() {
    let tcp = stream(&Spec::default(), 1000, 3, 1000);
    let mut arp = vec![0xff; 6];
    arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
    arp.extend_from_slice(&[0; 28]);
    let frames = vec![tcp[0].clone(), tcp[1].clone(), arp.clone(), tcp[2].clone()];
    let sink = run(&frames, &[]);
    assert_eq!(
        shape(&sink),
        vec![(GSO_TCPV4, 2), (GSO_NONE, 1), (GSO_NONE, 1)]
    );
    assert_eq!(sink.out[1].2, arp);
    assert_eq!(sink.out[1].1, VnetHdr::default());
}

#[test]
fn frames_outside_the_batch_are_copied() {
    let frames = stream(&Spec::default(), 1000, 4, 700);
    let mut c = Coalescer::new(true);
    let mut sink = Sink::default();
    for f in &frames {
        let copy = f.clone();
        c.push(1, &copy, &[], &mut sink);
        // `copy` is gone: the coalescer must not refer to it.
    }
    c.flush(&[], &mut sink);
    assert_eq!(sink.out.len(), 1);
    assert_merged(&sink.out[0].1, &sink.out[0].2, &frames);
}

#[test]
fn many_flows_evict_the_oldest() {
    let mut frames = Vec::new();
    for f in 0..(MAX_ENTRIES as u16 + 4) {
        frames.extend(stream(
            &Spec {
                sport: 1000 + f,
                ..Spec::default()
            },
            500,
            2,
            500,
        ));
    }
    let sink = run(&frames, &[]);
    assert_eq!(sink.out.len(), MAX_ENTRIES + 4);
    assert!(sink.out.iter().all(|o| o.3 == 2));
}

#[test]
fn junk_never_panics() {
    let mut c = Coalescer::new(true);
    let mut sink = Sink::default();
    let good = build(&Spec {
        payload: payload(100, 1),
        ..Spec::default()
    });
    for cut in 0..good.len() {
        c.push(1, &good[..cut], &[], &mut sink);
    }
    for len in 0..100usize {
        let junk: Vec<u8> = (0..len).map(|i| (i * 131 + len) as u8).collect();
        c.push(2, &junk, &[], &mut sink);
    }
    c.flush(&[], &mut sink);
}

/// Frames come out of the session's sequencing in order: packets that
/// arrived out of order are merged once reordered, and a given-up gap
/// (a lost packet) is never merged across.
#[test]
fn merges_after_reordering_but_not_across_a_lost_packet() {
    use crate::core::{RxConfig, RxSession, TxHeader};
    use crate::{Cookie, Counters, Encap, L2SpecType};
    use std::sync::atomic::AtomicBool;
    use std::time::{Duration, Instant};

    let frames = stream(&Spec::default(), 1000, 6, 1000);
    let mut tx = TxHeader::new(
        Encap::Udp,
        5,
        Cookie::new(&[]).unwrap(),
        L2SpecType::Default,
    )
    .unwrap();
    let pkts: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            let mut p = vec![0u8; tx.len()];
            tx.write(&mut p, true);
            p.extend_from_slice(f);
            p
        })
        .collect();
    let cfg = RxConfig {
        encap: Encap::Udp,
        session_id: 5,
        peer_cookie: Cookie::new(&[]).unwrap(),
        l2spec: L2SpecType::Default,
        recv_seq: true,
        reorder_timeout: Some(Duration::from_millis(100)),
    };
    let send_seq = AtomicBool::new(true);
    let now = Instant::now();

    let run = |order: &[usize], later: Option<Instant>| -> Sink {
        let mut rx = RxSession::new(cfg);
        let mut c = Coalescer::new(true);
        let mut sink = Sink::default();
        let mut rec = Counters::default();
        for &i in order {
            rx.receive(&pkts[i], now, &send_seq, &mut rec, &mut |f: &[u8]| {
                c.push(1, f, &[], &mut sink);
                true
            });
        }
        if let Some(t) = later {
            rx.poll(t, &mut rec, &mut |f: &[u8]| {
                c.push(1, f, &[], &mut sink);
                true
            });
        }
        c.flush(&[], &mut sink);
        sink
    };

    let sink = run(&[0, 2, 1, 3, 5, 4], None);
    assert_eq!(shape(&sink), vec![(GSO_TCPV4, 6)]);
    assert_merged(&sink.out[0].1, &sink.out[0].2, &frames);

    // Packet 2 never comes: 3..5 wait, then the timeout gives up on it.
    let sink = run(&[0, 1, 3, 4, 5], Some(now + Duration::from_secs(1)));
    assert_eq!(shape(&sink), vec![(GSO_TCPV4, 2), (GSO_TCPV4, 3)]);
    assert_merged(&sink.out[0].1, &sink.out[0].2, &frames[..2]);
    assert_merged(&sink.out[1].1, &sink.out[1].2, &frames[3..]);
}
