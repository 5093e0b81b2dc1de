//! Tiny JSON text helpers for `value_json` renderings, so the codec needs
//! no serde dependency and the CLI gets stable, hand-checked output.

use core::fmt::Write;

/// A JSON string literal for `s`, escaped per RFC 8259.
pub fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Text AVPs are octet strings on the wire: render UTF-8 as a JSON string,
/// anything else as a hex string so no byte is silently lost.
pub fn text(bytes: &[u8]) -> String {
    match core::str::from_utf8(bytes) {
        Ok(s) => string(s),
        Err(_) => hex(bytes),
    }
}

/// Lowercase hex in a JSON string.
pub fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2 + 2);
    out.push('"');
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out.push('"');
    out
}

/// Lowercase hex without quotes.
pub fn hex_plain(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Builds a JSON object from already-rendered values.
pub fn object(fields: &[(&str, String)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&string(k));
        out.push(':');
        out.push_str(v);
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(string("a\"b\\\n\u{1}"), "\"a\\\"b\\\\\\n\\u0001\"");
        assert_eq!(text(b"lns"), "\"lns\"");
        assert_eq!(text(&[0xff, 0x00]), "\"ff00\"");
        assert_eq!(
            object(&[("a", "1".into()), ("b", string("x"))]),
            "{\"a\":1,\"b\":\"x\"}"
        );
    }
}
