//! `l2tp -s show session` counts exactly what crossed the pseudowire.
//!
//! Two namespaces, an `l2tpd` in each, TAPs without IPv4 addresses and
//! with IPv6 disabled, so the only frames are the ones this test sends
//! with AF_PACKET (an EtherType nothing answers). It checks, for a UDP/IPv4
//! session with an 8-byte cookie and sequence numbers and an IP/IPv6
//! session with a 4-byte cookie and no sublayer:
//!
//! - tx_packets/tx_bytes on the sender and rx_packets/rx_bytes on the
//!   receiver equal the frames sent and their Ethernet lengths (the
//!   kernel's l2tp_eth counts), in both directions, in `-j -s` and `-s`
//!   text output and in the tunnel totals; the TAPs' own kernel counters
//!   agree;
//! - hand-made packets from the peer's address: a wrong cookie counts in
//!   rx_cookie_discards (and rx_errors) and is not delivered; a stale
//!   sequence number counts in rx_seq_discards; a truncated packet is not
//!   delivered; a correct one is delivered byte for byte.

use std::net::IpAddr;
use std::time::Duration;

use l2tp_integration::daemon::{Counters, Daemon};
use l2tp_integration::netns::{veth, Netns};
use l2tp_integration::packet::{
    ethernet_frame, l2tpv3_data, pattern, udp_datagram, PacketSocket, RawIpSocket, ETH_P_TEST,
    IPPROTO_L2TP, UDP_V3_HEADER,
};

struct Setup {
    da: Daemon,
    db: Daemon,
    na: Netns,
    nb: Netns,
}

/// Underlay 198.18.0.1/2001:db8:ff::1 (A) and .2/::2 (B); IPv6 off by
/// default for devices created later (the TAPs).
fn setup() -> Setup {
    let na = Netns::new("cta");
    let nb = Netns::new("ctb");
    veth(&na, "ul0", &nb, "ul0");
    na.sh_ok("ip addr add 198.18.0.1/24 dev ul0 && ip addr add 2001:db8:ff::1/64 dev ul0 nodad");
    nb.sh_ok("ip addr add 198.18.0.2/24 dev ul0 && ip addr add 2001:db8:ff::2/64 dev ul0 nodad");
    for ns in [&na, &nb] {
        ns.sysctl(&["net.ipv6.conf.default.disable_ipv6=1"]);
    }
    let da = Daemon::start(&na);
    let db = Daemon::start(&nb);
    Setup { da, db, na, nb }
}

struct Pw {
    encap: &'static str,
    v6: bool,
    /// Tunnel IDs (A, B); sessions get the same IDs.
    ids: (u32, u32),
    cookies: (&'static str, &'static str),
    sublayer: bool,
    seq: bool,
    ports: (u16, u16),
}

impl Pw {
    fn addr(&self, a: bool) -> IpAddr {
        match (self.v6, a) {
            (false, true) => "198.18.0.1".parse().unwrap(),
            (false, false) => "198.18.0.2".parse().unwrap(),
            (true, true) => "2001:db8:ff::1".parse().unwrap(),
            (true, false) => "2001:db8:ff::2".parse().unwrap(),
        }
    }

    fn id(&self, a: bool) -> u32 {
        if a {
            self.ids.0
        } else {
            self.ids.1
        }
    }

    fn create(&self, d: &Daemon, a: bool) {
        let (sport, dport) = if a {
            self.ports
        } else {
            (self.ports.1, self.ports.0)
        };
        let (cookie, peer_cookie) = if a {
            self.cookies
        } else {
            (self.cookies.1, self.cookies.0)
        };
        let mut t = format!(
            "add tunnel tunnel_id {} peer_tunnel_id {} encap {} local {} remote {}",
            self.id(a),
            self.id(!a),
            self.encap,
            self.addr(a),
            self.addr(!a)
        );
        if self.encap == "udp" {
            t += &format!(" udp_sport {sport} udp_dport {dport}");
        }
        d.l2tp_ok(&t);
        d.l2tp_ok(&format!(
            "add session name {} tunnel_id {} session_id {} peer_session_id {} cookie {cookie} \
             peer_cookie {peer_cookie} l2spec_type {} seq {}",
            self.ifname(),
            self.id(a),
            self.id(a),
            self.id(!a),
            if self.sublayer { "default" } else { "none" },
            if self.seq { "both" } else { "none" }
        ));
    }

    fn ifname(&self) -> String {
        format!("ct{}", self.ids.0)
    }

    /// A packet as A's daemon would send it to B (after the IP header),
    /// with the given cookie and sequence number.
    fn crafted(&self, cookie: &[u8], seq: Option<u32>, frame: &[u8]) -> Vec<u8> {
        let sublayer = self.sublayer.then_some(seq);
        let body = l2tpv3_data(self.id(false), cookie, sublayer, frame);
        if self.encap == "udp" {
            let mut l2tp = UDP_V3_HEADER.to_vec();
            l2tp.extend_from_slice(&body);
            udp_datagram(self.ports.0, self.ports.1, &l2tp)
        } else {
            body
        }
    }
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Sends `sizes` frames from `tx` and waits until `rx` got all of them
/// (in order, unchanged); returns (packets, bytes).
fn send_frames(
    tx: &PacketSocket,
    rx: &PacketSocket,
    src: [u8; 6],
    dst: [u8; 6],
    sizes: &[usize],
    tag: &str,
) -> (u64, u64) {
    let mut sent = Vec::new();
    for (i, &len) in sizes.iter().enumerate() {
        let t = format!("{tag} {i:04} ");
        let f = ethernet_frame(dst, src, ETH_P_TEST, &pattern(t.as_bytes(), len - 14));
        tx.send(&f).expect("AF_PACKET send");
        sent.push(f);
        // Pace a little: the test is about counting, not about loss.
        if i % 8 == 7 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    for (i, f) in sent.iter().enumerate() {
        let got = rx
            .recv_matching(Duration::from_secs(3), |g| {
                g.get(14..14 + tag.len()) == Some(tag.as_bytes())
            })
            .expect("AF_PACKET recv")
            .unwrap_or_else(|| panic!("{tag}: frame {i} of {} never arrived", sent.len()));
        assert_eq!(&got, f, "{tag}: frame {i} arrived changed or out of order");
    }
    (sent.len() as u64, sent.iter().map(|f| f.len() as u64).sum())
}

/// `(transmit, receive)` on the kernel fast path, from `show session -j`.
fn fast_path(d: &Daemon, id: u32) -> (bool, bool) {
    let s = d
        .sessions_json()
        .into_iter()
        .find(|s| s["session_id"] == id)
        .unwrap_or_else(|| panic!("session {id} not listed"));
    let fp = &s["fast_path"];
    (fp["tx"] == true, fp["rx"] == true)
}

/// Both output forms agree; returns the JSON counters.
fn counters(d: &Daemon, id: u32) -> Counters {
    let json = d.session_counters(id, id);
    let text = d.l2tp_ok(&format!("-s show session tunnel_id {id} session_id {id}"));
    let from_text = Counters::from_text(&text).unwrap_or_else(|| panic!("no counters in:\n{text}"));
    assert_eq!(from_text, json, "text and JSON counters differ:\n{text}");
    // One session per tunnel: the tunnel totals are the session's.
    assert_eq!(d.tunnel_counters(id), json, "tunnel {id} totals");
    json
}

fn run(pw: &Pw) {
    let s = setup();
    pw.create(&s.da, true);
    pw.create(&s.db, false);
    let name = pw.ifname();
    let (mac_a, mac_b) = (s.na.mac(&name), s.nb.mac(&name));
    let mtu = s.na.mtu(&name) as usize;
    let sa = PacketSocket::open(&s.na, &name, ETH_P_TEST).unwrap();
    let sb = PacketSocket::open(&s.nb, &name, ETH_P_TEST).unwrap();
    let (ida, idb) = (pw.id(true), pw.id(false));

    // Quiet TAPs: nothing crossed yet.
    std::thread::sleep(Duration::from_millis(300));
    let zero = Counters::default();
    assert_eq!(counters(&s.da, ida), zero, "A counted traffic nobody sent");
    assert_eq!(counters(&s.db, idb), zero, "B counted traffic nobody sent");
    let tap_a0 = s.na.link_stats(&name);
    let tap_b0 = s.nb.link_stats(&name);

    // A -> B: 40 frames of assorted sizes, up to the largest the TAP takes.
    let sizes_ab: Vec<usize> = [60, 61, 64, 100, 128, 512, 999, 1024, 1400, mtu + 14]
        .iter()
        .cycle()
        .take(40)
        .copied()
        .collect();
    let (n_ab, bytes_ab) = send_frames(&sa, &sb, mac_a, mac_b, &sizes_ab, "ct A->B");
    std::thread::sleep(Duration::from_millis(100));
    let ca = counters(&s.da, ida);
    let cb = counters(&s.db, idb);
    assert_eq!(
        (ca.tx_packets, ca.tx_bytes, ca.rx_packets, ca.tx_errors),
        (n_ab, bytes_ab, 0, 0),
        "A after sending: {ca:?}"
    );
    assert_eq!(
        (cb.rx_packets, cb.rx_bytes, cb.tx_packets, cb.rx_errors),
        (n_ab, bytes_ab, 0, 0),
        "B after receiving: {cb:?}"
    );
    let tap_a = s.na.link_stats(&name);
    let tap_b = s.nb.link_stats(&name);
    // These frames are not IP (0x88b5): A's transmit fast path, if any,
    // leaves them to userspace, so A's TAP hands over every one.
    assert_eq!(
        (
            tap_a.tx_packets - tap_a0.tx_packets,
            tap_a.tx_bytes - tap_a0.tx_bytes
        ),
        (n_ab, bytes_ab),
        "A's TAP handed the data plane exactly what was sent"
    );
    // On B's receive fast path the kernel injects the frames into the
    // device's receive path, past the driver that counts them: only the
    // session counts them there (checked above, exactly).
    let b_fast_rx = fast_path(&s.db, idb).1;
    // Transmit stays in userspace here (IP encapsulation, or `auto` over
    // this veth), and `show session -s` says why.
    let why = if pw.encap == "ip" {
        "IP encapsulation"
    } else {
        "ul0 is a veth device"
    };
    for (d, id) in [(&s.da, ida), (&s.db, idb)] {
        let text = d.l2tp_ok(&format!("-s show session tunnel_id {id} session_id {id}"));
        if fast_path(d, id).1 {
            assert!(
                text.contains(&format!(
                    "kernel fast path (tc-bpf): receive (transmit in userspace: {why}"
                )),
                "no reason for transmit in userspace:\n{text}"
            );
        }
    }
    let expect_b = if b_fast_rx { (0, 0) } else { (n_ab, bytes_ab) };
    assert_eq!(
        (
            tap_b.rx_packets - tap_b0.rx_packets,
            tap_b.rx_bytes - tap_b0.rx_bytes
        ),
        expect_b,
        "B's TAP (fast path rx: {b_fast_rx}) got what was sent"
    );

    // B -> A: 25 other sizes.
    let sizes_ba: Vec<usize> = (0..25).map(|i| 60 + i * 53).collect();
    let (n_ba, bytes_ba) = send_frames(&sb, &sa, mac_b, mac_a, &sizes_ba, "ct B->A");
    std::thread::sleep(Duration::from_millis(100));
    let ca = counters(&s.da, ida);
    let cb = counters(&s.db, idb);
    assert_eq!(
        (ca.tx_packets, ca.tx_bytes, ca.rx_packets, ca.rx_bytes),
        (n_ab, bytes_ab, n_ba, bytes_ba),
        "A: {ca:?}"
    );
    assert_eq!(
        (cb.tx_packets, cb.tx_bytes, cb.rx_packets, cb.rx_bytes),
        (n_ba, bytes_ba, n_ab, bytes_ab),
        "B: {cb:?}"
    );
    assert_eq!(
        (
            cb.rx_errors,
            cb.rx_cookie_discards,
            cb.rx_seq_discards,
            cb.rx_invalid
        ),
        (0, 0, 0, 0),
        "B: {cb:?}"
    );

    // Hand-made packets from A's address to B's session.
    let raw = RawIpSocket::open(
        &s.na,
        pw.v6,
        if pw.encap == "udp" {
            libc::IPPROTO_UDP
        } else {
            IPPROTO_L2TP
        },
    )
    .unwrap();
    let good_cookie = hex(pw.cookies.0);
    let mut bad_cookie = good_cookie.clone();
    bad_cookie[0] ^= 0xff;
    // The next sequence number B expects is the count A sent (from 0).
    let next_seq = n_ab as u32;
    let frame =
        |t: &str, len: usize| ethernet_frame(mac_b, mac_a, ETH_P_TEST, &pattern(t.as_bytes(), len));
    let dst = pw.addr(false);

    let before = counters(&s.db, idb);
    raw.send_to(
        &pw.crafted(&bad_cookie, Some(next_seq), &frame("ct bad cookie", 100)),
        dst,
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let d = counters(&s.db, idb).since(&before);
    assert_eq!(
        (d.rx_cookie_discards, d.rx_errors, d.rx_packets, d.rx_bytes),
        (1, 1, 0, 0),
        "a wrong cookie is a cookie discard and an rx error: {d:?}"
    );

    let before = counters(&s.db, idb);
    let mut truncated = pw.crafted(&good_cookie, Some(next_seq), &[]);
    truncated.truncate(truncated.len() - 3);
    if pw.encap == "udp" {
        // Keep the UDP length field honest.
        let len = truncated.len() as u16;
        truncated[4..6].copy_from_slice(&len.to_be_bytes());
    }
    raw.send_to(&truncated, dst).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let d = counters(&s.db, idb).since(&before);
    assert_eq!(
        (d.rx_packets, d.rx_bytes),
        (0, 0),
        "a truncated packet is not delivered: {d:?}"
    );

    if pw.seq {
        let before = counters(&s.db, idb);
        raw.send_to(
            &pw.crafted(
                &good_cookie,
                Some(next_seq - 1),
                &frame("ct stale seq", 100),
            ),
            dst,
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let d = counters(&s.db, idb).since(&before);
        assert_eq!(
            (d.rx_seq_discards, d.rx_errors, d.rx_packets),
            (1, 1, 0),
            "a sequence number already seen is a seq discard: {d:?}"
        );
    }

    // A correct hand-made packet is delivered, byte for byte.
    let before = counters(&s.db, idb);
    let good = frame("ct crafted ok", 200);
    raw.send_to(&pw.crafted(&good_cookie, Some(next_seq), &good), dst)
        .unwrap();
    let got = sb
        .recv_matching(Duration::from_secs(3), |f| {
            f.get(14..27) == Some(b"ct crafted ok")
        })
        .unwrap();
    assert_eq!(
        got.as_deref(),
        Some(&good[..]),
        "crafted packet delivered unchanged"
    );
    let d = counters(&s.db, idb).since(&before);
    assert_eq!(
        (d.rx_packets, d.rx_bytes, d.rx_errors),
        (1, good.len() as u64, 0),
        "{d:?}"
    );
    eprintln!(
        "{} {}: A->B {n_ab} frames {bytes_ab} B, B->A {n_ba} frames {bytes_ba} B; B final {:?}",
        pw.encap,
        if pw.v6 { "IPv6" } else { "IPv4" },
        counters(&s.db, idb)
    );
}

#[test]
fn udp4_cookie8_seq_counters_match_traffic() {
    run(&Pw {
        encap: "udp",
        v6: false,
        ids: (11, 21),
        cookies: ("0102030405060708", "1112131415161718"),
        sublayer: true,
        seq: true,
        ports: (5011, 6011),
    });
}

#[test]
fn ip6_cookie4_no_sublayer_counters_match_traffic() {
    run(&Pw {
        encap: "ip",
        v6: true,
        ids: (12, 22),
        cookies: ("a1a2a3a4", "b1b2b3b4"),
        sublayer: false,
        seq: false,
        ports: (0, 0),
    });
}
