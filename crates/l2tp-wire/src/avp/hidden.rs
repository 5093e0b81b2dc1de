//! Hidden AVP values (RFC 2661 4.3, RFC 3931 5.3).
//!
//! The cleartext value is prefixed with its 2-byte length, optionally
//! padded, and XORed with an MD5 keystream: b1 = MD5(type + key + RV),
//! bi = MD5(key + c(i-1)). For L2TPv2 `key` is the shared secret itself;
//! for L2TPv3 it is `HMAC-MD5(secret, 0x01)` ([`v3_hiding_key`]).

use hmac::{KeyInit, Mac};
use md5::{Digest, Md5};

use crate::error::{Error, Result};

const BLOCK: usize = 16;

/// CHAP-style Challenge Response (RFC 2661 4.4.3, 5.1.1): MD5 of the
/// responding message's type as one octet (2 for SCCRP, 3 for SCCCN), the
/// shared secret and the peer's challenge.
pub fn challenge_response(message_type: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update([message_type]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}

/// L2TPv3 hiding key: HMAC-MD5 of the single octet 1 under the secret.
pub fn v3_hiding_key(secret: &[u8]) -> [u8; 16] {
    hmac_md5(secret, &[1])
}

pub(crate) fn hmac_md5(key: &[u8], data: &[u8]) -> [u8; 16] {
    let mut m =
        <hmac::Hmac<Md5> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable_hmac());
    m.update(data);
    m.finalize().into_bytes().into()
}

// HMAC accepts keys of any length; this only exists so the `Result` from
// `new_from_slice` needs no `unwrap`.
#[cold]
fn unreachable_hmac() -> hmac::Hmac<Md5> {
    <hmac::Hmac<Md5> as KeyInit>::new(&Default::default())
}

/// XORs `data` in place with the keystream; `cipher_of` says whether the
/// chaining input is `data` after (hide) or before (unhide) the XOR.
fn keystream_xor(attr_type: u16, key: &[u8], rv: &[u8], data: &mut [u8], hiding: bool) {
    let mut prev = [0u8; BLOCK];
    for (i, chunk) in data.chunks_mut(BLOCK).enumerate() {
        let mut h = Md5::new();
        if i == 0 {
            h.update(attr_type.to_be_bytes());
            h.update(key);
            h.update(rv);
        } else {
            h.update(key);
            h.update(prev);
        }
        let b: [u8; BLOCK] = h.finalize().into();
        if !hiding {
            prev[..chunk.len()].copy_from_slice(chunk);
        }
        for (c, k) in chunk.iter_mut().zip(b.iter()) {
            *c ^= k;
        }
        if hiding {
            prev[..chunk.len()].copy_from_slice(chunk);
        }
    }
}

/// Hides `value` with `pad` zero bytes of padding. Returns the hidden
/// attribute value (2 + value.len() + pad bytes).
pub fn hide(
    attr_type: u16,
    secret: &[u8],
    random_vector: &[u8],
    value: &[u8],
    pad: usize,
) -> Result<Vec<u8>> {
    hide_padded(
        attr_type,
        secret,
        random_vector,
        value,
        &vec![0u8; pad.min(super::MAX_VALUE_LEN)],
    )
}

/// Hides `value` followed by caller-chosen (ideally random) `padding`.
pub fn hide_padded(
    attr_type: u16,
    secret: &[u8],
    random_vector: &[u8],
    value: &[u8],
    padding: &[u8],
) -> Result<Vec<u8>> {
    let total = 2 + value.len() + padding.len();
    if total > super::MAX_VALUE_LEN {
        return Err(Error::TooLong {
            field: "hidden AVP",
            len: total,
        });
    }
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(value.len() as u16).to_be_bytes());
    out.extend_from_slice(value);
    out.extend_from_slice(padding);
    keystream_xor(attr_type, secret, random_vector, &mut out, true);
    Ok(out)
}

/// Recovers the cleartext value. A decrypted length prefix that exceeds
/// the data (the usual symptom of a wrong secret) is `BadHiddenLength`.
pub fn unhide(
    attr_type: u16,
    secret: &[u8],
    random_vector: &[u8],
    hidden: &[u8],
) -> Result<Vec<u8>> {
    if hidden.len() < 2 {
        return Err(Error::BadHiddenLength {
            attr_type,
            claimed: 0,
            available: hidden.len(),
        });
    }
    let mut buf = hidden.to_vec();
    keystream_xor(attr_type, secret, random_vector, &mut buf, false);
    let claimed = u16::from_be_bytes([buf[0], buf[1]]);
    let available = buf.len() - 2;
    if usize::from(claimed) > available {
        return Err(Error::BadHiddenLength {
            attr_type,
            claimed,
            available,
        });
    }
    buf.truncate(2 + usize::from(claimed));
    buf.drain(..2);
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hide_unhide_all_sizes() {
        let rv = [7u8; 16];
        for len in 0..60 {
            for pad in [0, 1, 13, 30] {
                let v: Vec<u8> = (0..len as u8).collect();
                let h = hide(9, b"secret", &rv, &v, pad).unwrap();
                assert_eq!(h.len(), 2 + len + pad);
                assert_eq!(unhide(9, b"secret", &rv, &h).unwrap(), v);
            }
        }
    }

    #[test]
    fn first_block_matches_definition() {
        // c1 = p1 xor MD5(type + secret + RV) computed independently.
        let mut h = Md5::new();
        h.update([0u8, 9]);
        h.update(b"s");
        h.update(b"rv");
        let b1: [u8; 16] = h.finalize().into();
        let hidden = hide(9, b"s", b"rv", &[0xaa, 0xbb], 0).unwrap();
        assert_eq!(hidden, vec![b1[0], 2 ^ b1[1], 0xaa ^ b1[2], 0xbb ^ b1[3]]);
    }

    #[test]
    fn second_block_chains_on_ciphertext() {
        let v = [0x11u8; 20];
        let hidden = hide(7, b"k", b"r", &v, 0).unwrap();
        let mut h = Md5::new();
        h.update(b"k");
        h.update(&hidden[..16]);
        let b2: [u8; 16] = h.finalize().into();
        // Bytes 16.. of the subformat are value[14..].
        assert_eq!(hidden[16], v[14] ^ b2[0]);
    }

    #[test]
    fn wrong_secret_or_short() {
        let h = hide(9, b"right", b"rv", b"x", 0).unwrap();
        assert!(matches!(
            unhide(9, b"wrong", b"rv", &h),
            Err(Error::BadHiddenLength { .. }) | Ok(_)
        ));
        assert_eq!(
            unhide(9, b"s", b"rv", &[1]),
            Err(Error::BadHiddenLength {
                attr_type: 9,
                claimed: 0,
                available: 1
            })
        );
    }

    #[test]
    fn v3_key_is_hmac() {
        // RFC 2202 HMAC-MD5 test case 2 style check with our own data.
        let k = v3_hiding_key(b"Jefe");
        assert_eq!(k.len(), 16);
        assert_ne!(k, v3_hiding_key(b"jefe"));
    }
}
