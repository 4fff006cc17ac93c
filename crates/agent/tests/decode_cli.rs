//! `perouter decode` as a user runs it: hex and raw input, context flags, error records and exit
//! status, round-trip failures, and synthetic captures (classic pcap, Linux SLL2, a capture that
//! starts mid-session, a truncated file).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use perouter_capture::pcap::PcapWriter;
use perouter_capture::{LinkType, Timestamp};
use serde_json::Value;

const KEEPALIVE: &str = "ffffffffffffffffffffffffffffffff001304";
/// An UPDATE for 198.51.100.0/24 with ADD-PATH path id 7, ORIGIN IGP, AS_PATH [65000] (4-octet),
/// NEXT_HOP 192.0.2.1.
const UPDATE_ADD_PATH: &str = "ffffffffffffffffffffffffffffffff003302000000144001010040020602010000fde8400304c00002010000000718c63364";
/// The same UPDATE without the path id and with a 2-octet AS_PATH [65000].
const UPDATE_AS2: &str =
    "ffffffffffffffffffffffffffffffff002d0200000012400101004002040201fde8400304c000020118c63364";

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_perouter"))
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run perouter");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn records(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON {l}: {e}")))
        .collect()
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let d = std::env::temp_dir().join(format!("perouter-decode-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
    fn file(&self, name: &str, content: &[u8]) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, content).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn hex_from_stdin_with_comments_and_blank_lines() {
    let input = format!("# a keepalive\n\n{KEEPALIVE}\n  {KEEPALIVE}  \n");
    let out = run(&["decode", "--hex", "-"], Some(input.as_bytes()));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = records(&out);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0]["line"], 3);
    assert_eq!(r[1]["line"], 4);
    assert_eq!(r[0]["type"], "KEEPALIVE");
    assert_eq!(r[0]["length"], 19);
    assert_eq!(r[0]["context"], "flags");
    assert!(String::from_utf8_lossy(&out.stderr).contains("2 messages (KEEPALIVE 2); 0 errors"));
}

#[test]
fn add_path_and_as2_flags_set_the_context() {
    let with = run(
        &["decode", "--hex", "--add-path", "ipv4-unicast", "-"],
        Some(UPDATE_ADD_PATH.as_bytes()),
    );
    assert!(with.status.success());
    let r = records(&with);
    assert_eq!(r[0]["message"]["nlri"][0]["prefix"], "198.51.100.0/24");
    assert_eq!(r[0]["message"]["nlri"][0]["path_id"], 7);

    // A direction the message does not flow in: no path ids, so the NLRI are malformed.
    let reverse_only = run(
        &["decode", "--hex", "--add-path", "ipv4-unicast:reverse", "-"],
        Some(UPDATE_ADD_PATH.as_bytes()),
    );
    assert!(!reverse_only.status.success());

    let without = run(&["decode", "--hex", "-"], Some(UPDATE_ADD_PATH.as_bytes()));
    assert_eq!(without.status.code(), Some(1));
    let r = records(&without);
    assert_eq!(r[0]["error"]["kind"], "parse");
    assert_eq!(r[0]["error"]["offset"], 48);
    assert_eq!(r[0]["hex"], UPDATE_ADD_PATH);

    let as2 = run(
        &["decode", "--hex", "--as2", "-"],
        Some(UPDATE_AS2.as_bytes()),
    );
    assert!(
        as2.status.success(),
        "{}",
        String::from_utf8_lossy(&as2.stdout)
    );
    let r = records(&as2);
    assert_eq!(
        r[0]["message"]["path_attributes"][1]["value"][0]["asns"][0],
        65000
    );
    assert!(r[0]["message"]["nlri"][0].get("path_id").is_none());

    let bad = run(
        &["decode", "--hex", "--add-path", "ipx-unicast", "-"],
        Some(b""),
    );
    assert_eq!(bad.status.code(), Some(2), "usage error");
}

#[test]
fn a_bad_message_is_reported_and_the_rest_still_decode() {
    let input =
        format!("{KEEPALIVE}\nzz{KEEPALIVE}\n{UPDATE_ADD_PATH}\n{KEEPALIVE}00\n{KEEPALIVE}\n");
    let out = run(&["decode", "--hex", "-"], Some(input.as_bytes()));
    assert_eq!(out.status.code(), Some(1));
    let r = records(&out);
    assert_eq!(r.len(), 5);
    assert_eq!(r[0]["type"], "KEEPALIVE");
    assert_eq!(r[1]["error"]["kind"], "hex");
    assert_eq!(r[1]["line"], 2);
    assert_eq!(r[2]["error"]["kind"], "parse");
    assert_eq!(r[2]["line"], 3);
    // One byte after the message on the line: the message decodes, the extra byte is an error.
    assert_eq!(r[3]["type"], "KEEPALIVE");
    assert!(r[3].get("error").is_some(), "{}", r[3]);
    assert_eq!(r[4]["type"], "KEEPALIVE");
    assert!(r[4].get("error").is_none());
    assert!(String::from_utf8_lossy(&out.stderr).contains("3 errors"));
}

#[test]
fn raw_streams_are_framed_and_garbage_reported() {
    let mut raw = hex::decode(KEEPALIVE).unwrap();
    raw.extend(hex::decode(UPDATE_AS2).unwrap());
    let out = run(
        &["decode", "--raw", "--as2", "--check-roundtrip", "-"],
        Some(&raw),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = records(&out);
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0]["offset"].as_u64(), r[1]["offset"].as_u64()),
        (Some(0), Some(19))
    );
    assert_eq!(r[1]["roundtrip"]["result"], "identical");

    raw.extend_from_slice(b"junk");
    raw.extend(hex::decode(KEEPALIVE).unwrap());
    raw.extend_from_slice(&[0xff; 10]);
    let out = run(&["decode", "--raw", "--as2", "-"], Some(&raw));
    assert_eq!(out.status.code(), Some(1));
    let r = records(&out);
    let kinds: Vec<_> = r
        .iter()
        .map(|r| {
            r["type"]
                .as_str()
                .or(r["error"]["kind"].as_str())
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "KEEPALIVE",
            "UPDATE",
            "framing",
            "framing",
            "KEEPALIVE",
            "framing"
        ]
    );
    assert_eq!(r[2]["offset"], 64);
    assert!(r[5]["error"]["what"].as_str().unwrap().contains("10 of 19"));
}

#[test]
fn roundtrip_differences_fail_and_are_named() {
    // ATOMIC_AGGREGATE with a 1-byte value is malformed; RFC 7606 §7.6 says discard it, so the
    // re-emitted UPDATE lacks it and differs from the input.
    // Attributes 4 + 9 + 7 + 4 = 24 bytes, message 19 + 4 + 24 + 4 = 51.
    let update = "ffffffffffffffffffffffffffffffff0033020000001840010100400206020100\
                  00fde8400304c0000201c006010018c63364";
    let out = run(
        &["decode", "--hex", "--check-roundtrip", "-"],
        Some(update.as_bytes()),
    );
    let r = records(&out);
    assert!(
        r[0]["message"]["attribute_errors"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
        "{}",
        r[0]
    );
    assert_eq!(r[0]["roundtrip"]["result"], "differs", "{}", r[0]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("1 round-trip differences"), "{stderr}");
    assert!(
        stderr.contains("differ for the message at line 1"),
        "{stderr}"
    );
}

/// An IPv4 TCP segment in a Linux SLL2 frame.
fn sll2_frame(
    src: ([u8; 4], u16),
    dst: ([u8; 4], u16),
    seq: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut tcp = Vec::new();
    tcp.extend_from_slice(&src.1.to_be_bytes());
    tcp.extend_from_slice(&dst.1.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    tcp.extend_from_slice(payload);
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&u16::try_from(20 + tcp.len()).unwrap().to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0]);
    ip.extend_from_slice(&src.0);
    ip.extend_from_slice(&dst.0);
    ip.extend(tcp);
    let mut f = vec![
        0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 4, 6, 2, 0, 0, 0, 0, 1, 0, 0,
    ];
    f.extend(ip);
    f
}

#[test]
fn mid_session_sll2_capture_uses_the_flags_and_says_so() {
    let dir = TempDir::new("midsession");
    let peer = ([192, 0, 2, 1], 179);
    let me = ([192, 0, 2, 2], 41000);
    let mut w = PcapWriter::new(true, true, LinkType::LINUX_SLL2);
    // The capture starts in the middle of an UPDATE (its last 10 bytes), then a whole one
    // split over two segments, then a keepalive.
    let update = hex::decode(UPDATE_ADD_PATH).unwrap();
    let ka = hex::decode(KEEPALIVE).unwrap();
    let mut seq = 5000u32;
    let mut frames = vec![
        update[update.len() - 10..].to_vec(),
        update[..30].to_vec(),
        update[30..].to_vec(),
        ka,
    ];
    for (i, payload) in frames.drain(..).enumerate() {
        w.record(
            Timestamp::new(1_700_000_000 + i as i64, 42),
            &sll2_frame(peer, me, seq, 0x18, &payload),
        );
        seq = seq.wrapping_add(payload.len() as u32);
    }
    let pcap = dir.file("mid.pcap", &w.finish());
    let out = run(
        &[
            "decode",
            "--add-path",
            "ipv4-unicast",
            "--check-roundtrip",
            s(&pcap),
        ],
        None,
    );
    let r = records(&out);
    let notice = r
        .iter()
        .find(|r| r.get("notice").is_some())
        .expect("a notice");
    assert_eq!(notice["direction"], "reverse");
    assert_eq!(notice["connection"], "192.0.2.2:41000->192.0.2.1:179");
    let msgs: Vec<_> = r.iter().filter(|r| r.get("type").is_some()).collect();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["type"], "UPDATE");
    assert_eq!(msgs[0]["frame"], 3);
    assert_eq!(msgs[0]["first_frame"], 2);
    assert_eq!(msgs[0]["context"], "flags");
    assert_eq!(msgs[0]["src"], "192.0.2.1:179");
    assert_eq!(msgs[0]["timestamp"], "2023-11-14T22:13:22.000000042Z");
    assert_eq!(msgs[0]["message"]["nlri"][0]["path_id"], 7);
    assert_eq!(msgs[1]["type"], "KEEPALIVE");
    // The 10 skipped bytes are reported (a framing record), so the exit status says so.
    assert!(r.iter().any(|r| r["error"]["kind"] == "framing"));
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn truncated_and_foreign_files() {
    let dir = TempDir::new("broken");
    let mut w = PcapWriter::new(false, false, LinkType::LINUX_SLL2);
    let ka = hex::decode(KEEPALIVE).unwrap();
    w.record(
        Timestamp::new(1, 0),
        &sll2_frame(([10, 0, 0, 1], 179), ([10, 0, 0, 2], 5000), 1, 0x18, &ka),
    );
    let mut file = w.finish();
    let whole = file.len();
    file.extend_from_within(24..whole - 3); // a second record, cut short
    let pcap = dir.file("cut.pcap", &file);
    let out = run(&["decode", s(&pcap)], None);
    assert_eq!(out.status.code(), Some(1));
    let r = records(&out);
    assert_eq!(r.iter().filter(|r| r["type"] == "KEEPALIVE").count(), 1);
    let err = r
        .iter()
        .find(|r| r["error"]["kind"] == "capture")
        .expect("capture error");
    assert_eq!(err["error"]["offset"], whole);

    let text = dir.file("notes.txt", b"hello world, not a capture");
    let out = run(&["decode", s(&text)], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(records(&out)[0]["error"]["what"]
        .as_str()
        .unwrap()
        .contains("not a pcap or pcapng"));

    let out = run(&["decode", "/nonexistent/perouter.pcap"], None);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn help_documents_inputs_context_and_examples() {
    let out = run(&["decode", "--help"], None);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "--hex",
        "--raw",
        "--check-roundtrip",
        "--add-path",
        "FAMILY[:DIR]",
        "negotiated",
        "EXAMPLES",
        "EXIT STATUS",
    ] {
        assert!(help.contains(needle), "help lacks {needle}");
    }
}
