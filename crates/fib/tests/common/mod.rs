//! Helpers shared by the kernel tests: namespaces of their own (deleted on drop), `ip -j` reads.
#![allow(dead_code)]

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use perouter_fib::netns::NetnsGuard;
use serde_json::Value;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A unique namespace name for this process (`<tag><pid>-<n>`, short enough for anything).
pub fn unique(tag: &str) -> String {
    format!(
        "{tag}{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh namespace, deleted when the guard drops (also when the test fails).
pub fn netns(tag: &str) -> NetnsGuard {
    NetnsGuard::create(&unique(tag)).expect("create test namespace (needs root)")
}

/// Runs `ip` in namespace `ns`, panicking with its stderr on failure.
pub fn ip(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip")
        .arg("-n")
        .arg(ns)
        .args(args)
        .output()
        .expect("run ip");
    assert!(
        out.status.success(),
        "ip -n {ns} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `ip -j -d ...` parsed; an empty array when `ip` fails (e.g. a table that does not exist).
pub fn ipj_or_empty(ns: &str, args: &[&str]) -> Value {
    let out = Command::new("ip")
        .arg("-n")
        .arg(ns)
        .args(["-j", "-d"])
        .args(args)
        .output()
        .expect("run ip");
    let s = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || s.trim().is_empty() {
        return Value::Array(vec![]);
    }
    serde_json::from_str(&s).unwrap_or(Value::Array(vec![]))
}

/// `ip -j -d ... ` parsed.
pub fn ipj(ns: &str, args: &[&str]) -> Value {
    let mut a = vec!["-j", "-d"];
    a.extend_from_slice(args);
    let s = ip(ns, &a);
    if s.trim().is_empty() {
        return Value::Array(vec![]);
    }
    serde_json::from_str(&s).unwrap_or_else(|e| panic!("ip -j output {s:?}: {e}"))
}

/// `bridge -j ...` in `ns`, parsed.
pub fn bridgej(ns: &str, args: &[&str]) -> Value {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "bridge", "-j"])
        .args(args)
        .output()
        .expect("run bridge");
    assert!(
        out.status.success(),
        "bridge {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    if s.trim().is_empty() {
        return Value::Array(vec![]);
    }
    serde_json::from_str(&s).unwrap()
}

/// The link named `name` in `ns`, if any (`ip -j -d link show`).
pub fn link(ns: &str, name: &str) -> Option<Value> {
    ipj(ns, &["link", "show"])
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["ifname"] == name)
        .cloned()
}

/// Names of all links in `ns`.
pub fn link_names(ns: &str) -> Vec<String> {
    ipj(ns, &["link", "show"])
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["ifname"].as_str().unwrap().to_string())
        .collect()
}

/// Addresses (`addr/len`) on `dev` in `ns`, link-local excluded.
pub fn addrs(ns: &str, dev: &str) -> Vec<String> {
    let v = ipj(ns, &["addr", "show", "dev", dev]);
    let mut out = Vec::new();
    for l in v.as_array().unwrap() {
        for a in l["addr_info"].as_array().unwrap() {
            if a["scope"] == "link" {
                continue;
            }
            out.push(format!(
                "{}/{}",
                a["local"].as_str().unwrap(),
                a["prefixlen"]
            ));
        }
    }
    out.sort();
    out
}

/// The master of `dev` in `ns`.
pub fn master(ns: &str, dev: &str) -> Option<String> {
    link(ns, dev).and_then(|l| l["master"].as_str().map(str::to_string))
}

/// Reads a sysctl inside `ns`.
pub fn sysctl(ns: &str, key: &str) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "sysctl", "-n", key])
        .output()
        .expect("sysctl");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether the running kernel can make a VRF device (probed in a throwaway namespace).
pub fn kernel_has_vrf() -> bool {
    let ns = netns("pfv");
    Command::new("ip")
        .args([
            "-n",
            ns.name(),
            "link",
            "add",
            "probe",
            "type",
            "vrf",
            "table",
            "77",
        ])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Where the test runs, for the test output.
pub fn where_we_run() -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let guest = std::env::var("PEROUTER_GUEST").is_ok();
    format!(
        "ran in {}, kernel {}",
        if guest { "virtme-ng guest" } else { "host" },
        release.trim()
    )
}
