//! The wanted state of a node's datapath, as plain values.
//!
//! [`NodeDatapath`] describes the devices (what upstream OpenPERouter's `internal/hostnetwork`
//! builds, with the same names) and [`ForwardingState`] the routes, FDB and neighbour entries the
//! RIB wants installed. Both are values the agent builds from configuration and RIB deltas; the
//! diff compares them with what the kernel reports.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use perouter_evpn::MacAddress;

/// The name of the router network namespace upstream uses (`/var/run/netns/perouter`).
pub const DEFAULT_ROUTER_NETNS: &str = "perouter";
/// Link group upstream sets on an underlay NIC moved into the router namespace; links in the
/// router namespace with this group and no longer wanted are moved back to the host.
pub const UNDERLAY_LINK_GROUP: u32 = 4242;
/// The default VXLAN UDP port (RFC 7348 §5).
pub const VXLAN_PORT: u16 = 4789;
/// Bytes VXLAN adds over IPv4 (outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8).
pub const VXLAN_OVERHEAD: u32 = 50;
/// The largest VNI: the VXLAN header carries 24 bits (RFC 7348 §5).
pub const MAX_VNI: u32 = 0x00ff_ffff;
/// Kernel routes this crate installs carry this protocol (`RTPROT_BGP`, shown as `proto bgp`),
/// which is how cleanup recognises them and leaves every other route alone.
pub const ROUTE_PROTOCOL: u8 = 186;
/// Metric (`RTA_PRIORITY`) of every route this crate installs: zebra's for BGP routes. The
/// kernel's `NLM_F_REPLACE` replaces the route with the same prefix *and metric*, so a metric of
/// our own keeps a learned route from replacing a connected one (metric 0 for IPv4, 256 for
/// IPv6) when the fabric announces the subnet of a link the router namespace is on.
pub const ROUTE_METRIC: u32 = 20;
/// The kernel's main routing table (`RT_TABLE_MAIN`), where default-table routes go.
pub const MAIN_TABLE: u32 = 254;

/// Device names, exactly as upstream derives them (upstream reference §2).
pub mod names {
    /// Bridge of a VNI in the router namespace.
    pub fn bridge(vni: u32) -> String {
        format!("{}{vni}", BRIDGE_PREFIX)
    }
    /// VXLAN device of a VNI in the router namespace.
    pub fn vxlan(vni: u32) -> String {
        format!("{}{vni}", VXLAN_PREFIX)
    }
    /// Host-side leg of a VNI's veth, in the host namespace.
    pub fn host_veth(vni: u32) -> String {
        format!("{}{vni}", HOST_VETH_PREFIX)
    }
    /// Router-side leg of a VNI's veth, in the router namespace.
    pub fn router_veth(vni: u32) -> String {
        format!("{}{vni}", ROUTER_VETH_PREFIX)
    }
    /// Managed host bridge of an L2VNI, in the host namespace.
    pub fn host_bridge(vni: u32) -> String {
        format!("{}{vni}", HOST_BRIDGE_PREFIX)
    }
    /// Prefix of [`bridge`] names.
    pub const BRIDGE_PREFIX: &str = "br-pe-";
    /// Prefix of [`vxlan`] names.
    pub const VXLAN_PREFIX: &str = "vni";
    /// Prefix of [`host_veth`] names.
    pub const HOST_VETH_PREFIX: &str = "host-e-";
    /// Prefix of [`router_veth`] names.
    pub const ROUTER_VETH_PREFIX: &str = "pe-e-";
    /// Prefix of [`host_bridge`] names.
    pub const HOST_BRIDGE_PREFIX: &str = "br-hs-";
    /// Passthrough veth, host side.
    pub const PASSTHROUGH_HOST: &str = "pt-host";
    /// Passthrough veth, router side.
    pub const PASSTHROUGH_ROUTER: &str = "pt-ns";

    /// The VNI a name of ours carries after `prefix`, if it is `prefix` followed by a decimal.
    pub fn vni_of(name: &str, prefix: &str) -> Option<u32> {
        let rest = name.strip_prefix(prefix)?;
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        rest.parse().ok()
    }
}

/// Addresses on the two legs of a veth (host side, router side), with their prefix lengths.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VethAddresses {
    /// Addresses on the host-side leg (`host-e-<vni>`, `pt-host`).
    pub host: Vec<IpNet>,
    /// Addresses on the router-side leg (`pe-e-<vni>`, `pt-ns`).
    pub router: Vec<IpNet>,
}

/// One L3VNI: a tenant VRF stretched over VXLAN with symmetric IRB (RFC 9135 §4.4.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct L3Vni {
    /// VRF device name (upstream `spec.vrf`, 1–15 chars).
    pub vrf: String,
    /// Kernel routing table of the VRF; keep it stable across restarts (see [`assign_table_ids`]).
    pub table: u32,
    /// The VXLAN network identifier.
    pub vni: u32,
    /// VXLAN UDP destination port.
    pub vxlan_port: u16,
    /// Local VTEP address (the VXLAN source).
    pub local_vtep: IpAddr,
    /// Addresses of the `host-e-<vni>` / `pe-e-<vni>` veth.
    pub addresses: VethAddresses,
    /// MTU of both veth legs (upstream: smallest underlay MTU − 50, unless that is ≤ 1280).
    pub mtu: Option<u32>,
    /// The router MAC `br-pe-<vni>` gets, advertised in type-5 routes (RFC 9135 §8.1). Give
    /// every L3VNI of a node the same one: one router MAC per VTEP (landscape pitfall 5).
    /// `None` keeps the MAC the kernel gave the bridge (see
    /// [`crate::observed::ObservedNode::l3vni_router_macs`] to learn it).
    #[serde(default)]
    pub router_mac: Option<MacAddress>,
}

/// Where the host-side leg of an L2VNI veth is attached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostLeg {
    /// Enslaved to a bridge `br-hs-<vni>` that the datapath creates and removes.
    ManagedBridge,
    /// Enslaved to an existing Linux bridge of that name, which the datapath never touches.
    ExistingBridge(String),
    /// Left unattached.
    Bare,
}

/// One L2VNI: a stretched layer-2 segment, optionally routed in an L3VNI's VRF.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct L2Vni {
    /// The VXLAN network identifier.
    pub vni: u32,
    /// VXLAN UDP destination port.
    pub vxlan_port: u16,
    /// Local VTEP address.
    pub local_vtep: IpAddr,
    /// VRF the bridge joins (upstream `routingDomain`); `None` = a disconnected L2 overlay.
    pub vrf: Option<String>,
    /// Anycast gateway addresses put on `br-pe-<vni>`; only with a VRF. When present the bridge
    /// gets the fixed MAC [`l2vni_gateway_mac`].
    pub gateway_ips: Vec<IpNet>,
    /// Where the host leg goes.
    pub host_leg: HostLeg,
    /// MTU of both veth legs.
    pub mtu: Option<u32>,
}

/// The passthrough veth `pt-host` / `pt-ns` (upstream L3Passthrough): default-table routing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passthrough {
    /// Addresses on each leg.
    pub addresses: VethAddresses,
    /// MTU of both legs.
    pub mtu: Option<u32>,
}

/// Everything the node's datapath should consist of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeDatapath {
    /// Router namespace name (`perouter`).
    pub router_netns: String,
    /// Underlay NICs to move into the router namespace, with their addresses.
    pub underlay_nics: Vec<String>,
    /// VTEP addresses (/32, /128) put on `lo` in the router namespace.
    pub vteps: Vec<IpNet>,
    /// L3VNIs.
    pub l3vnis: Vec<L3Vni>,
    /// L2VNIs.
    pub l2vnis: Vec<L2Vni>,
    /// The passthrough veth, if configured.
    pub passthrough: Option<Passthrough>,
}

impl NodeDatapath {
    /// An empty node: the router namespace and nothing else.
    pub fn new(router_netns: impl Into<String>) -> Self {
        NodeDatapath {
            router_netns: router_netns.into(),
            underlay_nics: Vec::new(),
            vteps: Vec::new(),
            l3vnis: Vec::new(),
            l2vnis: Vec::new(),
            passthrough: None,
        }
    }

    /// Checks what the kernel would reject or what would make the plan ambiguous: name lengths,
    /// VNI range and uniqueness, VRF and table uniqueness, reserved tables, dangling VRF references.
    pub fn validate(&self) -> Result<(), DesiredError> {
        let mut vnis = BTreeSet::new();
        let mut vrfs = BTreeMap::new();
        let mut tables = BTreeSet::new();
        check_name(&self.router_netns, 255)?;
        for nic in &self.underlay_nics {
            check_name(nic, 15)?;
        }
        for v in &self.l3vnis {
            check_vni(v.vni, &mut vnis)?;
            check_name(&v.vrf, 15)?;
            if is_our_name(&v.vrf) || v.vrf == "lo" {
                return Err(DesiredError::ReservedVrfName(v.vrf.clone()));
            }
            if v.table == 0 || (253..=255).contains(&v.table) {
                return Err(DesiredError::ReservedTable(v.table));
            }
            if !tables.insert(v.table) {
                return Err(DesiredError::DuplicateTable(v.table));
            }
            if vrfs.insert(v.vrf.clone(), v.vni).is_some() {
                return Err(DesiredError::DuplicateVrf(v.vrf.clone()));
            }
        }
        for v in &self.l2vnis {
            check_vni(v.vni, &mut vnis)?;
            if let Some(vrf) = &v.vrf {
                if !vrfs.contains_key(vrf) {
                    return Err(DesiredError::UnknownVrf {
                        vni: v.vni,
                        vrf: vrf.clone(),
                    });
                }
            } else if !v.gateway_ips.is_empty() {
                return Err(DesiredError::GatewayWithoutVrf(v.vni));
            }
            if let HostLeg::ExistingBridge(b) = &v.host_leg {
                check_name(b, 15)?;
            }
        }
        Ok(())
    }

    /// The L3VNI whose VRF is `vrf`.
    pub fn l3vni_by_vrf(&self, vrf: &str) -> Option<&L3Vni> {
        self.l3vnis.iter().find(|v| v.vrf == vrf)
    }
}

fn is_our_name(n: &str) -> bool {
    [
        names::BRIDGE_PREFIX,
        names::VXLAN_PREFIX,
        names::HOST_VETH_PREFIX,
        names::ROUTER_VETH_PREFIX,
        names::HOST_BRIDGE_PREFIX,
        "pt-",
    ]
    .iter()
    .any(|p| n.starts_with(p))
}

fn check_vni(vni: u32, seen: &mut BTreeSet<u32>) -> Result<(), DesiredError> {
    if vni == 0 || vni > MAX_VNI {
        return Err(DesiredError::VniOutOfRange(vni));
    }
    if !seen.insert(vni) {
        return Err(DesiredError::DuplicateVni(vni));
    }
    Ok(())
}

fn check_name(n: &str, max: usize) -> Result<(), DesiredError> {
    let ok = !n.is_empty()
        && n.len() <= max
        && n != "."
        && n != ".."
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(DesiredError::BadName(n.to_string()))
    }
}

/// Why a [`NodeDatapath`] or [`ForwardingState`] cannot be programmed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DesiredError {
    /// A device or namespace name the kernel would refuse (IFNAMSIZ is 16 with the NUL).
    #[error("invalid name {0:?}: 1-15 characters of [A-Za-z0-9._-]")]
    BadName(String),
    /// VNI 0 or wider than 24 bits.
    #[error("VNI {0} is outside 1..=16777215")]
    VniOutOfRange(u32),
    /// Two VNIs with the same number.
    #[error("VNI {0} is configured twice")]
    DuplicateVni(u32),
    /// Two L3VNIs with one VRF.
    #[error("VRF {0:?} is configured twice")]
    DuplicateVrf(String),
    /// A VRF named like one of the devices this crate manages.
    #[error("VRF name {0:?} collides with a datapath device name")]
    ReservedVrfName(String),
    /// Two VRFs with one table.
    #[error("routing table {0} is assigned to two VRFs")]
    DuplicateTable(u32),
    /// Table 0 or one of the kernel's own (253 default, 254 main, 255 local).
    #[error("routing table {0} is reserved by the kernel")]
    ReservedTable(u32),
    /// An L2VNI routed in a VRF no L3VNI defines.
    #[error("L2VNI {vni} references VRF {vrf:?}, which no L3VNI defines")]
    UnknownVrf {
        /// The L2VNI.
        vni: u32,
        /// The missing VRF.
        vrf: String,
    },
    /// Gateway IPs on an L2VNI without a routing domain (upstream rejects this too).
    #[error("L2VNI {0} has gateway IPs but no VRF")]
    GatewayWithoutVrf(u32),
    /// A type-5 route through a VTEP whose router MAC is not known.
    #[error("route {prefix} in L3VNI {vni} uses VTEP {vtep}, which has no router MAC")]
    VtepWithoutRouterMac {
        /// The L3VNI.
        vni: u32,
        /// The route.
        prefix: IpNet,
        /// The VTEP.
        vtep: IpAddr,
    },
    /// A route with no next hop.
    #[error("route {prefix} in L3VNI {vni} (0: the main table) has no next hop")]
    NoNextHop {
        /// The L3VNI; 0 for a default-table route.
        vni: u32,
        /// The route.
        prefix: IpNet,
    },
}

/// The fixed gateway MAC upstream gives an L2VNI bridge with gateway IPs, identical on every
/// node so that hosts keep their ARP entry when they move between nodes: `00:f3` followed by the
/// big-endian `vni + 1`.
pub fn l2vni_gateway_mac(vni: u32) -> MacAddress {
    let v = vni.wrapping_add(1).to_be_bytes();
    MacAddress([0x00, 0xf3, v[0], v[1], v[2], v[3]])
}

/// Keeps the table of every VRF that already exists (so a restart never renumbers a table), and
/// gives each new VRF the lowest id from 1 not in use and not reserved, as upstream does.
///
/// `existing` is what the kernel reports (VRF name → table), e.g.
/// [`crate::observed::NamespaceState::vrf_tables`].
pub fn assign_table_ids<'a>(
    vrfs: impl IntoIterator<Item = &'a str>,
    existing: &BTreeMap<String, u32>,
) -> BTreeMap<String, u32> {
    let wanted: Vec<&str> = vrfs.into_iter().collect();
    let mut out = BTreeMap::new();
    let mut used: BTreeSet<u32> = BTreeSet::new();
    for v in &wanted {
        if let Some(t) = existing.get(*v) {
            if used.insert(*t) {
                out.insert(v.to_string(), *t);
            }
        }
    }
    let mut next = 1u32;
    for v in &wanted {
        if out.contains_key(*v) {
            continue;
        }
        while used.contains(&next) || (253..=255).contains(&next) {
            next += 1;
        }
        used.insert(next);
        out.insert(v.to_string(), next);
    }
    out
}

/// The type-5 routes of one L3VNI's VRF, in the zebra model of symmetric IRB: each route points
/// `via <VTEP> dev br-pe-<vni> onlink`, the VTEP resolves to the remote router MAC by a neighbour
/// entry on the bridge, and that MAC reaches the VTEP by an FDB entry on `vni<vni>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VrfRoutes {
    /// The VRF's table.
    pub table: u32,
    /// Router MAC of each remote VTEP (RFC 9135 §8.1, the Router's MAC extended community).
    /// One MAC per VTEP by construction (landscape pitfall 5).
    pub router_macs: BTreeMap<IpAddr, MacAddress>,
    /// Prefix → the VTEPs it is reachable through (more than one = ECMP).
    pub routes: BTreeMap<IpNet, BTreeSet<IpAddr>>,
    /// Prefix → plain gateways inside the VRF: routes learned from the L3VNI's host session
    /// (`10.250.0.1/32 via 192.169.10.2`, reached over `pe-e-<vni>`), which zebra installs in
    /// the VRF table too. The kernel resolves each gateway through the VRF's connected routes.
    /// A prefix in both maps gets the union of its next hops (ECMP).
    #[serde(default)]
    pub gateway_routes: BTreeMap<IpNet, BTreeSet<IpAddr>>,
}

/// Forwarding entries the RIB wants, keyed so that each can be diffed on its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForwardingState {
    /// Type-5 routes per L3VNI.
    pub vrf_routes: BTreeMap<u32, VrfRoutes>,
    /// Remote MACs from type-2 routes: (VNI, MAC) → VTEP. Installed `extern_learn` on
    /// `vni<vni>` (bridge and VXLAN rows in one message, landscape pitfall 10).
    pub remote_macs: BTreeMap<(u32, MacAddress), IpAddr>,
    /// BUM flood list from type-3 routes: (VNI, remote VTEP), appended as
    /// `00:00:00:00:00:00 dst <VTEP>` (RFC 8365 §7, head-end replication).
    pub flood: BTreeSet<(u32, IpAddr)>,
    /// Remote MAC+IP from type-2 routes: (VNI, IP) → MAC, installed as neighbour entries on
    /// `br-pe-<vni>` for ARP/ND suppression (RFC 7432 §10).
    pub remote_neighbours: BTreeMap<(u32, IpAddr), MacAddress>,
    /// Routes of the router namespace's main table ([`MAIN_TABLE`]): underlay routes learned
    /// from the fabric (remote VTEPs) and passthrough routes. Prefix → gateways (more than one =
    /// ECMP); the kernel resolves each gateway through its connected routes (no `onlink`).
    #[serde(default)]
    pub default_routes: BTreeMap<IpNet, BTreeSet<IpAddr>>,
    /// The device each IPv6 link-local gateway of `default_routes` is on: unnumbered
    /// neighbours' next hops (RFC 8950), which the kernel takes only with their device
    /// (`via inet6 fe80::… dev <if>`). A link-local gateway missing here is skipped.
    #[serde(default)]
    pub link_local_devices: BTreeMap<Ipv6Addr, String>,
}

impl ForwardingState {
    /// Checks that every route has a next hop, every type-5 next hop a router MAC, and that no
    /// VRF route set claims a table the kernel reserves.
    pub fn validate(&self) -> Result<(), DesiredError> {
        validate_default_routes(&self.default_routes)?;
        for (vni, vr) in &self.vrf_routes {
            if vr.table == 0 || (253..=255).contains(&vr.table) {
                return Err(DesiredError::ReservedTable(vr.table));
            }
            for (prefix, gateways) in &vr.gateway_routes {
                if gateways.is_empty() {
                    return Err(DesiredError::NoNextHop {
                        vni: *vni,
                        prefix: *prefix,
                    });
                }
            }
            for (prefix, vteps) in &vr.routes {
                if vteps.is_empty() {
                    return Err(DesiredError::NoNextHop {
                        vni: *vni,
                        prefix: *prefix,
                    });
                }
                for vtep in vteps {
                    if !vr.router_macs.contains_key(vtep) {
                        return Err(DesiredError::VtepWithoutRouterMac {
                            vni: *vni,
                            prefix: *prefix,
                            vtep: *vtep,
                        });
                    }
                }
            }
        }
        Ok(())
    }
}

/// Checks that every main-table route has a next hop.
pub fn validate_default_routes(
    routes: &BTreeMap<IpNet, BTreeSet<IpAddr>>,
) -> Result<(), DesiredError> {
    for (prefix, gateways) in routes {
        if gateways.is_empty() {
            return Err(DesiredError::NoNextHop {
                vni: 0,
                prefix: *prefix,
            });
        }
    }
    Ok(())
}

/// One sysctl the datapath wants, as a path below `/proc/sys` in the router namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Sysctl {
    /// Path below `/proc/sys`, e.g. `net/ipv4/conf/all/forwarding`.
    pub path: String,
    /// Value to write.
    pub value: String,
    /// Skip it when the kernel does not have it (e.g. `accept_untracked_na` before 5.18).
    pub optional: bool,
}

impl NodeDatapath {
    /// The sysctls of the router namespace: forwarding on, `arp_accept` and
    /// `accept_untracked_na` on (so a gratuitous ARP/NA creates a neighbour entry), and loose
    /// reverse-path filtering (2, RFC 3704 §2.4) on the underlay NICs and VRFs, where upstream's
    /// strict default drops asymmetric VXLAN return traffic. With L3VNIs, also
    /// `tcp_l3mdev_accept` on, so the one BGP listener of the namespace (bound to no device)
    /// accepts the host speakers' connections that arrive inside a VRF, as FRR's per-VRF
    /// listeners would (optional: absent on kernels without `CONFIG_NET_L3_MASTER_DEV`).
    /// Global ones first.
    pub fn sysctls(&self) -> Vec<Sysctl> {
        let s = |p: String, v: &str, optional| Sysctl {
            path: p,
            value: v.to_string(),
            optional,
        };
        let mut out = vec![
            s("net/ipv4/conf/all/forwarding".into(), "1", false),
            s("net/ipv6/conf/all/forwarding".into(), "1", false),
            s("net/ipv4/conf/all/arp_accept".into(), "1", false),
            s("net/ipv4/conf/default/arp_accept".into(), "1", false),
            s("net/ipv6/conf/all/accept_untracked_na".into(), "1", true),
            s(
                "net/ipv6/conf/default/accept_untracked_na".into(),
                "1",
                true,
            ),
        ];
        if !self.l3vnis.is_empty() {
            out.push(s("net/ipv4/tcp_l3mdev_accept".into(), "1", true));
        }
        for dev in self
            .underlay_nics
            .iter()
            .chain(self.l3vnis.iter().map(|v| &v.vrf))
        {
            out.push(s(format!("net/ipv4/conf/{dev}/rp_filter"), "2", false));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l3(vrf: &str, table: u32, vni: u32) -> L3Vni {
        L3Vni {
            vrf: vrf.into(),
            table,
            vni,
            vxlan_port: VXLAN_PORT,
            local_vtep: "100.65.0.0".parse().unwrap(),
            addresses: VethAddresses::default(),
            mtu: None,
            router_mac: None,
        }
    }

    #[test]
    fn gateway_mac_is_00_f3_and_vni_plus_one() {
        assert_eq!(l2vni_gateway_mac(110).to_string(), "00:f3:00:00:00:6f");
        assert_eq!(l2vni_gateway_mac(MAX_VNI).to_string(), "00:f3:01:00:00:00");
    }

    #[test]
    fn names_match_upstream() {
        assert_eq!(names::bridge(100), "br-pe-100");
        assert_eq!(names::vxlan(100), "vni100");
        assert_eq!(names::host_veth(100), "host-e-100");
        assert_eq!(names::router_veth(100), "pe-e-100");
        assert_eq!(names::host_bridge(110), "br-hs-110");
        assert_eq!(names::vni_of("vni100", "vni"), Some(100));
        assert_eq!(names::vni_of("vnix", "vni"), None);
        assert_eq!(names::vni_of("vni", "vni"), None);
        assert!(names::host_veth(MAX_VNI).len() <= 15);
    }

    #[test]
    fn validate_rejects_what_the_kernel_or_plan_cannot_take() {
        let mut n = NodeDatapath::new("perouter");
        n.l3vnis.push(l3("red", 1, 100));
        assert_eq!(n.validate(), Ok(()));
        n.l3vnis.push(l3("blue", 1, 200));
        assert_eq!(n.validate(), Err(DesiredError::DuplicateTable(1)));
        n.l3vnis[1].table = 254;
        assert_eq!(n.validate(), Err(DesiredError::ReservedTable(254)));
        n.l3vnis[1].table = 2;
        n.l3vnis[1].vni = 100;
        assert_eq!(n.validate(), Err(DesiredError::DuplicateVni(100)));
        n.l3vnis[1].vni = 1 << 24;
        assert_eq!(n.validate(), Err(DesiredError::VniOutOfRange(1 << 24)));
        n.l3vnis[1].vni = 200;
        n.l3vnis[1].vrf = "a-very-long-vrf-name".into();
        assert!(matches!(n.validate(), Err(DesiredError::BadName(_))));
        n.l3vnis[1].vrf = "vni7".into();
        assert!(matches!(
            n.validate(),
            Err(DesiredError::ReservedVrfName(_))
        ));
        n.l3vnis[1].vrf = "blue".into();
        n.l2vnis.push(L2Vni {
            vni: 300,
            vxlan_port: VXLAN_PORT,
            local_vtep: "100.65.0.0".parse().unwrap(),
            vrf: Some("green".into()),
            gateway_ips: vec![],
            host_leg: HostLeg::Bare,
            mtu: None,
        });
        assert!(matches!(
            n.validate(),
            Err(DesiredError::UnknownVrf { vni: 300, .. })
        ));
        n.l2vnis[0].vrf = None;
        n.l2vnis[0].gateway_ips = vec!["192.168.1.1/24".parse().unwrap()];
        assert_eq!(n.validate(), Err(DesiredError::GatewayWithoutVrf(300)));
    }

    #[test]
    fn table_ids_are_kept_and_new_ones_fill_gaps() {
        let existing: BTreeMap<String, u32> =
            [("blue".to_string(), 1u32), ("gone".to_string(), 2)].into();
        let t = assign_table_ids(["red", "blue", "green"], &existing);
        assert_eq!(t["blue"], 1);
        assert_eq!(t["red"], 2);
        assert_eq!(t["green"], 3);
        // Stable: a second run with the result as "existing" changes nothing.
        assert_eq!(assign_table_ids(["red", "blue", "green"], &t), t);
        // Reserved tables are skipped.
        let many: Vec<String> = (0..300).map(|i| format!("v{i}")).collect();
        let t = assign_table_ids(many.iter().map(|s| s.as_str()), &BTreeMap::new());
        assert!(t.values().all(|id| !(253..=255).contains(id) && *id != 0));
        assert_eq!(t.values().collect::<BTreeSet<_>>().len(), 300);
    }

    #[test]
    fn forwarding_validation() {
        let mut f = ForwardingState::default();
        let mut vr = VrfRoutes {
            table: 10,
            ..Default::default()
        };
        let vtep: IpAddr = "100.65.0.1".parse().unwrap();
        vr.routes
            .insert("10.0.0.0/24".parse().unwrap(), [vtep].into());
        f.vrf_routes.insert(100, vr);
        assert!(matches!(
            f.validate(),
            Err(DesiredError::VtepWithoutRouterMac { .. })
        ));
        f.vrf_routes
            .get_mut(&100)
            .unwrap()
            .router_macs
            .insert(vtep, MacAddress([2, 0, 0, 0, 0, 1]));
        assert_eq!(f.validate(), Ok(()));
    }

    #[test]
    fn sysctls_include_loose_rp_filter_on_underlay_and_vrfs() {
        let mut n = NodeDatapath::new("perouter");
        n.underlay_nics.push("eth1".into());
        n.l3vnis.push(l3("red", 1, 100));
        let s = n.sysctls();
        assert!(s
            .iter()
            .any(|x| x.path == "net/ipv4/conf/eth1/rp_filter" && x.value == "2"));
        assert!(s
            .iter()
            .any(|x| x.path == "net/ipv4/conf/red/rp_filter" && x.value == "2"));
        assert!(s
            .iter()
            .any(|x| x.path.ends_with("accept_untracked_na") && x.optional));
        assert!(s
            .iter()
            .any(|x| x.path == "net/ipv4/tcp_l3mdev_accept" && x.value == "1"));
        // Without a VRF the default listener needs nothing more.
        n.l3vnis.clear();
        assert!(!n.sysctls().iter().any(|x| x.path.contains("l3mdev")));
    }
}
