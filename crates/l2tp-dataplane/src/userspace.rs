//! [`UserspaceDataplane`]: tunnels, sessions and the threads serving them.
//!
//! Sockets and devices are created on the calling thread and workers are
//! spawned from it, so everything lives in the caller's network namespace.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::core::{default_mtu, RxConfig, RxSession, TxHeader};
use crate::counters::AtomicCounters;
use crate::encap::{IpUnderlay, Peer, UdpChecksums, UdpUnderlay, Underlay};
use crate::offload::FastpathOptions;
use crate::pseudowire::{NullPseudowire, Pseudowire, TapDevice, TapOptions};
use crate::reaper::{wait_gone, Reaper};
use crate::sys::{self, fast, EventFd, SockAddr};
use crate::tcbpf::{self, TcBpf};
use crate::txpool::{TxPool, TxSession};
use crate::worker::{self, PortShared, PortStats, SessionShared};
use crate::{
    Counters, Dataplane, DataplaneError, Encap, L2SpecType, PseudowireType, SessionConfig,
    SessionInfo, TunnelConfig,
};

/// A control message that arrived on a data-plane socket.
#[derive(Debug)]
pub struct ControlPacket<'a> {
    /// Encapsulation of the socket it arrived on.
    pub encap: Encap,
    /// Local address of that socket.
    pub local: SocketAddr,
    /// Sender (port 0 over IP).
    pub peer: SocketAddr,
    /// The L2TP message: from the flags word over UDP, from the zero session
    /// ID over IP.
    pub data: &'a [u8],
}

/// Called on a receive thread for each control message; must not block long.
pub type ControlHandler = Arc<dyn Fn(&ControlPacket<'_>) + Send + Sync>;

/// Per-socket drops that belong to no session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnderlayStats {
    /// Encapsulation of the socket.
    pub encap: Option<Encap>,
    /// Its local address.
    pub local: Option<SocketAddr>,
    /// Control messages given to the handler.
    pub control_delivered: u64,
    /// Control messages dropped (no handler set).
    pub control_dropped: u64,
    /// Data packets for unknown session IDs.
    pub unknown_session: u64,
    /// Packets too malformed to demultiplex.
    pub invalid: u64,
}

/// Sockets are shared per (encapsulation, local address, local port).
type PortKey = (bool, SocketAddr);

fn port_key(encap: Encap, local: SocketAddr) -> PortKey {
    match encap {
        Encap::Udp => (true, local),
        Encap::Ip => (false, SocketAddr::new(local.ip(), 0)),
    }
}

/// A shared socket and its receive thread.
struct Port {
    shared: Arc<PortShared>,
    stop: Arc<EventFd>,
    thread: Option<JoinHandle<()>>,
    tunnels: HashSet<u32>,
    csum: UdpChecksums,
    /// Held open by [`UserspaceDataplane::open_listener`] even without
    /// tunnels.
    listening: bool,
    /// UDP checksums were turned on so trains can go out with UDP GSO.
    gso: bool,
}

impl Port {
    /// Sends one control message; `context` says what failed.
    fn send_one(
        &self,
        peer: &Peer,
        msg: &[u8],
        context: impl FnOnce() -> String,
    ) -> Result<(), DataplaneError> {
        let source = match self.shared.underlay.send_batch(peer, &[msg]) {
            Ok(1) => return Ok(()),
            Ok(_) => std::io::Error::from(std::io::ErrorKind::WriteZero),
            Err(e) => e,
        };
        Err(DataplaneError::Io {
            context: context(),
            source,
        })
    }

    fn stop(&mut self) {
        self.stop.signal();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Tunnel {
    cfg: TunnelConfig,
    port: PortKey,
    peer: Peer,
    counters: Arc<AtomicCounters>,
    sessions: HashSet<u32>,
}

struct Session {
    shared: Arc<SessionShared>,
    /// Registration with the transmit workers (sessions with a device).
    tx: Option<Arc<TxSession>>,
    /// Its place on the in-kernel fast path, if it has one.
    accel: Option<tcbpf::Attached>,
}

/// The tc-BPF fast path is loaded with the first session that can use it.
enum FastPath {
    Untried,
    Ready(TcBpf),
    Unavailable,
}

/// The userspace data plane: TAP devices and UDP / raw IP sockets served by
/// worker threads (one receive thread per socket, a pool of transmit
/// workers shared by all sessions, one per TAP queue).
pub struct UserspaceDataplane {
    tunnels: HashMap<u32, Tunnel>,
    /// By our session ID: unique per data plane, as in the kernel.
    sessions: HashMap<u32, Session>,
    ports: HashMap<PortKey, Port>,
    control: Arc<RwLock<Option<ControlHandler>>>,
    opts: FastpathOptions,
    /// Started with the first session that has a device.
    pool: Option<TxPool>,
    /// Removes devices in the background, in batches.
    reaper: Reaper,
    fast_path: FastPath,
}

impl UserspaceDataplane {
    /// An empty data plane with the fast-path options from the environment
    /// ([`FastpathOptions::from_env`]); threads start with the first tunnel.
    pub fn new() -> Self {
        Self::with_options(FastpathOptions::from_env())
    }

    /// An empty data plane with explicit fast-path options.
    pub fn with_options(opts: FastpathOptions) -> Self {
        tracing::debug!(?opts, "userspace data plane fast path");
        Self {
            tunnels: HashMap::new(),
            sessions: HashMap::new(),
            ports: HashMap::new(),
            control: Arc::new(RwLock::new(None)),
            opts,
            pool: None,
            reaper: Reaper::new(),
            fast_path: FastPath::Untried,
        }
    }

    /// The fast-path options in force.
    pub fn options(&self) -> FastpathOptions {
        self.opts
    }

    /// Waits until the devices of deleted sessions are completely gone.
    /// Deleting a session returns as soon as its device has left the
    /// namespace; the rest of the unregistration (a kernel grace period,
    /// 15-20 ms, shared by all devices removed together) runs in the
    /// background.
    pub fn settle(&self) {
        self.reaper.settle();
    }

    /// Routes control messages arriving on data sockets (UDP with the T bit,
    /// IP with session ID 0) to `handler`; `None` counts and drops them.
    pub fn set_control_handler(&mut self, handler: Option<ControlHandler>) {
        *self.control.write().unwrap_or_else(|p| p.into_inner()) = handler;
    }

    /// Sends a control message from the socket of `tunnel_id` to its peer
    /// (`msg` starts at the L2TP header; over IP with the zero session ID).
    pub fn send_control(&self, tunnel_id: u32, msg: &[u8]) -> Result<(), DataplaneError> {
        let (t, port) = self.tunnel_port(tunnel_id)?;
        port.send_one(&t.peer, msg, || {
            format!("sending a control message on tunnel {tunnel_id}")
        })
    }

    /// A tunnel and the socket it is on.
    fn tunnel_port(&self, tunnel_id: u32) -> Result<(&Tunnel, &Port), DataplaneError> {
        let t = self
            .tunnels
            .get(&tunnel_id)
            .ok_or(DataplaneError::NoSuchTunnel(tunnel_id))?;
        let port = self
            .ports
            .get(&t.port)
            .ok_or(DataplaneError::NoSuchTunnel(tunnel_id))?;
        Ok((t, port))
    }

    /// Drops that belong to no session, per socket.
    pub fn underlay_stats(&self) -> Vec<UnderlayStats> {
        self.ports
            .values()
            .map(|p| {
                let s: &PortStats = &p.shared.stats;
                UnderlayStats {
                    encap: Some(p.shared.underlay.encap()),
                    local: Some(p.shared.underlay.local()),
                    control_delivered: s.control_delivered.load(Relaxed),
                    control_dropped: s.control_dropped.load(Relaxed),
                    unknown_session: s.unknown_session.load(Relaxed),
                    invalid: s.invalid.load(Relaxed),
                }
            })
            .collect()
    }

    /// The local address a tunnel's socket is bound to (shows the port the
    /// kernel picked when `udp_sport` was 0).
    pub fn tunnel_local_addr(&self, tunnel_id: u32) -> Result<SocketAddr, DataplaneError> {
        let (_, port) = self.tunnel_port(tunnel_id)?;
        Ok(port.shared.underlay.local())
    }

    /// IDs of the existing tunnels.
    pub fn tunnel_ids(&self) -> Vec<u32> {
        let mut v: Vec<u32> = self.tunnels.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Opens (or reuses) the socket for `cfg`; returns its key.
    fn attach_port(&mut self, cfg: &TunnelConfig) -> Result<PortKey, DataplaneError> {
        let csum = UdpChecksums {
            v4_tx: cfg.udp_csum,
            v6_tx: cfg.udp6_csum_tx,
            v6_rx: cfg.udp6_csum_rx,
        };
        let local = match cfg.encap {
            Encap::Udp => SocketAddr::new(cfg.local, cfg.udp_sport),
            Encap::Ip => SocketAddr::new(cfg.local, 0),
        };
        let key = self.open_port(cfg.encap, local, csum)?;
        if let Some(port) = self.ports.get_mut(&key) {
            port.tunnels.insert(cfg.tunnel_id);
        }
        Ok(key)
    }

    /// Finds the socket for `local` or opens it (with its receive thread).
    fn open_port(
        &mut self,
        encap: Encap,
        local: SocketAddr,
        csum: UdpChecksums,
    ) -> Result<PortKey, DataplaneError> {
        let udp = encap == Encap::Udp;
        // Port 0 asks for a fresh ephemeral port: never shared.
        let shareable = !udp || local.port() != 0;
        if shareable {
            if let Some(port) = self.ports.get_mut(&(udp, local)) {
                if udp && port.csum != csum {
                    return Err(DataplaneError::Invalid {
                        field: "udp_csum",
                        reason: format!(
                            "checksum options differ from the other tunnels sharing {local}; use the same udp_csum/udp6_csum_tx/udp6_csum_rx"
                        ),
                    });
                }
                return Ok((udp, local));
            }
        }
        let underlay: Box<dyn Underlay> = match encap {
            Encap::Udp => Box::new(UdpUnderlay::bind(local, csum)?),
            Encap::Ip => Box::new(IpUnderlay::bind(local.ip())?),
        };
        let key = (udp, underlay.local());
        // The kernel refuses UDP GSO without transmit checksums; they are
        // offloaded, so turning them on costs next to nothing.
        let gso = udp
            && self.opts.gso
            && sys::set_udp_tx_csum(underlay.raw_fd(), local.is_ipv6(), true).is_ok();
        if udp && self.opts.gro {
            if let Err(e) = fast::set_udp_gro(underlay.raw_fd()) {
                tracing::debug!(%local, "UDP_GRO not available: {e}");
            }
        }
        let shared = Arc::new(PortShared {
            underlay,
            sessions: RwLock::new(HashMap::new()),
            control: Arc::clone(&self.control),
            stats: PortStats::default(),
        });
        let stop = Arc::new(EventFd::new().map_err(|e| DataplaneError::Io {
            context: "creating an eventfd for the receive thread".into(),
            source: e,
        })?);
        let thread = {
            let shared = Arc::clone(&shared);
            let stop = Arc::clone(&stop);
            let opts = self.opts;
            std::thread::Builder::new()
                .name(format!("l2tp-rx-{}", key.1.port()))
                .spawn(move || worker::rx_loop(shared, stop, opts))
                .map_err(|e| DataplaneError::Io {
                    context: format!("starting the receive thread for {local}"),
                    source: e,
                })?
        };
        self.ports.insert(
            key,
            Port {
                shared,
                stop,
                thread: Some(thread),
                tunnels: HashSet::new(),
                csum,
                listening: false,
                gso,
            },
        );
        Ok(key)
    }

    /// Keeps a socket open on `local` before any tunnel exists, so that a
    /// peer's first control message (an SCCRQ) reaches the control handler.
    /// Tunnels added later on the same address and port share the socket,
    /// so one port carries control and data as in the kernel. Returns the
    /// bound address (UDP port 0 picks one; the port is 0 over IP). Opening
    /// a listener twice is not an error.
    pub fn open_listener(
        &mut self,
        encap: Encap,
        local: SocketAddr,
    ) -> Result<SocketAddr, DataplaneError> {
        let local = match encap {
            Encap::Udp => local,
            Encap::Ip => SocketAddr::new(local.ip(), 0),
        };
        // The defaults of `ip l2tp` (and of the daemon's dynamic tunnels).
        let csum = UdpChecksums {
            v4_tx: false,
            v6_tx: true,
            v6_rx: true,
        };
        let key = self.open_port(encap, local, csum)?;
        if let Some(port) = self.ports.get_mut(&key) {
            port.listening = true;
        }
        Ok(key.1)
    }

    /// Undoes [`UserspaceDataplane::open_listener`]; the socket closes once
    /// no tunnel uses it either.
    pub fn close_listener(&mut self, encap: Encap, local: SocketAddr) {
        let key = port_key(encap, local);
        let unused = match self.ports.get_mut(&key) {
            Some(p) => {
                p.listening = false;
                p.tunnels.is_empty()
            }
            None => false,
        };
        if unused {
            if let Some(mut p) = self.ports.remove(&key) {
                p.stop();
            }
        }
    }

    /// Sends a control message from the socket bound to `local` (a listener
    /// or a tunnel's) to `dst`, which need not belong to any tunnel: the
    /// answer to a peer's first message. `msg` starts at the L2TP header;
    /// over IP with the zero session ID (and `dst` port is ignored).
    pub fn send_control_to(
        &self,
        encap: Encap,
        local: SocketAddr,
        dst: SocketAddr,
        msg: &[u8],
    ) -> Result<(), DataplaneError> {
        let port = self
            .ports
            .get(&port_key(encap, local))
            .ok_or_else(|| DataplaneError::Invalid {
                field: "local",
                reason: format!(
                    "no {encap:?} socket is open on {local}; open a listener or add a tunnel there first"
                ),
            })?;
        // A raw IPv6 socket refuses a port other than its protocol.
        let dst = match encap {
            Encap::Udp => dst,
            Encap::Ip => SocketAddr::new(dst.ip(), 0),
        };
        port.send_one(&Peer::new(dst), msg, || {
            format!("sending a control message from {local} to {dst}")
        })
    }

    /// Forgets `tunnel_id` on its socket; closes the socket when unused.
    fn detach_port(&mut self, key: PortKey, tunnel_id: u32) {
        let empty = match self.ports.get_mut(&key) {
            Some(p) => {
                p.tunnels.remove(&tunnel_id);
                p.tunnels.is_empty() && !p.listening
            }
            None => false,
        };
        if empty {
            if let Some(mut p) = self.ports.remove(&key) {
                p.stop();
            }
        }
    }

    /// Takes a session out of service. Returns its device (index, name),
    /// if it has one, for [`wait_removed`](Self::wait_removed).
    fn remove_session(&mut self, session_id: u32) -> Option<(u32, String)> {
        let mut s = self.sessions.remove(&session_id)?;
        let tunnel_id = s.shared.tunnel_id;
        if let Some(t) = self.tunnels.get_mut(&tunnel_id) {
            t.sessions.remove(&session_id);
            if let Some(p) = self.ports.get(&t.port) {
                p.shared
                    .sessions
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(&session_id);
            }
        }
        if let (Some(a), FastPath::Ready(bpf)) = (s.accel.take(), &mut self.fast_path) {
            // Detached before the device goes; the tunnel keeps the totals.
            let m = bpf.detach(a);
            s.shared.tunnel_counters.add_tx(m.tx_packets, m.tx_bytes, 0);
            s.shared.tunnel_counters.add_rx(m.rx_packets, m.rx_bytes);
        }
        if let (Some(tx), Some(pool)) = (s.tx.take(), self.pool.as_ref()) {
            pool.remove(u64::from(session_id), &tx);
        }
        tracing::debug!(
            tunnel_id,
            session_id,
            ifname = s.shared.pw.ifname(),
            "session removed"
        );
        // Dropping the last reference hands the TAP descriptors to the
        // reaper, which removes the device in the background.
        (s.shared.pw.queues() > 0)
            .then(|| (s.shared.pw.ifindex(), s.shared.pw.ifname().to_string()))
    }

    /// Puts a session on the tc-BPF fast path when it can go there; any
    /// failure leaves it (whole) on the userspace path.
    fn accelerate(&mut self, p: &tcbpf::Params) -> Option<tcbpf::Attached> {
        if !self.opts.tc_bpf || !(p.tx_eligible() || p.rx_eligible()) {
            return None;
        }
        if let FastPath::Untried = self.fast_path {
            self.fast_path = match TcBpf::new() {
                Ok(b) => {
                    tracing::info!("tc-bpf fast path loaded");
                    FastPath::Ready(b)
                }
                Err(e) => {
                    tracing::warn!(
                        "tc-bpf fast path unavailable, all traffic stays in userspace: {e}"
                    );
                    FastPath::Unavailable
                }
            };
        }
        let FastPath::Ready(bpf) = &mut self.fast_path else {
            return None;
        };
        match bpf.attach(p) {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(
                    session_id = p.session_id,
                    "session stays on the userspace path: tc-bpf attach failed: {e}"
                );
                None
            }
        }
    }

    /// What the fast path moved for a session (zero if it has no place there).
    fn moved(&self, s: &Session) -> tcbpf::Moved {
        match (&self.fast_path, &s.accel) {
            (FastPath::Ready(b), Some(a)) => b.moved(a),
            _ => tcbpf::Moved::default(),
        }
    }

    /// Whether the session's frames move inside the kernel: `(transmit,
    /// receive)`.
    pub fn fast_path_of(&self, session_id: u32) -> (bool, bool) {
        match self
            .sessions
            .get(&session_id)
            .and_then(|s| s.accel.as_ref())
        {
            Some(a) => (a.tx.as_ref().is_some_and(|t| t.active()), a.rx()),
            None => (false, false),
        }
    }

    /// Returns once `devices` have left the namespace (about a millisecond:
    /// the grace period of their unregistration then runs on in the
    /// background), so a caller that deleted a session sees its device gone.
    fn wait_removed(&self, devices: &[(u32, String)]) {
        if self.opts.async_removal || devices.is_empty() {
            return;
        }
        if !wait_gone(devices, DEVICE_GONE_LIMIT) {
            tracing::warn!(
                count = devices.len(),
                "removed devices still listed after {DEVICE_GONE_LIMIT:?}"
            );
        }
    }
}

fn add_moved(c: &mut Counters, m: tcbpf::Moved) {
    c.tx_packets += m.tx_packets;
    c.tx_bytes += m.tx_bytes;
    c.rx_packets += m.rx_packets;
    c.rx_bytes += m.rx_bytes;
}

/// How long deleting a session waits for its device to leave the list.
const DEVICE_GONE_LIMIT: Duration = Duration::from_secs(2);

impl Default for UserspaceDataplane {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for UserspaceDataplane {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn validate_tunnel(cfg: &TunnelConfig) -> Result<(), DataplaneError> {
    if cfg.tunnel_id == 0 {
        return Err(DataplaneError::Invalid {
            field: "tunnel_id",
            reason: "0 is reserved; use 1..=4294967295".into(),
        });
    }
    if cfg.local.is_ipv4() != cfg.remote.is_ipv4() {
        return Err(DataplaneError::AddressFamilyMismatch {
            local: cfg.local,
            remote: cfg.remote,
        });
    }
    if cfg.remote.is_unspecified() || cfg.remote.is_multicast() {
        return Err(DataplaneError::Invalid {
            field: "remote",
            reason: format!("{} is not a unicast peer address", cfg.remote),
        });
    }
    if cfg.encap == Encap::Udp && cfg.udp_dport == 0 {
        return Err(DataplaneError::Invalid {
            field: "udp_dport",
            reason: "UDP encapsulation needs the peer's port (e.g. 1701)".into(),
        });
    }
    Ok(())
}

fn validate_session(cfg: &SessionConfig) -> Result<(), DataplaneError> {
    if cfg.session_id == 0 {
        return Err(DataplaneError::Invalid {
            field: "session_id",
            reason: "0 is reserved for control messages (RFC 3931 4.1)".into(),
        });
    }
    if cfg.peer_session_id == 0 {
        return Err(DataplaneError::Invalid {
            field: "peer_session_id",
            reason: "0 is reserved for control messages (RFC 3931 4.1)".into(),
        });
    }
    if (cfg.seq.send || cfg.seq.recv) && cfg.l2spec == L2SpecType::None {
        return Err(DataplaneError::Invalid {
            field: "seq",
            reason: "sequence numbers are carried in the default L2-Specific Sublayer; set l2spec_type default".into(),
        });
    }
    if let Some(mtu) = cfg.mtu {
        if !(68..=65_521).contains(&mtu) {
            return Err(DataplaneError::Invalid {
                field: "mtu",
                reason: format!("{mtu} is outside 68..=65521"),
            });
        }
    }
    Ok(())
}

impl Dataplane for UserspaceDataplane {
    fn add_tunnel(&mut self, cfg: TunnelConfig) -> Result<(), DataplaneError> {
        if self.tunnels.contains_key(&cfg.tunnel_id) {
            return Err(DataplaneError::TunnelExists(cfg.tunnel_id));
        }
        validate_tunnel(&cfg)?;
        let port = self.attach_port(&cfg)?;
        let peer_port = match cfg.encap {
            Encap::Udp => cfg.udp_dport,
            Encap::Ip => 0,
        };
        tracing::debug!(tunnel_id = cfg.tunnel_id, local = %port.1, remote = %cfg.remote, "tunnel added");
        self.tunnels.insert(
            cfg.tunnel_id,
            Tunnel {
                peer: Peer::new(SocketAddr::new(cfg.remote, peer_port)),
                cfg,
                port,
                counters: Arc::new(AtomicCounters::default()),
                sessions: HashSet::new(),
            },
        );
        Ok(())
    }

    fn del_tunnel(&mut self, tunnel_id: u32) -> Result<(), DataplaneError> {
        let sessions: Vec<u32> = self
            .tunnels
            .get(&tunnel_id)
            .ok_or(DataplaneError::NoSuchTunnel(tunnel_id))?
            .sessions
            .iter()
            .copied()
            .collect();
        let devices: Vec<(u32, String)> = sessions
            .into_iter()
            .filter_map(|sid| self.remove_session(sid))
            .collect();
        if let Some(t) = self.tunnels.remove(&tunnel_id) {
            self.detach_port(t.port, tunnel_id);
        }
        self.wait_removed(&devices);
        tracing::debug!(tunnel_id, "tunnel removed");
        Ok(())
    }

    fn add_session(&mut self, cfg: SessionConfig) -> Result<SessionInfo, DataplaneError> {
        let tunnel = self
            .tunnels
            .get(&cfg.tunnel_id)
            .ok_or(DataplaneError::NoSuchTunnel(cfg.tunnel_id))?;
        if self.sessions.contains_key(&cfg.session_id) {
            return Err(DataplaneError::SessionExists(cfg.session_id));
        }
        validate_session(&cfg)?;
        let encap = tunnel.cfg.encap;
        let header = TxHeader::new(encap, cfg.peer_session_id, cfg.cookie, cfg.l2spec)?;
        let mtu = cfg.mtu.unwrap_or_else(|| {
            default_mtu(
                encap,
                tunnel.cfg.local.is_ipv6(),
                cfg.cookie.len(),
                cfg.l2spec,
            )
        });
        let pw: Box<dyn Pseudowire> = match cfg.pw_type {
            PseudowireType::Ethernet => {
                let name = cfg.ifname.as_deref().unwrap_or("l2tpeth%d");
                if !name.contains('%') && self.reaper.busy() && sys::ifindex(name).is_some() {
                    // The name may belong to a device still being removed.
                    self.reaper.settle();
                }
                let opts = TapOptions {
                    queues: self.opts.effective_queues(),
                    offload: self.opts.offload,
                };
                Box::new(TapDevice::create_with(
                    name,
                    mtu,
                    opts,
                    Some(self.reaper.clone()),
                )?)
            }
            PseudowireType::Null => Box::new(NullPseudowire::new(mtu)),
        };
        let info = SessionInfo {
            ifname: pw.ifname().to_string(),
            ifindex: pw.ifindex(),
            mtu: pw.mtu(),
        };
        let rx = RxSession::new(RxConfig {
            encap,
            session_id: cfg.session_id,
            peer_cookie: cfg.peer_cookie,
            l2spec: cfg.l2spec,
            recv_seq: cfg.seq.recv,
            reorder_timeout: cfg.reorder_timeout.filter(|d| *d > Duration::ZERO),
        });
        let shared = Arc::new(SessionShared {
            tunnel_id: cfg.tunnel_id,
            remote_ip: tunnel.cfg.remote,
            remote_port: (encap == Encap::Udp).then_some(tunnel.cfg.udp_dport),
            pw,
            rx: Mutex::new(rx),
            send_seq: AtomicBool::new(cfg.seq.send),
            counters: AtomicCounters::default(),
            tunnel_counters: Arc::clone(&tunnel.counters),
            tx: OnceLock::new(),
            accel_tx: OnceLock::new(),
        });
        let port = self
            .ports
            .get(&tunnel.port)
            .ok_or(DataplaneError::NoSuchTunnel(cfg.tunnel_id))?;
        let tx = if shared.pw.queues() > 0 {
            let tx = Arc::new(TxSession::new(
                Arc::clone(&shared),
                Arc::clone(&port.shared),
                SockAddr::new(tunnel.peer.addr()),
                header,
                port.gso,
            ));
            let _ = shared.tx.set(Arc::downgrade(&tx));
            Some(tx)
        } else {
            None
        };
        if let Some(tx) = &tx {
            if self.pool.is_none() {
                let pool = TxPool::start(self.opts.effective_queues()).map_err(|e| {
                    DataplaneError::Io {
                        context: "starting the transmit workers".into(),
                        source: e,
                    }
                })?;
                self.pool = Some(pool);
            }
            if let Some(pool) = &self.pool {
                pool.add(u64::from(cfg.session_id), Arc::clone(tx))
                    .map_err(|e| DataplaneError::Io {
                        context: format!(
                            "registering session {} with the transmit workers",
                            cfg.session_id
                        ),
                        source: e,
                    })?;
            }
        }
        port.shared
            .sessions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(cfg.session_id, Arc::clone(&shared));
        if let Some(t) = self.tunnels.get_mut(&cfg.tunnel_id) {
            t.sessions.insert(cfg.session_id);
        }
        tracing::debug!(
            tunnel_id = cfg.tunnel_id,
            session_id = cfg.session_id,
            ifname = %info.ifname,
            mtu = info.mtu,
            "session added"
        );
        let accel = if cfg.pw_type == PseudowireType::Ethernet {
            let mut params =
                tcbpf::Params::new(info.ifindex, &self.tunnels[&cfg.tunnel_id].cfg, &cfg);
            params.tx_mode = self.opts.tc_bpf_tx;
            self.accelerate(&params)
        } else {
            None
        };
        if let Some(h) = accel.as_ref().and_then(|a| a.tx.clone()) {
            let _ = shared.accel_tx.set(h);
        }
        self.sessions
            .insert(cfg.session_id, Session { shared, tx, accel });
        Ok(info)
    }

    fn del_session(&mut self, tunnel_id: u32, session_id: u32) -> Result<(), DataplaneError> {
        if !self.tunnels.contains_key(&tunnel_id) {
            return Err(DataplaneError::NoSuchTunnel(tunnel_id));
        }
        match self.sessions.get(&session_id) {
            Some(s) if s.shared.tunnel_id == tunnel_id => {
                let device = self.remove_session(session_id);
                self.wait_removed(device.as_slice());
                Ok(())
            }
            _ => Err(DataplaneError::NoSuchSession {
                tunnel_id,
                session_id,
            }),
        }
    }

    fn tunnel_counters(&self, tunnel_id: u32) -> Result<Counters, DataplaneError> {
        let t = self
            .tunnels
            .get(&tunnel_id)
            .ok_or(DataplaneError::NoSuchTunnel(tunnel_id))?;
        let mut c = t.counters.snapshot();
        for s in t.sessions.iter().filter_map(|id| self.sessions.get(id)) {
            add_moved(&mut c, self.moved(s));
        }
        Ok(c)
    }

    fn session_counters(
        &self,
        tunnel_id: u32,
        session_id: u32,
    ) -> Result<Counters, DataplaneError> {
        if !self.tunnels.contains_key(&tunnel_id) {
            return Err(DataplaneError::NoSuchTunnel(tunnel_id));
        }
        match self.sessions.get(&session_id) {
            Some(s) if s.shared.tunnel_id == tunnel_id => {
                let mut c = s.shared.counters.snapshot();
                add_moved(&mut c, self.moved(s));
                Ok(c)
            }
            _ => Err(DataplaneError::NoSuchSession {
                tunnel_id,
                session_id,
            }),
        }
    }

    fn fast_path(&self, tunnel_id: u32, session_id: u32) -> (bool, bool) {
        match self
            .sessions
            .get(&session_id)
            .filter(|s| s.shared.tunnel_id == tunnel_id)
            .and_then(|s| s.accel.as_ref())
        {
            Some(a) => (a.tx.as_ref().is_some_and(|t| t.active()), a.rx()),
            None => (false, false),
        }
    }

    fn fast_path_note(&self, tunnel_id: u32, session_id: u32) -> Option<String> {
        let a = self
            .sessions
            .get(&session_id)
            .filter(|s| s.shared.tunnel_id == tunnel_id)
            .and_then(|s| s.accel.as_ref())?;
        match &a.tx {
            Some(t) if !t.active() => Some("the peer numbers its packets".into()),
            Some(_) => None,
            None => a.tx_note.clone(),
        }
    }

    fn shutdown(&mut self) {
        let ids: Vec<u32> = self.tunnels.keys().copied().collect();
        for id in ids {
            let _ = self.del_tunnel(id);
        }
        for (_, mut p) in self.ports.drain() {
            p.stop();
        }
        self.sessions.clear();
        if let Some(mut pool) = self.pool.take() {
            pool.stop();
        }
        self.reaper.settle();
    }
}

/// The daemon moves the data plane between threads.
const _: fn() = || {
    fn is_send<T: Send>() {}
    is_send::<UserspaceDataplane>();
};
