//! Writes seed inputs for the cargo-fuzz targets in `fuzz/`:
//!
//!   cargo run -p l2tp-wire --example write_fuzz_seeds -- fuzz/seeds
//!
//! Each seed starts with the selector byte the target reads first.

use std::path::{Path, PathBuf};

use l2tp_wire::avp::{Avp, AvpValue};
use l2tp_wire::data::{Cookie, Encap, L2SpecType, V3DataRepr};
use l2tp_wire::message::Security;
use l2tp_wire::testing::{v2_messages, v3_messages};
use l2tp_wire::v2::DataRepr;

fn write(dir: &Path, target: &str, name: &str, bytes: &[u8]) {
    let d = dir.join(target);
    std::fs::create_dir_all(&d).expect("create seed dir");
    std::fs::write(d.join(name), bytes).expect("write seed");
}

fn with_sel(sel: u8, b: &[u8]) -> Vec<u8> {
    let mut v = vec![sel];
    v.extend_from_slice(b);
    v
}

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "fuzz/seeds".into()),
    );
    // The message target's secret and nonces (receiver view).
    let rx = Security {
        secret: Some(b"fuzz-secret"),
        local_nonce: b"local-nonce",
        remote_nonce: b"remote-nonce",
    };
    let tx = Security {
        local_nonce: rx.remote_nonce,
        remote_nonce: rx.local_nonce,
        ..rx
    };
    for (name, m) in v2_messages() {
        let b = m.to_bytes(&Security::default()).expect("sample encodes");
        write(&dir, "message", name, &with_sel(0, &b));
        let body = b.get(12..).unwrap_or(&[]);
        write(&dir, "avp_list", name, body);
    }
    for (name, _, m) in v3_messages() {
        let b = m.to_bytes(&tx).expect("sample encodes");
        write(&dir, "message", name, &with_sel(3, &b));
        let mut ip = vec![0u8; 4];
        ip.extend_from_slice(&b);
        write(&dir, "message", &format!("{name}-ip"), &with_sel(7, &ip));
    }
    // Hidden AVPs under the target's secret, both versions.
    for (tag, m) in v2_messages().into_iter().take(2) {
        let mut m = m;
        m.avps
            .insert(1, Avp::new(AvpValue::RandomVector(vec![9; 16])));
        for a in m.avps.iter_mut().skip(2) {
            a.hidden = true;
        }
        let b = m.to_bytes(&tx).expect("hidden sample encodes");
        write(&dir, "message", &format!("{tag}-hidden"), &with_sel(1, &b));
    }
    // Data headers under several selector configs.
    let v3 = V3DataRepr {
        session_id: 0x1234,
        cookie: Cookie::from_u32(0xdead_beef),
        seq: Some(7),
        l2spec: L2SpecType::Default,
    };
    for (sel, encap) in [(0b1010u8, Encap::Ip), (0b1011, Encap::Udp)] {
        let mut buf = vec![0u8; 64];
        let n = v3.emit(encap, &mut buf).expect("emit");
        buf.truncate(n + 14);
        write(
            &dir,
            "data_header",
            &format!("v3-{sel}"),
            &with_sel(sel, &buf),
        );
    }
    let v2 = DataRepr {
        length: None,
        tunnel_id: 1,
        session_id: 2,
        ns_nr: Some((3, 4)),
        offset: Some(2),
        priority: true,
    }
    .with_payload_len(4)
    .expect("small");
    let mut buf = vec![0u8; v2.header_len() + 4];
    v2.emit_bytes(&mut buf).expect("emit");
    write(&dir, "data_header", "v2", &with_sel(0, &buf));
    // Hidden AVP inputs: attr, secret len, rv len, pad, secret, rv, value.
    let mut h = vec![0, 9, 6, 16, 3];
    h.extend_from_slice(b"secret");
    h.extend_from_slice(&[7; 16]);
    h.extend_from_slice(&[0x12, 0x34, 0x56]);
    write(&dir, "hidden_avp", "basic", &h);
    // The malformed corpus is a good start for the message target too.
    let mal = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    if let Ok(rd) = std::fs::read_dir(&mal) {
        for e in rd.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "bin") {
                if let (Ok(b), Some(stem)) = (std::fs::read(&p), p.file_stem()) {
                    let stem = stem.to_string_lossy();
                    write(&dir, "message", &format!("mal-{stem}"), &with_sel(3, &b));
                }
            }
        }
    }
    println!("seeds written under {}", dir.display());
}
