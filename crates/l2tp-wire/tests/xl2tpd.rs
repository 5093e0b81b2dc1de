//! Interop with an independent L2TPv2 implementation (xl2tpd as LNS) in a
//! private network namespace: our SCCRQ/SCCCN/ICRQ are accepted, its
//! SCCRP/ZLB/ICRP parse and validate, its Challenge Response matches ours,
//! and it understands an AVP we hid (it answers on the session ID we sent
//! hidden).
//!
//! The test re-runs itself inside `ip netns exec` so nothing touches the
//! host's network; it needs root, `ip` and `xl2tpd`.

use std::net::UdpSocket;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use l2tp_wire::avp::{hidden, Avp, AvpValue};
use l2tp_wire::control::Version;
use l2tp_wire::message::{Message, MessageType, Security};
use l2tp_wire::testing::v2_messages;

const SECRET: &[u8] = b"l2tp-rs-secret";
const INNER: &str = "L2TP_WIRE_XL2TPD_INNER";

struct Netns(String);

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

struct Daemon(Child, PathBuf);

impl Drop for Daemon {
    fn drop(&mut self) {
        // Our own child, by PID.
        let _ = self.0.kill();
        let _ = self.0.wait();
        if std::env::var_os("L2TP_WIRE_KEEP_LOG").is_some() {
            eprintln!("xl2tpd dir kept: {}", self.1.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }
}

#[test]
fn xl2tpd_interop() {
    if std::env::var_os(INNER).is_some() {
        inner();
        return;
    }
    let ns = Netns(format!("l2tpwire-{}", std::process::id()));
    let ok = Command::new("ip")
        .args(["netns", "add", &ns.0])
        .status()
        .expect("`ip` from iproute2 is required");
    assert!(ok.success(), "ip netns add failed (needs root)");
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("ip")
        .args(["netns", "exec", &ns.0])
        .arg(&exe)
        .args([
            "--exact",
            "xl2tpd_interop",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(INNER, "1")
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "inner run failed:\n{text}");
    assert!(text.contains("1 passed"), "inner test did not run:\n{text}");
}

fn start_xl2tpd() -> Daemon {
    let st = Command::new("ip")
        .args(["link", "set", "lo", "up"])
        .status()
        .unwrap();
    assert!(st.success());
    let dir = std::env::temp_dir().join(format!("l2tpwire-xl2tpd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display();
    std::fs::write(
        dir.join("xl2tpd.conf"),
        format!(
            "[global]\nlisten-addr = 127.0.0.1\nport = 1701\naccess control = no\n\
             auth file = {d}/l2tp-secrets\ndebug avp = yes\ndebug tunnel = yes\n\n\
             [lns default]\nip range = 198.18.9.10-198.18.9.20\nlocal ip = 198.18.9.1\n\
             challenge = yes\nhidden bit = yes\nrequire authentication = no\n\
             length bit = yes\nhostname = lns-xl2tpd\npppoptfile = {d}/options\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("l2tp-secrets"),
        format!("* * {}\n", std::str::from_utf8(SECRET).unwrap()),
    )
    .unwrap();
    std::fs::write(dir.join("options"), "").unwrap();
    let log = std::fs::File::create(dir.join("log")).unwrap();
    let child = Command::new("xl2tpd")
        .arg("-D")
        .arg("-c")
        .arg(dir.join("xl2tpd.conf"))
        .arg("-s")
        .arg(dir.join("l2tp-secrets"))
        .arg("-p")
        .arg(dir.join("pid"))
        .arg("-C")
        .arg(dir.join("control"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("xl2tpd is required (apt-get install xl2tpd)");
    Daemon(child, dir)
}

/// Receives until a message passing `want` arrives (xl2tpd retransmits).
fn recv_until(sock: &UdpSocket, sec: &Security<'_>, want: impl Fn(&Message) -> bool) -> Message {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            let m = Message::parse_with(&buf[..n], sec)
                .unwrap_or_else(|e| panic!("xl2tpd sent what we cannot parse: {e}"));
            assert_ne!(
                m.message_type(),
                Some(MessageType::StopCcn),
                "xl2tpd tore the tunnel down: {}",
                m.to_json()
            );
            if want(&m) {
                return m;
            }
        }
    }
    panic!("timed out waiting for xl2tpd");
}

fn inner() {
    let daemon = start_xl2tpd();
    let sec = Security::with_secret(SECRET);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    sock.connect("127.0.0.1:1701").unwrap();

    // SCCRQ (our sample, with a Challenge) until xl2tpd is up and answers.
    let sccrq = v2_messages().remove(0).1;
    let our_challenge = sccrq.challenge().unwrap();
    let our_tid = sccrq.assigned_tunnel_id().unwrap();
    let bytes = sccrq.to_bytes(&sec).unwrap();
    let mut sccrp = None;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 2048];
    while sccrp.is_none() && Instant::now() < deadline {
        sock.send(&bytes).ok();
        if let Ok(n) = sock.recv(&mut buf) {
            sccrp = Some(Message::parse_with(&buf[..n], &sec).expect("SCCRP parses and validates"));
        }
    }
    let sccrp = sccrp.unwrap_or_else(|| {
        let log = std::fs::read_to_string(daemon.1.join("log")).unwrap_or_default();
        panic!("no SCCRP from xl2tpd; log:\n{log}")
    });
    assert_eq!(sccrp.message_type(), Some(MessageType::Sccrp));
    assert_eq!(sccrp.header.tunnel_id, u32::from(our_tid));
    assert_eq!(sccrp.host_name().as_deref(), Some(&b"lns-xl2tpd"[..]));
    // xl2tpd's CHAP-style response equals ours.
    assert_eq!(
        sccrp.challenge_response(),
        Some(hidden::challenge_response(2, SECRET, &our_challenge))
    );
    let peer_tid = u32::from(sccrp.assigned_tunnel_id().unwrap());
    let their_challenge = sccrp.challenge().expect("challenge = yes");

    // SCCCN answering their challenge: a wrong answer would get a StopCCN.
    let scccn = Message::new(Version::V2, MessageType::Scccn, peer_tid, 0)
        .with(AvpValue::ChallengeResponse(hidden::challenge_response(
            3,
            SECRET,
            &their_challenge,
        )))
        .with_seq(1, 1);
    sock.send(&scccn.to_bytes(&sec).unwrap()).unwrap();
    let ack = recv_until(&sock, &sec, |m| m.is_zlb());
    assert_eq!(ack.header.nr, 2, "xl2tpd acknowledged the SCCCN");

    // ICRQ with the Assigned Session ID hidden: xl2tpd must unhide it to
    // address its ICRP to session 17.
    let icrq = Message::new(Version::V2, MessageType::Icrq, peer_tid, 0)
        .with(AvpValue::RandomVector(vec![0x42; 16]))
        .with_avp(Avp::new(AvpValue::AssignedSessionId(17)).hidden())
        .with_avp(Avp::new(AvpValue::CallSerialNumber(99)).hidden())
        .with(AvpValue::BearerType(l2tp_wire::avp::bits::BEARER_DIGITAL))
        .with_seq(2, 1);
    let icrq_bytes = icrq.to_bytes(&sec).unwrap();
    assert_eq!(Message::parse_with(&icrq_bytes, &sec).unwrap(), {
        let mut m = icrq.clone();
        m.header.length = icrq_bytes.len() as u16;
        m
    });
    sock.send(&icrq_bytes).unwrap();
    let icrp = recv_until(&sock, &sec, |m| m.message_type() == Some(MessageType::Icrp));
    assert_eq!(
        icrp.header.session_id, 17,
        "ICRP goes to our (hidden) session ID"
    );
    assert!(icrp.assigned_session_id().is_some_and(|s| s != 0));

    // Tear down politely.
    let stop = Message::new(Version::V2, MessageType::StopCcn, peer_tid, 0)
        .with(AvpValue::AssignedTunnelId(our_tid))
        .with(AvpValue::result_code(1, None, ""))
        .with_seq(3, 2);
    sock.send(&stop.to_bytes(&sec).unwrap()).unwrap();
    drop(daemon);
}
