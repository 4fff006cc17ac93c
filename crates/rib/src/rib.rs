//! The RIB: one value owned by one task. Inputs are `handle_*` calls, outputs are pulled with
//! `poll_*` (sans-IO: no sockets, no clocks; time is an input).
//!
//! Data flow (upstream's FRR behaviour, reference §3):
//!
//! ```text
//!  fabric peers ──IPv4/6──► default table ──► fabric peers, passthrough host, FIB (default)
//!  fabric peers ──EVPN────► EVPN table ──type-5 (RT match)──► VRF table ──► host session, FIB (VRF)
//!                              ▲   └─type-2/3 (RT match)──► L2VNI ──► FDB, flood list, neighbours
//!  host session ──IPv4/6──► VRF table ──best (host/local)──► type-5 in EVPN table ──► fabric
//!  local MACs ──────────────► L2VNI ──► type-2 in EVPN table ──► fabric
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use perouter_evpn::{EthernetTag, EvpnRoute, EvpnRouteKey, Label, MacAddress};
use tracing::{debug, info, warn};

use crate::adj_out::{
    export_attrs, may_export, AdjOutBatch, Announcement, ExportCache, ExportKind, Nlri, RouteKey,
    SourceFacts,
};
use crate::attrs::{neighbor_as, occurrences, PathAttrs};
use crate::best_path::{select, MultipathConfig, Rank};
use crate::evpn_table::{split, EvpnData, EvpnFields};
use crate::forwarding::{FibTable, ForwardingDelta, NextHop, RouteOp};
use crate::intern::Interner;
use crate::l2vni::{L2Domain, L2VniConfig, MacPlan, RemoteMac};
use crate::nexthop::{defect, is_link_local, Defect, NextHopTracker};
use crate::peer::{Family, PeerConfig, PeerId, PeerRole};
use crate::table::{Attrs, Path, PeerSet, Source, Table};
use crate::translate::{type2_attrs, type3_attrs, type5_attrs};
use crate::vrf::{ResolvedVrf, VrfConfig, VrfId};

/// Node-wide RIB settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RibConfig {
    /// Our AS number (the default instance's).
    pub asn: u32,
    /// Our router ID (auto RDs derive from it).
    pub router_id: Ipv4Addr,
    /// Our VTEP address: advertised in the underlay, next hop of every EVPN route we originate.
    pub vtep: IpAddr,
    /// ECMP settings.
    pub multipath: MultipathConfig,
    /// Extra networks originated in the default table (e.g. the passthrough host-side address).
    pub default_networks: Vec<IpNet>,
}

/// The parsed contents of one UPDATE, as the session hands them over (MP_REACH/MP_UNREACH
/// already split into NLRI; attributes without them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteUpdate {
    /// The path attributes of the announced NLRI.
    pub attrs: PathAttrs,
    /// Announced NLRI.
    pub announced: Vec<Nlri>,
    /// Withdrawn NLRI.
    pub withdrawn: Vec<Nlri>,
    /// The ADD-PATH path identifier of every NLRI here (RFC 7911 §3): a peer may send several
    /// paths for one prefix, each is a path of its own. 0 when the session has no ADD-PATH.
    pub path_id: u32,
}

/// Something the RIB wants the operator or the agent to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RibEvent {
    /// A MAC moved too often (RFC 7432 §15.1): frozen, no longer advertised as it moves.
    DuplicateMac {
        /// L2VNI.
        vni: u32,
        /// MAC.
        mac: MacAddress,
    },
    /// A tracked next hop (a VTEP, or the gateway of default-table routes) became reachable
    /// or unreachable through the underlay.
    VtepReachability {
        /// The next hop.
        vtep: IpAddr,
        /// Now reachable.
        reachable: bool,
    },
}

/// Errors from RIB inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RibError {
    /// The peer handle is not (or no longer) valid.
    #[error("unknown peer {0:?}")]
    UnknownPeer(PeerId),
    /// A host session names a VRF that is not configured.
    #[error("host session for unknown VRF {0:?}")]
    UnknownVrf(VrfId),
    /// An L2VNI event names a VNI that is not configured.
    #[error("unknown L2VNI {0}")]
    UnknownL2Vni(u32),
    /// A table already has [`PeerSet::CAPACITY`] peers subscribed.
    #[error("table {0:?} already has {cap} peers", cap = PeerSet::CAPACITY)]
    TooManyPeers(ScopeId),
}

/// Identifies one table that peers subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeId {
    /// Default table, IPv4.
    Default4,
    /// Default table, IPv6.
    Default6,
    /// The global EVPN table.
    Evpn,
    /// A VRF's IPv4 table.
    Vrf4(VrfId),
    /// A VRF's IPv6 table.
    Vrf6(VrfId),
}

impl ScopeId {
    fn family(self) -> Family {
        match self {
            ScopeId::Default4 | ScopeId::Vrf4(_) => Family::Ipv4Unicast,
            ScopeId::Default6 | ScopeId::Vrf6(_) => Family::Ipv6Unicast,
            ScopeId::Evpn => Family::L2vpnEvpn,
        }
    }

    fn export_kind(self) -> ExportKind {
        match self {
            ScopeId::Default4 | ScopeId::Default6 => ExportKind::Unicast,
            ScopeId::Evpn => ExportKind::Evpn,
            ScopeId::Vrf4(_) | ScopeId::Vrf6(_) => ExportKind::Host,
        }
    }
}

/// A table with its subscribers' queues and its datapath queue.
struct Scope<K, X> {
    table: Table<K, X>,
    subs: [Option<PeerId>; PeerSet::CAPACITY],
    active: PeerSet,
    queues: Vec<VecDeque<u32>>,
    fib: Option<FibTable>,
    fib_queue: Vec<u32>,
}

impl<K: RouteKey<X>, X: Clone + PartialEq> Scope<K, X> {
    fn new(fib: Option<FibTable>) -> Self {
        Self {
            table: Table::new(),
            subs: [None; PeerSet::CAPACITY],
            active: PeerSet::default(),
            queues: (0..PeerSet::CAPACITY).map(|_| VecDeque::new()).collect(),
            fib,
            fib_queue: Vec::new(),
        }
    }

    /// Queues `slot` for every subscriber and the datapath.
    fn notify(&mut self, slot: u32) {
        let e = self.table.entry_mut(slot);
        for i in 0..PeerSet::CAPACITY as u8 {
            if self.active.contains(i) && !e.queued.contains(i) {
                e.queued.insert(i);
                self.queues[usize::from(i)].push_back(slot);
            }
        }
        if self.fib.is_some() && e.mark_fib_queued() {
            self.fib_queue.push(slot);
        }
    }

    /// Subscribes `peer`, queueing every key with a best path (the initial dump).
    fn subscribe(&mut self, peer: PeerId, id: ScopeId) -> Result<u8, RibError> {
        let i = (0..PeerSet::CAPACITY as u8)
            .find(|&i| !self.active.contains(i))
            .ok_or(RibError::TooManyPeers(id))?;
        self.subs[usize::from(i)] = Some(peer);
        self.active.insert(i);
        let slots: Vec<u32> = self.table.slots().collect();
        for s in slots {
            let e = self.table.entry_mut(s);
            if e.best().is_some() && !e.queued.contains(i) {
                e.queued.insert(i);
                self.queues[usize::from(i)].push_back(s);
            }
        }
        Ok(i)
    }

    /// Gives memory back once the table has emptied out (see [`Table::shrink`]): the slab,
    /// the index and the queues. Returns whether anything shrank.
    fn shrink(&mut self) -> bool {
        let mut any = self.table.shrink();
        for q in &mut self.queues {
            if q.capacity() > 1024 && q.len() * 4 < q.capacity() {
                q.shrink_to_fit();
                any = true;
            }
        }
        if self.fib_queue.capacity() > 1024 && self.fib_queue.len() * 4 < self.fib_queue.capacity()
        {
            self.fib_queue.shrink_to_fit();
            any = true;
        }
        any
    }

    /// Queues every key with a best path for subscriber `i` again (a ROUTE-REFRESH request).
    fn requeue(&mut self, i: u8) {
        let slots: Vec<u32> = self.table.slots().collect();
        for s in slots {
            let e = self.table.entry_mut(s);
            if e.best().is_some() && !e.queued.contains(i) {
                e.queued.insert(i);
                self.queues[usize::from(i)].push_back(s);
            }
        }
    }

    /// Forgets subscriber `i`: its queue and its advertised bits.
    fn unsubscribe(&mut self, i: u8) {
        self.subs[usize::from(i)] = None;
        self.active.remove(i);
        let q = std::mem::take(&mut self.queues[usize::from(i)]);
        for s in q {
            self.table.entry_mut(s).queued.remove(i);
        }
        let slots: Vec<u32> = self.table.slots().collect();
        for s in slots {
            self.table.entry_mut(s).advertised.remove(i);
            self.table.collect(s);
        }
    }
}

/// What [`Rib::sweep`] does to a peer's paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sweep {
    /// Mark them stale (graceful restart began).
    MarkStale,
    /// Remove those still stale (End-of-RIB, stale timer).
    RemoveStale,
    /// Remove them all (session down).
    RemoveAll,
}

/// Per-peer state.
struct PeerState {
    config: PeerConfig,
    /// The session is established (a peer that is down gracefully keeps its state).
    up: bool,
    /// Families whose paths are (partly) stale after a graceful restart (RFC 4724 §4.2).
    stale: Vec<Family>,
    /// Subscriptions: table, subscriber index, End-of-RIB still owed.
    subs: Vec<(ScopeId, u8, bool)>,
    /// Families for which the peer sent End-of-RIB.
    eor_received: Vec<Family>,
    /// What was refused from this peer since its session came up.
    input: PeerInputCounters,
    /// Already logged: non-negotiated family (bit 0), invalid next hop (bit 1). Once per
    /// session, so a misbehaving peer cannot flood the log.
    warned: u8,
}

/// What the RIB refused from one peer (or from all of them, in [`RibStats`]): well-formed but
/// wrong input, counted so the operator can see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerInputCounters {
    /// NLRI (announced or withdrawn) of an address family not negotiated on the session,
    /// ignored (RFC 4760 §7 allows treating them as an error; we ignore them so a confused peer
    /// cannot reset the session, nor put routes in tables it does not exchange).
    pub ignored_family: u64,
    /// Announced NLRI whose next hop is invalid (RFC 4271 §5.1.3: unspecified, loopback,
    /// multicast, broadcast, class E, ours, link-local where not allowed): kept in the
    /// Adj-RIB-In, never selected, advertised or installed.
    pub invalid_next_hop: u64,
}

/// A VRF's tables and derived values.
struct VrfState {
    vrf: ResolvedVrf,
    v4: Scope<Ipv4Net, u32>,
    v6: Scope<Ipv6Net, u32>,
    /// Type-5 attribute sets derived from VRF attribute sets.
    t5_cache: HashMap<Attrs, Attrs>,
}

/// Statistics for scale runs and `show` commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RibStats {
    /// Keys with a path in the default tables.
    pub default_routes: usize,
    /// Keys with a path in the EVPN table.
    pub evpn_routes: usize,
    /// Keys with a path in VRF tables.
    pub vrf_routes: usize,
    /// Distinct interned attribute sets.
    pub attribute_sets: usize,
    /// Refused input, summed over every peer since start (see [`PeerInputCounters`]).
    pub refused: PeerInputCounters,
    /// Tracked next hops (VTEPs, default-table gateways) the underlay cannot reach now: the
    /// paths through them are not installed.
    pub unreachable_next_hops: usize,
}

/// Which prefixes of a default table [`Rib::unicast_paths`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixMatch {
    /// Every prefix.
    All,
    /// This prefix exactly (host bits ignored), like vtysh's `show bgp ipv4 unicast 10.0.0.0/24`.
    Exact(IpNet),
    /// The longest prefix holding paths that covers this address, like vtysh's
    /// `show bgp ipv4 unicast 10.0.0.1`.
    Longest(IpAddr),
}

/// A route exchanged with one peer: received (Adj-RIB-In) or advertised (Adj-RIB-Out).
#[derive(Debug, Clone)]
pub struct ExchangedRoute {
    /// The NLRI (family included).
    pub nlri: Nlri,
    /// Its attributes: as received, or as sent.
    pub attrs: Attrs,
    /// Received: the path is the best of its key. Advertised: always true (only best paths
    /// are advertised).
    pub best: bool,
    /// Advertised: a change for this key is queued and not yet sent to the peer.
    pub pending: bool,
}

/// One path of a default table, flagged as `show bgp ipv4|ipv6 unicast` prints it.
#[derive(Debug, Clone)]
pub struct UnicastPath {
    /// The prefix.
    pub prefix: IpNet,
    /// Where the path came from (a peer, stale or not, or this router).
    pub source: Source,
    /// Its attributes.
    pub attrs: Attrs,
    /// The best path of its prefix (RFC 4271 §9.1.2).
    pub best: bool,
    /// In the multipath (ECMP) set installed in the kernel; the best path always is.
    pub multipath: bool,
    /// Usable: ours, or its next hop is valid, reachable and not one of our addresses
    /// (RFC 4271 §5.1.3, §9.1.2.1). An ineligible path is kept (the peer may fix it) but never
    /// selected.
    pub eligible: bool,
    /// On the best path: the decision step that made it best over the runner-up (RFC 4271
    /// §9.1.2.2), as the selection computes it.
    pub decided_by: Option<crate::best_path::DecisionStep>,
}

/// The RIB. See the module documentation for the data flow.
pub struct Rib {
    config: RibConfig,
    peers: Vec<Option<PeerState>>,
    default4: Scope<Ipv4Net, ()>,
    default6: Scope<Ipv6Net, ()>,
    evpn: Scope<EvpnRouteKey, EvpnData>,
    vrfs: BTreeMap<VrfId, VrfState>,
    l2: BTreeMap<u32, L2Domain>,
    attrs: Interner<PathAttrs>,
    fields: Interner<EvpnFields>,
    export_caches: HashMap<PeerId, ExportCache>,
    tracker: NextHopTracker,
    underlay_dirty: bool,
    /// Our own addresses: router ID, VTEP, the local address of every established session and
    /// those the agent reported. No path through one of them is eligible.
    own: HashSet<IpAddr>,
    /// Addresses the agent reported as ours ([`Rib::handle_local_address`]).
    reported_local: BTreeSet<IpAddr>,
    /// Refused input since start, over every peer.
    refused: PeerInputCounters,
    /// Memory was given back since [`Rib::take_shrunk`] was last called.
    shrunk: bool,
    l2_deltas: VecDeque<ForwardingDelta>,
    events: VecDeque<RibEvent>,
    scratch: Vec<usize>,
    now: Option<Instant>,
    /// Purge the interners when they grow past this many values.
    purge_at: usize,
}

macro_rules! on_scope {
    ($self:ident, $id:expr, $s:ident => $body:expr, $missing:expr) => {
        match $id {
            ScopeId::Default4 => {
                let $s = &mut $self.default4;
                $body
            }
            ScopeId::Default6 => {
                let $s = &mut $self.default6;
                $body
            }
            ScopeId::Evpn => {
                let $s = &mut $self.evpn;
                $body
            }
            ScopeId::Vrf4(v) => match $self.vrfs.get_mut(&v) {
                Some(vrf) => {
                    let $s = &mut vrf.v4;
                    $body
                }
                None => $missing,
            },
            ScopeId::Vrf6(v) => match $self.vrfs.get_mut(&v) {
                Some(vrf) => {
                    let $s = &mut vrf.v6;
                    $body
                }
                None => $missing,
            },
        }
    };
}

/// Ranks a path for best-path selection.
fn rank<'a, X>(p: &'a Path<X>, peers: &[Option<PeerState>]) -> Rank<'a> {
    let a = &*p.attrs;
    let peer = p
        .source
        .peer()
        .and_then(|id| peers.get(id.0 as usize))
        .and_then(Option::as_ref)
        .map(|s| &s.config);
    let ebgp = peer.is_some_and(PeerConfig::is_ebgp);
    Rank {
        // A LOCAL_PREF received over eBGP is ignored (RFC 4271 §5.1.5).
        local_pref: if ebgp {
            PathAttrs::DEFAULT_LOCAL_PREF
        } else {
            a.effective_local_pref()
        },
        local: p.source == Source::Local,
        as_path: &a.as_path,
        origin: a.origin,
        med: a.med.unwrap_or(0),
        neighbor_as: neighbor_as(&a.as_path),
        ebgp,
        router_id: a
            .originator_id()
            .or(peer.map(|c| c.remote_router_id))
            .unwrap_or(Ipv4Addr::UNSPECIFIED),
        cluster_len: u32::try_from(a.cluster_list().len()).unwrap_or(u32::MAX),
        peer_addr: peer.map(|c| c.remote_address),
        tiebreak: match p.source {
            Source::Evpn { rd, .. } => u64::from_be_bytes(rd),
            _ => 0,
        },
    }
}

/// Chooses the multipath set of `paths` into `out`.
fn choose<X>(
    paths: &[Path<X>],
    peers: &[Option<PeerState>],
    cfg: MultipathConfig,
    eligible: impl Fn(&Path<X>) -> bool,
    out: &mut Vec<usize>,
) {
    if paths.len() == 1 {
        if eligible(&paths[0]) {
            out.push(0);
        }
        return;
    }
    let ranks: Vec<Rank<'_>> = paths.iter().map(|p| rank(p, peers)).collect();
    let mut tmp = Vec::with_capacity(paths.len());
    select(&ranks, |i| eligible(&paths[i]), cfg, &mut tmp);
    out.extend_from_slice(&tmp);
}

/// A unicast table's key: an IPv4 or IPv6 prefix.
trait UnicastKey: std::hash::Hash + Eq + Clone + Sized {
    /// Longest prefix length of the family.
    const MAX_LEN: u8;
    fn to_net(&self) -> IpNet;
    /// The key for `net` (host bits cleared), `None` for the other family.
    fn from_net(net: IpNet) -> Option<Self>;
}

impl UnicastKey for Ipv4Net {
    const MAX_LEN: u8 = 32;
    fn to_net(&self) -> IpNet {
        IpNet::V4(*self)
    }
    fn from_net(net: IpNet) -> Option<Self> {
        match net {
            IpNet::V4(n) => Some(n.trunc()),
            IpNet::V6(_) => None,
        }
    }
}

impl UnicastKey for Ipv6Net {
    const MAX_LEN: u8 = 128;
    fn to_net(&self) -> IpNet {
        IpNet::V6(*self)
    }
    fn from_net(net: IpNet) -> Option<Self> {
        match net {
            IpNet::V6(n) => Some(n.trunc()),
            IpNet::V4(_) => None,
        }
    }
}

/// [`Rib::unicast_paths`] over one table: the matching entries' paths, flagged, with the
/// selection run again (a pure function of the paths) for the step that decided the best.
fn list_unicast<K: UnicastKey, X: Clone + PartialEq>(
    table: &Table<K, X>,
    which: PrefixMatch,
    peers: &[Option<PeerState>],
    cfg: MultipathConfig,
    out: &mut Vec<UnicastPath>,
    usable: impl Fn(&Path<X>) -> bool,
) {
    let mut push = |key: &K, e: &crate::table::Entry<X>| {
        let paths = e.paths();
        let n = e.multipath().len();
        let decided_by = (n > 0).then(|| {
            if paths.len() == 1 {
                return crate::best_path::DecisionStep::OnlyPath;
            }
            let ranks: Vec<Rank<'_>> = paths.iter().map(|p| rank(p, peers)).collect();
            let mut tmp = Vec::with_capacity(paths.len());
            select(&ranks, |i| usable(&paths[i]), cfg, &mut tmp).reason
        });
        out.extend(paths.iter().enumerate().map(|(i, p)| UnicastPath {
            prefix: key.to_net(),
            source: p.source,
            attrs: p.attrs.clone(),
            best: i == 0 && n > 0,
            multipath: i < n,
            eligible: usable(p),
            decided_by: if i == 0 { decided_by } else { None },
        }));
    };
    match which {
        PrefixMatch::All => {
            for (k, e) in table.iter() {
                push(k, e);
            }
        }
        PrefixMatch::Exact(net) => {
            if let Some(k) = K::from_net(net) {
                if let Some(e) = table.lookup(&k) {
                    push(&k, e);
                }
            }
        }
        PrefixMatch::Longest(addr) => {
            let hit = (0..=K::MAX_LEN).rev().find_map(|len| {
                let k = K::from_net(IpNet::new(addr, len).ok()?)?;
                let e = table.lookup(&k).filter(|e| !e.paths().is_empty())?;
                Some((k, e))
            });
            if let Some((k, e)) = hit {
                push(&k, e);
            }
        }
    }
}

/// Whether a VRF path can be used. An imported one: its VTEP is valid and reachable and it
/// carries a router MAC (symmetric IRB needs one; landscape pitfall 5). One from the host
/// session: its next hop is valid and is the host on the veth (the session's only link) or
/// link-local (RFC 4271 §5.1.3, §9.1.2.1).
fn vrf_path_usable(
    p: &Path<u32>,
    tracker: &NextHopTracker,
    own: &HashSet<IpAddr>,
    peers: &[Option<PeerState>],
) -> bool {
    match p.source {
        Source::Evpn { .. } => {
            p.attrs.router_mac().is_some()
                && p.attrs
                    .next_hop
                    .is_some_and(|v| next_hop_defect(v, false, own).is_none() && tracker.cached(v))
        }
        Source::Peer { peer, .. } => p.attrs.next_hop.is_some_and(|nh| {
            next_hop_defect(nh, true, own).is_none()
                && (is_link_local(nh)
                    || peers
                        .get(peer.0 as usize)
                        .and_then(Option::as_ref)
                        .is_some_and(|s| s.config.remote_address == nh))
        }),
        Source::Local => true,
    }
}

/// Whether a default-table path can be used: ours, or from a peer with a valid next hop the
/// underlay can reach (RFC 4271 §5.1.3, §9.1.2.1).
fn default_path_usable<X>(p: &Path<X>, tracker: &NextHopTracker, own: &HashSet<IpAddr>) -> bool {
    match p.source {
        Source::Local => true,
        _ => p.attrs.next_hop.is_some_and(|nh| {
            next_hop_defect(nh, true, own).is_none() && tracker.gateway_reachable(nh)
        }),
    }
}

/// Whether an EVPN path can be used: ours, or from a peer with a valid VTEP (an EVPN route
/// without a next hop is kept as before: it is never exported nor imported with one).
fn evpn_path_usable<X>(p: &Path<X>, own: &HashSet<IpAddr>) -> bool {
    match (p.source, p.attrs.next_hop) {
        (Source::Local, _) | (_, None) => true,
        (_, Some(nh)) => next_hop_defect(nh, false, own).is_none(),
    }
}

/// What is wrong with next hop `nh`, counting our own addresses.
fn next_hop_defect(nh: IpAddr, link_local_ok: bool, own: &HashSet<IpAddr>) -> Option<Defect> {
    defect(nh, link_local_ok).or_else(|| own.contains(&nh).then_some(Defect::Ours))
}

impl Rib {
    /// A RIB that originates our VTEP address (and `default_networks`) in the default table.
    pub fn new(config: RibConfig) -> Self {
        let mut rib = Self {
            peers: Vec::new(),
            default4: Scope::new(Some(FibTable::Default)),
            default6: Scope::new(Some(FibTable::Default)),
            evpn: Scope::new(None),
            vrfs: BTreeMap::new(),
            l2: BTreeMap::new(),
            attrs: Interner::new(),
            fields: Interner::new(),
            export_caches: HashMap::new(),
            tracker: NextHopTracker::new(),
            underlay_dirty: false,
            own: HashSet::new(),
            reported_local: BTreeSet::new(),
            refused: PeerInputCounters::default(),
            shrunk: false,
            l2_deltas: VecDeque::new(),
            events: VecDeque::new(),
            scratch: Vec::new(),
            now: None,
            purge_at: 4096,
            config,
        };
        rib.own = rib.own_addresses();
        let local = rib.attrs.intern(PathAttrs::default());
        let mut nets = vec![IpNet::from(rib.config.vtep)];
        nets.extend(rib.config.default_networks.iter().copied());
        for n in nets {
            rib.set_default_path(&n, Source::Local, Some(local.clone()));
        }
        rib
    }

    /// The configuration.
    pub fn config(&self) -> &RibConfig {
        &self.config
    }

    // ---------------------------------------------------------------- inputs

    /// The networks originated in the default table besides our VTEP changed (a passthrough
    /// host session added or removed): originates the new ones and withdraws the old ones in
    /// place. Every other route, peer and advertisement is left as it is, so the change costs
    /// the fabric one UPDATE, not a refresh of every table.
    pub fn handle_default_networks(&mut self, networks: Vec<IpNet>) {
        let vtep = IpNet::from(self.config.vtep);
        let old: BTreeSet<IpNet> = self
            .config
            .default_networks
            .iter()
            .map(IpNet::trunc)
            .collect();
        let new: BTreeSet<IpNet> = networks.iter().map(IpNet::trunc).collect();
        for n in old.difference(&new).filter(|n| **n != vtep) {
            self.set_default_path(n, Source::Local, None);
        }
        let local = self.attrs.intern(PathAttrs::default());
        for n in new.difference(&old) {
            self.set_default_path(n, Source::Local, Some(local.clone()));
        }
        self.config.default_networks = networks;
        self.settle();
    }

    /// The time, for MAC-mobility duplicate detection.
    pub fn handle_time(&mut self, now: Instant) {
        self.now = Some(now);
    }

    /// A session reached Established with `config`. Returns the peer's handle and queues the
    /// initial dump of every table the peer exchanges.
    pub fn handle_peer_up(&mut self, config: PeerConfig) -> Result<PeerId, RibError> {
        let mut scopes = Vec::new();
        let (v4, v6) = (
            config.has(Family::Ipv4Unicast),
            config.has(Family::Ipv6Unicast),
        );
        match config.role {
            PeerRole::Fabric | PeerRole::Passthrough => {
                if v4 {
                    scopes.push(ScopeId::Default4);
                }
                if v6 {
                    scopes.push(ScopeId::Default6);
                }
                if config.role == PeerRole::Fabric && config.has(Family::L2vpnEvpn) {
                    scopes.push(ScopeId::Evpn);
                }
            }
            PeerRole::Host(vrf) => {
                if !self.vrfs.contains_key(&vrf) {
                    return Err(RibError::UnknownVrf(vrf));
                }
                if v4 {
                    scopes.push(ScopeId::Vrf4(vrf));
                }
                if v6 {
                    scopes.push(ScopeId::Vrf6(vrf));
                }
            }
        }
        // A neighbour coming back from a graceful restart resumes its handle and stale paths.
        let resumed = self.peers.iter().position(|p| {
            p.as_ref().is_some_and(|s| {
                !s.up
                    && s.config.role == config.role
                    && s.config.remote_address == config.remote_address
            })
        });
        let idx = resumed
            .or_else(|| self.peers.iter().position(Option::is_none))
            .unwrap_or(self.peers.len());
        let id = PeerId(idx as u32);
        let mut subs = Vec::new();
        for s in scopes {
            let r =
                on_scope!(self, s, sc => sc.subscribe(id, s), Err(RibError::UnknownVrf(VrfId(0))));
            match r {
                Ok(i) => subs.push((s, i, true)),
                Err(e) => {
                    for (s, i, _) in subs {
                        on_scope!(self, s, sc => sc.unsubscribe(i), ());
                    }
                    return Err(e);
                }
            }
        }
        info!(peer = ?id, role = ?config.role, remote = %config.remote_address, resumed = resumed.is_some(), "peer up");
        let stale = match resumed.and_then(|i| self.peers[i].as_ref()) {
            Some(old) => old.stale.clone(),
            None => Vec::new(),
        };
        // Families the peer no longer exchanges keep nothing stale.
        let (keep, gone): (Vec<Family>, Vec<Family>) =
            stale.into_iter().partition(|f| config.has(*f));
        if resumed.is_none() {
            self.track_neighbor(&config, true);
        }
        let state = PeerState {
            config,
            up: true,
            stale: keep,
            subs,
            eor_received: Vec::new(),
            input: PeerInputCounters::default(),
            warned: 0,
        };
        if idx == self.peers.len() {
            self.peers.push(Some(state));
        } else {
            self.peers[idx] = Some(state);
        }
        for f in gone {
            self.sweep(id, f, Sweep::RemoveStale);
        }
        self.refresh_own();
        self.settle();
        Ok(id)
    }

    /// The session went down: its routes are withdrawn everywhere and its queues dropped.
    pub fn handle_peer_down(&mut self, peer: PeerId) -> Result<(), RibError> {
        self.peer_down(peer, false)
    }

    /// The session went down and the peer is restarting gracefully (RFC 4724 §4.2, we are
    /// the helper): its routes stay, in use, marked stale; its queues are dropped. When the
    /// same neighbour (same role and address) comes back, [`Rib::handle_peer_up`] gives it
    /// the same handle; what it sends again replaces the stale paths, and its End-of-RIB
    /// ([`Rib::handle_end_of_rib`]) or the end of the stale timer
    /// ([`Rib::handle_stale_expired`]) purges those of a family still stale.
    pub fn handle_peer_down_graceful(&mut self, peer: PeerId) -> Result<(), RibError> {
        self.peer_down(peer, true)
    }

    /// The restart or stale timer ran out for `peer` and `family` (RFC 4724 §4.2), or the
    /// peer came back without preserving it: its paths of `family` still stale are withdrawn.
    pub fn handle_stale_expired(&mut self, peer: PeerId, family: Family) -> Result<(), RibError> {
        let st = self
            .peers
            .get_mut(peer.0 as usize)
            .and_then(Option::as_mut)
            .ok_or(RibError::UnknownPeer(peer))?;
        if !st.stale.contains(&family) {
            return Ok(());
        }
        st.stale.retain(|f| *f != family);
        info!(peer = ?peer, ?family, "stale routes of a restarting peer purged");
        self.sweep(peer, family, Sweep::RemoveStale);
        self.forget_if_gone(peer);
        self.settle();
        Ok(())
    }

    fn peer_down(&mut self, peer: PeerId, graceful: bool) -> Result<(), RibError> {
        let mut state = self
            .peers
            .get_mut(peer.0 as usize)
            .and_then(Option::take)
            .filter(|s| s.up)
            .ok_or(RibError::UnknownPeer(peer))?;
        for &(s, i, _) in &state.subs {
            on_scope!(self, s, sc => sc.unsubscribe(i), ());
        }
        self.export_caches.remove(&peer);
        state.subs = Vec::new();
        state.up = false;
        state.eor_received.clear();
        let families: Vec<Family> = state.config.families.clone();
        // Keep the config while the paths exist so ranks can still see it.
        self.peers[peer.0 as usize] = Some(state);
        if graceful {
            for &f in &families {
                self.sweep(peer, f, Sweep::MarkStale);
            }
            if let Some(Some(st)) = self.peers.get_mut(peer.0 as usize) {
                st.stale = families;
            }
            info!(peer = ?peer, "peer down gracefully, its routes kept as stale (RFC 4724)");
        } else {
            let stale = self.peers[peer.0 as usize]
                .as_ref()
                .map(|s| s.stale.clone())
                .unwrap_or_default();
            for f in [Family::Ipv4Unicast, Family::Ipv6Unicast, Family::L2vpnEvpn] {
                if families.contains(&f) || stale.contains(&f) {
                    self.sweep(peer, f, Sweep::RemoveAll);
                }
            }
            if let Some(st) = self.peers[peer.0 as usize].take() {
                self.track_neighbor(&st.config, false);
            }
            info!(peer = ?peer, "peer down, its routes withdrawn");
        }
        self.refresh_own();
        self.settle();
        Ok(())
    }

    /// Frees the slot of a peer that is down and has no stale family left.
    fn forget_if_gone(&mut self, peer: PeerId) {
        if let Some(slot) = self.peers.get_mut(peer.0 as usize) {
            if slot.as_ref().is_some_and(|s| !s.up && s.stale.is_empty()) {
                if let Some(st) = slot.take() {
                    self.track_neighbor(&st.config, false);
                }
            }
        }
    }

    /// A default-instance session's neighbour is reachable while the session is up (or its
    /// paths are kept through a graceful restart).
    fn track_neighbor(&mut self, config: &PeerConfig, present: bool) {
        if matches!(config.role, PeerRole::Fabric | PeerRole::Passthrough) {
            self.tracker.set_neighbor(config.remote_address, present);
            self.underlay_dirty = true;
        }
    }

    /// Our own addresses as the inputs say now.
    fn own_addresses(&self) -> HashSet<IpAddr> {
        let mut s: HashSet<IpAddr> = self.reported_local.iter().copied().collect();
        s.insert(IpAddr::V4(self.config.router_id));
        s.insert(self.config.vtep);
        s.extend(
            self.peers
                .iter()
                .flatten()
                .filter(|p| p.up)
                .map(|p| p.config.local_address),
        );
        s
    }

    /// Recomputes our own addresses; paths through an address that became (or stopped being)
    /// ours are selected again.
    fn refresh_own(&mut self) {
        let new = self.own_addresses();
        let mut changed: Vec<IpAddr> = new.symmetric_difference(&self.own).copied().collect();
        if changed.is_empty() {
            return;
        }
        changed.sort();
        self.own = new;
        for a in changed {
            self.revisit_next_hop(a);
        }
    }

    /// Applies `op` to the paths `peer` gave for `family`, in every table of the family, and
    /// follows the changes.
    fn sweep(&mut self, peer: PeerId, family: Family, op: Sweep) {
        let hit = |src: &Source| match (op, *src) {
            (Sweep::RemoveStale, Source::Peer { peer: p, stale, .. }) => p == peer && stale,
            (_, s) => s.is_from(peer),
        };
        macro_rules! sweep_table {
            ($table:expr, $reselect:expr) => {{
                for slot in $table.slots().collect::<Vec<_>>() {
                    let changed = match op {
                        Sweep::MarkStale => {
                            $table.mark_stale_in(slot, peer);
                            false
                        }
                        _ => $table.remove_where(slot, hit),
                    };
                    if changed {
                        $reselect(self, slot);
                    }
                }
            }};
        }
        let vrf_ids: Vec<VrfId> = self.vrfs.keys().copied().collect();
        match family {
            Family::Ipv4Unicast => {
                sweep_table!(self.default4.table, Self::reselect_default4);
                for v in vrf_ids {
                    sweep_table!(self.vrf_mut(v).v4.table, |r: &mut Self, s| r
                        .reselect_vrf4(v, s));
                }
            }
            Family::Ipv6Unicast => {
                sweep_table!(self.default6.table, Self::reselect_default6);
                for v in vrf_ids {
                    sweep_table!(self.vrf_mut(v).v6.table, |r: &mut Self, s| r
                        .reselect_vrf6(v, s));
                }
            }
            Family::L2vpnEvpn => sweep_table!(self.evpn.table, Self::reselect_evpn),
        }
    }

    /// A parsed UPDATE from `peer`. Announcements with a looped AS_PATH (beyond `allowas-in`,
    /// which only fabric sessions honour) or our own ORIGINATOR_ID/cluster are treated as
    /// withdrawals (RFC 4271 §9.1.2, RFC 4456 §8); EVPN routes whose next hop is our own VTEP
    /// are ignored (our routes coming back). NLRI of families not negotiated on the session are
    /// ignored and counted; announcements with an invalid next hop are kept but not eligible,
    /// and counted (see [`crate::nexthop`]). Each is logged once per session.
    pub fn handle_update(&mut self, peer: PeerId, update: RouteUpdate) -> Result<(), RibError> {
        let st = self
            .peers
            .get_mut(peer.0 as usize)
            .and_then(Option::as_mut)
            .filter(|s| s.up)
            .ok_or(RibError::UnknownPeer(peer))?;
        let cfg = &st.config;
        let role = cfg.role;
        // All nodes share one AS, so eBGP fabrics send our AS back to us: upstream sets
        // allowas-in on fabric neighbours only. A host or passthrough session sending a path
        // with our AS in it is echoing our own routes (a mass withdrawal would otherwise be
        // reflected back to the fabric with our AS twice).
        let allowas_in = if role == PeerRole::Fabric {
            cfg.allowas_in
        } else {
            0
        };
        let looped = occurrences(&update.attrs.as_path, cfg.local_asn) > usize::from(allowas_in)
            || update.attrs.originator_id() == Some(self.config.router_id)
            || update.attrs.cluster_list().contains(&self.config.router_id);
        if looped && !update.announced.is_empty() {
            debug!(peer = ?peer, n = update.announced.len(), "announcements with a routing loop treated as withdrawn");
        }
        // RFC 4760 §7: only the families negotiated on the session are exchanged.
        let foreign = update
            .announced
            .iter()
            .chain(&update.withdrawn)
            .filter(|n| !cfg.has(n.family()))
            .count();
        if foreign > 0 {
            st.input.ignored_family += foreign as u64;
            self.refused.ignored_family += foreign as u64;
            if st.warned & 1 == 0 {
                st.warned |= 1;
                let families: Vec<Family> = update
                    .announced
                    .iter()
                    .chain(&update.withdrawn)
                    .map(Nlri::family)
                    .filter(|f| !st.config.has(*f))
                    .collect();
                warn!(peer = ?peer, remote = %st.config.remote_address, ?families, negotiated = ?st.config.families,
                    "NLRI of an address family not negotiated on the session ignored (logged once per session; see the RIB counters)");
            }
        }
        // RFC 4271 §5.1.3: a next hop that can never be one makes the routes ineligible.
        let announced_ok = update
            .announced
            .iter()
            .filter(|n| st.config.has(n.family()))
            .count();
        if announced_ok > 0 && !looped {
            let evpn = update.announced.iter().any(|n| matches!(n, Nlri::Evpn(_)));
            let bad = match update.attrs.next_hop {
                // Our own EVPN routes coming back: ignored below, not an error.
                Some(nh) if evpn && nh == self.config.vtep => None,
                Some(nh) => next_hop_defect(nh, !evpn, &self.own),
                None if evpn => None,
                None => Some(Defect::Missing),
            };
            if let Some(d) = bad {
                st.input.invalid_next_hop += announced_ok as u64;
                self.refused.invalid_next_hop += announced_ok as u64;
                if st.warned & 2 == 0 {
                    st.warned |= 2;
                    warn!(peer = ?peer, remote = %st.config.remote_address, next_hop = ?update.attrs.next_hop, reason = %d,
                        "routes with an invalid next hop kept but not used (RFC 4271 §5.1.3; logged once per session; see the RIB counters)");
                }
            }
        }
        let families = st.config.families.clone();
        let src = Source::peer_path(peer, update.path_id);
        for n in update
            .withdrawn
            .iter()
            .filter(|n| families.contains(&n.family()))
        {
            self.apply_nlri(src, role, n, None);
        }
        if announced_ok > 0 {
            let attrs = (!looped).then(|| self.attrs.intern(update.attrs.normalized()));
            for n in update
                .announced
                .iter()
                .filter(|n| families.contains(&n.family()))
            {
                self.apply_nlri(src, role, n, attrs.clone());
            }
        }
        self.settle();
        Ok(())
    }

    /// What the RIB refused from `peer` since its session came up.
    pub fn peer_input(&self, peer: PeerId) -> Option<PeerInputCounters> {
        self.peers
            .get(peer.0 as usize)
            .and_then(Option::as_ref)
            .map(|s| s.input)
    }

    /// The peer asked for our routes of `family` again (ROUTE-REFRESH, RFC 2918 §4): every best
    /// route it is sent is queued again; the next [`Rib::poll_adj_out`] batches carry them (and
    /// an End-of-RIB, which RFC 7313 §4 allows as the end of the refresh).
    pub fn handle_route_refresh(&mut self, peer: PeerId, family: Family) -> Result<(), RibError> {
        let st = self
            .peers
            .get_mut(peer.0 as usize)
            .and_then(|s| s.as_mut())
            .ok_or(RibError::UnknownPeer(peer))?;
        let subs: Vec<(ScopeId, u8)> = st
            .subs
            .iter_mut()
            .filter(|(scope, _, _)| scope.family() == family)
            .map(|(scope, i, eor_owed)| {
                *eor_owed = true;
                (*scope, *i)
            })
            .collect();
        for (scope, i) in subs {
            on_scope!(self, scope, sc => sc.requeue(i), ());
        }
        Ok(())
    }

    /// End-of-RIB received from `peer` for `family` (RFC 4724 §2): its initial dump is in.
    pub fn handle_end_of_rib(&mut self, peer: PeerId, family: Family) -> Result<(), RibError> {
        let st = self
            .peers
            .get_mut(peer.0 as usize)
            .and_then(Option::as_mut)
            .ok_or(RibError::UnknownPeer(peer))?;
        if !st.eor_received.contains(&family) {
            st.eor_received.push(family);
        }
        debug!(peer = ?peer, ?family, "end-of-rib received");
        // RFC 4724 §4.2: what the restarting peer did not send again is gone.
        self.handle_stale_expired(peer, family)
    }

    /// Whether `peer` has sent End-of-RIB for `family`.
    pub fn end_of_rib_received(&self, peer: PeerId, family: Family) -> bool {
        self.peers
            .get(peer.0 as usize)
            .and_then(Option::as_ref)
            .is_some_and(|s| s.eor_received.contains(&family))
    }

    /// Adds or replaces a VRF. A replaced VRF whose RD or RTs changed is torn down and rebuilt.
    pub fn handle_vrf(&mut self, config: VrfConfig) {
        let id = config.id;
        let resolved = ResolvedVrf::resolve(config, self.config.router_id, self.config.asn);
        if let Some(old) = self.vrfs.get(&id) {
            if old.vrf == resolved {
                return;
            }
            self.handle_vrf_removed(id);
        }
        info!(vrf = %resolved.config.name, rd = %resolved.rd, l3vni = resolved.config.l3vni, "vrf added");
        let networks = resolved.config.networks.clone();
        self.vrfs.insert(
            id,
            VrfState {
                vrf: resolved,
                v4: Scope::new(Some(FibTable::Vrf(id))),
                v6: Scope::new(Some(FibTable::Vrf(id))),
                t5_cache: HashMap::new(),
            },
        );
        let local = self.attrs.intern(PathAttrs::default());
        for n in networks {
            self.set_vrf_path(id, &n, Source::Local, Some((local.clone(), 0)));
        }
        // Import what the EVPN table already has.
        let slots: Vec<u32> = self.evpn.table.slots().collect();
        for s in slots {
            if matches!(self.evpn.table.get(s).0, EvpnRouteKey::IpPrefix { .. }) {
                self.import_type5(s, Some(id));
            }
        }
        self.settle();
    }

    /// Removes a VRF: its routes leave the datapath and its type-5 routes are withdrawn.
    /// Host sessions of the VRF lose their tables (the agent brings them down).
    pub fn handle_vrf_removed(&mut self, id: VrfId) {
        let Some(mut st) = self.vrfs.remove(&id) else {
            return;
        };
        let rd = st.vrf.rd;
        let mut prefixes: Vec<(IpNet, bool)> = Vec::new();
        for s in st.v4.table.slots().collect::<Vec<_>>() {
            let (k, e) = st.v4.table.get(s);
            prefixes.push((IpNet::V4(*k), e.fib_installed()));
        }
        for s in st.v6.table.slots().collect::<Vec<_>>() {
            let (k, e) = st.v6.table.get(s);
            prefixes.push((IpNet::V6(*k), e.fib_installed()));
        }
        for (p, installed) in prefixes {
            if installed {
                self.l2_deltas.push_back(ForwardingDelta::Route {
                    table: FibTable::Vrf(id),
                    prefix: p,
                    op: RouteOp::Delete,
                });
            }
            let key = EvpnRouteKey::IpPrefix {
                rd,
                ethernet_tag: EthernetTag(0),
                prefix: p,
            };
            if let Some(slot) = self.evpn.table.remove(&key, &Source::Local) {
                self.reselect_evpn(slot);
            }
        }
        for p in self.peers.iter_mut().flatten() {
            p.subs
                .retain(|(s, _, _)| !matches!(s, ScopeId::Vrf4(v) | ScopeId::Vrf6(v) if *v == id));
        }
        st.t5_cache.clear();
        info!(vrf = %st.vrf.config.name, "vrf removed");
        self.settle();
    }

    /// Adds an L2VNI: it originates its type-3 route and imports matching type-2/3 routes.
    pub fn handle_l2vni(&mut self, config: L2VniConfig) {
        let vni = config.vni;
        if self.l2.get(&vni).is_some_and(|d| d.config == config) {
            return;
        }
        self.handle_l2vni_removed(vni);
        let d = L2Domain::new(config, self.config.router_id, self.config.asn);
        let rd = d.rd;
        let attrs = self
            .attrs
            .intern(type3_attrs(&d.export, vni, self.config.vtep));
        self.l2.insert(vni, d);
        info!(vni, rd = %rd, "l2vni added");
        let key = EvpnRouteKey::InclusiveMulticast {
            rd,
            ethernet_tag: EthernetTag(0),
            originator: self.config.vtep,
        };
        let f = self.fields.intern(EvpnFields::default());
        self.set_evpn_path(&key, Source::Local, Some((attrs, f)));
        // Only the new domain imports: the others have seen every route already (a scan per
        // domain over every route would make N VNIs cost N³).
        let slots: Vec<u32> = self.evpn.table.slots().collect();
        for s in slots {
            self.import_l2_into(s, Some(vni));
        }
        self.settle();
    }

    /// Removes an L2VNI: withdraws its routes and undoes its datapath entries.
    pub fn handle_l2vni_removed(&mut self, vni: u32) {
        let Some(mut d) = self.l2.remove(&vni) else {
            return;
        };
        let rd = d.rd;
        let keys: Vec<EvpnRouteKey> = self
            .evpn
            .table
            .slots()
            .map(|s| self.evpn.table.get(s).0.clone())
            .filter(|k| match k {
                EvpnRouteKey::MacIp { rd: r, .. }
                | EvpnRouteKey::InclusiveMulticast { rd: r, .. } => *r == rd,
                _ => false,
            })
            .collect();
        for k in keys {
            self.set_evpn_path(&k, Source::Local, None);
        }
        self.l2_deltas.extend(d.teardown());
        info!(vni, "l2vni removed");
        self.settle();
    }

    /// The datapath learned (`present`) or lost a local MAC, or a MAC+IP binding, in an L2VNI.
    pub fn handle_local_mac(
        &mut self,
        vni: u32,
        mac: MacAddress,
        ip: Option<IpAddr>,
        present: bool,
        sticky: bool,
    ) -> Result<(), RibError> {
        let d = self.l2.get_mut(&vni).ok_or(RibError::UnknownL2Vni(vni))?;
        d.set_local(mac, ip, present, sticky);
        self.resolve_mac(vni, mac);
        self.settle();
        Ok(())
    }

    /// A connected prefix of the router namespace (the underlay) appeared or went away:
    /// next hops it covers are reachable (see [`crate::nexthop`]).
    pub fn handle_connected(&mut self, prefix: IpNet, present: bool) {
        self.tracker.set_connected(prefix, present);
        self.underlay_dirty = true;
        self.settle();
    }

    /// An address of this router (any interface of the router namespace or a VRF) appeared or
    /// went away. Router ID, VTEP and session local addresses are known without it. No path
    /// whose next hop is one of our addresses is eligible (RFC 4271 §5.1.3).
    pub fn handle_local_address(&mut self, addr: IpAddr, present: bool) {
        let changed = if present {
            self.reported_local.insert(addr)
        } else {
            self.reported_local.remove(&addr)
        };
        if changed {
            self.refresh_own();
            self.settle();
        }
    }

    // --------------------------------------------------------------- outputs

    /// Moves up to `max` pending datapath changes into `out`; returns how many.
    pub fn poll_forwarding(&mut self, out: &mut Vec<ForwardingDelta>, max: usize) -> usize {
        let start = out.len();
        while out.len() - start < max {
            match self.l2_deltas.pop_front() {
                Some(d) => out.push(d),
                None => break,
            }
        }
        let budget = |out: &Vec<ForwardingDelta>| max - (out.len() - start);
        let b = budget(out);
        drain_fib(&mut self.default4, out, b, |k| IpNet::V4(*k));
        let b = budget(out);
        drain_fib(&mut self.default6, out, b, |k| IpNet::V6(*k));
        for st in self.vrfs.values_mut() {
            let b = budget(out);
            drain_fib(&mut st.v4, out, b, |k| IpNet::V4(*k));
            let b = budget(out);
            drain_fib(&mut st.v6, out, b, |k| IpNet::V6(*k));
        }
        out.len() - start
    }

    /// The next batch for `peer`: up to `max` NLRI of one family, announcements grouped by
    /// attribute set, withdrawals batched, End-of-RIB after the initial dump. `None` when
    /// nothing is pending.
    pub fn poll_adj_out(&mut self, peer: PeerId, max: usize) -> Option<AdjOutBatch> {
        let st = self.peers.get(peer.0 as usize)?.as_ref()?;
        let to = st.config.clone();
        let subs = st.subs.clone();
        let router_id = self.config.router_id;
        for (k, &(scope, i, eor_owed)) in subs.iter().enumerate() {
            let cache = self.export_caches.entry(peer).or_default();
            let mut ctx = ExportCtx {
                to_id: peer,
                to: &to,
                peers: &self.peers,
                router_id,
                cache,
                interner: &mut self.attrs,
                kind: scope.export_kind(),
            };
            let batch = on_scope!(self, scope, sc => drain_adj_out(sc, i, max, &mut ctx), None);
            let batch = match batch {
                Some(b) => Some(b),
                None if eor_owed => Some(AdjOutBatch {
                    family: scope.family(),
                    announce: Vec::new(),
                    withdraw: Vec::new(),
                    end_of_rib: false,
                }),
                None => None,
            };
            if let Some(mut b) = batch {
                let drained =
                    on_scope!(self, scope, sc => sc.queues[usize::from(i)].is_empty(), true);
                if eor_owed && drained {
                    b.end_of_rib = true;
                    if let Some(Some(st)) = self.peers.get_mut(peer.0 as usize) {
                        st.subs[k].2 = false;
                    }
                }
                return Some(b);
            }
        }
        None
    }

    /// Whether `peer` has anything to pull.
    pub fn has_adj_out(&self, peer: PeerId) -> bool {
        let Some(Some(st)) = self.peers.get(peer.0 as usize) else {
            return false;
        };
        st.subs.iter().any(|&(s, i, eor)| {
            eor || match s {
                ScopeId::Default4 => !self.default4.queues[usize::from(i)].is_empty(),
                ScopeId::Default6 => !self.default6.queues[usize::from(i)].is_empty(),
                ScopeId::Evpn => !self.evpn.queues[usize::from(i)].is_empty(),
                ScopeId::Vrf4(v) => self
                    .vrfs
                    .get(&v)
                    .is_some_and(|x| !x.v4.queues[usize::from(i)].is_empty()),
                ScopeId::Vrf6(v) => self
                    .vrfs
                    .get(&v)
                    .is_some_and(|x| !x.v6.queues[usize::from(i)].is_empty()),
            }
        })
    }

    /// The next event for the operator, if any.
    pub fn poll_event(&mut self) -> Option<RibEvent> {
        self.events.pop_front()
    }

    // ------------------------------------------------------------- inspection

    /// Counters.
    pub fn stats(&self) -> RibStats {
        RibStats {
            default_routes: self.default4.table.len() + self.default6.table.len(),
            evpn_routes: self.evpn.table.len(),
            vrf_routes: self
                .vrfs
                .values()
                .map(|v| v.v4.table.len() + v.v6.table.len())
                .sum(),
            attribute_sets: self.attrs.len(),
            refused: self.refused,
            unreachable_next_hops: self.tracker.unreachable(),
        }
    }

    /// The multipath set for `prefix` in a VRF, as datapath next hops (best first).
    pub fn vrf_route(&self, vrf: VrfId, prefix: IpNet) -> Vec<NextHop> {
        let Some(st) = self.vrfs.get(&vrf) else {
            return Vec::new();
        };
        match prefix {
            IpNet::V4(p) => st
                .v4
                .table
                .lookup(&p.trunc())
                .map(|e| vrf_next_hops(e.multipath())),
            IpNet::V6(p) => st
                .v6
                .table
                .lookup(&p.trunc())
                .map(|e| vrf_next_hops(e.multipath())),
        }
        .unwrap_or_default()
    }

    /// The EVPN table's best routes (optionally of one route type), each with its attributes and
    /// where its best path came from (`Source::Local`: ours): what `show bgp evpn` lists.
    pub fn evpn_routes(&self, route_type: Option<u8>) -> Vec<(EvpnRoute, Attrs, Source)> {
        self.evpn
            .table
            .iter()
            .filter_map(|(key, entry)| {
                let best = entry.best()?;
                let route = crate::evpn_table::join(key, &best.extra);
                if route_type.is_some_and(|t| t != route.route_type()) {
                    return None;
                }
                Some((route, best.attrs.clone(), best.source))
            })
            .collect()
    }

    /// The MACs of one L2VNI (or all), local and remote, with the VTEP the bridge forwards
    /// each to: what `show evpn mac vni` lists.
    pub fn evpn_macs(&self, vni: Option<u32>) -> Vec<crate::l2vni::MacEntry> {
        self.l2
            .iter()
            .filter(|(v, _)| vni.is_none_or(|x| x == **v))
            .flat_map(|(_, d)| d.mac_entries())
            .collect()
    }

    /// Every path of the EVPN table (optionally of one route type), the best of each key
    /// flagged: what `show bgp evpn` lists. Ineligible paths (an invalid VTEP) included.
    pub fn evpn_paths(&self, route_type: Option<u8>) -> Vec<(EvpnRoute, Attrs, Source, bool)> {
        let mut out = Vec::new();
        for (key, entry) in self.evpn.table.iter() {
            let n = entry.multipath().len();
            for (i, p) in entry.paths().iter().enumerate() {
                let route = crate::evpn_table::join(key, &p.extra);
                if route_type.is_some_and(|t| t != route.route_type()) {
                    continue;
                }
                out.push((route, p.attrs.clone(), p.source, i == 0 && n > 0));
            }
        }
        out
    }

    /// The best path's attributes for `route`'s key in the EVPN table, and whether it is ours.
    pub fn evpn_best(&self, route: &EvpnRoute) -> Option<(Attrs, bool)> {
        self.evpn
            .table
            .lookup(&route.key())
            .and_then(|e| e.best())
            .map(|p| (p.attrs.clone(), p.source == Source::Local))
    }

    /// Whether the default table has a best path for `prefix`.
    pub fn default_has(&self, prefix: IpNet) -> bool {
        match prefix {
            IpNet::V4(p) => self
                .default4
                .table
                .lookup(&p.trunc())
                .is_some_and(|e| e.best().is_some()),
            IpNet::V6(p) => self
                .default6
                .table
                .lookup(&p.trunc())
                .is_some_and(|e| e.best().is_some()),
        }
    }

    /// The paths the default table holds for `prefix` (the Adj-RIB-In of every peer for it),
    /// each with whether it is in the multipath set: what `show` lists, ineligible paths
    /// (invalid or unreachable next hop) included.
    pub fn default_paths(&self, prefix: IpNet) -> Vec<(Attrs, bool)> {
        fn list<K: std::hash::Hash + Eq + Clone>(t: &Table<K, ()>, k: &K) -> Vec<(Attrs, bool)> {
            t.lookup(k)
                .map(|e| {
                    let n = e.multipath().len();
                    e.paths()
                        .iter()
                        .enumerate()
                        .map(|(i, p)| (p.attrs.clone(), i < n))
                        .collect()
                })
                .unwrap_or_default()
        }
        match prefix {
            IpNet::V4(p) => list(&self.default4.table, &p.trunc()),
            IpNet::V6(p) => list(&self.default6.table, &p.trunc()),
        }
    }

    /// The paths of a unicast table (one address family of the default table, with `vrf`
    /// `None`: underlay and passthrough routes; or of a VRF's table) as `show bgp ipv4|ipv6
    /// unicast` lists them: every path of every matching prefix, ineligible ones included, in
    /// the table's order (multipath set first, best at its head), each flagged. An unknown VRF
    /// lists nothing.
    pub fn unicast_paths(
        &self,
        v6: bool,
        vrf: Option<VrfId>,
        which: PrefixMatch,
    ) -> Vec<UnicastPath> {
        let mut out = Vec::new();
        let (peers, tracker, own) = (&self.peers, &self.tracker, &self.own);
        let cfg = self.config.multipath;
        match (vrf, v6) {
            (None, false) => list_unicast(&self.default4.table, which, peers, cfg, &mut out, |p| {
                default_path_usable(p, tracker, own)
            }),
            (None, true) => list_unicast(&self.default6.table, which, peers, cfg, &mut out, |p| {
                default_path_usable(p, tracker, own)
            }),
            (Some(id), _) => {
                let Some(st) = self.vrfs.get(&id) else {
                    return out;
                };
                let usable = |p: &Path<u32>| vrf_path_usable(p, tracker, own, peers);
                if v6 {
                    list_unicast(&st.v6.table, which, peers, cfg, &mut out, usable);
                } else {
                    list_unicast(&st.v4.table, which, peers, cfg, &mut out, usable);
                }
            }
        }
        out
    }

    /// What `peer` sent us and we hold (its Adj-RIB-In, RFC 4271 §3.2) in every table, each
    /// path flagged best when it is: `show bgp neighbor ADDR received-routes`.
    pub fn adj_rib_in(&self, peer: PeerId) -> Vec<ExchangedRoute> {
        let mut out = Vec::new();
        list_adj_in(&self.default4.table, peer, &mut out);
        list_adj_in(&self.default6.table, peer, &mut out);
        list_adj_in(&self.evpn.table, peer, &mut out);
        for st in self.vrfs.values() {
            list_adj_in(&st.v4.table, peer, &mut out);
            list_adj_in(&st.v6.table, peer, &mut out);
        }
        out
    }

    /// What `peer` holds from us (its Adj-RIB-Out, RFC 4271 §3.2): every key whose
    /// advertisement it holds, with the attributes the export computes for it (next hop, AS
    /// path and communities as sent), `pending` when a change is queued and not yet sent:
    /// `show bgp neighbor ADDR advertised-routes`. Computed with a scratch cache, so it
    /// changes nothing.
    pub fn adj_rib_out(&self, peer: PeerId) -> Vec<ExchangedRoute> {
        let mut out = Vec::new();
        let Some(Some(st)) = self.peers.get(peer.0 as usize) else {
            return out;
        };
        let mut cache = ExportCache::default();
        let mut interner = Interner::new();
        for &(scope, i, _) in &st.subs {
            let mut ctx = ExportCtx {
                to_id: peer,
                to: &st.config,
                peers: &self.peers,
                router_id: self.config.router_id,
                cache: &mut cache,
                interner: &mut interner,
                kind: scope.export_kind(),
            };
            match scope {
                ScopeId::Default4 => list_adj_out(&self.default4, i, &mut ctx, &mut out),
                ScopeId::Default6 => list_adj_out(&self.default6, i, &mut ctx, &mut out),
                ScopeId::Evpn => list_adj_out(&self.evpn, i, &mut ctx, &mut out),
                ScopeId::Vrf4(v) => {
                    if let Some(vrf) = self.vrfs.get(&v) {
                        list_adj_out(&vrf.v4, i, &mut ctx, &mut out);
                    }
                }
                ScopeId::Vrf6(v) => {
                    if let Some(vrf) = self.vrfs.get(&v) {
                        list_adj_out(&vrf.v6, i, &mut ctx, &mut out);
                    }
                }
            }
        }
        out
    }

    /// The VRF called `name`, if configured.
    pub fn vrf_named(&self, name: &str) -> Option<VrfId> {
        self.vrfs
            .iter()
            .find(|(_, st)| st.vrf.config.name == name)
            .map(|(id, _)| *id)
    }

    // -------------------------------------------------------------- internals

    fn vrf_mut(&mut self, id: VrfId) -> &mut VrfState {
        self.vrfs
            .get_mut(&id)
            .expect("caller checked the VRF exists")
    }

    fn apply_nlri(&mut self, src: Source, role: PeerRole, n: &Nlri, attrs: Option<Attrs>) {
        match (n, role) {
            (Nlri::V4(_) | Nlri::V6(_), PeerRole::Fabric | PeerRole::Passthrough) => {
                let p = match n {
                    Nlri::V4(p) => IpNet::V4(*p),
                    Nlri::V6(p) => IpNet::V6(*p),
                    Nlri::Evpn(_) => return,
                };
                if let Some(nh) = attrs.as_ref().and_then(|a| a.next_hop) {
                    self.track(nh);
                }
                self.set_default_path(&p, src, attrs);
            }
            (Nlri::V4(_) | Nlri::V6(_), PeerRole::Host(vrf)) => {
                let p = match n {
                    Nlri::V4(p) => IpNet::V4(*p),
                    Nlri::V6(p) => IpNet::V6(*p),
                    Nlri::Evpn(_) => return,
                };
                if self.vrfs.contains_key(&vrf) {
                    self.set_vrf_path(vrf, &p, src, attrs.map(|a| (a, 0)));
                }
            }
            (Nlri::Evpn(route), PeerRole::Fabric) => {
                let attrs = attrs.filter(|a| a.next_hop != Some(self.config.vtep));
                if let Some(nh) = attrs.as_ref().and_then(|a| a.next_hop) {
                    self.track(nh);
                }
                let (key, fields) = split(route);
                let v = attrs.map(|a| (a, self.fields.intern(fields)));
                self.set_evpn_path(&key, src, v);
            }
            (Nlri::Evpn(_), _) => {
                debug!(source = ?src, "EVPN route from a host session ignored");
            }
        }
    }

    /// Starts tracking the reachability of `nh` (a no-op when it is tracked already).
    fn track(&mut self, nh: IpAddr) {
        let (d4, d6) = (&self.default4.table, &self.default6.table);
        self.tracker.reachable(nh, |x| covered(x, d4, d6));
    }

    fn set_default_path(&mut self, prefix: &IpNet, src: Source, attrs: Option<Attrs>) {
        match prefix {
            IpNet::V4(p) => {
                let k = p.trunc();
                let slot = match attrs {
                    Some(a) => Some(self.default4.table.upsert(
                        &k,
                        Path {
                            source: src,
                            attrs: a,
                            extra: (),
                        },
                    )),
                    None => self.default4.table.remove(&k, &src),
                };
                if let Some(s) = slot {
                    self.reselect_default4(s);
                }
            }
            IpNet::V6(p) => {
                let k = p.trunc();
                let slot = match attrs {
                    Some(a) => Some(self.default6.table.upsert(
                        &k,
                        Path {
                            source: src,
                            attrs: a,
                            extra: (),
                        },
                    )),
                    None => self.default6.table.remove(&k, &src),
                };
                if let Some(s) = slot {
                    self.reselect_default6(s);
                }
            }
        }
    }

    fn reselect_default4(&mut self, slot: u32) {
        let peers = &self.peers;
        let cfg = self.config.multipath;
        let (tracker, own) = (&self.tracker, &self.own);
        if self
            .default4
            .table
            .reselect(slot, &mut self.scratch, |p, out| {
                choose(p, peers, cfg, |x| default_path_usable(x, tracker, own), out)
            })
        {
            self.default4.notify(slot);
            self.underlay_dirty = true;
        }
        self.default4.table.collect(slot);
    }

    fn reselect_default6(&mut self, slot: u32) {
        let peers = &self.peers;
        let cfg = self.config.multipath;
        let (tracker, own) = (&self.tracker, &self.own);
        if self
            .default6
            .table
            .reselect(slot, &mut self.scratch, |p, out| {
                choose(p, peers, cfg, |x| default_path_usable(x, tracker, own), out)
            })
        {
            self.default6.notify(slot);
            self.underlay_dirty = true;
        }
        self.default6.table.collect(slot);
    }

    /// Adds (`Some((attrs, vni))`) or removes a path in a VRF table and follows the change.
    fn set_vrf_path(&mut self, vrf: VrfId, prefix: &IpNet, src: Source, v: Option<(Attrs, u32)>) {
        let Some(st) = self.vrfs.get_mut(&vrf) else {
            return;
        };
        match prefix {
            IpNet::V4(p) => {
                let k = p.trunc();
                let slot = match v {
                    Some((a, vni)) => Some(st.v4.table.upsert(
                        &k,
                        Path {
                            source: src,
                            attrs: a,
                            extra: vni,
                        },
                    )),
                    None => st.v4.table.remove(&k, &src),
                };
                if let Some(s) = slot {
                    self.reselect_vrf4(vrf, s);
                }
            }
            IpNet::V6(p) => {
                let k = p.trunc();
                let slot = match v {
                    Some((a, vni)) => Some(st.v6.table.upsert(
                        &k,
                        Path {
                            source: src,
                            attrs: a,
                            extra: vni,
                        },
                    )),
                    None => st.v6.table.remove(&k, &src),
                };
                if let Some(s) = slot {
                    self.reselect_vrf6(vrf, s);
                }
            }
        }
    }

    fn reselect_vrf4(&mut self, vrf: VrfId, slot: u32) {
        let peers = &self.peers;
        let tracker = &self.tracker;
        let cfg = self.config.multipath;
        let Some(st) = self.vrfs.get_mut(&vrf) else {
            return;
        };
        let own = &self.own;
        let changed = st.v4.table.reselect(slot, &mut self.scratch, |p, out| {
            choose(
                p,
                peers,
                cfg,
                |x| vrf_path_usable(x, tracker, own, peers),
                out,
            )
        });
        if changed {
            st.v4.notify(slot);
            let prefix = IpNet::V4(*st.v4.table.get(slot).0);
            self.export_type5(vrf, prefix);
        }
        if let Some(st) = self.vrfs.get_mut(&vrf) {
            st.v4.table.collect(slot);
        }
    }

    fn reselect_vrf6(&mut self, vrf: VrfId, slot: u32) {
        let peers = &self.peers;
        let tracker = &self.tracker;
        let cfg = self.config.multipath;
        let Some(st) = self.vrfs.get_mut(&vrf) else {
            return;
        };
        let own = &self.own;
        let changed = st.v6.table.reselect(slot, &mut self.scratch, |p, out| {
            choose(
                p,
                peers,
                cfg,
                |x| vrf_path_usable(x, tracker, own, peers),
                out,
            )
        });
        if changed {
            st.v6.notify(slot);
            let prefix = IpNet::V6(*st.v6.table.get(slot).0);
            self.export_type5(vrf, prefix);
        }
        if let Some(st) = self.vrfs.get_mut(&vrf) {
            st.v6.table.collect(slot);
        }
    }

    /// Keeps our type-5 route for `prefix` in line with the VRF's best path: exported when the
    /// best path came from the host or is local, withdrawn otherwise (imported routes are not
    /// re-exported).
    fn export_type5(&mut self, vrf: VrfId, prefix: IpNet) {
        let Some(st) = self.vrfs.get_mut(&vrf) else {
            return;
        };
        let best = match prefix {
            IpNet::V4(p) => st
                .v4
                .table
                .lookup(&p)
                .and_then(|e| e.best())
                .map(|b| (b.source, b.attrs.clone())),
            IpNet::V6(p) => st
                .v6
                .table
                .lookup(&p)
                .and_then(|e| e.best())
                .map(|b| (b.source, b.attrs.clone())),
        };
        let key = EvpnRouteKey::IpPrefix {
            rd: st.vrf.rd,
            ethernet_tag: EthernetTag(0),
            prefix,
        };
        let v = match best {
            Some((Source::Local | Source::Peer { .. }, attrs)) => {
                let t5 = match st.t5_cache.get(&attrs) {
                    Some(t) => t.clone(),
                    None => {
                        let t = self.attrs.intern(type5_attrs(
                            &attrs,
                            &st.vrf.export,
                            st.vrf.config.router_mac,
                            self.config.vtep,
                        ));
                        st.t5_cache.insert(attrs, t.clone());
                        t
                    }
                };
                let f = self.fields.intern(EvpnFields {
                    label1: Label::from_vni(st.vrf.config.l3vni),
                    ..Default::default()
                });
                Some((t5, f))
            }
            _ => None,
        };
        self.set_evpn_path(&key, Source::Local, v);
    }

    /// Adds or removes a path in the EVPN table and follows the change.
    fn set_evpn_path(&mut self, key: &EvpnRouteKey, src: Source, v: Option<(Attrs, EvpnData)>) {
        let slot = match v {
            Some((attrs, extra)) => Some(self.evpn.table.upsert(
                key,
                Path {
                    source: src,
                    attrs,
                    extra,
                },
            )),
            None => self.evpn.table.remove(key, &src),
        };
        if let Some(s) = slot {
            self.reselect_evpn(s);
        }
    }

    fn reselect_evpn(&mut self, slot: u32) {
        let peers = &self.peers;
        let cfg = MultipathConfig {
            max_paths: 1,
            ..self.config.multipath
        };
        let own = &self.own;
        if self.evpn.table.reselect(slot, &mut self.scratch, |p, out| {
            choose(p, peers, cfg, |x| evpn_path_usable(x, own), out)
        }) {
            self.evpn.notify(slot);
            match self.evpn.table.get(slot).0 {
                EvpnRouteKey::IpPrefix { .. } => self.import_type5(slot, None),
                EvpnRouteKey::MacIp { .. } | EvpnRouteKey::InclusiveMulticast { .. } => {
                    self.import_l2(slot)
                }
                _ => {}
            }
        }
        self.evpn.table.collect(slot);
    }

    /// Imports (or un-imports) the type-5 route in `slot` into every VRF (or only `only`)
    /// whose import RTs match its best path (RFC 9136 §4, RFC 4364 §4.3.1).
    fn import_type5(&mut self, slot: u32, only: Option<VrfId>) {
        if only.is_none() && self.vrfs.is_empty() {
            // A pure relay (no VRF): nothing can import, skip the per-route work.
            return;
        }
        let (key, e) = self.evpn.table.get(slot);
        let EvpnRouteKey::IpPrefix { rd, prefix, .. } = key.clone() else {
            return;
        };
        let best = e
            .best()
            .filter(|p| p.source != Source::Local)
            .map(|p| (p.source.peer(), p.attrs.clone(), p.extra.label1.vni()));
        let rd_bytes = rd.to_bytes();
        let ids: Vec<VrfId> = match only {
            Some(v) => vec![v],
            None => self.vrfs.keys().copied().collect(),
        };
        for id in ids {
            let Some(st) = self.vrfs.get(&id) else {
                continue;
            };
            let want = best
                .as_ref()
                .filter(|(_, a, _)| st.vrf.imports(a.route_targets()));
            match want {
                Some((Some(peer), attrs, vni)) => {
                    if let Some(vtep) = attrs.next_hop {
                        self.track(vtep);
                    }
                    let src = Source::Evpn {
                        rd: rd_bytes,
                        peer: *peer,
                    };
                    self.set_vrf_path(id, &prefix, src, Some((attrs.clone(), *vni)));
                }
                _ => {
                    let src = Source::Evpn {
                        rd: rd_bytes,
                        peer: PeerId(0),
                    };
                    self.set_vrf_path(id, &prefix, src, None);
                }
            }
        }
    }

    /// Feeds the type-2/type-3 route in `slot` to the L2VNIs that import it.
    fn import_l2(&mut self, slot: u32) {
        self.import_l2_into(slot, None);
    }

    /// [`Self::import_l2`] for one L2VNI (`Some`) or all of them (`None`).
    fn import_l2_into(&mut self, slot: u32, only: Option<u32>) {
        if self.l2.is_empty() {
            return;
        }
        let (key, e) = self.evpn.table.get(slot);
        let best = e
            .best()
            .filter(|p| p.source != Source::Local)
            .map(|p| p.attrs.clone());
        // For the symmetric IRB host route: who sent it and its L3VNI (label 2, RFC 9135 §5.1).
        let origin = e
            .best()
            .filter(|p| p.source != Source::Local)
            .and_then(|p| Some((p.source.peer()?, p.extra.label2?.vni())));
        if only.is_some() && best.is_none() {
            // A domain just created holds nothing a missing route could take away.
            return;
        }
        let key = key.clone();
        let vnis: Vec<u32> = match only {
            Some(v) => vec![v],
            None => self.l2.keys().copied().collect(),
        };
        for vni in vnis {
            let Some(d) = self.l2.get_mut(&vni) else {
                continue;
            };
            let ours = match &key {
                EvpnRouteKey::MacIp { rd, .. } | EvpnRouteKey::InclusiveMulticast { rd, .. } => {
                    *rd == d.rd
                }
                _ => true,
            };
            if ours {
                continue;
            }
            let imported = best.as_ref().filter(|a| d.imports(a.route_targets()));
            match &key {
                EvpnRouteKey::MacIp { rd, mac, ip, .. } => {
                    let r = imported.and_then(|a| {
                        let (sticky, seq) = a.mac_mobility().unwrap_or((false, 0));
                        a.next_hop.map(|vtep| RemoteMac {
                            rd: rd.to_bytes(),
                            ip: *ip,
                            vtep,
                            seq,
                            sticky,
                        })
                    });
                    if let Some(r) = &r {
                        self.track(r.vtep);
                    }
                    let d = self.l2.get_mut(&vni).expect("key from the map");
                    d.set_remote(*mac, rd.to_bytes(), *ip, r);
                    let vrf = d.config.vrf;
                    self.resolve_mac(vni, *mac);
                    if let (Some(host), Some(vrf)) = (ip, vrf) {
                        // Symmetric IRB (RFC 9135 §4.1): a remote MAC+IP route with an L3VNI
                        // and a router MAC is a /32 (/128) host route in the L2VNI's VRF.
                        let v = imported.zip(origin).and_then(|(a, (peer, l3vni))| {
                            a.router_mac()?;
                            a.next_hop?;
                            Some((a.clone(), peer, l3vni))
                        });
                        let prefix = IpNet::from(*host);
                        let rd = rd.to_bytes();
                        match v {
                            Some((a, peer, l3vni)) => self.set_vrf_path(
                                vrf,
                                &prefix,
                                Source::Evpn { rd, peer },
                                Some((a, l3vni)),
                            ),
                            None => self.set_vrf_path(
                                vrf,
                                &prefix,
                                Source::Evpn {
                                    rd,
                                    peer: PeerId(0),
                                },
                                None,
                            ),
                        }
                    }
                }
                EvpnRouteKey::InclusiveMulticast { rd, originator, .. } => {
                    let vtep = imported.map(|a| match a.pmsi().map(|p| &p.tunnel_id) {
                        Some(perouter_evpn::PmsiTunnelId::IngressReplication(ip)) => *ip,
                        _ => *originator,
                    });
                    if let Some(v) = vtep {
                        self.track(v);
                    }
                    let d = self.l2.get_mut(&vni).expect("key from the map");
                    // A withdrawn route: forget it under whatever VTEP it named.
                    d.set_flood_route(vtep.unwrap_or(*originator), rd.to_bytes(), vtep.is_some());
                    if vtep.is_none() {
                        if let Some(IpAddr::V4(_) | IpAddr::V6(_)) = Some(*originator) {
                            d.set_flood_route(*originator, rd.to_bytes(), false);
                        }
                    }
                    let tracker = &self.tracker;
                    let deltas = d.resolve_flood(|v| tracker.cached(v));
                    self.l2_deltas.extend(deltas);
                }
                _ => {}
            }
        }
    }

    /// Resolves one MAC of an L2VNI and applies the plan: local type-2 routes and deltas.
    fn resolve_mac(&mut self, vni: u32, mac: MacAddress) {
        let now = self.now.unwrap_or_else(Instant::now);
        let vtep = self.config.vtep;
        let tracker = &self.tracker;
        let Some(d) = self.l2.get_mut(&vni) else {
            return;
        };
        let plan: MacPlan = d.resolve_mac(mac, vtep, now, |v| tracker.cached(v));
        if plan.duplicate {
            warn!(vni, mac = %mac, "MAC moved too often: duplicate detected, frozen (RFC 7432 §15.1)");
            self.events.push_back(RibEvent::DuplicateMac { vni, mac });
        }
        self.l2_deltas.extend(plan.deltas);
        let rd = d.rd;
        let l2_rts = d.export.clone();
        let l3 = d.config.vrf.and_then(|v| self.vrfs.get(&v)).map(|st| {
            (
                st.vrf.export.clone(),
                st.vrf.config.router_mac,
                st.vrf.config.l3vni,
            )
        });
        let mut ips = plan.all_local_ips.clone();
        ips.extend(plan.advertise.iter().map(|a| a.0));
        ips.sort();
        ips.dedup();
        for ip in ips {
            let key = EvpnRouteKey::MacIp {
                rd,
                ethernet_tag: EthernetTag(0),
                mac,
                ip,
            };
            let adv = plan.advertise.iter().find(|a| a.0 == ip);
            let v = adv.map(|&(ip, seq, sticky)| {
                let l3_for_route = l3.as_ref().filter(|_| ip.is_some());
                let attrs = self.attrs.intern(type2_attrs(
                    &l2_rts,
                    l3_for_route.map(|(rts, mac, _)| (rts.as_slice(), *mac)),
                    vtep,
                    seq,
                    sticky,
                ));
                let f = self.fields.intern(EvpnFields {
                    label1: Label::from_vni(vni),
                    label2: l3_for_route.map(|(_, _, l3vni)| Label::from_vni(*l3vni)),
                    ..Default::default()
                });
                (attrs, f)
            });
            self.set_evpn_path(&key, Source::Local, v);
        }
    }

    /// End-of-batch work: next-hop tracking after underlay changes, interner housekeeping.
    fn settle(&mut self) {
        // Reachability changes change default-table selections, which can change reachability
        // again (a next hop resolved through a BGP route): iterate, a bounded number of times
        // (what is left is finished by the next input).
        for _ in 0..8 {
            if !self.underlay_dirty {
                break;
            }
            self.underlay_dirty = false;
            let (d4, d6) = (&self.default4.table, &self.default6.table);
            let flips = self.tracker.refresh(|ip| covered(ip, d4, d6));
            for (vtep, reachable) in flips {
                info!(next_hop = %vtep, reachable, "next-hop reachability changed");
                self.events
                    .push_back(RibEvent::VtepReachability { vtep, reachable });
                self.revisit_next_hop(vtep);
            }
        }
        // Purge when the interned sets doubled since the last purge: amortised O(1) per set.
        if self.attrs.len() + self.fields.len() > self.purge_at {
            self.purge();
        }
        self.shrink();
    }

    /// Gives memory back after a mass withdrawal: tables whose occupancy fell to a quarter of
    /// their capacity shrink (slab, index, queues), unused attribute sets are dropped. Cheap
    /// when there is nothing to do; the RIB runs it after every input, and the owner should run
    /// it after draining the outputs too (a withdrawn key's slot is freed only once every peer
    /// and the datapath were told). It records that it shrank something ([`Rib::take_shrunk`])
    /// so the owner can hand freed memory back to the operating system (an allocator keeps
    /// freed pages otherwise).
    pub fn shrink(&mut self) {
        let mut any = self.default4.shrink() | self.default6.shrink() | self.evpn.shrink();
        for st in self.vrfs.values_mut() {
            any |= st.v4.shrink() | st.v6.shrink();
        }
        if any {
            self.purge();
            self.l2_deltas.shrink_to_fit();
            self.events.shrink_to_fit();
            self.shrunk = true;
            debug!("RIB tables shrank after routes went away");
        }
    }

    /// Whether the RIB gave memory back since the last call: the moment for the owner to
    /// return freed memory to the operating system (for example glibc's `malloc_trim`).
    pub fn take_shrunk(&mut self) -> bool {
        std::mem::take(&mut self.shrunk)
    }

    /// Drops unused attribute sets and export caches.
    pub fn purge(&mut self) {
        self.export_caches.clear();
        for st in self.vrfs.values_mut() {
            st.t5_cache.clear();
        }
        let a = self.attrs.purge();
        let f = self.fields.purge();
        self.purge_at = (2 * (self.attrs.len() + self.fields.len())).max(4096);
        debug!(attrs = a, fields = f, "purged unused interned values");
    }

    /// Re-runs selection for everything that goes through next hop (or VTEP) `vtep`.
    fn revisit_next_hop(&mut self, vtep: IpAddr) {
        let uses = |ps: &[Path<()>]| {
            ps.iter()
                .any(|p| p.source != Source::Local && p.attrs.next_hop == Some(vtep))
        };
        let s4: Vec<u32> = (self.default4.table.slots())
            .filter(|&s| uses(self.default4.table.get(s).1.paths()))
            .collect();
        for s in s4 {
            self.default4.table.mark_selection_dirty(s);
            self.reselect_default4(s);
        }
        let s6: Vec<u32> = (self.default6.table.slots())
            .filter(|&s| uses(self.default6.table.get(s).1.paths()))
            .collect();
        for s in s6 {
            self.default6.table.mark_selection_dirty(s);
            self.reselect_default6(s);
        }
        let se: Vec<u32> = (self.evpn.table.slots())
            .filter(|&s| {
                self.evpn
                    .table
                    .get(s)
                    .1
                    .paths()
                    .iter()
                    .any(|p| p.source != Source::Local && p.attrs.next_hop == Some(vtep))
            })
            .collect();
        for s in se {
            self.evpn.table.mark_selection_dirty(s);
            self.reselect_evpn(s);
        }
        let ids: Vec<VrfId> = self.vrfs.keys().copied().collect();
        for id in ids {
            let st = &self.vrfs[&id];
            let s4: Vec<u32> = st
                .v4
                .table
                .slots()
                .filter(|&s| {
                    st.v4
                        .table
                        .get(s)
                        .1
                        .paths()
                        .iter()
                        .any(|p| p.source != Source::Local && p.attrs.next_hop == Some(vtep))
                })
                .collect();
            let s6: Vec<u32> = st
                .v6
                .table
                .slots()
                .filter(|&s| {
                    st.v6
                        .table
                        .get(s)
                        .1
                        .paths()
                        .iter()
                        .any(|p| p.source != Source::Local && p.attrs.next_hop == Some(vtep))
                })
                .collect();
            for s in s4 {
                self.vrf_mut(id).v4.table.mark_selection_dirty(s);
                self.reselect_vrf4(id, s);
            }
            for s in s6 {
                self.vrf_mut(id).v6.table.mark_selection_dirty(s);
                self.reselect_vrf6(id, s);
            }
        }
        let vnis: Vec<u32> = self.l2.keys().copied().collect();
        for vni in vnis {
            let macs = self.l2[&vni].macs();
            for m in macs {
                self.resolve_mac(vni, m);
            }
            let tracker = &self.tracker;
            if let Some(d) = self.l2.get_mut(&vni) {
                let deltas = d.resolve_flood(|v| tracker.cached(v));
                self.l2_deltas.extend(deltas);
            }
        }
    }
}

/// Whether a non-default best route in the default tables covers `ip` (longest match first),
/// other than one whose best path goes through `ip` itself (a route cannot resolve through
/// itself).
fn covered(ip: IpAddr, d4: &Table<Ipv4Net, ()>, d6: &Table<Ipv6Net, ()>) -> bool {
    let usable = |e: &crate::table::Entry<()>| {
        e.best()
            .is_some_and(|b| b.source == Source::Local || b.attrs.next_hop != Some(ip))
    };
    match ip {
        IpAddr::V4(a) => (1..=32u8).rev().any(|len| {
            Ipv4Net::new(a, len)
                .ok()
                .and_then(|n| d4.lookup(&n.trunc()))
                .is_some_and(usable)
        }),
        IpAddr::V6(a) => (1..=128u8).rev().any(|len| {
            Ipv6Net::new(a, len)
                .ok()
                .and_then(|n| d6.lookup(&n.trunc()))
                .is_some_and(usable)
        }),
    }
}

/// Datapath next hops of a VRF multipath set.
fn vrf_next_hops(paths: &[Path<u32>]) -> Vec<NextHop> {
    let mut v: Vec<NextHop> = paths
        .iter()
        .filter_map(|p| match p.source {
            Source::Evpn { .. } => Some(NextHop::Vxlan {
                vtep: p.attrs.next_hop?,
                vni: p.extra,
                router_mac: p.attrs.router_mac()?,
            }),
            Source::Peer { .. } => p.attrs.next_hop.map(NextHop::Gateway),
            Source::Local => None,
        })
        .collect();
    v.dedup();
    v
}

/// Next hops of a default-table multipath set.
fn default_next_hops<X>(paths: &[Path<X>]) -> Vec<NextHop> {
    let mut v: Vec<NextHop> = paths
        .iter()
        .filter(|p| p.source != Source::Local)
        .filter_map(|p| p.attrs.next_hop.map(NextHop::Gateway))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// A table kind's datapath next hops.
trait FibPaths {
    fn next_hops(paths: &[Path<Self>]) -> Vec<NextHop>
    where
        Self: Sized;
}

impl FibPaths for () {
    fn next_hops(paths: &[Path<()>]) -> Vec<NextHop> {
        default_next_hops(paths)
    }
}

impl FibPaths for u32 {
    fn next_hops(paths: &[Path<u32>]) -> Vec<NextHop> {
        vrf_next_hops(paths)
    }
}

/// Moves up to `max` queued datapath changes of `scope` into `out`.
fn drain_fib<K: RouteKey<X>, X: Clone + PartialEq + FibPaths>(
    scope: &mut Scope<K, X>,
    out: &mut Vec<ForwardingDelta>,
    max: usize,
    prefix_of: impl Fn(&K) -> IpNet,
) {
    let Some(table) = scope.fib else {
        return;
    };
    let mut n = 0;
    while n < max {
        let Some(slot) = scope.fib_queue.pop() else {
            break;
        };
        let (k, e) = scope.table.get(slot);
        let prefix = prefix_of(k);
        let hops = X::next_hops(e.multipath());
        let installed = e.fib_installed();
        let op = match (hops.is_empty(), installed) {
            (true, false) => None,
            (true, true) => Some(RouteOp::Delete),
            (false, false) => Some(RouteOp::Add(hops)),
            (false, true) => Some(RouteOp::Replace(hops)),
        };
        let e = scope.table.entry_mut(slot);
        e.clear_fib_queued();
        if let Some(op) = op {
            e.set_fib_installed(!matches!(op, RouteOp::Delete));
            out.push(ForwardingDelta::Route { table, prefix, op });
            n += 1;
        }
        scope.table.collect(slot);
    }
}

/// What exporting to one peer needs.
struct ExportCtx<'a> {
    to_id: PeerId,
    to: &'a PeerConfig,
    peers: &'a [Option<PeerState>],
    router_id: Ipv4Addr,
    cache: &'a mut ExportCache,
    interner: &'a mut Interner<PathAttrs>,
    kind: ExportKind,
}

/// What the export sends `ctx.to` for key `k` now: its best path's NLRI with the attributes
/// rewritten for the peer (RFC 4271 §5.1, §9.2; RFC 4456 §8), or `None` when nothing may go
/// (no best path, split horizon, an EVPN route without a next hop).
fn export_best<K: RouteKey<X>, X>(
    k: &K,
    e: &crate::table::Entry<X>,
    ctx: &mut ExportCtx<'_>,
) -> Option<(Attrs, Nlri)> {
    let p = e.best()?;
    let peer = p
        .source
        .peer()
        .and_then(|id| ctx.peers.get(id.0 as usize))
        .and_then(Option::as_ref)
        .map(|s| &s.config);
    let facts = SourceFacts {
        local: p.source == Source::Local,
        ibgp: matches!(p.source, Source::Peer { .. }) && peer.is_some_and(|c| !c.is_ebgp()),
        from_rr_client: peer.is_some_and(|c| c.route_reflector_client),
        router_id: peer.map(|c| c.remote_router_id),
    };
    if !may_export(p, ctx.to_id, ctx.to, &facts) {
        return None;
    }
    if ctx.kind == ExportKind::Evpn && p.attrs.next_hop.is_none() {
        return None;
    }
    let a = export_attrs(
        &p.attrs,
        &facts,
        ctx.kind,
        ctx.to,
        ctx.router_id,
        ctx.cache,
        ctx.interner,
    );
    Some((a, k.nlri(Some(&p.extra))))
}

/// The keys subscriber `i` of `scope` holds an advertisement of, with what the export gives
/// for each now and whether a change for it is still queued (not yet sent).
fn list_adj_out<K: RouteKey<X>, X: Clone + PartialEq>(
    scope: &Scope<K, X>,
    i: u8,
    ctx: &mut ExportCtx<'_>,
    out: &mut Vec<ExchangedRoute>,
) {
    for (k, e) in scope.table.iter() {
        if !e.advertised.contains(i) {
            continue;
        }
        if let Some((attrs, nlri)) = export_best(k, e, ctx) {
            out.push(ExchangedRoute {
                nlri,
                attrs,
                best: true,
                pending: e.queued.contains(i),
            });
        }
    }
}

/// The paths a peer sent that `table` holds (Adj-RIB-In, RFC 4271 §3.2).
fn list_adj_in<K: RouteKey<X>, X: Clone + PartialEq>(
    table: &Table<K, X>,
    peer: PeerId,
    out: &mut Vec<ExchangedRoute>,
) {
    for (k, e) in table.iter() {
        for (i, p) in e.paths().iter().enumerate() {
            if p.source.peer() == Some(peer) && matches!(p.source, Source::Peer { .. }) {
                out.push(ExchangedRoute {
                    nlri: k.nlri(Some(&p.extra)),
                    attrs: p.attrs.clone(),
                    best: i == 0 && !e.multipath().is_empty(),
                    pending: false,
                });
            }
        }
    }
}

/// Pops up to `max` queued keys of subscriber `i` and turns them into a batch.
fn drain_adj_out<K: RouteKey<X>, X: Clone + PartialEq>(
    scope: &mut Scope<K, X>,
    i: u8,
    max: usize,
    ctx: &mut ExportCtx<'_>,
) -> Option<AdjOutBatch> {
    let q = &mut scope.queues[usize::from(i)];
    if q.is_empty() {
        return None;
    }
    let mut groups: HashMap<Attrs, Vec<Nlri>> = HashMap::new();
    let mut order: Vec<Attrs> = Vec::new();
    let mut withdraw = Vec::new();
    let mut family = None;
    let mut n = 0;
    while n < max {
        let Some(slot) = q.pop_front() else {
            break;
        };
        let (k, e) = scope.table.get(slot);
        let out = export_best(k, e, ctx);
        let e = scope.table.entry_mut(slot);
        e.queued.remove(i);
        match out {
            Some((a, nlri)) => {
                family.get_or_insert(nlri.family());
                e.advertised.insert(i);
                groups
                    .entry(a.clone())
                    .or_insert_with(|| {
                        order.push(a);
                        Vec::new()
                    })
                    .push(nlri);
                n += 1;
            }
            None if e.advertised.contains(i) => {
                e.advertised.remove(i);
                let (k, _) = scope.table.get(slot);
                let nlri = k.nlri(None);
                family.get_or_insert(nlri.family());
                withdraw.push(nlri);
                n += 1;
            }
            None => {}
        }
        scope.table.collect(slot);
    }
    let family = family?;
    let announce = order
        .into_iter()
        .map(|a| {
            let nlri = groups.remove(&a).unwrap_or_default();
            Announcement { attrs: a, nlri }
        })
        .collect();
    Some(AdjOutBatch {
        family,
        announce,
        withdraw,
        end_of_rib: false,
    })
}
