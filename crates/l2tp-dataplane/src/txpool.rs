//! Transmit workers: a fixed pool (one per TAP queue, by default one per
//! CPU) instead of a thread per session. Worker `q` waits with epoll on
//! queue `q` of every session's TAP device; the kernel puts a flow's frames
//! on one queue, so a flow stays in order on one worker. A ready device is
//! drained in batches: frames are read (with their virtio header when
//! offloads are on), large ones are segmented, every packet gets its L2TP
//! header in reserved headroom (or, for segments, in a small header
//! buffer next to a reference into the read buffer), and the batch leaves
//! in one `sendmmsg`, runs of equal-sized datagrams as one UDP GSO train.
//! Nothing is allocated or copied per packet in userspace.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

use crate::core::{TxHeader, MAX_HEADER_LEN};
use crate::offload::segment::{complete_checksum, plan, MAX_SEG_HEADER};
use crate::offload::vnet::{VnetHdr, GSO_NONE, VNET_HDR_LEN};
use crate::pseudowire::MAX_FRAME;
use crate::sys::fast::{
    Epoll, Events, GsoSender, OutMsg, Piece, EPOLL_BROKEN, MAX_MSGS, MAX_PIECES,
};
use crate::sys::{EventFd, SockAddr};
use crate::worker::{PortShared, SessionShared};

/// Room in front of every frame read for the L2TP header.
const HEADROOM: usize = 64;
/// Largest read: virtio header plus the largest frame.
const MAX_READ: usize = VNET_HDR_LEN + MAX_FRAME;
/// Read buffer per worker: a few large frames or many small ones.
const READ_BUF: usize = 512 * 1024;
/// Frames read per batch.
const READ_BATCH: usize = 64;
/// Batches served per session before others get a turn.
const ROUNDS: usize = 8;
/// Segment header buffer: a header per piece pair.
const SCRATCH: usize = (MAX_PIECES / 2) * (MAX_HEADER_LEN + MAX_SEG_HEADER);
/// Datagrams per GSO train (the kernel's limit is 64 or 128).
const GSO_MAX_SEGS: usize = 64;
/// Bytes per GSO train: below the 64 KiB UDP limit with IPv6 headers.
const GSO_MAX_BYTES: usize = 65_000;
/// Token of the stop eventfd.
const STOP: u64 = u64::MAX;

const _: () = assert!(HEADROOM >= MAX_HEADER_LEN + VNET_HDR_LEN);

/// What workers need to send for one session.
pub struct TxSession {
    /// Counters, sequencing flag and the device.
    pub session: Arc<SessionShared>,
    /// The socket it sends on.
    pub port: Arc<PortShared>,
    /// The peer, in the kernel's address form.
    pub dest: SockAddr,
    /// Header template and the next sequence number, shared by the
    /// workers of all queues.
    pub header: Mutex<TxHeader>,
    /// Trains of equal datagrams may go as one UDP GSO send.
    pub gso: bool,
    /// One per device queue: whoever reads a queue sends what it read
    /// before letting go, so a flow's frames leave in order even when the
    /// receive thread drains a queue in place of its worker.
    pub queue_locks: Box<[Mutex<()>]>,
}

impl TxSession {
    /// Transmit state for `session`, sending to `dest` on `port`.
    pub fn new(
        session: Arc<SessionShared>,
        port: Arc<PortShared>,
        dest: SockAddr,
        header: TxHeader,
        gso: bool,
    ) -> Self {
        let queues = session.pw.queues().max(1);
        Self {
            session,
            port,
            dest,
            header: Mutex::new(header),
            gso,
            queue_locks: (0..queues).map(|_| Mutex::new(())).collect(),
        }
    }
}

type Table = RwLock<HashMap<u64, Arc<TxSession>>>;

struct Worker {
    epoll: Arc<Epoll>,
    stop: Arc<EventFd>,
    thread: Option<JoinHandle<()>>,
}

/// The transmit workers of a data plane.
pub struct TxPool {
    workers: Vec<Worker>,
    table: Arc<Table>,
}

impl TxPool {
    /// Starts `n` workers (in the caller's network namespace).
    pub fn start(n: usize) -> io::Result<Self> {
        let table: Arc<Table> = Arc::new(RwLock::new(HashMap::new()));
        let mut pool = Self {
            workers: Vec::with_capacity(n),
            table,
        };
        for q in 0..n.max(1) {
            let epoll = Arc::new(Epoll::new()?);
            let stop = Arc::new(EventFd::new()?);
            epoll.add(stop.raw(), STOP)?;
            let thread = {
                let (epoll, stop, table) = (
                    Arc::clone(&epoll),
                    Arc::clone(&stop),
                    Arc::clone(&pool.table),
                );
                std::thread::Builder::new()
                    .name(format!("l2tp-tx-{q}"))
                    .spawn(move || {
                        let _keep = stop;
                        Work::new().run(q, &epoll, &table)
                    })?
            };
            pool.workers.push(Worker {
                epoll,
                stop,
                thread: Some(thread),
            });
        }
        Ok(pool)
    }

    /// Starts serving a session: queue `q` of its device goes to worker `q`.
    pub fn add(&self, token: u64, s: Arc<TxSession>) -> io::Result<()> {
        let queues = s.session.pw.queues();
        self.table
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(token, Arc::clone(&s));
        for q in 0..queues {
            let w = self.workers.get(q % self.workers.len().max(1));
            if let Some(w) = w {
                if let Err(e) = w.epoll.add(s.session.pw.queue_fd(q), token) {
                    self.remove(token, &s);
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Stops serving a session. A worker in the middle of a batch for it
    /// finishes that batch; the device is released when it lets go.
    pub fn remove(&self, token: u64, s: &TxSession) {
        for q in 0..s.session.pw.queues() {
            if let Some(w) = self.workers.get(q % self.workers.len().max(1)) {
                let _ = w.epoll.delete(s.session.pw.queue_fd(q));
            }
        }
        self.table
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&token);
    }

    /// Stops and joins every worker.
    pub fn stop(&mut self) {
        for w in &self.workers {
            w.stop.signal();
        }
        for w in &mut self.workers {
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
        self.workers.clear();
        self.table
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

impl Drop for TxPool {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One datagram of a message: its pieces and its frame bytes.
#[derive(Clone, Copy, Default)]
struct Dgram {
    first: u32,
    pieces: u32,
    frame_bytes: u32,
}

/// A message being built: one datagram or a GSO train.
#[derive(Clone, Copy, Default)]
struct Msg {
    first_piece: u32,
    pieces: u32,
    first_dgram: u32,
    dgrams: u32,
    seg: usize,
    bytes: usize,
    closed: bool,
}

/// A worker's buffers (also used by receive threads to send replies).
pub struct Work {
    rbuf: Vec<u8>,
    frames: Vec<(usize, usize)>,
    scratch: Vec<u8>,
    pieces: Vec<Piece>,
    dgrams: Vec<Dgram>,
    msgs: Vec<Msg>,
    out: Vec<OutMsg>,
    sender: GsoSender,
}

/// What serving a queue ended with.
pub enum Served {
    /// The queue is empty.
    Drained,
    /// Budget used up; more may be waiting.
    More,
    /// The device is gone.
    Broken,
    /// Another thread is serving the queue.
    Busy,
}

impl Default for Work {
    fn default() -> Self {
        Self::new()
    }
}

impl Work {
    /// Allocates the buffers (about 1 MiB).
    pub fn new() -> Self {
        Self {
            rbuf: vec![0; READ_BUF],
            frames: Vec::with_capacity(READ_BATCH),
            scratch: Vec::with_capacity(SCRATCH),
            pieces: Vec::with_capacity(MAX_PIECES),
            dgrams: Vec::with_capacity(MAX_PIECES),
            msgs: Vec::with_capacity(MAX_MSGS),
            out: Vec::with_capacity(MAX_MSGS),
            sender: GsoSender::new(),
        }
    }

    fn run(mut self, q: usize, epoll: &Epoll, table: &Table) {
        let mut events = Events::with_capacity(64);
        loop {
            if let Err(e) = epoll.wait(&mut events, -1) {
                tracing::error!(queue = q, "transmit epoll failed: {e}");
                return;
            }
            for (token, ev) in events.iter() {
                if token == STOP {
                    return;
                }
                let s = table
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(&token)
                    .cloned();
                let Some(s) = s else {
                    continue;
                };
                let broken = if ev & EPOLL_BROKEN != 0 && ev & libc::EPOLLIN as u32 == 0 {
                    true
                } else {
                    matches!(self.serve(&s, q, true), Served::Broken)
                };
                if broken {
                    // The device was deleted behind our back: stop watching
                    // it, or level-triggered epoll would spin.
                    tracing::warn!(
                        ifname = s.session.pw.ifname(),
                        "device gone; session idle until deleted"
                    );
                    let _ = epoll.delete(s.session.pw.queue_fd(q));
                }
            }
        }
    }

    /// Drains (part of) queue `q` of one session. With `wait` false, gives
    /// up at once if another thread is at it.
    pub fn serve(&mut self, s: &TxSession, q: usize, wait: bool) -> Served {
        let Some(lock) = s.queue_locks.get(q) else {
            return Served::Drained;
        };
        let _guard = if wait {
            lock.lock().unwrap_or_else(|p| p.into_inner())
        } else {
            match lock.try_lock() {
                Ok(g) => g,
                Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return Served::Busy,
            }
        };
        let pw = &s.session.pw;
        for _ in 0..ROUNDS {
            self.frames.clear();
            let mut off = 0;
            let mut drained = false;
            let mut read_errors = 0u64;
            while self.frames.len() < READ_BATCH && off + HEADROOM + MAX_READ <= self.rbuf.len() {
                let start = off + HEADROOM;
                let Some(room) = self.rbuf.get_mut(start..start + MAX_READ) else {
                    break;
                };
                match pw.read_queue(q, room) {
                    Ok(Some(n)) if n > 0 => {
                        self.frames.push((start, n));
                        // Next frame 64-byte aligned after this one.
                        off = (start + n + 63) & !63;
                    }
                    Ok(_) => {
                        drained = true;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        if self.frames.is_empty() {
                            let gone = matches!(
                                e.raw_os_error(),
                                Some(libc::EBADFD) | Some(libc::EIO) | Some(libc::ENXIO)
                            );
                            if gone {
                                return Served::Broken;
                            }
                        }
                        read_errors += 1;
                        drained = true;
                        break;
                    }
                }
            }
            if read_errors > 0 {
                s.session.counters.add_tx(0, 0, read_errors);
                s.session.tunnel_counters.add_tx(0, 0, read_errors);
            }
            if !self.frames.is_empty() {
                self.send_frames(s);
            }
            if drained {
                return Served::Drained;
            }
        }
        Served::More
    }

    /// Builds and sends the packets of the frames just read.
    fn send_frames(&mut self, s: &TxSession) {
        let vnet = s.session.pw.vnet_hdr();
        let send_seq = s.session.send_seq.load(Relaxed);
        let mut header = s.header.lock().unwrap_or_else(|p| p.into_inner());
        let hlen = header.len();
        let mut errors = 0u64;
        let frames = std::mem::take(&mut self.frames);
        for &(start, n) in &frames {
            let (fstart, h) = if vnet {
                let h = self
                    .rbuf
                    .get(start..start + VNET_HDR_LEN)
                    .and_then(VnetHdr::parse);
                match h {
                    Some(h) if n > VNET_HDR_LEN => (start + VNET_HDR_LEN, h),
                    _ => {
                        errors += 1;
                        continue;
                    }
                }
            } else {
                (start, VnetHdr::default())
            };
            let fend = start + n;
            if h.gso_kind() != GSO_NONE {
                let seg = match self.rbuf.get(fstart..fend).map(|f| plan(&h, f)) {
                    Some(Ok(seg)) => seg,
                    Some(Err(e)) => {
                        tracing::debug!("dropping a frame that cannot be segmented: {e}");
                        errors += 1;
                        continue;
                    }
                    None => {
                        errors += 1;
                        continue;
                    }
                };
                let shdr = hlen + seg.header_len();
                for i in 0..seg.count() {
                    if self.pieces.len() + 2 > MAX_PIECES
                        || self.scratch.len() + shdr > SCRATCH
                        || (self.msgs.len() >= MAX_MSGS && !self.joins(s, shdr + seg.mss()))
                    {
                        errors += self.flush(s);
                    }
                    let at = self.scratch.len();
                    self.scratch.resize(at + shdr, 0);
                    let Some(frame) = self.rbuf.get(fstart..fend) else {
                        break;
                    };
                    let Some(out) = self.scratch.get_mut(at..at + shdr) else {
                        break;
                    };
                    let (l2tp, rest) = out.split_at_mut(hlen);
                    header.write(l2tp, send_seq);
                    let payload = seg.write_headers(frame, i, rest);
                    let plen = payload.len();
                    let p0 = Piece {
                        buf: 1,
                        start: at as u32,
                        len: shdr as u32,
                    };
                    let p1 = Piece {
                        buf: 0,
                        start: (fstart + payload.start) as u32,
                        len: plen as u32,
                    };
                    self.add_dgram(s, &[p0, p1], shdr + plen, seg.header_len() + plen);
                }
            } else {
                if let Some(frame) = self.rbuf.get_mut(fstart..fend) {
                    if let Err(e) = complete_checksum(&h, frame) {
                        tracing::debug!("dropping a frame with a bad checksum request: {e}");
                        errors += 1;
                        continue;
                    }
                }
                if self.pieces.len() + 1 > MAX_PIECES
                    || (self.msgs.len() >= MAX_MSGS && !self.joins(s, hlen + fend - fstart))
                {
                    errors += self.flush(s);
                }
                if let Some(l2tp) = self.rbuf.get_mut(fstart - hlen..fstart) {
                    header.write(l2tp, send_seq);
                }
                let p = Piece {
                    buf: 0,
                    start: (fstart - hlen) as u32,
                    len: (fend - fstart + hlen) as u32,
                };
                self.add_dgram(s, &[p], fend - fstart + hlen, fend - fstart);
            }
        }
        self.frames = frames;
        if !send_seq {
            // Nothing order-sensitive left: let other queues number theirs.
            drop(header);
            errors += self.flush(s);
        } else {
            // Sequenced: the numbers must reach the wire in order, so the
            // header stays locked until they are sent.
            errors += self.flush(s);
            drop(header);
        }
        if errors > 0 {
            s.session.counters.add_tx(0, 0, errors);
            s.session.tunnel_counters.add_tx(0, 0, errors);
        }
    }

    /// Whether a datagram of `len` bytes would join the last message.
    fn joins(&self, s: &TxSession, len: usize) -> bool {
        let Some(m) = self.msgs.last() else {
            return false;
        };
        s.gso
            && !m.closed
            && len <= m.seg
            && (m.dgrams as usize) < GSO_MAX_SEGS
            && m.bytes + len <= GSO_MAX_BYTES
    }

    fn add_dgram(&mut self, s: &TxSession, pieces: &[Piece], len: usize, frame_bytes: usize) {
        let first = self.pieces.len() as u32;
        self.pieces.extend_from_slice(pieces);
        let d = self.dgrams.len() as u32;
        self.dgrams.push(Dgram {
            first,
            pieces: pieces.len() as u32,
            frame_bytes: frame_bytes as u32,
        });
        if self.joins(s, len) {
            if let Some(m) = self.msgs.last_mut() {
                m.pieces += pieces.len() as u32;
                m.dgrams += 1;
                m.bytes += len;
                m.closed = len < m.seg;
                return;
            }
        }
        self.msgs.push(Msg {
            first_piece: first,
            pieces: pieces.len() as u32,
            first_dgram: d,
            dgrams: 1,
            seg: len,
            bytes: len,
            closed: false,
        });
    }

    /// Sends everything built so far; returns the datagrams that failed.
    fn flush(&mut self, s: &TxSession) -> u64 {
        if self.msgs.is_empty() {
            self.reset();
            return 0;
        }
        self.out.clear();
        for m in &self.msgs {
            self.out.push(OutMsg {
                first: m.first_piece,
                pieces: m.pieces,
                segment: if m.dgrams > 1 { m.seg as u16 } else { 0 },
            });
        }
        let fd = s.port.underlay.raw_fd();
        let dest = &s.dest;
        let (mut sent, mut bytes, mut errors) = (0u64, 0u64, 0u64);
        let mut i = 0;
        while i < self.msgs.len() {
            let r = self.sender.send(
                fd,
                dest,
                [&self.rbuf, &self.scratch],
                &self.pieces,
                self.out.get(i..).unwrap_or(&[]),
            );
            match r {
                Ok(k) if k > 0 => {
                    for m in self.msgs.iter().skip(i).take(k) {
                        sent += u64::from(m.dgrams);
                        bytes += self.frame_bytes(m);
                    }
                    i += k;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                r => {
                    let Some(m) = self.msgs.get(i).copied() else {
                        break;
                    };
                    if m.dgrams > 1 {
                        // The train was refused as a whole (a datagram
                        // too big for the path, a kernel without GSO):
                        // send its datagrams one by one.
                        if let Err(e) = &r {
                            tracing::debug!("UDP GSO send failed ({e}); sending singly");
                        }
                        let (ok, ok_bytes, bad) = self.send_singly(fd, dest, &m);
                        sent += ok;
                        bytes += ok_bytes;
                        errors += bad;
                    } else {
                        errors += 1;
                    }
                    i += 1;
                }
            }
        }
        s.session.counters.add_tx(sent, bytes, 0);
        s.session.tunnel_counters.add_tx(sent, bytes, 0);
        self.reset();
        errors
    }

    fn frame_bytes(&self, m: &Msg) -> u64 {
        self.dgrams
            .iter()
            .skip(m.first_dgram as usize)
            .take(m.dgrams as usize)
            .map(|d| u64::from(d.frame_bytes))
            .sum()
    }

    /// Sends a refused train's datagrams as separate messages.
    fn send_singly(&mut self, fd: i32, dest: &SockAddr, m: &Msg) -> (u64, u64, u64) {
        let (mut ok, mut ok_bytes, mut bad) = (0u64, 0u64, 0u64);
        let mut singles = [OutMsg::default(); GSO_MAX_SEGS];
        let list = self
            .dgrams
            .get(m.first_dgram as usize..(m.first_dgram + m.dgrams) as usize)
            .unwrap_or(&[]);
        let n = list.len().min(GSO_MAX_SEGS);
        for (o, d) in singles.iter_mut().zip(list) {
            *o = OutMsg {
                first: d.first,
                pieces: d.pieces,
                segment: 0,
            };
        }
        let mut j = 0;
        while j < n {
            match self.sender.send(
                fd,
                dest,
                [&self.rbuf, &self.scratch],
                &self.pieces,
                singles.get(j..n).unwrap_or(&[]),
            ) {
                Ok(k) if k > 0 => {
                    for d in list.iter().skip(j).take(k) {
                        ok += 1;
                        ok_bytes += u64::from(d.frame_bytes);
                    }
                    j += k;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                _ => {
                    bad += 1;
                    j += 1;
                }
            }
        }
        (ok, ok_bytes, bad)
    }

    fn reset(&mut self) {
        self.pieces.clear();
        self.dgrams.clear();
        self.msgs.clear();
        self.out.clear();
        self.scratch.clear();
    }
}
