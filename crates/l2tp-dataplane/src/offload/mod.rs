//! Offloads: what lets the userspace data plane move 64 KiB at a time the
//! way the kernel's own tunnels do.
//!
//! * [`vnet`] — the `virtio_net_hdr` of a TAP device opened with
//!   `IFF_VNET_HDR`, through which the kernel hands over unsegmented TCP
//!   (TSO) and UDP (USO) frames and unfinished checksums;
//! * [`segment`] — splits such a frame into MTU-sized frames with correct
//!   IP/TCP/UDP headers and checksums (what a NIC would do);
//! * [`coalesce`] — the reverse on receive: consecutive segments of a flow
//!   merged into one large frame written with a GSO header (what GRO does);
//! * [`csum`] — the Internet checksum.
//!
//! Every technique can be switched off on its own ([`FastpathOptions`]) so
//! the benchmark can show what each one earns.

pub mod coalesce;
pub mod csum;
pub mod segment;
pub mod vnet;

use std::fmt;

/// Switches of the fast path. The defaults turn everything on; each field
/// can be overridden by an environment variable (read by
/// [`from_env`](Self::from_env), which `UserspaceDataplane::new` uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FastpathOptions {
    /// `L2TP_DP_OFFLOAD`: TAP devices with `IFF_VNET_HDR` and
    /// `TUNSETOFFLOAD` (checksum, TSO4/6, USO4/6); large frames are
    /// segmented here instead of by the host's stack.
    pub offload: bool,
    /// `L2TP_DP_GSO`: a train of equal-sized UDP datagrams goes out in one
    /// `sendmsg` with `UDP_SEGMENT`. The kernel needs UDP checksums for
    /// this, so they are sent even with `udp_csum off` (they are offloaded).
    pub gso: bool,
    /// `L2TP_DP_GRO`: `UDP_GRO` on the underlay sockets, so one receive
    /// returns many datagrams.
    pub gro: bool,
    /// `L2TP_DP_COALESCE`: received TCP segments (and equal-sized UDP
    /// datagrams) of a flow are merged into one frame written to the TAP
    /// with a GSO header. Needs `offload`.
    pub coalesce: bool,
    /// `L2TP_DP_VERIFY`: inner checksums are verified before frames are
    /// merged (a merged frame is marked as checked, so the host will not
    /// check it again).
    pub verify: bool,
    /// `L2TP_DP_QUEUES`: TAP queues per device and transmit workers; 0 picks
    /// one per CPU.
    pub queues: usize,
    /// `L2TP_DP_INLINE_TX`: after writing received frames to a device, the
    /// receive thread sends what the host queued in answer (ACKs, echo
    /// replies) itself instead of waking a transmit worker.
    pub inline_tx: bool,
    /// `L2TP_DP_ASYNC_REMOVAL`: deleting a session returns without waiting
    /// for its device to leave the namespace (a few microseconds instead
    /// of about a millisecond; the name stays taken for tens of
    /// milliseconds). Off by default, so a deleted device is gone when the
    /// call returns.
    pub async_removal: bool,
    /// `L2TP_DP_TCBPF`: sessions without sequence numbers move their IPv4
    /// and IPv6 frames inside the kernel with two tc-BPF programs (see
    /// `tcbpf`); everything else, and every host where the programs cannot
    /// load, stays on the userspace path.
    pub tc_bpf: bool,
    /// `L2TP_DP_TCBPF_TX` (`auto`, `1`/`on`, `0`/`off`): with `tc_bpf`,
    /// whether to transmit in the kernel too. See [`TcBpfTx`].
    pub tc_bpf_tx: TcBpfTx,
}

impl Default for FastpathOptions {
    fn default() -> Self {
        Self {
            offload: true,
            gso: true,
            gro: true,
            coalesce: true,
            verify: true,
            queues: 0,
            inline_tx: true,
            async_removal: false,
            tc_bpf: true,
            tc_bpf_tx: TcBpfTx::Auto,
        }
    }
}

/// Whether the tc-BPF fast path transmits too.
///
/// Its encapsulated frames keep the host's "inner checksum left to the
/// device" state, as VXLAN's do: a hardware NIC (or the kernel, for one
/// that cannot) fills the inner TCP/UDP checksum in, but a virtual link (a
/// veth, a TAP to a virtual machine) hands the frame on unfilled, and the
/// Linux kernel's own L2TP receiver (`l2tp_eth`) then drops it. l2tpd's
/// receive fast path takes such frames as they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcBpfTx {
    /// Userspace transmits.
    Off,
    /// The kernel transmits when the tunnel's underlay device fills inner
    /// checksums in: a hardware NIC, or a VLAN, bond or team of them.
    Auto,
    /// The kernel transmits whatever the underlay: for links whose far end
    /// is l2tpd, or that complete checksums themselves.
    On,
}

impl TcBpfTx {
    fn from_env(default: Self) -> Self {
        let Ok(v) = std::env::var("L2TP_DP_TCBPF_TX") else {
            return default;
        };
        if v.trim().eq_ignore_ascii_case("auto") {
            return Self::Auto;
        }
        match parse_flag(&v) {
            Some(true) => Self::On,
            Some(false) => Self::Off,
            None => {
                tracing::warn!("L2TP_DP_TCBPF_TX={v:?} is not auto/0/1/on/off; using {default:?}");
                default
            }
        }
    }
}

/// Most queues (and transmit workers) a device gets.
pub const MAX_QUEUES: usize = 16;

/// "0"/"off"/"false"/"no" or "1"/"on"/"true"/"yes", any case.
fn parse_flag(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "0" | "off" | "false" | "no" => Some(false),
        "1" | "on" | "true" | "yes" => Some(true),
        _ => None,
    }
}

fn env_flag(name: &str, default: bool) -> bool {
    match std::env::var(name) {
        Ok(v) => parse_flag(&v).unwrap_or_else(|| {
            tracing::warn!("{name}={v:?} is not 0/1/on/off; using {default}");
            default
        }),
        Err(_) => default,
    }
}

impl FastpathOptions {
    /// Everything off: one queue, plain frames, one datagram per send.
    pub fn plain() -> Self {
        Self {
            offload: false,
            gso: false,
            gro: false,
            coalesce: false,
            verify: true,
            queues: 1,
            inline_tx: false,
            async_removal: false,
            tc_bpf: false,
            tc_bpf_tx: TcBpfTx::Off,
        }
    }

    /// The defaults overridden by `L2TP_DP_OFFLOAD`, `L2TP_DP_GSO`,
    /// `L2TP_DP_GRO`, `L2TP_DP_COALESCE`, `L2TP_DP_VERIFY`,
    /// `L2TP_DP_INLINE_TX`, `L2TP_DP_ASYNC_REMOVAL`, `L2TP_DP_TCBPF` (0/1), `L2TP_DP_TCBPF_TX`
    /// (auto/0/1) and `L2TP_DP_QUEUES` (a count).
    pub fn from_env() -> Self {
        let d = Self::default();
        let queues = match std::env::var("L2TP_DP_QUEUES") {
            Ok(v) => v.trim().parse::<usize>().unwrap_or_else(|_| {
                tracing::warn!("L2TP_DP_QUEUES={v:?} is not a number; using one per CPU");
                0
            }),
            Err(_) => d.queues,
        };
        Self {
            offload: env_flag("L2TP_DP_OFFLOAD", d.offload),
            gso: env_flag("L2TP_DP_GSO", d.gso),
            gro: env_flag("L2TP_DP_GRO", d.gro),
            coalesce: env_flag("L2TP_DP_COALESCE", d.coalesce),
            verify: env_flag("L2TP_DP_VERIFY", d.verify),
            queues,
            inline_tx: env_flag("L2TP_DP_INLINE_TX", d.inline_tx),
            async_removal: env_flag("L2TP_DP_ASYNC_REMOVAL", d.async_removal),
            tc_bpf: env_flag("L2TP_DP_TCBPF", d.tc_bpf),
            tc_bpf_tx: TcBpfTx::from_env(d.tc_bpf_tx),
        }
    }

    /// The number of queues to use: `queues`, or the CPUs this process may
    /// run on, within 1..=[`MAX_QUEUES`].
    pub fn effective_queues(&self) -> usize {
        let n = if self.queues == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            self.queues
        };
        n.clamp(1, MAX_QUEUES)
    }

    /// Whether received frames are merged (needs the virtio header).
    pub fn coalescing(&self) -> bool {
        self.offload && self.coalesce
    }
}

/// Why a frame could not be segmented or its checksum completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffloadError {
    /// The header field at fault.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for OffloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.reason)
    }
}

impl std::error::Error for OffloadError {}

pub(crate) const fn err(field: &'static str, reason: &'static str) -> OffloadError {
    OffloadError { field, reason }
}

/// Ethernet header without tags.
pub const ETH_HLEN: usize = 14;
pub(crate) const ETHERTYPE_IPV4: u16 = 0x0800;
pub(crate) const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ETHERTYPE_QINQ_OLD: u16 = 0x9100;
pub(crate) const IPPROTO_TCP: u8 = 6;
pub(crate) const IPPROTO_UDP: u8 = 17;

pub(crate) fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

pub(crate) fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    if let Some(d) = b.get_mut(at..at + 2) {
        d.copy_from_slice(&v.to_be_bytes());
    }
}

pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    if let Some(d) = b.get_mut(at..at + 4) {
        d.copy_from_slice(&v.to_be_bytes());
    }
}

pub(crate) fn put_bytes(b: &mut [u8], at: usize, v: [u8; 2]) {
    if let Some(d) = b.get_mut(at..at + 2) {
        d.copy_from_slice(&v);
    }
}

/// Where the network header starts and its EtherType, past up to two VLAN
/// tags (802.1Q, 802.1ad QinQ).
pub(crate) fn l3_offset(frame: &[u8]) -> Option<(usize, u16)> {
    let mut at = 12;
    let mut ty = be16(frame, at)?;
    for _ in 0..2 {
        if matches!(ty, ETHERTYPE_VLAN | ETHERTYPE_QINQ | ETHERTYPE_QINQ_OLD) {
            at += 4;
            ty = be16(frame, at)?;
        }
    }
    Some((at + 2, ty))
}

/// The IP layer of a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IpInfo {
    /// Offset of the IP header.
    pub l3: usize,
    /// IPv6 (else IPv4).
    pub v6: bool,
    /// Offset of the transport header (IPv6: right after the fixed header).
    pub l4: usize,
    /// Transport protocol (IPv6: the fixed header's next header).
    pub proto: u8,
    /// An IPv4 fragment (MF set or a fragment offset).
    pub frag: bool,
    /// End of the IP packet within the frame (trailing padding excluded).
    pub end: usize,
}

/// Parses Ethernet, VLAN tags and the IP header. `None` for anything that
/// is not a well-formed IPv4/IPv6 packet.
pub(crate) fn parse_ip(frame: &[u8]) -> Option<IpInfo> {
    let (l3, ty) = l3_offset(frame)?;
    match ty {
        ETHERTYPE_IPV4 => {
            let vihl = *frame.get(l3)?;
            if vihl >> 4 != 4 {
                return None;
            }
            let ihl = usize::from(vihl & 0x0f) * 4;
            let tot = usize::from(be16(frame, l3 + 2)?);
            if ihl < 20 || tot < ihl || l3 + tot > frame.len() {
                return None;
            }
            let frag = be16(frame, l3 + 6)? & 0x3fff != 0;
            Some(IpInfo {
                l3,
                v6: false,
                l4: l3 + ihl,
                proto: *frame.get(l3 + 9)?,
                frag,
                end: l3 + tot,
            })
        }
        ETHERTYPE_IPV6 => {
            if frame.get(l3)? >> 4 != 6 {
                return None;
            }
            let plen = usize::from(be16(frame, l3 + 4)?);
            if l3 + 40 + plen > frame.len() {
                return None;
            }
            Some(IpInfo {
                l3,
                v6: true,
                l4: l3 + 40,
                proto: *frame.get(l3 + 6)?,
                frag: false,
                end: l3 + 40 + plen,
            })
        }
        _ => None,
    }
}

/// Gives the IP header at `l3` (transport header at `l4`) of `h` a new
/// transport length `l4_len`: the IPv6 payload length, or the IPv4 total
/// length and then the header checksum (so every other IPv4 field must
/// already be final). Returns the pseudo-header sum the transport
/// checksum starts from. Segmentation and coalescing both rewrite headers
/// this way, for a piece of a frame or for a merged one.
pub(crate) fn rewrite_ip_len(
    h: &mut [u8],
    l3: usize,
    l4: usize,
    v6: bool,
    proto: u8,
    l4_len: usize,
) -> csum::Sum {
    let addr = |h: &[u8], at: usize, out: &mut [u8]| {
        if let Some(a) = h.get(at..at + out.len()) {
            out.copy_from_slice(a);
        }
    };
    if v6 {
        put16(h, l3 + 4, (l4 + l4_len).saturating_sub(l3 + 40) as u16);
        let (mut src, mut dst) = ([0u8; 16], [0u8; 16]);
        addr(h, l3 + 8, &mut src);
        addr(h, l3 + 24, &mut dst);
        csum::pseudo_v6(src, dst, proto, l4_len as u32)
    } else {
        put16(h, l3 + 2, (l4 + l4_len).saturating_sub(l3) as u16);
        put16(h, l3 + 10, 0);
        let c = csum::Sum::new().feed(h.get(l3..l4).unwrap_or(&[])).finish();
        put_bytes(h, l3 + 10, c);
        let (mut src, mut dst) = ([0u8; 4], [0u8; 4]);
        addr(h, l3 + 12, &mut src);
        addr(h, l3 + 16, &mut dst);
        csum::pseudo_v4(src, dst, proto, l4_len as u16)
    }
}

/// A symmetric hash of a frame's IP addresses and ports, so both
/// directions of a flow pick the same queue; 0 for non-IP frames.
pub(crate) fn flow_hash(frame: &[u8]) -> u32 {
    let Some(ip) = parse_ip(frame) else {
        return 0;
    };
    let (alen, src_at, dst_at) = if ip.v6 {
        (16, ip.l3 + 8, ip.l3 + 24)
    } else {
        (4, ip.l3 + 12, ip.l3 + 16)
    };
    let fold = |at: usize| -> u32 {
        frame
            .get(at..at + alen)
            .map(|a| {
                a.chunks(4).fold(0u32, |h, c| {
                    h ^ u32::from_ne_bytes(c.try_into().unwrap_or([0; 4]))
                })
            })
            .unwrap_or(0)
    };
    let mut h = fold(src_at) ^ fold(dst_at);
    if !ip.frag && (ip.proto == IPPROTO_TCP || ip.proto == IPPROTO_UDP) {
        let sp = be16(frame, ip.l4).unwrap_or(0);
        let dp = be16(frame, ip.l4 + 2).unwrap_or(0);
        h ^= u32::from(sp ^ dp) | (u32::from(sp.wrapping_add(dp)) << 16);
    }
    h ^= u32::from(ip.proto);
    // Final mix (murmur3's) so low bits depend on every input bit.
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
pub(crate) mod testutil;
