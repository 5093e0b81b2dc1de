//! 16-bit control sequence numbers (RFC 3931 4.2): a free-running counter
//! modulo 65536 where "less than or equal" means "within the preceding
//! 32767 values", so comparisons keep working across the wrap.

/// `a - b` in sequence space, as a signed distance in `-32768..=32767`.
#[inline]
pub fn diff(a: u16, b: u16) -> i16 {
    a.wrapping_sub(b) as i16
}

/// True when `a` comes strictly before `b`.
#[inline]
pub fn lt(a: u16, b: u16) -> bool {
    diff(a, b) < 0
}

/// True when `a` is `b` or comes before it: RFC 3931 4.2's test for a
/// duplicate (`a` received, `b` the last in-order number received).
#[inline]
pub fn le(a: u16, b: u16) -> bool {
    b.wrapping_sub(a) <= 32767
}

/// How far `a` is ahead of `b` (0 when equal), or `None` when `a` is behind.
#[inline]
pub fn ahead(a: u16, b: u16) -> Option<u16> {
    let d = diff(a, b);
    if d >= 0 {
        Some(d as u16)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_example() {
        // RFC 3931 4.2: last received 15 => 0..=15 and 32784..=65535 are <= 15.
        for a in 0..=15u16 {
            assert!(le(a, 15));
        }
        for a in 32784..=65535u16 {
            assert!(le(a, 15), "{a}");
        }
        for a in 16..32784u16 {
            assert!(!le(a, 15), "{a}");
        }
    }

    #[test]
    fn wrap() {
        assert!(lt(65535, 0));
        assert!(lt(65530, 3));
        assert!(!lt(3, 65530));
        assert_eq!(diff(2, 65534), 4);
        assert_eq!(ahead(2, 65534), Some(4));
        assert_eq!(ahead(65534, 2), None);
        assert_eq!(ahead(7, 7), Some(0));
    }
}
