//! A real L2TPv2 peer: xl2tpd as a LAC dials our daemon, which only speaks
//! L2TPv3 and answers the v2 SCCRQ with a StopCCN, Result Code 5
//! ("unsupported protocol version") carrying the highest version it
//! supports, 3 (RFC 2661 4.4.2, RFC 3931 5.4.2).

mod common;
mod lcce;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use lcce::*;

struct Xl2tpd(Option<std::process::Child>);

impl Drop for Xl2tpd {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

#[test]
fn xl2tpd_lac_is_told_only_l2tpv3_is_supported() {
    assert!(
        Command::new("xl2tpd").arg("-v").output().is_ok(),
        "xl2tpd is not installed"
    );
    let (a, b) = veth_pair("v2");
    let dir = TempDir::new("v2");
    // B accepts L2TPv3 from anyone on its address.
    let tb = Tun::new("any", "198.18.0.2", "any", false).session("name = \"l2tpeth0\"");
    let db = Daemon::start_config(&b, &dir.write("b.toml", &tb.toml("lcce-b")));
    let mut cap = Capture::start(&b, "ul0", dir.path("b.pcap"));

    let conf = dir.write(
        "xl2tpd.conf",
        "[global]\nport = 1701\nlisten-addr = 198.18.0.1\n\n\
         [lac ours]\nlns = 198.18.0.2\nautodial = yes\nredial = no\n",
    );
    let out = dir.path("xl2tpd.out");
    let child = Command::new("ip")
        .args(["netns", "exec", &a.name, "xl2tpd", "-D", "-c"])
        .arg(&conf)
        .arg("-p")
        .arg(dir.path("pid"))
        .arg("-C")
        .arg(dir.path("control"))
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(dir.path("xl2tpd.err")).unwrap())
        .stdin(Stdio::null())
        .spawn()
        .expect("starting xl2tpd");
    let _x = Xl2tpd(Some(child));
    let xlog = || {
        format!(
            "{}{}",
            std::fs::read_to_string(&out).unwrap_or_default(),
            std::fs::read_to_string(dir.path("xl2tpd.err")).unwrap_or_default()
        )
    };
    let told = wait_for(Duration::from_secs(10), || {
        xlog().contains("highest supported version is 3")
    });
    assert!(
        told,
        "xl2tpd did not get our StopCCN:\n{}\nl2tpd:\n{}",
        xlog(),
        db.log_text()
    );
    assert!(
        xlog().contains("Connection closed to 198.18.0.2"),
        "{}",
        xlog()
    );
    let c = control(&db);
    assert!(
        c["endpoints"][0]["v2_rejected"].as_u64().unwrap_or(0) >= 1,
        "{c}"
    );
    assert!(tunnels(&db).is_empty(), "a v2 peer got a tunnel");
    assert!(
        db.log_text().contains("only L2TPv3 is supported"),
        "{}",
        db.log_text()
    );

    // On the wire: an L2TPv2 StopCCN (type 4) with Result Code 5, Error 3.
    let pcap = cap.stop().to_path_buf();
    let v = tshark(&pcap, &["-V", "-Y", "l2tp.avp.message_type == 4"]);
    assert!(v.contains("Layer 2 Tunneling Protocol"), "{v}");
    assert!(v.contains("Version: 2"), "{v}");
    assert!(
        v.contains("Result code: The protocol version of the requester is not supported (5)"),
        "{v}"
    );
    // The Error Code field carries the highest version we support.
    assert!(v.contains("Error code:") && v.contains("(3)"), "{v}");
    assert!(v.contains("highest supported version is 3"), "{v}");
    assert!(!tshark(&pcap, &["-V"]).contains("Malformed"));
}
