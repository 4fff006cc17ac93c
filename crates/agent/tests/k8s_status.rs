//! `RouterNodeConfigurationStatus` written through the fake API server from real validation
//! results: a valid configuration is Ready, a bad L3VNI degrades it with `ValidationFailed`, an
//! L2VNI whose routing domain is missing gets `DependencyFailed`; the object is owned by the Node,
//! unchanged status is not rewritten, and fixed failures disappear from the status.

mod k8s_fake;

use k8s_fake::{node, ours, FakeApi, NODES, NS};
use perouter_agent::config::resources::{Resource, ResourceKind, ResourceSet, Source};
use perouter_agent::config::types::{L2VniSpec, L3VniSpec, NameRef, RoutingDomain, UnderlaySpec};
use perouter_agent::config::validate::validate;
use perouter_agent::k8s::status::{BgpSessionStatus, ConfigOutcome, RuntimeReport, VrfStatus};
use perouter_agent::k8s::status_writer::StatusWriter;
use serde_json::{json, Value};

fn api() -> Source {
    Source::Api {
        namespace: NS.into(),
    }
}

fn underlay() -> Resource<UnderlaySpec> {
    let spec: UnderlaySpec = serde_yaml::from_str(
        "{asn: 64514, interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: eth1}}], neighbors: [{asn: 64512, address: 192.168.11.2}], tunnelEndpoint: {cidrs: [100.65.0.0/24]}}",
    )
    .unwrap();
    Resource::new(ResourceKind::Underlay, "underlay", api(), spec)
}

fn l3vni(name: &str, vni: i64) -> Resource<L3VniSpec> {
    Resource::new(
        ResourceKind::L3Vni,
        name,
        api(),
        L3VniSpec {
            vrf: name.into(),
            vni,
            ..Default::default()
        },
    )
}

fn l2vni(name: &str, vni: i64, domain: &str) -> Resource<L2VniSpec> {
    let spec = L2VniSpec {
        vni,
        routing_domain: Some(RoutingDomain {
            kind: "L3VNI".into(),
            l3vni: Some(NameRef {
                name: domain.into(),
            }),
            l3vpn: None,
        }),
        ..Default::default()
    };
    Resource::new(ResourceKind::L2Vni, name, api(), spec)
}

fn outcome(set: &ResourceSet) -> ConfigOutcome {
    ConfigOutcome::from_validated(&validate(set), &[], Some(0))
}

fn condition<'a>(status: &'a Value, kind: &str) -> &'a Value {
    status["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .unwrap()
}

fn stored(fake: &FakeApi) -> Value {
    fake.get(&ours("routernodeconfigurationstatuses"), "node-a")
        .expect("status object exists")
}

#[tokio::test]
async fn status_follows_the_configuration() {
    let fake = FakeApi::new();
    fake.put(NODES, node("node-a", json!({})));
    let writer = StatusWriter::new(fake.client(NS), "node-a", NS);

    // A valid configuration.
    let good = ResourceSet {
        underlays: vec![underlay()],
        l3vnis: vec![l3vni("red", 100)],
        l2vnis: vec![l2vni("l2", 110, "red")],
        ..Default::default()
    };
    let runtime = RuntimeReport {
        sessions: vec![BgpSessionStatus {
            vrf: "default".into(),
            peer: "192.168.11.2".into(),
            peer_asn: Some(64512),
            state: "Established".into(),
            ..Default::default()
        }],
        vrfs: vec![VrfStatus {
            name: "red".into(),
            vni: Some(100),
            ipv4_routes: 12,
            ipv6_routes: 3,
        }],
    };
    writer.write(&outcome(&good), &runtime).await.unwrap();
    let obj = stored(&fake);
    assert_eq!(
        obj["metadata"]["ownerReferences"],
        json!([{"apiVersion": "v1", "kind": "Node", "name": "node-a", "uid": "uid-node-a"}])
    );
    let st = &obj["status"];
    assert_eq!(condition(st, "Ready")["status"], "True");
    assert_eq!(condition(st, "Ready")["reason"], "ConfigurationSuccessful");
    assert_eq!(condition(st, "Degraded")["status"], "False");
    assert!(st.get("failedResources").is_none());
    assert_eq!(st["bgpSessions"][0]["state"], "Established");
    assert_eq!(st["vrfs"][0]["ipv4Routes"], 12);
    assert_eq!(st["sessionSummary"], "1/1");

    // The same again: nothing is written.
    let patches = || {
        fake.requests()
            .iter()
            .filter(|r| r.starts_with("PATCH"))
            .count()
    };
    let before = patches();
    writer.write(&outcome(&good), &runtime).await.unwrap();
    assert_eq!(patches(), before, "unchanged status is not rewritten");

    // A bad L3VNI (vni 0): skipped, reported, the node degraded.
    let mut bad = good.clone();
    bad.l3vnis.push(l3vni("broken", 0));
    writer.write(&outcome(&bad), &runtime).await.unwrap();
    let st = stored(&fake)["status"].clone();
    assert_eq!(condition(&st, "Ready")["status"], "False");
    assert_eq!(condition(&st, "Degraded")["status"], "True");
    assert_eq!(condition(&st, "Degraded")["reason"], "ConfigurationFailed");
    let failed = st["failedResources"].as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (
            failed[0]["kind"].as_str(),
            failed[0]["name"].as_str(),
            failed[0]["reason"].as_str()
        ),
        (Some("L3VNI"), Some("broken"), Some("ValidationFailed"))
    );
    assert!(
        failed[0]["message"].as_str().unwrap().contains("vni"),
        "{}",
        failed[0]["message"]
    );

    // An L2VNI whose routing domain does not exist: DependencyFailed.
    let mut orphan = good.clone();
    orphan.l2vnis.push(l2vni("orphan", 120, "nowhere"));
    writer.write(&outcome(&orphan), &runtime).await.unwrap();
    let st = stored(&fake)["status"].clone();
    let failed = st["failedResources"].as_array().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        (
            failed[0]["kind"].as_str(),
            failed[0]["name"].as_str(),
            failed[0]["reason"].as_str()
        ),
        (Some("L2VNI"), Some("orphan"), Some("DependencyFailed"))
    );
    assert_eq!(condition(&st, "Degraded")["status"], "True");

    // An invalid underlay: UnderlayFailed.
    let mut bad_underlay = good.clone();
    bad_underlay.underlays[0].spec.asn = 0;
    writer
        .write(&outcome(&bad_underlay), &runtime)
        .await
        .unwrap();
    let st = stored(&fake)["status"].clone();
    assert_eq!(condition(&st, "Degraded")["reason"], "UnderlayFailed");

    // Fixed: Ready again, the failures gone from the stored object.
    writer.write(&outcome(&good), &runtime).await.unwrap();
    let st = stored(&fake)["status"].clone();
    assert_eq!(condition(&st, "Ready")["status"], "True");
    assert!(
        st.get("failedResources").is_none(),
        "failedResources removed: {st}"
    );
    assert_ne!(condition(&st, "Ready")["lastTransitionTime"], Value::Null);
}

#[tokio::test]
async fn existing_status_without_owner_gets_one() {
    let fake = FakeApi::new();
    fake.put(NODES, node("node-a", json!({})));
    fake.put(
        &ours("routernodeconfigurationstatuses"),
        json!({"apiVersion": "network.openperouter.io/v1alpha1", "kind": "RouterNodeConfigurationStatus", "metadata": {"name": "node-a", "namespace": NS}}),
    );
    let writer = StatusWriter::new(fake.client(NS), "node-a", NS);
    writer
        .write(&ConfigOutcome::default(), &RuntimeReport::default())
        .await
        .unwrap();
    let obj = stored(&fake);
    assert_eq!(obj["metadata"]["ownerReferences"][0]["kind"], "Node");
    assert_eq!(condition(&obj["status"], "Ready")["status"], "True");
}
