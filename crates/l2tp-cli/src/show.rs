//! `show` output in the layout of `ip l2tp show tunnel|session` (text and
//! `-j` JSON with iproute2's keys), plus `-s` counters, which ip l2tp lacks.

use std::fmt::Write;

use l2tp_api::{
    ControlCounters, ControlStatus, Counters, Encap, FastPath, MonitorMessage, SessionControl,
    SessionState, TunnelControl, TunnelState,
};
use serde::Serialize;

/// Text form of `show tunnel`.
pub fn tunnels_text(tunnels: &[TunnelState], stats: bool) -> String {
    let mut out = String::new();
    for t in tunnels {
        let _ = writeln!(out, "Tunnel {}, encap {}", t.tunnel_id, t.encap.show_name());
        let _ = writeln!(out, "  From {} to {}", t.local, t.remote);
        let _ = writeln!(out, "  Peer tunnel {}", t.peer_tunnel_id);
        if t.encap == Encap::Udp {
            let _ = writeln!(
                out,
                "  UDP source / dest ports: {}/{}",
                t.udp_sport, t.udp_dport
            );
            let csum = if t.local.is_ipv4() {
                if t.udp_csum {
                    "enabled"
                } else {
                    "disabled"
                }
            } else {
                match (t.udp6_csum_tx, t.udp6_csum_rx) {
                    (true, true) => "enabled",
                    (true, false) => "tx",
                    (false, true) => "rx",
                    (false, false) => "disabled",
                }
            };
            let _ = writeln!(out, "  UDP checksum: {csum}");
        }
        if let Some(c) = &t.control {
            control_text(&mut out, c, stats);
        }
        if stats {
            counters_text(&mut out, &t.stats);
        }
    }
    out
}

/// The extra lines of a dynamic tunnel (ip l2tp has no such tunnels).
fn control_text(out: &mut String, c: &TunnelControl, stats: bool) {
    let _ = write!(
        out,
        "  Dynamic tunnel \"{}\": {}, {}",
        c.name,
        c.state,
        if c.initiator {
            "initiator"
        } else {
            "responder"
        }
    );
    if c.authenticated {
        out.push_str(", authenticated");
    }
    out.push('\n');
    let _ = write!(
        out,
        "  Peer host {}",
        c.peer_host_name.as_deref().unwrap_or("-")
    );
    if let Some(r) = c.peer_router_id {
        let _ = write!(out, ", router ID {}", std::net::Ipv4Addr::from(r));
    }
    let _ = writeln!(out, ", control sessions {}", c.sessions);
    if stats {
        control_counters_text(out, &c.stats);
    }
}

fn control_counters_text(out: &mut String, c: &ControlCounters) {
    let _ = writeln!(
        out,
        "  control tx {} retransmit {} acks {} hello {} unacked {}",
        c.tx_messages, c.retransmissions, c.tx_acks, c.hellos_sent, c.unacked
    );
    let _ = writeln!(
        out,
        "  control rx {} acks {} duplicates {} out_of_order {} out_of_window {} bad_digest {} malformed {}",
        c.rx_messages, c.rx_acks, c.duplicates, c.out_of_order, c.out_of_window, c.bad_digest, c.malformed
    );
}

fn session_control_text(out: &mut String, c: &SessionControl) {
    let _ = write!(out, "  Dynamic session in tunnel \"{}\"", c.tunnel_name);
    if !c.remote_end_id.is_empty() {
        let _ = write!(out, ", remote end ID {}", c.remote_end_id);
    }
    let _ = writeln!(
        out,
        ", {}, serial {}, peer circuit {}",
        if c.initiator {
            "initiator"
        } else {
            "responder"
        },
        c.serial_number,
        if c.peer_circuit_active { "up" } else { "down" }
    );
}

/// Text form of `show session`. Like ip l2tp, the cookie, peer cookie and
/// reorder timeout share one line and each session ends with a line break
/// after it (an empty line when none of them is set).
pub fn sessions_text(sessions: &[SessionState], stats: bool) -> String {
    let mut out = String::new();
    for s in sessions {
        let _ = writeln!(out, "Session {} in tunnel {}", s.session_id, s.tunnel_id);
        let _ = writeln!(
            out,
            "  Peer session {}, tunnel {}",
            s.peer_session_id, s.peer_tunnel_id
        );
        let _ = writeln!(out, "  interface name: {}", s.ifname);
        // Offsets are gone from the kernel; ip l2tp still prints zeros for
        // legacy scripts, and so do we.
        let _ = writeln!(out, "  offset 0, peer offset 0");
        if let Some(c) = &s.cookie {
            let _ = write!(out, "  cookie {c}");
        }
        if let Some(c) = &s.peer_cookie {
            let _ = write!(out, "  peer cookie {c}");
        }
        if let Some(ms) = s.reorder_timeout_ms {
            let _ = write!(out, "  reorder timeout: {ms}");
        }
        if s.seq.send() || s.seq.recv() {
            out.push_str("\n  sequence numbering:");
            if s.seq.send() {
                out.push_str(" send");
            }
            if s.seq.recv() {
                out.push_str(" recv");
            }
        }
        out.push('\n');
        if let Some(c) = &s.control {
            session_control_text(&mut out, c);
        }
        let fp = match (s.fast_path.tx, s.fast_path.rx) {
            (true, true) => Some("transmit and receive"),
            (true, false) => Some("transmit"),
            (false, true) => Some("receive"),
            (false, false) => None,
        };
        // Only with -s: without it the text stays ip l2tp's, line for line.
        if let (true, Some(fp)) = (stats, fp) {
            let _ = write!(out, "  kernel fast path (tc-bpf): {fp}");
            match &s.fast_path.tx_note {
                Some(why) if !s.fast_path.tx => {
                    let _ = writeln!(out, " (transmit in userspace: {why})");
                }
                _ => out.push('\n'),
            }
        }
        if stats {
            counters_text(&mut out, &s.stats);
        }
    }
    out
}

fn counters_text(out: &mut String, c: &Counters) {
    let _ = writeln!(
        out,
        "  tx_packets {} tx_bytes {} tx_errors {}",
        c.tx_packets, c.tx_bytes, c.tx_errors
    );
    let _ = writeln!(
        out,
        "  rx_packets {} rx_bytes {} rx_errors {}",
        c.rx_packets, c.rx_bytes, c.rx_errors
    );
    let _ = writeln!(
        out,
        "  rx_seq_discards {} rx_oos_packets {} rx_cookie_discards {} rx_invalid {}",
        c.rx_seq_discards, c.rx_oos_packets, c.rx_cookie_discards, c.rx_invalid
    );
}

/// One tunnel in `ip -j l2tp show tunnel`'s keys, then ours.
#[derive(Serialize)]
struct TunnelJson<'a> {
    tunnel_id: u32,
    encap: &'static str,
    local: String,
    peer: String,
    peer_tunnel: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    local_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum_tx: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum_rx: Option<bool>,
    origin: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<&'a Counters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    control: Option<&'a TunnelControl>,
}

/// One session in `ip -j l2tp show session`'s keys, then ours.
#[derive(Serialize)]
struct SessionJson<'a> {
    session_id: u32,
    tunnel_id: u32,
    peer_session_id: u32,
    peer_tunnel_id: u32,
    interface: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    cookie: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_cookie: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reorder_timeout: Option<u64>,
    /// iproute2 prints these as `"send_seq": null` when set.
    #[serde(skip_serializing_if = "Option::is_none")]
    send_seq: Option<()>,
    #[serde(skip_serializing_if = "Option::is_none")]
    recv_seq: Option<()>,
    l2spec_type: l2tp_api::L2SpecType,
    mtu: u32,
    origin: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    stats: Option<&'a Counters>,
    #[serde(skip_serializing_if = "Option::is_none")]
    control: Option<&'a SessionControl>,
    /// Only when some of the session runs in the kernel.
    #[serde(skip_serializing_if = "Option::is_none")]
    fast_path: Option<FastPath>,
}

/// JSON form of `show tunnel`: an array, one object per tunnel.
pub fn tunnels_json(tunnels: &[TunnelState], stats: bool, pretty: bool) -> String {
    let items: Vec<TunnelJson<'_>> = tunnels
        .iter()
        .map(|t| {
            let udp = t.encap == Encap::Udp;
            let v4 = t.local.is_ipv4();
            TunnelJson {
                tunnel_id: t.tunnel_id,
                encap: t.encap.show_name(),
                local: t.local.to_string(),
                peer: t.remote.to_string(),
                peer_tunnel: t.peer_tunnel_id,
                local_port: udp.then_some(t.udp_sport),
                peer_port: udp.then_some(t.udp_dport),
                checksum: (udp && v4).then_some(t.udp_csum),
                checksum_tx: (udp && !v4).then_some(t.udp6_csum_tx),
                checksum_rx: (udp && !v4).then_some(t.udp6_csum_rx),
                origin: t.origin.as_str(),
                stats: stats.then_some(&t.stats),
                control: t.control.as_ref(),
            }
        })
        .collect();
    to_json(&items, pretty)
}

/// JSON form of `show session`.
pub fn sessions_json(sessions: &[SessionState], stats: bool, pretty: bool) -> String {
    let items: Vec<SessionJson<'_>> = sessions
        .iter()
        .map(|s| SessionJson {
            session_id: s.session_id,
            tunnel_id: s.tunnel_id,
            peer_session_id: s.peer_session_id,
            peer_tunnel_id: s.peer_tunnel_id,
            interface: &s.ifname,
            cookie: s.cookie.map(|c| c.to_hex()),
            peer_cookie: s.peer_cookie.map(|c| c.to_hex()),
            reorder_timeout: s.reorder_timeout_ms,
            send_seq: s.seq.send().then_some(()),
            recv_seq: s.seq.recv().then_some(()),
            l2spec_type: s.l2spec_type,
            mtu: s.mtu,
            origin: s.origin.as_str(),
            stats: stats.then_some(&s.stats),
            control: s.control.as_ref(),
            fast_path: (s.fast_path.tx || s.fast_path.rx).then(|| s.fast_path.clone()),
        })
        .collect();
    to_json(&items, pretty)
}

/// Text form of `show control`.
pub fn control_status_text(c: &ControlStatus) -> String {
    let mut out = String::new();
    for l in &c.listeners {
        let _ = writeln!(out, "Listening on {l}");
    }
    for t in &c.tunnels {
        let _ = writeln!(
            out,
            "Tunnel \"{}\" ({}), encap {}, {} -> {}: {}",
            t.name,
            if t.initiate { "initiator" } else { "responder" },
            t.encap.show_name(),
            t.local,
            t.peer,
            t.state
        );
        let mut line = format!("  attempts {} established {}", t.attempts, t.established);
        if let Some(id) = t.tunnel_id {
            let _ = write!(line, " tunnel_id {id}");
        }
        if let Some(ms) = t.retry_in_ms {
            let _ = write!(line, " retry in {:.1} s", ms as f64 / 1000.0);
        }
        let _ = writeln!(out, "{line}");
        if let Some(e) = &t.last_error {
            let _ = writeln!(out, "  last error: {e}");
        }
    }
    for e in &c.endpoints {
        let _ = writeln!(
            out,
            "Endpoint {}: rx {} malformed {} unknown_tunnel {} bad_digest {} rejected {} v2_rejected {} stateless_replies {}",
            e.encap.show_name(),
            e.rx_datagrams,
            e.rx_malformed,
            e.rx_unknown_tunnel,
            e.bad_digest,
            e.rejected,
            e.v2_rejected,
            e.stateless_replies
        );
    }
    if c.tunnels.is_empty() {
        out.push_str("No control plane (l2tpd runs without --config)\n");
    }
    out
}

pub fn control_status_json(c: &ControlStatus, pretty: bool) -> String {
    to_json(c, pretty)
}

/// AVPs worth a place on a monitor line; the rest is in `-j` output.
const KEY_AVPS: &[&str] = &[
    "Result Code",
    "Host Name",
    "Assigned Control Connection ID",
    "Local Session ID",
    "Remote Session ID",
    "Pseudowire Type",
    "Remote End ID",
    "Assigned Cookie",
    "L2-Specific Sublayer",
    "Data Sequencing",
    "Circuit Status",
    "Message Digest",
];

/// `HH:MM:SS.mmm` (UTC) of a Unix time in milliseconds.
fn clock(ms: u64) -> String {
    let s = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        (s / 3600) % 24,
        (s / 60) % 60,
        s % 60,
        ms % 1000
    )
}

/// One `l2tp monitor` line: time, direction, peer, tunnel, message, Ns/Nr,
/// key AVPs.
pub fn monitor_text(m: &MonitorMessage) -> String {
    let mut out = format!(
        "{} {} {} {} tunnel {} {}{} Ns {} Nr {}",
        clock(m.time_ms),
        if m.direction == "sent" {
            "send"
        } else {
            "recv"
        },
        if m.direction == "sent" { "->" } else { "<-" },
        m.peer,
        m.tunnel_id.map_or("-".to_string(), |t| t.to_string()),
        m.message,
        if m.retransmit { " (retransmit)" } else { "" },
        m.ns,
        m.nr
    );
    for a in m
        .avps
        .iter()
        .filter(|a| KEY_AVPS.contains(&a.name.as_str()))
    {
        let key: String = a.name.split([' ', '-']).collect();
        if a.name == "Message Digest" {
            out.push_str(" MessageDigest");
        } else {
            let _ = write!(out, " {key}={}", a.value);
        }
    }
    out.push('\n');
    out
}

/// `l2tp -j monitor`: one JSON object per line.
pub fn monitor_json(m: &MonitorMessage) -> String {
    to_json(m, false)
}

fn to_json<T: Serialize>(value: &T, pretty: bool) -> String {
    let mut buf = Vec::new();
    let res = if pretty {
        // iproute2's pretty JSON indents by four spaces.
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
        value.serialize(&mut ser)
    } else {
        let mut ser = serde_json::Serializer::new(&mut buf);
        value.serialize(&mut ser)
    };
    // Serializing plain structs of numbers and strings cannot fail.
    debug_assert!(res.is_ok());
    let mut s = String::from_utf8(buf).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use l2tp_api::{Cookie, L2SpecType, Origin, PseudowireType, SeqMode};

    fn tunnel(local: &str, remote: &str, encap: Encap) -> TunnelState {
        TunnelState {
            tunnel_id: 1,
            peer_tunnel_id: 2,
            encap,
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            udp_sport: if encap == Encap::Udp { 5000 } else { 0 },
            udp_dport: if encap == Encap::Udp { 6000 } else { 0 },
            udp_csum: false,
            udp6_csum_tx: true,
            udp6_csum_rx: true,
            origin: Origin::Static,
            session_count: 0,
            stats: Counters::default(),
            control: None,
        }
    }

    fn session() -> SessionState {
        SessionState {
            tunnel_id: 1,
            peer_tunnel_id: 2,
            session_id: 10,
            peer_session_id: 20,
            pw_type: PseudowireType::Ethernet,
            ifname: "l2tpeth0".into(),
            ifindex: 5,
            mtu: 1446,
            cookie: None,
            peer_cookie: None,
            l2spec_type: L2SpecType::Default,
            seq: SeqMode::None,
            reorder_timeout_ms: None,
            origin: Origin::Static,
            stats: Counters::default(),
            control: None,
            fast_path: FastPath::default(),
        }
    }

    #[test]
    fn tunnel_udp_v4_text() {
        let t = tunnel("198.18.0.1", "198.18.0.2", Encap::Udp);
        assert_eq!(
            tunnels_text(&[t], false),
            "Tunnel 1, encap UDP\n  From 198.18.0.1 to 198.18.0.2\n  Peer tunnel 2\n  \
             UDP source / dest ports: 5000/6000\n  UDP checksum: disabled\n"
        );
        let mut t = tunnel("198.18.0.1", "198.18.0.2", Encap::Udp);
        t.udp_csum = true;
        assert!(tunnels_text(&[t], false).ends_with("  UDP checksum: enabled\n"));
    }

    #[test]
    fn tunnel_ip_text_has_no_udp_lines() {
        let t = tunnel("198.18.0.1", "198.18.0.2", Encap::Ip);
        assert_eq!(
            tunnels_text(&[t], false),
            "Tunnel 1, encap IP\n  From 198.18.0.1 to 198.18.0.2\n  Peer tunnel 2\n"
        );
    }

    #[test]
    fn tunnel_v6_checksum_words() {
        for (tx, rx, word) in [
            (true, true, "enabled"),
            (true, false, "tx"),
            (false, true, "rx"),
            (false, false, "disabled"),
        ] {
            let mut t = tunnel("2001:db8::1", "2001:db8::2", Encap::Udp);
            t.udp6_csum_tx = tx;
            t.udp6_csum_rx = rx;
            let text = tunnels_text(&[t], false);
            assert!(
                text.contains("  From 2001:db8::1 to 2001:db8::2\n"),
                "{text}"
            );
            assert!(
                text.ends_with(&format!("  UDP checksum: {word}\n")),
                "{text}"
            );
        }
    }

    #[test]
    fn several_tunnels_concatenate() {
        let mut b = tunnel("198.18.0.1", "198.18.0.3", Encap::Ip);
        b.tunnel_id = 9;
        let text = tunnels_text(&[tunnel("198.18.0.1", "198.18.0.2", Encap::Udp), b], false);
        assert_eq!(text.matches("Tunnel ").count(), 2);
        assert!(text.contains("UDP checksum: disabled\nTunnel 9, encap IP\n"));
        assert_eq!(tunnels_text(&[], true), "");
    }

    #[test]
    fn session_plain_text() {
        assert_eq!(
            sessions_text(&[session()], false),
            "Session 10 in tunnel 1\n  Peer session 20, tunnel 2\n  interface name: l2tpeth0\n  \
             offset 0, peer offset 0\n\n"
        );
    }

    #[test]
    fn session_cookies_timeout_and_seq_text() {
        let mut s = session();
        s.cookie = Some(Cookie::from_hex("0102030405060708").unwrap());
        s.peer_cookie = Some(Cookie::from_hex("A1B2C3D4").unwrap());
        s.reorder_timeout_ms = Some(300);
        s.seq = SeqMode::Both;
        assert_eq!(
            sessions_text(&[s.clone()], false),
            "Session 10 in tunnel 1\n  Peer session 20, tunnel 2\n  interface name: l2tpeth0\n  \
             offset 0, peer offset 0\n  cookie 0102030405060708  peer cookie a1b2c3d4  \
             reorder timeout: 300\n  sequence numbering: send recv\n"
        );
        s.cookie = None;
        s.reorder_timeout_ms = None;
        s.seq = SeqMode::Recv;
        assert!(sessions_text(&[s], false).ends_with(
            "offset 0, peer offset 0\n  peer cookie a1b2c3d4\n  sequence numbering: recv\n"
        ));
        let mut s = session();
        s.seq = SeqMode::Send;
        assert!(sessions_text(&[s], false)
            .ends_with("offset 0, peer offset 0\n\n  sequence numbering: send\n"));
    }

    #[test]
    fn stats_lines() {
        let mut s = session();
        s.stats = Counters {
            tx_packets: 1,
            tx_bytes: 2,
            tx_errors: 3,
            rx_packets: 4,
            rx_bytes: 5,
            rx_errors: 6,
            rx_seq_discards: 7,
            rx_oos_packets: 8,
            rx_cookie_discards: 9,
            rx_invalid: 10,
        };
        let text = sessions_text(&[s.clone()], true);
        assert!(
            text.ends_with(
                "  tx_packets 1 tx_bytes 2 tx_errors 3\n  rx_packets 4 rx_bytes 5 rx_errors 6\n  \
                 rx_seq_discards 7 rx_oos_packets 8 rx_cookie_discards 9 rx_invalid 10\n"
            ),
            "{text}"
        );
        assert!(!sessions_text(&[s.clone()], false).contains("tx_packets"));
        // The fast path, and why transmit is not on it, only with -s.
        s.fast_path = FastPath {
            tx: false,
            rx: true,
            tx_note: Some("ul0 is a veth device (a virtual link)".into()),
        };
        assert!(sessions_text(&[s.clone()], true).contains(
            "  kernel fast path (tc-bpf): receive (transmit in userspace: ul0 is a veth device \
             (a virtual link))\n  tx_packets"
        ));
        assert!(!sessions_text(&[s.clone()], false).contains("fast path"));
        s.fast_path.tx = true;
        assert!(sessions_text(&[s], true)
            .contains("  kernel fast path (tc-bpf): transmit and receive\n  tx_packets"));
        let t = tunnel("198.18.0.1", "198.18.0.2", Encap::Udp);
        assert!(tunnels_text(&[t], true).contains("UDP checksum: disabled\n  tx_packets 0 "));
    }

    #[test]
    fn tunnel_json_uses_iproute2_keys() {
        let v: serde_json::Value = serde_json::from_str(&tunnels_json(
            &[tunnel("198.18.0.1", "198.18.0.2", Encap::Udp)],
            false,
            false,
        ))
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!([{"tunnel_id": 1, "encap": "UDP", "local": "198.18.0.1",
                "peer": "198.18.0.2", "peer_tunnel": 2, "local_port": 5000, "peer_port": 6000,
                "checksum": false, "origin": "static"}])
        );
        let out = tunnels_json(
            &[tunnel("2001:db8::1", "2001:db8::2", Encap::Udp)],
            true,
            false,
        );
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v[0]["checksum_tx"], true);
        assert_eq!(v[0]["checksum_rx"], true);
        assert!(v[0].get("checksum").is_none());
        assert_eq!(v[0]["stats"]["rx_invalid"], 0);
        let v: serde_json::Value = serde_json::from_str(&tunnels_json(
            &[tunnel("198.18.0.1", "198.18.0.2", Encap::Ip)],
            false,
            false,
        ))
        .unwrap();
        assert!(v[0].get("local_port").is_none() && v[0].get("checksum").is_none());
        assert_eq!(tunnels_json(&[], false, false), "[]\n");
    }

    #[test]
    fn tunnel_json_key_order_and_layout() {
        let out = tunnels_json(
            &[tunnel("198.18.0.1", "198.18.0.2", Encap::Udp)],
            false,
            false,
        );
        assert!(
            out.starts_with(r#"[{"tunnel_id":1,"encap":"UDP","local":"198.18.0.1","peer":"198.18.0.2","peer_tunnel":2,"local_port":5000"#),
            "{out}"
        );
        assert_eq!(out.lines().count(), 1);
        let pretty = tunnels_json(
            &[tunnel("198.18.0.1", "198.18.0.2", Encap::Udp)],
            false,
            true,
        );
        assert!(pretty.contains("\n        \"tunnel_id\": 1,\n"), "{pretty}");
    }

    #[test]
    fn session_json_uses_iproute2_keys() {
        let mut s = session();
        s.cookie = Some(Cookie::from_hex("01020304").unwrap());
        s.seq = SeqMode::Send;
        s.reorder_timeout_ms = Some(50);
        let out = sessions_json(&[s], false, false);
        assert!(out.contains(r#""send_seq":null"#), "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v,
            serde_json::json!([{"session_id": 10, "tunnel_id": 1, "peer_session_id": 20,
                "peer_tunnel_id": 2, "interface": "l2tpeth0", "cookie": "01020304",
                "reorder_timeout": 50, "send_seq": null, "l2spec_type": "default", "mtu": 1446,
                "origin": "static"}])
        );
    }

    fn dynamic_tunnel() -> TunnelState {
        let mut t = tunnel("198.18.0.1", "198.18.0.2", Encap::Udp);
        t.origin = Origin::Dynamic;
        t.control = Some(TunnelControl {
            name: "to-b".into(),
            state: "established".into(),
            initiator: true,
            authenticated: true,
            peer_host_name: Some("lcce-b".into()),
            peer_router_id: Some(0xc612_0002),
            peer_vendor_name: None,
            sessions: 1,
            stats: ControlCounters {
                tx_messages: 5,
                bad_digest: 2,
                ..ControlCounters::default()
            },
        });
        t
    }

    #[test]
    fn dynamic_tunnel_text_adds_control_lines() {
        let text = tunnels_text(&[dynamic_tunnel()], false);
        assert!(
            text.ends_with(
                "  UDP checksum: disabled\n  Dynamic tunnel \"to-b\": established, initiator, \
             authenticated\n  Peer host lcce-b, router ID 198.18.0.2, control sessions 1\n"
            ),
            "{text}"
        );
        let text = tunnels_text(&[dynamic_tunnel()], true);
        assert!(
            text.contains("  control tx 5 retransmit 0 acks 0 hello 0 unacked 0\n"),
            "{text}"
        );
        assert!(text.contains(" bad_digest 2 "), "{text}");
        let v: serde_json::Value =
            serde_json::from_str(&tunnels_json(&[dynamic_tunnel()], false, false)).unwrap();
        assert_eq!(v[0]["origin"], "dynamic");
        assert_eq!(v[0]["control"]["name"], "to-b");
        assert_eq!(v[0]["control"]["stats"]["bad_digest"], 2);
    }

    #[test]
    fn dynamic_session_text() {
        let mut s = session();
        s.origin = Origin::Dynamic;
        s.control = Some(SessionControl {
            tunnel_name: "to-b".into(),
            remote_end_id: "pw-1".into(),
            serial_number: 7,
            initiator: false,
            peer_circuit_active: true,
        });
        let text = sessions_text(&[s.clone()], false);
        assert!(text.ends_with(
            "offset 0, peer offset 0\n\n  Dynamic session in tunnel \"to-b\", remote end ID pw-1, \
             responder, serial 7, peer circuit up\n"
        ), "{text}");
        let v: serde_json::Value =
            serde_json::from_str(&sessions_json(&[s], false, false)).unwrap();
        assert_eq!(v[0]["control"]["remote_end_id"], "pw-1");
    }

    #[test]
    fn monitor_lines() {
        let m = MonitorMessage {
            time_ms: 3_600_000 * 25 + 61_234,
            direction: "sent".into(),
            encap: Encap::Udp,
            peer: "198.18.0.2:1701".into(),
            tunnel_id: Some(77),
            ccid: 0,
            message: "SCCRQ".into(),
            ns: 0,
            nr: 0,
            retransmit: true,
            avps: vec![
                l2tp_api::MonitorAvp {
                    name: "Message Digest".into(),
                    value: "{}".into(),
                },
                l2tp_api::MonitorAvp {
                    name: "Host Name".into(),
                    value: "\"lcce-a\"".into(),
                },
                l2tp_api::MonitorAvp {
                    name: "Vendor Name".into(),
                    value: "\"x\"".into(),
                },
                l2tp_api::MonitorAvp {
                    name: "Assigned Control Connection ID".into(),
                    value: "77".into(),
                },
            ],
        };
        assert_eq!(
            monitor_text(&m),
            "01:01:01.234 send -> 198.18.0.2:1701 tunnel 77 SCCRQ (retransmit) Ns 0 Nr 0 \
             MessageDigest HostName=\"lcce-a\" AssignedControlConnectionID=77\n"
        );
        let mut r = m.clone();
        r.direction = "received".into();
        r.tunnel_id = None;
        r.avps.clear();
        r.retransmit = false;
        assert_eq!(
            monitor_text(&r),
            "01:01:01.234 recv <- 198.18.0.2:1701 tunnel - SCCRQ Ns 0 Nr 0\n"
        );
        let v: serde_json::Value = serde_json::from_str(&monitor_json(&m)).unwrap();
        assert_eq!(v["message"], "SCCRQ");
        assert_eq!(v["avps"][1]["name"], "Host Name");
        assert_eq!(monitor_json(&m).lines().count(), 1);
    }

    #[test]
    fn control_status_text_names_state_and_errors() {
        let c = ControlStatus {
            listeners: vec!["udp 198.18.0.1:1701".into()],
            tunnels: vec![l2tp_api::ConfiguredTunnel {
                name: "to-b".into(),
                encap: Encap::Udp,
                local: "198.18.0.1:1701".into(),
                peer: "198.18.0.2:1701".into(),
                initiate: true,
                state: "retry-wait".into(),
                tunnel_id: None,
                attempts: 3,
                established: 1,
                last_error: Some("peer stopped acknowledging".into()),
                retry_in_ms: Some(2500),
            }],
            endpoints: vec![l2tp_api::EndpointCounters {
                encap: Encap::Udp,
                bad_digest: 4,
                ..Default::default()
            }],
        };
        let text = control_status_text(&c);
        assert!(text.starts_with("Listening on udp 198.18.0.1:1701\nTunnel \"to-b\" (initiator), encap UDP, 198.18.0.1:1701 -> 198.18.0.2:1701: retry-wait\n  attempts 3 established 1 retry in 2.5 s\n  last error: peer stopped acknowledging\n"), "{text}");
        assert!(text.contains("bad_digest 4"), "{text}");
        assert!(control_status_text(&ControlStatus::default()).contains("without --config"));
    }
}
