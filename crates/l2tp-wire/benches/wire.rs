//! Per-packet cost of the codec: data headers on the fast path, control
//! messages on the slow path.
//!
//! `cargo bench -p l2tp-wire -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use l2tp_wire::data::{self, Cookie, Encap, L2SpecType, V3DataConfig, V3DataRepr};
use l2tp_wire::message::{verify_digest, Message, Security};
use l2tp_wire::testing::{v2_messages, v3_messages};
use l2tp_wire::v2::DataRepr;

fn v3_data(c: &mut Criterion) {
    let mut g = c.benchmark_group("v3_data");
    g.throughput(Throughput::Elements(1));
    for (name, encap) in [("ip", Encap::Ip), ("udp", Encap::Udp)] {
        let r = V3DataRepr {
            session_id: 0x1234_5678,
            cookie: Cookie::from_u64(0x0102_0304_0506_0708),
            seq: Some(42),
            l2spec: L2SpecType::Default,
        };
        let cfg = V3DataConfig {
            encap,
            cookie_len: 8,
            l2spec: L2SpecType::Default,
        };
        let mut pkt = vec![0u8; 1514];
        r.emit(encap, &mut pkt).unwrap();
        g.bench_function(format!("parse_{name}_cookie8_l2spec"), |b| {
            b.iter(|| V3DataRepr::parse(black_box(&pkt), black_box(&cfg)).unwrap())
        });
        g.bench_function(format!("emit_{name}_cookie8_l2spec"), |b| {
            b.iter(|| black_box(&r).emit(encap, black_box(&mut pkt[..])).unwrap())
        });
        g.bench_function(format!("session_id_{name}"), |b| {
            b.iter(|| data::v3_session_id(black_box(&pkt), encap).unwrap())
        });
    }
    g.finish();
}

fn v2_data(c: &mut Criterion) {
    let mut g = c.benchmark_group("v2_data");
    g.throughput(Throughput::Elements(1));
    let r = DataRepr {
        length: None,
        tunnel_id: 4711,
        session_id: 42,
        ns_nr: Some((7, 0)),
        offset: None,
        priority: false,
    }
    .with_payload_len(1400)
    .unwrap();
    let mut pkt = vec![0u8; r.header_len() + 1400];
    r.emit_bytes(&mut pkt).unwrap();
    g.bench_function("parse_len_seq", |b| {
        b.iter(|| DataRepr::parse_bytes(black_box(&pkt)).unwrap())
    });
    g.bench_function("emit_len_seq", |b| {
        b.iter(|| black_box(&r).emit_bytes(black_box(&mut pkt[..])).unwrap())
    });
    g.finish();
}

fn control(c: &mut Criterion) {
    let mut g = c.benchmark_group("control");
    g.throughput(Throughput::Elements(1));
    let (_, sccrq) = v2_messages().into_iter().next().unwrap();
    let bytes = sccrq.to_bytes(&Security::default()).unwrap();
    assert_eq!(sccrq.avps.len(), 11);
    g.bench_function("parse_v2_sccrq_11_avps", |b| {
        b.iter(|| Message::parse(black_box(&bytes)).unwrap())
    });
    g.bench_function("emit_v2_sccrq_11_avps", |b| {
        b.iter(|| black_box(&sccrq).to_bytes(&Security::default()).unwrap())
    });
    let (_, sender, icrq) = v3_messages()
        .into_iter()
        .find(|(n, _, _)| *n == "v3-ICRQ")
        .unwrap();
    let sec = sender.security();
    let peer = sender.peer_security();
    let v3 = icrq.to_bytes(&sec).unwrap();
    assert_eq!(icrq.avps.len(), 16);
    g.bench_function("parse_v3_icrq_16_avps", |b| {
        b.iter(|| Message::parse(black_box(&v3)).unwrap())
    });
    g.bench_function("verify_digest_v3_icrq_hmac_md5", |b| {
        b.iter(|| verify_digest(black_box(&v3), &peer).unwrap())
    });
    g.bench_function("emit_v3_icrq_with_digest", |b| {
        b.iter(|| black_box(&icrq).to_bytes(&sec).unwrap())
    });
    g.finish();
}

criterion_group!(benches, v3_data, v2_data, control);
criterion_main!(benches);
