//! The routing task's copy of the wanted routes (default table and VRFs), kept compact
//! (issue 16).
//!
//! The datapath's [`ForwardingState`] holds `BTreeMap<IpNet, BTreeSet<IpAddr>>`: one B-tree
//! node (about 200 bytes) per route for its one gateway, plus the map's share. The routing task
//! keeps the same routes for patches, the first hand-over and `show`, so with a million routes
//! that copy alone was about 270 bytes per route. Here a route is a prefix and a 4-byte handle
//! to an interned gateway set (a million routes through one gateway share one set): about 12
//! bytes per IPv4 route in a hash table. The datapath's types are built only for what is handed
//! over (a patch's touched keys, or the whole state once).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use hashbrown::HashMap;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use perouter_fib::desired::{ForwardingState, VrfRoutes};

/// Interned gateway sets (sorted, without duplicates), counted by the routes that use them.
#[derive(Debug, Default)]
struct GatewaySets {
    /// Slot → (set, routes using it); a slot with no route is on `free`.
    slots: Vec<(Box<[IpAddr]>, u32)>,
    index: HashMap<Box<[IpAddr]>, u32>,
    free: Vec<u32>,
}

impl GatewaySets {
    fn acquire(&mut self, set: &[IpAddr]) -> u32 {
        if let Some(&id) = self.index.get(set) {
            self.slots[id as usize].1 += 1;
            return id;
        }
        let boxed: Box<[IpAddr]> = set.into();
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = (boxed.clone(), 1);
                id
            }
            None => {
                self.slots.push((boxed.clone(), 1));
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 gateway sets")
            }
        };
        self.index.insert(boxed, id);
        id
    }

    fn release(&mut self, id: u32) {
        let slot = &mut self.slots[id as usize];
        slot.1 -= 1;
        if slot.1 == 0 {
            let set = std::mem::take(&mut slot.0);
            self.index.remove(&set);
            self.free.push(id);
        }
    }

    fn get(&self, id: u32) -> &[IpAddr] {
        &self.slots[id as usize].0
    }
}

/// The default table's routes: prefix → gateways (several = ECMP; none is kept as it came, the
/// datapath's validation refuses it, as it did with the plain map).
#[derive(Debug, Default)]
pub struct DefaultRoutes {
    v4: HashMap<Ipv4Net, u32>,
    v6: HashMap<Ipv6Net, u32>,
    sets: GatewaySets,
}

impl DefaultRoutes {
    /// Sets `prefix`'s gateways, in any order (`None`: removes the route).
    pub fn set(&mut self, prefix: IpNet, gateways: Option<Vec<IpAddr>>) {
        let new = gateways.map(|mut g| {
            g.sort_unstable();
            g.dedup();
            self.sets.acquire(&g)
        });
        let old = match (prefix, new) {
            (IpNet::V4(p), Some(id)) => self.v4.insert(p, id),
            (IpNet::V4(p), None) => self.v4.remove(&p),
            (IpNet::V6(p), Some(id)) => self.v6.insert(p, id),
            (IpNet::V6(p), None) => self.v6.remove(&p),
        };
        if let Some(old) = old {
            self.sets.release(old);
        }
        // A big withdrawal leaves the tables mostly empty: give their memory back.
        shrink(&mut self.v4);
        shrink(&mut self.v6);
    }

    /// `prefix`'s gateways, sorted.
    pub fn get(&self, prefix: &IpNet) -> Option<&[IpAddr]> {
        let id = match prefix {
            IpNet::V4(p) => self.v4.get(p),
            IpNet::V6(p) => self.v6.get(p),
        }?;
        Some(self.sets.get(*id))
    }

    /// The datapath's form of `prefix`'s gateways.
    pub fn get_set(&self, prefix: &IpNet) -> Option<BTreeSet<IpAddr>> {
        self.get(prefix).map(|g| g.iter().copied().collect())
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether there is no route.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every route, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (IpNet, &[IpAddr])> + '_ {
        self.v4
            .iter()
            .map(|(p, id)| (IpNet::V4(*p), *id))
            .chain(self.v6.iter().map(|(p, id)| (IpNet::V6(*p), *id)))
            .map(|(p, id)| (p, self.sets.get(id)))
    }

    /// Every route in the datapath's form (for the whole-state hand-over).
    pub fn to_map(&self) -> BTreeMap<IpNet, BTreeSet<IpAddr>> {
        self.iter()
            .map(|(p, g)| (p, g.iter().copied().collect()))
            .collect()
    }

    /// `fwd` with these routes as its default table (for the whole-state hand-over).
    pub fn full_state(&self, fwd: &ForwardingState) -> ForwardingState {
        ForwardingState {
            default_routes: self.to_map(),
            ..fwd.clone()
        }
    }
}

/// The routing task's compact copy of every route it hands the datapath: the default table,
/// and per VRF (keyed by its L3VNI) its type-5 routes by VTEP and its host-session routes by
/// gateway. The VRF heads (table, router MACs) stay in the task's [`ForwardingState`], whose
/// own route maps are kept empty: a VRF route is a handle to a shared set here, not a B-tree
/// node of its own (the PE job's routes live in a VRF, issue 16).
#[derive(Debug, Default)]
pub struct CompactRoutes {
    /// The default (main) table.
    pub default: DefaultRoutes,
    vrfs: HashMap<u32, VrfCompact>,
}

/// One VRF's routes: by VTEP (VXLAN next hops) and by gateway (host-session next hops).
#[derive(Debug, Default)]
struct VrfCompact {
    vteps: DefaultRoutes,
    gateways: DefaultRoutes,
}

impl CompactRoutes {
    /// The VTEPs of VRF `vni`'s route to `prefix`, sorted.
    pub fn vrf_vteps(&self, vni: u32, prefix: &IpNet) -> Option<&[IpAddr]> {
        self.vrfs.get(&vni)?.vteps.get(prefix)
    }

    /// The gateways of VRF `vni`'s route to `prefix`, sorted.
    pub fn vrf_gateways(&self, vni: u32, prefix: &IpNet) -> Option<&[IpAddr]> {
        self.vrfs.get(&vni)?.gateways.get(prefix)
    }

    /// Sets VRF `vni`'s route to `prefix`: its VTEPs and its gateways (an empty list removes
    /// that kind of next hop, both empty remove the route).
    pub fn set_vrf(&mut self, vni: u32, prefix: IpNet, vteps: Vec<IpAddr>, gateways: Vec<IpAddr>) {
        let vrf = self.vrfs.entry(vni).or_default();
        vrf.vteps.set(prefix, (!vteps.is_empty()).then_some(vteps));
        vrf.gateways
            .set(prefix, (!gateways.is_empty()).then_some(gateways));
        if vrf.vteps.is_empty() && vrf.gateways.is_empty() {
            self.vrfs.remove(&vni);
        }
    }

    /// Drops VRF `vni` with all its routes.
    pub fn remove_vrf(&mut self, vni: u32) {
        self.vrfs.remove(&vni);
    }

    /// Routes of VRF `vni` (both kinds).
    pub fn vrf_len(&self, vni: u32) -> usize {
        self.vrfs
            .get(&vni)
            .map_or(0, |v| v.vteps.len() + v.gateways.len())
    }

    /// `head` (a VRF entry of the task's [`ForwardingState`]) with VRF `vni`'s routes, in the
    /// datapath's form (for the whole-state hand-over and `show`).
    pub fn vrf_state(&self, vni: u32, head: &VrfRoutes) -> VrfRoutes {
        let v = self.vrfs.get(&vni);
        VrfRoutes {
            table: head.table,
            router_macs: head.router_macs.clone(),
            routes: v.map(|v| v.vteps.to_map()).unwrap_or_default(),
            gateway_routes: v.map(|v| v.gateways.to_map()).unwrap_or_default(),
        }
    }

    /// `fwd` with these routes as its default table and its VRFs' routes (for the whole-state
    /// hand-over).
    pub fn full_state(&self, fwd: &ForwardingState) -> ForwardingState {
        ForwardingState {
            default_routes: self.default.to_map(),
            vrf_routes: fwd
                .vrf_routes
                .iter()
                .map(|(vni, head)| (*vni, self.vrf_state(*vni, head)))
                .collect(),
            ..fwd.clone()
        }
    }
}

/// Halves a table's capacity once it is at most a quarter full (amortized: a shrink follows at
/// least as many removals as it keeps entries).
fn shrink<K: std::hash::Hash + Eq, V>(m: &mut HashMap<K, V>) {
    if m.capacity() > 1024 && m.len() * 4 <= m.capacity() {
        m.shrink_to(m.len() * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn gws(s: &BTreeSet<IpAddr>) -> Option<Vec<IpAddr>> {
        Some(s.iter().copied().collect())
    }

    #[test]
    fn routes_share_gateway_sets_and_sets_go_with_their_last_route() {
        let mut d = DefaultRoutes::default();
        let a: BTreeSet<IpAddr> = [ip("192.168.11.2")].into();
        let ecmp: BTreeSet<IpAddr> = [ip("192.168.11.5"), ip("192.168.11.2")].into();
        for i in 0..100u32 {
            let p = IpNet::V4(Ipv4Net::new((0x1000_0000 + (i << 8)).into(), 24).unwrap());
            d.set(p, gws(&a));
        }
        let v6: IpNet = "2001:db8::/64".parse().unwrap();
        d.set(
            v6,
            Some(vec![
                ip("192.168.11.5"),
                ip("192.168.11.2"),
                ip("192.168.11.5"),
            ]),
        );
        assert_eq!(d.len(), 101);
        assert_eq!(d.sets.index.len(), 2, "100 routes, one set");
        assert_eq!(
            d.get(&"16.0.1.0/24".parse().unwrap()),
            Some(&[ip("192.168.11.2")][..])
        );
        assert_eq!(
            d.get(&v6),
            Some(&[ip("192.168.11.2"), ip("192.168.11.5")][..])
        );
        // Replacing moves the route to the other set; removing drops it.
        d.set("16.0.1.0/24".parse().unwrap(), gws(&ecmp));
        assert_eq!(
            d.get_set(&"16.0.1.0/24".parse().unwrap()),
            Some(ecmp.clone())
        );
        d.set(v6, None);
        assert_eq!(d.get(&v6), None);
        for i in 0..100u32 {
            let p = IpNet::V4(Ipv4Net::new((0x1000_0000 + (i << 8)).into(), 24).unwrap());
            d.set(p, None);
        }
        assert!(d.is_empty());
        assert!(d.sets.index.is_empty(), "no set outlives its routes");
        // Freed slots are reused.
        d.set(v6, gws(&a));
        assert_eq!(d.sets.slots.len(), 2);
        assert_eq!(d.to_map(), [(v6, a)].into());
    }

    #[test]
    fn a_mass_withdrawal_gives_the_table_back() {
        let mut d = DefaultRoutes::default();
        let a: BTreeSet<IpAddr> = [ip("192.168.11.2")].into();
        let nets: Vec<IpNet> = (0..100_000u32)
            .map(|i| IpNet::V4(Ipv4Net::new((0x1000_0000 + (i << 8)).into(), 24).unwrap()))
            .collect();
        for p in &nets {
            d.set(*p, gws(&a));
        }
        let full = d.v4.capacity();
        for p in &nets[..99_990] {
            d.set(*p, None);
        }
        assert_eq!(d.len(), 10);
        assert!(d.v4.capacity() < full / 16, "{} of {full}", d.v4.capacity());
        assert_eq!(d.iter().count(), 10);
    }
}
