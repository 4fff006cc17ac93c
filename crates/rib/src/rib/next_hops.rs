//! Next-hop tracking: which next hops (VTEPs, default-table gateways) the underlay reaches, which
//! addresses are ours, and the selections run again when either changes.

use std::collections::HashSet;
use std::hash::Hash;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::peer::{PeerConfig, PeerRole};
use crate::table::{Source, Table};
use crate::vrf::VrfId;

use super::scope::{UnicastKey, UnicastPair};
use super::Rib;

/// Whether a non-default best route in the default tables covers `ip` (longest match first),
/// other than one whose best path goes through `ip` itself (a route cannot resolve through
/// itself).
pub(super) fn covered(ip: IpAddr, default: &UnicastPair<()>) -> bool {
    match ip {
        IpAddr::V4(_) => covered_in(ip, &default.v4.table),
        IpAddr::V6(_) => covered_in(ip, &default.v6.table),
    }
}

/// [`covered`] in the default table of `ip`'s family (`/0` does not count).
fn covered_in<K: UnicastKey>(ip: IpAddr, table: &Table<K, ()>) -> bool {
    (1..=K::MAX_LEN).rev().any(|len| {
        (IpNet::new(ip, len).ok())
            .and_then(K::from_net)
            .and_then(|k| table.lookup(&k))
            .is_some_and(|e| {
                e.best()
                    .is_some_and(|b| b.source == Source::Local || b.attrs.next_hop != Some(ip))
            })
    })
}

impl Rib {
    /// A default-instance session's neighbour is reachable while the session is up (or its
    /// paths are kept through a graceful restart).
    pub(super) fn track_neighbor(&mut self, config: &PeerConfig, present: bool) {
        if matches!(config.role, PeerRole::Fabric | PeerRole::Passthrough) {
            self.tracker.set_neighbor(config.remote_address, present);
            self.underlay_dirty = true;
        }
    }

    /// Our own addresses as the inputs say now.
    pub(super) fn own_addresses(&self) -> HashSet<IpAddr> {
        let mut s: HashSet<IpAddr> = self.reported_local.iter().copied().collect();
        s.insert(IpAddr::V4(self.config.router_id));
        s.insert(self.config.vtep);
        // An L2VNI's own VTEP (the IPv6 one beside an IPv4 RIB VTEP) is ours as well.
        s.extend(self.l2.values().filter_map(|d| d.config.vtep));
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
    pub(super) fn refresh_own(&mut self) {
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

    /// Starts tracking the reachability of `nh` (a no-op when it is tracked already).
    pub(super) fn track(&mut self, nh: IpAddr) {
        let default = &self.default;
        self.tracker.reachable(nh, |x| covered(x, default));
    }

    /// Re-runs selection for everything that goes through next hop (or VTEP) `vtep`.
    pub(super) fn revisit_next_hop(&mut self, vtep: IpAddr) {
        self.revisit_table(
            vtep,
            |r| &mut r.default.v4.table,
            Self::reselect_default::<Ipv4Net>,
        );
        self.revisit_table(
            vtep,
            |r| &mut r.default.v6.table,
            Self::reselect_default::<Ipv6Net>,
        );
        self.revisit_table(vtep, |r| &mut r.evpn.table, Self::reselect_evpn);
        let ids: Vec<VrfId> = self.vrfs.keys().copied().collect();
        for id in ids {
            self.revisit_table(
                vtep,
                |r| &mut r.vrf_mut(id).tables.v4.table,
                |r, s| r.reselect_vrf::<Ipv4Net>(id, s),
            );
            self.revisit_table(
                vtep,
                |r| &mut r.vrf_mut(id).tables.v6.table,
                |r, s| r.reselect_vrf::<Ipv6Net>(id, s),
            );
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

    /// Runs selection again, through `reselect`, for every key of the table `table` picks
    /// with a path (not ours) through `vtep`. The keys are listed before any selection runs.
    fn revisit_table<K: Hash + Eq + Clone, X: Clone + PartialEq>(
        &mut self,
        vtep: IpAddr,
        table: impl Fn(&mut Self) -> &mut Table<K, X>,
        reselect: impl Fn(&mut Self, u32),
    ) {
        let t = table(self);
        let slots: Vec<u32> = (t.slots())
            .filter(|&s| {
                (t.get(s).1.paths())
                    .iter()
                    .any(|p| p.source != Source::Local && p.attrs.next_hop == Some(vtep))
            })
            .collect();
        for s in slots {
            table(self).mark_selection_dirty(s);
            reselect(self, s);
        }
    }
}
