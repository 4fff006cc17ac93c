//! Node derivation: from the validated configuration and this node's index to the concrete plan
//! — addresses, names, sessions, RDs and RTs — exactly as OpenPERouter derives them
//! (upstream `internal/ipam/ipam.go`, `internal/conversion/`). Pure functions of their inputs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net};
use perouter_evpn::{derive, MacAddress, RouteDistinguisher, RouteTarget, RouteTargetMatch};
use serde::Serialize;
use thiserror::Error;

use crate::config::model::*;

/// The router network namespace's default name.
pub const DEFAULT_ROUTER_NETNS: &str = "perouter";
/// VRF routing tables are numbered `TABLE_BASE + L3VNI`: stable for a VRF across restarts and
/// additions (upstream takes the first free id, which moves when VRFs come and go).
pub const TABLE_BASE: u32 = 1000;
/// Link group of underlay NICs moved into the router namespace (upstream's value).
pub const UNDERLAY_LINK_GROUP: u32 = 4242;
/// VXLAN overhead subtracted from the underlay MTU for the veths (RFC 7348 §4: 50 octets on IPv4).
pub const VXLAN_OVERHEAD: u32 = 50;

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlanError {
    /// The configuration has no valid underlay.
    #[error("no valid Underlay applies to this node")]
    NoUnderlay,
    /// A pool is too small for this node's index.
    #[error("{what}: {pool} has no host #{host} (node index {index})")]
    PoolExhausted {
        /// Which derived value.
        what: String,
        /// The pool.
        pool: IpNet,
        /// The host number asked for.
        host: u128,
        /// The node index.
        index: u32,
    },
    /// A VNI asks for a VTEP family the underlay has no pool for.
    #[error("{name}: underlayAddressFamily {family:?} has no tunnelEndpoint CIDR of that family")]
    NoVtep {
        /// The VNI resource.
        name: String,
        /// The family asked for.
        family: VtepFamily,
    },
    /// The node index could not be found from the node config.
    #[error("node index: {0}")]
    NodeIndex(String),
}

/// Host number `n` of `pool` (host 0 = the network address), like go-cidr's `Host`.
pub fn host(pool: IpNet, n: u128) -> Option<IpAddr> {
    match pool {
        IpNet::V4(p) => {
            let bits = 32 - u32::from(p.prefix_len());
            if bits < 128 && n >> bits != 0 {
                return None;
            }
            let base = u32::from(p.network());
            u32::try_from(n)
                .ok()
                .map(|n| IpAddr::V4(Ipv4Addr::from(base | n)))
        }
        IpNet::V6(p) => {
            let bits = 128 - u32::from(p.prefix_len());
            if bits < 128 && n >> bits != 0 {
                return None;
            }
            Some(IpAddr::V6(Ipv6Addr::from(u128::from(p.network()) | n)))
        }
    }
}

fn host_or_err(what: &str, pool: IpNet, n: u128, index: u32) -> Result<IpAddr, PlanError> {
    host(pool, n).ok_or(PlanError::PoolExhausted {
        what: what.to_string(),
        pool,
        host: n,
        index,
    })
}

/// The VTEP of node `index`: host #index of the pool (node 0 gets the network address).
pub fn vtep(pool: IpNet, index: u32) -> Result<IpAddr, PlanError> {
    host_or_err("VTEP", pool, index.into(), index)
}

/// The router ID of node `index`: host #(index+1) of `routerIDCIDR`.
pub fn router_id(pool: Ipv4Net, index: u32) -> Result<Ipv4Addr, PlanError> {
    match host_or_err("router ID", IpNet::V4(pool), u128::from(index) + 1, index)? {
        IpAddr::V4(a) => Ok(a),
        IpAddr::V6(_) => Err(PlanError::NodeIndex("router ID pool is not IPv4".into())),
    }
}

/// The two ends of a host veth, with the pool's prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VethAddresses {
    /// Router side (`pe-e-<vni>` / `pt-ns`): the same on every node.
    pub router: IpNet,
    /// Host side (`host-e-<vni>` / `pt-host`): one per node.
    pub host: IpNet,
}

/// Upstream's veth addressing: the router side is host #0 of the pool, or host #1 when #0's last
/// octet is 0; the host side follows it at #(index+1) or #(index+2) respectively.
pub fn veth_addresses(pool: IpNet, index: u32) -> Result<VethAddresses, PlanError> {
    let first = host_or_err("veth router side", pool, 0, index)?;
    let last_octet_zero = match first {
        IpAddr::V4(a) => a.octets()[3] == 0,
        IpAddr::V6(a) => a.octets()[15] == 0,
    };
    let (router_n, host_n) = if last_octet_zero {
        (1, u128::from(index) + 2)
    } else {
        (0, u128::from(index) + 1)
    };
    let router = host_or_err("veth router side", pool, router_n, index)?;
    let host = host_or_err("veth host side", pool, host_n, index)?;
    let with_len = |a: IpAddr| {
        IpNet::new(a, pool.prefix_len()).expect("prefix length comes from a valid pool")
    };
    Ok(VethAddresses {
        router: with_len(router),
        host: with_len(host),
    })
}

/// The veth MTU for a given underlay MTU: 50 less (VXLAN), or None (leave the kernel default)
/// when the underlay MTU is unknown or the result would be 1280 or less.
pub fn veth_mtu(underlay_mtu: Option<u32>) -> Option<u32> {
    underlay_mtu
        .and_then(|m| m.checked_sub(VXLAN_OVERHEAD))
        .filter(|m| *m > 1280)
}

/// The fixed anycast-gateway MAC of an L2VNI bridge with gateway IPs: `00:f3` followed by the
/// big-endian `vni + 1`, identical on every node.
pub fn l2_gateway_mac(vni: u32) -> MacAddress {
    // The datapath owns the rule (it programs the bridge); the plan shows the same value.
    perouter_fib::desired::l2vni_gateway_mac(vni)
}

/// The node's router MAC (RFC 9135 §8.1): one per VTEP, shared by every L3VNI bridge of the node
/// (different MACs per VRF on one VTEP blackhole traffic, FRR #22577). Locally administered
/// `02:50` followed by the low 32 bits of the VTEP address, so it is stable across restarts and
/// unique in the fabric as long as VTEPs are.
pub fn router_mac(vtep: IpAddr) -> MacAddress {
    let low = match vtep {
        IpAddr::V4(a) => a.octets(),
        IpAddr::V6(a) => {
            let o = a.octets();
            [o[12], o[13], o[14], o[15]]
        }
    };
    MacAddress([0x02, 0x50, low[0], low[1], low[2], low[3]])
}

/// Finds the node index from an interface's addresses (`nodeIndex.interfaceName` [+`cidr`]):
/// the host part of its address, IPv4 preferred; with `cidr`, only an address inside it counts
/// and the host part is taken relative to it.
pub fn index_from_addresses(addrs: &[IpNet], cidr: Option<IpNet>) -> Result<u32, PlanError> {
    let pick = |v4: bool| {
        addrs
            .iter()
            .find(|a| a.addr().is_ipv4() == v4 && cidr.is_none_or(|c| c.contains(&a.addr())))
    };
    let Some(a) = pick(true).or_else(|| pick(false)) else {
        return Err(PlanError::NodeIndex(match cidr {
            Some(c) => format!("the interface has no address inside {c}"),
            None => "the interface has no address".into(),
        }));
    };
    let net = cidr.unwrap_or(*a);
    let hostpart = match (a.addr(), net.netmask()) {
        (IpAddr::V4(x), IpAddr::V4(m)) => u128::from(u32::from(x) & !u32::from(m)),
        (IpAddr::V6(x), IpAddr::V6(m)) => u128::from(x) & !u128::from(m),
        _ => {
            return Err(PlanError::NodeIndex(
                "cidr family differs from the address".into(),
            ))
        }
    };
    u32::try_from(hostpart)
        .map_err(|_| PlanError::NodeIndex(format!("host part of {a} is too large")))
}

/// A planned fabric neighbour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeighborPlan {
    /// The validated neighbour.
    #[serde(flatten)]
    pub intent: NeighborIntent,
    /// Families to negotiate (explicit, or upstream's defaults).
    pub families: Vec<AddressFamily>,
    /// Route-reflector clients among `families`.
    pub rr_client_families: Vec<AddressFamily>,
    /// eBGP peers get allowas-in: every node has the same AS.
    pub allowas_in: bool,
    /// iBGP peers get next-hop-self (force).
    pub next_hop_self: bool,
    /// Carry IPv4 over an IPv6 session (RFC 8950): unnumbered and IPv6 peers with ipv4unicast.
    pub extended_next_hop: bool,
}

/// A planned host session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostSessionPlan {
    /// Our AS.
    pub local_as: u32,
    /// The host's AS.
    pub host_as: PeerAs,
    /// IPv4 veth ends.
    pub v4: Option<VethAddresses>,
    /// IPv6 veth ends.
    pub v6: Option<VethAddresses>,
}

/// Everything derived for one L3VNI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct L3VniPlan {
    /// Resource name.
    pub name: String,
    /// VRF device name.
    pub vrf: String,
    /// Routing table of the VRF.
    pub table: u32,
    /// The VNI.
    pub vni: u32,
    /// VXLAN UDP port.
    pub vxlan_port: u16,
    /// Local VTEP for the VXLAN device.
    pub vtep: IpAddr,
    /// `br-pe-<vni>`.
    pub bridge: String,
    /// `vni<vni>`.
    pub vxlan: String,
    /// `host-e-<vni>` (host namespace).
    pub host_veth: String,
    /// `pe-e-<vni>` (router namespace, enslaved to the VRF).
    pub router_veth: String,
    /// The host session over the veth.
    pub host_session: Option<HostSessionPlan>,
    /// Route distinguisher (auto type-1 `router-id:n`, RFC 7432 §7.9).
    pub rd: RouteDistinguisher,
    /// Export RTs (explicit, or FRR's auto `ASN:VNI`).
    pub export_rts: Vec<RouteTarget>,
    /// Import RTs (explicit, or the `*:VNI` wildcard).
    pub import_rts: Vec<RouteTargetMatch>,
}

/// Where an L2VNI's host leg is attached, with names resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostLegPlan {
    /// Left bare.
    Bare,
    /// A bridge perouter creates (`br-hs-<vni>`).
    ManagedBridge(String),
    /// An existing Linux bridge.
    ExistingBridge(String),
    /// An OVS bridge perouter creates (`br-hs-<vni>`, marked `created-by=openperouter`) and
    /// deletes with its L2VNI; the host veth is one of its ports.
    ManagedOvsBridge(String),
    /// An existing OVS bridge: the host veth is added as a port, the bridge is never created,
    /// changed or deleted.
    ExistingOvsBridge(String),
}

/// Everything derived for one L2VNI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct L2VniPlan {
    /// Resource name.
    pub name: String,
    /// The VNI.
    pub vni: u32,
    /// VXLAN UDP port.
    pub vxlan_port: u16,
    /// Local VTEP.
    pub vtep: IpAddr,
    /// The VRF of its routing domain, if any.
    pub vrf: Option<String>,
    /// The L3VNI of its routing domain, if any (second label on MAC+IP routes).
    pub l3vni: Option<u32>,
    /// `br-pe-<vni>`.
    pub bridge: String,
    /// `vni<vni>`.
    pub vxlan: String,
    /// `host-e-<vni>`.
    pub host_veth: String,
    /// `pe-e-<vni>` (enslaved to the bridge).
    pub router_veth: String,
    /// The bridge's fixed MAC (with gateway IPs).
    pub bridge_mac: Option<MacAddress>,
    /// Anycast gateway addresses on the bridge.
    pub gateway_ips: Vec<IpNet>,
    /// Host leg.
    pub host_leg: HostLegPlan,
    /// Route distinguisher.
    pub rd: RouteDistinguisher,
    /// Export RT (auto `ASN:VNI`).
    pub export_rts: Vec<RouteTarget>,
    /// Import RT match.
    pub import_rts: Vec<RouteTargetMatch>,
}

/// The passthrough veth and session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PassthroughPlan {
    /// Resource name.
    pub name: String,
    /// `pt-host`.
    pub host_veth: String,
    /// `pt-ns`.
    pub router_veth: String,
    /// The session.
    pub host_session: HostSessionPlan,
}

/// This node's whole plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodePlan {
    /// The node index.
    pub index: u32,
    /// Router namespace name.
    pub router_netns: String,
    /// Our AS.
    pub asn: u32,
    /// BGP router ID.
    pub router_id: Ipv4Addr,
    /// IPv4 VTEP (/32 on `lo`).
    pub vtep_v4: Option<Ipv4Addr>,
    /// IPv6 VTEP (/128 on `lo`).
    pub vtep_v6: Option<Ipv6Addr>,
    /// The router MAC of every L3VNI bridge of this node.
    pub router_mac: MacAddress,
    /// Underlay NICs to move into the router namespace.
    pub underlay_nics: Vec<UnderlayNic>,
    /// Fabric neighbours.
    pub neighbors: Vec<NeighborPlan>,
    /// GR restart time.
    pub restart_time: u16,
    /// GR stale path time.
    pub stale_path_time: u16,
    /// Route reflector cluster ID.
    pub cluster_id: Option<Ipv4Addr>,
    /// L3VNIs.
    pub l3vnis: Vec<L3VniPlan>,
    /// L2VNIs.
    pub l2vnis: Vec<L2VniPlan>,
    /// Passthrough.
    pub passthrough: Option<PassthroughPlan>,
}

impl NodePlan {
    /// The plan of a node whose Underlay was deleted (upstream: deleting the underlay tears the
    /// node's routing down and returns the NIC to the host): no fabric neighbour, no underlay NIC
    /// (the datapath moves it back with its addresses), no VTEP, no VNI, no passthrough. The
    /// node index, namespace, AS and router ID stay, so the router namespace and the speaker
    /// keep running and an Underlay added again is applied like any other change.
    pub fn withdrawn(&self) -> NodePlan {
        NodePlan {
            vtep_v4: None,
            vtep_v6: None,
            underlay_nics: Vec::new(),
            neighbors: Vec::new(),
            cluster_id: None,
            l3vnis: Vec::new(),
            l2vnis: Vec::new(),
            passthrough: None,
            ..self.clone()
        }
    }
}

fn host_session_plan(hs: &HostSessionIntent, index: u32) -> Result<HostSessionPlan, PlanError> {
    Ok(HostSessionPlan {
        local_as: hs.local_as,
        host_as: hs.host_as,
        v4: hs
            .v4
            .map(|n| veth_addresses(IpNet::V4(n), index))
            .transpose()?,
        v6: hs
            .v6
            .map(|n| veth_addresses(IpNet::V6(n), index))
            .transpose()?,
    })
}

fn pick_vtep(
    name: &str,
    want: Option<VtepFamily>,
    v4: Option<Ipv4Addr>,
    v6: Option<Ipv6Addr>,
) -> Result<IpAddr, PlanError> {
    match (want, v4, v6) {
        (Some(VtepFamily::IPv4) | None, Some(a), _) => Ok(IpAddr::V4(a)),
        (Some(VtepFamily::IPv6) | None, _, Some(a)) => Ok(IpAddr::V6(a)),
        (family, _, _) => Err(PlanError::NoVtep {
            name: name.to_string(),
            family: family.unwrap_or(VtepFamily::IPv4),
        }),
    }
}

/// RD numbers: the VNI itself when it fits 16 bits (stable whatever else is configured), else
/// the highest free number, allocated in VNI order (stable for the same configuration).
fn rd_numbers(vnis: &[u32]) -> Vec<u16> {
    let mut used: std::collections::BTreeSet<u16> =
        vnis.iter().filter_map(|v| u16::try_from(*v).ok()).collect();
    let mut sorted: Vec<u32> = vnis
        .iter()
        .copied()
        .filter(|v| *v > u16::MAX as u32)
        .collect();
    sorted.sort_unstable();
    let mut big = std::collections::BTreeMap::new();
    let mut next = u16::MAX;
    for v in sorted {
        while used.contains(&next) && next > 1 {
            next -= 1;
        }
        used.insert(next);
        big.insert(v, next);
    }
    vnis.iter()
        .map(|v| u16::try_from(*v).unwrap_or_else(|_| big[v]))
        .collect()
}

/// Derives this node's plan (upstream §2 and §3).
pub fn derive_plan(
    intent: &NodeIntent,
    index: u32,
    router_netns: &str,
) -> Result<NodePlan, PlanError> {
    let u = intent.underlay.as_ref().ok_or(PlanError::NoUnderlay)?;
    let router_id = router_id(u.router_id_cidr, index)?;
    let vtep_v4 = match u.tunnel_v4.map(|p| vtep(IpNet::V4(p), index)).transpose()? {
        Some(IpAddr::V4(a)) => Some(a),
        _ => None,
    };
    let vtep_v6 = match u.tunnel_v6.map(|p| vtep(IpNet::V6(p), index)).transpose()? {
        Some(IpAddr::V6(a)) => Some(a),
        _ => None,
    };
    let all_vnis: Vec<u32> = intent
        .l3vnis
        .iter()
        .map(|l| l.vni)
        .chain(intent.l2vnis.iter().map(|l| l.vni))
        .collect();
    let rd_nums = rd_numbers(&all_vnis);
    let rd_of = |vni: u32| {
        let i = all_vnis.iter().position(|v| *v == vni).unwrap_or(0);
        derive::auto_route_distinguisher(router_id, rd_nums.get(i).copied().unwrap_or(1))
    };
    let mut l3vnis = Vec::new();
    for l in &intent.l3vnis {
        let export_rts = if l.export_rts.is_empty() {
            vec![derive::frr_auto_route_target(u.asn, l.vni)]
        } else {
            l.export_rts.clone()
        };
        let import_rts = if l.import_rts.is_empty() {
            vec![RouteTargetMatch::AnyAsn { number: l.vni }]
        } else {
            l.import_rts
                .iter()
                .copied()
                .map(RouteTargetMatch::Exact)
                .collect()
        };
        l3vnis.push(L3VniPlan {
            name: l.name.clone(),
            vrf: l.vrf.clone(),
            table: TABLE_BASE + l.vni,
            vni: l.vni,
            vxlan_port: l.vxlan_port,
            vtep: pick_vtep(&l.name, l.vtep_family, vtep_v4, vtep_v6)?,
            bridge: format!("br-pe-{}", l.vni),
            vxlan: format!("vni{}", l.vni),
            host_veth: format!("host-e-{}", l.vni),
            router_veth: format!("pe-e-{}", l.vni),
            host_session: l
                .host_session
                .as_ref()
                .map(|hs| host_session_plan(hs, index))
                .transpose()?,
            rd: rd_of(l.vni),
            export_rts,
            import_rts,
        });
    }
    let mut l2vnis = Vec::new();
    for l in &intent.l2vnis {
        let domain = l
            .routing_domain
            .as_ref()
            .and_then(|n| intent.l3vnis.iter().find(|x| &x.name == n));
        let gateway_ips: Vec<IpNet> = l
            .gateway_v4
            .map(IpNet::V4)
            .into_iter()
            .chain(l.gateway_v6.map(IpNet::V6))
            .collect();
        l2vnis.push(L2VniPlan {
            name: l.name.clone(),
            vni: l.vni,
            vxlan_port: l.vxlan_port,
            vtep: pick_vtep(&l.name, l.vtep_family, vtep_v4, vtep_v6)?,
            vrf: domain.map(|d| d.vrf.clone()),
            l3vni: domain.map(|d| d.vni),
            bridge: format!("br-pe-{}", l.vni),
            vxlan: format!("vni{}", l.vni),
            host_veth: format!("host-e-{}", l.vni),
            router_veth: format!("pe-e-{}", l.vni),
            bridge_mac: (!gateway_ips.is_empty()).then(|| l2_gateway_mac(l.vni)),
            gateway_ips,
            host_leg: match &l.host_leg {
                HostLeg::Bare => HostLegPlan::Bare,
                HostLeg::ManagedLinuxBridge => {
                    HostLegPlan::ManagedBridge(format!("br-hs-{}", l.vni))
                }
                HostLeg::ExistingLinuxBridge(n) => HostLegPlan::ExistingBridge(n.clone()),
                HostLeg::ManagedOvsBridge => {
                    HostLegPlan::ManagedOvsBridge(format!("br-hs-{}", l.vni))
                }
                HostLeg::ExistingOvsBridge(n) => HostLegPlan::ExistingOvsBridge(n.clone()),
            },
            rd: rd_of(l.vni),
            export_rts: vec![derive::frr_auto_route_target(u.asn, l.vni)],
            import_rts: vec![RouteTargetMatch::AnyAsn { number: l.vni }],
        });
    }
    let passthrough = intent
        .passthrough
        .as_ref()
        .map(|p| -> Result<PassthroughPlan, PlanError> {
            Ok(PassthroughPlan {
                name: p.name.clone(),
                host_veth: "pt-host".into(),
                router_veth: "pt-ns".into(),
                host_session: host_session_plan(&p.host_session, index)?,
            })
        })
        .transpose()?;

    // The families of a fabric session must not depend on how many VNIs exist: a change of
    // families needs a new OPEN, so adding the first or removing the last VNI would reset the
    // ToR session. EVPN is negotiated whenever the underlay can carry VXLAN (it has a tunnel
    // endpoint), as upstream's FRR configuration effectively does; IPv4/IPv6 unicast whenever
    // the peer or a VTEP is of that family.
    let evpn_capable = vtep_v4.is_some() || vtep_v6.is_some();
    let pt_v4 = intent
        .passthrough
        .as_ref()
        .is_some_and(|p| p.host_session.v4.is_some());
    let pt_v6 = intent
        .passthrough
        .as_ref()
        .is_some_and(|p| p.host_session.v6.is_some());
    let neighbors = u
        .neighbors
        .iter()
        .map(|n| {
            let peer_v6 = match &n.target {
                NeighborTarget::Address(a) => a.is_ipv6(),
                NeighborTarget::ListenRange(r) => r.addr().is_ipv6(),
                NeighborTarget::Interface(_) => false,
            };
            let families: Vec<AddressFamily> = if n.families.is_empty() {
                // Upstream's defaults (neighbor.go, addressFamilies).
                let mut f = Vec::new();
                if !peer_v6 || vtep_v4.is_some() || pt_v4 {
                    f.push(AddressFamily::Ipv4Unicast);
                }
                if peer_v6 || vtep_v6.is_some() || pt_v6 {
                    f.push(AddressFamily::Ipv6Unicast);
                }
                if evpn_capable {
                    f.push(AddressFamily::Evpn);
                }
                f
            } else {
                n.families.iter().map(|(f, _)| *f).collect()
            };
            let ibgp = match n.remote_as {
                PeerAs::Internal => true,
                PeerAs::External => false,
                PeerAs::Number(a) => a == u.asn,
            };
            let unnumbered = matches!(n.target, NeighborTarget::Interface(_));
            NeighborPlan {
                intent: n.clone(),
                rr_client_families: n
                    .families
                    .iter()
                    .filter(|(_, rr)| *rr)
                    .map(|(f, _)| *f)
                    .collect(),
                extended_next_hop: (unnumbered || peer_v6)
                    && families.contains(&AddressFamily::Ipv4Unicast),
                families,
                allowas_in: !ibgp,
                next_hop_self: ibgp,
            }
        })
        .collect();
    Ok(NodePlan {
        index,
        router_netns: router_netns.to_string(),
        asn: u.asn,
        router_id,
        vtep_v4,
        vtep_v6,
        router_mac: router_mac(
            vtep_v4
                .map(IpAddr::V4)
                .or(vtep_v6.map(IpAddr::V6))
                .unwrap_or(IpAddr::V4(router_id)),
        ),
        underlay_nics: u.nics.clone(),
        neighbors,
        restart_time: u.restart_time,
        stale_path_time: u.stale_path_time,
        cluster_id: u.cluster_id,
        l3vnis,
        l2vnis,
        passthrough,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn vtep_matches_upstream() {
        // openperouter-upstream.md §2: 100.65.0.0/24, idx0 -> 100.65.0.0, idx1 -> 100.65.0.1.
        assert_eq!(
            vtep(v4("100.65.0.0/24"), 0).unwrap().to_string(),
            "100.65.0.0"
        );
        assert_eq!(
            vtep(v4("100.65.0.0/24"), 1).unwrap().to_string(),
            "100.65.0.1"
        );
        assert_eq!(
            vtep(v4("100.65.0.0/24"), 255).unwrap().to_string(),
            "100.65.0.255"
        );
        assert!(matches!(
            vtep(v4("100.65.0.0/24"), 256),
            Err(PlanError::PoolExhausted { .. })
        ));
        assert_eq!(
            vtep("fd00:65::/64".parse().unwrap(), 3)
                .unwrap()
                .to_string(),
            "fd00:65::3"
        );
    }

    #[test]
    fn router_id_matches_upstream() {
        assert_eq!(
            router_id("10.0.0.0/24".parse().unwrap(), 0)
                .unwrap()
                .to_string(),
            "10.0.0.1"
        );
        assert_eq!(
            router_id("10.0.0.0/24".parse().unwrap(), 4)
                .unwrap()
                .to_string(),
            "10.0.0.5"
        );
        assert!(router_id("10.0.0.0/30".parse().unwrap(), 3).is_err());
    }

    #[test]
    fn veth_addresses_match_upstream() {
        // 192.169.10.0/24: #0 ends in 0, so router = .1 and host = #(index+2).
        let a = veth_addresses(v4("192.169.10.0/24"), 0).unwrap();
        assert_eq!(a.router.to_string(), "192.169.10.1/24");
        assert_eq!(a.host.to_string(), "192.169.10.2/24");
        let a = veth_addresses(v4("192.169.10.0/24"), 5).unwrap();
        assert_eq!(a.host.to_string(), "192.169.10.7/24");
        // 2001:db8:1::/64 likewise.
        let a = veth_addresses("2001:db8:1::/64".parse().unwrap(), 1).unwrap();
        assert_eq!(a.router.to_string(), "2001:db8:1::1/64");
        assert_eq!(a.host.to_string(), "2001:db8:1::3/64");
        // A pool whose first address does not end in 0: router = #0, host = #(index+1).
        let a = veth_addresses(v4("10.1.1.4/30"), 0).unwrap();
        assert_eq!(a.router.to_string(), "10.1.1.4/30");
        assert_eq!(a.host.to_string(), "10.1.1.5/30");
        assert!(veth_addresses(v4("10.1.1.4/30"), 3).is_err());
    }

    #[test]
    fn mtu_rule() {
        assert_eq!(veth_mtu(Some(1500)), Some(1450));
        assert_eq!(veth_mtu(Some(9000)), Some(8950));
        assert_eq!(veth_mtu(Some(1330)), None);
        assert_eq!(veth_mtu(Some(20)), None);
        assert_eq!(veth_mtu(None), None);
    }

    #[test]
    fn router_mac_follows_the_vtep() {
        assert_eq!(
            router_mac("100.65.0.1".parse().unwrap()).to_string(),
            "02:50:64:41:00:01"
        );
        assert_eq!(
            router_mac("fd00::a:b".parse().unwrap()).to_string(),
            "02:50:00:0a:00:0b"
        );
    }

    #[test]
    fn gateway_mac() {
        assert_eq!(l2_gateway_mac(110).to_string(), "00:f3:00:00:00:6f");
        assert_eq!(l2_gateway_mac(0x00ff_ffff).to_string(), "00:f3:01:00:00:00");
    }

    #[test]
    fn index_from_interface() {
        let addrs = [
            "fd00::7/64".parse().unwrap(),
            "192.168.11.3/24".parse().unwrap(),
        ];
        assert_eq!(index_from_addresses(&addrs, None).unwrap(), 3);
        assert_eq!(
            index_from_addresses(&addrs, Some("fd00::/64".parse().unwrap())).unwrap(),
            7
        );
        assert!(index_from_addresses(&addrs, Some("10.0.0.0/8".parse().unwrap())).is_err());
        assert!(index_from_addresses(&[], None).is_err());
    }

    fn canonical() -> NodeIntent {
        use crate::config::resources::{Resource, ResourceKind, ResourceSet, Source};
        use crate::config::static_files::parse_config;
        let cfg = parse_config(
            r#"
underlays:
  - asn: 64514
    interfaces: [{type: NetworkDevice, networkDevice: {interfaceName: toswitch1}}]
    neighbors: [{asn: 64512, address: "192.168.11.2"}, {asn: 64513, address: "192.168.12.2"}]
    tunnelEndpoint: {cidrs: ["100.65.0.0/24"]}
l3vnis:
  - {name: red, vrf: red, vni: 100, hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv4: "192.169.10.0/24", ipv6: "2001:db8:1::/64"}}}
  - {name: blue, vrf: blue, vni: 200, exportRTs: ["64514:200"], importRTs: ["64512:200"], hostSession: {asn: 64514, hostASN: 64515, localCIDR: {ipv4: "192.169.11.0/24"}}}
l2vnis:
  - {name: l2, vni: 110, routingDomain: {type: L3VNI, l3vni: {name: red}}, gatewayIPs: ["192.170.1.1/24"], hostMaster: {type: LinuxBridge, linuxBridge: {lifecycle: Managed}}}
bgppassthrough:
  hostSession: {asn: 64514, hostASN: 64517, localCIDR: {ipv4: "192.169.100.0/24"}}
"#,
        )
        .unwrap();
        let src = Source::File("/x/openpe_all.yaml".into());
        let mut set = ResourceSet::default();
        set.underlays.push(Resource::new(
            ResourceKind::Underlay,
            "u",
            src.clone(),
            cfg.underlays[0].clone(),
        ));
        for n in cfg.l3vnis {
            set.l3vnis.push(Resource::new(
                ResourceKind::L3Vni,
                n.name,
                src.clone(),
                n.spec,
            ));
        }
        for n in cfg.l2vnis {
            set.l2vnis.push(Resource::new(
                ResourceKind::L2Vni,
                n.name,
                src.clone(),
                n.spec,
            ));
        }
        set.passthroughs.push(Resource::new(
            ResourceKind::L3Passthrough,
            "pt",
            src,
            cfg.bgppassthrough.unwrap(),
        ));
        let v = crate::config::validate::validate(&set);
        assert!(v.failed.is_empty(), "{:?}", v.failed);
        v.intent
    }

    #[test]
    fn canonical_node_plan() {
        let plan = derive_plan(&canonical(), 1, DEFAULT_ROUTER_NETNS).unwrap();
        assert_eq!(plan.router_id.to_string(), "10.0.0.2");
        assert_eq!(plan.vtep_v4.unwrap().to_string(), "100.65.0.1");
        assert_eq!(plan.vtep_v6, None);
        let red = plan.l3vnis.iter().find(|l| l.name == "red").unwrap();
        assert_eq!(
            (
                red.bridge.as_str(),
                red.vxlan.as_str(),
                red.host_veth.as_str(),
                red.router_veth.as_str()
            ),
            ("br-pe-100", "vni100", "host-e-100", "pe-e-100")
        );
        assert_eq!(red.table, 1100);
        let hs = red.host_session.as_ref().unwrap();
        assert_eq!(hs.v4.unwrap().router.to_string(), "192.169.10.1/24");
        assert_eq!(hs.v4.unwrap().host.to_string(), "192.169.10.3/24");
        assert_eq!(hs.v6.unwrap().host.to_string(), "2001:db8:1::3/64");
        assert_eq!(hs.host_as, PeerAs::Number(64515));
        assert_eq!(red.rd.to_string(), "10.0.0.2:100");
        assert_eq!(
            red.export_rts,
            vec![RouteTarget::As2 {
                asn: 64514,
                number: 100
            }]
        );
        assert_eq!(
            red.import_rts,
            vec![RouteTargetMatch::AnyAsn { number: 100 }]
        );
        let blue = plan.l3vnis.iter().find(|l| l.name == "blue").unwrap();
        assert_eq!(
            blue.import_rts,
            vec![RouteTargetMatch::Exact(RouteTarget::As2 {
                asn: 64512,
                number: 200
            })]
        );
        let l2 = &plan.l2vnis[0];
        assert_eq!(l2.vrf.as_deref(), Some("red"));
        assert_eq!(l2.l3vni, Some(100));
        assert_eq!(l2.bridge_mac.unwrap().to_string(), "00:f3:00:00:00:6f");
        assert_eq!(l2.host_leg, HostLegPlan::ManagedBridge("br-hs-110".into()));
        let pt = plan.passthrough.as_ref().unwrap();
        assert_eq!(
            (pt.host_veth.as_str(), pt.router_veth.as_str()),
            ("pt-host", "pt-ns")
        );
        assert_eq!(
            pt.host_session.v4.unwrap().host.to_string(),
            "192.169.100.3/24"
        );
        // Upstream's default families for an IPv4 neighbour with VNIs present; eBGP => allowas-in.
        let n = &plan.neighbors[0];
        assert_eq!(
            n.families,
            vec![AddressFamily::Ipv4Unicast, AddressFamily::Evpn]
        );
        assert!(n.allowas_in && !n.next_hop_self && !n.extended_next_hop);
    }

    #[test]
    fn fabric_families_do_not_depend_on_vnis_or_host_sessions() {
        // Adding the first or removing the last VNI (or a host session) must not change a fabric
        // session's families: that would need a new OPEN, i.e. reset the ToR session.
        let full = canonical();
        let mut bare = full.clone();
        bare.l3vnis.clear();
        bare.l2vnis.clear();
        let mut only_l2 = bare.clone();
        only_l2.l2vnis = full.l2vnis.clone();
        only_l2.l2vnis[0].routing_domain = None;
        let fams = |i: &NodeIntent| -> Vec<Vec<AddressFamily>> {
            derive_plan(i, 2, "perouter")
                .unwrap()
                .neighbors
                .iter()
                .map(|n| n.families.clone())
                .collect()
        };
        let want = vec![AddressFamily::Ipv4Unicast, AddressFamily::Evpn];
        assert_eq!(fams(&full), [want.clone(), want.clone()]);
        assert_eq!(fams(&bare), [want.clone(), want.clone()]);
        assert_eq!(fams(&only_l2), [want.clone(), want]);
        // Without a tunnel endpoint the underlay carries no VXLAN: no EVPN.
        let mut no_vtep = bare;
        no_vtep.underlay.as_mut().unwrap().tunnel_v4 = None;
        assert_eq!(fams(&no_vtep)[0], [AddressFamily::Ipv4Unicast]);
    }

    #[test]
    fn rd_numbers_are_stable() {
        assert_eq!(rd_numbers(&[100, 200]), [100, 200]);
        assert_eq!(rd_numbers(&[200, 100]), [200, 100]);
        assert_eq!(
            rd_numbers(&[100, 70000, 65535, 80000]),
            [100, 65534, 65535, 65533]
        );
    }
}
