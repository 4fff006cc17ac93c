//! The datapath task: owns the [`Datapath`] (and so the netlink sockets), takes desired-state
//! updates on a bounded channel, and reconciles level-triggered: after device changes, a new
//! whole forwarding state, drift, any error (with backoff) and periodically, so drift is
//! repaired even when no notification arrived. Forwarding patches in between are applied
//! edge-triggered ([`crate::edge`]): one netlink message per changed route, no dump, no diff —
//! unless the last pass or apply failed or the patch needs an observation, which makes it a
//! full pass. STALE neighbours are probed on their own period.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use perouter_evpn::MacAddress;

use tokio::sync::{mpsc, watch};

use crate::apply::{Datapath, FibError, ReconcileReport};
use crate::desired::{ForwardingState, NodeDatapath};
use crate::index::RouteIndex;

/// An input of the reconciler.
#[derive(Debug, Clone)]
pub enum Command {
    /// New device configuration.
    SetNode(Box<NodeDatapath>),
    /// New forwarding state (the whole wanted set; the diff finds the delta).
    SetForwarding(Box<ForwardingState>),
    /// Changes to the forwarding state last set: the touched keys' current values (see
    /// [`crate::patch`]). Ignored before the first [`Command::SetForwarding`], which the owner
    /// always sends first.
    PatchForwarding(Box<crate::patch::ForwardingPatch>),
    /// Reconcile now (e.g. a [`crate::watch::KernelEvent::Drift`]).
    Reconcile,
}

/// A pass with at least this many operations (a mass install or withdrawal) hands the memory
/// it freed back to the operating system afterwards.
const BIG_PASS_OPS: usize = 4096;

/// Returns freed heap memory to the operating system. A big pass dumps, diffs and encodes the
/// whole table on a blocking thread; glibc keeps what it freed in that thread's arena, so RSS
/// would stay at the pass's peak until the next big pass. `malloc_trim` gives back every whole
/// free page of every arena.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The outcome of the last pass, published for status and metrics.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// Full passes run (observe, diff, apply).
    pub passes: u64,
    /// Forwarding patches applied edge-triggered, without a pass ([`crate::edge`]).
    pub edge_applies: u64,
    /// Patches [`crate::edge`] left to a full pass.
    pub edge_declined: u64,
    /// Operations in the last pass.
    pub last_ops: usize,
    /// Failures in the last pass (operation, error text).
    pub last_failures: Vec<String>,
    /// Driver error of the last pass, if any.
    pub last_error: Option<String>,
    /// Write messages sent in total.
    pub messages_sent: u64,
    /// The MAC of each L3VNI bridge (VNI → MAC) after the last pass: the router MAC to
    /// advertise in type-5 routes (RFC 9135 §8.1) when the node leaves it to the kernel.
    pub router_macs: BTreeMap<u32, MacAddress>,
    /// Operations attempted since start, by [`crate::op::Op::kind`].
    pub ops_by_kind: BTreeMap<&'static str, u64>,
    /// Operations that failed since start, by kind.
    pub failures_by_kind: BTreeMap<&'static str, u64>,
    /// Routes installed with their gateways since start because the kernel refused the
    /// nexthop object planned for them (the per-route fallback, see
    /// [`crate::apply::ReconcileReport::nexthop_fallback_routes`]).
    pub nexthop_fallback_routes: u64,
    /// Passes whose driver failed as a whole (the namespace could not be read or written).
    pub errors: u64,
    /// How long the last pass took (observe, diff, apply).
    pub last_duration: Duration,
}

/// Timing of the reconciler.
#[derive(Debug, Clone)]
pub struct ReconcilerConfig {
    /// Periodic full reconcile.
    pub period: Duration,
    /// First retry delay after a failed pass (doubles up to `period`).
    pub retry: Duration,
    /// STALE-neighbour probe period (upstream: 30 s).
    pub probe_period: Duration,
}

impl Default for ReconcilerConfig {
    fn default() -> Self {
        ReconcilerConfig {
            period: Duration::from_secs(60),
            retry: Duration::from_secs(1),
            probe_period: Duration::from_secs(30),
        }
    }
}

/// The datapath task.
#[derive(Debug)]
pub struct Reconciler {
    dp: Option<Datapath>,
    node: NodeDatapath,
    /// The wanted forwarding state; `None` until the first [`Command::SetForwarding`]. Until
    /// then the kernel's routes, FDB and neighbour entries are adopted as they are: a restarted
    /// agent must not withdraw forwarding before its RIB has converged (graceful restart).
    /// Shared with the pass running on the blocking thread, never copied: patches arrive
    /// between passes, when this is the only reference, so `Arc::make_mut` changes it in place.
    /// Its `default_routes` stay empty: the main table's routes are in `defaults`.
    forwarding: Option<Arc<ForwardingState>>,
    /// The main table's wanted routes, compact ([`RouteIndex`]: prefix → handle of an interned
    /// gateway set): the one copy the datapath keeps of them. Moved into the pass while it runs.
    defaults: RouteIndex,
    cfg: ReconcilerConfig,
    /// A full pass is due (first start, device change, new whole state, drift, a failure,
    /// the period, or a patch [`crate::edge`] declined).
    full_due: bool,
    /// The kernel held the wanted state after the last pass or edge apply (no failure): only
    /// then may a patch go in edge-triggered.
    clean: bool,
    /// Operations of the patches taken since the last apply, for the edge-triggered path.
    edge_ops: Vec<crate::op::Op>,
    /// Patches taken into `edge_ops` and declined since the last status.
    edge_taken: u64,
    edge_declined: u64,
}

impl Reconciler {
    /// A reconciler for `dp`, starting from `node`. Forwarding state already in the kernel is
    /// left alone until the first [`Command::SetForwarding`].
    pub fn new(dp: Datapath, node: NodeDatapath, cfg: ReconcilerConfig) -> Reconciler {
        Reconciler {
            dp: Some(dp),
            node,
            forwarding: None,
            defaults: RouteIndex::default(),
            cfg,
            full_due: true,
            clean: false,
            edge_ops: Vec::new(),
            edge_taken: 0,
            edge_declined: 0,
        }
    }

    /// Runs until the command channel closes; status goes out on `status`.
    pub async fn run(mut self, mut rx: mpsc::Receiver<Command>, status: watch::Sender<Status>) {
        let mut st = Status::default();
        let mut retry: Option<Duration> = None;
        let mut tick = tokio::time::interval(self.cfg.period);
        let mut probe = tokio::time::interval(self.cfg.probe_period);
        tick.reset();
        probe.reset();
        // What was queued before the task started counts for its first pass: the first pass
        // must not withdraw forwarding state that a command already waiting re-supplies.
        while let Ok(cmd) = rx.try_recv() {
            self.take(cmd);
        }
        loop {
            if !self.full_due && !self.edge_ops.is_empty() {
                let ops = std::mem::take(&mut self.edge_ops);
                for op in &ops {
                    *st.ops_by_kind.entry(op.kind()).or_default() += 1;
                }
                let started = tokio::time::Instant::now();
                let Some(rep) = self.apply_edge(ops).await else {
                    tracing::info!("datapath reconciler stopping: the runtime is shutting down");
                    return;
                };
                st.edge_applies += std::mem::take(&mut self.edge_taken);
                st.edge_declined += std::mem::take(&mut self.edge_declined);
                st.messages_sent += rep.messages_sent;
                st.last_duration = started.elapsed();
                let mut failed = false;
                for f in &rep.failures {
                    *st.failures_by_kind.entry(f.op.kind()).or_default() += 1;
                    if !crate::edge::is_benign_failure(&f.op, f.errno) {
                        tracing::warn!(op = %f.op, errno = f.errno, "datapath operation failed: {}; a full pass follows", f.message);
                        failed = true;
                    }
                }
                tracing::debug!(
                    ops = rep.attempted,
                    failed = rep.failures.len(),
                    took_us = st.last_duration.as_micros() as u64,
                    "forwarding patch applied"
                );
                if failed {
                    self.full_due = true;
                    self.clean = false;
                }
                let _ = status.send(st.clone());
            }
            if self.full_due {
                self.full_due = false;
                self.edge_ops.clear();
                self.edge_taken = 0;
                st.edge_declined += std::mem::take(&mut self.edge_declined);
                let macs_unknown = st.router_macs.len() != self.node.l3vnis.len();
                let started = tokio::time::Instant::now();
                let Some(result) = self.pass(macs_unknown).await else {
                    // The blocking pass did not complete: the runtime is shutting down (its
                    // blocking threads are cancelled after SIGTERM). The kernel keeps what was
                    // applied; there is nothing left to own.
                    tracing::info!("datapath reconciler stopping: the runtime is shutting down");
                    return;
                };
                st.last_duration = started.elapsed();
                match result {
                    Ok((rep, macs)) => {
                        if let Some(macs) = macs {
                            st.router_macs = macs;
                        }
                        st.last_ops = rep.plan.ops.len();
                        st.last_failures =
                            rep.apply.failures.iter().map(|f| f.to_string()).collect();
                        st.last_error = None;
                        st.messages_sent += rep.apply.messages_sent;
                        st.nexthop_fallback_routes += rep.nexthop_fallback_routes as u64;
                        for op in &rep.plan.ops {
                            *st.ops_by_kind.entry(op.kind()).or_default() += 1;
                        }
                        for f in &rep.apply.failures {
                            *st.failures_by_kind.entry(f.op.kind()).or_default() += 1;
                            tracing::warn!(op = %f.op, errno = f.errno, "datapath operation failed: {}", f.message);
                        }
                        if !rep.plan.ops.is_empty() {
                            tracing::info!(
                                ops = rep.plan.ops.len(),
                                failed = rep.apply.failures.len(),
                                netlink_messages = rep.apply.messages_sent,
                                took_ms = st.last_duration.as_millis() as u64,
                                "datapath pass changed the kernel"
                            );
                        }
                        if rep.plan.ops.len() >= BIG_PASS_OPS {
                            release_freed_memory();
                        }
                        retry = if rep.apply.failures.is_empty() {
                            None
                        } else {
                            Some(self.backoff(retry))
                        };
                        self.clean = retry.is_none();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "datapath reconcile failed");
                        st.last_error = Some(e.to_string());
                        st.errors += 1;
                        retry = Some(self.backoff(retry));
                        self.clean = false;
                    }
                }
                st.passes += 1;
                let _ = status.send(st.clone());
            }
            let sleep = tokio::time::sleep(retry.unwrap_or(self.cfg.period));
            tokio::select! {
                cmd = rx.recv() => {
                    let Some(cmd) = cmd else { return };
                    self.take(cmd);
                    // Batch: take everything already queued before the next pass.
                    while let Ok(cmd) = rx.try_recv() {
                        self.take(cmd);
                    }
                }
                _ = tick.tick() => self.full_due = true,
                _ = sleep, if retry.is_some() => self.full_due = true,
                _ = probe.tick() => if !self.probe().await {
                    tracing::info!("datapath reconciler stopping: the runtime is shutting down");
                    return;
                },
            }
        }
    }

    fn backoff(&self, prev: Option<Duration>) -> Duration {
        prev.map(|d| (d * 2).min(self.cfg.period))
            .unwrap_or(self.cfg.retry)
    }

    fn take(&mut self, cmd: Command) {
        match cmd {
            Command::SetNode(n) => {
                self.node = *n;
                self.full_due = true;
            }
            Command::SetForwarding(f) => {
                let mut f = *f;
                self.defaults = RouteIndex::from_map(std::mem::take(&mut f.default_routes));
                self.forwarding = Some(Arc::new(f));
                self.full_due = true;
            }
            Command::PatchForwarding(p) => match &mut self.forwarding {
                Some(f) => {
                    // Edge-triggered when the kernel is known to hold `f` and the patch is only
                    // route changes; anything else waits for the full pass.
                    if self.clean && !self.full_due {
                        match crate::edge::patch_ops(&self.node, f, &p) {
                            Some(mut ops) => {
                                if let Some(dp) = &mut self.dp {
                                    crate::edge::use_objects(&mut ops, dp.nexthop_index_mut());
                                }
                                self.edge_ops.extend(ops);
                                self.edge_taken += 1;
                            }
                            None => {
                                self.full_due = true;
                                self.edge_declined += 1;
                            }
                        }
                    } else {
                        self.full_due = true;
                    }
                    let mut p = *p;
                    for (prefix, gateways) in std::mem::take(&mut p.default_routes) {
                        let g: Option<Vec<std::net::IpAddr>> =
                            gateways.map(|g| g.into_iter().collect());
                        self.defaults.set(prefix, g.as_deref());
                    }
                    Arc::make_mut(f).apply(p)
                }
                None => tracing::warn!(
                    entries = p.len(),
                    "forwarding patch before any forwarding state: ignored"
                ),
            },
            Command::Reconcile => self.full_due = true,
        }
    }

    /// Applies the operations of edge-triggered patches on a blocking thread; None when the
    /// thread did not complete (shutdown).
    async fn apply_edge(&mut self, ops: Vec<crate::op::Op>) -> Option<crate::apply::ApplyReport> {
        let mut dp = self.dp.take()?;
        let (dp, rep) = tokio::task::spawn_blocking(move || {
            let rep = dp.apply(&ops);
            (dp, rep)
        })
        .await
        .ok()?;
        self.dp = Some(dp);
        Some(rep)
    }

    /// One observe/diff/apply pass on a blocking thread (netlink I/O is synchronous). When the
    /// pass wrote something or `read_macs` asks for it, the L3VNI bridges' MACs are read back
    /// too (a new bridge has a new one). None when the blocking thread did not complete (the
    /// runtime is shutting down): the datapath is gone with it, and the caller stops.
    async fn pass(
        &mut self,
        read_macs: bool,
    ) -> Option<Result<(ReconcileReport, Option<BTreeMap<u32, MacAddress>>), FibError>> {
        let mut dp = self.dp.take()?;
        let node = self.node.clone();
        let fwd = self.forwarding.clone();
        let mut index = std::mem::take(&mut self.defaults);
        let (dp, index, res) = tokio::task::spawn_blocking(move || {
            let r = dp
                .reconcile_indexed(&node, fwd.as_deref().map(|f| (f, &mut index)))
                .and_then(|rep| {
                    let macs = if rep.plan.ops.is_empty() && !read_macs {
                        None
                    } else {
                        Some(dp.l3vni_router_macs(&node)?)
                    };
                    Ok((rep, macs))
                });
            (dp, index, r)
        })
        .await
        .ok()?;
        self.dp = Some(dp);
        self.defaults = index;
        Some(res)
    }

    /// Probes STALE neighbours; false when the blocking thread did not complete (shutdown).
    async fn probe(&mut self) -> bool {
        let Some(mut dp) = self.dp.take() else {
            return false;
        };
        let node = self.node.clone();
        let dp = tokio::task::spawn_blocking(move || {
            if let Ok(o) = dp.observe(&node) {
                if let Some(r) = &o.router {
                    let ops = crate::watch::stale_probes(&node, r);
                    if !ops.is_empty() {
                        let rep = dp.apply(&ops);
                        tracing::debug!(
                            probes = ops.len(),
                            failed = rep.failures.len(),
                            "probed STALE neighbours"
                        );
                    }
                }
            }
            dp
        })
        .await;
        match dp {
            Ok(dp) => {
                self.dp = Some(dp);
                true
            }
            Err(_) => false,
        }
    }
}
