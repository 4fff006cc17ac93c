//! Kubernetes mode as `perouter run` wires it, against the fake API server (see `k8s_fake`):
//! static files merged with the API's resources become a node plan (index from the
//! `openpe.io/nodeindex` annotation, node-config.yaml only until the API answers), the node's
//! `RouterNodeConfigurationStatus` is written with Ready/Degraded, sessions and per-VRF route
//! counts, and a rotated `passwordSecret` re-keys the fabric session (a new TCP-MD5 key in the
//! neighbour the speaker is given).

mod k8s_fake;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use k8s_fake::{node, ours, resource, FakeApi, NODES, NS, SECRETS};
use perouter_agent::api::BoxFuture;
use perouter_agent::k8s::controller::ControllerConfig;
use perouter_agent::k8s::node_index::ANNOTATION;
use perouter_agent::k8s::source::Debounce;
use perouter_agent::k8s::status::RuntimeReport;
use perouter_agent::runtime::kubernetes::{start, KubernetesSource};
use perouter_agent::runtime::node_config::AppliedConfig;
use perouter_agent::runtime::node_status::{run_status, runtime_report, ProbeSlot, RuntimeProbe};
use perouter_agent::runtime::routing::{RoutingSnapshot, VrfRouteView};
use perouter_agent::runtime::sessions::{planned_sessions, SessionRole};
use serde_json::{json, Value};
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(20);

const UNDERLAY: &str = "{asn: 64514, interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: eth1}}], neighbors: [{asn: 64512, address: 192.168.11.2}], tunnelEndpoint: {cidrs: [100.65.0.0/24]}}";

/// A static directory removed on drop.
struct StaticDir(PathBuf);

impl StaticDir {
    fn new(tag: &str, files: &[(&str, &str)]) -> Self {
        let dir =
            std::env::temp_dir().join(format!("perouter-k8s-run-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        StaticDir(dir)
    }
}

impl Drop for StaticDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn controller() -> ControllerConfig {
    ControllerConfig {
        node_name: "node-a".into(),
        namespace: NS.into(),
        debounce: Debounce {
            quiet: Duration::from_millis(50),
            max_delay: Duration::from_millis(500),
        },
    }
}

fn source(dir: &StaticDir) -> KubernetesSource {
    KubernetesSource {
        dir: dir.0.clone(),
        node_index: None,
        router_netns: "perouter".into(),
        poll: Duration::from_millis(200),
    }
}

fn annotated_node(index: &str) -> Value {
    let mut n = node("node-a", json!({"rack": "r1"}));
    n["metadata"]["annotations"] = json!({ ANNOTATION: index });
    n
}

async fn wait_applied(
    rx: &mut watch::Receiver<Arc<AppliedConfig>>,
    what: &str,
    pred: impl Fn(&AppliedConfig) -> bool,
) -> Arc<AppliedConfig> {
    let r = tokio::time::timeout(WAIT, async {
        loop {
            let a = rx.borrow_and_update().clone();
            if pred(&a) {
                return a;
            }
            rx.changed().await.expect("applier alive");
        }
    })
    .await;
    r.unwrap_or_else(|_| {
        panic!(
            "timed out waiting for: {what}; last: {:#?}",
            rx.borrow().clone()
        )
    })
}

async fn wait_status(fake: &FakeApi, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let r = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(st) = fake
                .get(&ours("routernodeconfigurationstatuses"), "node-a")
                .map(|o| o["status"].clone())
            {
                if pred(&st) {
                    return st;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    r.unwrap_or_else(|_| {
        panic!(
            "timed out waiting for status: {what}; last: {:?}",
            fake.get(&ours("routernodeconfigurationstatuses"), "node-a")
        )
    })
}

fn condition<'a>(status: &'a Value, kind: &str) -> Option<&'a Value> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// What a running router would report: the plan's sessions (none connected yet) and routes in
/// VRF red, through the same pure builder the daemon uses.
struct PlannedProbe(watch::Receiver<Arc<AppliedConfig>>);

impl RuntimeProbe for PlannedProbe {
    fn report(&self) -> BoxFuture<'_, RuntimeReport> {
        Box::pin(async move {
            let plan = self.0.borrow().plan.clone();
            let sessions = plan.as_deref().map(planned_sessions).unwrap_or_default();
            let mut snap = RoutingSnapshot::default();
            let route = |p: &str| VrfRouteView {
                prefix: p.parse().unwrap(),
                next_hops: vec!["100.65.0.1".into()],
            };
            snap.vrfs.insert(
                "red".into(),
                vec![
                    route("10.10.0.0/24"),
                    route("10.20.0.0/24"),
                    route("fd00:10::/64"),
                ],
            );
            runtime_report(plan.as_deref(), &sessions, &[], &snap, SystemTime::now())
        })
    }

    fn datapath_error(&self) -> Option<String> {
        None
    }
}

#[tokio::test]
async fn merged_source_plans_and_status_reports_sessions_and_vrfs() {
    // Stage 1 material: node-config.yaml says index 7 and a static L3VNI blue.
    let dir = StaticDir::new(
        "merge",
        &[
            (
                "node-config.yaml",
                "nodeIndex: {index: 7}\nnodeName: node-a\n",
            ),
            (
                "openpe_blue.yaml",
                "l3vnis:\n  - name: static-blue\n    vrf: blue\n    vni: 200\n",
            ),
        ],
    );
    let fake = FakeApi::new();
    fake.put(NODES, annotated_node("2"));
    fake.put(
        &ours("underlays"),
        resource("Underlay", "underlay", UNDERLAY),
    );
    fake.put(
        &ours("l3vnis"),
        resource("L3VNI", "red", "{vrf: red, vni: 100, hostSession: {asn: 64515, hostASN: 64516, localCIDR: {ipv4: 192.169.10.0/24}}}"),
    );
    fake.put(
        &ours("l3vnis"),
        resource(
            "L3VNI",
            "green",
            "{vrf: green, vni: 300, nodeSelector: {matchLabels: {rack: r9}}}",
        ),
    );

    let k = start(fake.client(NS), controller(), source(&dir)).await;
    let mut applied = k.applied.clone();
    let a = wait_applied(
        &mut applied,
        "plan from static + API with the annotated index",
        |a| {
            a.plan
                .as_ref()
                .is_some_and(|p| p.index == 2 && p.l3vnis.len() == 2)
        },
    )
    .await;
    let plan = a.plan.clone().unwrap();
    let mut vnis: Vec<(u32, &str)> = plan
        .l3vnis
        .iter()
        .map(|l| (l.vni, l.vrf.as_str()))
        .collect();
    vnis.sort();
    assert_eq!(
        vnis,
        [(100, "red"), (200, "blue")],
        "green selects another rack"
    );
    assert_eq!(plan.asn, 64514);
    assert!(a.failed_resources.is_empty(), "{:?}", a.failed_resources);
    assert!(a.files.iter().any(|f| f.ends_with("openpe_blue.yaml")));

    // `perouter run` mirrors the static L3VNI as a custom resource; the mirror is not read back.
    let mirror = "static-node-a-l3vni-static-blue";
    tokio::time::timeout(WAIT, async {
        while fake.get(&ours("l3vnis"), mirror).is_none() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the static L3VNI mirrored");
    assert_eq!(
        fake.get(&ours("l3vnis"), mirror).unwrap()["metadata"]["labels"]
            ["openperouter.github.io/source"],
        "static"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        applied.borrow().plan.as_ref().unwrap().l3vnis.len(),
        2,
        "blue once, from its file"
    );

    // The status: written after the apply and refreshed, with sessions and route counts.
    let probe: ProbeSlot = Arc::default();
    assert!(probe.set(Arc::new(PlannedProbe(k.applied.clone()))).is_ok());
    tokio::spawn(run_status(
        k.status.clone(),
        k.applied.clone(),
        probe,
        Duration::from_millis(300),
    ));
    let st = wait_status(&fake, "Ready with sessions and VRFs", |st| {
        condition(st, "Ready").is_some_and(|c| c["status"] == "True")
            && st["bgpSessions"].is_array()
    })
    .await;
    assert_eq!(condition(&st, "Degraded").unwrap()["status"], "False");
    assert_eq!(st["nodeIndex"], 2);
    let sessions = st["bgpSessions"].as_array().unwrap();
    let fabric = sessions
        .iter()
        .find(|s| s["peer"] == "192.168.11.2")
        .expect("fabric session listed");
    assert_eq!(
        (fabric["vrf"].as_str(), fabric["peerAsn"].as_u64()),
        (Some("default"), Some(64512))
    );
    let host = sessions
        .iter()
        .find(|s| s["vrf"] == "red")
        .expect("red's host session listed");
    assert_eq!(host["peerAsn"], 64516);
    assert_eq!(st["sessionSummary"], format!("0/{}", sessions.len()));
    let red = st["vrfs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "red")
        .expect("red counted");
    assert_eq!(
        (
            red["vni"].as_u64(),
            red["ipv4Routes"].as_u64(),
            red["ipv6Routes"].as_u64()
        ),
        (Some(100), Some(2), Some(1))
    );
    assert!(st["vrfs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["name"] == "blue" && v["vni"] == 200));

    // A broken L3VNI arrives: the rest keeps applying, the node is Degraded and says why.
    fake.put(
        &ours("l3vnis"),
        resource("L3VNI", "broken", "{vrf: broken, vni: 0}"),
    );
    let st = wait_status(&fake, "Degraded by the broken L3VNI", |st| {
        condition(st, "Degraded").is_some_and(|c| c["status"] == "True")
    })
    .await;
    assert_eq!(
        condition(&st, "Ready").unwrap()["reason"],
        "ConfigurationFailed"
    );
    let failed = st["failedResources"].as_array().unwrap();
    assert_eq!(
        (
            failed[0]["kind"].as_str(),
            failed[0]["name"].as_str(),
            failed[0]["reason"].as_str()
        ),
        (Some("L3VNI"), Some("broken"), Some("ValidationFailed"))
    );
    let a = applied.borrow().clone();
    assert!(
        Arc::ptr_eq(a.plan.as_ref().unwrap(), &plan),
        "a skipped resource changes nothing that runs"
    );

    // The static file changes: blue goes, the plan follows.
    std::fs::remove_file(dir.0.join("openpe_blue.yaml")).unwrap();
    let a = wait_applied(&mut applied, "blue removed", |a| {
        a.plan.as_ref().is_some_and(|p| p.l3vnis.len() == 1)
    })
    .await;
    assert_eq!(a.plan.as_ref().unwrap().l3vnis[0].vrf, "red");
}

#[tokio::test]
async fn stage_one_runs_on_node_config_until_the_api_answers() {
    let dir = StaticDir::new(
        "stage1",
        &[
            ("node-config.yaml", "nodeIndex: {index: 7}\n"),
            ("openpe_u.yaml", &format!("underlays:\n  - {UNDERLAY}\n")),
        ],
    );
    let fake = FakeApi::new();
    fake.put(NODES, annotated_node("3"));
    fake.set_down(true);
    let k = start(fake.client(NS), controller(), source(&dir)).await;
    let mut applied = k.applied.clone();
    let a = wait_applied(&mut applied, "stage 1 plan", |a| a.plan.is_some()).await;
    assert_eq!(
        a.plan.as_ref().unwrap().index,
        7,
        "node-config.yaml while the API is down"
    );
    fake.set_down(false);
    let a = wait_applied(&mut applied, "annotated index", |a| {
        a.plan.as_ref().is_some_and(|p| p.index == 3)
    })
    .await;
    assert_eq!(a.generation, 2);
}

fn base64(s: &str) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &x)| acc | (u32::from(x) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test]
async fn rotated_password_secret_rekeys_the_fabric_session() {
    let dir = StaticDir::new("secret", &[]);
    let fake = FakeApi::new();
    fake.put(NODES, annotated_node("0"));
    let spec = UNDERLAY.replace(
        "address: 192.168.11.2}",
        "address: 192.168.11.2, passwordSecret: tor-md5}",
    );
    fake.put(&ours("underlays"), resource("Underlay", "underlay", &spec));
    let secret = |pw: &str| {
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth",
               "metadata": {"name": "tor-md5", "namespace": NS},
               "data": {"password": base64(pw)}})
    };
    fake.put(SECRETS, secret("first-key"));
    let k = start(fake.client(NS), controller(), source(&dir)).await;
    let mut applied = k.applied.clone();
    let key = |a: &AppliedConfig| {
        let plan = a.plan.as_deref()?;
        planned_sessions(plan)
            .into_iter()
            .find(|s| s.role == SessionRole::Fabric)
            .and_then(|s| s.neighbor.peer.password)
    };
    let a = wait_applied(&mut applied, "first key", |a| {
        key(a).as_deref() == Some("first-key")
    })
    .await;
    let text = format!("{a:?}");
    assert!(
        !text.contains("first-key"),
        "Debug output shows no password: {text}"
    );

    fake.put(SECRETS, secret("rotated-key"));
    let b = wait_applied(&mut applied, "rotated key", |a| {
        key(a).as_deref() == Some("rotated-key")
    })
    .await;
    assert_eq!(
        b.generation,
        a.generation + 1,
        "a new key is a new plan: the neighbour is re-added with it"
    );

    // The Secret goes: the Underlay fails its dependency, the running plan (and key) stays.
    fake.delete(SECRETS, "tor-md5");
    let c = wait_applied(&mut applied, "secret gone", |a| {
        !a.failed_resources.is_empty()
    })
    .await;
    assert_eq!(c.failed_resources[0].reason.to_string(), "DependencyFailed");
    assert!(c.failed_resources[0].message.contains("tor-md5 not found"));
    assert!(c.underlay_failed);
    assert!(
        Arc::ptr_eq(c.plan.as_ref().unwrap(), b.plan.as_ref().unwrap()),
        "never an unauthenticated session"
    );
    assert_eq!(key(&c).as_deref(), Some("rotated-key"));
}

/// Upstream's hostconfiguration.go "Underlay / works with node selectors" and "L3Passthrough /
/// works with node selectors": of two Underlays and two L3Passthroughs, the node's plan is made
/// from the one whose `nodeSelector` matches the node's labels; when the node's labels change,
/// the plan follows (the other one applies, the first no longer does).
#[tokio::test(start_paused = true)]
async fn underlay_and_passthrough_node_selectors_choose_what_the_node_plans() {
    let dir = StaticDir::new("selectors", &[]);
    let fake = FakeApi::new();
    fake.put(NODES, annotated_node("0"));
    let ul = |asn: u32, rack: &str| {
        UNDERLAY
            .replacen("asn: 64514", &format!("asn: {asn}"), 1)
            .replacen(
                "{asn:",
                &format!("{{nodeSelector: {{matchLabels: {{rack: {rack}}}}}, asn:"),
                1,
            )
    };
    fake.put(
        &ours("underlays"),
        resource("Underlay", "u-r1", &ul(64514, "r1")),
    );
    fake.put(
        &ours("underlays"),
        resource("Underlay", "u-r2", &ul(64600, "r2")),
    );
    let pt = |host_asn: u32, rack: &str, cidr: &str| {
        format!("{{nodeSelector: {{matchExpressions: [{{key: rack, operator: In, values: [{rack}]}}]}}, hostSession: {{asn: 64514, hostASN: {host_asn}, localCIDR: {{ipv4: {cidr}}}}}}}")
    };
    fake.put(
        &ours("l3passthroughs"),
        resource(
            "L3Passthrough",
            "pt-r1",
            &pt(64515, "r1", "192.169.100.0/24"),
        ),
    );
    fake.put(
        &ours("l3passthroughs"),
        resource(
            "L3Passthrough",
            "pt-r2",
            &pt(64516, "r2", "192.169.101.0/24"),
        ),
    );
    let k = start(fake.client(NS), controller(), source(&dir)).await;
    let mut applied = k.applied.clone();
    let a = wait_applied(&mut applied, "rack r1 plan", |a| a.plan.is_some()).await;
    assert!(
        a.failed_resources.is_empty(),
        "one underlay and one passthrough select the node: {:?}",
        a.failed_resources
    );
    let plan = a.plan.as_ref().unwrap();
    assert_eq!(plan.asn, 64514, "u-r1 (rack r1), not u-r2");
    let passthrough = plan.passthrough.as_ref().expect("a passthrough applies");
    assert_eq!(passthrough.name, "pt-r1", "pt-r1 (rack r1), not pt-r2");

    // The node moves to rack r2: the other underlay and passthrough apply instead.
    let mut moved = annotated_node("0");
    moved["metadata"]["labels"] = json!({"rack": "r2"});
    fake.put(NODES, moved);
    let a = wait_applied(&mut applied, "rack r2 plan", |a| {
        a.plan.as_ref().is_some_and(|p| p.asn == 64600)
    })
    .await;
    assert!(a.failed_resources.is_empty(), "{:?}", a.failed_resources);
    let passthrough = a
        .plan
        .as_ref()
        .unwrap()
        .passthrough
        .as_ref()
        .expect("a passthrough applies");
    assert_eq!(passthrough.name, "pt-r2");

    // A rack no resource selects: nothing of either kind applies.
    let mut away = annotated_node("0");
    away["metadata"]["labels"] = json!({"rack": "r9"});
    fake.put(NODES, away);
    let a = wait_applied(&mut applied, "rack r9: the node's routing withdrawn", |a| {
        a.plan
            .as_ref()
            .is_some_and(|p| p.neighbors.is_empty() && p.underlay_nics.is_empty())
    })
    .await;
    let plan = a.plan.as_ref().unwrap();
    assert!(plan.passthrough.is_none(), "no passthrough selects rack r9");
    assert!(plan.vtep_v4.is_none());
}
