//! Bulk transfers through a pseudowire, checked end to end: a reproducible
//! pseudo-random payload, a TCP sender and receiver that live in a test
//! namespace, SHA-256 digests from the system's `sha256sum` (an
//! implementation independent of the guest's busybox one), and the kernel
//! peer's own per-session L2TP counters.
//!
//! `ip l2tp` (iproute2 6.1) prints no session statistics, and the guest
//! image does not carry `l2tp_debugfs`; [`load_kernel_module`] takes that
//! module from the very kernel package the guest booted and loads it, so
//! `/sys/kernel/debug/l2tp/tunnels` shows each session's packet, byte and
//! error counts ([`KernelL2tpStats::parse`]).

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::kernel_peer::{cache_dir, kernel_version, KernelPeer};
use crate::netns::Netns;

/// `len` bytes of xorshift64* output from `seed`: reproducible, and no
/// compressor or deduplicating path can shrink it.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    // xorshift64* has one fixed point, 0.
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Lower-case hex SHA-256 of `data`, computed by `sha256sum`.
pub fn sha256_hex(data: &[u8]) -> io::Result<String> {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // sha256sum prints nothing before its input ends, so writing all of
    // it first cannot deadlock.
    child
        .stdin
        .take()
        .ok_or_else(|| io::Error::other("sha256sum has no stdin"))?
        .write_all(data)?;
    let out = child.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_digest(&text).ok_or_else(|| {
        io::Error::other(format!(
            "sha256sum ({}) printed no digest: {text:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    })
}

/// The digest from a `sha256sum` line (`HEX  NAME`), if it has one.
pub fn parse_digest(line: &str) -> Option<String> {
    let word = line.split_whitespace().next()?;
    (word.len() == 64 && word.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| word.to_ascii_lowercase())
}

/// Bytes moved and the wall time it took.
#[derive(Clone, Copy, Debug)]
pub struct Rate {
    pub bytes: u64,
    pub elapsed: Duration,
}

impl Rate {
    pub fn mbit_per_s(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.elapsed.as_secs_f64().max(1e-9) / 1e6
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} B in {:.2} s = {:.1} Mbit/s",
            self.bytes,
            self.elapsed.as_secs_f64(),
            self.mbit_per_s()
        )
    }
}

/// Connects from inside `ns` to `to` (retrying while nothing listens
/// there yet, up to `timeout`), sends `data`, and returns once the peer's
/// TCP has acknowledged every byte and the FIN. The clock starts at the
/// established connection.
///
/// The peer may half-close at once (busybox `nc -l` does when its stdin is
/// at EOF), so its EOF says nothing; the send queue draining does.
pub fn send_all(ns: &Netns, to: SocketAddr, data: &[u8], timeout: Duration) -> io::Result<Rate> {
    let deadline = Instant::now() + timeout;
    let mut stream = loop {
        let attempt = ns.enter(|| TcpStream::connect_timeout(&to, Duration::from_secs(5)));
        match attempt {
            Ok(s) => break s,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::ConnectionRefused | io::ErrorKind::TimedOut
                ) && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(io::Error::new(e.kind(), format!("connect to {to}: {e}"))),
        }
    };
    let started = Instant::now();
    stream.set_write_timeout(Some(
        deadline
            .saturating_duration_since(started)
            .max(Duration::from_secs(1)),
    ))?;
    stream
        .write_all(data)
        .map_err(|e| io::Error::new(e.kind(), format!("sending to {to}: {e}")))?;
    stream.shutdown(Shutdown::Write)?;
    loop {
        let unacked = send_queue_len(&stream)?;
        if unacked == 0 {
            break;
        }
        if Instant::now() >= deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{unacked} bytes to {to} still unacknowledged"),
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(Rate {
        bytes: data.len() as u64,
        elapsed: started.elapsed(),
    })
}

/// Bytes queued on a TCP socket that the peer has not acknowledged yet
/// (the FIN counts as one).
fn send_queue_len(stream: &TcpStream) -> io::Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (== TIOCOUTQ) on a TCP socket we own writes one
    // c_int through the pointer, which points at a live local.
    let rc = unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut n) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    usize::try_from(n).map_err(|_| io::Error::other(format!("SIOCOUTQ gave {n}")))
}

/// A TCP listener bound to `addr` inside `ns`.
pub fn listen(ns: &Netns, addr: SocketAddr) -> io::Result<TcpListener> {
    ns.enter(|| TcpListener::bind(addr))
}

/// Accepts one connection (waiting up to `timeout` in all) and reads it to
/// EOF, refusing more than `max` bytes. The clock starts at accept.
pub fn receive_all(
    listener: &TcpListener,
    max: usize,
    timeout: Duration,
) -> io::Result<(Vec<u8>, Rate)> {
    let deadline = Instant::now() + timeout;
    listener.set_nonblocking(true)?;
    let (mut stream, peer) = loop {
        match listener.accept() {
            Ok(conn) => break conn,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(io::Error::new(e.kind(), format!("accept: {e}"))),
        }
    };
    let started = Instant::now();
    stream.set_nonblocking(false)?;
    let mut data = Vec::with_capacity(max);
    let mut chunk = vec![0u8; 256 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{} bytes from {peer} and no EOF yet", data.len()),
            ));
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                if data.len() + n > max {
                    return Err(io::Error::other(format!(
                        "{peer} sent more than {max} bytes"
                    )));
                }
                data.extend_from_slice(chunk.get(..n).unwrap_or_default());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("reading from {peer} after {} bytes: {e}", data.len()),
                ))
            }
        }
    }
    let rate = Rate {
        bytes: data.len() as u64,
        elapsed: started.elapsed(),
    };
    Ok((data, rate))
}

/// One tunnel's or session's counters as l2tp_debugfs prints them
/// (`tx packets/bytes/errors rx packets/bytes/errors`). The kernel counts
/// every discard of a received packet (cookie, sequence, malformed) in
/// `rx_errors`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelL2tpStats {
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub tx_errors: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub rx_errors: u64,
}

impl KernelL2tpStats {
    /// The counters of tunnel `tunnel_id` and of its session `session_id`
    /// from `/sys/kernel/debug/l2tp/tunnels`.
    ///
    /// The file lists `TUNNEL <id> peer <id> ...` blocks, each followed by
    /// its `SESSION <id>, peer <id>, ...` blocks; every block has one line
    /// with two `packets/bytes/errors` triples, sent then received.
    pub fn parse(text: &str, tunnel_id: u32, session_id: u32) -> Option<(Self, Self)> {
        let mut in_tunnel = false;
        let mut in_session = false;
        let mut tunnel = None;
        let mut session = None;
        for line in text.lines() {
            let mut words = line.split_whitespace();
            match words.next() {
                Some("TUNNEL") => {
                    in_tunnel = first_number(words.next()) == Some(tunnel_id);
                    in_session = false;
                }
                Some("SESSION") => {
                    in_session = in_tunnel && first_number(words.next()) == Some(session_id);
                }
                _ => {
                    let Some(stats) = Self::parse_line(line) else {
                        continue;
                    };
                    if in_session && session.is_none() {
                        session = Some(stats);
                    } else if in_tunnel && !in_session && tunnel.is_none() {
                        tunnel = Some(stats);
                    }
                }
            }
        }
        Some((tunnel?, session?))
    }

    /// The two `packets/bytes/errors` triples of a line, tx first. The
    /// tunnel line labels both `rx` (` 00000000 rx 1/2/0 rx 3/4/0`, a
    /// long-standing typo), the session line says `tx`/`rx` after `nr/ns`.
    fn parse_line(line: &str) -> Option<Self> {
        let triple = |w: &str| -> Option<[u64; 3]> {
            let mut it = w.split('/').map(|n| n.parse::<u64>().ok());
            let v = [it.next()??, it.next()??, it.next()??];
            it.next().is_none().then_some(v)
        };
        let words: Vec<&str> = line.split_whitespace().collect();
        if !words.contains(&"rx") {
            return None;
        }
        let mut triples = words.iter().filter_map(|w| triple(w));
        let [tx_packets, tx_bytes, tx_errors] = triples.next()?;
        let [rx_packets, rx_bytes, rx_errors] = triples.next()?;
        if triples.next().is_some() {
            return None;
        }
        Some(Self {
            tx_packets,
            tx_bytes,
            tx_errors,
            rx_packets,
            rx_bytes,
            rx_errors,
        })
    }

    /// Field-wise `self - earlier` (saturating).
    pub fn since(&self, earlier: &Self) -> Self {
        Self {
            tx_packets: self.tx_packets.saturating_sub(earlier.tx_packets),
            tx_bytes: self.tx_bytes.saturating_sub(earlier.tx_bytes),
            tx_errors: self.tx_errors.saturating_sub(earlier.tx_errors),
            rx_packets: self.rx_packets.saturating_sub(earlier.rx_packets),
            rx_bytes: self.rx_bytes.saturating_sub(earlier.rx_bytes),
            rx_errors: self.rx_errors.saturating_sub(earlier.rx_errors),
        }
    }
}

/// One counter from `/proc/net/snmp` or `/proc/net/snmp6` text, e.g.
/// (`Tcp`, `RetransSegs`) or (`Udp6`, `Udp6InErrors`): snmp has a header
/// line and a value line per protocol, snmp6 one `name value` line each.
pub fn snmp_value(text: &str, proto: &str, field: &str) -> Option<u64> {
    let prefix = format!("{proto}:");
    let mut rows = text.lines().filter(|l| l.starts_with(&prefix));
    if let (Some(header), Some(values)) = (rows.next(), rows.next()) {
        let i = header.split_whitespace().position(|w| w == field)?;
        return values.split_whitespace().nth(i)?.parse().ok();
    }
    text.lines().find_map(|l| {
        let mut w = l.split_whitespace();
        (w.next()? == field).then(|| w.next()?.parse().ok())?
    })
}

/// `123,` or `123` to 123.
fn first_number(word: Option<&str>) -> Option<u32> {
    word?.trim_end_matches(',').parse().ok()
}

/// Path of module `name` (e.g. `l2tp_debugfs`) of the guest's kernel,
/// extracted once from the cached kernel package into
/// `CACHE/extra-modules/KVER/`.
pub fn kernel_module_file(name: &str) -> io::Result<PathBuf> {
    let kver = kernel_version()?;
    let dir = cache_dir().join("extra-modules").join(&kver);
    let dest = dir.join(format!("{name}.ko"));
    if dest.is_file() {
        return Ok(dest);
    }
    let deb = std::fs::read_dir(cache_dir().join("deb"))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("linux-image-") && n.ends_with(".deb"))
        })
        .ok_or_else(|| io::Error::other("no linux-image-*.deb in the kernel-peer cache"))?;
    std::fs::create_dir_all(&dir)?;
    // The package's file list gives the module's directory.
    let list = Command::new("dpkg-deb").arg("-c").arg(&deb).output()?;
    let listing = String::from_utf8_lossy(&list.stdout);
    let suffix = format!("/{name}.ko");
    let member = listing
        .lines()
        .filter_map(|l| l.split_whitespace().last())
        .find(|p| p.contains(&format!("/lib/modules/{kver}/")) && p.ends_with(&suffix))
        .ok_or_else(|| io::Error::other(format!("{name}.ko not in {}", deb.display())))?
        .to_string();
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let script = format!(
        "dpkg-deb --fsys-tarfile '{}' | tar -xOf - '{member}' > '{}'",
        deb.display(),
        tmp.display()
    );
    let out = Command::new("bash").arg("-c").arg(&script).output()?;
    if !out.status.success() || std::fs::metadata(&tmp).map(|m| m.len()).unwrap_or(0) == 0 {
        let _ = std::fs::remove_file(&tmp);
        return Err(io::Error::other(format!(
            "extracting {member} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    std::fs::rename(&tmp, &dest)?;
    Ok(dest)
}

/// Loads module `name` of the guest's kernel into the guest unless it is
/// loaded already; the file travels base64-encoded over the command
/// channel.
pub fn load_kernel_module(vm: &mut KernelPeer, name: &str) -> io::Result<()> {
    let (st, _) = vm.run(&format!("test -d /sys/module/{name}"))?;
    if st == 0 {
        return Ok(());
    }
    let path = kernel_module_file(name)?;
    let out = Command::new("base64").arg("-w0").arg(&path).output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "base64 {}: {}",
            path.display(),
            out.status
        )));
    }
    let b64 = String::from_utf8_lossy(&out.stdout);
    vm.run_ok(&format!(
        "printf '%s' '{}' | base64 -d > /tmp/{name}.ko && insmod /tmp/{name}.ko && rm /tmp/{name}.ko",
        b64.trim()
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_is_reproducible_and_seed_dependent() {
        let a = pattern(1001, 7);
        assert_eq!(a.len(), 1001);
        assert_eq!(a, pattern(1001, 7));
        assert_ne!(a, pattern(1001, 8));
        assert_eq!(&pattern(2000, 7)[..1001], &a[..]);
        // Not degenerate: every byte value shows up in 64 KiB.
        let big = pattern(65536, 1);
        let mut seen = [false; 256];
        for b in &big {
            seen[usize::from(*b)] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn sha256_of_known_vectors() {
        assert_eq!(
            sha256_hex(b"").unwrap(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc").unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn digest_line_parsing() {
        let hex = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(parse_digest(&format!("{hex}  -\n")).as_deref(), Some(hex));
        assert_eq!(
            parse_digest(&format!("{}  f", hex.to_uppercase())).as_deref(),
            Some(hex)
        );
        assert_eq!(parse_digest("abc  -"), None);
        assert_eq!(parse_digest(""), None);
        assert_eq!(parse_digest(&format!("{}g  -", &hex[..63])), None);
    }

    #[test]
    fn snmp_counters() {
        let snmp = "Ip: Forwarding DefaultTTL\nIp: 2 64\n\
                    Tcp: RtoAlgorithm InSegs RetransSegs InCsumErrors\nTcp: 1 500 7 3\n";
        assert_eq!(snmp_value(snmp, "Tcp", "RetransSegs"), Some(7));
        assert_eq!(snmp_value(snmp, "Tcp", "InCsumErrors"), Some(3));
        assert_eq!(snmp_value(snmp, "Ip", "DefaultTTL"), Some(64));
        assert_eq!(snmp_value(snmp, "Tcp", "Nope"), None);
        assert_eq!(snmp_value(snmp, "Udp", "InErrors"), None);
        let snmp6 = "Ip6InReceives                   \t12\nUdp6InErrors 4\n";
        assert_eq!(snmp_value(snmp6, "Udp6", "Udp6InErrors"), Some(4));
    }

    /// Shaped like Linux 6.1's output (header lines trimmed).
    const DEBUGFS: &str = "\
TUNNEL ID, peer ID from IP to IP
 debug tx-pkts/bytes/errs rx-pkts/bytes/errs
   nr/ns tx-pkts/bytes/errs rx-pkts/bytes/errs

TUNNEL 2 peer 1 from 198.18.0.2 to 198.18.0.1
 source port 1701, dest port 1701
 L2TPv3, UDP
 1 sessions, refcnt 3/3
 00000000 rx 10/1000/0 rx 20/2000/1
  SESSION 2001, peer 1001, ETH
   nr 5, ns 7
   refcnt 2
   config 0/0/R/S/-/LAC 00000000 0
   offset 0 l2specific 1/4
   cookie a1a2a3a4a5a6a7a8
   peer cookie 0102030405060708
   5/7 tx 9/900/0 rx 19/1900/2
   interface l2tpeth0

TUNNEL 3 peer 4 from 2001:db8::2 to 2001:db8::1
 L2TPv3, IP
 00000000 rx 1/1/1 rx 1/1/1
  SESSION 2001, peer 9, ETH
   0/0 tx 3/3/3 rx 3/3/3
";

    #[test]
    fn debugfs_blocks_are_told_apart() {
        let (t, s) = KernelL2tpStats::parse(DEBUGFS, 2, 2001).unwrap();
        assert_eq!(
            (t.tx_packets, t.tx_bytes, t.rx_packets, t.rx_errors),
            (10, 1000, 20, 1)
        );
        assert_eq!(
            s,
            KernelL2tpStats {
                tx_packets: 9,
                tx_bytes: 900,
                tx_errors: 0,
                rx_packets: 19,
                rx_bytes: 1900,
                rx_errors: 2
            }
        );
        let (t3, s3) = KernelL2tpStats::parse(DEBUGFS, 3, 2001).unwrap();
        assert_eq!((t3.tx_errors, s3.tx_packets), (1, 3));
        assert!(KernelL2tpStats::parse(DEBUGFS, 2, 9).is_none());
        assert!(KernelL2tpStats::parse(DEBUGFS, 7, 2001).is_none());
        assert!(KernelL2tpStats::parse("garbage tx 1/2 rx x/y/z", 2, 2001).is_none());
        assert_eq!(s.since(&s).rx_packets, 0);
    }
}
