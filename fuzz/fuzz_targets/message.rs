//! Whole control messages, v2 and v3, with and without a secret and with
//! and without digest verification: no panics, and anything that parses
//! re-emits to bytes that parse back to the same message (digests aside,
//! since emitting recomputes them).
#![no_main]

use l2tp_wire::avp::AvpValue;
use l2tp_wire::control::strip_ip_prefix;
use l2tp_wire::message::{verify_digest, Message, Security};
use libfuzzer_sys::fuzz_target;

fn without_digests(m: &Message) -> Vec<l2tp_wire::avp::Avp> {
    m.avps
        .iter()
        .filter(|a| !matches!(a.value, AvpValue::MessageDigest { .. }))
        .cloned()
        .collect()
}

fuzz_target!(|input: &[u8]| {
    let Some((&sel, msg)) = input.split_first() else {
        return;
    };
    let sec = if sel & 1 == 1 {
        Security {
            secret: Some(b"fuzz-secret"),
            local_nonce: b"local-nonce",
            remote_nonce: b"remote-nonce",
        }
    } else {
        Security::default()
    };
    let msg = if sel & 4 == 4 {
        // L2TPv3 over IP framing.
        match strip_ip_prefix(msg) {
            Ok(m) => m,
            Err(_) => return,
        }
    } else {
        msg
    };
    if sel & 2 == 2 {
        let _ = verify_digest(msg, &sec);
    }
    let _ = Message::parse_with(msg, &sec);
    if let Ok(m) = Message::parse_unvalidated(msg, &sec) {
        let _ = m.to_json();
        let _ = m.validate();
        let _ = m.unknown_mandatory();
        let bytes = m.to_bytes(&sec).expect("a parsed message re-emits");
        assert_eq!(bytes.len(), m.buffer_len());
        let again = Message::parse_unvalidated(&bytes, &sec).expect("re-emitted message parses");
        assert_eq!(without_digests(&again), without_digests(&m));
        assert_eq!(again.header.tunnel_id, m.header.tunnel_id);
        assert_eq!(
            (again.header.ns, again.header.nr),
            (m.header.ns, m.header.nr)
        );
        if m.avps.iter().any(|a| {
            matches!(
                a.value,
                AvpValue::MessageDigest {
                    digest_type: 0 | 1,
                    ..
                }
            )
        }) {
            // Our own output must verify under the reversed nonces.
            let rx = Security {
                local_nonce: sec.remote_nonce,
                remote_nonce: sec.local_nonce,
                ..sec
            };
            assert_eq!(verify_digest(&bytes, &rx), Ok(()));
        }
    }
});
