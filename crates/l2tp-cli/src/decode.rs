//! `l2tp decode`: print the L2TP packets of a pcap/pcapng capture, one line
//! each, as text or JSON.
//!
//! Self-contained (std, l2tp-capture and l2tp-wire only) so the fuzz target
//! `pcap_decode` can include this very file and exercise the same path.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::process::ExitCode;

use l2tp_capture::{
    CaptureError, CaptureReader, DissectError, Encap, Finding, L2tpFinder, L2tpPacket, Timestamp,
};
use l2tp_wire::avp::{self, hidden, AvpType, AvpValue};
use l2tp_wire::control::{self, ControlHeaderRepr, Version};
use l2tp_wire::data::{self, L2SpecType, V3DataConfig, V3DataRepr};
use l2tp_wire::json;
use l2tp_wire::message::{required_avps, MessageType};
use l2tp_wire::v2;

const USAGE: &str = "\
Usage: l2tp decode [--json] [--cookie-len 0|4|8] [--l2spec none|default]
                   [--udp-port N]... [--secret SECRET] FILE

Prints every L2TP packet found in a pcap or pcapng capture (FILE, or - for
standard input): UDP to or from port 1701 or any --udp-port, and IPv4/IPv6
protocol 115. L2TPv3 data headers are not self-describing: --cookie-len and
--l2spec say how to read them (default: no cookie, no sublayer). --secret
reveals hidden AVPs. --json prints one JSON object per line.";

/// Command-line options of `l2tp decode`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    pub json: bool,
    pub cookie_len: u8,
    pub l2spec: L2SpecType,
    pub ports: Vec<u16>,
    pub secret: Option<Vec<u8>>,
    pub file: String,
}

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Options),
    Help,
}

/// Parses the arguments after `decode`; the error names the bad argument.
pub fn parse_args(args: &[String]) -> Result<Parsed, String> {
    let mut json = false;
    let mut cookie_len = 0u8;
    let mut l2spec = L2SpecType::None;
    let mut ports = Vec::new();
    let mut secret = None;
    let mut file: Option<String> = None;
    let mut it = args.iter();
    let mut only_files = false;
    while let Some(arg) = it.next() {
        if only_files || arg == "-" || !arg.starts_with('-') {
            if let Some(prev) = &file {
                return Err(format!(
                    "unexpected argument '{arg}': FILE was already given as '{prev}'"
                ));
            }
            file = Some(arg.clone());
            continue;
        }
        // Accept both "--opt value" and "--opt=value".
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| format!("option '{name}' needs a value ({what})")),
            }
        };
        match name {
            "--" => only_files = true,
            "-h" | "--help" | "help" => return Ok(Parsed::Help),
            "--json" | "-j" => json = true,
            "--cookie-len" => {
                let v = value("0, 4 or 8")?;
                cookie_len = match v.as_str() {
                    "0" => 0,
                    "4" => 4,
                    "8" => 8,
                    _ => {
                        return Err(format!(
                            "invalid value '{v}' for '--cookie-len': expected 0, 4 or 8"
                        ))
                    }
                };
            }
            "--l2spec" | "--l2spec-type" => {
                let v = value("none or default")?;
                l2spec = match v.as_str() {
                    "none" => L2SpecType::None,
                    "default" => L2SpecType::Default,
                    _ => {
                        return Err(format!(
                            "invalid value '{v}' for '--l2spec': expected none or default"
                        ))
                    }
                };
            }
            "--udp-port" => {
                let v = value("a UDP port number")?;
                match v.parse::<u16>() {
                    Ok(p) if p != 0 => ports.push(p),
                    _ => {
                        return Err(format!(
                            "invalid value '{v}' for '--udp-port': expected a port number 1-65535"
                        ))
                    }
                }
            }
            "--secret" => secret = Some(value("the shared secret")?.into_bytes()),
            _ => return Err(format!("unknown option '{arg}'")),
        }
    }
    let Some(file) = file else {
        return Err("missing FILE (a pcap or pcapng capture, or - for stdin)".to_string());
    };
    Ok(Parsed::Run(Options {
        json,
        cookie_len,
        l2spec,
        ports,
        secret,
        file,
    }))
}

/// Entry point for `l2tp decode ARGS...`: 0 on success, 2 on a usage
/// error, an unreadable file or a corrupt capture.
pub fn run(args: &[String]) -> ExitCode {
    let opts = match parse_args(args) {
        Ok(Parsed::Run(o)) => o,
        Ok(Parsed::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("l2tp decode: {e}");
            eprintln!("Try 'l2tp decode --help'.");
            return ExitCode::from(2);
        }
    };
    let bytes = if opts.file == "-" {
        let mut b = Vec::new();
        io::stdin().lock().read_to_end(&mut b).map(|_| b)
    } else {
        std::fs::read(&opts.file)
    };
    let bytes = match bytes {
        Ok(b) => b,
        Err(e) => {
            eprintln!("l2tp decode: cannot read '{}': {e}", opts.file);
            return ExitCode::from(2);
        }
    };
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let result = decode_capture(&bytes, &opts, &mut out);
    let result = match (result, out.flush()) {
        (Ok(_), Err(e)) => Err(RunError::Output(e)),
        (r, _) => r,
    };
    match result {
        Ok(summary) => {
            if !opts.json {
                eprintln!("{summary}");
            }
            ExitCode::SUCCESS
        }
        Err(RunError::Capture(e)) => {
            eprintln!("l2tp decode: '{}': {e}", opts.file);
            ExitCode::from(2)
        }
        // Broken pipe (e.g. `| head`): the reader has what it wanted.
        Err(RunError::Output(e)) if e.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(RunError::Output(e)) => {
            eprintln!("l2tp decode: cannot write output: {e}");
            ExitCode::from(1)
        }
    }
}

/// Why a run stopped early.
#[derive(Debug)]
pub enum RunError {
    /// The capture file is corrupt; frames before the damage were printed.
    Capture(CaptureError),
    Output(io::Error),
}

/// Counts reported on stderr after a text-mode run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub frames: u64,
    pub l2tp: u64,
    pub errors: u64,
    pub later_fragments: u64,
    pub undissectable: u64,
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} frames, {} L2TP packets ({} not decodable), {} non-first IP fragments skipped, {} frames not dissectable",
            self.frames, self.l2tp, self.errors, self.later_fragments, self.undissectable
        )
    }
}

/// Decodes every frame of `bytes` (a whole capture file) and writes one line
/// per L2TP packet to `out`.
pub fn decode_capture<W: Write>(
    bytes: &[u8],
    opts: &Options,
    out: &mut W,
) -> Result<Summary, RunError> {
    let reader = CaptureReader::new(bytes).map_err(RunError::Capture)?;
    let finder = L2tpFinder::with_ports(&opts.ports);
    let mut summary = Summary::default();
    let mut line = String::new();
    let mut warned_link: Vec<u32> = Vec::new();
    for frame in reader {
        let frame = frame.map_err(RunError::Capture)?;
        summary.frames += 1;
        let packet = match finder.find_in_frame(&frame) {
            Ok(Finding::L2tp(p)) => p,
            Ok(Finding::NonFirstFragment { .. }) => {
                summary.later_fragments += 1;
                continue;
            }
            Ok(Finding::NotL2tp) => continue,
            Err(DissectError::UnsupportedLinkType(lt)) => {
                summary.undissectable += 1;
                if !warned_link.contains(&lt) {
                    warned_link.push(lt);
                    if !opts.json {
                        eprintln!(
                            "l2tp decode: frame {}: link type {lt} is not supported; such frames are skipped",
                            frame.index
                        );
                    }
                }
                continue;
            }
            Err(_) => {
                summary.undissectable += 1;
                continue;
            }
        };
        summary.l2tp += 1;
        let rec = decode_packet(frame.index, frame.timestamp, &packet, opts);
        if rec.error.is_some() {
            summary.errors += 1;
        }
        line.clear();
        if opts.json {
            rec.write_json(&mut line);
        } else {
            rec.write_text(&mut line);
        }
        line.push('\n');
        out.write_all(line.as_bytes()).map_err(RunError::Output)?;
    }
    Ok(summary)
}

/// One decoded AVP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AvpRecord {
    pub vendor: u16,
    pub attr_type: u16,
    pub name: &'static str,
    pub mandatory: bool,
    pub hidden: bool,
    /// JSON text of the value.
    pub value: String,
    /// Set when the value could not be typed (it is then shown as hex).
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Data,
    Control,
}

/// Everything learnt about one L2TP packet; fields that do not apply are None.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub frame: u64,
    pub time: Timestamp,
    pub encap: Encap,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub version: Option<u8>,
    pub kind: Option<Kind>,
    pub tunnel_id: Option<u32>,
    pub session_id: Option<u32>,
    pub ns: Option<u16>,
    pub nr: Option<u16>,
    pub message: Option<String>,
    pub length: Option<u16>,
    pub cookie: Option<String>,
    pub l2spec: Option<&'static str>,
    pub seq: Option<u32>,
    pub offset: Option<u16>,
    pub priority: Option<bool>,
    pub payload_len: Option<usize>,
    pub avps: Option<Vec<AvpRecord>>,
    pub missing_avps: Vec<&'static str>,
    pub truncated: bool,
    pub fragmented: bool,
    pub error: Option<String>,
}

/// Decodes the L2TP bytes the finder located; never fails, errors land in `error`.
pub fn decode_packet(frame: u64, time: Timestamp, p: &L2tpPacket<'_>, opts: &Options) -> Record {
    let mut r = Record {
        frame,
        time,
        encap: p.encap,
        src: p.src,
        dst: p.dst,
        src_port: p.src_port,
        dst_port: p.dst_port,
        version: None,
        kind: None,
        tunnel_id: None,
        session_id: None,
        ns: None,
        nr: None,
        message: None,
        length: None,
        cookie: None,
        l2spec: None,
        seq: None,
        offset: None,
        priority: None,
        payload_len: None,
        avps: None,
        missing_avps: Vec::new(),
        truncated: p.truncated,
        fragmented: p.fragmented,
        error: None,
    };
    if let Err(e) = fill(&mut r, p.payload, opts) {
        let mut msg = e;
        if p.truncated {
            msg.push_str(" (the capture cut this packet short)");
        } else if p.fragmented {
            msg.push_str(" (only the first IP fragment is in this frame)");
        }
        r.error = Some(msg);
    }
    r
}

fn fill(r: &mut Record, buf: &[u8], opts: &Options) -> Result<(), String> {
    match r.encap {
        Encap::Udp => {
            // Only an empty payload has no T bit to read.
            let control = data::is_control(buf, data::Encap::Udp)
                .map_err(|_| "empty UDP payload: no L2TP header".to_string())?;
            let ver = data::udp_version(buf).map_err(|e| format!("L2TP header: {e}"))?;
            r.version = Some(ver);
            r.kind = Some(if control { Kind::Control } else { Kind::Data });
            match (ver, control) {
                (2 | 3, true) => fill_control(r, buf, opts),
                (2, false) => fill_v2_data(r, buf),
                (3, false) => fill_v3_data(r, buf, opts, data::Encap::Udp),
                (v, _) => Err(format!(
                    "L2TP header: version {v} is not 2 or 3 (not L2TP?)"
                )),
            }
        }
        Encap::Ip => {
            r.version = Some(3);
            let sid = data::v3_session_id(buf, data::Encap::Ip)
                .map_err(|e| format!("L2TPv3 session ID: {e}"))?;
            if sid == 0 {
                r.kind = Some(Kind::Control);
                let msg = control::strip_ip_prefix(buf)
                    .map_err(|e| format!("L2TPv3 control prefix: {e}"))?;
                fill_control(r, msg, opts)
            } else {
                r.kind = Some(Kind::Data);
                fill_v3_data(r, buf, opts, data::Encap::Ip)
            }
        }
    }
}

fn fill_v2_data(r: &mut Record, buf: &[u8]) -> Result<(), String> {
    let (h, off) =
        v2::DataRepr::parse_bytes(buf).map_err(|e| format!("L2TPv2 data header: {e}"))?;
    r.tunnel_id = Some(u32::from(h.tunnel_id));
    r.session_id = Some(u32::from(h.session_id));
    if let Some((ns, nr)) = h.ns_nr {
        r.ns = Some(ns);
        r.nr = Some(nr);
    }
    r.length = h.length;
    r.offset = h.offset;
    r.priority = Some(h.priority);
    let end = h
        .length
        .map_or(buf.len(), |l| usize::from(l).min(buf.len()));
    r.payload_len = Some(end.saturating_sub(off));
    Ok(())
}

fn fill_v3_data(
    r: &mut Record,
    buf: &[u8],
    opts: &Options,
    encap: data::Encap,
) -> Result<(), String> {
    let cfg = V3DataConfig {
        encap,
        cookie_len: opts.cookie_len,
        l2spec: opts.l2spec,
    };
    // The session ID is readable whatever the cookie/sublayer settings.
    r.session_id = data::v3_session_id(buf, encap).ok();
    let (h, off) = V3DataRepr::parse(buf, &cfg).map_err(|e| format!("L2TPv3 data header: {e}"))?;
    r.session_id = Some(h.session_id);
    r.cookie = Some(json::hex_plain(h.cookie.as_bytes()));
    r.l2spec = Some(match h.l2spec {
        L2SpecType::Default => "default",
        _ => "none",
    });
    r.seq = h.seq;
    r.payload_len = Some(buf.len().saturating_sub(off));
    Ok(())
}

fn fill_control(r: &mut Record, buf: &[u8], opts: &Options) -> Result<(), String> {
    let (h, body) =
        ControlHeaderRepr::parse_bytes(buf).map_err(|e| format!("control header: {e}"))?;
    let version = h.version;
    r.version = Some(version.number());
    r.tunnel_id = Some(h.tunnel_id);
    if version == Version::V2 {
        r.session_id = Some(u32::from(h.session_id));
    }
    r.ns = Some(h.ns);
    r.nr = Some(h.nr);
    r.length = Some(h.length);
    let mut avps = Vec::new();
    let mut message_type: Option<MessageType> = None;
    let mut random_vector: Option<Vec<u8>> = None;
    let hiding_key: Option<Vec<u8>> = opts.secret.as_deref().map(|s| match version {
        Version::V2 => s.to_vec(),
        _ => hidden::v3_hiding_key(s).to_vec(),
    });
    let mut failure = None;
    for (i, raw) in avp::iter(body).enumerate() {
        let raw = match raw {
            Ok(raw) => raw,
            Err(e) => {
                failure = Some(format!("AVP {}: {e}", i + 1));
                break;
            }
        };
        let mut rec = AvpRecord {
            vendor: raw.vendor_id,
            attr_type: raw.attr_type,
            name: "Unknown",
            mandatory: raw.mandatory,
            hidden: raw.hidden,
            value: String::new(),
            error: None,
        };
        let revealed;
        let value: Option<&[u8]> = if raw.hidden {
            match (&hiding_key, &random_vector) {
                (Some(key), Some(rv)) => match hidden::unhide(raw.attr_type, key, rv, raw.value) {
                    Ok(v) => {
                        revealed = v;
                        Some(&revealed)
                    }
                    Err(e) => {
                        rec.error = Some(format!("cannot unhide: {e}"));
                        None
                    }
                },
                (None, _) => {
                    rec.error = Some("hidden; give --secret to reveal".to_string());
                    None
                }
                (Some(_), None) => {
                    rec.error = Some("hidden, but no Random Vector AVP precedes it".to_string());
                    None
                }
            }
        } else {
            Some(raw.value)
        };
        match value.map(|v| (v, AvpValue::decode(raw.vendor_id, raw.attr_type, v))) {
            Some((_, Ok(v))) => {
                rec.name = v.name();
                rec.value = v.value_json();
                if let AvpValue::MessageType(m) = &v {
                    if i == 0 {
                        message_type = Some(*m);
                    }
                }
                if let AvpValue::RandomVector(rv) = &v {
                    random_vector = Some(rv.clone());
                }
            }
            Some((bytes, Err(e))) => {
                rec.name = avp_name(raw.vendor_id, raw.attr_type);
                rec.value = json::hex(bytes);
                rec.error = Some(e.to_string());
            }
            None => {
                rec.name = avp_name(raw.vendor_id, raw.attr_type);
                rec.value = json::hex(raw.value);
            }
        }
        avps.push(rec);
    }
    if avps.is_empty() && failure.is_none() {
        r.message = Some("ZLB".to_string());
    } else {
        match (message_type, avps.first()) {
            (Some(m), _) => {
                r.message = Some(match m {
                    MessageType::Unknown(v) => format!("Unknown({v})"),
                    m => m.name().to_string(),
                });
                if failure.is_none() {
                    let present: Vec<u16> = avps
                        .iter()
                        .filter(|a| a.vendor == avp::IETF_VENDOR)
                        .map(|a| a.attr_type)
                        .collect();
                    r.missing_avps = required_avps(version, m)
                        .iter()
                        .filter(|t| !present.contains(&t.code()))
                        .map(|t| t.name())
                        .collect();
                }
            }
            (None, Some(first)) if failure.is_none() => {
                failure = Some(format!(
                    "first AVP is {} (vendor {}, type {}), not Message Type",
                    first.name, first.vendor, first.attr_type
                ));
            }
            _ => {}
        }
    }
    r.avps = Some(avps);
    match failure {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

fn avp_name(vendor: u16, attr: u16) -> &'static str {
    if vendor == avp::IETF_VENDOR {
        AvpType::from_code(attr).map_or("Unknown", AvpType::name)
    } else {
        "Vendor-Specific"
    }
}

/// `secs.nanos`, correct for negative times too.
fn time_text(t: Timestamp) -> String {
    if t.secs < 0 && t.nanos > 0 {
        let whole = -(t.secs + 1);
        format!("-{}.{:09}", whole, 1_000_000_000 - t.nanos)
    } else {
        format!("{}.{:09}", t.secs, t.nanos)
    }
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Data => "data",
            Kind::Control => "control",
        }
    }
}

fn endpoint(out: &mut String, addr: IpAddr, port: Option<u16>) {
    match (addr, port) {
        (IpAddr::V6(a), Some(p)) => {
            let _ = write!(out, "[{a}]:{p}");
        }
        (a, Some(p)) => {
            let _ = write!(out, "{a}:{p}");
        }
        (a, None) => {
            let _ = write!(out, "{a}");
        }
    }
}

impl Record {
    /// One human-readable line (without the newline).
    pub fn write_text(&self, o: &mut String) {
        let _ = write!(o, "#{} ", self.frame);
        endpoint(o, self.src, self.src_port);
        o.push_str(" > ");
        endpoint(o, self.dst, self.dst_port);
        let _ = write!(o, " {}", self.encap.as_str());
        if let Some(v) = self.version {
            let _ = write!(o, " v{v}");
        }
        if let Some(k) = self.kind {
            let _ = write!(o, " {}", k.as_str());
        }
        if let Some(m) = &self.message {
            let _ = write!(o, " {m}");
        }
        let v3_control = self.version == Some(3) && self.kind == Some(Kind::Control);
        if let Some(t) = self.tunnel_id {
            let label = if v3_control { "ccid" } else { "tunnel" };
            let _ = write!(o, " {label}={t}");
        }
        if let Some(s) = self.session_id {
            let _ = write!(o, " session={s}");
        }
        if let Some(ns) = self.ns {
            let _ = write!(o, " ns={ns}");
        }
        if let Some(nr) = self.nr {
            let _ = write!(o, " nr={nr}");
        }
        if let Some(c) = self.cookie.as_deref().filter(|c| !c.is_empty()) {
            let _ = write!(o, " cookie={c}");
        }
        if let Some(s) = self.seq {
            let _ = write!(o, " seq={s}");
        }
        if let Some(off) = self.offset {
            let _ = write!(o, " offset={off}");
        }
        if let Some(n) = self.payload_len {
            let _ = write!(o, " payload={n}");
        }
        if let Some(avps) = self.avps.as_ref().filter(|a| !a.is_empty()) {
            o.push_str(" avps=[");
            for (i, a) in avps.iter().enumerate() {
                if i > 0 {
                    o.push_str(", ");
                }
                o.push_str(a.name);
                if a.hidden {
                    o.push_str("(H)");
                }
            }
            o.push(']');
        }
        if !self.missing_avps.is_empty() {
            let _ = write!(o, " missing=[{}]", self.missing_avps.join(", "));
        }
        if self.truncated {
            o.push_str(" [truncated]");
        }
        if self.fragmented {
            o.push_str(" [fragment]");
        }
        if let Some(e) = &self.error {
            let _ = write!(o, " error: {e}");
        }
    }

    /// One JSON object (without the newline). Keys that do not apply are left out.
    pub fn write_json(&self, o: &mut String) {
        let mut f: Vec<(&str, String)> = vec![
            ("frame", self.frame.to_string()),
            ("time", time_text(self.time)),
            ("src", json::string(&self.src.to_string())),
            ("dst", json::string(&self.dst.to_string())),
        ];
        let mut opt = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                f.push((k, v));
            }
        };
        opt("src_port", self.src_port.map(|p| p.to_string()));
        opt("dst_port", self.dst_port.map(|p| p.to_string()));
        opt("encap", Some(json::string(self.encap.as_str())));
        opt("version", self.version.map(|v| v.to_string()));
        opt("kind", self.kind.map(|k| json::string(k.as_str())));
        opt("message", self.message.as_deref().map(json::string));
        opt("tunnel_id", self.tunnel_id.map(|v| v.to_string()));
        opt("session_id", self.session_id.map(|v| v.to_string()));
        opt("ns", self.ns.map(|v| v.to_string()));
        opt("nr", self.nr.map(|v| v.to_string()));
        opt("length", self.length.map(|v| v.to_string()));
        opt("cookie", self.cookie.as_deref().map(json::string));
        opt("l2spec", self.l2spec.map(json::string));
        opt("seq", self.seq.map(|v| v.to_string()));
        opt("offset", self.offset.map(|v| v.to_string()));
        opt("priority", self.priority.map(|v| v.to_string()));
        opt("payload_len", self.payload_len.map(|v| v.to_string()));
        opt(
            "avps",
            self.avps.as_ref().map(|avps| {
                let items: Vec<String> = avps
                    .iter()
                    .map(|a| {
                        let mut fields = vec![
                            ("vendor", a.vendor.to_string()),
                            ("type", a.attr_type.to_string()),
                            ("name", json::string(a.name)),
                            ("mandatory", a.mandatory.to_string()),
                            ("hidden", a.hidden.to_string()),
                            ("value", a.value.clone()),
                        ];
                        if let Some(e) = &a.error {
                            fields.push(("error", json::string(e)));
                        }
                        json::object(&fields)
                    })
                    .collect();
                format!("[{}]", items.join(","))
            }),
        );
        if !self.missing_avps.is_empty() {
            let names: Vec<String> = self.missing_avps.iter().map(|n| json::string(n)).collect();
            f.push(("missing_avps", format!("[{}]", names.join(","))));
        }
        if self.truncated {
            f.push(("truncated", "true".to_string()));
        }
        if self.fragmented {
            f.push(("fragmented", "true".to_string()));
        }
        if let Some(e) = &self.error {
            f.push(("error", json::string(e)));
        }
        o.push_str(&json::object(&f));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn options_parse() {
        let p = parse_args(&args(&[
            "--json",
            "--cookie-len",
            "8",
            "--l2spec=default",
            "--udp-port",
            "5000",
            "--udp-port=6000",
            "f.pcap",
        ]))
        .unwrap();
        assert_eq!(
            p,
            Parsed::Run(Options {
                json: true,
                cookie_len: 8,
                l2spec: L2SpecType::Default,
                ports: vec![5000, 6000],
                secret: None,
                file: "f.pcap".into()
            })
        );
        let Parsed::Run(o) = parse_args(&args(&["-"])).unwrap() else {
            panic!()
        };
        assert_eq!(o.file, "-");
        assert_eq!(parse_args(&args(&["--help"])).unwrap(), Parsed::Help);
    }

    #[test]
    fn option_errors_name_the_argument() {
        let e = parse_args(&args(&["--cookie-len", "3", "f"])).unwrap_err();
        assert!(e.contains("'3'") && e.contains("--cookie-len"), "{e}");
        let e = parse_args(&args(&["--l2spec", "atm", "f"])).unwrap_err();
        assert!(e.contains("'atm'"), "{e}");
        let e = parse_args(&args(&["--udp-port", "70000", "f"])).unwrap_err();
        assert!(e.contains("'70000'"), "{e}");
        let e = parse_args(&args(&["--bogus", "f"])).unwrap_err();
        assert!(e.contains("'--bogus'"), "{e}");
        let e = parse_args(&args(&["a", "b"])).unwrap_err();
        assert!(e.contains("'b'"), "{e}");
        let e = parse_args(&args(&["--json"])).unwrap_err();
        assert!(e.contains("missing FILE"), "{e}");
        let e = parse_args(&args(&["f", "--cookie-len"])).unwrap_err();
        assert!(e.contains("'--cookie-len' needs a value"), "{e}");
    }

    #[test]
    fn negative_time() {
        assert_eq!(time_text(Timestamp::new(-2, 500_000_000)), "-1.500000000");
        assert_eq!(time_text(Timestamp::new(3, 5)), "3.000000005");
    }
}
