//! The routing task's copy of the wanted routes (default table and VRFs), kept compact
//! (issue 16), in the datapath's own compact table ([`RouteIndex`]).
//!
//! The datapath's [`ForwardingState`] holds `BTreeMap<IpNet, BTreeSet<IpAddr>>`: one B-tree
//! node (about 200 bytes) per route for its one gateway, plus the map's share. The routing task
//! keeps the same routes for patches, the first hand-over and `show`, so with a million routes
//! that copy alone was about 270 bytes per route. Here a route is a prefix and a 4-byte handle
//! to an interned gateway set (a million routes through one gateway share one set): about 12
//! bytes per IPv4 route in a hash table. The datapath's types are built only for what is handed
//! over (a patch's touched keys, or the whole state once).

use std::net::IpAddr;

use hashbrown::HashMap;
use ipnet::IpNet;
use perouter_fib::desired::{ForwardingState, VrfRoutes};
use perouter_fib::index::RouteIndex;

/// The routing task's compact copy of every route it hands the datapath: the default table,
/// and per VRF (keyed by its L3VNI) its type-5 routes by VTEP and its host-session routes by
/// gateway. The VRF heads (table, router MACs) stay in the task's [`ForwardingState`], whose
/// own route maps are kept empty: a VRF route is a handle to a shared set here, not a B-tree
/// node of its own (the PE job's routes live in a VRF, issue 16).
#[derive(Debug, Default)]
pub struct CompactRoutes {
    /// The default (main) table.
    pub default: RouteIndex,
    vrfs: HashMap<u32, VrfCompact>,
}

/// One VRF's routes: by VTEP (VXLAN next hops) and by gateway (host-session next hops).
#[derive(Debug, Default)]
struct VrfCompact {
    vteps: RouteIndex,
    gateways: RouteIndex,
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
        vrf.vteps
            .set(prefix, (!vteps.is_empty()).then_some(vteps.as_slice()));
        vrf.gateways.set(
            prefix,
            (!gateways.is_empty()).then_some(gateways.as_slice()),
        );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn vrf_routes_share_next_hop_sets_and_go_with_their_vrf() {
        let mut c = CompactRoutes::default();
        let vtep = ip("100.64.0.1");
        let host = ip("192.169.10.2");
        for i in 0..100u32 {
            let p = IpNet::V4(ipnet::Ipv4Net::new((0x1000_0000 + (i << 8)).into(), 24).unwrap());
            c.set_vrf(100, p, vec![vtep], vec![]);
        }
        let both: IpNet = "10.250.0.1/32".parse().unwrap();
        c.set_vrf(100, both, vec![vtep], vec![host]);
        assert_eq!(c.vrf_len(100), 102, "101 routes by VTEP, one by gateway");
        assert_eq!(c.vrf_vteps(100, &both), Some(&[vtep][..]));
        assert_eq!(c.vrf_gateways(100, &both), Some(&[host][..]));
        // Dropping one kind keeps the other; dropping both drops the route.
        c.set_vrf(100, both, vec![], vec![host]);
        assert_eq!(c.vrf_vteps(100, &both), None);
        let head = VrfRoutes {
            table: 1100,
            ..Default::default()
        };
        let vr = c.vrf_state(100, &head);
        assert_eq!(
            (vr.table, vr.routes.len(), vr.gateway_routes.len()),
            (1100, 100, 1)
        );
        c.set_vrf(100, both, vec![], vec![]);
        assert_eq!(c.vrf_len(100), 100);
        // The datapath's whole state: the heads of `fwd` with the routes filled in.
        let mut fwd = ForwardingState::default();
        fwd.vrf_routes.insert(100, head.clone());
        assert_eq!(c.full_state(&fwd).vrf_routes[&100].routes.len(), 100);
        c.remove_vrf(100);
        assert_eq!(c.vrf_len(100), 0);
        assert!(c.vrf_state(100, &head).routes.is_empty());
    }
}
