//! Prometheus metrics, on `prometheus-client` (the official Rust client).
//!
//! Two kinds of values:
//! - [`LiveMetrics`]: fed as things happen (the datapath's pass durations, kernel
//!   notifications); long-lived, shared by clone.
//! - everything else is read at scrape time from the snapshots the state owners publish
//!   ([`ScrapeInput`]: the speaker's session status, the routing task's snapshot, the datapath's
//!   status, the applied configuration) and rendered into a fresh registry by [`render`].
//!   Values that only grow (message counts, transitions) are exposed as counters: they are the
//!   owners' own monotonic counts, restarting at 0 only when a neighbour is re-created.
//!
//! The exposition is OpenMetrics (what `prometheus-client` writes, and what Prometheus asks
//! for); [`to_prometheus_text`] turns it into the classic text format 0.0.4 for clients that
//! do not accept OpenMetrics (`curl`, `promtool check metrics`).
//!
//! Every family is listed in [`FAMILIES`]; the Grafana dashboard's test checks its queries
//! against it.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use perouter_bgp::speaker::PeerStatus;
use perouter_fib::reconcile::Status as FibStatus;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

use crate::runtime::node_config::AppliedConfig;
use crate::runtime::ovs::OvsStatus;
use crate::runtime::routing::{EvpnRouteView, RoutingSnapshot};

/// A metric's labels, in order.
pub type Labels = Vec<(String, String)>;

type FloatGauge = Gauge<f64, AtomicU64>;
type FloatCounter = Counter<f64, AtomicU64>;

/// Every metric family perouter exposes, by the name queries use (counters with `_total`,
/// histograms by their base name).
pub const FAMILIES: &[&str] = &[
    "perouter_build_info",
    "perouter_bgp_session_established",
    "perouter_bgp_session_state",
    "perouter_bgp_session_uptime_seconds",
    "perouter_bgp_session_established_transitions_total",
    "perouter_bgp_session_flaps_total",
    "perouter_bgp_messages_received_total",
    "perouter_bgp_messages_sent_total",
    "perouter_bgp_notifications_received_total",
    "perouter_bgp_notifications_sent_total",
    "perouter_bgp_prefixes_received_total",
    "perouter_bgp_prefixes_withdrawn_total",
    "perouter_bgp_prefixes_advertised_total",
    "perouter_bgp_prefixes_current",
    "perouter_bgp_updates_treated_as_withdraw_total",
    "perouter_bgp_attributes_discarded_total",
    "perouter_bgp_send_queue_bytes",
    "perouter_bgp_send_stalled",
    "perouter_rib_routes",
    "perouter_rib_attribute_sets",
    "perouter_rib_refused_nlri_total",
    "perouter_rib_unreachable_next_hops",
    "perouter_rib_evpn_routes",
    "perouter_installed_routes",
    "perouter_remote_macs",
    "perouter_flood_entries",
    "perouter_datapath_reconcile_passes_total",
    "perouter_datapath_edge_applies_total",
    "perouter_datapath_edge_declined_total",
    "perouter_datapath_nexthop_fallback_routes_total",
    "perouter_datapath_reconcile_errors_total",
    "perouter_datapath_reconcile_duration_seconds",
    "perouter_datapath_operations_total",
    "perouter_datapath_operation_failures_total",
    "perouter_datapath_last_pass_failures",
    "perouter_datapath_netlink_messages_total",
    "perouter_ovs_host_legs",
    "perouter_ovs_connected",
    "perouter_ovs_transactions_total",
    "perouter_ovs_transaction_failures_total",
    "perouter_ovs_last_pass_failures",
    "perouter_kernel_notifications_total",
    "perouter_handoffs_total",
    "perouter_handoff_sessions_total",
    "perouter_bfd_session_up",
    "perouter_bfd_state_changes_total",
    "perouter_bfd_packets_total",
    "perouter_bfd_detection_time_seconds",
    "perouter_config_generation",
    "perouter_config_resources_applied",
    "perouter_config_resources_failed",
    "perouter_config_file_errors",
    "perouter_config_plan_error",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_open_fds",
    "process_max_fds",
    "process_start_time_seconds",
];

/// Metrics fed by events as they happen; cheap to clone (shared state inside).
#[derive(Debug, Clone)]
pub struct LiveMetrics {
    reconcile_duration: Histogram,
    kernel_notifications: Family<Labels, Counter>,
    handoffs: Family<Labels, Counter>,
    handoff_sessions: Counter,
}

impl Default for LiveMetrics {
    fn default() -> Self {
        LiveMetrics {
            // 1 ms .. ~33 s.
            reconcile_duration: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            kernel_notifications: Family::default(),
            handoffs: Family::default(),
            handoff_sessions: Counter::default(),
        }
    }
}

impl LiveMetrics {
    /// Records one datapath pass of duration `d`.
    pub fn observe_reconcile(&self, d: Duration) {
        self.reconcile_duration.observe(d.as_secs_f64());
    }

    /// Counts one session handoff attempt by `outcome` (`handed_over`, `taken_over`,
    /// `refused`, `abandoned`, `fallback`) and the sessions it moved.
    pub fn handoff(&self, outcome: &str, sessions: usize) {
        self.handoffs
            .get_or_create(&vec![("outcome".to_string(), outcome.to_string())])
            .inc();
        self.handoff_sessions.inc_by(sessions as u64);
    }

    /// Counts one kernel notification of `kind` (`local_mac`, `local_neighbour`, `removal`).
    pub fn kernel_notification(&self, kind: &str) {
        self.kernel_notifications
            .get_or_create(&vec![("kind".to_string(), kind.to_string())])
            .inc();
    }
}

/// What one scrape reads from the state owners. `None` where an owner did not answer in time
/// (its families are then left out of this scrape rather than reported as zero).
#[derive(Debug, Default)]
pub struct ScrapeInput {
    /// The speaker's sessions.
    pub peers: Option<Vec<PeerStatus>>,
    /// The routing task's snapshot.
    pub routing: Option<RoutingSnapshot>,
    /// EVPN routes (for the per-VNI counts).
    pub evpn: Option<Vec<EvpnRouteView>>,
    /// The datapath's status.
    pub fib: Option<FibStatus>,
    /// The OVS host legs' status.
    pub ovs: Option<OvsStatus>,
    /// The applied configuration.
    pub applied: Option<Arc<AppliedConfig>>,
    /// The BFD sessions (RFC 5880), as the BFD task publishes them.
    pub bfd: Option<Vec<perouter_bfd::driver::PeerStatus>>,
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A registry under construction for one scrape.
struct Builder {
    root: Registry,
}

impl Builder {
    fn gauge(&mut self, name: &str, help: &str) -> Family<Labels, FloatGauge> {
        let f = Family::<Labels, FloatGauge>::default();
        self.root
            .register(format!("perouter_{name}"), help, f.clone());
        f
    }

    /// A gauge without labels.
    fn gauge1(&mut self, name: &str, help: &str, v: f64) {
        let g = FloatGauge::default();
        g.set(v);
        self.root.register(format!("perouter_{name}"), help, g);
    }

    /// A counter without labels.
    fn counter1(&mut self, name: &str, help: &str, v: u64) {
        let c = Counter::<u64>::default();
        c.inc_by(v);
        self.root.register(format!("perouter_{name}"), help, c);
    }

    fn counter(&mut self, name: &str, help: &str) -> Family<Labels, Counter> {
        let f = Family::<Labels, Counter>::default();
        self.root
            .register(format!("perouter_{name}"), help, f.clone());
        f
    }
}

fn set(f: &Family<Labels, FloatGauge>, l: &[(&str, &str)], v: f64) {
    f.get_or_create(&labels(l)).set(v);
}

fn add(f: &Family<Labels, Counter>, l: &[(&str, &str)], v: u64) {
    f.get_or_create(&labels(l)).inc_by(v);
}

/// The peer label: the address without the port.
fn peer_label(p: &PeerStatus) -> String {
    p.remote.ip().to_string()
}

/// BFD sessions (RFC 5880): state, state changes, packets by direction, detection time.
fn bfd(b: &mut Builder, peers: &[perouter_bfd::driver::PeerStatus]) {
    let up = b.gauge("bfd_session_up", "1 when the BFD session is Up");
    let changes = b.counter("bfd_state_changes", "BFD session state changes");
    let packets = b.counter(
        "bfd_packets",
        "BFD control packets by direction (in, out, dropped)",
    );
    let detect = b.gauge(
        "bfd_detection_time_seconds",
        "Negotiated BFD detection time (RFC 5880 §6.8.4)",
    );
    for p in peers {
        let peer = p.peer.to_string();
        let l = [("peer", peer.as_str())];
        let is_up = p.session.state == perouter_bfd::State::Up;
        set(&up, &l, if is_up { 1.0 } else { 0.0 });
        add(&changes, &l, p.session.counters.state_changes);
        let c = &p.session.counters;
        for (dir, v) in [
            ("in", c.packets_in),
            ("out", c.packets_out),
            ("dropped", c.discarded + p.dropped),
        ] {
            add(&packets, &[("peer", peer.as_str()), ("direction", dir)], v);
        }
        if let Some(us) = p.session.detection_time_us {
            set(&detect, &l, f64::from(us) / 1e6);
        }
    }
}

/// The FSM state names of RFC 4271 §8.2.2, as the `state` label of
/// `perouter_bgp_session_state`.
pub const BGP_STATES: &[&str] = &[
    "Idle",
    "Connect",
    "Active",
    "OpenSent",
    "OpenConfirm",
    "Established",
];

/// Renders every metric, OpenMetrics text.
pub fn render(live: &LiveMetrics, input: &ScrapeInput) -> String {
    let mut b = Builder {
        root: Registry::default(),
    };
    let build = b.gauge("build_info", "perouter's version; the value is always 1");
    set(&build, &[("version", env!("CARGO_PKG_VERSION"))], 1.0);
    if let Some(peers) = &input.peers {
        sessions(&mut b, peers);
    }
    if let Some(r) = &input.routing {
        routing(&mut b, r);
    }
    if let Some(evpn) = &input.evpn {
        let f = b.gauge(
            "rib_evpn_routes",
            "EVPN routes in the RIB by VNI and route type (local and remote)",
        );
        let mut counts: BTreeMap<(String, u8), u64> = BTreeMap::new();
        for r in evpn {
            let vni = r
                .vni
                .map(|v| v.to_string())
                .unwrap_or_else(|| "none".into());
            *counts.entry((vni, r.route_type)).or_default() += 1;
        }
        for ((vni, t), n) in counts {
            set(
                &f,
                &[("vni", &vni), ("route_type", &t.to_string())],
                n as f64,
            );
        }
    }
    if let Some(fib) = &input.fib {
        datapath(&mut b, live, fib);
    }
    if let Some(o) = &input.ovs {
        ovs(&mut b, o);
    }
    if let Some(peers) = &input.bfd {
        bfd(&mut b, peers);
    }
    b.root.register(
        "perouter_kernel_notifications",
        "Notifications from the router namespace's kernel, by kind",
        live.kernel_notifications.clone(),
    );
    b.root.register(
        "perouter_handoffs",
        "Session handoffs between perouter processes (upgrades), by outcome: handed_over \
         (this process gave its sessions away), taken_over (it took them), refused, abandoned \
         (the predecessor thawed), fallback (ordinary start after a failed handoff)",
        live.handoffs.clone(),
    );
    b.root.register(
        "perouter_handoff_sessions",
        "BGP sessions moved by session handoffs (given or taken by this process)",
        live.handoff_sessions.clone(),
    );
    if let Some(a) = &input.applied {
        config(&mut b, a);
    }
    process(&mut b.root);
    let mut out = String::new();
    if let Err(e) = encode(&mut out, &b.root) {
        tracing::warn!(error = %e, "metrics encoding failed");
    }
    out
}

fn sessions(b: &mut Builder, peers: &[PeerStatus]) {
    let up = b.gauge(
        "bgp_session_established",
        "1 when the BGP session is Established, else 0",
    );
    let state = b.gauge(
        "bgp_session_state",
        "The BGP FSM state (RFC 4271 §8.2.2): 1 for the current state, 0 for the others",
    );
    let uptime = b.gauge(
        "bgp_session_uptime_seconds",
        "How long the session has been Established (0 when it is not)",
    );
    let trans = b.counter(
        "bgp_session_established_transitions",
        "Times the session reached Established",
    );
    let flaps = b.counter("bgp_session_flaps", "Times the session left Established");
    let rx = b.counter("bgp_messages_received", "BGP messages received, by type");
    let tx = b.counter("bgp_messages_sent", "BGP messages sent, by type");
    let nrx = b.counter(
        "bgp_notifications_received",
        "NOTIFICATIONs received, by error code and subcode (RFC 4271 §4.5)",
    );
    let ntx = b.counter(
        "bgp_notifications_sent",
        "NOTIFICATIONs sent, by error code and subcode (RFC 4271 §4.5)",
    );
    let pfx_rx = b.counter(
        "bgp_prefixes_received",
        "NLRI announced by the peer (all families, duplicates included)",
    );
    let pfx_wd = b.counter(
        "bgp_prefixes_withdrawn",
        "NLRI withdrawn by the peer (all families)",
    );
    let pfx_tx = b.counter("bgp_prefixes_advertised", "NLRI sent to the peer");
    let pfx_cur = b.gauge(
        "bgp_prefixes_current",
        "Distinct prefixes currently held from the peer (sessions with a prefix limit)",
    );
    let taw = b.counter(
        "bgp_updates_treated_as_withdraw",
        "UPDATEs treated as withdraw (RFC 7606 §2)",
    );
    let disc = b.counter(
        "bgp_attributes_discarded",
        "Path attributes discarded (RFC 7606 §2)",
    );
    let send_queue = b.gauge(
        "bgp_send_queue_bytes",
        "Bytes queued for the peer and not yet taken by its socket or acknowledged",
    );
    let send_stalled = b.gauge(
        "bgp_send_stalled",
        "1 while the peer reads nothing of what is queued for it (RFC 9687 SendHoldTimer)",
    );
    for p in peers {
        let peer = peer_label(p);
        let l = [("peer", peer.as_str())];
        let c = &p.session.counters;
        let st = format!("{:?}", p.session.state);
        set(&up, &l, if st == "Established" { 1.0 } else { 0.0 });
        set(&send_queue, &l, p.session.send_queue_bytes as f64);
        let stalled = p.session.send_stalled_since.is_some();
        set(&send_stalled, &l, if stalled { 1.0 } else { 0.0 });
        for s in BGP_STATES {
            set(
                &state,
                &[("peer", &peer), ("state", s)],
                if st == *s { 1.0 } else { 0.0 },
            );
        }
        set(
            &uptime,
            &l,
            c.uptime.map(|d| d.as_secs_f64()).unwrap_or(0.0),
        );
        add(&trans, &l, c.established_transitions);
        add(&flaps, &l, c.flaps);
        for (dir, m) in [(&rx, &c.messages_in), (&tx, &c.messages_out)] {
            for (t, n) in [
                ("open", m.open),
                ("update", m.update),
                ("notification", m.notification),
                ("keepalive", m.keepalive),
                ("route_refresh", m.route_refresh),
                ("unknown", m.unknown),
            ] {
                add(dir, &[("peer", &peer), ("type", t)], n);
            }
        }
        for (dir, list) in [
            (&nrx, &c.notifications_received),
            (&ntx, &c.notifications_sent),
        ] {
            for n in list {
                add(
                    dir,
                    &[
                        ("peer", &peer),
                        ("code", &n.code.to_string()),
                        ("subcode", &n.subcode.to_string()),
                    ],
                    n.count,
                );
            }
        }
        add(&pfx_rx, &l, c.prefixes_received);
        add(&pfx_wd, &l, c.prefixes_withdrawn);
        add(&pfx_tx, &l, c.prefixes_advertised);
        if let Some(n) = c.prefixes_current {
            set(&pfx_cur, &l, n as f64);
        }
        add(&taw, &l, c.updates_treated_as_withdraw);
        add(&disc, &l, c.attributes_discarded);
    }
}

fn family_of(p: &ipnet::IpNet) -> &'static str {
    match p {
        ipnet::IpNet::V4(_) => "ipv4",
        ipnet::IpNet::V6(_) => "ipv6",
    }
}

fn routing(b: &mut Builder, r: &RoutingSnapshot) {
    let rib = b.gauge("rib_routes", "Routes in the RIB, by table");
    set(&rib, &[("table", "default")], r.default_routes as f64);
    set(&rib, &[("table", "evpn")], r.evpn_routes as f64);
    set(&rib, &[("table", "vrf")], r.vrf_routes as f64);
    b.gauge1(
        "rib_attribute_sets",
        "Distinct interned path attribute sets",
        r.attribute_sets as f64,
    );
    let refused = b.counter(
        "rib_refused_nlri",
        "Well-formed NLRI the RIB refused since start, by reason: family_not_negotiated \
         (ignored, RFC 4760 §7), invalid_next_hop (kept but never used, RFC 4271 §5.1.3)",
    );
    add(
        &refused,
        &[("reason", "family_not_negotiated")],
        r.refused_family,
    );
    add(
        &refused,
        &[("reason", "invalid_next_hop")],
        r.refused_next_hop,
    );
    b.gauge1(
        "rib_unreachable_next_hops",
        "Tracked next hops (VTEPs, gateways) the underlay cannot reach now",
        r.unreachable_next_hops as f64,
    );
    let inst = b.gauge(
        "installed_routes",
        "Routes programmed into the kernel, by table (VRF name, or `default`) and family",
    );
    let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    for (vrf, routes) in &r.vrfs {
        counts.entry((vrf, "ipv4")).or_default();
        counts.entry((vrf, "ipv6")).or_default();
        for route in routes {
            *counts.entry((vrf, family_of(&route.prefix))).or_default() += 1;
        }
    }
    counts.entry(("default", "ipv4")).or_default();
    counts.entry(("default", "ipv6")).or_default();
    for route in &r.default_table {
        *counts
            .entry(("default", family_of(&route.prefix)))
            .or_default() += 1;
    }
    for ((table, fam), n) in counts {
        set(&inst, &[("table", table), ("family", fam)], n as f64);
    }
    b.gauge1(
        "remote_macs",
        "Remote MACs programmed on L2VNIs",
        r.remote_macs as f64,
    );
    b.gauge1(
        "flood_entries",
        "Flood-list (BUM) entries programmed on VXLAN devices",
        r.flood_entries as f64,
    );
}

fn datapath(b: &mut Builder, live: &LiveMetrics, fib: &FibStatus) {
    b.counter1(
        "datapath_reconcile_passes",
        "Datapath reconcile passes",
        fib.passes,
    );
    b.counter1(
        "datapath_edge_applies",
        "Forwarding patches applied edge-triggered (one message per changed route, no pass)",
        fib.edge_applies,
    );
    b.counter1(
        "datapath_edge_declined",
        "Forwarding patches left to a full pass (VRF, MAC, flood or neighbour changes)",
        fib.edge_declined,
    );
    b.counter1(
        "datapath_nexthop_fallback_routes",
        "Routes installed with their gateways because the kernel refused their nexthop object",
        fib.nexthop_fallback_routes,
    );
    b.counter1(
        "datapath_reconcile_errors",
        "Datapath passes that failed as a whole (the namespace could not be read or written)",
        fib.errors,
    );
    b.root.register_with_unit(
        "perouter_datapath_reconcile_duration",
        "How long datapath reconcile passes take (observe, diff, apply)",
        Unit::Seconds,
        live.reconcile_duration.clone(),
    );
    let ops = b.counter(
        "datapath_operations",
        "Datapath operations attempted, by kind",
    );
    for (k, n) in &fib.ops_by_kind {
        add(&ops, &[("kind", k)], *n);
    }
    let fails = b.counter(
        "datapath_operation_failures",
        "Datapath operations that failed, by kind",
    );
    for (k, n) in &fib.failures_by_kind {
        add(&fails, &[("kind", k)], *n);
    }
    b.gauge1(
        "datapath_last_pass_failures",
        "Operations that failed in the last reconcile pass",
        fib.last_failures.len() as f64,
    );
    b.counter1(
        "datapath_netlink_messages",
        "Netlink write messages sent to the kernel",
        fib.messages_sent,
    );
}

fn ovs(b: &mut Builder, o: &OvsStatus) {
    b.gauge1(
        "ovs_host_legs",
        "L2VNI host legs wanted on Open vSwitch bridges",
        o.legs as f64,
    );
    b.gauge1(
        "ovs_connected",
        "Whether the last OVS pass reached ovsdb-server (1) or not (0)",
        if o.connected { 1.0 } else { 0.0 },
    );
    b.counter1(
        "ovs_transactions",
        "OVSDB transactions committed (bridges created or deleted, ports attached or detached)",
        o.transactions,
    );
    b.counter1(
        "ovs_transaction_failures",
        "OVSDB transactions the server refused",
        o.transaction_failures,
    );
    b.gauge1(
        "ovs_last_pass_failures",
        "OVS host legs or transactions that failed in the last pass (ovsdb unreachable: every leg)",
        o.last_failures.len() as f64,
    );
}

fn config(b: &mut Builder, a: &AppliedConfig) {
    b.gauge1(
        "config_generation",
        "How many node plans have been applied since start",
        a.generation as f64,
    );
    let applied = b.gauge(
        "config_resources_applied",
        "Resources in the running node plan, by kind",
    );
    if let Some(p) = &a.plan {
        set(&applied, &[("kind", "Underlay")], 1.0);
        set(&applied, &[("kind", "L3VNI")], p.l3vnis.len() as f64);
        set(&applied, &[("kind", "L2VNI")], p.l2vnis.len() as f64);
        set(
            &applied,
            &[("kind", "L3Passthrough")],
            if p.passthrough.is_some() { 1.0 } else { 0.0 },
        );
    }
    let failed = b.gauge(
        "config_resources_failed",
        "Resources skipped by validation, by kind",
    );
    let mut by_kind: BTreeMap<String, u64> = BTreeMap::new();
    for k in ["Underlay", "L3VNI", "L2VNI", "L3Passthrough"] {
        by_kind.insert(k.to_string(), 0);
    }
    for f in &a.failed_resources {
        *by_kind.entry(f.kind.to_string()).or_default() += 1;
    }
    for (k, n) in by_kind {
        set(&failed, &[("kind", &k)], n as f64);
    }
    b.gauge1(
        "config_file_errors",
        "Configuration files that could not be used",
        a.file_errors.len() as f64,
    );
    b.gauge1(
        "config_plan_error",
        "1 when the newest configuration could not replace the running plan",
        if a.plan_error.is_some() { 1.0 } else { 0.0 },
    );
}

/// The process's own figures from /proc/self (the names every Prometheus client uses).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    /// User and system CPU time.
    pub cpu_seconds: f64,
    /// Resident set size.
    pub rss_bytes: u64,
    /// Virtual memory size.
    pub vsize_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The soft limit on file descriptors.
    pub max_fds: Option<u64>,
    /// When the process started, in seconds since the Unix epoch.
    pub start_time_seconds: f64,
}

impl ProcessStats {
    /// Reads /proc/self; None where it cannot be read.
    pub fn read() -> Option<ProcessStats> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        // SAFETY: as above.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let mut s = parse_stat(&stat, &boot, ticks.max(1) as f64, page.max(1) as u64)?;
        s.open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `lim` is a valid, writable rlimit.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0 {
            s.max_fds = Some(lim.rlim_cur);
        }
        Some(s)
    }
}

/// Parses `/proc/self/stat` (proc(5)) with `/proc/stat`'s `btime`: CPU time (fields 14 and 15,
/// in clock ticks), start time (field 22, ticks after boot), virtual size (23, bytes) and RSS
/// (24, pages). The command name (field 2) may hold spaces and parentheses: fields are counted
/// after its last `)`.
pub fn parse_stat(stat: &str, proc_stat: &str, ticks: f64, page: u64) -> Option<ProcessStats> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest starts at field 3 (state).
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Option<u64> { f.get(n - 3)?.parse().ok() };
    let btime: u64 = proc_stat
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    Some(ProcessStats {
        cpu_seconds: (field(14)? + field(15)?) as f64 / ticks,
        start_time_seconds: btime as f64 + field(22)? as f64 / ticks,
        vsize_bytes: field(23)?,
        rss_bytes: field(24)? * page,
        open_fds: 0,
        max_fds: None,
    })
}

fn process(root: &mut Registry) {
    let Some(s) = ProcessStats::read() else {
        return;
    };
    let cpu = FloatCounter::default();
    cpu.inc_by(s.cpu_seconds);
    root.register_with_unit(
        "process_cpu",
        "Total user and system CPU time spent",
        Unit::Seconds,
        cpu,
    );
    let g = |root: &mut Registry, name: &str, help: &str, unit: Option<Unit>, v: f64| {
        let x = FloatGauge::default();
        x.set(v);
        match unit {
            Some(u) => root.register_with_unit(name, help, u, x),
            None => root.register(name, help, x),
        }
    };
    g(
        root,
        "process_resident_memory",
        "Resident memory size",
        Some(Unit::Bytes),
        s.rss_bytes as f64,
    );
    g(
        root,
        "process_virtual_memory",
        "Virtual memory size",
        Some(Unit::Bytes),
        s.vsize_bytes as f64,
    );
    g(
        root,
        "process_open_fds",
        "Open file descriptors",
        None,
        s.open_fds as f64,
    );
    if let Some(m) = s.max_fds {
        g(
            root,
            "process_max_fds",
            "The limit on open file descriptors",
            None,
            m as f64,
        );
    }
    g(
        root,
        "process_start_time",
        "Start time of the process since the Unix epoch",
        Some(Unit::Seconds),
        s.start_time_seconds,
    );
}

/// Turns OpenMetrics text (as [`render`] writes it) into the Prometheus text format 0.0.4:
/// a counter's `# HELP`/`# TYPE` lines name its `_total` samples, `# UNIT` and `# EOF` go
/// (0.0.4 has neither). Samples are unchanged.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut counters = std::collections::HashSet::new();
    for l in openmetrics.lines() {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            if let Some(name) = rest.strip_suffix(" counter") {
                counters.insert(name.to_string());
            }
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for l in openmetrics.lines() {
        if l == "# EOF" || l.starts_with("# UNIT ") {
            continue;
        }
        let rewritten = ["# HELP ", "# TYPE "].iter().find_map(|p| {
            let rest = l.strip_prefix(p)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{p}{name}_total {tail}"))
        });
        match rewritten {
            Some(r) => out.push_str(&r),
            None => out.push_str(l),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use perouter_bgp::config::NeighborTarget;
    use perouter_bgp::fsm::State;
    use perouter_bgp::session::{Counters, SessionStatus};
    use perouter_bgp::speaker::PeerId;
    use perouter_bgp::wire::Notification;

    use crate::runtime::node_config::ConfigSource;
    use crate::runtime::routing::VrfRouteView;

    /// The applied configuration of the repository's static example.
    /// A BFD session as the driver publishes it, Up with a negotiated detection time.
    fn example_bfd() -> perouter_bfd::driver::PeerStatus {
        let now = std::time::Instant::now();
        let session = perouter_bfd::Session::new(now, perouter_bfd::Config::default(), 7, 1);
        let mut status = session.status(now);
        status.state = perouter_bfd::State::Up;
        status.detection_time_us = Some(900_000);
        status.counters.packets_in = 12;
        status.counters.packets_out = 14;
        status.counters.state_changes = 2;
        perouter_bfd::driver::PeerStatus {
            peer: "192.168.11.2".parse().unwrap(),
            local: None,
            interface: None,
            multihop: false,
            passive: false,
            dropped: 0,
            session: status,
        }
    }

    pub(crate) fn example_applied() -> AppliedConfig {
        ConfigSource {
            dir: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/static"),
            node_index: None,
            router_netns: "perouter".into(),
            poll: Duration::from_secs(2),
        }
        .load(None)
    }

    /// Two sessions (one up with traffic and NOTIFICATIONs, one down), routes in two VRFs and
    /// the default table, EVPN routes, a datapath with operations and a failure.
    pub(crate) fn representative() -> (LiveMetrics, ScrapeInput) {
        let mut c = Counters::default();
        c.messages_in.keepalive = 10;
        c.messages_in.update = 4;
        c.messages_in.open = 1;
        c.messages_in.notification = 1;
        c.messages_out.notification = 1;
        c.messages_out.keepalive = 11;
        c.messages_out.update = 2;
        c.messages_out.open = 1;
        c.prefixes_received = 7;
        c.prefixes_advertised = 3;
        c.prefixes_current = Some(5);
        c.notification_received(&Notification {
            code: 6,
            subcode: 2,
            data: Default::default(),
        });
        c.notification_sent(&Notification {
            code: 4,
            subcode: 0,
            data: Default::default(),
        });
        c.up(std::time::Instant::now());
        let c = c.snapshot(std::time::Instant::now() + Duration::from_secs(90));
        let peers = vec![
            PeerStatus {
                peer: PeerId(1),
                target: NeighborTarget::Address("192.168.11.2".parse().unwrap()),
                remote: "192.168.11.2:179".parse().unwrap(),
                session: SessionStatus {
                    state: State::Established,
                    counters: c,
                    remote: Some("192.168.11.2:179".parse().unwrap()),
                    local: Some("192.168.11.3:40000".parse().unwrap()),
                    send_queue_bytes: 65536,
                    send_stalled_since: Some(1_764_870_000),
                    outbox_depth: 2,
                    negotiated: Some(Box::new(perouter_bgp::fsm::SessionParams {
                        local_as: 64514,
                        peer_as: 64512,
                        local_id: "10.0.0.1".parse().unwrap(),
                        peer_id: "192.168.11.2".parse().unwrap(),
                        ibgp: false,
                        hold_time: 9,
                        keepalive: Some(Duration::from_secs(3)),
                        families: vec![perouter_bgp::wire::AfiSafi::IPV4_UNICAST],
                        four_octet_as: true,
                        extended_message: false,
                        route_refresh: true,
                        enhanced_route_refresh: false,
                        add_path_receive: vec![],
                        add_path_send: vec![],
                        extended_next_hop: vec![],
                        route_reflector_client: false,
                        graceful_restart: Some(perouter_bgp::fsm::open::PeerGracefulRestart {
                            restart_time: 120,
                            restarting: false,
                            families: vec![(perouter_bgp::wire::AfiSafi::IPV4_UNICAST, true)],
                        }),
                        local_restarting: false,
                        peer_capabilities: vec![
                            "mp ipv4-unicast".into(),
                            "route-refresh".into(),
                            "4-octet-as 64512".into(),
                            "graceful-restart 120s".into(),
                            "hostname tor1".into(),
                        ],
                        rx: Default::default(),
                        tx: Default::default(),
                    })),
                    taken_at: None,
                },
            },
            PeerStatus {
                peer: PeerId(2),
                target: NeighborTarget::Address("fd00::2".parse().unwrap()),
                remote: "[fd00::2]:179".parse().unwrap(),
                session: SessionStatus {
                    state: State::Active,
                    counters: Counters::default(),
                    remote: None,
                    local: None,
                    send_queue_bytes: 0,
                    send_stalled_since: None,
                    outbox_depth: 0,
                    negotiated: None,
                    taken_at: None,
                },
            },
        ];
        let view = |p: &str| VrfRouteView {
            prefix: p.parse().unwrap(),
            next_hops: vec!["100.65.0.1".into()],
        };
        let routing = RoutingSnapshot {
            default_routes: 3,
            evpn_routes: 2,
            vrf_routes: 2,
            attribute_sets: 4,
            refused_family: 3,
            refused_next_hop: 1,
            unreachable_next_hops: 0,
            vrfs: [(
                "red".to_string(),
                vec![view("10.0.0.0/24"), view("fd10::/64")],
            )]
            .into_iter()
            .collect(),
            default_table: vec![view("100.64.0.0/24")],
            remote_macs: 1,
            flood_entries: 2,
            peers: Default::default(),
        };
        let imet = |vni: u32| EvpnRouteView {
            prefix: "[3]:[0]:[32]:[100.65.0.1]".into(),
            route_type: 3,
            rd: "100.65.0.1:2".into(),
            vni: Some(vni),
            next_hop: Some("100.65.0.1".parse().unwrap()),
            route_targets: vec!["64514:100".into()],
            router_mac: None,
            local: false,
            from: "192.168.11.2".into(),
            best: true,
            as_path: "64512 64520".into(),
            origin: "IGP".into(),
            local_pref: None,
            med: None,
            route: perouter_evpn::EvpnRoute::InclusiveMulticast(
                perouter_evpn::InclusiveMulticastRoute {
                    rd: "100.65.0.1:2".parse().unwrap(),
                    ethernet_tag: perouter_evpn::EthernetTag(0),
                    originator: "100.65.0.1".parse().unwrap(),
                },
            ),
        };
        let fib = FibStatus {
            passes: 3,
            last_ops: 2,
            last_failures: vec!["add route: File exists".into()],
            messages_sent: 40,
            ops_by_kind: [("create_vrf", 1), ("replace_route", 5)]
                .into_iter()
                .collect(),
            failures_by_kind: [("replace_route", 1)].into_iter().collect(),
            errors: 0,
            last_duration: Duration::from_millis(12),
            nexthop_fallback_routes: 7,
            ..Default::default()
        };
        let live = LiveMetrics::default();
        live.observe_reconcile(Duration::from_millis(12));
        live.observe_reconcile(Duration::from_millis(250));
        live.kernel_notification("local_mac");
        live.handoff("taken_over", 2);
        let input = ScrapeInput {
            peers: Some(peers),
            routing: Some(routing),
            evpn: Some(vec![imet(100), imet(100), imet(200)]),
            fib: Some(fib),
            applied: Some(Arc::new(example_applied())),
            bfd: Some(vec![example_bfd()]),
            ovs: Some(OvsStatus {
                passes: 3,
                legs: 2,
                connected: true,
                transactions: 4,
                transaction_failures: 1,
                last_failures: vec!["ovs host-e-220: OVS bridge ovs-ext does not exist".into()],
                ..Default::default()
            }),
        };
        (live, input)
    }

    /// The names of the families in a 0.0.4 text exposition (from its `# TYPE` lines).
    pub(crate) fn families(text: &str) -> Vec<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn every_family_is_rendered_and_listed() {
        let (live, input) = representative();
        let text = to_prometheus_text(&render(&live, &input));
        let got = families(&text);
        for f in FAMILIES {
            assert!(got.iter().any(|g| g == f), "{f} missing:\n{text}");
        }
        for g in &got {
            assert!(FAMILIES.contains(&g.as_str()), "{g} not in FAMILIES");
        }
    }

    #[test]
    fn samples_carry_the_owners_values() {
        let (live, input) = representative();
        let t = to_prometheus_text(&render(&live, &input));
        for want in [
            r#"perouter_bgp_session_established{peer="192.168.11.2"} 1"#,
            r#"perouter_bgp_session_established{peer="fd00::2"} 0"#,
            r#"perouter_bgp_session_state{peer="fd00::2",state="Active"} 1"#,
            r#"perouter_bgp_session_state{peer="fd00::2",state="Idle"} 0"#,
            r#"perouter_bgp_session_uptime_seconds{peer="192.168.11.2"} 90"#,
            r#"perouter_bgp_messages_received_total{peer="192.168.11.2",type="keepalive"} 10"#,
            r#"perouter_bgp_messages_received_total{peer="192.168.11.2",type="notification"} 1"#,
            r#"perouter_bgp_messages_sent_total{peer="192.168.11.2",type="update"} 2"#,
            r#"perouter_bgp_notifications_received_total{peer="192.168.11.2",code="6",subcode="2"} 1"#,
            r#"perouter_bgp_prefixes_current{peer="192.168.11.2"} 5"#,
            r#"perouter_bgp_session_established_transitions_total{peer="192.168.11.2"} 1"#,
            r#"perouter_installed_routes{table="red",family="ipv6"} 1"#,
            r#"perouter_installed_routes{table="default",family="ipv4"} 1"#,
            r#"perouter_rib_evpn_routes{vni="100",route_type="3"} 2"#,
            r#"perouter_rib_refused_nlri_total{reason="family_not_negotiated"} 3"#,
            r#"perouter_rib_refused_nlri_total{reason="invalid_next_hop"} 1"#,
            r#"perouter_datapath_operations_total{kind="replace_route"} 5"#,
            r#"perouter_datapath_operation_failures_total{kind="replace_route"} 1"#,
            r#"perouter_datapath_reconcile_duration_seconds_count 2"#,
            r#"perouter_kernel_notifications_total{kind="local_mac"} 1"#,
            r#"perouter_handoffs_total{outcome="taken_over"} 1"#,
            "perouter_handoff_sessions_total 2",
            "perouter_datapath_nexthop_fallback_routes_total 7\n",
            r#"perouter_config_resources_failed{kind="L3VNI"} 0"#,
            "perouter_ovs_host_legs 2.0\n",
            "perouter_ovs_connected 1.0\n",
            "perouter_ovs_transactions_total 4\n",
            "perouter_ovs_transaction_failures_total 1\n",
            "perouter_ovs_last_pass_failures 1.0\n",
            "# TYPE perouter_config_generation gauge",
            "# TYPE process_cpu_seconds_total counter",
        ] {
            assert!(t.contains(want), "{want} missing:\n{t}");
        }
        assert!(!t.contains("# EOF") && !t.contains("# UNIT"), "{t}");
        // OpenMetrics as written: counters typed under their base name, with an EOF.
        let om = render(&live, &input);
        assert!(om.contains("# TYPE perouter_bgp_messages_received counter"));
        assert!(om.ends_with("# EOF\n"));
    }

    /// `promtool check metrics` (the Prometheus linter) accepts the exposition. CI installs
    /// promtool; set PEROUTER_NO_PROMTOOL=1 to run the other tests on a machine without it.
    #[test]
    fn promtool_check_metrics_is_clean() {
        if std::env::var_os("PEROUTER_NO_PROMTOOL").is_some() {
            return;
        }
        let (live, input) = representative();
        let text = to_prometheus_text(&render(&live, &input));
        let mut child = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("promtool not found (apt-get install prometheus, or see .ci/run)");
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "promtool: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn proc_stat_is_parsed_after_the_command_name() {
        let stat = "4242 (per) uter)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 150 0 0 20 0 9 0 12345 104857600 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0";
        let s = parse_stat(stat, "cpu 1 2 3\nbtime 1700000000\n", 100.0, 4096).unwrap();
        assert_eq!(s.cpu_seconds, 4.0);
        assert_eq!(s.start_time_seconds, 1700000000.0 + 123.45);
        assert_eq!(s.vsize_bytes, 104857600);
        assert_eq!(s.rss_bytes, 2048 * 4096);
        assert!(parse_stat("garbage", "", 100.0, 4096).is_none());
        assert!(parse_stat("1 (x) S", "btime 1\n", 100.0, 4096).is_none());
        let live = ProcessStats::read().unwrap();
        assert!(live.open_fds > 0 && live.rss_bytes > 0);
    }

    /// Every metric the Grafana dashboard (deploy/grafana/perouter.json) queries is one perouter
    /// exposes: each name in each `expr` (and in the template variables' queries) is a sample
    /// name of the rendered registry.
    #[test]
    fn the_grafana_dashboard_queries_only_metrics_that_exist() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../deploy/grafana/perouter.json");
        let dash: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut queries = Vec::new();
        for p in dash["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().unwrap() {
                queries.push(t["expr"].as_str().unwrap().to_string());
            }
        }
        for v in dash["templating"]["list"].as_array().unwrap() {
            if let Some(q) = v["query"].as_str() {
                queries.push(q.to_string());
            }
        }
        assert!(queries.len() > 20, "{queries:?}");
        let (live, input) = representative();
        let text = to_prometheus_text(&render(&live, &input));
        let samples: std::collections::HashSet<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(['{', ' ']).next())
            .collect();
        let mut used = std::collections::BTreeSet::new();
        for q in &queries {
            let mut rest = q.as_str();
            while let Some(i) = rest.find(|c: char| c.is_ascii_alphabetic() || c == '_') {
                let word: String = rest[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[i + word.len()..];
                if word.starts_with("perouter_") || word.starts_with("process_") {
                    assert!(
                        samples.contains(word.as_str()),
                        "the dashboard queries {word}, which perouter does not expose ({q})"
                    );
                    used.insert(word);
                }
            }
        }
        // The dashboard covers what the issue asks for.
        for must in [
            "perouter_bgp_session_established",
            "perouter_bgp_prefixes_received_total",
            "perouter_rib_evpn_routes",
            "perouter_datapath_operation_failures_total",
            "perouter_datapath_reconcile_duration_seconds_bucket",
        ] {
            assert!(used.contains(must), "{must} not on the dashboard");
        }
    }

    #[test]
    fn counters_get_total_names_in_text_0_0_4() {
        let om = "# HELP a_b Things.\n# TYPE a_b counter\n# UNIT a_b seconds\na_b_total{x=\"1\"} 2\n# HELP g A gauge.\n# TYPE g gauge\ng 1\n# EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP a_b_total Things.\n# TYPE a_b_total counter\na_b_total{x=\"1\"} 2\n# HELP g A gauge.\n# TYPE g gauge\ng 1\n"
        );
    }
}
