//! The programs run in the real kernel (`BPF_PROG_TEST_RUN`) on crafted
//! frames; what they emit is parsed back with the codec.

use super::*;
use crate::wire::V3DataRepr;

pub(super) const TCX_NEXT: u32 = u32::MAX;
pub(super) const TCX_REDIRECT: u32 = 7;
/// `lo`: what the test run's skb->dev defaults to.
pub(super) const LO: u32 = 1;

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The loaded programs, or `None` (skipped) without root.
pub(super) fn fast_path() -> Option<TcBpf> {
    if !root() {
        eprintln!("skipped: needs root for bpf(2)");
        return None;
    }
    Some(TcBpf::new().expect("loading the tc-bpf programs"))
}

fn params(encap: Encap, v6: bool, cookie: &[u8], l2spec: L2SpecType) -> Params {
    let (local, remote): (IpAddr, IpAddr) = if v6 {
        (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        )
    } else {
        ("198.18.0.1".parse().unwrap(), "198.18.0.2".parse().unwrap())
    };
    Params {
        tap_ifindex: LO,
        encap,
        local,
        remote,
        udp_sport: 1701,
        udp_dport: 1702,
        session_id: 0x0102_0304,
        peer_session_id: 0x0a0b_0c0d,
        cookie: Cookie::new(cookie).unwrap(),
        peer_cookie: Cookie::new(cookie).unwrap(),
        l2spec,
        send_seq: false,
        recv_seq: false,
        udp_csum_tx: false,
        udp6_csum_rx: false,
        tx_mode: crate::offload::TcBpfTx::On,
    }
}

/// An Ethernet frame carrying IPv4/UDP with `len` payload bytes.
fn inner_frame(len: usize) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 0xbb, 0x02, 0, 0, 0, 0, 0xaa, 0x08, 0x00];
    let total = 20 + 8 + len;
    f.extend_from_slice(&[
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ]);
    f.extend_from_slice(&[198, 19, 0, 1, 198, 19, 0, 2]);
    let c = !ones_sum(&f[14..34]) as u16;
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&[
        0x30,
        0x39,
        0x30,
        0x3a,
        ((8 + len) >> 8) as u8,
        (8 + len) as u8,
        0,
        0,
    ]);
    f.extend((0..len).map(|i| i as u8));
    f
}

/// What a peer would send us: outer Ethernet + the reverse headers + frame.
fn wire_packet(p: &Params, frame: &[u8], peer_cookie: &[u8], seq: bool) -> Vec<u8> {
    let rev = Params {
        local: p.remote,
        remote: p.local,
        udp_sport: p.udp_dport,
        udp_dport: p.udp_sport,
        peer_session_id: p.session_id,
        cookie: Cookie::new(peer_cookie).unwrap(),
        ..p.clone()
    };
    let mut hdr = header_template(&rev);
    if seq {
        let n = hdr.len();
        hdr[n - 4] = 0x40;
        hdr[n - 1] = 1;
    }
    let ip_len = hdr.len() + frame.len();
    if p.local.is_ipv6() {
        let pl = (ip_len - 40) as u16;
        hdr[4..6].copy_from_slice(&pl.to_be_bytes());
        if p.encap == Encap::Udp {
            hdr[44..46].copy_from_slice(&pl.to_be_bytes());
        }
    } else {
        hdr[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        let c = !ones_sum(&hdr[..20]) as u16;
        hdr[10..12].copy_from_slice(&c.to_be_bytes());
        if p.encap == Encap::Udp {
            hdr[24..26].copy_from_slice(&((ip_len - 20) as u16).to_be_bytes());
        }
    }
    let ethertype: [u8; 2] = if p.local.is_ipv6() {
        [0x86, 0xdd]
    } else {
        [0x08, 0x00]
    };
    // To `lo`'s address (all zero): a frame for this host.
    let mut pkt = vec![0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 2];
    pkt.extend_from_slice(&ethertype);
    pkt.extend_from_slice(&hdr);
    pkt.extend_from_slice(frame);
    pkt
}

fn add_rx(bpf: &TcBpf, p: &Params, slot: u32) {
    bpf.install_rx(p, slot);
}

fn add_tx(bpf: &TcBpf, p: &Params, slot: u32) {
    bpf.install_tx(p, slot);
}

fn slot_moved(bpf: &TcBpf, slot: u32) -> Moved {
    bpf.slot_moved(slot)
}

const VARIANTS: [(Encap, bool, &[u8], L2SpecType); 6] = [
    (Encap::Udp, false, &[], L2SpecType::None),
    (Encap::Udp, false, &[1, 2, 3, 4], L2SpecType::Default),
    (
        Encap::Udp,
        true,
        &[1, 2, 3, 4, 5, 6, 7, 8],
        L2SpecType::Default,
    ),
    (
        Encap::Ip,
        false,
        &[9, 8, 7, 6, 5, 4, 3, 2],
        L2SpecType::None,
    ),
    (Encap::Ip, true, &[], L2SpecType::Default),
    (Encap::Ip, true, &[1, 2, 3, 4], L2SpecType::None),
];

#[test]
fn egress_builds_what_the_codec_and_the_kernel_expect() {
    let Some(bpf) = fast_path() else { return };
    for (i, (encap, v6, cookie, l2spec)) in VARIANTS.into_iter().enumerate() {
        let p = params(encap, v6, cookie, l2spec);
        add_tx(&bpf, &p, i as u32);
        let mut frame = inner_frame(100 + i);
        if i % 2 == 1 {
            // A multicast destination (as ND uses) must not stop the frame.
            frame[..6].copy_from_slice(&[0x33, 0x33, 0, 0, 0, 1]);
        }
        let (ret, out) = bpf.test_run(true, &frame, LO).unwrap();
        assert_eq!(ret, TCX_REDIRECT, "variant {i}");
        let ip = &out[14..];
        let ip_hlen = if v6 { 40 } else { 20 };
        if v6 {
            assert_eq!(ip[0] >> 4, 6);
            let pl = u16::from_be_bytes([ip[4], ip[5]]) as usize;
            assert_eq!(pl + 40, ip.len(), "variant {i}: IPv6 payload length");
        } else {
            assert_eq!(u16::from_be_bytes([ip[2], ip[3]]) as usize, ip.len());
            assert_eq!(ones_sum(&ip[..20]), 0xffff, "variant {i}: IPv4 checksum");
            assert_eq!(ip[6], 0x40, "DF");
        }
        let mut l2tp = &ip[ip_hlen..];
        if encap == Encap::Udp {
            assert_eq!(u16::from_be_bytes([l2tp[0], l2tp[1]]), 1701);
            assert_eq!(u16::from_be_bytes([l2tp[2], l2tp[3]]), 1702);
            assert_eq!(u16::from_be_bytes([l2tp[4], l2tp[5]]) as usize, l2tp.len());
            assert_eq!(&l2tp[6..8], &[0, 0], "zero UDP checksum");
            l2tp = &l2tp[8..];
        }
        let wire = crate::wire::V3DataConfig {
            encap,
            cookie_len: cookie.len() as u8,
            l2spec,
        };
        let (repr, off) = V3DataRepr::parse(l2tp, &wire).expect("codec parses it");
        assert_eq!(repr.session_id, p.peer_session_id);
        assert_eq!(repr.cookie.as_bytes(), cookie);
        assert_eq!(repr.seq, None);
        assert_eq!(&l2tp[off..], &frame[..], "variant {i}: inner frame intact");
        assert_eq!(
            &out[..12],
            &[0; 12],
            "variant {i}: outer MACs left to neighbour output"
        );
        let m = slot_moved(&bpf, i as u32);
        assert_eq!((m.tx_packets, m.tx_bytes), (1, frame.len() as u64));
        bpf.tx_map.delete(&LO.to_ne_bytes()).unwrap();
    }
}

#[test]
fn egress_leaves_other_frames_to_userspace() {
    let Some(bpf) = fast_path() else { return };
    // No session on this device.
    let frame = inner_frame(50);
    let (ret, out) = bpf.test_run(true, &frame, LO).unwrap();
    assert_eq!((ret, &out[..]), (TCX_NEXT, &frame[..]));
    let p = params(Encap::Udp, false, &[], L2SpecType::None);
    add_tx(&bpf, &p, 7);
    // ARP (not IP): adjust_room cannot handle it.
    let mut arp = frame.clone();
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    let (ret, out) = bpf.test_run(true, &arp, LO).unwrap();
    assert_eq!((ret, &out[..]), (TCX_NEXT, &arp[..]));
    assert_eq!(slot_moved(&bpf, 7), Moved::default());
    bpf.tx_map.delete(&LO.to_ne_bytes()).unwrap();
}

#[test]
fn ingress_delivers_the_inner_frame() {
    let Some(bpf) = fast_path() else { return };
    for (i, (encap, v6, cookie, l2spec)) in VARIANTS.into_iter().enumerate() {
        let p = params(encap, v6, cookie, l2spec);
        let slot = 100 + i as u32;
        add_rx(&bpf, &p, slot);
        let frame = inner_frame(60 + 3 * i);
        let pkt = wire_packet(&p, &frame, cookie, false);
        let (ret, out) = bpf.test_run(false, &pkt, LO).unwrap();
        assert_eq!(ret, TCX_REDIRECT, "variant {i}");
        assert_eq!(out, frame, "variant {i}");
        let m = slot_moved(&bpf, slot);
        assert_eq!((m.rx_packets, m.rx_bytes), (1, frame.len() as u64));
        bpf.rx_map.delete(&p.session_id.to_be_bytes()).unwrap();
    }
}

#[test]
fn ingress_passes_what_userspace_must_judge() {
    let Some(bpf) = fast_path() else { return };
    let p = params(Encap::Udp, false, &[1, 2, 3, 4], L2SpecType::Default);
    add_rx(&bpf, &p, 200);
    let frame = inner_frame(80);
    let next = |pkt: &[u8], why: &str| {
        let (ret, out) = bpf.test_run(false, pkt, LO).unwrap();
        assert_eq!(ret, TCX_NEXT, "{why}");
        assert_eq!(out, pkt, "{why}: untouched");
    };
    next(
        &wire_packet(&p, &frame, &[1, 2, 3, 5], false),
        "wrong cookie",
    );
    next(
        &wire_packet(&p, &frame, &[1, 2, 3, 4], true),
        "sequence number",
    );
    let mut other = p.clone();
    other.session_id = 99;
    next(
        &wire_packet(&other, &frame, &[1, 2, 3, 4], false),
        "unknown session",
    );
    let good = wire_packet(&p, &frame, &[1, 2, 3, 4], false);
    let mut ctl = good.clone();
    ctl[14 + 28] |= 0x80;
    next(&ctl, "control message (T bit)");
    let mut v2 = good.clone();
    v2[14 + 29] = 0x02;
    next(&v2, "L2TPv2");
    let mut port = good.clone();
    port[14 + 20] ^= 1;
    next(&port, "wrong source port");
    let mut src = good.clone();
    src[14 + 15] ^= 1;
    let c = u16::from_be_bytes([src[24], src[25]]).wrapping_sub(1);
    src[24..26].copy_from_slice(&c.to_be_bytes());
    next(&src, "wrong peer address");
    let mut other_host = good.clone();
    other_host[0] = 0x02;
    next(&other_host, "addressed to another host's MAC");
    let mut frag = good.clone();
    frag[14 + 6] |= 0x20;
    next(&frag, "fragment");
    let mut padded = good.clone();
    padded.extend_from_slice(&[0; 6]);
    next(&padded, "trailing bytes past the IP length");
    next(&good[..60], "truncated");
    assert_eq!(slot_moved(&bpf, 200), Moved::default());
    // And the good one still goes through.
    let (ret, out) = bpf.test_run(false, &good, LO).unwrap();
    assert_eq!((ret, out), (TCX_REDIRECT, frame));
}

#[test]
fn eligibility_follows_sequencing_and_checksums() {
    let mut p = params(Encap::Udp, false, &[], L2SpecType::Default);
    assert!(p.tx_eligible() && p.rx_eligible());
    p.udp_csum_tx = true;
    assert!(!p.tx_eligible() && p.rx_eligible());
    p.encap = Encap::Ip;
    assert!(!p.tx_eligible() && p.rx_eligible(), "IP: receive only");
    p.send_seq = true;
    p.recv_seq = true;
    assert!(!p.tx_eligible() && !p.rx_eligible());
    let mut off = params(Encap::Udp, false, &[], L2SpecType::None);
    off.tx_mode = crate::offload::TcBpfTx::Off;
    assert!(
        !off.tx_eligible() && off.rx_eligible(),
        "transmit not allowed"
    );
    let mut any = params(Encap::Udp, false, &[], L2SpecType::None);
    any.local = "0.0.0.0".parse().unwrap();
    assert!(!any.tx_eligible() && !any.rx_eligible(), "local any");
}
