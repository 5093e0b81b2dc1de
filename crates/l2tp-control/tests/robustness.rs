//! Hostile input: mutated, truncated and random datagrams must never make
//! the endpoint panic, and it must keep working afterwards.

mod common;

use std::time::Duration;

use common::*;
use l2tp_control::*;
use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

fn mutate(rng: &mut StdRng, mut b: Vec<u8>) -> Vec<u8> {
    match rng.random_range(0..6) {
        0 => {
            // Flip a few bytes.
            for _ in 0..rng.random_range(1..4) {
                if !b.is_empty() {
                    let i = rng.random_range(0..b.len());
                    b[i] ^= rng.random_range(1..=255u8);
                }
            }
        }
        1 => {
            let n = rng.random_range(0..=b.len());
            b.truncate(n);
        }
        2 => {
            let extra = rng.random_range(1..64);
            for _ in 0..extra {
                b.push(rng.next_u32() as u8);
            }
        }
        3 => {
            // Rewrite an AVP length field somewhere after the header.
            if b.len() > 14 {
                let i = rng.random_range(12..b.len() - 1);
                b[i] = rng.random_range(0..4u8);
                b[i + 1] = rng.next_u32() as u8;
            }
        }
        4 => {
            // Random Ns/Nr.
            if b.len() >= 12 {
                let v = rng.next_u32().to_be_bytes();
                b[8..12].copy_from_slice(&v);
            }
        }
        _ => {
            let n = rng.random_range(0..80);
            b = (0..n).map(|_| rng.next_u32() as u8).collect();
            if n > 1 && rng.random_bool(0.5) {
                b[0] = 0xc8;
                b[1] = 0x03;
            }
        }
    }
    b
}

fn hostile(auth: Option<Auth>, seed: u64) {
    let tcfg = TunnelConfig {
        auth,
        ..TunnelConfig::default()
    };
    let mut sim = Sim::pair_alike(seed, NetConfig::default(), tcfg.clone());
    let t = sim.connect(0, addr(2), tcfg.clone());
    for _ in 0..5 {
        sim.open(0, t, SessionConfig::default());
    }
    assert!(
        sim.run_until(Duration::from_secs(5), |s| s.nodes[1].count(is_session_up)
            == 5)
    );
    let samples: Vec<(bool, Vec<u8>)> = sim
        .log
        .iter()
        .map(|p| (p.src == addr(1), p.payload.clone()))
        .collect();
    let mut rng = StdRng::seed_from_u64(seed);
    for i in 0..20_000u32 {
        let (from_a, b) = samples[rng.random_range(0..samples.len())].clone();
        let b = mutate(&mut rng, b);
        let (dst, src) = if from_a { (1, addr(1)) } else { (0, addr(2)) };
        let now = sim.now + Duration::from_millis(u64::from(i));
        sim.ep(dst).handle_datagram(now, src, &b);
        if i % 97 == 0 {
            sim.ep(0).handle_timeout(now);
            sim.ep(1).handle_timeout(now);
        }
        while sim.ep(0).poll_transmit().is_some() {}
        while sim.ep(1).poll_transmit().is_some() {}
        while sim.ep(0).poll_event().is_some() {}
        while sim.ep(1).poll_event().is_some() {}
    }
    // Still able to build a fresh connection with both endpoints.
    sim.now += Duration::from_secs(100);
    sim.run_for(Duration::from_secs(60));
    for n in &mut sim.nodes {
        n.events.clear();
    }
    let t2 = sim.connect(0, addr(2), tcfg);
    sim.open(0, t2, SessionConfig::default());
    assert!(
        sim.run_until(sim.elapsed() + Duration::from_secs(10), |s| s.nodes[1]
            .count(is_session_up)
            == 1)
    );
    let st = sim.ep(1).stats();
    println!("after hostile input: B {st:?}");
}

#[test]
fn mutated_datagrams_never_panic() {
    hostile(None, 71);
}

#[test]
fn mutated_datagrams_never_panic_with_authentication() {
    let auth = Auth {
        secret: b"k".to_vec(),
        algorithm: DigestAlgorithm::Sha1,
    };
    hostile(Some(auth), 72);
}
