//! Forwarding changes handed to the datapath as patches, not copies of the whole table.
//!
//! The routing task owns the wanted [`ForwardingState`]; the reconciler keeps its own copy to
//! diff against the kernel. Instead of cloning the whole state on every flush (a million-route
//! table copied for one changed route), the owner records which keys it touched
//! ([`ForwardingKeys`]) and sends their current values ([`ForwardingPatch`]); the reconciler
//! applies them to its copy. Both copies stay equal: a property test drives random changes
//! through both.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipnet::IpNet;
use perouter_evpn::MacAddress;

use crate::desired::{ForwardingState, VrfRoutes};

/// The keys of a [`ForwardingState`] changed since the last hand-over.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardingKeys {
    /// L3VNIs whose VRF entry (table, router MACs) changed, appeared or went away.
    pub vrfs: BTreeSet<u32>,
    /// L3VNIs whose VRF was removed with all its routes (it may have come back since, with
    /// only the routes touched after).
    pub vrfs_reset: BTreeSet<u32>,
    /// (L3VNI, prefix) of VRF routes changed.
    pub vrf_routes: BTreeSet<(u32, IpNet)>,
    /// Remote MACs changed.
    pub remote_macs: BTreeSet<(u32, MacAddress)>,
    /// Flood-list entries changed.
    pub flood: BTreeSet<(u32, IpAddr)>,
    /// Remote neighbours changed.
    pub remote_neighbours: BTreeSet<(u32, IpAddr)>,
    /// Default-table routes changed.
    pub default_routes: BTreeSet<IpNet>,
}

impl ForwardingKeys {
    /// Whether nothing was touched.
    pub fn is_empty(&self) -> bool {
        self.vrfs.is_empty()
            && self.vrfs_reset.is_empty()
            && self.vrf_routes.is_empty()
            && self.remote_macs.is_empty()
            && self.flood.is_empty()
            && self.remote_neighbours.is_empty()
            && self.default_routes.is_empty()
    }

    /// Takes the keys of one hand-over and leaves the rest: every VRF, MAC, flood-list and
    /// neighbour key (a few per VNI or host), and at most `routes` route keys, VRF routes
    /// first, each kind smallest first. A patch built from the chunk carries the keys' values
    /// at the time it is built, so keys left for a later chunk are never stale: they go with
    /// their latest value, and a key changed several times before it goes goes once. This
    /// bounds what one patch (and the datapath's operations for it) holds however far the
    /// kernel is behind the RIB (issue 16).
    pub fn take_chunk(&mut self, routes: usize) -> ForwardingKeys {
        let mut chunk = ForwardingKeys {
            vrfs: std::mem::take(&mut self.vrfs),
            vrfs_reset: std::mem::take(&mut self.vrfs_reset),
            vrf_routes: BTreeSet::new(),
            remote_macs: std::mem::take(&mut self.remote_macs),
            flood: std::mem::take(&mut self.flood),
            remote_neighbours: std::mem::take(&mut self.remote_neighbours),
            default_routes: BTreeSet::new(),
        };
        chunk.vrf_routes = take_first(&mut self.vrf_routes, routes);
        chunk.default_routes =
            take_first(&mut self.default_routes, routes - chunk.vrf_routes.len());
        chunk
    }
}

/// The first `n` keys of `set`, taken out of it (all of them, without copying, when it holds
/// no more than `n`).
fn take_first<K: Ord + Clone>(set: &mut BTreeSet<K>, n: usize) -> BTreeSet<K> {
    if set.len() <= n {
        return std::mem::take(set);
    }
    if n == 0 {
        return BTreeSet::new();
    }
    let Some(split) = set.iter().nth(n).cloned() else {
        return std::mem::take(set);
    };
    let rest = set.split_off(&split);
    std::mem::replace(set, rest)
}

/// A VRF entry without its routes: its table and router MACs (a few per remote VTEP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VrfHead {
    /// The VRF's table.
    pub table: u32,
    /// Router MAC per remote VTEP.
    pub router_macs: BTreeMap<IpAddr, MacAddress>,
}

/// One VRF route's current next hops: ((L3VNI, prefix), VTEPs, gateways); `None` where none.
pub type VrfRoutePatch = (
    (u32, IpNet),
    Option<BTreeSet<IpAddr>>,
    Option<BTreeSet<IpAddr>>,
);

/// The current values of the touched keys; `None` (or `false`) where the key is gone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ForwardingPatch {
    /// VRFs to drop with all their routes before anything else is applied.
    pub vrfs_reset: Vec<u32>,
    /// VRF entries (a `None` removes the VRF with all its routes).
    pub vrfs: Vec<(u32, Option<VrfHead>)>,
    /// VRF routes: (L3VNI, prefix) → VTEPs, gateways.
    pub vrf_routes: Vec<VrfRoutePatch>,
    /// Remote MACs.
    pub remote_macs: Vec<((u32, MacAddress), Option<IpAddr>)>,
    /// Flood-list entries.
    pub flood: Vec<((u32, IpAddr), bool)>,
    /// Remote neighbours.
    pub remote_neighbours: Vec<((u32, IpAddr), Option<MacAddress>)>,
    /// Default-table routes.
    pub default_routes: Vec<(IpNet, Option<BTreeSet<IpAddr>>)>,
}

impl ForwardingPatch {
    /// Entries carried (for logs and metrics).
    pub fn len(&self) -> usize {
        self.vrfs_reset.len()
            + self.vrfs.len()
            + self.vrf_routes.len()
            + self.remote_macs.len()
            + self.flood.len()
            + self.remote_neighbours.len()
            + self.default_routes.len()
    }

    /// Whether it carries nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ForwardingState {
    /// The current values of `keys` (the VRF of every touched VRF route included).
    pub fn patch(&self, keys: &ForwardingKeys) -> ForwardingPatch {
        let vrfs: BTreeSet<u32> = keys
            .vrfs
            .iter()
            .chain(&keys.vrfs_reset)
            .copied()
            .chain(keys.vrf_routes.iter().map(|(v, _)| *v))
            .collect();
        ForwardingPatch {
            vrfs_reset: keys.vrfs_reset.iter().copied().collect(),
            vrfs: vrfs
                .into_iter()
                .map(|v| {
                    let head = self.vrf_routes.get(&v).map(|r| VrfHead {
                        table: r.table,
                        router_macs: r.router_macs.clone(),
                    });
                    (v, head)
                })
                .collect(),
            vrf_routes: keys
                .vrf_routes
                .iter()
                .map(|&(v, p)| {
                    let r = self.vrf_routes.get(&v);
                    (
                        (v, p),
                        r.and_then(|r| r.routes.get(&p).cloned()),
                        r.and_then(|r| r.gateway_routes.get(&p).cloned()),
                    )
                })
                .collect(),
            remote_macs: keys
                .remote_macs
                .iter()
                .map(|k| (*k, self.remote_macs.get(k).copied()))
                .collect(),
            flood: keys
                .flood
                .iter()
                .map(|k| (*k, self.flood.contains(k)))
                .collect(),
            remote_neighbours: keys
                .remote_neighbours
                .iter()
                .map(|k| (*k, self.remote_neighbours.get(k).copied()))
                .collect(),
            default_routes: keys
                .default_routes
                .iter()
                .map(|p| (*p, self.default_routes.get(p).cloned()))
                .collect(),
        }
    }

    /// Applies a patch taken from another state with [`ForwardingState::patch`].
    pub fn apply(&mut self, p: ForwardingPatch) {
        for v in p.vrfs_reset {
            self.vrf_routes.remove(&v);
        }
        for (v, head) in p.vrfs {
            match head {
                Some(h) => {
                    let r = self.vrf_routes.entry(v).or_insert_with(|| VrfRoutes {
                        table: h.table,
                        ..Default::default()
                    });
                    r.table = h.table;
                    r.router_macs = h.router_macs;
                }
                None => {
                    self.vrf_routes.remove(&v);
                }
            }
        }
        for ((v, prefix), vteps, gateways) in p.vrf_routes {
            let Some(r) = self.vrf_routes.get_mut(&v) else {
                continue;
            };
            set(&mut r.routes, prefix, vteps);
            set(&mut r.gateway_routes, prefix, gateways);
        }
        for (k, v) in p.remote_macs {
            set(&mut self.remote_macs, k, v);
        }
        for (k, present) in p.flood {
            if present {
                self.flood.insert(k);
            } else {
                self.flood.remove(&k);
            }
        }
        for (k, v) in p.remote_neighbours {
            set(&mut self.remote_neighbours, k, v);
        }
        for (k, v) in p.default_routes {
            set(&mut self.default_routes, k, v);
        }
    }
}

fn set<K: Ord, V>(m: &mut BTreeMap<K, V>, k: K, v: Option<V>) {
    match v {
        Some(v) => {
            m.insert(k, v);
        }
        None => {
            m.remove(&k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(i: u32) -> IpNet {
        IpNet::V4(ipnet::Ipv4Net::new((0x0a00_0000 + (i << 8)).into(), 24).unwrap())
    }

    #[test]
    fn chunks_take_every_other_key_and_at_most_n_routes_until_none_is_left() {
        let mut keys = ForwardingKeys {
            vrfs: [100].into(),
            vrfs_reset: [200].into(),
            vrf_routes: (0..5).map(|i| (100, net(i))).collect(),
            remote_macs: [(110, MacAddress([2, 0, 0, 0, 0, 1]))].into(),
            flood: [(110, "100.65.0.1".parse().unwrap())].into(),
            remote_neighbours: [(110, "10.0.0.9".parse().unwrap())].into(),
            default_routes: (0..20).map(net).collect(),
        };
        let first = keys.take_chunk(8);
        assert_eq!(first.vrfs, [100].into());
        assert_eq!(first.vrfs_reset, [200].into());
        assert_eq!(first.remote_macs.len(), 1);
        assert_eq!(first.flood.len(), 1);
        assert_eq!(first.remote_neighbours.len(), 1);
        assert_eq!(first.vrf_routes.len(), 5, "VRF routes first");
        assert_eq!(first.default_routes, (0..3).map(net).collect());
        assert!(keys.vrfs.is_empty() && keys.vrfs_reset.is_empty() && keys.vrf_routes.is_empty());
        let mut seen = first.default_routes.clone();
        let mut chunks = 1;
        while !keys.is_empty() {
            let c = keys.take_chunk(8);
            assert!(c.default_routes.len() <= 8);
            assert!(c.vrfs.is_empty() && c.remote_macs.is_empty());
            assert!(
                c.default_routes.iter().all(|p| seen.insert(*p)),
                "no key twice"
            );
            chunks += 1;
        }
        assert_eq!(chunks, 4, "3 + 8 + 8 + 1 of 20");
        assert_eq!(seen, (0..20).map(net).collect());
        // Nothing left: an empty chunk, and a chunk of at most n takes everything when it fits.
        assert!(keys.take_chunk(8).is_empty());
        keys.default_routes = (0..8).map(net).collect();
        assert_eq!(keys.take_chunk(8).default_routes.len(), 8);
        assert!(keys.is_empty());
    }
}
