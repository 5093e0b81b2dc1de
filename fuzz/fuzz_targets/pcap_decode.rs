//! The whole `l2tp decode` path: pcap/pcapng bytes -> frames -> link/IP/UDP
//! dissection -> L2TP codec -> text/JSON rendering. Includes the CLI's own
//! decode.rs so exactly the shipped code runs. No panics; every JSON line
//! the decoder prints is one line.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/l2tp-cli/src/decode.rs"]
mod decode;

fuzz_target!(|input: &[u8]| {
    // The first byte picks the decoder options; the rest is the capture file.
    let Some((&sel, capture)) = input.split_first() else {
        return;
    };
    let opts = decode::Options {
        json: sel & 1 != 0,
        cookie_len: [0, 4, 8, 0][usize::from((sel >> 1) & 3)],
        l2spec: if sel & 8 != 0 {
            l2tp_wire::data::L2SpecType::Default
        } else {
            l2tp_wire::data::L2SpecType::None
        },
        ports: if sel & 16 != 0 {
            vec![5000]
        } else {
            Vec::new()
        },
        secret: (sel & 32 != 0).then(|| b"fuzz-secret".to_vec()),
        file: String::new(),
    };
    let mut out = Vec::new();
    let result = decode::decode_capture(capture, &opts, &mut out);
    if let Ok(summary) = result {
        let lines = out.iter().filter(|&&b| b == b'\n').count() as u64;
        assert_eq!(lines, summary.l2tp, "one line per L2TP packet");
        assert!(summary.l2tp <= summary.frames);
    }
});
