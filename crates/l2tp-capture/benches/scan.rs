//! Cost of reading a capture and locating L2TP, per frame.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use l2tp_capture::{
    ip115_frame, udp_frame, CaptureReader, Endian, Finding, L2tpFinder, LinkType, PcapWriter,
    PcapngWriter, Timestamp,
};
use std::hint::black_box;

const FRAMES: usize = 1000;

fn frames() -> Vec<Vec<u8>> {
    // A v3 data packet with a 4-byte cookie, sublayer and a 64-byte payload.
    let mut payload = vec![0, 0, 0x12, 0x34, 1, 2, 3, 4, 0x40, 0, 0, 1];
    payload.resize(76, 0xab);
    (0..FRAMES)
        .map(|i| {
            let (s, d) = if i % 2 == 0 {
                ("198.18.0.1", "198.18.0.2")
            } else {
                ("2001:db8::1", "2001:db8::2")
            };
            let (s, d) = (s.parse().unwrap(), d.parse().unwrap());
            if i % 4 < 2 {
                udp_frame(s, d, 1701, 1701, &payload)
            } else {
                ip115_frame(s, d, &payload)
            }
        })
        .collect()
}

fn scan(file: &[u8], finder: &L2tpFinder) -> usize {
    let mut n = 0;
    for f in CaptureReader::new(file).unwrap() {
        if let Ok(Finding::L2tp(p)) = finder.find_in_frame(&f.unwrap()) {
            n += p.payload.len();
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let frames = frames();
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).unwrap();
    for f in &frames {
        w.write_frame(Timestamp::new(1, 0), f).unwrap();
    }
    let pcap = w.into_inner().unwrap();
    let mut w = PcapngWriter::new(Vec::new(), Endian::Little).unwrap();
    w.add_interface(LinkType::ETHERNET, false).unwrap();
    for f in &frames {
        w.write_frame(0, Timestamp::new(1, 0), f).unwrap();
    }
    let pcapng = w.into_inner().unwrap();
    let finder = L2tpFinder::new();

    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Elements(FRAMES as u64));
    g.bench_function("pcap_read_and_find", |b| {
        b.iter(|| scan(black_box(&pcap), &finder))
    });
    g.bench_function("pcapng_read_and_find", |b| {
        b.iter(|| scan(black_box(&pcapng), &finder))
    });
    g.bench_function("find_only", |b| {
        b.iter(|| {
            let mut n = 0;
            for f in &frames {
                if let Ok(Finding::L2tp(p)) = finder.find(LinkType::ETHERNET, black_box(f)) {
                    n += p.payload.len();
                }
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
