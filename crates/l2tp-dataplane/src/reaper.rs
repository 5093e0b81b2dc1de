//! Deferred device removal. Unregistering a network device waits for RCU
//! grace periods (15-20 ms per device on a small machine), which made
//! `del_session` take tens of milliseconds and `shutdown` grow linearly
//! with the number of sessions. Removed devices are handed to a background
//! thread instead; it puts all that are waiting into one device group and
//! deletes the group with one rtnetlink request (one grace period for the
//! whole batch), then closes the descriptors. The thread exits when idle.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::sys::fast::{ifname_of, tap_name, RtNetlink};

/// A device whose session is gone.
#[derive(Debug)]
pub struct Doomed {
    /// Its name when created (checked again before deletion).
    pub name: String,
    /// Its index.
    pub ifindex: u32,
    /// Its queue descriptors; closing the last removes the device.
    pub fds: Vec<OwnedFd>,
}

#[derive(Default)]
struct State {
    pending: Vec<Doomed>,
    running: bool,
    thread: Option<JoinHandle<()>>,
}

struct Inner {
    state: Mutex<State>,
    idle: Condvar,
    /// Opened where the data plane was created, so deletions happen in its
    /// namespace whichever thread runs them.
    netlink: Mutex<Option<RtNetlink>>,
    /// Device group used to delete a batch at once: random, so no device of
    /// anybody else is in it.
    group: u32,
}

/// Handle to the removal thread (cheap to clone).
#[derive(Clone)]
pub struct Reaper(Arc<Inner>);

impl std::fmt::Debug for Reaper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reaper")
            .field("group", &self.0.group)
            .finish()
    }
}

/// A group number outside the small ones people assign by hand.
fn random_group() -> u32 {
    let mut b = [0u8; 4];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_err()
    {
        b = (std::process::id() ^ 0x5a5a_0000).to_ne_bytes();
    }
    u32::from_ne_bytes(b) | 0x1000_0000
}

impl Reaper {
    /// Opens the netlink socket in the calling thread's namespace. Without
    /// it (no permission), devices are simply closed one by one.
    pub fn new() -> Self {
        Self(Arc::new(Inner {
            state: Mutex::new(State::default()),
            idle: Condvar::new(),
            netlink: Mutex::new(RtNetlink::open().ok()),
            group: random_group(),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a device for removal; returns at once.
    pub fn submit(&self, d: Doomed) {
        let mut st = self.lock();
        st.pending.push(d);
        if st.running {
            return;
        }
        st.running = true;
        if let Some(old) = st.thread.take() {
            // It has finished its loop (running was false): reap it.
            let _ = old.join();
        }
        let me = self.clone();
        match std::thread::Builder::new()
            .name("l2tp-reaper".into())
            .spawn(move || me.run())
        {
            Ok(h) => st.thread = Some(h),
            Err(e) => {
                tracing::warn!("cannot start the device removal thread ({e}); removing inline");
                let batch = std::mem::take(&mut st.pending);
                st.running = false;
                drop(st);
                self.remove(batch);
            }
        }
    }

    fn run(&self) {
        loop {
            let batch = {
                let mut st = self.lock();
                if st.pending.is_empty() {
                    st.running = false;
                    self.0.idle.notify_all();
                    return;
                }
                std::mem::take(&mut st.pending)
            };
            self.remove(batch);
        }
    }

    fn remove(&self, batch: Vec<Doomed>) {
        let mut nl = self.0.netlink.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(nl) = nl.as_mut() {
            let mut marked = 0;
            for d in &batch {
                // Only a device still attached to our descriptor and still
                // known here under its index is ours to delete.
                let ours = d
                    .fds
                    .first()
                    .and_then(|fd| tap_name(fd.as_raw_fd()).ok())
                    .is_some_and(|n| ifname_of(d.ifindex).as_deref() == Some(n.as_str()));
                if ours && nl.set_group(d.ifindex, self.0.group).is_ok() {
                    marked += 1;
                }
            }
            if marked > 0 {
                if let Err(e) = nl.delete_group(self.0.group) {
                    tracing::debug!("batch device deletion failed ({e}); closing one by one");
                }
            }
            tracing::debug!(devices = batch.len(), batched = marked, "devices removed");
        }
        // The devices are gone (or go now, one by one, if not batched).
        drop(batch);
    }

    /// Whether removals are under way (a name may still be taken).
    pub fn busy(&self) -> bool {
        self.lock().running
    }

    /// Waits until every submitted device is gone and the thread exited.
    pub fn settle(&self) {
        let mut st = self.lock();
        while st.running {
            st = self.0.idle.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        let t = st.thread.take();
        drop(st);
        if let Some(t) = t {
            let _ = t.join();
        }
    }
}

impl Default for Reaper {
    fn default() -> Self {
        Self::new()
    }
}
