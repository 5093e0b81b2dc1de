//! Blocking client for the daemon's management socket.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::types::{
    ApiError, ErrorKind, MonitorMessage, Request, RequestEnvelope, Response, ResponseEnvelope,
};
use crate::{MAX_RESPONSE_LINE, PROTOCOL_VERSION};

/// How long a call waits for the daemon before giving up, so a wedged
/// daemon cannot hang a script forever.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call did not produce a daemon answer.
#[derive(Debug)]
pub enum ClientError {
    /// Nothing listens on the socket (missing file or connection refused).
    DaemonNotRunning { path: PathBuf },
    /// The socket refused us, or the daemon refused our credentials (not root).
    PermissionDenied { path: PathBuf },
    /// The daemon speaks another protocol version.
    VersionMismatch { ours: u32, theirs: u32 },
    /// The daemon sent something that is not a valid response line.
    Protocol { reason: String },
    /// Socket I/O failed.
    Io { context: String, source: io::Error },
    /// The daemon refused the request.
    Api(ApiError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::DaemonNotRunning { path } => write!(
                f,
                "l2tpd is not running (nothing listens on {p}). Start it as root with \
                 `l2tpd --socket {p}`, or point l2tp at another daemon with \
                 --socket PATH or the L2TP_SOCKET environment variable",
                p = path.display()
            ),
            ClientError::PermissionDenied { path } => write!(
                f,
                "permission denied talking to l2tpd on {}: only root may manage L2TP tunnels",
                path.display()
            ),
            ClientError::VersionMismatch { ours, theirs } => write!(
                f,
                "l2tpd speaks management protocol version {theirs}, this l2tp speaks {ours}: \
                 use matching versions of l2tp and l2tpd"
            ),
            ClientError::Protocol { reason } => write!(f, "bad response from l2tpd: {reason}"),
            ClientError::Io { context, source } => write!(f, "{context}: {source}"),
            ClientError::Api(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Io { source, .. } => Some(source),
            ClientError::Api(e) => Some(e),
            _ => None,
        }
    }
}

/// One connection to `l2tpd`. Requests are answered in order.
pub struct Client {
    path: PathBuf,
    writer: UnixStream,
    reader: BufReader<UnixStream>,
    server: String,
}

impl Client {
    /// Connects and performs the version handshake.
    pub fn connect(path: impl AsRef<Path>) -> Result<Client, ClientError> {
        let path = path.as_ref().to_path_buf();
        let stream = UnixStream::connect(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused => {
                ClientError::DaemonNotRunning { path: path.clone() }
            }
            io::ErrorKind::PermissionDenied => ClientError::PermissionDenied { path: path.clone() },
            _ => ClientError::Io {
                context: format!("connecting to {}", path.display()),
                source: e,
            },
        })?;
        let io_err = |context: &str, source| ClientError::Io {
            context: context.to_string(),
            source,
        };
        stream
            .set_read_timeout(Some(CALL_TIMEOUT))
            .map_err(|e| io_err("setting socket timeout", e))?;
        stream
            .set_write_timeout(Some(CALL_TIMEOUT))
            .map_err(|e| io_err("setting socket timeout", e))?;
        let reader = BufReader::new(
            stream
                .try_clone()
                .map_err(|e| io_err("duplicating socket", e))?,
        );
        let mut client = Client {
            path,
            writer: stream,
            reader,
            server: String::new(),
        };
        let hello = Request::Hello {
            client: format!("l2tp {}", env!("CARGO_PKG_VERSION")),
        };
        match client.call(hello) {
            Ok(Response::Hello { version, server }) => {
                if version != PROTOCOL_VERSION {
                    return Err(ClientError::VersionMismatch {
                        ours: PROTOCOL_VERSION,
                        theirs: version,
                    });
                }
                client.server = server;
                Ok(client)
            }
            Ok(other) => Err(ClientError::Protocol {
                reason: format!("expected a hello response, got {other:?}"),
            }),
            Err(ClientError::Api(e)) if e.kind == ErrorKind::PermissionDenied => {
                Err(ClientError::PermissionDenied { path: client.path })
            }
            Err(e) => Err(e),
        }
    }

    /// The socket this client is connected to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The daemon's self-description from the handshake, e.g. "l2tpd 0.1.0".
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Sends one request and waits for its response. A refusal by the daemon
    /// comes back as [`ClientError::Api`].
    pub fn call(&mut self, request: Request) -> Result<Response, ClientError> {
        let env = RequestEnvelope {
            version: PROTOCOL_VERSION,
            request,
        };
        let mut line = serde_json::to_vec(&env).map_err(|e| ClientError::Protocol {
            reason: format!("cannot encode request: {e}"),
        })?;
        line.push(b'\n');
        self.writer
            .write_all(&line)
            .map_err(|e| self.io_error("sending request to l2tpd", e))?;
        let env = self
            .read_envelope("reading response from l2tpd")?
            .ok_or_else(|| ClientError::Protocol {
                reason: "l2tpd closed the connection without answering".into(),
            })?;
        if env.version != PROTOCOL_VERSION {
            return Err(ClientError::VersionMismatch {
                ours: PROTOCOL_VERSION,
                theirs: env.version,
            });
        }
        match env.response {
            Response::Error(e) => Err(ClientError::Api(e)),
            other => Ok(other),
        }
    }

    /// Turns the connection into a monitor stream of control messages. The
    /// stream has no timeout: it waits as long as the daemon is quiet.
    pub fn monitor(mut self) -> Result<MonitorStream, ClientError> {
        match self.call(Request::Monitor)? {
            Response::MonitorStarted => {}
            other => {
                return Err(ClientError::Protocol {
                    reason: format!("expected the start of a monitor stream, got {other:?}"),
                })
            }
        }
        self.writer
            .set_read_timeout(None)
            .map_err(|e| self.io_error("clearing the socket timeout", e))?;
        Ok(MonitorStream { client: self })
    }

    /// Reads one response line (without sending anything).
    fn read_response(&mut self) -> Result<Option<Response>, ClientError> {
        match self.read_envelope("reading from l2tpd")? {
            None => Ok(None),
            Some(ResponseEnvelope {
                response: Response::Error(e),
                ..
            }) => Err(ClientError::Api(e)),
            Some(env) => Ok(Some(env.response)),
        }
    }

    /// Reads and decodes one line of at most [`MAX_RESPONSE_LINE`] bytes;
    /// `None` when the daemon closed the connection before it began.
    fn read_envelope(&mut self, what: &str) -> Result<Option<ResponseEnvelope>, ClientError> {
        let mut buf = Vec::new();
        let limit = MAX_RESPONSE_LINE as u64 + 1;
        let n = (&mut self.reader)
            .take(limit)
            .read_until(b'\n', &mut buf)
            .map_err(|e| self.io_error(what, e))?;
        if n == 0 {
            return Ok(None);
        }
        if buf.last() != Some(&b'\n') {
            return Err(ClientError::Protocol {
                reason: if buf.len() > MAX_RESPONSE_LINE {
                    format!("response longer than {MAX_RESPONSE_LINE} bytes")
                } else {
                    "response line cut short".into()
                },
            });
        }
        serde_json::from_slice(&buf)
            .map(Some)
            .map_err(|e| ClientError::Protocol {
                reason: format!("cannot decode response: {e}"),
            })
    }

    fn io_error(&self, what: &str, source: io::Error) -> ClientError {
        if matches!(
            source.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
        ) {
            return ClientError::Io {
                context: format!(
                    "{what} ({}): no answer within {} s",
                    self.path.display(),
                    CALL_TIMEOUT.as_secs()
                ),
                source,
            };
        }
        ClientError::Io {
            context: format!("{what} ({})", self.path.display()),
            source,
        }
    }
}

/// Control messages from `l2tp monitor`, in the order the daemon saw them.
pub struct MonitorStream {
    client: Client,
}

impl MonitorStream {
    /// The next message; `Ok(None)` when the daemon closed the stream.
    pub fn next_message(&mut self) -> Result<Option<MonitorMessage>, ClientError> {
        loop {
            match self.client.read_response()? {
                None => return Ok(None),
                Some(Response::Message(m)) => return Ok(Some(m)),
                // Kinds a newer daemon may interleave are skipped.
                Some(_) => continue,
            }
        }
    }
}

impl Iterator for MonitorStream {
    type Item = Result<MonitorMessage, ClientError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_message().transpose()
    }
}
