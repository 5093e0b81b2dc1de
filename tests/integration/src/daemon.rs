//! The real `l2tpd` running in a test namespace, driven with the real
//! `l2tp` CLI.
//!
//! Binaries come from the target directory the test executable was built
//! in (`target/PROFILE/deps/..`); when either is missing it is built with
//! cargo first. `L2TP_BIN_DIR` points elsewhere; `L2TP_TEST_BUILD=1` forces
//! a build even when both exist (`cargo test -p l2tp-integration` does not
//! rebuild other packages' binaries, `scripts/test` builds them first).

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::netns::{unique, Netns};

/// Directory holding `l2tpd` and `l2tp`, built there if missing.
pub fn bin_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("L2TP_BIN_DIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        let exe = std::env::current_exe().expect("current_exe");
        // target/PROFILE/deps/TEST-HASH -> target/PROFILE
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("test executable lives in target/PROFILE/deps")
            .to_path_buf();
        let missing = ["l2tpd", "l2tp"]
            .iter()
            .any(|b| !profile_dir.join(b).exists());
        if missing || std::env::var_os("L2TP_TEST_BUILD").is_some_and(|v| v == "1") {
            build(&profile_dir);
        }
        profile_dir
    })
    .clone()
}

fn build(profile_dir: &Path) {
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => "dev",
        Some(p) => p,
    };
    let target_dir = profile_dir.parent().expect("profile dir has a parent");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "-p", "l2tpd", "-p", "l2tp-cli", "--bins"])
        .args(["--profile", profile])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::null())
        .output()
        .expect("running cargo build for l2tpd and l2tp");
    assert!(
        out.status.success(),
        "cargo build -p l2tpd -p l2tp-cli failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn l2tpd_bin() -> PathBuf {
    bin_dir().join("l2tpd")
}

pub fn l2tp_bin() -> PathBuf {
    bin_dir().join("l2tp")
}

/// What one `l2tp` invocation printed.
#[derive(Debug, Clone)]
pub struct CliOut {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Data-plane counters as `l2tp -j -s show session|tunnel` prints them.
/// Parsed here, not through `l2tp_api::Counters`: that type defaults a
/// missing key to 0, and these tests must fail when the CLI drops one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_errors: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_errors: u64,
    pub rx_seq_discards: u64,
    pub rx_oos_packets: u64,
    pub rx_cookie_discards: u64,
    pub rx_invalid: u64,
}

impl Counters {
    /// From the `stats` object of one JSON entry; panics naming a missing key.
    pub fn from_json(v: &serde_json::Value) -> Counters {
        let n = |k: &str| {
            v[k].as_u64()
                .unwrap_or_else(|| panic!("stats has no numeric {k}: {v}"))
        };
        Counters {
            tx_packets: n("tx_packets"),
            tx_bytes: n("tx_bytes"),
            tx_errors: n("tx_errors"),
            rx_packets: n("rx_packets"),
            rx_bytes: n("rx_bytes"),
            rx_errors: n("rx_errors"),
            rx_seq_discards: n("rx_seq_discards"),
            rx_oos_packets: n("rx_oos_packets"),
            rx_cookie_discards: n("rx_cookie_discards"),
            rx_invalid: n("rx_invalid"),
        }
    }

    /// From the three counter lines of `l2tp -s show session` text output
    /// (the first block found in `text`).
    pub fn from_text(text: &str) -> Option<Counters> {
        let mut map = std::collections::HashMap::new();
        for line in text.lines() {
            let words: Vec<&str> = line.split_whitespace().collect();
            if !words
                .first()
                .is_some_and(|w| matches!(*w, "tx_packets" | "rx_packets" | "rx_seq_discards"))
            {
                continue;
            }
            for pair in words.chunks(2) {
                if let [k, v] = pair {
                    if map.contains_key(*k) {
                        // A second session's block starts: stop at the first.
                        return Counters::from_map(&map);
                    }
                    map.insert(k.to_string(), v.parse::<u64>().ok()?);
                }
            }
        }
        Counters::from_map(&map)
    }

    fn from_map(map: &std::collections::HashMap<String, u64>) -> Option<Counters> {
        let g = |k: &str| map.get(k).copied();
        Some(Counters {
            tx_packets: g("tx_packets")?,
            tx_bytes: g("tx_bytes")?,
            tx_errors: g("tx_errors")?,
            rx_packets: g("rx_packets")?,
            rx_bytes: g("rx_bytes")?,
            rx_errors: g("rx_errors")?,
            rx_seq_discards: g("rx_seq_discards")?,
            rx_oos_packets: g("rx_oos_packets")?,
            rx_cookie_discards: g("rx_cookie_discards")?,
            rx_invalid: g("rx_invalid")?,
        })
    }

    /// Field-wise `self - earlier` (saturating).
    pub fn since(&self, earlier: &Counters) -> Counters {
        Counters {
            tx_packets: self.tx_packets.saturating_sub(earlier.tx_packets),
            tx_bytes: self.tx_bytes.saturating_sub(earlier.tx_bytes),
            tx_errors: self.tx_errors.saturating_sub(earlier.tx_errors),
            rx_packets: self.rx_packets.saturating_sub(earlier.rx_packets),
            rx_bytes: self.rx_bytes.saturating_sub(earlier.rx_bytes),
            rx_errors: self.rx_errors.saturating_sub(earlier.rx_errors),
            rx_seq_discards: self.rx_seq_discards.saturating_sub(earlier.rx_seq_discards),
            rx_oos_packets: self.rx_oos_packets.saturating_sub(earlier.rx_oos_packets),
            rx_cookie_discards: self
                .rx_cookie_discards
                .saturating_sub(earlier.rx_cookie_discards),
            rx_invalid: self.rx_invalid.saturating_sub(earlier.rx_invalid),
        }
    }
}

/// A running `l2tpd` in a namespace with its own management socket.
/// Dropping it stops it (SIGTERM, then SIGKILL, by PID) and removes its
/// socket and log; if the thread is panicking the log is printed first.
pub struct Daemon {
    child: Option<Child>,
    pub socket: PathBuf,
    pub log: PathBuf,
    pub netns: String,
}

impl Daemon {
    /// Starts `l2tpd --socket PATH --log-level debug` inside `ns` and waits
    /// until it answers `l2tp show tunnel`.
    pub fn start(ns: &Netns) -> Daemon {
        Daemon::start_with_env(ns, &[], &[])
    }

    /// [`Daemon::start`] with `remove` dropped from the environment l2tpd
    /// inherits and `set` added, so a test can pin switches such as the
    /// data plane's `L2TP_DP_*` whatever the caller's environment holds.
    pub fn start_with_env(ns: &Netns, set: &[(&str, &str)], remove: &[&str]) -> Daemon {
        let socket = std::env::temp_dir().join(format!("{}.sock", unique("d")));
        let log = socket.with_extension("log");
        let logfile = std::fs::File::create(&log).expect("creating the daemon log");
        // `ip netns exec` execs in place: the child's PID is l2tpd's.
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns.name])
            .arg(l2tpd_bin())
            .arg("--socket")
            .arg(&socket)
            .args(["--log-level", "debug"])
            .env_remove("RUST_LOG");
        for key in remove {
            cmd.env_remove(key);
        }
        let child = cmd
            .envs(set.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logfile)
            .spawn()
            .expect("starting l2tpd");
        let mut d = Daemon {
            child: Some(child),
            socket,
            log,
            netns: ns.name.clone(),
        };
        d.wait_ready();
        d
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.socket.exists() && self.l2tp("show tunnel").code == 0 {
                return;
            }
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("l2tpd exited early ({st}):\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "l2tpd did not answer on {} within 20 s:\n{}",
                self.socket.display(),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or(0)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Last `max` bytes of the log, for assertion messages.
    pub fn log_tail(&self, max: usize) -> String {
        let text = self.log_text();
        let mut start = text.len().saturating_sub(max);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text[start..].to_string()
    }

    /// Runs `l2tp --socket SOCK ARGS...` (ARGS split on white space).
    pub fn l2tp(&self, args: &str) -> CliOut {
        let out = Command::new(l2tp_bin())
            .arg("--socket")
            .arg(&self.socket)
            .args(args.split_whitespace())
            .env_remove("L2TP_SOCKET")
            .stdin(Stdio::null())
            .output()
            .expect("running l2tp");
        CliOut {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Like [`Daemon::l2tp`] but must exit 0; returns stdout.
    pub fn l2tp_ok(&self, args: &str) -> String {
        let out = self.l2tp(args);
        assert_eq!(
            out.code,
            0,
            "`l2tp {args}` in {} failed ({}): {}\n--- l2tpd log (tail) ---\n{}",
            self.netns,
            out.code,
            out.stderr,
            self.log_tail(4000)
        );
        out.stdout
    }

    /// `l2tp -j -s show session` parsed.
    pub fn sessions_json(&self) -> Vec<serde_json::Value> {
        let out = self.l2tp_ok("-j -s show session");
        match serde_json::from_str(&out) {
            Ok(serde_json::Value::Array(v)) => v,
            other => panic!("l2tp -j -s show session is not a JSON array ({other:?}): {out}"),
        }
    }

    /// One session's counters from `l2tp -j -s show session tunnel_id T session_id S`.
    pub fn session_counters(&self, tunnel_id: u32, session_id: u32) -> Counters {
        let out = self.l2tp_ok(&format!(
            "-j -s show session tunnel_id {tunnel_id} session_id {session_id}"
        ));
        let v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("bad JSON from show session: {e}: {out}"));
        let entry = v
            .as_array()
            .and_then(|a| a.iter().find(|s| s["session_id"] == session_id))
            .unwrap_or_else(|| panic!("session {session_id} not in {out}"));
        Counters::from_json(&entry["stats"])
    }

    /// One tunnel's counters from `l2tp -j -s show tunnel tunnel_id T`.
    pub fn tunnel_counters(&self, tunnel_id: u32) -> Counters {
        let out = self.l2tp_ok(&format!("-j -s show tunnel tunnel_id {tunnel_id}"));
        let v: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("bad JSON from show tunnel: {e}: {out}"));
        Counters::from_json(&v[0]["stats"])
    }

    /// Stops the daemon with SIGTERM and returns whether it exited 0
    /// within 10 s (it is SIGKILLed otherwise).
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        // SAFETY: kill(2) of our own child, by its PID; it is not reaped
        // yet, so the PID cannot have been reused.
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(st)) => return st.success(),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return false;
                }
            }
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "--- l2tpd log ({}, tail) ---\n{}",
                self.netns,
                self.log_tail(8000)
            );
        }
        self.stop();
        if std::fs::symlink_metadata(&self.socket)
            .map(|m| m.file_type().is_socket())
            .unwrap_or(false)
        {
            let _ = std::fs::remove_file(&self.socket);
        }
        if std::env::var_os("L2TP_TEST_KEEP_LOGS").is_none() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
