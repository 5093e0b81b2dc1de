//! A real Linux kernel (net/l2tp, PPP, 8021q) booted under qemu as a test
//! peer, because the CI host kernel has none of those modules.
//!
//! The guest image comes from `tests/kernel-peer/prepare.sh`. The guest's
//! first NIC (`eth0`) is a host TAP device inside a network namespace; its
//! second serial port carries a command channel (see
//! `tests/kernel-peer/guest-init.sh` for the framing) so tests can run shell
//! commands in the guest and get their output and exit status back.
//!
//! Environment knobs:
//! - `L2TP_KPEER_CACHE`: where prepare.sh keeps the kernel and initramfs.
//! - `L2TP_KPEER_KEEP=1`: keep each VM's temp dir (console log) after drop.
//! - `L2TP_KPEER_BOOT_TIMEOUT`: boot timeout in seconds (default 120).
//! - `L2TP_SKIP_KERNEL_PEER=1`: tests that boot a guest return at once
//!   ([`skip_requested`]; `scripts/test --quick` sets it).

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use crate::netns::mac_string;

/// Default per-command timeout of [`KernelPeer::run`]; the guest kills the
/// command when it expires so the channel stays usable.
pub const DEFAULT_RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// Printed by guest-init.sh on the console once modules are loaded.
const READY_MARKER: &str = "kpeer: ready";
const BEGIN: &[u8] = b"\n__KP_BEGIN_";
const END: &[u8] = b"__KP_END_";

static VM_SERIAL: AtomicU32 = AtomicU32::new(0);

/// Whether `L2TP_SKIP_KERNEL_PEER=1` asks the tests that boot a guest to
/// return at once; says so on stderr when it does.
pub fn skip_requested() -> bool {
    let skip = std::env::var_os("L2TP_SKIP_KERNEL_PEER").is_some_and(|v| v == "1");
    if skip {
        eprintln!("L2TP_SKIP_KERNEL_PEER=1: kernel-peer test skipped");
    }
    skip
}

/// Repository root, found from this crate's manifest dir (tests/integration).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Directory holding `vmlinuz`, `initramfs.cpio` and `kernel-version`.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("L2TP_KPEER_CACHE") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo_root().join(".cache/kernel-peer"),
    }
}

/// Kernel release of the prepared guest (e.g. `6.1.0-56-amd64`).
pub fn kernel_version() -> io::Result<String> {
    Ok(fs::read_to_string(cache_dir().join("kernel-version"))?
        .trim()
        .to_string())
}

/// Runs `tests/kernel-peer/prepare.sh` (once per process; later calls
/// return the first outcome). The script itself is idempotent and fast
/// when everything is already built.
pub fn prepare() -> io::Result<()> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let script = repo_root().join("tests/kernel-peer/prepare.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{} failed ({}):\n{}{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    })
    .clone()
    .map_err(io::Error::other)
}

/// Knobs for [`KernelPeer::boot_with`]; [`Default`] matches
/// [`KernelPeer::boot`].
#[derive(Debug, Clone)]
pub struct BootOptions {
    /// More host TAP devices (same namespace), seen as eth1, eth2, ... in
    /// the guest, e.g. for a LAN side behind an L2TP pseudowire.
    pub extra_taps: Vec<String>,
    /// Guest RAM in MiB; the initramfs alone takes ~30 MiB of it.
    pub memory_mib: u32,
    /// How long to wait for the guest shell to answer.
    pub boot_timeout: Duration,
    /// Appended to the kernel command line.
    pub kernel_args: String,
}

impl Default for BootOptions {
    fn default() -> Self {
        let secs = std::env::var("L2TP_KPEER_BOOT_TIMEOUT")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(120);
        BootOptions {
            extra_taps: Vec::new(),
            memory_mib: 512,
            boot_timeout: Duration::from_secs(secs),
            kernel_args: String::new(),
        }
    }
}

/// One running guest. Dropping it powers the guest off (killing qemu by
/// PID if it does not stop) and removes its temp dir.
pub struct KernelPeer {
    child: Child,
    stream: UnixStream,
    dir: PathBuf,
    netns: String,
    taps: Vec<String>,
    macs: Vec<[u8; 6]>,
    next_id: u64,
    buf: Vec<u8>,
    boot_time: Duration,
    exited: bool,
}

impl KernelPeer {
    /// Boots the guest with its NIC on host TAP `tap` inside namespace `netns`. Blocks until the guest shell answers (timeout ~120 s).
    ///
    /// qemu creates the TAP if it does not exist yet (an existing persistent
    /// TAP is reused); the harness sets it up once the guest answers but
    /// gives it no address. Calls [`prepare`] first.
    pub fn boot(netns: &str, tap: &str) -> io::Result<KernelPeer> {
        Self::boot_with(netns, tap, &BootOptions::default())
    }

    /// [`KernelPeer::boot`] with explicit options.
    pub fn boot_with(netns: &str, tap: &str, opts: &BootOptions) -> io::Result<KernelPeer> {
        prepare()?;
        let started = Instant::now();
        let cache = cache_dir();
        let serial = VM_SERIAL.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let dir = make_temp_dir(pid, serial)?;
        let sock = dir.join("cmd.sock");
        let console = dir.join("console.log");

        let mut taps = vec![tap.to_string()];
        taps.extend(opts.extra_taps.iter().cloned());
        let macs: Vec<[u8; 6]> = (0..taps.len())
            .map(|nic| {
                // Locally unique per VM so several guests can share a bridge.
                [
                    0x52,
                    0x54,
                    0x00,
                    (pid & 0xff) as u8,
                    serial as u8,
                    nic as u8,
                ]
            })
            .collect();

        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", netns, "qemu-system-x86_64"]);
        cmd.args([
            "-machine", "pc", "-accel", "tcg", "-cpu", "qemu64", "-smp", "1",
        ]);
        cmd.arg("-m").arg(opts.memory_mib.to_string());
        cmd.args(["-nodefaults", "-no-user-config", "-display", "none"]);
        cmd.args(["-no-reboot"]);
        cmd.arg("-kernel").arg(cache.join("vmlinuz"));
        cmd.arg("-initrd").arg(cache.join("initramfs.cpio"));
        let mut append = String::from("console=ttyS0 panic=-1 loglevel=6");
        if !opts.kernel_args.is_empty() {
            append.push(' ');
            append.push_str(&opts.kernel_args);
        }
        cmd.arg("-append").arg(append);
        cmd.arg("-serial")
            .arg(format!("file:{}", console.display()));
        cmd.arg("-chardev").arg(format!(
            "socket,id=kpcmd,path={},server=on,wait=off",
            sock.display()
        ));
        cmd.args(["-serial", "chardev:kpcmd"]);
        for (nic, (name, mac)) in taps.iter().zip(&macs).enumerate() {
            cmd.arg("-netdev").arg(format!(
                "tap,id=n{nic},ifname={name},script=no,downscript=no"
            ));
            cmd.arg("-device").arg(format!(
                "virtio-net-pci,netdev=n{nic},mac={}",
                mac_string(mac)
            ));
        }
        let log = fs::File::create(dir.join("qemu.log"))?;
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // `ip netns exec` execs qemu in place, so this PID is qemu's.
        let mut child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot start qemu via ip netns exec: {e}"),
                ));
            }
        };

        let deadline = started + opts.boot_timeout;
        let stream = match connect(&sock, &mut child, deadline) {
            Ok(stream) => stream,
            Err(e) => return Err(fail_boot(child, &dir, e)),
        };
        let mut peer = KernelPeer {
            child,
            stream,
            dir,
            netns: netns.to_string(),
            taps,
            macs,
            next_id: 1,
            buf: Vec::new(),
            boot_time: Duration::ZERO,
            exited: false,
        };
        if let Err(e) = peer.wait_ready(deadline) {
            return Err(with_logs(e, &peer.dir));
        }
        peer.boot_time = started.elapsed();
        for t in peer.taps.clone() {
            let st = Command::new("ip")
                .args(["-n", netns, "link", "set", &t, "up"])
                .status()?;
            if !st.success() {
                return Err(io::Error::other(format!(
                    "ip -n {netns} link set {t} up failed: {st}"
                )));
            }
        }
        Ok(peer)
    }

    /// Runs a bash command line in the guest; returns (exit status, combined stdout+stderr).
    ///
    /// The command runs in a fresh bash with stdin from /dev/null and cwd
    /// /root; background jobs it starts keep running. It is killed after
    /// [`DEFAULT_RUN_TIMEOUT`] (status 137).
    pub fn run(&mut self, cmd: &str) -> io::Result<(i32, String)> {
        self.run_timeout(cmd, DEFAULT_RUN_TIMEOUT)
    }

    /// Like run, but Err (with the output) when the exit status is not 0.
    pub fn run_ok(&mut self, cmd: &str) -> io::Result<String> {
        let (status, out) = self.run(cmd)?;
        if status == 0 {
            Ok(out)
        } else {
            Err(io::Error::other(format!(
                "guest command {cmd:?} exited with status {status}:\n{out}"
            )))
        }
    }

    /// [`KernelPeer::run`] with its own timeout: the guest SIGKILLs the
    /// command after `timeout` (rounded up to whole seconds) and reports
    /// status 137; the host gives up 30 s later with `TimedOut`.
    pub fn run_timeout(&mut self, cmd: &str, timeout: Duration) -> io::Result<(i32, String)> {
        let secs = timeout.as_secs() + u64::from(timeout.subsec_nanos() > 0);
        let id = self.send(cmd, secs.max(1))?;
        let deadline = Instant::now() + timeout + Duration::from_secs(30);
        let (status, out) = self.wait_reply(id, deadline)?;
        Ok((status, String::from_utf8_lossy(&out).into_owned()))
    }

    /// Wall time from spawning qemu to the guest shell's first answer.
    pub fn boot_time(&self) -> Duration {
        self.boot_time
    }

    /// qemu's PID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The namespace holding the guest's TAP devices.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// Host TAP name of guest NIC `ethN`.
    pub fn tap(&self, nic: usize) -> Option<&str> {
        self.taps.get(nic).map(String::as_str)
    }

    /// MAC address of guest NIC `ethN`.
    pub fn mac(&self, nic: usize) -> Option<[u8; 6]> {
        self.macs.get(nic).copied()
    }

    /// Path of the guest console log (kernel messages), for debugging.
    pub fn console_log(&self) -> PathBuf {
        self.dir.join("console.log")
    }

    /// Current contents of the console log.
    pub fn console(&self) -> String {
        fs::read(self.console_log())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Powers the guest off and waits for qemu to exit. Err when qemu had
    /// to be killed instead, so tests can assert a clean shutdown.
    pub fn shutdown(mut self) -> io::Result<()> {
        self.power_off(Duration::from_secs(20))
    }

    fn power_off(&mut self, grace: Duration) -> io::Result<()> {
        if self.exited {
            return Ok(());
        }
        if let Some(status) = self.child.try_wait()? {
            self.exited = true;
            return Err(io::Error::other(format!(
                "qemu had already exited ({status})"
            )));
        }
        // No reply comes back: the guest is gone before it could send one.
        let _ = self.send("poweroff -f", 10);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                self.exited = true;
                return Ok(());
            }
            thread::sleep(Duration::from_millis(50));
        }
        // Child::kill signals exactly this PID (SIGKILL).
        self.child.kill()?;
        self.child.wait()?;
        self.exited = true;
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("guest did not power off within {grace:?}; qemu killed"),
        ))
    }

    fn send(&mut self, cmd: &str, timeout_secs: u64) -> io::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let mut line = format!("{id} {timeout_secs} ");
        base64_encode(cmd.as_bytes(), &mut line);
        line.push('\n');
        self.stream.write_all(line.as_bytes())?;
        Ok(id)
    }

    fn wait_ready(&mut self, deadline: Instant) -> io::Result<()> {
        // The console marker says init reached the command loop; before
        // that, requests would only pile up in the guest's tty.
        loop {
            if self.console().contains(READY_MARKER) {
                break;
            }
            self.check_alive()?;
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "guest never printed its ready marker",
                ));
            }
            thread::sleep(Duration::from_millis(100));
        }
        // Ping until answered: a request racing the loop's tty setup can
        // be lost, so resend instead of waiting on one.
        let mut pings = Vec::new();
        loop {
            pings.push(self.send("echo kpeer-pong", 10)?);
            let step = (Instant::now() + Duration::from_secs(2)).min(deadline);
            match self.wait_any(&pings, step) {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::TimedOut && Instant::now() < deadline => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn wait_reply(&mut self, id: u64, deadline: Instant) -> io::Result<(i32, Vec<u8>)> {
        self.wait_any(&[id], deadline).map(|(_, st, out)| (st, out))
    }

    /// Reads frames until one with an id in `ids` arrives; frames for other
    /// ids (stale pings, commands that timed out host-side) are dropped.
    fn wait_any(&mut self, ids: &[u64], deadline: Instant) -> io::Result<(u64, i32, Vec<u8>)> {
        let mut chunk = [0u8; 16384];
        loop {
            loop {
                match parse_frame(&self.buf) {
                    Parsed::Incomplete { discard } => {
                        self.buf.drain(..discard);
                        break;
                    }
                    Parsed::Frame {
                        id,
                        status,
                        output,
                        consumed,
                    } => {
                        let output = output.to_vec();
                        self.buf.drain(..consumed);
                        if ids.contains(&id) {
                            return Ok((id, status, output));
                        }
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!("no reply from the guest for request(s) {ids:?}"),
                ));
            }
            let wait = (deadline - now).min(Duration::from_secs(1));
            self.stream.set_read_timeout(Some(wait))?;
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.check_alive()?;
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "guest command channel closed",
                    ));
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    self.check_alive()?
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn check_alive(&mut self) -> io::Result<()> {
        match self.child.try_wait()? {
            None => Ok(()),
            Some(status) => {
                self.exited = true;
                Err(io::Error::other(format!("qemu exited ({status})")))
            }
        }
    }
}

impl Drop for KernelPeer {
    fn drop(&mut self) {
        let _ = self.power_off(Duration::from_secs(10));
        if std::env::var_os("L2TP_KPEER_KEEP").is_none() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Kills a half-started qemu and turns the error into one with its logs.
fn fail_boot(mut child: Child, dir: &Path, e: io::Error) -> io::Error {
    if let Ok(None) = child.try_wait() {
        let _ = child.kill();
    }
    let _ = child.wait();
    let e = with_logs(e, dir);
    if std::env::var_os("L2TP_KPEER_KEEP").is_none() {
        let _ = fs::remove_dir_all(dir);
    }
    e
}

/// Adds the tails of qemu's and the console's logs (in the VM's temp dir
/// `dir`) to a boot error.
fn with_logs(e: io::Error, dir: &Path) -> io::Error {
    io::Error::new(
        e.kind(),
        format!(
            "{e}\n--- qemu.log ---\n{}\n--- console.log (tail) ---\n{}",
            tail(&dir.join("qemu.log"), 2000),
            tail(&dir.join("console.log"), 4000)
        ),
    )
}

fn connect(sock: &Path, child: &mut Child, deadline: Instant) -> io::Result<UnixStream> {
    loop {
        match UnixStream::connect(sock) {
            Ok(s) => return Ok(s),
            Err(e) => {
                if let Some(status) = child.try_wait()? {
                    return Err(io::Error::other(format!(
                        "qemu exited ({status}) before opening {}",
                        sock.display()
                    )));
                }
                if Instant::now() >= deadline {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("cannot connect to {}: {e}", sock.display()),
                    ));
                }
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn make_temp_dir(pid: u32, serial: u32) -> io::Result<PathBuf> {
    let mut base = std::env::temp_dir();
    // Unix socket paths are limited to 108 bytes.
    if base.as_os_str().len() > 60 {
        base = PathBuf::from("/tmp");
    }
    let dir = base.join(format!("l2tp-kpeer-{pid}-{serial}"));
    // A leftover from an earlier process that had the same PID.
    if dir.exists() {
        fs::remove_dir_all(&dir)?;
    }
    fs::create_dir(&dir)?;
    Ok(dir)
}

fn tail(path: &Path, max: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let start = bytes.len().saturating_sub(max);
            String::from_utf8_lossy(bytes.get(start..).unwrap_or_default()).into_owned()
        }
        Err(e) => format!("({}: {e})", path.display()),
    }
}

fn base64_encode(input: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in input.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        let n = (u32::from(b0) << 16) | (u32::from(b1) << 8) | u32::from(b2);
        let sextet = |shift: u32| char::from(ALPHABET[((n >> shift) & 0x3f) as usize]);
        out.push(sextet(18));
        out.push(sextet(12));
        out.push(if chunk.len() > 1 { sextet(6) } else { '=' });
        out.push(if chunk.len() > 2 { sextet(0) } else { '=' });
    }
}

/// Result of scanning the channel's receive buffer for one reply frame.
#[derive(Debug, PartialEq, Eq)]
enum Parsed<'a> {
    /// No complete frame yet; the first `discard` bytes are noise (tty echo
    /// before the guest loop went raw) and can be dropped.
    Incomplete { discard: usize },
    /// A complete frame occupying the first `consumed` bytes.
    Frame {
        id: u64,
        status: i32,
        output: &'a [u8],
        consumed: usize,
    },
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn parse_frame(buf: &[u8]) -> Parsed<'_> {
    let mut from = 0;
    loop {
        let Some(rel) = buf.get(from..).and_then(|b| find(b, BEGIN)) else {
            // Keep a tail that might be the start of a split marker.
            let keep = BEGIN.len().saturating_sub(1).min(buf.len() - from);
            return Parsed::Incomplete {
                discard: buf.len() - keep,
            };
        };
        let start = from + rel;
        let header_start = start + BEGIN.len();
        let rest = buf.get(header_start..).unwrap_or_default();
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            return Parsed::Incomplete { discard: start };
        };
        let header = rest.get(..nl).unwrap_or_default();
        let parsed = std::str::from_utf8(header).ok().and_then(|h| {
            let (id, len) = h.split_once(' ')?;
            Some((id.parse::<u64>().ok()?, len.parse::<usize>().ok()?))
        });
        let Some((id, len)) = parsed else {
            // Not a real header (garbled echo): look past it.
            from = header_start;
            continue;
        };
        let body_start = header_start + nl + 1;
        let Some(body_end) = body_start.checked_add(len) else {
            from = header_start;
            continue;
        };
        let Some(after) = buf.get(body_end..) else {
            return Parsed::Incomplete { discard: start };
        };
        let Some(end_nl) = after.iter().position(|&b| b == b'\n') else {
            // The trailer cannot be longer than this; anything longer is junk.
            if after.len() > END.len() + 40 {
                from = header_start;
                continue;
            }
            return Parsed::Incomplete { discard: start };
        };
        let trailer = after.get(..end_nl).unwrap_or_default();
        let status = trailer
            .strip_prefix(END)
            .and_then(|t| std::str::from_utf8(t).ok())
            .and_then(|t| t.split_once(' '))
            .and_then(|(tid, st)| {
                (tid.parse::<u64>().ok()? == id).then_some(())?;
                st.parse::<i32>().ok()
            });
        match status {
            Some(status) => {
                return Parsed::Frame {
                    id,
                    status,
                    output: buf.get(body_start..body_end).unwrap_or_default(),
                    consumed: body_end + end_nl + 1,
                }
            }
            None => from = header_start,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(id: u64, out: &[u8], st: i32) -> Vec<u8> {
        let mut v = format!("\n__KP_BEGIN_{id} {}\n", out.len()).into_bytes();
        v.extend_from_slice(out);
        v.extend_from_slice(format!("__KP_END_{id} {st}\n").as_bytes());
        v
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, enc) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut s = String::new();
            base64_encode(plain.as_bytes(), &mut s);
            assert_eq!(s, enc, "base64({plain:?})");
        }
    }

    #[test]
    fn frame_with_markers_inside_output_is_taken_by_length() {
        let out = b"x\n__KP_END_7 3\n__KP_BEGIN_9 1\nno newline at end";
        let mut buf = b"echo noise 1 2 abc".to_vec();
        buf.extend(frame(7, out, 42));
        buf.extend_from_slice(b"\n__KP_BEG");
        match parse_frame(&buf) {
            Parsed::Frame {
                id,
                status,
                output,
                consumed,
            } => {
                assert_eq!((id, status, output), (7, 42, &out[..]));
                assert_eq!(&buf[consumed..], b"\n__KP_BEG");
            }
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[test]
    fn partial_frames_wait_and_noise_is_discarded() {
        let full = frame(3, b"hello\n", 0);
        for cut in 0..full.len() {
            let mut buf = b"junk".to_vec();
            buf.extend_from_slice(&full[..cut]);
            match parse_frame(&buf) {
                Parsed::Incomplete { discard } => {
                    assert!(
                        discard <= 4,
                        "cut {cut}: discarded {discard} bytes of a frame"
                    )
                }
                other => panic!("cut {cut}: unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn garbled_header_and_mismatched_trailer_are_skipped() {
        let mut buf = b"\n__KP_BEGIN_zz 5\n".to_vec();
        buf.extend_from_slice(b"\n__KP_BEGIN_4 2\nab__KP_END_5 0\n");
        buf.extend(frame(6, b"ok", 1));
        match parse_frame(&buf) {
            Parsed::Frame {
                id, status, output, ..
            } => assert_eq!((id, status, output), (6, 1, &b"ok"[..])),
            other => panic!("expected frame 6, got {other:?}"),
        }
    }

    #[test]
    fn huge_length_does_not_overflow() {
        let buf = format!("\n__KP_BEGIN_1 {}\nabc", usize::MAX).into_bytes();
        assert!(matches!(parse_frame(&buf), Parsed::Incomplete { .. }));
    }
}
