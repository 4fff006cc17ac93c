//! `perouter decode` against the captured vectors in `crates/bgp/tests/data/` (real FRR, GoBGP
//! and BIRD sessions, see the README there):
//!
//! 1. every `.pcap` decodes through the capture reader with `--check-roundtrip` passing (the real
//!    binary), and the message counts by type equal `.stats.json`; the same holds for the
//!    captures rewritten as classic pcap (both byte orders, micro- and nanoseconds);
//! 2. `--hex` on each `.hex` file decodes to the same messages with the same (negotiated)
//!    contexts as the `.pcap`;
//! 3. captures of the same sessions written by other tools (editcap, tshark on Linux cooked v2)
//!    decode the same.
//!
//! The library's own checks against these vectors (reassembled messages equal the `.hex`
//! files, decoded fields agree with tshark) are in `crates/capture/tests/vectors.rs`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Output};

use perouter_capture::pcap::PcapWriter;
use perouter_capture::{CaptureReader, LinkType};
use serde_json::Value;

const PAIRS: [&str; 3] = ["frr-gobgp", "frr-bird", "gobgp-bird"];

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../bgp/tests/data")
        .join(name)
}

fn perouter(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_perouter"))
        .args(args)
        .output()
        .expect("run perouter")
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .expect("utf-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l}: {e}")))
        .collect()
}

fn counts_by_type(records: &[Value]) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for r in records {
        if let Some(t) = r["type"].as_str() {
            *m.entry(t.to_string()).or_default() += 1;
        }
    }
    m
}

fn expected_counts(pair: &str) -> BTreeMap<String, u64> {
    let stats: Value =
        serde_json::from_slice(&std::fs::read(data(&format!("{pair}.stats.json"))).unwrap())
            .unwrap();
    stats["by_type"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect()
}

/// Checks one run of `perouter decode --check-roundtrip` on a capture.
fn check_capture_run(pair: &str, path: &str) -> Vec<Value> {
    let out = perouter(&["decode", "--check-roundtrip", path]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{pair}: exit {:?}\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("0 errors; 0 round-trip differences"),
        "{pair}: {stderr}"
    );
    let records = json_lines(&out);
    for r in &records {
        assert!(r.get("error").is_none(), "{pair}: {r}");
        if r.get("type").is_some() {
            assert_eq!(r["roundtrip"]["result"], "identical", "{pair}: {r}");
            assert!(r["message"].is_object(), "{pair}: {r}");
        }
    }
    assert_eq!(
        counts_by_type(&records),
        expected_counts(pair),
        "{pair}: message counts by type"
    );
    records
}

#[test]
fn every_pcap_decodes_and_roundtrips_with_the_expected_counts() {
    for pair in PAIRS {
        let path = data(&format!("{pair}.pcap"));
        let records = check_capture_run(pair, path.to_str().unwrap());
        // After the OPEN exchange every message is decoded with the negotiated context.
        let updates: Vec<_> = records.iter().filter(|r| r["type"] == "UPDATE").collect();
        assert!(!updates.is_empty());
        assert!(
            updates.iter().all(|r| r["context"] == "negotiated"),
            "{pair}"
        );
        // Every record names its connection, direction and frame.
        for r in records.iter().filter(|r| r.get("type").is_some()) {
            assert!(r["connection"].as_str().unwrap().contains("->"));
            assert!(r["frame"].as_u64().unwrap() > 0);
            assert!(r["timestamp"].as_str().unwrap().ends_with('Z'));
        }
    }
}

/// Rewrites a capture as classic pcap through our own reader and writer.
fn to_classic_pcap(capture: &[u8], big_endian: bool, nanosecond: bool) -> Vec<u8> {
    let frames: Vec<_> = CaptureReader::new(capture)
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut w = PcapWriter::new(big_endian, nanosecond, frames[0].link_type);
    for f in &frames {
        assert_eq!(f.link_type, LinkType::ETHERNET);
        w.record(f.timestamp, f.data);
    }
    w.finish()
}

#[test]
fn classic_pcap_variants_decode_the_same() {
    let dir = std::env::temp_dir().join(format!("perouter-vectors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(dir.clone());
    for pair in PAIRS {
        let original = std::fs::read(data(&format!("{pair}.pcap"))).unwrap();
        let reference = check_capture_run(pair, data(&format!("{pair}.pcap")).to_str().unwrap());
        for (be, ns) in [(false, false), (true, true), (true, false), (false, true)] {
            let path = dir.join(format!("{pair}-{be}-{ns}.pcap"));
            std::fs::write(&path, to_classic_pcap(&original, be, ns)).unwrap();
            let records = check_capture_run(pair, path.to_str().unwrap());
            assert_eq!(records.len(), reference.len());
            for (a, b) in records.iter().zip(&reference) {
                assert_eq!(a["message"], b["message"], "{pair} be={be} ns={ns}");
                assert_eq!(a["frame"], b["frame"]);
                assert_eq!(a["connection"], b["connection"]);
                if ns {
                    assert_eq!(a["timestamp"], b["timestamp"]);
                }
            }
        }
    }
}

#[test]
fn hex_input_follows_opens_like_the_capture() {
    for pair in PAIRS {
        let pcap_out = perouter(&["decode", data(&format!("{pair}.pcap")).to_str().unwrap()]);
        let hex_out = perouter(&[
            "decode",
            "--hex",
            "--check-roundtrip",
            data(&format!("{pair}.hex")).to_str().unwrap(),
        ]);
        assert!(
            hex_out.status.success(),
            "{pair}: {}",
            String::from_utf8_lossy(&hex_out.stderr)
        );
        let (p, h) = (json_lines(&pcap_out), json_lines(&hex_out));
        assert_eq!(p.len(), h.len(), "{pair}");
        for (a, b) in p.iter().zip(&h) {
            assert_eq!(a["message"], b["message"], "{pair}: line {}", b["line"]);
            assert_eq!(a["context"], b["context"], "{pair}: line {}", b["line"]);
            assert_eq!(a["direction"], b["direction"], "{pair}: line {}", b["line"]);
            assert_eq!(b["roundtrip"]["result"], "identical");
            assert!(b["line"].as_u64().is_some());
        }
        // Without following OPENs every message gets the flags' default context (no ADD-PATH),
        // and the ADD-PATH UPDATEs of these sessions decode differently (or not at all).
        let flat = perouter(&[
            "decode",
            "--hex",
            "--no-follow-open",
            data(&format!("{pair}.hex")).to_str().unwrap(),
        ]);
        let flat_records = json_lines(&flat);
        assert_eq!(flat_records.len(), h.len());
        assert!(
            flat_records.iter().all(|r| r["context"] == "flags"),
            "{pair}"
        );
        let differing = flat_records
            .iter()
            .zip(&h)
            .filter(|(a, b)| a["message"] != b["message"])
            .count();
        assert!(
            differing > 0,
            "{pair}: the negotiated context made no difference"
        );
    }
}

/// Captures written by independent writers decode exactly like the originals: each original
/// rewritten by Wireshark's `editcap -F pcap` and `-F nsecpcap` (classic pcap, micro- and
/// nanosecond), and `frr-gobgp.sll2.pcap`, a tshark capture on the "any" pseudo-interface
/// (Linux cooked v2 frames) of the vector's messages re-sent over real TCP on a namespace's
/// loopback (`tools/replay-sll2.sh`).
#[test]
fn captures_from_independent_writers_decode_the_same() {
    for pair in PAIRS {
        let reference = check_capture_run(pair, data(&format!("{pair}.pcap")).to_str().unwrap());
        for variant in ["editcap-us", "editcap-ns"] {
            let path = data(&format!("{pair}.{variant}.pcap"));
            let head = std::fs::read(&path).unwrap();
            // Classic pcap magic (little-endian micro/nano), not pcapng's block type.
            let magic = u32::from_le_bytes(head[..4].try_into().unwrap());
            assert!(
                magic == 0xa1b2_c3d4 || magic == 0xa1b2_3c4d,
                "{pair}.{variant}: magic {magic:#x}"
            );
            let records = check_capture_run(pair, path.to_str().unwrap());
            assert_eq!(records.len(), reference.len(), "{pair}.{variant}");
            for (a, b) in records.iter().zip(&reference) {
                assert_eq!(a["message"], b["message"], "{pair}.{variant}");
                assert_eq!(a["frame"], b["frame"], "{pair}.{variant}");
                assert_eq!(a["connection"], b["connection"], "{pair}.{variant}");
                let (ta, tb) = (a["timestamp"].as_str(), b["timestamp"].as_str());
                if variant == "editcap-us" {
                    // Microsecond resolution: the original's nanoseconds truncated.
                    let tb = tb.map(|t| format!("{}000Z", &t[..t.len() - 4]));
                    assert_eq!(ta.map(str::to_string), tb, "{pair}.{variant}");
                } else {
                    assert_eq!(ta, tb, "{pair}.{variant}");
                }
            }
        }
    }
    let pair = "frr-gobgp";
    let path = data(&format!("{pair}.sll2.pcap"));
    let frames: Vec<_> = CaptureReader::new(&std::fs::read(&path).unwrap())
        .unwrap()
        .map(Result::unwrap)
        .map(|f| f.link_type)
        .collect();
    assert!(!frames.is_empty());
    assert!(
        frames.iter().all(|l| *l == LinkType::LINUX_SLL2),
        "{pair}.sll2.pcap: link types {frames:?}"
    );
    let reference = check_capture_run(pair, data(&format!("{pair}.pcap")).to_str().unwrap());
    let records = check_capture_run(pair, path.to_str().unwrap());
    // Each side's messages in order (the two directions interleave differently on the wire).
    let by_sender = |r: &[Value]| -> Vec<Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for r in r.iter().filter(|r| r.get("type").is_some()) {
            m.entry(r["src"].as_str().unwrap().to_string())
                .or_default()
                .push(r["message"].to_string());
        }
        let mut v: Vec<_> = m.into_values().collect();
        v.sort();
        v
    };
    let (ours, theirs) = (by_sender(&records), by_sender(&reference));
    assert_eq!(ours.len(), 2, "{pair}.sll2.pcap: two senders");
    assert!(
        ours == theirs,
        "{pair}.sll2.pcap: messages differ from the original capture's"
    );
    assert!(records
        .iter()
        .filter(|r| r["type"] == "UPDATE")
        .all(|r| r["context"] == "negotiated"));
}
