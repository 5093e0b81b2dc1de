//! The management socket: creation (mode 0600, stale-socket cleanup,
//! refusal when another daemon is live), the accept loop with signal
//! handling, and one thread per client connection.

use std::fmt;
use std::fs;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use l2tp_api::{
    ApiError, ErrorKind, Request, RequestEnvelope, Response, ResponseEnvelope, VersionProbe,
    MAX_REQUEST_LINE, PROTOCOL_VERSION,
};
use tracing::{debug, error, info, warn};

use crate::daemon::Daemon;
use crate::sys;

/// A client that sends nothing for this long is dropped, so idle
/// connections cannot pile up threads.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Why the daemon could not start listening.
#[derive(Debug)]
pub enum StartError {
    /// Another l2tpd answers on the socket.
    AlreadyRunning {
        path: PathBuf,
    },
    /// The path exists and is not a socket; we do not delete it.
    NotASocket {
        path: PathBuf,
    },
    Io {
        context: String,
        source: io::Error,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::AlreadyRunning { path } => write!(
                f,
                "another l2tpd is already listening on {}; stop it first or give this one \
                 another --socket PATH",
                path.display()
            ),
            StartError::NotASocket { path } => write!(
                f,
                "{} exists and is not a socket; remove it or choose another --socket PATH",
                path.display()
            ),
            StartError::Io { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for StartError {}

/// The bound management socket; removes its file when dropped, unless
/// another process has replaced it meanwhile.
pub struct Listener {
    listener: UnixListener,
    path: PathBuf,
    identity: (u64, u64),
}

impl Listener {
    /// Binds `path` with mode 0600, replacing a stale socket file left by a
    /// daemon that died.
    pub fn bind(path: &Path) -> Result<Listener, StartError> {
        let io_err = |context: String| move |source| StartError::Io { context, source };
        match fs::symlink_metadata(path) {
            Ok(md) if md.file_type().is_socket() => match UnixStream::connect(path) {
                Ok(_) => {
                    return Err(StartError::AlreadyRunning {
                        path: path.to_path_buf(),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    info!(path = %path.display(), "removing stale socket");
                    fs::remove_file(path)
                        .map_err(io_err(format!("removing stale socket {}", path.display())))?;
                }
                Err(e) => {
                    return Err(StartError::Io {
                        context: format!("probing existing socket {}", path.display()),
                        source: e,
                    })
                }
            },
            Ok(_) => {
                return Err(StartError::NotASocket {
                    path: path.to_path_buf(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(StartError::Io {
                    context: format!("checking {}", path.display()),
                    source: e,
                })
            }
        }
        let listener = sys::with_umask(0o177, || UnixListener::bind(path))
            .map_err(io_err(format!("binding {}", path.display())))?;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))
            .map_err(io_err(format!("setting the mode of {}", path.display())))?;
        let md =
            fs::symlink_metadata(path).map_err(io_err(format!("checking {}", path.display())))?;
        listener
            .set_nonblocking(true)
            .map_err(io_err("making the listener non-blocking".into()))?;
        Ok(Listener {
            listener,
            path: path.to_path_buf(),
            identity: (md.dev(), md.ino()),
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        match fs::symlink_metadata(&self.path) {
            Ok(md) if (md.dev(), md.ino()) == self.identity => {
                if let Err(e) = fs::remove_file(&self.path) {
                    warn!(path = %self.path.display(), error = %e, "removing socket");
                }
            }
            _ => debug!(path = %self.path.display(), "socket file no longer ours; left alone"),
        }
    }
}

fn lock(d: &Mutex<Daemon>) -> MutexGuard<'_, Daemon> {
    // A panicking handler must not take the whole daemon down with it.
    d.lock().unwrap_or_else(|p| p.into_inner())
}

/// Serves clients until SIGINT or SIGTERM, then removes every device and
/// the socket file. Signals must already be blocked (see [`sys::block_signals`]).
pub fn serve(
    listener: Listener,
    signals: &sys::SignalFd,
    daemon: Arc<Mutex<Daemon>>,
) -> io::Result<()> {
    info!(path = %listener.path.display(), "listening");
    let lfd = listener.listener.as_raw_fd();
    let sfd = signals.as_raw_fd();
    'outer: loop {
        let [conn_ready, sig_ready] = sys::poll_readable([lfd, sfd], -1)?;
        if sig_ready {
            while let Some(signo) = signals.read()? {
                let signo = signo as libc::c_int;
                if sys::TERMINATING.contains(&signo) {
                    info!(signal = signo, "terminating");
                    break 'outer;
                }
                info!(
                    signal = signo,
                    "ignoring signal (configuration reload is not supported yet)"
                );
            }
        }
        if conn_ready {
            loop {
                match listener.listener.accept() {
                    Ok((stream, _)) => {
                        let d = daemon.clone();
                        let spawned = thread::Builder::new()
                            .name("l2tpd-client".into())
                            .spawn(move || serve_client(stream, &d));
                        if let Err(e) = spawned {
                            error!(error = %e, "cannot start a client thread");
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => {
                        // EMFILE and friends: log, back off, keep serving.
                        warn!(error = %e, "accept failed");
                        thread::sleep(Duration::from_millis(100));
                        break;
                    }
                }
            }
        }
    }
    lock(&daemon).shutdown();
    drop(listener);
    info!("shut down");
    Ok(())
}

fn respond(w: &mut UnixStream, response: Response) -> io::Result<()> {
    let env = ResponseEnvelope {
        version: PROTOCOL_VERSION,
        response,
    };
    let mut line = serde_json::to_vec(&env).map_err(io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line)
}

/// Reads one line of at most [`MAX_REQUEST_LINE`] bytes. `Ok(None)` at EOF.
fn read_request_line(r: &mut BufReader<UnixStream>, buf: &mut Vec<u8>) -> io::Result<Option<()>> {
    buf.clear();
    let n = r.take(MAX_REQUEST_LINE as u64 + 1).read_until(b'\n', buf)?;
    if n == 0 {
        return Ok(None);
    }
    if buf.last() != Some(&b'\n') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("request line longer than {MAX_REQUEST_LINE} bytes or cut short"),
        ));
    }
    Ok(Some(()))
}

/// Decodes a request line, producing the error to send back if it is not one.
fn decode(line: &[u8]) -> Result<RequestEnvelope, ApiError> {
    match serde_json::from_slice::<VersionProbe>(line) {
        Ok(p) if p.version != PROTOCOL_VERSION => {
            return Err(ApiError::new(
                ErrorKind::VersionMismatch,
                format!(
                    "l2tpd speaks management protocol version {PROTOCOL_VERSION}, the client \
                     sent version {}; use matching versions of l2tp and l2tpd",
                    p.version
                ),
            ))
        }
        _ => {}
    }
    serde_json::from_slice::<RequestEnvelope>(line)
        .map_err(|e| ApiError::new(ErrorKind::BadRequest, format!("malformed request: {e}")))
}

fn serve_client(stream: UnixStream, daemon: &Mutex<Daemon>) {
    let cred = match sys::peer_cred(stream.as_raw_fd()) {
        Ok(c) => c,
        Err(e) => {
            warn!(error = %e, "cannot read client credentials; dropping connection");
            return;
        }
    };
    if let Err(e) = stream
        .set_read_timeout(Some(IDLE_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(IDLE_TIMEOUT)))
    {
        warn!(error = %e, "setting client timeouts");
        return;
    }
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(e) => {
            warn!(error = %e, "duplicating client socket");
            return;
        }
    };
    let mut reader = BufReader::new(stream);
    let mut buf = Vec::with_capacity(512);
    debug!(pid = cred.pid, uid = cred.uid, "client connected");
    loop {
        match read_request_line(&mut reader, &mut buf) {
            Ok(Some(())) => {}
            Ok(None) => break,
            Err(e) => {
                if e.kind() == io::ErrorKind::InvalidData {
                    let _ = respond(
                        &mut writer,
                        Response::Error(ApiError::new(ErrorKind::BadRequest, e.to_string())),
                    );
                }
                debug!(pid = cred.pid, error = %e, "client dropped");
                break;
            }
        }
        if cred.uid != 0 {
            warn!(pid = cred.pid, uid = cred.uid, "refusing non-root client");
            let _ = respond(
                &mut writer,
                Response::Error(ApiError::new(
                    ErrorKind::PermissionDenied,
                    format!(
                        "l2tpd accepts requests from root only (your uid is {})",
                        cred.uid
                    ),
                )),
            );
            break;
        }
        let response = match decode(&buf) {
            Ok(env) if env.request == Request::Monitor => {
                debug!(pid = cred.pid, "monitor started");
                if let Err(e) = stream_monitor(&mut writer, daemon) {
                    debug!(pid = cred.pid, error = %e, "monitor client went away");
                }
                debug!(pid = cred.pid, "monitor ended");
                break;
            }
            Ok(env) => {
                let kind = env.request.kind();
                let response = lock(daemon).handle(env.request);
                match &response {
                    Response::Error(e) => {
                        info!(pid = cred.pid, request = kind, error = %e, "request refused")
                    }
                    _ => debug!(pid = cred.pid, request = kind, "request done"),
                }
                response
            }
            Err(e) => {
                warn!(pid = cred.pid, error = %e, "bad request");
                Response::Error(e)
            }
        };
        if let Err(e) = respond(&mut writer, response) {
            debug!(pid = cred.pid, error = %e, "client went away");
            break;
        }
    }
}

/// How often an idle monitor stream checks whether its client left.
const MONITOR_POLL: Duration = Duration::from_millis(500);

/// Streams control messages to a `l2tp monitor` client until it closes the
/// connection (or sends anything) or the daemon shuts down.
fn stream_monitor(writer: &mut UnixStream, daemon: &Mutex<Daemon>) -> io::Result<()> {
    let rx = lock(daemon).subscribe();
    respond(writer, Response::MonitorStarted)?;
    let fd = writer.as_raw_fd();
    loop {
        match rx.recv_timeout(MONITOR_POLL) {
            Ok(m) => respond(writer, Response::Message(m))?,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                let [gone] = sys::poll_readable([fd], 0)?;
                if gone || lock(daemon).is_shut_down() {
                    return Ok(());
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
}
