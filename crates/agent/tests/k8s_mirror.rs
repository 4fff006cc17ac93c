//! Static resources mirrored as custom resources (upstream's `e2etests/tests/static_mirror.go`),
//! against the fake API server (see `k8s_fake`): perouter reads real `openpe_*.yaml` files from a
//! directory, as `perouter run --kubernetes` does, and its mirror writes them to the API as
//! `static-<node>-<kind>-<name>` objects labelled `openperouter.github.io/source=static`. One test
//! per upstream case: mirrored at start, updated when a file changes, created when a file is
//! added, deleted when a file is removed, re-created after a manual deletion, a manual edit of
//! the spec reverted; plus an API outage retried with backoff, no writes once converged, and the
//! controller not taking the mirrors for API configuration.
//!
//! Every test runs on tokio's paused clock, as the controller tests do.

mod k8s_fake;

use std::path::{Path, PathBuf};
use std::time::Duration;

use k8s_fake::{node, ours, resource, FakeApi, NODES, NS};
use perouter_agent::config::resources::ResourceSet;
use perouter_agent::config::static_files::load_dir;
use perouter_agent::k8s::controller::{run as run_controller, ControllerConfig};
use perouter_agent::k8s::mirror::{run, MirrorReport};
use perouter_agent::k8s::source::{Debounce, K8sConfig};
use serde_json::{json, Value};
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(30);

const UNDERLAY: &str = "underlays:
  - asn: 64514
    interfaces:
      - {type: NetworkDevice, networkDevice: {interfaceName: toswitch}}
    neighbors:
      - {asn: 64512, address: 192.168.11.2}
    tunnelEndpoint: {cidrs: [100.65.0.0/24]}
";

fn l3vni_file(vni: u32) -> String {
    format!(
        "l3vnis:\n  - {{name: mirror-red, vrf: mirror-red, vni: {vni}, hostSession: {{asn: 64514, hostASN: 64515, localCIDR: {{ipv4: 192.169.80.0/24}}}}}}\n"
    )
}

const L2VNI: &str = "l2vnis:
  - {name: sl2vni8300, vni: 8300, vxlanPort: 4789, routingDomain: {type: L3VNI, l3vni: {name: mirror-red}}}
";

/// A static configuration directory of its own.
struct Dir(PathBuf);

impl Dir {
    fn new(test: &str) -> Dir {
        let p = std::env::temp_dir().join(format!("perouter-mirror-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Dir(p)
    }
    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.0.join(file), text).unwrap();
    }
    fn remove(&self, file: &str) {
        std::fs::remove_file(self.0.join(file)).unwrap();
    }
    /// What perouter reads from the directory (every file must parse).
    fn load(&self) -> ResourceSet {
        let c = load_dir(Path::new(&self.0)).unwrap();
        assert!(
            c.file_errors.is_empty() && c.failed_resources.is_empty(),
            "static files must parse: {:?} {:?}",
            c.file_errors,
            c.failed_resources
        );
        c.resources
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Starts the mirror of node-a; returns the sender the static poller would feed.
fn start(fake: &FakeApi, dir: &Dir) -> (watch::Sender<ResourceSet>, watch::Receiver<MirrorReport>) {
    let (tx, rx) = watch::channel(dir.load());
    let (rtx, rrx) = watch::channel(MirrorReport::default());
    tokio::spawn(run(fake.client(NS), "node-a".into(), NS.into(), rx, rtx));
    (tx, rrx)
}

/// The mirrors of `plural` labelled `source=static`, by name.
fn mirrors(fake: &FakeApi, plural: &str) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for name in fake.names(&ours(plural)) {
        let o = fake.get(&ours(plural), &name).unwrap();
        if o["metadata"]["labels"]["openperouter.github.io/source"] == "static" {
            out.push((name, o));
        }
    }
    out
}

/// Waits (on the paused clock) until `pred` holds for the fake's state.
async fn eventually(what: &str, mut pred: impl FnMut() -> bool) {
    let r = tokio::time::timeout(WAIT, async {
        while !pred() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(r.is_ok(), "timed out waiting for: {what}");
}

fn vni_of(fake: &FakeApi, plural: &str, name: &str) -> Option<i64> {
    fake.get(&ours(plural), name)?["spec"]["vni"].as_i64()
}

const RED: &str = "static-node-a-l3vni-mirror-red";
const L2: &str = "static-node-a-l2vni-sl2vni8300";
const UL: &str = "static-node-a-underlay-openpe-underlay";

/// Underlay + L3VNI files at start, mirrored with upstream's names, labels and node selector.
async fn mirrored_start(fake: &FakeApi, dir: &Dir) -> watch::Sender<ResourceSet> {
    dir.write("openpe_underlay.yaml", UNDERLAY);
    dir.write("openpe_l3vni.yaml", &l3vni_file(8100));
    let (tx, _report) = start(fake, dir);
    eventually("the L3VNI and the underlay mirrored", || {
        vni_of(fake, "l3vnis", RED) == Some(8100) && fake.get(&ours("underlays"), UL).is_some()
    })
    .await;
    tx
}

#[tokio::test(start_paused = true)]
async fn mirrors_static_underlay_and_l3vni_to_kubernetes_crds() {
    let fake = FakeApi::new();
    let dir = Dir::new("start");
    let _tx = mirrored_start(&fake, &dir).await;
    let l3 = mirrors(&fake, "l3vnis");
    assert_eq!(l3.len(), 1, "{l3:?}");
    let (name, obj) = &l3[0];
    assert_eq!(name, RED);
    assert_eq!(obj["metadata"]["namespace"], NS);
    assert_eq!(
        obj["metadata"]["labels"],
        json!({"openperouter.github.io/source": "static", "openperouter.github.io/static-node": "node-a"})
    );
    assert_eq!(
        obj["spec"]["nodeSelector"],
        json!({"matchLabels": {"kubernetes.io/hostname": "node-a"}}),
        "a mirror selects its own node (upstream: non-nil nodeSelector)"
    );
    assert_eq!(obj["spec"]["vrf"], "mirror-red");
    assert_eq!(obj["spec"]["hostSession"]["hostASN"], 64515);
    assert_eq!(obj["kind"], "L3VNI");
    assert_eq!(obj["apiVersion"], "network.openperouter.io/v1alpha1");
    let ul = mirrors(&fake, "underlays");
    assert_eq!(ul.len(), 1);
    assert_eq!(ul[0].1["spec"]["asn"], 64514);
    assert_eq!(ul[0].1["spec"]["neighbors"][0]["address"], "192.168.11.2");
}

#[tokio::test(start_paused = true)]
async fn updates_mirrored_l3vni_when_static_file_changes() {
    let fake = FakeApi::new();
    let dir = Dir::new("update");
    let tx = mirrored_start(&fake, &dir).await;
    dir.write("openpe_l3vni.yaml", &l3vni_file(8200));
    tx.send_replace(dir.load());
    eventually("VNI 8200 mirrored", || {
        vni_of(&fake, "l3vnis", RED) == Some(8200)
    })
    .await;
    assert_eq!(mirrors(&fake, "l3vnis").len(), 1, "updated in place");
}

#[tokio::test(start_paused = true)]
async fn creates_then_deletes_mirrored_resource_with_its_static_file() {
    let fake = FakeApi::new();
    let dir = Dir::new("adddel");
    let tx = mirrored_start(&fake, &dir).await;
    // Upstream: "creates new mirrored resource when a new static file is added".
    dir.write("openpe_l2vni.yaml", L2VNI);
    tx.send_replace(dir.load());
    eventually("the L2VNI mirrored", || {
        vni_of(&fake, "l2vnis", L2) == Some(8300)
    })
    .await;
    let l2 = fake.get(&ours("l2vnis"), L2).unwrap();
    assert_eq!(
        l2["spec"]["routingDomain"]["l3vni"]["name"], RED,
        "the routing domain names the mirrored L3VNI"
    );
    assert_eq!(
        l2["metadata"]["labels"]["openperouter.github.io/source"],
        "static"
    );
    // Upstream: "deletes mirrored resource when static file is removed".
    dir.remove("openpe_l2vni.yaml");
    tx.send_replace(dir.load());
    eventually("the L2VNI mirror deleted", || {
        mirrors(&fake, "l2vnis").is_empty()
    })
    .await;
    assert!(
        fake.get(&ours("underlays"), UL).is_some() && fake.get(&ours("l3vnis"), RED).is_some(),
        "the other mirrors stay"
    );
}

#[tokio::test(start_paused = true)]
async fn recreates_mirrored_resource_after_manual_deletion() {
    let fake = FakeApi::new();
    let dir = Dir::new("recreate");
    let _tx = mirrored_start(&fake, &dir).await;
    let uid_before = fake.get(&ours("l3vnis"), RED).unwrap()["metadata"]["resourceVersion"].clone();
    fake.delete(&ours("l3vnis"), RED);
    assert!(fake.get(&ours("l3vnis"), RED).is_none());
    eventually("the L3VNI mirror re-created", || {
        fake.get(&ours("l3vnis"), RED).is_some()
    })
    .await;
    let again = fake.get(&ours("l3vnis"), RED).unwrap();
    assert_ne!(again["metadata"]["resourceVersion"], uid_before);
    assert_eq!(
        again["metadata"]["labels"]["openperouter.github.io/source"],
        "static"
    );
    assert_eq!(again["spec"]["vni"], 8100);
}

#[tokio::test(start_paused = true)]
async fn reverts_mirrored_l3vni_spec_after_manual_edit() {
    let fake = FakeApi::new();
    let dir = Dir::new("revert");
    let _tx = mirrored_start(&fake, &dir).await;
    let mut edited = fake.get(&ours("l3vnis"), RED).unwrap();
    edited["spec"]["vni"] = json!(9876);
    fake.put(&ours("l3vnis"), edited);
    assert_eq!(vni_of(&fake, "l3vnis", RED), Some(9876));
    eventually("VNI reverted to 8100", || {
        vni_of(&fake, "l3vnis", RED) == Some(8100)
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn api_errors_are_retried_with_backoff_and_a_converged_mirror_writes_nothing() {
    let fake = FakeApi::new();
    let dir = Dir::new("outage");
    dir.write("openpe_underlay.yaml", UNDERLAY);
    dir.write("openpe_l3vni.yaml", &l3vni_file(8100));
    let (tx, mut report) = start(&fake, &dir);
    eventually("mirrored", || vni_of(&fake, "l3vnis", RED) == Some(8100)).await;
    let writes = |fake: &FakeApi| {
        fake.requests()
            .iter()
            .filter(|r| !r.starts_with("GET"))
            .count()
    };
    // Converged: nothing more is written, however long we wait.
    let settled = writes(&fake);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(writes(&fake), settled, "no writes once converged");

    // The API goes away; the file changes meanwhile.
    fake.set_down(true);
    dir.write("openpe_l3vni.yaml", &l3vni_file(8200));
    tx.send_replace(dir.load());
    tokio::time::sleep(Duration::from_secs(20)).await;
    let failed_attempts = writes(&fake) - settled;
    assert!(
        failed_attempts <= 12,
        "retries back off (500 ms doubling to 30 s): {failed_attempts} writes in 20 s"
    );
    // The report says what fails, once the mirror has seen a failure.
    let r = report.borrow_and_update().clone();
    assert_eq!(r.desired, 2);
    // (with the API down the watches also fail, so a write may not have been tried yet.)
    if failed_attempts > 0 {
        assert!(
            r.last_error.as_deref().is_some_and(|e| e.contains("down")),
            "{r:?}"
        );
    }
    fake.set_down(false);
    eventually("VNI 8200 mirrored after the outage", || {
        vni_of(&fake, "l3vnis", RED) == Some(8200)
    })
    .await;
    eventually("report in sync", || {
        let r = report.borrow_and_update().clone();
        r.in_sync == 2 && r.last_error.is_none()
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn the_controller_does_not_take_mirrors_for_api_configuration() {
    let fake = FakeApi::new();
    fake.put(
        NODES,
        node("node-a", json!({"kubernetes.io/hostname": "node-a"})),
    );
    fake.put(
        &ours("l3vnis"),
        resource("L3VNI", "api-blue", "{vrf: blue, vni: 200}"),
    );
    let dir = Dir::new("controller");
    let tx = mirrored_start(&fake, &dir).await;
    let (out_tx, mut out) = watch::channel::<Option<K8sConfig>>(None);
    tokio::spawn(run_controller(
        fake.client(NS),
        ControllerConfig {
            node_name: "node-a".into(),
            namespace: NS.into(),
            debounce: Debounce {
                quiet: Duration::from_millis(50),
                max_delay: Duration::from_millis(500),
            },
        },
        dir.load(),
        Some(tx.subscribe()),
        out_tx,
    ));
    let c = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(c) = out.borrow_and_update().clone() {
                if c.api_synced {
                    return c;
                }
            }
            out.changed().await.unwrap();
        }
    })
    .await
    .expect("the controller synced");
    let mut names: Vec<&str> = c.resources.l3vnis.iter().map(|r| r.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        ["api-blue", "mirror-red"],
        "the static L3VNI once (from its file), not again as its mirror"
    );
    assert_eq!(c.resources.underlays.len(), 1);
}
