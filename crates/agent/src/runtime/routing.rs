//! The routing task: the one owner of the RIB. It turns the speaker's events into RIB inputs,
//! the RIB's per-peer Adj-RIB-Out into UPDATEs for each session, and the RIB's forwarding deltas
//! into the datapath's wanted forwarding state. Work is processed in batches: everything queued
//! is taken before the outputs are flushed once.
//!
//! The task never waits on a session. UPDATEs go to each session's [`Outbox`] (handed over in
//! `PeerUp`) with `try_send`, and only while it has room: a peer that does not drain keeps its
//! pending changes in its Adj-RIB-Out (which coalesces them: memory stays bounded by the table,
//! not by the churn); the loop wakes when that session takes a batch (its outbox's room
//! signal) or after [`OUTBOX_RETRY`], until it drains or its session
//! ends (RFC 9687's SendHoldTimer closes it). Nobody else waits for it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ipnet::IpNet;
use perouter_bgp::fsm::SessionParams;
use perouter_bgp::session::{announced_count, withdrawn_count, Outbound, Outbox};
use perouter_bgp::speaker::{PeerId as SpeakerPeer, SpeakerEvent};
use perouter_bgp::wire::{RouteRefresh, RouteRefreshSubtype, WireContext};
use perouter_evpn::MacAddress;
use perouter_fib::desired::{ForwardingState, VrfRoutes};
use perouter_fib::patch::ForwardingPatch;
use perouter_fib::ForwardingKeys;
use perouter_rib::wire as ribwire;
use perouter_rib::{
    Family, FibTable, ForwardingDelta, L2VniConfig, NextHop, PeerConfig, PeerId as RibPeer,
    PeerRole, Rib, RibConfig, RouteOp, VrfConfig, VrfId,
};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, Notify};
use tracing::{debug, info, warn};

use super::compact_routes::CompactRoutes;
use super::sessions::{PlannedSession, SessionRole};
use crate::plan::NodePlan;

/// Inputs of the routing task besides the speaker's events.
#[derive(Debug)]
pub enum RoutingCommand {
    /// Session handoff: every Established peer's Adj-RIB-In as UPDATEs, encoded for its
    /// receive context. The speaker events already queued are handled first, so what a frozen
    /// session handed over before it froze is in.
    ExportAdjRibIn(oneshot::Sender<AdjRibInExport>),
    /// A new plan: VRFs, L2VNIs, our networks, the sessions and their roles.
    Configure {
        /// The plan.
        plan: Arc<NodePlan>,
        /// The sessions and their roles.
        sessions: Vec<PlannedSession>,
    },
    /// A MAC (and IP) learned or lost locally on an L2VNI bridge.
    LocalMac {
        /// The L2VNI.
        vni: u32,
        /// The MAC.
        mac: MacAddress,
        /// The IP, for MAC+IP.
        ip: Option<IpAddr>,
        /// Learned (true) or lost.
        present: bool,
    },
    /// A snapshot for the API.
    Snapshot(oneshot::Sender<RoutingSnapshot>),
    /// A unicast table's paths of one family, all prefixes or one (`show bgp ipv4 unicast`).
    Unicast {
        /// IPv6 (true) or IPv4.
        v6: bool,
        /// The VRF's table; the default table when `None`.
        vrf: Option<String>,
        /// Which prefixes.
        which: perouter_rib::PrefixMatch,
        /// Where the answer goes: the paths, or why there are none (an unknown VRF).
        reply: oneshot::Sender<Result<Vec<UnicastRouteView>, String>>,
    },
    /// What one session sent us or holds from us (`show bgp neighbor ADDR
    /// received-routes|advertised-routes`); `None` when the session is not up in the RIB.
    NeighborRoutes {
        /// The session.
        peer: SpeakerPeer,
        /// Advertised (true) or received.
        advertised: bool,
        /// Where the answer goes.
        reply: oneshot::Sender<Option<Vec<ExchangedRouteView>>>,
    },
    /// The MACs of one L2VNI or all (`show evpn mac vni`).
    Macs {
        /// Only this VNI.
        vni: Option<u32>,
        /// Where the answer goes.
        reply: oneshot::Sender<Vec<MacView>>,
    },
    /// The EVPN table's best routes, optionally one route type and one VNI (`show bgp evpn`).
    Evpn {
        /// Only this route type.
        route_type: Option<u8>,
        /// Only routes whose label (or PMSI label, for type-3) carries this VNI.
        vni: Option<u32>,
        /// Only routes with this route distinguisher.
        rd: Option<perouter_evpn::RouteDistinguisher>,
        /// Every path (each key's best flagged), not only the best ones.
        all_paths: bool,
        /// Where the answer goes.
        reply: oneshot::Sender<Vec<EvpnRouteView>>,
    },
}

/// One path of the default table as `show bgp ipv4|ipv6 unicast` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct UnicastRouteView {
    /// The prefix.
    pub prefix: IpNet,
    /// BGP next hop (null on our own routes).
    pub next_hop: Option<IpAddr>,
    /// The session it came from (its address), `local` for our own routes.
    pub from: String,
    /// The best path of its prefix (RFC 4271 §9.1.2).
    pub best: bool,
    /// In the multipath (ECMP) set installed in the kernel.
    pub multipath: bool,
    /// Usable: next hop valid, reachable and not ours (RFC 4271 §5.1.3).
    pub valid: bool,
    /// Kept from a peer restarting gracefully (RFC 4724 §4.2).
    pub stale: bool,
    /// The AS path (`64512 64513`, empty when local or iBGP-learnt).
    pub as_path: String,
    /// ORIGIN (`IGP`, `EGP`, `INCOMPLETE`).
    pub origin: String,
    /// LOCAL_PREF, when present.
    pub local_pref: Option<u32>,
    /// MULTI_EXIT_DISC, when present.
    pub med: Option<u32>,
    /// COMMUNITIES (RFC 1997), `ASN:NN`.
    pub communities: Vec<String>,
    /// On the best path: the decision step (RFC 4271 §9.1.2.2) that made it best.
    pub decided_by: Option<String>,
}

/// The address of the session a path came from, as `show` prints it; a session that went
/// down since (its stale paths) by its RIB id.
fn peer_name(names: &HashMap<RibPeer, String>, peer: RibPeer) -> String {
    names
        .get(&peer)
        .cloned()
        .unwrap_or_else(|| format!("peer {} (down)", peer.0))
}

/// The API's form of the RIB's paths, sorted by prefix like vtysh's table (the paths of one
/// prefix keep the RIB's order: best first); `names` gives the address of each live session.
pub(crate) fn unicast_views(
    mut paths: Vec<perouter_rib::UnicastPath>,
    names: &HashMap<RibPeer, String>,
) -> Vec<UnicastRouteView> {
    use perouter_rib::table::Source;
    paths.sort_by_key(|p| p.prefix);
    paths
        .into_iter()
        .map(|p| {
            let (from, stale) = match p.source {
                Source::Peer { peer, stale, .. } => (peer_name(names, peer), stale),
                Source::Evpn { rd, peer } => (
                    format!(
                        "{} (EVPN RD {})",
                        peer_name(names, peer),
                        perouter_evpn::RouteDistinguisher::from_bytes(rd)
                    ),
                    false,
                ),
                Source::Local => ("local".to_string(), false),
            };
            UnicastRouteView {
                prefix: p.prefix,
                next_hop: p.attrs.next_hop,
                from,
                best: p.best,
                multipath: p.multipath,
                valid: p.eligible,
                stale,
                as_path: p.attrs.as_path.to_string(),
                origin: p.attrs.origin.to_string(),
                local_pref: p.attrs.local_pref,
                med: p.attrs.med,
                communities: p.attrs.communities.iter().map(|c| c.to_string()).collect(),
                decided_by: p.decided_by.map(|d| d.to_string()),
            }
        })
        .collect()
}

/// A route exchanged with one session, as `show bgp neighbor ADDR received-routes|advertised-routes`
/// lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ExchangedRouteView {
    /// `ipv4-unicast`, `ipv6-unicast` or `l2vpn-evpn`.
    pub family: &'static str,
    /// The prefix, or the EVPN route in FRR's text form.
    pub prefix: String,
    /// BGP next hop.
    pub next_hop: Option<IpAddr>,
    /// The AS path (as received, or as sent: our AS prepended towards eBGP peers).
    pub as_path: String,
    /// ORIGIN.
    pub origin: String,
    /// MULTI_EXIT_DISC, when present.
    pub med: Option<u32>,
    /// LOCAL_PREF, when present.
    pub local_pref: Option<u32>,
    /// COMMUNITIES (RFC 1997).
    pub communities: Vec<String>,
    /// Route targets (EVPN).
    pub route_targets: Vec<String>,
    /// Received: the path is the best of its prefix. Advertised: always true.
    pub best: bool,
    /// Advertised: a change is queued and not yet sent.
    pub pending: bool,
}

fn family_name(f: perouter_rib::Family) -> &'static str {
    match f {
        perouter_rib::Family::Ipv4Unicast => "ipv4-unicast",
        perouter_rib::Family::Ipv6Unicast => "ipv6-unicast",
        perouter_rib::Family::L2vpnEvpn => "l2vpn-evpn",
    }
}

impl From<perouter_rib::ExchangedRoute> for ExchangedRouteView {
    fn from(r: perouter_rib::ExchangedRoute) -> Self {
        ExchangedRouteView {
            family: family_name(r.nlri.family()),
            prefix: match &r.nlri {
                perouter_rib::Nlri::V4(p) => p.to_string(),
                perouter_rib::Nlri::V6(p) => p.to_string(),
                perouter_rib::Nlri::Evpn(e) => e.to_string(),
            },
            next_hop: r.attrs.next_hop,
            as_path: r.attrs.as_path.to_string(),
            origin: r.attrs.origin.to_string(),
            med: r.attrs.med,
            local_pref: r.attrs.local_pref,
            communities: r.attrs.communities.iter().map(|c| c.to_string()).collect(),
            route_targets: r.attrs.route_targets().map(|t| t.to_string()).collect(),
            best: r.best,
            pending: r.pending,
        }
    }
}

/// One MAC of an L2VNI as `show evpn mac vni` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct MacView {
    /// The VNI.
    pub vni: u32,
    /// The MAC.
    pub mac: String,
    /// `local` (learned on a local port, advertised by us) or `remote`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The remote VTEP the bridge forwards it to (its FDB entry), when remote.
    pub vtep: Option<IpAddr>,
    /// IPs bound to it (local ones, or neighbour entries installed from MAC+IP routes).
    pub ips: Vec<IpAddr>,
    /// Our MAC mobility sequence number (RFC 7432 §15), when learned locally.
    pub local_seq: Option<u32>,
    /// The highest sequence number among the remote routes for it.
    pub remote_seq: Option<u32>,
    /// Sticky (static) MAC (RFC 7432 §15.2).
    pub sticky: bool,
    /// Declared a duplicate and frozen (RFC 7432 §15.1).
    pub duplicate: bool,
    /// Every remote VTEP advertising it (more than one while it moves).
    pub remote_vteps: Vec<IpAddr>,
}

impl From<perouter_rib::MacEntry> for MacView {
    fn from(m: perouter_rib::MacEntry) -> Self {
        MacView {
            vni: m.vni,
            mac: m.mac.to_string(),
            kind: if m.local { "local" } else { "remote" },
            vtep: m.vtep,
            ips: m.ips,
            local_seq: m.local_seq,
            remote_seq: m.remote_seq,
            sticky: m.sticky,
            duplicate: m.duplicate,
            remote_vteps: m.remote_vteps,
        }
    }
}

/// One EVPN route as `show bgp evpn` lists it.
#[derive(Debug, Clone, Serialize)]
pub struct EvpnRouteView {
    /// FRR's text form, e.g. `[5]:[0]:[24]:[10.10.10.0]`.
    pub prefix: String,
    /// Route type (1–5).
    pub route_type: u8,
    /// Route distinguisher.
    pub rd: String,
    /// The VNI its label carries, when it has one.
    pub vni: Option<u32>,
    /// BGP next hop (the originating VTEP).
    pub next_hop: Option<IpAddr>,
    /// Route targets.
    pub route_targets: Vec<String>,
    /// Router MAC (RFC 9135), on type-2/type-5.
    pub router_mac: Option<String>,
    /// Originated by this node.
    pub local: bool,
    /// The session the path came from (its address), `local` for ours.
    pub from: String,
    /// The best path of its route (the only one listed unless every path was asked for).
    pub best: bool,
    /// The AS path (`64512 64513`, empty when local or iBGP-learnt).
    pub as_path: String,
    /// ORIGIN (`IGP`, `EGP`, `INCOMPLETE`).
    pub origin: String,
    /// LOCAL_PREF, when present.
    pub local_pref: Option<u32>,
    /// MULTI_EXIT_DISC, when present.
    pub med: Option<u32>,
    /// The whole route, typed.
    pub route: perouter_evpn::EvpnRoute,
}

fn evpn_vni(route: &perouter_evpn::EvpnRoute, attrs: &perouter_rib::PathAttrs) -> Option<u32> {
    use perouter_evpn::EvpnRoute as R;
    match route {
        R::MacIp(r) => Some(r.label1.vni()),
        R::IpPrefix(r) => Some(r.label.vni()),
        R::EthernetAd(r) => Some(r.label.vni()),
        R::InclusiveMulticast(_) => attrs.pmsi().map(|p| p.label.vni()),
        R::EthernetSegment(_) | R::Unknown(_) => None,
    }
}

/// What the API shows of the routing state.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RoutingSnapshot {
    /// RIB sizes.
    pub default_routes: usize,
    /// EVPN table size.
    pub evpn_routes: usize,
    /// Routes in all VRF tables.
    pub vrf_routes: usize,
    /// Distinct attribute sets.
    pub attribute_sets: usize,
    /// NLRI of families not negotiated on their session, ignored since start.
    pub refused_family: u64,
    /// NLRI with an invalid next hop, kept but never used, since start.
    pub refused_next_hop: u64,
    /// Tracked next hops the underlay cannot reach now.
    pub unreachable_next_hops: usize,
    /// Installed routes per VRF table, with their next hops (VTEP, router MAC).
    pub vrfs: BTreeMap<String, Vec<VrfRouteView>>,
    /// Default-table routes programmed into the router namespace.
    pub default_table: Vec<VrfRouteView>,
    /// Remote MACs per L2VNI.
    pub remote_macs: usize,
    /// Flood-list entries.
    pub flood_entries: usize,
    /// Sessions the RIB knows, by address.
    pub peers: BTreeMap<String, String>,
}

/// One installed route.
#[derive(Debug, Clone, Serialize)]
pub struct VrfRouteView {
    /// The prefix.
    pub prefix: IpNet,
    /// Its next hops.
    pub next_hops: Vec<String>,
}

struct Peer {
    rib: RibPeer,
    ebgp: bool,
    local: SocketAddr,
    params: Box<SessionParams>,
    tx: WireContext,
    link_local: Option<Ipv6Addr>,
    remote: SocketAddr,
    role: SessionRole,
    outbox: Outbox,
}

/// [`RoutingCommand::ExportAdjRibIn`]'s answer: per speaker peer, its Adj-RIB-In as UPDATEs and
/// the receive context they are to be encoded with.
pub type AdjRibInExport = HashMap<SpeakerPeer, (Vec<perouter_bgp::wire::Update>, WireContext)>;

/// The routing task's state.
pub struct Routing {
    rib: Option<Rib>,
    plan: Option<Arc<NodePlan>>,
    roles: HashMap<IpAddr, SessionRole>,
    peers: HashMap<SpeakerPeer, Peer>,
    /// Peers that went down gracefully (RFC 4724): their routes are kept as stale until the
    /// speaker says the restart or stale timer expired.
    stale: HashMap<SpeakerPeer, RibPeer>,
    vrf_tables: BTreeMap<VrfId, (String, u32)>,
    /// The wanted forwarding state, its default table (always empty here) aside.
    forwarding: ForwardingState,
    /// The wanted routes (default table and VRFs), kept compact (a handle per route to a
    /// shared next-hop set): the datapath's form is built only for what is handed over.
    /// `forwarding`'s own route maps stay empty.
    compact: CompactRoutes,
    /// Routes per (L3VNI, VTEP) in `forwarding`, for dropping unused router MACs.
    vtep_refs: VtepRefs,
    /// Keys of `forwarding` changed since the last hand-over to the datapath.
    fwd_keys: ForwardingKeys,
    /// The datapath needs the whole state (first hand-over, or after a RIB rebuild), not a
    /// patch.
    fwd_full: bool,
    forwarding_dirty: bool,
    /// Forwarding is only handed to the datapath once the RIB has converged after a start
    /// (every planned session up with its End-of-RIBs in, or [`CONVERGENCE_DEADLINE`]): until
    /// then the datapath keeps what the kernel has, so a restart never withdraws forwarding.
    forwarding_released: bool,
    started: Instant,
    fib: mpsc::Sender<perouter_fib::reconcile::Command>,
    /// The room signals ([`Outbox::room`]) of the peers whose outbox was full at the last
    /// flush: the loop wakes when one of them takes a batch (or after [`OUTBOX_RETRY`]).
    blocked_rooms: Vec<Arc<Notify>>,
    heartbeat: Arc<AtomicU64>,
    /// Forwarding changes wait for room in the datapath's queue: the loop wakes when it has
    /// [`FIB_ROOM_WANTED`] free slots.
    fib_waiting: bool,
}

/// Depth of the datapath's command queue ([`perouter_fib::reconcile::Command`]): configuration
/// (`SetNode`), audit requests and this task's forwarding hand-overs share it.
pub const FIB_QUEUE: usize = 64;

/// At most this many forwarding patches are queued for the datapath at once: the routes in
/// flight between the RIB and the kernel are at most `PATCHES_IN_FLIGHT * PATCH_ROUTES`
/// (32,768; a few MB), whatever the table's size. More changed routes wait in the routing
/// task as keys (a prefix each) and coalesce.
pub const PATCHES_IN_FLIGHT: usize = 4;

/// Routes (default table and VRFs) per forwarding patch: enough that the datapath applies them
/// in large netlink batches, small enough that one patch's operations are a few MB.
pub const PATCH_ROUTES: usize = 8192;

/// Free slots of the datapath's queue that mean fewer than [`PATCHES_IN_FLIGHT`] are queued.
const FIB_ROOM_WANTED: usize = FIB_QUEUE - PATCHES_IN_FLIGHT + 1;

/// Resolves when the datapath's queue has [`FIB_ROOM_WANTED`] free slots (the permits are
/// given back at once: the flush that follows takes what it uses).
async fn fib_room(fib: Option<mpsc::Sender<perouter_fib::reconcile::Command>>) {
    match fib {
        Some(fib) => {
            let _ = fib.reserve_many(FIB_ROOM_WANTED).await;
        }
        None => std::future::pending().await,
    }
}

/// How long after start forwarding waits for the RIB to converge at most.
pub const CONVERGENCE_DEADLINE: Duration = Duration::from_secs(30);

/// How soon a peer whose outbox was full is polled again if its room signal did not wake the
/// loop first (a session that stopped reading never signals: this bounds its cost to one flush
/// attempt per period).
pub const OUTBOX_RETRY: Duration = Duration::from_millis(50);

/// How many routes (announced or withdrawn NLRI) the routing task takes in per turn of its
/// loop before it flushes: the peers get their batches while the rest of a large table is
/// still arriving (a pipelined relay, issue 16), instead of after the whole queue was taken
/// in. Two of [`perouter_rib`]'s 4096-route adj-out batches: small enough that the first
/// routes leave within milliseconds, large enough that a flush per turn costs little.
pub const ROUTES_PER_TURN: usize = 8192;

/// How many routes `ev` carries (its UPDATEs' announced and withdrawn NLRI); other events
/// count as one.
fn routes_in(ev: &SpeakerEvent) -> usize {
    match ev {
        SpeakerEvent::Updates { updates, .. } => updates
            .iter()
            .map(|u| (announced_count(u) + withdrawn_count(u)).max(1))
            .sum(),
        _ => 1,
    }
}

/// Resolves when any of `rooms` is signalled: a session whose outbox was full took a batch, so
/// the next one can go at once (a relay of a large table is not paced by [`OUTBOX_RETRY`]).
async fn any_room(rooms: &[Arc<Notify>]) {
    if rooms.is_empty() {
        return std::future::pending().await;
    }
    futures::future::select_all(rooms.iter().map(|r| Box::pin(r.notified()))).await;
}

fn rib_family(f: perouter_bgp::wire::AfiSafi) -> Option<Family> {
    ribwire::family_of(f)
}

impl Routing {
    /// A routing task that talks to the speaker and the datapath through these channels.
    /// `restarting`: the router namespace survived a previous run, so its forwarding state is
    /// kept and nothing is advertised until the RIB has converged (graceful restart).
    pub fn new(fib: mpsc::Sender<perouter_fib::reconcile::Command>, restarting: bool) -> Self {
        Routing {
            rib: None,
            plan: None,
            roles: HashMap::new(),
            peers: HashMap::new(),
            stale: HashMap::new(),
            vrf_tables: BTreeMap::new(),
            forwarding: ForwardingState::default(),
            compact: CompactRoutes::default(),
            vtep_refs: VtepRefs::default(),
            fwd_keys: ForwardingKeys::default(),
            fwd_full: true,
            forwarding_dirty: false,
            forwarding_released: !restarting,
            started: Instant::now(),
            fib,
            blocked_rooms: Vec::new(),
            heartbeat: Arc::new(AtomicU64::new(0)),
            fib_waiting: false,
        }
    }

    /// Bumped at every turn of the task's loop (at least once a second): a value that stops
    /// moving means the task is wedged.
    pub fn heartbeat(&self) -> Arc<AtomicU64> {
        self.heartbeat.clone()
    }

    /// Runs until both input channels close.
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<SpeakerEvent>,
        mut commands: mpsc::Receiver<RoutingCommand>,
    ) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            self.heartbeat.fetch_add(1, Ordering::Relaxed);
            let rooms = self.blocked_rooms.clone();
            let blocked = !rooms.is_empty();
            let fib = self.fib_waiting.then(|| self.fib.clone());
            let fib_waiting = fib.is_some();
            tokio::select! {
                // Commands first: a plan sent before the sessions it configures (a resumed
                // session is up at once) is in place before their events.
                biased;
                cmd = commands.recv() => {
                    let Some(cmd) = cmd else { return };
                    if let RoutingCommand::ExportAdjRibIn(reply) = cmd {
                        while let Ok(ev) = events.try_recv() {
                            self.handle_event(ev).await;
                        }
                        let _ = reply.send(self.export_adj_rib_in());
                        continue;
                    }
                    self.handle_command(cmd).await;
                    while let Ok(cmd) = commands.try_recv() {
                        self.handle_command(cmd).await;
                    }
                }
                ev = events.recv() => {
                    let Some(ev) = ev else { return };
                    // Bounded work per turn: take what is queued up to ROUTES_PER_TURN routes,
                    // then flush, so the first routes leave while the last still arrive.
                    let mut taken = routes_in(&ev);
                    self.handle_event(ev).await;
                    while taken < ROUTES_PER_TURN {
                        match events.try_recv() {
                            Ok(ev) => {
                                taken += routes_in(&ev);
                                self.handle_event(ev).await;
                            }
                            Err(_) => break,
                        }
                    }
                }
                _ = tick.tick() => {
                    if let Some(rib) = self.rib.as_mut() {
                        rib.handle_time(Instant::now());
                    }
                }
                _ = any_room(&rooms), if blocked => {}
                _ = tokio::time::sleep(OUTBOX_RETRY), if blocked => {}
                _ = fib_room(fib), if fib_waiting => {}
            }
            self.flush().await;
            // Let the sessions run before the next turn (with one worker thread they share it
            // with this task): the batches just queued are encoded and sent, and more input
            // is read, while this task works on the next turn (issue 16).
            tokio::task::yield_now().await;
        }
    }

    /// Every Established peer's Adj-RIB-In as UPDATEs (see [`RoutingCommand::ExportAdjRibIn`]).
    fn export_adj_rib_in(&self) -> AdjRibInExport {
        let mut out = HashMap::new();
        let Some(rib) = self.rib.as_ref() else {
            return out;
        };
        for (id, p) in &self.peers {
            let routes = rib.adj_rib_in(p.rib);
            match ribwire::adj_rib_in_updates(&routes, &p.params.rx) {
                Ok(u) => {
                    out.insert(*id, (u, p.params.rx.clone()));
                }
                Err(e) => {
                    warn!(peer = %id, remote = %p.remote, error = %e, "Adj-RIB-In cannot be exported: the peer's routes are not handed over")
                }
            }
        }
        out
    }

    async fn handle_command(&mut self, cmd: RoutingCommand) {
        match cmd {
            RoutingCommand::ExportAdjRibIn(reply) => {
                // Handled in the loop (it drains the events first); here only if called directly.
                let _ = reply.send(self.export_adj_rib_in());
            }
            RoutingCommand::Configure { plan, sessions } => self.configure(plan, sessions),
            RoutingCommand::LocalMac {
                vni,
                mac,
                ip,
                present,
            } => {
                if let Some(rib) = self.rib.as_mut() {
                    if let Err(e) = rib.handle_local_mac(vni, mac, ip, present, false) {
                        debug!(vni, %mac, error = %e, "local MAC ignored");
                    }
                }
            }
            RoutingCommand::Snapshot(tx) => {
                let _ = tx.send(self.snapshot());
            }
            RoutingCommand::NeighborRoutes {
                peer,
                advertised,
                reply,
            } => {
                let routes = match (&self.rib, self.peers.get(&peer)) {
                    (Some(rib), Some(p)) => {
                        let list = if advertised {
                            rib.adj_rib_out(p.rib)
                        } else {
                            rib.adj_rib_in(p.rib)
                        };
                        Some(list.into_iter().map(ExchangedRouteView::from).collect())
                    }
                    _ => None,
                };
                let _ = reply.send(routes);
            }
            RoutingCommand::Macs { vni, reply } => {
                let macs = self
                    .rib
                    .as_ref()
                    .map(|rib| rib.evpn_macs(vni).into_iter().map(MacView::from).collect())
                    .unwrap_or_default();
                let _ = reply.send(macs);
            }
            RoutingCommand::Unicast {
                v6,
                vrf,
                which,
                reply,
            } => {
                let _ = reply.send(self.unicast_view(v6, vrf.as_deref(), which));
            }
            RoutingCommand::Evpn {
                route_type,
                vni,
                rd,
                all_paths,
                reply,
            } => {
                let names = self.peer_names();
                let routes = self
                    .rib
                    .as_ref()
                    .map(|rib| {
                        let paths = if all_paths {
                            rib.evpn_paths(route_type)
                        } else {
                            rib.evpn_routes(route_type)
                                .into_iter()
                                .map(|(r, a, s)| (r, a, s, true))
                                .collect()
                        };
                        paths
                            .into_iter()
                            .filter_map(|(route, attrs, source, best)| {
                                let v = evpn_vni(&route, &attrs);
                                if vni.is_some() && v != vni {
                                    return None;
                                }
                                if rd.is_some_and(|rd| rd != route.rd()) {
                                    return None;
                                }
                                let local = source == perouter_rib::table::Source::Local;
                                let from = match source.peer() {
                                    Some(p) if !local => peer_name(&names, p),
                                    _ => "local".to_string(),
                                };
                                Some(EvpnRouteView {
                                    prefix: route.to_string(),
                                    route_type: route.route_type(),
                                    rd: route.rd().to_string(),
                                    vni: v,
                                    next_hop: attrs.next_hop,
                                    route_targets: attrs
                                        .route_targets()
                                        .map(|r| r.to_string())
                                        .collect(),
                                    router_mac: attrs.router_mac().map(|m| m.to_string()),
                                    local,
                                    from,
                                    best,
                                    as_path: attrs.as_path.to_string(),
                                    origin: attrs.origin.to_string(),
                                    local_pref: attrs.local_pref,
                                    med: attrs.med,
                                    route,
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let _ = reply.send(routes);
            }
        }
    }

    fn rib_config(plan: &NodePlan) -> RibConfig {
        let vtep = plan
            .vtep_v4
            .map(IpAddr::V4)
            .or(plan.vtep_v6.map(IpAddr::V6))
            .unwrap_or(IpAddr::V4(plan.router_id));
        let mut default_networks: Vec<IpNet> = Vec::new();
        if let Some(v) = plan.vtep_v4 {
            default_networks.push(IpNet::new(v.into(), 32).expect("valid /32"));
        }
        if let Some(v) = plan.vtep_v6 {
            default_networks.push(IpNet::new(v.into(), 128).expect("valid /128"));
        }
        // Passthrough: the host side of pt-host is advertised to the fabric (upstream's
        // `network <host IP>/32`).
        if let Some(p) = &plan.passthrough {
            for v in p.host_session.v4.iter().chain(p.host_session.v6.iter()) {
                default_networks.push(
                    IpNet::new(
                        v.host.addr(),
                        if v.host.addr().is_ipv4() { 32 } else { 128 },
                    )
                    .expect("host route"),
                );
            }
        }
        RibConfig {
            asn: plan.asn,
            router_id: plan.router_id,
            vtep,
            multipath: Default::default(),
            default_networks,
            cluster_id: plan.cluster_id,
        }
    }

    fn configure(&mut self, plan: Arc<NodePlan>, sessions: Vec<PlannedSession>) {
        let cfg = Self::rib_config(&plan);
        // Only the identity (AS, router ID, VTEP) and the multipath settings need a new RIB;
        // originated networks change in place (no peer notices more than one UPDATE).
        let rebuild = self.rib.as_ref().is_none_or(|r| {
            let c = r.config();
            (c.asn, c.router_id, c.vtep, c.multipath, c.cluster_id)
                != (
                    cfg.asn,
                    cfg.router_id,
                    cfg.vtep,
                    cfg.multipath,
                    cfg.cluster_id,
                )
        });
        if !rebuild {
            let rib = self.rib.as_mut().expect("checked above");
            if rib.config().default_networks != cfg.default_networks {
                let list: Vec<String> =
                    cfg.default_networks.iter().map(|n| n.to_string()).collect();
                info!(networks = %list.join(","), "originated networks changed: updated in place");
                rib.handle_default_networks(cfg.default_networks.clone());
            }
        }
        if rebuild {
            if self.rib.is_some() {
                info!(
                    "AS, router ID, VTEP or cluster ID changed: rebuilding the RIB and refreshing every peer"
                );
            }
            self.rib = Some(Rib::new(cfg));
            self.vrf_tables.clear();
            self.forwarding = ForwardingState {
                // Kept across RIB rebuilds: the devices of the unnumbered neighbours.
                link_local_devices: std::mem::take(&mut self.forwarding.link_local_devices),
                ..Default::default()
            };
            self.compact = CompactRoutes::default();
            self.vtep_refs = VtepRefs::default();
            self.fwd_full = true;
            self.forwarding_dirty = true;
        }
        self.roles = sessions
            .iter()
            .filter_map(|s| super::sessions::peer_address(s).map(|a| (a, s.role.clone())))
            .collect();
        let rib = self.rib.as_mut().expect("rib exists");
        // VRFs: add or update every planned one, remove the others.
        let mut wanted = BTreeSet::new();
        for l in &plan.l3vnis {
            let id = VrfId(l.vni);
            wanted.insert(id);
            let networks = l
                .host_session
                .iter()
                .flat_map(|hs| hs.v4.iter().chain(hs.v6.iter()))
                .map(|v| {
                    IpNet::new(
                        v.host.addr(),
                        if v.host.addr().is_ipv4() { 32 } else { 128 },
                    )
                    .expect("host route")
                })
                .collect();
            let rd_index = match l.rd {
                perouter_evpn::RouteDistinguisher::Ipv4 { number, .. } => number,
                _ => 0,
            };
            rib.handle_vrf(VrfConfig {
                id,
                name: l.vrf.clone(),
                l3vni: l.vni,
                router_mac: plan.router_mac,
                rd: Some(l.rd),
                rd_index,
                import_rts: l.import_rts.clone(),
                export_rts: l.export_rts.clone(),
                networks,
            });
            self.vrf_tables.insert(id, (l.vrf.clone(), l.table));
        }
        let gone: Vec<VrfId> = self
            .vrf_tables
            .keys()
            .filter(|id| !wanted.contains(id))
            .copied()
            .collect();
        for id in gone {
            rib.handle_vrf_removed(id);
            if self.vrf_tables.remove(&id).is_some() {
                // The datapath keys a VRF's routes by its L3VNI.
                self.forwarding.vrf_routes.remove(&id.0);
                self.compact.remove_vrf(id.0);
                self.fwd_keys.vrfs_reset.insert(id.0);
                self.vtep_refs.0.retain(|(vni, _), _| *vni != id.0);
                self.forwarding_dirty = true;
            }
        }
        let old_l2: BTreeSet<u32> = self
            .plan
            .iter()
            .flat_map(|p| p.l2vnis.iter().map(|l| l.vni))
            .collect();
        for l in &plan.l2vnis {
            let rd_index = match l.rd {
                perouter_evpn::RouteDistinguisher::Ipv4 { number, .. } => number,
                _ => 0,
            };
            rib.handle_l2vni(L2VniConfig {
                vni: l.vni,
                rd: Some(l.rd),
                rd_index,
                import_rts: l.import_rts.clone(),
                export_rts: l.export_rts.clone(),
                vrf: l.l3vni.map(VrfId),
                dup_detection: Default::default(),
                // Each VNI tunnels from the VTEP of its underlayAddressFamily.
                vtep: Some(l.vtep),
            });
        }
        let new_l2: BTreeSet<u32> = plan.l2vnis.iter().map(|l| l.vni).collect();
        for vni in old_l2.difference(&new_l2) {
            rib.handle_l2vni_removed(*vni);
        }
        self.plan = Some(plan);
        if rebuild {
            // Peers that were up lost their routes with the old RIB: register them again and ask
            // for their routes again (RFC 2918 ROUTE-REFRESH).
            let rib = self.rib.as_mut().expect("rib exists");
            let mut refresh = Vec::new();
            for (id, p) in self.peers.iter_mut() {
                let rib_role = match &p.role {
                    SessionRole::Fabric => PeerRole::Fabric,
                    SessionRole::Host { vni, .. } => PeerRole::Host(VrfId(*vni)),
                    SessionRole::Passthrough => PeerRole::Passthrough,
                };
                match rib.handle_peer_up(peer_config(rib_role, p.remote, p.local, &p.params)) {
                    Ok(new) => {
                        p.rib = new;
                        for f in &p.params.families {
                            refresh.push((*id, *f));
                        }
                    }
                    Err(e) => {
                        warn!(peer = %id, error = %e, "cannot re-register the session in the new RIB")
                    }
                }
            }
            self.stale.clear();
            for (peer, family) in refresh {
                let request = RouteRefresh::new(family, RouteRefreshSubtype::Normal);
                if let Some(p) = self.peers.get(&peer) {
                    if p.outbox.try_send(Outbound::RouteRefresh(request)).is_err() {
                        warn!(%peer, "ROUTE-REFRESH not sent: the session's outbox is full or gone");
                    }
                }
            }
        }
    }

    /// Learns the device of an unnumbered session's peer (its link-local address, scoped by
    /// the interface index in the router namespace) so that routes through it can be installed;
    /// a new or moved address makes the next hand-over a full one.
    async fn learn_link_local_device(&mut self, remote: SocketAddr) {
        let SocketAddr::V6(v6) = remote else { return };
        if !v6.ip().is_unicast_link_local() || v6.scope_id() == 0 {
            return;
        }
        let Some(ns) = self.plan.as_ref().map(|p| p.router_netns.clone()) else {
            return;
        };
        let index = v6.scope_id();
        let name = tokio::task::spawn_blocking(move || {
            perouter_bgp::session::socket::in_netns(
                &perouter_bgp::session::socket::NetnsTarget::Named(ns),
                move || {
                    nix::net::if_::if_indextoname(index)
                        .map_err(std::io::Error::from)
                        .map(|n| n.to_string_lossy().into_owned())
                },
            )
        })
        .await;
        match name {
            Ok(Ok(dev)) => {
                if self.forwarding.link_local_devices.get(v6.ip()) != Some(&dev) {
                    info!(peer = %v6.ip(), %dev, "unnumbered neighbour: routes through it go out of this device");
                    self.forwarding.link_local_devices.insert(*v6.ip(), dev);
                    self.fwd_full = true;
                    self.forwarding_dirty = true;
                }
            }
            Ok(Err(e)) => {
                warn!(peer = %remote, error = %e, "cannot name the interface of a link-local peer: routes through it are not installed")
            }
            Err(e) => warn!(peer = %remote, error = %e, "interface lookup failed"),
        }
    }

    async fn handle_event(&mut self, ev: SpeakerEvent) {
        if let SpeakerEvent::PeerUp { remote, .. } = &ev {
            self.learn_link_local_device(*remote).await;
        }
        let Some(rib) = self.rib.as_mut() else {
            debug!("speaker event before the first plan: ignored");
            return;
        };
        match ev {
            SpeakerEvent::PeerUp {
                peer,
                remote,
                local,
                params,
                outbox,
            } => {
                let role = self
                    .roles
                    .get(&remote.ip())
                    .cloned()
                    .unwrap_or(SessionRole::Fabric);
                let rib_role = match &role {
                    SessionRole::Fabric => PeerRole::Fabric,
                    SessionRole::Host { vni, .. } => PeerRole::Host(VrfId(*vni)),
                    SessionRole::Passthrough => PeerRole::Passthrough,
                };
                let cfg = peer_config(rib_role, remote, local, &params);
                match rib.handle_peer_up(cfg) {
                    Ok(id) => {
                        self.stale.remove(&peer);
                        info!(%peer, %remote, %role, "session up: routes flow");
                        let link_local = match local.ip() {
                            IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80 => Some(a),
                            _ => None,
                        };
                        self.peers.insert(
                            peer,
                            Peer {
                                rib: id,
                                ebgp: !params.ibgp,
                                local,
                                tx: params.tx.clone(),
                                params,
                                link_local,
                                remote,
                                role,
                                outbox,
                            },
                        );
                    }
                    Err(e) => warn!(%peer, %remote, error = %e, "RIB refused the session"),
                }
            }
            SpeakerEvent::PeerDown {
                peer,
                reason,
                graceful,
            } => {
                if let Some(p) = self.peers.remove(&peer) {
                    let res = if graceful {
                        info!(%peer, remote = %p.remote, %reason, "session down gracefully: keeping its routes as stale");
                        self.stale.insert(peer, p.rib);
                        rib.handle_peer_down_graceful(p.rib)
                    } else {
                        info!(%peer, remote = %p.remote, %reason, "session down: withdrawing its routes");
                        rib.handle_peer_down(p.rib)
                    };
                    if let Err(e) = res {
                        warn!(%peer, error = %e, "peer down");
                    }
                }
            }
            SpeakerEvent::Updates { peer, updates } => {
                let Some(p) = self.peers.get(&peer) else {
                    return;
                };
                let ebgp = p.ebgp;
                for u in &updates {
                    if let Some(f) = ribwire::end_of_rib(u) {
                        let _ = rib.handle_end_of_rib(p.rib, f);
                        continue;
                    }
                    for (_, ru) in ribwire::route_updates(u, ebgp) {
                        if let Err(e) = rib.handle_update(p.rib, ru) {
                            warn!(%peer, error = %e, "update refused");
                        }
                    }
                }
            }
            SpeakerEvent::EndOfRib { peer, family } => {
                if let (Some(p), Some(f)) = (self.peers.get(&peer), rib_family(family)) {
                    let _ = rib.handle_end_of_rib(p.rib, f);
                }
            }
            SpeakerEvent::RouteRefresh { peer, request } => {
                // RFC 2918 / RFC 7313: only a normal request asks for our routes again; BoRR/EoRR
                // mark a refresh the peer is sending us.
                if request.subtype != RouteRefreshSubtype::Normal {
                    return;
                }
                if let (Some(p), Some(f)) = (self.peers.get(&peer), rib_family(request.family)) {
                    info!(%peer, family = %request.family, "route refresh requested: re-sending our routes");
                    if let Err(e) = rib.handle_route_refresh(p.rib, f) {
                        warn!(%peer, error = %e, "route refresh");
                    }
                }
            }
            SpeakerEvent::StaleExpired { peer, family } => {
                let rib_peer = self
                    .stale
                    .get(&peer)
                    .copied()
                    .or_else(|| self.peers.get(&peer).map(|p| p.rib));
                if let (Some(id), Some(f)) = (rib_peer, rib_family(family)) {
                    info!(%peer, %family, "graceful restart timer expired: purging stale routes");
                    if let Err(e) = rib.handle_stale_expired(id, f) {
                        debug!(%peer, error = %e, "stale purge");
                    }
                }
            }
        }
    }

    async fn flush(&mut self) {
        if self.rib.is_none() {
            return;
        }
        if !self.forwarding_released && self.converged() {
            self.forwarding_released = true;
            self.forwarding_dirty = true;
            info!(
                after_ms = self.started.elapsed().as_millis() as u64,
                "RIB converged: advertising and programming forwarding state"
            );
        }
        let Some(rib) = self.rib.as_mut() else { return };
        // In chunks: the deltas of a whole table are never all in memory at once.
        let mut deltas = Vec::new();
        while rib.poll_forwarding(&mut deltas, 4096) > 0 {
            for d in deltas.drain(..) {
                apply_delta(
                    &mut self.forwarding,
                    &mut self.compact,
                    &mut self.vtep_refs,
                    &mut self.fwd_keys,
                    &self.vrf_tables,
                    d,
                );
            }
            self.forwarding_dirty = true;
        }
        // Until the RIB has converged, nothing is advertised either: an early End-of-RIB with a
        // partial table would make graceful-restart helpers purge routes we are about to re-learn
        // (RFC 4724 §4.1: the restarting speaker defers its updates until its peers' End-of-RIBs).
        // Each peer gets what fits in its outbox; the rest stays in its Adj-RIB-Out.
        self.blocked_rooms.clear();
        if self.forwarding_released {
            for (id, p) in &self.peers {
                if p.outbox.is_closed() {
                    continue;
                }
                while p.outbox.has_room() {
                    let Some(batch) = rib.poll_adj_out(p.rib, 4096) else {
                        break;
                    };
                    match ribwire::adj_out_updates(&batch, &p.tx, p.link_local) {
                        Ok(updates) if !updates.is_empty() => {
                            // Room was checked and only this task sends: Full cannot happen;
                            // Closed means the session just went down (its PeerDown follows).
                            if p.outbox.try_send(Outbound::Updates(updates)).is_err() {
                                break;
                            }
                        }
                        Ok(_) => {}
                        Err(e) => {
                            warn!(peer = %id, error = %e, "cannot encode routes for the peer")
                        }
                    }
                }
                if !p.outbox.has_room() {
                    self.blocked_rooms.push(Arc::clone(p.outbox.room()));
                }
            }
        }
        // After a mass withdrawal the RIB's tables shrink; hand what was freed (there and in
        // this process's other copies of the routes) back to the operating system (issue 10).
        rib.shrink();
        if rib.take_shrunk() {
            release_freed_memory();
        }
        self.hand_over_forwarding();
    }

    /// Hands the datapath what changed, without ever waiting for it: the whole state once
    /// (first hand-over, RIB rebuilt), then patches of at most [`PATCH_ROUTES`] routes while
    /// fewer than [`PATCHES_IN_FLIGHT`] are queued for it. When the datapath is behind (a
    /// million routes arrive faster than the kernel takes them), the changed keys wait here and
    /// coalesce, and the loop wakes when the queue drains ([`Routing::fib_waiting`]); the relay
    /// to the peers goes on meanwhile. What is in flight is bounded by the two constants, not by
    /// the table (issue 16).
    fn hand_over_forwarding(&mut self) {
        use tokio::sync::mpsc::error::TrySendError;
        self.fib_waiting = false;
        while self.forwarding_dirty && self.forwarding_released {
            // The queue holds fewer than PATCHES_IN_FLIGHT commands when this many slots are
            // free; the permits not used are given back when `permits` drops.
            let mut permits = match self.fib.try_reserve_many(FIB_ROOM_WANTED) {
                Ok(p) => p,
                Err(TrySendError::Full(())) => {
                    self.fib_waiting = true;
                    return;
                }
                Err(TrySendError::Closed(())) => {
                    self.forwarding_dirty = false;
                    return;
                }
            };
            let Some(permit) = permits.next() else { return };
            let cmd = if std::mem::take(&mut self.fwd_full) {
                self.fwd_keys = ForwardingKeys::default();
                perouter_fib::reconcile::Command::SetForwarding(Box::new(
                    self.compact.full_state(&self.forwarding),
                ))
            } else {
                let keys = self.fwd_keys.take_chunk(PATCH_ROUTES);
                perouter_fib::reconcile::Command::PatchForwarding(Box::new(forwarding_patch(
                    &self.forwarding,
                    &self.compact,
                    keys,
                )))
            };
            permit.send(cmd);
            self.forwarding_dirty = !self.fwd_keys.is_empty();
        }
    }

    /// Whether the RIB has converged since start: every planned session with a fixed address is
    /// up and has sent End-of-RIB for each of its families (RFC 4724 §4.1), or the deadline passed.
    fn converged(&self) -> bool {
        if self.started.elapsed() >= CONVERGENCE_DEADLINE {
            return true;
        }
        let Some(rib) = &self.rib else { return false };
        let up: BTreeSet<IpAddr> = self.peers.values().map(|p| p.remote.ip()).collect();
        let all_up = !self.roles.is_empty() && self.roles.keys().all(|a| up.contains(a));
        all_up
            && self.peers.values().all(|p| {
                p.params
                    .families
                    .iter()
                    .filter_map(|f| rib_family(*f))
                    .all(|f| rib.end_of_rib_received(p.rib, f))
            })
    }

    fn unicast_view(
        &self,
        v6: bool,
        vrf: Option<&str>,
        which: perouter_rib::PrefixMatch,
    ) -> Result<Vec<UnicastRouteView>, String> {
        let Some(rib) = &self.rib else {
            return Ok(Vec::new());
        };
        let vrf = match vrf {
            None => None,
            Some(name) => Some(
                rib.vrf_named(name)
                    .ok_or_else(|| format!("no VRF {name:?} on this node"))?,
            ),
        };
        Ok(unicast_views(
            rib.unicast_paths(v6, vrf, which),
            &self.peer_names(),
        ))
    }

    /// The address of each session the RIB knows, by its RIB id.
    fn peer_names(&self) -> HashMap<RibPeer, String> {
        self.peers
            .values()
            .map(|p| (p.rib, p.remote.ip().to_string()))
            .collect()
    }

    fn snapshot(&self) -> RoutingSnapshot {
        let mut s = RoutingSnapshot::default();
        if let Some(rib) = &self.rib {
            let st = rib.stats();
            s.default_routes = st.default_routes;
            s.evpn_routes = st.evpn_routes;
            s.vrf_routes = st.vrf_routes;
            s.attribute_sets = st.attribute_sets;
            s.refused_family = st.refused.ignored_family;
            s.refused_next_hop = st.refused.invalid_next_hop;
            s.unreachable_next_hops = st.unreachable_next_hops;
        }
        for (id, (name, _)) in &self.vrf_tables {
            let routes = self
                .forwarding
                .vrf_routes
                .get(&id.0)
                .map(|head| vrf_route_views(&self.compact.vrf_state(id.0, head)))
                .unwrap_or_default();
            s.vrfs.insert(name.clone(), routes);
        }
        s.default_table = self
            .compact
            .default
            .iter()
            .map(|(prefix, gws)| VrfRouteView {
                prefix,
                next_hops: gws.iter().map(|g| format!("via {g}")).collect(),
            })
            .collect();
        s.default_table.sort_by_key(|v| v.prefix);
        s.remote_macs = self.forwarding.remote_macs.len();
        s.flood_entries = self.forwarding.flood.len();
        s.peers = self
            .peers
            .values()
            .map(|p| (p.remote.to_string(), format!("{:?}", p.role)))
            .collect();
        s
    }
}

/// Returns freed heap memory to the operating system. glibc keeps freed pages in its arenas
/// (one per thread that allocated), so after a mass withdrawal RSS would stay at its peak;
/// `malloc_trim` gives back every whole free page of every arena. Called only when the RIB
/// shrank, which is rare (a table fell to a quarter of its capacity).
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

fn peer_config(
    role: PeerRole,
    remote: SocketAddr,
    local: SocketAddr,
    params: &SessionParams,
) -> PeerConfig {
    PeerConfig {
        role,
        local_asn: params.local_as,
        remote_asn: params.peer_as,
        remote_address: remote.ip(),
        local_address: local.ip(),
        remote_router_id: params.peer_id,
        families: params
            .families
            .iter()
            .filter_map(|f| rib_family(*f))
            .collect(),
        route_reflector_client: params.route_reflector_client,
        // Upstream sets allowas-in on fabric neighbours only (all nodes share one AS); a host
        // or passthrough session echoing our AS is a loop (the RIB enforces this too).
        allowas_in: if role == PeerRole::Fabric && !params.ibgp {
            1
        } else {
            0
        },
    }
}

/// The installed routes of one VRF as the API shows them: type-5 routes with their VTEP and
/// router MAC, host-session routes with their gateway.
fn vrf_route_views(vr: &VrfRoutes) -> Vec<VrfRouteView> {
    let mut views: BTreeMap<IpNet, Vec<String>> = BTreeMap::new();
    for (prefix, vteps) in &vr.routes {
        views.entry(*prefix).or_default().extend(vteps.iter().map(
            |v| match vr.router_macs.get(v) {
                Some(m) => format!("vtep {v} rmac {m}"),
                None => format!("vtep {v}"),
            },
        ));
    }
    for (prefix, gws) in &vr.gateway_routes {
        views
            .entry(*prefix)
            .or_default()
            .extend(gws.iter().map(|g| format!("via {g}")));
    }
    views
        .into_iter()
        .map(|(prefix, next_hops)| VrfRouteView { prefix, next_hops })
        .collect()
}

/// Applies one RIB forwarding delta to the datapath's wanted forwarding state.
///
/// VRF routes are keyed by the VRF's L3VNI (what `perouter_fib` expects, [`VrfId`] is the
/// L3VNI) and carry the VRF's kernel table from `tables`. Type-5 next hops (VXLAN) go to
/// `routes` with their router MAC; plain gateways (routes from the VRF's host session) go to
/// `gateway_routes`, so the kernel forwards decapsulated traffic to the host as well.
pub fn apply_delta(
    fwd: &mut ForwardingState,
    compact: &mut CompactRoutes,
    refs: &mut VtepRefs,
    keys: &mut ForwardingKeys,
    tables: &BTreeMap<VrfId, (String, u32)>,
    d: ForwardingDelta,
) {
    match d {
        ForwardingDelta::Route {
            table: FibTable::Vrf(id),
            prefix,
            op,
        } => {
            let Some((_, table)) = tables.get(&id) else {
                return;
            };
            let vr = fwd.vrf_routes.entry(id.0).or_insert_with(|| VrfRoutes {
                table: *table,
                ..Default::default()
            });
            vr.table = *table;
            let vni = id.0;
            keys.vrfs.insert(vni);
            keys.vrf_routes.insert((vni, prefix));
            // The prefix's VTEPs before the change: their use counts go down, the new ones up.
            let before: BTreeSet<IpAddr> = compact
                .vrf_vteps(vni, &prefix)
                .map(|v| v.iter().copied().collect())
                .unwrap_or_default();
            let mut vteps = BTreeSet::new();
            let mut gateways = Vec::new();
            if let RouteOp::Add(nhs) | RouteOp::Replace(nhs) = op {
                for nh in nhs {
                    match nh {
                        NextHop::Vxlan {
                            vtep, router_mac, ..
                        } => {
                            vr.router_macs.insert(vtep, router_mac);
                            vteps.insert(vtep);
                        }
                        NextHop::Gateway(g) => gateways.push(g),
                    }
                }
            }
            compact.set_vrf(vni, prefix, vteps.iter().copied().collect(), gateways);
            // Router MACs of VTEPs no route uses any more are dropped.
            for v in vteps.difference(&before) {
                *refs.0.entry((vni, *v)).or_default() += 1;
            }
            for v in before.difference(&vteps) {
                if let std::collections::hash_map::Entry::Occupied(mut e) = refs.0.entry((vni, *v))
                {
                    *e.get_mut() -= 1;
                    if *e.get() == 0 {
                        e.remove();
                        vr.router_macs.remove(v);
                    }
                }
            }
        }
        ForwardingDelta::Route {
            table: FibTable::Default,
            prefix,
            op,
        } => {
            keys.default_routes.insert(prefix);
            match op {
                RouteOp::Add(nhs) | RouteOp::Replace(nhs) => {
                    let gws: Vec<IpAddr> = nhs
                        .into_iter()
                        .filter_map(|nh| match nh {
                            NextHop::Gateway(g) => Some(g),
                            NextHop::Vxlan { .. } => None,
                        })
                        .collect();
                    compact.default.set(prefix, Some(&gws));
                }
                RouteOp::Delete => compact.default.set(prefix, None),
            }
        }
        ForwardingDelta::Fdb { vni, mac, vtep } => {
            keys.remote_macs.insert((vni, mac));
            match vtep {
                Some(v) => {
                    fwd.remote_macs.insert((vni, mac), v);
                }
                None => {
                    fwd.remote_macs.remove(&(vni, mac));
                }
            }
        }
        ForwardingDelta::Flood { vni, vtep, present } => {
            keys.flood.insert((vni, vtep));
            if present {
                fwd.flood.insert((vni, vtep));
            } else {
                fwd.flood.remove(&(vni, vtep));
            }
        }
        ForwardingDelta::Neighbor { vni, ip, mac } => {
            keys.remote_neighbours.insert((vni, ip));
            match mac {
                Some(m) => {
                    fwd.remote_neighbours.insert((vni, ip), m);
                }
                None => {
                    fwd.remote_neighbours.remove(&(vni, ip));
                }
            }
        }
    }
}

/// The datapath's patch for `keys`: the touched keys' current values, the routes' taken from
/// `compact` (`fwd`'s own route maps are not used).
pub fn forwarding_patch(
    fwd: &ForwardingState,
    compact: &CompactRoutes,
    mut keys: ForwardingKeys,
) -> ForwardingPatch {
    let default_keys = std::mem::take(&mut keys.default_routes);
    let mut patch = fwd.patch(&keys);
    for ((vni, prefix), vteps, gateways) in &mut patch.vrf_routes {
        let set = |s: Option<&[IpAddr]>| s.map(|s| s.iter().copied().collect::<BTreeSet<_>>());
        *vteps = set(compact.vrf_vteps(*vni, prefix));
        *gateways = set(compact.vrf_gateways(*vni, prefix));
    }
    patch.default_routes = default_keys
        .into_iter()
        .map(|p| (p, compact.default.get_set(&p)))
        .collect();
    patch
}

/// How many routes of each L3VNI use each VTEP, so that a VTEP's router MAC is dropped when
/// its last route goes without scanning the VRF's table on every change.
#[derive(Debug, Default)]
pub struct VtepRefs(HashMap<(u32, IpAddr), usize>);

#[cfg(test)]
mod tests {
    use super::*;

    fn tables() -> BTreeMap<VrfId, (String, u32)> {
        [(VrfId(100), ("red".to_string(), 1100))].into()
    }

    /// The plan of a node with two fabric neighbours and nothing else (a pure relay).
    fn relay_plan() -> NodePlan {
        let dir = std::env::temp_dir().join(format!("perouter-relay-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("openpe_all.yaml"),
            "underlays:\n  - asn: 64514\n    interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch1}}]\n    neighbors: [{asn: 64512, address: 192.168.11.2}, {asn: 64513, address: 192.168.11.4}]\n    tunnelEndpoint: {cidrs: [100.65.0.0/24]}\n",
        )
        .unwrap();
        let r = crate::check::check_dir(&dir, Some(0), "perouter").unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        r.plan.unwrap()
    }

    fn relay_params(peer_as: u32, peer_id: std::net::Ipv4Addr) -> Box<SessionParams> {
        use perouter_bgp::wire::AfiSafi;
        Box::new(SessionParams {
            peer_capabilities: Vec::new(),
            local_as: 64514,
            peer_as,
            local_id: std::net::Ipv4Addr::new(100, 65, 0, 0),
            peer_id,
            ibgp: false,
            hold_time: 90,
            keepalive: Some(Duration::from_secs(30)),
            families: vec![AfiSafi::IPV4_UNICAST],
            four_octet_as: true,
            extended_message: false,
            route_refresh: true,
            enhanced_route_refresh: false,
            add_path_receive: vec![],
            add_path_send: vec![],
            extended_next_hop: vec![],
            route_reflector_client: false,
            graceful_restart: None,
            local_restarting: false,
            rx: WireContext::default(),
            tx: WireContext::default(),
        })
    }

    /// UPDATEs announcing `count` /32s from 16.0.0.0 + `first`, next hop 192.168.11.2.
    fn announce(first: u32, count: u32) -> Vec<perouter_bgp::wire::Update> {
        use perouter_bgp::wire::{
            AfiSafi, AsPath, AttributeValue, Nlri, NlriList, Origin, PathAttributes, Update,
        };
        let attrs = PathAttributes::new()
            .with(AttributeValue::Origin(Origin::Igp))
            .with(AttributeValue::AsPath(AsPath::sequence([64512])))
            .with(AttributeValue::NextHop([192, 168, 11, 2].into()));
        let nlri: Vec<Nlri> = (first..first + count)
            .map(|i| {
                Nlri::new(IpNet::new(std::net::Ipv4Addr::from(0x1000_0000 + i).into(), 32).unwrap())
            })
            .collect();
        Update::pack_reach(
            &attrs,
            None,
            NlriList::Prefixes(AfiSafi::IPV4_UNICAST, &nlri),
            &WireContext::default(),
        )
        .unwrap()
    }

    /// A relay is pipelined (issue 16): with far more input queued than one turn takes, the
    /// routing task hands the receiving session its first batch while most of the input is
    /// still waiting in the event channel, instead of taking in everything queued first.
    #[test]
    fn the_first_batch_leaves_before_the_input_is_all_taken_in() {
        use perouter_bgp::speaker::PeerId as P;
        use perouter_bgp::wire::AfiSafi;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let plan = Arc::new(relay_plan());
            let sessions = super::super::sessions::planned_sessions(&plan);
            let (fib_tx, mut fib_rx) = mpsc::channel(64);
            tokio::spawn(async move { while fib_rx.recv().await.is_some() {} });
            const EVENTS: usize = 200;
            let (ev_tx, ev_rx) = mpsc::channel(EVENTS + 16);
            let (cmd_tx, cmd_rx) = mpsc::channel(4);
            cmd_tx
                .send(RoutingCommand::Configure {
                    plan,
                    sessions,
                })
                .await
                .unwrap();
            let (out_a, _rx_a) = perouter_bgp::session::Outbox::channel(8);
            let (out_b, mut rx_b) = perouter_bgp::session::Outbox::channel(8);
            let up = |peer: u32, ip: [u8; 4], asn: u32, outbox| SpeakerEvent::PeerUp {
                peer: P(peer),
                remote: SocketAddr::from((ip, 179)),
                local: SocketAddr::from(([192, 168, 11, 3], 40000 + peer as u16)),
                params: relay_params(asn, std::net::Ipv4Addr::from(ip)),
                outbox,
            };
            ev_tx.try_send(up(1, [192, 168, 11, 2], 64512, out_a)).unwrap();
            ev_tx.try_send(up(2, [192, 168, 11, 4], 64513, out_b)).unwrap();
            for p in [1, 2] {
                ev_tx
                    .try_send(SpeakerEvent::EndOfRib {
                        peer: P(p),
                        family: AfiSafi::IPV4_UNICAST,
                    })
                    .unwrap();
            }
            // 200 events of 1,000 routes each, all queued before the task starts.
            for e in 0..EVENTS as u32 {
                ev_tx
                    .try_send(SpeakerEvent::Updates {
                        peer: P(1),
                        updates: announce(e * 1000, 1000),
                    })
                    .unwrap();
            }
            let queued = ev_tx.max_capacity() - ev_tx.capacity();
            assert_eq!(queued, EVENTS + 4);
            tokio::spawn(Routing::new(fib_tx, false).run(ev_rx, cmd_rx));
            // Skip the End-of-RIB batch (an UPDATE with nothing in it); the first routes follow.
            let mut routes = 0;
            let mut left = 0;
            while routes == 0 {
                let Some(Outbound::Updates(ups)) = rx_b.recv().await else {
                    panic!("the session's outbox closed")
                };
                routes = ups.iter().map(announced_count).sum::<usize>();
                left = ev_tx.max_capacity() - ev_tx.capacity();
            }
            assert!(
                left >= EVENTS / 2,
                "the first batch of routes left after the task had taken in all but {left} of {EVENTS} queued events"
            );
            drop(cmd_tx);
        });
    }

    #[test]
    fn a_datapath_that_falls_behind_never_stalls_the_relay_and_gets_every_route_in_bounded_patches()
    {
        use perouter_bgp::speaker::PeerId as P;
        use perouter_bgp::wire::AfiSafi;
        use perouter_fib::reconcile::Command;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let plan = Arc::new(relay_plan());
            let sessions = super::super::sessions::planned_sessions(&plan);
            // Nobody takes from the datapath's queue until the relay is done.
            let (fib_tx, mut fib_rx) = mpsc::channel(FIB_QUEUE);
            const EVENTS: u32 = 100;
            const ROUTES: usize = EVENTS as usize * 1000;
            let (ev_tx, ev_rx) = mpsc::channel(EVENTS as usize + 16);
            let (cmd_tx, cmd_rx) = mpsc::channel(4);
            cmd_tx
                .send(RoutingCommand::Configure { plan, sessions })
                .await
                .unwrap();
            let (out_a, _rx_a) = perouter_bgp::session::Outbox::channel(8);
            let (out_b, mut rx_b) = perouter_bgp::session::Outbox::channel(8);
            let up = |peer: u32, ip: [u8; 4], asn: u32, outbox| SpeakerEvent::PeerUp {
                peer: P(peer),
                remote: SocketAddr::from((ip, 179)),
                local: SocketAddr::from(([192, 168, 11, 3], 40000 + peer as u16)),
                params: relay_params(asn, std::net::Ipv4Addr::from(ip)),
                outbox,
            };
            ev_tx
                .try_send(up(1, [192, 168, 11, 2], 64512, out_a))
                .unwrap();
            ev_tx
                .try_send(up(2, [192, 168, 11, 4], 64513, out_b))
                .unwrap();
            for p in [1, 2] {
                ev_tx
                    .try_send(SpeakerEvent::EndOfRib {
                        peer: P(p),
                        family: AfiSafi::IPV4_UNICAST,
                    })
                    .unwrap();
            }
            for e in 0..EVENTS {
                ev_tx
                    .try_send(SpeakerEvent::Updates {
                        peer: P(1),
                        updates: announce(e * 1000, 1000),
                    })
                    .unwrap();
            }
            tokio::spawn(Routing::new(fib_tx.clone(), false).run(ev_rx, cmd_rx));
            // Every route reaches peer B although the datapath takes nothing.
            let mut relayed = 0;
            while relayed < ROUTES {
                let got = tokio::time::timeout(Duration::from_secs(30), rx_b.recv()).await;
                let Ok(Some(Outbound::Updates(ups))) = got else {
                    panic!("the relay stalled after {relayed} of {ROUTES} routes")
                };
                relayed += ups.iter().map(announced_count).sum::<usize>();
            }
            let queued = FIB_QUEUE - fib_tx.capacity();
            assert!(
                (1..=PATCHES_IN_FLIGHT).contains(&queued),
                "{queued} forwarding commands queued for a datapath that is behind"
            );
            // Draining the queue: every route arrives, each patch bounded.
            let mut seen: BTreeSet<IpNet> = BTreeSet::new();
            let mut patches = 0;
            while seen.len() < ROUTES {
                let got = tokio::time::timeout(Duration::from_secs(30), fib_rx.recv()).await;
                match got {
                    Ok(Some(Command::SetForwarding(f))) => seen.extend(f.default_routes.keys()),
                    Ok(Some(Command::PatchForwarding(p))) => {
                        assert!(p.default_routes.len() <= PATCH_ROUTES);
                        for (prefix, gateways) in p.default_routes {
                            assert!(gateways.is_some(), "{prefix} handed over as withdrawn");
                            seen.insert(prefix);
                        }
                        patches += 1;
                        assert!(FIB_QUEUE - fib_tx.capacity() <= PATCHES_IN_FLIGHT);
                    }
                    Ok(Some(_)) => {}
                    _ => panic!("the datapath got {} of {ROUTES} routes", seen.len()),
                }
            }
            assert!(patches >= ROUTES / PATCH_ROUTES - 1, "{patches} patches");
            drop(cmd_tx);
        });
    }

    #[test]
    fn vrf_routes_are_keyed_by_l3vni_and_keep_both_kinds_of_next_hop() {
        let mut fwd = ForwardingState::default();
        let mut dr = CompactRoutes::default();
        let mut refs = VtepRefs::default();
        let mut keys = ForwardingKeys::default();
        let rmac: MacAddress = "aa:bb:cc:00:00:64".parse().unwrap();
        let vtep: IpAddr = "100.64.0.1".parse().unwrap();
        let host: IpAddr = "192.169.10.2".parse().unwrap();
        let route = |prefix: &str, op| ForwardingDelta::Route {
            table: FibTable::Vrf(VrfId(100)),
            prefix: prefix.parse().unwrap(),
            op,
        };
        apply_delta(
            &mut fwd,
            &mut dr,
            &mut refs,
            &mut keys,
            &tables(),
            route(
                "192.168.20.0/24",
                RouteOp::Add(vec![NextHop::Vxlan {
                    vtep,
                    vni: 100,
                    router_mac: rmac,
                }]),
            ),
        );
        apply_delta(
            &mut fwd,
            &mut dr,
            &mut refs,
            &mut keys,
            &tables(),
            route("10.250.0.1/32", RouteOp::Add(vec![NextHop::Gateway(host)])),
        );
        // The datapath looks VRF routes up by L3VNI and checks the table against its VRF's.
        assert_eq!(fwd.vrf_routes.keys().copied().collect::<Vec<_>>(), [100]);
        // The task's own route maps stay empty: the routes are in the compact copy.
        assert!(fwd.vrf_routes[&100].routes.is_empty());
        assert!(fwd.vrf_routes[&100].gateway_routes.is_empty());
        assert_eq!(dr.vrf_len(100), 2);
        let full = dr.full_state(&fwd);
        let vr = &full.vrf_routes[&100];
        assert_eq!(vr.table, 1100);
        assert_eq!(
            vr.routes[&"192.168.20.0/24".parse::<IpNet>().unwrap()],
            [vtep].into()
        );
        assert_eq!(vr.router_macs[&vtep], rmac);
        assert_eq!(
            vr.gateway_routes[&"10.250.0.1/32".parse::<IpNet>().unwrap()],
            [host].into()
        );
        assert!(!vr
            .routes
            .contains_key(&"10.250.0.1/32".parse::<IpNet>().unwrap()));
        full.validate().unwrap();
        let views = vrf_route_views(vr);
        assert_eq!(views.len(), 2);
        assert_eq!(views[0].next_hops, ["via 192.169.10.2"]);
        assert_eq!(
            views[1].next_hops,
            ["vtep 100.64.0.1 rmac aa:bb:cc:00:00:64"]
        );
        // The host route moves to the fabric: the gateway goes, the VTEP comes.
        apply_delta(
            &mut fwd,
            &mut dr,
            &mut refs,
            &mut keys,
            &tables(),
            route(
                "10.250.0.1/32",
                RouteOp::Replace(vec![NextHop::Vxlan {
                    vtep,
                    vni: 100,
                    router_mac: rmac,
                }]),
            ),
        );
        let full = dr.full_state(&fwd);
        let vr = &full.vrf_routes[&100];
        assert!(vr.gateway_routes.is_empty());
        assert_eq!(vr.routes.len(), 2);
        // Withdrawals drop routes and the router MAC of a VTEP no route uses any more: kept
        // while one route still uses it.
        apply_delta(
            &mut fwd,
            &mut dr,
            &mut refs,
            &mut keys,
            &tables(),
            route("10.250.0.1/32", RouteOp::Delete),
        );
        assert_eq!(fwd.vrf_routes[&100].router_macs.get(&vtep), Some(&rmac));
        // A route moving to another VTEP: the old VTEP's MAC goes with its last route.
        let vtep2: IpAddr = "100.64.0.2".parse().unwrap();
        let rmac2: MacAddress = "aa:bb:cc:00:00:65".parse().unwrap();
        apply_delta(
            &mut fwd,
            &mut dr,
            &mut refs,
            &mut keys,
            &tables(),
            route(
                "192.168.20.0/24",
                RouteOp::Replace(vec![NextHop::Vxlan {
                    vtep: vtep2,
                    vni: 100,
                    router_mac: rmac2,
                }]),
            ),
        );
        assert_eq!(
            fwd.vrf_routes[&100].router_macs,
            [(vtep2, rmac2)].into(),
            "only the VTEP in use keeps its MAC"
        );
        apply_delta(
            &mut fwd,
            &mut dr,
            &mut refs,
            &mut keys,
            &tables(),
            route("192.168.20.0/24", RouteOp::Delete),
        );
        let full = dr.full_state(&fwd);
        let vr = &full.vrf_routes[&100];
        assert!(vr.routes.is_empty() && vr.gateway_routes.is_empty() && vr.router_macs.is_empty());
        assert_eq!(dr.vrf_len(100), 0);
        assert!(refs.0.is_empty(), "no count left behind: {refs:?}");
        // A VRF the routing task does not know (removed meanwhile) is ignored.
        let stray = ForwardingDelta::Route {
            table: FibTable::Vrf(VrfId(200)),
            prefix: "10.0.0.0/8".parse().unwrap(),
            op: RouteOp::Add(vec![NextHop::Gateway(host)]),
        };
        apply_delta(&mut fwd, &mut dr, &mut refs, &mut keys, &tables(), stray);
        assert!(!fwd.vrf_routes.contains_key(&200));
    }

    /// The datapath's copy, kept by patches, equals the routing task's state after any
    /// sequence of changes (routes of two VRFs and the default table, MACs, flood entries,
    /// neighbours, a VRF removed), flushed at any points.
    mod patches {
        use super::*;
        use proptest::prelude::*;

        fn delta(kind: u8, a: u8, b: u8, del: bool) -> ForwardingDelta {
            let vtep: IpAddr = format!("100.64.0.{}", 1 + b % 3).parse().unwrap();
            let gw: IpAddr = format!("192.169.10.{}", 1 + b % 2).parse().unwrap();
            let prefix: IpNet = format!("10.{}.0.0/16", a % 8).parse().unwrap();
            let mac = MacAddress([2, 0, 0, 0, 0, a % 8]);
            let op = |hops: Vec<NextHop>| {
                if del {
                    RouteOp::Delete
                } else {
                    RouteOp::Replace(hops)
                }
            };
            match kind % 6 {
                0 | 1 => ForwardingDelta::Route {
                    table: FibTable::Vrf(VrfId(if kind.is_multiple_of(6) { 100 } else { 200 })),
                    prefix,
                    op: op(if b.is_multiple_of(4) {
                        vec![NextHop::Gateway(gw)]
                    } else {
                        vec![NextHop::Vxlan {
                            vtep,
                            vni: 100,
                            router_mac: MacAddress([0xaa, 0, 0, 0, 0, b % 3]),
                        }]
                    }),
                },
                2 => ForwardingDelta::Route {
                    table: FibTable::Default,
                    prefix,
                    op: op(vec![NextHop::Gateway(gw)]),
                },
                3 => ForwardingDelta::Fdb {
                    vni: 110,
                    mac,
                    vtep: (!del).then_some(vtep),
                },
                4 => ForwardingDelta::Flood {
                    vni: 110,
                    vtep,
                    present: !del,
                },
                _ => ForwardingDelta::Neighbor {
                    vni: 110,
                    ip: gw,
                    mac: (!del).then_some(mac),
                },
            }
        }

        proptest! {
            #[test]
            fn patched_copy_equals_the_owner(
                steps in proptest::collection::vec((0u8..8, any::<u8>(), any::<u8>(), any::<bool>()), 1..120)
            ) {
                let tables: BTreeMap<VrfId, (String, u32)> = [
                    (VrfId(100), ("red".to_string(), 1100)),
                    (VrfId(200), ("blue".to_string(), 1200)),
                ]
                .into();
                let mut owner = ForwardingState::default();
                let mut dr = CompactRoutes::default();
                let mut refs = VtepRefs::default();
                let mut keys = ForwardingKeys::default();
                let mut copy = owner.clone();
                for (kind, a, b, del) in steps {
                    match kind {
                        // A flush: the copy catches up by one patch of at most 3 routes
                        // (the rest waits for the next, as when the datapath is behind).
                        6 => copy.apply(forwarding_patch(&owner, &dr, keys.take_chunk(3))),
                        // VRF blue removed, as configure() does it.
                        7 => {
                            owner.vrf_routes.remove(&200);
                            dr.remove_vrf(200);
                            refs.0.retain(|(vni, _), _| *vni != 200);
                            keys.vrfs_reset.insert(200);
                        }
                        k => apply_delta(&mut owner, &mut dr, &mut refs, &mut keys, &tables, delta(k, a, b, del)),
                    }
                }
                while !keys.is_empty() {
                    copy.apply(forwarding_patch(&owner, &dr, keys.take_chunk(3)));
                }
                prop_assert!(owner.default_routes.is_empty(), "the default table is kept aside");
                prop_assert!(
                    owner.vrf_routes.values().all(|v| v.routes.is_empty() && v.gateway_routes.is_empty()),
                    "the VRF routes are kept aside"
                );
                prop_assert_eq!(copy, dr.full_state(&owner));
            }
        }
    }
}
