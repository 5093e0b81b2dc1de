//! Reliable delivery of control messages (RFC 3931 4.2 and Appendix A,
//! RFC 2661 5.8): Ns/Nr sequencing with wrap-around, the peer's receive
//! window, slow start and congestion avoidance, retransmission with
//! exponential back-off, delayed and duplicate acknowledgements and in-order
//! delivery through a bounded out-of-order queue.
//!
//! The layer knows nothing about message contents: it queues opaque `T`
//! values to send and hands back `R` values in sequence order. The owner
//! encodes each transmission itself because the header's Nr (and with it the
//! Message Digest) changes between retransmissions.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::seq;

/// Timers and windows of the reliable delivery layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReliableConfig {
    /// Wait before the first retransmission (RFC 3931 recommends 1 s).
    pub initial_timeout: Duration,
    /// Cap of the exponential back-off (RFC 3931: no less than 8 s).
    pub max_timeout: Duration,
    /// Retransmissions of one message before the connection is declared
    /// dead.
    pub max_retries: u32,
    /// Our Receive Window Size AVP: how many messages the peer may have
    /// unacknowledged, and the bound of our out-of-order queue.
    pub receive_window: u16,
    /// How long an acknowledgement may wait for a message to ride on
    /// before an explicit ZLB/ACK goes out.
    pub ack_delay: Duration,
}

impl Default for ReliableConfig {
    fn default() -> Self {
        ReliableConfig {
            initial_timeout: Duration::from_secs(1),
            max_timeout: Duration::from_secs(8),
            max_retries: 5,
            receive_window: 16,
            ack_delay: Duration::from_millis(100),
        }
    }
}

impl ReliableConfig {
    /// The back-off interval that follows the `n`-th transmission of a
    /// message (n = 0 for the first transmission).
    pub fn timeout_after(&self, n: u32) -> Duration {
        let mut t = self.initial_timeout;
        for _ in 0..n {
            t = t.saturating_mul(2);
            if t >= self.max_timeout {
                return self.max_timeout;
            }
        }
        t.min(self.max_timeout.max(self.initial_timeout))
    }

    /// Time from the first transmission until the connection is declared
    /// dead: the "full retransmission cycle" a StopCCN lingers for.
    pub fn full_cycle(&self) -> Duration {
        (0..=self.max_retries).map(|n| self.timeout_after(n)).sum()
    }
}

/// Window a peer gets before its Receive Window Size AVP arrives (RFC 3931
/// 5.4.3: "If absent, the peer must assume a Window Size of 4").
pub const DEFAULT_PEER_WINDOW: u16 = 4;

/// Counters of the delivery layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReliableStats {
    /// Distinct messages sent for the first time.
    pub sent: u64,
    /// Retransmissions.
    pub retransmitted: u64,
    /// Explicit acknowledgements (ZLB/ACK) sent.
    pub acks_sent: u64,
    /// Received messages already seen (re-acknowledged, then dropped).
    pub duplicates: u64,
    /// Received messages ahead of a gap (queued for in-order delivery).
    pub out_of_order: u64,
    /// Received messages beyond our receive window (dropped).
    pub out_of_window: u64,
    /// Received Nr values acknowledging messages never sent (dropped).
    pub invalid_nr: u64,
    /// Largest number of messages in flight at once.
    pub max_in_flight: u64,
}

/// What the owner must put on the wire next.
#[derive(Debug, PartialEq, Eq)]
pub enum Outgoing<'a, T> {
    /// A queued message, (re)sent with these sequence numbers.
    Message {
        ns: u16,
        nr: u16,
        payload: &'a mut T,
        retransmit: bool,
    },
    /// An acknowledgement without a body (ZLB or explicit ACK).
    Ack { ns: u16, nr: u16 },
}

/// What became of a received message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RxOutcome {
    /// Accepted; it and any queued successors are ready in order.
    Accepted,
    /// Ahead of a gap; held until the gap fills.
    Queued,
    /// Seen before; dropped and re-acknowledged.
    Duplicate,
    /// Beyond our receive window; dropped.
    OutOfWindow,
}

/// The Nr of a received message acknowledges a message never sent (RFC
/// 3931 4.2: "the control message is clearly invalid").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidNr {
    pub nr: u16,
    /// Next Ns we would assign; a valid Nr is at most this.
    pub next_ns: u16,
}

/// One direction pair of a control connection's sequencing state.
#[derive(Debug)]
pub struct Reliable<T, R> {
    cfg: ReliableConfig,
    /// Ns of `queue[0]`, the oldest unacknowledged message.
    snd_una: u16,
    /// `queue[i]` carries Ns `snd_una + i`.
    queue: VecDeque<T>,
    /// `queue[..in_flight]` are on the wire awaiting acknowledgement.
    in_flight: usize,
    /// `queue[..ever_sent]` were transmitted at least once.
    ever_sent: usize,
    peer_window: u16,
    cwnd: u16,
    ssthresh: u16,
    /// New acknowledgements counted towards the next congestion-avoidance
    /// increment.
    ca_acks: u16,
    rto: Duration,
    retries: u32,
    rto_at: Option<Instant>,
    /// Next Ns expected from the peer: our Nr.
    rcv_nxt: u16,
    /// `ooo[i]` holds the message with Ns `rcv_nxt + i`, if received.
    ooo: VecDeque<Option<R>>,
    delivered: VecDeque<R>,
    ack_at: Option<Instant>,
    /// Messages accepted since our last acknowledgement went out.
    unacked_rx: u16,
    failed: bool,
    stats: ReliableStats,
}

impl<T, R> Reliable<T, R> {
    pub fn new(cfg: ReliableConfig) -> Self {
        Self::with_sequence(cfg, 0, 0)
    }

    /// Starts at given sequence numbers instead of 0 (tests of the wrap).
    pub fn with_sequence(cfg: ReliableConfig, ns: u16, nr: u16) -> Self {
        let rto = cfg.initial_timeout;
        Reliable {
            cfg,
            snd_una: ns,
            queue: VecDeque::new(),
            in_flight: 0,
            ever_sent: 0,
            peer_window: DEFAULT_PEER_WINDOW,
            cwnd: 1,
            ssthresh: DEFAULT_PEER_WINDOW,
            ca_acks: 0,
            rto,
            retries: 0,
            rto_at: None,
            rcv_nxt: nr,
            ooo: VecDeque::new(),
            delivered: VecDeque::new(),
            ack_at: None,
            unacked_rx: 0,
            failed: false,
            stats: ReliableStats::default(),
        }
    }

    pub fn config(&self) -> &ReliableConfig {
        &self.cfg
    }

    pub fn stats(&self) -> &ReliableStats {
        &self.stats
    }

    /// The peer's Receive Window Size; also restarts slow start's
    /// threshold from it (Appendix A).
    pub fn set_peer_window(&mut self, window: u16) {
        self.peer_window = window.max(1);
        self.ssthresh = self.peer_window;
        self.cwnd = self.cwnd.min(self.peer_window);
    }

    pub fn peer_window(&self) -> u16 {
        self.peer_window
    }

    pub fn cwnd(&self) -> u16 {
        self.cwnd
    }

    pub fn ssthresh(&self) -> u16 {
        self.ssthresh
    }

    /// Our Nr: the next Ns expected from the peer.
    pub fn nr(&self) -> u16 {
        self.rcv_nxt
    }

    /// The Ns the next new message will get.
    pub fn next_ns(&self) -> u16 {
        self.snd_una.wrapping_add(self.queue.len() as u16)
    }

    /// Ns for a body-less acknowledgement: the next never-sent Ns.
    fn ack_ns(&self) -> u16 {
        self.snd_una.wrapping_add(self.ever_sent as u16)
    }

    /// Messages sent or queued and not yet acknowledged.
    pub fn unacked(&self) -> usize {
        self.queue.len()
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// True once a message went unacknowledged through every retry.
    pub fn has_failed(&self) -> bool {
        self.failed
    }

    /// Queues a message; it gets the next Ns and goes out when the window
    /// allows.
    pub fn send(&mut self, payload: T) -> u16 {
        let ns = self.next_ns();
        self.queue.push_back(payload);
        ns
    }

    /// Drops queued messages that never went out (before a StopCCN, which
    /// must not wait behind work that no longer matters).
    pub fn discard_unsent(&mut self) {
        self.queue.truncate(self.ever_sent.max(self.in_flight));
    }

    /// Stops sending: everything outstanding counts as acknowledged. The
    /// receive side keeps working so retransmissions are still acked
    /// (after a peer's StopCCN).
    pub fn abandon(&mut self) {
        self.snd_una = self.snd_una.wrapping_add(self.ever_sent as u16);
        self.queue.clear();
        self.in_flight = 0;
        self.ever_sent = 0;
        self.rto_at = None;
    }

    /// Processes the Nr of any received message (including ZLBs) and returns
    /// how many queued messages it acknowledged.
    pub fn on_ack(&mut self, now: Instant, nr: u16) -> Result<usize, InvalidNr> {
        let Some(d) = seq::ahead(nr, self.snd_una) else {
            // Older than what is already acknowledged: stale, harmless.
            return Ok(0);
        };
        let d = usize::from(d);
        if d > self.ever_sent {
            self.stats.invalid_nr += 1;
            return Err(InvalidNr {
                nr,
                next_ns: self.ack_ns(),
            });
        }
        if d == 0 {
            return Ok(0);
        }
        self.queue.drain(..d);
        self.snd_una = nr;
        self.in_flight = self.in_flight.saturating_sub(d);
        self.ever_sent -= d;
        // Appendix A: +1 per acknowledgement in slow start, +1/cwnd after.
        if self.cwnd < self.ssthresh {
            self.cwnd += 1;
        } else {
            self.ca_acks += 1;
            if self.ca_acks >= self.cwnd {
                self.cwnd = self.cwnd.saturating_add(1);
                self.ca_acks = 0;
            }
        }
        self.cwnd = self.cwnd.min(self.peer_window);
        self.retries = 0;
        self.rto = self.cfg.initial_timeout;
        self.rto_at = if self.in_flight > 0 {
            Some(now + self.rto)
        } else {
            None
        };
        Ok(d)
    }

    /// Processes a received message that occupies a sequence slot (anything
    /// but a ZLB/ACK). Delivered messages are then read with
    /// [`Reliable::pop_delivered`].
    pub fn on_message(&mut self, now: Instant, ns: u16, msg: R) -> RxOutcome {
        let Some(d) = seq::ahead(ns, self.rcv_nxt) else {
            self.stats.duplicates += 1;
            self.ack_at = Some(now);
            return RxOutcome::Duplicate;
        };
        let d = usize::from(d);
        if d >= usize::from(self.cfg.receive_window.max(1)) {
            self.stats.out_of_window += 1;
            self.ack_at = Some(now);
            return RxOutcome::OutOfWindow;
        }
        if self.ooo.len() <= d {
            self.ooo.resize_with(d + 1, || None);
        }
        match self.ooo.get_mut(d) {
            Some(slot @ None) => *slot = Some(msg),
            _ => {
                self.stats.duplicates += 1;
                self.ack_at = Some(now);
                return RxOutcome::Duplicate;
            }
        }
        if d > 0 {
            self.stats.out_of_order += 1;
            // Tell the peer at once where the gap is.
            self.ack_at = Some(now);
            return RxOutcome::Queued;
        }
        while let Some(Some(_)) = self.ooo.front() {
            if let Some(Some(m)) = self.ooo.pop_front() {
                self.delivered.push_back(m);
            }
            self.rcv_nxt = self.rcv_nxt.wrapping_add(1);
        }
        self.unacked_rx = self.unacked_rx.saturating_add(1);
        // Like TCP, hold back at most every other acknowledgement.
        let at = if self.unacked_rx >= 2 {
            now
        } else {
            now + self.cfg.ack_delay
        };
        self.ack_at = Some(self.ack_at.map_or(at, |t| t.min(at)));
        RxOutcome::Accepted
    }

    /// The next message in sequence order.
    pub fn pop_delivered(&mut self) -> Option<R> {
        self.delivered.pop_front()
    }

    /// Asks for an acknowledgement to go out now (e.g. for a StopCCN whose
    /// sender must hear back before we forget the connection).
    pub fn ack_now(&mut self, now: Instant) {
        self.ack_at = Some(now);
    }

    /// Earliest instant at which [`Reliable::handle_timeout`] or
    /// [`Reliable::poll_transmit`] has something to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.failed {
            return None;
        }
        match (self.rto_at, self.ack_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires the retransmission timer. Afterwards check
    /// [`Reliable::has_failed`].
    pub fn handle_timeout(&mut self, now: Instant) {
        let Some(at) = self.rto_at else { return };
        if at > now || self.failed {
            return;
        }
        self.retries += 1;
        if self.retries > self.cfg.max_retries {
            self.failed = true;
            self.rto_at = None;
            self.ack_at = None;
            return;
        }
        // Appendix A: half the window becomes the threshold, restart at 1.
        // As in TCP (RFC 2581) the threshold stays at least 2.
        self.ssthresh = (self.cwnd / 2).max(2).min(self.peer_window);
        self.cwnd = 1;
        self.ca_acks = 0;
        // Go back: everything after the oldest message is resent as the
        // window reopens.
        self.in_flight = 0;
        self.rto = (self.rto.saturating_mul(2)).min(self.cfg.max_timeout.max(self.rto));
        self.rto_at = Some(now + self.rto);
    }

    /// The next transmission, if the window and the timers allow one.
    /// Sending any message carries our Nr and so cancels a pending ACK.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Outgoing<'_, T>> {
        if self.failed {
            return None;
        }
        let limit = usize::from(self.cwnd.min(self.peer_window).max(1));
        if self.in_flight < self.queue.len() && self.in_flight < limit {
            let idx = self.in_flight;
            self.in_flight += 1;
            let retransmit = idx < self.ever_sent;
            if retransmit {
                self.stats.retransmitted += 1;
            } else {
                self.stats.sent += 1;
                self.ever_sent = idx + 1;
            }
            self.stats.max_in_flight = self.stats.max_in_flight.max(self.in_flight as u64);
            if self.rto_at.is_none() {
                self.rto_at = Some(now + self.rto);
            }
            self.ack_at = None;
            self.unacked_rx = 0;
            return Some(Outgoing::Message {
                ns: self.snd_una.wrapping_add(idx as u16),
                nr: self.rcv_nxt,
                payload: self.queue.get_mut(idx)?,
                retransmit,
            });
        }
        // Waiting would not let the acknowledgement ride on a message when
        // our window is closed: the peer may be waiting on it to send the
        // very acknowledgement that opens ours.
        let blocked = self.queue.len() > self.in_flight;
        match self.ack_at {
            Some(at) if at <= now || blocked => {
                self.ack_at = None;
                self.unacked_rx = 0;
                self.stats.acks_sent += 1;
                Some(Outgoing::Ack {
                    ns: self.ack_ns(),
                    nr: self.rcv_nxt,
                })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Rel = Reliable<u32, u32>;

    fn t0() -> Instant {
        Instant::now()
    }

    fn drain(r: &mut Rel, now: Instant) -> Vec<(u16, u16, Option<u32>, bool)> {
        let mut v = Vec::new();
        while let Some(o) = r.poll_transmit(now) {
            match o {
                Outgoing::Message {
                    ns,
                    nr,
                    payload,
                    retransmit,
                } => v.push((ns, nr, Some(*payload), retransmit)),
                Outgoing::Ack { ns, nr } => v.push((ns, nr, None, false)),
            }
        }
        v
    }

    #[test]
    fn backoff_schedule() {
        let cfg = ReliableConfig::default();
        let got: Vec<u64> = (0..7).map(|n| cfg.timeout_after(n).as_secs()).collect();
        assert_eq!(got, vec![1, 2, 4, 8, 8, 8, 8]);
        assert_eq!(cfg.full_cycle(), Duration::from_secs(31));
    }

    #[test]
    fn retransmits_then_fails() {
        let base = t0();
        let mut r = Rel::new(ReliableConfig::default());
        r.send(7);
        assert_eq!(drain(&mut r, base), vec![(0, 0, Some(7), false)]);
        let mut fired = Vec::new();
        while let Some(at) = r.poll_timeout() {
            r.handle_timeout(at);
            if r.has_failed() {
                fired.push((at - base).as_secs());
                break;
            }
            let tx = drain(&mut r, at);
            assert_eq!(tx, vec![(0, 0, Some(7), true)]);
            fired.push((at - base).as_secs());
        }
        assert_eq!(fired, vec![1, 3, 7, 15, 23, 31]);
        assert!(r.has_failed());
        assert_eq!(r.stats().retransmitted, 5);
    }

    #[test]
    fn window_and_slow_start() {
        let base = t0();
        let mut r = Rel::new(ReliableConfig::default());
        r.set_peer_window(4);
        for i in 0..10 {
            r.send(i);
        }
        // cwnd starts at 1.
        assert_eq!(drain(&mut r, base).len(), 1);
        assert_eq!(r.on_ack(base, 1), Ok(1));
        assert_eq!(r.cwnd(), 2);
        assert_eq!(drain(&mut r, base).len(), 2);
        assert_eq!(r.on_ack(base, 3), Ok(2));
        assert_eq!(r.cwnd(), 3);
        assert_eq!(drain(&mut r, base).len(), 3);
        assert_eq!(r.on_ack(base, 6), Ok(3));
        // Capped by the peer window.
        assert_eq!(r.cwnd(), 4);
        let tx = drain(&mut r, base);
        assert_eq!(tx.len(), 4);
        assert_eq!(r.in_flight(), 4);
        assert_eq!(r.stats().max_in_flight, 4);
        // An Nr beyond what was sent is refused.
        assert_eq!(
            r.on_ack(base, 11),
            Err(InvalidNr {
                nr: 11,
                next_ns: 10
            })
        );
    }

    #[test]
    fn timeout_halves_window_and_goes_back() {
        let base = t0();
        let mut r = Rel::new(ReliableConfig::default());
        r.set_peer_window(8);
        for i in 0..20 {
            r.send(i);
        }
        let mut now = base;
        // Grow cwnd to 4.
        for _ in 0..3 {
            let n = drain(&mut r, now).len() as u16;
            let nr = r.snd_una.wrapping_add(n);
            r.on_ack(now, nr).unwrap();
            now += Duration::from_millis(10);
        }
        assert_eq!(r.cwnd(), 4);
        assert_eq!(drain(&mut r, now).len(), 4);
        let at = r.poll_timeout().unwrap();
        r.handle_timeout(at);
        assert_eq!(r.cwnd(), 1);
        assert_eq!(r.ssthresh(), 2);
        let tx = drain(&mut r, at);
        assert_eq!(tx.len(), 1);
        assert!(tx[0].3, "a retransmission");
    }

    #[test]
    fn receive_in_order_duplicates_and_gaps() {
        let base = t0();
        let mut r = Rel::new(ReliableConfig::default());
        assert_eq!(r.on_message(base, 0, 100), RxOutcome::Accepted);
        assert_eq!(r.pop_delivered(), Some(100));
        // Delayed ack.
        assert_eq!(r.poll_timeout(), Some(base + Duration::from_millis(100)));
        assert!(drain(&mut r, base).is_empty());
        let later = base + Duration::from_millis(100);
        assert_eq!(drain(&mut r, later), vec![(0, 1, None, false)]);
        // Gap: 2 arrives before 1.
        assert_eq!(r.on_message(later, 2, 102), RxOutcome::Queued);
        assert_eq!(r.pop_delivered(), None);
        assert_eq!(drain(&mut r, later), vec![(0, 1, None, false)]);
        assert_eq!(r.on_message(later, 2, 102), RxOutcome::Duplicate);
        assert_eq!(r.on_message(later, 1, 101), RxOutcome::Accepted);
        assert_eq!(r.pop_delivered(), Some(101));
        assert_eq!(r.pop_delivered(), Some(102));
        assert_eq!(r.nr(), 3);
        // Old message: duplicate, acknowledged immediately.
        assert_eq!(r.on_message(later, 0, 100), RxOutcome::Duplicate);
        assert_eq!(drain(&mut r, later), vec![(0, 3, None, false)]);
        // Far ahead: outside the window of 16.
        assert_eq!(r.on_message(later, 3 + 16, 0), RxOutcome::OutOfWindow);
        assert_eq!(r.stats().duplicates, 2);
        assert_eq!(r.stats().out_of_order, 1);
    }

    #[test]
    fn piggyback_cancels_ack() {
        let base = t0();
        let mut r = Rel::new(ReliableConfig::default());
        r.on_message(base, 0, 1);
        r.send(9);
        assert_eq!(drain(&mut r, base), vec![(0, 1, Some(9), false)]);
        assert_eq!(r.poll_timeout(), Some(base + Duration::from_secs(1)));
    }

    #[test]
    fn wraps_past_65535() {
        let base = t0();
        let mut a = Rel::with_sequence(ReliableConfig::default(), 65533, 0);
        let mut b = Rel::with_sequence(ReliableConfig::default(), 0, 65533);
        a.set_peer_window(16);
        let mut got = Vec::new();
        for i in 0..8 {
            a.send(i);
        }
        let mut now = base;
        for _ in 0..10 {
            let tx = drain(&mut a, now);
            for (ns, _nr, p, _) in tx {
                if let Some(p) = p {
                    b.on_message(now, ns, p);
                }
            }
            while let Some(m) = b.pop_delivered() {
                got.push(m);
            }
            a.on_ack(now, b.nr()).unwrap();
            now += Duration::from_millis(1);
        }
        assert_eq!(got, (0..8).collect::<Vec<_>>());
        assert_eq!(b.nr(), 65533u16.wrapping_add(8));
        assert_eq!(a.next_ns(), 5);
        assert_eq!(a.unacked(), 0);
    }
}
