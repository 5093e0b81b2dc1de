//! The daemon's L2TPv3 control plane (RFC 3931 LCCE): the sans-IO
//! [`Endpoint`]s (one per encapsulation) driven with the real clock, the
//! configured tunnels (connect, retry after failure, accept), and the
//! translation of control-plane events into data-plane tunnels and
//! sessions.
//!
//! Control datagrams arrive from the data plane's sockets (one port carries
//! control and data, as in the kernel) through a channel to the control
//! thread, which calls [`Lcce::handle_datagram`] and [`Lcce::handle_timeout`]
//! with the daemon locked. Management requests reach the same state
//! through the daemon.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use l2tp_api::{
    ApiError, ConfiguredTunnel, ControlCounters, ControlStatus, Counters, DynamicSessionSpec,
    Encap, EndpointCounters, ErrorKind, FastPath, L2SpecType, MonitorAvp, MonitorMessage, Origin,
    PseudowireType, SeqMode, SessionControl, SessionState, TunnelControl, TunnelState,
};
use l2tp_control as ctl;
use l2tp_control::{
    Endpoint, EndpointConfig, Event, PeerHello, Policy, SessionHandle, SessionRequest, TunnelHandle,
};
use l2tp_dataplane as dp;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tracing::{debug, info, warn};

use crate::config::{Config, Digest, SessionDef, TunnelDef};
use crate::convert::{self, wire_encap};

/// What the control thread waits for.
#[derive(Debug)]
pub enum ControlInput {
    /// A control message from a data-plane socket.
    Datagram {
        encap: Encap,
        local: SocketAddr,
        peer: SocketAddr,
        data: Vec<u8>,
    },
    /// A management request changed the timers: recompute the wait.
    Wake,
}

/// Control messages queued for the control thread at most; beyond that the
/// data plane's receive threads drop them (the peer retransmits).
pub const CONTROL_QUEUE: usize = 4096;

/// Monitor lines buffered per client before messages are dropped for it.
const MONITOR_QUEUE: usize = 4096;

/// How often forgotten IDs and silently reaped tunnels are reconciled.
const RECONCILE_EVERY: Duration = Duration::from_secs(2);

/// The data-plane operations the control plane needs on top of
/// [`dp::Dataplane`]: a socket before any tunnel exists, and sending to a
/// peer that has no tunnel yet.
pub trait LcceDataplane: dp::Dataplane {
    fn open_listener(
        &mut self,
        encap: dp::Encap,
        local: SocketAddr,
    ) -> Result<SocketAddr, dp::DataplaneError>;
    fn send_control_to(
        &self,
        encap: dp::Encap,
        local: SocketAddr,
        dst: SocketAddr,
        msg: &[u8],
    ) -> Result<(), dp::DataplaneError>;
}

impl LcceDataplane for dp::UserspaceDataplane {
    fn open_listener(
        &mut self,
        encap: dp::Encap,
        local: SocketAddr,
    ) -> Result<SocketAddr, dp::DataplaneError> {
        dp::UserspaceDataplane::open_listener(self, encap, local)
    }

    fn send_control_to(
        &self,
        encap: dp::Encap,
        local: SocketAddr,
        dst: SocketAddr,
        msg: &[u8],
    ) -> Result<(), dp::DataplaneError> {
        dp::UserspaceDataplane::send_control_to(self, encap, local, dst, msg)
    }
}

/// Tunnel and session IDs in use, shared by the daemon (static objects),
/// the control thread and the admission policies (which run inside the
/// endpoints and cannot see the daemon).
#[derive(Default)]
struct Ids {
    static_tunnels: HashSet<u32>,
    static_sessions: HashSet<u32>,
    dyn_tunnels: HashSet<u32>,
    dyn_sessions: HashSet<u32>,
}

/// State the policies share with the control plane.
struct Shared {
    defs: Arc<Vec<TunnelDef>>,
    host_name: String,
    router_id: u32,
    ids: Ids,
    rng: StdRng,
    /// The local address of the datagram being handled.
    current_local: Option<SocketAddr>,
    /// Tunnel -> configuration entry, for every tunnel we know of.
    handle_def: HashMap<(Encap, TunnelHandle), usize>,
    /// Accepted SCCRQs of the datagram being handled: (peer, def, our ID).
    accepted: Vec<(SocketAddr, usize, u32)>,
    /// Session IDs handed out while handling the datagram.
    pending_sessions: Vec<u32>,
}

impl Shared {
    fn alloc_tunnel_id(&mut self) -> u32 {
        loop {
            let id = self.rng.next_u32();
            if id != 0 && !self.ids.static_tunnels.contains(&id) && self.ids.dyn_tunnels.insert(id)
            {
                return id;
            }
        }
    }

    fn alloc_session_id(&mut self) -> u32 {
        loop {
            let id = self.rng.next_u32();
            if id != 0
                && !self.ids.static_sessions.contains(&id)
                && self.ids.dyn_sessions.insert(id)
            {
                return id;
            }
        }
    }
}

fn lock(s: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    s.lock().unwrap_or_else(|p| p.into_inner())
}

/// The control connection parameters of a configured tunnel.
fn tunnel_config(def: &TunnelDef, host: &str, router_id: u32, local_id: u32) -> ctl::TunnelConfig {
    let reliable = ctl::ReliableConfig {
        initial_timeout: def.retransmit.initial,
        max_timeout: def.retransmit.max,
        max_retries: def.retransmit.retries,
        receive_window: def.window,
        ..ctl::ReliableConfig::default()
    };
    let hello_jitter = match def.hello_interval {
        Some(h) => (h / 10).min(Duration::from_secs(1)),
        None => Duration::ZERO,
    };
    ctl::TunnelConfig {
        host_name: def.host_name.clone().unwrap_or_else(|| host.to_string()),
        router_id,
        vendor_name: Some("l2tp-rs".into()),
        local_id: Some(local_id),
        auth: def.secret.as_ref().map(|s| ctl::Auth {
            secret: s.as_bytes().to_vec(),
            algorithm: match def.digest {
                Digest::Md5 => ctl::DigestAlgorithm::Md5,
                Digest::Sha1 => ctl::DigestAlgorithm::Sha1,
            },
        }),
        hello_interval: def.hello_interval,
        hello_jitter,
        reliable,
        pw_capabilities: vec![ctl::pw::ETHERNET],
        tie_breaker: true,
        nonce_len: 16,
    }
}

fn session_config(s: &SessionDef, local_session_id: u32) -> ctl::SessionConfig {
    ctl::SessionConfig {
        call: ctl::CallType::Incoming,
        pw_type: ctl::pw::ETHERNET,
        remote_end_id: s.remote_end_id.clone().unwrap_or_default().into_bytes(),
        cookie_len: s.cookie_len,
        l2spec: convert::wire_l2spec(s.l2spec),
        sequencing: if s.seq.recv() {
            ctl::DataSequencing::All
        } else {
            ctl::DataSequencing::None
        },
        local_session_id: Some(local_session_id),
        serial_number: None,
        circuit_active: true,
    }
}

/// Admission control of one endpoint: SCCRQs from peers a `[[tunnel]]`
/// allows on the local address they arrived at; sessions a template of the
/// tunnel's configuration matches.
struct DaemonPolicy {
    encap: Encap,
    shared: Arc<Mutex<Shared>>,
}

impl Policy for DaemonPolicy {
    fn accept_tunnel(&mut self, from: SocketAddr, _peer: &PeerHello) -> Option<ctl::TunnelConfig> {
        let mut sh = lock(&self.shared);
        let local = sh.current_local?;
        let matches = |d: &&TunnelDef| d.encap == self.encap && !d.initiate && d.local == local;
        let defs = Arc::clone(&sh.defs);
        let idx = defs
            .iter()
            .enumerate()
            .filter(|(_, d)| matches(d))
            .find(|(_, d)| d.peer.is_some_and(|p| p.ip() == from.ip()))
            .or_else(|| {
                defs.iter()
                    .enumerate()
                    .filter(|(_, d)| matches(d))
                    .find(|(_, d)| d.peer.is_none())
            })
            .map(|(i, _)| i)?;
        let def = defs.get(idx)?;
        let id = sh.alloc_tunnel_id();
        sh.accepted.push((from, idx, id));
        Some(tunnel_config(def, &sh.host_name, sh.router_id, id))
    }

    fn accept_session(
        &mut self,
        tunnel: TunnelHandle,
        _peer: SocketAddr,
        request: &SessionRequest,
    ) -> Option<ctl::SessionConfig> {
        let mut sh = lock(&self.shared);
        let idx = *sh.handle_def.get(&(self.encap, tunnel))?;
        let defs = Arc::clone(&sh.defs);
        let template = defs.get(idx)?.template_for(&request.remote_end_id)?;
        if request.pw_type != ctl::pw::ETHERNET {
            return None;
        }
        let id = sh.alloc_session_id();
        sh.pending_sessions.push(id);
        Some(session_config(template, id))
    }
}

/// A control connection the daemon knows of.
struct DynTunnel {
    def: usize,
    local_id: u32,
    /// Our socket address for it.
    local: SocketAddr,
    /// Set when it came up.
    info: Option<ctl::TunnelInfo>,
    /// The data-plane tunnel (ID `local_id`) exists.
    in_dataplane: bool,
    /// Its established sessions, kept so `show tunnel` costs no walk over
    /// every session.
    up_sessions: u32,
}

impl DynTunnel {
    /// A connection of configured tunnel `def` that is not up yet.
    fn new(def: usize, local_id: u32, local: SocketAddr) -> DynTunnel {
        DynTunnel {
            def,
            local_id,
            local,
            info: None,
            in_dataplane: false,
            up_sessions: 0,
        }
    }
}

/// What a dynamic session gets from its template or request.
#[derive(Clone, Debug)]
struct SessionPlan {
    pw_type: PseudowireType,
    ifname: Option<String>,
    seq: SeqMode,
    mtu: Option<u32>,
}

impl SessionPlan {
    fn from_def(s: &SessionDef) -> SessionPlan {
        SessionPlan {
            pw_type: s.pw_type,
            ifname: s.ifname.clone(),
            seq: s.seq,
            mtu: s.mtu,
        }
    }
}

struct DynSession {
    encap: Encap,
    tunnel: TunnelHandle,
    local_id: u32,
    plan: SessionPlan,
    /// Set once established.
    up: Option<UpSession>,
}

/// What the data plane made of an established session (a session is only
/// up once the data plane took it). The negotiated parameters stay in the
/// endpoint (`session_params`), not copied here: at 100,000 sessions every
/// byte counts.
struct UpSession {
    /// Our tunnel ID, to remove the data-plane session after the tunnel
    /// is forgotten.
    tunnel_id: u32,
    ifname: String,
    ifindex: u32,
    mtu: u32,
    seq: SeqMode,
}

/// How a configured tunnel is doing.
#[derive(Default)]
struct DefStatus {
    /// The initiator's current connection.
    handle: Option<TunnelHandle>,
    retry_at: Option<Instant>,
    attempts: u64,
    established: u64,
    last_error: Option<String>,
}

struct Ep {
    encap: Encap,
    ep: Endpoint,
    /// Counters at the last look, to log what changed.
    seen: ctl::EndpointStats,
}

/// The control plane of the daemon.
pub struct Lcce {
    defs: Arc<Vec<TunnelDef>>,
    max_sessions_per_tunnel: usize,
    shared: Arc<Mutex<Shared>>,
    endpoints: Vec<Ep>,
    status: Vec<DefStatus>,
    tunnels: HashMap<(Encap, TunnelHandle), DynTunnel>,
    sessions: HashMap<(Encap, SessionHandle), DynSession>,
    /// Which local socket talks to which peer.
    routes: HashMap<(Encap, SocketAddr), SocketAddr>,
    listeners: Vec<(Encap, SocketAddr)>,
    monitors: Vec<SyncSender<MonitorMessage>>,
    waker: Option<SyncSender<ControlInput>>,
    next_reconcile: Instant,
    /// The daemon is exiting: no retries.
    stopping: bool,
}

impl Default for Lcce {
    fn default() -> Self {
        Lcce::new(Config {
            host_name: "l2tpd".into(),
            router_id: 1,
            max_sessions_per_tunnel: crate::config::DEFAULT_MAX_SESSIONS_PER_TUNNEL,
            tunnels: Vec::new(),
        })
    }
}

fn state_name(s: ctl::TunnelState) -> &'static str {
    match s {
        ctl::TunnelState::Idle => "idle",
        ctl::TunnelState::WaitCtlReply => "wait-ctl-reply",
        ctl::TunnelState::WaitCtlConn => "wait-ctl-conn",
        ctl::TunnelState::Established => "established",
        ctl::TunnelState::Closing => "closing",
        ctl::TunnelState::Lingering => "lingering",
        ctl::TunnelState::Dead => "dead",
    }
}

fn result_text(r: &ctl::ResultInfo) -> String {
    let mut s = format!("result {}", r.result);
    if let Some(e) = r.error {
        s += &format!(" error {e}");
    }
    if let Some(m) = &r.message {
        s += &format!(" \"{m}\"");
    }
    s
}

fn tunnel_down_text(r: &ctl::TunnelDownReason) -> String {
    match r {
        ctl::TunnelDownReason::Closed => "closed by administrator".into(),
        ctl::TunnelDownReason::PeerStopCcn(ri) => format!("peer sent StopCCN: {}", result_text(ri)),
        ctl::TunnelDownReason::Timeout => {
            "peer stopped acknowledging control messages (retransmissions exhausted)".into()
        }
        ctl::TunnelDownReason::Error(ri) => format!("we sent StopCCN: {}", result_text(ri)),
        other => format!("{other:?}"),
    }
}

fn session_down_text(r: &ctl::SessionDownReason) -> String {
    match r {
        ctl::SessionDownReason::Closed => "closed by administrator".into(),
        ctl::SessionDownReason::PeerCdn(ri) => format!("peer sent CDN: {}", result_text(ri)),
        ctl::SessionDownReason::Error(ri) => format!("we sent CDN: {}", result_text(ri)),
        ctl::SessionDownReason::TunnelDown => "its tunnel went down".into(),
        other => format!("{other:?}"),
    }
}

fn printable(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) if s.chars().all(|c| !c.is_control()) => s.to_string(),
        _ => b.iter().map(|x| format!("{x:02x}")).collect(),
    }
}

impl Lcce {
    pub fn new(config: Config) -> Lcce {
        let defs = Arc::new(config.tunnels);
        let shared = Shared {
            defs: Arc::clone(&defs),
            host_name: config.host_name,
            router_id: config.router_id,
            ids: Ids::default(),
            rng: StdRng::from_rng(&mut rand::rng()),
            current_local: None,
            handle_def: HashMap::new(),
            accepted: Vec::new(),
            pending_sessions: Vec::new(),
        };
        let status = defs.iter().map(|_| DefStatus::default()).collect();
        Lcce {
            defs,
            max_sessions_per_tunnel: config.max_sessions_per_tunnel,
            shared: Arc::new(Mutex::new(shared)),
            endpoints: Vec::new(),
            status,
            tunnels: HashMap::new(),
            sessions: HashMap::new(),
            routes: HashMap::new(),
            listeners: Vec::new(),
            monitors: Vec::new(),
            waker: None,
            next_reconcile: Instant::now(),
            stopping: false,
        }
    }

    /// Opens the listeners, creates the endpoints and starts the
    /// initiators. Fails (naming the tunnel) when a socket cannot be opened.
    pub fn start(
        &mut self,
        dp: &mut dyn LcceDataplane,
        waker: SyncSender<ControlInput>,
        now: Instant,
    ) -> Result<(), String> {
        self.waker = Some(waker);
        let defs = Arc::clone(&self.defs);
        for def in defs.iter() {
            if !self.listeners.contains(&(def.encap, def.local)) {
                dp.open_listener(wire_encap(def.encap), def.local)
                    .map_err(|e| {
                        format!(
                            "tunnel \"{}\": cannot listen on {} {}: {e}",
                            def.name,
                            def.encap.show_name(),
                            def.local
                        )
                    })?;
                info!(encap = def.encap.show_name(), local = %def.local, "listening for L2TPv3 control connections");
                self.listeners.push((def.encap, def.local));
            }
            if !self.endpoints.iter().any(|e| e.encap == def.encap) {
                let policy = DaemonPolicy {
                    encap: def.encap,
                    shared: Arc::clone(&self.shared),
                };
                let cfg = EndpointConfig {
                    encap: wire_encap(def.encap),
                    // Message summaries only while `l2tp monitor` watches.
                    monitor: !self.monitors.is_empty(),
                    max_sessions_per_tunnel: self.max_sessions_per_tunnel,
                    ..EndpointConfig::default()
                };
                let rng = StdRng::from_rng(&mut rand::rng());
                self.endpoints.push(Ep {
                    encap: def.encap,
                    ep: Endpoint::new(cfg, Box::new(policy), Box::new(rng)),
                    seen: ctl::EndpointStats::default(),
                });
            }
        }
        for i in 0..defs.len() {
            if defs[i].initiate {
                self.connect(i, now);
            }
        }
        self.pump(dp, now);
        Ok(())
    }

    fn wake(&self) {
        if let Some(w) = &self.waker {
            // A full queue means the control thread is busy and will
            // recompute its timers anyway.
            let _ = w.try_send(ControlInput::Wake);
        }
    }

    fn ep_index(&self, encap: Encap) -> Option<usize> {
        self.endpoints.iter().position(|e| e.encap == encap)
    }

    /// Opens a configured tunnel's control connection (and its sessions).
    fn connect(&mut self, idx: usize, now: Instant) {
        let defs = Arc::clone(&self.defs);
        let Some(def) = defs.get(idx) else { return };
        let Some(peer) = def.peer else { return };
        let Some(ei) = self.ep_index(def.encap) else {
            return;
        };
        let (cfg, local_id) = {
            let mut sh = lock(&self.shared);
            let id = sh.alloc_tunnel_id();
            (tunnel_config(def, &sh.host_name, sh.router_id, id), id)
        };
        self.routes.insert((def.encap, peer), def.local);
        let st = &mut self.status[idx];
        st.retry_at = None;
        st.attempts += 1;
        match self.endpoints[ei].ep.connect(now, peer, cfg) {
            Ok(h) => {
                info!(tunnel = %def.name, %peer, local_id, "sending SCCRQ");
                st.handle = Some(h);
                lock(&self.shared).handle_def.insert((def.encap, h), idx);
                self.tunnels
                    .insert((def.encap, h), DynTunnel::new(idx, local_id, def.local));
                for s in def.sessions.iter().filter(|s| s.initiate) {
                    for _ in 0..s.count {
                        if let Err(e) = self.open(def.encap, h, SessionPlan::from_def(s), s, now) {
                            warn!(tunnel = %def.name, count = s.count, error = %e, "cannot request session");
                            // The entry's other copies would fail alike.
                            break;
                        }
                    }
                }
            }
            Err(e) => {
                warn!(tunnel = %def.name, error = %e, "cannot open control connection");
                lock(&self.shared).ids.dyn_tunnels.remove(&local_id);
                st.last_error = Some(e.to_string());
                st.retry_at = Some(now + def.retry_interval);
            }
        }
    }

    /// Asks for a session on a tunnel (queued until the tunnel is up).
    fn open(
        &mut self,
        encap: Encap,
        tunnel: TunnelHandle,
        plan: SessionPlan,
        def: &SessionDef,
        now: Instant,
    ) -> Result<u32, ctl::Error> {
        let ei = self
            .ep_index(encap)
            .ok_or(ctl::Error::UnknownTunnel(tunnel))?;
        let id = lock(&self.shared).alloc_session_id();
        match self.endpoints[ei]
            .ep
            .open_session(now, tunnel, session_config(def, id))
        {
            Ok(h) => {
                self.sessions.insert(
                    (encap, h),
                    DynSession {
                        encap,
                        tunnel,
                        local_id: id,
                        plan,
                        up: None,
                    },
                );
                Ok(id)
            }
            Err(e) => {
                lock(&self.shared).ids.dyn_sessions.remove(&id);
                Err(e)
            }
        }
    }

    // ----- input ----------------------------------------------------------

    /// A control message from a data-plane socket.
    pub fn handle_datagram(
        &mut self,
        dp: &mut dyn LcceDataplane,
        encap: Encap,
        local: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
        now: Instant,
    ) {
        let Some(ei) = self.ep_index(encap) else {
            debug!(%peer, %local, "control message on a socket without control plane; dropped");
            return;
        };
        self.routes.insert((encap, peer), local);
        lock(&self.shared).current_local = Some(local);
        // Replies and acknowledgements go out from `handle_timeout`, which
        // the control thread runs after each batch of datagrams (the
        // endpoint's deadline is the datagram's time), so one message or
        // ZLB acknowledges the whole batch.
        self.endpoints[ei]
            .ep
            .handle_datagram_deferred(now, peer, data);
        self.after_input(ei, peer, now);
        self.pump(dp, now);
    }

    /// Learns about tunnels and sessions the policy admitted, forgets IDs
    /// handed out for requests that failed afterwards, and logs refusals.
    fn after_input(&mut self, ei: usize, peer: SocketAddr, now: Instant) {
        let encap = self.endpoints[ei].encap;
        let (accepted, pending) = {
            let mut sh = lock(&self.shared);
            sh.current_local = None;
            (
                std::mem::take(&mut sh.accepted),
                std::mem::take(&mut sh.pending_sessions),
            )
        };
        for (from, idx, id) in accepted {
            let ep = &self.endpoints[ei].ep;
            match ep.tunnel_by_id(id) {
                Some(h) => {
                    let def = &self.defs[idx];
                    info!(tunnel = %def.name, peer = %from, local_id = id, "accepted SCCRQ");
                    self.status[idx].attempts += 1;
                    // A peer that opens a new connection has restarted: its
                    // old connection from the same address is stale.
                    let stale: Vec<TunnelHandle> = self
                        .tunnels
                        .iter()
                        .filter(|((e, th), t)| {
                            *e == encap
                                && *th != h
                                && t.def == idx
                                && t.info.as_ref().is_some_and(|i| i.peer.ip() == from.ip())
                        })
                        .map(|((_, th), _)| *th)
                        .collect();
                    lock(&self.shared).handle_def.insert((encap, h), idx);
                    self.tunnels
                        .insert((encap, h), DynTunnel::new(idx, id, def.local));
                    for old in stale {
                        info!(tunnel = %def.name, peer = %from, "peer restarted; closing its previous connection");
                        let _ = self.endpoints[ei].ep.close_tunnel(now, old);
                    }
                }
                None => {
                    lock(&self.shared).ids.dyn_tunnels.remove(&id);
                }
            }
        }
        for id in pending {
            if self.endpoints[ei].ep.session_by_id(id).is_none() {
                lock(&self.shared).ids.dyn_sessions.remove(&id);
            }
        }
        let e = &mut self.endpoints[ei];
        let now_stats = e.ep.stats();
        let seen = e.seen;
        if now_stats.bad_digest > seen.bad_digest {
            warn!(
                %peer,
                total = now_stats.bad_digest,
                "dropped SCCRQ: its Message Digest did not verify (do both sides use the same secret?)"
            );
        }
        if now_stats.rejected > seen.rejected {
            warn!(%peer, total = now_stats.rejected, "refused SCCRQ with StopCCN (no [[tunnel]] accepts this peer on this address, a limit, or a malformed request)");
        }
        if now_stats.v2_rejected > seen.v2_rejected {
            info!(%peer, "L2TPv2 SCCRQ answered with StopCCN: only L2TPv3 is supported");
        }
        e.seen = now_stats;
    }

    /// Runs due timers: retransmissions, HELLOs, retries of initiators.
    pub fn handle_timeout(&mut self, dp: &mut dyn LcceDataplane, now: Instant) {
        for e in &mut self.endpoints {
            if e.ep.poll_timeout().is_some_and(|t| t <= now) {
                e.ep.handle_timeout(now);
            }
        }
        for i in 0..self.status.len() {
            if self.status[i].retry_at.is_some_and(|t| t <= now) {
                self.connect(i, now);
            }
        }
        if now >= self.next_reconcile {
            self.reconcile();
            self.next_reconcile = now + RECONCILE_EVERY;
        }
        self.pump(dp, now);
    }

    /// When [`Lcce::handle_timeout`] must run next.
    pub fn next_deadline(&self) -> Option<Instant> {
        let ep = self.endpoints.iter().filter_map(|e| e.ep.poll_timeout());
        let retry = self.status.iter().filter_map(|s| s.retry_at);
        let reconcile = (!self.endpoints.is_empty()).then_some(self.next_reconcile);
        ep.chain(retry).chain(reconcile).min()
    }

    /// Forgets tunnels the endpoints reaped without a report (accepted
    /// connections that never came up) and the IDs nothing uses any more.
    fn reconcile(&mut self) {
        let endpoints = &self.endpoints;
        let alive = |encap: Encap, h: TunnelHandle| {
            endpoints
                .iter()
                .find(|e| e.encap == encap)
                .is_some_and(|e| e.ep.tunnel_state(h).is_some())
        };
        let gone: Vec<(Encap, TunnelHandle)> = self
            .tunnels
            .keys()
            .filter(|(e, h)| !alive(*e, *h))
            .copied()
            .collect();
        // Routes of peers that have no tunnel (e.g. refused SCCRQs).
        if self.routes.len() > 1024 {
            let keep: HashSet<(Encap, SocketAddr)> = self
                .tunnels
                .iter()
                .filter_map(|((e, h), _)| {
                    let ep = endpoints.iter().find(|x| x.encap == *e)?;
                    Some((*e, ep.ep.tunnel_info(*h)?.peer))
                })
                .chain(
                    self.defs
                        .iter()
                        .filter_map(|d| d.peer.map(|p| (d.encap, p))),
                )
                .collect();
            self.routes.retain(|k, _| keep.contains(k));
        }
        let mut sh = lock(&self.shared);
        for k in gone {
            if let Some(t) = self.tunnels.get(&k) {
                if t.in_dataplane {
                    // Reported tunnels are removed on TunnelDown; keep the
                    // data plane consistent in any case.
                    continue;
                }
            }
            if let Some(t) = self.tunnels.remove(&k) {
                sh.ids.dyn_tunnels.remove(&t.local_id);
            }
            sh.handle_def.remove(&k);
        }
        let in_use = |id: u32| endpoints.iter().any(|e| e.ep.tunnel_by_id(id).is_some());
        sh.ids.dyn_tunnels.retain(|id| in_use(*id));
        // Every ID handed out is registered with an endpoint until its
        // session goes down, so only more IDs than sessions means some were
        // forgotten; the sweep is O(sessions), too much to run blindly
        // every few seconds with 100,000 of them.
        let held: usize = endpoints.iter().map(|e| e.ep.session_count()).sum();
        if sh.ids.dyn_sessions.len() > held {
            let s_in_use = |id: u32| endpoints.iter().any(|e| e.ep.session_by_id(id).is_some());
            let up: HashSet<u32> = self.sessions.values().map(|s| s.local_id).collect();
            sh.ids
                .dyn_sessions
                .retain(|id| s_in_use(*id) || up.contains(id));
        }
    }

    // ----- output ---------------------------------------------------------

    /// Sends what the endpoints queued and applies their events, until
    /// nothing is left.
    fn pump(&mut self, dp: &mut dyn LcceDataplane, now: Instant) {
        loop {
            let mut busy = false;
            for ei in 0..self.endpoints.len() {
                let encap = self.endpoints[ei].encap;
                while let Some(tx) = self.endpoints[ei].ep.poll_transmit() {
                    busy = true;
                    self.send(dp, encap, tx.dst, &tx.payload);
                }
                while let Some(ev) = self.endpoints[ei].ep.poll_event() {
                    busy = true;
                    self.apply(dp, ei, ev, now);
                }
            }
            if !busy {
                break;
            }
        }
    }

    fn send(&self, dp: &dyn LcceDataplane, encap: Encap, dst: SocketAddr, payload: &[u8]) {
        let local = self.routes.get(&(encap, dst)).copied().or_else(|| {
            self.listeners
                .iter()
                .find(|(e, l)| *e == encap && l.is_ipv4() == dst.is_ipv4())
                .map(|(_, l)| *l)
        });
        let Some(local) = local else {
            warn!(%dst, "no local socket to send a control message from; dropped");
            return;
        };
        if let Err(e) = dp.send_control_to(wire_encap(encap), local, dst, payload) {
            debug!(%dst, error = %e, "sending control message");
        }
    }

    fn def_name(&self, idx: usize) -> &str {
        self.defs.get(idx).map_or("?", |d| d.name.as_str())
    }

    fn apply(&mut self, dp: &mut dyn LcceDataplane, ei: usize, ev: Event, now: Instant) {
        let encap = self.endpoints[ei].encap;
        match ev {
            Event::TunnelUp { tunnel, info } => self.tunnel_up(dp, ei, tunnel, info, now),
            Event::TunnelDown { tunnel, reason } => {
                let Some(t) = self.tunnels.remove(&(encap, tunnel)) else {
                    return;
                };
                let text = tunnel_down_text(&reason);
                if matches!(reason, ctl::TunnelDownReason::Closed) {
                    info!(tunnel = %self.def_name(t.def), local_id = t.local_id, reason = %text, "tunnel down");
                } else {
                    warn!(tunnel = %self.def_name(t.def), local_id = t.local_id, reason = %text, "tunnel down");
                }
                if t.in_dataplane {
                    if let Err(e) = dp.del_tunnel(t.local_id) {
                        warn!(local_id = t.local_id, error = %e, "removing data-plane tunnel");
                    }
                }
                self.sessions
                    .retain(|_, s| !(s.encap == encap && s.tunnel == tunnel));
                {
                    let mut sh = lock(&self.shared);
                    sh.ids.dyn_tunnels.remove(&t.local_id);
                    sh.handle_def.remove(&(encap, tunnel));
                }
                let st = &mut self.status[t.def];
                st.last_error = Some(text);
                if st.handle == Some(tunnel) {
                    st.handle = None;
                    let def = &self.defs[t.def];
                    if def.initiate && !self.stopping {
                        st.retry_at = Some(now + def.retry_interval);
                        info!(tunnel = %def.name, after_s = def.retry_interval.as_secs_f64(), "will retry");
                    }
                }
            }
            Event::SessionUp {
                tunnel,
                session,
                params,
            } => self.session_up(dp, ei, tunnel, session, *params, now),
            Event::SessionDown {
                tunnel,
                session,
                reason,
            } => {
                let Some(s) = self.sessions.remove(&(encap, session)) else {
                    return;
                };
                let tid = self
                    .tunnels
                    .get(&(encap, tunnel))
                    .map(|t| t.local_id)
                    .or(s.up.as_ref().map(|u| u.tunnel_id))
                    .unwrap_or(0);
                let text = session_down_text(&reason);
                if s.up.is_some() {
                    if let Some(t) = self.tunnels.get_mut(&(encap, tunnel)) {
                        t.up_sessions = t.up_sessions.saturating_sub(1);
                    }
                }
                if let Some(up) = &s.up {
                    info!(tunnel_id = tid, session_id = s.local_id, ifname = %up.ifname, reason = %text, "session down");
                    match dp.del_session(tid, s.local_id) {
                        Ok(()) | Err(dp::DataplaneError::NoSuchTunnel(_)) => {}
                        Err(e) => {
                            warn!(session_id = s.local_id, error = %e, "removing data-plane session")
                        }
                    }
                } else {
                    warn!(tunnel_id = tid, session_id = s.local_id, reason = %text, "session failed");
                }
                lock(&self.shared).ids.dyn_sessions.remove(&s.local_id);
            }
            Event::CircuitStatus {
                session, status, ..
            } => {
                // The endpoint keeps it for `show session`.
                debug!(?session, bits = status.0, "peer circuit status");
            }
            Event::WanError {
                session, errors, ..
            } => {
                warn!(?session, ?errors, "peer reported WAN errors");
            }
            Event::Message {
                tunnel,
                peer,
                direction,
                summary,
            } => self.monitor(encap, tunnel, peer, direction, &summary),
            other => debug!(event = ?other, "control event ignored"),
        }
    }

    fn tunnel_up(
        &mut self,
        dp: &mut dyn LcceDataplane,
        ei: usize,
        tunnel: TunnelHandle,
        info: ctl::TunnelInfo,
        now: Instant,
    ) {
        let encap = self.endpoints[ei].encap;
        let Some(t) = self.tunnels.get_mut(&(encap, tunnel)) else {
            warn!(
                local_id = info.local_id,
                "unknown tunnel came up; closing it"
            );
            let _ = self.endpoints[ei].ep.close_tunnel(now, tunnel);
            return;
        };
        let cfg = dp::TunnelConfig {
            tunnel_id: t.local_id,
            peer_tunnel_id: info.peer_id,
            encap: wire_encap(encap),
            local: t.local.ip(),
            remote: info.peer.ip(),
            udp_sport: t.local.port(),
            udp_dport: info.peer.port(),
            udp_csum: false,
            udp6_csum_tx: true,
            udp6_csum_rx: true,
        };
        let name = self.defs[t.def].name.clone();
        self.routes.insert((encap, info.peer), t.local);
        match dp.add_tunnel(cfg) {
            Ok(()) => {
                t.in_dataplane = true;
                info!(
                    tunnel = %name,
                    local_id = info.local_id,
                    peer_id = info.peer_id,
                    peer = %info.peer,
                    peer_host = info.peer_host_name.as_deref().unwrap_or("?"),
                    authenticated = info.authenticated,
                    "tunnel up"
                );
                let st = &mut self.status[t.def];
                st.established += 1;
                st.last_error = None;
                t.info = Some(info);
            }
            Err(e) => {
                warn!(tunnel = %name, error = %e, "cannot create the data-plane tunnel; closing");
                self.status[t.def].last_error = Some(format!("data plane: {e}"));
                t.info = Some(info);
                let _ = self.endpoints[ei].ep.close_tunnel(now, tunnel);
            }
        }
    }

    fn session_up(
        &mut self,
        dp: &mut dyn LcceDataplane,
        ei: usize,
        tunnel: TunnelHandle,
        session: SessionHandle,
        params: ctl::SessionParams,
        now: Instant,
    ) {
        let encap = self.endpoints[ei].encap;
        let plan = match self.sessions.get(&(encap, session)) {
            Some(s) => s.plan.clone(),
            None => {
                // Accepted: the template the policy matched.
                let def = self
                    .tunnels
                    .get(&(encap, tunnel))
                    .and_then(|t| self.defs.get(t.def));
                match def.and_then(|d| d.template_for(&params.remote_end_id)) {
                    Some(s) => SessionPlan::from_def(s),
                    None => {
                        warn!(
                            session_id = params.local_session_id,
                            "no template for an accepted session; closing"
                        );
                        let _ = self.endpoints[ei].ep.close_session(now, session);
                        return;
                    }
                }
            }
        };
        let tunnel_in_dp = self
            .tunnels
            .get(&(encap, tunnel))
            .is_some_and(|t| t.in_dataplane);
        let seq = SeqMode::from_flags(
            plan.seq.send() || params.tx_sequencing != ctl::DataSequencing::None,
            params.rx_sequencing != ctl::DataSequencing::None,
        );
        let result = if !tunnel_in_dp {
            Err("its tunnel has no data-plane tunnel".to_string())
        } else if params.tx_l2spec != params.rx_l2spec {
            Err(format!(
                "the peer wants L2-Specific Sublayer {:?} and we {:?}; this data plane needs the same both ways",
                params.tx_l2spec, params.rx_l2spec
            ))
        } else {
            let cfg = dp::SessionConfig {
                tunnel_id: params.local_tunnel_id,
                session_id: params.local_session_id,
                peer_session_id: params.remote_session_id,
                pw_type: convert::dp_pw_type(plan.pw_type),
                ifname: plan.ifname.clone(),
                cookie: params.peer_cookie,
                peer_cookie: params.local_cookie,
                l2spec: params.tx_l2spec,
                seq: convert::dp_seq(seq),
                mtu: plan.mtu,
                reorder_timeout: None,
            };
            dp.add_session(cfg).map_err(|e| e.to_string())
        };
        match result {
            Ok(info) => {
                info!(
                    tunnel_id = params.local_tunnel_id,
                    session_id = params.local_session_id,
                    peer_session_id = params.remote_session_id,
                    ifname = %info.ifname,
                    "session up"
                );
                let up = UpSession {
                    tunnel_id: params.local_tunnel_id,
                    ifname: info.ifname,
                    ifindex: info.ifindex,
                    mtu: info.mtu,
                    seq,
                };
                let s = self.sessions.entry((encap, session)).or_insert(DynSession {
                    encap,
                    tunnel,
                    local_id: params.local_session_id,
                    plan,
                    up: None,
                });
                if s.up.replace(up).is_none() {
                    if let Some(t) = self.tunnels.get_mut(&(encap, tunnel)) {
                        t.up_sessions += 1;
                    }
                }
                lock(&self.shared)
                    .ids
                    .dyn_sessions
                    .insert(params.local_session_id);
            }
            Err(e) => {
                warn!(session_id = params.local_session_id, error = %e, "cannot create the data-plane session; sending CDN");
                let _ = self.endpoints[ei].ep.close_session(now, session);
            }
        }
    }

    fn monitor(
        &mut self,
        encap: Encap,
        tunnel: Option<TunnelHandle>,
        peer: SocketAddr,
        direction: ctl::Direction,
        s: &ctl::MessageSummary,
    ) {
        if self.monitors.is_empty() {
            return;
        }
        let tunnel_id = tunnel
            .and_then(|h| self.tunnels.get(&(encap, h)).map(|t| t.local_id))
            .or_else(|| {
                let received = direction == ctl::Direction::Received;
                (received && s.ccid != 0).then_some(s.ccid)
            });
        let m = MonitorMessage {
            time_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            direction: match direction {
                ctl::Direction::Sent => "sent".into(),
                ctl::Direction::Received => "received".into(),
            },
            encap,
            peer: peer.to_string(),
            tunnel_id,
            ccid: s.ccid,
            message: s.kind.clone(),
            ns: s.ns,
            nr: s.nr,
            retransmit: s.retransmit,
            avps: s
                .avps
                .iter()
                .map(|(n, v)| MonitorAvp {
                    name: n.clone(),
                    value: v.clone(),
                })
                .collect(),
        };
        self.monitors.retain(|tx| match tx.try_send(m.clone()) {
            Ok(()) | Err(TrySendError::Full(_)) => true,
            Err(TrySendError::Disconnected(_)) => false,
        });
        if self.monitors.is_empty() {
            for e in &mut self.endpoints {
                e.ep.set_monitor(false);
            }
        }
    }

    /// Registers a `l2tp monitor` client.
    pub fn subscribe(&mut self) -> Receiver<MonitorMessage> {
        let (tx, rx) = std::sync::mpsc::sync_channel(MONITOR_QUEUE);
        self.monitors.push(tx);
        for e in &mut self.endpoints {
            e.ep.set_monitor(true);
        }
        rx
    }

    // ----- management -----------------------------------------------------

    pub fn is_configured(&self) -> bool {
        !self.endpoints.is_empty()
    }

    /// Keeps the admission policies off IDs of static objects.
    pub fn note_static_tunnel(&self, id: u32, present: bool) {
        let mut sh = lock(&self.shared);
        if present {
            sh.ids.static_tunnels.insert(id);
        } else {
            sh.ids.static_tunnels.remove(&id);
        }
    }

    pub fn note_static_session(&self, id: u32, present: bool) {
        let mut sh = lock(&self.shared);
        if present {
            sh.ids.static_sessions.insert(id);
        } else {
            sh.ids.static_sessions.remove(&id);
        }
    }

    pub fn tunnel_id_in_use(&self, id: u32) -> bool {
        lock(&self.shared).ids.dyn_tunnels.contains(&id)
            || self
                .endpoints
                .iter()
                .any(|e| e.ep.tunnel_by_id(id).is_some())
    }

    pub fn session_id_in_use(&self, id: u32) -> bool {
        lock(&self.shared).ids.dyn_sessions.contains(&id)
            || self
                .endpoints
                .iter()
                .any(|e| e.ep.session_by_id(id).is_some())
    }

    fn find_tunnel(&self, id: u32) -> Option<(Encap, TunnelHandle)> {
        self.tunnels
            .iter()
            .find(|(_, t)| t.local_id == id)
            .map(|(k, _)| *k)
    }

    pub fn has_tunnel(&self, id: u32) -> bool {
        self.find_tunnel(id).is_some()
    }

    /// `l2tp add session dynamic ...`.
    pub fn add_session(
        &mut self,
        dp: &mut dyn LcceDataplane,
        spec: DynamicSessionSpec,
        now: Instant,
    ) -> Result<(u32, u32), ApiError> {
        if !self.is_configured() {
            return Err(ApiError::new(
                ErrorKind::Unsupported,
                "l2tpd runs without a control plane; start it with --config FILE to use dynamic tunnels",
            ));
        }
        let key = match spec.tunnel.parse::<u32>() {
            Ok(id) => self.find_tunnel(id).ok_or_else(|| {
                ApiError::new(
                    ErrorKind::NoSuchTunnel,
                    format!("dynamic tunnel {id} does not exist"),
                )
            })?,
            Err(_) => {
                let idx = self
                    .defs
                    .iter()
                    .position(|d| d.name == spec.tunnel)
                    .ok_or_else(|| {
                        ApiError::new(
                            ErrorKind::NoSuchTunnel,
                            format!("no tunnel named \"{}\" in the configuration", spec.tunnel),
                        )
                    })?;
                let live: Vec<(Encap, TunnelHandle)> = self
                    .tunnels
                    .iter()
                    .filter(|(_, t)| t.def == idx && t.info.is_some())
                    .map(|(k, _)| *k)
                    .collect();
                match (self.status[idx].handle, live.as_slice()) {
                    (Some(h), _) => (self.defs[idx].encap, h),
                    (None, [one]) => *one,
                    (None, []) => {
                        return Err(ApiError::new(
                            ErrorKind::NoSuchTunnel,
                            format!("tunnel \"{}\" is not connected", spec.tunnel),
                        ))
                    }
                    (None, _) => {
                        return Err(ApiError::invalid(
                            "tunnel",
                            format!(
                                "\"{}\" has several connections (peer \"any\"); give the tunnel ID",
                                spec.tunnel
                            ),
                        ))
                    }
                }
            }
        };
        if !matches!(spec.cookie_len, 0 | 4 | 8) {
            return Err(ApiError::invalid("cookie_len", "must be 0, 4 or 8"));
        }
        if spec.seq != SeqMode::None && spec.l2spec_type == L2SpecType::None {
            return Err(ApiError::invalid(
                "seq",
                "sequence numbers are carried in the default L2-Specific Sublayer; set l2spec_type default",
            ));
        }
        if let Some(n) = &spec.name {
            crate::daemon::check_new_ifname(n, |n| {
                let ours = self.sessions.values().any(|s| {
                    s.plan.ifname.as_deref() == Some(n)
                        || s.up.as_ref().is_some_and(|u| u.ifname == n)
                });
                ours || crate::sys::device_exists(n)
            })?;
        }
        if spec.name.is_some() && spec.pw_type == PseudowireType::Null {
            return Err(ApiError::invalid(
                "name",
                "pw_type none sessions have no interface",
            ));
        }
        let def = SessionDef {
            pw_type: spec.pw_type,
            remote_end_id: spec.remote_end_id.clone(),
            ifname: spec.name.clone(),
            cookie_len: spec.cookie_len,
            seq: spec.seq,
            l2spec: spec.l2spec_type,
            mtu: spec.mtu,
            initiate: true,
            count: 1,
        };
        let plan = SessionPlan::from_def(&def);
        let tunnel_id = self.tunnels.get(&key).map_or(0, |t| t.local_id);
        let sid = self
            .open(key.0, key.1, plan, &def, now)
            .map_err(|e| ApiError::new(ErrorKind::InvalidArgument, e.to_string()))?;
        info!(tunnel_id, session_id = sid, "session requested");
        self.pump(dp, now);
        self.wake();
        Ok((tunnel_id, sid))
    }

    /// `l2tp del session` of a dynamic session: sends a CDN.
    pub fn del_session(
        &mut self,
        dp: &mut dyn LcceDataplane,
        tunnel_id: u32,
        session_id: u32,
        now: Instant,
    ) -> Result<(), ApiError> {
        let key = self
            .sessions
            .iter()
            .find(|(_, s)| {
                s.local_id == session_id
                    && self.tunnels.get(&(s.encap, s.tunnel)).map(|t| t.local_id) == Some(tunnel_id)
            })
            .map(|(k, _)| *k)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorKind::NoSuchSession,
                    format!("session {session_id} does not exist in tunnel {tunnel_id}"),
                )
            })?;
        let ei = self
            .ep_index(key.0)
            .ok_or_else(|| ApiError::new(ErrorKind::Internal, "endpoint gone"))?;
        self.endpoints[ei]
            .ep
            .close_session(now, key.1)
            .map_err(|e| ApiError::new(ErrorKind::NoSuchSession, e.to_string()))?;
        self.pump(dp, now);
        self.wake();
        Ok(())
    }

    /// `l2tp del tunnel` of a dynamic tunnel: sends a StopCCN. A configured
    /// initiator connects again after its retry interval.
    pub fn del_tunnel(
        &mut self,
        dp: &mut dyn LcceDataplane,
        tunnel_id: u32,
        now: Instant,
    ) -> Result<(), ApiError> {
        let (encap, h) = self.find_tunnel(tunnel_id).ok_or_else(|| {
            ApiError::new(
                ErrorKind::NoSuchTunnel,
                format!("tunnel {tunnel_id} does not exist"),
            )
        })?;
        let ei = self
            .ep_index(encap)
            .ok_or_else(|| ApiError::new(ErrorKind::Internal, "endpoint gone"))?;
        self.endpoints[ei]
            .ep
            .close_tunnel(now, h)
            .map_err(|e| ApiError::new(ErrorKind::NoSuchTunnel, e.to_string()))?;
        self.pump(dp, now);
        self.wake();
        Ok(())
    }

    /// Says goodbye to every peer (StopCCN, sent once) before the daemon exits.
    pub fn shutdown(&mut self, dp: &mut dyn LcceDataplane, now: Instant) {
        self.stopping = true;
        for e in &mut self.endpoints {
            for h in e.ep.tunnels() {
                if e.ep.tunnel_state(h) == Some(ctl::TunnelState::Established) {
                    let _ = e.ep.close_tunnel(now, h);
                }
            }
        }
        for st in &mut self.status {
            st.retry_at = None;
        }
        self.pump(dp, now);
    }

    // ----- show -----------------------------------------------------------

    pub fn tunnel_states(&self, dp: &dyn LcceDataplane) -> Vec<TunnelState> {
        let mut out = Vec::new();
        for ((encap, h), t) in &self.tunnels {
            let Some(ei) = self.ep_index(*encap) else {
                continue;
            };
            let ep = &self.endpoints[ei].ep;
            let Some(state) = ep.tunnel_state(*h) else {
                continue;
            };
            let info = ep.tunnel_info(*h);
            let stats = ep.tunnel_stats(*h).unwrap_or_default();
            let def = &self.defs[t.def];
            let remote = info
                .as_ref()
                .map(|i| i.peer)
                .or(def.peer)
                .unwrap_or(t.local);
            let up_sessions = t.up_sessions;
            let counters = if t.in_dataplane {
                dp.tunnel_counters(t.local_id)
                    .map(|c| convert::api_counters(&c))
                    .unwrap_or_default()
            } else {
                Counters::default()
            };
            out.push(TunnelState {
                tunnel_id: t.local_id,
                peer_tunnel_id: info.as_ref().map_or(0, |i| i.peer_id),
                encap: *encap,
                local: t.local.ip(),
                remote: remote.ip(),
                udp_sport: if *encap == Encap::Udp {
                    t.local.port()
                } else {
                    0
                },
                udp_dport: if *encap == Encap::Udp {
                    remote.port()
                } else {
                    0
                },
                udp_csum: false,
                udp6_csum_tx: true,
                udp6_csum_rx: true,
                origin: Origin::Dynamic,
                session_count: up_sessions,
                stats: counters,
                control: Some(TunnelControl {
                    name: def.name.clone(),
                    state: state_name(state).into(),
                    initiator: info.as_ref().map_or(def.initiate, |i| i.initiator),
                    authenticated: def.secret.is_some(),
                    peer_host_name: info.as_ref().and_then(|i| i.peer_host_name.clone()),
                    peer_router_id: info.as_ref().and_then(|i| i.peer_router_id),
                    peer_vendor_name: info.as_ref().and_then(|i| i.peer_vendor_name.clone()),
                    sessions: stats.sessions as u32,
                    stats: ControlCounters {
                        tx_messages: stats.tx_messages,
                        retransmissions: stats.retransmissions,
                        tx_acks: stats.tx_acks,
                        rx_messages: stats.rx_messages,
                        rx_acks: stats.rx_acks,
                        duplicates: stats.duplicates,
                        out_of_order: stats.out_of_order,
                        out_of_window: stats.out_of_window,
                        bad_digest: stats.bad_digest,
                        malformed: stats.malformed,
                        hellos_sent: stats.hellos_sent,
                        unacked: stats.unacked as u64,
                    },
                }),
            });
        }
        out.sort_by_key(|t| t.tunnel_id);
        out
    }

    /// Established dynamic sessions.
    pub fn session_states(&self, dp: &dyn LcceDataplane) -> Vec<SessionState> {
        let mut out: Vec<SessionState> = self
            .sessions
            .iter()
            .filter_map(|((encap, handle), s)| {
                let up = s.up.as_ref()?;
                let ei = self.ep_index(*encap)?;
                let p = self.endpoints[ei].ep.session_params(*handle)?;
                let tname = self
                    .tunnels
                    .get(&(s.encap, s.tunnel))
                    .map_or(String::new(), |t| self.def_name(t.def).to_string());
                let stats = dp
                    .session_counters(p.local_tunnel_id, p.local_session_id)
                    .map(|c| convert::api_counters(&c))
                    .unwrap_or_default();
                Some(SessionState {
                    tunnel_id: p.local_tunnel_id,
                    peer_tunnel_id: p.peer_tunnel_id,
                    session_id: p.local_session_id,
                    peer_session_id: p.remote_session_id,
                    pw_type: s.plan.pw_type,
                    ifname: up.ifname.clone(),
                    ifindex: up.ifindex,
                    mtu: up.mtu,
                    cookie: convert::api_cookie(&p.peer_cookie),
                    peer_cookie: convert::api_cookie(&p.local_cookie),
                    l2spec_type: convert::api_l2spec(p.tx_l2spec),
                    seq: up.seq,
                    reorder_timeout_ms: None,
                    origin: Origin::Dynamic,
                    stats,
                    control: Some(SessionControl {
                        tunnel_name: tname,
                        remote_end_id: printable(&p.remote_end_id),
                        serial_number: p.serial_number,
                        initiator: p.initiator,
                        peer_circuit_active: p.peer_circuit_active,
                    }),
                    fast_path: {
                        let (tx, rx) = dp.fast_path(p.local_tunnel_id, p.local_session_id);
                        let tx_note = dp.fast_path_note(p.local_tunnel_id, p.local_session_id);
                        FastPath { tx, rx, tx_note }
                    },
                })
            })
            .collect();
        out.sort_by_key(|s| (s.tunnel_id, s.session_id));
        out
    }

    pub fn control_status(&self, now: Instant) -> ControlStatus {
        let tunnels = self
            .defs
            .iter()
            .zip(&self.status)
            .enumerate()
            .map(|(i, (d, st))| {
                let live: Vec<&DynTunnel> = self.tunnels.values().filter(|t| t.def == i).collect();
                let up = live.iter().find(|t| t.info.is_some());
                let state = if up.is_some() {
                    "established"
                } else if !live.is_empty() {
                    "connecting"
                } else if st.retry_at.is_some() {
                    "retry-wait"
                } else if d.initiate {
                    "down"
                } else {
                    "listening"
                };
                ConfiguredTunnel {
                    name: d.name.clone(),
                    encap: d.encap,
                    local: d.local.to_string(),
                    peer: d.peer.map_or("any".into(), |p| p.to_string()),
                    initiate: d.initiate,
                    state: state.into(),
                    tunnel_id: up.or(live.first()).map(|t| t.local_id),
                    attempts: st.attempts,
                    established: st.established,
                    last_error: st.last_error.clone(),
                    retry_in_ms: st
                        .retry_at
                        .map(|t| t.saturating_duration_since(now).as_millis() as u64),
                }
            })
            .collect();
        ControlStatus {
            listeners: self
                .listeners
                .iter()
                .map(|(e, l)| format!("{} {l}", e.show_name().to_lowercase()))
                .collect(),
            tunnels,
            endpoints: self
                .endpoints
                .iter()
                .map(|e| {
                    let s = e.ep.stats();
                    EndpointCounters {
                        encap: e.encap,
                        rx_datagrams: s.rx_datagrams,
                        rx_malformed: s.rx_malformed,
                        rx_unknown_tunnel: s.rx_unknown_tunnel,
                        bad_digest: s.bad_digest,
                        rejected: s.rejected,
                        v2_rejected: s.v2_rejected,
                        stateless_replies: s.stateless_replies,
                    }
                })
                .collect(),
        }
    }
}
