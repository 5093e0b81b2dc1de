//! Sample control messages for other crates' tests (feature `testing`).
//!
//! Every control message type of both versions, each carrying every AVP
//! its RFC section 6 lists as MUST or MAY, with realistic values, in the
//! standard layout (vendor 0, Message Type first, v3 Message Digest right
//! after it). Bytes start at the T bit, i.e. they are UDP payloads; for
//! L2TPv3 over IP prepend four zero bytes.
//!
//! The v3 messages carry a real HMAC-MD5 Message Digest under
//! [`SAMPLE_SECRET`], computed as LCCE A (nonce [`NONCE_A`], sends the
//! SCCRQ) or LCCE B ([`NONCE_B`], sends the SCCRP) would.

use crate::avp::{self, circuit_status, AvpValue, CallErrors, PwType};
use crate::control::Version;
use crate::data::Cookie;
use crate::message::{DigestType, Message, MessageType, Security};

/// Shared secret used for the challenges and digests in the samples.
pub const SAMPLE_SECRET: &[u8] = b"l2tp-rs-secret";
/// Control Message Authentication Nonce of LCCE A (the initiator).
pub const NONCE_A: &[u8] = &[
    0x3a, 0x91, 0x0c, 0x5e, 0x77, 0x12, 0xd4, 0x8b, 0x60, 0x2f, 0xee, 0x19, 0x45, 0xb3, 0x08, 0xc1,
];
/// Control Message Authentication Nonce of LCCE B (the responder).
pub const NONCE_B: &[u8] = &[
    0xc4, 0x27, 0x9d, 0x03, 0x5a, 0xe8, 0x61, 0xbf, 0x14, 0x72, 0x0d, 0x98, 0xa6, 0x3e, 0x55, 0xf0,
];

const CHALLENGE_LAC: [u8; 16] = [
    0x9e, 0x41, 0x7a, 0x02, 0xcc, 0x18, 0x63, 0xd5, 0x2b, 0x80, 0x4f, 0x11, 0xe7, 0x36, 0x5c, 0xa9,
];
const CHALLENGE_LNS: [u8; 16] = [
    0x15, 0xb2, 0x68, 0xf4, 0x07, 0x9a, 0x3d, 0xc0, 0x71, 0x5e, 0xa3, 0x2c, 0x88, 0xd9, 0x46, 0x0b,
];
const RANDOM_VECTOR: [u8; 16] = [
    0x5d, 0x0e, 0xa7, 0x34, 0x92, 0xcb, 0x18, 0x6f, 0xe1, 0x43, 0x7c, 0x29, 0xb5, 0x80, 0x0a, 0xd6,
];

// Identifiers: v2 LAC tunnel 4711 / LNS tunnel 2301; v3 CCIDs below.
const LAC_TID: u32 = 4711;
const LNS_TID: u32 = 2301;
const CCID_A: u32 = 0x0a0b_0c0d;
const CCID_B: u32 = 0x1122_3344;
const SID_A: u32 = 0x0000_1001;
const SID_B: u32 = 0x0000_2002;

/// LCP Configure-Request options: MRU 1492, magic number.
const LCP_OPTS: &[u8] = &[0x01, 0x04, 0x05, 0xd4, 0x05, 0x06, 0x12, 0x34, 0x56, 0x78];

fn text(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn call_errors() -> CallErrors {
    CallErrors {
        crc_errors: 3,
        framing_errors: 1,
        hardware_overruns: 0,
        buffer_overruns: 2,
        timeout_errors: 5,
        alignment_errors: 0,
    }
}

/// The v2 samples as structures (name, message).
pub fn v2_messages() -> Vec<(&'static str, Message)> {
    use AvpValue as V;
    let v = Version::V2;
    let m = |t, tid, sid| Message::new(v, t, tid, sid);
    vec![
        (
            "v2-SCCRQ",
            m(MessageType::Sccrq, 0, 0)
                .with(V::ProtocolVersion {
                    version: 1,
                    revision: 0,
                })
                .with(V::host_name("lac1.example.net"))
                .with(V::FramingCapabilities(
                    avp::bits::FRAMING_SYNC | avp::bits::FRAMING_ASYNC,
                ))
                .with(V::AssignedTunnelId(LAC_TID as u16))
                .with(V::BearerCapabilities(
                    avp::bits::BEARER_DIGITAL | avp::bits::BEARER_ANALOG,
                ))
                .with(V::ReceiveWindowSize(8))
                .with(V::Challenge(CHALLENGE_LAC.to_vec()))
                .with(V::TieBreaker(0x0123_4567_89ab_cdef))
                .with(V::FirmwareRevision(0x0105))
                .with(V::vendor_name("l2tp-rs"))
                .with_seq(0, 0),
        ),
        (
            "v2-SCCRP",
            m(MessageType::Sccrp, LAC_TID, 0)
                .with(V::ProtocolVersion {
                    version: 1,
                    revision: 0,
                })
                .with(V::FramingCapabilities(avp::bits::FRAMING_SYNC))
                .with(V::host_name("lns1.example.net"))
                .with(V::AssignedTunnelId(LNS_TID as u16))
                .with(V::BearerCapabilities(avp::bits::BEARER_DIGITAL))
                .with(V::FirmwareRevision(0x0200))
                .with(V::vendor_name("l2tp-rs"))
                .with(V::ReceiveWindowSize(16))
                .with(V::Challenge(CHALLENGE_LNS.to_vec()))
                .with(V::ChallengeResponse(avp::hidden::challenge_response(
                    2,
                    SAMPLE_SECRET,
                    &CHALLENGE_LAC,
                )))
                .with_seq(0, 1),
        ),
        (
            "v2-SCCCN",
            m(MessageType::Scccn, LNS_TID, 0)
                .with(V::ChallengeResponse(avp::hidden::challenge_response(
                    3,
                    SAMPLE_SECRET,
                    &CHALLENGE_LNS,
                )))
                .with_seq(1, 1),
        ),
        (
            "v2-StopCCN",
            m(MessageType::StopCcn, LNS_TID, 0)
                .with(V::AssignedTunnelId(LAC_TID as u16))
                .with(V::result_code(1, Some(0), "administrative shutdown"))
                .with_seq(9, 4),
        ),
        ("v2-HELLO", m(MessageType::Hello, LNS_TID, 0).with_seq(2, 2)),
        (
            "v2-ICRQ",
            m(MessageType::Icrq, LNS_TID, 0)
                .with(V::AssignedSessionId(17))
                .with(V::CallSerialNumber(1))
                .with(V::BearerType(avp::bits::BEARER_ANALOG))
                .with(V::PhysicalChannelId(3))
                .with(V::CallingNumber(text("5551234")))
                .with(V::CalledNumber(text("5559876")))
                .with(V::SubAddress(text("12")))
                .with_seq(3, 2),
        ),
        (
            "v2-ICRP",
            m(MessageType::Icrp, LAC_TID, 17)
                .with(V::AssignedSessionId(42))
                .with_seq(2, 4),
        ),
        (
            "v2-ICCN",
            m(MessageType::Iccn, LNS_TID, 42)
                .with(V::TxConnectSpeed(100_000_000))
                .with(V::FramingType(avp::bits::FRAMING_SYNC))
                .with(V::InitialReceivedLcpConfreq(LCP_OPTS.to_vec()))
                .with(V::LastSentLcpConfreq(LCP_OPTS.to_vec()))
                .with(V::LastReceivedLcpConfreq(LCP_OPTS.to_vec()))
                .with(V::ProxyAuthenType(2))
                .with(V::ProxyAuthenName(text("user@example.net")))
                .with(V::ProxyAuthenChallenge(CHALLENGE_LNS.to_vec()))
                .with(V::ProxyAuthenId(1))
                .with(V::ProxyAuthenResponse(CHALLENGE_LAC.to_vec()))
                .with(V::PrivateGroupId(text("vpn-1")))
                .with(V::RxConnectSpeed(100_000_000))
                .with(V::SequencingRequired)
                .with_seq(4, 3),
        ),
        (
            "v2-OCRQ",
            m(MessageType::Ocrq, LAC_TID, 0)
                .with(V::AssignedSessionId(43))
                .with(V::CallSerialNumber(2))
                .with(V::MinimumBps(9600))
                .with(V::MaximumBps(100_000_000))
                .with(V::BearerType(avp::bits::BEARER_DIGITAL))
                .with(V::FramingType(
                    avp::bits::FRAMING_SYNC | avp::bits::FRAMING_ASYNC,
                ))
                .with(V::CalledNumber(text("5550000")))
                .with(V::SubAddress(text("7")))
                .with_seq(3, 5),
        ),
        (
            "v2-OCRP",
            m(MessageType::Ocrp, LNS_TID, 43)
                .with(V::AssignedSessionId(18))
                .with(V::PhysicalChannelId(4))
                .with_seq(5, 4),
        ),
        (
            "v2-OCCN",
            m(MessageType::Occn, LNS_TID, 43)
                .with(V::TxConnectSpeed(64_000))
                .with(V::FramingType(avp::bits::FRAMING_ASYNC))
                .with(V::RxConnectSpeed(56_000))
                .with(V::SequencingRequired)
                .with_seq(6, 4),
        ),
        (
            "v2-CDN",
            m(MessageType::Cdn, LNS_TID, 42)
                .with(V::result_code(3, Some(0), "session closed by operator"))
                .with(V::AssignedSessionId(17))
                .with(V::Q931CauseCode {
                    cause_code: 16,
                    cause_msg: 0x45,
                    advisory: text("normal call clearing"),
                })
                .with_seq(7, 4),
        ),
        (
            "v2-WEN",
            m(MessageType::Wen, LNS_TID, 42)
                .with(V::CallErrors(call_errors()))
                .with_seq(8, 4),
        ),
        (
            "v2-SLI",
            m(MessageType::Sli, LAC_TID, 17)
                .with(V::Accm {
                    send: 0x0000_0000,
                    recv: 0x000a_0000,
                })
                .with_seq(4, 9),
        ),
        (
            "v2-FSQ",
            m(MessageType::Fsq, LNS_TID, 0)
                .with(V::FailoverSessionState {
                    session_id: 17,
                    remote_session_id: 42,
                })
                .with_seq(10, 5),
        ),
        (
            "v2-FSR",
            m(MessageType::Fsr, LAC_TID, 0)
                .with(V::FailoverSessionState {
                    session_id: 42,
                    remote_session_id: 17,
                })
                .with_seq(5, 11),
        ),
        ("v2-ZLB", Message::zlb(Version::V2, LNS_TID, 0, 11, 6)),
    ]
}

/// Which LCCE sends a v3 sample (decides the nonce order of its digest).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sender {
    A,
    B,
}

impl Sender {
    /// The [`Security`] the sender signs with.
    pub fn security(self) -> Security<'static> {
        let (local_nonce, remote_nonce) = match self {
            Sender::A => (NONCE_A, NONCE_B),
            Sender::B => (NONCE_B, NONCE_A),
        };
        Security {
            secret: Some(SAMPLE_SECRET),
            local_nonce,
            remote_nonce,
        }
    }

    /// The [`Security`] the receiver verifies with.
    pub fn peer_security(self) -> Security<'static> {
        match self {
            Sender::A => Sender::B.security(),
            Sender::B => Sender::A.security(),
        }
    }
}

/// The v3 samples as structures (name, sender, message).
pub fn v3_messages() -> Vec<(&'static str, Sender, Message)> {
    use AvpValue as V;
    use Sender::{A, B};
    // Message Type, Message Digest, Random Vector: the common prefix.
    let m = |t, ccid| {
        Message::new(Version::V3, t, ccid, 0)
            .with(DigestType::HmacMd5.placeholder())
            .with(V::RandomVector(RANDOM_VECTOR.to_vec()))
    };
    let speeds = |msg: Message| {
        msg.with(V::TxConnectSpeedV3(1_000_000_000))
            .with(V::RxConnectSpeedV3(1_000_000_000))
    };
    let eth = PwType::Ethernet.to_u16();
    let vlan = PwType::EthernetVlan.to_u16();
    vec![
        (
            "v3-SCCRQ",
            A,
            m(MessageType::Sccrq, 0)
                .with(V::host_name("lcce-a.example.net"))
                .with(V::RouterId(0xc612_0001))
                .with(V::AssignedControlConnectionId(CCID_A))
                .with(V::PseudowireCapabilitiesList(vec![
                    eth,
                    vlan,
                    PwType::Ppp.to_u16(),
                ]))
                .with(V::ControlMessageAuthNonce(NONCE_A.to_vec()))
                .with(V::TieBreaker(0xfedc_ba98_7654_3210))
                .with(V::vendor_name("l2tp-rs"))
                .with(V::ReceiveWindowSize(16))
                .with(V::PreferredLanguage(text("en")))
                .with_seq(0, 0),
        ),
        (
            "v3-SCCRP",
            B,
            m(MessageType::Sccrp, CCID_A)
                .with(V::host_name("lcce-b.example.net"))
                .with(V::RouterId(0xc612_0002))
                .with(V::AssignedControlConnectionId(CCID_B))
                .with(V::PseudowireCapabilitiesList(vec![eth, vlan]))
                .with(V::ControlMessageAuthNonce(NONCE_B.to_vec()))
                .with(V::vendor_name("l2tp-rs"))
                .with(V::ReceiveWindowSize(32))
                .with(V::PreferredLanguage(text("en")))
                .with_seq(0, 1),
        ),
        ("v3-SCCCN", A, m(MessageType::Scccn, CCID_B).with_seq(1, 1)),
        (
            "v3-StopCCN",
            A,
            m(MessageType::StopCcn, CCID_B)
                .with(V::result_code(1, Some(0), "administrative shutdown"))
                .with(V::AssignedControlConnectionId(CCID_A))
                .with_seq(9, 6),
        ),
        ("v3-HELLO", B, m(MessageType::Hello, CCID_A).with_seq(1, 2)),
        (
            "v3-ICRQ",
            A,
            speeds(
                m(MessageType::Icrq, CCID_B)
                    .with(V::LocalSessionId(SID_A))
                    .with(V::RemoteSessionId(0))
                    .with(V::CallSerialNumber(1))
                    .with(V::PseudowireType(eth))
                    .with(V::RemoteEndId(text("eth-ac-1")))
                    .with(V::CircuitStatus(
                        circuit_status::ACTIVE | circuit_status::NEW,
                    ))
                    .with(V::AssignedCookie(Cookie::from_u64(0x8899_aabb_ccdd_eeff)))
                    .with(V::TieBreaker(0x0f1e_2d3c_4b5a_6978))
                    .with(V::L2SpecificSublayer(1))
                    .with(V::DataSequencing(2)),
            )
            .with(V::PhysicalChannelId(1))
            .with_seq(2, 2),
        ),
        (
            "v3-ICRP",
            B,
            speeds(
                m(MessageType::Icrp, CCID_A)
                    .with(V::LocalSessionId(SID_B))
                    .with(V::RemoteSessionId(SID_A))
                    .with(V::CircuitStatus(
                        circuit_status::ACTIVE | circuit_status::NEW,
                    ))
                    .with(V::AssignedCookie(Cookie::from_u32(0xdead_beef)))
                    .with(V::L2SpecificSublayer(1))
                    .with(V::DataSequencing(0)),
            )
            .with(V::PhysicalChannelId(2))
            .with_seq(2, 3),
        ),
        (
            "v3-ICCN",
            A,
            speeds(
                m(MessageType::Iccn, CCID_B)
                    .with(V::LocalSessionId(SID_A))
                    .with(V::RemoteSessionId(SID_B))
                    .with(V::L2SpecificSublayer(1))
                    .with(V::DataSequencing(2)),
            )
            .with(V::CircuitStatus(circuit_status::ACTIVE))
            .with_seq(3, 3),
        ),
        (
            "v3-OCRQ",
            B,
            speeds(
                m(MessageType::Ocrq, CCID_A)
                    .with(V::LocalSessionId(SID_B + 1))
                    .with(V::RemoteSessionId(0))
                    .with(V::CallSerialNumber(2))
                    .with(V::PseudowireType(vlan))
                    .with(V::RemoteEndId(text("vlan-ac-100")))
                    .with(V::CircuitStatus(
                        circuit_status::ACTIVE | circuit_status::NEW,
                    ))
                    .with(V::AssignedCookie(Cookie::from_u32(0x0102_0304))),
            )
            .with(V::TieBreaker(0x1122_3344_5566_7788))
            .with(V::L2SpecificSublayer(0))
            .with(V::DataSequencing(0))
            .with_seq(3, 4),
        ),
        (
            "v3-OCRP",
            A,
            speeds(
                m(MessageType::Ocrp, CCID_B)
                    .with(V::LocalSessionId(SID_A + 1))
                    .with(V::RemoteSessionId(SID_B + 1))
                    .with(V::CircuitStatus(circuit_status::ACTIVE))
                    .with(V::AssignedCookie(Cookie::from_u32(0x0a0b_0c0d)))
                    .with(V::L2SpecificSublayer(0)),
            )
            .with(V::DataSequencing(0))
            .with(V::PhysicalChannelId(7))
            .with_seq(4, 4),
        ),
        (
            "v3-OCCN",
            A,
            speeds(
                m(MessageType::Occn, CCID_B)
                    .with(V::LocalSessionId(SID_A + 1))
                    .with(V::RemoteSessionId(SID_B + 1))
                    .with(V::L2SpecificSublayer(0)),
            )
            .with(V::DataSequencing(0))
            .with(V::CircuitStatus(circuit_status::ACTIVE))
            .with_seq(5, 4),
        ),
        (
            "v3-CDN",
            B,
            m(MessageType::Cdn, CCID_A)
                .with(V::result_code(3, Some(0), "session closed by operator"))
                .with(V::LocalSessionId(SID_B))
                .with(V::RemoteSessionId(SID_A))
                .with_seq(4, 6),
        ),
        (
            "v3-WEN",
            A,
            m(MessageType::Wen, CCID_B)
                .with(V::LocalSessionId(SID_A))
                .with(V::RemoteSessionId(SID_B))
                .with(V::CallErrors(call_errors()))
                .with_seq(6, 5),
        ),
        (
            "v3-SLI",
            A,
            m(MessageType::Sli, CCID_B)
                .with(V::LocalSessionId(SID_A))
                .with(V::RemoteSessionId(SID_B))
                .with(V::CircuitStatus(circuit_status::AC_RX_FAULT))
                .with_seq(7, 5),
        ),
        (
            "v3-ACK",
            B,
            Message::new(Version::V3, MessageType::Ack, CCID_A, 0)
                .with(DigestType::HmacMd5.placeholder())
                .with_seq(5, 8),
        ),
        (
            "v3-FSQ",
            A,
            m(MessageType::Fsq, CCID_B)
                .with(V::FailoverSessionState {
                    session_id: SID_A,
                    remote_session_id: SID_B,
                })
                .with_seq(8, 5),
        ),
        (
            "v3-FSR",
            B,
            m(MessageType::Fsr, CCID_A)
                .with(V::FailoverSessionState {
                    session_id: SID_B,
                    remote_session_id: SID_A,
                })
                .with_seq(5, 9),
        ),
        ("v3-ZLB", A, Message::zlb(Version::V3, CCID_B, 0, 9, 6)),
    ]
}

/// Every sample as (name, UDP payload bytes).
pub fn sample_messages() -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    for (name, m) in v2_messages() {
        // Built from valid values only, so encoding cannot fail.
        if let Ok(b) = m.to_bytes(&Security::default()) {
            out.push((name, b));
        }
    }
    for (name, sender, m) in v3_messages() {
        if let Ok(b) = m.to_bytes(&sender.security()) {
            out.push((name, b));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{required_avps, verify_digest};

    #[test]
    fn samples_parse_validate_and_verify() {
        let all = sample_messages();
        assert_eq!(all.len(), v2_messages().len() + v3_messages().len());
        for (name, bytes) in &all {
            let m = Message::parse(bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
            if let Some(t) = m.message_type() {
                for a in required_avps(m.version(), t) {
                    assert!(m.has(*a), "{name} lacks {a}");
                }
            }
        }
        for (name, sender, m) in v3_messages() {
            let b = m.to_bytes(&sender.security()).unwrap();
            if m.is_zlb() {
                continue;
            }
            assert_eq!(verify_digest(&b, &sender.peer_security()), Ok(()), "{name}");
        }
    }

    #[test]
    fn every_message_type_of_both_rfcs_present() {
        let names: Vec<&str> = sample_messages().iter().map(|(n, _)| *n).collect();
        for t in [
            "SCCRQ", "SCCRP", "SCCCN", "StopCCN", "HELLO", "OCRQ", "OCRP", "OCCN", "ICRQ", "ICRP",
            "ICCN", "CDN", "WEN", "SLI", "ZLB",
        ] {
            assert!(names.contains(&format!("v2-{t}").as_str()), "v2-{t}");
            assert!(names.contains(&format!("v3-{t}").as_str()), "v3-{t}");
        }
        assert!(names.contains(&"v3-ACK"));
    }
}
