//! Node index allocation against the fake API server: two nodes racing for the lowest free index
//! get different ones (optimistic concurrency on the claims ConfigMap), an index once annotated is
//! never changed, and indices annotated by upstream's allocator are respected.

mod k8s_fake;

use k8s_fake::{node, FakeApi, CONFIGMAPS, NODES, NS};
use perouter_agent::k8s::node_index::{ensure_node_index, ANNOTATION, CLAIMS_CONFIGMAP};
use serde_json::json;

fn annotated(fake: &FakeApi, name: &str) -> Option<String> {
    fake.get(NODES, name)?["metadata"]["annotations"][ANNOTATION]
        .as_str()
        .map(String::from)
}

#[tokio::test]
async fn two_nodes_racing_get_distinct_lowest_indices() {
    let fake = FakeApi::new();
    // node-c was indexed by upstream's allocator before the migration.
    let mut c = node("node-c", json!({}));
    c["metadata"]["annotations"] = json!({ANNOTATION: "0"});
    fake.put(NODES, c);
    fake.put(NODES, node("node-a", json!({})));
    fake.put(NODES, node("node-b", json!({})));
    // Both routers read the (absent) claims at the same time, so both first pick index 1.
    fake.race_configmap_gets(2);

    let (ca, cb) = (fake.client(NS), fake.client(NS));
    let (a, b) = tokio::join!(
        ensure_node_index(&ca, "node-a", NS),
        ensure_node_index(&cb, "node-b", NS)
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut got = [a, b];
    got.sort();
    assert_eq!(
        got,
        [1, 2],
        "0 is node-c's; the race is resolved, not duplicated"
    );
    assert!(
        fake.conflicts() >= 1,
        "the loser's write was refused with 409 and retried"
    );
    assert_eq!(annotated(&fake, "node-a"), Some(a.to_string()));
    assert_eq!(annotated(&fake, "node-b"), Some(b.to_string()));
    let claims = fake.get(CONFIGMAPS, CLAIMS_CONFIGMAP).unwrap();
    assert_eq!(claims["data"]["node-a"], json!(a.to_string()));
    assert_eq!(claims["data"]["node-b"], json!(b.to_string()));
    assert_eq!(annotated(&fake, "node-c").as_deref(), Some("0"));

    // Never changed once given: asking again returns the same, without writing.
    let writes_before = fake
        .requests()
        .iter()
        .filter(|r| !r.starts_with("GET"))
        .count();
    assert_eq!(ensure_node_index(&ca, "node-a", NS).await.unwrap(), a);
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| !r.starts_with("GET"))
            .count(),
        writes_before
    );
}

#[tokio::test]
async fn freed_index_is_reused_and_kept_indices_stay() {
    let fake = FakeApi::new();
    for (name, idx) in [("n0", "0"), ("n1", "1"), ("n2", "2")] {
        let mut n = node(name, json!({}));
        n["metadata"]["annotations"] = json!({ANNOTATION: idx});
        fake.put(NODES, n);
    }
    fake.delete(NODES, "n1");
    fake.put(NODES, node("new", json!({})));
    let client = fake.client(NS);
    assert_eq!(
        ensure_node_index(&client, "new", NS).await.unwrap(),
        1,
        "the lowest free index"
    );
    assert_eq!(ensure_node_index(&client, "n2", NS).await.unwrap(), 2);
}

#[tokio::test]
async fn garbage_annotation_is_replaced_and_missing_node_is_an_error() {
    let fake = FakeApi::new();
    let mut n = node("n", json!({}));
    n["metadata"]["annotations"] = json!({ANNOTATION: "not-a-number"});
    fake.put(NODES, n);
    let client = fake.client(NS);
    assert_eq!(ensure_node_index(&client, "n", NS).await.unwrap(), 0);
    assert_eq!(annotated(&fake, "n").as_deref(), Some("0"));
    let err = ensure_node_index(&client, "ghost", NS).await.unwrap_err();
    assert!(err.to_string().contains("ghost not found"), "{err}");
}
