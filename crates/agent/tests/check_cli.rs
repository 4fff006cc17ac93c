//! `perouter check` as a process, against temporary directories: its exit status is the one the
//! systemd unit relies on (0 all valid, 1 some resources skipped but the rest would run, 2
//! unusable), and it applies `run`'s rules (strict fields, the 80-byte TCP-MD5 limit). Also: every
//! upstream sample (tests/data/upstream-samples, copied from OpenPERouter) reads strictly.

use std::path::{Path, PathBuf};
use std::process::Command;

use perouter_agent::config::resources::FailureReason;
use perouter_agent::config::static_files::parse_file;
use perouter_agent::config::validate::validate;

const UNDERLAY: &str = "underlays:\n  - asn: 64514\n    interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch1}}]\n    neighbors: [{asn: 64512, address: 192.168.11.2}]\n    tunnelEndpoint: {cidrs: [100.65.0.0/24]}\n";

fn dir(tag: &str, files: &[(&str, &str)]) -> PathBuf {
    let d = std::env::temp_dir().join(format!("perouter-check-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    for (name, text) in files {
        std::fs::write(d.join(name), text).unwrap();
    }
    d
}

fn check(d: &Path) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_perouter"))
        .arg("check")
        .arg(d)
        .args(["--node-index", "1"])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.code().unwrap(), text)
}

#[test]
fn exit_status_says_whether_run_would_start() {
    let clean = dir(
        "clean",
        &[
            ("openpe_u.yaml", UNDERLAY),
            ("openpe_v.yaml", "l2vnis: [{name: a, vni: 10}]\n"),
        ],
    );
    let (code, out) = check(&clean);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("resources: all valid"), "{out}");

    let long = "x".repeat(100);
    let skipped = dir(
        "skipped",
        &[
            ("openpe_u.yaml", UNDERLAY),
            ("openpe_v.yaml", "l2vnis:\n  - {name: a, vni: 10}\n  - {name: b, vni: 11, holdTimeSecs: 3}\n"),
            (
                "openpe_w.yaml",
                &format!("underlays: []\nl3vnis:\n  - {{name: r, vrf: r, vni: [100]}}\n# password {long}\n"),
            ),
        ],
    );
    let (code, out) = check(&skipped);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("openpe_v.yaml:3:24: unknown field `holdTimeSecs`"),
        "{out}"
    );
    assert!(
        out.contains("openpe_w.yaml:3:28: spec.vni: invalid type: sequence"),
        "a type error points at the field: {out}"
    );
    assert!(
        out.contains("L2VNI 10") || out.contains("vni 10") || out.contains("fabric sessions"),
        "the rest is planned: {out}"
    );

    // The password limit is run's (80 bytes), not the CRD's 128 characters.
    let pw = UNDERLAY.replace(
        "address: 192.168.11.2}",
        &format!("address: 192.168.11.2, password: {long}}}"),
    );
    let unusable = dir("password", &[("openpe_u.yaml", &pw)]);
    let (code, out) = check(&unusable);
    assert_eq!(code, 2, "without its underlay the node cannot run: {out}");
    assert!(out.contains("TCP-MD5 keys are at most 80 bytes"), "{out}");

    let empty = dir("empty", &[]);
    assert_eq!(check(&empty).0, 2);
    let broken = dir("broken", &[("openpe_u.yaml", "underlays: [\n")]);
    assert_eq!(check(&broken).0, 2);
    for d in [clean, skipped, unusable, empty, broken] {
        std::fs::remove_dir_all(d).unwrap();
    }

    let help = Command::new(env!("CARGO_BIN_EXE_perouter"))
        .args(["check", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("Exit status:") && help.contains("  2  unusable"),
        "{help}"
    );
}

/// Every resource upstream documents, written as a static file, reads with no unknown field and
/// no type error; validation refuses only what needs another sample's resource or a CNI plugin.
#[test]
fn upstream_samples_read_strictly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/upstream-samples");
    let mut seen = 0;
    for sub in ["config-samples", "examples-evpn"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join(sub))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for doc in serde_yaml::Deserializer::from_str(&text) {
                use serde::Deserialize;
                let v = serde_yaml::Value::deserialize(doc).unwrap();
                let Some(kind) = v.get("kind").and_then(|k| k.as_str()) else {
                    continue;
                };
                let name = v["metadata"]["name"].as_str().unwrap().to_string();
                let mut spec = v["spec"].clone();
                // Node selection belongs to API resources: a static file configures its own node
                // only and refuses `nodeSelector` (config::static_files).
                spec.as_mapping_mut().unwrap().remove("nodeSelector");
                let section = match kind {
                    "Underlay" => "underlays",
                    "L3VNI" => "l3vnis",
                    "L2VNI" => "l2vnis",
                    "L3Passthrough" => "bgppassthrough",
                    _ => continue,
                };
                if section != "underlays" && section != "bgppassthrough" {
                    spec.as_mapping_mut()
                        .unwrap()
                        .insert("name".into(), name.clone().into());
                }
                let mut top = serde_yaml::Mapping::new();
                if section == "bgppassthrough" {
                    top.insert(section.into(), spec);
                } else {
                    top.insert(section.into(), vec![spec].into());
                }
                let file_text = serde_yaml::to_string(&top).unwrap();
                let path = Path::new("/samples/openpe_sample.yaml");
                let parsed = parse_file(path, &file_text)
                    .unwrap_or_else(|e| panic!("{}: {kind} {name}: {e}", f.display()));
                // Only the pre-rename samples (the old API group) need older spellings.
                let old = v["apiVersion"]
                    .as_str()
                    .unwrap()
                    .starts_with("openpe.openperouter.github.io");
                assert!(
                    parsed.failed.is_empty() && (old || parsed.warnings.is_empty()),
                    "{}: {kind} {name}: {:?} {:?}",
                    f.display(),
                    parsed.failed,
                    parsed.warnings
                );
                assert_eq!(parsed.resources.len(), 1, "{}: {kind} {name}", f.display());
                // Upstream's route-reflector samples write `type: internal` (its CRD's enum is
                // `Internal`) and has no tunnelEndpoint: refused by validation, as upstream would.
                if f.to_string_lossy().contains("route-reflector") {
                    seen += 1;
                    continue;
                }
                for failed in validate(&parsed.resources).failed {
                    assert!(
                        failed.reason == FailureReason::DependencyFailed
                            || failed.message.contains("CNIDevice is not supported yet"),
                        "{}: {failed}",
                        f.display()
                    );
                }
                seen += 1;
            }
        }
    }
    assert!(seen >= 25, "only {seen} resources found");
}

/// deploy/systemd/perouter.service's `ExecStartPre` lets the router start when `check` exits 0 or
/// 1 and stops it at 2: the line is run as systemd would (`$$` → `$`) against real directories.
#[test]
fn systemd_unit_starts_unless_check_says_unusable() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/systemd/perouter.service"),
    )
    .unwrap();
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStartPre="))
        .expect("an ExecStartPre line");
    let script = line
        .strip_prefix("/bin/sh -c '")
        .and_then(|l| l.strip_suffix('\''))
        .expect("ExecStartPre=/bin/sh -c '...'")
        .replace("$$", "$")
        .replace("/usr/local/bin/perouter", env!("CARGO_BIN_EXE_perouter"));
    let run = |d: &Path| {
        let s = script.replace(
            "/var/lib/openperouter",
            &format!("{} --node-index 1", d.display()),
        );
        Command::new("/bin/sh")
            .args(["-c", &s])
            .output()
            .unwrap()
            .status
            .success()
    };
    let clean = dir("unit-clean", &[("openpe_u.yaml", UNDERLAY)]);
    let partial = dir(
        "unit-partial",
        &[
            ("openpe_u.yaml", UNDERLAY),
            ("openpe_v.yaml", "l2vnis: [{name: b, vni: 0}]\n"),
        ],
    );
    let unusable = dir(
        "unit-unusable",
        &[("openpe_v.yaml", "l2vnis: [{name: b, vni: 5}]\n")],
    );
    assert_eq!(check(&partial).0, 1);
    assert!(run(&clean), "exit 0 starts the router");
    assert!(
        run(&partial),
        "exit 1 starts the router: the rest of the configuration runs"
    );
    assert!(!run(&unusable), "exit 2 does not");
    for d in [clean, partial, unusable] {
        std::fs::remove_dir_all(d).unwrap();
    }
}

/// deploy/systemd/perouter.service passes `systemd-analyze verify` without a warning (an unknown
/// key is only a warning there), with the built binary in place of /usr/local/bin/perouter; it
/// is `Type=notify` with `NotifyAccess=all` (the upgrade's successor announces MAINPID=), and its
/// `ExecReload` is a `perouter upgrade` command line this binary accepts: run against a node
/// that does not exist, it fails with upgrade's own error, not a usage error.
#[test]
fn systemd_unit_verifies_and_reloads_with_perouter_upgrade() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/systemd/perouter.service"),
    )
    .unwrap()
    .replace("/usr/local/bin/perouter", env!("CARGO_BIN_EXE_perouter"));
    let key = |k: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k}= in the unit"))
            .to_string()
    };
    assert_eq!(key("Type"), "notify");
    assert_eq!(key("NotifyAccess"), "all");
    let reload: Vec<String> = key("ExecReload")
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(reload[0], env!("CARGO_BIN_EXE_perouter"));
    assert_eq!(reload[1], "upgrade");
    let d = dir("unit-verify", &[]);
    let out = Command::new(&reload[0])
        .args(&reload[1..])
        .args(["--api-socket", &d.join("api.sock").to_string_lossy()])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("no perouter offers a session handoff"),
        "{err}"
    );
    std::fs::write(d.join("perouter.service"), &unit).unwrap();
    let v = Command::new("systemd-analyze")
        .args(["verify", &d.join("perouter.service").to_string_lossy()])
        .output()
        .expect("systemd-analyze (Debian: the systemd package) verifies the unit");
    let verr = String::from_utf8_lossy(&v.stderr);
    assert!(v.status.success(), "systemd-analyze verify failed: {verr}");
    assert!(
        verr.trim().is_empty(),
        "systemd-analyze verify warns: {verr}"
    );
    std::fs::remove_dir_all(d).unwrap();
}
