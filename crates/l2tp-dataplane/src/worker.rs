//! Receive threads: one per underlay socket (recvmmsg, with UDP GRO
//! several datagrams per slot -> demultiplex by session ID -> core ->
//! coalescer -> pseudowire). Transmit is in [`crate::txpool`]. Buffers are
//! allocated once per thread; the packet path does not allocate.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::Instant;

use crate::core::RxSession;
use crate::counters::{AtomicCounters, Event, Recorder, SessionAndTunnel};
use crate::encap::Underlay;
use crate::offload::coalesce::{Coalescer, FrameSink};
use crate::offload::vnet::VNET_HDR_LEN;
use crate::offload::{flow_hash, FastpathOptions};
use crate::pseudowire::Pseudowire;
use crate::sys::fast::GroBatch;
use crate::sys::{self, EventFd, MAX_BATCH};
use crate::txpool::{Served, TxSession, Work};
use crate::userspace::{ControlHandler, ControlPacket};
use crate::wire;

/// Datagrams (or GRO trains) per `recvmmsg`.
const BATCH: usize = 32;
/// Receive slot: the largest datagram or GRO train (a raw IPv4 socket
/// includes the IP header, so the full 16-bit IP length).
const RX_SLOT: usize = 65_536;
/// Receive batches handled per wakeup before checking for stop requests.
const RX_ROUNDS: usize = 16;
/// Virtio header of a frame that needs nothing done.
const PLAIN_VNET: [u8; VNET_HDR_LEN] = [0; VNET_HDR_LEN];

const _: () = assert!(BATCH <= MAX_BATCH);

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
    /// Transmit state (sessions with a device), so the receive thread can
    /// send what its writes to the device made the host answer.
    pub tx: OnceLock<Weak<TxSession>>,
    /// The in-kernel transmit half, handed back to userspace when the peer
    /// starts numbering its packets (only userspace writes numbers).
    pub accel_tx: OnceLock<Arc<crate::tcbpf::TxHandle>>,
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

/// Writes merged frames to the devices of this socket's sessions.
struct DeviceSink<'a> {
    sessions: &'a HashMap<u32, Arc<SessionShared>>,
}

impl FrameSink for DeviceSink<'_> {
    fn write(&mut self, key: u32, hash: u32, segs: usize, parts: &[&[u8]]) -> bool {
        let Some(s) = self.sessions.get(&key) else {
            return false;
        };
        if s.pw.write_parts(hash, parts).is_ok() {
            return true;
        }
        let mut rec = s.recorder();
        for _ in 0..segs {
            rec.record(Event::RxError);
        }
        false
    }
}

/// Per-thread receive state: where frames go after the session's checks.
struct RxPath {
    coalescer: Option<Coalescer>,
    /// Sessions whose devices got frames in this batch.
    touched: Vec<u32>,
    /// Send buffers for answering in place (allocated on first use).
    work: Option<Box<Work>>,
    /// Answer in place at all (`L2TP_DP_INLINE_TX`).
    inline_tx: bool,
}

impl RxPath {
    /// Hands one in-order frame of `session` on: to the coalescer when the
    /// device takes virtio headers and merging is on, else straight to the
    /// device. `batch` is the receive buffer the frame may lie in.
    fn deliver(
        &mut self,
        sid: u32,
        session: &SessionShared,
        frame: &[u8],
        batch: &[u8],
        sink: &mut DeviceSink<'_>,
    ) -> bool {
        let pw = &session.pw;
        if self.touched.last() != Some(&sid)
            && !self.touched.contains(&sid)
            && self.touched.len() < self.touched.capacity()
        {
            self.touched.push(sid);
        }
        if !pw.vnet_hdr() {
            return pw.write_frame(frame).is_ok();
        }
        match self.coalescer.as_mut() {
            Some(c) => {
                c.push(sid, frame, batch, sink);
                true
            }
            None => pw
                .write_parts(flow_hash(frame), &[&PLAIN_VNET, frame])
                .is_ok(),
        }
    }

    fn flush(&mut self, batch: &[u8], sink: &mut DeviceSink<'_>) {
        if let Some(c) = self.coalescer.as_mut() {
            c.flush(batch, sink);
        }
        self.answer(sink.sessions);
    }

    /// Writing to a device runs the host's stack right away, which often
    /// queues an answer (a TCP ACK, more data released by an ACK, an echo
    /// reply) on the device. Sending it from here saves waking a transmit
    /// worker, which is most of a round trip's latency. Queues a worker is
    /// busy with are left to it. Every queue is read, not only the one
    /// written to: the TUN driver records a flow's queue only after the
    /// host has handled the frame, so the answer to a flow's first frame
    /// (or its first after 3 s idle) lands on a queue of the driver's own
    /// choosing.
    fn answer(&mut self, sessions: &HashMap<u32, Arc<SessionShared>>) {
        if !self.inline_tx {
            self.touched.clear();
            return;
        }
        for sid in self.touched.drain(..) {
            let Some(tx) = sessions
                .get(&sid)
                .and_then(|s| s.tx.get())
                .and_then(Weak::upgrade)
            else {
                continue;
            };
            let work = self.work.get_or_insert_with(|| Box::new(Work::new()));
            for q in 0..tx.session.pw.queues() {
                if let Served::Broken = work.serve(&tx, q, false) {
                    break;
                }
            }
        }
    }
}

/// Demultiplexes one received datagram.
#[allow(clippy::too_many_arguments)]
fn handle_datagram(
    port: &PortShared,
    sessions: &HashMap<u32, Arc<SessionShared>>,
    pkt: &[u8],
    from: &sys::SockAddr,
    now: Instant,
    pending: &mut Vec<u32>,
    path: &mut RxPath,
    batch: &[u8],
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
    let from_ok = from.socket_addr().is_some_and(|a| {
        a.ip() == session.remote_ip && session.remote_port.is_none_or(|p| p == a.port())
    });
    if !from_ok {
        rec.record(Event::Invalid);
        return;
    }
    let mut rx = session.rx.lock().unwrap_or_else(|p| p.into_inner());
    let mut sink = DeviceSink { sessions };
    rx.receive(
        l2tp,
        now,
        &session.send_seq,
        &mut rec,
        &mut |frame: &[u8]| path.deliver(sid, session, frame, batch, &mut sink),
    );
    if let Some(h) = session.accel_tx.get() {
        if h.active() && session.send_seq.load(Relaxed) {
            h.revoke();
        }
    }
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
    path: &mut RxPath,
) -> libc::c_int {
    let mut next: Option<Instant> = None;
    let mut sink = DeviceSink { sessions };
    pending.retain(|sid| {
        let Some(session) = sessions.get(sid) else {
            return false;
        };
        let mut rec = session.recorder();
        let mut rx = session.rx.lock().unwrap_or_else(|p| p.into_inner());
        rx.poll(now, &mut rec, &mut |frame: &[u8]| {
            path.deliver(*sid, session, frame, &[], &mut sink)
        });
        match rx.next_deadline() {
            Some(d) => {
                next = Some(next.map_or(d, |n| n.min(d)));
                true
            }
            None => false,
        }
    });
    path.flush(&[], &mut sink);
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
pub fn rx_loop(port: Arc<PortShared>, stop: Arc<EventFd>, opts: FastpathOptions) {
    let mut batch = GroBatch::new(BATCH, RX_SLOT);
    let mut pending: Vec<u32> = Vec::with_capacity(64);
    let mut path = RxPath {
        coalescer: opts.coalescing().then(|| Coalescer::new(opts.verify)),
        touched: Vec::with_capacity(64),
        work: None,
        inline_tx: opts.inline_tx,
    };
    let fd = port.underlay.raw_fd();
    let udp = port.underlay.encap() == crate::Encap::Udp;
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
                let n = match batch.recv(fd) {
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // E.g. a queued ICMP error; the socket stays usable.
                        tracing::debug!(local = %port.underlay.local(), "recvmmsg: {e}");
                        break;
                    }
                };
                let now = Instant::now();
                let buf = batch.buffer();
                for i in 0..n {
                    let Some((msg, from, seg)) = batch.get(i) else {
                        continue;
                    };
                    if udp && seg > 0 && msg.len() > usize::from(seg) {
                        // A GRO train: datagrams of `seg` bytes, the last
                        // possibly shorter.
                        for pkt in msg.chunks(usize::from(seg)) {
                            handle_datagram(
                                &port,
                                &sessions,
                                pkt,
                                from,
                                now,
                                &mut pending,
                                &mut path,
                                buf,
                            );
                        }
                    } else {
                        handle_datagram(
                            &port,
                            &sessions,
                            msg,
                            from,
                            now,
                            &mut pending,
                            &mut path,
                            buf,
                        );
                    }
                }
                path.flush(
                    buf,
                    &mut DeviceSink {
                        sessions: &sessions,
                    },
                );
                if n < BATCH {
                    break;
                }
            }
        }
        timeout = if pending.is_empty() {
            -1
        } else {
            service_timers(&sessions, &mut pending, Instant::now(), &mut path)
        };
    }
}
