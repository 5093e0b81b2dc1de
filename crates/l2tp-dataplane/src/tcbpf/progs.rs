//! The two fast-path programs and the layouts of the map values they read.
//!
//! * `egress` runs on each pseudowire device's tcx egress hook: an IPv4 or
//!   IPv6 frame the host sends gets the outer IP, UDP (if any) and L2TPv3
//!   headers pushed in front of its own Ethernet header, then leaves through
//!   the underlay device with `bpf_redirect_neigh` (route and ARP/ND as for
//!   any locally sent packet). TSO frames stay whole: the room is added with
//!   the `ENCAP_*` flags, so the kernel segments them as UDP tunnel packets
//!   with the L2TP header copied into each, as it does for VXLAN.
//! * `ingress` runs on the underlay device's tcx ingress hook: a data packet
//!   for one of our sessions, from the session's peer, with the right cookie
//!   and no sequence number, that IP and UDP input would accept (our MAC,
//!   header checksum, UDP length: a short one trims the frame as UDP input
//!   trims the datagram), loses its outer headers and is handed to the
//!   pseudowire device as if received there.
//!
//! Anything else (control messages, unknown sessions, wrong cookies,
//! sequence numbers, fragments, IP options, non-IP frames...) returns
//! `TCX_NEXT` untouched, so the userspace data plane sees it, counts it and
//! decides, exactly as without the fast path.

use super::asm::*;

/// `BPF_FUNC_*` helper numbers (include/uapi/linux/bpf.h).
const MAP_LOOKUP_ELEM: i32 = 1;
const SKB_STORE_BYTES: i32 = 9;
const REDIRECT: i32 = 23;
const SKB_LOAD_BYTES: i32 = 26;
const SKB_ADJUST_ROOM: i32 = 50;
const SKB_CHANGE_TAIL: i32 = 38;
const CSUM_LEVEL: i32 = 135;
const REDIRECT_NEIGH: i32 = 152;

/// tcx verdicts.
const TCX_NEXT: i32 = -1;
const TCX_DROP: i32 = 2;
/// `BPF_ADJ_ROOM_MAC`: room is added or removed right after the MAC header.
const ADJ_ROOM_MAC: i32 = 1;
/// `BPF_F_ADJ_ROOM_*` flags.
pub const ADJ_FIXED_GSO: u64 = 1;
pub const ADJ_ENCAP_L3_IPV4: u64 = 2;
pub const ADJ_ENCAP_L3_IPV6: u64 = 4;
pub const ADJ_ENCAP_L4_UDP: u64 = 16;
pub const ADJ_ENCAP_L2_ETH: u64 = 64;
/// `BPF_F_ADJ_ROOM_ENCAP_L2(len)`: the inner MAC header's length, counted back
/// from the inner network header.
pub fn adj_encap_l2(len: u32) -> u64 {
    (u64::from(len) & 0xff) << 56
}
/// `BPF_F_INGRESS` for `bpf_redirect`.
const F_INGRESS: i32 = 1;

/// `struct __sk_buff` offsets.
const SKB_LEN: i16 = 0;
const SKB_PKT_TYPE: i16 = 4;
/// `skb->pkt_type` of a frame addressed to another host's MAC.
const PACKET_OTHERHOST: i32 = 3;
const SKB_PROTOCOL: i16 = 16;
const SKB_VLAN_PRESENT: i16 = 20;
const SKB_IFINDEX: i16 = 40;
const SKB_GSO_SEGS: i16 = 164;
const SKB_GSO_SIZE: i16 = 176;

/// `skb->protocol` as the program sees it (network order in a u32).
const PROTO_IPV4: i32 = 0x0008;
const PROTO_IPV6: i32 = 0xdd86;

const ETH_HLEN: i32 = 14;

/// Transmit map value (key: pseudowire device ifindex).
pub mod tx {
    /// Outer IP + UDP + L2TP header length, at most [`HDR_MAX`].
    pub const HDR_LEN: usize = 0;
    /// `HDR_LEN` + the inner Ethernet header: what `adjust_room` adds.
    pub const ROOM: usize = 4;
    /// `adjust_room` flags.
    pub const FLAGS: usize = 8;
    /// Underlay device the packets leave through.
    pub const OUT_IFINDEX: usize = 16;
    /// Index into the statistics map.
    pub const SLOT: usize = 20;
    /// [`V6`] | [`UDP`] | [`NO_GSO`].
    pub const VARIANT: usize = 24;
    /// IPv4 only: one's complement sum of the header template.
    pub const CSUM_SEED: usize = 28;
    /// The header template (lengths and IPv4 checksum left zero).
    pub const HDR: usize = 32;
    pub const HDR_MAX: usize = 80;
    pub const SIZE: usize = HDR + HDR_MAX;
    pub const V6: u32 = 1;
    pub const UDP: u32 = 2;
    /// TSO frames go to userspace (IP encapsulation: the kernel cannot
    /// segment protocol 115).
    pub const NO_GSO: u32 = 4;
}

/// Receive map value (key: our session ID as it appears on the wire).
pub mod rx {
    pub const TAP_IFINDEX: usize = 0;
    pub const SLOT: usize = 4;
    /// 20 or 40: the outer IP header we accept.
    pub const IP_HLEN: usize = 8;
    /// 16 for UDP (8 + the 8-byte L2TPv3-over-UDP header start), 4 for IP.
    pub const L4_LEN: usize = 12;
    /// 0, 4 or 8.
    pub const COOKIE_LEN: usize = 16;
    /// 0 or 4.
    pub const L2SPEC_LEN: usize = 20;
    /// [`ZERO_CSUM_OK`].
    pub const FLAGS: usize = 24;
    /// UDP ports, network order.
    pub const LOCAL_PORT: usize = 28;
    pub const REMOTE_PORT: usize = 30;
    pub const COOKIE: usize = 32;
    /// Addresses (IPv4 in the first four bytes).
    pub const LOCAL: usize = 40;
    pub const REMOTE: usize = 56;
    pub const SIZE: usize = 72;
    /// IPv6 UDP with a zero checksum is accepted (`udp6_csum_rx off`).
    pub const ZERO_CSUM_OK: u32 = 1;
}

/// Statistics map value (per CPU, key: slot).
pub mod stats {
    pub const TX_PACKETS: usize = 0;
    pub const TX_BYTES: usize = 8;
    pub const RX_PACKETS: usize = 16;
    pub const RX_BYTES: usize = 24;
    pub const SIZE: usize = 32;
}

fn off(x: usize) -> i16 {
    x as i16
}

/// Adds `pkts` and `bytes` to the per-CPU counters of the slot in
/// `*(u32 *)(cfg + slot_at)`; clobbers R0-R5.
fn count(
    a: &mut Asm,
    stats_fd: i32,
    cfg: Reg,
    slot_at: usize,
    pkts_at: usize,
    pkts: Reg,
    bytes: Reg,
) {
    let done = a.label();
    a.ldx(Size::W, R2, cfg, off(slot_at));
    a.stx(Size::W, FP, -4, R2);
    a.ld_map(R1, stats_fd);
    a.movr(R2, FP).alu(Alu::Add, R2, -4);
    a.call(MAP_LOOKUP_ELEM);
    a.jmp(Cond::Eq, R0, 0, done);
    a.ldx(Size::DW, R2, R0, off(pkts_at));
    a.alur(Alu::Add, R2, pkts);
    a.stx(Size::DW, R0, off(pkts_at), R2);
    a.ldx(Size::DW, R2, R0, off(pkts_at + 8));
    a.alur(Alu::Add, R2, bytes);
    a.stx(Size::DW, R0, off(pkts_at + 8), R2);
    a.bind(done);
}

/// Stack slots where [`segments`] works and leaves its answer.
struct SegSlots {
    /// In: the skb's `gso_segs` (u64), read before `adjust_room` resets it.
    segs: i16,
    /// Scratch: the inner IP header length.
    ihl: i16,
    /// 20 bytes of scratch.
    scratch: i16,
    /// Out: frames and Ethernet bytes on the wire.
    pkts: i16,
    bytes: i16,
}

/// Counts a frame at packet offset 0 the way the userspace path does: a
/// TSO/USO frame as the `gso_segs` frames it becomes, each with its own
/// Ethernet, IP and TCP/UDP headers. Clobbers R0-R5.
fn segments(a: &mut Asm, s: &SegSlots) {
    let done = a.label();
    let v6 = a.label();
    let have_ihl = a.label();
    let tcp = a.label();
    let have_l4 = a.label();
    a.mov(R2, 1);
    a.stx(Size::DW, FP, s.pkts, R2);
    a.ldx(Size::W, R3, R6, SKB_LEN);
    a.stx(Size::DW, FP, s.bytes, R3);
    a.ldx(Size::DW, R2, FP, s.segs);
    a.jmp(Cond::Le, R2, 1, done);
    load(a, None, ETH_HLEN, s.scratch, 20, done);
    a.ldx(Size::B, R4, FP, s.scratch);
    a.movr(R5, R4).alu(Alu::Rsh, R5, 4);
    a.jmp(Cond::Eq, R5, 6, v6);
    a.jmp(Cond::Ne, R5, 4, done);
    a.alu(Alu::And, R4, 0x0f).alu(Alu::Lsh, R4, 2);
    a.ldx(Size::B, R5, FP, s.scratch + 9);
    a.ja(have_ihl);
    a.bind(v6);
    a.mov(R4, 40);
    a.ldx(Size::B, R5, FP, s.scratch + 6);
    a.bind(have_ihl);
    a.stx(Size::DW, FP, s.ihl, R4);
    a.jmp(Cond::Eq, R5, 6, tcp);
    a.jmp(Cond::Ne, R5, 17, done);
    a.mov(R4, 8);
    a.ja(have_l4);
    a.bind(tcp);
    a.movr(R5, R4);
    load(a, Some(R5), ETH_HLEN + 12, s.scratch, 1, done);
    a.ldx(Size::B, R4, FP, s.scratch);
    a.alu(Alu::Rsh, R4, 4).alu(Alu::Lsh, R4, 2);
    a.bind(have_l4);
    // bytes = len + (segs - 1) * (Ethernet + IP + L4 headers)
    a.ldx(Size::DW, R5, FP, s.ihl);
    a.alur(Alu::Add, R4, R5);
    a.alu(Alu::Add, R4, ETH_HLEN);
    a.ldx(Size::DW, R2, FP, s.segs);
    a.stx(Size::DW, FP, s.pkts, R2);
    a.alu(Alu::Sub, R2, 1);
    a.alur(Alu::Mul, R4, R2);
    a.ldx(Size::DW, R3, FP, s.bytes);
    a.alur(Alu::Add, R3, R4);
    a.stx(Size::DW, FP, s.bytes, R3);
    a.bind(done);
}

/// `r0 = bpf_skb_load_bytes(skb, off_reg, fp + at, len)`; jumps to `fail`
/// unless it succeeded.
fn load(a: &mut Asm, off_reg: Option<Reg>, off_imm: i32, at: i16, len: i32, fail: Label) {
    a.movr(R1, R6);
    match off_reg {
        Some(r) => {
            a.movr(R2, r).alu(Alu::Add, R2, off_imm);
        }
        None => {
            a.mov(R2, off_imm);
        }
    }
    a.movr(R3, FP).alu(Alu::Add, R3, i32::from(at));
    a.mov(R4, len);
    a.call(SKB_LOAD_BYTES);
    a.jmp(Cond::Ne, R0, 0, fail);
}

/// Stack slots of the egress program.
const E_PKTS: i16 = -16;
const E_BYTES: i16 = -24;
const E_SEGS: i16 = -32;
const E_IHL: i16 = -40;
const E_ETH: i16 = -56; // 14 bytes
const E_HDR: i16 = -136; // 80 bytes; scratch for `segments` before that
const E_SEG_SLOTS: SegSlots = SegSlots {
    segs: E_SEGS,
    ihl: E_IHL,
    scratch: E_HDR,
    pkts: E_PKTS,
    bytes: E_BYTES,
};

/// The encapsulating program for pseudowire devices.
pub fn egress(tx_map: i32, stats: i32) -> Vec<Insn> {
    let mut a = Asm::new();
    let next = a.label();
    let drop = a.label();
    let proto_ok = a.label();
    let gso_ok = a.label();
    let v6 = a.label();
    let lens_done = a.label();

    a.movr(R6, R1);
    a.ldx(Size::W, R2, R6, SKB_IFINDEX);
    a.stx(Size::W, FP, -4, R2);
    a.ld_map(R1, tx_map);
    a.movr(R2, FP).alu(Alu::Add, R2, -4);
    a.call(MAP_LOOKUP_ELEM);
    a.jmp(Cond::Eq, R0, 0, next);
    a.movr(R7, R0);

    // Only untagged IPv4/IPv6 frames: adjust_room refuses other protocols.
    a.ldx(Size::W, R2, R6, SKB_VLAN_PRESENT);
    a.jmp(Cond::Ne, R2, 0, next);
    a.ldx(Size::W, R2, R6, SKB_PROTOCOL);
    a.jmp(Cond::Eq, R2, PROTO_IPV4, proto_ok);
    a.jmp(Cond::Eq, R2, PROTO_IPV6, proto_ok);
    a.ja(next);
    a.bind(proto_ok);

    a.ldx(Size::W, R8, R7, off(tx::VARIANT));
    a.movr(R2, R8).alu(Alu::And, R2, tx::NO_GSO as i32);
    a.jmp(Cond::Eq, R2, 0, gso_ok);
    a.ldx(Size::W, R3, R6, SKB_GSO_SIZE);
    a.jmp(Cond::Ne, R3, 0, next);
    a.bind(gso_ok);

    a.ldx(Size::W, R9, R6, SKB_LEN);
    load(&mut a, None, 0, E_ETH, ETH_HLEN, next);
    a.ldx(Size::W, R2, R6, SKB_GSO_SEGS);
    a.stx(Size::DW, FP, E_SEGS, R2);
    segments(&mut a, &E_SEG_SLOTS);

    // Header template to the stack, then its length fields.
    for i in 0..(tx::HDR_MAX / 8) as i16 {
        a.ldx(Size::DW, R2, R7, off(tx::HDR) + 8 * i);
        a.stx(Size::DW, FP, E_HDR + 8 * i, R2);
    }
    // r4 = outer IP datagram length = frame + room - Ethernet header.
    a.ldx(Size::W, R4, R7, off(tx::ROOM));
    a.alur(Alu::Add, R4, R9);
    a.alu(Alu::Sub, R4, ETH_HLEN);
    a.movr(R3, R8).alu(Alu::And, R3, tx::V6 as i32);
    a.jmp(Cond::Ne, R3, 0, v6);
    // IPv4: total length, header checksum, then the UDP length.
    a.movr(R3, R4).be(R3, 16);
    a.stx(Size::H, FP, E_HDR + 2, R3);
    a.ldx(Size::W, R3, R7, off(tx::CSUM_SEED));
    a.alur(Alu::Add, R3, R4);
    for _ in 0..2 {
        a.movr(R5, R3).alu(Alu::Rsh, R5, 16);
        a.alu(Alu::And, R3, 0xffff);
        a.alur(Alu::Add, R3, R5);
    }
    a.alu(Alu::Xor, R3, 0xffff);
    a.be(R3, 16);
    a.stx(Size::H, FP, E_HDR + 10, R3);
    a.alu(Alu::Sub, R4, 20);
    a.movr(R3, R8).alu(Alu::And, R3, tx::UDP as i32);
    a.jmp(Cond::Eq, R3, 0, lens_done);
    a.movr(R3, R4).be(R3, 16);
    a.stx(Size::H, FP, E_HDR + 24, R3);
    a.ja(lens_done);
    // IPv6: payload length, then the UDP length (the same number).
    a.bind(v6);
    a.alu(Alu::Sub, R4, 40);
    a.movr(R3, R4).be(R3, 16);
    a.stx(Size::H, FP, E_HDR + 4, R3);
    a.movr(R5, R8).alu(Alu::And, R5, tx::UDP as i32);
    a.jmp(Cond::Eq, R5, 0, lens_done);
    a.stx(Size::H, FP, E_HDR + 44, R3);
    a.bind(lens_done);

    // Room after the host's Ethernet header; on failure nothing changed.
    a.movr(R1, R6);
    a.ldx(Size::W, R2, R7, off(tx::ROOM));
    a.mov(R3, ADJ_ROOM_MAC);
    a.ldx(Size::DW, R4, R7, off(tx::FLAGS));
    a.call(SKB_ADJUST_ROOM);
    a.jmp(Cond::Ne, R0, 0, next);

    // From here on the packet is changed: failures drop it.
    a.movr(R1, R6);
    a.mov(R2, ETH_HLEN);
    a.movr(R3, FP).alu(Alu::Add, R3, i32::from(E_HDR));
    a.ldx(Size::W, R4, R7, off(tx::HDR_LEN));
    a.jmp(Cond::Gt, R4, tx::HDR_MAX as i32, drop);
    a.jmp(Cond::Lt, R4, 1, drop);
    a.mov(R5, 0);
    a.call(SKB_STORE_BYTES);
    a.jmp(Cond::Ne, R0, 0, drop);
    // The host's Ethernet header goes back in front of its payload.
    a.movr(R1, R6);
    a.ldx(Size::W, R2, R7, off(tx::HDR_LEN));
    a.alu(Alu::Add, R2, ETH_HLEN);
    a.movr(R3, FP).alu(Alu::Add, R3, i32::from(E_ETH));
    a.mov(R4, ETH_HLEN);
    a.mov(R5, 0);
    a.call(SKB_STORE_BYTES);
    a.jmp(Cond::Ne, R0, 0, drop);
    // The outer MAC addresses: neighbour output writes the real ones, but
    // bpf_redirect_neigh drops a packet whose (old) destination is
    // multicast, which the host's own header is for ND, mDNS... frames.
    a.st(Size::DW, FP, E_IHL, 0);
    a.st(Size::DW, FP, E_SEGS, 0);
    a.movr(R1, R6);
    a.mov(R2, 0);
    a.movr(R3, FP).alu(Alu::Add, R3, i32::from(E_IHL));
    a.mov(R4, 12);
    a.mov(R5, 0);
    a.call(SKB_STORE_BYTES);
    a.jmp(Cond::Ne, R0, 0, drop);

    a.ldx(Size::DW, R8, FP, E_PKTS);
    a.ldx(Size::DW, R9, FP, E_BYTES);
    count(&mut a, stats, R7, tx::SLOT, stats::TX_PACKETS, R8, R9);

    a.ldx(Size::W, R1, R7, off(tx::OUT_IFINDEX));
    a.mov(R2, 0).mov(R3, 0).mov(R4, 0);
    a.call(REDIRECT_NEIGH);
    a.exit();

    a.bind(next);
    a.ret(TCX_NEXT);
    a.bind(drop);
    a.ret(TCX_DROP);
    a.finish()
}

/// Stack slots of the ingress program.
const I_IP: i16 = -64; // 40 bytes
const I_L4: i16 = -88; // 16 bytes
const I_TAIL: i16 = -104; // cookie + sublayer, 16 bytes
const I_ETH: i16 = -120; // 14 bytes
/// The length to trim the decapsulated frame to (0: none), when the UDP
/// length ends the datagram before the IP packet ends.
const I_TRIM: i16 = -160;
const I_SEG_SLOTS: SegSlots = SegSlots {
    segs: -128,
    ihl: -136,
    scratch: I_IP, // free once the packet is decapsulated
    pkts: -144,
    bytes: -152,
};

/// The decapsulating program for underlay devices.
pub fn ingress(rx_map: i32, stats: i32) -> Vec<Insn> {
    let mut a = Asm::new();
    let next = a.label();
    let drop = a.label();
    let v4 = a.label();
    let v6 = a.label();
    let l4 = a.label();
    let udp = a.label();
    let ip = a.label();
    let lookup = a.label();
    let addr6 = a.label();
    let addr_ok = a.label();
    let csum_ok = a.label();
    let cookie_ok = a.label();
    let cookie8 = a.label();
    let seq_ok = a.label();

    a.movr(R6, R1);
    a.st(Size::DW, FP, I_TRIM, 0);
    // Frames for another host (promiscuous mode) are not ours to take;
    // IPv4/IPv6 input drops them too.
    a.ldx(Size::W, R2, R6, SKB_PKT_TYPE);
    a.jmp(Cond::Eq, R2, PACKET_OTHERHOST, next);
    a.ldx(Size::W, R2, R6, SKB_VLAN_PRESENT);
    a.jmp(Cond::Ne, R2, 0, next);
    a.ldx(Size::W, R2, R6, SKB_PROTOCOL);
    a.jmp(Cond::Eq, R2, PROTO_IPV4, v4);
    a.jmp(Cond::Eq, R2, PROTO_IPV6, v6);
    a.ja(next);

    // IPv4 without options or fragmentation; the frame holds exactly the
    // datagram (no Ethernet padding to carry into the pseudowire). A GSO
    // packet (from a local sender over veth) has lengths fixed up only when
    // it is segmented, so its length is not checked.
    a.bind(v4);
    load(&mut a, None, ETH_HLEN, I_IP, 20, next);
    a.ldx(Size::B, R2, FP, I_IP);
    a.jmp(Cond::Ne, R2, 0x45, next);
    // The header checksum, as IPv4 input checks it.
    a.mov(R3, 0);
    for k in 0..10 {
        a.ldx(Size::H, R2, FP, I_IP + 2 * k);
        a.alur(Alu::Add, R3, R2);
    }
    for _ in 0..2 {
        a.movr(R2, R3).alu(Alu::Rsh, R2, 16);
        a.alu(Alu::And, R3, 0xffff);
        a.alur(Alu::Add, R3, R2);
    }
    a.jmp(Cond::Ne, R3, 0xffff, next);
    a.ldx(Size::H, R2, FP, I_IP + 6);
    a.jmp(Cond::Set, R2, 0xff3f, next);
    let len4_ok = a.label();
    a.ldx(Size::W, R3, R6, SKB_GSO_SIZE);
    a.jmp(Cond::Ne, R3, 0, len4_ok);
    a.ldx(Size::H, R2, FP, I_IP + 2);
    a.be(R2, 16);
    a.alu(Alu::Add, R2, ETH_HLEN);
    a.ldx(Size::W, R3, R6, SKB_LEN);
    a.jmpr(Cond::Ne, R2, R3, next);
    a.bind(len4_ok);
    a.ldx(Size::B, R8, FP, I_IP + 9);
    a.mov(R9, 20);
    a.ja(l4);

    a.bind(v6);
    load(&mut a, None, ETH_HLEN, I_IP, 40, next);
    a.ldx(Size::B, R2, FP, I_IP);
    a.alu(Alu::And, R2, 0xf0);
    a.jmp(Cond::Ne, R2, 0x60, next);
    let len6_ok = a.label();
    a.ldx(Size::W, R3, R6, SKB_GSO_SIZE);
    a.jmp(Cond::Ne, R3, 0, len6_ok);
    a.ldx(Size::H, R2, FP, I_IP + 4);
    a.be(R2, 16);
    a.alu(Alu::Add, R2, ETH_HLEN + 40);
    a.ldx(Size::W, R3, R6, SKB_LEN);
    a.jmpr(Cond::Ne, R2, R3, next);
    a.bind(len6_ok);
    a.ldx(Size::B, R8, FP, I_IP + 6);
    a.mov(R9, 40);

    a.bind(l4);
    a.jmp(Cond::Eq, R8, 17, udp);
    a.jmp(Cond::Eq, R8, 115, ip);
    a.ja(next);

    // UDP header and the first 8 bytes of L2TPv3 over UDP: a data message
    // (T bit clear) of version 3 with a non-zero session ID.
    a.bind(udp);
    load(&mut a, Some(R9), ETH_HLEN, I_L4, 16, next);
    a.ldx(Size::B, R2, FP, I_L4 + 8);
    a.jmp(Cond::Set, R2, 0x80, next);
    a.ldx(Size::B, R2, FP, I_L4 + 9);
    a.alu(Alu::And, R2, 0x0f);
    a.jmp(Cond::Ne, R2, 3, next);
    // The UDP length, as UDP input reads it: beyond the IP payload is
    // refused, short of it trims (remembered here, applied after
    // decapsulation); zero over IPv6 means the whole payload. GSO packets
    // get their lengths only when segmented.
    let ulen_ok = a.label();
    let v6_payload = a.label();
    let have_payload = a.label();
    a.ldx(Size::W, R3, R6, SKB_GSO_SIZE);
    a.jmp(Cond::Ne, R3, 0, ulen_ok);
    a.ldx(Size::H, R4, FP, I_L4 + 4);
    a.be(R4, 16);
    a.jmp(Cond::Eq, R9, 40, v6_payload);
    a.ldx(Size::H, R3, FP, I_IP + 2);
    a.be(R3, 16);
    a.alu(Alu::Sub, R3, 20);
    a.ja(have_payload);
    a.bind(v6_payload);
    a.jmp(Cond::Eq, R4, 0, ulen_ok);
    a.ldx(Size::H, R3, FP, I_IP + 4);
    a.be(R3, 16);
    a.bind(have_payload);
    a.jmpr(Cond::Gt, R4, R3, next);
    a.jmp(Cond::Lt, R4, 16, next);
    a.jmpr(Cond::Eq, R4, R3, ulen_ok);
    a.stx(Size::DW, FP, I_TRIM, R4);
    a.bind(ulen_ok);
    a.ldx(Size::W, R2, FP, I_L4 + 12);
    a.mov(R8, 16);
    a.ja(lookup);

    // IP protocol 115: a zero session ID is a control message.
    a.bind(ip);
    load(&mut a, Some(R9), ETH_HLEN, I_L4, 4, next);
    a.ldx(Size::W, R2, FP, I_L4);
    a.mov(R8, 4);

    a.bind(lookup);
    a.jmp(Cond::Eq, R2, 0, next);
    a.stx(Size::W, FP, -4, R2);
    a.ld_map(R1, rx_map);
    a.movr(R2, FP).alu(Alu::Add, R2, -4);
    a.call(MAP_LOOKUP_ELEM);
    a.jmp(Cond::Eq, R0, 0, next);
    a.movr(R7, R0);

    // The session's own encapsulation, addresses and ports only.
    a.ldx(Size::W, R2, R7, off(rx::IP_HLEN));
    a.jmpr(Cond::Ne, R2, R9, next);
    a.ldx(Size::W, R2, R7, off(rx::L4_LEN));
    a.jmpr(Cond::Ne, R2, R8, next);
    a.jmp(Cond::Eq, R9, 40, addr6);
    a.ldx(Size::W, R2, FP, I_IP + 12);
    a.ldx(Size::W, R3, R7, off(rx::REMOTE));
    a.jmpr(Cond::Ne, R2, R3, next);
    a.ldx(Size::W, R2, FP, I_IP + 16);
    a.ldx(Size::W, R3, R7, off(rx::LOCAL));
    a.jmpr(Cond::Ne, R2, R3, next);
    a.ja(addr_ok);
    a.bind(addr6);
    for (pkt, cfg) in [
        (I_IP + 8, rx::REMOTE),
        (I_IP + 16, rx::REMOTE + 8),
        (I_IP + 24, rx::LOCAL),
        (I_IP + 32, rx::LOCAL + 8),
    ] {
        a.ldx(Size::DW, R2, FP, pkt);
        a.ldx(Size::DW, R3, R7, off(cfg));
        a.jmpr(Cond::Ne, R2, R3, next);
    }
    a.bind(addr_ok);

    a.jmp(Cond::Ne, R8, 16, csum_ok);
    a.ldx(Size::H, R2, FP, I_L4);
    a.ldx(Size::H, R3, R7, off(rx::REMOTE_PORT));
    a.jmpr(Cond::Ne, R2, R3, next);
    a.ldx(Size::H, R2, FP, I_L4 + 2);
    a.ldx(Size::H, R3, R7, off(rx::LOCAL_PORT));
    a.jmpr(Cond::Ne, R2, R3, next);
    // A UDP checksum must have been verified already (by the device or
    // the stack); a zero one is fine on IPv4 and, when allowed, on IPv6.
    let zero = a.label();
    a.ldx(Size::H, R2, FP, I_L4 + 6);
    a.jmp(Cond::Eq, R2, 0, zero);
    a.movr(R1, R6).mov(R2, 0);
    a.call(CSUM_LEVEL);
    a.jmp(Cond::Slt, R0, 0, next);
    a.ja(csum_ok);
    a.bind(zero);
    a.jmp(Cond::Eq, R9, 20, csum_ok);
    a.ldx(Size::W, R2, R7, off(rx::FLAGS));
    a.jmp(Cond::Set, R2, rx::ZERO_CSUM_OK as i32, csum_ok);
    a.ja(next);
    a.bind(csum_ok);

    // r8 = offset of what follows the session ID: cookie, sublayer, frame.
    a.alur(Alu::Add, R8, R9);
    a.alu(Alu::Add, R8, ETH_HLEN);
    load(&mut a, Some(R8), 0, I_TAIL, 12, next);
    a.ldx(Size::W, R4, R7, off(rx::COOKIE_LEN));
    a.jmp(Cond::Eq, R4, 0, cookie_ok);
    a.jmp(Cond::Eq, R4, 8, cookie8);
    a.ldx(Size::W, R2, FP, I_TAIL);
    a.ldx(Size::W, R3, R7, off(rx::COOKIE));
    a.jmpr(Cond::Ne, R2, R3, next);
    a.ja(cookie_ok);
    a.bind(cookie8);
    a.ldx(Size::DW, R2, FP, I_TAIL);
    a.ldx(Size::DW, R3, R7, off(rx::COOKIE));
    a.jmpr(Cond::Ne, R2, R3, next);
    a.bind(cookie_ok);
    // Default sublayer: packets carrying a sequence number go to userspace.
    a.ldx(Size::W, R5, R7, off(rx::L2SPEC_LEN));
    a.jmp(Cond::Eq, R5, 0, seq_ok);
    for (clen, at) in [(0, I_TAIL), (4, I_TAIL + 4), (8, I_TAIL + 8)] {
        let skip = a.label();
        a.jmp(Cond::Ne, R4, clen, skip);
        a.ldx(Size::B, R2, FP, at);
        a.jmp(Cond::Set, R2, 0x40, next);
        a.bind(skip);
    }
    a.bind(seq_ok);
    a.alur(Alu::Add, R8, R4);
    a.alur(Alu::Add, R8, R5);
    load(&mut a, Some(R8), 0, I_ETH, ETH_HLEN, next);
    // A UDP length short of the packet: the frame is what it covers,
    // ulen - (inner offset - Ethernet - IP header).
    let no_trim = a.label();
    a.ldx(Size::DW, R4, FP, I_TRIM);
    a.jmp(Cond::Eq, R4, 0, no_trim);
    a.alu(Alu::Add, R4, ETH_HLEN);
    a.alur(Alu::Add, R4, R9);
    a.alur(Alu::Sub, R4, R8);
    a.jmp(Cond::Slt, R4, ETH_HLEN, next);
    a.stx(Size::DW, FP, I_TRIM, R4);
    a.bind(no_trim);

    // Outer headers out, the inner Ethernet header over the outer one.
    a.ldx(Size::W, R2, R6, SKB_GSO_SEGS);
    a.stx(Size::DW, FP, I_SEG_SLOTS.segs, R2);
    a.movr(R1, R6);
    a.mov(R2, 0).alur(Alu::Sub, R2, R8);
    a.mov(R3, ADJ_ROOM_MAC);
    a.mov(R4, ADJ_FIXED_GSO as i32);
    a.call(SKB_ADJUST_ROOM);
    a.jmp(Cond::Ne, R0, 0, next);
    a.movr(R1, R6);
    a.mov(R2, 0);
    a.movr(R3, FP).alu(Alu::Add, R3, i32::from(I_ETH));
    a.mov(R4, ETH_HLEN);
    a.mov(R5, 0);
    a.call(SKB_STORE_BYTES);
    a.jmp(Cond::Ne, R0, 0, drop);
    let trimmed = a.label();
    a.ldx(Size::DW, R2, FP, I_TRIM);
    a.jmp(Cond::Eq, R2, 0, trimmed);
    a.movr(R1, R6).mov(R3, 0);
    a.call(SKB_CHANGE_TAIL);
    a.jmp(Cond::Ne, R0, 0, drop);
    a.bind(trimmed);

    segments(&mut a, &I_SEG_SLOTS);
    a.ldx(Size::DW, R8, FP, I_SEG_SLOTS.pkts);
    a.ldx(Size::DW, R9, FP, I_SEG_SLOTS.bytes);
    count(&mut a, stats, R7, rx::SLOT, stats::RX_PACKETS, R8, R9);

    a.ldx(Size::W, R1, R7, off(rx::TAP_IFINDEX));
    a.mov(R2, F_INGRESS);
    a.call(REDIRECT);
    a.exit();

    a.bind(next);
    a.ret(TCX_NEXT);
    a.bind(drop);
    a.ret(TCX_DROP);
    a.finish()
}
