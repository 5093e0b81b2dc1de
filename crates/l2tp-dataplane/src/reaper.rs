//! Background device removal. Unregistering a network device waits for
//! RCU grace periods (15-20 ms per device on a small machine), which made
//! `del_session` take tens of milliseconds and `shutdown` grow linearly
//! with the number of sessions. Removed devices are handed to background
//! threads instead: each puts every device waiting at that moment into a
//! device group and deletes the group with one rtnetlink request (one
//! grace period for the whole batch), then closes the descriptors. A
//! device leaves the namespace's list early in that request, so callers
//! can wait for just that ([`wait_gone`]) and leave the slow part running.
//! The threads exit when idle.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::sys::fast::{ifname_of, tap_name};
use crate::sys::rtnl::RtNetlink;

/// Removal threads at most: a batch that arrives while the others wait for
/// their grace period starts at once on another.
const MAX_THREADS: usize = 16;
/// Netlink sockets opened up front (more are opened by the threads that
/// need them, in the same namespace since the data plane's threads spawn
/// them).
const PREOPENED: usize = 2;

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
    /// Removal threads alive.
    threads: usize,
    /// Of those, the ones inside a deletion.
    busy: usize,
    handles: Vec<JoinHandle<()>>,
}

struct Inner {
    state: Mutex<State>,
    idle: Condvar,
    /// Idle netlink sockets and the device group each uses.
    netlink: Mutex<Vec<(RtNetlink, u32)>>,
    /// Group of the next socket opened.
    next_group: std::sync::atomic::AtomicU32,
}

/// Handle to the removal threads (cheap to clone).
#[derive(Clone)]
pub struct Reaper(Arc<Inner>);

impl std::fmt::Debug for Reaper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reaper").finish_non_exhaustive()
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
    /// Opens the netlink sockets in the calling thread's namespace.
    /// Without them (no permission), devices are simply closed.
    pub fn new() -> Self {
        let group = random_group();
        let netlink = (0..PREOPENED as u32)
            .filter_map(|i| RtNetlink::open().ok().map(|nl| (nl, group.wrapping_add(i))))
            .collect();
        Self(Arc::new(Inner {
            state: Mutex::new(State::default()),
            idle: Condvar::new(),
            netlink: Mutex::new(netlink),
            next_group: std::sync::atomic::AtomicU32::new(group.wrapping_add(PREOPENED as u32)),
        }))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues a device for removal; returns at once.
    pub fn submit(&self, d: Doomed) {
        let mut st = self.lock();
        st.pending.push(d);
        if st.threads > st.busy || st.threads >= MAX_THREADS {
            // A thread will pick it up.
            return;
        }
        let finished: Vec<JoinHandle<()>> = {
            let (done, alive) = std::mem::take(&mut st.handles)
                .into_iter()
                .partition(|h| h.is_finished());
            st.handles = alive;
            done
        };
        for h in finished {
            let _ = h.join();
        }
        st.threads += 1;
        let me = self.clone();
        match std::thread::Builder::new()
            .name("l2tp-reaper".into())
            .spawn(move || me.run())
        {
            Ok(h) => st.handles.push(h),
            Err(e) => {
                tracing::warn!("cannot start a device removal thread ({e}); removing inline");
                st.threads -= 1;
                let batch = std::mem::take(&mut st.pending);
                drop(st);
                self.remove(batch, None);
            }
        }
    }

    fn run(&self) {
        let pooled = self
            .0
            .netlink
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop();
        let mut nl = pooled.or_else(|| {
            let group = self
                .0
                .next_group
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            RtNetlink::open().ok().map(|nl| (nl, group))
        });
        loop {
            let batch = {
                let mut st = self.lock();
                if st.pending.is_empty() {
                    st.threads -= 1;
                    self.0.idle.notify_all();
                    break;
                }
                st.busy += 1;
                std::mem::take(&mut st.pending)
            };
            self.remove(batch, nl.as_mut());
            self.lock().busy -= 1;
        }
        if let Some(nl) = nl {
            self.0
                .netlink
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(nl);
        }
    }

    fn remove(&self, batch: Vec<Doomed>, nl: Option<&mut (RtNetlink, u32)>) {
        if let Some((nl, group)) = nl {
            let mut marked = 0;
            for d in &batch {
                // Only a device still attached to our descriptor and still
                // known here under its index is ours to delete.
                let ours = d
                    .fds
                    .first()
                    .and_then(|fd| tap_name(fd.as_raw_fd()).ok())
                    .is_some_and(|n| ifname_of(d.ifindex).as_deref() == Some(n.as_str()));
                if ours && nl.set_group(d.ifindex, *group).is_ok() {
                    marked += 1;
                }
            }
            if marked > 0 {
                if let Err(e) = nl.delete_group(*group) {
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
        let st = self.lock();
        st.threads > 0 || !st.pending.is_empty()
    }

    /// Waits until every submitted device is completely gone and the
    /// threads exited.
    pub fn settle(&self) {
        let mut st = self.lock();
        while st.threads > 0 {
            st = self.0.idle.wait(st).unwrap_or_else(|p| p.into_inner());
        }
        let handles = std::mem::take(&mut st.handles);
        drop(st);
        for h in handles {
            let _ = h.join();
        }
    }
}

/// Waits until none of `devices` (index, name) is listed in this namespace
/// any more (removed, or renamed or moved away by someone else), at most
/// `limit`. Returns whether they all went.
pub fn wait_gone(devices: &[(u32, String)], limit: Duration) -> bool {
    let start = Instant::now();
    loop {
        if devices
            .iter()
            .all(|(i, n)| ifname_of(*i).as_deref() != Some(n.as_str()))
        {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_micros(50));
    }
}

impl Default for Reaper {
    fn default() -> Self {
        Self::new()
    }
}
