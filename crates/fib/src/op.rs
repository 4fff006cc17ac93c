//! The operations the diff plans and the driver executes, in the order they must run.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::nexthop::NhObject;
use perouter_evpn::MacAddress;

/// Which network namespace an operation runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Ns {
    /// The host namespace (the root namespace in production).
    Host,
    /// The router namespace.
    Router,
}

impl fmt::Display for Ns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ns::Host => "host",
            Ns::Router => "router",
        })
    }
}

/// A change to one attribute of an existing link (`RTM_NEWLINK` on an existing index).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkChange {
    /// Enslave to a bridge or VRF (`IFLA_MASTER`), or release (`None`).
    Master(Option<String>),
    /// `IFLA_MTU`.
    Mtu(u32),
    /// `IFLA_ADDRESS`.
    Mac(MacAddress),
    /// `IFLA_GROUP`.
    Group(u32),
    /// `IFLA_INET6_ADDR_GEN_MODE` = none: no IPv6 link-local address (upstream `addr_gen_mode=1`).
    AddrGenModeNone,
}

/// One next hop of a route.
///
/// A type-5 route's next hop is a remote VTEP reached `onlink` on `br-pe-<l3vni>` (the VTEP is
/// not on the bridge's subnet: zebra's model of symmetric IRB). A default-table route's next hop
/// is a plain gateway the kernel resolves itself, through the connected routes of the underlay
/// or passthrough links (`dev: None`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NextHop {
    /// The gateway (a VTEP, or its IPv4-mapped IPv6 form for IPv6 prefixes over an IPv4 VTEP; or
    /// a fabric/host-session neighbour for default-table routes).
    pub gateway: IpAddr,
    /// `Some(dev)`: the gateway is reached `onlink` on that device. `None`: the kernel resolves
    /// the gateway (it must be on a connected subnet).
    pub dev: Option<String>,
}

impl NextHop {
    /// A gateway reached `onlink` on `dev`.
    pub fn onlink(gateway: IpAddr, dev: impl Into<String>) -> NextHop {
        NextHop {
            gateway,
            dev: Some(dev.into()),
        }
    }

    /// A gateway the kernel resolves through its connected routes.
    pub fn via(gateway: IpAddr) -> NextHop {
        NextHop { gateway, dev: None }
    }

    /// The next hop of a plain-gateway route (default table, host-session routes) to `prefix`
    /// through `gateway`, or `None` when the kernel cannot take it:
    /// - a gateway of the prefix's family: resolved by the kernel;
    /// - an IPv6 link-local gateway (an unnumbered neighbour's, RFC 8950 extended next hop for
    ///   IPv4 prefixes): on the device `link_local_devices` names for it, `None` if unknown
    ///   (a link-local address means nothing without its link);
    /// - an IPv6 global gateway for an IPv4 prefix (RFC 8950): resolved by the kernel through
    ///   its IPv6 routes (`RTA_VIA`);
    /// - an IPv4 gateway for an IPv6 prefix: `None` (the kernel has no such route).
    pub fn for_gateway(
        prefix: &IpNet,
        gateway: IpAddr,
        link_local_devices: &BTreeMap<Ipv6Addr, String>,
    ) -> Option<NextHop> {
        match gateway {
            IpAddr::V6(v6) if v6.is_unicast_link_local() => link_local_devices
                .get(&v6)
                .map(|dev| NextHop::onlink(gateway, dev.clone())),
            IpAddr::V4(_) if !prefix.addr().is_ipv4() => None,
            _ => Some(NextHop::via(gateway)),
        }
    }
}

/// One idempotent datapath operation. Each maps to one netlink message (or one sysctl write,
/// or one namespace creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Create the named network namespace (`ip netns add`).
    CreateNetns {
        /// Name under `/var/run/netns`.
        name: String,
    },
    /// Write a sysctl in the router namespace.
    SetSysctl {
        /// Path below `/proc/sys`.
        path: String,
        /// Value.
        value: String,
        /// A missing sysctl is not an error.
        optional: bool,
        /// The device the sysctl belongs to (so it runs after the device is created).
        device: Option<String>,
    },
    /// Delete a link (a veth goes with its peer).
    DeleteLink {
        /// Namespace.
        ns: Ns,
        /// Name.
        name: String,
    },
    /// Move a link to the other namespace (`IFLA_NET_NS_FD`); its addresses are lost and
    /// re-added by [`Op::AddAddress`] operations that follow.
    MoveLink {
        /// Name.
        name: String,
        /// Namespace it is in now.
        from: Ns,
        /// Namespace it goes to.
        to: Ns,
    },
    /// Create a VRF device (router namespace).
    CreateVrf {
        /// Name.
        name: String,
        /// Routing table.
        table: u32,
    },
    /// Create a bridge.
    CreateBridge {
        /// Namespace.
        ns: Ns,
        /// Name.
        name: String,
        /// VRF to enslave it to.
        master: Option<String>,
        /// Fixed MAC.
        mac: Option<MacAddress>,
    },
    /// Create a VXLAN device (router namespace), `nolearning`, `dev lo`, enslaved to its bridge.
    CreateVxlan {
        /// Name.
        name: String,
        /// VNI.
        vni: u32,
        /// Local VTEP.
        local: IpAddr,
        /// UDP destination port.
        port: u16,
        /// Bridge.
        master: String,
    },
    /// Create a veth in the host namespace whose peer is born in the router namespace.
    CreateVeth {
        /// Host-side leg.
        host: String,
        /// Router-side leg.
        router: String,
        /// MTU of both legs.
        mtu: Option<u32>,
    },
    /// Change one attribute of a link.
    SetLink {
        /// Namespace.
        ns: Ns,
        /// Name.
        name: String,
        /// The change.
        change: LinkChange,
    },
    /// Set bridge-port flags of a VXLAN device (`neigh_suppress on learning off`).
    SetBridgePort {
        /// Name.
        name: String,
        /// `IFLA_BRPORT_NEIGH_SUPPRESS`.
        neigh_suppress: bool,
        /// `IFLA_BRPORT_LEARNING`.
        learning: bool,
    },
    /// Remove an address.
    DelAddress {
        /// Namespace.
        ns: Ns,
        /// Device.
        dev: String,
        /// Address and prefix length.
        addr: IpNet,
    },
    /// Add an address.
    AddAddress {
        /// Namespace.
        ns: Ns,
        /// Device.
        dev: String,
        /// Address and prefix length.
        addr: IpNet,
    },
    /// Set a link administratively up.
    SetUp {
        /// Namespace.
        ns: Ns,
        /// Name.
        name: String,
    },
    /// Delete a route of ours (matched by protocol and metric, so a foreign route with the same
    /// prefix is never the one removed).
    DelRoute {
        /// Table.
        table: u32,
        /// Prefix.
        prefix: IpNet,
        /// Its metric (`RTA_PRIORITY`): [`crate::desired::ROUTE_METRIC`] for the routes this
        /// crate installs.
        metric: u32,
    },
    /// Delete an ARP/ND entry.
    DelNeighbour {
        /// Device.
        dev: String,
        /// IP.
        ip: IpAddr,
    },
    /// Delete a VXLAN FDB row (`NTF_SELF`) and, with `master`, the bridge row.
    DelFdb {
        /// VXLAN device.
        dev: String,
        /// MAC.
        mac: MacAddress,
        /// Remote VTEP of the VXLAN row.
        dst: Option<IpAddr>,
        /// Delete the bridge's row (`NTF_MASTER`) rather than the device's own (`NTF_SELF`).
        master: bool,
    },
    /// Install or replace a remote MAC: one `RTM_NEWNEIGH` with
    /// `NTF_SELF|NTF_MASTER|NTF_EXT_LEARNED` and `NDA_DST` writes both the bridge and the VXLAN
    /// rows (landscape pitfall 10).
    ReplaceFdb {
        /// VXLAN device.
        dev: String,
        /// MAC.
        mac: MacAddress,
        /// Remote VTEP.
        dst: IpAddr,
    },
    /// Append a flood-list entry `00:00:00:00:00:00 dst <VTEP>` (`NLM_F_APPEND`).
    AppendFlood {
        /// VXLAN device.
        dev: String,
        /// Remote VTEP.
        dst: IpAddr,
    },
    /// Install or replace a neighbour entry (`NUD_NOARP`, `NTF_EXT_LEARNED`).
    ReplaceNeighbour {
        /// Device.
        dev: String,
        /// IP.
        ip: IpAddr,
        /// MAC.
        mac: MacAddress,
    },
    /// Ask the kernel to re-resolve a neighbour entry (`NTF_USE`): keeps a silent host's entry,
    /// and so its type-2 route, alive.
    ProbeNeighbour {
        /// Device.
        dev: String,
        /// IP.
        ip: IpAddr,
    },
    /// Install or replace a route (`NLM_F_REPLACE`, protocol bgp, metric
    /// [`crate::desired::ROUTE_METRIC`]).
    ReplaceRoute {
        /// Table.
        table: u32,
        /// Prefix.
        prefix: IpNet,
        /// Next hops; more than one = ECMP (`RTA_MULTIPATH`).
        nexthops: Vec<NextHop>,
    },
    /// Install or replace a route that uses nexthop object `nhid` (`RTA_NH_ID`; protocol and
    /// metric as [`Op::ReplaceRoute`]).
    ReplaceRouteNh {
        /// Table.
        table: u32,
        /// Prefix.
        prefix: IpNet,
        /// The nexthop object (a hop or a group), see [`crate::nexthop`].
        nhid: u32,
    },
    /// Create or replace nexthop object `id` (`RTM_NEWNEXTHOP`, `NLM_F_CREATE|NLM_F_REPLACE`):
    /// replacing it re-points every route that uses it in one message.
    ReplaceNhObject {
        /// Object id (perouter's range, [`crate::nexthop::ID_FIRST`]).
        id: u32,
        /// What it holds.
        object: NhObject,
    },
    /// Delete nexthop object `id` (no route of ours uses it any more).
    DelNhObject {
        /// Object id.
        id: u32,
    },
}

/// The order operations run in. Devices are created parent first (VRF, then bridge, then ports),
/// links are configured before addresses (enslaving to a VRF drops IPv6 addresses) and brought
/// up last; forwarding entries come after the devices they live on, stale routes are removed
/// before the entries they resolve through, and new routes are installed only after the
/// neighbour and FDB entries they need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Namespace creation.
    Netns,
    /// Namespace-wide sysctls.
    GlobalSysctl,
    /// Deleting and moving out what is no longer wanted (or must be recreated).
    Remove,
    /// Moving underlay NICs in.
    MoveIn,
    /// VRFs.
    CreateVrf,
    /// Bridges.
    CreateBridge,
    /// VXLAN devices and veths (ports of the bridges and VRFs).
    CreatePort,
    /// Link attributes: MTU, group, MAC, address generation, master.
    Configure,
    /// Bridge-port flags (need the port enslaved).
    BridgePort,
    /// Per-device sysctls (need the device).
    DeviceSysctl,
    /// Address removal.
    DelAddress,
    /// Address addition.
    AddAddress,
    /// Links up.
    Up,
    /// Route removal.
    DelRoute,
    /// Neighbour and FDB removal.
    DelNeighbour,
    /// FDB and flood-list installation.
    AddFdb,
    /// Neighbour installation.
    AddNeighbour,
    /// Nexthop object creation and re-pointing (members before groups).
    AddNextHop,
    /// Route installation.
    AddRoute,
    /// Removal of nexthop objects no route uses any more (groups before members).
    DelNextHop,
}

impl Op {
    /// The phase this operation belongs to.
    pub fn phase(&self) -> Phase {
        match self {
            Op::CreateNetns { .. } => Phase::Netns,
            Op::SetSysctl { device: None, .. } => Phase::GlobalSysctl,
            Op::SetSysctl {
                device: Some(_), ..
            } => Phase::DeviceSysctl,
            Op::DeleteLink { .. } => Phase::Remove,
            Op::MoveLink { to: Ns::Host, .. } => Phase::Remove,
            Op::MoveLink { to: Ns::Router, .. } => Phase::MoveIn,
            Op::CreateVrf { .. } => Phase::CreateVrf,
            Op::CreateBridge { .. } => Phase::CreateBridge,
            Op::CreateVxlan { .. } | Op::CreateVeth { .. } => Phase::CreatePort,
            Op::SetLink { .. } => Phase::Configure,
            Op::SetBridgePort { .. } => Phase::BridgePort,
            Op::DelAddress { .. } => Phase::DelAddress,
            Op::AddAddress { .. } => Phase::AddAddress,
            Op::SetUp { .. } => Phase::Up,
            Op::DelRoute { .. } => Phase::DelRoute,
            Op::DelNeighbour { .. } | Op::DelFdb { .. } => Phase::DelNeighbour,
            Op::ReplaceFdb { .. } | Op::AppendFlood { .. } => Phase::AddFdb,
            Op::ReplaceNeighbour { .. } | Op::ProbeNeighbour { .. } => Phase::AddNeighbour,
            Op::ReplaceRoute { .. } | Op::ReplaceRouteNh { .. } => Phase::AddRoute,
            Op::ReplaceNhObject { .. } => Phase::AddNextHop,
            Op::DelNhObject { .. } => Phase::DelNextHop,
        }
    }

    /// A short, stable name of the operation's kind (a metric label: `create_vrf`,
    /// `replace_route`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Op::CreateNetns { .. } => "create_netns",
            Op::SetSysctl { .. } => "set_sysctl",
            Op::DeleteLink { .. } => "delete_link",
            Op::MoveLink { .. } => "move_link",
            Op::CreateVrf { .. } => "create_vrf",
            Op::CreateBridge { .. } => "create_bridge",
            Op::CreateVxlan { .. } => "create_vxlan",
            Op::CreateVeth { .. } => "create_veth",
            Op::SetLink { .. } => "set_link",
            Op::SetBridgePort { .. } => "set_bridge_port",
            Op::DelAddress { .. } => "del_address",
            Op::AddAddress { .. } => "add_address",
            Op::SetUp { .. } => "set_up",
            Op::DelRoute { .. } => "del_route",
            Op::DelNeighbour { .. } => "del_neighbour",
            Op::DelFdb { .. } => "del_fdb",
            Op::ReplaceFdb { .. } => "replace_fdb",
            Op::AppendFlood { .. } => "append_flood",
            Op::ReplaceNeighbour { .. } => "replace_neighbour",
            Op::ProbeNeighbour { .. } => "probe_neighbour",
            Op::ReplaceRoute { .. } => "replace_route",
            Op::ReplaceRouteNh { .. } => "replace_route_nh",
            Op::ReplaceNhObject { .. } => "replace_nexthop",
            Op::DelNhObject { .. } => "del_nexthop",
        }
    }

    /// The namespace whose netlink socket carries the operation (a move is sent from where the
    /// link is; a veth is created from the host side; local operations count as the router's).
    pub fn socket_ns(&self) -> Ns {
        match self {
            Op::DeleteLink { ns, .. }
            | Op::CreateBridge { ns, .. }
            | Op::SetLink { ns, .. }
            | Op::DelAddress { ns, .. }
            | Op::AddAddress { ns, .. }
            | Op::SetUp { ns, .. } => *ns,
            Op::MoveLink { from, .. } => *from,
            Op::CreateVeth { .. } => Ns::Host,
            _ => Ns::Router,
        }
    }

    /// Whether the operation writes to the kernel through netlink (all but namespace creation
    /// and sysctls).
    pub fn is_netlink(&self) -> bool {
        !matches!(self, Op::CreateNetns { .. } | Op::SetSysctl { .. })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Op::CreateNetns { name } => write!(f, "create netns {name}"),
            Op::SetSysctl { path, value, .. } => write!(f, "sysctl {path}={value}"),
            Op::DeleteLink { ns, name } => write!(f, "[{ns}] delete link {name}"),
            Op::MoveLink { name, from, to } => write!(f, "move link {name} {from} -> {to}"),
            Op::CreateVrf { name, table } => write!(f, "create vrf {name} table {table}"),
            Op::CreateBridge {
                ns, name, master, ..
            } => {
                write!(f, "[{ns}] create bridge {name} master {master:?}")
            }
            Op::CreateVxlan {
                name,
                vni,
                local,
                port,
                master,
            } => write!(
                f,
                "create vxlan {name} id {vni} local {local} dstport {port} master {master}"
            ),
            Op::CreateVeth { host, router, .. } => write!(f, "create veth {host} <-> {router}"),
            Op::SetLink { ns, name, change } => write!(f, "[{ns}] set {name} {change:?}"),
            Op::SetBridgePort {
                name,
                neigh_suppress,
                learning,
            } => write!(
                f,
                "set bridge port {name} neigh_suppress {neigh_suppress} learning {learning}"
            ),
            Op::DelAddress { ns, dev, addr } => write!(f, "[{ns}] del address {addr} dev {dev}"),
            Op::AddAddress { ns, dev, addr } => write!(f, "[{ns}] add address {addr} dev {dev}"),
            Op::SetUp { ns, name } => write!(f, "[{ns}] set {name} up"),
            Op::DelRoute {
                table,
                prefix,
                metric,
            } => write!(f, "del route {prefix} table {table} metric {metric}"),
            Op::DelNeighbour { dev, ip } => write!(f, "del neigh {ip} dev {dev}"),
            Op::DelFdb {
                dev,
                mac,
                dst,
                master,
            } => {
                write!(f, "del fdb {mac} dev {dev} dst {dst:?} master {master}")
            }
            Op::ReplaceFdb { dev, mac, dst } => write!(f, "replace fdb {mac} dev {dev} dst {dst}"),
            Op::AppendFlood { dev, dst } => {
                write!(f, "append fdb 00:00:00:00:00:00 dev {dev} dst {dst}")
            }
            Op::ReplaceNeighbour { dev, ip, mac } => {
                write!(f, "replace neigh {ip} lladdr {mac} dev {dev}")
            }
            Op::ProbeNeighbour { dev, ip } => write!(f, "probe neigh {ip} dev {dev}"),
            Op::ReplaceRoute {
                table,
                prefix,
                nexthops,
            } => {
                write!(f, "replace route {prefix} table {table} via {nexthops:?}")
            }
            Op::ReplaceRouteNh {
                table,
                prefix,
                nhid,
            } => write!(f, "replace route {prefix} table {table} nhid {nhid}"),
            Op::ReplaceNhObject { id, object } => write!(f, "replace nexthop id {id} {object:?}"),
            Op::DelNhObject { id } => write!(f, "del nexthop id {id}"),
        }
    }
}
