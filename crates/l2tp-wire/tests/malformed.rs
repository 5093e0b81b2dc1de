//! Every file in tests/malformed/ is rejected with exactly the typed error
//! its MANIFEST line names, and never panics.

use std::path::PathBuf;

use l2tp_wire::control::{strip_ip_prefix, ControlHeaderRepr};
use l2tp_wire::data::{Encap, L2SpecType, V3DataConfig, V3DataRepr};
use l2tp_wire::message::{verify_digest, Message, Security};
use l2tp_wire::v2::DataRepr;
use l2tp_wire::Error;

fn run(parser: &str, bytes: &[u8]) -> Result<(), Error> {
    let secret = Security::with_secret(b"secret");
    match parser.split(':').collect::<Vec<_>>()[..] {
        ["v3data", encap, cookie_len, l2spec] => {
            let cfg = V3DataConfig {
                encap: if encap == "ip" { Encap::Ip } else { Encap::Udp },
                cookie_len: cookie_len.parse().unwrap(),
                l2spec: if l2spec == "default" {
                    L2SpecType::Default
                } else {
                    L2SpecType::None
                },
            };
            V3DataRepr::parse(bytes, &cfg).map(drop)
        }
        ["v2data"] => DataRepr::parse_bytes(bytes).map(drop),
        ["control"] => ControlHeaderRepr::parse_bytes(bytes).map(drop),
        ["control-ip"] => strip_ip_prefix(bytes)
            .and_then(ControlHeaderRepr::parse_bytes)
            .map(drop),
        ["message"] => Message::parse(bytes).map(drop),
        ["message-secret"] => Message::parse_with(bytes, &secret).map(drop),
        ["digest"] => verify_digest(bytes, &secret),
        _ => panic!("unknown parser {parser}"),
    }
}

#[test]
fn corpus_is_rejected_with_the_expected_error() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/malformed");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST")).unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for line in manifest
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.split(" | ").collect();
        let [file, parser, expected, _why] = cols[..] else {
            panic!("bad manifest line: {line}");
        };
        let bytes = std::fs::read(dir.join(file)).unwrap();
        match run(parser, &bytes) {
            Ok(()) => failures.push(format!("{file}: accepted, expected {expected}")),
            Err(e) if format!("{e:?}") == expected => {
                // The Display text must name something, never be empty.
                assert!(!e.to_string().is_empty());
            }
            Err(e) => failures.push(format!("{file}: got {e:?}, expected {expected}")),
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 25, "corpus has only {checked} entries");
    // Every .bin file is listed.
    let listed = manifest.matches(".bin").count();
    let on_disk = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "bin")
        })
        .count();
    assert_eq!(listed, on_disk, "unlisted corpus files");
}
