//! Kubernetes mode: this node's `RouterNodeConfigurationStatus` kept current. After every
//! published [`AppliedConfig`] and every `period` (30 s by default), the status task asks the
//! running router for a [`RuntimeReport`] (BGP session states from the speaker, per-VRF route
//! counts from the routing snapshot) and writes the status through
//! [`crate::k8s::status_writer::StatusWriter`], which patches only when something changed.
//!
//! The report itself is built by the pure [`runtime_report`]; the outcome of the configuration
//! pass by the pure [`config_outcome`].

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use perouter_bgp::config::{NeighborTarget, RemoteAs};
use perouter_bgp::fsm::State;
use perouter_bgp::speaker::PeerStatus;
use tokio::sync::watch;
use tracing::{debug, warn};

use crate::api::BoxFuture;
use crate::config::resources::FailedResource;
use crate::k8s::status::{BgpSessionStatus, ConfigOutcome, RuntimeReport, VrfStatus};
use crate::k8s::status_writer::StatusWriter;
use crate::plan::NodePlan;

use super::node_config::AppliedConfig;
use super::routing::RoutingSnapshot;
use super::sessions::{PlannedSession, SessionRole};

/// The default period of status refreshes (session states and route counts move without a
/// configuration change).
pub const DEFAULT_PERIOD: Duration = Duration::from_secs(30);

/// The name of the default (underlay) table in `status.vrfs` and `status.bgpSessions`.
pub const DEFAULT_VRF: &str = "default";

/// What the status task asks of the running router.
pub trait RuntimeProbe: Send + Sync {
    /// Session states and route counts, now.
    fn report(&self) -> BoxFuture<'_, RuntimeReport>;
    /// The datapath's last error, if its last reconcile pass failed.
    fn datapath_error(&self) -> Option<String>;
    /// The datapath's failed operations, attributed to their resources
    /// (`OverlayAttachmentFailed`).
    fn datapath_failures(&self) -> Vec<FailedResource> {
        Vec::new()
    }
}

/// Where the runtime publishes its probe once the router runs (the status is written before
/// that too: a configuration that cannot be planned must still be reported).
pub type ProbeSlot = Arc<OnceLock<Arc<dyn RuntimeProbe>>>;

/// The outcome of the last configuration pass as the status reports it: the skipped resources
/// (unresolved `passwordSecret`s first), an invalid underlay, and an error that is not tied to
/// one resource — the plan could not be made, a static file could not be used, or the datapath
/// failed.
pub fn config_outcome(applied: &AppliedConfig, datapath_error: Option<String>) -> ConfigOutcome {
    let error = applied
        .plan_error
        .clone()
        .or_else(|| {
            applied
                .file_errors
                .first()
                .map(|e| format!("{}: {}", e.path.display(), e.message))
        })
        .or_else(|| datapath_error.map(|e| format!("datapath: {e}")));
    ConfigOutcome {
        failed: applied.failed_resources.clone(),
        underlay_failed: applied.underlay_failed,
        error,
        node_index: applied.plan.as_ref().map(|p| p.index),
    }
}

fn state_name(s: State) -> &'static str {
    match s {
        State::Idle => "Idle",
        State::Connect => "Connect",
        State::Active => "Active",
        State::OpenSent => "OpenSent",
        State::OpenConfirm => "OpenConfirm",
        State::Established => "Established",
    }
}

fn target_name(t: &NeighborTarget) -> String {
    match t {
        NeighborTarget::Address(a) => a.to_string(),
        NeighborTarget::Interface(i) => i.clone(),
        NeighborTarget::ListenRange(r) => r.to_string(),
    }
}

/// RFC 3339 at second precision (`metav1.Time`).
fn rfc3339(t: SystemTime) -> Option<String> {
    let secs = t.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs();
    let secs = i64::try_from(secs).ok()?;
    k8s_openapi::jiff::Timestamp::from_second(secs)
        .ok()
        .map(|t| t.to_string())
}

/// Builds the runtime half of the status from what the speaker and the routing task report:
/// one entry per live session (a dynamic neighbour's each), plus one per planned neighbour that
/// has none yet (`Active` for a listen range waiting for peers, `Idle` otherwise); one entry per
/// VRF of the plan and per VRF table the RIB holds, and `default` for the underlay table.
/// Pure: `now` is the wall-clock time of the snapshot, used for `since`.
pub fn runtime_report(
    plan: Option<&NodePlan>,
    sessions: &[PlannedSession],
    peers: &[PeerStatus],
    routing: &RoutingSnapshot,
    now: SystemTime,
) -> RuntimeReport {
    let by_target: HashMap<&NeighborTarget, &PlannedSession> =
        sessions.iter().map(|s| (&s.neighbor.target, s)).collect();
    let vrf_of = |s: Option<&&PlannedSession>| match s.map(|s| &s.role) {
        Some(SessionRole::Host { vrf, .. }) => vrf.clone(),
        _ => DEFAULT_VRF.to_string(),
    };
    let asn_of = |s: Option<&&PlannedSession>| match s.map(|s| &s.neighbor.peer.remote_as) {
        Some(RemoteAs::Number(n)) => Some(*n),
        _ => None,
    };
    let mut out = Vec::new();
    for p in peers {
        let planned = by_target.get(&p.target);
        let c = &p.session.counters;
        let established = p.session.state == State::Established;
        let last_error = c
            .last_notification_received
            .as_ref()
            .map(|n| format!("received NOTIFICATION: {n}"))
            .or_else(|| {
                c.last_notification_sent
                    .as_ref()
                    .map(|n| format!("sent NOTIFICATION: {n}"))
            })
            .or_else(|| c.last_error.clone());
        out.push(BgpSessionStatus {
            vrf: vrf_of(planned),
            peer: match &p.target {
                NeighborTarget::Interface(i) => i.clone(),
                _ => p.remote.ip().to_string(),
            },
            peer_asn: asn_of(planned),
            state: state_name(p.session.state).to_string(),
            since: c
                .uptime
                .filter(|_| established)
                .and_then(|up| now.checked_sub(up))
                .and_then(rfc3339),
            prefixes_received: c.prefixes_current,
            last_error,
        });
    }
    for s in sessions {
        if peers.iter().any(|p| p.target == s.neighbor.target) {
            continue;
        }
        let listening = matches!(s.neighbor.target, NeighborTarget::ListenRange(_));
        out.push(BgpSessionStatus {
            vrf: vrf_of(Some(&s)),
            peer: target_name(&s.neighbor.target),
            peer_asn: asn_of(Some(&s)),
            state: if listening { "Active" } else { "Idle" }.to_string(),
            ..Default::default()
        });
    }
    out.sort_by(|a, b| (&a.vrf, &a.peer).cmp(&(&b.vrf, &b.peer)));

    let mut vrfs: BTreeMap<String, VrfStatus> = BTreeMap::new();
    let mut count = |name: &str, vni: Option<u32>, prefixes: &mut dyn Iterator<Item = bool>| {
        let e = vrfs.entry(name.to_string()).or_insert_with(|| VrfStatus {
            name: name.to_string(),
            ..Default::default()
        });
        e.vni = e.vni.or(vni);
        for v4 in prefixes {
            if v4 {
                e.ipv4_routes += 1;
            } else {
                e.ipv6_routes += 1;
            }
        }
    };
    count(
        DEFAULT_VRF,
        None,
        &mut routing
            .default_table
            .iter()
            .map(|r| r.prefix.addr().is_ipv4()),
    );
    if let Some(plan) = plan {
        for l in &plan.l3vnis {
            count(&l.vrf, Some(l.vni), &mut std::iter::empty());
        }
    }
    for (name, routes) in &routing.vrfs {
        count(
            name,
            None,
            &mut routes.iter().map(|r| r.prefix.addr().is_ipv4()),
        );
    }
    // The default table first, then the VRFs by name.
    let mut vrfs: Vec<VrfStatus> = vrfs.into_values().collect();
    vrfs.sort_by_key(|v| (v.name != DEFAULT_VRF, v.name.clone()));
    RuntimeReport {
        sessions: out,
        vrfs,
    }
}

/// Writes the status after every change of `applied` and every `period`, until `applied`'s
/// sender is gone. A failed write is logged and retried (2 s doubling to `period`); the runtime
/// report is empty until `probe` is filled.
pub async fn run_status(
    writer: StatusWriter,
    mut applied: watch::Receiver<Arc<AppliedConfig>>,
    probe: ProbeSlot,
    period: Duration,
) {
    let min_retry = Duration::from_secs(2).min(period);
    let mut wait = Duration::ZERO;
    let mut failures = 0u32;
    loop {
        tokio::select! {
            changed = applied.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(wait) => {}
        }
        let current = applied.borrow_and_update().clone();
        let (report, dp_error, dp_failed) = match probe.get() {
            Some(p) => (p.report().await, p.datapath_error(), p.datapath_failures()),
            None => (RuntimeReport::default(), None, Vec::new()),
        };
        let mut outcome = config_outcome(&current, dp_error);
        outcome.failed.extend(dp_failed);
        match writer.write(&outcome, &report).await {
            Ok(status) => {
                if failures > 0 {
                    warn!(after = failures, "node status written again");
                }
                debug!(
                    conditions = status.conditions.len(),
                    sessions = status.bgp_sessions.len(),
                    "node status refreshed"
                );
                failures = 0;
                wait = period;
            }
            Err(e) => {
                failures += 1;
                wait = (min_retry * 2u32.saturating_pow(failures.min(8) - 1)).min(period);
                warn!(error = %e, retry_in = ?wait, "cannot write the node status");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::path::PathBuf;

    use perouter_bgp::config::{NeighborConfig, PeerConfig};
    use perouter_bgp::session::{Counters, SessionStatus};
    use perouter_bgp::speaker::PeerId;

    use crate::config::resources::{FailedResource, FailureReason, ResourceKind};
    use crate::config::static_files::FileError;
    use crate::runtime::routing::VrfRouteView;

    fn planned(role: SessionRole, target: NeighborTarget, asn: u32) -> PlannedSession {
        PlannedSession {
            role,
            vrf: None,
            neighbor: NeighborConfig {
                target,
                limit: None,
                peer: PeerConfig::new(RemoteAs::Number(asn)),
            },
        }
    }

    fn peer(
        id: u32,
        target: NeighborTarget,
        remote: &str,
        state: State,
        counters: Counters,
    ) -> PeerStatus {
        let remote: SocketAddr = remote.parse().unwrap();
        PeerStatus {
            peer: PeerId(id),
            target,
            remote,
            session: SessionStatus {
                state,
                counters,
                remote: Some(remote),
                local: None,
                send_queue_bytes: 0,
                send_stalled_since: None,
                outbox_depth: 0,
                negotiated: None,
                taken_at: None,
            },
        }
    }

    fn route(p: &str) -> VrfRouteView {
        VrfRouteView {
            prefix: p.parse().unwrap(),
            next_hops: vec![],
        }
    }

    #[test]
    fn sessions_are_named_by_vrf_and_unstarted_ones_are_listed() {
        let fabric = NeighborTarget::Address("192.168.11.2".parse().unwrap());
        let host = NeighborTarget::Address("192.169.10.2".parse().unwrap());
        let range = NeighborTarget::ListenRange("10.9.0.0/24".parse().unwrap());
        let sessions = vec![
            planned(SessionRole::Fabric, fabric.clone(), 64512),
            planned(
                SessionRole::Host {
                    vrf: "red".into(),
                    vni: 100,
                },
                host.clone(),
                64515,
            ),
            planned(SessionRole::Fabric, range, 64600),
        ];
        let mut up = Counters::default();
        up.uptime = Some(Duration::from_secs(90));
        up.prefixes_current = Some(7);
        let mut down = Counters::default();
        down.last_error = Some("connection refused".into());
        let peers = vec![
            peer(1, fabric, "192.168.11.2:179", State::Established, up),
            peer(2, host, "192.169.10.2:179", State::Active, down),
        ];
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_690); // 2026-01-01T00:01:30Z
        let r = runtime_report(None, &sessions, &peers, &RoutingSnapshot::default(), now);
        let rows: Vec<(&str, &str, &str, Option<u32>)> = r
            .sessions
            .iter()
            .map(|s| {
                (
                    s.vrf.as_str(),
                    s.peer.as_str(),
                    s.state.as_str(),
                    s.peer_asn,
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                ("default", "10.9.0.0/24", "Active", Some(64600)),
                ("default", "192.168.11.2", "Established", Some(64512)),
                ("red", "192.169.10.2", "Active", Some(64515)),
            ]
        );
        assert_eq!(r.sessions[1].since.as_deref(), Some("2026-01-01T00:00:00Z"));
        assert_eq!(r.sessions[1].prefixes_received, Some(7));
        assert_eq!(r.sessions[2].since, None, "not Established: no since");
        assert_eq!(
            r.sessions[2].last_error.as_deref(),
            Some("connection refused")
        );
    }

    #[test]
    fn vrf_routes_are_counted_per_family() {
        let mut snap = RoutingSnapshot::default();
        snap.vrfs.insert(
            "red".into(),
            vec![
                route("10.1.0.0/24"),
                route("10.2.0.0/24"),
                route("fd00::/64"),
            ],
        );
        snap.vrfs.insert("blue".into(), vec![]);
        snap.default_table = vec![route("100.65.0.2/32")];
        let r = runtime_report(None, &[], &[], &snap, SystemTime::now());
        let rows: Vec<(&str, u64, u64)> = r
            .vrfs
            .iter()
            .map(|v| (v.name.as_str(), v.ipv4_routes, v.ipv6_routes))
            .collect();
        assert_eq!(rows, [("default", 1, 0), ("blue", 0, 0), ("red", 2, 1)]);
    }

    fn applied() -> AppliedConfig {
        AppliedConfig {
            plan: None,
            failed_resources: vec![],
            file_errors: vec![],
            plan_error: None,
            underlay_failed: false,
            files: vec![],
            generation: 0,
            ..Default::default()
        }
    }

    #[test]
    fn outcome_reports_plan_file_and_datapath_errors_in_that_order() {
        let mut a = applied();
        assert_eq!(config_outcome(&a, None).error, None);
        assert_eq!(
            config_outcome(&a, Some("EPERM".into())).error.as_deref(),
            Some("datapath: EPERM")
        );
        a.file_errors.push(FileError {
            path: PathBuf::from("/x/openpe_a.yaml"),
            message: "bad yaml".into(),
        });
        assert_eq!(
            config_outcome(&a, Some("EPERM".into())).error.as_deref(),
            Some("/x/openpe_a.yaml: bad yaml")
        );
        a.plan_error = Some("no valid Underlay applies to this node".into());
        a.failed_resources.push(FailedResource {
            kind: ResourceKind::L3Vni,
            name: "broken".into(),
            reason: FailureReason::ValidationFailed,
            message: "spec.vni 0 is outside 1..16777215".into(),
        });
        let o = config_outcome(&a, None);
        assert_eq!(
            o.error.as_deref(),
            Some("no valid Underlay applies to this node")
        );
        assert_eq!(o.failed.len(), 1);
        assert_eq!(o.node_index, None);
    }
}
