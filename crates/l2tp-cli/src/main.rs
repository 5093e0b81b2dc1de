//! `l2tp`: manage L2TPv3 pseudowires on `l2tpd` with the `ip l2tp`
//! grammar (static ones, and dynamic sessions the daemon negotiates with its
//! peers), watch the control protocol (`l2tp monitor`) and decode L2TP
//! captures (`l2tp decode`).
//!
//! Exit status, as `ip`: 0 success, 255 (-1) command-line error,
//! 1 cannot reach the daemon, 2 the daemon refused the request.

mod decode;
mod grammar;
mod show;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use grammar::{Command, Global, USAGE};
use l2tp_api::{Client, ClientError, Request, Response, DEFAULT_SOCKET, SOCKET_ENV};

const EXIT_USAGE: u8 = 255;
const EXIT_CONNECT: u8 = 1;
const EXIT_REFUSED: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let mut warnings = Vec::new();
    let parsed = grammar::parse(&args, &mut warnings);
    for w in &warnings {
        eprintln!("{w}");
    }
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("{e}");
            if e.wants_usage() {
                eprint!("{USAGE}");
            }
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match parsed.command {
        Command::Help => {
            out(USAGE);
            ExitCode::SUCCESS
        }
        Command::Version => {
            out(&format!("l2tp {}\n", env!("CARGO_PKG_VERSION")));
            ExitCode::SUCCESS
        }
        Command::Decode(rest) => decode::run(&rest),
        command => match run(&parsed.global, command) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e}");
                ExitCode::from(match e {
                    ClientError::Api(_) => EXIT_REFUSED,
                    _ => EXIT_CONNECT,
                })
            }
        },
    }
}

/// Writes to stdout, ignoring a closed pipe (`l2tp show tunnel | head`).
fn out(s: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(s.as_bytes());
    let _ = stdout.flush();
}

/// `--socket`, else `$L2TP_SOCKET`, else the default.
fn socket_path(global: &Global) -> PathBuf {
    if let Some(p) = &global.socket {
        return p.clone();
    }
    match std::env::var_os(SOCKET_ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(DEFAULT_SOCKET),
    }
}

fn unexpected(r: Response) -> ClientError {
    ClientError::Protocol {
        reason: format!("unexpected response {r:?}"),
    }
}

fn run(global: &Global, command: Command) -> Result<(), ClientError> {
    let mut client = Client::connect(socket_path(global))?;
    match command {
        Command::Add { tunnel, session } => {
            if let Some(t) = tunnel {
                match client.call(Request::AddTunnel(t))? {
                    Response::TunnelAdded(_) => {}
                    r => return Err(unexpected(r)),
                }
            }
            if let Some(s) = session {
                match client.call(Request::AddSession(s))? {
                    Response::SessionAdded(_) => {}
                    r => return Err(unexpected(r)),
                }
            }
        }
        Command::DelTunnel { tunnel_id } => match client.call(Request::DelTunnel { tunnel_id })? {
            Response::Done => {}
            r => return Err(unexpected(r)),
        },
        Command::DelSession {
            tunnel_id,
            session_id,
        } => match client.call(Request::DelSession {
            tunnel_id,
            session_id,
        })? {
            Response::Done => {}
            r => return Err(unexpected(r)),
        },
        Command::ShowTunnel { tunnel_id } => {
            match client.call(Request::ShowTunnels { tunnel_id })? {
                Response::Tunnels { tunnels } => out(&if global.json {
                    show::tunnels_json(&tunnels, global.stats, global.pretty)
                } else {
                    show::tunnels_text(&tunnels, global.stats)
                }),
                r => return Err(unexpected(r)),
            }
        }
        Command::ShowSession {
            tunnel_id,
            session_id,
        } => match client.call(Request::ShowSessions {
            tunnel_id,
            session_id,
        })? {
            Response::Sessions { sessions } => out(&if global.json {
                show::sessions_json(&sessions, global.stats, global.pretty)
            } else {
                show::sessions_text(&sessions, global.stats)
            }),
            r => return Err(unexpected(r)),
        },
        Command::AddDynamic(spec) => match client.call(Request::AddDynamicSession(spec))? {
            Response::SessionRequested {
                tunnel_id,
                session_id,
            } => out(&if global.json {
                format!("{{\"tunnel_id\":{tunnel_id},\"session_id\":{session_id}}}\n")
            } else {
                format!("Requested session {session_id} in tunnel {tunnel_id}\n")
            }),
            r => return Err(unexpected(r)),
        },
        Command::ShowControl => match client.call(Request::ShowControl)? {
            Response::Control(c) => out(&if global.json {
                show::control_status_json(&c, global.pretty)
            } else {
                show::control_status_text(&c)
            }),
            r => return Err(unexpected(r)),
        },
        Command::Monitor => {
            for m in client.monitor()? {
                let m = m?;
                let line = if global.json {
                    show::monitor_json(&m)
                } else {
                    show::monitor_text(&m)
                };
                // Stop when the reader went away (`l2tp monitor | head`).
                let mut stdout = std::io::stdout().lock();
                if stdout
                    .write_all(line.as_bytes())
                    .and_then(|()| stdout.flush())
                    .is_err()
                {
                    break;
                }
            }
        }
        Command::Help | Command::Version | Command::Decode(_) => {}
    }
    Ok(())
}
