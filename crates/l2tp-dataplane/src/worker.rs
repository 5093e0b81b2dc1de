//! Worker threads: one receive thread per underlay socket (recvmmsg ->
//! demultiplex by session ID -> core -> pseudowire) and one transmit thread
//! per session (pseudowire frames read until EAGAIN -> header -> sendmmsg).
//! Buffers are allocated once per thread; the packet path does not allocate.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use crate::core::{RxSession, TxHeader, MAX_HEADER_LEN};
use crate::counters::{AtomicCounters, Event, Recorder, SessionAndTunnel};
use crate::encap::{Peer, Underlay};
use crate::pseudowire::{Pseudowire, MAX_FRAME};
use crate::sys::{self, EventFd, RecvBatch, MAX_BATCH};
use crate::userspace::{ControlHandler, ControlPacket};
use crate::wire;

/// Datagrams per `recvmmsg` / frames per `sendmmsg`.
const BATCH: usize = 32;
/// Receive slot: the largest datagram (a raw IPv4 socket includes the IP
/// header, so the full 16-bit IP length).
const RX_SLOT: usize = 65_536;
/// Room in front of each transmit frame for the L2TP header.
const HEADROOM: usize = 64;
/// Transmit slot: headroom plus the largest frame a TAP can give.
const TX_SLOT: usize = HEADROOM + MAX_FRAME;
/// Receive batches handled per wakeup before checking for stop requests.
const RX_ROUNDS: usize = 16;

const _: () = assert!(BATCH <= MAX_BATCH && HEADROOM >= MAX_HEADER_LEN);

/// Everything the receive thread and the control side share about a session.
#[derive(Debug)]
pub struct SessionShared {
    /// Tunnel the session belongs to.
    pub tunnel_id: u32,
    /// Only packets from this address are accepted.
    pub remote_ip: IpAddr,
    /// ... and, over UDP, from this port.
    pub remote_port: Option<u16>,
    /// Host side of the session.
    pub pw: Box<dyn Pseudowire>,
    /// Receive protocol state (only the socket's receive thread locks it).
    pub rx: Mutex<RxSession>,
    /// Whether transmitted packets carry sequence numbers (may be flipped by
    /// the receive side, as the kernel does).
    pub send_seq: AtomicBool,
    /// Session statistics.
    pub counters: AtomicCounters,
    /// The owning tunnel's statistics.
    pub tunnel_counters: Arc<AtomicCounters>,
}

impl SessionShared {
    fn recorder(&self) -> SessionAndTunnel<'_> {
        SessionAndTunnel {
            session: &self.counters,
            tunnel: &self.tunnel_counters,
        }
    }
}

/// Drops on a socket that belong to no session.
#[derive(Debug, Default)]
pub struct PortStats {
    /// Control messages handed to the control handler.
    pub control_delivered: AtomicU64,
    /// Control messages dropped for want of a handler.
    pub control_dropped: AtomicU64,
    /// Data packets for a session ID nobody has.
    pub unknown_session: AtomicU64,
    /// Packets too short or malformed to find a session ID in.
    pub invalid: AtomicU64,
}

/// What a socket's receive thread and its sessions' transmit threads share.
pub struct PortShared {
    /// The socket.
    pub underlay: Box<dyn Underlay>,
    /// Sessions reachable through this socket, by our session ID.
    pub sessions: RwLock<HashMap<u32, Arc<SessionShared>>>,
    /// Where control messages go.
    pub control: Arc<RwLock<Option<ControlHandler>>>,
    /// Drops not attributable to a session.
    pub stats: PortStats,
}

impl std::fmt::Debug for PortShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortShared")
            .field("underlay", &self.underlay)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Hands a control message to the handler, or counts it as dropped.
fn dispatch_control(port: &PortShared, data: &[u8], from: &sys::SockAddr) {
    let handler = port.control.read().unwrap_or_else(|p| p.into_inner());
    match (handler.as_ref(), from.socket_addr()) {
        (Some(h), Some(peer)) => {
            port.stats.control_delivered.fetch_add(1, Relaxed);
            h(&ControlPacket {
                encap: port.underlay.encap(),
                local: port.underlay.local(),
                peer,
                data,
            });
        }
        _ => {
            port.stats.control_dropped.fetch_add(1, Relaxed);
        }
    }
}

/// Demultiplexes one received datagram.
fn handle_datagram(
    port: &PortShared,
    sessions: &HashMap<u32, Arc<SessionShared>>,
    pkt: &[u8],
    from: &sys::SockAddr,
    now: Instant,
    pending: &mut Vec<u32>,
) {
    let encap = port.underlay.encap();
    let Some(l2tp) = port.underlay.l2tp_offset(pkt).and_then(|o| pkt.get(o..)) else {
        port.stats.invalid.fetch_add(1, Relaxed);
        return;
    };
    match wire::is_control(l2tp, encap) {
        Ok(true) => return dispatch_control(port, l2tp, from),
        Ok(false) => {}
        Err(_) => {
            port.stats.invalid.fetch_add(1, Relaxed);
            return;
        }
    }
    let Ok(sid) = wire::v3_session_id(l2tp, encap) else {
        port.stats.invalid.fetch_add(1, Relaxed);
        return;
    };
    let Some(session) = sessions.get(&sid) else {
        port.stats.unknown_session.fetch_add(1, Relaxed);
        return;
    };
    let mut rec = session.recorder();
    let from_ok = match from.ip_port() {
        Some((ip, port_no)) => {
            ip == session.remote_ip && session.remote_port.is_none_or(|p| p == port_no)
        }
        None => false,
    };
    if !from_ok {
        rec.record(Event::Invalid);
        return;
    }
    let mut rx = session.rx.lock().unwrap_or_else(|p| p.into_inner());
    let pw = &session.pw;
    rx.receive(
        l2tp,
        now,
        &session.send_seq,
        &mut rec,
        &mut |frame: &[u8]| pw.write_frame(frame).is_ok(),
    );
    if rx.queued() > 0 && !pending.contains(&sid) {
        pending.push(sid);
    }
}

/// Releases expired held packets; returns the poll timeout until the next
/// deadline (-1 = none).
fn service_timers(
    sessions: &HashMap<u32, Arc<SessionShared>>,
    pending: &mut Vec<u32>,
    now: Instant,
) -> libc::c_int {
    let mut next: Option<Instant> = None;
    pending.retain(|sid| {
        let Some(session) = sessions.get(sid) else {
            return false;
        };
        let mut rec = session.recorder();
        let mut rx = session.rx.lock().unwrap_or_else(|p| p.into_inner());
        let pw = &session.pw;
        rx.poll(now, &mut rec, &mut |frame: &[u8]| {
            pw.write_frame(frame).is_ok()
        });
        match rx.next_deadline() {
            Some(d) => {
                next = Some(next.map_or(d, |n| n.min(d)));
                true
            }
            None => false,
        }
    });
    match next {
        None => -1,
        Some(d) => {
            let wait = d.saturating_duration_since(now);
            // Round up so we do not wake just before the deadline.
            let ms = wait.as_micros().div_ceil(1000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    }
}

/// Receive loop of one socket; returns when `stop` is signalled.
pub fn rx_loop(port: Arc<PortShared>, stop: Arc<EventFd>) {
    let mut batch = RecvBatch::new(BATCH, RX_SLOT);
    let mut pending: Vec<u32> = Vec::with_capacity(64);
    let fd = port.underlay.raw_fd();
    let mut timeout: libc::c_int = -1;
    loop {
        let ready = match sys::poll2(fd, stop.raw(), timeout) {
            Ok(r) if r.stop => return,
            // A UDP/raw socket error (e.g. a queued ICMP error) is cleared
            // by the receive below.
            Ok(r) => r.readable || r.broken,
            Err(e) => {
                tracing::error!(local = %port.underlay.local(), "receive poll failed: {e}");
                sys::wait_stop(stop.raw());
                return;
            }
        };
        let sessions = port.sessions.read().unwrap_or_else(|p| p.into_inner());
        if ready {
            for _ in 0..RX_ROUNDS {
                let n = match port.underlay.recv_batch(&mut batch) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // E.g. a queued ICMP error; the socket stays usable.
                        tracing::debug!(local = %port.underlay.local(), "recvmmsg: {e}");
                        break;
                    }
                };
                let now = Instant::now();
                for i in 0..n {
                    if let Some((pkt, from)) = batch.get(i) {
                        handle_datagram(&port, &sessions, pkt, from, now, &mut pending);
                    }
                }
                if n < BATCH {
                    break;
                }
            }
        }
        timeout = if pending.is_empty() {
            -1
        } else {
            service_timers(&sessions, &mut pending, Instant::now())
        };
    }
}

/// Transmit loop of one session; returns when `stop` is signalled.
pub fn tx_loop(
    session: Arc<SessionShared>,
    port: Arc<PortShared>,
    peer: Peer,
    mut header: TxHeader,
    stop: Arc<EventFd>,
) {
    let hlen = header.len();
    let mut buf = vec![0u8; BATCH * TX_SLOT];
    let mut lens = [0usize; BATCH];
    let fd = session.pw.raw_fd();
    loop {
        match sys::poll2(fd, stop.raw(), -1) {
            Ok(r) if r.stop => return,
            Ok(r) if r.broken => {
                // The device was deleted behind our back; nothing more will
                // come from it. Idle until the session is removed.
                tracing::warn!(
                    ifname = session.pw.ifname(),
                    "device gone; session idle until deleted"
                );
                sys::wait_stop(stop.raw());
                return;
            }
            Ok(r) if !r.readable => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::error!(ifname = session.pw.ifname(), "transmit poll failed: {e}");
                sys::wait_stop(stop.raw());
                return;
            }
        }
        // Drain the device: read until EAGAIN, a batch at a time.
        loop {
            let mut n = 0;
            let mut read_errors = 0u64;
            for (slot, len) in buf.chunks_exact_mut(TX_SLOT).zip(lens.iter_mut()) {
                let Some(frame_room) = slot.get_mut(HEADROOM..) else {
                    break;
                };
                match session.pw.read_frame(frame_room) {
                    Ok(Some(l)) if l > 0 => {
                        *len = l;
                        n += 1;
                    }
                    Ok(_) => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => break,
                    Err(_) => {
                        read_errors += 1;
                        break;
                    }
                }
            }
            if n == 0 {
                if read_errors > 0 {
                    session.counters.add_tx(0, 0, read_errors);
                    session.tunnel_counters.add_tx(0, 0, read_errors);
                }
                break;
            }
            let send_seq = session.send_seq.load(Relaxed);
            for slot in buf.chunks_exact_mut(TX_SLOT).take(n) {
                if let Some(h) = slot.get_mut(HEADROOM - hlen..HEADROOM) {
                    header.write(h, send_seq);
                }
            }
            let mut pkts: [&[u8]; BATCH] = [&[]; BATCH];
            let mut bytes = [0u64; BATCH];
            for (i, (slot, &len)) in buf
                .chunks_exact(TX_SLOT)
                .zip(lens.iter())
                .take(n)
                .enumerate()
            {
                pkts[i] = slot.get(HEADROOM - hlen..HEADROOM + len).unwrap_or(&[]);
                bytes[i] = len as u64;
            }
            let (mut sent, mut sent_bytes, mut errors) = (0u64, 0u64, read_errors);
            let mut off = 0;
            while off < n {
                match port.underlay.send_batch(&peer, &pkts[off..n]) {
                    Ok(k) if k > 0 => {
                        sent += k as u64;
                        sent_bytes += bytes[off..off + k].iter().sum::<u64>();
                        off += k;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    // The first remaining message failed: count it, go on.
                    _ => {
                        errors += 1;
                        off += 1;
                    }
                }
            }
            session.counters.add_tx(sent, sent_bytes, errors);
            session.tunnel_counters.add_tx(sent, sent_bytes, errors);
            if n < BATCH {
                break;
            }
        }
    }
}
