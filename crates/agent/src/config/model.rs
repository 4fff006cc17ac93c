//! The validated configuration: what survives [`super::validate`], in types that cannot hold an
//! invalid value (a VNI is a `u32` in range, a CIDR is an `IpNet`, a peer AS is a number or a kind).

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use perouter_evpn::RouteTarget;
use serde::Serialize;

/// How a BGP peer's AS is given: a number, or "whatever it says, as long as it is (not) ours".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerAs {
    /// Exactly this AS.
    Number(u32),
    /// Any AS but ours (eBGP).
    External,
    /// Our AS (iBGP).
    Internal,
}

/// How a neighbour is found.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NeighborTarget {
    /// A numbered session to this address.
    Address(IpAddr),
    /// An unnumbered session over this interface's IPv6 link-local address (RFC 8950).
    Interface(String),
    /// Dynamic neighbours: sessions accepted from any address in this range.
    ListenRange(IpNet),
}

/// A BGP address family as OpenPERouter names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AddressFamily {
    /// `ipv4unicast`.
    Ipv4Unicast,
    /// `ipv6unicast`.
    Ipv6Unicast,
    /// `evpn` (L2VPN EVPN, RFC 7432).
    Evpn,
    /// `ipv4vpn` (RFC 4364; SRv6, later scope).
    Ipv4Vpn,
    /// `ipv6vpn` (RFC 4659; SRv6, later scope).
    Ipv6Vpn,
}

impl AddressFamily {
    /// Parses OpenPERouter's spelling.
    pub fn from_api(s: &str) -> Option<Self> {
        Some(match s {
            "ipv4unicast" => AddressFamily::Ipv4Unicast,
            "ipv6unicast" => AddressFamily::Ipv6Unicast,
            "evpn" => AddressFamily::Evpn,
            "ipv4vpn" => AddressFamily::Ipv4Vpn,
            "ipv6vpn" => AddressFamily::Ipv6Vpn,
            _ => return None,
        })
    }
}

/// Hold and keepalive times (RFC 4271 §4.2, §10), already checked: hold 0 or ≥ 3, keepalive ≤ hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Timers {
    /// Hold time in seconds.
    pub hold: u16,
    /// Keepalive interval in seconds.
    pub keepalive: u16,
}

/// BFD settings, ranges checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Bfd {
    /// Required min RX interval, ms.
    pub receive_interval_ms: Option<u16>,
    /// Desired min TX interval, ms.
    pub transmit_interval_ms: Option<u16>,
    /// Detection multiplier.
    pub detect_multiplier: Option<u8>,
    /// Wait for the peer to start.
    pub passive: bool,
    /// Minimum TTL (multihop).
    pub minimum_ttl: Option<u8>,
}

/// A validated fabric neighbour. `Debug` redacts the password (see
/// [`super::types::Neighbor`]).
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
pub struct NeighborIntent {
    /// Where it is.
    pub target: NeighborTarget,
    /// Its AS.
    pub remote_as: PeerAs,
    /// TCP port to dial (None = 179).
    pub port: Option<u16>,
    /// TCP-MD5 password.
    #[serde(skip_serializing)]
    pub password: Option<String>,
    /// Secret holding the password (Kubernetes mode).
    pub password_secret: Option<String>,
    /// Timers, when configured.
    pub timers: Option<Timers>,
    /// Connect-retry interval, s.
    pub connect_time: Option<u16>,
    /// eBGP multihop TTL, when the property is set (255 when no TTL given).
    pub ebgp_multihop_ttl: Option<u8>,
    /// BFD, when configured.
    pub bfd: Option<Bfd>,
    /// Explicit families (empty = defaults derived in the plan), with route-reflector-client.
    pub families: Vec<(AddressFamily, bool)>,
}

impl std::fmt::Debug for NeighborIntent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NeighborIntent")
            .field("target", &self.target)
            .field("remote_as", &self.remote_as)
            .field("port", &self.port)
            .field("password", &super::types::redacted(&self.password))
            .field("password_secret", &self.password_secret)
            .field("timers", &self.timers)
            .field("connect_time", &self.connect_time)
            .field("ebgp_multihop_ttl", &self.ebgp_multihop_ttl)
            .field("bfd", &self.bfd)
            .field("families", &self.families)
            .finish()
    }
}

/// How the underlay reaches the fabric.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UnderlayNic {
    /// An existing NIC, moved into the router namespace.
    NetworkDevice(String),
    /// A device created in the router namespace by running CNI plugins (runtime::cni).
    CniDevice(CniNic),
}

/// A validated CNI underlay device: what the plugins are run with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct CniNic {
    /// The interface name in the router namespace (`CNI_IFNAME`).
    pub name: String,
    /// The network configuration list (`rawConfig`), validated and serialized as canonical
    /// JSON (sorted keys), so that equal configurations compare equal.
    pub config: String,
    /// The runtime configuration (`runtimeConfig`) as canonical JSON, `{}` when unset; every
    /// key is a capability some plugin of the list declares.
    pub runtime_config: String,
}

/// A validated underlay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnderlayIntent {
    /// The resource's name.
    pub name: String,
    /// Our AS.
    pub asn: u32,
    /// Router-ID pool.
    pub router_id_cidr: Ipv4Net,
    /// Fabric neighbours.
    pub neighbors: Vec<NeighborIntent>,
    /// Underlay NICs.
    pub nics: Vec<UnderlayNic>,
    /// IPv4 VTEP pool.
    pub tunnel_v4: Option<Ipv4Net>,
    /// IPv6 VTEP pool.
    pub tunnel_v6: Option<Ipv6Net>,
    /// GR restart time, s.
    pub restart_time: u16,
    /// GR stale path time, s.
    pub stale_path_time: u16,
    /// Route-reflector cluster ID, when route reflection is configured.
    pub cluster_id: Option<Ipv4Addr>,
}

/// Which VTEP family a VNI's VXLAN device uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum VtepFamily {
    /// IPv4 VTEP.
    IPv4,
    /// IPv6 VTEP.
    IPv6,
}

/// A validated host session.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct HostSessionIntent {
    /// Our AS on the session.
    pub local_as: u32,
    /// The host's AS.
    pub host_as: PeerAs,
    /// IPv4 veth pool.
    pub v4: Option<Ipv4Net>,
    /// IPv6 veth pool.
    pub v6: Option<Ipv6Net>,
}

/// A validated L3VNI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct L3VniIntent {
    /// Resource name.
    pub name: String,
    /// VRF name.
    pub vrf: String,
    /// The VNI.
    pub vni: u32,
    /// VXLAN UDP port.
    pub vxlan_port: u16,
    /// Requested VTEP family (None = IPv4 if the underlay has it, else IPv6).
    pub vtep_family: Option<VtepFamily>,
    /// Host session.
    pub host_session: Option<HostSessionIntent>,
    /// Explicit export RTs (empty = auto).
    pub export_rts: Vec<RouteTarget>,
    /// Explicit import RTs (empty = auto).
    pub import_rts: Vec<RouteTarget>,
}

/// Where an L2VNI's host leg goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostLeg {
    /// Left bare, for someone else to attach.
    Bare,
    /// A Linux bridge `br-hs-<vni>` that perouter creates and deletes.
    ManagedLinuxBridge,
    /// An existing Linux bridge.
    ExistingLinuxBridge(String),
    /// An OVS bridge `br-hs-<vni>` that perouter creates and deletes (over OVSDB).
    ManagedOvsBridge,
    /// An existing OVS bridge: perouter adds the host veth as a port.
    ExistingOvsBridge(String),
}

/// A validated L2VNI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct L2VniIntent {
    /// Resource name.
    pub name: String,
    /// The VNI.
    pub vni: u32,
    /// VXLAN UDP port.
    pub vxlan_port: u16,
    /// Requested VTEP family.
    pub vtep_family: Option<VtepFamily>,
    /// The L3VNI (by resource name) providing the routing domain.
    pub routing_domain: Option<String>,
    /// Host leg attachment.
    pub host_leg: HostLeg,
    /// IPv4 anycast gateway.
    pub gateway_v4: Option<Ipv4Net>,
    /// IPv6 anycast gateway.
    pub gateway_v6: Option<Ipv6Net>,
}

/// A validated passthrough.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PassthroughIntent {
    /// Resource name.
    pub name: String,
    /// Host session.
    pub host_session: HostSessionIntent,
}

/// Everything valid that applies to this node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeIntent {
    /// The underlay (None when missing or invalid).
    pub underlay: Option<UnderlayIntent>,
    /// L3VNIs, sorted by name.
    pub l3vnis: Vec<L3VniIntent>,
    /// L2VNIs, sorted by name.
    pub l2vnis: Vec<L2VniIntent>,
    /// The passthrough.
    pub passthrough: Option<PassthroughIntent>,
}
