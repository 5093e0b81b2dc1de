//! The control thread: waits for control messages (from the data plane's
//! receive threads, through a channel) and for the control plane's next
//! timer, then runs them with the daemon locked. The daemon reads the clock
//! (here and in `Daemon`) and hands it to the sans-IO `l2tp-control`
//! endpoints, which never read it themselves.

use std::io;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::daemon::Daemon;
use crate::lcce::ControlInput;

/// Datagrams handled per lock, so management requests get their turn.
const BATCH: usize = 64;

/// Longest sleep, so a shut-down daemon is noticed even without a wake-up.
const MAX_WAIT: Duration = Duration::from_secs(1);

fn lock(d: &Mutex<Daemon>) -> MutexGuard<'_, Daemon> {
    d.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn spawn(daemon: Arc<Mutex<Daemon>>, rx: Receiver<ControlInput>) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("l2tpd-control".into())
        .spawn(move || run(&daemon, &rx))
}

fn run(daemon: &Mutex<Daemon>, rx: &Receiver<ControlInput>) {
    loop {
        let wait = {
            let d = lock(daemon);
            if d.is_shut_down() {
                return;
            }
            d.next_deadline()
                .map_or(MAX_WAIT, |t| t.saturating_duration_since(Instant::now()))
                .min(MAX_WAIT)
        };
        let first = match rx.recv_timeout(wait) {
            Ok(input) => Some(input),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let mut d = lock(daemon);
        let mut input = first;
        let mut n = 0;
        while let Some(i) = input.take() {
            if let ControlInput::Datagram {
                encap,
                local,
                peer,
                data,
            } = i
            {
                d.control_datagram(encap, local, peer, &data);
            }
            n += 1;
            if n < BATCH {
                input = rx.try_recv().ok();
            }
        }
        if d.next_deadline().is_some_and(|t| t <= Instant::now()) {
            d.control_timeout();
        }
    }
}
