//! The node index: the small integer every per-node address derives from (VTEP = host #index of
//! the tunnel pool, router ID = host #(index+1), host-side veth = #(index+2)). Kubernetes mode
//! keeps it in the Node annotation `openpe.io/nodeindex`, as upstream does, so a cluster moving
//! from OpenPERouter keeps every address.
//!
//! Allocation: the lowest index no other node holds. Upstream runs one central allocator; here
//! every router allocates its own, so two nodes booting together could pick the same index. The
//! claim is therefore serialised through one ConfigMap (`perouter-node-index`, node name → index)
//! updated with optimistic concurrency: the write carries the `resourceVersion` that was read, the
//! API server refuses it with 409 Conflict if another node wrote first, and the loser re-reads and
//! picks again. Only then is the annotation written (itself guarded by the Node's
//! `resourceVersion`). An index once given is never changed: a valid annotation is always kept.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Node};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;

/// The annotation holding a node's index (upstream `OpenpeNodeIndex`).
pub const ANNOTATION: &str = "openpe.io/nodeindex";
/// The ConfigMap that serialises claims.
pub const CLAIMS_CONFIGMAP: &str = "perouter-node-index";
/// How many conflicting rounds are retried before giving up (the caller retries later).
pub const MAX_ATTEMPTS: u32 = 16;

/// Errors of allocation.
#[derive(Debug, thiserror::Error)]
pub enum NodeIndexError {
    /// The API refused or failed a request.
    #[error("Kubernetes API: {0}")]
    Api(#[from] kube::Error),
    /// This node's Node object does not exist.
    #[error("node {0} not found")]
    NodeNotFound(String),
    /// Every attempt lost a race.
    #[error("gave up after {0} conflicting attempts")]
    TooManyConflicts(u32),
}

/// Parses an annotation value: a non-negative decimal integer that fits a u32.
pub fn parse_index(value: &str) -> Option<u32> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

/// The index annotated on `node`, if valid.
pub fn annotated_index(node: &Node) -> Option<u32> {
    node.annotations()
        .get(ANNOTATION)
        .and_then(|v| parse_index(v))
}

/// The lowest index not in `used`.
pub fn lowest_free(used: &BTreeSet<u32>) -> u32 {
    let mut candidate = 0u32;
    for &u in used {
        if u == candidate {
            candidate = candidate.saturating_add(1);
        } else if u > candidate {
            break;
        }
    }
    candidate
}

/// The decision for `me`, from every Node and the claims ConfigMap's data. Pure.
///
/// - a valid annotation on `me` wins;
/// - else a claim for `me` that no other node holds (a previous attempt claimed it and stopped
///   before annotating);
/// - else the lowest index neither annotated on another node nor claimed by another existing node.
///
/// Returns the index and the claims to write (`None` when they need no change). Claims of nodes
/// that no longer exist are dropped, which frees their index.
pub fn decide(
    me: &str,
    nodes: &[Node],
    claims: &BTreeMap<String, String>,
) -> (u32, Option<BTreeMap<String, String>>) {
    let existing: BTreeSet<String> = nodes.iter().map(|n| n.name_any()).collect();
    let mut used = BTreeSet::new();
    for n in nodes.iter().filter(|n| n.name_any() != me) {
        if let Some(i) = annotated_index(n) {
            used.insert(i);
        }
    }
    for (node, v) in claims {
        if node != me && existing.contains(node) {
            if let Some(i) = parse_index(v) {
                used.insert(i);
            }
        }
    }
    let mine = nodes
        .iter()
        .find(|n| n.name_any() == me)
        .and_then(annotated_index);
    let claimed = claims
        .get(me)
        .and_then(|v| parse_index(v))
        .filter(|i| !used.contains(i));
    let index = mine.or(claimed).unwrap_or_else(|| lowest_free(&used));
    let mut wanted: BTreeMap<String, String> = claims
        .iter()
        .filter(|(n, _)| existing.contains(*n))
        .map(|(n, v)| (n.clone(), v.clone()))
        .collect();
    wanted.insert(me.to_string(), index.to_string());
    let write = (&wanted != claims).then_some(wanted);
    (index, write)
}

fn is_conflict(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 409)
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// Returns this node's index, allocating and annotating it if it has none. Safe against other
/// nodes allocating at the same time (see the module documentation).
pub async fn ensure_node_index(
    client: &Client,
    node_name: &str,
    namespace: &str,
) -> Result<u32, NodeIndexError> {
    let nodes: Api<Node> = Api::all(client.clone());
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    for attempt in 1..=MAX_ATTEMPTS {
        let node = match nodes.get(node_name).await {
            Ok(n) => n,
            Err(e) if is_not_found(&e) => {
                return Err(NodeIndexError::NodeNotFound(node_name.into()))
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(index) = annotated_index(&node) {
            tracing::debug!(node = node_name, index, "node index already annotated");
            return Ok(index);
        }
        let all = nodes.list(&ListParams::default()).await?.items;
        let claims_map = match maps.get(CLAIMS_CONFIGMAP).await {
            Ok(cm) => Some(cm),
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(e.into()),
        };
        let claims = claims_map
            .as_ref()
            .and_then(|c| c.data.clone())
            .unwrap_or_default();
        let (index, write) = decide(node_name, &all, &claims);
        if let Some(data) = write {
            let result = match claims_map {
                // The resourceVersion read above travels with the update: a concurrent writer
                // makes it fail with 409.
                Some(mut cm) => {
                    cm.data = Some(data);
                    maps.replace(CLAIMS_CONFIGMAP, &PostParams::default(), &cm)
                        .await
                        .map(|_| ())
                }
                None => {
                    let mut cm = ConfigMap::default();
                    cm.metadata.name = Some(CLAIMS_CONFIGMAP.into());
                    cm.metadata.namespace = Some(namespace.into());
                    cm.data = Some(data);
                    maps.create(&PostParams::default(), &cm).await.map(|_| ())
                }
            };
            match result {
                Ok(()) => {}
                Err(e) if is_conflict(&e) => {
                    tracing::info!(
                        node = node_name,
                        attempt,
                        index,
                        "node index claim lost a race; retrying"
                    );
                    tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                    continue;
                }
                Err(e) => return Err(e.into()),
            }
        }
        // Guarded by the Node's resourceVersion: never overwrite an index someone else annotated
        // in the meantime (e.g. upstream's allocator during a migration).
        let patch = json!({
            "metadata": {
                "resourceVersion": node.resource_version(),
                "annotations": { ANNOTATION: index.to_string() },
            }
        });
        match nodes
            .patch(node_name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => {
                tracing::info!(node = node_name, index, "node index allocated");
                return Ok(index);
            }
            Err(e) if is_conflict(&e) => {
                tracing::info!(
                    node = node_name,
                    attempt,
                    "node changed while annotating; retrying"
                );
                continue;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(NodeIndexError::TooManyConflicts(MAX_ATTEMPTS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::api::ObjectMeta;

    fn node(name: &str, index: Option<&str>) -> Node {
        Node {
            metadata: ObjectMeta {
                name: Some(name.into()),
                annotations: index.map(|i| [(ANNOTATION.to_string(), i.to_string())].into()),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn lowest_free_fills_holes() {
        assert_eq!(lowest_free(&BTreeSet::new()), 0);
        assert_eq!(lowest_free(&[0, 1, 3].into()), 2);
        assert_eq!(lowest_free(&[1, 2].into()), 0);
        assert_eq!(lowest_free(&[0, 1, 2].into()), 3);
    }

    #[test]
    fn parse_rejects_garbage() {
        assert_eq!(parse_index("7"), Some(7));
        for bad in ["", "-1", "+1", "1.0", "x", "99999999999"] {
            assert_eq!(parse_index(bad), None, "{bad}");
        }
    }

    #[test]
    fn existing_annotation_is_never_changed() {
        let nodes = [node("a", Some("5")), node("b", Some("5"))];
        assert_eq!(decide("a", &nodes, &BTreeMap::new()).0, 5);
    }

    #[test]
    fn lowest_free_skips_annotations_and_live_claims() {
        let nodes = [
            node("a", Some("0")),
            node("b", None),
            node("c", None),
            node("me", Some("bogus")),
        ];
        let claims = [
            ("b".to_string(), "1".to_string()),
            ("gone".to_string(), "2".to_string()),
        ]
        .into();
        let (index, write) = decide("me", &nodes, &claims);
        assert_eq!(
            index, 2,
            "0 annotated, 1 claimed by b, 2 freed by a deleted node"
        );
        let write = write.unwrap();
        assert_eq!(write.get("me").map(String::as_str), Some("2"));
        assert!(!write.contains_key("gone"));
    }

    #[test]
    fn own_claim_is_reused() {
        let nodes = [node("a", None), node("me", None)];
        let claims = [("me".to_string(), "3".to_string())].into();
        assert_eq!(decide("me", &nodes, &claims), (3, None));
    }
}
