//! The endpoint: owns every control connection of one LCCE, demultiplexes
//! datagrams by Control Connection ID, admits new peers, and is the only
//! thing the daemon talks to.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use l2tp_wire::avp::{AvpType, AvpValue};
use l2tp_wire::control::{strip_ip_prefix, ControlHeaderRepr, Version};
use l2tp_wire::data::{Cookie, Encap, L2SpecType};
use l2tp_wire::message::{verify_digest, Message, MessageType, Security};
use l2tp_wire::result::{ErrorCode, StopCcnResult};
use rand::Rng;

use crate::config::{DataSequencing, EndpointConfig, SessionConfig, TunnelConfig};
use crate::error::Error;
use crate::event::{
    Direction, Event, ResultInfo, SessionHandle, SessionParams, TunnelDownReason, TunnelHandle,
    TunnelInfo,
};
use crate::policy::{PeerHello, Policy};
use crate::stats::{EndpointStats, TunnelStats};
use crate::tunnel::{summarize, Session, SessionState, Tunnel, TunnelState};

/// A datagram to send. Over IP (`Encap::Ip`) the payload already starts
/// with the zero session ID; `dst` then carries port 0.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    pub dst: SocketAddr,
    pub payload: Vec<u8>,
}

/// Attempts at drawing a free random ID before giving up.
const ID_ATTEMPTS: usize = 64;

/// A non-zero ID not `in_use`: the configured one, or a random one.
fn pick_id(
    rng: &mut dyn Rng,
    preferred: Option<u32>,
    field: &'static str,
    in_use: impl Fn(u32) -> bool,
) -> Result<u32, Error> {
    if let Some(id) = preferred {
        if id == 0 || in_use(id) {
            return Err(Error::IdInUse { field, id });
        }
        return Ok(id);
    }
    (0..ID_ATTEMPTS)
        .map(|_| rng.next_u32())
        .find(|&id| id != 0 && !in_use(id))
        .ok_or(Error::IdsExhausted { field })
}

/// State every connection needs a handle on: randomness, output queues,
/// the session ID space (unique per endpoint: over IP the data plane
/// demultiplexes by Session ID alone).
pub(crate) struct Shared {
    pub cfg: EndpointConfig,
    pub rng: Box<dyn Rng + Send>,
    pub policy: Box<dyn Policy + Send>,
    pub events: VecDeque<Event>,
    pub out: VecDeque<Transmit>,
    session_ids: HashMap<u32, SessionHandle>,
    session_tunnel: HashMap<SessionHandle, TunnelHandle>,
    next_session: u32,
    serial: u32,
    pub stats: EndpointStats,
}

impl Shared {
    pub fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.rng.fill_bytes(&mut v);
        v
    }

    /// Uniform in `0..=max`.
    pub fn jitter(&mut self, max: Duration) -> Duration {
        let n = max.as_nanos().min(u128::from(u64::MAX - 1)) as u64;
        if n == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(self.rng.next_u64() % (n + 1))
    }

    pub fn random_cookie(&mut self, len: u8) -> Cookie {
        let mut b = [0u8; 8];
        let n = usize::from(len).min(8);
        self.rng.fill_bytes(&mut b[..n]);
        Cookie::new(&b[..n]).unwrap_or(Cookie::NONE)
    }

    pub fn transmit(&mut self, dst: SocketAddr, bytes: Vec<u8>) {
        let payload = match self.cfg.encap {
            Encap::Udp => bytes,
            Encap::Ip => {
                let mut v = Vec::with_capacity(bytes.len() + 4);
                v.extend_from_slice(&[0, 0, 0, 0]);
                v.extend_from_slice(&bytes);
                v
            }
        };
        self.out.push_back(Transmit { dst, payload });
    }

    pub fn alloc_session_id(&mut self, preferred: Option<u32>) -> Result<u32, Error> {
        pick_id(&mut *self.rng, preferred, "local_session_id", |id| {
            self.session_ids.contains_key(&id)
        })
    }

    /// A non-zero ID for a CDN refusing a request; never registered.
    pub fn throwaway_session_id(&mut self) -> u32 {
        self.rng.next_u32().max(1)
    }

    pub fn session_by_id(&self, id: u32) -> Option<SessionHandle> {
        self.session_ids.get(&id).copied()
    }

    pub fn new_session_handle(&mut self) -> SessionHandle {
        self.next_session = self.next_session.wrapping_add(1).max(1);
        SessionHandle(self.next_session)
    }

    pub fn register_session(&mut self, id: u32, h: SessionHandle, t: TunnelHandle) {
        self.session_ids.insert(id, h);
        self.session_tunnel.insert(h, t);
    }

    pub fn unregister_session(&mut self, id: u32, h: SessionHandle) {
        if self.session_ids.get(&id) == Some(&h) {
            self.session_ids.remove(&id);
        }
        self.session_tunnel.remove(&h);
    }

    /// Running Serial Number (RFC 3931: progressively increasing).
    pub fn next_serial(&mut self) -> u32 {
        self.serial = self.serial.wrapping_add(1);
        self.serial
    }

    fn monitor(
        &mut self,
        tunnel: Option<TunnelHandle>,
        peer: SocketAddr,
        dir: Direction,
        m: &Message,
    ) {
        if self.cfg.monitor {
            self.events.push_back(Event::Message {
                tunnel,
                peer,
                direction: dir,
                summary: Box::new(summarize(m, false)),
            });
        }
    }
}

fn require(ok: bool, field: &'static str, reason: &'static str) -> Result<(), Error> {
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidConfig { field, reason })
    }
}

pub(crate) fn validate_tunnel(cfg: &TunnelConfig) -> Result<(), Error> {
    let r = &cfg.reliable;
    require(
        !cfg.host_name.is_empty(),
        "host_name",
        "must be at least one octet",
    )?;
    require(
        !cfg.pw_capabilities.is_empty(),
        "pw_capabilities",
        "must list at least one pseudowire type",
    )?;
    require(
        r.receive_window != 0,
        "reliable.receive_window",
        "must be at least 1",
    )?;
    // Bounded so that `Instant + duration` can never overflow.
    let day = Duration::from_secs(86_400);
    for (field, d) in [
        ("reliable.initial_timeout", r.initial_timeout),
        ("reliable.max_timeout", r.max_timeout),
        ("reliable.ack_delay", r.ack_delay),
        ("hello_interval", cfg.hello_interval.unwrap_or_default()),
    ] {
        require(d <= day, field, "must not exceed one day")?;
    }
    require(
        r.max_retries <= 1000,
        "reliable.max_retries",
        "must not exceed 1000",
    )?;
    require(
        !r.initial_timeout.is_zero(),
        "reliable.initial_timeout",
        "must be non-zero",
    )?;
    require(cfg.local_id != Some(0), "local_id", "0 is reserved")?;
    require(
        cfg.hello_interval.is_none_or(|d| !d.is_zero()),
        "hello_interval",
        "must be non-zero (use None to disable)",
    )?;
    require(
        cfg.hello_interval.is_none_or(|d| cfg.hello_jitter < d),
        "hello_jitter",
        "must be shorter than hello_interval",
    )
}

pub(crate) fn validate_session(cfg: &SessionConfig) -> Result<(), Error> {
    require(
        matches!(cfg.cookie_len, 0 | 4 | 8),
        "cookie_len",
        "must be 0, 4 or 8",
    )?;
    require(
        cfg.sequencing == DataSequencing::None || cfg.l2spec != L2SpecType::None,
        "sequencing",
        "needs the default L2-Specific Sublayer to carry sequence numbers",
    )?;
    require(
        cfg.local_session_id != Some(0),
        "local_session_id",
        "0 is reserved",
    )
}

/// A sans-IO L2TPv3 LCCE: feed it datagrams, timeouts and commands; take
/// datagrams, a wake-up time and events out.
pub struct Endpoint {
    sh: Shared,
    tunnels: BTreeMap<TunnelHandle, Tunnel>,
    by_ccid: HashMap<u32, TunnelHandle>,
    /// (peer address, peer's Assigned Control Connection ID) of accepted
    /// SCCRQs, to route their retransmissions and reverse-looked-up
    /// StopCCNs.
    by_request: HashMap<(SocketAddr, u32), TunnelHandle>,
    next_tunnel: u32,
    /// Set while [`Endpoint::handle_datagram_deferred`] runs.
    defer: bool,
    /// Connections whose output waits for [`Endpoint::flush`], and the
    /// time of the oldest datagram that left it there.
    deferred: Vec<TunnelHandle>,
    deferred_since: Option<Instant>,
}

enum Tie {
    Won,
    Lost,
    Equal,
}

impl Endpoint {
    /// `rng` supplies every random value (IDs, cookies, nonces, tie
    /// breakers, HELLO jitter), so a seeded RNG makes runs reproducible.
    pub fn new(
        config: EndpointConfig,
        policy: Box<dyn Policy + Send>,
        rng: Box<dyn Rng + Send>,
    ) -> Endpoint {
        Endpoint {
            sh: Shared {
                cfg: config,
                rng,
                policy,
                events: VecDeque::new(),
                out: VecDeque::new(),
                session_ids: HashMap::new(),
                session_tunnel: HashMap::new(),
                next_session: 0,
                serial: 0,
                stats: EndpointStats::default(),
            },
            tunnels: BTreeMap::new(),
            by_ccid: HashMap::new(),
            by_request: HashMap::new(),
            next_tunnel: 0,
            defer: false,
            deferred: Vec::new(),
            deferred_since: None,
        }
    }

    pub fn config(&self) -> &EndpointConfig {
        &self.sh.cfg
    }

    pub fn set_policy(&mut self, policy: Box<dyn Policy + Send>) {
        self.sh.policy = policy;
    }

    /// Turns [`Event::Message`] reports on or off (see
    /// [`EndpointConfig::monitor`]); summarising every message costs
    /// allocations, so an owner with no one watching turns it off.
    pub fn set_monitor(&mut self, on: bool) {
        self.sh.cfg.monitor = on;
    }

    // ----- commands -------------------------------------------------------

    /// Opens a control connection to `peer` (sends the SCCRQ).
    pub fn connect(
        &mut self,
        now: Instant,
        peer: SocketAddr,
        config: TunnelConfig,
    ) -> Result<TunnelHandle, Error> {
        validate_tunnel(&config)?;
        if self.tunnels.len() >= self.sh.cfg.max_tunnels {
            return Err(Error::TooManyTunnels);
        }
        let local_id = self.alloc_ccid(config.local_id)?;
        let handle = self.new_tunnel_handle();
        let mut t = Tunnel::new_initiator(handle, config, peer, local_id, now, &mut self.sh);
        t.flush(&mut self.sh, now);
        self.by_ccid.insert(local_id, handle);
        self.tunnels.insert(handle, t);
        Ok(handle)
    }

    /// Asks for a session on a control connection. If the connection is
    /// not up yet, or its send queue is full, the request waits for it.
    pub fn open_session(
        &mut self,
        now: Instant,
        tunnel: TunnelHandle,
        config: SessionConfig,
    ) -> Result<SessionHandle, Error> {
        validate_session(&config)?;
        let max = self.sh.cfg.max_sessions_per_tunnel;
        let t = self
            .tunnels
            .get_mut(&tunnel)
            .ok_or(Error::UnknownTunnel(tunnel))?;
        if matches!(
            t.state,
            TunnelState::Closing | TunnelState::Lingering | TunnelState::Dead
        ) {
            return Err(Error::TunnelClosing(tunnel));
        }
        if t.sessions.len() >= max {
            return Err(Error::TooManySessions(tunnel));
        }
        if !t.peer_supports(config.pw_type) {
            return Err(Error::PwTypeNotSupported(config.pw_type));
        }
        let local_id = self.sh.alloc_session_id(config.local_session_id)?;
        let handle = self.sh.new_session_handle();
        self.sh.register_session(local_id, handle, tunnel);
        let local_cookie = self.sh.random_cookie(config.cookie_len);
        let serial = match config.serial_number {
            Some(s) => s,
            None => self.sh.next_serial(),
        };
        let s = Session {
            cfg: config,
            local_id,
            remote_id: 0,
            initiator: true,
            state: SessionState::WaitTunnel,
            local_cookie,
            peer_cookie: Cookie::NONE,
            peer_l2spec: L2SpecType::None,
            peer_seq: DataSequencing::None,
            serial,
            peer_circuit: 0,
        };
        t.add_session(&mut self.sh, handle, s);
        t.flush(&mut self.sh, now);
        Ok(handle)
    }

    /// Tears a session down (CDN, Result Code 3 "administrative").
    pub fn close_session(&mut self, now: Instant, session: SessionHandle) -> Result<(), Error> {
        let th = *self
            .sh
            .session_tunnel
            .get(&session)
            .ok_or(Error::UnknownSession(session))?;
        let t = self
            .tunnels
            .get_mut(&th)
            .ok_or(Error::UnknownSession(session))?;
        let r = ResultInfo::new(
            l2tp_wire::result::CdnResult::Administrative.to_u16(),
            None,
            Some("closed by administrator"),
        );
        t.close_session(&mut self.sh, session, r);
        t.flush(&mut self.sh, now);
        Ok(())
    }

    /// Tears a control connection and all its sessions down (StopCCN,
    /// Result Code 1). Closing a connection twice is not an error.
    pub fn close_tunnel(&mut self, now: Instant, tunnel: TunnelHandle) -> Result<(), Error> {
        let t = self
            .tunnels
            .get_mut(&tunnel)
            .ok_or(Error::UnknownTunnel(tunnel))?;
        let r = ResultInfo::new(
            StopCcnResult::GeneralClear.to_u16(),
            None,
            Some("closed by administrator"),
        );
        t.close(&mut self.sh, now, r, TunnelDownReason::Closed);
        t.flush(&mut self.sh, now);
        self.reap();
        Ok(())
    }

    /// Reports a circuit status change to the peer with an SLI (bits as in
    /// [`crate::CircuitStatus`]).
    pub fn set_circuit_status(
        &mut self,
        now: Instant,
        session: SessionHandle,
        status: u16,
    ) -> Result<(), Error> {
        let th = *self
            .sh
            .session_tunnel
            .get(&session)
            .ok_or(Error::UnknownSession(session))?;
        let t = self
            .tunnels
            .get_mut(&th)
            .ok_or(Error::UnknownSession(session))?;
        if !t.set_circuit_status(session, status) {
            return Err(Error::UnknownSession(session));
        }
        t.flush(&mut self.sh, now);
        Ok(())
    }

    /// Tells the endpoint that data arrived on a connection's sessions, so
    /// no HELLO is needed (RFC 3931 4.4 counts data as keepalive).
    pub fn touch(&mut self, now: Instant, tunnel: TunnelHandle) {
        if let Some(t) = self.tunnels.get_mut(&tunnel) {
            t.touch(now);
        }
    }

    // ----- I/O ------------------------------------------------------------

    /// Feeds one received datagram: for UDP the UDP payload, for IP the IP
    /// payload (starting with the zero session ID).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.sh.stats.rx_datagrams += 1;
        let buf = match self.sh.cfg.encap {
            Encap::Udp => datagram,
            Encap::Ip => match strip_ip_prefix(datagram) {
                Ok(b) => b,
                Err(l2tp_wire::Error::NonZeroControlPrefix(_)) => {
                    self.sh.stats.rx_data += 1;
                    return;
                }
                Err(_) => {
                    self.sh.stats.rx_malformed += 1;
                    return;
                }
            },
        };
        let hdr = match ControlHeaderRepr::parse_bytes(buf) {
            Ok((h, _)) => h,
            Err(l2tp_wire::Error::UnexpectedData) => {
                self.sh.stats.rx_data += 1;
                return;
            }
            Err(_) => {
                self.sh.stats.rx_malformed += 1;
                return;
            }
        };
        match hdr.version {
            Version::V2 => self.on_v2(now, from, buf, &hdr),
            Version::V3 if hdr.tunnel_id != 0 => match self.by_ccid.get(&hdr.tunnel_id) {
                Some(&h) => self.deliver_to(h, now, from, &hdr, buf),
                None => self.sh.stats.rx_unknown_tunnel += 1,
            },
            Version::V3 => self.on_ccid_zero(now, from, buf, &hdr),
        }
        self.reap();
    }

    /// Like [`Endpoint::handle_datagram`], but the connection's answer
    /// (replies, acknowledgement) waits for [`Endpoint::flush`]. Feeding a
    /// burst of datagrams this way and flushing once lets one message or
    /// ZLB acknowledge the whole burst instead of one ZLB going out for
    /// every two messages, with no added delay: nothing waits for a timer.
    /// Until flushed, [`Endpoint::poll_timeout`] reports the datagram's
    /// time, so an owner that only drives timers still sends promptly.
    pub fn handle_datagram_deferred(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        self.defer = true;
        self.handle_datagram(now, from, datagram);
        self.defer = false;
    }

    /// Sends what [`Endpoint::handle_datagram_deferred`] held back.
    pub fn flush(&mut self, now: Instant) {
        self.deferred_since = None;
        for h in std::mem::take(&mut self.deferred) {
            if let Some(t) = self.tunnels.get_mut(&h) {
                if t.flush_pending {
                    t.flush(&mut self.sh, now);
                }
            }
        }
    }

    /// Runs every timer due at `now` (and flushes deferred output).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.flush(now);
        let due: Vec<TunnelHandle> = self
            .tunnels
            .iter()
            .filter(|(_, t)| t.poll_timeout().is_some_and(|at| at <= now))
            .map(|(h, _)| *h)
            .collect();
        for h in due {
            if let Some(t) = self.tunnels.get_mut(&h) {
                t.handle_timeout(&mut self.sh, now);
                t.flush(&mut self.sh, now);
            }
        }
        self.reap();
    }

    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.sh.out.pop_front()
    }

    /// When [`Endpoint::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let timers = self.tunnels.values().filter_map(Tunnel::poll_timeout).min();
        match (timers, self.deferred_since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.sh.events.pop_front()
    }

    // ----- queries --------------------------------------------------------

    /// Every control connection still held (including closing ones).
    pub fn tunnels(&self) -> Vec<TunnelHandle> {
        self.tunnels.keys().copied().collect()
    }

    pub fn tunnel_state(&self, tunnel: TunnelHandle) -> Option<TunnelState> {
        self.tunnels.get(&tunnel).map(|t| t.state)
    }

    pub fn tunnel_info(&self, tunnel: TunnelHandle) -> Option<TunnelInfo> {
        self.tunnels.get(&tunnel).map(Tunnel::info)
    }

    pub fn tunnel_stats(&self, tunnel: TunnelHandle) -> Option<TunnelStats> {
        self.tunnels.get(&tunnel).map(Tunnel::stats)
    }

    /// The tunnel a Control Connection ID (ours) belongs to.
    pub fn tunnel_by_id(&self, local_id: u32) -> Option<TunnelHandle> {
        self.by_ccid.get(&local_id).copied()
    }

    pub fn sessions(&self, tunnel: TunnelHandle) -> Vec<SessionHandle> {
        self.tunnels
            .get(&tunnel)
            .map(|t| t.sessions.keys().copied().collect())
            .unwrap_or_default()
    }

    pub fn session_tunnel(&self, session: SessionHandle) -> Option<TunnelHandle> {
        self.sh.session_tunnel.get(&session).copied()
    }

    pub fn session_state(&self, session: SessionHandle) -> Option<SessionState> {
        let t = self.tunnels.get(self.sh.session_tunnel.get(&session)?)?;
        t.sessions.get(&session).map(|s| s.state)
    }

    /// Data-plane parameters (complete once the session is established).
    pub fn session_params(&self, session: SessionHandle) -> Option<SessionParams> {
        let t = self.tunnels.get(self.sh.session_tunnel.get(&session)?)?;
        t.sessions.get(&session).map(|s| t.session_params(s))
    }

    /// The session a Session ID (ours) belongs to.
    pub fn session_by_id(&self, local_session_id: u32) -> Option<SessionHandle> {
        self.sh.session_by_id(local_session_id)
    }

    /// Sessions held over all connections, in any state.
    pub fn session_count(&self) -> usize {
        self.sh.session_ids.len()
    }

    pub fn stats(&self) -> EndpointStats {
        self.sh.stats
    }

    // ----- internals ------------------------------------------------------

    fn new_tunnel_handle(&mut self) -> TunnelHandle {
        self.next_tunnel = self.next_tunnel.wrapping_add(1).max(1);
        TunnelHandle(self.next_tunnel)
    }

    fn alloc_ccid(&mut self, preferred: Option<u32>) -> Result<u32, Error> {
        pick_id(&mut *self.sh.rng, preferred, "local_id", |id| {
            self.by_ccid.contains_key(&id)
        })
    }

    fn deliver_to(
        &mut self,
        h: TunnelHandle,
        now: Instant,
        from: SocketAddr,
        hdr: &ControlHeaderRepr,
        buf: &[u8],
    ) {
        if let Some(t) = self.tunnels.get_mut(&h) {
            t.on_datagram(&mut self.sh, now, from, hdr, buf);
            if !self.defer {
                t.flush(&mut self.sh, now);
            } else if !t.flush_pending {
                t.flush_pending = true;
                self.deferred.push(h);
                self.deferred_since.get_or_insert(now);
            }
        }
    }

    /// Forgets connections that finished their teardown.
    fn reap(&mut self) {
        let dead: Vec<TunnelHandle> = self
            .tunnels
            .iter()
            .filter(|(_, t)| t.state == TunnelState::Dead)
            .map(|(h, _)| *h)
            .collect();
        for h in dead {
            if let Some(t) = self.tunnels.remove(&h) {
                if self.by_ccid.get(&t.local_id) == Some(&h) {
                    self.by_ccid.remove(&t.local_id);
                }
                for (sh_, s) in &t.sessions {
                    self.sh.unregister_session(s.local_id, *sh_);
                }
            }
            self.by_request.retain(|_, v| *v != h);
        }
    }

    /// A stateless StopCCN answering an SCCRQ we will not serve.
    fn reject(
        &mut self,
        from: SocketAddr,
        hdr: &ControlHeaderRepr,
        peer_ccid: u32,
        result: u16,
        error: Option<u16>,
        text: &str,
    ) {
        self.sh.stats.rejected += 1;
        self.stateless_stopccn(from, hdr, peer_ccid, result, error, text);
    }

    fn stateless_stopccn(
        &mut self,
        from: SocketAddr,
        hdr: &ControlHeaderRepr,
        peer_ccid: u32,
        result: u16,
        error: Option<u16>,
        text: &str,
    ) {
        let m = Message::new(Version::V3, MessageType::StopCcn, peer_ccid, 0)
            .with(AvpValue::result_code(result, error, text))
            .with_seq(0, hdr.ns.wrapping_add(1));
        if let Ok(b) = m.to_bytes(&Security::default()) {
            self.sh.stats.stateless_replies += 1;
            self.sh.monitor(None, from, Direction::Sent, &m);
            self.sh.transmit(from, b);
        }
    }

    /// L2TPv2 on our port. Until L2TPv2 is implemented a v2 SCCRQ gets a
    /// v2 StopCCN with Result Code 5 and the highest version we support (3)
    /// as Error Code (RFC 2661 4.4.2, RFC 3931 5.4.2).
    fn on_v2(&mut self, now: Instant, from: SocketAddr, buf: &[u8], hdr: &ControlHeaderRepr) {
        let Ok(msg) = Message::parse_unvalidated(buf, &Security::default()) else {
            self.sh.stats.rx_malformed += 1;
            return;
        };
        if msg.message_type() != Some(MessageType::Sccrq) || hdr.tunnel_id != 0 {
            self.sh.stats.rx_unknown_tunnel += 1;
            return;
        }
        self.sh.monitor(None, from, Direction::Received, &msg);
        // RFC 3931 4.7.3: a v2-format SCCRQ carrying the L2TPv3 AVPs is a
        // v3-capable peer probing for fallback; answer it as L2TPv3.
        if msg.assigned_control_connection_id().is_some()
            && msg.router_id().is_some()
            && msg.pseudowire_capabilities().is_some()
        {
            self.on_ccid_zero(now, from, buf, hdr);
            return;
        }
        let peer_tid = msg.assigned_tunnel_id().unwrap_or(0);
        let m = Message::new(Version::V2, MessageType::StopCcn, u32::from(peer_tid), 0)
            .with(AvpValue::AssignedTunnelId(0))
            .with(AvpValue::result_code(
                StopCcnResult::UnsupportedVersion.to_u16(),
                Some(3),
                "L2TPv2 is not supported; highest supported version is 3",
            ))
            .with_seq(0, hdr.ns.wrapping_add(1));
        if let Ok(b) = m.to_bytes(&Security::default()) {
            self.sh.stats.v2_rejected += 1;
            self.sh.stats.stateless_replies += 1;
            self.sh.monitor(None, from, Direction::Sent, &m);
            self.sh.transmit(from, b);
        }
    }

    /// Control Connection ID 0: a new SCCRQ (or its retransmission), or a
    /// StopCCN for a connection whose ID the peer never learned.
    fn on_ccid_zero(
        &mut self,
        now: Instant,
        from: SocketAddr,
        buf: &[u8],
        hdr: &ControlHeaderRepr,
    ) {
        if hdr.is_zlb() {
            self.sh.stats.rx_unknown_tunnel += 1;
            return;
        }
        let Ok(msg) = Message::parse_unvalidated(buf, &Security::default()) else {
            self.sh.stats.rx_malformed += 1;
            return;
        };
        let peer_ccid = msg.assigned_control_connection_id().unwrap_or(0);
        match msg.message_type() {
            Some(MessageType::Sccrq) => {}
            Some(MessageType::StopCcn) => {
                // RFC 3931 5.4.3: reverse lookup by the Assigned CCID.
                match self.by_request.get(&(from, peer_ccid)) {
                    Some(&h) => self.deliver_to(h, now, from, hdr, buf),
                    None => self.sh.stats.rx_unknown_tunnel += 1,
                }
                return;
            }
            _ => {
                self.sh.stats.rx_unknown_tunnel += 1;
                return;
            }
        }
        if let Some(&h) = self.by_request.get(&(from, peer_ccid)) {
            // A retransmitted SCCRQ: the connection re-acknowledges it.
            self.deliver_to(h, now, from, hdr, buf);
            return;
        }
        if hdr.version == Version::V3 {
            self.sh.monitor(None, from, Direction::Received, &msg);
        }
        if let Err(e) = msg.validate() {
            self.reject(
                from,
                hdr,
                peer_ccid,
                StopCcnResult::GeneralError.to_u16(),
                Some(ErrorCode::OutOfRange.to_u16()),
                &format!("malformed SCCRQ: {e}"),
            );
            return;
        }
        if peer_ccid == 0 {
            self.reject(
                from,
                hdr,
                0,
                StopCcnResult::GeneralError.to_u16(),
                Some(ErrorCode::OutOfRange.to_u16()),
                "Assigned Control Connection ID is 0",
            );
            return;
        }
        if hdr.version == Version::V3 {
            if let Some(bad) = msg.unknown_mandatory() {
                let (v, a) = bad.value.vendor_attr();
                self.reject(
                    from,
                    hdr,
                    peer_ccid,
                    StopCcnResult::GeneralError.to_u16(),
                    Some(ErrorCode::UnknownMandatoryAvp.to_u16()),
                    &format!("unknown mandatory AVP: vendor {v} attribute {a}"),
                );
                return;
            }
        }
        if self.tie_break(now, from, buf, hdr, &msg, peer_ccid) {
            return;
        }
        let hello = PeerHello {
            host_name: msg.host_name().unwrap_or_default(),
            router_id: msg.router_id().unwrap_or(0),
            vendor_name: match msg.get(AvpType::VendorName) {
                Some(AvpValue::VendorName(v)) => Some(v.clone()),
                _ => None,
            },
            pw_capabilities: msg.pseudowire_capabilities().unwrap_or_default(),
            wants_auth: msg.nonce().is_some(),
        };
        let Some(cfg) = self.sh.policy.accept_tunnel(from, &hello) else {
            self.reject(
                from,
                hdr,
                peer_ccid,
                StopCcnResult::NotAuthorized.to_u16(),
                None,
                "not authorized",
            );
            return;
        };
        if self.tunnels.len() >= self.sh.cfg.max_tunnels {
            self.reject(
                from,
                hdr,
                peer_ccid,
                StopCcnResult::GeneralError.to_u16(),
                Some(ErrorCode::InsufficientResources.to_u16()),
                "control connection limit reached",
            );
            return;
        }
        if !self.sccrq_auth_ok(from, hdr, buf, &msg, peer_ccid, &cfg) {
            return;
        }
        self.accept(now, from, buf, hdr, peer_ccid, cfg, None);
    }

    /// Checks an SCCRQ against the authentication a config requires.
    /// Bad digests are dropped silently (and counted); a mismatch of
    /// whether to authenticate at all is refused with a StopCCN.
    fn sccrq_auth_ok(
        &mut self,
        from: SocketAddr,
        hdr: &ControlHeaderRepr,
        buf: &[u8],
        msg: &Message,
        peer_ccid: u32,
        cfg: &TunnelConfig,
    ) -> bool {
        let has_digest = msg.has(AvpType::MessageDigest);
        // Which secret the digest (if any) must verify under, or why the
        // two ends disagree about authenticating at all.
        let security = match (&cfg.auth, msg.nonce().is_some()) {
            (Some(a), true) => Ok(Some(Security::with_secret(&a.secret))),
            (Some(_), false) => Err("control message authentication required"),
            (None, true) => Err("no shared secret configured for control message authentication"),
            (None, false) => Ok(has_digest.then(Security::default)),
        };
        match security {
            Err(reason) => {
                let result = StopCcnResult::NotAuthorized.to_u16();
                self.reject(from, hdr, peer_ccid, result, None, reason);
                return false;
            }
            Ok(Some(sec)) if verify_digest(buf, &sec).is_err() => {
                self.sh.stats.bad_digest += 1;
                return false;
            }
            Ok(_) => {}
        }
        true
    }

    /// Creates the responder side of a connection and feeds it the SCCRQ.
    /// `reuse` carries the handle and waiting sessions of our own SCCRQ
    /// that lost a tie, so the owner's handle survives.
    #[allow(clippy::too_many_arguments)]
    fn accept(
        &mut self,
        now: Instant,
        from: SocketAddr,
        buf: &[u8],
        hdr: &ControlHeaderRepr,
        peer_ccid: u32,
        cfg: TunnelConfig,
        reuse: Option<(TunnelHandle, BTreeMap<SessionHandle, Session>)>,
    ) {
        let local_id = match validate_tunnel(&cfg).and_then(|_| self.alloc_ccid(cfg.local_id)) {
            Ok(id) => id,
            Err(_) => {
                let local_id = cfg.local_id.filter(|&id| id != 0);
                self.reject(
                    from,
                    hdr,
                    peer_ccid,
                    StopCcnResult::GeneralError.to_u16(),
                    Some(ErrorCode::InsufficientResources.to_u16()),
                    match local_id {
                        Some(_) => "configured control connection ID unavailable",
                        None => "no control connection available",
                    },
                );
                if let Some((h, sessions)) = reuse {
                    self.fail_handle(h, sessions);
                }
                return;
            }
        };
        let reused = reuse.is_some();
        let (handle, sessions) = match reuse {
            Some((h, s)) => (h, s),
            None => (self.new_tunnel_handle(), BTreeMap::new()),
        };
        let mut t = Tunnel::new_responder(handle, cfg, from, local_id, now, &mut self.sh);
        t.sessions = sessions;
        t.owner_knows = reused;
        self.by_ccid.insert(local_id, handle);
        self.by_request.insert((from, peer_ccid), handle);
        t.on_datagram(&mut self.sh, now, from, hdr, buf);
        if t.state == TunnelState::Idle {
            // The SCCRQ was not usable as the first message (e.g. Ns != 0):
            // keep no state for it.
            self.by_ccid.remove(&local_id);
            self.by_request.remove(&(from, peer_ccid));
            self.sh.stats.rx_malformed += 1;
            if t.owner_knows {
                let sessions = std::mem::take(&mut t.sessions);
                self.fail_handle(handle, sessions);
            }
            return;
        }
        t.flush(&mut self.sh, now);
        self.tunnels.insert(handle, t);
    }

    /// Reports a handle and its sessions down when a tie-break handover
    /// could not complete.
    fn fail_handle(&mut self, h: TunnelHandle, sessions: BTreeMap<SessionHandle, Session>) {
        for (sh_, s) in sessions {
            self.sh.unregister_session(s.local_id, sh_);
            self.sh.events.push_back(Event::SessionDown {
                tunnel: h,
                session: sh_,
                reason: crate::event::SessionDownReason::TunnelDown,
            });
        }
        self.sh.events.push_back(Event::TunnelDown {
            tunnel: h,
            reason: TunnelDownReason::Error(ResultInfo::new(
                StopCcnResult::GeneralError.to_u16(),
                Some(ErrorCode::InsufficientResources.to_u16()),
                Some("could not take over the peer's control connection"),
            )),
        });
    }

    /// RFC 3931 5.4.3: an SCCRQ from a peer we are ourselves connecting to.
    /// Lower tie breaker wins; a side with a tie breaker beats one without;
    /// equal values restart both. Returns true when the SCCRQ was handled.
    fn tie_break(
        &mut self,
        now: Instant,
        from: SocketAddr,
        buf: &[u8],
        hdr: &ControlHeaderRepr,
        msg: &Message,
        peer_ccid: u32,
    ) -> bool {
        let theirs = msg.tie_breaker();
        let found = self.tunnels.iter().find(|(_, t)| {
            t.state == TunnelState::WaitCtlReply
                && t.peer.ip() == from.ip()
                && (t.tie_breaker.is_some() || theirs.is_some())
        });
        let Some((&h, t)) = found else {
            // A late copy of an SCCRQ that already lost a tie (the winner's
            // connection is up): the sender wants one connection and has
            // it, so refuse instead of opening a second one.
            let late = theirs.is_some()
                && self.tunnels.values().any(|t| {
                    t.initiator
                        && t.peer.ip() == from.ip()
                        && t.tie_breaker.is_some()
                        && t.recently_established(now)
                });
            if late {
                self.sh.stats.tie_won += 1;
                self.stateless_stopccn(
                    from,
                    hdr,
                    peer_ccid,
                    StopCcnResult::AlreadyExists.to_u16(),
                    None,
                    "control connection already exists",
                );
            }
            return late;
        };
        let outcome = match (t.tie_breaker, theirs) {
            (Some(a), Some(b)) if a < b => Tie::Won,
            (Some(a), Some(b)) if a == b => Tie::Equal,
            (Some(_), None) => Tie::Won,
            _ => Tie::Lost,
        };
        match outcome {
            Tie::Won => {
                self.sh.stats.tie_won += 1;
                self.stateless_stopccn(
                    from,
                    hdr,
                    peer_ccid,
                    StopCcnResult::AlreadyExists.to_u16(),
                    None,
                    "control connection tie breaker lost",
                );
            }
            Tie::Equal => {
                self.sh.stats.tie_equal += 1;
                self.stateless_stopccn(
                    from,
                    hdr,
                    peer_ccid,
                    StopCcnResult::AlreadyExists.to_u16(),
                    None,
                    "equal tie breakers; restarting",
                );
                let Ok(new_id) = self.alloc_ccid(None) else {
                    return true;
                };
                if let Some(t) = self.tunnels.get_mut(&h) {
                    self.by_ccid.remove(&t.local_id);
                    t.restart(new_id, now, &mut self.sh);
                    t.flush(&mut self.sh, now);
                    self.by_ccid.insert(new_id, h);
                }
            }
            Tie::Lost => {
                let cfg = t.cfg.clone();
                // Only give up our connection for a peer that passes
                // authentication.
                if !self.sccrq_auth_ok(from, hdr, buf, msg, peer_ccid, &cfg) {
                    return true;
                }
                self.sh.stats.tie_lost += 1;
                let Some(old) = self.tunnels.remove(&h) else {
                    return true;
                };
                self.by_ccid.remove(&old.local_id);
                self.accept(now, from, buf, hdr, peer_ccid, cfg, Some((h, old.sessions)));
            }
        }
        true
    }
}
