//! Network namespaces as test hosts: uniquely named, removed on drop, with
//! helpers to run commands in them and to open sockets inside them.
//!
//! Names carry the test process ID and a counter so tests running in
//! parallel (and other test binaries) never collide; devices inside a
//! namespace may share names with devices in other namespaces.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static SERIAL: AtomicU32 = AtomicU32::new(0);

/// A name unique to this process and call: `l2it-TAG-PID-N`.
pub fn unique(tag: &str) -> String {
    format!(
        "l2it-{tag}-{}-{}",
        std::process::id(),
        SERIAL.fetch_add(1, Ordering::Relaxed)
    )
}

/// A short number unique to this process and call, for names limited to
/// IFNAMSIZ (15 bytes) that must be unique host-wide.
pub fn short_id() -> String {
    format!(
        "{}{}",
        std::process::id() % 100_000,
        SERIAL.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `bash -c cmd` on the host; returns its output whatever the status.
pub fn sh(cmd: &str) -> Output {
    Command::new("bash")
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run bash for `{cmd}`: {e}"))
}

/// Like [`sh`], but panics (with stdout and stderr) unless it exits 0.
pub fn sh_ok(cmd: &str) -> String {
    let out = sh(cmd);
    assert!(
        out.status.success(),
        "`{cmd}` failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Kernel counters of one network device (`/sys/class/net/DEV/statistics`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_dropped: u64,
    pub tx_dropped: u64,
}

/// A network namespace owned by a test; deleted (with every device in it)
/// on drop.
#[derive(Debug)]
pub struct Netns {
    pub name: String,
}

impl Netns {
    /// Creates `l2it-TAG-PID-N` with `lo` up.
    pub fn new(tag: &str) -> Netns {
        let name = unique(tag);
        sh_ok(&format!("ip netns add {name}"));
        let ns = Netns { name };
        ns.sh_ok("ip link set lo up");
        ns
    }

    /// Runs `bash -c cmd` inside the namespace, whatever its status.
    pub fn sh(&self, cmd: &str) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, "bash", "-c", cmd])
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run ip netns exec for `{cmd}`: {e}"))
    }

    /// Like [`Netns::sh`], but panics unless it exits 0; returns stdout.
    pub fn sh_ok(&self, cmd: &str) -> String {
        let out = self.sh(cmd);
        assert!(
            out.status.success(),
            "`{cmd}` in {} failed ({}):\n{}{}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs many `ip` commands (without the leading `ip`) in one process.
    pub fn ip_batch(&self, cmds: &[String]) {
        if cmds.is_empty() {
            return;
        }
        let path = std::env::temp_dir().join(format!("{}.ipbatch", unique("batch")));
        std::fs::write(&path, cmds.join("\n") + "\n").expect("writing ip batch file");
        let out = Command::new("ip")
            .args(["-n", &self.name, "-batch"])
            .arg(&path)
            .stdin(Stdio::null())
            .output()
            .expect("running ip -batch");
        let _ = std::fs::remove_file(&path);
        assert!(
            out.status.success(),
            "ip -n {} -batch failed ({}): {}",
            self.name,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Whether a device of this name exists here.
    pub fn has_link(&self, ifname: &str) -> bool {
        Command::new("ip")
            .args(["-n", &self.name, "link", "show", "dev", ifname])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// MAC address of a device here.
    pub fn mac(&self, ifname: &str) -> [u8; 6] {
        let out = sh_ok(&format!("ip -n {} -j link show dev {ifname}", self.name));
        let v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("ip -j link show {ifname}: {e}: {out}"));
        let text = v[0]["address"]
            .as_str()
            .unwrap_or_else(|| panic!("{ifname} has no address: {out}"));
        parse_mac(text).unwrap_or_else(|| panic!("bad MAC {text:?} of {ifname}"))
    }

    /// MTU of a device here.
    pub fn mtu(&self, ifname: &str) -> u32 {
        let out = sh_ok(&format!("ip -n {} -j link show dev {ifname}", self.name));
        let v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("ip -j link show {ifname}: {e}: {out}"));
        v[0]["mtu"]
            .as_u64()
            .unwrap_or_else(|| panic!("{ifname} has no mtu: {out}")) as u32
    }

    /// The kernel's counters of a device here.
    pub fn link_stats(&self, ifname: &str) -> LinkStats {
        let out = sh_ok(&format!("ip -n {} -j -s link show dev {ifname}", self.name));
        let v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("ip -j -s link show {ifname}: {e}: {out}"));
        let s = &v[0]["stats64"];
        let n = |dir: &str, key: &str| {
            s[dir][key]
                .as_u64()
                .unwrap_or_else(|| panic!("no stats64.{dir}.{key} for {ifname}: {out}"))
        };
        LinkStats {
            rx_packets: n("rx", "packets"),
            rx_bytes: n("rx", "bytes"),
            tx_packets: n("tx", "packets"),
            tx_bytes: n("tx", "bytes"),
            rx_dropped: n("rx", "dropped"),
            tx_dropped: n("tx", "dropped"),
        }
    }

    /// Sets sysctls here (`key=value` pairs).
    pub fn sysctl(&self, settings: &[&str]) {
        self.sh_ok(&format!("sysctl -qw {}", settings.join(" ")));
    }

    /// Runs `f` on a thread that has entered this namespace, so sockets it
    /// opens live here (and stay here when used from other threads).
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> io::Result<T> + Send) -> io::Result<T> {
        let file = File::open(format!("/run/netns/{}", self.name))?;
        std::thread::scope(|s| {
            s.spawn(move || {
                // SAFETY: setns(2) on a valid namespace fd we own; it only
                // changes this (short-lived, scoped) thread's namespace.
                let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
                if rc != 0 {
                    return Err(io::Error::last_os_error());
                }
                f()
            })
            .join()
            .map_err(|_| io::Error::other("thread inside the namespace panicked"))?
        })
    }

    /// Waits until `ping -c 1` to `addr` succeeds or `timeout` passes.
    pub fn wait_ping(&self, addr: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.sh(&format!("ping -c 1 -W 1 {addr}")).status.success() {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// Joins two namespaces with a veth pair named `dev_a` in `a` and `dev_b`
/// in `b`, both up. Created directly inside the namespaces, so the names
/// never clash with devices elsewhere.
pub fn veth(a: &Netns, dev_a: &str, b: &Netns, dev_b: &str) {
    sh_ok(&format!(
        "ip -n {} link add {dev_a} type veth peer name {dev_b} netns {} && \
         ip -n {} link set {dev_a} up && ip -n {} link set {dev_b} up",
        a.name, b.name, a.name, b.name
    ));
}

/// `aa:bb:cc:dd:ee:ff` to bytes.
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = text.split(':');
    for b in &mut mac {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Bytes to `aa:bb:cc:dd:ee:ff`.
pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
