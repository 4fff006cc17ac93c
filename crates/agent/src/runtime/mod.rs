//! `perouter run`: the daemon. The configuration source feeds a node plan; the plan drives the
//! datapath (fib), the RIB and the BGP sessions; their outputs feed each other through bounded
//! channels.
//!
//! # The task graph
//!
//! Every arrow is a channel, with its bound; `watch` and the status board hold one value and
//! never block a writer.
//!
//! ```text
//!  config source ──watch<AppliedConfig>──► runtime (main loop)
//!                                             │ SpeakerCommand (1024) ──► speaker ──SessionCommand (64, try_send)──► session × N
//!                                             │ RoutingCommand (256) ──► routing                                        │  │
//!                                             │ fib Command (64) ──────► datapath (fib Reconciler)                      │  │
//!                                                                                                                        │  │
//!  session ──SpeakerEvent (1024, shared)──► routing ──Outbound (8 per session, try_send)──► that session ◄──────────────┘  │
//!  session ──watch<SessionStatus>──► status board ◄── API, metrics, probes (read, never ask)                               │
//!  session ─(SendQueue: no bound on the lock, high water 256 KiB for UPDATEs)─► writer task ──► socket                    │
//!  reader task ──ConnEvent (16)──► session ◄───────────────────────────────────────────────────────────────────────────────┘
//!  routing ──fib Command (64)──► datapath ──watch<Status>──► API, probes
//!  kernel watch thread ──KernelEvent (1024)──► kernel_events task ──► routing (256) / datapath (64) / speaker (1024)
//!  speaker listener ──accepted (64)──► speaker
//! ```
//!
//! Why no full queue stalls another peer or closes a cycle:
//!
//! - **Session → routing (`SpeakerEvent`, 1024, shared by all sessions).** A session never awaits
//!   it inside its loop: events wait in the session's own queue and are handed over as the
//!   channel has room, and meanwhile the session stops reading its socket (backpressure goes to
//!   that peer's TCP window). Its timers keep running: KEEPALIVEs and hold/SendHold timers do
//!   not depend on the consumer. Routing never waits on a session, so it always drains this.
//! - **Routing → session (`Outbound`, 8 per session).** Routing only `try_send`s, and only
//!   while there is room. A full outbox means that peer is not draining; its changes stay in its
//!   Adj-RIB-Out (coalesced) and only it waits. Nothing routing does depends on it.
//! - **Session → writer (`SendQueue`).** Appending never waits; the session takes no more routes
//!   while 256 KiB are queued, so memory per stuck peer is bounded (outbox + high water + the
//!   socket buffer). KEEPALIVE and NOTIFICATION use a control lane written before the next
//!   UPDATE chunk. A queue that makes no progress for the SendHoldTimer (RFC 9687; default
//!   max(8 min, 2 × hold time), `--send-hold-time`) closes the session with NOTIFICATION 8,
//!   best effort; its routes are withdrawn like any session down.
//! - **Reader → session (`ConnEvent`, 16).** The reader waits when the session is not reading
//!   (see above): that is the backpressure onto the peer; only this connection is concerned.
//! - **Speaker → session (`SessionCommand`, 64).** `try_send`: the session's loop never blocks,
//!   so a full queue means a wedged session, and the command is dropped with a log rather than
//!   wedging the speaker. Status is never asked: sessions publish it (`watch`) into the
//!   [`perouter_bgp::speaker::StatusBoard`], which `show`, `/metrics` and the probes read.
//! - **Runtime → speaker (1024), → routing (256), → datapath (64); routing → datapath (64).**
//!   The speaker, routing and the datapath never wait on a session or on the runtime, and the
//!   datapath waits on nothing but netlink, so these drain; the waits are short and acyclic
//!   (runtime → {speaker, routing, datapath}, routing → datapath, kernel events → all three).
//!
//! So the wait-for graph is a DAG whose sinks are the kernel (netlink) and the peers' sockets,
//! each of which only stalls its own writer.
//!
//! Liveness: routing and the speaker bump a heartbeat at least once a second, the datapath
//! counts its passes (at least one per `--reconcile-period`); `/healthz` fails when one of them
//! stops moving ([`Liveness`]). The router namespace is watched: if it is deleted under us
//! (`ip netns delete`), perouter logs it and exits non-zero so its supervisor restarts it, and
//! the restart builds the namespace again (simpler and more robust than rebuilding every
//! socket, device and route in place).
//!
//! The configuration comes from the static directory ([`node_config::ConfigSource`]) or, in
//! Kubernetes mode, from the static files merged with the API's resources ([`kubernetes`]);
//! either way an [`AppliedConfig`] on a `watch` channel. In Kubernetes mode the node's
//! `RouterNodeConfigurationStatus` is written after every change and every 30 s
//! ([`node_status`]).
//!
//! Restarting never tears forwarding down: the router namespace, its devices and routes stay;
//! sessions come back with graceful restart (forwarding state preserved).

pub mod bfd;
pub mod cni;
pub mod compact_routes;
pub mod datapath;
pub mod handoff;
pub mod health;
pub mod kernel_events;
pub mod kubernetes;
pub mod node_config;
pub mod node_status;
pub mod ovs;
pub mod plan_changes;
pub mod restart;
pub mod routing;
pub mod sd_notify;
pub mod sessions;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use perouter_bgp::config::{NeighborConfig, NeighborTarget, SpeakerConfig};
use perouter_bgp::speaker::{self, PeerStatus, SpeakerCommand, StatusBoard};
use perouter_fib::reconcile::{
    Command as FibCommand, Reconciler, ReconcilerConfig, Status as FibStatus,
};
use perouter_fib::{Datapath, DatapathConfig, NodeDatapath};
use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{error, info, warn};

use crate::api::{self, BoxFuture, Request, Responder, Response};
use crate::k8s::controller::ControllerConfig;
use crate::k8s::status::RuntimeReport;
use crate::metrics::{self, LiveMetrics};
use crate::views;
use kubernetes::KubernetesSource;
use node_config::{AppliedConfig, ConfigSource};
use node_status::{ProbeSlot, RuntimeProbe};
use routing::{Routing, RoutingCommand, RoutingSnapshot};
use sessions::{planned_sessions, PlannedSession};

/// How the daemon runs.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The static configuration directory.
    pub config_dir: PathBuf,
    /// The router namespace.
    pub router_netns: String,
    /// Overrides node-config.yaml's index.
    pub node_index: Option<u32>,
    /// The namespace standing for the host (for labs running several nodes on one machine);
    /// None = the namespace perouter runs in.
    pub host_netns: Option<String>,
    /// The local API socket.
    pub api_socket: PathBuf,
    /// Where `/metrics`, `/healthz` and `/readyz` are served (None = not served).
    pub metrics_addr: Option<SocketAddr>,
    /// How often the configuration directory is re-read.
    pub config_poll: Duration,
    /// Periodic datapath reconcile.
    pub reconcile_period: Duration,
    /// How often STALE neighbours on the L2VNI bridges are probed (the silent-host refresher).
    pub stale_probe_period: Duration,
    /// The BGP port the router namespace listens on.
    pub bgp_port: u16,
    /// The session-handoff socket (see [`handoff`]): ask the perouter running there for its
    /// sessions at start, and offer ours to the next one; `None`: no handoff either way.
    pub handoff: Option<PathBuf>,
    /// Kubernetes mode: join the API as this node (None = static files only).
    pub kubernetes: Option<ControllerConfig>,
    /// How often the node status is refreshed in Kubernetes mode.
    pub status_period: Duration,
    /// The BGP session limits applied to every neighbour (perouter extensions).
    pub limits: sessions::SessionLimits,
    /// The ovsdb-server socket, for L2VNI host legs on OVS bridges.
    pub ovsdb_socket: PathBuf,
    /// `datapath_type` of the OVS bridges perouter creates (None = OVS's default).
    pub ovs_datapath_type: Option<String>,
    /// How `CNIDevice` underlays run their plugins.
    pub cni: cni::CniSettings,
}

/// Errors that stop the daemon.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The datapath could not be opened.
    #[error("datapath: {0}")]
    Datapath(String),
    /// The speaker could not start.
    #[error("BGP speaker: {0}")]
    Speaker(std::io::Error),
    /// No plan could be made from the configuration at start.
    #[error("configuration: {0}")]
    Config(String),
    /// Kubernetes mode could not start (no in-cluster service account and no kubeconfig).
    #[error("Kubernetes client: {0}")]
    Kubernetes(String),
    /// The router namespace was deleted (or replaced) while running.
    #[error("router namespace {0} deleted while running: restart to rebuild it")]
    NetnsLost(String),
    /// The session handoff left this process unable to start safely (the running perouter
    /// keeps the node).
    #[error("session handoff: {0}")]
    Handoff(String),
}

/// How long routing or the speaker may go without a heartbeat before `/healthz` fails (they
/// beat at least once a second).
pub const TASK_SILENCE: Duration = Duration::from_secs(30);

/// The identity (device, inode) of the named namespace's nsfs file, or `None` if it is gone.
fn netns_identity(name: &str) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(perouter_fib::netns::path(name))
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

/// One task's progress as the probe sees it: a counter the task bumps, and how long it may
/// stand still before the task counts as wedged.
pub struct Liveness {
    name: &'static str,
    counter: Box<dyn Fn() -> u64 + Send + Sync>,
    max_silence: Duration,
    last: Mutex<(u64, Instant)>,
}

impl Liveness {
    /// Watches `counter`; a value unchanged for longer than `max_silence` is a wedged task.
    pub fn new(
        name: &'static str,
        max_silence: Duration,
        counter: impl Fn() -> u64 + Send + Sync + 'static,
    ) -> Self {
        let v = counter();
        Liveness {
            name,
            counter: Box::new(counter),
            max_silence,
            last: Mutex::new((v, Instant::now())),
        }
    }

    /// Whether the task moved within `max_silence` of `now` (checked without waiting on it).
    pub fn alive(&self, now: Instant) -> bool {
        let v = (self.counter)();
        let Ok(mut last) = self.last.lock() else {
            return false;
        };
        if v != last.0 {
            *last = (v, now);
            return true;
        }
        let silent = now.saturating_duration_since(last.1);
        if silent > self.max_silence {
            error!(
                task = self.name,
                silent_secs = silent.as_secs(),
                "task made no progress: unhealthy"
            );
            return false;
        }
        true
    }
}

/// A heartbeat counter as a [`Liveness`] input.
fn beats(h: Arc<AtomicU64>) -> impl Fn() -> u64 + Send + Sync + 'static {
    move || h.load(Ordering::Relaxed)
}

/// How this process came to run the node: `perouter show status` shows it and `perouter upgrade`
/// reads it from the successor it started (handed over or fallen back, and why).
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ProcessStart {
    /// This process.
    pub pid: u32,
    /// Its version (`perouter --version`).
    pub version: String,
    /// `fresh` (no perouter ran the node this boot), `restart` (graceful restart after a
    /// stop), `handoff` (the sessions were taken over from a running perouter) or `fallback`
    /// (a running perouter was found but could not hand over: a restart).
    pub start: String,
    /// The perouter this one replaced (handoff, fallback), when known.
    pub predecessor: Option<i32>,
    /// Sessions resumed from the predecessor.
    pub sessions_taken_over: usize,
    /// Handed-over sessions that could not be resumed (they start again).
    pub sessions_failed: usize,
    /// From the handoff request to the predecessor's exit, in milliseconds.
    pub handoff_ms: Option<u64>,
    /// Why no handoff took place (fallback).
    pub fallback_reason: Option<String>,
}

struct Shared {
    /// How this process started.
    start: ProcessStart,
    applied: watch::Receiver<Arc<AppliedConfig>>,
    fib_status: watch::Receiver<FibStatus>,
    board: StatusBoard,
    routing: mpsc::Sender<RoutingCommand>,
    sessions: std::sync::Mutex<Vec<PlannedSession>>,
    live: LiveMetrics,
    bfd: watch::Receiver<Vec<perouter_bfd::driver::PeerStatus>>,
    liveness: Vec<Liveness>,
    /// Set once a fabric session has been Established (readiness).
    fabric_seen: health::Latch,
    /// The OVS host legs task's status.
    ovs: watch::Receiver<ovs::OvsStatus>,
    /// The CNI underlay devices task's status.
    cni: watch::Receiver<cni::CniStatus>,
}

/// How long a scrape waits for each state owner.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

impl Shared {
    /// The resources the datapath's failed operations belong to (`OverlayAttachmentFailed`).
    fn datapath_failures(
        &self,
        applied: &AppliedConfig,
        fib: &FibStatus,
    ) -> Vec<crate::config::resources::FailedResource> {
        let underlay = applied
            .last_good
            .underlays
            .first()
            .map(|u| u.name.as_str())
            .unwrap_or("underlay");
        // OVS host legs fail like the kernel datapath's operations, on the same L2VNIs.
        let failures: Vec<String> = fib
            .last_failures
            .iter()
            .chain(self.ovs.borrow().last_failures.iter())
            .chain(self.cni.borrow().last_failures.iter())
            .cloned()
            .collect();
        match &applied.plan {
            Some(plan) => health::datapath_failures(plan, underlay, &failures),
            None => Vec::new(),
        }
    }

    async fn peers(&self) -> Vec<PeerStatus> {
        self.board.snapshot()
    }

    /// The speaker's sessions, read from the status board the sessions publish to (never
    /// waits on the speaker or a session, so a stuck peer cannot stall a scrape).
    async fn peers_checked(&self) -> Option<Vec<PeerStatus>> {
        Some(self.board.snapshot())
    }

    async fn routing(&self) -> RoutingSnapshot {
        self.routing_checked().await.unwrap_or_default()
    }

    /// The routing task's snapshot; None when it is gone.
    async fn routing_checked(&self) -> Option<RoutingSnapshot> {
        let (tx, rx) = oneshot::channel();
        self.routing.send(RoutingCommand::Snapshot(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Our router ID and AS from the running plan.
    fn identity(&self) -> (String, u32) {
        match &self.applied.borrow().plan {
            Some(p) => (p.router_id.to_string(), p.asn),
            None => ("-".into(), 0),
        }
    }

    async fn evpn(
        &self,
        route_type: Option<u8>,
        vni: Option<u32>,
        rd: Option<perouter_evpn::RouteDistinguisher>,
        all_paths: bool,
    ) -> Result<Vec<routing::EvpnRouteView>, String> {
        let (tx, rx) = oneshot::channel();
        let cmd = RoutingCommand::Evpn {
            route_type,
            vni,
            rd,
            all_paths,
            reply: tx,
        };
        if self.routing.send(cmd).await.is_err() {
            return Err("the routing task is not running".into());
        }
        rx.await
            .map_err(|_| "the routing task did not answer".to_string())
    }
}

/// `show bgp ipv4 unicast ARG`: a prefix is matched exactly, an address by longest match
/// (vtysh's rules).
fn parse_prefix_match(arg: &str) -> Result<perouter_rib::PrefixMatch, String> {
    use perouter_rib::PrefixMatch;
    if arg.contains('/') {
        arg.parse::<ipnet::IpNet>()
            .map(PrefixMatch::Exact)
            .map_err(|e| format!("{arg:?} is not a prefix: {e}"))
    } else {
        arg.parse::<std::net::IpAddr>()
            .map(PrefixMatch::Longest)
            .map_err(|e| format!("{arg:?} is not an address or a prefix: {e}"))
    }
}

impl RuntimeProbe for Shared {
    fn report(&self) -> BoxFuture<'_, RuntimeReport> {
        Box::pin(async move {
            let peers = self.peers().await;
            let snap = self.routing().await;
            let now = std::time::SystemTime::now();
            let plan = self.applied.borrow().plan.clone();
            let sessions = self.sessions.lock().map(|s| s.clone()).unwrap_or_default();
            node_status::runtime_report(plan.as_deref(), &sessions, &peers, &snap, now)
        })
    }

    fn datapath_failures(&self) -> Vec<crate::config::resources::FailedResource> {
        let applied = self.applied.borrow().clone();
        let fib = self.fib_status.borrow().clone();
        Shared::datapath_failures(self, &applied, &fib)
    }

    fn datapath_error(&self) -> Option<String> {
        let fib = self.fib_status.borrow().clone();
        let ovs = self.ovs.borrow().last_failures.clone();
        let cni = self.cni.borrow().last_failures.clone();
        fib.last_error.clone().or_else(|| {
            let failures: Vec<String> = fib
                .last_failures
                .iter()
                .chain(&ovs)
                .chain(&cni)
                .cloned()
                .collect();
            (!failures.is_empty()).then(|| {
                format!(
                    "{} operation(s) failed: {}",
                    failures.len(),
                    failures.join("; ")
                )
            })
        })
    }
}

/// Replaces every non-null `password` in `v` by `"<redacted>"`: the local API shows whether a
/// session has a TCP-MD5 key, never the key.
fn redact_passwords(mut v: serde_json::Value) -> serde_json::Value {
    fn walk(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if k == "password" && !x.is_null() {
                        *x = serde_json::Value::String("<redacted>".into());
                    } else {
                        walk(x);
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

fn value<T: serde::Serialize>(v: &T) -> Response {
    match serde_json::to_value(v) {
        Ok(v) => Response::Ok(v),
        Err(e) => Response::Error(e.to_string()),
    }
}

impl Responder for Shared {
    fn answer(&self, req: Request) -> BoxFuture<'_, Response> {
        Box::pin(async move {
            match req {
                Request::BgpSummary => {
                    let (rid, asn) = self.identity();
                    let sessions = self.sessions.lock().map(|s| s.clone()).unwrap_or_default();
                    value(&views::bgp_summary(
                        rid,
                        asn,
                        &self.peers().await,
                        &sessions,
                    ))
                }
                Request::BgpNeighbor { address } => {
                    let peers = self.peers().await;
                    let (rid, asn) = self.identity();
                    let sessions = self.sessions.lock().map(|s| s.clone()).unwrap_or_default();
                    match peers.iter().find(|p| views::matches(p, &address)) {
                        Some(p) => value(&views::neighbor_detail(rid, asn, p, &sessions)),
                        None => Response::Error(format!("no session with {address}")),
                    }
                }
                Request::BgpNeighborRoutes {
                    address,
                    advertised,
                    family,
                } => {
                    let peers = self.peers().await;
                    let Some(p) = peers.iter().find(|p| views::matches(p, &address)) else {
                        return Response::Error(format!("no session with {address}"));
                    };
                    let (tx, rx) = oneshot::channel();
                    let cmd = RoutingCommand::NeighborRoutes {
                        peer: p.peer,
                        advertised,
                        reply: tx,
                    };
                    if self.routing.send(cmd).await.is_err() {
                        return Response::Error("the routing task is not running".into());
                    }
                    match rx.await {
                        Ok(Some(mut routes)) => {
                            if let Some(f) = &family {
                                routes.retain(|r| r.family == f.as_str());
                            }
                            value(&routes)
                        }
                        Ok(None) => Response::Error(format!(
                            "the session with {address} is not Established: it has no routes"
                        )),
                        Err(_) => Response::Error("the routing task did not answer".into()),
                    }
                }
                Request::Vrf { name } => {
                    let snap = self.routing().await;
                    match name {
                        None => value(&snap.vrfs),
                        Some(n) => match snap.vrfs.get(&n) {
                            Some(v) => value(&json!({ n: v })),
                            None => Response::Error(format!("no VRF {n:?}")),
                        },
                    }
                }
                Request::EvpnMac { vni } => {
                    let (tx, rx) = oneshot::channel();
                    if self
                        .routing
                        .send(RoutingCommand::Macs { vni, reply: tx })
                        .await
                        .is_err()
                    {
                        return Response::Error("the routing task is not running".into());
                    }
                    match rx.await {
                        Ok(macs) => value(&macs),
                        Err(_) => Response::Error("the routing task did not answer".into()),
                    }
                }
                Request::BgpUnicast { ipv6, prefix, vrf } => {
                    let which = match prefix.as_deref().map(parse_prefix_match) {
                        None => perouter_rib::PrefixMatch::All,
                        Some(Ok(w)) => w,
                        Some(Err(e)) => return Response::Error(e),
                    };
                    let (tx, rx) = oneshot::channel();
                    let cmd = RoutingCommand::Unicast {
                        v6: ipv6,
                        vrf,
                        which,
                        reply: tx,
                    };
                    if self.routing.send(cmd).await.is_err() {
                        return Response::Error("the routing task is not running".into());
                    }
                    match rx.await {
                        Ok(Ok(routes)) => value(&routes),
                        Ok(Err(e)) => Response::Error(e),
                        Err(_) => Response::Error("the routing task did not answer".into()),
                    }
                }
                Request::BgpEvpn {
                    route_type,
                    vni,
                    rd,
                    all_paths,
                } => {
                    let rd = match rd
                        .as_deref()
                        .map(str::parse::<perouter_evpn::RouteDistinguisher>)
                    {
                        None => None,
                        Some(Ok(rd)) => Some(rd),
                        Some(Err(e)) => {
                            return Response::Error(format!(
                                "{:?} is not a route distinguisher (ASN:NN or A.B.C.D:NN): {e}",
                                rd.unwrap_or_default()
                            ))
                        }
                    };
                    match self.evpn(route_type, vni, rd, all_paths).await {
                        Ok(routes) => value(&routes),
                        Err(e) => Response::Error(e),
                    }
                }
                Request::BfdPeers => value(&*self.bfd.borrow()),
                Request::Vni => {
                    let applied = self.applied.borrow().clone();
                    let Some(plan) = &applied.plan else {
                        return Response::Error("no plan applied".into());
                    };
                    match self.evpn(None, None, None, false).await {
                        Ok(routes) => value(&views::vnis(plan, &routes)),
                        Err(e) => Response::Error(e),
                    }
                }
                Request::Status => {
                    let applied = self.applied.borrow().clone();
                    let fib = self.fib_status.borrow().clone();
                    let sessions = self.sessions.lock().map(|s| s.clone()).unwrap_or_default();
                    let mut failed = applied.failed_resources.clone();
                    failed.extend(self.datapath_failures(&applied, &fib));
                    value(&json!({
                        "generation": applied.generation,
                        "files": applied.files,
                        "failed_resources": failed,
                        "warnings": applied.warnings,
                        "file_errors": applied.file_errors,
                        "plan_error": applied.plan_error,
                        "underlay_failed": applied.underlay_failed,
                        "plan": applied.plan,
                        "sessions": redact_passwords(serde_json::to_value(&sessions).unwrap_or_default()),
                        "datapath": {"passes": fib.passes, "last_ops": fib.last_ops, "last_failures": fib.last_failures,
                            "last_error": fib.last_error, "messages_sent": fib.messages_sent},
                        "ovs": &*self.ovs.borrow(),
                        "cni": &*self.cni.borrow(),
                        "process": &self.start,
                    }))
                }
            }
        })
    }

    fn metrics(&self) -> BoxFuture<'_, String> {
        Box::pin(async move {
            // Each owner gets a bounded wait: a slow one leaves its families out of this
            // scrape instead of stalling it.
            let peers = tokio::time::timeout(SCRAPE_TIMEOUT, self.peers_checked());
            let routing = tokio::time::timeout(SCRAPE_TIMEOUT, self.routing_checked());
            let evpn = tokio::time::timeout(SCRAPE_TIMEOUT, self.evpn(None, None, None, false));
            let (peers, routing, evpn) = tokio::join!(peers, routing, evpn);
            let input = metrics::ScrapeInput {
                peers: peers.ok().flatten(),
                routing: routing.ok().flatten(),
                evpn: evpn.ok().and_then(Result::ok),
                fib: Some(self.fib_status.borrow().clone()),
                applied: Some(self.applied.borrow().clone()),
                bfd: Some(self.bfd.borrow().clone()),
                ovs: Some(self.ovs.borrow().clone()),
            };
            metrics::render(&self.live, &input)
        })
    }

    fn healthy(&self) -> bool {
        let now = Instant::now();
        // Every one is checked (and logs), not just up to the first wedged one.
        let alive: Vec<bool> = self.liveness.iter().map(|l| l.alive(now)).collect();
        alive.into_iter().all(|a| a)
    }

    fn ready(&self) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let has_plan = self.applied.borrow().plan.is_some();
            let fib = self.fib_status.borrow().clone();
            let fabric: Vec<NeighborTarget> = self
                .sessions
                .lock()
                .map(|s| {
                    s.iter()
                        .filter(|s| s.role == sessions::SessionRole::Fabric)
                        .map(|s| s.neighbor.target.clone())
                        .collect()
                })
                .unwrap_or_default();
            let up = self.peers().await.iter().any(|p| {
                fabric.contains(&p.target)
                    && p.session.state == perouter_bgp::fsm::State::Established
            });
            let verdict = health::readiness(has_plan, &fib, fabric.len(), self.fabric_seen.see(up));
            if let Err(why) = &verdict {
                tracing::debug!("not ready: {why}");
            }
            verdict.is_ok()
        })
    }
}

/// Feeds the reconcile-duration histogram from the datapath's status (a pass whose status
/// was overwritten before this task ran is not observed).
async fn observe_passes(mut st: watch::Receiver<FibStatus>, live: LiveMetrics) {
    let mut seen = 0;
    while st.changed().await.is_ok() {
        let s = st.borrow_and_update();
        if s.passes > seen {
            seen = s.passes;
            live.observe_reconcile(s.last_duration);
        }
    }
}

fn neighbor_key(n: &NeighborConfig) -> NeighborTarget {
    n.target.clone()
}

/// Brings the speaker's neighbours to `wanted`: removes the gone, adds the new, replaces the
/// changed; leaves identical ones (and their sessions) alone.
async fn sync_neighbors(
    speaker: &mpsc::Sender<SpeakerCommand>,
    current: &mut HashMap<NeighborTarget, NeighborConfig>,
    wanted: &[PlannedSession],
) {
    let wanted: HashMap<NeighborTarget, NeighborConfig> = wanted
        .iter()
        .map(|s| (neighbor_key(&s.neighbor), s.neighbor.clone()))
        .collect();
    for key in current
        .keys()
        .filter(|k| !wanted.contains_key(*k))
        .cloned()
        .collect::<Vec<_>>()
    {
        info!(neighbor = ?key, "removing BGP neighbour");
        let _ = speaker
            .send(SpeakerCommand::RemoveNeighbor(key.clone()))
            .await;
        current.remove(&key);
    }
    for (key, cfg) in wanted {
        if current.get(&key) == Some(&cfg) {
            continue;
        }
        if let Some(old) = current.get(&key) {
            warn!(neighbor = ?key, changed = %sessions::changed_fields(old, &cfg).join(", "),
                "neighbour changed in a way that needs a new OPEN: resetting its session");
        } else {
            info!(neighbor = ?key, "adding BGP neighbour");
        }
        let _ = speaker.send(SpeakerCommand::AddNeighbor(cfg.clone())).await;
        current.insert(key, cfg);
    }
}

/// The smallest MTU of the underlay NICs, read where they are (host namespace before they
/// are moved, router namespace after), over netlink.
fn underlay_mtu(nics: &[String], router_netns: &str) -> Option<u32> {
    let read = |ns: Option<&str>, nic: &str| perouter_fib::apply::link_mtu(ns, nic).ok().flatten();
    nics.iter()
        .filter_map(|n| read(None, n).or_else(|| read(Some(router_netns), n)))
        .min()
}

/// Static mode: the first plan from the directory (none is fatal), then the directory polled.
async fn static_config(opts: &RunOptions) -> Result<watch::Receiver<Arc<AppliedConfig>>, RunError> {
    let source = ConfigSource {
        dir: opts.config_dir.clone(),
        node_index: opts.node_index,
        router_netns: opts.router_netns.clone(),
        poll: opts.config_poll,
    };
    let first = {
        let s = source.clone();
        tokio::task::spawn_blocking(move || s.load(None))
            .await
            .map_err(|e| RunError::Config(e.to_string()))?
    };
    for f in &first.failed_resources {
        warn!(kind = %f.kind, name = %f.name, reason = %f.reason, "resource skipped: {}", f.message);
    }
    if first.plan.is_none() {
        return Err(RunError::Config(
            first.plan_error.clone().unwrap_or_else(|| "no plan".into()),
        ));
    }
    let (applied_tx, applied_rx) = watch::channel(Arc::new(first));
    tokio::spawn(source.run(applied_tx));
    Ok(applied_rx)
}

/// Kubernetes mode: the static files and the API merged; the status task starts at once (a
/// configuration that cannot be planned is reported too), fed by `probe` once the router runs.
async fn kubernetes_config(
    opts: &RunOptions,
    controller: ControllerConfig,
    probe: ProbeSlot,
) -> Result<watch::Receiver<Arc<AppliedConfig>>, RunError> {
    let client = kube::Client::try_default()
        .await
        .map_err(|e| RunError::Kubernetes(e.to_string()))?;
    let source = KubernetesSource {
        dir: opts.config_dir.clone(),
        node_index: opts.node_index,
        router_netns: opts.router_netns.clone(),
        poll: opts.config_poll,
    };
    let k8s = kubernetes::start(client, controller, source).await;
    tokio::spawn(node_status::run_status(
        k8s.status,
        k8s.applied.clone(),
        probe,
        opts.status_period,
    ));
    Ok(k8s.applied)
}

/// Answers the local API and the probes while there is no plan yet (Kubernetes mode waiting for
/// the API, or for an Underlay): alive (so the kubelet does not restart a pod that is merely
/// waiting), not ready, and `perouter show status` says why.
struct Waiting {
    applied: watch::Receiver<Arc<AppliedConfig>>,
}

impl Responder for Waiting {
    fn answer(&self, req: Request) -> BoxFuture<'_, Response> {
        Box::pin(async move {
            let applied = self.applied.borrow().clone();
            match req {
                Request::Status => value(&json!({
                    "generation": applied.generation,
                    "files": applied.files,
                    "failed_resources": applied.failed_resources,
                    "file_errors": applied.file_errors,
                    "plan_error": applied.plan_error,
                    "underlay_failed": applied.underlay_failed,
                    "plan": null,
                })),
                _ => Response::Error(format!(
                    "no node plan yet: {}",
                    applied
                        .plan_error
                        .as_deref()
                        .unwrap_or("waiting for the configuration")
                )),
            }
        })
    }

    fn metrics(&self) -> BoxFuture<'_, String> {
        Box::pin(async move {
            let input = metrics::ScrapeInput {
                applied: Some(self.applied.borrow().clone()),
                ..Default::default()
            };
            metrics::render(&metrics::LiveMetrics::default(), &input)
        })
    }

    fn ready(&self) -> BoxFuture<'_, bool> {
        Box::pin(async { false })
    }
}

/// Serves the local API and (if configured) the probes with `r`; the handles stop them.
fn serve(opts: &RunOptions, r: Arc<dyn Responder>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    {
        let r = r.clone();
        let path = opts.api_socket.clone();
        tasks.push(tokio::spawn(async move {
            if let Err(e) = api::serve_socket(path, r).await {
                error!(error = %e, "local API stopped");
            }
        }));
    }
    if let Some(addr) = opts.metrics_addr {
        tasks.push(tokio::spawn(async move {
            if let Err(e) = api::serve_http(addr, r).await {
                error!(error = %e, "metrics server stopped");
            }
        }));
    }
    tasks
}

/// Waits until the configuration yields a plan (Kubernetes mode may start with none: no static
/// files, the API not answering yet); None when asked to stop meanwhile.
async fn first_plan(
    applied: &mut watch::Receiver<Arc<AppliedConfig>>,
    term: &mut tokio::signal::unix::Signal,
) -> Option<Arc<crate::plan::NodePlan>> {
    let mut logged = false;
    loop {
        let a = applied.borrow_and_update().clone();
        if let Some(p) = &a.plan {
            return Some(p.clone());
        }
        if !logged {
            info!(
                reason = a.plan_error.as_deref().unwrap_or("none yet"),
                "waiting for a configuration that yields a node plan"
            );
            logged = true;
        }
        tokio::select! {
            r = applied.changed() => if r.is_err() { return None },
            _ = tokio::signal::ctrl_c() => return None,
            _ = term.recv() => return None,
        }
    }
}

/// Runs the daemon until SIGINT/SIGTERM.
pub async fn run(opts: RunOptions) -> Result<(), RunError> {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .map_err(|e| RunError::Config(e.to_string()))?;
    let probe: ProbeSlot = Arc::default();
    let mut applied_rx = match opts.kubernetes.clone() {
        None => static_config(&opts).await?,
        Some(controller) => kubernetes_config(&opts, controller, probe.clone()).await?,
    };
    let waiting = if applied_rx.borrow().plan.is_none() {
        serve(
            &opts,
            Arc::new(Waiting {
                applied: applied_rx.clone(),
            }),
        )
    } else {
        Vec::new()
    };
    let first = first_plan(&mut applied_rx, &mut term).await;
    // Free the socket and the port for the real answers.
    for t in waiting {
        t.abort();
        let _ = t.await;
    }
    let Some(plan) = first else {
        info!("stopped before a node plan was made");
        return Ok(());
    };
    info!(index = plan.index, asn = plan.asn, router_id = %plan.router_id, netns = %plan.router_netns,
        l3vnis = plan.l3vnis.len(), l2vnis = plan.l2vnis.len(), "node plan ready");

    // A restart (perouter's own marker says it ran this namespace during this boot): keep
    // forwarding, and come back with graceful restart (R bit) while the RIB re-converges. A
    // leftover namespace alone is a fresh start that advertises as soon as sessions are up.
    let (restarting, why) = restart::detect_and_mark(
        &opts.api_socket,
        &opts.router_netns,
        perouter_fib::netns::exists(&opts.router_netns),
    );
    info!(netns = %opts.router_netns, restarting, "{why}");
    // Datapath: one owner of netlink, level-triggered.
    let nics: Vec<String> = datapath::node_datapath(&plan, None).underlay_nics;
    let mtu = underlay_mtu(&nics, &opts.router_netns);
    let node: NodeDatapath = datapath::node_datapath(&plan, mtu);
    let watch_node = node.clone();
    let netns = opts.router_netns.clone();
    let host_netns = opts.host_netns.clone();
    let dp = tokio::task::spawn_blocking(move || {
        Datapath::open(
            &netns,
            DatapathConfig {
                host_netns,
                ..Default::default()
            },
        )
    })
    .await
    .map_err(|e| RunError::Datapath(e.to_string()))?
    .map_err(|e| RunError::Datapath(e.to_string()))?;
    let (fib_tx, fib_rx) = mpsc::channel(routing::FIB_QUEUE);
    let (fib_status_tx, fib_status_rx) = watch::channel(FibStatus::default());
    let reconciler = Reconciler::new(
        dp,
        node,
        ReconcilerConfig {
            period: opts.reconcile_period,
            probe_period: opts.stale_probe_period,
            ..Default::default()
        },
    );
    tokio::spawn(reconciler.run(fib_rx, fib_status_tx));
    let live = LiveMetrics::default();
    tokio::spawn(observe_passes(fib_status_rx.clone(), live.clone()));
    // Let the first pass build the namespace and devices before sockets are opened in it.
    let mut st = fib_status_rx.clone();
    let _ = tokio::time::timeout(Duration::from_secs(30), st.wait_for(|s| s.passes > 0)).await;
    if let Some(e) = &st.borrow().last_error {
        warn!("first datapath pass failed (retrying in the background): {e}");
    }

    // OVS host legs: after the first pass, so the host veths they attach exist.
    let (ovs_legs_tx, ovs_legs_rx) =
        watch::channel(ovs::wanted(&plan, opts.ovs_datapath_type.as_deref()));
    let (ovs_status_tx, ovs_status_rx) = watch::channel(ovs::OvsStatus::default());
    tokio::spawn(ovs::run(
        ovs::OvsOptions {
            socket: opts.ovsdb_socket.clone(),
            datapath_type: opts.ovs_datapath_type.clone(),
            period: opts.reconcile_period,
        },
        ovs_legs_rx,
        ovs_status_tx,
    ));
    // CNI underlay devices: after the first pass, so the router namespace exists; the
    // sessions over them come up when they appear.
    let (cni_tx, cni_rx) = watch::channel(cni::wanted(&plan));
    let (cni_status_tx, cni_status_rx) = watch::channel(cni::CniStatus::default());
    tokio::spawn(cni::run(
        cni::CniOptions {
            router_netns: opts.router_netns.clone(),
            host_netns: opts.host_netns.clone(),
            state_dir: opts.cni.state_dir.clone(),
            container_id: cni::container_id(opts.cni.node.as_deref(), &opts.router_netns),
            path: opts.cni.path.clone(),
            timeout: opts.cni.timeout,
            period: opts.reconcile_period,
        },
        cni_rx,
        cni_status_tx,
    ));
    // Session handoff: a perouter already running this node hands its live sessions over
    // (an upgrade without a flap); asked now, with the datapath open and the plan made, so
    // that the sessions are frozen only for the few milliseconds the steps below take.
    let mut takeover: Option<handoff::Received> = None;
    let mut start = ProcessStart {
        pid: std::process::id(),
        version: concat!(
            env!("CARGO_PKG_VERSION"),
            " (",
            env!("PEROUTER_GIT_COMMIT"),
            ")"
        )
        .into(),
        start: if restarting { "restart" } else { "fresh" }.into(),
        ..Default::default()
    };
    if let Some(path) = opts.handoff.clone() {
        let netns = opts.router_netns.clone();
        match tokio::task::spawn_blocking(move || handoff::request(&path, &netns)).await {
            Ok(Ok(handoff::Takeover::Received(r))) => {
                info!(
                    sessions = r.transfers.len(),
                    listeners = r.listeners.len(),
                    "session handoff: state received from the running perouter"
                );
                takeover = Some(r);
            }
            Ok(Ok(handoff::Takeover::NoPredecessor)) => {}
            Ok(Ok(handoff::Takeover::Fallback(why))) => {
                warn!(%why, "session handoff not possible: ordinary restart (sessions come back with graceful restart)");
                live.handoff("fallback", 0);
                start.start = "fallback".into();
                start.fallback_reason = Some(why);
            }
            Ok(Err(e)) => return Err(RunError::Handoff(e.to_string())),
            Err(e) => return Err(RunError::Handoff(e.to_string())),
        }
    }

    // Sessions.
    // The sessions' events for the routing task. Short: each event is a whole read's worth of
    // parsed UPDATEs, so the depth bounds the input parsed but not yet taken in (with 1024 a
    // relay of 1M routes with ~2.6 routes per attribute set could hold most of the table
    // here); a session whose events do not fit stops reading at MAX_PENDING_UPDATES (issue 16).
    let (ev_tx, ev_rx) = mpsc::channel(64);
    // RFC 4724 §4.1: after a restart the Restart State bit tells the peers we restarted with
    // forwarding kept. The speaker sets it only on each session's first establishment, so the
    // flag stays in every later plan too: a live change must not look like a changed neighbour.
    let limits = opts.limits.clone();
    let sessions_of = move |plan: &crate::plan::NodePlan| {
        let mut sessions = planned_sessions(plan);
        for s in &mut sessions {
            s.neighbor.peer.graceful_restart.restarting = restarting;
            limits.apply(&mut s.neighbor);
        }
        sessions
    };
    let sessions = sessions_of(&plan);
    // One dual-stack listener: IPv4 peers arrive as v4-mapped addresses, which the speaker maps back.
    let listen = vec![SocketAddr::from(([0u16; 8], opts.bgp_port))];
    let inherited = takeover
        .as_mut()
        .map(|t| std::mem::take(&mut t.listeners))
        .unwrap_or_default();
    let speaker = speaker::start_with_listeners(
        SpeakerConfig {
            local_as: plan.asn,
            router_id: plan.router_id,
            listen,
            netns: Some(opts.router_netns.clone()),
        },
        Vec::new(),
        ev_tx,
        inherited,
    )
    .await
    .map_err(RunError::Speaker)?;
    let speaker_tx = speaker.commands.clone();

    // Routing: the RIB's one owner.
    let (routing_tx, routing_rx) = mpsc::channel(256);
    let routing = Routing::new(fib_tx.clone(), restarting);
    let routing_beat = routing.heartbeat();
    tokio::spawn(routing.run(ev_rx, routing_rx));
    let _ = routing_tx
        .send(RoutingCommand::Configure {
            plan: plan.clone(),
            sessions: sessions.clone(),
        })
        .await;
    // Local MACs and neighbours on L2VNI bridges feed type-2 origination; drift triggers a
    // reconcile.
    if let Err(e) = kernel_events::spawn(
        &watch_node,
        opts.host_netns.clone(),
        routing_tx.clone(),
        fib_tx.clone(),
        live.clone(),
        speaker_tx.clone(),
    ) {
        warn!("kernel watch not started (local MACs will not be advertised): {e}");
    }
    if let Some(t) = takeover.as_mut() {
        // Resumed as their neighbours are added, before any of those connects.
        let transfers = std::mem::take(&mut t.transfers);
        let _ = speaker_tx.send(SpeakerCommand::Resume(transfers)).await;
    }
    let mut neighbors = HashMap::new();
    sync_neighbors(&speaker_tx, &mut neighbors, &sessions).await;
    info!(sessions = sessions.len(), "BGP sessions configured");
    if let Some(t) = takeover.take() {
        let (tx, rx) = oneshot::channel();
        let _ = speaker_tx.send(SpeakerCommand::ResumeDone(tx)).await;
        let report = rx.await.unwrap_or_default();
        match tokio::task::spawn_blocking(move || handoff::complete(t, report)).await {
            Ok(Ok(done)) => {
                live.handoff("taken_over", report.resumed);
                start.start = "handoff".into();
                start.predecessor = done.predecessor;
                start.sessions_taken_over = report.resumed;
                start.sessions_failed = report.failed;
                start.handoff_ms = Some(done.took.as_millis() as u64);
            }
            Ok(Err(e)) => return Err(RunError::Handoff(e.to_string())),
            Err(e) => return Err(RunError::Handoff(e.to_string())),
        }
    }
    let bfd_handle = bfd::start(&opts.router_netns, speaker_tx.clone());
    let _ = bfd_handle.set(bfd::peer_specs(&plan)).await;

    let fib_passes = fib_status_rx.clone();
    let liveness = vec![
        Liveness::new("routing", TASK_SILENCE, beats(routing_beat)),
        Liveness::new("speaker", TASK_SILENCE, beats(speaker.heartbeat.clone())),
        // A pass runs at least once a period (or on every change); a pass stuck in netlink
        // stops the count.
        Liveness::new(
            "datapath",
            (opts.reconcile_period * 3).max(TASK_SILENCE),
            move || fib_passes.borrow().passes,
        ),
    ];
    let shared = Arc::new(Shared {
        start: start.clone(),
        applied: applied_rx.clone(),
        fib_status: fib_status_rx,
        board: speaker.board.clone(),
        routing: routing_tx.clone(),
        sessions: std::sync::Mutex::new(sessions),
        live: live.clone(),
        bfd: bfd_handle.status.clone(),
        liveness,
        fabric_seen: health::Latch::default(),
        ovs: ovs_status_rx,
        cni: cni_status_rx,
    });
    let _ = probe.set(shared.clone());
    let _servers = serve(&opts, shared.clone());

    // Offer our sessions to the next perouter (upgrades).
    let (handoff_tx, mut handoff_rx) = mpsc::channel(1);
    if let Some(path) = &opts.handoff {
        match handoff::bind(path) {
            Ok(l) => {
                let plan_rx = applied_rx.clone();
                let gen_rx = applied_rx.clone();
                let p = handoff::Predecessor {
                    speaker: speaker_tx.clone(),
                    routing: routing_tx.clone(),
                    refuse: Arc::new(move || {
                        let plan = plan_rx.borrow().plan.clone()?;
                        let bfd = bfd::peer_specs(&plan).len();
                        (bfd > 0).then(|| format!("{bfd} BFD session(s) configured: BFD state cannot be handed over yet"))
                    }),
                    generation: Arc::new(move || gen_rx.borrow().generation),
                    live: live.clone(),
                    router_netns: opts.router_netns.clone(),
                };
                info!(socket = %path.display(), "offering session handoff to the next perouter");
                tokio::spawn(handoff::serve(l, p, handoff_tx));
            }
            Err(e) => {
                warn!(socket = %path.display(), error = %e, "cannot offer session handoff: upgrades will restart the sessions")
            }
        }
    }

    // Under systemd (Type=notify): this process serves the node now, and is its main process
    // (after a handoff, the one systemd started has exited or is about to).
    sd_notify::ready(&format!("serving; started: {}", start.start));

    // The router namespace as it is now: deleting it (or replacing it) under us is fatal.
    let netns_id = netns_identity(&opts.router_netns);
    let mut netns_check = tokio::time::interval(Duration::from_secs(1));

    // Apply configuration changes live.
    let mut current_plan = plan;
    // A successor whose handoff was refused, waiting for this process to stop.
    let mut successor: Option<std::os::unix::net::UnixStream> = None;
    loop {
        tokio::select! {
            _ = netns_check.tick() => {
                let now = netns_identity(&opts.router_netns);
                if now != netns_id {
                    error!(netns = %opts.router_netns, "the router namespace was deleted or replaced under perouter: exiting so that the supervisor restarts it and the namespace is built again");
                    return Err(RunError::NetnsLost(opts.router_netns.clone()));
                }
            }
            changed = applied_rx.changed() => {
                if changed.is_err() { break; }
                let applied = applied_rx.borrow_and_update().clone();
                let Some(plan) = applied.plan.clone() else { continue };
                if Arc::ptr_eq(&plan, &current_plan) { continue; }
                info!(generation = applied.generation, changes = %plan_changes::describe(&current_plan, &plan),
                    "applying configuration generation");
                let nics = datapath::node_datapath(&plan, None).underlay_nics;
                let node = datapath::node_datapath(&plan, underlay_mtu(&nics, &opts.router_netns));
                let _ = fib_tx.send(FibCommand::SetNode(Box::new(node))).await;
                let legs = ovs::wanted(&plan, opts.ovs_datapath_type.as_deref());
                ovs_legs_tx.send_if_modified(|w| {
                    let changed = *w != legs;
                    *w = legs;
                    changed
                });
                let devices = cni::wanted(&plan);
                cni_tx.send_if_modified(|w| {
                    let changed = *w != devices;
                    *w = devices;
                    changed
                });
                let sessions = sessions_of(&plan);
                let _ = routing_tx.send(RoutingCommand::Configure { plan: plan.clone(), sessions: sessions.clone() }).await;
                sync_neighbors(&speaker_tx, &mut neighbors, &sessions).await;
                let _ = bfd_handle.set(bfd::peer_specs(&plan)).await;
                if let Ok(mut s) = shared.sessions.lock() { *s = sessions; }
                current_plan = plan;
            }
            Some(outcome) = handoff_rx.recv() => match outcome {
                handoff::Outcome::HandedOver => {
                    // Nothing is torn down: the sessions, the namespace and the kernel state
                    // are the new process's now (it also owns the API socket path).
                    if opts.kubernetes.is_some() {
                        // A container that exits is restarted by the kubelet, beside its
                        // successor: become `perouter park` (same pid, every descriptor closed
                        // on exec) until the rollout deletes the old pod.
                        use std::os::unix::process::CommandExt;
                        info!("parking after the session handoff until the old pod is deleted");
                        let e = std::process::Command::new("/proc/self/exe").arg("park").exec();
                        warn!(error = %e, "cannot park: exiting");
                    } else {
                        info!("exiting after the session handoff");
                    }
                    std::process::exit(0);
                }
                handoff::Outcome::StopForSuccessor(why, conn) => {
                    info!(%why, "stopping for the new perouter process");
                    successor = Some(conn);
                    break;
                }
            },
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    // No NOTIFICATION: the peers keep our routes as stale (RFC 4724) and the kernel keeps
    // forwarding while we are away.
    info!(netns = %opts.router_netns, "stopping: the router namespace, its devices, routes and neighbour entries are kept (forwarding continues); the BGP sessions close without NOTIFICATION so peers keep our routes as stale for the restart");
    match std::fs::remove_file(&opts.api_socket) {
        Ok(()) => info!(socket = %opts.api_socket.display(), "API socket removed"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            warn!(socket = %opts.api_socket.display(), error = %e, "cannot remove the API socket")
        }
    }
    if let Some(conn) = successor {
        if opts.kubernetes.is_some() {
            // Exiting would get this container restarted beside the successor: park (the
            // exec closes `conn`, which lets the successor start).
            use std::os::unix::process::CommandExt;
            let e = std::process::Command::new("/proc/self/exe")
                .arg("park")
                .exec();
            warn!(error = %e, "cannot park: exiting");
        }
        // Closed by the kernel when the process exits, after the runtime (and with it every
        // BGP socket) is gone: the successor starts only then.
        std::mem::forget(conn);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiting_for_a_plan_is_alive_not_ready_and_says_why() {
        let (_tx, rx) = watch::channel(Arc::new(AppliedConfig {
            plan: None,
            failed_resources: Vec::new(),
            file_errors: Vec::new(),
            plan_error: Some("no valid Underlay applies to this node".into()),
            underlay_failed: false,
            files: Vec::new(),
            generation: 0,
            ..Default::default()
        }));
        let w = Waiting { applied: rx };
        assert!(w.healthy());
        assert!(!w.ready().await);
        match w.answer(Request::Status).await {
            Response::Ok(v) => {
                assert_eq!(v["plan_error"], "no valid Underlay applies to this node")
            }
            Response::Error(e) => panic!("{e}"),
        }
        match w.answer(Request::BgpSummary).await {
            Response::Error(e) => assert!(e.contains("no valid Underlay"), "{e}"),
            Response::Ok(v) => panic!("{v}"),
        }
        let m = w.metrics().await;
        assert!(m.contains("perouter_config_generation 0.0\n"), "{m}");
    }

    #[test]
    fn a_task_whose_counter_stops_fails_liveness() {
        let beat = Arc::new(AtomicU64::new(0));
        let l = Liveness::new("routing", TASK_SILENCE, beats(beat.clone()));
        let t0 = Instant::now();
        assert!(l.alive(t0 + Duration::from_secs(10)));
        // Moving: alive, and the silence counts from the move.
        beat.fetch_add(1, Ordering::Relaxed);
        assert!(l.alive(t0 + Duration::from_secs(29)));
        assert!(l.alive(t0 + Duration::from_secs(29) + TASK_SILENCE));
        // Stuck for longer than TASK_SILENCE: not alive, until it moves again.
        assert!(!l.alive(t0 + Duration::from_secs(30) + TASK_SILENCE));
        beat.fetch_add(1, Ordering::Relaxed);
        assert!(l.alive(t0 + Duration::from_secs(31) + TASK_SILENCE));
    }

    #[test]
    fn api_never_shows_passwords() {
        let v = json!([{"neighbor": {"peer": {"password": "k3y", "port": 179}}}, {"neighbor": {"peer": {"password": null}}}]);
        let r = redact_passwords(v);
        assert_eq!(r[0]["neighbor"]["peer"]["password"], "<redacted>");
        assert_eq!(r[0]["neighbor"]["peer"]["port"], 179);
        assert_eq!(
            r[1]["neighbor"]["peer"]["password"],
            serde_json::Value::Null
        );
        assert!(!r.to_string().contains("k3y"));
    }
}
