//! The `ip l2tp` command-line grammar, so `l2tp` can replace `ip l2tp` in
//! existing scripts: same keywords, aliases, abbreviations, defaults and
//! error wording (with `l2tp` in place of `ip l2tp`).

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use l2tp_api::{
    Cookie, DynamicSessionSpec, Encap, L2SpecType, PseudowireType, SeqMode, SessionSpec, TunnelSpec,
};

/// Usage text, in the layout of `ip l2tp help`, plus our extra options.
pub const USAGE: &str = "\
Usage: l2tp [ OPTIONS ] add tunnel
          remote ADDR local ADDR
          tunnel_id ID peer_tunnel_id ID
          [ encap { ip | udp } ]
          [ udp_sport PORT ] [ udp_dport PORT ]
          [ udp_csum { on | off } ]
          [ udp6_csum_tx { on | off } ]
          [ udp6_csum_rx { on | off } ]
Usage: l2tp [ OPTIONS ] add session [ name NAME ]
          tunnel_id ID
          session_id ID peer_session_id ID
          [ cookie HEXSTR ] [ peer_cookie HEXSTR ]
          [ seq { none | send | recv | both } ]
          [ l2spec_type L2SPEC ]
          [ mtu MTU ] [ reorder_timeout MS ]
Usage: l2tp [ OPTIONS ] add session dynamic tunnel { NAME | ID }
          [ pw_type { eth | none } ] [ remote_end_id STRING ]
          [ name NAME ] [ cookie_len { 0 | 4 | 8 } ]
          [ seq { none | send | recv | both } ]
          [ l2spec_type L2SPEC ] [ mtu MTU ]
       l2tp [ OPTIONS ] del tunnel tunnel_id ID
       l2tp [ OPTIONS ] del session tunnel_id ID session_id ID
       l2tp [ OPTIONS ] show tunnel [ tunnel_id ID ]
       l2tp [ OPTIONS ] show session [ tunnel_id ID ] [ session_id ID ]
       l2tp [ OPTIONS ] show control
       l2tp [ OPTIONS ] monitor
       l2tp decode [ DECODE-OPTIONS ] FILE
       l2tp help

Where: NAME   := STRING
       ADDR   := { IP_ADDRESS | any }
       PORT   := { 0..65535 }
       ID     := { 1..4294967295 }
       HEXSTR := { 8 or 16 hex digits (4 / 8 bytes) }
       L2SPEC := { none | default }
       MTU    := { 68..65535 }
       MS     := reorder timeout in milliseconds
       OPTIONS := { -j[son] | -p[retty] | -s[tatistics] | -V[ersion] |
                    --socket PATH }
Defaults: encap udp, udp_sport/udp_dport 1701, l2spec_type default, seq none.
Dynamic tunnels come from l2tpd --config FILE; `add session dynamic` asks the
peer for a session (ICRQ), `del` of a dynamic session or tunnel sends CDN or
StopCCN, `monitor` prints the control messages until Ctrl-C (-j: JSON lines).
The daemon socket is --socket PATH, else $L2TP_SOCKET, else /run/l2tpd.sock.
";

/// Options given before the command word.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Global {
    pub json: bool,
    pub pretty: bool,
    pub stats: bool,
    pub socket: Option<PathBuf>,
}

/// A fully parsed invocation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `add tunnel ...`, `add session ...`, or both in one line (as `ip l2tp` allows).
    Add {
        tunnel: Option<TunnelSpec>,
        session: Option<SessionSpec>,
    },
    DelTunnel {
        tunnel_id: u32,
    },
    DelSession {
        tunnel_id: u32,
        session_id: u32,
    },
    ShowTunnel {
        tunnel_id: Option<u32>,
    },
    ShowSession {
        tunnel_id: Option<u32>,
        session_id: Option<u32>,
    },
    /// `add session dynamic ...`: a session set up by the control protocol.
    AddDynamic(DynamicSessionSpec),
    /// `show control`: configured tunnels and control-plane counters.
    ShowControl,
    /// `monitor`: live control messages.
    Monitor,
    Help,
    Version,
    /// Everything after `decode`, handed to the decoder untouched.
    Decode(Vec<String>),
}

/// A parsed command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub global: Global,
    pub command: Command,
}

/// A command-line mistake. Display gives `ip l2tp`'s wording.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CliError {
    /// Nothing after the options.
    NoCommand,
    /// A command word with nothing after it: print the usage, fail.
    Usage,
    /// The command word (add/del/show/...) is not known.
    UnknownCommand(String),
    /// An argument of add/del/show is not a keyword.
    UnknownArgument(String),
    /// A global option is not known.
    UnknownOption(String),
    /// A keyword's value is missing at the end of the line.
    Incomplete {
        keyword: String,
    },
    /// A keyword's value is malformed.
    Invalid {
        arg: String,
        reason: String,
    },
    /// A required keyword is absent.
    Missing(&'static str),
    UnknownEncap(String),
    UnknownL2Spec(String),
    UnknownSeq(String),
}

impl CliError {
    /// Whether the usage text should follow the message (as `ip l2tp` does).
    pub fn wants_usage(&self) -> bool {
        matches!(
            self,
            CliError::NoCommand | CliError::Usage | CliError::UnknownArgument(_)
        )
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::NoCommand => f.write_str("No command given, try \"l2tp help\"."),
            CliError::Usage => f.write_str("Incomplete command."),
            CliError::UnknownCommand(c) => {
                write!(f, "Command \"{c}\" is unknown, try \"l2tp help\".")
            }
            CliError::UnknownArgument(a) => write!(f, "Unknown command: {a}"),
            CliError::UnknownOption(o) => {
                write!(f, "Option \"{o}\" is unknown, try \"l2tp -help\".")
            }
            CliError::Incomplete { keyword } => write!(
                f,
                "Command line is not complete: \"{keyword}\" needs a value. Try option \"help\""
            ),
            CliError::Invalid { arg, reason } => {
                write!(f, "Error: argument \"{arg}\" is wrong: {reason}")
            }
            CliError::Missing(key) => write!(f, "Error: argument \"{key}\" is required"),
            CliError::UnknownEncap(e) => write!(f, "Unknown tunnel encapsulation \"{e}\""),
            CliError::UnknownL2Spec(e) => {
                write!(f, "Unknown layer2specific header type \"{e}\"")
            }
            CliError::UnknownSeq(e) => write!(f, "Unknown seq value \"{e}\""),
        }
    }
}

impl std::error::Error for CliError {}

/// iproute2's `matches()`: `word` is a non-empty prefix of `keyword`.
pub fn matches(word: &str, keyword: &str) -> bool {
    !word.is_empty() && keyword.starts_with(word)
}

/// Parses the whole command line (without the program name). `warnings`
/// collects what `ip l2tp` prints without failing, even when a later
/// argument is an error.
pub fn parse(args: &[String], warnings: &mut Vec<String>) -> Result<Parsed, CliError> {
    let mut global = Global::default();
    let mut i = 0;
    while let Some(arg) = args.get(i) {
        if !arg.starts_with('-') || arg == "-" {
            break;
        }
        if arg == "--" {
            i += 1;
            break;
        }
        // iproute2 accepts `--json` as well as `-json`.
        let opt = arg
            .strip_prefix('-')
            .filter(|o| o.starts_with('-'))
            .unwrap_or(arg);
        if let Some(path) = opt.strip_prefix("-socket=") {
            global.socket = Some(PathBuf::from(path));
        } else if opt == "-socket" {
            i += 1;
            let path = args.get(i).ok_or_else(|| CliError::Incomplete {
                keyword: arg.clone(),
            })?;
            global.socket = Some(PathBuf::from(path));
        } else if matches(opt, "-statistics") || matches(opt, "-stats") {
            global.stats = true;
        } else if matches(opt, "-json") {
            global.json = true;
        } else if matches(opt, "-pretty") {
            global.pretty = true;
        } else if matches(opt, "-help") {
            return Ok(Parsed {
                global,
                command: Command::Help,
            });
        } else if matches(opt, "-Version") {
            return Ok(Parsed {
                global,
                command: Command::Version,
            });
        } else {
            return Err(CliError::UnknownOption(arg.clone()));
        }
        i += 1;
    }
    let rest = args.get(i..).unwrap_or_default();
    let (word, rest) = rest.split_first().ok_or(CliError::NoCommand)?;
    let command = if matches(word, "help") {
        Command::Help
    } else if matches(word, "add") {
        parse_add(rest, warnings)?
    } else if matches(word, "delete") {
        parse_del(rest, warnings)?
    } else if matches(word, "show") || matches(word, "lst") || matches(word, "list") {
        parse_show(rest, warnings)?
    } else if word.len() >= 2 && matches(word, "monitor") {
        if let Some(extra) = rest.first() {
            return Err(CliError::UnknownArgument(extra.clone()));
        }
        Command::Monitor
    } else if word.len() >= 3 && matches(word, "decode") {
        Command::Decode(rest.to_vec())
    } else if matches(word, "version") {
        Command::Version
    } else {
        return Err(CliError::UnknownCommand(word.clone()));
    };
    Ok(Parsed { global, command })
}

/// Everything `parse_args` in ip/ipl2tp.c collects; the same keyword set is
/// accepted by add, del and show, keywords irrelevant to a command are ignored.
#[derive(Debug, Default)]
struct Params {
    tunnel: bool,
    session: bool,
    help: bool,
    tunnel_id: u32,
    peer_tunnel_id: u32,
    session_id: u32,
    peer_session_id: u32,
    encap: Encap,
    local: Option<IpAddr>,
    remote: Option<IpAddr>,
    udp_sport: Option<u16>,
    udp_dport: Option<u16>,
    udp_csum: bool,
    udp6_csum_tx: bool,
    udp6_csum_rx: bool,
    name: Option<String>,
    cookie: Option<Cookie>,
    peer_cookie: Option<Cookie>,
    l2spec_type: L2SpecType,
    send_seq: bool,
    recv_seq: bool,
    mtu: Option<u32>,
    reorder_timeout_ms: Option<u64>,
}

fn parse_params(args: &[String], warnings: &mut Vec<String>) -> Result<Params, CliError> {
    let mut p = Params {
        udp6_csum_tx: true,
        udp6_csum_rx: true,
        ..Params::default()
    };
    let mut it = args.iter();
    while let Some(kw) = it.next() {
        let mut value = || {
            it.next().ok_or_else(|| CliError::Incomplete {
                keyword: kw.clone(),
            })
        };
        match kw.as_str() {
            "encap" => {
                let v = value()?;
                p.encap = match v.as_str() {
                    "ip" => Encap::Ip,
                    "udp" => Encap::Udp,
                    _ => return Err(CliError::UnknownEncap(v.clone())),
                };
            }
            "name" => p.name = Some(parse_ifname(value()?)?),
            "remote" => p.remote = parse_addr(value()?, "remote")?,
            "local" => p.local = parse_addr(value()?, "local")?,
            "tunnel_id" | "tid" => p.tunnel_id = parse_id(value()?, "tunnel_id")?,
            "peer_tunnel_id" | "ptid" => p.peer_tunnel_id = parse_id(value()?, "peer_tunnel_id")?,
            "session_id" | "sid" => p.session_id = parse_id(value()?, "session_id")?,
            "peer_session_id" | "psid" => {
                p.peer_session_id = parse_id(value()?, "peer_session_id")?
            }
            "udp_sport" => p.udp_sport = Some(parse_port(value()?, "udp_sport")?),
            "udp_dport" => p.udp_dport = Some(parse_port(value()?, "udp_dport")?),
            "udp_csum" => p.udp_csum = parse_on_off(value()?, "udp_csum")?,
            "udp6_csum_rx" => p.udp6_csum_rx = parse_on_off(value()?, "udp6_csum_rx")?,
            "udp6_csum_tx" => p.udp6_csum_tx = parse_on_off(value()?, "udp6_csum_tx")?,
            "offset" | "peer_offset" => {
                // Accepted and ignored, exactly like current iproute2.
                warnings.push(format!("Ignoring option \"{kw}\""));
                value()?;
            }
            "cookie" => p.cookie = Some(parse_cookie(value()?)?),
            "peer_cookie" => p.peer_cookie = Some(parse_cookie(value()?)?),
            "l2spec_type" => p.l2spec_type = parse_l2spec(value()?)?,
            "seq" => apply_seq(value()?, &mut p.send_seq, &mut p.recv_seq)?,
            "mtu" => p.mtu = Some(parse_mtu(value()?)?),
            "reorder_timeout" => {
                let ms: u32 = parse_number(value()?, "milliseconds", "reorder_timeout")?;
                // 0 means "no reorder timeout", as in the kernel.
                p.reorder_timeout_ms = (ms != 0).then_some(ms.into());
            }
            "tunnel" => p.tunnel = true,
            "session" => p.session = true,
            w if matches(w, "help") => p.help = true,
            // Extension over iproute2 (which wants the full words):
            // unambiguous abbreviations of the object words.
            w if matches(w, "tunnel") => p.tunnel = true,
            w if matches(w, "session") => p.session = true,
            _ => return Err(CliError::UnknownArgument(kw.clone())),
        }
        if p.help {
            break;
        }
    }
    Ok(p)
}

fn parse_add(args: &[String], warnings: &mut Vec<String>) -> Result<Command, CliError> {
    if args.is_empty() {
        return Err(CliError::Usage);
    }
    if args.iter().any(|a| a == "dynamic") {
        return parse_add_dynamic(args);
    }
    let p = parse_params(args, warnings)?;
    if p.help {
        return Ok(Command::Help);
    }
    // The order of these checks is ip l2tp's, so the first error reported
    // for an incomplete line is the same.
    if !p.tunnel && !p.session {
        return Err(CliError::Missing("tunnel or session"));
    }
    if p.tunnel_id == 0 {
        return Err(CliError::Missing("tunnel_id"));
    }
    if p.session && p.peer_session_id == 0 {
        return Err(CliError::Missing("peer_session_id"));
    }
    if p.session && p.session_id == 0 {
        return Err(CliError::Missing("session_id"));
    }
    if p.tunnel && p.peer_tunnel_id == 0 {
        return Err(CliError::Missing("peer_tunnel_id"));
    }
    let tunnel = if p.tunnel {
        // Unlike ip l2tp, `local` may be left out: the daemon binds to the
        // unspecified address of the remote's family.
        let remote = p.remote.ok_or(CliError::Missing("remote"))?;
        let udp = p.encap == Encap::Udp;
        Some(TunnelSpec {
            tunnel_id: p.tunnel_id,
            peer_tunnel_id: p.peer_tunnel_id,
            encap: p.encap,
            local: p.local,
            remote,
            udp_sport: p.udp_sport.filter(|_| udp),
            udp_dport: p.udp_dport.filter(|_| udp),
            udp_csum: p.udp_csum,
            udp6_csum_tx: p.udp6_csum_tx,
            udp6_csum_rx: p.udp6_csum_rx,
        })
    } else {
        None
    };
    let session = if p.session {
        let mut s = SessionSpec::new(p.tunnel_id, p.session_id, p.peer_session_id);
        s.name = p.name;
        s.cookie = p.cookie;
        s.peer_cookie = p.peer_cookie;
        s.l2spec_type = p.l2spec_type;
        s.seq = SeqMode::from_flags(p.send_seq, p.recv_seq);
        s.mtu = p.mtu;
        s.reorder_timeout_ms = p.reorder_timeout_ms;
        Some(s)
    } else {
        None
    };
    Ok(Command::Add { tunnel, session })
}

/// `add session dynamic tunnel NAME|ID [pw_type eth|none] [remote_end_id S]
/// [name IF] [cookie_len 0|4|8] [seq ...] [l2spec_type ...] [mtu N]`.
fn parse_add_dynamic(args: &[String]) -> Result<Command, CliError> {
    let mut spec = DynamicSessionSpec {
        l2spec_type: L2SpecType::Default,
        ..DynamicSessionSpec::default()
    };
    let (mut session, mut tunnel) = (false, None);
    let (mut send_seq, mut recv_seq) = (false, false);
    let mut it = args.iter();
    while let Some(kw) = it.next() {
        let mut value = || {
            it.next().ok_or_else(|| CliError::Incomplete {
                keyword: kw.clone(),
            })
        };
        match kw.as_str() {
            "dynamic" => {}
            "tunnel" | "tunnel_id" | "tid" => tunnel = Some(value()?.clone()),
            "pw_type" => {
                let v = value()?;
                spec.pw_type = match v.as_str() {
                    "eth" | "ethernet" => PseudowireType::Ethernet,
                    "none" => PseudowireType::Null,
                    _ => {
                        return Err(CliError::Invalid {
                            arg: v.clone(),
                            reason: "pw_type must be eth or none".into(),
                        })
                    }
                };
            }
            "remote_end_id" => spec.remote_end_id = Some(value()?.clone()),
            "name" => spec.name = Some(parse_ifname(value()?)?),
            "cookie_len" => {
                let v = value()?;
                spec.cookie_len = match v.as_str() {
                    "0" => 0,
                    "4" => 4,
                    "8" => 8,
                    _ => {
                        return Err(CliError::Invalid {
                            arg: v.clone(),
                            reason: "cookie_len must be 0, 4 or 8".into(),
                        })
                    }
                };
            }
            "l2spec_type" => spec.l2spec_type = parse_l2spec(value()?)?,
            "seq" => apply_seq(value()?, &mut send_seq, &mut recv_seq)?,
            "mtu" => spec.mtu = Some(parse_mtu(value()?)?),
            w if matches(w, "session") => session = true,
            _ => return Err(CliError::UnknownArgument(kw.clone())),
        }
    }
    if !session {
        return Err(CliError::Invalid {
            arg: "dynamic".into(),
            reason: "only sessions are added dynamically (tunnels come from l2tpd --config)".into(),
        });
    }
    spec.tunnel = tunnel.ok_or(CliError::Missing("tunnel"))?;
    spec.seq = SeqMode::from_flags(send_seq, recv_seq);
    Ok(Command::AddDynamic(spec))
}

fn parse_del(args: &[String], warnings: &mut Vec<String>) -> Result<Command, CliError> {
    if args.is_empty() {
        return Err(CliError::Usage);
    }
    let p = parse_params(args, warnings)?;
    if p.help {
        return Ok(Command::Help);
    }
    if !p.tunnel && !p.session {
        return Err(CliError::Missing("tunnel or session"));
    }
    if p.tunnel && p.tunnel_id == 0 {
        return Err(CliError::Missing("tunnel_id"));
    }
    if p.session && p.session_id == 0 {
        return Err(CliError::Missing("session_id"));
    }
    // As in ip l2tp, a session ID makes it a session delete even after "tunnel".
    if p.session_id != 0 {
        if p.tunnel_id == 0 {
            return Err(CliError::Missing("tunnel_id"));
        }
        Ok(Command::DelSession {
            tunnel_id: p.tunnel_id,
            session_id: p.session_id,
        })
    } else {
        Ok(Command::DelTunnel {
            tunnel_id: p.tunnel_id,
        })
    }
}

fn parse_show(args: &[String], warnings: &mut Vec<String>) -> Result<Command, CliError> {
    if args.is_empty() {
        return Err(CliError::Usage);
    }
    if let [w, rest @ ..] = args {
        if w.len() >= 2 && matches(w, "control") {
            if let Some(extra) = rest.first() {
                return Err(CliError::UnknownArgument(extra.clone()));
            }
            return Ok(Command::ShowControl);
        }
    }
    let p = parse_params(args, warnings)?;
    if p.help {
        return Ok(Command::Help);
    }
    if !p.tunnel && !p.session {
        return Err(CliError::Missing("tunnel or session"));
    }
    let id = |v: u32| (v != 0).then_some(v);
    if p.session {
        Ok(Command::ShowSession {
            tunnel_id: id(p.tunnel_id),
            session_id: id(p.session_id),
        })
    } else {
        Ok(Command::ShowTunnel {
            tunnel_id: id(p.tunnel_id),
        })
    }
}

/// strtoul with base 0, as iproute2's get_u32/get_u16: decimal, 0x hex or
/// leading-0 octal; no sign, no trailing junk.
pub fn parse_uint(s: &str, max: u64) -> Option<u64> {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    u64::from_str_radix(digits, radix)
        .ok()
        .filter(|v| *v <= max)
}

/// [`parse_uint`] into `T` (get_u32, get_u16) with iproute2's error:
/// "invalid {what} for {keyword}".
fn parse_number<T: TryFrom<u64>>(s: &str, what: &str, keyword: &str) -> Result<T, CliError> {
    parse_uint(s, u64::MAX)
        .and_then(|v| T::try_from(v).ok())
        .ok_or_else(|| CliError::Invalid {
            arg: s.to_string(),
            reason: format!("invalid {what} for {keyword}"),
        })
}

fn parse_id(s: &str, keyword: &str) -> Result<u32, CliError> {
    parse_number(s, "ID", keyword)
}

fn parse_port(s: &str, keyword: &str) -> Result<u16, CliError> {
    parse_number(s, "port", keyword)
}

/// Any 32-bit value; the daemon checks the range, with the bounds in its message.
fn parse_mtu(s: &str) -> Result<u32, CliError> {
    parse_number(s, "MTU", "mtu")
}

fn parse_l2spec(v: &str) -> Result<L2SpecType, CliError> {
    if v.eq_ignore_ascii_case("default") {
        Ok(L2SpecType::Default)
    } else if v.eq_ignore_ascii_case("none") {
        Ok(L2SpecType::None)
    } else {
        Err(CliError::UnknownL2Spec(v.to_string()))
    }
}

/// `seq send|recv` add to what was given before (as in iproute2);
/// `both` and `none` set both directions.
fn apply_seq(v: &str, send: &mut bool, recv: &mut bool) -> Result<(), CliError> {
    match v.to_ascii_lowercase().as_str() {
        "both" => (*send, *recv) = (true, true),
        "recv" => *recv = true,
        "send" => *send = true,
        "none" => (*send, *recv) = (false, false),
        _ => return Err(CliError::UnknownSeq(v.to_string())),
    }
    Ok(())
}

fn parse_on_off(s: &str, keyword: &str) -> Result<bool, CliError> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(CliError::Invalid {
            arg: s.to_string(),
            reason: format!("invalid option for {keyword}"),
        }),
    }
}

/// `any` (and iproute2's synonyms) means "not given".
fn parse_addr(s: &str, keyword: &str) -> Result<Option<IpAddr>, CliError> {
    if matches!(s, "any" | "all" | "default") {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| CliError::Invalid {
        arg: s.to_string(),
        reason: format!("invalid {keyword} address"),
    })
}

fn parse_cookie(s: &str) -> Result<Cookie, CliError> {
    Cookie::from_hex(s).map_err(|e| CliError::Invalid {
        arg: s.to_string(),
        reason: match e {
            l2tp_api::CookieError::BadLength { .. } => {
                "cookie must be either 8 or 16 hex digits".to_string()
            }
            l2tp_api::CookieError::NotHex => "cookie must be a hex string".to_string(),
        },
    })
}

/// iproute2's check_ifname: 1..15 bytes, no '/' and no whitespace.
fn parse_ifname(s: &str) -> Result<String, CliError> {
    let ok = !s.is_empty()
        && s.len() < 16
        && !s.chars().any(|c| c == '/' || c.is_whitespace())
        && s != "."
        && s != "..";
    if ok {
        Ok(s.to_string())
    } else {
        Err(CliError::Invalid {
            arg: s.to_string(),
            reason: "\"name\" not a valid ifname".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    fn parse(a: &[String]) -> Result<Parsed, CliError> {
        super::parse(a, &mut Vec::new())
    }

    fn cmd(s: &str) -> Command {
        parse(&args(s))
            .unwrap_or_else(|e| panic!("{s}: {e}"))
            .command
    }

    fn err(s: &str) -> CliError {
        match parse(&args(s)) {
            Ok(p) => panic!("{s}: accepted as {p:?}"),
            Err(e) => e,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn add_tunnel_full() {
        let c = cmd(
            "add tunnel tunnel_id 1 peer_tunnel_id 2 encap udp local 198.18.0.1 \
                     remote 198.18.0.2 udp_sport 5000 udp_dport 6000 udp_csum on \
                     udp6_csum_tx off udp6_csum_rx off",
        );
        assert_eq!(
            c,
            Command::Add {
                tunnel: Some(TunnelSpec {
                    tunnel_id: 1,
                    peer_tunnel_id: 2,
                    encap: Encap::Udp,
                    local: Some(ip("198.18.0.1")),
                    remote: ip("198.18.0.2"),
                    udp_sport: Some(5000),
                    udp_dport: Some(6000),
                    udp_csum: true,
                    udp6_csum_tx: false,
                    udp6_csum_rx: false,
                }),
                session: None
            }
        );
    }

    #[test]
    fn add_tunnel_defaults_and_aliases() {
        let c = cmd("add tunnel tid 7 ptid 8 remote 2001:db8::2");
        let Command::Add {
            tunnel: Some(t),
            session: None,
        } = c
        else {
            panic!("{c:?}")
        };
        assert_eq!(t, TunnelSpec::new(7, 8, ip("2001:db8::2")));
        assert_eq!(t.encap, Encap::Udp);
        assert!(t.udp6_csum_tx && t.udp6_csum_rx && !t.udp_csum);

        // `local any` is the same as no local.
        let c = cmd("a tunnel tid 7 ptid 8 remote 198.18.0.2 local any encap ip udp_sport 9");
        let Command::Add {
            tunnel: Some(t), ..
        } = c
        else {
            panic!()
        };
        assert_eq!(t.local, None);
        assert_eq!(t.encap, Encap::Ip);
        assert_eq!(t.udp_sport, None, "ports are meaningless for encap ip");
    }

    #[test]
    fn keyword_order_does_not_matter() {
        let a = cmd("add tunnel remote 198.18.0.2 tunnel_id 1 peer_tunnel_id 1");
        let b = cmd("add peer_tunnel_id 1 remote 198.18.0.2 tunnel_id 1 tunnel");
        assert_eq!(a, b);
    }

    #[test]
    fn add_session_full() {
        let c = cmd(
            "add session name pw0 tunnel_id 1 session_id 2 peer_session_id 3 \
                     cookie 0102030405060708 peer_cookie CAFEBABE l2spec_type none seq both \
                     mtu 1400 reorder_timeout 250",
        );
        let mut want = SessionSpec::new(1, 2, 3);
        want.name = Some("pw0".into());
        want.cookie = Some(Cookie::from_hex("0102030405060708").unwrap());
        want.peer_cookie = Some(Cookie::from_hex("cafebabe").unwrap());
        want.l2spec_type = L2SpecType::None;
        want.seq = SeqMode::Both;
        want.mtu = Some(1400);
        want.reorder_timeout_ms = Some(250);
        assert_eq!(
            c,
            Command::Add {
                tunnel: None,
                session: Some(want)
            }
        );
    }

    #[test]
    fn add_session_defaults_aliases_and_values() {
        let Command::Add {
            session: Some(s), ..
        } = cmd("add session tid 1 sid 2 psid 3")
        else {
            panic!()
        };
        assert_eq!(s, SessionSpec::new(1, 2, 3));
        assert_eq!(s.l2spec_type, L2SpecType::Default, "ip l2tp's default");

        for (word, want) in [
            ("none", SeqMode::None),
            ("send", SeqMode::Send),
            ("recv", SeqMode::Recv),
            ("both", SeqMode::Both),
            ("BOTH", SeqMode::Both),
        ] {
            let Command::Add {
                session: Some(s), ..
            } = cmd(&format!("add session tid 1 sid 2 psid 3 seq {word}"))
            else {
                panic!()
            };
            assert_eq!(s.seq, want, "{word}");
        }
        // seq values accumulate like the kernel flags in ip l2tp.
        let Command::Add {
            session: Some(s), ..
        } = cmd("add session tid 1 sid 2 psid 3 seq send seq recv")
        else {
            panic!()
        };
        assert_eq!(s.seq, SeqMode::Both);
        let Command::Add {
            session: Some(s), ..
        } = cmd("add session tid 1 sid 2 psid 3 l2spec_type DEFAULT reorder_timeout 0")
        else {
            panic!()
        };
        assert_eq!(s.l2spec_type, L2SpecType::Default);
        assert_eq!(s.reorder_timeout_ms, None);
    }

    #[test]
    fn numbers_use_strtoul_base_zero() {
        let Command::Add {
            tunnel: Some(t), ..
        } = cmd("add tunnel tid 0x10 ptid 010 remote 198.18.0.1 udp_sport 0xffff udp_dport 0")
        else {
            panic!()
        };
        assert_eq!((t.tunnel_id, t.peer_tunnel_id), (16, 8));
        assert_eq!((t.udp_sport, t.udp_dport), (Some(65535), Some(0)));
        assert_eq!(parse_uint("4294967295", u32::MAX.into()), Some(4294967295));
        for bad in ["4294967296", "-1", "+1", "1x", "0x", "08", "", " 1", "1.0"] {
            assert_eq!(parse_uint(bad, u32::MAX.into()), None, "{bad:?}");
        }
    }

    #[test]
    fn offsets_are_ignored_with_a_warning() {
        let mut w = Vec::new();
        let p = super::parse(
            &args("add session tid 1 sid 2 psid 3 offset 4 peer_offset 8"),
            &mut w,
        )
        .unwrap();
        // Printed even when a later argument is wrong, as ip l2tp does.
        let mut w2 = Vec::new();
        assert!(super::parse(&args("add session tid 1 offset 4 cookie 1"), &mut w2).is_err());
        assert_eq!(w2.len(), 1);
        assert_eq!(
            w,
            vec![
                "Ignoring option \"offset\"".to_string(),
                "Ignoring option \"peer_offset\"".to_string()
            ]
        );
        assert!(matches!(
            p.command,
            Command::Add {
                session: Some(_),
                ..
            }
        ));
    }

    #[test]
    fn tunnel_and_session_in_one_line() {
        let c = cmd("add tunnel session tid 1 ptid 2 sid 3 psid 4 remote 198.18.0.9");
        let Command::Add {
            tunnel: Some(t),
            session: Some(s),
        } = c
        else {
            panic!("{c:?}")
        };
        assert_eq!((t.tunnel_id, s.tunnel_id, s.session_id), (1, 1, 3));
    }

    #[test]
    fn command_word_abbreviations() {
        for w in ["add", "ad", "a"] {
            assert!(matches!(
                cmd(&format!("{w} tunnel tid 1 ptid 1 remote 198.18.0.1")),
                Command::Add { .. }
            ));
        }
        for w in ["delete", "del", "de", "d"] {
            assert_eq!(
                cmd(&format!("{w} tunnel tid 3")),
                Command::DelTunnel { tunnel_id: 3 }
            );
        }
        for w in ["show", "sh", "s", "list", "lis", "lst", "ls", "l"] {
            assert_eq!(
                cmd(&format!("{w} tunnel")),
                Command::ShowTunnel { tunnel_id: None },
                "{w}"
            );
        }
        for w in ["help", "he", "h"] {
            assert_eq!(cmd(w), Command::Help);
        }
        assert_eq!(err("add"), CliError::Usage);
        assert_eq!(err("show"), CliError::Usage);
        assert_eq!(cmd("show session help"), Command::Help);
    }

    #[test]
    fn object_word_abbreviations() {
        assert_eq!(cmd("sh t"), Command::ShowTunnel { tunnel_id: None });
        assert_eq!(
            cmd("ls tun tid 4"),
            Command::ShowTunnel { tunnel_id: Some(4) }
        );
        assert_eq!(
            cmd("s s"),
            Command::ShowSession {
                tunnel_id: None,
                session_id: None
            }
        );
        assert!(matches!(
            cmd("a t tid 1 ptid 1 remote 198.18.0.1"),
            Command::Add {
                tunnel: Some(_),
                session: None
            }
        ));
        assert_eq!(
            cmd("d sess tid 1 sid 2"),
            Command::DelSession {
                tunnel_id: 1,
                session_id: 2
            }
        );
    }

    #[test]
    fn del_forms() {
        assert_eq!(
            cmd("del tunnel tunnel_id 5"),
            Command::DelTunnel { tunnel_id: 5 }
        );
        assert_eq!(
            cmd("del session tunnel_id 5 session_id 6"),
            Command::DelSession {
                tunnel_id: 5,
                session_id: 6
            }
        );
        // ip l2tp quirk kept: a session_id turns a tunnel delete into a session delete.
        assert_eq!(
            cmd("del tunnel tid 5 sid 6"),
            Command::DelSession {
                tunnel_id: 5,
                session_id: 6
            }
        );
        assert_eq!(err("del tunnel"), CliError::Missing("tunnel_id"));
        assert_eq!(err("del session tid 1"), CliError::Missing("session_id"));
        assert_eq!(err("del session sid 1"), CliError::Missing("tunnel_id"));
        assert_eq!(err("del tid 1"), CliError::Missing("tunnel or session"));
    }

    #[test]
    fn show_filters() {
        assert_eq!(
            cmd("show tunnel tunnel_id 3"),
            Command::ShowTunnel { tunnel_id: Some(3) }
        );
        assert_eq!(
            cmd("show session tunnel_id 3"),
            Command::ShowSession {
                tunnel_id: Some(3),
                session_id: None
            }
        );
        assert_eq!(
            cmd("show session session_id 4 tunnel_id 3"),
            Command::ShowSession {
                tunnel_id: Some(3),
                session_id: Some(4)
            }
        );
        assert_eq!(err("show tid 1"), CliError::Missing("tunnel or session"));
    }

    #[test]
    fn missing_arguments_in_ip_l2tp_order() {
        assert_eq!(err("add tid 1"), CliError::Missing("tunnel or session"));
        assert_eq!(
            err("add tunnel ptid 1 remote 198.18.0.1"),
            CliError::Missing("tunnel_id")
        );
        assert_eq!(
            err("add tunnel tid 0 ptid 1"),
            CliError::Missing("tunnel_id")
        );
        assert_eq!(
            err("add tunnel tid 1 remote 198.18.0.1"),
            CliError::Missing("peer_tunnel_id")
        );
        assert_eq!(err("add tunnel tid 1 ptid 1"), CliError::Missing("remote"));
        assert_eq!(
            err("add tunnel tid 1 ptid 1 remote any"),
            CliError::Missing("remote")
        );
        assert_eq!(
            err("add session tid 1 sid 1"),
            CliError::Missing("peer_session_id")
        );
        assert_eq!(
            err("add session tid 1 psid 1"),
            CliError::Missing("session_id")
        );
        assert_eq!(
            err("add session sid 1 psid 1"),
            CliError::Missing("tunnel_id")
        );
        assert_eq!(
            err("add session tid 1 sid 1 psid 1 name").to_string(),
            "Command line is not complete: \"name\" needs a value. Try option \"help\""
        );
    }

    #[test]
    fn invalid_values_name_the_argument() {
        let cases = [
            (
                "add tunnel tid x ptid 1 remote 198.18.0.1",
                "x",
                "invalid ID for tunnel_id",
            ),
            (
                "add tunnel tid 1 ptid 4294967296 remote 198.18.0.1",
                "4294967296",
                "invalid ID for peer_tunnel_id",
            ),
            (
                "add tunnel tid 1 ptid 1 remote 198.18.0.300",
                "198.18.0.300",
                "invalid remote address",
            ),
            (
                "add tunnel tid 1 ptid 1 remote 198.18.0.1 local foo",
                "foo",
                "invalid local address",
            ),
            (
                "add tunnel tid 1 ptid 1 remote 198.18.0.1 udp_sport 65536",
                "65536",
                "invalid port for udp_sport",
            ),
            (
                "add tunnel tid 1 ptid 1 remote 198.18.0.1 udp_dport -1",
                "-1",
                "invalid port for udp_dport",
            ),
            (
                "add tunnel tid 1 ptid 1 remote 198.18.0.1 udp_csum yes",
                "yes",
                "invalid option for udp_csum",
            ),
            (
                "add tunnel tid 1 ptid 1 remote 198.18.0.1 udp6_csum_tx 1",
                "1",
                "invalid option for udp6_csum_tx",
            ),
            (
                "add tunnel tid 1 ptid 1 remote 198.18.0.1 udp6_csum_rx ON",
                "ON",
                "invalid option for udp6_csum_rx",
            ),
            (
                "add session tid 1 sid 1 psid 1 cookie 0102",
                "0102",
                "cookie must be either 8 or 16 hex digits",
            ),
            (
                "add session tid 1 sid 1 psid 1 peer_cookie 010203040506070809",
                "010203040506070809",
                "cookie must be either 8 or 16 hex digits",
            ),
            (
                "add session tid 1 sid 1 psid 1 cookie 0102030g",
                "0102030g",
                "cookie must be a hex string",
            ),
            (
                "add session tid 1 sid 1 psid 1 name a/b",
                "a/b",
                "\"name\" not a valid ifname",
            ),
            (
                "add session tid 1 sid 1 psid 1 name 0123456789abcdef",
                "0123456789abcdef",
                "\"name\" not a valid ifname",
            ),
            (
                "add session tid 1 sid 1 psid 1 mtu big",
                "big",
                "invalid MTU for mtu",
            ),
            (
                "add session tid 1 sid 1 psid 1 reorder_timeout -5",
                "-5",
                "invalid milliseconds for reorder_timeout",
            ),
        ];
        for (line, arg, reason) in cases {
            let e = err(line);
            assert_eq!(
                e,
                CliError::Invalid {
                    arg: arg.into(),
                    reason: reason.into()
                },
                "{line}"
            );
            assert_eq!(
                e.to_string(),
                format!("Error: argument \"{arg}\" is wrong: {reason}")
            );
        }
    }

    #[test]
    fn unknown_words() {
        assert_eq!(
            err("frobnicate tunnel"),
            CliError::UnknownCommand("frobnicate".into())
        );
        assert_eq!(
            err("frobnicate").to_string(),
            "Command \"frobnicate\" is unknown, try \"l2tp help\"."
        );
        let e = err("add tunnel tid 1 ptid 1 remote 198.18.0.1 bogus 3");
        assert_eq!(e, CliError::UnknownArgument("bogus".into()));
        assert_eq!(e.to_string(), "Unknown command: bogus");
        assert!(e.wants_usage());
        // iproute2 matches value keywords exactly: no abbreviations there.
        assert_eq!(
            err("show tunnel tunnel 1"),
            CliError::UnknownArgument("1".into())
        );
        assert_eq!(
            err("add session tid 1 sid 1 psid 1 coo 01020304"),
            CliError::UnknownArgument("coo".into())
        );
        assert_eq!(
            err("add tunnel tid 1 ptid 1 remote 198.18.0.1 encap gre"),
            CliError::UnknownEncap("gre".into())
        );
        assert_eq!(
            err("add session tid 1 sid 1 psid 1 l2spec_type vlan").to_string(),
            "Unknown layer2specific header type \"vlan\""
        );
        assert_eq!(
            err("add session tid 1 sid 1 psid 1 seq sometimes").to_string(),
            "Unknown seq value \"sometimes\""
        );
        assert_eq!(err(""), CliError::NoCommand);
        assert_eq!(err("-j"), CliError::NoCommand);
    }

    #[test]
    fn global_options() {
        let p = parse(&args("-j -p -s show tunnel")).unwrap();
        assert_eq!(
            p.global,
            Global {
                json: true,
                pretty: true,
                stats: true,
                socket: None
            }
        );
        let p = parse(&args(
            "--json --pretty -statistics --socket /tmp/x.sock show session",
        ))
        .unwrap();
        assert!(p.global.json && p.global.pretty && p.global.stats);
        assert_eq!(p.global.socket, Some(PathBuf::from("/tmp/x.sock")));
        let p = parse(&args("-socket=/tmp/y.sock -stats -json -pretty ls t")).unwrap();
        assert_eq!(p.global.socket, Some(PathBuf::from("/tmp/y.sock")));
        assert!(p.global.json && p.global.pretty && p.global.stats);
        assert_eq!(cmd("-V"), Command::Version);
        assert_eq!(cmd("-help"), Command::Help);
        assert_eq!(cmd("--help"), Command::Help);
        assert_eq!(err("-x show tunnel"), CliError::UnknownOption("-x".into()));
        assert_eq!(
            err("-x").to_string(),
            "Option \"-x\" is unknown, try \"l2tp -help\"."
        );
        assert!(matches!(err("--socket"), CliError::Incomplete { .. }));
    }

    #[test]
    fn decode_passes_arguments_through() {
        assert_eq!(
            cmd("decode --json x.pcap"),
            Command::Decode(vec!["--json".into(), "x.pcap".into()])
        );
        assert_eq!(cmd("dec"), Command::Decode(vec![]));
        // "de" stays delete, as in ip l2tp.
        assert_eq!(cmd("de tunnel tid 1"), Command::DelTunnel { tunnel_id: 1 });
        assert_eq!(err("de"), CliError::Usage);
    }

    #[test]
    fn add_session_dynamic() {
        let c = cmd(
            "add session dynamic tunnel to-b pw_type eth remote_end_id pw-1 name l2tpeth0 \
                     cookie_len 8 seq both l2spec_type default mtu 1400",
        );
        assert_eq!(
            c,
            Command::AddDynamic(DynamicSessionSpec {
                tunnel: "to-b".into(),
                pw_type: PseudowireType::Ethernet,
                remote_end_id: Some("pw-1".into()),
                name: Some("l2tpeth0".into()),
                cookie_len: 8,
                l2spec_type: L2SpecType::Default,
                seq: SeqMode::Both,
                mtu: Some(1400),
            })
        );
        let Command::AddDynamic(s) = cmd("a s dynamic tunnel 1234 pw_type none") else {
            panic!()
        };
        assert_eq!(
            (s.tunnel.as_str(), s.pw_type),
            ("1234", PseudowireType::Null)
        );
        assert_eq!(
            (s.cookie_len, s.seq, s.l2spec_type),
            (0, SeqMode::None, L2SpecType::Default)
        );
        assert_eq!(err("add session dynamic"), CliError::Missing("tunnel"));
        assert!(matches!(
            err("add tunnel dynamic tunnel x"),
            CliError::Invalid { .. }
        ));
        assert!(matches!(
            err("add session dynamic tunnel x cookie_len 3"),
            CliError::Invalid { .. }
        ));
        assert!(matches!(
            err("add session dynamic tunnel x pw_type ppp"),
            CliError::Invalid { .. }
        ));
        assert_eq!(
            err("add session dynamic tunnel x bogus 1"),
            CliError::UnknownArgument("bogus".into())
        );
        assert!(matches!(
            err("add session dynamic tunnel"),
            CliError::Incomplete { .. }
        ));
    }

    #[test]
    fn monitor_and_show_control() {
        assert_eq!(cmd("monitor"), Command::Monitor);
        assert_eq!(cmd("mon"), Command::Monitor);
        assert!(parse(&args("-j monitor")).unwrap().global.json);
        assert_eq!(err("monitor x"), CliError::UnknownArgument("x".into()));
        assert_eq!(cmd("show control"), Command::ShowControl);
        assert_eq!(cmd("s co"), Command::ShowControl);
        assert_eq!(err("show control x"), CliError::UnknownArgument("x".into()));
        // `del session` of a dynamic session is the usual grammar.
        assert_eq!(
            cmd("del session tunnel_id 5 session_id 6"),
            Command::DelSession {
                tunnel_id: 5,
                session_id: 6
            }
        );
    }
}
