//! Writes this node's `RouterNodeConfigurationStatus` (see [`super::status`]) through the API:
//! creates it (named after the node, owned by the Node so it goes away with it) when missing, then
//! merge-patches its `status` subresource when — and only when — it changed.

use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::{json, Value};

use super::status::{
    build_status, ConfigOutcome, RouterNodeConfigurationStatus, RouterNodeStatus, RuntimeReport,
};

/// The `status` fields, so that a field that became empty is removed (a JSON merge patch only
/// removes what it sets to null).
const STATUS_FIELDS: [&str; 6] = [
    "failedResources",
    "conditions",
    "nodeIndex",
    "bgpSessions",
    "sessionSummary",
    "vrfs",
];

/// The writer of one node's status object.
#[derive(Clone)]
pub struct StatusWriter {
    api: Api<RouterNodeConfigurationStatus>,
    nodes: Api<Node>,
    node_name: String,
}

/// The current time as RFC 3339 with second precision (`metav1.Time`).
pub fn now_rfc3339() -> String {
    let now = k8s_openapi::jiff::Timestamp::now();
    k8s_openapi::jiff::Timestamp::from_second(now.as_second())
        .map(|t| t.to_string())
        .unwrap_or_else(|_| now.to_string())
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// The owner reference to `node`: garbage collection deletes the status with the Node.
pub fn owner_reference(node: &Node) -> OwnerReference {
    OwnerReference {
        api_version: "v1".into(),
        kind: "Node".into(),
        name: node.name_any(),
        uid: node.uid().unwrap_or_default(),
        ..Default::default()
    }
}

impl StatusWriter {
    /// A writer for `node_name`'s status object in `namespace`.
    pub fn new(client: Client, node_name: impl Into<String>, namespace: &str) -> Self {
        StatusWriter {
            api: Api::namespaced(client.clone(), namespace),
            nodes: Api::all(client),
            node_name: node_name.into(),
        }
    }

    async fn get_or_create(&self) -> Result<RouterNodeConfigurationStatus, kube::Error> {
        match self.api.get(&self.node_name).await {
            Ok(existing) => {
                if existing
                    .owner_references()
                    .iter()
                    .any(|o| o.kind == "Node" && o.name == self.node_name)
                {
                    return Ok(existing);
                }
                let node = self.nodes.get(&self.node_name).await?;
                let patch = json!({ "metadata": { "ownerReferences": [owner_reference(&node)] } });
                self.api
                    .patch(
                        &self.node_name,
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await
            }
            Err(e) if is_not_found(&e) => {
                let node = self.nodes.get(&self.node_name).await?;
                let mut obj =
                    RouterNodeConfigurationStatus::new(&self.node_name, Default::default());
                obj.metadata.owner_references = Some(vec![owner_reference(&node)]);
                obj.metadata.labels = Some(
                    [(
                        "app.kubernetes.io/managed-by".to_string(),
                        "perouter".to_string(),
                    )]
                    .into(),
                );
                tracing::info!(node = %self.node_name, "creating RouterNodeConfigurationStatus");
                self.api.create(&PostParams::default(), &obj).await
            }
            Err(e) => Err(e),
        }
    }

    /// Builds the status from `outcome` and `runtime` and writes it if it differs from what the
    /// API holds. Returns the status now in the API.
    pub async fn write(
        &self,
        outcome: &ConfigOutcome,
        runtime: &RuntimeReport,
    ) -> Result<RouterNodeStatus, kube::Error> {
        let existing = self.get_or_create().await?;
        let status = build_status(existing.status.as_ref(), outcome, runtime, &now_rfc3339());
        if existing.status.as_ref() == Some(&status) {
            return Ok(status);
        }
        let mut body = serde_json::to_value(&status).unwrap_or_else(|_| json!({}));
        if let Value::Object(map) = &mut body {
            for field in STATUS_FIELDS {
                map.entry(field).or_insert(Value::Null);
            }
        }
        self.api
            .patch_status(
                &self.node_name,
                &PatchParams::default(),
                &Patch::Merge(&json!({ "status": body })),
            )
            .await?;
        tracing::info!(
            node = %self.node_name,
            failed = status.failed_resources.len(),
            ready = status.conditions.iter().any(|c| c.kind == "Ready" && c.status == "True"),
            "node status updated"
        );
        Ok(status)
    }
}
