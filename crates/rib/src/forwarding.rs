//! Forwarding deltas: what the datapath (crate `fib`) must change in the kernel. The RIB
//! coalesces them per key, so a route that flapped ten times in a batch yields one delta with
//! its latest state.

use std::net::IpAddr;

use ipnet::IpNet;
use perouter_evpn::MacAddress;

use crate::vrf::VrfId;

/// The routing table a route delta applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FibTable {
    /// The default (underlay) table of the router namespace.
    Default,
    /// A VRF's table.
    Vrf(VrfId),
}

/// One next hop of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NextHop {
    /// A plain gateway (underlay, passthrough, or a host behind a VRF's veth).
    Gateway(IpAddr),
    /// Symmetric IRB over VXLAN (RFC 9135 §4.1): encapsulate towards `vtep` with the L3VNI
    /// `vni` and inner destination MAC `router_mac`.
    Vxlan {
        /// Remote VTEP address.
        vtep: IpAddr,
        /// L3VNI.
        vni: u32,
        /// The remote router's MAC.
        router_mac: MacAddress,
    },
}

/// What to do with one route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteOp {
    /// Install a route that is not installed, with these next hops (ECMP when several).
    Add(Vec<NextHop>),
    /// Replace the next hops of an installed route.
    Replace(Vec<NextHop>),
    /// Remove an installed route.
    Delete,
}

/// One datapath change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardingDelta {
    /// A route in a table.
    Route {
        /// Table.
        table: FibTable,
        /// Destination.
        prefix: IpNet,
        /// Operation.
        op: RouteOp,
    },
    /// A remote MAC in an L2VNI's bridge: FDB entry on the VXLAN device towards `vtep`
    /// (`None`: remove).
    Fdb {
        /// L2VNI.
        vni: u32,
        /// MAC.
        mac: MacAddress,
        /// Remote VTEP, or `None` to delete.
        vtep: Option<IpAddr>,
    },
    /// BUM flooding: add (`present`) or remove `vtep` from the L2VNI's head-end replication
    /// list (the all-zero-MAC FDB entries; landscape pitfall 10).
    Flood {
        /// L2VNI.
        vni: u32,
        /// Remote VTEP.
        vtep: IpAddr,
        /// Whether it is in the list.
        present: bool,
    },
    /// A remote IP-to-MAC binding (ARP/ND entry) in an L2VNI, from a type-2 MAC+IP route.
    Neighbor {
        /// L2VNI.
        vni: u32,
        /// IP.
        ip: IpAddr,
        /// MAC, or `None` to delete.
        mac: Option<MacAddress>,
    },
}
