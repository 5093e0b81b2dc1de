//! Hidden AVP (un)hiding: unhide never panics on arbitrary data, and
//! hide/unhide round-trips any value, secret, vector and padding.
#![no_main]

use l2tp_wire::avp::hidden;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    if input.len() < 5 {
        return;
    }
    let attr = u16::from_be_bytes([input[0], input[1]]);
    let secret_len = usize::from(input[2] % 32);
    let rv_len = usize::from(input[3] % 32);
    let pad = usize::from(input[4] % 48);
    let rest = &input[5..];
    let (secret, rest) = rest.split_at(secret_len.min(rest.len()));
    let (rv, value) = rest.split_at(rv_len.min(rest.len()));

    let _ = hidden::unhide(attr, secret, rv, value);
    let _ = hidden::unhide(attr, &hidden::v3_hiding_key(secret), rv, value);
    match hidden::hide(attr, secret, rv, value, pad) {
        Ok(h) => {
            assert_eq!(h.len(), 2 + value.len() + pad);
            assert_eq!(
                hidden::unhide(attr, secret, rv, &h).expect("unhides"),
                value
            );
        }
        Err(_) => assert!(2 + value.len() + pad > l2tp_wire::avp::MAX_VALUE_LEN),
    }
});
