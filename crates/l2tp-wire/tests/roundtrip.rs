//! Property tests: for every header and message, parse(emit(r)) == r and
//! emit(parse(x)) == x (modulo the bits the RFCs say receivers ignore),
//! and no parser panics on arbitrary or mutated input.

use l2tp_wire::avp::{self, hidden, Avp, AvpType, AvpValue, CallErrors, ResultCodeValue};
use l2tp_wire::control::{ControlHeaderRepr, Version};
use l2tp_wire::data::{self, Cookie, Encap, L2SpecType, V3DataConfig, V3DataRepr};
use l2tp_wire::message::{verify_digest, DigestType, Message, MessageType, Security};
use l2tp_wire::v2::{DataPacket, DataRepr};
use proptest::collection::vec;
use proptest::prelude::*;

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

fn cookie() -> impl Strategy<Value = Cookie> {
    prop_oneof![
        Just(Cookie::NONE),
        any::<u32>().prop_map(Cookie::from_u32),
        any::<u64>().prop_map(Cookie::from_u64),
    ]
}

fn encap() -> impl Strategy<Value = Encap> {
    prop_oneof![Just(Encap::Ip), Just(Encap::Udp)]
}

fn v3_repr() -> impl Strategy<Value = V3DataRepr> {
    (
        1..=u32::MAX,
        cookie(),
        any::<bool>(),
        proptest::option::of(0..=0xff_ffffu32),
    )
        .prop_map(|(session_id, cookie, default, seq)| V3DataRepr {
            session_id,
            cookie,
            l2spec: if default {
                L2SpecType::Default
            } else {
                L2SpecType::None
            },
            seq: if default { seq } else { None },
        })
}

fn v2_repr() -> impl Strategy<Value = (DataRepr, Vec<u8>)> {
    (
        any::<bool>(),
        any::<u16>(),
        any::<u16>(),
        proptest::option::of(any::<(u16, u16)>()),
        proptest::option::of(0..40u16),
        any::<bool>(),
        bytes(64),
    )
        .prop_map(
            |(has_len, tunnel_id, session_id, ns_nr, offset, priority, payload)| {
                let r = DataRepr {
                    length: None,
                    tunnel_id,
                    session_id,
                    ns_nr,
                    offset,
                    priority,
                };
                let r = if has_len {
                    r.with_payload_len(payload.len()).unwrap()
                } else {
                    r
                };
                (r, payload)
            },
        )
}

fn control_header() -> impl Strategy<Value = ControlHeaderRepr> {
    (
        any::<bool>(),
        any::<u32>(),
        any::<u16>(),
        any::<u16>(),
        any::<u16>(),
    )
        .prop_map(|(v3, id, sid, ns, nr)| {
            let version = if v3 { Version::V3 } else { Version::V2 };
            ControlHeaderRepr {
                version,
                length: 12,
                tunnel_id: if v3 { id } else { id & 0xffff },
                session_id: if v3 { 0 } else { sid },
                ns,
                nr,
            }
        })
}

/// Attribute codes with no typed form, so `Unknown` survives a round trip.
fn untyped_ietf_attr() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(20u16),
        40..46u16,
        47..58u16,
        Just(67u16),
        Just(80u16),
        Just(96u16),
        102..u16::MAX
    ]
}

fn avp_value() -> impl Strategy<Value = AvpValue> {
    use AvpValue as V;
    let text = || bytes(24);
    prop_oneof![
        (any::<u16>(), proptest::option::of(any::<u16>()), bytes(20)).prop_map(|(r, e, m)| {
            V::ResultCode(ResultCodeValue {
                result: r,
                error: if m.is_empty() {
                    e
                } else {
                    Some(e.unwrap_or(0))
                },
                message: m,
            })
        }),
        any::<(u8, u8)>().prop_map(|(version, revision)| V::ProtocolVersion { version, revision }),
        any::<u32>().prop_map(V::FramingCapabilities),
        any::<u32>().prop_map(V::BearerCapabilities),
        any::<u64>().prop_map(V::TieBreaker),
        any::<u16>().prop_map(V::FirmwareRevision),
        text().prop_map(V::HostName),
        text().prop_map(V::VendorName),
        any::<u16>().prop_map(V::AssignedTunnelId),
        any::<u16>().prop_map(V::ReceiveWindowSize),
        text().prop_map(V::Challenge),
        (any::<u16>(), any::<u8>(), text()).prop_map(|(cause_code, cause_msg, advisory)| {
            V::Q931CauseCode {
                cause_code,
                cause_msg,
                advisory,
            }
        }),
        any::<[u8; 16]>().prop_map(V::ChallengeResponse),
        any::<u16>().prop_map(V::AssignedSessionId),
        any::<u32>().prop_map(V::CallSerialNumber),
        any::<u32>().prop_map(V::MinimumBps),
        any::<u32>().prop_map(V::MaximumBps),
        any::<u32>().prop_map(V::BearerType),
        any::<u32>().prop_map(V::FramingType),
        text().prop_map(V::CalledNumber),
        text().prop_map(V::CallingNumber),
        text().prop_map(V::SubAddress),
        any::<u32>().prop_map(V::TxConnectSpeed),
        any::<u32>().prop_map(V::PhysicalChannelId),
        text().prop_map(V::InitialReceivedLcpConfreq),
        text().prop_map(V::LastSentLcpConfreq),
        text().prop_map(V::LastReceivedLcpConfreq),
        any::<u16>().prop_map(V::ProxyAuthenType),
        text().prop_map(V::ProxyAuthenName),
        text().prop_map(V::ProxyAuthenChallenge),
        any::<u8>().prop_map(V::ProxyAuthenId),
        text().prop_map(V::ProxyAuthenResponse),
        any::<[u32; 6]>().prop_map(|c| V::CallErrors(CallErrors {
            crc_errors: c[0],
            framing_errors: c[1],
            hardware_overruns: c[2],
            buffer_overruns: c[3],
            timeout_errors: c[4],
            alignment_errors: c[5],
        })),
        any::<(u32, u32)>().prop_map(|(send, recv)| V::Accm { send, recv }),
        text().prop_map(V::RandomVector),
        text().prop_map(V::PrivateGroupId),
        any::<u32>().prop_map(V::RxConnectSpeed),
        Just(V::SequencingRequired),
        (any::<u16>(), any::<u16>(), any::<u8>(), text()).prop_map(
            |(code, protocol, direction, message)| {
                V::PppDisconnectCauseCode {
                    code,
                    protocol,
                    direction,
                    message,
                }
            }
        ),
        (any::<u32>(), any::<u16>(), text()).prop_map(|(vendor_id, attr_type, value)| {
            V::ExtendedVendorId {
                vendor_id,
                attr_type,
                value,
            }
        }),
        any::<u32>().prop_map(V::RouterId),
        any::<u32>().prop_map(V::AssignedControlConnectionId),
        vec(any::<u16>(), 1..8).prop_map(V::PseudowireCapabilitiesList),
        any::<u32>().prop_map(V::LocalSessionId),
        any::<u32>().prop_map(V::RemoteSessionId),
        cookie().prop_map(V::AssignedCookie),
        text().prop_map(V::RemoteEndId),
        any::<u16>().prop_map(V::PseudowireType),
        any::<u16>().prop_map(V::L2SpecificSublayer),
        any::<u16>().prop_map(V::DataSequencing),
        any::<u16>().prop_map(V::CircuitStatus),
        text().prop_map(V::PreferredLanguage),
        text().prop_map(V::ControlMessageAuthNonce),
        any::<u64>().prop_map(V::TxConnectSpeedV3),
        any::<u64>().prop_map(V::RxConnectSpeedV3),
        any::<(u16, u32)>().prop_map(|(flags, recovery_time_ms)| V::FailoverCapability {
            flags,
            recovery_time_ms
        }),
        any::<(u32, u32)>().prop_map(|(a, b)| V::TunnelRecovery {
            recover_tunnel_id: a,
            recover_remote_tunnel_id: b
        }),
        any::<(u16, u16)>().prop_map(|(ns, nr)| V::SuggestedControlSequence { ns, nr }),
        any::<(u32, u32)>().prop_map(|(a, b)| V::FailoverSessionState {
            session_id: a,
            remote_session_id: b
        }),
        text().prop_map(V::AttachmentGroupId),
        text().prop_map(V::LocalEndId),
        any::<u16>().prop_map(V::InterfaceMtu),
        (1..=u16::MAX, any::<u16>(), text()).prop_map(|(vendor_id, attr_type, value)| {
            V::Unknown {
                vendor_id,
                attr_type,
                value,
            }
        }),
        (untyped_ietf_attr(), text()).prop_map(|(attr_type, value)| V::Unknown {
            vendor_id: 0,
            attr_type,
            value,
        }),
    ]
}

/// A message: Message Type, a Random Vector, then random AVPs some of
/// which are hidden.
fn message() -> impl Strategy<Value = Message> {
    (
        control_header(),
        any::<u16>(),
        bytes(20),
        vec((avp_value(), any::<bool>(), any::<bool>()), 0..12),
    )
        .prop_map(|(header, mt, rv, rest)| {
            let mut m = Message::new(
                header.version,
                MessageType::from_u16(mt),
                header.tunnel_id,
                header.session_id,
            )
            .with_seq(header.ns, header.nr)
            .with(AvpValue::RandomVector(rv));
            for (value, mandatory, hide) in rest {
                m = m.with_avp(Avp {
                    mandatory,
                    hidden: hide,
                    value,
                });
            }
            m
        })
}

fn canonical_v3(x: &[u8], cfg: &V3DataConfig, hdr: usize) -> Vec<u8> {
    let mut c = x[..hdr].to_vec();
    if cfg.encap == Encap::Udp {
        // Only T and Ver are meaningful in the first word; reserved is 0.
        c[0] &= 0x80;
        c[1] &= 0x0f;
        c[2] = 0;
        c[3] = 0;
    }
    if cfg.l2spec == L2SpecType::Default {
        let o = hdr - 4;
        if c[o] & 0x40 == 0 {
            // S clear: the sequence field is undefined, emitted as 0.
            c[o..hdr].fill(0);
        } else {
            c[o] = 0x40;
        }
    }
    c
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn v3_data_repr_round_trip(r in v3_repr(), e in encap(), payload in bytes(32)) {
        let mut buf = vec![0u8; r.header_len(e) + payload.len()];
        let n = r.emit(e, &mut buf).unwrap();
        buf[n..].copy_from_slice(&payload);
        let (p, off) = V3DataRepr::parse(&buf, &r.config(e)).unwrap();
        prop_assert_eq!(p, r);
        prop_assert_eq!(off, n);
        prop_assert_eq!(&buf[off..], &payload[..]);
        prop_assert_eq!(data::v3_session_id(&buf, e).unwrap(), r.session_id);
        prop_assert!(!data::is_control(&buf, e).unwrap());
    }

    #[test]
    fn v3_data_bytes_round_trip(x in bytes(40), e in encap(), cl in prop_oneof![Just(0u8), Just(4), Just(8)], d in any::<bool>()) {
        let cfg = V3DataConfig { encap: e, cookie_len: cl, l2spec: if d { L2SpecType::Default } else { L2SpecType::None } };
        if let Ok((r, off)) = V3DataRepr::parse(&x, &cfg) {
            let mut out = vec![0u8; off];
            prop_assert_eq!(r.emit(e, &mut out).unwrap(), off);
            prop_assert_eq!(out, canonical_v3(&x, &cfg, off));
        }
    }

    #[test]
    fn v2_data_repr_round_trip((r, payload) in v2_repr()) {
        let mut buf = vec![0u8; r.header_len() + payload.len()];
        let n = r.emit_bytes(&mut buf).unwrap();
        buf[n..].copy_from_slice(&payload);
        let p = DataPacket::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(DataRepr::parse(&p).unwrap(), r);
        prop_assert_eq!(p.payload(), &payload[..]);
    }

    #[test]
    fn v2_data_bytes_round_trip(x in bytes(48)) {
        if let Ok((r, off)) = DataRepr::parse_bytes(&x) {
            let mut out = vec![0u8; off];
            prop_assert_eq!(r.emit_bytes(&mut out).unwrap(), off);
            // Reserved flag bits are ignored on receipt and sent as zero;
            // offset padding content is undefined and sent as zero.
            let mut want = x[..off].to_vec();
            want[0] &= 0x4b;
            want[1] &= 0x0f;
            if let Some(o) = r.offset {
                let pad = usize::from(o);
                want[off - pad..].fill(0);
            }
            prop_assert_eq!(out, want);
        }
    }

    #[test]
    fn control_header_round_trip(h in control_header(), body in bytes(20)) {
        let h = ControlHeaderRepr { length: (12 + body.len()) as u16, ..h };
        let mut buf = vec![0u8; 12 + body.len()];
        h.emit_bytes(&mut buf).unwrap();
        buf[12..].copy_from_slice(&body);
        let (p, b) = ControlHeaderRepr::parse_bytes(&buf).unwrap();
        prop_assert_eq!(p, h);
        prop_assert_eq!(b, &body[..]);
        // And back: emit(parse(x)) == x.
        let mut again = vec![0u8; 12];
        p.emit_bytes(&mut again).unwrap();
        prop_assert_eq!(&again[..], &buf[..12]);
    }

    #[test]
    fn control_bytes_round_trip(mut x in vec(any::<u8>(), 12..40), v3 in any::<bool>()) {
        x[0] |= 0xc8;
        if !v3 {
            x[0] &= !0x03;
        }
        x[1] = (x[1] & 0xf0) | if v3 { 3 } else { 2 };
        let n = x.len() as u16;
        x[2..4].copy_from_slice(&n.to_be_bytes());
        let (h, body) = ControlHeaderRepr::parse_bytes(&x).unwrap();
        prop_assert_eq!(body, &x[12..]);
        let mut out = [0u8; 12];
        h.emit_bytes(&mut out).unwrap();
        // Reserved bits are ignored on receipt and sent as zero.
        let mut want = x[..12].to_vec();
        want[0] = 0xc8;
        want[1] &= 0x0f;
        prop_assert_eq!(&out[..], &want[..]);
    }

    #[test]
    fn avp_value_round_trip(v in avp_value()) {
        let (vendor, attr) = v.vendor_attr();
        let b = v.to_bytes();
        prop_assert_eq!(AvpValue::decode(vendor, attr, &b).unwrap(), v.clone());
        // And the bytes: encode(decode(b)) == b.
        prop_assert_eq!(AvpValue::decode(vendor, attr, &b).unwrap().to_bytes(), b);
        // Rendering never panics and is non-empty.
        prop_assert!(!v.value_json().is_empty());
    }

    #[test]
    fn message_round_trip(m in message(), secret in bytes(16)) {
        let sec = Security { secret: Some(&secret), ..Security::default() };
        let b = m.to_bytes(&sec).unwrap();
        prop_assert_eq!(b.len(), m.buffer_len());
        let p = Message::parse_unvalidated(&b, &sec).unwrap();
        prop_assert_eq!(&p.avps, &m.avps);
        prop_assert_eq!(ControlHeaderRepr { length: m.header.length, ..p.header }, m.header);
        prop_assert_eq!(usize::from(p.header.length), b.len());
        // emit(parse(x)) == x
        prop_assert_eq!(p.to_bytes(&sec).unwrap(), b);
        prop_assert!(!p.to_json().is_empty());
    }

    #[test]
    fn message_with_digest_verifies(m in message(), secret in bytes(16), na in bytes(20), nb in bytes(20), sha in any::<bool>()) {
        let dt = if sha { DigestType::HmacSha1 } else { DigestType::HmacMd5 };
        let mut m = m;
        m.avps.insert(1, Avp::new(dt.placeholder()));
        let tx = Security { secret: Some(&secret), local_nonce: &na, remote_nonce: &nb };
        let rx = Security { secret: Some(&secret), local_nonce: &nb, remote_nonce: &na };
        let b = m.to_bytes(&tx).unwrap();
        prop_assert_eq!(verify_digest(&b, &rx), Ok(()));
        let p = Message::parse_unvalidated(&b, &rx).unwrap();
        prop_assert_eq!(p.to_bytes(&tx).unwrap(), b.clone());
        // Any single flipped bit after the header breaks verification.
        let mut bad = b.clone();
        let i = bad.len() - 1;
        bad[i] ^= 0x80;
        prop_assert!(verify_digest(&bad, &rx).is_err());
    }

    #[test]
    fn hidden_round_trip(attr in any::<u16>(), secret in bytes(32), rv in bytes(32), v in bytes(300), pad in 0..40usize) {
        let h = hidden::hide(attr, &secret, &rv, &v, pad).unwrap();
        prop_assert_eq!(h.len(), 2 + v.len() + pad);
        prop_assert_eq!(hidden::unhide(attr, &secret, &rv, &h).unwrap(), v);
    }

    #[test]
    fn parsers_never_panic(x in bytes(300), e in encap(), cl in 0u8..10, d in any::<bool>()) {
        let cfg = V3DataConfig { encap: e, cookie_len: cl, l2spec: if d { L2SpecType::Default } else { L2SpecType::None } };
        let _ = V3DataRepr::parse(&x, &cfg);
        let _ = data::v3_session_id(&x, e);
        let _ = data::is_control(&x, e);
        let _ = DataRepr::parse_bytes(&x);
        let _ = ControlHeaderRepr::parse_bytes(&x);
        let _ = Message::parse(&x);
        let sec = Security::with_secret(b"s");
        let _ = Message::parse_with(&x, &sec);
        let _ = verify_digest(&x, &sec);
        for a in avp::iter(&x).flatten() {
            let _ = AvpValue::decode(a.vendor_id, a.attr_type, a.value);
            let _ = hidden::unhide(a.attr_type, b"s", b"rv", a.value);
        }
        for t in AvpType::ALL {
            let _ = AvpValue::decode(0, t.code(), &x);
        }
    }

    #[test]
    fn mutated_messages_never_panic(m in message(), flips in vec((any::<usize>(), any::<u8>()), 1..6), cut in any::<usize>()) {
        let sec = Security::with_secret(b"k");
        let mut b = m.to_bytes(&sec).unwrap();
        for (i, x) in flips {
            let n = b.len();
            b[i % n] ^= x;
        }
        let cut = cut % (b.len() + 1);
        let _ = Message::parse_with(&b[..cut], &sec);
        let _ = Message::parse_with(&b, &sec);
        let _ = verify_digest(&b, &sec);
    }
}
