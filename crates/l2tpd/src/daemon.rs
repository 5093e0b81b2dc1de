//! Request handling: validates each request completely, then drives the
//! data plane, and keeps the configuration `show` reports.
//!
//! Every add is checked against our own tables and the host before the
//! data plane is touched, and the data plane's add operations are atomic,
//! so a refused request leaves nothing behind.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant};

use l2tp_api::{
    ApiError, Counters, Encap, ErrorKind, FastPath, L2SpecType, MonitorMessage, Origin, Request,
    Response, SessionSpec, SessionState, TunnelSpec, TunnelState, PROTOCOL_VERSION,
};
use l2tp_dataplane as dp;
use tracing::{info, warn};

use crate::config::{self, Config, L2TP_PORT};
use crate::convert;
use crate::lcce::{ControlInput, Lcce, LcceDataplane};

/// Longest reorder timeout accepted; longer would just hold packets forever.
const MAX_REORDER_TIMEOUT_MS: u64 = 60_000;

/// Lowest MTU an Ethernet device can carry IPv4 with.
const MIN_MTU: u32 = 68;
const MAX_MTU: u32 = 65535;

/// Looks up an interface name in the daemon's network namespace.
pub type IfnameProbe = fn(&str) -> bool;

struct Tunnel {
    state: TunnelState,
    sessions: BTreeMap<u32, SessionState>,
}

/// The daemon's configuration, its control plane and its data plane.
pub struct Daemon {
    dataplane: Box<dyn LcceDataplane>,
    tunnels: BTreeMap<u32, Tunnel>,
    lcce: Lcce,
    device_exists: IfnameProbe,
    shut_down: bool,
}

impl Daemon {
    pub fn new(dataplane: Box<dyn LcceDataplane>, device_exists: IfnameProbe) -> Daemon {
        Daemon {
            dataplane,
            tunnels: BTreeMap::new(),
            lcce: Lcce::default(),
            device_exists,
            shut_down: false,
        }
    }

    /// Starts the control plane of a configuration file: listeners,
    /// endpoints, initiators. `waker` reaches the control thread.
    pub fn start_lcce(
        &mut self,
        config: Config,
        waker: SyncSender<ControlInput>,
    ) -> Result<(), String> {
        let mut lcce = Lcce::new(config);
        for (id, t) in &self.tunnels {
            lcce.note_static_tunnel(*id, true);
            for sid in t.sessions.keys() {
                lcce.note_static_session(*sid, true);
            }
        }
        lcce.start(self.dataplane.as_mut(), waker, Instant::now())?;
        self.lcce = lcce;
        Ok(())
    }

    /// A control message from a data-plane socket (control thread).
    pub fn control_datagram(
        &mut self,
        encap: Encap,
        local: SocketAddr,
        peer: SocketAddr,
        data: &[u8],
    ) {
        if self.shut_down {
            return;
        }
        self.lcce.handle_datagram(
            self.dataplane.as_mut(),
            encap,
            local,
            peer,
            data,
            Instant::now(),
        );
    }

    /// Runs the control plane's due timers (control thread).
    pub fn control_timeout(&mut self) {
        if self.shut_down {
            return;
        }
        self.lcce
            .handle_timeout(self.dataplane.as_mut(), Instant::now());
    }

    /// When the control thread must call [`Daemon::control_timeout`].
    pub fn next_deadline(&self) -> Option<Instant> {
        self.lcce.next_deadline()
    }

    pub fn is_shut_down(&self) -> bool {
        self.shut_down
    }

    /// A stream of control messages for `l2tp monitor`.
    pub fn subscribe(&mut self) -> Receiver<MonitorMessage> {
        self.lcce.subscribe()
    }

    /// Answers one request; never panics on any input.
    pub fn handle(&mut self, request: Request) -> Response {
        if self.shut_down {
            return Response::Error(ApiError::new(ErrorKind::Internal, "l2tpd is shutting down"));
        }
        let result = match request {
            Request::Hello { .. } => Ok(Response::Hello {
                version: PROTOCOL_VERSION,
                server: format!("l2tpd {}", env!("CARGO_PKG_VERSION")),
            }),
            Request::AddTunnel(spec) => self.add_tunnel(spec, Origin::Static),
            Request::DelTunnel { tunnel_id } => self.del_tunnel(tunnel_id),
            Request::AddSession(spec) => self.add_session(spec, Origin::Static),
            Request::DelSession {
                tunnel_id,
                session_id,
            } => self.del_session(tunnel_id, session_id),
            Request::ShowTunnels { tunnel_id } => self.show_tunnels(tunnel_id),
            Request::ShowSessions {
                tunnel_id,
                session_id,
            } => self.show_sessions(tunnel_id, session_id),
            Request::AddDynamicSession(spec) => self
                .lcce
                .add_session(self.dataplane.as_mut(), spec, Instant::now())
                .map(|(tunnel_id, session_id)| Response::SessionRequested {
                    tunnel_id,
                    session_id,
                }),
            Request::ShowControl => Ok(Response::Control(self.lcce.control_status(Instant::now()))),
            Request::Monitor => Err(ApiError::new(
                ErrorKind::BadRequest,
                "monitor is a stream; the server starts it",
            )),
        };
        result.unwrap_or_else(Response::Error)
    }

    /// Removes every session and tunnel (so every device) and stops the data plane.
    pub fn shutdown(&mut self) {
        if self.shut_down {
            return;
        }
        // The data plane removes every device at once, much faster than
        // deleting sessions one by one (which matters for systemd's stop timeout).
        let sessions: usize = self.tunnels.values().map(|t| t.sessions.len()).sum();
        info!(
            tunnels = self.tunnels.len(),
            sessions, "removing all tunnels and sessions"
        );
        self.lcce.shutdown(self.dataplane.as_mut(), Instant::now());
        self.dataplane.shutdown();
        self.tunnels.clear();
        self.shut_down = true;
    }

    fn add_tunnel(&mut self, spec: TunnelSpec, origin: Origin) -> Result<Response, ApiError> {
        let state = self.validate_tunnel(&spec, origin)?;
        let cfg = dp::TunnelConfig {
            tunnel_id: state.tunnel_id,
            peer_tunnel_id: state.peer_tunnel_id,
            encap: convert::wire_encap(state.encap),
            local: state.local,
            remote: state.remote,
            udp_sport: state.udp_sport,
            udp_dport: state.udp_dport,
            udp_csum: state.udp_csum,
            udp6_csum_tx: state.udp6_csum_tx,
            udp6_csum_rx: state.udp6_csum_rx,
        };
        self.dataplane.add_tunnel(cfg).map_err(map_dp_error)?;
        info!(
            tunnel_id = state.tunnel_id,
            peer_tunnel_id = state.peer_tunnel_id,
            encap = state.encap.show_name(),
            local = %state.local,
            remote = %state.remote,
            "tunnel added"
        );
        self.tunnels.insert(
            state.tunnel_id,
            Tunnel {
                state: state.clone(),
                sessions: BTreeMap::new(),
            },
        );
        self.lcce.note_static_tunnel(state.tunnel_id, true);
        Ok(Response::TunnelAdded(state))
    }

    fn validate_tunnel(&self, spec: &TunnelSpec, origin: Origin) -> Result<TunnelState, ApiError> {
        if spec.tunnel_id == 0 {
            return Err(ApiError::invalid("tunnel_id", "must be 1..4294967295"));
        }
        if spec.peer_tunnel_id == 0 {
            return Err(ApiError::invalid("peer_tunnel_id", "must be 1..4294967295"));
        }
        check_unicast("remote", spec.remote)?;
        if spec.remote.is_unspecified() {
            return Err(ApiError::invalid(
                "remote",
                "the unspecified address is not a peer",
            ));
        }
        let local = match spec.local {
            Some(local) => {
                check_unicast("local", local)?;
                if local.is_ipv4() != spec.remote.is_ipv4() {
                    return Err(ApiError::new(
                        ErrorKind::AddressFamilyMismatch,
                        format!(
                            "local address {local} and remote address {} are of different \
                             families; use two IPv4 or two IPv6 addresses",
                            spec.remote
                        ),
                    ));
                }
                local
            }
            None if spec.remote.is_ipv4() => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            None => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        };
        let (udp_sport, udp_dport) = match spec.encap {
            Encap::Ip => (0, 0),
            Encap::Udp => {
                let sport = spec.udp_sport.unwrap_or(L2TP_PORT);
                let dport = spec.udp_dport.unwrap_or(L2TP_PORT);
                if sport == 0 {
                    return Err(ApiError::invalid("udp_sport", "must be 1..65535"));
                }
                if dport == 0 {
                    return Err(ApiError::invalid("udp_dport", "must be 1..65535"));
                }
                (sport, dport)
            }
        };
        if self.tunnels.contains_key(&spec.tunnel_id) {
            return Err(ApiError::new(
                ErrorKind::TunnelExists,
                format!(
                    "tunnel {} already exists; pick another tunnel_id or delete it first",
                    spec.tunnel_id
                ),
            ));
        }
        if self.lcce.tunnel_id_in_use(spec.tunnel_id) {
            return Err(ApiError::new(
                ErrorKind::TunnelExists,
                format!(
                    "tunnel {} already exists (a dynamic tunnel); pick another tunnel_id",
                    spec.tunnel_id
                ),
            ));
        }
        Ok(TunnelState {
            tunnel_id: spec.tunnel_id,
            peer_tunnel_id: spec.peer_tunnel_id,
            encap: spec.encap,
            local,
            remote: spec.remote,
            udp_sport,
            udp_dport,
            udp_csum: spec.udp_csum,
            udp6_csum_tx: spec.udp6_csum_tx,
            udp6_csum_rx: spec.udp6_csum_rx,
            origin,
            session_count: 0,
            stats: Counters::default(),
            control: None,
        })
    }

    fn del_tunnel(&mut self, tunnel_id: u32) -> Result<Response, ApiError> {
        if !self.tunnels.contains_key(&tunnel_id) && self.lcce.has_tunnel(tunnel_id) {
            self.lcce
                .del_tunnel(self.dataplane.as_mut(), tunnel_id, Instant::now())?;
            return Ok(Response::Done);
        }
        let tunnel = self
            .tunnels
            .remove(&tunnel_id)
            .ok_or_else(|| no_such_tunnel(tunnel_id))?;
        self.lcce.note_static_tunnel(tunnel_id, false);
        for sid in tunnel.sessions.keys() {
            self.lcce.note_static_session(*sid, false);
        }
        // The data plane removes the tunnel's sessions (and devices) with it.
        match self.dataplane.del_tunnel(tunnel_id) {
            Ok(()) | Err(dp::DataplaneError::NoSuchTunnel(_)) => {}
            Err(e) => {
                warn!(tunnel_id, error = %e, "removing tunnel");
                return Err(map_dp_error(e));
            }
        }
        info!(
            tunnel_id,
            sessions = tunnel.sessions.len(),
            "tunnel deleted"
        );
        Ok(Response::Done)
    }

    fn add_session(&mut self, spec: SessionSpec, origin: Origin) -> Result<Response, ApiError> {
        self.validate_session(&spec)?;
        let tunnel = self
            .tunnels
            .get_mut(&spec.tunnel_id)
            .ok_or_else(|| no_such_tunnel(spec.tunnel_id))?;
        // 0 means "no reorder timeout", as in the kernel.
        let reorder_timeout_ms = spec.reorder_timeout_ms.filter(|ms| *ms > 0);
        let cfg = dp::SessionConfig {
            tunnel_id: spec.tunnel_id,
            session_id: spec.session_id,
            peer_session_id: spec.peer_session_id,
            pw_type: convert::dp_pw_type(spec.pw_type),
            ifname: spec.name.clone(),
            cookie: convert::dp_cookie(spec.cookie)?,
            peer_cookie: convert::dp_cookie(spec.peer_cookie)?,
            l2spec: convert::wire_l2spec(spec.l2spec_type),
            seq: convert::dp_seq(spec.seq),
            mtu: spec.mtu,
            reorder_timeout: reorder_timeout_ms.map(Duration::from_millis),
        };
        let info = self.dataplane.add_session(cfg).map_err(map_dp_error)?;
        let state = SessionState {
            tunnel_id: spec.tunnel_id,
            peer_tunnel_id: tunnel.state.peer_tunnel_id,
            session_id: spec.session_id,
            peer_session_id: spec.peer_session_id,
            pw_type: spec.pw_type,
            ifname: info.ifname,
            ifindex: info.ifindex,
            mtu: info.mtu,
            cookie: spec.cookie,
            peer_cookie: spec.peer_cookie,
            l2spec_type: spec.l2spec_type,
            seq: spec.seq,
            reorder_timeout_ms,
            origin,
            stats: Counters::default(),
            control: None,
            fast_path: Default::default(),
        };
        info!(
            tunnel_id = state.tunnel_id,
            session_id = state.session_id,
            peer_session_id = state.peer_session_id,
            ifname = %state.ifname,
            mtu = state.mtu,
            "session added"
        );
        tunnel.sessions.insert(spec.session_id, state.clone());
        tunnel.state.session_count = tunnel.sessions.len() as u32;
        self.lcce.note_static_session(spec.session_id, true);
        Ok(Response::SessionAdded(state))
    }

    fn validate_session(&self, spec: &SessionSpec) -> Result<(), ApiError> {
        if spec.tunnel_id == 0 {
            return Err(ApiError::invalid("tunnel_id", "must be 1..4294967295"));
        }
        if spec.session_id == 0 {
            return Err(ApiError::invalid(
                "session_id",
                "must be 1..4294967295 (0 marks control messages)",
            ));
        }
        if spec.peer_session_id == 0 {
            return Err(ApiError::invalid(
                "peer_session_id",
                "must be 1..4294967295 (0 marks control messages)",
            ));
        }
        if !self.tunnels.contains_key(&spec.tunnel_id) {
            if self.lcce.has_tunnel(spec.tunnel_id) {
                return Err(ApiError::invalid(
                    "tunnel_id",
                    format!(
                        "tunnel {} is dynamic; use `l2tp add session dynamic tunnel {}`",
                        spec.tunnel_id, spec.tunnel_id
                    ),
                ));
            }
            return Err(no_such_tunnel(spec.tunnel_id));
        }
        if self.lcce.session_id_in_use(spec.session_id) {
            return Err(ApiError::new(
                ErrorKind::SessionExists,
                format!(
                    "session ID {} is already in use by a dynamic session (L2TPv3 session IDs \
                     are unique per host); pick another session_id",
                    spec.session_id
                ),
            ));
        }
        // L2TPv3 session IDs are unique per host, as in the kernel: the
        // receive path finds the session from the ID alone.
        for (tid, t) in &self.tunnels {
            if t.sessions.contains_key(&spec.session_id) {
                return Err(ApiError::new(
                    ErrorKind::SessionExists,
                    format!(
                        "session ID {} is already in use in tunnel {tid} (L2TPv3 session IDs \
                         are unique per host); pick another session_id",
                        spec.session_id
                    ),
                ));
            }
        }
        if let Some(name) = &spec.name {
            check_new_ifname(name, |n| {
                let ours = self
                    .tunnels
                    .values()
                    .flat_map(|t| t.sessions.values())
                    .any(|s| s.ifname == n);
                ours || (self.device_exists)(n)
            })?;
        }
        if spec.seq != l2tp_api::SeqMode::None && spec.l2spec_type == L2SpecType::None {
            return Err(ApiError::invalid(
                "seq",
                "sequence numbers are carried in the default L2-Specific Sublayer; \
                 set l2spec_type default or seq none",
            ));
        }
        if let Some(mtu) = spec.mtu {
            if !(MIN_MTU..=MAX_MTU).contains(&mtu) {
                return Err(ApiError::invalid(
                    "mtu",
                    format!("{mtu} is outside {MIN_MTU}..{MAX_MTU}"),
                ));
            }
        }
        if let Some(ms) = spec.reorder_timeout_ms {
            if ms > MAX_REORDER_TIMEOUT_MS {
                return Err(ApiError::invalid(
                    "reorder_timeout",
                    format!("{ms} ms is longer than the maximum {MAX_REORDER_TIMEOUT_MS} ms"),
                ));
            }
        }
        Ok(())
    }

    fn del_session(&mut self, tunnel_id: u32, session_id: u32) -> Result<Response, ApiError> {
        if !self.tunnels.contains_key(&tunnel_id) && self.lcce.has_tunnel(tunnel_id) {
            self.lcce.del_session(
                self.dataplane.as_mut(),
                tunnel_id,
                session_id,
                Instant::now(),
            )?;
            return Ok(Response::Done);
        }
        let tunnel = self
            .tunnels
            .get_mut(&tunnel_id)
            .ok_or_else(|| no_such_tunnel(tunnel_id))?;
        if !tunnel.sessions.contains_key(&session_id) {
            return Err(no_such_session(tunnel_id, session_id));
        }
        match self.dataplane.del_session(tunnel_id, session_id) {
            Ok(()) | Err(dp::DataplaneError::NoSuchSession { .. }) => {}
            Err(e) => return Err(map_dp_error(e)),
        }
        tunnel.sessions.remove(&session_id);
        tunnel.state.session_count = tunnel.sessions.len() as u32;
        self.lcce.note_static_session(session_id, false);
        info!(tunnel_id, session_id, "session deleted");
        Ok(Response::Done)
    }

    fn show_tunnels(&self, filter: Option<u32>) -> Result<Response, ApiError> {
        let dynamic = self.lcce.tunnel_states(self.dataplane.as_ref());
        if let Some(id) = filter {
            if !self.tunnels.contains_key(&id) && !dynamic.iter().any(|t| t.tunnel_id == id) {
                return Err(no_such_tunnel(id));
            }
        }
        let mut tunnels: Vec<TunnelState> = self
            .tunnels
            .values()
            .filter(|t| filter.is_none_or(|id| id == t.state.tunnel_id))
            .map(|t| {
                let mut s = t.state.clone();
                s.stats = match self.dataplane.tunnel_counters(s.tunnel_id) {
                    Ok(c) => convert::api_counters(&c),
                    Err(e) => {
                        warn!(tunnel_id = s.tunnel_id, error = %e, "reading tunnel counters");
                        Counters::default()
                    }
                };
                s
            })
            .collect();
        tunnels.extend(
            dynamic
                .into_iter()
                .filter(|t| filter.is_none_or(|id| id == t.tunnel_id)),
        );
        tunnels.sort_by_key(|t| t.tunnel_id);
        Ok(Response::Tunnels { tunnels })
    }

    fn show_sessions(
        &self,
        tunnel_id: Option<u32>,
        session_id: Option<u32>,
    ) -> Result<Response, ApiError> {
        let dynamic = self.lcce.session_states(self.dataplane.as_ref());
        if let Some(tid) = tunnel_id {
            match self.tunnels.get(&tid) {
                Some(t) => {
                    if let Some(sid) = session_id {
                        if !t.sessions.contains_key(&sid) {
                            return Err(no_such_session(tid, sid));
                        }
                    }
                }
                None if self.lcce.has_tunnel(tid) => {
                    if let Some(sid) = session_id {
                        if !dynamic
                            .iter()
                            .any(|s| s.tunnel_id == tid && s.session_id == sid)
                        {
                            return Err(no_such_session(tid, sid));
                        }
                    }
                }
                None => return Err(no_such_tunnel(tid)),
            }
        }
        let mut sessions: Vec<SessionState> = self
            .tunnels
            .values()
            .filter(|t| tunnel_id.is_none_or(|id| id == t.state.tunnel_id))
            .flat_map(|t| t.sessions.values())
            .filter(|s| session_id.is_none_or(|id| id == s.session_id))
            .map(|s| {
                let mut s = s.clone();
                let (tx, rx) = self.dataplane.fast_path(s.tunnel_id, s.session_id);
                let tx_note = self.dataplane.fast_path_note(s.tunnel_id, s.session_id);
                s.fast_path = FastPath { tx, rx, tx_note };
                s.stats = match self.dataplane.session_counters(s.tunnel_id, s.session_id) {
                    Ok(c) => convert::api_counters(&c),
                    Err(e) => {
                        warn!(
                            tunnel_id = s.tunnel_id,
                            session_id = s.session_id,
                            error = %e,
                            "reading session counters"
                        );
                        Counters::default()
                    }
                };
                s
            })
            .collect();
        sessions.extend(dynamic.into_iter().filter(|s| {
            tunnel_id.is_none_or(|id| id == s.tunnel_id)
                && session_id.is_none_or(|id| id == s.session_id)
        }));
        if let (None, Some(sid)) = (tunnel_id, session_id) {
            if sessions.is_empty() {
                return Err(ApiError::new(
                    ErrorKind::NoSuchSession,
                    format!("session {sid} does not exist"),
                ));
            }
        }
        Ok(Response::Sessions { sessions })
    }
}

fn no_such_tunnel(id: u32) -> ApiError {
    ApiError::new(
        ErrorKind::NoSuchTunnel,
        format!("tunnel {id} does not exist"),
    )
}

fn no_such_session(tunnel_id: u32, session_id: u32) -> ApiError {
    ApiError::new(
        ErrorKind::NoSuchSession,
        format!("session {session_id} does not exist in tunnel {tunnel_id}"),
    )
}

fn check_unicast(field: &str, a: IpAddr) -> Result<(), ApiError> {
    let bad = match a {
        IpAddr::V4(v4) => v4.is_multicast() || v4.is_broadcast(),
        IpAddr::V6(v6) => v6.is_multicast(),
    };
    if bad {
        return Err(ApiError::invalid(
            field,
            format!("{a} is not a unicast address"),
        ));
    }
    Ok(())
}

/// A device name for a new session, static or dynamic: one the kernel
/// takes, and not `taken` (by one of our sessions or a host device).
pub fn check_new_ifname(name: &str, taken: impl FnOnce(&str) -> bool) -> Result<(), ApiError> {
    config::check_ifname(name).map_err(|reason| ApiError::invalid("name", reason))?;
    if taken(name) {
        return Err(ApiError::new(
            ErrorKind::DeviceExists,
            format!("network device {name} already exists; choose another name"),
        ));
    }
    Ok(())
}

/// Keeps the data plane's message (it says what to change) and classifies it.
pub fn map_dp_error(e: dp::DataplaneError) -> ApiError {
    use dp::DataplaneError as E;
    let kind = match &e {
        E::TunnelExists(_) => ErrorKind::TunnelExists,
        E::NoSuchTunnel(_) => ErrorKind::NoSuchTunnel,
        E::SessionExists(_) => ErrorKind::SessionExists,
        E::NoSuchSession { .. } => ErrorKind::NoSuchSession,
        E::AddressFamilyMismatch { .. } => ErrorKind::AddressFamilyMismatch,
        E::PortInUse { .. } => ErrorKind::PortInUse,
        E::PermissionDenied { .. } => ErrorKind::PermissionDenied,
        E::DeviceExists(_) => ErrorKind::DeviceExists,
        E::Invalid { .. } => ErrorKind::InvalidArgument,
        _ => ErrorKind::Internal,
    };
    ApiError::new(kind, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Records data-plane calls; can be told to refuse the next add.
    #[derive(Default)]
    struct Log {
        calls: Vec<String>,
        fail_next: Option<fn() -> dp::DataplaneError>,
        next_if: u32,
        shut: bool,
    }

    struct Mock(Arc<Mutex<Log>>);

    impl dp::Dataplane for Mock {
        fn add_tunnel(&mut self, cfg: dp::TunnelConfig) -> Result<(), dp::DataplaneError> {
            let mut l = self.0.lock().unwrap();
            if let Some(f) = l.fail_next.take() {
                return Err(f());
            }
            l.calls.push(format!(
                "add_tunnel {} {} {}:{} {}:{}",
                cfg.tunnel_id,
                cfg.peer_tunnel_id,
                cfg.local,
                cfg.udp_sport,
                cfg.remote,
                cfg.udp_dport
            ));
            Ok(())
        }
        fn del_tunnel(&mut self, id: u32) -> Result<(), dp::DataplaneError> {
            self.0
                .lock()
                .unwrap()
                .calls
                .push(format!("del_tunnel {id}"));
            Ok(())
        }
        fn add_session(
            &mut self,
            cfg: dp::SessionConfig,
        ) -> Result<dp::SessionInfo, dp::DataplaneError> {
            let mut l = self.0.lock().unwrap();
            if let Some(f) = l.fail_next.take() {
                return Err(f());
            }
            l.calls.push(format!(
                "add_session {} {} {} cookie={:?} peer_cookie={:?} seq={}/{} reorder={:?}",
                cfg.tunnel_id,
                cfg.session_id,
                cfg.peer_session_id,
                cfg.cookie.as_bytes(),
                cfg.peer_cookie.as_bytes(),
                cfg.seq.send,
                cfg.seq.recv,
                cfg.reorder_timeout
            ));
            let n = l.next_if;
            l.next_if += 1;
            Ok(dp::SessionInfo {
                ifname: cfg.ifname.unwrap_or(format!("l2tpeth{n}")),
                ifindex: 100 + n,
                mtu: cfg.mtu.unwrap_or(1446),
            })
        }
        fn del_session(&mut self, t: u32, s: u32) -> Result<(), dp::DataplaneError> {
            self.0
                .lock()
                .unwrap()
                .calls
                .push(format!("del_session {t} {s}"));
            Ok(())
        }
        fn tunnel_counters(&self, _t: u32) -> Result<dp::Counters, dp::DataplaneError> {
            Ok(dp::Counters {
                rx_packets: 7,
                ..Default::default()
            })
        }
        fn session_counters(&self, _t: u32, s: u32) -> Result<dp::Counters, dp::DataplaneError> {
            Ok(dp::Counters {
                tx_packets: u64::from(s),
                ..Default::default()
            })
        }
        fn shutdown(&mut self) {
            self.0.lock().unwrap().shut = true;
        }
    }

    impl LcceDataplane for Mock {
        fn open_listener(
            &mut self,
            _encap: dp::Encap,
            local: SocketAddr,
        ) -> Result<SocketAddr, dp::DataplaneError> {
            Ok(local)
        }
        fn send_control_to(
            &self,
            _encap: dp::Encap,
            _local: SocketAddr,
            _dst: SocketAddr,
            _msg: &[u8],
        ) -> Result<(), dp::DataplaneError> {
            Ok(())
        }
    }

    fn daemon() -> (Daemon, Arc<Mutex<Log>>) {
        let log = Arc::new(Mutex::new(Log::default()));
        (
            Daemon::new(Box::new(Mock(log.clone())), |name| name == "eth0"),
            log,
        )
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn err_kind(r: Response) -> (ErrorKind, String) {
        match r {
            Response::Error(e) => (e.kind, e.message),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    fn calls(log: &Arc<Mutex<Log>>) -> Vec<String> {
        log.lock().unwrap().calls.clone()
    }

    fn add_t(d: &mut Daemon, id: u32) -> Response {
        d.handle(Request::AddTunnel(TunnelSpec::new(
            id,
            id + 100,
            ip("198.18.0.2"),
        )))
    }

    #[test]
    fn hello_reports_version() {
        let (mut d, _) = daemon();
        assert!(matches!(
            d.handle(Request::Hello { client: "t".into() }),
            Response::Hello {
                version: PROTOCOL_VERSION,
                ..
            }
        ));
    }

    #[test]
    fn add_tunnel_resolves_defaults() {
        let (mut d, log) = daemon();
        let Response::TunnelAdded(t) = add_t(&mut d, 1) else {
            panic!()
        };
        assert_eq!(t.local, ip("0.0.0.0"));
        assert_eq!((t.udp_sport, t.udp_dport), (1701, 1701));
        assert_eq!(
            calls(&log),
            vec!["add_tunnel 1 101 0.0.0.0:1701 198.18.0.2:1701"]
        );

        let mut spec = TunnelSpec::new(2, 3, ip("2001:db8::2"));
        spec.encap = Encap::Ip;
        spec.udp_sport = Some(9);
        let Response::TunnelAdded(t) = d.handle(Request::AddTunnel(spec)) else {
            panic!()
        };
        assert_eq!(t.local, ip("::"));
        assert_eq!((t.udp_sport, t.udp_dport), (0, 0));
    }

    #[test]
    fn tunnel_validation_happens_before_the_dataplane() {
        let (mut d, log) = daemon();
        add_t(&mut d, 1);
        let before = calls(&log);
        let mut cases: Vec<(TunnelSpec, ErrorKind, &str)> = vec![
            (
                TunnelSpec::new(1, 5, ip("198.18.0.9")),
                ErrorKind::TunnelExists,
                "tunnel 1 already exists",
            ),
            (
                TunnelSpec::new(0, 5, ip("198.18.0.9")),
                ErrorKind::InvalidArgument,
                "invalid tunnel_id",
            ),
            (
                TunnelSpec::new(5, 0, ip("198.18.0.9")),
                ErrorKind::InvalidArgument,
                "invalid peer_tunnel_id",
            ),
            (
                TunnelSpec::new(5, 5, ip("0.0.0.0")),
                ErrorKind::InvalidArgument,
                "invalid remote",
            ),
            (
                TunnelSpec::new(5, 5, ip("224.0.0.1")),
                ErrorKind::InvalidArgument,
                "not a unicast",
            ),
            (
                TunnelSpec::new(5, 5, ip("ff02::1")),
                ErrorKind::InvalidArgument,
                "invalid remote",
            ),
        ];
        let mut mixed = TunnelSpec::new(5, 5, ip("2001:db8::2"));
        mixed.local = Some(ip("198.18.0.1"));
        cases.push((
            mixed,
            ErrorKind::AddressFamilyMismatch,
            "different families",
        ));
        let mut p0 = TunnelSpec::new(5, 5, ip("198.18.0.2"));
        p0.udp_sport = Some(0);
        cases.push((p0, ErrorKind::InvalidArgument, "invalid udp_sport"));
        let mut p0 = TunnelSpec::new(5, 5, ip("198.18.0.2"));
        p0.udp_dport = Some(0);
        cases.push((p0, ErrorKind::InvalidArgument, "invalid udp_dport"));
        for (spec, kind, text) in cases {
            let (k, msg) = err_kind(d.handle(Request::AddTunnel(spec.clone())));
            assert_eq!(k, kind, "{spec:?}: {msg}");
            assert!(msg.contains(text), "{msg:?} lacks {text:?}");
        }
        assert_eq!(
            calls(&log),
            before,
            "a refused request must not reach the data plane"
        );
    }

    #[test]
    fn dataplane_refusal_leaves_no_state() {
        let (mut d, log) = daemon();
        log.lock().unwrap().fail_next = Some(|| dp::DataplaneError::PortInUse {
            local: "198.18.0.1:1701".parse().unwrap(),
        });
        let (k, msg) = err_kind(add_t(&mut d, 1));
        assert_eq!(k, ErrorKind::PortInUse);
        assert!(msg.contains("198.18.0.1:1701"), "{msg}");
        let Response::Tunnels { tunnels } = d.handle(Request::ShowTunnels { tunnel_id: None })
        else {
            panic!()
        };
        assert!(tunnels.is_empty());
        // The ID is free to use again.
        assert!(matches!(add_t(&mut d, 1), Response::TunnelAdded(_)));

        log.lock().unwrap().fail_next = Some(|| dp::DataplaneError::PermissionDenied {
            what: "opening /dev/net/tun".into(),
        });
        let (k, _) = err_kind(d.handle(Request::AddSession(SessionSpec::new(1, 2, 3))));
        assert_eq!(k, ErrorKind::PermissionDenied);
        let Response::Sessions { sessions } = d.handle(Request::ShowSessions {
            tunnel_id: None,
            session_id: None,
        }) else {
            panic!()
        };
        assert!(sessions.is_empty());
    }

    #[test]
    fn sessions_lifecycle() {
        let (mut d, log) = daemon();
        add_t(&mut d, 1);
        add_t(&mut d, 2);
        let mut spec = SessionSpec::new(1, 10, 20);
        spec.cookie = Some(l2tp_api::Cookie::from_hex("01020304").unwrap());
        spec.seq = l2tp_api::SeqMode::Both;
        spec.reorder_timeout_ms = Some(100);
        let Response::SessionAdded(s) = d.handle(Request::AddSession(spec)) else {
            panic!()
        };
        assert_eq!(
            (s.ifname.as_str(), s.peer_tunnel_id, s.mtu),
            ("l2tpeth0", 101, 1446)
        );
        assert!(calls(&log).contains(
            &"add_session 1 10 20 cookie=[1, 2, 3, 4] peer_cookie=[] seq=true/true reorder=Some(100ms)".to_string()
        ));

        // Session IDs are unique across tunnels.
        let (k, msg) = err_kind(d.handle(Request::AddSession(SessionSpec::new(2, 10, 5))));
        assert_eq!(k, ErrorKind::SessionExists);
        assert!(
            msg.contains("session ID 10 is already in use in tunnel 1"),
            "{msg}"
        );
        let (k, _) = err_kind(d.handle(Request::AddSession(SessionSpec::new(9, 11, 5))));
        assert_eq!(k, ErrorKind::NoSuchTunnel);

        let mut named = SessionSpec::new(2, 11, 21);
        named.name = Some("pw1".into());
        assert!(matches!(
            d.handle(Request::AddSession(named.clone())),
            Response::SessionAdded(_)
        ));
        named.session_id = 12;
        let (k, _) = err_kind(d.handle(Request::AddSession(named.clone())));
        assert_eq!(k, ErrorKind::DeviceExists, "name used by our own session");
        named.name = Some("eth0".into());
        let (k, msg) = err_kind(d.handle(Request::AddSession(named.clone())));
        assert_eq!(k, ErrorKind::DeviceExists, "name used by a host device");
        assert!(msg.contains("eth0"));
        for bad in ["", "a/b", "a b", "a:b", "0123456789abcdef", "..", "pw%d%d"] {
            named.name = Some(bad.into());
            let (k, msg) = err_kind(d.handle(Request::AddSession(named.clone())));
            assert_eq!(k, ErrorKind::InvalidArgument, "{bad:?}");
            assert!(msg.starts_with("invalid name"), "{msg}");
        }
        named.name = None;
        named.seq = l2tp_api::SeqMode::Send;
        named.l2spec_type = L2SpecType::None;
        assert!(err_kind(d.handle(Request::AddSession(named.clone())))
            .1
            .contains("invalid seq"));
        named.seq = l2tp_api::SeqMode::None;
        named.l2spec_type = L2SpecType::Default;
        named.mtu = Some(67);
        assert!(err_kind(d.handle(Request::AddSession(named.clone())))
            .1
            .contains("invalid mtu"));
        named.mtu = None;
        named.reorder_timeout_ms = Some(MAX_REORDER_TIMEOUT_MS + 1);
        assert!(err_kind(d.handle(Request::AddSession(named.clone())))
            .1
            .contains("invalid reorder_timeout"));
        let (k, _) = err_kind(d.handle(Request::AddSession(SessionSpec::new(1, 0, 5))));
        assert_eq!(k, ErrorKind::InvalidArgument);
        let (k, _) = err_kind(d.handle(Request::AddSession(SessionSpec::new(1, 5, 0))));
        assert_eq!(k, ErrorKind::InvalidArgument);

        // Show with filters and counters.
        let Response::Sessions { sessions } = d.handle(Request::ShowSessions {
            tunnel_id: None,
            session_id: None,
        }) else {
            panic!()
        };
        assert_eq!(
            sessions.iter().map(|s| s.session_id).collect::<Vec<_>>(),
            vec![10, 11]
        );
        assert_eq!(sessions[1].stats.tx_packets, 11);
        let Response::Sessions { sessions } = d.handle(Request::ShowSessions {
            tunnel_id: Some(2),
            session_id: None,
        }) else {
            panic!()
        };
        assert_eq!(sessions.len(), 1);
        assert_eq!(sessions[0].ifname, "pw1");
        let (k, _) = err_kind(d.handle(Request::ShowSessions {
            tunnel_id: Some(2),
            session_id: Some(10),
        }));
        assert_eq!(k, ErrorKind::NoSuchSession);
        let (k, _) = err_kind(d.handle(Request::ShowSessions {
            tunnel_id: None,
            session_id: Some(99),
        }));
        assert_eq!(k, ErrorKind::NoSuchSession);
        let Response::Tunnels { tunnels } = d.handle(Request::ShowTunnels { tunnel_id: Some(1) })
        else {
            panic!()
        };
        assert_eq!(
            (
                tunnels.len(),
                tunnels[0].session_count,
                tunnels[0].stats.rx_packets
            ),
            (1, 1, 7)
        );
        let (k, _) = err_kind(d.handle(Request::ShowTunnels { tunnel_id: Some(3) }));
        assert_eq!(k, ErrorKind::NoSuchTunnel);

        // Deletes.
        let (k, msg) = err_kind(d.handle(Request::DelSession {
            tunnel_id: 2,
            session_id: 10,
        }));
        assert_eq!(k, ErrorKind::NoSuchSession);
        assert_eq!(msg, "session 10 does not exist in tunnel 2");
        assert_eq!(
            d.handle(Request::DelSession {
                tunnel_id: 2,
                session_id: 11
            }),
            Response::Done
        );
        assert_eq!(
            d.handle(Request::DelTunnel { tunnel_id: 1 }),
            Response::Done
        );
        let c = calls(&log);
        let tail: Vec<&str> = c.iter().rev().take(2).rev().map(String::as_str).collect();
        assert_eq!(tail, vec!["del_session 2 11", "del_tunnel 1"]);
        let (k, msg) = err_kind(d.handle(Request::DelTunnel { tunnel_id: 1 }));
        assert_eq!(
            (k, msg.as_str()),
            (ErrorKind::NoSuchTunnel, "tunnel 1 does not exist")
        );
        // Session 10 is free again once its tunnel is gone.
        assert!(matches!(
            d.handle(Request::AddSession(SessionSpec::new(2, 10, 5))),
            Response::SessionAdded(_)
        ));
    }

    #[test]
    fn shutdown_removes_everything() {
        let (mut d, log) = daemon();
        add_t(&mut d, 1);
        add_t(&mut d, 2);
        d.handle(Request::AddSession(SessionSpec::new(1, 10, 20)));
        d.shutdown();
        assert!(
            log.lock().unwrap().shut,
            "the data plane removes every device"
        );
        let Response::Tunnels { tunnels } = ({
            d.shut_down = false;
            let r = d.handle(Request::ShowTunnels { tunnel_id: None });
            d.shut_down = true;
            r
        }) else {
            panic!()
        };
        assert!(tunnels.is_empty(), "no configuration survives shutdown");
        let (k, _) = err_kind(add_t(&mut d, 3));
        assert_eq!(k, ErrorKind::Internal);
    }

    #[test]
    fn dataplane_errors_keep_their_kind() {
        use dp::DataplaneError as E;
        let cases = [
            (E::TunnelExists(1), ErrorKind::TunnelExists),
            (E::NoSuchTunnel(1), ErrorKind::NoSuchTunnel),
            (E::SessionExists(1), ErrorKind::SessionExists),
            (
                E::NoSuchSession {
                    tunnel_id: 1,
                    session_id: 2,
                },
                ErrorKind::NoSuchSession,
            ),
            (
                E::AddressFamilyMismatch {
                    local: ip("198.18.0.1"),
                    remote: ip("2001:db8::1"),
                },
                ErrorKind::AddressFamilyMismatch,
            ),
            (
                E::PortInUse {
                    local: "198.18.0.1:1701".parse().unwrap(),
                },
                ErrorKind::PortInUse,
            ),
            (
                E::PermissionDenied { what: "x".into() },
                ErrorKind::PermissionDenied,
            ),
            (E::DeviceExists("x".into()), ErrorKind::DeviceExists),
            (
                E::Invalid {
                    field: "mtu",
                    reason: "r".into(),
                },
                ErrorKind::InvalidArgument,
            ),
            (
                E::Io {
                    context: "c".into(),
                    source: std::io::Error::other("o"),
                },
                ErrorKind::Internal,
            ),
        ];
        for (e, kind) in cases {
            let text = e.to_string();
            let api = map_dp_error(e);
            assert_eq!(api.kind, kind);
            assert_eq!(api.message, text);
        }
    }
}
