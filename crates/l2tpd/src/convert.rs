//! Translation between the management API's types and those of the data
//! and control planes.
//!
//! They are kept apart on purpose: the API types are a serde wire contract
//! shared with the CLI, the others are what the planes run on, and neither
//! crate depends on the other. The orphan rule then leaves no room for
//! `From` impls, so each mapping is a function here, written once for the
//! static (daemon) and the dynamic (lcce) paths alike.

use l2tp_api::{self as api, ApiError};
use l2tp_dataplane as dp;

/// The wire codec's encapsulation, which the data plane and the control
/// plane both use.
pub fn wire_encap(e: api::Encap) -> dp::Encap {
    match e {
        api::Encap::Udp => dp::Encap::Udp,
        api::Encap::Ip => dp::Encap::Ip,
    }
}

pub fn api_encap(e: dp::Encap) -> api::Encap {
    match e {
        dp::Encap::Udp => api::Encap::Udp,
        dp::Encap::Ip => api::Encap::Ip,
    }
}

/// The wire codec's sublayer, which the data plane and the control plane
/// both use.
pub fn wire_l2spec(l: api::L2SpecType) -> dp::L2SpecType {
    match l {
        api::L2SpecType::None => dp::L2SpecType::None,
        api::L2SpecType::Default => dp::L2SpecType::Default,
    }
}

pub fn api_l2spec(l: dp::L2SpecType) -> api::L2SpecType {
    match l {
        dp::L2SpecType::None => api::L2SpecType::None,
        dp::L2SpecType::Default => api::L2SpecType::Default,
    }
}

pub fn dp_pw_type(p: api::PseudowireType) -> dp::PseudowireType {
    match p {
        api::PseudowireType::Ethernet => dp::PseudowireType::Ethernet,
        api::PseudowireType::Null => dp::PseudowireType::Null,
    }
}

pub fn dp_seq(s: api::SeqMode) -> dp::SeqMode {
    dp::SeqMode {
        send: s.send(),
        recv: s.recv(),
    }
}

/// "No cookie" is `None` in the API and the empty cookie in the data plane.
pub fn dp_cookie(c: Option<api::Cookie>) -> Result<dp::Cookie, ApiError> {
    let bytes = c.as_ref().map_or(&[][..], api::Cookie::as_bytes);
    dp::Cookie::new(bytes).map_err(|e| ApiError::invalid("cookie", format!("{e:?}")))
}

pub fn api_cookie(c: &dp::Cookie) -> Option<api::Cookie> {
    api::Cookie::from_bytes(c.as_bytes()).ok()
}

pub fn api_counters(c: &dp::Counters) -> api::Counters {
    api::Counters {
        tx_packets: c.tx_packets,
        tx_bytes: c.tx_bytes,
        tx_errors: c.tx_errors,
        rx_packets: c.rx_packets,
        rx_bytes: c.rx_bytes,
        rx_errors: c.rx_errors,
        rx_seq_discards: c.rx_seq_discards,
        rx_oos_packets: c.rx_oos_packets,
        rx_cookie_discards: c.rx_cookie_discards,
        rx_invalid: c.rx_invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_round_trip() {
        for e in [api::Encap::Udp, api::Encap::Ip] {
            assert_eq!(api_encap(wire_encap(e)), e);
        }
        for l in [api::L2SpecType::None, api::L2SpecType::Default] {
            assert_eq!(api_l2spec(wire_l2spec(l)), l);
        }
        for s in [
            api::SeqMode::None,
            api::SeqMode::Send,
            api::SeqMode::Recv,
            api::SeqMode::Both,
        ] {
            let d = dp_seq(s);
            assert_eq!(api::SeqMode::from_flags(d.send, d.recv), s);
        }
    }

    #[test]
    fn no_cookie_is_the_empty_cookie() {
        let none = dp_cookie(None).unwrap();
        assert!(none.is_empty());
        assert_eq!(api_cookie(&none), None);
        let c = api::Cookie::from_hex("0102030405060708").unwrap();
        assert_eq!(api_cookie(&dp_cookie(Some(c)).unwrap()), Some(c));
    }
}
