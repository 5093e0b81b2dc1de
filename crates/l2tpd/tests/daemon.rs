//! The real `l2tpd` in a fresh network namespace driven by the real `l2tp`:
//! socket handling, signals, credentials, protocol robustness and the
//! errors a user sees. None of these create a tunnel in the data plane.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::Command;
use std::time::Duration;

use common::*;

#[test]
fn cli_says_how_to_start_a_missing_daemon() {
    let path = socket_path("missing");
    let out = l2tp_at(&path, "show tunnel");
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("l2tpd --socket {}", path.display())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("not running"), "{}", out.stderr);

    // The environment variable is honoured when --socket is absent.
    let out = Command::new(l2tp_bin())
        .args(["show", "tunnel"])
        .env("L2TP_SOCKET", &path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&path.display().to_string()));
}

#[test]
fn socket_mode_and_single_owner() {
    let ns = Netns::new("own");
    let d = Daemon::start(&ns);
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "socket mode {mode:o}");

    // A second daemon on the same socket refuses to start and leaves it alone.
    let log2 = d.socket.with_extension("log2");
    let status = Daemon::spawn(&ns, &d.socket, &log2).wait().unwrap();
    let text = std::fs::read_to_string(&log2).unwrap();
    let _ = std::fs::remove_file(&log2);
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("already listening"), "{text}");
    assert_eq!(d.l2tp_ok("show tunnel"), "", "first daemon still serves");
}

#[test]
fn stale_socket_is_replaced_and_other_files_are_not() {
    let ns = Netns::new("stale");
    let path = socket_path("stale");
    drop(UnixListener::bind(&path).unwrap()); // a dead daemon's leftover
    let d = Daemon::start_at(&ns, path.clone());
    assert_eq!(d.l2tp_ok("show session"), "");
    drop(d);

    let path = socket_path("file");
    std::fs::write(&path, b"precious").unwrap();
    let log = path.with_extension("log");
    let status = Daemon::spawn(&ns, &path, &log).wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(status.code(), Some(1));
    assert!(text.contains("is not a socket"), "{text}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
    std::fs::remove_file(&path).unwrap();
    std::fs::remove_file(&log).unwrap();
}

#[test]
fn sigterm_and_sigint_stop_cleanly_and_remove_the_socket() {
    let ns = Netns::new("sig");
    for signal in [libc::SIGTERM, libc::SIGINT] {
        let mut d = Daemon::start(&ns);
        // SIGHUP is not fatal.
        // SAFETY: kill(2) of our own child.
        unsafe { libc::kill(d.pid() as i32, libc::SIGHUP) };
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(d.l2tp_ok("show tunnel"), "");
        let st = d.stop_with(signal);
        assert!(st.success(), "exit status {st} after signal {signal}");
        assert!(
            !d.socket.exists(),
            "socket left behind after signal {signal}"
        );
        let log = d.log_text();
        assert!(log.contains("terminating"), "{log}");
        assert!(log.contains("shut down"), "{log}");
    }
}

#[test]
fn non_root_clients_are_refused() {
    let ns = Netns::new("cred");
    let d = Daemon::start(&ns);
    let run_as_nobody = || {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(l2tp_bin())
            .arg("--socket")
            .arg(&d.socket)
            .args(["show", "tunnel"])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // The 0600 socket already keeps others out...
    let (code, err) = run_as_nobody();
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("permission denied") && err.contains("root"),
        "{err}"
    );
    // ...and SO_PEERCRED does even if the socket were opened up.
    std::fs::set_permissions(&d.socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let (code, err) = run_as_nobody();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("permission denied"), "{err}");
    assert!(
        d.log_text().contains("refusing non-root client"),
        "{}",
        d.log_text()
    );
}

fn raw_call(
    stream: &mut UnixStream,
    reader: &mut BufReader<UnixStream>,
    line: &[u8],
) -> serde_json::Value {
    // The daemon may answer and hang up before an over-long line is fully
    // written, so a failed write is not an error here; the answer is.
    let _ = stream
        .write_all(line)
        .and_then(|()| stream.write_all(b"\n"));
    let mut resp = String::new();
    reader.read_line(&mut resp).unwrap();
    serde_json::from_str(&resp).unwrap_or_else(|e| panic!("{e}: {resp:?}"))
}

#[test]
fn malformed_requests_get_typed_errors() {
    let ns = Netns::new("proto");
    let d = Daemon::start(&ns);
    let mut s = UnixStream::connect(&d.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());

    let v = raw_call(&mut s, &mut r, b"not json at all");
    assert_eq!(v["response"]["type"], "error");
    assert_eq!(v["response"]["kind"], "bad_request");

    let v = raw_call(
        &mut s,
        &mut r,
        br#"{"version":99,"request":{"type":"launch"}}"#,
    );
    assert_eq!(v["response"]["kind"], "version_mismatch");
    assert!(v["response"]["message"].as_str().unwrap().contains("99"));

    let v = raw_call(
        &mut s,
        &mut r,
        br#"{"version":1,"request":{"type":"add_tunnel","tunnel_id":1}}"#,
    );
    assert_eq!(v["response"]["kind"], "bad_request");

    // The connection survives bad requests.
    let v = raw_call(
        &mut s,
        &mut r,
        br#"{"version":1,"request":{"type":"show_tunnels"}}"#,
    );
    assert_eq!(v["response"]["type"], "tunnels");
    assert_eq!(v["response"]["tunnels"], serde_json::json!([]));

    // An over-long line is refused and the connection closed, nothing more.
    let huge = vec![b'x'; l2tp_api::MAX_REQUEST_LINE + 10];
    let v = raw_call(&mut s, &mut r, &huge);
    assert_eq!(v["response"]["kind"], "bad_request");
    let mut rest = String::new();
    assert_eq!(r.read_line(&mut rest).unwrap_or(0), 0);
    assert_eq!(d.l2tp_ok("-j show tunnel"), "[]\n");
}

#[test]
fn user_errors_from_the_cli() {
    let ns = Netns::new("uerr");
    let d = Daemon::start(&ns);
    let cases: &[(&str, i32, &str)] = &[
        // grammar errors never reach the daemon: exit 255 like `ip`
        (
            "add session tid 1 sid 1 psid 1 cookie 0102",
            255,
            "Error: argument \"0102\" is wrong: cookie must be either 8 or 16 hex digits",
        ),
        (
            "add session tid 1 sid 1 psid 1 peer_cookie 01020304zz",
            255,
            "cookie must be either 8 or 16 hex digits",
        ),
        (
            "add session tid 1 sid 1 psid 1 cookie 0102030z",
            255,
            "cookie must be a hex string",
        ),
        (
            "add tunnel tid 1 ptid 1 remote 198.18.0.2 bogus 1",
            255,
            "Unknown command: bogus",
        ),
        (
            "add tunnel tid 1 remote 198.18.0.2",
            255,
            "Error: argument \"peer_tunnel_id\" is required",
        ),
        (
            "add session tid 1 sid 1",
            255,
            "Error: argument \"peer_session_id\" is required",
        ),
        (
            "frob tunnel",
            255,
            "Command \"frob\" is unknown, try \"l2tp help\".",
        ),
        // refused by the daemon: exit 2
        (
            "add tunnel tid 1 ptid 1 local 198.18.0.1 remote 2001:db8::1",
            2,
            "different families",
        ),
        (
            "add tunnel tid 1 ptid 1 remote 198.18.0.2 udp_dport 0",
            2,
            "invalid udp_dport",
        ),
        (
            "add session tid 9 sid 1 psid 1",
            2,
            "tunnel 9 does not exist",
        ),
        ("del tunnel tid 9", 2, "tunnel 9 does not exist"),
        ("del session tid 9 sid 1", 2, "tunnel 9 does not exist"),
        ("show tunnel tid 9", 2, "tunnel 9 does not exist"),
        ("show session sid 9", 2, "session 9 does not exist"),
    ];
    for (args, code, text) in cases {
        let out = d.l2tp(args);
        assert_eq!(out.code, *code, "l2tp {args}: {}", out.stderr);
        assert!(
            out.stderr.contains(text),
            "l2tp {args}: {:?} lacks {text:?}",
            out.stderr
        );
        assert_eq!(out.stdout, "", "l2tp {args}");
    }
    let out = d.l2tp("add tunnel tid 1 ptid 1 remote 198.18.0.2 bogus 1");
    assert!(
        out.stderr.contains("Usage: l2tp"),
        "usage follows an unknown keyword"
    );
    let out = d.l2tp("help");
    assert_eq!(out.code, 0);
    assert!(out
        .stdout
        .contains("l2tp [ OPTIONS ] show session [ tunnel_id ID ] [ session_id ID ]"));
    let out = d.l2tp("add session tid 1 sid 1 psid 1 offset 8 cookie 01");
    assert!(
        out.stderr.contains("Ignoring option \"offset\""),
        "{}",
        out.stderr
    );
}
