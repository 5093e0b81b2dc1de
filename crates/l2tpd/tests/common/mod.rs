//! Shared helpers: network namespaces, a real `l2tpd` in one, and the real
//! `l2tp` binary. Everything created here is removed on drop.

#![allow(dead_code)]

use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name unique to this test process and call.
pub fn unique(tag: &str) -> String {
    format!(
        "l2tpd-{}-{}-{}",
        tag,
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn l2tpd_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_l2tpd"))
}

/// The `l2tp` binary next to `l2tpd`, built on first use (cargo only builds
/// the binaries of the package under test).
pub fn l2tp_bin() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let daemon = l2tpd_bin();
            let profile_dir = daemon.parent().expect("binary has a directory");
            let profile = profile_dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or("debug");
            let target_dir = profile_dir.parent().expect("profile dir has a parent");
            let profile = if profile == "debug" { "dev" } else { profile };
            let out = Command::new(env!("CARGO"))
                .args([
                    "build",
                    "-p",
                    "l2tp-cli",
                    "--bin",
                    "l2tp",
                    "--profile",
                    profile,
                ])
                .arg("--target-dir")
                .arg(target_dir)
                .current_dir(env!("CARGO_MANIFEST_DIR"))
                .output()
                .expect("running cargo to build l2tp");
            assert!(
                out.status.success(),
                "building l2tp failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let bin = profile_dir.join("l2tp");
            assert!(bin.exists(), "{} missing after build", bin.display());
            bin
        })
        .clone()
}

pub fn sh(cmd: &str) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .output()
        .expect("running sh")
}

pub fn sh_ok(cmd: &str) -> String {
    let out = sh(cmd);
    assert!(
        out.status.success(),
        "`{cmd}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A network namespace, deleted on drop.
pub struct Netns {
    pub name: String,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = unique(tag);
        sh_ok(&format!("ip netns add {name}"));
        sh_ok(&format!("ip -n {name} link set lo up"));
        Netns { name }
    }

    /// Runs a shell command inside the namespace.
    pub fn sh(&self, cmd: &str) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name, "sh", "-c", cmd])
            .output()
            .expect("ip netns exec")
    }

    pub fn sh_ok(&self, cmd: &str) -> String {
        let out = self.sh(cmd);
        assert!(
            out.status.success(),
            "`{cmd}` in {} failed: {}",
            self.name,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// True once `ifname` is gone (the data plane may remove devices in
    /// the background), waiting up to 2 s.
    pub fn link_gone(&self, ifname: &str) -> bool {
        let end = Instant::now() + Duration::from_secs(2);
        while self.has_link(ifname) {
            if Instant::now() > end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    pub fn has_link(&self, ifname: &str) -> bool {
        self.sh(&format!("ip link show dev {ifname}"))
            .status
            .success()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = sh(&format!("ip netns del {}", self.name));
    }
}

/// Two namespaces joined by a veth pair with 198.18.0.1/24 and 198.18.0.2/24
/// (and 2001:db8:ff::1/64, ::2/64).
pub fn veth_pair(tag: &str) -> (Netns, Netns) {
    let a = Netns::new(&format!("{tag}a"));
    let b = Netns::new(&format!("{tag}b"));
    let va = format!("vt{}", COUNTER.fetch_add(1, Ordering::Relaxed) % 100000);
    sh_ok(&format!(
        "ip link add {va} netns {} type veth peer name {va}p netns {}",
        a.name, b.name
    ));
    a.sh_ok(&format!(
        "ip link set {va} name ul0 && ip addr add 198.18.0.1/24 dev ul0 && \
         ip addr add 2001:db8:ff::1/64 dev ul0 nodad && ip link set ul0 up"
    ));
    b.sh_ok(&format!(
        "ip link set {va}p name ul0 && ip addr add 198.18.0.2/24 dev ul0 && \
         ip addr add 2001:db8:ff::2/64 dev ul0 nodad && ip link set ul0 up"
    ));
    (a, b)
}

/// A running `l2tpd` inside a namespace, with its own socket. Killed (and
/// its socket removed) on drop if the test did not stop it.
pub struct Daemon {
    pub child: Option<Child>,
    pub socket: PathBuf,
    pub log: PathBuf,
}

pub fn socket_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("{}.sock", unique(tag)))
}

impl Daemon {
    pub fn start(ns: &Netns) -> Daemon {
        Daemon::start_at(ns, socket_path("s"))
    }

    pub fn start_at(ns: &Netns, socket: PathBuf) -> Daemon {
        Daemon::start_with(ns, socket, &[])
    }

    /// Starts l2tpd with a configuration file (a dynamic LCCE).
    pub fn start_config(ns: &Netns, config: &Path) -> Daemon {
        let config = config.to_string_lossy().into_owned();
        Daemon::start_with(ns, socket_path("c"), &["--config", &config])
    }

    /// Starts l2tpd with extra arguments and waits until it listens.
    pub fn start_with(ns: &Netns, socket: PathBuf, extra: &[&str]) -> Daemon {
        let log = socket.with_extension("log");
        let child = Daemon::spawn_with(ns, &socket, &log, extra);
        let mut d = Daemon {
            child: Some(child),
            socket,
            log,
        };
        d.wait_ready();
        d
    }

    /// Starts l2tpd without waiting for it; used when it is expected to fail.
    pub fn spawn(ns: &Netns, socket: &Path, log: &Path) -> Child {
        Daemon::spawn_with(ns, socket, log, &[])
    }

    pub fn spawn_with(ns: &Netns, socket: &Path, log: &Path, extra: &[&str]) -> Child {
        let logfile = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("creating daemon log");
        Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .arg(l2tpd_bin())
            .arg("--socket")
            .arg(socket)
            .args(["--log-level", "debug"])
            .args(extra)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(logfile)
            .spawn()
            .expect("starting l2tpd")
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if std::os::unix::net::UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("l2tpd exited early with {status}:\n{}", self.log_text());
            }
            assert!(
                Instant::now() < deadline,
                "l2tpd did not listen on {} within 10 s:\n{}",
                self.socket.display(),
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("daemon running").id()
    }

    /// Sends `signal` and waits (up to 10 s) for a clean exit; returns the status.
    pub fn stop_with(&mut self, signal: i32) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("daemon running");
        // SAFETY: plain kill(2) of our own child process.
        unsafe { libc::kill(child.id() as i32, signal) };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(st) = child.try_wait().expect("waiting for l2tpd") {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "l2tpd did not exit after signal {signal}:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no goodbye to peers, no clean-up (the kernel still removes
    /// the non-persistent TAP devices with the process).
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("daemon running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts the daemon again on the same socket and log.
    pub fn restart(&mut self, ns: &Netns, extra: &[&str]) {
        assert!(self.child.is_none(), "stop the daemon first");
        self.child = Some(Daemon::spawn_with(ns, &self.socket, &self.log, extra));
        self.wait_ready();
    }

    /// Runs the real `l2tp` against this daemon.
    pub fn l2tp(&self, args: &str) -> CliOut {
        l2tp_at(&self.socket, args)
    }

    /// Like [`Daemon::l2tp`] but the command must succeed; returns stdout.
    pub fn l2tp_ok(&self, args: &str) -> String {
        let out = self.l2tp(args);
        assert_eq!(
            out.code,
            0,
            "`l2tp {args}` failed ({}): {}\ndaemon log:\n{}",
            out.code,
            out.stderr,
            self.log_text()
        );
        out.stdout
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::fs::symlink_metadata(&self.socket)
            .map(|m| m.file_type().is_socket())
            .unwrap_or(false)
        {
            let _ = std::fs::remove_file(&self.socket);
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

pub struct CliOut {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn l2tp_at(socket: &Path, args: &str) -> CliOut {
    let out = Command::new(l2tp_bin())
        .arg("--socket")
        .arg(socket)
        .args(args.split_whitespace())
        .env_remove("L2TP_SOCKET")
        .output()
        .expect("running l2tp");
    CliOut {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
