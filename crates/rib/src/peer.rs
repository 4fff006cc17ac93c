//! Peers as the RIB sees them: who they are, which tables they exchange routes with, and the
//! facts best-path selection and export need.

use std::net::{IpAddr, Ipv4Addr};

use crate::vrf::VrfId;

/// A peer handle, assigned by the RIB when the session comes up ([`crate::Rib::handle_peer_up`])
/// and valid until it goes down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub u32);

/// An address family the RIB exchanges with peers (AFI/SAFI, RFC 4760).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4 unicast (AFI 1, SAFI 1).
    Ipv4Unicast,
    /// IPv6 unicast (AFI 2, SAFI 1).
    Ipv6Unicast,
    /// L2VPN EVPN (AFI 25, SAFI 70; RFC 7432).
    L2vpnEvpn,
}

/// What a peer is to this node, which decides the tables it talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerRole {
    /// A fabric neighbour (ToR) in the default instance: underlay IPv4/IPv6 unicast and EVPN.
    Fabric,
    /// The host session of a VRF, over its veth: that VRF's IPv4/IPv6 unicast routes, which the
    /// RIB translates to and from EVPN type-5.
    Host(VrfId),
    /// The passthrough host session: default-table IPv4/IPv6 unicast, no EVPN.
    Passthrough,
}

/// A peer as negotiated when its session came up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    /// Role (decides the tables).
    pub role: PeerRole,
    /// Our AS number on this session.
    pub local_asn: u32,
    /// The peer's AS number.
    pub remote_asn: u32,
    /// The peer's address (tie-breaker, RFC 4271 §9.1.2.2 g).
    pub remote_address: IpAddr,
    /// Our address on this session: the next hop we advertise for unicast routes
    /// (next-hop-self; for host sessions, the router-side veth address).
    pub local_address: IpAddr,
    /// The peer's BGP identifier from its OPEN (RFC 4271 §9.1.2.2 f).
    pub remote_router_id: Ipv4Addr,
    /// Families negotiated (RFC 4760 multiprotocol capability).
    pub families: Vec<Family>,
    /// This iBGP peer is a route-reflector client (RFC 4456).
    pub route_reflector_client: bool,
    /// How many times our own AS may appear in a received AS_PATH (`allowas-in`): upstream
    /// uses it on fabric sessions because all nodes share one ASN. 0 = strict loop detection.
    pub allowas_in: u8,
}

impl PeerConfig {
    /// Whether the session is external BGP.
    pub fn is_ebgp(&self) -> bool {
        self.local_asn != self.remote_asn
    }

    /// Whether `family` was negotiated.
    pub fn has(&self, family: Family) -> bool {
        self.families.contains(&family)
    }
}
