//! What the kernel has, read from netlink dumps, as plain values.
//!
//! Building a [`NamespaceState`] from messages is pure (see [`NamespaceState::from_messages`]),
//! so the translation is tested on hand-made messages; the driver in [`crate::apply`] only
//! fetches the dumps.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoVrf,
    InfoVxlan, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteMessage, RouteNextHopFlags, RouteProtocol,
    RouteType, RouteVia,
};
use netlink_packet_route::AddressFamily;

use crate::desired::{names, NodeDatapath, ROUTE_METRIC, ROUTE_PROTOCOL};
use perouter_evpn::MacAddress;

/// The kind of a link, with the attributes the diff compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkKind {
    /// A VRF and its table.
    Vrf {
        /// `IFLA_VRF_TABLE`.
        table: u32,
    },
    /// A Linux bridge.
    Bridge,
    /// A VXLAN device.
    Vxlan(VxlanInfo),
    /// One leg of a veth pair.
    Veth,
    /// Anything else (`lo`, physical NICs, …): the kind string, if any.
    Other(Option<String>),
}

/// The VXLAN attributes upstream checks before deciding to keep a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VxlanInfo {
    /// `IFLA_VXLAN_ID`.
    pub vni: u32,
    /// `IFLA_VXLAN_LOCAL` / `LOCAL6`.
    pub local: Option<IpAddr>,
    /// `IFLA_VXLAN_PORT` (host order).
    pub port: u16,
    /// `IFLA_VXLAN_LEARNING`.
    pub learning: bool,
}

/// Bridge-port flags of an enslaved device (`IFLA_INFO_SLAVE_DATA`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BridgePortFlags {
    /// `IFLA_BRPORT_NEIGH_SUPPRESS`.
    pub neigh_suppress: bool,
    /// `IFLA_BRPORT_LEARNING`.
    pub learning: bool,
}

/// One network device as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub ifindex: u32,
    /// Name.
    pub name: String,
    /// Kind and kind-specific attributes.
    pub kind: LinkKind,
    /// Index of the master device (bridge or VRF).
    pub master: Option<u32>,
    /// Administratively up (`IFF_UP`).
    pub up: bool,
    /// Carrier (`IFF_LOWER_UP`): the kernel takes a nexthop object on the device only then.
    pub carrier: bool,
    /// MTU.
    pub mtu: Option<u32>,
    /// Hardware address.
    pub mac: Option<MacAddress>,
    /// Link group.
    pub group: u32,
    /// IPv6 address generation mode (`IN6_ADDR_GEN_MODE_*`), `None` if IPv6 is off.
    pub addr_gen_mode: Option<u8>,
    /// Bridge-port flags, if the device is a bridge port.
    pub bridge_port: Option<BridgePortFlags>,
    /// Addresses with prefix lengths, IPv6 link-local ones excluded.
    pub addresses: BTreeSet<IpNet>,
    /// IPv6 link-local addresses, apart: the kernel makes most of them itself, so the diff
    /// compares them only where it wants one (an anycast gateway's, see `diff`).
    pub link_locals: BTreeSet<Ipv6Addr>,
}

/// One next hop of an observed route.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ObservedNextHop {
    /// Gateway, if any.
    pub gateway: Option<IpAddr>,
    /// Output interface index.
    pub oif: u32,
    /// `RTNH_F_ONLINK`.
    pub onlink: bool,
}

/// A route this crate owns (protocol [`ROUTE_PROTOCOL`]) as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedRoute {
    /// Next hops (one unless ECMP).
    pub nexthops: BTreeSet<ObservedNextHop>,
    /// Nexthop object id, for routes installed with `RTA_NH_ID`.
    pub nhid: Option<u32>,
    /// `RTA_PRIORITY` (0 when absent).
    pub metric: u32,
}

/// An IPv4 ARP or IPv6 ND entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedNeighbour {
    /// Link-layer address.
    pub mac: Option<MacAddress>,
    /// `NUD_*` state bits.
    pub state: u16,
    /// `NTF_EXT_LEARNED`: installed by a control plane (us), not resolved by the kernel.
    pub ext_learned: bool,
}

/// One bridge FDB row (`AF_BRIDGE` neighbour).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FdbEntry {
    /// Port (or VXLAN device) the row is on.
    pub ifindex: u32,
    /// MAC.
    pub mac: MacAddress,
    /// Remote VTEP (`NDA_DST`), for VXLAN rows.
    pub dst: Option<IpAddr>,
    /// `NTF_SELF`: a row of the device's own table (the VXLAN FDB).
    pub is_self: bool,
    /// `NTF_MASTER`: a row of the bridge's table.
    pub master: bool,
    /// `NTF_EXT_LEARNED`.
    pub ext_learned: bool,
    /// `NUD_PERMANENT` (a local/static row, e.g. the port's own MAC).
    pub permanent: bool,
}

/// Everything the diff needs from one network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespaceState {
    /// Links by name.
    pub links: BTreeMap<String, Link>,
    /// Routes with protocol [`ROUTE_PROTOCOL`] and metric [`ROUTE_METRIC`], by (table, prefix).
    pub routes: BTreeMap<(u32, IpNet), ObservedRoute>,
    /// Routes with protocol [`ROUTE_PROTOCOL`] and another metric (left by an older version or
    /// by hand): ours to remove.
    pub stray_routes: Vec<((u32, IpNet), ObservedRoute)>,
    /// Nexthop objects (ours, every id taken, and whether the driver may use them).
    pub nexthops: crate::nexthop::ObservedNhObjects,
    /// ARP/ND entries by (ifindex, IP).
    pub neighbours: BTreeMap<(u32, IpAddr), ObservedNeighbour>,
    /// Bridge FDB rows.
    pub fdb: Vec<FdbEntry>,
    /// Sysctl values by path below `/proc/sys` (`None`: the kernel has no such sysctl).
    pub sysctls: BTreeMap<String, Option<String>>,
}

/// The whole node: host namespace and router namespace (`None` while it does not exist).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObservedNode {
    /// The host (root) namespace: host-side veth legs, managed host bridges, NICs to move in.
    pub host: NamespaceState,
    /// The router namespace.
    pub router: Option<NamespaceState>,
}

impl ObservedNode {
    /// The MAC of each L3VNI's bridge `br-pe-<vni>` that exists in the router namespace: the
    /// router MAC to advertise in type-5 routes (RFC 9135 §8.1) when [`crate::desired::L3Vni`]
    /// leaves `router_mac` to the kernel.
    pub fn l3vni_router_macs(&self, desired: &NodeDatapath) -> BTreeMap<u32, MacAddress> {
        let Some(router) = &self.router else {
            return BTreeMap::new();
        };
        desired
            .l3vnis
            .iter()
            .filter_map(|v| {
                let mac = router.links.get(&names::bridge(v.vni))?.mac?;
                Some((v.vni, mac))
            })
            .collect()
    }
}

impl NamespaceState {
    /// Builds the state from dump results. Messages that do not fit (an address on an unknown
    /// link, a route of another protocol) are ignored, never an error.
    pub fn from_messages(
        links: &[LinkMessage],
        addresses: &[AddressMessage],
        routes: &[RouteMessage],
        neighbours: &[NeighbourMessage],
    ) -> NamespaceState {
        Self::from_links(
            links.iter().filter_map(link_from_message),
            addresses,
            routes,
            neighbours,
        )
    }

    /// Records a route of ours: with [`ROUTE_METRIC`] in `routes`, with another metric in
    /// `stray_routes` (to be removed).
    pub fn insert_route(&mut self, key: (u32, IpNet), route: ObservedRoute) {
        if route.metric == ROUTE_METRIC {
            self.routes.insert(key, route);
        } else {
            self.stray_routes.push((key, route));
        }
    }

    /// [`NamespaceState::from_messages`] with the links already translated (the driver
    /// translates them while the dump arrives).
    pub fn from_links(
        links: impl IntoIterator<Item = Link>,
        addresses: &[AddressMessage],
        routes: &[RouteMessage],
        neighbours: &[NeighbourMessage],
    ) -> NamespaceState {
        let mut st = NamespaceState::default();
        for link in links {
            st.links.insert(link.name.clone(), link);
        }
        let by_index: BTreeMap<u32, String> = st
            .links
            .values()
            .map(|l| (l.ifindex, l.name.clone()))
            .collect();
        for a in addresses {
            let Some(l) = by_index
                .get(&a.header.index)
                .and_then(|name| st.links.get_mut(name))
            else {
                continue;
            };
            if let Some(net) = address_from_message(a) {
                l.addresses.insert(net);
            } else if let Some(ll) = link_local_from_message(a) {
                l.link_locals.insert(ll);
            }
        }
        for r in routes {
            if let Some((key, route)) = route_from_message(r) {
                st.insert_route(key, route);
            }
        }
        for n in neighbours {
            match n.header.family {
                AddressFamily::Bridge => {
                    if let Some(e) = fdb_from_message(n) {
                        st.fdb.push(e);
                    }
                }
                AddressFamily::Inet | AddressFamily::Inet6 => {
                    if let Some((key, e)) = neighbour_from_message(n) {
                        st.neighbours.insert(key, e);
                    }
                }
                _ => {}
            }
        }
        st
    }

    /// What a namespace has right after creation: `lo`, down, without addresses.
    pub fn fresh() -> NamespaceState {
        let mut st = NamespaceState::default();
        st.links.insert(
            "lo".into(),
            Link {
                ifindex: 1,
                name: "lo".into(),
                kind: LinkKind::Other(None),
                master: None,
                up: false,
                carrier: false,
                mtu: Some(65536),
                mac: Some(MacAddress::ZERO),
                group: 0,
                addr_gen_mode: Some(0),
                bridge_port: None,
                addresses: BTreeSet::new(),
                link_locals: BTreeSet::new(),
            },
        );
        st
    }

    /// The link with index `ifindex`.
    pub fn link_by_index(&self, ifindex: u32) -> Option<&Link> {
        self.links.values().find(|l| l.ifindex == ifindex)
    }

    /// Name of the link with index `ifindex`.
    pub fn name_of(&self, ifindex: u32) -> Option<&str> {
        self.link_by_index(ifindex).map(|l| l.name.as_str())
    }

    /// VRF name → table of every VRF device (input to [`crate::desired::assign_table_ids`]).
    pub fn vrf_tables(&self) -> BTreeMap<String, u32> {
        self.links
            .values()
            .filter_map(|l| match l.kind {
                LinkKind::Vrf { table } => Some((l.name.clone(), table)),
                _ => None,
            })
            .collect()
    }
}

/// Translates one `RTM_NEWLINK` into a [`Link`]; `None` without a name.
pub fn link_from_message(m: &LinkMessage) -> Option<Link> {
    let mut name = None;
    let mut kind = LinkKind::Other(None);
    let mut master = None;
    let mut mtu = None;
    let mut mac = None;
    let mut group = 0;
    let mut addr_gen_mode = None;
    let mut bridge_port = None;
    for a in &m.attributes {
        match a {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Controller(i) => master = Some(*i),
            LinkAttribute::Mtu(v) => mtu = Some(*v),
            LinkAttribute::Address(b) => mac = mac_from_slice(b),
            LinkAttribute::Group(g) => group = *g,
            LinkAttribute::LinkInfo(infos) => {
                let mut k = None;
                let mut data = None;
                for i in infos {
                    match i {
                        LinkInfo::Kind(x) => k = Some(x.clone()),
                        LinkInfo::Data(d) => data = Some(d),
                        LinkInfo::PortData(InfoPortData::BridgePort(p)) => {
                            let mut f = BridgePortFlags {
                                neigh_suppress: false,
                                learning: true,
                            };
                            for x in p {
                                match x {
                                    InfoBridgePort::NeighSupress(v) => f.neigh_suppress = *v,
                                    InfoBridgePort::Learning(v) => f.learning = *v,
                                    _ => {}
                                }
                            }
                            bridge_port = Some(f);
                        }
                        _ => {}
                    }
                }
                kind = match (k, data) {
                    (Some(InfoKind::Vrf), d) => {
                        let mut table = 0;
                        if let Some(InfoData::Vrf(v)) = d {
                            for x in v {
                                if let InfoVrf::TableId(t) = x {
                                    table = *t;
                                }
                            }
                        }
                        LinkKind::Vrf { table }
                    }
                    (Some(InfoKind::Bridge), _) => LinkKind::Bridge,
                    (Some(InfoKind::Veth), _) => LinkKind::Veth,
                    (Some(InfoKind::Vxlan), d) => {
                        let mut v = VxlanInfo {
                            vni: 0,
                            local: None,
                            port: 0,
                            learning: true,
                        };
                        if let Some(InfoData::Vxlan(xs)) = d {
                            for x in xs {
                                match x {
                                    InfoVxlan::Id(i) => v.vni = *i,
                                    InfoVxlan::Local(a) => v.local = Some(IpAddr::V4(*a)),
                                    InfoVxlan::Local6(a) => v.local = Some(IpAddr::V6(*a)),
                                    InfoVxlan::Port(p) => v.port = *p,
                                    InfoVxlan::Learning(l) => v.learning = *l,
                                    _ => {}
                                }
                            }
                        }
                        LinkKind::Vxlan(v)
                    }
                    (Some(other), _) => LinkKind::Other(Some(other.to_string())),
                    (None, _) => LinkKind::Other(None),
                };
            }
            LinkAttribute::AfSpecUnspec(specs) => {
                for s in specs {
                    if let AfSpecUnspec::Inet6(v6) = s {
                        for x in v6 {
                            if let AfSpecInet6::AddrGenMode(g) = x {
                                addr_gen_mode = Some(u8::from(g));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    Some(Link {
        ifindex: m.header.index,
        name: name?,
        kind,
        master,
        up: m.header.flags.contains(LinkFlags::Up),
        carrier: m.header.flags.contains(LinkFlags::LowerUp),
        mtu,
        mac,
        group,
        addr_gen_mode,
        bridge_port,
        addresses: BTreeSet::new(),
        link_locals: BTreeSet::new(),
    })
}

/// Reads a MAC from a netlink attribute payload (`IFLA_ADDRESS`, `NDA_LLADDR`); `None` unless
/// it is exactly six bytes (an IPIP tunnel's four-byte "address", for one, is not a MAC).
pub fn mac_from_slice(bytes: &[u8]) -> Option<MacAddress> {
    <[u8; 6]>::try_from(bytes).ok().map(MacAddress)
}

/// `IN6_ADDR_GEN_MODE_NONE`: no automatic IPv6 link-local address.
pub const ADDR_GEN_MODE_NONE: u8 = 1;

/// The prefix of one `RTM_NEWADDR`, IPv6 link-local excluded (the kernel manages those).
pub fn address_from_message(m: &AddressMessage) -> Option<IpNet> {
    let mut addr = None;
    let mut local = None;
    for a in &m.attributes {
        match a {
            AddressAttribute::Address(ip) => addr = Some(*ip),
            AddressAttribute::Local(ip) => local = Some(*ip),
            _ => {}
        }
    }
    // For IPv4, IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on p2p).
    let ip = local.or(addr)?;
    if let IpAddr::V6(v6) = ip {
        if v6.segments()[0] & 0xffc0 == 0xfe80 {
            return None;
        }
    }
    IpNet::new(ip, m.header.prefix_len).ok()
}

/// The IPv6 link-local address of one `RTM_NEWADDR`, if that is what it holds.
pub fn link_local_from_message(m: &AddressMessage) -> Option<Ipv6Addr> {
    m.attributes.iter().find_map(|a| match a {
        AddressAttribute::Address(IpAddr::V6(v6)) if v6.segments()[0] & 0xffc0 == 0xfe80 => {
            Some(*v6)
        }
        _ => None,
    })
}

/// The gateway of an `RTA_VIA` (a next hop of another family than the route's: IPv4 routes
/// via an IPv6 gateway, RFC 8950); `None` for non-IP families (MPLS).
fn via_addr(v: &RouteVia) -> Option<IpAddr> {
    match v {
        RouteVia::Inet(a) => Some(IpAddr::V4(*a)),
        RouteVia::Inet6(a) => Some(IpAddr::V6(*a)),
        _ => None,
    }
}

fn route_addr(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

/// A route of ours (protocol [`ROUTE_PROTOCOL`], unicast) keyed by (table, prefix).
pub fn route_from_message(m: &RouteMessage) -> Option<((u32, IpNet), ObservedRoute)> {
    if m.header.protocol != RouteProtocol::from(ROUTE_PROTOCOL)
        || m.header.kind != RouteType::Unicast
    {
        return None;
    }
    let mut table = u32::from(m.header.table);
    let mut dst = None;
    let mut gateway = None;
    let mut oif = 0;
    let mut multipath = None;
    let mut nhid = None;
    let mut metric = 0;
    for a in &m.attributes {
        match a {
            RouteAttribute::Priority(p) => metric = *p,
            RouteAttribute::Table(t) => table = *t,
            RouteAttribute::Destination(d) => dst = route_addr(d),
            RouteAttribute::Gateway(g) => gateway = route_addr(g),
            RouteAttribute::Via(v) => gateway = via_addr(v),
            RouteAttribute::Oif(i) => oif = *i,
            RouteAttribute::MultiPath(hops) => multipath = Some(hops),
            RouteAttribute::NhId(id) => nhid = Some(*id),
            _ => {}
        }
    }
    let dst = match dst {
        Some(d) => d,
        None => match m.header.address_family {
            AddressFamily::Inet => IpAddr::V4(0.into()),
            AddressFamily::Inet6 => IpAddr::V6(0.into()),
            _ => return None,
        },
    };
    let prefix = IpNet::new(dst, m.header.destination_prefix_length).ok()?;
    let mut nexthops = BTreeSet::new();
    if let Some(hops) = multipath {
        for h in hops {
            let gw = h.attributes.iter().find_map(|a| match a {
                RouteAttribute::Gateway(g) => route_addr(g),
                RouteAttribute::Via(v) => via_addr(v),
                _ => None,
            });
            nexthops.insert(ObservedNextHop {
                gateway: gw,
                oif: h.interface_index,
                onlink: h.flags.contains(RouteNextHopFlags::Onlink),
            });
        }
    } else if nhid.is_none() {
        nexthops.insert(ObservedNextHop {
            gateway,
            oif,
            onlink: m.header.flags.contains(RouteFlags::Onlink),
        });
    }
    Some((
        (table, prefix),
        ObservedRoute {
            nexthops,
            nhid,
            metric,
        },
    ))
}

fn neigh_addr(a: &NeighbourAddress) -> Option<IpAddr> {
    match a {
        NeighbourAddress::Inet(v) => Some(IpAddr::V4(*v)),
        NeighbourAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        // In AF_BRIDGE messages the parser cannot tell the family from the header: decide by
        // length (VXLAN FDB `NDA_DST` is a bare IPv4 or IPv6 address).
        NeighbourAddress::Other(b) => match b.len() {
            4 => <[u8; 4]>::try_from(b.as_slice()).ok().map(IpAddr::from),
            16 => <[u8; 16]>::try_from(b.as_slice()).ok().map(IpAddr::from),
            _ => None,
        },
        _ => None,
    }
}

/// An ARP/ND entry keyed by (ifindex, IP).
pub fn neighbour_from_message(m: &NeighbourMessage) -> Option<((u32, IpAddr), ObservedNeighbour)> {
    let mut ip = None;
    let mut mac = None;
    for a in &m.attributes {
        match a {
            NeighbourAttribute::Destination(d) => ip = neigh_addr(d),
            NeighbourAttribute::LinkLayerAddress(l) => mac = mac_from_slice(l),
            _ => {}
        }
    }
    Some((
        (m.header.ifindex, ip?),
        ObservedNeighbour {
            mac,
            state: u16::from(m.header.state),
            ext_learned: m.header.flags.contains(NeighbourFlags::ExtLearned),
        },
    ))
}

/// A bridge FDB row.
pub fn fdb_from_message(m: &NeighbourMessage) -> Option<FdbEntry> {
    let mut mac = None;
    let mut dst = None;
    let mut has_master = false;
    for a in &m.attributes {
        match a {
            NeighbourAttribute::LinkLayerAddress(l) => mac = mac_from_slice(l),
            NeighbourAttribute::Destination(d) => dst = neigh_addr(d),
            NeighbourAttribute::Controller(_) => has_master = true,
            _ => {}
        }
    }
    let is_self = m.header.flags.contains(NeighbourFlags::Own);
    Some(FdbEntry {
        ifindex: m.header.ifindex,
        mac: mac?,
        dst,
        is_self,
        // The bridge reports its rows with `NDA_MASTER`, not with the `NTF_MASTER` flag.
        master: !is_self && (has_master || m.header.flags.contains(NeighbourFlags::Controller)),
        ext_learned: m.header.flags.contains(NeighbourFlags::ExtLearned),
        permanent: m.header.state == NeighbourState::Permanent,
    })
}
