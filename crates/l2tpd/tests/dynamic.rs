//! Two real `l2tpd` processes in two namespaces set up a dynamic L2TPv3
//! Ethernet pseudowire from configuration files (RFC 3931 control
//! protocol), over UDP and IP, IPv4 and IPv6; traffic crosses it; tshark
//! decodes the captured exchange. Also: authentication, a peer killed and
//! restarted, run-time sessions, `l2tp monitor`.

mod common;
mod lcce;

use std::time::{Duration, Instant};

use common::*;
use lcce::*;

const UP: Duration = Duration::from_secs(15);

struct Case {
    encap: &'static str,
    v6: bool,
    secret: Option<(&'static str, &'static str)>,
}

fn addrs(v6: bool) -> (&'static str, &'static str) {
    if v6 {
        ("2001:db8:ff::1", "2001:db8:ff::2")
    } else {
        ("198.18.0.1", "198.18.0.2")
    }
}

/// A initiates with session "pw-1" on l2tpeth0 (8-byte cookie); B accepts
/// it onto its own l2tpeth0 (4-byte cookie).
fn pair_configs(c: &Case) -> (Tun, Tun) {
    let (a, b) = addrs(c.v6);
    let mut ta = Tun::new("to-b", a, b, true).session(
        "pw_type = \"ethernet\"\nremote_end_id = \"pw-1\"\nname = \"l2tpeth0\"\ncookie_len = 8",
    );
    let mut tb = Tun::new("from-a", b, a, false)
        .session("remote_end_id = \"pw-1\"\nname = \"l2tpeth0\"\ncookie_len = 4");
    ta.encap = c.encap;
    tb.encap = c.encap;
    if let Some((secret, digest)) = c.secret {
        ta.secret = Some(secret);
        tb.secret = Some(secret);
        ta.digest = digest;
        tb.digest = digest;
    }
    (ta, tb)
}

fn run_case(c: Case) {
    let tag = format!("{}{}", c.encap, if c.v6 { 6 } else { 4 });
    let (a, b) = veth_pair(&tag);
    let dir = TempDir::new(&tag);
    let (ta, tb) = pair_configs(&c);
    let cfg_a = dir.write("lcce-a.toml", &ta.toml("lcce-a"));
    let cfg_b = dir.write("lcce-b.toml", &tb.toml("lcce-b"));
    let mut cap = Capture::start(&a, "ul0", dir.path("a.pcap"));

    let mut db = Daemon::start_config(&b, &cfg_b);
    let t0 = Instant::now();
    let mut da = Daemon::start_config(&a, &cfg_a);
    let up = wait_for(UP, || {
        dynamic_sessions(&da).len() == 1 && dynamic_sessions(&db).len() == 1
    });
    assert!(
        up,
        "{tag}: no session\nA:\n{}\nB:\n{}",
        da.log_text(),
        db.log_text()
    );
    println!("{tag}: session up in {:?}", t0.elapsed());
    let sa = &dynamic_sessions(&da)[0];
    let sb = &dynamic_sessions(&db)[0];
    // The negotiated IDs and random cookies match crosswise.
    assert_eq!(sa["peer_session_id"], sb["session_id"]);
    assert_eq!(sa["session_id"], sb["peer_session_id"]);
    assert_eq!(sa["tunnel_id"], sb["peer_tunnel_id"]);
    assert_eq!(sa["cookie"], sb["peer_cookie"]);
    assert_eq!(sa["peer_cookie"], sb["cookie"]);
    assert_eq!(
        sa["cookie"].as_str().map(str::len),
        Some(8),
        "B's 4-byte cookie, hex"
    );
    assert_eq!(sa["peer_cookie"].as_str().map(str::len), Some(16));
    assert_eq!(sa["interface"], "l2tpeth0");
    assert_eq!(sa["control"]["remote_end_id"], "pw-1");
    let t = &tunnels(&da)[0];
    assert_eq!(t["origin"], "dynamic");
    assert_eq!(t["control"]["state"], "established");
    assert_eq!(t["control"]["name"], "to-b");
    assert_eq!(t["control"]["peer_host_name"], "lcce-b");
    assert_eq!(t["encap"], if c.encap == "ip" { "IP" } else { "UDP" });

    let (oa, ob) = if c.v6 {
        ("2001:db8:aa::1/64 nodad", "2001:db8:aa::2")
    } else {
        ("198.19.0.1/24", "198.19.0.2")
    };
    let ob_cidr = if c.v6 {
        "2001:db8:aa::2/64 nodad".to_string()
    } else {
        format!("{ob}/24")
    };
    a.sh_ok(&format!("ip addr add {oa} dev l2tpeth0"));
    b.sh_ok(&format!("ip addr add {ob_cidr} dev l2tpeth0"));
    assert!(ping(&a, ob), "{tag}: ping across the pseudowire failed");
    let s = &dynamic_sessions(&da)[0];
    assert!(s["stats"]["rx_packets"].as_u64().unwrap_or(0) >= 3, "{s}");

    // Quiet for a while: HELLOs keep the tunnel alive.
    std::thread::sleep(Duration::from_millis(2500));
    let t = &tunnels(&da)[0];
    assert!(
        t["control"]["stats"]["hellos_sent"].as_u64().unwrap_or(0) >= 1,
        "{t}"
    );

    // A clean stop says goodbye: B tears down at once and drops its device.
    da.stop_with(libc::SIGTERM);
    assert!(
        wait_for(Duration::from_secs(3), || !b.has_link("l2tpeth0")),
        "{tag}: B kept its device after A's StopCCN\n{}",
        db.log_text()
    );
    assert!(!a.has_link("l2tpeth0"));
    assert!(
        wait_for(Duration::from_secs(2), || db
            .log_text()
            .contains("peer sent StopCCN")),
        "{}",
        db.log_text()
    );
    db.stop_with(libc::SIGTERM);

    let pcap = cap.stop().to_path_buf();
    let verbose = tshark(&pcap, &["-V"]);
    assert!(
        !verbose.contains("Malformed") && !verbose.contains("[Expert Info (Error"),
        "{tag}: tshark found malformed packets in {}",
        pcap.display()
    );
    let msgs = control_messages(&pcap);
    let kinds: Vec<&str> = msgs.iter().map(|(k, _)| k.as_str()).collect();
    println!("{tag}: control messages {kinds:?}");
    // SCCRQ SCCRP SCCCN ICRQ ICRP ICCN HELLO StopCCN
    for k in ["1", "2", "3", "10", "11", "12", "6", "4"] {
        assert!(
            kinds.contains(&k),
            "{tag}: message type {k} missing: {kinds:?}"
        );
    }
    match c.secret {
        None => {
            assert!(kinds.contains(&""), "{tag}: no ZLB acknowledgement");
            assert!(msgs.iter().all(|(_, d)| !d), "{tag}: digest without secret");
        }
        Some((secret, _)) => {
            // With authentication acknowledgements are explicit ACKs (20).
            assert!(kinds.contains(&"20"), "{tag}: no ACK: {kinds:?}");
            assert!(!kinds.contains(&""), "{tag}: ZLB sent with authentication");
            assert!(
                msgs.iter().all(|(_, d)| *d),
                "{tag}: a message lacks its digest"
            );
            let good = tshark(
                &pcap,
                &["-V", "-o", &format!("l2tp.shared_secret:{secret}")],
            );
            assert_eq!(good.matches("Incorrect Digest").count(), 0, "{tag}");
            let bad = tshark(&pcap, &["-V", "-o", "l2tp.shared_secret:wrong"]);
            assert!(
                bad.matches("Incorrect Digest").count() >= msgs.len(),
                "{tag}"
            );
        }
    }
}

#[test]
fn udp_ipv4_with_md5_digest() {
    run_case(Case {
        encap: "udp",
        v6: false,
        secret: Some(("lcce-secret", "md5")),
    });
}

#[test]
fn udp_ipv6() {
    run_case(Case {
        encap: "udp",
        v6: true,
        secret: None,
    });
}

#[test]
fn ip_ipv4() {
    run_case(Case {
        encap: "ip",
        v6: false,
        secret: None,
    });
}

#[test]
fn ip_ipv6_with_sha1_digest() {
    run_case(Case {
        encap: "ip",
        v6: true,
        secret: Some(("lcce-secret", "sha1")),
    });
}

#[test]
fn wrong_secret_never_comes_up_and_says_why() {
    let (a, b) = veth_pair("auth");
    let dir = TempDir::new("auth");
    let (mut ta, mut tb) = pair_configs(&Case {
        encap: "udp",
        v6: false,
        secret: None,
    });
    ta.secret = Some("one-secret");
    tb.secret = Some("another-secret");
    let da_cfg = dir.write("a.toml", &ta.toml("lcce-a"));
    let db_cfg = dir.write("b.toml", &tb.toml("lcce-b"));
    let db = Daemon::start_config(&b, &db_cfg);
    let da = Daemon::start_config(&a, &da_cfg);
    // A retransmits its SCCRQ (0.5 + 1 + 1 + 1 s), gives up, retries.
    std::thread::sleep(Duration::from_secs(6));
    assert!(dynamic_sessions(&da).is_empty() && dynamic_sessions(&db).is_empty());
    assert!(!a.has_link("l2tpeth0") && !b.has_link("l2tpeth0"));
    assert!(
        tunnels(&db).is_empty(),
        "B accepted a peer with another secret"
    );
    let log_b = db.log_text();
    assert!(
        log_b.contains("Message Digest did not verify"),
        "B's log does not say why:\n{log_b}"
    );
    let cb = control(&db);
    assert!(
        cb["endpoints"][0]["bad_digest"].as_u64().unwrap_or(0) >= 2,
        "{cb}"
    );
    let ca = control(&da);
    let t = &ca["tunnels"][0];
    assert!(
        t["established"] == 0 && t["attempts"].as_u64().unwrap_or(0) >= 2,
        "{ca}"
    );
    assert!(
        t["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("stopped acknowledging")),
        "{ca}"
    );
    let text = db.l2tp_ok("show control");
    assert!(text.contains("bad_digest"), "{text}");
}

/// SIGKILL one side: the other notices by HELLO timeout, removes the
/// devices, and the pseudowire returns when the killed daemon restarts.
#[test]
fn killed_peer_is_noticed_and_the_pseudowire_returns() {
    let (a, b) = veth_pair("kill");
    let dir = TempDir::new("kill");
    let (ta, tb) = pair_configs(&Case {
        encap: "udp",
        v6: false,
        secret: Some(("k", "md5")),
    });
    let cfg_a = dir.write("a.toml", &ta.toml("lcce-a"));
    let cfg_b = dir.write("b.toml", &tb.toml("lcce-b"));
    let args_a = ["--config", cfg_a.to_str().unwrap()];
    let args_b = ["--config", cfg_b.to_str().unwrap()];
    let mut db = Daemon::start_config(&b, &cfg_b);
    let mut da = Daemon::start_config(&a, &cfg_a);
    let both_up = |da: &Daemon, db: &Daemon| {
        wait_for(UP, || {
            dynamic_sessions(da).len() == 1 && dynamic_sessions(db).len() == 1
        })
    };
    let addresses = || {
        a.sh_ok("ip addr add 198.19.0.1/24 dev l2tpeth0");
        b.sh_ok("ip addr add 198.19.0.2/24 dev l2tpeth0");
    };
    assert!(both_up(&da, &db), "{}\n{}", da.log_text(), db.log_text());
    addresses();
    assert!(ping(&a, "198.19.0.2"));

    // HELLO after 1 s idle, then 0.5 + 1 + 1 + 1 s of retransmissions.
    let budget = Duration::from_millis(1000 + 3500 + 1500);
    for victim_is_b in [true, false] {
        let t0 = Instant::now();
        let (victim_ns, survivor_ns) = if victim_is_b { (&b, &a) } else { (&a, &b) };
        if victim_is_b {
            db.kill9();
        } else {
            da.kill9();
        }
        assert!(
            wait_for(Duration::from_secs(1), || !victim_ns.has_link("l2tpeth0")),
            "TAP outlived its process"
        );
        let survivor = if victim_is_b { &da } else { &db };
        let noticed = wait_for(budget + Duration::from_secs(2), || {
            !survivor_ns.has_link("l2tpeth0")
        });
        let took = t0.elapsed();
        assert!(
            noticed,
            "survivor kept its device:\n{}",
            survivor.log_text()
        );
        println!("victim_is_b={victim_is_b}: peer loss noticed after {took:?}");
        assert!(took <= budget + Duration::from_millis(500), "{took:?}");
        assert!(dynamic_sessions(survivor).is_empty());
        assert!(survivor.log_text().contains("stopped acknowledging"));

        if victim_is_b {
            db.restart(&b, &args_b);
        } else {
            da.restart(&a, &args_a);
        }
        let t1 = Instant::now();
        assert!(
            both_up(&da, &db),
            "no comeback\n{}\n{}",
            da.log_text(),
            db.log_text()
        );
        println!(
            "victim_is_b={victim_is_b}: back up after {:?}",
            t1.elapsed()
        );
        addresses();
        assert!(ping(&a, "198.19.0.2"), "no ping after the restart");
    }
    // B, restarted once, accepted A's connection twice since.
    let cb = control(&db);
    assert_eq!(cb["tunnels"][0]["established"], 2, "{cb}");

    // A restarts at once, before B can notice: B takes A's new SCCRQ as a
    // restart and closes the stale connection (and its device) first.
    let old = tunnels(&db)[0]["tunnel_id"].clone();
    da.kill9();
    da.restart(&a, &args_a);
    assert!(
        wait_for(UP, || {
            let t = tunnels(&db);
            t.len() == 1
                && t[0]["tunnel_id"] != old
                && t[0]["control"]["state"] == "established"
                && dynamic_sessions(&db).len() == 1
                && dynamic_sessions(&da).len() == 1
        }),
        "{}",
        db.log_text()
    );
    assert!(
        db.log_text().contains("peer restarted"),
        "{}",
        db.log_text()
    );
    addresses();
    assert!(ping(&a, "198.19.0.2"), "no ping after the quick restart");
}

/// `l2tp monitor` on B shows the exchange; sessions added and deleted at
/// run time with the CLI come and go on both sides.
#[test]
fn monitor_and_runtime_sessions() {
    let (a, b) = veth_pair("mon");
    let dir = TempDir::new("mon");
    let ta = Tun::new("to-b", "198.18.0.1", "198.18.0.2", true);
    // B accepts any Remote End ID onto l2tpeth%d.
    let tb = Tun::new("from-a", "198.18.0.2", "198.18.0.1", false).session("cookie_len = 4");
    let cfg_a = dir.write("a.toml", &ta.toml("lcce-a"));
    let cfg_b = dir.write("b.toml", &tb.toml("lcce-b"));
    let db = Daemon::start_config(&b, &cfg_b);
    let mon = std::process::Command::new(l2tp_bin())
        .arg("--socket")
        .arg(&db.socket)
        .arg("monitor")
        .stdout(std::fs::File::create(dir.path("mon.txt")).unwrap())
        .spawn()
        .unwrap();
    let mon_j = std::process::Command::new(l2tp_bin())
        .arg("--socket")
        .arg(&db.socket)
        .args(["-j", "monitor"])
        .stdout(std::fs::File::create(dir.path("mon.json")).unwrap())
        .spawn()
        .unwrap();
    struct Kill(Vec<std::process::Child>);
    impl Drop for Kill {
        fn drop(&mut self) {
            for c in &mut self.0 {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
    let mut mons = Kill(vec![mon, mon_j]);
    std::thread::sleep(Duration::from_millis(300));
    let da = Daemon::start_config(&a, &cfg_a);
    assert!(
        wait_for(UP, || tunnels(&da)
            .first()
            .is_some_and(|t| t["control"]["state"] == "established")),
        "{}",
        da.log_text()
    );
    assert!(
        dynamic_sessions(&da).is_empty(),
        "no session configured yet"
    );

    // A session requested at run time, by tunnel name.
    let out = da.l2tp_ok(
        "add session dynamic tunnel to-b remote_end_id rt-1 name pw-rt cookie_len 8 seq both",
    );
    assert!(out.starts_with("Requested session "), "{out}");
    assert!(wait_for(UP, || dynamic_sessions(&db).len() == 1
        && dynamic_sessions(&da).len() == 1));
    let sa = dynamic_sessions(&da)[0].clone();
    let sb = dynamic_sessions(&db)[0].clone();
    assert_eq!(sa["interface"], "pw-rt");
    assert_eq!(sb["interface"], "l2tpeth0", "B's template names l2tpeth%d");
    assert_eq!(sb["control"]["remote_end_id"], "rt-1");
    // A asked B to number its packets; B numbers them, and so does A.
    assert!(
        sa.get("send_seq").is_some() && sa.get("recv_seq").is_some(),
        "{sa}"
    );
    assert!(sb.get("send_seq").is_some(), "{sb}");
    a.sh_ok("ip addr add 198.19.0.1/24 dev pw-rt");
    b.sh_ok("ip addr add 198.19.0.2/24 dev l2tpeth0");
    assert!(ping(&a, "198.19.0.2"));

    // A second one by tunnel ID, then delete the first: CDN.
    let tid = sa["tunnel_id"].as_u64().unwrap();
    da.l2tp_ok(&format!("add session dynamic tunnel {tid} pw_type eth"));
    assert!(wait_for(UP, || dynamic_sessions(&db).len() == 2));
    let sid = sa["session_id"].as_u64().unwrap();
    da.l2tp_ok(&format!("del session tunnel_id {tid} session_id {sid}"));
    assert!(wait_for(UP, || dynamic_sessions(&db).len() == 1
        && dynamic_sessions(&da).len() == 1));
    assert!(!a.has_link("pw-rt"));
    // Errors name what is wrong.
    let e = da.l2tp("add session dynamic tunnel nope");
    assert_eq!(e.code, 2);
    assert!(
        e.stderr.contains("no tunnel named \"nope\""),
        "{}",
        e.stderr
    );
    let e = da.l2tp(&format!("del session tunnel_id {tid} session_id 1"));
    assert_eq!(e.code, 2);
    assert!(
        e.stderr.contains("session 1 does not exist"),
        "{}",
        e.stderr
    );

    // Deleting the dynamic tunnel sends StopCCN; the initiator comes back
    // after its retry interval.
    da.l2tp_ok(&format!("del tunnel tunnel_id {tid}"));
    assert!(wait_for(Duration::from_secs(3), || dynamic_sessions(&db).is_empty()));
    assert!(wait_for(UP, || tunnels(&da)
        .first()
        .is_some_and(
            |t| t["control"]["state"] == "established" && t["tunnel_id"].as_u64() != Some(tid)
        )));

    std::thread::sleep(Duration::from_millis(500));
    for c in &mut mons.0 {
        let _ = c.kill();
        let _ = c.wait();
    }
    let text = std::fs::read_to_string(dir.path("mon.txt")).unwrap();
    println!("{text}");
    for (dir_word, msg) in [
        ("recv", "SCCRQ"),
        ("send", "SCCRP"),
        ("recv", "SCCCN"),
        ("recv", "ICRQ"),
        ("send", "ICRP"),
        ("recv", "ICCN"),
        ("recv", "CDN"),
        ("recv", "StopCCN"),
    ] {
        assert!(
            text.lines()
                .any(|l| l.contains(&format!(" {dir_word} ")) && l.contains(&format!(" {msg} "))),
            "monitor lacks {dir_word} {msg}:\n{text}"
        );
    }
    assert!(text.contains("198.18.0.1:1701"), "{text}");
    assert!(text.contains("HostName=\"lcce-a\""), "{text}");
    assert!(text.contains("RemoteEndID="), "{text}");
    let json = std::fs::read_to_string(dir.path("mon.json")).unwrap();
    let msgs: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    assert!(msgs.len() >= 12, "{json}");
    assert!(msgs.iter().any(|m| m["message"] == "SCCRQ"
        && m["direction"] == "received"
        && m["avps"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["name"] == "Host Name"))));
}

#[test]
fn config_errors_stop_the_daemon_naming_file_and_key() {
    let ns = Netns::new("cfg");
    let dir = TempDir::new("cfg");
    let bad = dir.write(
        "lcce-a.toml",
        "[[tunnel]]\nname = \"to-b\"\nencap = \"tcp\"\nlocal = \"198.18.0.1\"\npeer = \"198.18.0.2\"\n",
    );
    let socket = socket_path("cfg");
    let log = socket.with_extension("log");
    let mut child = Daemon::spawn_with(&ns, &socket, &log, &["--config", bad.to_str().unwrap()]);
    let status = child.wait().unwrap();
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    assert!(!status.success());
    assert!(
        text.contains(
            "lcce-a.toml: tunnel \"to-b\": key \"encap\": expected \"udp\" or \"ip\", got \"tcp\""
        ),
        "{text}"
    );
    assert!(!socket.exists(), "a refused start leaves no socket");
    // A local address the namespace does not have is refused at start too.
    let missing = dir.write(
        "b.toml",
        "[[tunnel]]\nname = \"x\"\nlocal = \"198.18.9.9\"\npeer = \"198.18.0.2\"\n",
    );
    let mut child =
        Daemon::spawn_with(&ns, &socket, &log, &["--config", missing.to_str().unwrap()]);
    assert!(!child.wait().unwrap().success());
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_file(&log);
    assert!(
        text.contains("tunnel \"x\": cannot listen on UDP 198.18.9.9:1701"),
        "{text}"
    );
}

/// Both LCCEs initiate at once: the Tie Breaker AVP leaves one control
/// connection, and the session asked for by A comes up on it.
#[test]
fn simultaneous_initiators_end_with_one_tunnel() {
    let (a, b) = veth_pair("tie");
    let dir = TempDir::new("tie");
    let ta = Tun::new("to-b", "198.18.0.1", "198.18.0.2", true)
        .session("remote_end_id = \"pw-1\"\nname = \"l2tpeth0\"");
    let tb = Tun::new("to-a", "198.18.0.2", "198.18.0.1", true)
        .session("remote_end_id = \"pw-1\"\nname = \"l2tpeth0\"\ninitiate = false");
    let cfg_a = dir.write("a.toml", &ta.toml("lcce-a"));
    let cfg_b = dir.write("b.toml", &tb.toml("lcce-b"));
    let (sa, sb) = (socket_path("ta"), socket_path("tb"));
    let (la, lb) = (sa.with_extension("log"), sb.with_extension("log"));
    // Start both without waiting for either, so the SCCRQs cross.
    let ca = Daemon::spawn_with(&a, &sa, &la, &["--config", cfg_a.to_str().unwrap()]);
    let cb = Daemon::spawn_with(&b, &sb, &lb, &["--config", cfg_b.to_str().unwrap()]);
    let da = Daemon {
        child: Some(ca),
        socket: sa,
        log: la,
    };
    let db = Daemon {
        child: Some(cb),
        socket: sb,
        log: lb,
    };
    let settled = wait_for(UP, || {
        let (ta, tb) = (tunnels(&da), tunnels(&db));
        ta.len() == 1
            && tb.len() == 1
            && ta[0]["control"]["state"] == "established"
            && tb[0]["control"]["state"] == "established"
            && ta[0]["tunnel_id"] == tb[0]["peer_tunnel"]
            && dynamic_sessions(&da).len() == 1
            && dynamic_sessions(&db).len() == 1
    });
    assert!(settled, "A:\n{}\nB:\n{}", da.log_text(), db.log_text());
    // Still one each a moment later (no second connection sneaks in).
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(tunnels(&da).len(), 1);
    assert_eq!(tunnels(&db).len(), 1);
    a.sh_ok("ip addr add 198.19.0.1/24 dev l2tpeth0");
    b.sh_ok("ip addr add 198.19.0.2/24 dev l2tpeth0");
    assert!(ping(&a, "198.19.0.2"));
}
