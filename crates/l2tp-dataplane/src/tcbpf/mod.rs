//! In-kernel fast path for the userspace data plane, with no L2TP module:
//! two tc programs (tcx hooks, kernel 6.6+) move the common case — IPv4 and
//! IPv6 frames of sessions without sequence numbers — between the
//! pseudowire device and the underlay device inside the kernel, with the
//! kernel's own segmentation for TSO frames. Everything else falls through
//! to the userspace path unchanged (see [`progs`] for the exact rules), so
//! the userspace data plane stays the reference and the fallback.
//!
//! The programs are generated here ([`asm`]), loaded once per data plane
//! and attached with tcx links owned by this process: a crash detaches
//! them. Counters live in a per-CPU map and are added to the userspace ones.

pub mod asm;
pub mod progs;

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use crate::offload::csum::Sum;
use crate::offload::TcBpfTx;
use crate::sys::bpf::{self as sys, Map};
use crate::sys::rtnl;
use crate::wire::{Cookie, Encap, L2SpecType, V3DataRepr};
use crate::{SessionConfig, TunnelConfig};

use progs::{rx, stats, tx};

/// Sessions the fast path can hold at once; more stay in userspace.
pub const MAX_SESSIONS: u32 = 4096;

/// What the fast path needs to know about one session.
#[derive(Clone, Debug)]
pub struct Params {
    pub tap_ifindex: u32,
    pub encap: Encap,
    pub local: IpAddr,
    pub remote: IpAddr,
    pub udp_sport: u16,
    pub udp_dport: u16,
    pub session_id: u32,
    pub peer_session_id: u32,
    pub cookie: Cookie,
    pub peer_cookie: Cookie,
    pub l2spec: L2SpecType,
    pub send_seq: bool,
    pub recv_seq: bool,
    /// Checksums on transmit: IPv4 `udp_csum`, or IPv6 `udp6_csum_tx`.
    pub udp_csum_tx: bool,
    /// IPv6 `udp6_csum_rx`: zero checksums are refused.
    pub udp6_csum_rx: bool,
    /// Whether transmit may use the kernel (`L2TP_DP_TCBPF_TX`).
    pub tx_mode: TcBpfTx,
}

impl Params {
    /// The fast path's view of a session of `tunnel` whose device is
    /// `tap_ifindex`.
    pub fn new(tap_ifindex: u32, tunnel: &TunnelConfig, session: &SessionConfig) -> Self {
        Self {
            tap_ifindex,
            encap: tunnel.encap,
            local: tunnel.local,
            remote: tunnel.remote,
            udp_sport: tunnel.udp_sport,
            udp_dport: tunnel.udp_dport,
            session_id: session.session_id,
            peer_session_id: session.peer_session_id,
            cookie: session.cookie,
            peer_cookie: session.peer_cookie,
            l2spec: session.l2spec,
            send_seq: session.seq.send,
            recv_seq: session.seq.recv,
            udp_csum_tx: if tunnel.local.is_ipv6() {
                tunnel.udp6_csum_tx
            } else {
                tunnel.udp_csum
            },
            udp6_csum_rx: tunnel.udp6_csum_rx,
            tx_mode: TcBpfTx::On,
        }
    }

    /// Transmit in the kernel: UDP encapsulation (see below), no sequence
    /// numbers to write, no UDP checksum to compute (the kernel's tunnel
    /// segmentation leaves it zero) and a source address to write (`local
    /// any` leaves the choice to the socket).
    ///
    /// Not IP encapsulation, although `egress` can build it: a frame whose
    /// inner checksum the host left to offload (every TCP segment of a TAP
    /// with checksum offload) then reaches the Linux kernel peer under qemu
    /// with that checksum never filled in, and TCP never connects (seen in
    /// tests/integration kernel_bulk; ping, whose checksum is complete,
    /// works). TSO frames could not use it anyway: the kernel cannot
    /// segment protocol 115.
    pub fn tx_eligible(&self) -> bool {
        self.tx_refusal().is_none()
    }

    /// Why transmit stays in userspace whatever the underlay, if it does.
    pub fn tx_refusal(&self) -> Option<&'static str> {
        if self.tx_mode == TcBpfTx::Off {
            Some("L2TP_DP_TCBPF_TX=0")
        } else if self.send_seq {
            Some("the session numbers its packets")
        } else if self.local.is_unspecified() {
            Some("the tunnel's local address is any")
        } else if self.encap != Encap::Udp {
            Some("IP encapsulation (the kernel cannot segment protocol 115)")
        } else if self.udp_csum_tx {
            Some("UDP checksums are on")
        } else {
            None
        }
    }

    /// Receive in the kernel: sequence numbers are not required and the
    /// address packets come to is known.
    pub fn rx_eligible(&self) -> bool {
        !self.recv_seq && !self.local.is_unspecified()
    }
}

/// Turns the transmit half off from the receive thread when the peer starts
/// numbering its packets (the session then numbers its own, in userspace).
#[derive(Debug)]
pub struct TxHandle {
    map: Arc<Map>,
    key: [u8; 4],
    active: AtomicBool,
}

impl TxHandle {
    /// Whether transmitted frames still go through the kernel.
    pub fn active(&self) -> bool {
        self.active.load(Relaxed)
    }

    /// Hands transmission back to userspace.
    pub fn revoke(&self) {
        if self.active.swap(false, Relaxed) {
            let _ = self.map.delete(&self.key);
            tracing::debug!("tc-bpf transmit handed back to userspace (peer numbers packets)");
        }
    }
}

/// One session's place in the fast path; given back with [`TcBpf::detach`].
#[derive(Debug)]
pub struct Attached {
    /// Why transmit is not in the kernel, when it is not.
    pub tx_note: Option<String>,
    slot: u32,
    tap_ifindex: u32,
    out_ifindex: u32,
    rx_key: Option<[u8; 4]>,
    pub tx: Option<Arc<TxHandle>>,
    _egress: Option<OwnedFd>,
}

impl Attached {
    /// Whether received packets are decapsulated in the kernel.
    pub fn rx(&self) -> bool {
        self.rx_key.is_some()
    }
}

/// Packets and bytes the programs moved for one session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Moved {
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
}

/// The loaded programs and maps of one data plane.
pub struct TcBpf {
    tx_map: Arc<Map>,
    rx_map: Map,
    stats: Map,
    egress: OwnedFd,
    ingress: OwnedFd,
    /// Underlay devices with the ingress program: link and user count.
    underlays: HashMap<u32, (OwnedFd, usize)>,
    free_slots: Vec<u32>,
    /// Links of devices on their way out. Closing a link on a live device
    /// waits for an RCU grace period (about 15 ms here); once the device
    /// is gone the kernel has detached it already and closing is free.
    graveyard: Vec<(u32, OwnedFd)>,
}

impl TcBpf {
    /// Creates the maps and loads both programs (the kernel verifies them
    /// here). Fails without `CAP_BPF`/`CAP_NET_ADMIN` or on kernels without
    /// tcx (before 6.6) — the caller then stays in userspace.
    pub fn new() -> io::Result<Self> {
        let tx_map = Map::create(sys::MAP_HASH, 4, tx::SIZE as u32, MAX_SESSIONS, "l2tp_tx")?;
        let rx_map = Map::create(sys::MAP_HASH, 4, rx::SIZE as u32, MAX_SESSIONS, "l2tp_rx")?;
        let stats = Map::create(
            sys::MAP_PERCPU_ARRAY,
            4,
            stats::SIZE as u32,
            MAX_SESSIONS,
            "l2tp_stats",
        )?;
        let egress = load(
            &progs::egress(tx_map.raw_fd(), stats.raw_fd()),
            "l2tp_egress",
        )?;
        let ingress = load(
            &progs::ingress(rx_map.raw_fd(), stats.raw_fd()),
            "l2tp_ingress",
        )?;
        Ok(Self {
            tx_map: Arc::new(tx_map),
            rx_map,
            stats,
            egress,
            ingress,
            underlays: HashMap::new(),
            free_slots: (0..MAX_SESSIONS).rev().collect(),
            graveyard: Vec::new(),
        })
    }

    /// Puts a session on the fast path: what it can of transmit and
    /// receive. `Ok(None)` when neither half applies or no slot is free.
    /// On error nothing is left attached.
    pub fn attach(&mut self, p: &Params) -> io::Result<Option<Attached>> {
        let (mut do_tx, do_rx) = (p.tx_eligible(), p.rx_eligible());
        if !do_tx && !do_rx {
            return Ok(None);
        }
        let out = rtnl::route_oif(p.remote)?;
        let mut tx_note = p.tx_refusal().map(str::to_owned);
        if do_tx && p.tx_mode == TcBpfTx::Auto {
            let verdict = match rtnl::links() {
                Ok(links) => rtnl::fills_checksums(&links, out),
                Err(e) => Err(format!("the underlay device could not be looked up ({e})")),
            };
            if let Err(why) = verdict {
                do_tx = false;
                tx_note = Some(format!("{why}; L2TP_DP_TCBPF_TX=auto"));
                tracing::info!(
                    session_id = p.session_id,
                    "tc-bpf transmit stays in userspace (L2TP_DP_TCBPF_TX=auto): {why}, \
                     which does not fill in inner checksums; L2TP_DP_TCBPF_TX=1 moves it \
                     into the kernel anyway when the far end is l2tpd"
                );
            }
            if !do_tx && !do_rx {
                return Ok(None);
            }
        }
        let Some(slot) = self.free_slots.pop() else {
            return Ok(None);
        };
        let mut a = Attached {
            tx_note,
            slot,
            tap_ifindex: p.tap_ifindex,
            out_ifindex: out,
            rx_key: None,
            tx: None,
            _egress: None,
        };
        match self.attach_inner(p, &mut a, do_tx, do_rx) {
            Ok(()) => Ok(Some(a)),
            Err(e) => {
                self.detach(a);
                Err(e)
            }
        }
    }

    fn attach_inner(
        &mut self,
        p: &Params,
        a: &mut Attached,
        do_tx: bool,
        do_rx: bool,
    ) -> io::Result<()> {
        let zero = vec![0u8; self.stats.value_len()];
        self.stats.update(&a.slot.to_ne_bytes(), &zero)?;
        let out = a.out_ifindex;
        if do_rx {
            // The entry first: once `rx_key` is set, `detach` undoes both.
            let key = p.session_id.to_be_bytes();
            self.rx_map.update(&key, &rx_value(p, a.slot))?;
            a.rx_key = Some(key);
            match self.underlays.get_mut(&out) {
                Some((_, users)) => *users += 1,
                None => {
                    let link = sys::tcx_attach(&self.ingress, out, sys::TCX_INGRESS)?;
                    self.underlays.insert(out, (link, 1));
                }
            }
        }
        if do_tx {
            let key = p.tap_ifindex.to_ne_bytes();
            self.tx_map.update(&key, &tx_value(p, a.slot, out))?;
            a.tx = Some(Arc::new(TxHandle {
                map: Arc::clone(&self.tx_map),
                key,
                active: AtomicBool::new(true),
            }));
            a._egress = Some(sys::tcx_attach(
                &self.egress,
                p.tap_ifindex,
                sys::TCX_EGRESS,
            )?);
        }
        tracing::debug!(
            session_id = p.session_id,
            tx = do_tx,
            rx = do_rx,
            underlay_ifindex = out,
            "session on the tc-bpf fast path"
        );
        Ok(())
    }

    /// Takes a session off the fast path; returns what it moved.
    pub fn detach(&mut self, a: Attached) -> Moved {
        let moved = self.moved(&a);
        if let Some(tx) = &a.tx {
            tx.revoke();
        }
        // The map entries are gone, so the programs pass everything on;
        // the links themselves can wait for their devices to go.
        self.graveyard
            .retain(|(ifindex, _)| crate::sys::fast::ifname_of(*ifindex).is_some());
        if let Some(link) = a._egress {
            self.graveyard.push((a.tap_ifindex, link));
        }
        if let Some(key) = a.rx_key {
            let _ = self.rx_map.delete(&key);
            if let Some((_, users)) = self.underlays.get_mut(&a.out_ifindex) {
                *users -= 1;
                if *users == 0 {
                    if let Some((link, _)) = self.underlays.remove(&a.out_ifindex) {
                        self.graveyard.push((a.out_ifindex, link));
                    }
                }
            }
        }
        self.free_slots.push(a.slot);
        moved
    }

    /// Totals over all CPUs.
    pub fn moved(&self, a: &Attached) -> Moved {
        self.slot_moved(a.slot)
    }

    fn slot_moved(&self, slot: u32) -> Moved {
        let stride = stats::SIZE.next_multiple_of(8);
        let mut buf = vec![0u8; self.stats.value_len()];
        if self.stats.lookup(&slot.to_ne_bytes(), &mut buf).is_err() {
            return Moved::default();
        }
        let mut m = Moved::default();
        for cpu in buf.chunks_exact(stride) {
            let at = |o: usize| {
                cpu.get(o..o + 8)
                    .and_then(|b| b.try_into().ok())
                    .map_or(0, u64::from_ne_bytes)
            };
            m.tx_packets += at(stats::TX_PACKETS);
            m.tx_bytes += at(stats::TX_BYTES);
            m.rx_packets += at(stats::RX_PACKETS);
            m.rx_bytes += at(stats::RX_BYTES);
        }
        m
    }

    /// Puts `p` in the receive map with fresh counters at `slot`, without
    /// attaching anything (tests run the programs directly).
    #[cfg(test)]
    fn install_rx(&self, p: &Params, slot: u32) {
        let zero = vec![0u8; self.stats.value_len()];
        self.stats.update(&slot.to_ne_bytes(), &zero).unwrap();
        self.rx_map
            .update(&p.session_id.to_be_bytes(), &rx_value(p, slot))
            .unwrap();
    }

    /// Puts `p` in the transmit map for device `p.tap_ifindex`, leaving
    /// through the same device.
    #[cfg(test)]
    fn install_tx(&self, p: &Params, slot: u32) {
        let zero = vec![0u8; self.stats.value_len()];
        self.stats.update(&slot.to_ne_bytes(), &zero).unwrap();
        self.tx_map
            .update(
                &p.tap_ifindex.to_ne_bytes(),
                &tx_value(p, slot, p.tap_ifindex),
            )
            .unwrap();
    }

    /// Runs a program once on `frame` (tests).
    #[cfg(test)]
    fn test_run(&self, egress: bool, frame: &[u8], ifindex: u32) -> io::Result<(u32, Vec<u8>)> {
        let mut ctx = vec![0u8; 192];
        ctx[40..44].copy_from_slice(&ifindex.to_ne_bytes());
        let prog = if egress { &self.egress } else { &self.ingress };
        sys::prog_test_run(prog, frame, &ctx)
    }
}

fn load(insns: &[asm::Insn], name: &str) -> io::Result<OwnedFd> {
    let raw: Vec<u64> = insns.iter().map(|i| i.encode()).collect();
    sys::prog_load(&raw, name)
}

fn addr_bytes(a: IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match a {
        IpAddr::V4(v) => out[..4].copy_from_slice(&v.octets()),
        IpAddr::V6(v) => out.copy_from_slice(&v.octets()),
    }
    out
}

fn put32(v: &mut [u8], at: usize, x: u32) {
    v[at..at + 4].copy_from_slice(&x.to_ne_bytes());
}

/// The receive map value (layout in [`progs::rx`]).
fn rx_value(p: &Params, slot: u32) -> Vec<u8> {
    let mut v = vec![0u8; rx::SIZE];
    put32(&mut v, rx::TAP_IFINDEX, p.tap_ifindex);
    put32(&mut v, rx::SLOT, slot);
    put32(&mut v, rx::IP_HLEN, if p.local.is_ipv6() { 40 } else { 20 });
    put32(
        &mut v,
        rx::L4_LEN,
        if p.encap == Encap::Udp { 16 } else { 4 },
    );
    let cookie = p.peer_cookie.as_bytes();
    put32(&mut v, rx::COOKIE_LEN, cookie.len() as u32);
    put32(&mut v, rx::L2SPEC_LEN, p.l2spec.len() as u32);
    put32(
        &mut v,
        rx::FLAGS,
        if p.udp6_csum_rx { 0 } else { rx::ZERO_CSUM_OK },
    );
    v[rx::LOCAL_PORT..rx::LOCAL_PORT + 2].copy_from_slice(&p.udp_sport.to_be_bytes());
    v[rx::REMOTE_PORT..rx::REMOTE_PORT + 2].copy_from_slice(&p.udp_dport.to_be_bytes());
    v[rx::COOKIE..rx::COOKIE + cookie.len()].copy_from_slice(cookie);
    v[rx::LOCAL..rx::LOCAL + 16].copy_from_slice(&addr_bytes(p.local));
    v[rx::REMOTE..rx::REMOTE + 16].copy_from_slice(&addr_bytes(p.remote));
    v
}

/// The outer headers every transmitted frame gets, lengths (and the IPv4
/// checksum) left zero for the program to fill in.
pub fn header_template(p: &Params) -> Vec<u8> {
    let mut h = Vec::with_capacity(tx::HDR_MAX);
    let proto = if p.encap == Encap::Udp { 17 } else { 115 };
    match (p.local, p.remote) {
        (IpAddr::V4(l), IpAddr::V4(r)) => {
            // version/IHL, DSCP, length, ID, DF, TTL 64, protocol, checksum
            h.extend_from_slice(&[0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0]);
            h.extend_from_slice(&l.octets());
            h.extend_from_slice(&r.octets());
        }
        (l, r) => {
            h.extend_from_slice(&[0x60, 0, 0, 0, 0, 0, proto, 64]);
            h.extend_from_slice(&addr_bytes(l));
            h.extend_from_slice(&addr_bytes(r));
        }
    }
    if p.encap == Encap::Udp {
        h.extend_from_slice(&p.udp_sport.to_be_bytes());
        h.extend_from_slice(&p.udp_dport.to_be_bytes());
        h.extend_from_slice(&[0, 0, 0, 0]);
    }
    // The L2TP header as the userspace path writes it (no sequence number).
    let repr = V3DataRepr {
        session_id: p.peer_session_id,
        cookie: p.cookie,
        seq: None,
        l2spec: p.l2spec,
    };
    let at = h.len();
    h.resize(at + repr.header_len(p.encap), 0);
    // A cookie is at most 8 bytes, so the header always fits.
    let _ = repr.emit(p.encap, &mut h[at..]);
    h
}

/// The folded ones'-complement sum of `h`, as a number (the IPv4 checksum
/// seed the egress program adds the length to).
fn ones_sum(h: &[u8]) -> u32 {
    u32::from(u16::from_be_bytes(Sum::new().feed(h).fold()))
}

/// The transmit map value (layout in [`progs::tx`]).
fn tx_value(p: &Params, slot: u32, out_ifindex: u32) -> Vec<u8> {
    let hdr = header_template(p);
    let v6 = p.local.is_ipv6();
    let udp = p.encap == Encap::Udp;
    let mut flags = progs::ADJ_FIXED_GSO | progs::ADJ_ENCAP_L2_ETH;
    flags |= if v6 {
        progs::ADJ_ENCAP_L3_IPV6
    } else {
        progs::ADJ_ENCAP_L3_IPV4
    };
    if udp {
        flags |= progs::ADJ_ENCAP_L4_UDP;
    }
    // The inner "L2" is only the Ethernet header: segmentation copies
    // everything between the outer UDP header and the inner MAC header (UDP
    // and L2TP) into each segment, then reads the inner EtherType there.
    flags |= progs::adj_encap_l2(14);
    let mut variant = 0;
    if v6 {
        variant |= tx::V6;
    }
    if udp {
        variant |= tx::UDP;
    } else {
        variant |= tx::NO_GSO;
    }
    let mut v = vec![0u8; tx::SIZE];
    put32(&mut v, tx::HDR_LEN, hdr.len() as u32);
    put32(&mut v, tx::ROOM, hdr.len() as u32 + 14);
    v[tx::FLAGS..tx::FLAGS + 8].copy_from_slice(&flags.to_ne_bytes());
    put32(&mut v, tx::OUT_IFINDEX, out_ifindex);
    put32(&mut v, tx::SLOT, slot);
    put32(&mut v, tx::VARIANT, variant);
    put32(
        &mut v,
        tx::CSUM_SEED,
        if v6 { 0 } else { ones_sum(&hdr[..20]) },
    );
    v[tx::HDR..tx::HDR + hdr.len()].copy_from_slice(&hdr);
    v
}

#[cfg(test)]
mod difftest;
#[cfg(test)]
mod tests;
