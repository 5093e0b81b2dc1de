//! `l2tpd`: the L2TP daemon. Runs in the foreground (systemd style),
//! serves the `l2tp` CLI on a Unix socket and drives the userspace data
//! plane. One daemon per network namespace, each with its own socket.

mod daemon;
mod server;
mod sys;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Parser;
use l2tp_api::DEFAULT_SOCKET;
use tracing::{error, info};
use tracing_subscriber::EnvFilter;

/// L2TP daemon: static L2TPv3 Ethernet pseudowires on a userspace data plane.
#[derive(Parser, Debug)]
#[command(name = "l2tpd", version)]
struct Options {
    /// Management socket the `l2tp` CLI connects to (created with mode 0600).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    socket: PathBuf,

    /// Log filter: error, warn, info, debug, trace (RUST_LOG overrides).
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log_level: String,

    /// Accepted for compatibility; l2tpd never daemonizes.
    #[arg(long, hide = true)]
    foreground: bool,

    /// Configuration file with tunnels and sessions to create at startup.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
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

/// Hook for `--config`: the requests to apply before serving clients.
fn startup_requests(opts: &Options) -> Result<Vec<l2tp_api::Request>, String> {
    match &opts.config {
        None => Ok(Vec::new()),
        Some(path) => Err(format!(
            "--config {}: configuration files are not supported yet",
            path.display()
        )),
    }
}

fn main() -> ExitCode {
    let opts = Options::parse();
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
    let startup = startup_requests(opts)?;
    let listener = server::Listener::bind(&opts.socket).map_err(|e| e.to_string())?;

    let mut daemon = daemon::Daemon::new(
        Box::new(l2tp_dataplane::UserspaceDataplane::new()),
        sys::device_exists,
    );
    for request in startup {
        if let l2tp_api::Response::Error(e) = daemon.handle(request) {
            daemon.shutdown();
            return Err(format!("applying configuration: {e}"));
        }
    }
    info!(
        version = env!("CARGO_PKG_VERSION"),
        pid = std::process::id(),
        "l2tpd starting"
    );
    let daemon = Arc::new(Mutex::new(daemon));
    server::serve(listener, &signals, daemon).map_err(|e| format!("serving: {e}"))
}
