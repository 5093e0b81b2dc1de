//! Deterministic test harness: endpoints on a simulated network with loss,
//! duplication, reordering and delay drawn from a seeded RNG, driven by a
//! virtual clock that jumps to the next arrival or timer.

#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use l2tp_control::{
    AllowList, Endpoint, EndpointConfig, Event, Policy, ReliableConfig, SessionConfig,
    SessionHandle, TunnelConfig, TunnelHandle,
};
use l2tp_wire::control::ControlHeaderRepr;
use l2tp_wire::message::{Message, MessageType, Security};
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

pub fn addr(last: u8) -> SocketAddr {
    SocketAddr::from(([198, 18, 0, last], 1701))
}

#[derive(Clone, Debug)]
pub struct NetConfig {
    /// Probability a datagram is lost.
    pub loss: f64,
    /// Probability a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability a datagram gets an extra random delay (up to `jitter`),
    /// which reorders it behind later ones.
    pub reorder: f64,
    pub delay: Duration,
    pub jitter: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            delay: Duration::from_millis(10),
            jitter: Duration::from_millis(50),
        }
    }
}

/// A datagram as it left its sender.
#[derive(Clone, Debug)]
pub struct Sent {
    /// Virtual time since the start of the simulation.
    pub at: Duration,
    pub src: SocketAddr,
    pub dst: SocketAddr,
    pub payload: Vec<u8>,
    /// Whether the network delivered it (at least once).
    pub delivered: bool,
}

/// The control header of a datagram our endpoint sent.
pub fn header_of(payload: &[u8]) -> ControlHeaderRepr {
    ControlHeaderRepr::parse_bytes(payload).unwrap().0
}

/// Message Type, or None for a ZLB (or anything unparseable).
pub fn kind_of(payload: &[u8]) -> Option<MessageType> {
    Message::parse_unvalidated(payload, &Security::default())
        .ok()
        .and_then(|m| m.message_type())
}

impl Sent {
    pub fn header(&self) -> ControlHeaderRepr {
        header_of(&self.payload)
    }

    /// Message Type, or None for a ZLB.
    pub fn kind(&self) -> Option<MessageType> {
        kind_of(&self.payload)
    }

    pub fn message(&self) -> Message {
        Message::parse_unvalidated(&self.payload, &Security::default()).unwrap()
    }

    pub fn is_ack(&self) -> bool {
        matches!(self.kind(), None | Some(MessageType::Ack))
    }
}

/// What a test filter does with a datagram before the network model.
pub enum Verdict {
    Pass,
    Drop,
    /// Deliver these bytes instead.
    Replace(Vec<u8>),
    /// Deliver it, plus one extra copy after this delay.
    Echo(Duration),
}

pub type Filter = Box<dyn FnMut(&Sent) -> Verdict>;

pub struct Node {
    pub addr: SocketAddr,
    /// None for a scripted peer driven by the test through `inbox`.
    pub ep: Option<Endpoint>,
    pub events: Vec<(Duration, Event)>,
    pub inbox: Vec<(Duration, SocketAddr, Vec<u8>)>,
}

impl Node {
    pub fn ep(&mut self) -> &mut Endpoint {
        self.ep.as_mut().unwrap()
    }

    pub fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| f(e)).count()
    }

    pub fn find(&self, f: impl Fn(&Event) -> bool) -> Option<&(Duration, Event)> {
        self.events.iter().find(|(_, e)| f(e))
    }
}

struct Arrival {
    at: Instant,
    seq: u64,
    src: SocketAddr,
    dst: SocketAddr,
    payload: Vec<u8>,
}

impl PartialEq for Arrival {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Arrival {}
impl PartialOrd for Arrival {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Arrival {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(o.at, o.seq))
    }
}

pub struct Sim {
    pub base: Instant,
    pub now: Instant,
    pub nodes: Vec<Node>,
    pub net: NetConfig,
    pub rng: StdRng,
    queue: BinaryHeap<Reverse<Arrival>>,
    seq: u64,
    pub log: Vec<Sent>,
    pub filter: Option<Filter>,
    /// Record every datagram in `log` (off for big runs).
    pub keep_log: bool,
}

pub fn endpoint(seed: u64, cfg: EndpointConfig, policy: impl Policy + Send + 'static) -> Endpoint {
    Endpoint::new(cfg, Box::new(policy), Box::new(StdRng::seed_from_u64(seed)))
}

pub fn allow_all(tunnel: TunnelConfig, session: SessionConfig) -> AllowList {
    AllowList::new(tunnel, session).allow_any()
}

/// The default tunnel config with `n` retransmissions before the peer is
/// declared dead (for lossy networks).
pub fn with_retries(n: u32) -> TunnelConfig {
    TunnelConfig {
        reliable: ReliableConfig {
            max_retries: n,
            ..ReliableConfig::default()
        },
        ..TunnelConfig::default()
    }
}

impl Sim {
    pub fn new(seed: u64, net: NetConfig) -> Sim {
        let base = Instant::now();
        Sim {
            base,
            now: base,
            nodes: Vec::new(),
            net,
            rng: StdRng::seed_from_u64(seed ^ 0x5eed),
            queue: BinaryHeap::new(),
            seq: 0,
            log: Vec::new(),
            filter: None,
            keep_log: true,
        }
    }

    /// Two endpoints with default configs that accept each other.
    pub fn pair(seed: u64, net: NetConfig) -> Sim {
        Self::pair_alike(seed, net, TunnelConfig::default())
    }

    /// Two endpoints that accept each other's tunnels with `tunnel` (pass
    /// the same config to `connect`).
    pub fn pair_alike(seed: u64, net: NetConfig, tunnel: TunnelConfig) -> Sim {
        Self::pair_with(seed, net, tunnel.clone(), tunnel, SessionConfig::default())
    }

    /// Node 0 at .1, node 1 at .2; node 1 accepts tunnels with `b_tunnel`.
    pub fn pair_with(
        seed: u64,
        net: NetConfig,
        a_tunnel: TunnelConfig,
        b_tunnel: TunnelConfig,
        b_session: SessionConfig,
    ) -> Sim {
        let mut sim = Sim::new(seed, net);
        sim.add(
            addr(1),
            endpoint(
                seed * 2 + 1,
                EndpointConfig::default(),
                allow_all(a_tunnel, SessionConfig::default()),
            ),
        );
        sim.add(
            addr(2),
            endpoint(
                seed * 2 + 2,
                EndpointConfig::default(),
                allow_all(b_tunnel, b_session),
            ),
        );
        sim
    }

    pub fn add(&mut self, addr: SocketAddr, ep: Endpoint) -> usize {
        self.nodes.push(Node {
            addr,
            ep: Some(ep),
            events: Vec::new(),
            inbox: Vec::new(),
        });
        self.nodes.len() - 1
    }

    /// A node the test drives by hand (raw datagrams).
    pub fn add_scripted(&mut self, addr: SocketAddr) -> usize {
        self.nodes.push(Node {
            addr,
            ep: None,
            events: Vec::new(),
            inbox: Vec::new(),
        });
        self.nodes.len() - 1
    }

    pub fn elapsed(&self) -> Duration {
        self.now - self.base
    }

    /// Sends a datagram through the network model.
    pub fn send(&mut self, src: SocketAddr, dst: SocketAddr, payload: Vec<u8>) {
        let mut sent = Sent {
            at: self.elapsed(),
            src,
            dst,
            payload,
            delivered: false,
        };
        let mut copies: Vec<(Duration, Vec<u8>)> = Vec::new();
        let verdict = match &mut self.filter {
            Some(f) => f(&sent),
            None => Verdict::Pass,
        };
        let mut payload = sent.payload.clone();
        match verdict {
            Verdict::Drop => {}
            Verdict::Pass => copies.push((Duration::ZERO, payload)),
            Verdict::Replace(p) => {
                payload = p;
                copies.push((Duration::ZERO, payload));
            }
            Verdict::Echo(d) => {
                copies.push((Duration::ZERO, payload.clone()));
                copies.push((d, payload));
            }
        }
        let mut delivered = false;
        for (extra, p) in copies {
            if self.rng.random_bool(self.net.loss) {
                continue;
            }
            let n = if self.rng.random_bool(self.net.duplicate) {
                2
            } else {
                1
            };
            for _ in 0..n {
                let mut delay = self.net.delay + extra;
                if self.rng.random_bool(self.net.reorder) && !self.net.jitter.is_zero() {
                    let j = self.rng.random_range(0..self.net.jitter.as_nanos() as u64);
                    delay += Duration::from_nanos(j);
                }
                self.seq += 1;
                self.queue.push(Reverse(Arrival {
                    at: self.now + delay,
                    seq: self.seq,
                    src,
                    dst,
                    payload: p.clone(),
                }));
                delivered = true;
            }
        }
        sent.delivered = delivered;
        if self.keep_log {
            self.log.push(sent);
        }
    }

    fn collect(&mut self) {
        let now = self.elapsed();
        for i in 0..self.nodes.len() {
            let src = self.nodes[i].addr;
            let mut out = Vec::new();
            let node = &mut self.nodes[i];
            if let Some(ep) = node.ep.as_mut() {
                while let Some(tx) = ep.poll_transmit() {
                    out.push(tx);
                }
                while let Some(ev) = ep.poll_event() {
                    node.events.push((now, ev));
                }
            }
            for tx in out {
                self.send(src, tx.dst, tx.payload);
            }
        }
    }

    fn next_time(&self) -> Option<Instant> {
        let arrival = self.queue.peek().map(|Reverse(a)| a.at);
        let timers = self
            .nodes
            .iter()
            .filter_map(|n| n.ep.as_ref().and_then(|e| e.poll_timeout()))
            .min();
        match (arrival, timers) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Advances to the next arrival or timer, if it is within `limit` of
    /// the start. Returns false when nothing is left to do before it.
    pub fn step(&mut self, limit: Duration) -> bool {
        self.collect();
        let Some(next) = self.next_time() else {
            return false;
        };
        if next > self.base + limit {
            return false;
        }
        self.now = self.now.max(next);
        let now = self.now;
        while self.queue.peek().is_some_and(|Reverse(a)| a.at <= now) {
            let Reverse(a) = self.queue.pop().unwrap();
            let at = self.elapsed();
            if let Some(node) = self.nodes.iter_mut().find(|n| n.addr == a.dst) {
                match node.ep.as_mut() {
                    Some(ep) => ep.handle_datagram(now, a.src, &a.payload),
                    None => node.inbox.push((at, a.src, a.payload)),
                }
            }
            self.collect();
        }
        for n in &mut self.nodes {
            if let Some(ep) = n.ep.as_mut() {
                if ep.poll_timeout().is_some_and(|t| t <= now) {
                    ep.handle_timeout(now);
                }
            }
        }
        self.collect();
        true
    }

    /// Runs until `done` holds (true) or virtual time passes `limit` or
    /// nothing is pending (false).
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Sim) -> bool) -> bool {
        loop {
            self.collect();
            if done(self) {
                return true;
            }
            if !self.step(limit) {
                return done(self);
            }
        }
    }

    /// Runs until `limit`, whatever happens.
    pub fn run_for(&mut self, d: Duration) {
        let limit = self.elapsed() + d;
        while self.step(limit) {}
        self.collect();
        if self.elapsed() < limit {
            self.now = self.base + limit;
        }
    }

    /// Node `i` opens a control connection to `peer`, now.
    pub fn connect(&mut self, i: usize, peer: SocketAddr, cfg: TunnelConfig) -> TunnelHandle {
        let now = self.now;
        self.ep(i).connect(now, peer, cfg).unwrap()
    }

    /// Node `i` asks for a session on its connection `t`, now.
    pub fn open(&mut self, i: usize, t: TunnelHandle, cfg: SessionConfig) -> SessionHandle {
        let now = self.now;
        self.ep(i).open_session(now, t, cfg).unwrap()
    }

    pub fn node(&mut self, i: usize) -> &mut Node {
        &mut self.nodes[i]
    }

    pub fn ep(&mut self, i: usize) -> &mut Endpoint {
        self.nodes[i].ep.as_mut().unwrap()
    }

    /// Datagrams from `src` of a given message type (None = ZLB).
    pub fn sent_by(&self, src: SocketAddr, kind: Option<MessageType>) -> Vec<&Sent> {
        self.log
            .iter()
            .filter(|s| s.src == src && s.kind() == kind)
            .collect()
    }
}

/// Drain helper for tests that look for one event type.
pub fn is_tunnel_up(e: &Event) -> bool {
    matches!(e, Event::TunnelUp { .. })
}

pub fn is_session_up(e: &Event) -> bool {
    matches!(e, Event::SessionUp { .. })
}

pub fn is_tunnel_down(e: &Event) -> bool {
    matches!(e, Event::TunnelDown { .. })
}

pub fn is_session_down(e: &Event) -> bool {
    matches!(e, Event::SessionDown { .. })
}

/// Random bytes for scripted peers.
pub fn random_u32(rng: &mut StdRng) -> u32 {
    rng.next_u32()
}
