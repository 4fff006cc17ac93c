//! Read-only views for `show` commands and scale runs: counters, paths, Adj-RIB-In/Out.

use std::net::IpAddr;

use ipnet::IpNet;
use perouter_evpn::EvpnRoute;

use crate::adj_out::{ExportCache, Nlri, RouteKey};
use crate::best_path::{select, MultipathConfig, Rank};
use crate::forwarding::NextHop;
use crate::intern::Interner;
use crate::peer::PeerId;
use crate::table::{Attrs, Path, Source, Table};
use crate::vrf::VrfId;

use super::outputs::{export_best, vrf_next_hops, ExportCtx};
use super::peers::PeerState;
use super::scope::{Scope, ScopeId, UnicastKey, UnicastPair};
use super::selection::{default_path_usable, rank, vrf_path_usable};
use super::update::PeerInputCounters;
use super::Rib;

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
    /// Transformed attribute sets held by the peers' export caches (each bounded to a batch's
    /// worth, however many sets the tables hold).
    pub export_cache_entries: usize,
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
    /// Received: the ADD-PATH path identifier the peer gave the path (RFC 7911 §3; 0
    /// without ADD-PATH). Advertised: 0.
    pub path_id: u32,
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

/// What [`Rib::unicast_paths`] lists: the prefixes asked for, what the selection runs with
/// (the peers, the multipath settings) and the list being built.
struct Listing<'a> {
    which: PrefixMatch,
    peers: &'a [Option<PeerState>],
    cfg: MultipathConfig,
    out: &'a mut Vec<UnicastPath>,
}

impl Listing<'_> {
    /// Lists the IPv6 (`v6`) or the IPv4 table of `pair`; `usable` tells eligible paths.
    fn pair<X: Clone + PartialEq>(
        &mut self,
        pair: &UnicastPair<X>,
        v6: bool,
        usable: impl Fn(&Path<X>) -> bool,
    ) {
        if v6 {
            self.table(&pair.v6.table, usable);
        } else {
            self.table(&pair.v4.table, usable);
        }
    }

    /// Lists one table: the matching entries' paths, flagged, with the selection run again
    /// (a pure function of the paths) for the step that decided the best.
    fn table<K: UnicastKey, X: Clone + PartialEq>(
        &mut self,
        table: &Table<K, X>,
        usable: impl Fn(&Path<X>) -> bool,
    ) {
        let (which, peers, cfg, out) = (self.which, self.peers, self.cfg, &mut *self.out);
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
}

/// The keys subscriber `i` of `scope` holds an advertisement of, with what the export gives
/// for each now and whether a change for it is still queued (not yet sent).
pub(super) fn list_adj_out<K: RouteKey<X>, X: Clone + PartialEq>(
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
                path_id: 0,
            });
        }
    }
}

/// The paths a peer sent that `table` holds (Adj-RIB-In, RFC 4271 §3.2).
pub(super) fn list_adj_in<K: RouteKey<X>, X: Clone + PartialEq>(
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
                    path_id: match p.source {
                        Source::Peer { path_id, .. } => path_id,
                        _ => 0,
                    },
                });
            }
        }
    }
}

impl Rib {
    /// Counters.
    pub fn stats(&self) -> RibStats {
        RibStats {
            default_routes: self.default.len(),
            evpn_routes: self.evpn.table.len(),
            vrf_routes: self.vrfs.values().map(|v| v.tables.len()).sum(),
            attribute_sets: self.attrs.len(),
            refused: self.refused,
            unreachable_next_hops: self.tracker.unreachable(),
            export_cache_entries: self.export_caches.values().map(|c| c.len()).sum(),
        }
    }

    /// The multipath set for `prefix` in a VRF, as datapath next hops (best first).
    pub fn vrf_route(&self, vrf: VrfId, prefix: IpNet) -> Vec<NextHop> {
        (self.vrfs.get(&vrf))
            .and_then(|st| st.tables.lookup(prefix))
            .map(|e| vrf_next_hops(e.multipath()))
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
        (self.default.lookup(prefix)).is_some_and(|e| e.best().is_some())
    }

    /// The paths the default table holds for `prefix` (the Adj-RIB-In of every peer for it),
    /// each with whether it is in the multipath set: what `show` lists, ineligible paths
    /// (invalid or unreachable next hop) included.
    pub fn default_paths(&self, prefix: IpNet) -> Vec<(Attrs, bool)> {
        (self.default.lookup(prefix))
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
        let mut list = Listing {
            which,
            peers,
            cfg,
            out: &mut out,
        };
        match vrf {
            None => list.pair(&self.default, v6, |p| default_path_usable(p, tracker, own)),
            Some(id) => {
                if let Some(st) = self.vrfs.get(&id) {
                    list.pair(&st.tables, v6, |p| vrf_path_usable(p, tracker, own, peers));
                }
            }
        }
        out
    }

    /// What `peer` sent us and we hold (its Adj-RIB-In, RFC 4271 §3.2) in every table, each
    /// path flagged best when it is: `show bgp neighbor ADDR received-routes`.
    pub fn adj_rib_in(&self, peer: PeerId) -> Vec<ExchangedRoute> {
        let mut out = Vec::new();
        list_adj_in(&self.default.v4.table, peer, &mut out);
        list_adj_in(&self.default.v6.table, peer, &mut out);
        list_adj_in(&self.evpn.table, peer, &mut out);
        for st in self.vrfs.values() {
            list_adj_in(&st.tables.v4.table, peer, &mut out);
            list_adj_in(&st.tables.v6.table, peer, &mut out);
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
                cluster_id: self.config.effective_cluster_id(),
                cache: &mut cache,
                interner: &mut interner,
                kind: scope.export_kind(),
            };
            on_scope!(ref self, scope, sc => list_adj_out(sc, i, &mut ctx, &mut out), ());
        }
        out
    }
}
