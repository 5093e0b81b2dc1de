//! Reading frames and locating L2TP allocate nothing per packet: checked
//! with a counting global allocator over pcap and pcapng files.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use l2tp_capture::{
    ip115_frame, udp_frame, CaptureReader, Endian, Finding, L2tpFinder, LinkType, PcapWriter,
    PcapngWriter, Timestamp,
};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn frames() -> Vec<Vec<u8>> {
    let payload = [
        0xc8, 0x02, 0x00, 0x0c, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    ];
    let mut v = Vec::new();
    for i in 0..500u16 {
        let (s, d) = if i % 2 == 0 {
            ("198.18.0.1", "198.18.0.2")
        } else {
            ("2001:db8::1", "2001:db8::2")
        };
        v.push(udp_frame(
            s.parse().unwrap(),
            d.parse().unwrap(),
            1701,
            1701,
            &payload,
        ));
        v.push(ip115_frame(
            s.parse().unwrap(),
            d.parse().unwrap(),
            &payload,
        ));
    }
    v
}

/// Iterates the file and finds L2TP in each frame; returns the number found.
fn scan(file: &[u8], finder: &L2tpFinder) -> usize {
    let mut found = 0;
    for f in CaptureReader::new(file).unwrap() {
        if let Ok(Finding::L2tp(p)) = finder.find_in_frame(&f.unwrap()) {
            found += usize::from(!p.payload.is_empty());
        }
    }
    found
}

#[test]
fn no_allocation_per_frame() {
    let frames = frames();
    let mut w = PcapWriter::new(Vec::new(), LinkType::ETHERNET).unwrap();
    for f in &frames {
        w.write_frame(Timestamp::new(1, 0), f).unwrap();
    }
    let pcap = w.into_inner().unwrap();
    let mut w = PcapngWriter::new(Vec::new(), Endian::Big).unwrap();
    w.add_interface(LinkType::ETHERNET, true).unwrap();
    for f in &frames {
        w.write_frame(0, Timestamp::new(1, 0), f).unwrap();
    }
    let pcapng = w.into_inner().unwrap();
    let finder = L2tpFinder::with_ports(&[5000]);

    let before = ALLOCS.load(Ordering::Relaxed);
    let n = scan(&pcap, &finder);
    let pcap_allocs = ALLOCS.load(Ordering::Relaxed) - before;
    assert_eq!(n, frames.len());
    assert_eq!(pcap_allocs, 0, "pcap: allocations while scanning");

    let before = ALLOCS.load(Ordering::Relaxed);
    let n = scan(&pcapng, &finder);
    let ng_allocs = ALLOCS.load(Ordering::Relaxed) - before;
    assert_eq!(n, frames.len());
    // One interface table entry, nothing per packet.
    assert!(
        ng_allocs <= 1,
        "pcapng: {ng_allocs} allocations for {n} frames"
    );
}
