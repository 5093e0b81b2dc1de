//! AVP list walking and typed decoding: the iterator terminates without
//! panicking, and every typed value re-encodes to the bytes it came from.
#![no_main]

use l2tp_wire::avp::{self, AvpValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let mut consumed = 0usize;
    for raw in avp::iter(body) {
        let Ok(raw) = raw else { break };
        assert_eq!(raw.offset, consumed);
        consumed += raw.len();
        assert!(consumed <= body.len());
        if let Ok(v) = AvpValue::decode(raw.vendor_id, raw.attr_type, raw.value) {
            assert_eq!(v.vendor_attr(), (raw.vendor_id, raw.attr_type));
            let _ = v.value_json();
            // Reserved fields are normalised to zero on encode, so compare
            // values, not bytes.
            let again = AvpValue::decode(raw.vendor_id, raw.attr_type, &v.to_bytes())
                .expect("re-encoded value decodes");
            assert_eq!(again, v);
        }
    }
});
