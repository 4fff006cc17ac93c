//! Least privilege, checked: every request the controller, the node-index allocator and the status
//! writer make against the fake API server must be allowed by `deploy/rbac.yaml`, and every
//! permission `deploy/rbac.yaml` grants must be used by one of them.

mod k8s_fake;

use std::collections::BTreeSet;
use std::time::Duration;

use k8s_fake::{node, ours, resource, FakeApi, NODES, NS};
use perouter_agent::config::resources::{Resource, ResourceKind, ResourceSet, Source};
use perouter_agent::k8s::controller::{run, ControllerConfig};
use perouter_agent::k8s::mirror::{self, MirrorReport};
use perouter_agent::k8s::node_index::ensure_node_index;
use perouter_agent::k8s::source::Debounce;
use perouter_agent::k8s::status::{ConfigOutcome, RuntimeReport};
use perouter_agent::k8s::status_writer::StatusWriter;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::watch;

/// One permission: (namespace or "" for cluster scope, API group, resource, verb, name or "").
type Permission = (String, String, String, String, String);

fn request_permission(req: &str) -> Permission {
    let (method, uri) = req.split_once(' ').unwrap();
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, rest) = if segs[0] == "api" {
        (String::new(), &segs[2..])
    } else {
        (segs[1].to_string(), &segs[3..])
    };
    let (ns, rest) = if rest[0] == "namespaces" {
        (rest[1].to_string(), &rest[2..])
    } else {
        (String::new(), rest)
    };
    let resource = if rest.len() > 2 {
        format!("{}/{}", rest[0], rest[2])
    } else {
        rest[0].to_string()
    };
    let name = rest.get(1).map(|s| s.to_string()).unwrap_or_default();
    let verb = match method {
        "GET" if name.is_empty() && query.contains("watch=true") => "watch",
        "GET" if name.is_empty() => "list",
        "GET" => "get",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        other => panic!("method {other}"),
    };
    // create never carries a name in RBAC terms.
    let name = if verb == "create" {
        String::new()
    } else {
        name
    };
    (ns, group, resource, verb.to_string(), name)
}

#[derive(Deserialize)]
struct Rule {
    #[serde(rename = "apiGroups")]
    api_groups: Vec<String>,
    resources: Vec<String>,
    verbs: Vec<String>,
    #[serde(rename = "resourceNames", default)]
    resource_names: Vec<String>,
}

/// Every (scope, group, resource, verb, name-restriction) the manifests grant to the service account.
fn granted() -> Vec<(Permission, bool)> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/rbac.yaml"
    ))
    .unwrap();
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v = Value::deserialize(doc).unwrap();
        let scope = match v["kind"].as_str().unwrap() {
            "ClusterRole" => String::new(),
            "Role" => v["metadata"]["namespace"].as_str().unwrap().to_string(),
            _ => continue,
        };
        let rules: Vec<Rule> = serde_json::from_value(v["rules"].clone()).unwrap();
        for r in rules {
            for g in &r.api_groups {
                for res in &r.resources {
                    for verb in &r.verbs {
                        let names = if r.resource_names.is_empty() {
                            vec![String::new()]
                        } else {
                            r.resource_names.clone()
                        };
                        for n in names {
                            out.push((
                                (scope.clone(), g.clone(), res.clone(), verb.clone(), n),
                                false,
                            ));
                        }
                    }
                }
            }
        }
    }
    out
}

/// Waits until the mirror's report satisfies `pred`.
async fn until(report: &mut watch::Receiver<MirrorReport>, pred: impl Fn(&MirrorReport) -> bool) {
    tokio::time::timeout(Duration::from_secs(20), async {
        while !pred(&report.borrow_and_update()) {
            report.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("mirror report: {:?}", report.borrow()));
}

/// One static resource of each kind.
fn static_of_each_kind() -> ResourceSet {
    let file = || Source::File("/etc/perouter/openpe_x.yaml".into());
    fn y<T: serde::de::DeserializeOwned>(s: &str) -> T {
        serde_yaml::from_str(s).unwrap()
    }
    ResourceSet {
        underlays: vec![Resource::new(
            ResourceKind::Underlay,
            "u",
            file(),
            y("{asn: 64514, interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: eth1}}], neighbors: [{asn: 64512, address: 192.168.11.2}], tunnelEndpoint: {cidrs: [100.65.0.0/24]}}"),
        )],
        l3vnis: vec![Resource::new(ResourceKind::L3Vni, "red", file(), y("{vrf: red, vni: 100}"))],
        l2vnis: vec![Resource::new(ResourceKind::L2Vni, "l2", file(), y("{vni: 300}"))],
        passthroughs: vec![Resource::new(
            ResourceKind::L3Passthrough,
            "pt",
            file(),
            y("{hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv4: 192.169.100.0/24}}}"),
        )],
    }
}

#[tokio::test]
async fn rbac_grants_exactly_what_the_controller_uses() {
    let fake = FakeApi::new();
    fake.put(NODES, node("node-a", json!({})));
    fake.put(NODES, node("node-b", json!({})));
    fake.put(
        &ours("l3vnis"),
        resource("L3VNI", "red", "{vrf: red, vni: 100}"),
    );

    // The controller until its first API configuration.
    let (tx, mut rx) = watch::channel(None);
    let cfg = ControllerConfig {
        node_name: "node-a".into(),
        namespace: NS.into(),
        debounce: Debounce {
            quiet: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
        },
    };
    tokio::spawn(run(fake.client(NS), cfg, Default::default(), None, tx));
    tokio::time::timeout(Duration::from_secs(20), async {
        while !rx
            .borrow_and_update()
            .as_ref()
            .is_some_and(|c| c.api_synced)
        {
            rx.changed().await.unwrap();
        }
    })
    .await
    .expect("controller synced");

    // Node indices: the first claim creates the ConfigMap, the second updates it.
    ensure_node_index(&fake.client(NS), "node-a", NS)
        .await
        .unwrap();
    ensure_node_index(&fake.client(NS), "node-b", NS)
        .await
        .unwrap();
    // Status: node-a's is created, node-b's exists without an owner (patched); both get status.
    fake.put(
        &ours("routernodeconfigurationstatuses"),
        json!({"apiVersion": "network.openperouter.io/v1alpha1", "kind": "RouterNodeConfigurationStatus",
               "metadata": {"name": "node-b", "namespace": NS}}),
    );
    for n in ["node-a", "node-b"] {
        StatusWriter::new(fake.client(NS), n, NS)
            .write(&ConfigOutcome::default(), &RuntimeReport::default())
            .await
            .unwrap();
    }

    // The static mirror: one resource of each kind created, each edited by hand (reverted by a
    // replace), then every static file removed (deleted).
    let statics = static_of_each_kind();
    let (static_tx, static_rx) = watch::channel(statics);
    let (report_tx, mut report) = watch::channel(MirrorReport::default());
    tokio::spawn(mirror::run(
        fake.client(NS),
        "node-a".into(),
        NS.into(),
        static_rx,
        report_tx,
    ));
    until(&mut report, |r| r.desired == 4 && r.in_sync == 4).await;
    for plural in ["underlays", "l3vnis", "l2vnis", "l3passthroughs"] {
        for name in fake.names(&ours(plural)) {
            let mut o = fake.get(&ours(plural), &name).unwrap();
            if o["metadata"]["labels"]["openperouter.github.io/source"] == "static" {
                o["spec"]["nodeSelector"] = json!({"matchLabels": {"edited": "by-hand"}});
                fake.put(&ours(plural), o);
            }
        }
    }
    until(&mut report, |r| r.writes >= 8 && r.in_sync == 4).await;
    static_tx.send_replace(ResourceSet::default());
    until(&mut report, |r| r.writes >= 12).await;

    let mut grants = granted();
    let mut denied = BTreeSet::new();
    for req in fake.requests() {
        let want = request_permission(&req);
        let mut ok = false;
        for (g, used) in grants.iter_mut() {
            let scope_ok = g.0.is_empty() || g.0 == want.0;
            let name_ok = g.4.is_empty() || g.4 == want.4;
            if scope_ok
                && name_ok
                && (g.1.as_str(), g.2.as_str(), g.3.as_str())
                    == (want.1.as_str(), want.2.as_str(), want.3.as_str())
            {
                *used = true;
                ok = true;
            }
        }
        if !ok {
            denied.insert(format!("{want:?} for {req}"));
        }
    }
    assert!(
        denied.is_empty(),
        "requests deploy/rbac.yaml does not allow:\n{}",
        denied.into_iter().collect::<Vec<_>>().join("\n")
    );
    let unused: Vec<String> = grants
        .iter()
        .filter(|(_, used)| !used)
        .map(|(g, _)| format!("{g:?}"))
        .collect();
    assert!(
        unused.is_empty(),
        "permissions granted but never used:\n{}",
        unused.join("\n")
    );
}
