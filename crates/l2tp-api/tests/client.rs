//! The blocking client against a real Unix socket served by a tiny
//! in-test responder (the real daemon is tested in the l2tpd crate).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::thread;

use l2tp_api::*;

fn temp_path(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("l2tp-api-{}-{tag}.sock", std::process::id()));
    let _ = std::fs::remove_file(&p);
    p
}

/// Serves one connection: answers each request line with `answer(request)`.
fn serve_one<F>(path: &PathBuf, answer: F) -> thread::JoinHandle<Vec<String>>
where
    F: Fn(&str) -> String + Send + 'static,
{
    let listener = UnixListener::bind(path).unwrap();
    thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut w = conn.try_clone().unwrap();
        let mut seen = Vec::new();
        for line in BufReader::new(conn).lines() {
            let line = line.unwrap();
            let mut out = answer(&line);
            out.push('\n');
            seen.push(line);
            if w.write_all(out.as_bytes()).is_err() {
                break;
            }
        }
        seen
    })
}

fn hello_line(version: u32) -> String {
    serde_json::to_string(&ResponseEnvelope {
        version,
        response: Response::Hello {
            version,
            server: "fake 1".into(),
        },
    })
    .unwrap()
}

#[test]
fn missing_socket_means_daemon_not_running() {
    let p = temp_path("missing");
    let err = Client::connect(&p).err().expect("connect must fail");
    match &err {
        ClientError::DaemonNotRunning { path } => assert_eq!(path, &p),
        other => panic!("wrong error {other:?}"),
    }
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("l2tpd --socket {}", p.display())),
        "message must say how to start the daemon: {msg}"
    );
}

#[test]
fn stale_socket_file_means_daemon_not_running() {
    let p = temp_path("stale");
    drop(UnixListener::bind(&p).unwrap()); // file stays, nobody listens
    assert!(p.exists());
    let err = Client::connect(&p).err().expect("connect must fail");
    assert!(
        matches!(err, ClientError::DaemonNotRunning { .. }),
        "{err:?}"
    );
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn handshake_then_calls() {
    let p = temp_path("ok");
    let server = serve_one(&p, |line| {
        let env: RequestEnvelope = serde_json::from_str(line).unwrap();
        assert_eq!(env.version, PROTOCOL_VERSION);
        let response = match env.request {
            Request::Hello { .. } => return hello_line(PROTOCOL_VERSION),
            Request::DelTunnel { tunnel_id: 5 } => Response::Done,
            Request::DelTunnel { tunnel_id } => Response::Error(ApiError::new(
                ErrorKind::NoSuchTunnel,
                format!("tunnel {tunnel_id} does not exist"),
            )),
            _ => Response::Tunnels { tunnels: vec![] },
        };
        serde_json::to_string(&ResponseEnvelope {
            version: PROTOCOL_VERSION,
            response,
        })
        .unwrap()
    });
    let mut c = Client::connect(&p).unwrap();
    assert_eq!(c.server(), "fake 1");
    assert_eq!(
        c.call(Request::DelTunnel { tunnel_id: 5 }).unwrap(),
        Response::Done
    );
    match c.call(Request::DelTunnel { tunnel_id: 6 }) {
        Err(ClientError::Api(e)) => {
            assert_eq!(e.kind, ErrorKind::NoSuchTunnel);
            assert_eq!(e.to_string(), "tunnel 6 does not exist");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        c.call(Request::ShowTunnels { tunnel_id: None }).unwrap(),
        Response::Tunnels { tunnels: vec![] }
    );
    drop(c);
    let seen = server.join().unwrap();
    assert_eq!(seen.len(), 4);
    assert!(seen[0].contains(r#""type":"hello""#), "{}", seen[0]);
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn version_mismatch_is_detected() {
    let p = temp_path("ver");
    let server = serve_one(&p, |_| hello_line(PROTOCOL_VERSION + 1));
    match Client::connect(&p) {
        Err(ClientError::VersionMismatch { ours, theirs }) => {
            assert_eq!(ours, PROTOCOL_VERSION);
            assert_eq!(theirs, PROTOCOL_VERSION + 1);
        }
        other => panic!("{:?}", other.err()),
    }
    server.join().unwrap();
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn credential_refusal_is_permission_denied() {
    let p = temp_path("cred");
    let server = serve_one(&p, |_| {
        serde_json::to_string(&ResponseEnvelope {
            version: PROTOCOL_VERSION,
            response: Response::Error(ApiError::new(ErrorKind::PermissionDenied, "uid 1000")),
        })
        .unwrap()
    });
    let err = Client::connect(&p).err().expect("must fail");
    assert!(
        matches!(err, ClientError::PermissionDenied { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("root"), "{err}");
    server.join().unwrap();
    std::fs::remove_file(&p).unwrap();
}

#[test]
fn garbage_and_hangup_are_protocol_errors() {
    let p = temp_path("garbage");
    let server = serve_one(&p, |_| "this is not json".into());
    let err = Client::connect(&p).err().expect("must fail");
    assert!(matches!(err, ClientError::Protocol { .. }), "{err:?}");
    server.join().unwrap();
    std::fs::remove_file(&p).unwrap();

    let p = temp_path("hangup");
    let listener = UnixListener::bind(&p).unwrap();
    let t = thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut line = String::new();
        BufReader::new(&conn).read_line(&mut line).unwrap();
        drop(conn);
    });
    let err = Client::connect(&p).err().expect("must fail");
    assert!(err.to_string().contains("closed the connection"), "{err}");
    t.join().unwrap();
    std::fs::remove_file(&p).unwrap();
}
