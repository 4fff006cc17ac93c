//! Outputs pulled by the owner: datapath changes, per-peer Adj-RIB-Out batches, events.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::adj_out::{
    export_attrs, may_export, AdjOutBatch, Announcement, ExportCache, ExportKind, Nlri, RouteKey,
    SourceFacts,
};
use crate::attrs::PathAttrs;
use crate::forwarding::{ForwardingDelta, NextHop, RouteOp};
use crate::intern::Interner;
use crate::peer::{PeerConfig, PeerId};
use crate::table::{Attrs, Path, Source};

use super::peers::PeerState;
use super::scope::{Scope, ScopeId, UnicastKey, UnicastPair};
use super::{Rib, RibEvent};

/// Datapath next hops of a VRF multipath set.
pub(super) fn vrf_next_hops(paths: &[Path<u32>]) -> Vec<NextHop> {
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
pub(super) fn default_next_hops<X>(paths: &[Path<X>]) -> Vec<NextHop> {
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
pub(super) trait FibPaths {
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

/// Moves up to `max` queued datapath changes of `pair` into `out`, IPv4 first.
fn drain_pair<X: Clone + PartialEq + FibPaths>(
    pair: &mut UnicastPair<X>,
    out: &mut Vec<ForwardingDelta>,
    max: usize,
) {
    let start = out.len();
    drain_fib(&mut pair.v4, out, max);
    drain_fib(&mut pair.v6, out, max - (out.len() - start));
}

/// Moves up to `max` queued datapath changes of `scope` into `out`.
#[inline]
pub(super) fn drain_fib<K: UnicastKey, X: Clone + PartialEq + FibPaths>(
    scope: &mut Scope<K, X>,
    out: &mut Vec<ForwardingDelta>,
    max: usize,
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
        let prefix = k.to_net();
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
pub(super) struct ExportCtx<'a> {
    pub(super) to_id: PeerId,
    pub(super) to: &'a PeerConfig,
    pub(super) peers: &'a [Option<PeerState>],
    /// Our CLUSTER_ID, prepended to reflected routes' CLUSTER_LIST (RFC 4456 §8).
    pub(super) cluster_id: Ipv4Addr,
    pub(super) cache: &'a mut ExportCache,
    pub(super) interner: &'a mut Interner<PathAttrs>,
    pub(super) kind: ExportKind,
}

/// What the export sends `ctx.to` for key `k` now: its best path's NLRI with the attributes
/// rewritten for the peer (RFC 4271 §5.1, §9.2; RFC 4456 §8), or `None` when nothing may go
/// (no best path, split horizon, an EVPN route without a next hop).
pub(super) fn export_best<K: RouteKey<X>, X>(
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
        ctx.cluster_id,
        ctx.cache,
        ctx.interner,
    );
    Some((a, k.nlri(Some(&p.extra))))
}

/// Pops up to `max` queued keys of subscriber `i` and turns them into a batch.
#[inline]
pub(super) fn drain_adj_out<K: RouteKey<X>, X: Clone + PartialEq>(
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

/// How many transformed attribute sets a peer's export cache holds at most before it starts
/// over: a batch's worth, so a relay of a table with hundreds of thousands of sets keeps a
/// bounded cache (it was one entry, about 40 bytes, per set), while a table with few sets
/// transforms each once.
pub const EXPORT_CACHE_MAX: usize = 4096;

impl Rib {
    /// Moves up to `max` pending datapath changes into `out`; returns how many.
    pub fn poll_forwarding(&mut self, out: &mut Vec<ForwardingDelta>, max: usize) -> usize {
        let start = out.len();
        while out.len() - start < max {
            match self.l2_deltas.pop_front() {
                Some(d) => out.push(d),
                None => break,
            }
        }
        drain_pair(&mut self.default, out, max - (out.len() - start));
        for st in self.vrfs.values_mut() {
            drain_pair(&mut st.tables, out, max - (out.len() - start));
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
        let cluster_id = self.config.effective_cluster_id();
        for (k, &(scope, i, eor_owed)) in subs.iter().enumerate() {
            let cache = self.export_caches.entry(peer).or_default();
            if cache.len() >= EXPORT_CACHE_MAX {
                // A table with many distinct sets (about 2.6 routes per set in real tables):
                // the cache would hold one entry per set for nothing (the routes of one set
                // are queued together); start over instead of growing (issue 16).
                cache.clear();
            }
            let mut ctx = ExportCtx {
                to_id: peer,
                to: &to,
                peers: &self.peers,
                cluster_id,
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
            eor || on_scope!(ref self, s, sc => !sc.queues[usize::from(i)].is_empty(), false)
        })
    }

    /// The next event for the operator, if any.
    pub fn poll_event(&mut self) -> Option<RibEvent> {
        self.events.pop_front()
    }
}
