//! `l2tpd`: the L2TP daemon. Runs in the foreground (systemd style),
//! serves the `l2tp` CLI on a Unix socket and drives the userspace data
//! plane. With `--config FILE` it is an RFC 3931 LCCE: it sets up dynamic
//! tunnels and sessions with its peers through the control protocol. One
//! daemon per network namespace, each with its own socket.

mod config;
mod control;
mod convert;
mod daemon;
mod lcce;
mod server;
mod sys;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{mpsc, Arc, Mutex};

use clap::Parser;
use l2tp_api::DEFAULT_SOCKET;
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

/// L2TP daemon: L2TPv3 Ethernet pseudowires on a userspace data plane, static
/// (`l2tp add ...`) or set up with peers by the control protocol (--config).
#[derive(Parser, Debug)]
#[command(name = "l2tpd", version)]
struct Options {
    /// Management socket the `l2tp` CLI connects to (created with mode 0600).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,

    /// Log filter: error, warn, info, debug, trace (RUST_LOG overrides).
    #[arg(
        long,
        value_name = "LEVEL",
        default_value = "info",
        overrides_with = "log_level"
    )]
    log_level: String,

    /// Accepted for compatibility; l2tpd never daemonizes.
    #[arg(long, hide = true)]
    foreground: bool,

    /// TOML file of dynamic tunnels and sessions (see examples/lcce-a.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Check the configuration file and exit.
    #[arg(long, requires = "config")]
    check_config: bool,
}

fn init_logging(level: &str) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => EnvFilter::try_new(&v).map_err(|e| format!("RUST_LOG: {e}"))?,
        _ => EnvFilter::try_new(level).map_err(|e| format!("--log-level {level}: {e}"))?,
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    Ok(())
}

fn main() -> ExitCode {
    let opts = Options::parse();
    if opts.check_config {
        return match opts.config.as_deref().map(config::load) {
            Some(Ok(c)) => {
                println!(
                    "{}: OK ({} tunnels, {} sessions)",
                    opts.config
                        .as_deref()
                        .map_or(String::new(), |p| p.display().to_string()),
                    c.tunnels.len(),
                    c.tunnels.iter().map(|t| t.sessions.len()).sum::<usize>()
                );
                ExitCode::SUCCESS
            }
            Some(Err(e)) => {
                eprintln!("l2tpd: {e}");
                ExitCode::from(2)
            }
            None => ExitCode::from(2),
        };
    }
    if let Err(e) = init_logging(&opts.log_level) {
        eprintln!("l2tpd: {e}");
        return ExitCode::from(2);
    }
    match run(&opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn run(opts: &Options) -> Result<(), String> {
    // Before any thread exists, so every thread inherits the mask and the
    // signals only arrive through the signalfd.
    let set = sys::block_signals(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP])
        .map_err(|e| format!("blocking signals: {e}"))?;
    let signals = sys::SignalFd::new(&set).map_err(|e| format!("creating signalfd: {e}"))?;
    let config = match &opts.config {
        Some(path) => Some(config::load(path).map_err(|e| e.to_string())?),
        None => None,
    };
    let listener = server::Listener::bind(&opts.socket).map_err(|e| e.to_string())?;

    // Control messages arriving on data-plane sockets go to the control
    // thread; a full queue drops them (the peer retransmits).
    let (tx, rx) = mpsc::sync_channel::<lcce::ControlInput>(lcce::CONTROL_QUEUE);
    let mut dataplane = l2tp_dataplane::UserspaceDataplane::new();
    let handler_tx = tx.clone();
    dataplane.set_control_handler(Some(Arc::new(
        move |p: &l2tp_dataplane::ControlPacket<'_>| {
            let _ = handler_tx.try_send(lcce::ControlInput::Datagram {
                encap: convert::api_encap(p.encap),
                local: p.local,
                peer: p.peer,
                data: p.data.to_vec(),
            });
        },
    )));
    let mut daemon = daemon::Daemon::new(Box::new(dataplane), sys::device_exists);
    info!(
        version = env!("CARGO_PKG_VERSION"),
        pid = std::process::id(),
        "l2tpd starting"
    );
    if let Some(c) = config {
        info!(tunnels = c.tunnels.len(), host_name = %c.host_name, router_id = c.router_id, "control plane configured");
        if let Err(e) = daemon.start_lcce(c, tx.clone()) {
            daemon.shutdown();
            return Err(format!("starting the control plane: {e}"));
        }
    }
    let daemon = Arc::new(Mutex::new(daemon));
    let control = control::spawn(Arc::clone(&daemon), rx)
        .map_err(|e| format!("starting the control thread: {e}"))?;
    let result = server::serve(listener, &signals, Arc::clone(&daemon));
    // The daemon is shut down: wake the control thread so it notices.
    let _ = tx.try_send(lcce::ControlInput::Wake);
    drop(tx);
    let _ = control.join();
    result.map_err(|e| format!("serving: {e}"))
}
