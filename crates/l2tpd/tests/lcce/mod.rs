//! Helpers for the dynamic LCCE tests: configuration files, captures,
//! waiting, and reading `l2tp -j show` output.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(unique(tag));
        std::fs::create_dir_all(&p).expect("creating a temp dir");
        TempDir(p)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).expect("writing a file");
        p
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("L2TPD_KEEP_TEST_FILES").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Polls `f` every 50 ms until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn json(d: &Daemon, args: &str) -> Vec<Value> {
    let out = d.l2tp(args);
    if out.code != 0 {
        return Vec::new();
    }
    match serde_json::from_str::<Value>(&out.stdout) {
        Ok(Value::Array(v)) => v,
        _ => Vec::new(),
    }
}

/// `l2tp -j -s show session`.
pub fn sessions(d: &Daemon) -> Vec<Value> {
    json(d, "-j -s show session")
}

/// `l2tp -j -s show tunnel`.
pub fn tunnels(d: &Daemon) -> Vec<Value> {
    json(d, "-j -s show tunnel")
}

/// Dynamic sessions that are up (and have their device when they should).
pub fn dynamic_sessions(d: &Daemon) -> Vec<Value> {
    sessions(d)
        .into_iter()
        .filter(|s| s["origin"] == "dynamic")
        .collect()
}

/// `l2tp -j show control`.
pub fn control(d: &Daemon) -> Value {
    let out = d.l2tp("-j show control");
    serde_json::from_str(&out.stdout).unwrap_or(Value::Null)
}

/// Settings of one `[[tunnel]]`.
#[derive(Clone)]
pub struct Tun {
    pub name: &'static str,
    pub encap: &'static str,
    pub local: String,
    pub peer: String,
    pub initiate: bool,
    pub secret: Option<&'static str>,
    pub digest: &'static str,
    /// Extra `key = value` lines.
    pub extra: String,
    /// `[[tunnel.session]]` bodies.
    pub sessions: Vec<String>,
}

impl Tun {
    pub fn new(name: &'static str, local: &str, peer: &str, initiate: bool) -> Tun {
        Tun {
            name,
            encap: "udp",
            local: local.into(),
            peer: peer.into(),
            initiate,
            secret: None,
            digest: "md5",
            // Fast timers so failures are noticed within seconds.
            extra: "hello_interval = 1\nretransmit_initial = 0.5\nretransmit_max = 1\n\
                    retransmit_retries = 3\nretry_interval = 1\n"
                .into(),
            sessions: Vec::new(),
        }
    }

    pub fn session(mut self, body: &str) -> Tun {
        self.sessions.push(body.to_string());
        self
    }

    pub fn toml(&self, host: &str) -> String {
        let mut s = format!(
            "host_name = \"{host}\"\n\n[[tunnel]]\nname = \"{}\"\nencap = \"{}\"\nlocal = \"{}\"\n\
             peer = \"{}\"\ninitiate = {}\n{}",
            self.name, self.encap, self.local, self.peer, self.initiate, self.extra
        );
        if let Some(secret) = self.secret {
            s += &format!("secret = \"{secret}\"\ndigest = \"{}\"\n", self.digest);
        }
        for b in &self.sessions {
            s += &format!("\n[[tunnel.session]]\n{b}\n");
        }
        s
    }
}

/// tcpdump writing a pcap inside a namespace; stopped (SIGTERM) on drop.
pub struct Capture {
    child: Option<Child>,
    pub path: PathBuf,
    err: PathBuf,
}

impl Capture {
    pub fn start(ns: &Netns, dev: &str, path: PathBuf) -> Capture {
        let err = path.with_extension("err");
        let errf = std::fs::File::create(&err).unwrap();
        let child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &ns.name,
                "tcpdump",
                "--immediate-mode",
                "-i",
                dev,
                "-U",
                "-s",
                "0",
                "-w",
            ])
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(errf)
            .spawn()
            .expect("starting tcpdump");
        let c = Capture {
            child: Some(child),
            path,
            err,
        };
        let ready = wait_for(Duration::from_secs(5), || {
            std::fs::read_to_string(&c.err)
                .map(|s| s.contains("listening on"))
                .unwrap_or(false)
        });
        assert!(
            ready,
            "tcpdump did not start: {:?}",
            std::fs::read_to_string(&c.err)
        );
        c
    }

    /// Stops the capture and returns the file.
    pub fn stop(&mut self) -> &Path {
        if let Some(mut c) = self.child.take() {
            // Let the last packets reach the file.
            std::thread::sleep(Duration::from_millis(300));
            // SAFETY: kill(2) of our own child.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
        &self.path
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Runs tshark on a capture; `args` after `-r FILE`.
pub fn tshark(path: &Path, args: &[&str]) -> String {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .args(["-o", "l2tp.cookie_size:Detect"])
        .args(args)
        .output()
        .expect("tshark is installed");
    assert!(
        out.status.success(),
        "tshark failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Control messages of a capture: (message type number or "" for a ZLB,
/// has a Message Digest AVP).
pub fn control_messages(path: &Path) -> Vec<(String, bool)> {
    tshark(
        path,
        &[
            "-Y",
            "l2tp.type == 1",
            "-T",
            "fields",
            "-E",
            "separator=|",
            "-e",
            "l2tp.avp.message_type",
            "-e",
            "l2tp.avp.message_digest",
        ],
    )
    .lines()
    .map(|l| {
        let mut f = l.split('|');
        let t = f.next().unwrap_or("").to_string();
        let d = !f.next().unwrap_or("").is_empty();
        (t, d)
    })
    .collect()
}

/// Pings `dst` from a namespace; true when replies came back.
pub fn ping(ns: &Netns, dst: &str) -> bool {
    ns.sh(&format!("ping -c 3 -i 0.2 -W 2 {dst}"))
        .status
        .success()
}
