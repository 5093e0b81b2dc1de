//! Static L2TPv3 pseudowires end to end: two namespaces joined by veth, an
//! `l2tpd` in each, configured with the real `l2tp`, ping across the TAP
//! devices, then show output, counters, errors on live objects, deletes and
//! a SIGTERM that must remove every device.

mod common;

use common::*;

struct Pw {
    tunnel: u32,
    encap: &'static str,
    v6: bool,
    /// (cookie A sends, cookie B sends)
    cookies: Option<(&'static str, &'static str)>,
    l2spec: &'static str,
    seq: &'static str,
}

impl Pw {
    fn underlay(&self, side_a: bool) -> (&'static str, &'static str) {
        match (self.v6, side_a) {
            (false, true) => ("198.18.0.1", "198.18.0.2"),
            (false, false) => ("198.18.0.2", "198.18.0.1"),
            (true, true) => ("2001:db8:ff::1", "2001:db8:ff::2"),
            (true, false) => ("2001:db8:ff::2", "2001:db8:ff::1"),
        }
    }

    fn tunnel_cmd(&self, side_a: bool) -> String {
        let (local, remote) = self.underlay(side_a);
        let (tid, ptid) = if side_a {
            (self.tunnel, self.tunnel + 100)
        } else {
            (self.tunnel + 100, self.tunnel)
        };
        let (sport, dport) = if side_a { (5000, 6000) } else { (6000, 5000) };
        format!(
            "add tunnel tunnel_id {tid} peer_tunnel_id {ptid} encap {} local {local} \
             remote {remote} udp_sport {} udp_dport {}",
            self.encap,
            sport + self.tunnel,
            dport + self.tunnel
        )
    }

    fn session_cmd(&self, side_a: bool) -> String {
        let (tid, sid, psid) = if side_a {
            (self.tunnel, self.tunnel * 10, self.tunnel * 10 + 1)
        } else {
            (self.tunnel + 100, self.tunnel * 10 + 1, self.tunnel * 10)
        };
        let mut cmd = format!(
            "add session name {} tunnel_id {tid} session_id {sid} peer_session_id {psid} \
             l2spec_type {} seq {}",
            self.ifname(side_a),
            self.l2spec,
            self.seq
        );
        if let Some((ca, cb)) = self.cookies {
            let (mine, theirs) = if side_a { (ca, cb) } else { (cb, ca) };
            cmd += &format!(" cookie {mine} peer_cookie {theirs}");
        }
        cmd
    }

    fn ifname(&self, side_a: bool) -> String {
        format!("pw{}{}", self.tunnel, if side_a { "a" } else { "b" })
    }

    fn overlay(&self, side_a: bool) -> String {
        format!("198.19.{}.{}", self.tunnel, if side_a { 1 } else { 2 })
    }
}

const PWS: &[Pw] = &[
    Pw {
        tunnel: 1,
        encap: "udp",
        v6: false,
        cookies: Some(("0102030405060708", "a1b2c3d4")),
        l2spec: "default",
        seq: "none",
    },
    Pw {
        tunnel: 2,
        encap: "ip",
        v6: false,
        cookies: None,
        l2spec: "none",
        seq: "none",
    },
    Pw {
        tunnel: 3,
        encap: "udp",
        v6: true,
        cookies: Some(("c0ffee00", "0badcafe")),
        l2spec: "default",
        seq: "both",
    },
    Pw {
        tunnel: 4,
        encap: "ip",
        v6: true,
        cookies: Some(("1111111122222222", "3333333344444444")),
        l2spec: "default",
        seq: "send",
    },
];

#[test]
fn static_pseudowires_end_to_end() {
    let (na, nb) = veth_pair("pw");
    let mut da = Daemon::start(&na);
    let db = Daemon::start(&nb);

    for pw in PWS {
        da.l2tp_ok(&pw.tunnel_cmd(true));
        db.l2tp_ok(&pw.tunnel_cmd(false));
        da.l2tp_ok(&pw.session_cmd(true));
        db.l2tp_ok(&pw.session_cmd(false));
        for (ns, a) in [(&na, true), (&nb, false)] {
            assert!(ns.has_link(&pw.ifname(a)), "{} missing", pw.ifname(a));
            ns.sh_ok(&format!(
                "ip addr add {}/24 dev {}",
                pw.overlay(a),
                pw.ifname(a)
            ));
        }
    }
    for pw in PWS {
        let out = na.sh(&format!("ping -c 3 -i 0.2 -W 2 {}", pw.overlay(false)));
        assert!(
            out.status.success(),
            "ping over tunnel {} ({} v6={}) failed:\n{}\nA log:\n{}\nB log:\n{}",
            pw.tunnel,
            pw.encap,
            pw.v6,
            String::from_utf8_lossy(&out.stdout),
            da.log_text(),
            db.log_text()
        );
    }

    // show, exactly in ip l2tp's layout.
    assert_eq!(
        da.l2tp_ok("show tunnel tunnel_id 1"),
        "Tunnel 1, encap UDP\n  From 198.18.0.1 to 198.18.0.2\n  Peer tunnel 101\n  \
         UDP source / dest ports: 5001/6001\n  UDP checksum: disabled\n"
    );
    assert_eq!(
        da.l2tp_ok("show tunnel tid 2"),
        "Tunnel 2, encap IP\n  From 198.18.0.1 to 198.18.0.2\n  Peer tunnel 102\n"
    );
    assert_eq!(
        da.l2tp_ok("show session tunnel_id 1 session_id 10"),
        "Session 10 in tunnel 1\n  Peer session 11, tunnel 101\n  interface name: pw1a\n  \
         offset 0, peer offset 0\n  cookie 0102030405060708  peer cookie a1b2c3d4\n"
    );
    assert_eq!(
        db.l2tp_ok("show session tid 102"),
        "Session 21 in tunnel 102\n  Peer session 20, tunnel 2\n  interface name: pw2b\n  \
         offset 0, peer offset 0\n\n"
    );
    assert_eq!(
        db.l2tp_ok("show session tid 104"),
        "Session 41 in tunnel 104\n  Peer session 40, tunnel 4\n  interface name: pw4b\n  \
         offset 0, peer offset 0\n  cookie 3333333344444444  peer cookie 1111111122222222\n  \
         sequence numbering: send\n"
    );
    let all = da.l2tp_ok("ls t");
    assert_eq!(all.matches("Tunnel ").count(), PWS.len(), "{all}");
    assert!(
        all.contains("  From 2001:db8:ff::1 to 2001:db8:ff::2\n"),
        "{all}"
    );

    // JSON with iproute2's keys, and counters with -s.
    let v: serde_json::Value = serde_json::from_str(&da.l2tp_ok("-j show tunnel")).unwrap();
    assert_eq!(v.as_array().unwrap().len(), PWS.len());
    assert_eq!(v[0]["tunnel_id"], 1);
    assert_eq!(v[0]["peer"], "198.18.0.2");
    assert_eq!(v[0]["peer_tunnel"], 101);
    assert_eq!(v[0]["local_port"], 5001);
    assert_eq!(v[2]["checksum_tx"], true);
    let v: serde_json::Value = serde_json::from_str(&da.l2tp_ok("-s -j -p show session")).unwrap();
    for (i, pw) in PWS.iter().enumerate() {
        let s = &v[i];
        assert_eq!(s["interface"], pw.ifname(true));
        let rx = s["stats"]["rx_packets"].as_u64().unwrap();
        let tx = s["stats"]["tx_packets"].as_u64().unwrap();
        assert!(rx >= 3 && tx >= 3, "tunnel {}: rx {rx} tx {tx}", pw.tunnel);
        assert_eq!(s["stats"]["rx_cookie_discards"], 0);
    }
    let text = da.l2tp_ok("-s show session tid 1");
    assert!(text.contains("  tx_packets "), "{text}");
    assert!(
        text.contains(" rx_cookie_discards 0 rx_invalid 0\n"),
        "{text}"
    );
    let text = da.l2tp_ok("-s show tunnel tid 1");
    assert!(text.contains("  rx_packets "), "{text}");

    // Errors a user can act on, with live objects.
    let cases: &[(&str, &str)] = &[
        (
            "add tunnel tid 1 ptid 9 remote 198.18.0.2 udp_sport 7000",
            "tunnel 1 already exists",
        ),
        (
            "add session tid 2 sid 10 psid 99",
            "session ID 10 is already in use",
        ),
        (
            "add session name pw1a tid 2 sid 99 psid 99",
            "pw1a already exists",
        ),
        (
            "add session name ul0 tid 2 sid 99 psid 99",
            "ul0 already exists",
        ),
        (
            "del session tid 1 sid 99",
            "session 99 does not exist in tunnel 1",
        ),
        (
            "add session tid 2 sid 99 psid 99 l2spec_type none seq recv",
            "invalid seq",
        ),
        (
            "show session tid 1 sid 20",
            "session 20 does not exist in tunnel 1",
        ),
    ];
    for (args, text) in cases {
        let out = da.l2tp(args);
        assert_eq!(out.code, 2, "l2tp {args}: {}", out.stderr);
        assert!(out.stderr.contains(text), "l2tp {args}: {}", out.stderr);
    }
    assert!(
        !na.has_link("l2tpeth0"),
        "a refused session must leave no device"
    );

    // A second daemon in the same namespace cannot take a bound port.
    let dc = Daemon::start(&na);
    let out =
        dc.l2tp("add tunnel tid 1 ptid 101 local 198.18.0.1 remote 198.18.0.2 udp_sport 5001");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("already in use"), "{}", out.stderr);
    assert_eq!(dc.l2tp_ok("show tunnel"), "", "nothing left behind");
    drop(dc);

    // Deletes remove devices; a session is gone before its tunnel.
    da.l2tp_ok("del session tunnel_id 1 session_id 10");
    assert!(na.link_gone("pw1a"));
    assert_eq!(da.l2tp("show session tid 1").stdout, "");
    da.l2tp_ok("del tunnel tunnel_id 2");
    assert!(na.link_gone("pw2a"));
    let out = da.l2tp("show tunnel tid 2");
    assert_eq!(out.code, 2);
    // The freed session ID can be used again, in another tunnel.
    da.l2tp_ok("add session tid 3 sid 20 psid 21");
    let v: serde_json::Value = serde_json::from_str(&da.l2tp_ok("-j show session sid 20")).unwrap();
    let ifname = v[0]["interface"].as_str().unwrap().to_string();
    assert!(ifname.starts_with("l2tpeth"), "{ifname}");
    assert!(na.has_link(&ifname));

    // SIGTERM: every device and the socket go away.
    let st = da.stop_with(libc::SIGTERM);
    assert!(st.success(), "{st}");
    for name in ["pw3a", "pw4a", ifname.as_str()] {
        assert!(na.link_gone(name), "{name} left behind after SIGTERM");
    }
    assert!(!da.socket.exists());
    let links = na.sh_ok("ip -o link show");
    assert_eq!(links.lines().count(), 2, "only lo and ul0 remain:\n{links}");
}

#[test]
fn local_address_may_be_left_out() {
    let (na, nb) = veth_pair("any");
    let da = Daemon::start(&na);
    let db = Daemon::start(&nb);
    da.l2tp_ok("add tunnel tid 1 ptid 2 remote 198.18.0.2");
    db.l2tp_ok("add tunnel tid 2 ptid 1 remote 198.18.0.1 local any");
    da.l2tp_ok("add session tid 1 sid 1 psid 2");
    db.l2tp_ok("add session tid 2 sid 2 psid 1");
    assert_eq!(
        da.l2tp_ok("show tunnel"),
        "Tunnel 1, encap UDP\n  From 0.0.0.0 to 198.18.0.2\n  Peer tunnel 2\n  \
         UDP source / dest ports: 1701/1701\n  UDP checksum: disabled\n"
    );
    na.sh_ok("ip addr add 198.19.9.1/24 dev l2tpeth0");
    nb.sh_ok("ip addr add 198.19.9.2/24 dev l2tpeth0");
    let out = na.sh("ping -c 2 -i 0.2 -W 2 198.19.9.2");
    assert!(
        out.status.success(),
        "{}\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        da.log_text(),
        db.log_text()
    );
}
