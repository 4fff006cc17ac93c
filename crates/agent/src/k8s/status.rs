//! `RouterNodeConfigurationStatus`: one object per node, named after the node, owned by its Node
//! object, saying whether the node's configuration applied (upstream's
//! `api/v1alpha1/routernodeconfigurationstatus_types.go`), plus what upstream lacks and users ask
//! for (upstream issue #20): the state of every BGP session and the route count of every VRF.
//!
//! This module holds the resource type and the *pure* status builder ([`build_status`]); the
//! driver that writes it through the API is [`super::status_writer`].

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::resources::{FailedResource, ResourceKind};
use crate::config::validate::Validated;
use crate::k8s::schema::required;

/// Condition type: the node's configuration is applied (upstream `ConditionTypeReady`).
pub const CONDITION_READY: &str = "Ready";
/// Condition type: some of it is not (upstream `ConditionTypeDegraded`).
pub const CONDITION_DEGRADED: &str = "Degraded";
/// Reason: everything applied (upstream `ConditionReasonConfigSuccessful`).
pub const REASON_CONFIG_SUCCESSFUL: &str = "ConfigurationSuccessful";
/// Reason: some resources were skipped (upstream `ConditionReasonConfigFailed`).
pub const REASON_CONFIG_FAILED: &str = "ConfigurationFailed";
/// Reason: the underlay was invalid and the running one was kept (upstream
/// `ConditionReasonUnderlayFailed`).
pub const REASON_UNDERLAY_FAILED: &str = "UnderlayFailed";

/// Upstream's limit on `failedResources[].message`.
pub const MAX_MESSAGE_LEN: usize = 500;
/// Upstream's limit on `failedResources[].name` (a DNS subdomain).
pub const MAX_NAME_LEN: usize = 253;

/// The object itself has no fields besides metadata and status (upstream has no `spec`).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "network.openperouter.io",
    version = "v1alpha1",
    kind = "RouterNodeConfigurationStatus",
    plural = "routernodeconfigurationstatuses",
    namespaced,
    no_spec,
    status = "RouterNodeStatus",
    derive = "PartialEq",
    derive = "Default",
    doc = "RouterNodeConfigurationStatus describes a node router state.",
    printcolumn = r#"{"name": "Ready", "type": "string", "description": "Ready", "jsonPath": ".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name": "Degraded", "type": "string", "description": "Degraded", "jsonPath": ".status.conditions[?(@.type==\"Degraded\")].status"}"#,
    printcolumn = r#"{"name": "Sessions", "type": "string", "priority": 1, "jsonPath": ".status.sessionSummary"}"#,
    printcolumn = r#"{"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}"#
)]
pub struct RouterNodeConfigurationStatusFields {}

/// `status` of a [`RouterNodeConfigurationStatus`].
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RouterNodeStatus {
    /// The resources that were skipped on this node, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub failed_resources: Vec<FailedResourceStatus>,
    /// `Ready` and `Degraded` (`metav1.Condition`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The node index this router derived its addresses from (perouter extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_index: Option<u32>,
    /// Every BGP session: fabric neighbours and host sessions (perouter extension).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub bgp_sessions: Vec<BgpSessionStatus>,
    /// `established/total` sessions, for `kubectl get -o wide` (perouter extension).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_summary: Option<String>,
    /// Route counts per VRF, the default table included (perouter extension).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub vrfs: Vec<VrfStatus>,
}

/// One `failedResources` entry (upstream `FailedResource`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = required(&["kind", "name", "reason", "message"]))]
pub struct FailedResourceStatus {
    /// `Underlay`, `L2VNI`, `L3VNI`, `FrrConfiguration` or `L3Passthrough`.
    #[schemars(extend("enum" = ["Underlay", "L2VNI", "L3VNI", "FrrConfiguration", "L3Passthrough"]))]
    pub kind: String,
    /// The resource's `metadata.name`.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// `ValidationFailed`, `DependencyFailed`, `OverlayAttachmentFailed` or `FrrConfigurationFailed`.
    #[schemars(length(min = 1, max = 100), extend("enum" = ["ValidationFailed", "DependencyFailed", "OverlayAttachmentFailed", "FrrConfigurationFailed"]))]
    pub reason: String,
    /// What was wrong, naming the field.
    #[schemars(length(min = 1, max = 500))]
    pub message: String,
}

/// A `metav1.Condition`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = required(&["type", "status", "lastTransitionTime", "reason", "message"]))]
pub struct Condition {
    /// `Ready` or `Degraded`.
    #[serde(rename = "type")]
    #[schemars(length(max = 316))]
    pub kind: String,
    /// `True`, `False` or `Unknown`.
    #[schemars(extend("enum" = ["True", "False", "Unknown"]))]
    pub status: String,
    /// The generation this condition was computed for, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// When `status` last changed (RFC 3339).
    #[schemars(extend("format" = "date-time"))]
    pub last_transition_time: String,
    /// CamelCase machine-readable reason.
    #[schemars(length(min = 1, max = 1024))]
    pub reason: String,
    /// Human-readable details.
    #[schemars(length(max = 32768))]
    pub message: String,
}

/// The state of one BGP session (RFC 4271 §8.2.2 FSM states).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = required(&["vrf", "peer", "state"]))]
pub struct BgpSessionStatus {
    /// `default` for fabric neighbours and the passthrough, else the VRF of the host session.
    pub vrf: String,
    /// The neighbour: an address, an interface (unnumbered) or a listen range.
    pub peer: String,
    /// The neighbour's AS, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer_asn: Option<u32>,
    /// `Idle`, `Connect`, `Active`, `OpenSent`, `OpenConfirm` or `Established`.
    #[schemars(extend("enum" = ["Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"]))]
    pub state: String,
    /// When the session last entered or left `Established` (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    /// Prefixes accepted from the neighbour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefixes_received: Option<u64>,
    /// The last NOTIFICATION or transport error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Route counts of one VRF (or of the default table, named `default`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = required(&["name", "ipv4Routes", "ipv6Routes"]))]
pub struct VrfStatus {
    /// The VRF's name (`default` for the underlay table).
    pub name: String,
    /// Its L3VNI, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vni: Option<u32>,
    /// IPv4 routes in its table.
    #[serde(default)]
    pub ipv4_routes: u64,
    /// IPv6 routes in its table.
    #[serde(default)]
    pub ipv6_routes: u64,
}

/// What the running router reports for the status (filled by the reconcile loop and the BGP
/// speaker; empty until they report).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuntimeReport {
    /// Every session's state.
    pub sessions: Vec<BgpSessionStatus>,
    /// Every VRF's route counts.
    pub vrfs: Vec<VrfStatus>,
}

/// The outcome of one configuration pass on this node: what was skipped, whether the underlay was
/// refused, and an error applying the rest (e.g. the datapath failed), if any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfigOutcome {
    /// Resources skipped (validation, dependencies, secrets, datapath).
    pub failed: Vec<FailedResource>,
    /// The Underlay was present but invalid: the running one was kept.
    pub underlay_failed: bool,
    /// A failure that is not tied to one resource.
    pub error: Option<String>,
    /// The node index in use.
    pub node_index: Option<u32>,
}

impl ConfigOutcome {
    /// The outcome of validation (plus failures found before it, e.g. unresolved
    /// `passwordSecret`s) with the node index in use.
    pub fn from_validated(
        validated: &Validated,
        before: &[FailedResource],
        node_index: Option<u32>,
    ) -> Self {
        let mut failed = before.to_vec();
        failed.extend(validated.failed.iter().cloned());
        ConfigOutcome {
            failed,
            underlay_failed: validated.underlay_failed,
            error: None,
            node_index,
        }
    }
}

fn kind_name(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Underlay => "Underlay",
        ResourceKind::L3Vni => "L3VNI",
        ResourceKind::L2Vni => "L2VNI",
        ResourceKind::L3Passthrough => "L3Passthrough",
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary, marking the cut with `…`.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let ellipsis = '…';
    let mut end = max.saturating_sub(ellipsis.len_utf8());
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    let mut out = s[..end].to_string();
    out.push(ellipsis);
    out
}

/// Sets `cond` in `conditions` the way `apimeta.SetStatusCondition` does: `lastTransitionTime`
/// moves to `now` only when the status changes; reason and message are always updated.
pub fn set_condition(conditions: &mut Vec<Condition>, mut cond: Condition, now: &str) {
    match conditions.iter_mut().find(|c| c.kind == cond.kind) {
        Some(existing) => {
            if existing.status != cond.status {
                existing.status = cond.status;
                existing.last_transition_time = now.to_string();
            }
            existing.reason = cond.reason;
            existing.message = cond.message;
            existing.observed_generation = cond.observed_generation;
        }
        None => {
            cond.last_transition_time = now.to_string();
            conditions.push(cond);
        }
    }
}

fn condition(kind: &str, status: bool, reason: &str, message: &str) -> Condition {
    Condition {
        kind: kind.to_string(),
        status: if status { "True" } else { "False" }.to_string(),
        observed_generation: None,
        last_transition_time: String::new(),
        reason: reason.to_string(),
        message: message.to_string(),
    }
}

/// Builds the status of this node from the outcome of the last configuration pass and what the
/// router reports, keeping the transition times of `previous`'s conditions that did not change
/// (upstream's `buildStatus`). Pure: `now` is the RFC 3339 time of this pass.
pub fn build_status(
    previous: Option<&RouterNodeStatus>,
    outcome: &ConfigOutcome,
    runtime: &RuntimeReport,
    now: &str,
) -> RouterNodeStatus {
    let mut status = RouterNodeStatus {
        conditions: previous.map(|p| p.conditions.clone()).unwrap_or_default(),
        ..RouterNodeStatus::default()
    };
    status.failed_resources = outcome
        .failed
        .iter()
        .map(|f| FailedResourceStatus {
            kind: kind_name(f.kind).to_string(),
            name: truncate(&f.name, MAX_NAME_LEN),
            reason: f.reason.to_string(),
            message: truncate(
                if f.message.is_empty() {
                    "failed"
                } else {
                    &f.message
                },
                MAX_MESSAGE_LEN,
            ),
        })
        .collect();
    let (ready, reason, message) = if outcome.underlay_failed {
        (
            false,
            REASON_UNDERLAY_FAILED,
            "Underlay failed validation, the running underlay was left as-is".to_string(),
        )
    } else if !status.failed_resources.is_empty() {
        (
            false,
            REASON_CONFIG_FAILED,
            "Some resources failed validation, see status.failedResources for details".to_string(),
        )
    } else if let Some(err) = &outcome.error {
        (false, REASON_CONFIG_FAILED, truncate(err, MAX_MESSAGE_LEN))
    } else {
        (
            true,
            REASON_CONFIG_SUCCESSFUL,
            "All configuration applied successfully".to_string(),
        )
    };
    set_condition(
        &mut status.conditions,
        condition(CONDITION_READY, ready, reason, &message),
        now,
    );
    set_condition(
        &mut status.conditions,
        condition(CONDITION_DEGRADED, !ready, reason, &message),
        now,
    );
    status.node_index = outcome.node_index;
    status.bgp_sessions = runtime.sessions.clone();
    status.vrfs = runtime.vrfs.clone();
    if !runtime.sessions.is_empty() {
        let up = runtime
            .sessions
            .iter()
            .filter(|s| s.state == "Established")
            .count();
        status.session_summary = Some(format!("{up}/{}", runtime.sessions.len()));
    }
    status
}

/// The condition of `kind` in `status`, if set.
pub fn find_condition<'a>(status: &'a RouterNodeStatus, kind: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.kind == kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::resources::FailureReason;

    fn failed(kind: ResourceKind, reason: FailureReason) -> FailedResource {
        FailedResource {
            kind,
            name: "x".into(),
            reason,
            message: "spec.vni 0 is outside 1..16777215".into(),
        }
    }

    #[test]
    fn success_is_ready_not_degraded() {
        let s = build_status(
            None,
            &ConfigOutcome::default(),
            &RuntimeReport::default(),
            "2026-01-01T00:00:00Z",
        );
        let ready = find_condition(&s, CONDITION_READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("True", REASON_CONFIG_SUCCESSFUL)
        );
        assert_eq!(
            find_condition(&s, CONDITION_DEGRADED).unwrap().status,
            "False"
        );
        assert!(s.failed_resources.is_empty());
    }

    #[test]
    fn failed_resource_degrades_with_reason() {
        let outcome = ConfigOutcome {
            failed: vec![failed(ResourceKind::L3Vni, FailureReason::ValidationFailed)],
            ..Default::default()
        };
        let s = build_status(None, &outcome, &RuntimeReport::default(), "t0");
        assert_eq!(find_condition(&s, CONDITION_READY).unwrap().status, "False");
        let degraded = find_condition(&s, CONDITION_DEGRADED).unwrap();
        assert_eq!(
            (degraded.status.as_str(), degraded.reason.as_str()),
            ("True", REASON_CONFIG_FAILED)
        );
        assert_eq!(s.failed_resources[0].kind, "L3VNI");
        assert_eq!(s.failed_resources[0].reason, "ValidationFailed");
    }

    #[test]
    fn underlay_failure_has_its_own_reason() {
        let outcome = ConfigOutcome {
            failed: vec![failed(
                ResourceKind::Underlay,
                FailureReason::ValidationFailed,
            )],
            underlay_failed: true,
            ..Default::default()
        };
        let s = build_status(None, &outcome, &RuntimeReport::default(), "t0");
        assert_eq!(
            find_condition(&s, CONDITION_DEGRADED).unwrap().reason,
            REASON_UNDERLAY_FAILED
        );
    }

    #[test]
    fn transition_time_moves_only_on_change() {
        let ok = ConfigOutcome::default();
        let bad = ConfigOutcome {
            error: Some("netlink: EPERM".into()),
            ..Default::default()
        };
        let s1 = build_status(None, &ok, &RuntimeReport::default(), "t1");
        let s2 = build_status(Some(&s1), &ok, &RuntimeReport::default(), "t2");
        assert_eq!(
            find_condition(&s2, CONDITION_READY)
                .unwrap()
                .last_transition_time,
            "t1"
        );
        let s3 = build_status(Some(&s2), &bad, &RuntimeReport::default(), "t3");
        let ready = find_condition(&s3, CONDITION_READY).unwrap();
        assert_eq!(
            (ready.last_transition_time.as_str(), ready.message.as_str()),
            ("t3", "netlink: EPERM")
        );
    }

    #[test]
    fn long_messages_are_cut_to_the_api_limit() {
        let mut f = failed(ResourceKind::L2Vni, FailureReason::DependencyFailed);
        f.message = "é".repeat(400);
        let outcome = ConfigOutcome {
            failed: vec![f],
            ..Default::default()
        };
        let s = build_status(None, &outcome, &RuntimeReport::default(), "t");
        assert!(s.failed_resources[0].message.len() <= MAX_MESSAGE_LEN);
        assert!(s.failed_resources[0].message.ends_with('…'));
    }

    #[test]
    fn sessions_and_vrfs_are_reported() {
        let runtime = RuntimeReport {
            sessions: vec![
                BgpSessionStatus {
                    vrf: "default".into(),
                    peer: "192.168.11.2".into(),
                    state: "Established".into(),
                    ..Default::default()
                },
                BgpSessionStatus {
                    vrf: "red".into(),
                    peer: "192.169.10.2".into(),
                    state: "Active".into(),
                    ..Default::default()
                },
            ],
            vrfs: vec![VrfStatus {
                name: "red".into(),
                vni: Some(100),
                ipv4_routes: 3,
                ipv6_routes: 1,
            }],
        };
        let s = build_status(None, &ConfigOutcome::default(), &runtime, "t");
        assert_eq!(s.session_summary.as_deref(), Some("1/2"));
        assert_eq!(s.vrfs[0].ipv4_routes, 3);
    }
}
