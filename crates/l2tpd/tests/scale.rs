//! Figures: time to establish 1, 100 and 1,000 dynamic sessions over one
//! tunnel between two `l2tpd` on this machine. Ignored by default (it is a
//! measurement); run it with
//!
//! ```sh
//! cargo test --release -p l2tpd --test scale -- --ignored --nocapture
//! ```
//!
//! or `bench/controlplane/sessions.sh`. `L2TPD_SCALE` picks the runs, e.g.
//! `1:eth,100:eth,1000:none,1000:eth` (`eth`: a TAP device per session;
//! `none`: negotiated as Ethernet, no device).

mod common;
mod lcce;

use std::time::{Duration, Instant};

use common::*;
use lcce::*;

/// Seconds since midnight of a log line's RFC 3339 timestamp.
fn log_time(line: &str) -> Option<f64> {
    let t = line.split_whitespace().next()?;
    let time = t.split('T').nth(1)?.trim_end_matches('Z');
    let mut parts = time.split(':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

fn times(log: &str, needle: &str) -> Vec<f64> {
    log.lines()
        .filter(|l| l.contains(needle))
        .filter_map(log_time)
        .collect()
}

struct Figure {
    n: usize,
    kind: &'static str,
    wall: Duration,
    /// From A's SCCRQ to the tunnel up (log timestamps).
    tunnel: f64,
    /// From A's SCCRQ to the last session up on either side.
    sessions: f64,
}

fn run(n: usize, kind: &'static str) -> Figure {
    let (a, b) = veth_pair("scale");
    let dir = TempDir::new("scale");
    let pw = if kind == "eth" { "ethernet" } else { "none" };
    let mut ta = Tun::new("to-b", "198.18.0.1", "198.18.0.2", true);
    // Slow HELLOs: nothing but the set-up on the wire.
    ta.extra = "hello_interval = 60\n".into();
    for i in 0..n {
        ta = ta.session(&format!(
            "remote_end_id = \"pw-{i}\"\npw_type = \"{pw}\"\ncookie_len = 4"
        ));
    }
    let mut tb = Tun::new("from-a", "198.18.0.2", "198.18.0.1", false)
        .session(&format!("pw_type = \"{pw}\"\ncookie_len = 4"));
    tb.extra = ta.extra.clone();
    let db = Daemon::start_with(
        &b,
        socket_path("sb"),
        &[
            "--config",
            dir.write("b.toml", &tb.toml("lcce-b")).to_str().unwrap(),
            "--log-level",
            "info",
        ],
    );
    let t0 = Instant::now();
    let da = Daemon::start_with(
        &a,
        socket_path("sa"),
        &[
            "--config",
            dir.write("a.toml", &ta.toml("lcce-a")).to_str().unwrap(),
            "--log-level",
            "info",
        ],
    );
    let count = |d: &Daemon| d.log_text().matches("session up").count();
    let limit = Duration::from_secs(60 + n as u64 / 4);
    let up = wait_for(limit, || count(&da) >= n && count(&db) >= n);
    let wall = t0.elapsed();
    assert!(
        up,
        "{n} {kind}: A {} B {} sessions up after {wall:?}",
        count(&da),
        count(&db)
    );
    if kind == "eth" {
        let devices = b.sh_ok("ip -o link show | grep -c l2tpeth || true");
        assert_eq!(
            devices.trim().parse::<usize>().unwrap_or(0),
            n,
            "devices on B"
        );
    }
    let (la, lb) = (da.log_text(), db.log_text());
    let start = times(&la, "sending SCCRQ")[0];
    let tunnel = times(&la, "tunnel up")[0] - start;
    let last = times(&la, "session up")
        .into_iter()
        .chain(times(&lb, "session up"))
        .fold(f64::MIN, f64::max);
    let ctl = tunnels(&da);
    println!(
        "{n} {kind}: control stats A {}",
        ctl.first()
            .map_or(String::new(), |t| t["control"]["stats"].to_string())
    );
    Figure {
        n,
        kind,
        wall,
        tunnel,
        sessions: last - start,
    }
}

#[test]
#[ignore = "measurement; run with --ignored --nocapture"]
fn session_establishment_times() {
    let plan = std::env::var("L2TPD_SCALE").unwrap_or_else(|_| "1:eth,100:eth,1000:none".into());
    let mut figures = Vec::new();
    for item in plan.split(',') {
        let (n, kind) = item.split_once(':').unwrap_or((item, "eth"));
        let kind: &'static str = if kind == "none" { "none" } else { "eth" };
        figures.push(run(n.parse().expect("a session count"), kind));
    }
    println!("\nsessions  devices  tunnel_up_ms  all_sessions_up_ms  per_session_us  wall_ms(incl. start, polling)");
    for f in &figures {
        println!(
            "{:>8}  {:>7}  {:>12.1}  {:>18.1}  {:>14.0}  {:>8}",
            f.n,
            f.kind,
            f.tunnel * 1e3,
            f.sessions * 1e3,
            (f.sessions - f.tunnel) * 1e6 / f.n as f64,
            f.wall.as_millis()
        );
    }
}
