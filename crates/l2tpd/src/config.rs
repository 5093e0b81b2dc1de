//! `l2tpd --config FILE`: the LCCE's dynamic tunnels and sessions in TOML.
//!
//! Parsed by hand from a `toml::Table` rather than with serde derive so
//! every error names the file, the tunnel, the session and the key, with
//! the reason and the accepted values, e.g.
//! `lcce-a.toml: tunnel "to-b": key "encap": expected "udp" or "ip", got "tcp"`.

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use l2tp_api::{Encap, L2SpecType, PseudowireType, SeqMode};
use toml::{Table, Value};

/// The IANA L2TP port, the default for `local` and `peer` over UDP.
pub const L2TP_PORT: u16 = 1701;

/// Why a configuration file was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The file as given on the command line.
    pub file: String,
    /// Where in the file: `tunnel "to-b"`, `session 2`, ...
    pub path: Vec<String>,
    /// The offending key, if the problem is one key.
    pub key: Option<String>,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        for p in &self.path {
            write!(f, ": {p}")?;
        }
        if let Some(k) = &self.key {
            write!(f, ": key \"{k}\"")?;
        }
        write!(f, ": {}", self.reason)
    }
}

impl std::error::Error for ConfigError {}

/// Control Message Authentication digest (RFC 3931 5.4.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Digest {
    Md5,
    Sha1,
}

/// The whole file.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Host Name AVP of every tunnel that sets none.
    pub host_name: String,
    /// Router ID AVP.
    pub router_id: u32,
    /// Sessions one control connection may hold (ours and the peer's);
    /// beyond it requests are refused.
    pub max_sessions_per_tunnel: usize,
    pub tunnels: Vec<TunnelDef>,
}

/// Default of `max_sessions_per_tunnel`.
pub const DEFAULT_MAX_SESSIONS_PER_TUNNEL: usize = 65_535;

/// Upper bound of `max_sessions_per_tunnel` and of a session's `count`:
/// about a gigabyte of daemon memory at ~1 KiB per session.
pub const MAX_SESSIONS_LIMIT: i64 = 1 << 20;

/// Retransmission settings of the reliable control channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Retransmit {
    pub initial: Duration,
    pub max: Duration,
    pub retries: u32,
}

/// One `[[tunnel]]`.
#[derive(Clone, Debug, PartialEq)]
pub struct TunnelDef {
    pub name: String,
    pub encap: Encap,
    /// Address (and UDP port) we send from and listen on.
    pub local: SocketAddr,
    /// The peer; `None` accepts any peer (only when not initiating).
    pub peer: Option<SocketAddr>,
    /// We send the SCCRQ (and re-send it after the tunnel dies).
    pub initiate: bool,
    pub host_name: Option<String>,
    pub secret: Option<String>,
    pub digest: Digest,
    /// HELLO after this long without hearing from the peer; `None` never.
    pub hello_interval: Option<Duration>,
    pub retransmit: Retransmit,
    /// Receive Window Size AVP.
    pub window: u16,
    /// Wait between connection attempts of an initiator.
    pub retry_interval: Duration,
    pub sessions: Vec<SessionDef>,
}

/// One `[[tunnel.session]]`: a session to open (initiate) or a template for
/// sessions the peer asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionDef {
    pub pw_type: PseudowireType,
    /// Remote End ID AVP; an accepting template without one matches any.
    pub remote_end_id: Option<String>,
    /// Interface name; `l2tpeth%d` when absent.
    pub ifname: Option<String>,
    pub cookie_len: u8,
    pub seq: SeqMode,
    pub l2spec: L2SpecType,
    pub mtu: Option<u32>,
    /// We send the ICRQ.
    pub initiate: bool,
    /// How many such sessions to open (initiating entries only): one entry
    /// stands for many identical sessions, e.g. for scale tests.
    pub count: u32,
}

impl TunnelDef {
    /// The accepting template for a session request, if any: an exact
    /// Remote End ID match first, then a template without one.
    pub fn template_for(&self, remote_end_id: &[u8]) -> Option<&SessionDef> {
        let accepting = || self.sessions.iter().filter(|s| !s.initiate);
        accepting()
            .find(|s| {
                s.remote_end_id
                    .as_deref()
                    .is_some_and(|r| r.as_bytes() == remote_end_id)
            })
            .or_else(|| accepting().find(|s| s.remote_end_id.is_none()))
    }
}

/// Reads and checks a configuration file.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        file: file.clone(),
        path: vec![],
        key: None,
        reason: format!("cannot read: {e}"),
    })?;
    parse(&file, &text)
}

/// Parses configuration text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Config, ConfigError> {
    let table: Table = text.parse().map_err(|e: toml::de::Error| ConfigError {
        file: file.to_string(),
        path: vec![],
        key: None,
        reason: format!("not valid TOML: {}", e.message()),
    })?;
    let mut p = Parser {
        file: file.to_string(),
        path: Vec::new(),
    };
    p.config(&table)
}

struct Parser {
    file: String,
    path: Vec<String>,
}

const TOP_KEYS: &[&str] = &[
    "host_name",
    "router_id",
    "max_sessions_per_tunnel",
    "tunnel",
];
const TUNNEL_KEYS: &[&str] = &[
    "name",
    "encap",
    "local",
    "peer",
    "initiate",
    "version",
    "host_name",
    "secret",
    "digest",
    "hello_interval",
    "retransmit_initial",
    "retransmit_max",
    "retransmit_retries",
    "window",
    "retry_interval",
    "session",
];
const SESSION_KEYS: &[&str] = &[
    "pw_type",
    "remote_end_id",
    "name",
    "cookie_len",
    "seq",
    "l2spec",
    "mtu",
    "initiate",
    "count",
];

impl Parser {
    fn err(&self, key: Option<&str>, reason: impl Into<String>) -> ConfigError {
        ConfigError {
            file: self.file.clone(),
            path: self.path.clone(),
            key: key.map(str::to_string),
            reason: reason.into(),
        }
    }

    fn check_keys(&self, t: &Table, known: &[&str]) -> Result<(), ConfigError> {
        for k in t.keys() {
            if !known.contains(&k.as_str()) {
                return Err(self.err(
                    Some(k),
                    format!("unknown key; expected one of {}", known.join(", ")),
                ));
            }
        }
        Ok(())
    }

    fn string(&self, t: &Table, key: &str) -> Result<Option<String>, ConfigError> {
        match t.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(v) => Err(self.err(Some(key), format!("expected a string, got {}", describe(v)))),
        }
    }

    fn boolean(&self, t: &Table, key: &str) -> Result<Option<bool>, ConfigError> {
        match t.get(key) {
            None => Ok(None),
            Some(Value::Boolean(b)) => Ok(Some(*b)),
            Some(v) => Err(self.err(
                Some(key),
                format!("expected true or false, got {}", describe(v)),
            )),
        }
    }

    fn integer(
        &self,
        t: &Table,
        key: &str,
        min: i64,
        max: i64,
    ) -> Result<Option<i64>, ConfigError> {
        match t.get(key) {
            None => Ok(None),
            Some(Value::Integer(i)) if (min..=max).contains(i) => Ok(Some(*i)),
            Some(Value::Integer(i)) => Err(self.err(
                Some(key),
                format!("expected an integer in {min}..={max}, got {i}"),
            )),
            Some(v) => Err(self.err(
                Some(key),
                format!("expected an integer, got {}", describe(v)),
            )),
        }
    }

    /// Seconds as an integer or a float; `zero_ok` allows 0 (e.g. "never").
    fn seconds(
        &self,
        t: &Table,
        key: &str,
        zero_ok: bool,
    ) -> Result<Option<Duration>, ConfigError> {
        let secs = match t.get(key) {
            None => return Ok(None),
            Some(Value::Integer(i)) => *i as f64,
            Some(Value::Float(f)) => *f,
            Some(v) => {
                return Err(self.err(
                    Some(key),
                    format!("expected seconds (a number), got {}", describe(v)),
                ))
            }
        };
        let max = 86_400.0;
        if !secs.is_finite() || secs < 0.0 || secs > max || (secs == 0.0 && !zero_ok) {
            let low = if zero_ok { "0" } else { "more than 0" };
            return Err(self.err(
                Some(key),
                format!("expected {low} and at most {max} seconds, got {secs}"),
            ));
        }
        Ok(Some(Duration::from_secs_f64(secs)))
    }

    fn choice<T: Copy>(
        &self,
        t: &Table,
        key: &str,
        options: &[(&str, T)],
    ) -> Result<Option<T>, ConfigError> {
        let Some(s) = self.string(t, key)? else {
            return Ok(None);
        };
        if let Some((_, v)) = options.iter().find(|(w, _)| *w == s) {
            return Ok(Some(*v));
        }
        let words: Vec<String> = options.iter().map(|(w, _)| format!("\"{w}\"")).collect();
        let expected = match words.as_slice() {
            [a, b] => format!("{a} or {b}"),
            _ => format!("one of {}", words.join(", ")),
        };
        Err(self.err(Some(key), format!("expected {expected}, got \"{s}\"")))
    }

    fn config(&mut self, t: &Table) -> Result<Config, ConfigError> {
        self.check_keys(t, TOP_KEYS)?;
        let host_name = match self.string(t, "host_name")? {
            Some(h) if h.is_empty() => return Err(self.err(Some("host_name"), "must not be empty")),
            Some(h) => Some(h),
            None => None,
        };
        let router_id = self.router_id(t)?;
        let max_sessions = self
            .integer(t, "max_sessions_per_tunnel", 1, MAX_SESSIONS_LIMIT)?
            .map_or(DEFAULT_MAX_SESSIONS_PER_TUNNEL, |n| n as usize);
        let tunnels = match t.get("tunnel") {
            None => Vec::new(),
            Some(Value::Array(a)) => {
                let mut out = Vec::new();
                for (i, v) in a.iter().enumerate() {
                    let Value::Table(tt) = v else {
                        return Err(self.err(
                            Some("tunnel"),
                            format!("entry {} is not a table; write [[tunnel]] sections", i + 1),
                        ));
                    };
                    out.push(self.tunnel(tt, i)?);
                }
                out
            }
            Some(v) => {
                return Err(self.err(
                    Some("tunnel"),
                    format!("expected [[tunnel]] sections, got {}", describe(v)),
                ))
            }
        };
        let mut names = HashSet::new();
        let mut ifnames = HashSet::new();
        for td in &tunnels {
            let opened: u64 = td
                .sessions
                .iter()
                .filter(|s| s.initiate)
                .map(|s| u64::from(s.count))
                .sum();
            if opened > max_sessions as u64 {
                return Err(ConfigError {
                    file: self.file.clone(),
                    path: vec![format!("tunnel \"{}\"", td.name)],
                    key: Some("count".into()),
                    reason: format!(
                        "the tunnel opens {opened} sessions, more than max_sessions_per_tunnel \
                         ({max_sessions}); raise it at the top of the file"
                    ),
                });
            }
            if !names.insert(td.name.as_str()) {
                return Err(self.err(
                    None,
                    format!(
                        "two tunnels are named \"{}\"; names must be unique",
                        td.name
                    ),
                ));
            }
            for s in &td.sessions {
                if let Some(n) = &s.ifname {
                    if !ifnames.insert(n.as_str()) {
                        return Err(ConfigError {
                            file: self.file.clone(),
                            path: vec![format!("tunnel \"{}\"", td.name)],
                            key: Some("name".into()),
                            reason: format!("interface name \"{n}\" is used twice"),
                        });
                    }
                }
            }
        }
        let host_name = host_name.unwrap_or_else(default_host_name);
        let router_id = router_id.unwrap_or_else(|| default_router_id(&tunnels, &host_name));
        Ok(Config {
            host_name,
            router_id,
            max_sessions_per_tunnel: max_sessions,
            tunnels,
        })
    }

    fn router_id(&self, t: &Table) -> Result<Option<u32>, ConfigError> {
        match t.get("router_id") {
            None => Ok(None),
            Some(Value::Integer(i)) if (1..=i64::from(u32::MAX)).contains(i) => Ok(Some(*i as u32)),
            Some(Value::String(s)) => match s.parse::<Ipv4Addr>() {
                Ok(a) if u32::from(a) != 0 => Ok(Some(u32::from(a))),
                _ => Err(self.err(
                    Some("router_id"),
                    format!("expected an IPv4 address or an integer 1..=4294967295, got \"{s}\""),
                )),
            },
            Some(v) => Err(self.err(
                Some("router_id"),
                format!(
                    "expected an IPv4 address or an integer 1..=4294967295, got {}",
                    describe(v)
                ),
            )),
        }
    }

    fn tunnel(&mut self, t: &Table, index: usize) -> Result<TunnelDef, ConfigError> {
        let name = match t.get("name") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::String(_)) => {
                self.path = vec![format!("tunnel {}", index + 1)];
                return Err(self.err(Some("name"), "must not be empty"));
            }
            Some(v) => {
                self.path = vec![format!("tunnel {}", index + 1)];
                return Err(self.err(
                    Some("name"),
                    format!("expected a string, got {}", describe(v)),
                ));
            }
            None => {
                self.path = vec![format!("tunnel {}", index + 1)];
                return Err(self.err(Some("name"), "missing; every tunnel needs a name"));
            }
        };
        self.path = vec![format!("tunnel \"{name}\"")];
        self.check_keys(t, TUNNEL_KEYS)?;
        if name.parse::<u32>().is_ok() {
            return Err(self.err(
                Some("name"),
                "must not be a number (numbers name tunnels by ID on the command line)",
            ));
        }
        if let Some(v) = self.integer(t, "version", 0, 255)? {
            match v {
                3 => {}
                2 => {
                    return Err(self.err(
                        Some("version"),
                        "L2TPv2 is not supported; only version 3 (RFC 3931)",
                    ))
                }
                v => return Err(self.err(Some("version"), format!("expected 3, got {v}"))),
            }
        }
        let encap = self
            .choice(t, "encap", &[("udp", Encap::Udp), ("ip", Encap::Ip)])?
            .unwrap_or(Encap::Udp);
        let initiate = self.boolean(t, "initiate")?.unwrap_or(false);
        let peer = match self.string(t, "peer")? {
            None => {
                return Err(self.err(
                    Some("peer"),
                    "missing; give the peer's address, or \"any\" to accept anyone",
                ))
            }
            Some(s) if s == "any" => {
                if initiate {
                    return Err(self.err(
                        Some("peer"),
                        "\"any\" only suits accepting tunnels; an initiator needs an address",
                    ));
                }
                None
            }
            Some(s) => Some(self.address(&s, "peer", encap)?),
        };
        let local = match self.string(t, "local")? {
            Some(s) => self.address(&s, "local", encap)?,
            None => {
                return Err(self.err(
                    Some("local"),
                    "missing; give the address to send from and listen on",
                ))
            }
        };
        if local.ip().is_unspecified() || local.ip().is_multicast() {
            return Err(self.err(
                Some("local"),
                format!("{} is not a unicast address of this host", local.ip()),
            ));
        }
        if let Some(p) = peer {
            if p.ip().is_ipv4() != local.ip().is_ipv4() {
                return Err(self.err(
                    Some("peer"),
                    format!(
                        "{} and local {} are of different address families",
                        p.ip(),
                        local.ip()
                    ),
                ));
            }
            if p.ip().is_unspecified() || p.ip().is_multicast() {
                return Err(self.err(Some("peer"), format!("{} is not a unicast address", p.ip())));
            }
        }
        let host_name = match self.string(t, "host_name")? {
            Some(h) if h.is_empty() => return Err(self.err(Some("host_name"), "must not be empty")),
            h => h,
        };
        let secret = match self.string(t, "secret")? {
            Some(s) if s.is_empty() => {
                return Err(self.err(
                    Some("secret"),
                    "must not be empty (leave it out for no authentication)",
                ))
            }
            s => s,
        };
        let digest = self
            .choice(t, "digest", &[("md5", Digest::Md5), ("sha1", Digest::Sha1)])?
            .unwrap_or(Digest::Md5);
        if t.contains_key("digest") && secret.is_none() {
            return Err(self.err(Some("digest"), "needs a \"secret\" to authenticate with"));
        }
        let hello_interval = match self.seconds(t, "hello_interval", true)? {
            None => Some(Duration::from_secs(60)),
            Some(d) if d.is_zero() => None,
            Some(d) if d < Duration::from_millis(100) => {
                return Err(self.err(
                    Some("hello_interval"),
                    "must be 0 (off) or at least 0.1 seconds",
                ))
            }
            Some(d) => Some(d),
        };
        let initial = self
            .seconds(t, "retransmit_initial", false)?
            .unwrap_or(Duration::from_secs(1));
        let max = self
            .seconds(t, "retransmit_max", false)?
            .unwrap_or(Duration::from_secs(8).max(initial));
        if max < initial {
            return Err(self.err(
                Some("retransmit_max"),
                format!(
                    "{} s is shorter than retransmit_initial ({} s)",
                    max.as_secs_f64(),
                    initial.as_secs_f64()
                ),
            ));
        }
        let retries = self.integer(t, "retransmit_retries", 1, 100)?.unwrap_or(5) as u32;
        let window = self.integer(t, "window", 1, 65535)?.unwrap_or(16) as u16;
        let retry_interval = self
            .seconds(t, "retry_interval", false)?
            .unwrap_or(Duration::from_secs(5));
        let sessions = match t.get("session") {
            None => Vec::new(),
            Some(Value::Array(a)) => {
                let mut out = Vec::new();
                for (i, v) in a.iter().enumerate() {
                    let Value::Table(st) = v else {
                        return Err(
                            self.err(Some("session"), "expected [[tunnel.session]] sections")
                        );
                    };
                    self.path.push(format!("session {}", i + 1));
                    let s = self.session(st, initiate)?;
                    self.path.pop();
                    out.push(s);
                }
                out
            }
            Some(v) => {
                return Err(self.err(
                    Some("session"),
                    format!("expected [[tunnel.session]] sections, got {}", describe(v)),
                ))
            }
        };
        let mut ids = HashSet::new();
        for s in sessions.iter().filter(|s| !s.initiate) {
            if !ids.insert(s.remote_end_id.clone()) {
                return Err(self.err(
                    Some("session"),
                    match &s.remote_end_id {
                        Some(r) => format!("two accepting sessions have remote_end_id \"{r}\""),
                        None => {
                            "two accepting sessions have no remote_end_id (only one may match any)"
                                .into()
                        }
                    },
                ));
            }
        }
        Ok(TunnelDef {
            name,
            encap,
            local,
            peer,
            initiate,
            host_name,
            secret,
            digest,
            hello_interval,
            retransmit: Retransmit {
                initial,
                max,
                retries,
            },
            window,
            retry_interval,
            sessions,
        })
    }

    /// "ADDR", "ADDR:PORT" or "[V6]:PORT"; ports only over UDP.
    fn address(&self, s: &str, key: &str, encap: Encap) -> Result<SocketAddr, ConfigError> {
        let parsed = if let Ok(ip) = s.parse::<IpAddr>() {
            SocketAddr::new(ip, if encap == Encap::Udp { L2TP_PORT } else { 0 })
        } else if let Ok(sa) = s.parse::<SocketAddr>() {
            if encap == Encap::Ip {
                return Err(self.err(
                    Some(key),
                    format!("\"{s}\" has a port, but encap \"ip\" has no ports"),
                ));
            }
            if sa.port() == 0 {
                return Err(self.err(Some(key), "port must be 1..65535"));
            }
            sa
        } else {
            return Err(self.err(
                Some(key),
                format!("expected an IP address, \"ADDR:PORT\" or \"[IPV6]:PORT\", got \"{s}\""),
            ));
        };
        Ok(parsed)
    }

    fn session(&self, t: &Table, tunnel_initiates: bool) -> Result<SessionDef, ConfigError> {
        self.check_keys(t, SESSION_KEYS)?;
        let pw_type = self
            .choice(
                t,
                "pw_type",
                &[
                    ("ethernet", PseudowireType::Ethernet),
                    ("eth", PseudowireType::Ethernet),
                    ("none", PseudowireType::Null),
                ],
            )?
            .unwrap_or(PseudowireType::Ethernet);
        let remote_end_id = match self.string(t, "remote_end_id")? {
            Some(r) if r.is_empty() => {
                return Err(self.err(Some("remote_end_id"), "must not be empty"))
            }
            Some(r) if r.len() > 1000 => {
                return Err(self.err(Some("remote_end_id"), "longer than 1000 bytes"))
            }
            r => r,
        };
        let ifname = match self.string(t, "name")? {
            Some(n) => {
                if let Err(reason) = check_ifname(&n) {
                    return Err(self.err(Some("name"), reason));
                }
                Some(n)
            }
            None => None,
        };
        let cookie_len = match self.integer(t, "cookie_len", 0, 8)? {
            None => 0,
            Some(n @ (0 | 4 | 8)) => n as u8,
            Some(n) => {
                return Err(self.err(Some("cookie_len"), format!("expected 0, 4 or 8, got {n}")))
            }
        };
        let seq = self
            .choice(
                t,
                "seq",
                &[
                    ("none", SeqMode::None),
                    ("send", SeqMode::Send),
                    ("recv", SeqMode::Recv),
                    ("both", SeqMode::Both),
                ],
            )?
            .unwrap_or(SeqMode::None);
        let l2spec = self
            .choice(
                t,
                "l2spec",
                &[("default", L2SpecType::Default), ("none", L2SpecType::None)],
            )?
            .unwrap_or(L2SpecType::Default);
        if seq != SeqMode::None && l2spec == L2SpecType::None {
            return Err(self.err(
                Some("seq"),
                "sequence numbers travel in the default L2-Specific Sublayer; set l2spec = \"default\"",
            ));
        }
        let mtu = self.integer(t, "mtu", 68, 65535)?.map(|m| m as u32);
        let initiate = self.boolean(t, "initiate")?.unwrap_or(tunnel_initiates);
        if ifname.is_some() && pw_type == PseudowireType::Null {
            return Err(self.err(Some("name"), "pw_type \"none\" sessions have no interface"));
        }
        let count = self
            .integer(t, "count", 1, MAX_SESSIONS_LIMIT)?
            .map_or(1, |n| n as u32);
        if count > 1 && !initiate {
            return Err(self.err(
                Some("count"),
                "only sessions this side opens (initiate = true) can be repeated; \
                 one accepting template serves any number of requests",
            ));
        }
        if count > 1 && ifname.as_deref().is_some_and(|n| !n.contains("%d")) {
            return Err(self.err(
                Some("count"),
                "several sessions cannot share one interface name; use a %d template in \"name\"",
            ));
        }
        Ok(SessionDef {
            pw_type,
            remote_end_id,
            ifname,
            cookie_len,
            seq,
            l2spec,
            mtu,
            initiate,
            count,
        })
    }
}

/// The kernel's rules for interface names (`dev_valid_name`).
pub fn check_ifname(n: &str) -> Result<(), String> {
    if n.is_empty() || n.len() > 15 {
        return Err(format!("\"{n}\" is not 1..15 bytes long"));
    }
    if n == "."
        || n == ".."
        || n.contains('/')
        || n.contains(':')
        || n.chars().any(char::is_whitespace)
    {
        return Err(format!("\"{n}\" is not a valid interface name"));
    }
    if n.contains('%') && (n.matches('%').count() > 1 || !n.contains("%d")) {
        return Err(format!("\"{n}\": only one %d template is allowed"));
    }
    Ok(())
}

fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => format!("the string \"{s}\""),
        Value::Integer(i) => format!("the integer {i}"),
        Value::Float(f) => format!("the number {f}"),
        Value::Boolean(b) => format!("{b}"),
        Value::Datetime(d) => format!("the date {d}"),
        Value::Array(_) => "an array".into(),
        Value::Table(_) => "a table".into(),
    }
}

fn default_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "l2tpd".to_string())
}

/// The first local IPv4 address, else a hash of the host name: stable
/// across restarts, which tie breaking and the peer's logs appreciate.
fn default_router_id(tunnels: &[TunnelDef], host_name: &str) -> u32 {
    for t in tunnels {
        if let IpAddr::V4(a) = t.local.ip() {
            return u32::from(a);
        }
    }
    // FNV-1a.
    let mut h: u32 = 0x811c_9dc5;
    for b in host_name.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse("lcce-a.toml", text).unwrap_err().to_string()
    }

    const MINIMAL: &str = r#"
[[tunnel]]
name = "to-b"
local = "198.18.0.1"
peer = "198.18.0.2"
initiate = true
"#;

    #[test]
    fn minimal_tunnel_takes_defaults() {
        let c = parse("x.toml", MINIMAL).unwrap();
        assert_eq!(c.router_id, u32::from(Ipv4Addr::new(198, 18, 0, 1)));
        let t = &c.tunnels[0];
        assert_eq!(t.encap, Encap::Udp);
        assert_eq!(t.local, "198.18.0.1:1701".parse().unwrap());
        assert_eq!(t.peer, Some("198.18.0.2:1701".parse().unwrap()));
        assert_eq!(t.hello_interval, Some(Duration::from_secs(60)));
        assert_eq!(t.retransmit.initial, Duration::from_secs(1));
        assert_eq!(t.retransmit.max, Duration::from_secs(8));
        assert_eq!((t.retransmit.retries, t.window), (5, 16));
        assert_eq!(t.retry_interval, Duration::from_secs(5));
        assert!(t.secret.is_none() && t.sessions.is_empty());
    }

    #[test]
    fn full_file() {
        let c = parse(
            "x.toml",
            r#"
host_name = "lcce-a"
router_id = "10.0.0.1"

[[tunnel]]
name = "to-b"
encap = "ip"
version = 3
local = "2001:db8::1"
peer = "2001:db8::2"
initiate = true
host_name = "a-side"
secret = "s3cret"
digest = "sha1"
hello_interval = 0
retransmit_initial = 0.5
retransmit_max = 2
retransmit_retries = 3
window = 8
retry_interval = 1.5

[[tunnel.session]]
pw_type = "eth"
remote_end_id = "pw-1"
name = "l2tpeth0"
cookie_len = 8
seq = "both"
l2spec = "default"
mtu = 1400

[[tunnel.session]]
initiate = false
cookie_len = 4

[[tunnel]]
name = "from-any"
local = "198.18.0.1:1702"
peer = "any"
"#,
        )
        .unwrap();
        assert_eq!(c.host_name, "lcce-a");
        assert_eq!(c.router_id, 0x0a00_0001);
        let t = &c.tunnels[0];
        assert_eq!(t.local, "[2001:db8::1]:0".parse().unwrap());
        assert_eq!(t.digest, Digest::Sha1);
        assert_eq!(t.hello_interval, None);
        assert_eq!(t.retransmit.initial, Duration::from_millis(500));
        assert_eq!(t.retry_interval, Duration::from_millis(1500));
        assert_eq!(t.sessions.len(), 2);
        assert!(t.sessions[0].initiate && !t.sessions[1].initiate);
        assert_eq!(t.sessions[0].seq, SeqMode::Both);
        assert_eq!(t.template_for(b"pw-9"), Some(&t.sessions[1]));
        assert_eq!(c.tunnels[1].peer, None);
        assert_eq!(c.tunnels[1].local.port(), 1702);
    }

    #[test]
    fn templates_prefer_exact_remote_end_id() {
        let c = parse(
            "x.toml",
            r#"
[[tunnel]]
name = "b"
local = "198.18.0.2"
peer = "198.18.0.1"
[[tunnel.session]]
name = "any0"
[[tunnel.session]]
remote_end_id = "pw-1"
name = "pw1"
"#,
        )
        .unwrap();
        let t = &c.tunnels[0];
        assert_eq!(
            t.template_for(b"pw-1").unwrap().ifname.as_deref(),
            Some("pw1")
        );
        assert_eq!(
            t.template_for(b"other").unwrap().ifname.as_deref(),
            Some("any0")
        );
        assert_eq!(t.template_for(b"").unwrap().ifname.as_deref(), Some("any0"));
    }

    #[test]
    fn errors_name_file_tunnel_key_and_reason() {
        let cases: &[(&str, &str)] = &[
            (
                "[[tunnel]]\nname = \"to-b\"\nencap = \"tcp\"\nlocal = \"198.18.0.1\"\npeer = \"198.18.0.2\"\n",
                "lcce-a.toml: tunnel \"to-b\": key \"encap\": expected \"udp\" or \"ip\", got \"tcp\"",
            ),
            (
                "[[tunnel]]\nlocal = \"198.18.0.1\"\n",
                "lcce-a.toml: tunnel 1: key \"name\": missing; every tunnel needs a name",
            ),
            (
                "[[tunnel]]\nname = \"t\"\nlocal = \"198.18.0.1\"\npeer = \"198.18.0.2\"\nversion = 2\n",
                "lcce-a.toml: tunnel \"t\": key \"version\": L2TPv2 is not supported; only version 3 (RFC 3931)",
            ),
            (
                "[[tunnel]]\nname = \"t\"\nlocal = \"198.18.0.1\"\npeer = \"198.18.0.2\"\nbogus = 1\n",
                "lcce-a.toml: tunnel \"t\": key \"bogus\": unknown key; expected one of",
            ),
            (
                "[[tunnel]]\nname = \"t\"\nlocal = \"198.18.0.1\"\npeer = \"2001:db8::2\"\n",
                "key \"peer\": 2001:db8::2 and local 198.18.0.1 are of different address families",
            ),
            (
                "[[tunnel]]\nname = \"t\"\nlocal = \"198.18.0.1\"\npeer = \"any\"\ninitiate = true\n",
                "key \"peer\": \"any\" only suits accepting tunnels",
            ),
            (
                "[[tunnel]]\nname = \"t\"\nencap = \"ip\"\nlocal = \"198.18.0.1:5\"\npeer = \"198.18.0.2\"\n",
                "key \"local\": \"198.18.0.1:5\" has a port, but encap \"ip\" has no ports",
            ),
            (
                "[[tunnel]]\nname = \"t\"\nlocal = \"198.18.0.1\"\npeer = \"198.18.0.2\"\nhello_interval = \"soon\"\n",
                "key \"hello_interval\": expected seconds (a number), got the string \"soon\"",
            ),
            (
                "[[tunnel]]\nname = \"t\"\nlocal = \"198.18.0.1\"\npeer = \"198.18.0.2\"\nwindow = 0\n",
                "key \"window\": expected an integer in 1..=65535, got 0",
            ),
            (
                "[[tunnel]]\nname = \"t\"\nlocal = \"198.18.0.1\"\npeer = \"198.18.0.2\"\ndigest = \"md5\"\n",
                "key \"digest\": needs a \"secret\"",
            ),
            (
                "[[tunnel]]\nname = \"t\"\nlocal = \"198.18.0.1\"\npeer = \"198.18.0.2\"\n[[tunnel.session]]\ncookie_len = 3\n",
                "lcce-a.toml: tunnel \"t\": session 1: key \"cookie_len\": expected 0, 4 or 8, got 3",
            ),
            (
                "[[tunnel]]\nname = \"t\"\nlocal = \"198.18.0.1\"\npeer = \"198.18.0.2\"\n[[tunnel.session]]\nseq = \"both\"\nl2spec = \"none\"\n",
                "session 1: key \"seq\": sequence numbers travel in the default L2-Specific Sublayer",
            ),
            (
                "[[tunnel]]\nname = \"t\"\nlocal = \"198.18.0.1\"\npeer = \"198.18.0.2\"\n[[tunnel.session]]\nname = \"a/b\"\n",
                "session 1: key \"name\": \"a/b\" is not a valid interface name",
            ),
            (
                "[[tunnel]]\nname = \"t\"\nlocal = \"198.18.0.1\"\npeer = \"198.18.0.2\"\n[[tunnel.session]]\npw_type = \"ppp\"\n",
                "key \"pw_type\": expected one of \"ethernet\", \"eth\", \"none\", got \"ppp\"",
            ),
            (
                "[[tunnel]]\nname = \"t\"\nlocal = \"198.18.0.1\"\npeer = \"198.18.0.2\"\n[[tunnel]]\nname = \"t\"\nlocal = \"198.18.0.1\"\npeer = \"198.18.0.3\"\n",
                "two tunnels are named \"t\"",
            ),
            ("router_id = \"x\"\n", "key \"router_id\": expected an IPv4 address"),
            ("tunnel = 3\n", "key \"tunnel\": expected [[tunnel]] sections"),
            ("this is not toml", "lcce-a.toml: not valid TOML"),
        ];
        for (text, want) in cases {
            let got = err(text);
            assert!(got.contains(want), "{text:?}:\n got {got}\nwant {want}");
            assert!(got.starts_with("lcce-a.toml: "), "{got}");
        }
    }

    #[test]
    fn count_repeats_an_initiating_session() {
        let c = parse(
            "x.toml",
            r#"
max_sessions_per_tunnel = 200000

[[tunnel]]
name = "to-b"
local = "198.18.0.1"
peer = "198.18.0.2"
initiate = true
[[tunnel.session]]
pw_type = "none"
count = 100000
[[tunnel.session]]
name = "pw%d"
count = 3
"#,
        )
        .unwrap();
        assert_eq!(c.max_sessions_per_tunnel, 200_000);
        let t = &c.tunnels[0];
        assert_eq!(t.sessions[0].count, 100_000);
        assert_eq!(t.sessions[0].pw_type, PseudowireType::Null);
        assert_eq!(t.sessions[1].count, 3);
        let m = parse("x.toml", MINIMAL).unwrap();
        assert_eq!(m.max_sessions_per_tunnel, DEFAULT_MAX_SESSIONS_PER_TUNNEL);
    }

    #[test]
    fn count_errors() {
        let head = "[[tunnel]]\nname = \"t\"\nlocal = \"198.18.0.1\"\npeer = \"198.18.0.2\"\n\
                    initiate = true\n";
        let cases: &[(&str, &str)] = &[
            (
                "[[tunnel.session]]\ncount = 0\n",
                "session 1: key \"count\": expected an integer in 1..=1048576, got 0",
            ),
            (
                "[[tunnel.session]]\ncount = 2\ninitiate = false\n",
                "session 1: key \"count\": only sessions this side opens",
            ),
            (
                "[[tunnel.session]]\ncount = 2\nname = \"pw0\"\n",
                "session 1: key \"count\": several sessions cannot share one interface name",
            ),
            (
                "[[tunnel.session]]\npw_type = \"none\"\ncount = 70000\n",
                "tunnel \"t\": key \"count\": the tunnel opens 70000 sessions, more than \
                 max_sessions_per_tunnel (65535)",
            ),
        ];
        for (tail, want) in cases {
            let got = err(&format!("{head}{tail}"));
            assert!(got.contains(want), "{tail:?}:\n got {got}\nwant {want}");
        }
        assert!(err("max_sessions_per_tunnel = 0\n")
            .contains("key \"max_sessions_per_tunnel\": expected an integer in 1..=1048576"));
    }

    #[test]
    fn example_pair_is_ready() {
        let a = parse("lcce-a.toml", include_str!("../../../examples/lcce-a.toml")).unwrap();
        let b = parse("lcce-b.toml", include_str!("../../../examples/lcce-b.toml")).unwrap();
        let (ta, tb) = (&a.tunnels[0], &b.tunnels[0]);
        assert!(ta.initiate && !tb.initiate);
        assert_eq!(ta.local, tb.peer.unwrap());
        assert_eq!(tb.local, ta.peer.unwrap());
        assert_eq!(ta.local.ip().to_string(), "198.18.0.1");
        assert_eq!(tb.local.ip().to_string(), "198.18.0.2");
        assert_eq!(ta.secret, tb.secret);
        let (sa, sb) = (&ta.sessions[0], &tb.sessions[0]);
        assert!(sa.initiate && !sb.initiate);
        assert_eq!(sa.ifname.as_deref(), Some("l2tpeth0"));
        assert_eq!(sb.ifname.as_deref(), Some("l2tpeth0"));
        assert_eq!(
            tb.template_for(sa.remote_end_id.as_deref().unwrap().as_bytes()),
            Some(sb)
        );
    }
}
