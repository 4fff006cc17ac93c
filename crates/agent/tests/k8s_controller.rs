//! The Kubernetes controller against a fake API server (see `k8s_fake`): what reaches the
//! reconcile loop for this node — nodeSelector filtering, a selector or label change moving a VNI
//! on and off the node, the static + API merge (two-stage boot), API loss keeping the last
//! configuration, and passwordSecret resolution with live rotation.
//!
//! Every test runs on tokio's paused clock (the fake API is an in-process tower service): time
//! advances only when every task is idle, so the debounce, the retry backoff and the "nothing
//! was published" windows are exact and independent of the machine's load.

mod k8s_fake;

use std::time::Duration;

use k8s_fake::{node, ours, resource, FakeApi, NODES, NS, SECRETS};
use perouter_agent::config::resources::{
    FailureReason, Resource, ResourceKind, ResourceSet, Source,
};
use perouter_agent::config::types::L3VniSpec;
use perouter_agent::k8s::controller::{run, ControllerConfig};
use perouter_agent::k8s::source::{Debounce, K8sConfig};
use serde_json::json;
use tokio::sync::watch;

const WAIT: Duration = Duration::from_secs(20);

fn cfg(node: &str) -> ControllerConfig {
    ControllerConfig {
        node_name: node.into(),
        namespace: NS.into(),
        debounce: Debounce {
            quiet: Duration::from_millis(50),
            max_delay: Duration::from_millis(500),
        },
    }
}

/// Waits until the published configuration satisfies `pred`, returning it.
async fn wait_for(
    rx: &mut watch::Receiver<Option<K8sConfig>>,
    what: &str,
    pred: impl Fn(&K8sConfig) -> bool,
) -> K8sConfig {
    let res = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(c) = rx.borrow_and_update().clone() {
                if pred(&c) {
                    return c;
                }
            }
            rx.changed().await.expect("controller alive");
        }
    })
    .await;
    match res {
        Ok(c) => c,
        Err(_) => panic!(
            "timed out waiting for: {what}; last config: {:#?}",
            rx.borrow().clone()
        ),
    }
}

fn l3vni_names(c: &K8sConfig) -> Vec<String> {
    let mut v: Vec<String> = c.resources.l3vnis.iter().map(|r| r.name.clone()).collect();
    v.sort();
    v
}

const UNDERLAY: &str = "{asn: 64514, interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: eth1}}], neighbors: [{asn: 64512, address: 192.168.11.2}], tunnelEndpoint: {cidrs: [100.65.0.0/24]}}";

fn start(
    fake: &FakeApi,
    node: &str,
    static_set: ResourceSet,
) -> watch::Receiver<Option<K8sConfig>> {
    let (tx, rx) = watch::channel(None);
    tokio::spawn(run(fake.client(NS), cfg(node), static_set, None, tx));
    rx
}

#[tokio::test(start_paused = true)]
async fn other_nodes_resources_are_ignored_and_selectors_move_vnis() {
    let fake = FakeApi::new();
    fake.put(NODES, node("node-a", json!({"rack": "r1"})));
    fake.put(NODES, node("node-b", json!({"rack": "r2"})));
    fake.put(
        &ours("underlays"),
        resource("Underlay", "underlay", UNDERLAY),
    );
    fake.put(
        &ours("l3vnis"),
        resource("L3VNI", "red", "{vrf: red, vni: 100}"),
    );
    fake.put(
        &ours("l3vnis"),
        resource(
            "L3VNI",
            "blue",
            "{vrf: blue, vni: 200, nodeSelector: {matchLabels: {rack: r2}}}",
        ),
    );
    fake.put(
        &ours("l2vnis"),
        resource("L2VNI", "l2-r2", "{vni: 110, nodeSelector: {matchExpressions: [{key: rack, operator: In, values: [r2]}]}}"),
    );
    let mut rx = start(&fake, "node-a", ResourceSet::default());

    let c = wait_for(&mut rx, "first API configuration", |c| c.api_synced).await;
    assert_eq!(l3vni_names(&c), ["red"], "blue selects rack r2 only");
    assert!(c.resources.l2vnis.is_empty(), "l2-r2 selects rack r2 only");
    assert_eq!(c.resources.underlays.len(), 1);
    assert_eq!(
        c.resources.underlays[0].source,
        Source::Api {
            namespace: NS.into()
        }
    );
    assert_eq!(c.node_labels.get("rack").map(String::as_str), Some("r1"));

    // The node moves to rack r2: blue and l2-r2 come to it.
    fake.put(NODES, node("node-a", json!({"rack": "r2"})));
    let c = wait_for(&mut rx, "blue on node-a", |c| {
        l3vni_names(c) == ["blue", "red"]
    })
    .await;
    assert_eq!(c.resources.l2vnis.len(), 1);

    // blue's selector changes to rack r3: it leaves the node.
    fake.put(
        &ours("l3vnis"),
        resource(
            "L3VNI",
            "blue",
            "{vrf: blue, vni: 200, nodeSelector: {matchLabels: {rack: r3}}}",
        ),
    );
    wait_for(&mut rx, "blue off node-a", |c| l3vni_names(c) == ["red"]).await;

    // Deleting red removes it.
    fake.delete(&ours("l3vnis"), "red");
    wait_for(&mut rx, "red deleted", |c| c.resources.l3vnis.is_empty()).await;
}

#[tokio::test(start_paused = true)]
async fn irrelevant_changes_emit_nothing() {
    let fake = FakeApi::new();
    fake.put(NODES, node("node-a", json!({"rack": "r1"})));
    fake.put(
        &ours("l3vnis"),
        resource("L3VNI", "red", "{vrf: red, vni: 100}"),
    );
    let mut rx = start(&fake, "node-a", ResourceSet::default());
    wait_for(&mut rx, "synced", |c| c.api_synced).await;
    rx.borrow_and_update();
    // Another node's churn and a resource for another rack change nothing here.
    for i in 0..20 {
        fake.put(NODES, node("node-b", json!({"rack": format!("r{i}")})));
    }
    fake.put(
        &ours("l3vnis"),
        resource(
            "L3VNI",
            "blue",
            "{vrf: blue, vni: 200, nodeSelector: {matchLabels: {rack: r9}}}",
        ),
    );
    let changed = tokio::time::timeout(Duration::from_millis(1500), rx.changed()).await;
    assert!(
        changed.is_err(),
        "no configuration was published: {:?}",
        rx.borrow().as_ref().map(l3vni_names)
    );
}

fn static_l3vni() -> ResourceSet {
    let spec = L3VniSpec {
        vrf: "static".into(),
        vni: 900,
        ..Default::default()
    };
    ResourceSet {
        l3vnis: vec![Resource::new(
            ResourceKind::L3Vni,
            "static-vni",
            Source::File("/var/lib/openperouter/configs/openpe_vni.yaml".into()),
            spec,
        )],
        ..Default::default()
    }
}

#[tokio::test(start_paused = true)]
async fn static_first_then_api_and_api_loss_keeps_configuration() {
    let fake = FakeApi::new();
    fake.put(NODES, node("node-a", json!({})));
    fake.put(
        &ours("l3vnis"),
        resource("L3VNI", "red", "{vrf: red, vni: 100}"),
    );
    // A CR mirroring a static file (upstream labels them so): not merged twice.
    let mut mirror = resource("L3VNI", "static-vni", "{vrf: static, vni: 900}");
    mirror["metadata"]["labels"] = json!({"openperouter.github.io/source": "static"});
    fake.put(&ours("l3vnis"), mirror);
    fake.set_down(true);

    // Stage 1: the API is unreachable; the static configuration applies at once.
    let mut rx = start(&fake, "node-a", static_l3vni());
    let c = wait_for(&mut rx, "static configuration", |_| true).await;
    assert!(!c.api_synced);
    assert_eq!(l3vni_names(&c), ["static-vni"]);

    // Stage 2: the API comes up; its resources join the static ones.
    fake.set_down(false);
    let c = wait_for(&mut rx, "static + API", |c| c.api_synced).await;
    assert_eq!(l3vni_names(&c), ["red", "static-vni"]);
    assert!(
        matches!(c.resources.l3vnis[0].source, Source::File(_)),
        "static resources come first"
    );

    // The API goes away: nothing is torn down, while the controller keeps retrying (at least
    // three failed watches during the outage, counted from its start).
    let watches = || {
        fake.requests()
            .iter()
            .filter(|r| r.contains("watch=true"))
            .count()
    };
    let before = watches();
    fake.set_down(true);
    tokio::time::timeout(WAIT, async {
        while watches() < before + 3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the controller retries its watches during the outage");
    let c = rx.borrow().clone().unwrap();
    assert_eq!(l3vni_names(&c), ["red", "static-vni"]);
    assert!(
        !rx.has_changed().unwrap(),
        "nothing published during the outage"
    );

    // While it was away red was deleted: the relist after recovery notices.
    fake.set_down(false);
    fake.delete(&ours("l3vnis"), "red");
    let c = wait_for(&mut rx, "relist after recovery", |c| {
        l3vni_names(c) == ["static-vni"]
    })
    .await;
    assert!(c.api_synced);
}

#[tokio::test(start_paused = true)]
async fn password_secret_flows_into_the_neighbor_and_rotates() {
    let fake = FakeApi::new();
    fake.put(NODES, node("node-a", json!({})));
    let spec = UNDERLAY.replace(
        "address: 192.168.11.2}",
        "address: 192.168.11.2, passwordSecret: tor-md5}",
    );
    fake.put(&ours("underlays"), resource("Underlay", "underlay", &spec));
    let secret = |pw: &str| {
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/basic-auth",
               "metadata": {"name": "tor-md5", "namespace": NS},
               "data": {"username": "cGVyb3V0ZXI=", "password": base64(pw)}})
    };
    fake.put(SECRETS, secret("first-key"));
    // An Opaque Secret is never watched (field selector type=kubernetes.io/basic-auth).
    fake.put(SECRETS, json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": "other", "namespace": NS}, "data": {}}));
    let mut rx = start(&fake, "node-a", ResourceSet::default());
    let password = |c: &K8sConfig| {
        c.resources
            .underlays
            .first()
            .and_then(|u| u.spec.neighbors[0].password.clone())
    };

    let c = wait_for(&mut rx, "password resolved", |c| c.api_synced).await;
    assert_eq!(password(&c).as_deref(), Some("first-key"));
    assert!(c.failed.is_empty());

    fake.put(SECRETS, secret("rotated-key"));
    wait_for(&mut rx, "password rotated", |c| {
        password(c).as_deref() == Some("rotated-key")
    })
    .await;

    fake.delete(SECRETS, "tor-md5");
    let c = wait_for(&mut rx, "secret gone", |c| !c.failed.is_empty()).await;
    assert_eq!(password(&c), None);
    assert_eq!(c.failed[0].reason, FailureReason::DependencyFailed);
    assert!(
        c.failed[0].message.contains("tor-md5 not found"),
        "{}",
        c.failed[0].message
    );
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.contains("fieldSelector=type%3Dkubernetes.io%2Fbasic-auth")));
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

#[tokio::test(start_paused = true)]
async fn static_file_changes_are_picked_up_beside_the_api() {
    let fake = FakeApi::new();
    fake.put(NODES, node("node-a", json!({})));
    fake.put(
        &ours("l3vnis"),
        resource("L3VNI", "red", "{vrf: red, vni: 100}"),
    );
    let (static_tx, static_rx) = watch::channel(ResourceSet::default());
    let (tx, mut rx) = watch::channel(None);
    tokio::spawn(run(
        fake.client(NS),
        cfg("node-a"),
        ResourceSet::default(),
        Some(static_rx),
        tx,
    ));
    wait_for(&mut rx, "API only", |c| {
        c.api_synced && l3vni_names(c) == ["red"]
    })
    .await;
    static_tx.send_replace(static_l3vni());
    let c = wait_for(&mut rx, "static added", |c| {
        l3vni_names(c) == ["red", "static-vni"]
    })
    .await;
    assert!(matches!(c.resources.l3vnis[0].source, Source::File(_)));
    static_tx.send_replace(ResourceSet::default());
    wait_for(&mut rx, "static removed", |c| l3vni_names(c) == ["red"]).await;
}
