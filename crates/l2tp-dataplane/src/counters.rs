//! Statistics updated by the worker threads and read by the daemon while
//! traffic flows, hence atomics (relaxed: each counter is independent).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::Counters;

/// Live counters of one session or tunnel.
#[derive(Debug, Default)]
pub struct AtomicCounters {
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    tx_errors: AtomicU64,
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    rx_errors: AtomicU64,
    rx_seq_discards: AtomicU64,
    rx_oos_packets: AtomicU64,
    rx_cookie_discards: AtomicU64,
    rx_invalid: AtomicU64,
}

/// One reason to bump a counter; the core logic reports these so it can be
/// tested without threads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A frame was sent (payload bytes).
    Tx(u64),
    /// A frame could not be sent.
    TxError,
    /// A frame was delivered to the pseudowire (payload bytes).
    Rx(u64),
    /// The pseudowire refused a frame.
    RxError,
    /// Dropped for sequence reasons (also an rx error).
    SeqDiscard,
    /// Arrived out of order (not a drop by itself).
    OutOfSequence,
    /// Dropped for a wrong cookie (also an rx error).
    CookieDiscard,
    /// Dropped as malformed or misaddressed (also an rx error).
    Invalid,
}

impl AtomicCounters {
    /// Applies one event.
    pub fn record(&self, ev: Event) {
        match ev {
            Event::Tx(bytes) => {
                self.tx_packets.fetch_add(1, Relaxed);
                self.tx_bytes.fetch_add(bytes, Relaxed);
            }
            Event::TxError => {
                self.tx_errors.fetch_add(1, Relaxed);
            }
            Event::Rx(bytes) => {
                self.rx_packets.fetch_add(1, Relaxed);
                self.rx_bytes.fetch_add(bytes, Relaxed);
            }
            Event::RxError => {
                self.rx_errors.fetch_add(1, Relaxed);
            }
            Event::SeqDiscard => {
                self.rx_seq_discards.fetch_add(1, Relaxed);
                self.rx_errors.fetch_add(1, Relaxed);
            }
            Event::OutOfSequence => {
                self.rx_oos_packets.fetch_add(1, Relaxed);
            }
            Event::CookieDiscard => {
                self.rx_cookie_discards.fetch_add(1, Relaxed);
                self.rx_errors.fetch_add(1, Relaxed);
            }
            Event::Invalid => {
                self.rx_invalid.fetch_add(1, Relaxed);
                self.rx_errors.fetch_add(1, Relaxed);
            }
        }
    }

    /// Adds a whole transmit batch at once (fewer atomic operations).
    pub fn add_tx(&self, packets: u64, bytes: u64, errors: u64) {
        if packets != 0 {
            self.tx_packets.fetch_add(packets, Relaxed);
            self.tx_bytes.fetch_add(bytes, Relaxed);
        }
        if errors != 0 {
            self.tx_errors.fetch_add(errors, Relaxed);
        }
    }

    /// Adds what the in-kernel fast path delivered for a session.
    pub fn add_rx(&self, packets: u64, bytes: u64) {
        self.rx_packets.fetch_add(packets, Relaxed);
        self.rx_bytes.fetch_add(bytes, Relaxed);
    }

    /// A consistent-enough copy for reporting.
    pub fn snapshot(&self) -> Counters {
        Counters {
            tx_packets: self.tx_packets.load(Relaxed),
            tx_bytes: self.tx_bytes.load(Relaxed),
            tx_errors: self.tx_errors.load(Relaxed),
            rx_packets: self.rx_packets.load(Relaxed),
            rx_bytes: self.rx_bytes.load(Relaxed),
            rx_errors: self.rx_errors.load(Relaxed),
            rx_seq_discards: self.rx_seq_discards.load(Relaxed),
            rx_oos_packets: self.rx_oos_packets.load(Relaxed),
            rx_cookie_discards: self.rx_cookie_discards.load(Relaxed),
            rx_invalid: self.rx_invalid.load(Relaxed),
        }
    }
}

/// Where one event lands: the kernel accounts every session event in its
/// tunnel too, so tunnel totals survive session removal.
pub trait Recorder {
    /// Records `ev`.
    fn record(&mut self, ev: Event);
}

/// Records into a session's and its tunnel's counters.
pub struct SessionAndTunnel<'a> {
    /// The session's counters.
    pub session: &'a AtomicCounters,
    /// The tunnel's counters.
    pub tunnel: &'a AtomicCounters,
}

impl Recorder for SessionAndTunnel<'_> {
    fn record(&mut self, ev: Event) {
        self.session.record(ev);
        self.tunnel.record(ev);
    }
}

impl Recorder for Counters {
    fn record(&mut self, ev: Event) {
        match ev {
            Event::Tx(b) => {
                self.tx_packets += 1;
                self.tx_bytes += b;
            }
            Event::TxError => self.tx_errors += 1,
            Event::Rx(b) => {
                self.rx_packets += 1;
                self.rx_bytes += b;
            }
            Event::RxError => self.rx_errors += 1,
            Event::SeqDiscard => {
                self.rx_seq_discards += 1;
                self.rx_errors += 1;
            }
            Event::OutOfSequence => self.rx_oos_packets += 1,
            Event::CookieDiscard => {
                self.rx_cookie_discards += 1;
                self.rx_errors += 1;
            }
            Event::Invalid => {
                self.rx_invalid += 1;
                self.rx_errors += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_and_plain_agree() {
        let a = AtomicCounters::default();
        let mut p = Counters::default();
        for ev in [
            Event::Tx(100),
            Event::TxError,
            Event::Rx(60),
            Event::Rx(40),
            Event::RxError,
            Event::SeqDiscard,
            Event::OutOfSequence,
            Event::CookieDiscard,
            Event::Invalid,
        ] {
            a.record(ev);
            p.record(ev);
        }
        a.add_tx(2, 10, 1);
        p.tx_packets += 2;
        p.tx_bytes += 10;
        p.tx_errors += 1;
        let s = a.snapshot();
        assert_eq!(s, p);
        assert_eq!(s.rx_packets, 2);
        assert_eq!(s.rx_bytes, 100);
        assert_eq!(s.rx_errors, 4);
        assert_eq!(s.tx_packets, 3);
    }
}
