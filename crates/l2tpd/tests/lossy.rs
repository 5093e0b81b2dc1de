//! The dynamic pseudowire comes up over a bad path: nftables drops 30 % of
//! the control messages each LCCE sends, and a relay of ours between them
//! duplicates and reorders control messages.
//!
//! ```text
//!   A 198.18.1.1 ── 198.18.1.254 [relay in M] 198.18.2.254 ── 198.18.2.2 B
//! ```

mod common;
mod lcce;

use std::fs::File;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::*;
use lcce::*;

fn enter_netns(ns: &str) {
    let f = File::open(format!("/var/run/netns/{ns}")).expect("namespace file");
    // SAFETY: setns(2) on a descriptor we hold open for the call.
    let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
}

#[derive(Default)]
struct RelayStats {
    forwarded: AtomicU64,
    duplicated: AtomicU64,
    reordered: AtomicU64,
}

/// A UDP relay in namespace M: what A sends to 198.18.1.254:1701 goes to
/// B from 198.18.2.254:1701 and back. Every fourth control message (T bit
/// set) is sent twice and every fifth is held back behind the next packet.
struct Relay {
    stop: Arc<AtomicBool>,
    stats: Arc<RelayStats>,
    threads: Vec<JoinHandle<()>>,
}

impl Relay {
    fn start(ns: &str, a: SocketAddr, b: SocketAddr) -> Relay {
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(RelayStats::default());
        let (tx, rx) = std::sync::mpsc::channel();
        let ns = ns.to_string();
        std::thread::spawn(move || {
            enter_netns(&ns);
            let sa = UdpSocket::bind("198.18.1.254:1701").unwrap();
            let sb = UdpSocket::bind("198.18.2.254:1701").unwrap();
            tx.send((sa, sb)).unwrap();
        })
        .join()
        .unwrap();
        let (sa, sb) = rx.recv().unwrap();
        let mut threads = Vec::new();
        for (from, to, dst) in [
            (sa.try_clone().unwrap(), sb.try_clone().unwrap(), b),
            (sb, sa, a),
        ] {
            let (stop, stats) = (Arc::clone(&stop), Arc::clone(&stats));
            threads.push(std::thread::spawn(move || {
                forward(&from, &to, dst, &stop, &stats)
            }));
        }
        Relay {
            stop,
            stats,
            threads,
        }
    }
}

fn forward(from: &UdpSocket, to: &UdpSocket, dst: SocketAddr, stop: &AtomicBool, st: &RelayStats) {
    from.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = [0u8; 65536];
    let mut held: Option<Vec<u8>> = None;
    let mut control = 0u64;
    while !stop.load(Relaxed) {
        let n = match from.recv_from(&mut buf) {
            Ok((n, _)) => n,
            Err(_) => {
                if let Some(h) = held.take() {
                    let _ = to.send_to(&h, dst);
                }
                continue;
            }
        };
        let pkt = &buf[..n];
        st.forwarded.fetch_add(1, Relaxed);
        let is_control = pkt.first().is_some_and(|b| b & 0x80 != 0);
        if is_control {
            control += 1;
            if control % 5 == 3 && held.is_none() {
                held = Some(pkt.to_vec());
                st.reordered.fetch_add(1, Relaxed);
                continue;
            }
        }
        let _ = to.send_to(pkt, dst);
        if is_control && control % 4 == 1 {
            let _ = to.send_to(pkt, dst);
            st.duplicated.fetch_add(1, Relaxed);
        }
        if let Some(h) = held.take() {
            let _ = to.send_to(&h, dst);
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Drops 30 % of the UDP packets to port 1701 with the T bit set (the
/// first bit after the 8-byte UDP header): control messages only.
fn lossy(ns: &Netns) {
    ns.sh_ok(
        "nft add table inet t && \
         nft add chain inet t o '{ type filter hook output priority 0; }' && \
         nft add rule inet t o udp dport 1701 @th,64,1 1 numgen random mod 100 '<' 30 counter drop",
    );
}

fn dropped(ns: &Netns) -> u64 {
    let out = ns.sh_ok("nft list chain inet t o");
    out.split_whitespace()
        .skip_while(|w| *w != "packets")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn stat(t: &serde_json::Value, k: &str) -> u64 {
    t["control"]["stats"][k].as_u64().unwrap_or(0)
}

#[test]
fn comes_up_through_loss_duplication_and_reordering() {
    let a = Netns::new("lossa");
    let m = Netns::new("lossm");
    let b = Netns::new("lossb");
    sh_ok(&format!(
        "ip link add ul0 netns {} type veth peer name mid0 netns {}",
        a.name, m.name
    ));
    sh_ok(&format!(
        "ip link add mid1 netns {} type veth peer name ul0 netns {}",
        m.name, b.name
    ));
    a.sh_ok("ip addr add 198.18.1.1/24 dev ul0 && ip link set ul0 up");
    m.sh_ok(
        "ip addr add 198.18.1.254/24 dev mid0 && ip link set dev mid0 up && \
         ip addr add 198.18.2.254/24 dev mid1 && ip link set dev mid1 up",
    );
    b.sh_ok("ip addr add 198.18.2.2/24 dev ul0 && ip link set ul0 up");
    lossy(&a);
    lossy(&b);
    let relay = Relay::start(
        &m.name,
        "198.18.1.1:1701".parse().unwrap(),
        "198.18.2.2:1701".parse().unwrap(),
    );

    let dir = TempDir::new("loss");
    let extra = "hello_interval = 1\nretransmit_initial = 0.3\nretransmit_max = 1\n\
                 retransmit_retries = 10\nretry_interval = 1\n";
    let mut ta = Tun::new("to-b", "198.18.1.1", "198.18.1.254", true)
        .session("remote_end_id = \"pw-1\"\nname = \"pw1\"\ncookie_len = 4")
        .session("remote_end_id = \"pw-2\"\npw_type = \"none\"")
        .session("remote_end_id = \"pw-3\"\npw_type = \"none\"");
    ta.extra = extra.into();
    let mut tb = Tun::new("from-a", "198.18.2.2", "198.18.2.254", false)
        .session("remote_end_id = \"pw-1\"\nname = \"pw1\"\ncookie_len = 8")
        .session("pw_type = \"none\"");
    tb.extra = extra.into();
    let db = Daemon::start_config(&b, &dir.write("b.toml", &tb.toml("lcce-b")));
    let t0 = Instant::now();
    let da = Daemon::start_config(&a, &dir.write("a.toml", &ta.toml("lcce-a")));
    let up = wait_for(Duration::from_secs(40), || {
        dynamic_sessions(&da).len() == 3 && dynamic_sessions(&db).len() == 3
    });
    assert!(up, "not up:\nA:\n{}\nB:\n{}", da.log_text(), db.log_text());
    println!("up through loss in {:?}", t0.elapsed());
    a.sh_ok("ip addr add 198.19.0.1/24 dev pw1");
    b.sh_ok("ip addr add 198.19.0.2/24 dev pw1");
    assert!(ping(&a, "198.19.0.2"), "no ping through the lossy path");

    // HELLOs keep it up under the same loss.
    std::thread::sleep(Duration::from_secs(4));
    let ta = tunnels(&da);
    let tb = tunnels(&db);
    assert_eq!(ta.len(), 1, "{ta:?}");
    assert_eq!(ta[0]["control"]["state"], "established");
    assert_eq!(tb[0]["control"]["state"], "established");
    assert_eq!(dynamic_sessions(&da).len(), 3);

    let (drop_a, drop_b) = (dropped(&a), dropped(&b));
    let retx = stat(&ta[0], "retransmissions") + stat(&tb[0], "retransmissions");
    let dups = stat(&ta[0], "duplicates") + stat(&tb[0], "duplicates");
    let ooo = stat(&ta[0], "out_of_order") + stat(&tb[0], "out_of_order");
    let rs = &relay.stats;
    println!(
        "nft dropped A {drop_a} B {drop_b}; relay forwarded {} duplicated {} reordered {}; \
         control retransmissions {retx} duplicates {dups} out_of_order {ooo}",
        rs.forwarded.load(Relaxed),
        rs.duplicated.load(Relaxed),
        rs.reordered.load(Relaxed)
    );
    assert!(drop_a + drop_b > 0, "nothing was dropped");
    assert!(rs.duplicated.load(Relaxed) > 0 && rs.reordered.load(Relaxed) > 0);
    assert!(retx > 0, "losses without retransmissions");
    assert!(
        dups + ooo > 0,
        "the receivers saw no duplicate or reordered message"
    );
    drop(relay);
}
