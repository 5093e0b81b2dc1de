//! One control connection and its sessions: the state tables of RFC 3931
//! 7.2 (control connection), 7.3 (incoming calls) and 7.4 (outgoing
//! calls), on top of the reliable delivery layer.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use l2tp_wire::avp::{AvpType, AvpValue, CallErrors};
use l2tp_wire::control::{ControlHeaderRepr, Version};
use l2tp_wire::data::{Cookie, L2SpecType};
use l2tp_wire::message::{verify_digest, DigestType, Message, MessageType, Security};
use l2tp_wire::result::{CdnResult, ErrorCode, StopCcnResult};

use crate::config::{CallType, DataSequencing, DigestAlgorithm, SessionConfig, TunnelConfig};
use crate::endpoint::Shared;
use crate::event::{
    CircuitStatus, Direction, Event, ResultInfo, SessionDownReason, SessionHandle, SessionParams,
    TunnelDownReason, TunnelHandle, TunnelInfo,
};
use crate::policy::SessionRequest;
use crate::reliable::{Outgoing, Reliable};
use crate::stats::TunnelStats;

/// Control connection states (RFC 3931 7.2) plus the two teardown phases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TunnelState {
    /// Responder that has not processed the SCCRQ yet (transient).
    Idle,
    /// SCCRQ sent, waiting for the SCCRP.
    WaitCtlReply,
    /// SCCRP sent, waiting for the SCCCN.
    WaitCtlConn,
    Established,
    /// We sent a StopCCN; kept until it is acknowledged or a full
    /// retransmission cycle passed.
    Closing,
    /// The peer sent a StopCCN; kept for a full retransmission cycle to
    /// acknowledge its retransmissions.
    Lingering,
    /// Gone; the endpoint forgets it.
    Dead,
}

/// Session states (RFC 3931 7.3, 7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// Waiting for the control connection to come up, or for room in its
    /// send queue (requests are built only as the window drains, so many
    /// thousand waiting sessions hold no queued messages).
    WaitTunnel,
    /// ICRQ/OCRQ sent, waiting for ICRP/OCRP.
    WaitReply,
    /// ICRP sent (waiting for ICCN) or OCRP received (waiting for OCCN).
    WaitConnect,
    Established,
}

/// A received message in sequence order: parsed, or why it could not be.
#[derive(Debug)]
pub(crate) enum Inbound {
    Msg(Message),
    Malformed(l2tp_wire::Error),
}

#[derive(Clone, Debug)]
pub(crate) struct Session {
    pub cfg: SessionConfig,
    pub local_id: u32,
    pub remote_id: u32,
    pub initiator: bool,
    pub state: SessionState,
    pub local_cookie: Cookie,
    pub peer_cookie: Cookie,
    pub peer_l2spec: L2SpecType,
    pub peer_seq: DataSequencing,
    pub serial: u32,
    pub peer_circuit: u16,
}

impl Session {
    /// SessionUp was reported: a session never leaves `Established`.
    pub fn is_up(&self) -> bool {
        self.state == SessionState::Established
    }
}

#[derive(Clone, Debug, Default)]
struct PeerInfo {
    host_name: Option<String>,
    router_id: Option<u32>,
    vendor_name: Option<String>,
    pw_capabilities: Vec<u16>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    rx_messages: u64,
    rx_acks: u64,
    bad_digest: u64,
    malformed: u64,
    wrong_source: u64,
    hellos_sent: u64,
    encode_errors: u64,
}

/// The Result Code of a StopCCN or CDN we send because of a problem.
fn problem(result: u16, error: Option<u16>, message: impl Into<String>) -> ResultInfo {
    ResultInfo {
        result,
        error,
        message: Some(message.into()),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn l2spec_code(l: L2SpecType) -> u16 {
    match l {
        L2SpecType::None => 0,
        L2SpecType::Default => 1,
    }
}

fn digest_type(a: DigestAlgorithm) -> DigestType {
    match a {
        DigestAlgorithm::Md5 => DigestType::HmacMd5,
        DigestAlgorithm::Sha1 => DigestType::HmacSha1,
    }
}

/// The session messages this LCCE implements: all session-scoped ones but
/// RFC 5515's CSUN/CSURQ, which we do not speak.
fn is_handled_session_message(t: MessageType) -> bool {
    t.is_session_scoped() && !matches!(t, MessageType::Csun | MessageType::Csurq)
}

/// Sublayer, sequencing and cookie a peer asked for (each if present).
type PeerDataParams = (Option<L2SpecType>, Option<DataSequencing>, Option<Cookie>);

/// Reads what the state machines need from a session message's sublayer,
/// sequencing and cookie AVPs; an unusable value is a CDN reason.
fn peer_data_params(msg: &Message) -> Result<PeerDataParams, ResultInfo> {
    let l2 = match msg.l2_specific_sublayer() {
        None => None,
        Some(0) => Some(L2SpecType::None),
        Some(1) => Some(L2SpecType::Default),
        Some(v) => {
            return Err(problem(
                CdnResult::GeneralError.to_u16(),
                Some(ErrorCode::OutOfRange.to_u16()),
                format!("unsupported L2-Specific Sublayer type {v}"),
            ))
        }
    };
    let seq = msg.data_sequencing().map(DataSequencing::from_u16);
    Ok((l2, seq, msg.assigned_cookie()))
}

/// Sequence numbers travel in the L2-Specific Sublayer, so the peer cannot
/// ask for them on data that has none (RFC 3931 5.4.4).
fn check_peer_sequencing(l2: L2SpecType, seq: DataSequencing) -> Result<(), ResultInfo> {
    if seq != DataSequencing::None && l2 == L2SpecType::None {
        return Err(problem(
            CdnResult::SequencingWithoutSublayer.to_u16(),
            None,
            "sequencing requested without an L2-Specific Sublayer",
        ));
    }
    Ok(())
}

/// Builds a monitoring summary of a message.
pub(crate) fn summarize(msg: &Message, retransmit: bool) -> crate::event::MessageSummary {
    let kind = if msg.is_zlb() {
        "ZLB".to_string()
    } else {
        match msg.message_type() {
            Some(t) => t.to_string(),
            None => "Vendor".to_string(),
        }
    };
    crate::event::MessageSummary {
        kind,
        ccid: msg.header.tunnel_id,
        ns: msg.header.ns,
        nr: msg.header.nr,
        retransmit,
        avps: msg
            .avps
            .iter()
            .map(|a| (a.value.name().to_string(), a.value.value_json()))
            .collect(),
    }
}

pub(crate) struct Tunnel {
    pub handle: TunnelHandle,
    pub cfg: TunnelConfig,
    pub peer: SocketAddr,
    pub local_id: u32,
    pub peer_id: u32,
    pub state: TunnelState,
    pub initiator: bool,
    rel: Reliable<Message, Inbound>,
    pub tie_breaker: Option<u64>,
    /// The peer told us (StopCCN, Result 3) that our SCCRQ lost a tie; we
    /// wait for its SCCRQ instead of giving up.
    pub tie_lost: bool,
    local_nonce: Vec<u8>,
    peer_nonce: Vec<u8>,
    peer_info: PeerInfo,
    pub sessions: BTreeMap<SessionHandle, Session>,
    /// The peer's Session IDs, for reverse lookups and duplicate requests.
    by_remote: HashMap<u32, SessionHandle>,
    /// Sessions of ours waiting, in request order, for the send queue to
    /// have room for their ICRQ/OCRQ. May name sessions closed meanwhile.
    to_start: VecDeque<SessionHandle>,
    last_rx: Instant,
    last_hello: Instant,
    hello_jitter: Duration,
    close_at: Option<Instant>,
    /// When the connection came up (and TunnelUp was reported).
    established_at: Option<Instant>,
    down_reported: bool,
    /// The owner holds this handle (it called `connect`, or our SCCRQ lost
    /// a tie and the handle moved here), so it must hear about the end.
    pub owner_knows: bool,
    /// Output held back by [`crate::Endpoint::handle_datagram_deferred`].
    pub flush_pending: bool,
    counters: Counters,
}

impl Tunnel {
    fn new(
        handle: TunnelHandle,
        cfg: TunnelConfig,
        peer: SocketAddr,
        local_id: u32,
        initiator: bool,
        now: Instant,
        sh: &mut Shared,
    ) -> Tunnel {
        let local_nonce = match &cfg.auth {
            Some(_) => sh.random_bytes(cfg.nonce_len.max(1)),
            None => Vec::new(),
        };
        let tie_breaker = (initiator && cfg.tie_breaker).then(|| sh.rng.next_u64());
        let rel = Reliable::new(cfg.reliable.clone());
        let hello_jitter = sh.jitter(cfg.hello_jitter);
        Tunnel {
            handle,
            cfg,
            peer,
            local_id,
            peer_id: 0,
            state: if initiator {
                TunnelState::WaitCtlReply
            } else {
                TunnelState::Idle
            },
            initiator,
            rel,
            tie_breaker,
            tie_lost: false,
            local_nonce,
            peer_nonce: Vec::new(),
            peer_info: PeerInfo::default(),
            sessions: BTreeMap::new(),
            by_remote: HashMap::new(),
            to_start: VecDeque::new(),
            last_rx: now,
            last_hello: now,
            hello_jitter,
            close_at: None,
            established_at: None,
            down_reported: false,
            owner_knows: initiator,
            flush_pending: false,
            counters: Counters::default(),
        }
    }

    /// A connection we open: queues the SCCRQ.
    pub fn new_initiator(
        handle: TunnelHandle,
        cfg: TunnelConfig,
        peer: SocketAddr,
        local_id: u32,
        now: Instant,
        sh: &mut Shared,
    ) -> Tunnel {
        let mut t = Tunnel::new(handle, cfg, peer, local_id, true, now, sh);
        let sccrq = t.sccrq();
        t.rel.send(sccrq);
        t
    }

    /// A connection the peer opens; feed it the SCCRQ with
    /// [`Tunnel::on_datagram`].
    pub fn new_responder(
        handle: TunnelHandle,
        cfg: TunnelConfig,
        peer: SocketAddr,
        local_id: u32,
        now: Instant,
        sh: &mut Shared,
    ) -> Tunnel {
        Tunnel::new(handle, cfg, peer, local_id, false, now, sh)
    }

    /// Restarts an initiator with a fresh ID and tie breaker after equal
    /// tie breakers (RFC 3931 5.4.3).
    pub fn restart(&mut self, local_id: u32, now: Instant, sh: &mut Shared) {
        let fresh =
            Tunnel::new_initiator(self.handle, self.cfg.clone(), self.peer, local_id, now, sh);
        let sessions = std::mem::take(&mut self.sessions);
        *self = fresh;
        self.sessions = sessions;
    }

    pub fn auth(&self) -> bool {
        self.cfg.auth.is_some()
    }

    pub fn info(&self) -> TunnelInfo {
        TunnelInfo {
            local_id: self.local_id,
            peer_id: self.peer_id,
            peer: self.peer,
            peer_host_name: self.peer_info.host_name.clone(),
            peer_router_id: self.peer_info.router_id,
            peer_vendor_name: self.peer_info.vendor_name.clone(),
            peer_pw_capabilities: self.peer_info.pw_capabilities.clone(),
            peer_window: self.rel.peer_window(),
            initiator: self.initiator,
            authenticated: self.auth(),
        }
    }

    pub fn stats(&self) -> TunnelStats {
        let r = self.rel.stats();
        TunnelStats {
            tx_messages: r.sent,
            retransmissions: r.retransmitted,
            tx_acks: r.acks_sent,
            rx_messages: self.counters.rx_messages,
            rx_acks: self.counters.rx_acks,
            duplicates: r.duplicates,
            out_of_order: r.out_of_order,
            out_of_window: r.out_of_window,
            bad_digest: self.counters.bad_digest,
            malformed: self.counters.malformed + self.counters.encode_errors,
            invalid_nr: r.invalid_nr,
            wrong_source: self.counters.wrong_source,
            hellos_sent: self.counters.hellos_sent,
            max_in_flight: r.max_in_flight,
            cwnd: self.rel.cwnd(),
            ssthresh: self.rel.ssthresh(),
            peer_window: self.rel.peer_window(),
            unacked: self.rel.unacked(),
            sessions: self.sessions.len(),
        }
    }

    pub fn session_params(&self, s: &Session) -> SessionParams {
        SessionParams {
            local_session_id: s.local_id,
            remote_session_id: s.remote_id,
            local_cookie: s.local_cookie,
            peer_cookie: s.peer_cookie,
            pw_type: s.cfg.pw_type,
            tx_l2spec: s.peer_l2spec,
            rx_l2spec: s.cfg.l2spec,
            tx_sequencing: s.peer_seq,
            rx_sequencing: s.cfg.sequencing,
            remote_end_id: s.cfg.remote_end_id.clone(),
            serial_number: s.serial,
            call: s.cfg.call,
            initiator: s.initiator,
            peer_circuit_active: CircuitStatus(s.peer_circuit).active(),
            peer: self.peer,
            local_tunnel_id: self.local_id,
            peer_tunnel_id: self.peer_id,
        }
    }

    // ----- message construction -------------------------------------------

    /// A message of our version with the Message Digest placeholder right
    /// after the Message Type when authenticating (RFC 3931 5.4.1).
    fn new_msg(&self, t: MessageType) -> Message {
        let m = Message::new(Version::V3, t, 0, 0);
        match &self.cfg.auth {
            Some(a) => m.with(digest_type(a.algorithm).placeholder()),
            None => m,
        }
    }

    fn common_sccr(&self, mut m: Message) -> Message {
        m = m
            .with(AvpValue::host_name(&self.cfg.host_name))
            .with(AvpValue::RouterId(self.cfg.router_id))
            .with(AvpValue::AssignedControlConnectionId(self.local_id))
            .with(AvpValue::PseudowireCapabilitiesList(
                self.cfg.pw_capabilities.clone(),
            ))
            .with(AvpValue::ReceiveWindowSize(
                self.cfg.reliable.receive_window,
            ));
        if let Some(v) = &self.cfg.vendor_name {
            m = m.with(AvpValue::vendor_name(v));
        }
        if self.auth() {
            m = m.with(AvpValue::ControlMessageAuthNonce(self.local_nonce.clone()));
        }
        m
    }

    fn sccrq(&self) -> Message {
        let mut m = self.common_sccr(self.new_msg(MessageType::Sccrq));
        if let Some(tb) = self.tie_breaker {
            m = m.with(AvpValue::TieBreaker(tb));
        }
        m
    }

    fn stopccn(&self, r: &ResultInfo) -> Message {
        self.new_msg(MessageType::StopCcn)
            .with(AvpValue::AssignedControlConnectionId(self.local_id))
            .with(AvpValue::result_code(
                r.result,
                r.error,
                r.message.as_deref().unwrap_or(""),
            ))
    }

    fn circuit_bits(s: &Session) -> u16 {
        if s.cfg.circuit_active {
            CircuitStatus::ACTIVE
        } else {
            0
        }
    }

    fn call_request(&self, s: &Session) -> Message {
        let t = match s.cfg.call {
            CallType::Incoming => MessageType::Icrq,
            CallType::Outgoing => MessageType::Ocrq,
        };
        let mut m = self
            .new_msg(t)
            .with(AvpValue::LocalSessionId(s.local_id))
            .with(AvpValue::RemoteSessionId(0))
            .with(AvpValue::CallSerialNumber(s.serial))
            .with(AvpValue::PseudowireType(s.cfg.pw_type))
            .with(AvpValue::RemoteEndId(s.cfg.remote_end_id.clone()))
            .with(AvpValue::CircuitStatus(Self::circuit_bits(s)));
        if !s.local_cookie.is_empty() {
            m = m.with(AvpValue::AssignedCookie(s.local_cookie));
        }
        m.with(AvpValue::L2SpecificSublayer(l2spec_code(s.cfg.l2spec)))
            .with(AvpValue::DataSequencing(s.cfg.sequencing.to_u16()))
    }

    fn call_reply(&self, s: &Session, t: MessageType) -> Message {
        let mut m = self
            .new_msg(t)
            .with(AvpValue::LocalSessionId(s.local_id))
            .with(AvpValue::RemoteSessionId(s.remote_id))
            .with(AvpValue::CircuitStatus(Self::circuit_bits(s)));
        if !s.local_cookie.is_empty() {
            m = m.with(AvpValue::AssignedCookie(s.local_cookie));
        }
        m.with(AvpValue::L2SpecificSublayer(l2spec_code(s.cfg.l2spec)))
            .with(AvpValue::DataSequencing(s.cfg.sequencing.to_u16()))
    }

    fn call_connected(&self, s: &Session, t: MessageType) -> Message {
        self.new_msg(t)
            .with(AvpValue::LocalSessionId(s.local_id))
            .with(AvpValue::RemoteSessionId(s.remote_id))
            .with(AvpValue::L2SpecificSublayer(l2spec_code(s.cfg.l2spec)))
            .with(AvpValue::DataSequencing(s.cfg.sequencing.to_u16()))
            .with(AvpValue::CircuitStatus(Self::circuit_bits(s)))
    }

    fn cdn(&self, local: u32, remote: u32, r: &ResultInfo) -> Message {
        self.new_msg(MessageType::Cdn)
            .with(AvpValue::result_code(
                r.result,
                r.error,
                r.message.as_deref().unwrap_or(""),
            ))
            .with(AvpValue::LocalSessionId(local))
            .with(AvpValue::RemoteSessionId(remote))
    }

    // ----- output ---------------------------------------------------------

    /// Puts everything the window allows on the wire.
    pub fn flush(&mut self, sh: &mut Shared, now: Instant) {
        self.flush_pending = false;
        self.start_waiting(sh);
        loop {
            let sec = Security {
                secret: self.cfg.auth.as_ref().map(|a| a.secret.as_slice()),
                local_nonce: &self.local_nonce,
                remote_nonce: &self.peer_nonce,
            };
            let (bytes, summary) = match self.rel.poll_transmit(now) {
                None => break,
                Some(Outgoing::Message {
                    ns,
                    nr,
                    payload,
                    retransmit,
                }) => {
                    payload.header.tunnel_id = self.peer_id;
                    payload.header.ns = ns;
                    payload.header.nr = nr;
                    let summary = sh.cfg.monitor.then(|| summarize(payload, retransmit));
                    (payload.to_bytes(&sec), summary)
                }
                Some(Outgoing::Ack { ns, nr }) => {
                    let m = match &self.cfg.auth {
                        // ZLBs are not allowed with authentication (6.15).
                        Some(a) => Message::new(Version::V3, MessageType::Ack, self.peer_id, 0)
                            .with(digest_type(a.algorithm).placeholder())
                            .with_seq(ns, nr),
                        None => Message::zlb(Version::V3, self.peer_id, 0, ns, nr),
                    };
                    let summary = sh.cfg.monitor.then(|| summarize(&m, false));
                    (m.to_bytes(&sec), summary)
                }
            };
            match bytes {
                Ok(b) => {
                    if let Some(s) = summary {
                        sh.events.push_back(Event::Message {
                            tunnel: Some(self.handle),
                            peer: self.peer,
                            direction: Direction::Sent,
                            summary: Box::new(s),
                        });
                    }
                    sh.transmit(self.peer, b);
                }
                Err(_) => self.counters.encode_errors += 1,
            }
        }
    }

    /// Sends one message outside the reliable layer (last words to a
    /// peer that stopped answering).
    fn send_unreliable(&mut self, sh: &mut Shared, mut m: Message) {
        m.header.tunnel_id = self.peer_id;
        m.header.ns = self.rel.next_ns();
        m.header.nr = self.rel.nr();
        let sec = Security {
            secret: self.cfg.auth.as_ref().map(|a| a.secret.as_slice()),
            local_nonce: &self.local_nonce,
            remote_nonce: &self.peer_nonce,
        };
        if let Ok(b) = m.to_bytes(&sec) {
            if sh.cfg.monitor {
                sh.events.push_back(Event::Message {
                    tunnel: Some(self.handle),
                    peer: self.peer,
                    direction: Direction::Sent,
                    summary: Box::new(summarize(&m, false)),
                });
            }
            sh.transmit(self.peer, b);
        }
    }

    // ----- timers ---------------------------------------------------------

    fn hello_due(&self) -> Option<Instant> {
        if self.state != TunnelState::Established || self.rel.unacked() > 0 {
            return None;
        }
        let interval = self.cfg.hello_interval?;
        let base = self.last_rx.max(self.last_hello);
        Some(base + interval.saturating_sub(self.hello_jitter))
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.rel.poll_timeout(), self.hello_due(), self.close_at]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn handle_timeout(&mut self, sh: &mut Shared, now: Instant) {
        if self.state == TunnelState::Dead {
            return;
        }
        if self.close_at.is_some_and(|t| t <= now) {
            self.state = TunnelState::Dead;
            return;
        }
        self.rel.handle_timeout(now);
        if self.rel.has_failed() {
            match self.state {
                TunnelState::Closing | TunnelState::Lingering => self.state = TunnelState::Dead,
                _ => self.fail_timeout(sh),
            }
            return;
        }
        if self.hello_due().is_some_and(|t| t <= now) {
            let m = self.new_msg(MessageType::Hello);
            self.rel.send(m);
            self.counters.hellos_sent += 1;
            self.last_hello = now;
            self.hello_jitter = sh.jitter(self.cfg.hello_jitter);
        }
    }

    /// Notes traffic from the peer outside the control channel (data
    /// packets count as keepalive, RFC 3931 4.4).
    pub fn touch(&mut self, now: Instant) {
        self.last_rx = self.last_rx.max(now);
    }

    // ----- teardown -------------------------------------------------------

    fn report_down(&mut self, sh: &mut Shared, reason: TunnelDownReason) {
        if !self.down_reported && (self.owner_knows || self.established_at.is_some()) {
            sh.events.push_back(Event::TunnelDown {
                tunnel: self.handle,
                reason,
            });
        }
        self.down_reported = true;
    }

    /// Releases a removed session's ID and tells the owner, if it knows
    /// of the session (it opened it or saw it up).
    fn session_gone(
        &self,
        sh: &mut Shared,
        h: SessionHandle,
        s: &Session,
        reason: SessionDownReason,
    ) {
        sh.unregister_session(s.local_id, h);
        if s.initiator || s.is_up() {
            sh.events.push_back(Event::SessionDown {
                tunnel: self.handle,
                session: h,
                reason,
            });
        }
    }

    fn drop_all_sessions(&mut self, sh: &mut Shared, reason: SessionDownReason) {
        let sessions = std::mem::take(&mut self.sessions);
        self.by_remote.clear();
        self.to_start.clear();
        for (h, s) in &sessions {
            self.session_gone(sh, *h, s, reason.clone());
        }
    }

    /// Sends a StopCCN and lingers until it is acknowledged.
    pub fn close(
        &mut self,
        sh: &mut Shared,
        now: Instant,
        r: ResultInfo,
        reason: TunnelDownReason,
    ) {
        if matches!(
            self.state,
            TunnelState::Closing | TunnelState::Lingering | TunnelState::Dead
        ) {
            return;
        }
        self.drop_all_sessions(sh, SessionDownReason::TunnelDown);
        self.report_down(sh, reason);
        self.rel.discard_unsent();
        let m = self.stopccn(&r);
        self.rel.send(m);
        self.state = TunnelState::Closing;
        self.close_at = Some(now + self.cfg.reliable.full_cycle());
    }

    /// Tears down because of a protocol problem, telling the peer why.
    fn fail(&mut self, sh: &mut Shared, now: Instant, r: ResultInfo) {
        self.close(sh, now, r.clone(), TunnelDownReason::Error(r));
    }

    fn fsm_error(&mut self, sh: &mut Shared, now: Instant, what: &str) {
        let r = problem(
            StopCcnResult::FsmError.to_u16(),
            None,
            format!("{what} not expected in state {:?}", self.state),
        );
        self.fail(sh, now, r);
    }

    fn fail_timeout(&mut self, sh: &mut Shared) {
        let r = ResultInfo::new(
            StopCcnResult::FsmError.to_u16(),
            None,
            Some("peer stopped acknowledging control messages"),
        );
        let m = self.stopccn(&r);
        self.send_unreliable(sh, m);
        self.drop_all_sessions(sh, SessionDownReason::TunnelDown);
        self.report_down(sh, TunnelDownReason::Timeout);
        self.state = TunnelState::Dead;
    }

    fn peer_closed(&mut self, sh: &mut Shared, now: Instant, msg: &Message) {
        let r = msg.result_code().unwrap_or_default();
        if self.state == TunnelState::WaitCtlReply
            && self.tie_breaker.is_some()
            && r.result == StopCcnResult::AlreadyExists.to_u16()
        {
            // Our SCCRQ lost a tie: the winner's SCCRQ is on its way.
            self.tie_lost = true;
            return;
        }
        self.drop_all_sessions(sh, SessionDownReason::TunnelDown);
        self.report_down(sh, TunnelDownReason::PeerStopCcn(ResultInfo::received(&r)));
        self.rel.abandon();
        self.rel.ack_now(now);
        self.state = TunnelState::Lingering;
        self.close_at = Some(now + self.cfg.reliable.full_cycle());
    }

    // ----- input ----------------------------------------------------------

    /// A datagram addressed to this connection (Control Connection ID
    /// match, or an SCCRQ retransmission).
    pub fn on_datagram(
        &mut self,
        sh: &mut Shared,
        now: Instant,
        from: SocketAddr,
        hdr: &ControlHeaderRepr,
        buf: &[u8],
    ) {
        if self.state == TunnelState::Dead {
            return;
        }
        // The responder may answer from another port (RFC 2661 8.1); that
        // is accepted until the SCCRP, once it authenticates.
        let new_port = from != self.peer;
        if new_port && !(self.state == TunnelState::WaitCtlReply && from.ip() == self.peer.ip()) {
            self.counters.wrong_source += 1;
            return;
        }
        let parsed = Message::parse_with(
            buf,
            &Security {
                secret: self.cfg.auth.as_ref().map(|a| a.secret.as_slice()),
                ..Security::default()
            },
        );
        // Authentication comes before using anything in the message.
        if !self.authentic(hdr, buf, &parsed) {
            self.counters.bad_digest += 1;
            return;
        }
        let ack_only = hdr.is_zlb()
            || parsed
                .as_ref()
                .is_ok_and(|m| m.message_type() == Some(MessageType::Ack));
        if self.rel.on_ack(now, hdr.nr).is_err() {
            return;
        }
        if new_port {
            self.peer = from;
        }
        self.last_rx = now;
        // A new connection's SCCRQ was already reported by the endpoint.
        if sh.cfg.monitor && self.state != TunnelState::Idle {
            let summary = match &parsed {
                Ok(m) => summarize(m, false),
                Err(e) => crate::event::MessageSummary {
                    kind: format!("malformed: {e}"),
                    ccid: hdr.tunnel_id,
                    ns: hdr.ns,
                    nr: hdr.nr,
                    retransmit: false,
                    avps: Vec::new(),
                },
            };
            sh.events.push_back(Event::Message {
                tunnel: Some(self.handle),
                peer: from,
                direction: Direction::Received,
                summary: Box::new(summary),
            });
        }
        if self.state == TunnelState::Closing && self.rel.unacked() == 0 {
            // Our StopCCN was acknowledged.
            self.state = TunnelState::Dead;
            return;
        }
        if ack_only {
            self.counters.rx_acks += 1;
            return;
        }
        self.counters.rx_messages += 1;
        let inbound = match parsed {
            Ok(m) => Inbound::Msg(m),
            Err(e) => {
                self.counters.malformed += 1;
                Inbound::Malformed(e)
            }
        };
        self.rel.on_message(now, hdr.ns, inbound);
        while let Some(m) = self.rel.pop_delivered() {
            self.process(sh, now, m);
        }
    }

    /// Whether a datagram may be used at all: with a secret every message
    /// must carry a digest that verifies under it (RFC 3931 4.3, 5.4.1);
    /// without one, a digest the peer sent anyway must still verify.
    fn authentic(
        &self,
        hdr: &ControlHeaderRepr,
        buf: &[u8],
        parsed: &l2tp_wire::Result<Message>,
    ) -> bool {
        let Some(auth) = &self.cfg.auth else {
            return !parsed.as_ref().is_ok_and(|m| m.has(AvpType::MessageDigest))
                || verify_digest(buf, &Security::default()).is_ok();
        };
        if hdr.is_zlb() {
            // ZLBs are not allowed with authentication (RFC 3931 6.15).
            return false;
        }
        // The SCCRP brings the nonce its digest is keyed with.
        let sccrp_nonce = match parsed {
            Ok(m)
                if self.state == TunnelState::WaitCtlReply
                    && m.message_type() == Some(MessageType::Sccrp) =>
            {
                Some(m.nonce().unwrap_or_default())
            }
            _ => None,
        };
        let sec = Security {
            secret: Some(&auth.secret),
            local_nonce: &self.local_nonce,
            remote_nonce: sccrp_nonce.as_deref().unwrap_or(&self.peer_nonce),
        };
        verify_digest(buf, &sec).is_ok()
    }

    fn process(&mut self, sh: &mut Shared, now: Instant, inbound: Inbound) {
        if matches!(
            self.state,
            TunnelState::Closing | TunnelState::Lingering | TunnelState::Dead
        ) {
            return;
        }
        let msg = match inbound {
            Inbound::Msg(m) => m,
            Inbound::Malformed(e) => {
                // RFC 3931 7.1: clear the connection to get back to a known
                // state.
                let code = match e {
                    l2tp_wire::Error::BadAvpLength { .. }
                    | l2tp_wire::Error::BadAvpValueLength { .. }
                    | l2tp_wire::Error::BadHiddenLength { .. } => ErrorCode::BadLength,
                    _ => ErrorCode::OutOfRange,
                };
                let r = problem(
                    StopCcnResult::GeneralError.to_u16(),
                    Some(code.to_u16()),
                    format!("malformed control message: {e}"),
                );
                self.fail(sh, now, r);
                return;
            }
        };
        let Some(first) = msg.avps.first() else {
            return;
        };
        let mandatory_type = first.mandatory;
        let unknown = match msg.message_type() {
            Some(MessageType::Unknown(n)) => Some(n),
            None => Some(first.value.vendor_attr().1),
            Some(_) => None,
        };
        if let Some(n) = unknown {
            // RFC 3931 5.4.1: an unknown mandatory message type clears the
            // connection; otherwise it is ignored.
            if mandatory_type {
                let r = problem(
                    StopCcnResult::GeneralError.to_u16(),
                    Some(ErrorCode::OutOfRange.to_u16()),
                    format!("unknown mandatory message type {n}"),
                );
                self.fail(sh, now, r);
            }
            return;
        }
        let Some(mt) = msg.message_type() else {
            return;
        };
        if let Some(bad) = msg.unknown_mandatory() {
            let (v, a) = bad.value.vendor_attr();
            // RFC 3931 5.2: Result Code 2 (CDN and StopCCN alike), Error 8.
            let p = problem(
                CdnResult::GeneralError.to_u16(),
                Some(ErrorCode::UnknownMandatoryAvp.to_u16()),
                format!("unknown mandatory AVP: vendor {v} attribute {a}"),
            );
            if mt.is_session_scoped() {
                self.session_problem(sh, mt, &msg, p);
            } else {
                self.fail(sh, now, p);
            }
            return;
        }
        match mt {
            MessageType::Sccrq => self.on_sccrq(sh, now, &msg),
            MessageType::Sccrp => self.on_sccrp(sh, now, &msg),
            MessageType::Scccn => self.on_scccn(sh, now),
            MessageType::StopCcn => self.peer_closed(sh, now, &msg),
            MessageType::Hello | MessageType::Ack => {}
            t if is_handled_session_message(t) => {
                if self.state == TunnelState::Established {
                    self.on_session_message(sh, t, &msg);
                } else {
                    self.fsm_error(sh, now, t.name());
                }
            }
            t if mandatory_type => {
                let r = problem(
                    StopCcnResult::GeneralError.to_u16(),
                    Some(ErrorCode::OutOfRange.to_u16()),
                    format!("unsupported message type {}", t.name()),
                );
                self.fail(sh, now, r);
            }
            _ => {}
        }
    }

    fn learn_peer(&mut self, msg: &Message) -> Result<(), ResultInfo> {
        let id = msg.assigned_control_connection_id().unwrap_or(0);
        if id == 0 {
            return Err(problem(
                StopCcnResult::GeneralError.to_u16(),
                Some(ErrorCode::OutOfRange.to_u16()),
                "Assigned Control Connection ID is 0",
            ));
        }
        match (self.auth(), msg.nonce()) {
            (true, None) => {
                return Err(problem(
                    StopCcnResult::NotAuthorized.to_u16(),
                    None,
                    "control message authentication required",
                ))
            }
            (false, Some(_)) => {
                return Err(problem(
                    StopCcnResult::NotAuthorized.to_u16(),
                    None,
                    "no shared secret configured for control message authentication",
                ))
            }
            (true, Some(n)) => self.peer_nonce = n,
            (false, None) => {}
        }
        self.peer_id = id;
        self.peer_info = PeerInfo {
            host_name: msg.host_name().map(|h| text(&h)),
            router_id: msg.router_id(),
            vendor_name: match msg.get(AvpType::VendorName) {
                Some(AvpValue::VendorName(v)) => Some(text(v)),
                _ => None,
            },
            pw_capabilities: msg.pseudowire_capabilities().unwrap_or_default(),
        };
        let w = msg
            .receive_window_size()
            .unwrap_or(crate::reliable::DEFAULT_PEER_WINDOW);
        self.rel.set_peer_window(w);
        Ok(())
    }

    fn on_sccrq(&mut self, sh: &mut Shared, now: Instant, msg: &Message) {
        if self.state != TunnelState::Idle {
            self.fsm_error(sh, now, "SCCRQ");
            return;
        }
        if let Err(p) = self.learn_peer(msg) {
            self.fail(sh, now, p);
            return;
        }
        let m = self.common_sccr(self.new_msg(MessageType::Sccrp));
        self.rel.send(m);
        self.state = TunnelState::WaitCtlConn;
    }

    fn on_sccrp(&mut self, sh: &mut Shared, now: Instant, msg: &Message) {
        if self.state != TunnelState::WaitCtlReply {
            self.fsm_error(sh, now, "SCCRP");
            return;
        }
        if let Err(p) = self.learn_peer(msg) {
            self.fail(sh, now, p);
            return;
        }
        let m = self.new_msg(MessageType::Scccn);
        self.rel.send(m);
        self.established(sh, now);
    }

    fn on_scccn(&mut self, sh: &mut Shared, now: Instant) {
        if self.state != TunnelState::WaitCtlConn {
            self.fsm_error(sh, now, "SCCCN");
            return;
        }
        self.established(sh, now);
    }

    /// Up for less than a full retransmission cycle: SCCRQs sent before
    /// the peer saw ours may still be in flight.
    pub fn recently_established(&self, now: Instant) -> bool {
        self.state == TunnelState::Established
            && self
                .established_at
                .is_some_and(|t| now < t + self.cfg.reliable.full_cycle())
    }

    fn established(&mut self, sh: &mut Shared, now: Instant) {
        self.state = TunnelState::Established;
        self.established_at = Some(now);
        self.last_hello = now;
        sh.events.push_back(Event::TunnelUp {
            tunnel: self.handle,
            info: self.info(),
        });
        // Handles are allocated in request order, so this is the order in
        // which the owner asked.
        self.to_start = self
            .sessions
            .iter()
            .filter(|(_, s)| s.state == SessionState::WaitTunnel)
            .map(|(h, _)| *h)
            .collect();
        self.start_waiting(sh);
    }

    // ----- sessions -------------------------------------------------------

    /// Adds a locally requested session; it starts now or when the
    /// connection comes up.
    pub fn add_session(&mut self, sh: &mut Shared, handle: SessionHandle, s: Session) {
        self.sessions.insert(handle, s);
        if self.state == TunnelState::Established {
            self.to_start.push_back(handle);
            self.start_waiting(sh);
        }
    }

    /// Builds the requests of waiting sessions while the send queue holds
    /// less than the congestion window: just enough to keep the window
    /// full. A burst of requests then costs a handle each rather than a
    /// queued message each, and the ICCNs answering ICRPs go out next
    /// instead of behind every request still waiting.
    fn start_waiting(&mut self, sh: &mut Shared) {
        if self.state != TunnelState::Established {
            return;
        }
        let room = usize::from(self.rel.cwnd().min(self.rel.peer_window()).max(1));
        while self.rel.unacked() < room {
            let Some(h) = self.to_start.pop_front() else {
                break;
            };
            if self
                .sessions
                .get(&h)
                .is_some_and(|s| s.state == SessionState::WaitTunnel)
            {
                self.start_session(sh, h);
            }
        }
    }

    /// True when the peer advertised the PW type (or we do not know yet).
    pub fn peer_supports(&self, pw_type: u16) -> bool {
        self.state != TunnelState::Established || self.peer_info.pw_capabilities.contains(&pw_type)
    }

    fn start_session(&mut self, sh: &mut Shared, h: SessionHandle) {
        let Some(s) = self.sessions.get(&h) else {
            return;
        };
        if !self.peer_info.pw_capabilities.contains(&s.cfg.pw_type) {
            let r = ResultInfo::new(
                CdnResult::UnsupportedPwType.to_u16(),
                None,
                Some("peer did not advertise this pseudowire type"),
            );
            self.remove_session(sh, h, SessionDownReason::Error(r));
            return;
        }
        let m = self.call_request(s);
        self.rel.send(m);
        if let Some(s) = self.sessions.get_mut(&h) {
            s.state = SessionState::WaitReply;
        }
    }

    fn remove_session(&mut self, sh: &mut Shared, h: SessionHandle, reason: SessionDownReason) {
        if let Some(s) = self.sessions.remove(&h) {
            if self.by_remote.get(&s.remote_id) == Some(&h) {
                self.by_remote.remove(&s.remote_id);
            }
            self.session_gone(sh, h, &s, reason);
        }
    }

    /// Local close request: CDN (unless nothing was sent yet) and forget.
    pub fn close_session(&mut self, sh: &mut Shared, h: SessionHandle, r: ResultInfo) {
        let Some(s) = self.sessions.get(&h) else {
            return;
        };
        if s.state != SessionState::WaitTunnel {
            let m = self.cdn(s.local_id, s.remote_id, &r);
            self.rel.send(m);
        }
        self.remove_session(sh, h, SessionDownReason::Closed);
    }

    /// Sends an SLI with a new Circuit Status.
    pub fn set_circuit_status(&mut self, h: SessionHandle, status: u16) -> bool {
        let Some(s) = self.sessions.get_mut(&h) else {
            return false;
        };
        s.cfg.circuit_active = status & CircuitStatus::ACTIVE != 0;
        if s.state == SessionState::WaitTunnel || s.remote_id == 0 {
            return true;
        }
        let (local, remote) = (s.local_id, s.remote_id);
        let m = self
            .new_msg(MessageType::Sli)
            .with(AvpValue::LocalSessionId(local))
            .with(AvpValue::RemoteSessionId(remote))
            .with(AvpValue::CircuitStatus(status));
        self.rel.send(m);
        true
    }

    fn session_up(&mut self, sh: &mut Shared, h: SessionHandle) {
        let Some(s) = self.sessions.get_mut(&h) else {
            return;
        };
        s.state = SessionState::Established;
        let s = s.clone();
        sh.events.push_back(Event::SessionUp {
            tunnel: self.handle,
            session: h,
            params: Box::new(self.session_params(&s)),
        });
    }

    /// Sends a CDN for a session we know and reports it down.
    fn session_fail(&mut self, sh: &mut Shared, h: SessionHandle, r: ResultInfo) {
        let Some(s) = self.sessions.get(&h) else {
            return;
        };
        let m = self.cdn(s.local_id, s.remote_id, &r);
        self.rel.send(m);
        self.remove_session(sh, h, SessionDownReason::Error(r));
    }

    /// Refuses a session request with a CDN. The CDN must carry a Local
    /// Session ID, so a throw-away one is drawn (never registered).
    fn reject_request(&mut self, sh: &mut Shared, peer_sid: u32, r: ResultInfo) {
        let local = sh.throwaway_session_id();
        let m = self.cdn(local, peer_sid, &r);
        self.rel.send(m);
    }

    fn find_session(&self, sh: &Shared, msg: &Message) -> Option<SessionHandle> {
        let rsid = msg.remote_session_id().unwrap_or(0);
        if rsid != 0 {
            let h = sh.session_by_id(rsid)?;
            return self.sessions.contains_key(&h).then_some(h);
        }
        // Reverse lookup by the peer's own ID (RFC 3931 5.4.4).
        let lsid = msg.local_session_id().filter(|&l| l != 0)?;
        self.by_remote.get(&lsid).copied()
    }

    /// A session message that must be refused (e.g. an unknown mandatory
    /// AVP): CDN for the session it belongs to.
    fn session_problem(&mut self, sh: &mut Shared, mt: MessageType, msg: &Message, r: ResultInfo) {
        match mt {
            MessageType::Icrq | MessageType::Ocrq => {
                let peer_sid = msg.local_session_id().unwrap_or(0);
                self.reject_request(sh, peer_sid, r);
            }
            MessageType::Cdn => {
                // The peer is dropping it anyway.
                if let Some(h) = self.find_session(sh, msg) {
                    self.remove_session(sh, h, SessionDownReason::Error(r));
                }
            }
            _ => {
                if let Some(h) = self.find_session(sh, msg) {
                    self.session_fail(sh, h, r);
                }
            }
        }
    }

    fn on_session_message(&mut self, sh: &mut Shared, mt: MessageType, msg: &Message) {
        match mt {
            MessageType::Icrq => self.on_call_request(sh, msg, CallType::Incoming),
            MessageType::Ocrq => self.on_call_request(sh, msg, CallType::Outgoing),
            _ => {
                let Some(h) = self.find_session(sh, msg) else {
                    if matches!(mt, MessageType::Icrp | MessageType::Ocrp) {
                        // RFC 3931 7.3.2 / 7.4.2: reply to a request we do
                        // not know with a CDN.
                        let peer_sid = msg.local_session_id().unwrap_or(0);
                        let r = problem(
                            CdnResult::GeneralError.to_u16(),
                            Some(ErrorCode::InvalidSessionId.to_u16()),
                            "no such session",
                        );
                        self.reject_request(sh, peer_sid, r);
                    }
                    return;
                };
                self.on_known_session_message(sh, h, mt, msg);
            }
        }
    }

    fn on_call_request(&mut self, sh: &mut Shared, msg: &Message, call: CallType) {
        let peer_sid = msg.local_session_id().unwrap_or(0);
        if peer_sid == 0 {
            self.counters.malformed += 1;
            return;
        }
        if self.by_remote.contains_key(&peer_sid) {
            // Same request twice on one connection: nothing new to do.
            return;
        }
        let (handle, s) = match self.admit_call(sh, msg, call, peer_sid) {
            Ok(admitted) => admitted,
            Err(r) => {
                self.reject_request(sh, peer_sid, r);
                return;
            }
        };
        self.by_remote.insert(peer_sid, handle);
        match call {
            CallType::Incoming => {
                let m = self.call_reply(&s, MessageType::Icrp);
                self.rel.send(m);
                self.sessions.insert(handle, s);
            }
            CallType::Outgoing => {
                // We are the LAC: the "call" is placed at once.
                let m = self.call_reply(&s, MessageType::Ocrp);
                self.rel.send(m);
                let m = self.call_connected(&s, MessageType::Occn);
                self.rel.send(m);
                self.sessions.insert(handle, s);
                self.session_up(sh, handle);
            }
        }
    }

    /// Checks a session request against our capabilities, limits and the
    /// policy; on success the new session's ID is registered, and the
    /// caller adds the session. The error is the CDN to refuse it with.
    fn admit_call(
        &self,
        sh: &mut Shared,
        msg: &Message,
        call: CallType,
        peer_sid: u32,
    ) -> Result<(SessionHandle, Session), ResultInfo> {
        let pw_type = msg.pseudowire_type().unwrap_or(0);
        if !self.cfg.pw_capabilities.contains(&pw_type) {
            return Err(problem(
                CdnResult::UnsupportedPwType.to_u16(),
                None,
                format!("pseudowire type {pw_type:#06x} not supported"),
            ));
        }
        let (l2, seq, cookie) = peer_data_params(msg)?;
        let peer_l2spec = l2.unwrap_or(L2SpecType::None);
        let peer_seq = seq.unwrap_or_default();
        check_peer_sequencing(peer_l2spec, peer_seq)?;
        let no_facilities = |why: &str| {
            problem(
                CdnResult::TemporaryNoFacilities.to_u16(),
                Some(ErrorCode::InsufficientResources.to_u16()),
                why,
            )
        };
        if self.sessions.len() >= sh.cfg.max_sessions_per_tunnel {
            return Err(no_facilities("session limit reached"));
        }
        let request = SessionRequest {
            call,
            pw_type,
            remote_end_id: msg.remote_end_id().unwrap_or_default(),
            peer_session_id: peer_sid,
            serial_number: msg.call_serial_number().unwrap_or(0),
            l2spec: peer_l2spec,
            sequencing: peer_seq,
            circuit_status: msg.circuit_status().unwrap_or(0),
        };
        let Some(mut cfg) = sh.policy.accept_session(self.handle, self.peer, &request) else {
            return Err(problem(
                CdnResult::Administrative.to_u16(),
                None,
                "session refused by policy",
            ));
        };
        cfg.call = call;
        cfg.pw_type = pw_type;
        cfg.remote_end_id = request.remote_end_id;
        if crate::endpoint::validate_session(&cfg).is_err() {
            return Err(problem(
                CdnResult::PermanentNoFacilities.to_u16(),
                None,
                "local session configuration is invalid",
            ));
        }
        let local_id = sh
            .alloc_session_id(cfg.local_session_id)
            .map_err(|_| no_facilities("no free session ID"))?;
        let handle = sh.new_session_handle();
        sh.register_session(local_id, handle, self.handle);
        let local_cookie = sh.random_cookie(cfg.cookie_len);
        let s = Session {
            cfg,
            local_id,
            remote_id: peer_sid,
            initiator: false,
            state: SessionState::WaitConnect,
            local_cookie,
            peer_cookie: cookie.unwrap_or(Cookie::NONE),
            peer_l2spec,
            peer_seq,
            serial: request.serial_number,
            peer_circuit: request.circuit_status,
        };
        Ok((handle, s))
    }

    fn apply_peer_params(&mut self, h: SessionHandle, msg: &Message) -> Result<(), ResultInfo> {
        let (l2, seq, cookie) = peer_data_params(msg)?;
        let Some(s) = self.sessions.get_mut(&h) else {
            return Ok(());
        };
        if let Some(l2) = l2 {
            s.peer_l2spec = l2;
        }
        if let Some(seq) = seq {
            s.peer_seq = seq;
        }
        if let Some(c) = cookie {
            s.peer_cookie = c;
        }
        if let Some(c) = msg.circuit_status() {
            s.peer_circuit = c;
        }
        check_peer_sequencing(s.peer_l2spec, s.peer_seq)
    }

    fn on_known_session_message(
        &mut self,
        sh: &mut Shared,
        h: SessionHandle,
        mt: MessageType,
        msg: &Message,
    ) {
        let Some(s) = self.sessions.get(&h) else {
            return;
        };
        let (initiator, call, state) = (s.initiator, s.cfg.call, s.state);
        let fsm = problem(
            CdnResult::FsmError.to_u16(),
            None,
            format!("{} not expected in session state {state:?}", mt.name()),
        );
        match mt {
            MessageType::Cdn => {
                let r = msg.result_code().unwrap_or_default();
                let info = ResultInfo::received(&r);
                self.remove_session(sh, h, SessionDownReason::PeerCdn(info));
            }
            MessageType::Icrp | MessageType::Ocrp => {
                let expected = match mt {
                    MessageType::Icrp => CallType::Incoming,
                    _ => CallType::Outgoing,
                };
                if !(initiator && call == expected && state == SessionState::WaitReply) {
                    self.session_fail(sh, h, fsm);
                    return;
                }
                let rid = msg.local_session_id().unwrap_or(0);
                if let Some(s) = self.sessions.get_mut(&h) {
                    s.remote_id = rid;
                }
                if rid != 0 {
                    self.by_remote.insert(rid, h);
                }
                if let Err(p) = self.apply_peer_params(h, msg) {
                    self.session_fail(sh, h, p);
                    return;
                }
                if mt == MessageType::Icrp {
                    if let Some(s) = self.sessions.get(&h) {
                        let m = self.call_connected(s, MessageType::Iccn);
                        self.rel.send(m);
                    }
                    self.session_up(sh, h);
                } else if let Some(s) = self.sessions.get_mut(&h) {
                    s.state = SessionState::WaitConnect;
                }
            }
            MessageType::Iccn | MessageType::Occn => {
                let ok = match mt {
                    MessageType::Iccn => !initiator && call == CallType::Incoming,
                    _ => initiator && call == CallType::Outgoing,
                };
                if !ok || state != SessionState::WaitConnect {
                    self.session_fail(sh, h, fsm);
                    return;
                }
                if let Err(p) = self.apply_peer_params(h, msg) {
                    self.session_fail(sh, h, p);
                    return;
                }
                self.session_up(sh, h);
            }
            MessageType::Sli => {
                if let (Some(c), Some(s)) = (msg.circuit_status(), self.sessions.get_mut(&h)) {
                    s.peer_circuit = c;
                    if s.is_up() || s.initiator {
                        sh.events.push_back(Event::CircuitStatus {
                            tunnel: self.handle,
                            session: h,
                            status: CircuitStatus(c),
                        });
                    }
                }
            }
            MessageType::Wen => {
                let errors: CallErrors = match msg.get(AvpType::CallErrors) {
                    Some(AvpValue::CallErrors(e)) => *e,
                    _ => CallErrors::default(),
                };
                sh.events.push_back(Event::WanError {
                    tunnel: self.handle,
                    session: h,
                    errors,
                });
            }
            _ => self.session_fail(sh, h, fsm),
        }
    }
}
