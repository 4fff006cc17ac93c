//! The client against a real ovsdb-server (Debian's `openvswitch-switch`, which CI installs),
//! started on a private database and socket in a temporary directory: nothing system-wide is
//! touched. No ovs-vswitchd is needed: bridges and ports are database rows; `ovs-vsctl` reads
//! them back as an independent check.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use perouter_ovsdb::vswitch::{self, Leg, Scope, Wanted};
use perouter_ovsdb::{Client, Error};

struct Server {
    dir: PathBuf,
}

impl Server {
    fn sock(&self) -> PathBuf {
        self.dir.join("db.sock")
    }

    fn vsctl(&self, args: &[&str]) -> String {
        let out = Command::new("ovs-vsctl")
            .arg(format!("--db=unix:{}", self.sock().display()))
            .args(args)
            .output()
            .expect("ovs-vsctl runs");
        assert!(
            out.status.success(),
            "ovs-vsctl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("ovsdb.pid")) {
            let pid = pid.trim();
            let _ = Command::new("kill").arg(pid).status();
            // Gone before the test goes on (a dead server is part of what is tested).
            for _ in 0..100 {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start(tag: &str) -> Server {
    let found = Command::new("ovsdb-server")
        .arg("--version")
        .output()
        .is_ok();
    assert!(
        found,
        "these tests need ovsdb-server (apt-get install openvswitch-switch; CI installs it); \
         skip them explicitly with `cargo test -- --skip real_ovsdb` if you must"
    );
    let dir = std::env::temp_dir().join(format!("perouter-ovsdb-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let s = Server { dir };
    let db = s.dir.join("conf.db");
    let ok = Command::new("ovsdb-tool")
        .args([
            "create",
            db.to_str().unwrap(),
            "/usr/share/openvswitch/vswitch.ovsschema",
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok, "ovsdb-tool create");
    let ok = Command::new("ovsdb-server")
        .arg(&db)
        .arg(format!("--remote=punix:{}", s.sock().display()))
        .arg(format!("--pidfile={}", s.dir.join("ovsdb.pid").display()))
        .arg(format!("--unixctl={}", s.dir.join("ovsdb.ctl").display()))
        .arg(format!("--log-file={}", s.dir.join("ovsdb.log").display()))
        .arg("--detach")
        .status()
        .unwrap()
        .success();
    assert!(ok, "ovsdb-server starts");
    s.vsctl(&["--no-wait", "init"]);
    s
}

fn scope() -> Scope {
    Scope {
        port_prefix: "host-e-".into(),
        bridge_prefix: "br-hs-".into(),
    }
}

async fn apply(c: &mut Client, wanted: &Wanted) -> vswitch::Plan {
    let p = c.plan(wanted, &scope()).await.unwrap();
    for t in &p.txns {
        c.transact(vswitch::DATABASE, &t.ops)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", t.what));
    }
    p
}

#[tokio::test]
async fn real_ovsdb_managed_and_external_bridges() {
    let s = start("legs");
    s.vsctl(&["--no-wait", "add-br", "ovs-ext"]);
    s.vsctl(&["--no-wait", "add-port", "ovs-ext", "vm-port"]);
    let mut c = Client::connect(&s.sock(), Duration::from_secs(5))
        .await
        .unwrap();
    let wanted = Wanted {
        legs: vec![
            Leg {
                port: "host-e-210".into(),
                bridge: "br-hs-210".into(),
                managed: true,
            },
            Leg {
                port: "host-e-220".into(),
                bridge: "ovs-ext".into(),
                managed: false,
            },
            Leg {
                port: "host-e-230".into(),
                bridge: "missing".into(),
                managed: false,
            },
        ],
        datapath_type: Some("netdev".into()),
    };
    let first = apply(&mut c, &wanted).await;
    assert_eq!(first.txns.len(), 2, "{first:?}");
    assert_eq!(first.problems.len(), 1);
    assert!(first.problems[0]
        .message
        .contains("OVS bridge missing does not exist"));
    assert_eq!(s.vsctl(&["list-ports", "br-hs-210"]), "host-e-210");
    assert_eq!(s.vsctl(&["list-ports", "ovs-ext"]), "host-e-220\nvm-port");
    assert_eq!(
        s.vsctl(&["get", "bridge", "br-hs-210", "datapath_type"]),
        "netdev"
    );
    assert_eq!(
        s.vsctl(&["get", "bridge", "br-hs-210", "external_ids:created-by"]),
        "openperouter"
    );
    // Idempotent: the second pass finds nothing to do.
    let again = apply(&mut c, &wanted).await;
    assert!(again.txns.is_empty(), "{again:?}");

    // Both VNIs removed: our port leaves the external bridge (the VM's stays), the managed
    // bridge is deleted with its port.
    let none = Wanted::default();
    let gone = apply(&mut c, &none).await;
    assert_eq!(gone.txns.len(), 2, "{gone:?}");
    assert_eq!(s.vsctl(&["list-br"]), "ovs-ext");
    assert_eq!(s.vsctl(&["list-ports", "ovs-ext"]), "vm-port");
    // Our Port and Interface rows went with them (garbage-collected, RFC 7047 §3.2).
    let mut rows: Vec<String> = s
        .vsctl(&["--columns=name", "--bare", "list", "interface"])
        .split_whitespace()
        .map(str::to_string)
        .collect();
    rows.sort();
    assert_eq!(rows, ["ovs-ext", "vm-port"]);
    assert!(apply(&mut c, &none).await.txns.is_empty());
}

#[tokio::test]
async fn real_ovsdb_refusals_and_a_dead_server() {
    let s = start("errors");
    let mut c = Client::connect(&s.sock(), Duration::from_secs(5))
        .await
        .unwrap();
    // A transaction the server refuses leaves the connection usable.
    let e = c
        .transact(
            vswitch::DATABASE,
            &[serde_json::json!({"op": "select", "table": "Nope", "where": []})],
        )
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Transact(_)) && !e.is_fatal(), "{e}");
    assert!(e.to_string().contains("No table named Nope"), "{e}");
    let e = c.transact("Nodb", &[]).await.unwrap_err();
    assert!(e.to_string().contains("unknown database"), "{e}");
    assert!(c.snapshot().await.unwrap().root.is_some());
    // The server goes away: a clear error, not a hang.
    drop(s);
    let e = c.snapshot().await.unwrap_err();
    assert!(e.is_fatal(), "{e}");
    let e = Client::connect(Path::new("/nonexistent/db.sock"), Duration::from_secs(1))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Io(_)), "{e}");
}
