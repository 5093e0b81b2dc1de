//! Per-session L2TPv3 data logic with no I/O: header building on transmit,
//! and on receive the cookie check, sequence-number tracking and the
//! reorder queue. Time comes in as a parameter so tests drive a fake clock.
//!
//! Receive sequencing follows the Linux kernel (`net/l2tp/l2tp_core.c`):
//! * the first sequenced packet sets the expected number (`nr`);
//! * packets more than half the 24-bit space behind or ahead of `nr` are
//!   outside the window and dropped (the kernel's `l2tp_seq_check_rx_window`);
//! * without a reorder timeout, a packet other than `nr` is dropped, and after
//!   more than four consecutive such packets the receiver resynchronises on
//!   them (the kernel's `nr_oos_count_max`);
//! * with a reorder timeout, packets are queued in sequence order and handed
//!   on as soon as they are in order.
//!
//! Deliberate differences: when a queued packet's timeout expires the kernel
//! drops it and resynchronises on the next one; here the missing packets are
//! given up on and the held packets are released in order (nothing that did
//! arrive is lost). Duplicates are dropped at once rather than left to
//! expire, ordering is computed modulo 2^24 so reordering works across the
//! wrap, and drops outside the window count as sequence discards.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use crate::counters::{Event, Recorder};
use crate::wire::{Cookie, Encap, L2SpecType, V3DataConfig, V3DataRepr};
use crate::DataplaneError;

/// Sequence numbers of the default sublayer are 24 bits (RFC 3931 4.6).
pub const SEQ_MASK: u32 = 0x00ff_ffff;
/// Half the sequence space, as the kernel's `nr_window_size`.
const WINDOW: u32 = SEQ_MASK / 2;
/// Consecutive out-of-sequence packets tolerated before resynchronising.
const OOS_COUNT_MAX: u32 = 4;
/// Upper bound on held packets per session so a flood cannot exhaust memory;
/// when full, the oldest gap is given up on.
pub const REORDER_QUEUE_MAX: usize = 128;
/// Largest v3 data header: UDP flags word, session ID, 8-byte cookie,
/// default sublayer.
pub const MAX_HEADER_LEN: usize = 4 + 4 + 8 + 4;
/// Initial capacity of a held-packet buffer (an Ethernet frame fits).
const HELD_BUF_CAPACITY: usize = 2048;

/// Ethernet header carried inside the pseudowire.
const ETH_HLEN: u32 = 14;
/// MTU the overhead is subtracted from (the kernel's `ETH_DATA_LEN`).
const ETH_DATA_LEN: u32 = 1500;

/// Device MTU the way the kernel's `l2tp_eth` sets it: 1500 minus every
/// byte of encapsulation (underlay IP header, UDP header, the L2TPv3 header
/// with cookie and sublayer, and the inner Ethernet header), so a full-size
/// inner packet still fits a 1500-byte underlay.
pub fn default_mtu(encap: Encap, ipv6: bool, cookie_len: usize, l2spec: L2SpecType) -> u32 {
    let ip = if ipv6 { 40 } else { 20 };
    let udp = match encap {
        Encap::Udp => 8,
        Encap::Ip => 0,
    };
    let l2tp = V3DataConfig {
        encap,
        cookie_len: cookie_len as u8,
        l2spec,
    }
    .header_len() as u32;
    ETH_DATA_LEN - (ip + udp + l2tp + ETH_HLEN)
}

/// The 24-bit distance from `from` forward to `to`.
fn seq_dist(from: u32, to: u32) -> u32 {
    to.wrapping_sub(from) & SEQ_MASK
}

/// Builds transmit headers: a template emitted once by the codec, with only
/// the sublayer word patched per packet.
#[derive(Clone, Debug)]
pub struct TxHeader {
    template: [u8; MAX_HEADER_LEN],
    len: usize,
    /// Offset of the default sublayer word within the header, if present.
    l2spec_at: Option<usize>,
    /// Next sequence number to send (the kernel's `ns`).
    ns: u32,
}

impl TxHeader {
    /// Prepares headers for packets to `peer_session_id`.
    pub fn new(
        encap: Encap,
        peer_session_id: u32,
        cookie: Cookie,
        l2spec: L2SpecType,
    ) -> Result<Self, DataplaneError> {
        if peer_session_id == 0 {
            return Err(DataplaneError::Invalid {
                field: "peer_session_id",
                reason: "0 is reserved for control messages (RFC 3931 4.1)".into(),
            });
        }
        let repr = V3DataRepr {
            session_id: peer_session_id,
            cookie,
            seq: None,
            l2spec,
        };
        let mut template = [0u8; MAX_HEADER_LEN];
        let len = repr
            .emit(encap, &mut template)
            .map_err(|e| DataplaneError::Invalid {
                field: "cookie",
                reason: format!("cannot build the data header: {e}"),
            })?;
        let l2spec_at = match l2spec {
            L2SpecType::Default => len.checked_sub(4),
            L2SpecType::None => None,
        };
        Ok(Self {
            template,
            len,
            l2spec_at,
            ns: 0,
        })
    }

    /// Header length in bytes: the headroom needed in front of a frame.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always false: a v3 data header has at least the session ID.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes the header into `out` (exactly [`len`](Self::len) bytes, the
    /// headroom right before the frame). With `send_seq` the default
    /// sublayer carries the S bit and the next sequence number.
    pub fn write(&mut self, out: &mut [u8], send_seq: bool) {
        let len = self.len;
        let (Some(dst), Some(src)) = (out.get_mut(..len), self.template.get(..len)) else {
            return;
        };
        dst.copy_from_slice(src);
        if let Some(at) = self.l2spec_at {
            let word: u32 = if send_seq {
                let w = 0x4000_0000 | self.ns;
                self.ns = (self.ns + 1) & SEQ_MASK;
                w
            } else {
                0
            };
            if let Some(slot) = dst.get_mut(at..at + 4) {
                slot.copy_from_slice(&word.to_be_bytes());
            }
        }
    }

    /// The sequence number the next numbered packet gets.
    pub fn next_seq(&self) -> u32 {
        self.ns
    }
}

/// What the receive side needs to know about a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxConfig {
    /// Underlay encapsulation (decides the header layout).
    pub encap: Encap,
    /// Our session ID (what the peer sends).
    pub session_id: u32,
    /// Cookie the peer must send.
    pub peer_cookie: Cookie,
    /// Sublayer the peer sends.
    pub l2spec: L2SpecType,
    /// Drop packets without sequence numbers.
    pub recv_seq: bool,
    /// Hold out-of-order packets this long; `None` drops them.
    pub reorder_timeout: Option<Duration>,
}

/// A packet waiting in the reorder queue (payload copied out of the shared
/// receive buffer into a pooled buffer).
#[derive(Debug)]
struct Held {
    ns: Option<u32>,
    expires: Instant,
    buf: Vec<u8>,
}

/// Receive state of one session.
#[derive(Debug)]
pub struct RxSession {
    cfg: RxConfig,
    wire: V3DataConfig,
    /// Next expected sequence number.
    nr: u32,
    /// Not yet synchronised: take `nr` from the next sequenced packet.
    reorder_skip: bool,
    /// Last out-of-sequence number seen (no-reorder mode).
    nr_oos: u32,
    /// Consecutive out-of-sequence packets that were themselves in order.
    nr_oos_count: u32,
    queue: VecDeque<Held>,
    pool: Vec<Vec<u8>>,
}

impl RxSession {
    /// Fresh state. Held-packet buffers are allocated the first time they
    /// are needed and recycled afterwards.
    pub fn new(cfg: RxConfig) -> Self {
        let reorder = cfg.reorder_timeout.is_some();
        let wire = V3DataConfig {
            encap: cfg.encap,
            cookie_len: cfg.peer_cookie.len() as u8,
            l2spec: cfg.l2spec,
        };
        Self {
            cfg,
            wire,
            nr: 0,
            reorder_skip: true,
            nr_oos: 0,
            nr_oos_count: 0,
            // Sized once so holding packets never grows the containers.
            queue: VecDeque::with_capacity(if reorder { REORDER_QUEUE_MAX } else { 0 }),
            pool: Vec::with_capacity(if reorder { REORDER_QUEUE_MAX } else { 0 }),
        }
    }

    /// The configuration this state was built with.
    pub fn config(&self) -> &RxConfig {
        &self.cfg
    }

    /// Packets currently held for reordering.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Next expected sequence number (meaningful once synchronised).
    pub fn expected_seq(&self) -> Option<u32> {
        (!self.reorder_skip).then_some(self.nr)
    }

    /// When [`poll`](Self::poll) must next run to release held packets.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.iter().map(|h| h.expires).min()
    }

    /// Handles one received packet (starting at the L2TP header, i.e. after
    /// the UDP header or the IP header). Frames ready for the pseudowire
    /// are passed to `sink`, which returns false if it could not take one.
    /// `send_seq` is the session's transmit numbering flag, flipped the way
    /// the kernel does for a LAC-mode session when the peer starts or stops
    /// numbering.
    pub fn receive<R, S>(
        &mut self,
        pkt: &[u8],
        now: Instant,
        send_seq: &AtomicBool,
        rec: &mut R,
        sink: &mut S,
    ) where
        R: Recorder + ?Sized,
        S: FnMut(&[u8]) -> bool + ?Sized,
    {
        let Ok((repr, off)) = V3DataRepr::parse(pkt, &self.wire) else {
            rec.record(Event::Invalid);
            return;
        };
        if repr.session_id != self.cfg.session_id {
            rec.record(Event::Invalid);
            return;
        }
        if repr.cookie.as_bytes() != self.cfg.peer_cookie.as_bytes() {
            rec.record(Event::CookieDiscard);
            return;
        }
        let Some(payload) = pkt.get(off..) else {
            rec.record(Event::Invalid);
            return;
        };

        match repr.seq {
            Some(_) => {
                if !send_seq.load(Relaxed) {
                    send_seq.store(true, Relaxed);
                }
            }
            None => {
                if self.cfg.recv_seq {
                    rec.record(Event::SeqDiscard);
                    return;
                }
                if send_seq.load(Relaxed) {
                    send_seq.store(false, Relaxed);
                }
            }
        }

        match repr.seq {
            None => {
                if self.queue.is_empty() {
                    deliver(payload, rec, sink);
                } else {
                    // Keep order with the sequenced packets already held.
                    self.make_room(rec, sink);
                    let wait = self.cfg.reorder_timeout.unwrap_or_default();
                    self.hold(None, payload, now + wait);
                }
            }
            Some(ns) => {
                if !self.reorder_skip && seq_dist(self.nr, ns) >= WINDOW {
                    // Behind us (duplicate / too old) or implausibly far ahead.
                    rec.record(Event::SeqDiscard);
                    return;
                }
                match self.cfg.reorder_timeout {
                    Some(timeout) => self.receive_reorder(ns, payload, now, timeout, rec, sink),
                    None => self.receive_strict(ns, payload, rec, sink),
                }
            }
        }
        self.dequeue(now, rec, sink);
    }

    /// Releases held packets whose timeout has passed (and any that are in
    /// order behind them). Call at [`next_deadline`](Self::next_deadline).
    pub fn poll<R, S>(&mut self, now: Instant, rec: &mut R, sink: &mut S)
    where
        R: Recorder + ?Sized,
        S: FnMut(&[u8]) -> bool + ?Sized,
    {
        self.dequeue(now, rec, sink);
    }

    /// No reordering: only the expected packet passes (kernel behaviour).
    fn receive_strict<R, S>(&mut self, ns: u32, payload: &[u8], rec: &mut R, sink: &mut S)
    where
        R: Recorder + ?Sized,
        S: FnMut(&[u8]) -> bool + ?Sized,
    {
        if self.reorder_skip || ns == self.nr {
            self.reorder_skip = false;
            self.nr = (ns + 1) & SEQ_MASK;
            deliver(payload, rec, sink);
            return;
        }
        if ns == (self.nr_oos + 1) & SEQ_MASK {
            self.nr_oos_count += 1;
        } else {
            self.nr_oos_count = 0;
        }
        self.nr_oos = ns;
        if self.nr_oos_count > OOS_COUNT_MAX {
            // The peer has clearly moved on: follow it.
            self.nr_oos_count = 0;
            self.nr = (ns + 1) & SEQ_MASK;
            deliver(payload, rec, sink);
        } else {
            rec.record(Event::SeqDiscard);
        }
    }

    /// Reordering: in-order packets pass, others wait in sequence order.
    fn receive_reorder<R, S>(
        &mut self,
        ns: u32,
        payload: &[u8],
        now: Instant,
        timeout: Duration,
        rec: &mut R,
        sink: &mut S,
    ) where
        R: Recorder + ?Sized,
        S: FnMut(&[u8]) -> bool + ?Sized,
    {
        if self.reorder_skip {
            // First sequenced packet: it defines the expected number. Only
            // possible with an empty queue (nothing sequenced held yet).
            self.reorder_skip = false;
            self.nr = ns;
        }
        let dist = seq_dist(self.nr, ns);
        let later_held = self
            .queue
            .iter()
            .any(|h| h.ns.is_some_and(|q| seq_dist(self.nr, q) > dist));
        if self.queue.iter().any(|h| h.ns == Some(ns)) {
            rec.record(Event::SeqDiscard);
            return;
        }
        if later_held {
            // Packets sent after this one arrived before it.
            rec.record(Event::OutOfSequence);
        }
        if dist == 0 {
            self.nr = (ns + 1) & SEQ_MASK;
            deliver(payload, rec, sink);
            return;
        }
        if self.make_room(rec, sink) {
            // The release moved `nr`; this packet may now be behind it.
            let d = seq_dist(self.nr, ns);
            if d >= WINDOW {
                rec.record(Event::SeqDiscard);
                return;
            }
            if d == 0 {
                self.nr = (ns + 1) & SEQ_MASK;
                deliver(payload, rec, sink);
                return;
            }
        }
        self.hold(Some(ns), payload, now + timeout);
    }

    /// Bounds the queue for every packet held, sequenced or not: when it
    /// is full the oldest gap is given up on, which releases at least the
    /// head. Returns whether it had to.
    fn make_room<R, S>(&mut self, rec: &mut R, sink: &mut S) -> bool
    where
        R: Recorder + ?Sized,
        S: FnMut(&[u8]) -> bool + ?Sized,
    {
        if self.queue.len() < REORDER_QUEUE_MAX {
            return false;
        }
        self.give_up_head(rec, sink);
        true
    }

    /// Copies a packet into the queue at its place in sequence order (the
    /// caller made room).
    fn hold(&mut self, ns: Option<u32>, payload: &[u8], expires: Instant) {
        let mut buf = self
            .pool
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(HELD_BUF_CAPACITY));
        buf.clear();
        buf.extend_from_slice(payload);
        let pos = match ns {
            None => self.queue.len(),
            Some(ns) => {
                let d = seq_dist(self.nr, ns);
                self.queue
                    .iter()
                    .position(|h| h.ns.is_none_or(|q| seq_dist(self.nr, q) > d))
                    .unwrap_or(self.queue.len())
            }
        };
        self.queue.insert(pos, Held { ns, expires, buf });
    }

    /// Stops waiting for the packets missing before the head and releases
    /// what is then in order.
    fn give_up_head<R, S>(&mut self, rec: &mut R, sink: &mut S)
    where
        R: Recorder + ?Sized,
        S: FnMut(&[u8]) -> bool + ?Sized,
    {
        if let Some(ns) = self.queue.front().and_then(|h| h.ns) {
            self.nr = ns;
        }
        self.release_in_order(rec, sink);
    }

    /// Delivers held packets from the head while they are in order.
    fn release_in_order<R, S>(&mut self, rec: &mut R, sink: &mut S)
    where
        R: Recorder + ?Sized,
        S: FnMut(&[u8]) -> bool + ?Sized,
    {
        while let Some(head) = self.queue.front() {
            match head.ns {
                Some(ns) if ns != self.nr => break,
                Some(ns) => self.nr = (ns + 1) & SEQ_MASK,
                None => {}
            }
            if let Some(h) = self.queue.pop_front() {
                deliver(&h.buf, rec, sink);
                self.pool.push(h.buf);
            }
        }
    }

    /// Releases in-order packets, and skips gaps while any held packet has
    /// waited past its timeout.
    fn dequeue<R, S>(&mut self, now: Instant, rec: &mut R, sink: &mut S)
    where
        R: Recorder + ?Sized,
        S: FnMut(&[u8]) -> bool + ?Sized,
    {
        loop {
            self.release_in_order(rec, sink);
            match self.next_deadline() {
                Some(deadline) if deadline <= now => self.give_up_head(rec, sink),
                _ => break,
            }
        }
    }
}

/// Hands a frame to the pseudowire and counts the outcome.
fn deliver<R, S>(frame: &[u8], rec: &mut R, sink: &mut S)
where
    R: Recorder + ?Sized,
    S: FnMut(&[u8]) -> bool + ?Sized,
{
    if sink(frame) {
        rec.record(Event::Rx(frame.len() as u64));
    } else {
        rec.record(Event::RxError);
    }
}

#[cfg(test)]
mod tests;
