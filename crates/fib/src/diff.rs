//! The pure heart of the datapath: `diff(desired, observed) -> ordered operations`.
//!
//! Nothing here touches the kernel. The diff writes nothing that already matches (a needless
//! `RTM_NEWLINK` makes peers flush their neighbour tables), removes only objects this crate owns
//! (by the name prefixes upstream uses, VRFs and `proto bgp` routes in the router namespace,
//! `NTF_EXT_LEARNED` neighbour and FDB rows on our devices), and orders what it writes by
//! [`Phase`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::desired::{
    l2vni_gateway_mac, names, DesiredError, ForwardingState, HostLeg, NodeDatapath, MAIN_TABLE,
    ROUTE_METRIC, UNDERLAY_LINK_GROUP,
};
use crate::nexthop::{NhHop, NhObject, ObservedNhObject};
use crate::observed::{
    BridgePortFlags, Link, LinkKind, NamespaceState, ObservedNode, ADDR_GEN_MODE_NONE,
};
use crate::op::{LinkChange, NextHop, Ns, Op, Phase};
use perouter_evpn::MacAddress;

/// The result of a diff: operations in execution order, and what could not be planned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Operations, sorted by [`Phase`], then by the namespace whose socket carries them
    /// ([`Op::socket_ns`]); stable otherwise.
    pub ops: Vec<Op>,
    /// Things the desired state asks for that cannot be done (e.g. an underlay NIC that exists
    /// in neither namespace); the rest of the plan is still valid.
    pub warnings: Vec<String>,
}

impl Plan {
    /// Whether the node is converged.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Computes the operations that bring `observed` to `desired` + `forwarding`.
pub fn diff(
    desired: &NodeDatapath,
    forwarding: &ForwardingState,
    observed: &ObservedNode,
) -> Result<Plan, DesiredError> {
    diff_with_defaults(desired, forwarding, &forwarding.default_routes, observed)
}

/// [`diff`] with the main table's wanted routes given apart: `default_routes` replaces
/// `forwarding.default_routes`. The streaming audit ([`crate::index::Audit`]) passes only the
/// wanted routes it did not find installed, and leaves the routes it found out of `observed`
/// (their objects listed in [`crate::nexthop::ObservedNhObjects::audited`]).
pub fn diff_with_defaults(
    desired: &NodeDatapath,
    forwarding: &ForwardingState,
    default_routes: &BTreeMap<IpNet, BTreeSet<IpAddr>>,
    observed: &ObservedNode,
) -> Result<Plan, DesiredError> {
    desired.validate()?;
    forwarding.validate()?;
    crate::desired::validate_default_routes(default_routes)?;
    let fresh_ns = NamespaceState::fresh();
    let router = observed.router.as_ref().unwrap_or(&fresh_ns);
    let mut p = Planner {
        ops: Vec::new(),
        warnings: Vec::new(),
        fresh: BTreeSet::new(),
        doomed: BTreeSet::new(),
        arp_flushed: BTreeSet::new(),
    };
    if observed.router.is_none() {
        p.ops.push(Op::CreateNetns {
            name: desired.router_netns.clone(),
        });
    }
    p.sysctls(desired, router, observed.router.is_none());
    p.devices(desired, &observed.host, router);
    p.forwarding(desired, forwarding, default_routes, router);
    let Planner {
        mut ops, warnings, ..
    } = p;
    // Within a phase nothing depends on the other namespace, so the operations of one
    // namespace go together: each phase then costs one batch per namespace, not one per switch.
    ops.sort_by_key(|op| (op.phase(), op.socket_ns()));
    Ok(Plan { ops, warnings })
}

/// How a wanted link comes to exist.
#[derive(Debug, Clone, PartialEq)]
enum Make {
    Vrf {
        table: u32,
    },
    Bridge,
    Vxlan {
        vni: u32,
        local: IpAddr,
        port: u16,
    },
    /// Host leg of a veth, created together with its router-side peer.
    Veth {
        peer: String,
    },
    /// Router leg of a veth (created by its host leg).
    VethPeer,
    /// Not ours to create (`lo`, an underlay NIC).
    Existing,
}

/// One wanted link and the attributes the diff manages on it (`None`: leave as it is).
#[derive(Debug, Clone)]
struct WantLink {
    ns: Ns,
    name: String,
    make: Make,
    master: Option<Option<String>>,
    mtu: Option<u32>,
    mac: Option<MacAddress>,
    group: Option<u32>,
    addr_gen_none: bool,
    bridge_port: Option<BridgePortFlags>,
    addresses: Option<Vec<IpNet>>,
    /// An IPv6 link-local address the link must have besides the kernel's own (which the diff
    /// never removes): the anycast gateway's, see [`gateway_link_local`].
    link_local: Option<Ipv6Addr>,
    up: bool,
}

impl WantLink {
    fn new(ns: Ns, name: String, make: Make) -> Self {
        WantLink {
            ns,
            name,
            make,
            master: None,
            mtu: None,
            mac: None,
            group: None,
            addr_gen_none: false,
            bridge_port: None,
            addresses: None,
            link_local: None,
            up: true,
        }
    }
}

/// The link attributes the diff compares, resolved to names.
struct LinkView {
    master: Option<String>,
    mtu: Option<u32>,
    mac: Option<MacAddress>,
    group: u32,
    addr_gen_mode: Option<u8>,
    bridge_port: Option<BridgePortFlags>,
    addresses: BTreeSet<IpNet>,
    link_locals: BTreeSet<Ipv6Addr>,
    up: bool,
}

impl LinkView {
    fn of(link: &Link, ns: &NamespaceState) -> LinkView {
        LinkView {
            master: link.master.and_then(|m| ns.name_of(m)).map(str::to_string),
            mtu: link.mtu,
            mac: link.mac,
            group: link.group,
            addr_gen_mode: link.addr_gen_mode,
            bridge_port: link.bridge_port,
            addresses: link.addresses.clone(),
            link_locals: link.link_locals.clone(),
            up: link.up,
        }
    }

    /// What a link looks like right after this crate created it (down, no addresses, master
    /// and MTU as given in the create message).
    fn created(master: Option<String>, mtu: Option<u32>, mac: Option<MacAddress>) -> LinkView {
        let bridge_port = master
            .as_ref()
            .filter(|m| m.starts_with(names::BRIDGE_PREFIX))
            .map(|_| BridgePortFlags {
                neigh_suppress: false,
                learning: true,
            });
        LinkView {
            master,
            mtu,
            mac,
            group: 0,
            addr_gen_mode: Some(0),
            bridge_port,
            addresses: BTreeSet::new(),
            link_locals: BTreeSet::new(),
            up: false,
        }
    }

    /// The view after a move into another namespace: down, addresses gone, master released.
    fn moved(link: &Link) -> LinkView {
        LinkView {
            master: None,
            mtu: link.mtu,
            mac: link.mac,
            group: link.group,
            addr_gen_mode: link.addr_gen_mode,
            bridge_port: None,
            addresses: BTreeSet::new(),
            link_locals: BTreeSet::new(),
            up: false,
        }
    }
}

/// The IPv6 link-local address of an anycast gateway: the modified EUI-64 of its fixed MAC
/// (RFC 4291 §2.5.1, appendix A), the same on every node. The bridge has no automatic
/// link-local (`addrgenmode none`: the same address on every node would fail duplicate address
/// detection across the VXLAN), yet without one the kernel sends no neighbour solicitation for
/// routed IPv6 traffic (RFC 4861 §7.2.2 sources it from a link-local): a pod behind an IPv6-only
/// gateway stays unresolved. It is added `nodad`, like every address of ours.
pub fn gateway_link_local(mac: MacAddress) -> Ipv6Addr {
    let m = mac.0;
    Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        u16::from_be_bytes([m[0] ^ 0x02, m[1]]),
        u16::from_be_bytes([m[2], 0xff]),
        u16::from_be_bytes([0xfe, m[3]]),
        u16::from_be_bytes([m[4], m[5]]),
    )
}

/// Addresses on `lo` the kernel owns and the diff never removes.
fn is_loopback_own(a: &IpNet) -> bool {
    match a.addr() {
        IpAddr::V4(v) => v.is_loopback(),
        IpAddr::V6(v) => v.is_loopback(),
    }
}

fn kind_matches(make: &Make, link: &Link) -> bool {
    match (make, &link.kind) {
        (Make::Vrf { table }, LinkKind::Vrf { table: t }) => table == t,
        (Make::Bridge, LinkKind::Bridge) => true,
        (Make::Vxlan { vni, local, port }, LinkKind::Vxlan(v)) => {
            v.vni == *vni && v.local == Some(*local) && v.port == *port && !v.learning
        }
        (Make::Veth { .. } | Make::VethPeer, LinkKind::Veth) => true,
        (Make::Existing, _) => true,
        _ => false,
    }
}

/// Whether a router-namespace link is ours to delete when nobody wants it.
pub(crate) fn ours_in_router(link: &Link) -> bool {
    let n = link.name.as_str();
    matches!(link.kind, LinkKind::Vrf { .. })
        || names::vni_of(n, names::BRIDGE_PREFIX).is_some()
        || (names::vni_of(n, names::VXLAN_PREFIX).is_some()
            && matches!(link.kind, LinkKind::Vxlan(_)))
        || names::vni_of(n, names::ROUTER_VETH_PREFIX).is_some()
        || n == names::PASSTHROUGH_ROUTER
}

/// Whether a host-namespace link is ours to delete when nobody wants it.
fn ours_in_host(link: &Link) -> bool {
    let n = link.name.as_str();
    names::vni_of(n, names::HOST_VETH_PREFIX).is_some()
        || names::vni_of(n, names::HOST_BRIDGE_PREFIX).is_some()
        || n == names::PASSTHROUGH_HOST
}

struct Planner {
    ops: Vec<Op>,
    warnings: Vec<String>,
    /// Router-namespace links created (or recreated) by this plan: the kernel has none of their
    /// forwarding entries yet.
    fresh: BTreeSet<String>,
    /// Router-namespace links deleted by this plan and not recreated: their forwarding entries go
    /// with them.
    doomed: BTreeSet<String>,
    /// Router-namespace links that lose their last IPv4 address in this plan: the kernel flushes
    /// their ARP table then (`fib_del_ifaddr` → `arp_ifdown`), so IPv4 neighbours on them must
    /// be (re)installed after the addresses are changed.
    arp_flushed: BTreeSet<String>,
}

impl Planner {
    fn sysctls(&mut self, d: &NodeDatapath, router: &NamespaceState, new_ns: bool) {
        for s in d.sysctls() {
            let device = s
                .path
                .strip_prefix("net/ipv4/conf/")
                .or_else(|| s.path.strip_prefix("net/ipv6/conf/"))
                .and_then(|r| r.split('/').next())
                .filter(|dev| *dev != "all" && *dev != "default")
                .map(str::to_string);
            let current = router.sysctls.get(&s.path).cloned().flatten();
            let known_absent =
                !new_ns && device.is_none() && router.sysctls.get(&s.path) == Some(&None);
            if s.optional && known_absent {
                continue;
            }
            if current.as_deref().map(str::trim) != Some(s.value.as_str()) {
                self.ops.push(Op::SetSysctl {
                    path: s.path,
                    value: s.value,
                    optional: s.optional,
                    device,
                });
            }
        }
    }

    fn wanted_links(&mut self, d: &NodeDatapath, host: &NamespaceState) -> Vec<WantLink> {
        let mut w = Vec::new();
        let mut lo = WantLink::new(Ns::Router, "lo".into(), Make::Existing);
        lo.addresses = Some(d.vteps.clone());
        w.push(lo);
        for v in &d.l3vnis {
            w.push(WantLink::new(
                Ns::Router,
                v.vrf.clone(),
                Make::Vrf { table: v.table },
            ));
            let mut br = WantLink::new(Ns::Router, names::bridge(v.vni), Make::Bridge);
            br.master = Some(Some(v.vrf.clone()));
            br.mac = v.router_mac;
            br.addr_gen_none = true;
            br.addresses = Some(Vec::new());
            w.push(br);
            w.push(vxlan_want(v.vni, v.local_vtep, v.vxlan_port));
            let (mut h, mut r) =
                veth_want(names::host_veth(v.vni), names::router_veth(v.vni), v.mtu);
            h.addresses = Some(v.addresses.host.clone());
            r.addresses = Some(v.addresses.router.clone());
            r.master = Some(Some(v.vrf.clone()));
            w.push(h);
            w.push(r);
        }
        for v in &d.l2vnis {
            let mut br = WantLink::new(Ns::Router, names::bridge(v.vni), Make::Bridge);
            br.master = Some(v.vrf.clone());
            br.addr_gen_none = true;
            br.addresses = Some(v.gateway_ips.clone());
            if !v.gateway_ips.is_empty() {
                br.mac = Some(l2vni_gateway_mac(v.vni));
            }
            if v.gateway_ips.iter().any(|g| g.addr().is_ipv6()) {
                br.link_local = Some(gateway_link_local(l2vni_gateway_mac(v.vni)));
            }
            w.push(br);
            w.push(vxlan_want(v.vni, v.local_vtep, v.vxlan_port));
            let (mut h, mut r) =
                veth_want(names::host_veth(v.vni), names::router_veth(v.vni), v.mtu);
            r.master = Some(Some(names::bridge(v.vni)));
            r.addresses = Some(Vec::new());
            match &v.host_leg {
                HostLeg::ManagedBridge => {
                    let b = names::host_bridge(v.vni);
                    w.push(WantLink::new(Ns::Host, b.clone(), Make::Bridge));
                    h.master = Some(Some(b));
                }
                HostLeg::ExistingBridge(b) => {
                    if host.links.contains_key(b) {
                        h.master = Some(Some(b.clone()));
                    } else {
                        self.warnings.push(format!(
                            "L2VNI {}: host bridge {b} does not exist; {} left unattached",
                            v.vni, h.name
                        ));
                    }
                }
                HostLeg::Bare => {}
            }
            w.push(h);
            w.push(r);
        }
        if let Some(pt) = &d.passthrough {
            let (mut h, mut r) = veth_want(
                names::PASSTHROUGH_HOST.into(),
                names::PASSTHROUGH_ROUTER.into(),
                pt.mtu,
            );
            h.addresses = Some(pt.addresses.host.clone());
            r.addresses = Some(pt.addresses.router.clone());
            r.master = Some(None);
            w.push(h);
            w.push(r);
        }
        w
    }

    fn devices(&mut self, d: &NodeDatapath, host: &NamespaceState, router: &NamespaceState) {
        let wants = self.wanted_links(d, host);
        let wanted: BTreeSet<(Ns, &str)> = wants
            .iter()
            .map(|w| (w.ns, w.name.as_str()))
            .chain(d.underlay_nics.iter().map(|n| (Ns::Router, n.as_str())))
            .collect();

        // Cleanup: host side first (a veth leg takes its peer with it).
        let mut gone_with_peer = BTreeSet::new();
        for l in host.links.values() {
            if ours_in_host(l) && !wanted.contains(&(Ns::Host, l.name.as_str())) {
                self.ops.push(Op::DeleteLink {
                    ns: Ns::Host,
                    name: l.name.clone(),
                });
                if matches!(l.kind, LinkKind::Veth) {
                    if let Some(vni) = names::vni_of(&l.name, names::HOST_VETH_PREFIX) {
                        gone_with_peer.insert(names::router_veth(vni));
                    } else if l.name == names::PASSTHROUGH_HOST {
                        gone_with_peer.insert(names::PASSTHROUGH_ROUTER.to_string());
                    }
                }
            }
        }
        for l in router.links.values() {
            let name = l.name.as_str();
            if wanted.contains(&(Ns::Router, name)) {
                continue;
            }
            if l.group == UNDERLAY_LINK_GROUP && !ours_in_router(l) {
                // An underlay NIC no longer configured goes back with its addresses.
                self.ops.push(Op::MoveLink {
                    name: l.name.clone(),
                    from: Ns::Router,
                    to: Ns::Host,
                });
                for a in &l.addresses {
                    self.ops.push(Op::AddAddress {
                        ns: Ns::Host,
                        dev: l.name.clone(),
                        addr: *a,
                    });
                }
                self.ops.push(Op::SetUp {
                    ns: Ns::Host,
                    name: l.name.clone(),
                });
                self.doomed.insert(l.name.clone());
            } else if ours_in_router(l) {
                if !gone_with_peer.contains(name) {
                    self.ops.push(Op::DeleteLink {
                        ns: Ns::Router,
                        name: l.name.clone(),
                    });
                }
                self.doomed.insert(l.name.clone());
            }
        }

        // Underlay NICs.
        for nic in &d.underlay_nics {
            let mut want = WantLink::new(Ns::Router, nic.clone(), Make::Existing);
            want.group = Some(UNDERLAY_LINK_GROUP);
            if let Some(l) = router.links.get(nic) {
                self.fixups(&want, LinkView::of(l, router));
            } else if let Some(l) = host.links.get(nic) {
                self.ops.push(Op::MoveLink {
                    name: nic.clone(),
                    from: Ns::Host,
                    to: Ns::Router,
                });
                for a in &l.addresses {
                    self.ops.push(Op::AddAddress {
                        ns: Ns::Router,
                        dev: nic.clone(),
                        addr: *a,
                    });
                }
                self.fresh.insert(nic.clone());
                self.fixups(&want, LinkView::moved(l));
            } else {
                self.warnings
                    .push(format!("underlay NIC {nic} exists in neither namespace"));
            }
        }

        // Wanted links: create what is missing or of the wrong kind, then fix attributes.
        let mut recreated_peers: BTreeSet<String> = BTreeSet::new();
        for w in &wants {
            let ns_state = match w.ns {
                Ns::Host => host,
                Ns::Router => router,
            };
            let existing = ns_state.links.get(&w.name);
            match &w.make {
                Make::Existing => match existing {
                    Some(l) => self.fixups(w, LinkView::of(l, ns_state)),
                    None => self
                        .warnings
                        .push(format!("[{}] {} does not exist", w.ns, w.name)),
                },
                Make::VethPeer => {
                    if recreated_peers.contains(&w.name) {
                        let v = LinkView::created(None, w.mtu, None);
                        self.fixups(w, v);
                    } else if let Some(l) = existing {
                        self.fixups(w, LinkView::of(l, ns_state));
                    }
                }
                Make::Veth { peer } => {
                    let peer_link = router.links.get(peer);
                    let keep = matches!(existing, Some(l) if matches!(l.kind, LinkKind::Veth))
                        && matches!(peer_link, Some(l) if matches!(l.kind, LinkKind::Veth));
                    if keep {
                        if let Some(l) = existing {
                            self.fixups(w, LinkView::of(l, ns_state));
                        }
                        continue;
                    }
                    let host_is_veth =
                        matches!(existing, Some(l) if matches!(l.kind, LinkKind::Veth));
                    if existing.is_some() {
                        self.ops.push(Op::DeleteLink {
                            ns: w.ns,
                            name: w.name.clone(),
                        });
                    }
                    if peer_link.is_some() && !host_is_veth {
                        self.ops.push(Op::DeleteLink {
                            ns: Ns::Router,
                            name: peer.clone(),
                        });
                    }
                    self.ops.push(Op::CreateVeth {
                        host: w.name.clone(),
                        router: peer.clone(),
                        mtu: w.mtu,
                    });
                    recreated_peers.insert(peer.clone());
                    self.fresh.insert(peer.clone());
                    self.fixups(w, LinkView::created(None, w.mtu, None));
                }
                make => {
                    if let Some(l) = existing {
                        if kind_matches(make, l) {
                            self.fixups(w, LinkView::of(l, ns_state));
                            continue;
                        }
                        self.ops.push(Op::DeleteLink {
                            ns: w.ns,
                            name: w.name.clone(),
                        });
                    }
                    let master = w.master.clone().flatten();
                    let op = match make {
                        Make::Vrf { table } => Op::CreateVrf {
                            name: w.name.clone(),
                            table: *table,
                        },
                        Make::Bridge => Op::CreateBridge {
                            ns: w.ns,
                            name: w.name.clone(),
                            master: master.clone(),
                            mac: w.mac,
                        },
                        Make::Vxlan { vni, local, port } => Op::CreateVxlan {
                            name: w.name.clone(),
                            vni: *vni,
                            local: *local,
                            port: *port,
                            master: master.clone().unwrap_or_default(),
                        },
                        _ => continue,
                    };
                    self.ops.push(op);
                    if w.ns == Ns::Router {
                        self.fresh.insert(w.name.clone());
                        self.doomed.remove(&w.name);
                    }
                    self.fixups(w, LinkView::created(master, None, w.mac));
                }
            }
        }
    }

    /// Emits the attribute changes that make `have` what `w` wants, in upstream's order:
    /// MTU, group, MAC, address generation, master; then bridge-port flags, addresses, up.
    fn fixups(&mut self, w: &WantLink, have: LinkView) {
        let set = |change| Op::SetLink {
            ns: w.ns,
            name: w.name.clone(),
            change,
        };
        if let Some(mtu) = w.mtu {
            if have.mtu != Some(mtu) {
                self.ops.push(set(LinkChange::Mtu(mtu)));
            }
        }
        if let Some(g) = w.group {
            if have.group != g {
                self.ops.push(set(LinkChange::Group(g)));
            }
        }
        if let Some(mac) = w.mac {
            if have.mac != Some(mac) {
                self.ops.push(set(LinkChange::Mac(mac)));
            }
        }
        if w.addr_gen_none && have.addr_gen_mode != Some(ADDR_GEN_MODE_NONE) {
            self.ops.push(set(LinkChange::AddrGenModeNone));
        }
        if let Some(m) = &w.master {
            if have.master != *m {
                self.ops.push(set(LinkChange::Master(m.clone())));
            }
        }
        if let Some(bp) = w.bridge_port {
            if have.bridge_port != Some(bp) {
                self.ops.push(Op::SetBridgePort {
                    name: w.name.clone(),
                    neigh_suppress: bp.neigh_suppress,
                    learning: bp.learning,
                });
            }
        }
        if let Some(addrs) = &w.addresses {
            let want: BTreeSet<IpNet> = addrs.iter().copied().collect();
            let had_v4 = have.addresses.iter().any(|a| a.addr().is_ipv4());
            if w.ns == Ns::Router && had_v4 && !want.iter().any(|a| a.addr().is_ipv4()) {
                self.arp_flushed.insert(w.name.clone());
            }
            for a in &have.addresses {
                let kernel_own = w.name == "lo" && is_loopback_own(a);
                if !(want.contains(a) || kernel_own) {
                    self.ops.push(Op::DelAddress {
                        ns: w.ns,
                        dev: w.name.clone(),
                        addr: *a,
                    });
                }
            }
            for a in &want {
                if !have.addresses.contains(a) {
                    self.ops.push(Op::AddAddress {
                        ns: w.ns,
                        dev: w.name.clone(),
                        addr: *a,
                    });
                }
            }
        }
        if let Some(ll) = w.link_local {
            if !have.link_locals.contains(&ll) {
                self.ops.push(Op::AddAddress {
                    ns: w.ns,
                    dev: w.name.clone(),
                    addr: IpNet::new(IpAddr::V6(ll), 64).expect("/64 is a valid IPv6 prefix"),
                });
            }
        }
        if w.up && !have.up {
            self.ops.push(Op::SetUp {
                ns: w.ns,
                name: w.name.clone(),
            });
        }
    }

    /// The next hops of `prefix` via `gateways` of its own address family. A gateway of the
    /// other family is skipped with a warning naming the route (`what`, e.g. `main-table
    /// route`): a kernel route's gateways are of its prefix's family.
    fn same_family_hops<'a>(
        &mut self,
        what: &str,
        prefix: &IpNet,
        gateways: impl IntoIterator<Item = &'a IpAddr>,
    ) -> BTreeSet<NextHop> {
        let mut hops = BTreeSet::new();
        for gw in gateways {
            if prefix.addr().is_ipv4() == gw.is_ipv4() {
                hops.insert(NextHop::via(*gw));
            } else {
                self.warnings.push(format!(
                    "{what} {prefix} via {gw}: mixed address families are not supported; next \
                     hop skipped"
                ));
            }
        }
        hops
    }

    /// The next hops of a main-table route ([`NextHop::for_gateway`]); a gateway the kernel
    /// cannot take is skipped with a warning.
    fn gateway_hops(
        &mut self,
        prefix: &IpNet,
        gateways: &BTreeSet<IpAddr>,
        link_local_devices: &BTreeMap<std::net::Ipv6Addr, String>,
    ) -> BTreeSet<NextHop> {
        let mut hops = BTreeSet::new();
        for gw in gateways {
            match NextHop::for_gateway(prefix, *gw, link_local_devices) {
                Some(h) => {
                    hops.insert(h);
                }
                None => self.warnings.push(format!(
                    "main-table route {prefix} via {gw}: an IPv4 gateway for an IPv6 prefix, or a \
                     link-local gateway on no known device; next hop skipped"
                )),
            }
        }
        hops
    }

    /// Whether `dev` is up with a carrier and stays so in this plan: the kernel refuses a
    /// nexthop object on a device without (`Carrier for nexthop device is down`), though it
    /// takes a route with the gateway in it.
    ///
    /// A device this plan creates is taken to be running once the plan brought it up (the
    /// driver falls back to gateways in the routes if the kernel refuses the object).
    fn running(&self, router: &NamespaceState, dev: &str) -> bool {
        !self.doomed.contains(dev)
            && (self.fresh.contains(dev)
                || router.links.get(dev).is_some_and(|l| l.up && l.carrier))
    }

    /// The device of a gateway the kernel would resolve itself: the one live link (not `lo`)
    /// with an address on the gateway's subnet. A nexthop object needs its device (`NHA_OIF`);
    /// `None` (no such link, or several) keeps the route's gateway in the route.
    fn resolve_dev(&self, router: &NamespaceState, gateway: IpAddr) -> Option<String> {
        let mut found = router.links.values().filter(|l| {
            l.name != "lo"
                && self.running(router, &l.name)
                && l.addresses.iter().any(|a| {
                    a.prefix_len() < a.max_prefix_len()
                        && a.contains(&gateway)
                        && a.addr() != gateway
                })
        });
        let one = found.next()?;
        found.next().is_none().then(|| one.name.clone())
    }

    /// The route operations: routes of ours the kernel has and nothing wants go, wanted routes
    /// not installed as wanted are (re)installed. With nexthop objects ([`crate::nexthop`]) a
    /// route refers to one object per distinct next hop (a group object per ECMP set): objects
    /// are reused by content, re-pointed when every route using one moves to the same new next
    /// hops (one message instead of one per route), created for new next hops and deleted once
    /// no route uses them.
    fn routes(
        &mut self,
        mut plain: BTreeMap<(u32, IpNet), BTreeSet<NextHop>>,
        router: &NamespaceState,
    ) -> Vec<Op> {
        let live = |ifindex: u32| -> Option<&str> {
            let n = router.name_of(ifindex)?;
            (!self.fresh.contains(n)).then_some(n)
        };
        let doomed = |n: &str| self.doomed.contains(n);
        let nh = &router.nexthops;
        // Wanted routes that go through objects: every hop tied to a device.
        let mut wanted: BTreeMap<(u32, IpNet), BTreeSet<NhHop>> = BTreeMap::new();
        if nh.supported {
            let keys: Vec<(u32, IpNet)> = plain.keys().copied().collect();
            for key in keys {
                let hops = &plain[&key];
                let obj: Option<BTreeSet<NhHop>> = hops
                    .iter()
                    .map(|h| match &h.dev {
                        Some(dev) if self.running(router, dev) => Some(NhHop {
                            gateway: h.gateway,
                            dev: dev.clone(),
                            onlink: true,
                        }),
                        Some(_) => None,
                        None => self.resolve_dev(router, h.gateway).map(|dev| NhHop {
                            gateway: h.gateway,
                            dev,
                            onlink: false,
                        }),
                    })
                    .collect();
                if let Some(obj) = obj {
                    plain.remove(&key);
                    wanted.insert(key, obj);
                }
            }
        }
        // What each of our objects holds (objects on devices that are gone or recreated hold
        // nothing usable), and which object holds what.
        let hop_of = |o: &ObservedNhObject| -> Option<NhHop> {
            match o {
                ObservedNhObject::Hop {
                    gateway: Some(gateway),
                    oif,
                    onlink,
                } => live(*oif).map(|dev| NhHop {
                    gateway: *gateway,
                    dev: dev.to_string(),
                    onlink: *onlink,
                }),
                _ => None,
            }
        };
        let mut content: BTreeMap<u32, BTreeSet<NhHop>> = BTreeMap::new();
        let mut is_group: BTreeSet<u32> = BTreeSet::new();
        let mut in_group: BTreeSet<u32> = BTreeSet::new();
        for (id, o) in &nh.ours {
            match o {
                ObservedNhObject::Hop { .. } => {
                    if let Some(h) = hop_of(o) {
                        content.insert(*id, BTreeSet::from([h]));
                    }
                }
                ObservedNhObject::Group(members) => {
                    is_group.insert(*id);
                    in_group.extend(members.iter().copied());
                    let set: Option<BTreeSet<NhHop>> = members
                        .iter()
                        .map(|m| nh.ours.get(m).and_then(hop_of))
                        .collect();
                    if let Some(set) = set.filter(|s| s.len() == members.len()) {
                        content.insert(*id, set);
                    }
                }
            }
        }
        let mut by_hop: BTreeMap<NhHop, u32> = BTreeMap::new();
        let mut by_set: BTreeMap<BTreeSet<NhHop>, u32> = BTreeMap::new();
        for (id, set) in &content {
            if is_group.contains(id) {
                by_set.entry(set.clone()).or_insert(*id);
            } else if let Some(h) = set.first() {
                by_hop.entry(h.clone()).or_insert(*id);
            }
        }

        let mut ops = Vec::new();
        // Objects a route keeps using, and the routes of each object that change or go.
        // Objects of the routes the streaming audit found installed as wanted stay.
        let mut kept: BTreeSet<u32> = nh.audited.clone();
        let mut movers: BTreeMap<u32, Vec<(u32, IpNet)>> = BTreeMap::new();
        let mut leaving: BTreeSet<u32> = BTreeSet::new();
        // Descending prefix order: the kernel's FIB trie deletes a big table about ten times
        // faster that way than in ascending order (performance.md).
        for ((table, prefix), r) in router.routes.iter().rev() {
            let key = (*table, *prefix);
            if let Some(id) = r.nhid {
                let have = content.get(&id);
                let on_doomed = have.is_some_and(|s| s.iter().any(|h| doomed(&h.dev)));
                match wanted.get(&key) {
                    Some(want) if have == Some(want) => {
                        wanted.remove(&key);
                        kept.insert(id);
                    }
                    Some(_) => movers.entry(id).or_default().push(key),
                    None if plain.contains_key(&key) => {
                        leaving.insert(id);
                    }
                    None if on_doomed => {}
                    None => {
                        leaving.insert(id);
                        ops.push(Op::DelRoute {
                            table: *table,
                            prefix: *prefix,
                            metric: ROUTE_METRIC,
                        });
                    }
                }
                continue;
            }
            let mut have = BTreeSet::new();
            let mut intact = true;
            let mut on_doomed = false;
            for h in &r.nexthops {
                match h.gateway {
                    Some(gateway) if h.onlink => match live(h.oif) {
                        Some(dev) => {
                            on_doomed |= doomed(dev);
                            have.insert(NextHop::onlink(gateway, dev));
                        }
                        None => intact = false,
                    },
                    Some(gateway) => {
                        // Resolved by the kernel: the device it chose matters only when this
                        // plan deletes or recreates it (the route goes with it).
                        if let Some(dev) = router.name_of(h.oif) {
                            if doomed(dev) || self.fresh.contains(dev) {
                                on_doomed |= doomed(dev);
                                intact = false;
                            }
                        }
                        have.insert(NextHop::via(gateway));
                    }
                    None => intact = false,
                }
            }
            // A route that carries its gateways and forwards as wanted is kept as it is, even
            // where an object could serve it (installed before its devices ran, by a perouter
            // without objects, or by the edge path): rewriting a working route only to change
            // its form is churn. It moves to an object when its next hops change.
            let as_plain = |set: &BTreeSet<NhHop>| -> BTreeSet<NextHop> {
                set.iter()
                    .map(|h| {
                        if h.onlink {
                            NextHop::onlink(h.gateway, h.dev.clone())
                        } else {
                            NextHop::via(h.gateway)
                        }
                    })
                    .collect()
            };
            if intact && wanted.get(&key).is_some_and(|w| as_plain(w) == have) {
                wanted.remove(&key);
                continue;
            }
            match plain.get(&key) {
                Some(want) if intact && *want == have => {
                    plain.remove(&key);
                }
                Some(_) => {}
                None if wanted.contains_key(&key) || on_doomed => {}
                None => ops.push(Op::DelRoute {
                    table: *table,
                    prefix: *prefix,
                    metric: ROUTE_METRIC,
                }),
            }
        }
        for ((table, prefix), hops) in plain {
            ops.push(Op::ReplaceRoute {
                table,
                prefix,
                nexthops: hops.into_iter().collect(),
            });
        }

        let mut taken = nh.taken.clone();
        let mut hop_ops = Vec::new();
        let mut group_ops = Vec::new();
        // Re-point an object when every route using it that stays moves to the same new next
        // hops nothing holds yet: one message moves them all.
        for (id, keys) in &movers {
            if kept.contains(id) || leaving.contains(id) || in_group.contains(id) {
                continue;
            }
            let Some(target) = wanted.get(&keys[0]).cloned() else {
                continue;
            };
            if keys.iter().any(|k| wanted.get(k) != Some(&target)) {
                continue;
            }
            let group = is_group.contains(id);
            if group != (target.len() > 1) {
                continue; // the kernel does not turn a hop into a group or back
            }
            let object = if group {
                if by_set.contains_key(&target) {
                    continue;
                }
                let mut members = Vec::new();
                for h in &target {
                    match hop_object(h, &mut by_hop, &mut taken, &mut hop_ops) {
                        Some(m) => members.push(m),
                        None => break,
                    }
                }
                if members.len() != target.len() {
                    continue;
                }
                members.sort_unstable();
                by_set.retain(|_, v| v != id);
                by_set.insert(target.clone(), *id);
                NhObject::Group(members)
            } else {
                let hop = target.first().expect("one hop").clone();
                if by_hop.contains_key(&hop) {
                    continue;
                }
                by_hop.retain(|_, v| v != id);
                by_hop.insert(hop.clone(), *id);
                NhObject::Hop(hop)
            };
            content.insert(*id, target);
            (if group { &mut group_ops } else { &mut hop_ops })
                .push(Op::ReplaceNhObject { id: *id, object });
            for k in keys {
                wanted.remove(k);
            }
            kept.insert(*id);
        }
        // Every other wanted route: its object (created if none holds its next hops).
        for ((table, prefix), set) in wanted {
            let id = if set.len() == 1 {
                let hop = set.first().expect("one hop");
                hop_object(hop, &mut by_hop, &mut taken, &mut hop_ops)
            } else if let Some(id) = by_set.get(&set) {
                Some(*id)
            } else {
                let members: Option<Vec<u32>> = set
                    .iter()
                    .map(|h| hop_object(h, &mut by_hop, &mut taken, &mut hop_ops))
                    .collect();
                members.and_then(|mut members| {
                    members.sort_unstable();
                    let id = crate::nexthop::allocate(&mut taken)?;
                    group_ops.push(Op::ReplaceNhObject {
                        id,
                        object: NhObject::Group(members),
                    });
                    by_set.insert(set.clone(), id);
                    content.insert(id, set.clone());
                    is_group.insert(id);
                    Some(id)
                })
            };
            match id {
                Some(nhid) => {
                    kept.insert(nhid);
                    ops.push(Op::ReplaceRouteNh {
                        table,
                        prefix,
                        nhid,
                    });
                }
                None => {
                    self.warnings.push(format!(
                        "route {prefix} table {table}: perouter's nexthop id range is full; \
                         installed with its gateways"
                    ));
                    ops.push(Op::ReplaceRoute {
                        table,
                        prefix,
                        nexthops: set
                            .into_iter()
                            .map(|h| NextHop {
                                gateway: h.gateway,
                                dev: h.onlink.then_some(h.dev),
                            })
                            .collect(),
                    });
                }
            }
        }
        ops.extend(hop_ops);
        ops.extend(group_ops);
        // Objects no route uses any more go, groups before their members; those on devices
        // this plan deletes (or that are gone) go with the device.
        let mut used = kept.clone();
        let repointed: BTreeSet<u32> = ops
            .iter()
            .filter_map(|op| match op {
                Op::ReplaceNhObject { id, .. } => Some(*id),
                _ => None,
            })
            .collect();
        for id in kept.difference(&repointed) {
            if let Some(ObservedNhObject::Group(m)) = nh.ours.get(id) {
                used.extend(m.iter().copied());
            }
        }
        for op in &ops {
            if let Op::ReplaceNhObject {
                object: NhObject::Group(m),
                ..
            } = op
            {
                used.extend(m.iter().copied());
            }
        }
        let on_gone_device = |o: &ObservedNhObject| match o {
            ObservedNhObject::Hop { oif, .. } => router.name_of(*oif).is_none_or(doomed),
            ObservedNhObject::Group(m) => m.iter().all(|m| {
                nh.ours.get(m).is_none_or(|o| match o {
                    ObservedNhObject::Hop { oif, .. } => router.name_of(*oif).is_none_or(doomed),
                    ObservedNhObject::Group(_) => false,
                })
            }),
        };
        let mut del_groups = Vec::new();
        let mut del_hops = Vec::new();
        for (id, o) in &nh.ours {
            if used.contains(id) || on_gone_device(o) {
                continue;
            }
            match o {
                ObservedNhObject::Group(_) => del_groups.push(Op::DelNhObject { id: *id }),
                ObservedNhObject::Hop { .. } => del_hops.push(Op::DelNhObject { id: *id }),
            }
        }
        ops.extend(del_groups);
        ops.extend(del_hops);
        ops
    }

    fn forwarding(
        &mut self,
        d: &NodeDatapath,
        f: &ForwardingState,
        default_routes: &BTreeMap<IpNet, BTreeSet<IpAddr>>,
        router: &NamespaceState,
    ) {
        let vni_devices: BTreeSet<u32> = d
            .l3vnis
            .iter()
            .map(|v| v.vni)
            .chain(d.l2vnis.iter().map(|v| v.vni))
            .collect();
        let mut routes: BTreeMap<(u32, IpNet), BTreeSet<NextHop>> = BTreeMap::new();
        let mut neigh: BTreeMap<(String, IpAddr), MacAddress> = BTreeMap::new();
        let mut fdb: BTreeMap<(String, MacAddress), IpAddr> = BTreeMap::new();
        let mut flood: BTreeSet<(String, IpAddr)> = BTreeSet::new();

        for (vni, vr) in &f.vrf_routes {
            if !vni_devices.contains(vni) {
                self.warnings.push(format!(
                    "routes for VNI {vni}, which has no devices: skipped"
                ));
                continue;
            }
            if let Some(l3) = d.l3vnis.iter().find(|v| v.vni == *vni) {
                if l3.table != vr.table {
                    self.warnings.push(format!(
                        "routes for L3VNI {vni} name table {} but its VRF {} uses {}: skipped",
                        vr.table, l3.vrf, l3.table
                    ));
                    continue;
                }
            }
            let br = names::bridge(*vni);
            let vx = names::vxlan(*vni);
            let mut v6_over_v4: BTreeSet<Ipv4Addr> = BTreeSet::new();
            for (prefix, vteps) in &vr.routes {
                let mut hops = BTreeSet::new();
                for vtep in vteps {
                    let gateway = match (prefix, vtep) {
                        (IpNet::V4(_), IpAddr::V4(_)) | (IpNet::V6(_), IpAddr::V6(_)) => *vtep,
                        (IpNet::V6(_), IpAddr::V4(v4)) => {
                            // zebra's model: an IPv4-mapped gateway resolved by an IPv6
                            // neighbour entry carrying the router MAC (RFC 4291 §2.5.5.2).
                            v6_over_v4.insert(*v4);
                            IpAddr::V6(v4.to_ipv6_mapped())
                        }
                        (IpNet::V4(_), IpAddr::V6(_)) => {
                            self.warnings.push(format!(
                                "IPv4 route {prefix} over IPv6 VTEP {vtep} is not supported: skipped"
                            ));
                            continue;
                        }
                    };
                    hops.insert(NextHop::onlink(gateway, br.clone()));
                }
                if !hops.is_empty() {
                    routes.insert((vr.table, prefix.trunc()), hops);
                }
            }
            for (prefix, gateways) in &vr.gateway_routes {
                let what = format!("VRF {} route", vr.table);
                let hops = self.same_family_hops(&what, prefix, gateways);
                if !hops.is_empty() {
                    routes
                        .entry((vr.table, prefix.trunc()))
                        .or_default()
                        .extend(hops);
                }
            }
            for (vtep, mac) in &vr.router_macs {
                neigh.insert((br.clone(), *vtep), *mac);
                if let IpAddr::V4(v4) = vtep {
                    if v6_over_v4.contains(v4) {
                        neigh.insert((br.clone(), IpAddr::V6(v4.to_ipv6_mapped())), *mac);
                    }
                }
                if let Some(prev) = fdb.insert((vx.clone(), *mac), *vtep) {
                    if prev != *vtep {
                        self.warnings.push(format!(
                            "router MAC {mac} of L3VNI {vni} is announced by {prev} and {vtep}"
                        ));
                    }
                }
            }
        }
        for (prefix, gateways) in default_routes {
            let hops = self.gateway_hops(prefix, gateways, &f.link_local_devices);
            if !hops.is_empty() {
                routes.insert((MAIN_TABLE, prefix.trunc()), hops);
            }
        }
        for ((vni, mac), vtep) in &f.remote_macs {
            if vni_devices.contains(vni) {
                fdb.insert((names::vxlan(*vni), *mac), *vtep);
            } else {
                self.warnings
                    .push(format!("remote MAC {mac} in unknown VNI {vni}: skipped"));
            }
        }
        for (vni, vtep) in &f.flood {
            if vni_devices.contains(vni) {
                flood.insert((names::vxlan(*vni), *vtep));
            } else {
                self.warnings
                    .push(format!("flood entry for unknown VNI {vni}: skipped"));
            }
        }
        for ((vni, ip), mac) in &f.remote_neighbours {
            if vni_devices.contains(vni) {
                neigh.insert((names::bridge(*vni), *ip), *mac);
            } else {
                self.warnings.push(format!(
                    "remote neighbour {ip} in unknown VNI {vni}: skipped"
                ));
            }
        }

        let route_ops = self.routes(routes, router);
        // What the kernel has on devices that survive this plan unchanged.
        let live = |ifindex: u32| -> Option<&str> {
            let n = router.name_of(ifindex)?;
            (!self.fresh.contains(n)).then_some(n)
        };
        let doomed = |n: &str| self.doomed.contains(n);
        let mut ops = Vec::new();

        // Descending prefix order: the kernel's FIB trie deletes a big table about ten times
        // faster that way than in ascending order (performance.md).
        // Routes of ours with another metric: remove (ours are all ROUTE_METRIC).
        for ((table, prefix), r) in &router.stray_routes {
            let on_doomed = r
                .nexthops
                .iter()
                .any(|h| router.name_of(h.oif).is_some_and(doomed));
            if !on_doomed {
                ops.push(Op::DelRoute {
                    table: *table,
                    prefix: *prefix,
                    metric: r.metric,
                });
            }
        }
        ops.extend(route_ops);

        for ((ifindex, ip), n) in &router.neighbours {
            let Some(dev) = live(*ifindex) else { continue };
            if ip.is_ipv4() && self.arp_flushed.contains(dev) {
                continue;
            }
            if !n.ext_learned || names::vni_of(dev, names::BRIDGE_PREFIX).is_none() {
                continue;
            }
            let key = (dev.to_string(), *ip);
            match neigh.get(&key) {
                Some(mac) if n.mac == Some(*mac) => {
                    neigh.remove(&key);
                }
                Some(_) => {}
                None if doomed(dev) => {}
                None => ops.push(Op::DelNeighbour {
                    dev: key.0,
                    ip: *ip,
                }),
            }
        }
        for ((dev, ip), mac) in neigh {
            ops.push(Op::ReplaceNeighbour { dev, ip, mac });
        }

        let mut self_rows: BTreeMap<(String, MacAddress), BTreeSet<IpAddr>> = BTreeMap::new();
        let mut master_rows: BTreeSet<(String, MacAddress)> = BTreeSet::new();
        for e in &router.fdb {
            let Some(dev) = live(e.ifindex) else { continue };
            if names::vni_of(dev, names::VXLAN_PREFIX).is_none() || doomed(dev) {
                continue;
            }
            if e.is_self {
                if let Some(dst) = e.dst {
                    self_rows
                        .entry((dev.to_string(), e.mac))
                        .or_default()
                        .insert(dst);
                }
            } else if e.master && e.ext_learned && !e.permanent {
                master_rows.insert((dev.to_string(), e.mac));
            }
        }
        let wanted_macs: BTreeSet<(String, MacAddress)> = fdb.keys().cloned().collect();
        for ((dev, mac), dsts) in &self_rows {
            if *mac == MacAddress::ZERO {
                for dst in dsts {
                    if !flood.remove(&(dev.clone(), *dst)) {
                        ops.push(Op::DelFdb {
                            dev: dev.clone(),
                            mac: *mac,
                            dst: Some(*dst),
                            master: false,
                        });
                    }
                }
                continue;
            }
            let want = fdb.get(&(dev.clone(), *mac)).copied();
            for dst in dsts {
                if Some(*dst) != want {
                    ops.push(Op::DelFdb {
                        dev: dev.clone(),
                        mac: *mac,
                        dst: Some(*dst),
                        master: false,
                    });
                }
            }
            if let Some(w) = want {
                if dsts.contains(&w) && master_rows.contains(&(dev.clone(), *mac)) {
                    fdb.remove(&(dev.clone(), *mac));
                }
            }
        }
        for (dev, mac) in &master_rows {
            if !wanted_macs.contains(&(dev.clone(), *mac)) {
                ops.push(Op::DelFdb {
                    dev: dev.clone(),
                    mac: *mac,
                    dst: None,
                    master: true,
                });
            }
        }
        for ((dev, mac), dst) in fdb {
            ops.push(Op::ReplaceFdb { dev, mac, dst });
        }
        for (dev, dst) in flood {
            ops.push(Op::AppendFlood { dev, dst });
        }
        self.ops.extend(ops);
    }
}

/// The object holding `hop`, created (with an id from perouter's range) if none does.
fn hop_object(
    hop: &NhHop,
    by_hop: &mut BTreeMap<NhHop, u32>,
    taken: &mut BTreeSet<u32>,
    hop_ops: &mut Vec<Op>,
) -> Option<u32> {
    if let Some(id) = by_hop.get(hop) {
        return Some(*id);
    }
    let id = crate::nexthop::allocate(taken)?;
    hop_ops.push(Op::ReplaceNhObject {
        id,
        object: NhObject::Hop(hop.clone()),
    });
    by_hop.insert(hop.clone(), id);
    Some(id)
}

fn vxlan_want(vni: u32, local: IpAddr, port: u16) -> WantLink {
    let mut vx = WantLink::new(
        Ns::Router,
        names::vxlan(vni),
        Make::Vxlan { vni, local, port },
    );
    vx.master = Some(Some(names::bridge(vni)));
    vx.addr_gen_none = true;
    vx.bridge_port = Some(BridgePortFlags {
        neigh_suppress: true,
        learning: false,
    });
    vx.addresses = Some(Vec::new());
    vx
}

fn veth_want(host: String, router: String, mtu: Option<u32>) -> (WantLink, WantLink) {
    let mut h = WantLink::new(
        Ns::Host,
        host,
        Make::Veth {
            peer: router.clone(),
        },
    );
    h.mtu = mtu;
    let mut r = WantLink::new(Ns::Router, router, Make::VethPeer);
    r.mtu = mtu;
    (h, r)
}

/// Whether `ops` respects the phase order (used by tests and by the driver's debug checks).
pub fn is_ordered(ops: &[Op]) -> bool {
    ops.windows(2).all(|w| w[0].phase() <= w[1].phase())
}

/// The phases present in `ops`, in order (for logs).
pub fn phases(ops: &[Op]) -> Vec<Phase> {
    let mut v: Vec<Phase> = ops.iter().map(Op::phase).collect();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    //! The diff against a model kernel: `sim` applies operations to an [`ObservedNode`] the way
    //! the kernel would, so idempotence (`diff(d, apply(diff(d, o))) == []`) and ordering are
    //! checked without a kernel. The real-kernel tests live in `tests/`.
    use super::*;
    use crate::desired::{L2Vni, L3Vni, Passthrough, VethAddresses, VrfRoutes};
    use crate::observed::{FdbEntry, ObservedNeighbour, ObservedNextHop, ObservedRoute, VxlanInfo};
    use proptest::prelude::*;

    fn ns_mut(o: &mut ObservedNode, ns: Ns) -> &mut NamespaceState {
        match ns {
            Ns::Host => &mut o.host,
            Ns::Router => o.router.as_mut().expect("router ns exists"),
        }
    }

    fn new_link(st: &NamespaceState, name: &str, kind: LinkKind) -> Link {
        let ifindex = st.links.values().map(|l| l.ifindex).max().unwrap_or(1) + 1;
        Link {
            ifindex,
            name: name.into(),
            kind,
            master: None,
            up: false,
            carrier: false,
            mtu: Some(1500),
            mac: Some(MacAddress([
                2,
                0,
                0,
                0,
                (ifindex >> 8) as u8,
                ifindex as u8,
            ])),
            group: 0,
            addr_gen_mode: Some(0),
            bridge_port: None,
            addresses: BTreeSet::new(),
            link_locals: BTreeSet::new(),
        }
    }

    fn idx(st: &NamespaceState, name: &str) -> u32 {
        st.links
            .get(name)
            .unwrap_or_else(|| panic!("no link {name}"))
            .ifindex
    }

    fn remove_link(st: &mut NamespaceState, name: &str) {
        if let Some(l) = st.links.remove(name) {
            let i = l.ifindex;
            st.routes
                .retain(|_, r| r.nexthops.iter().all(|h| h.oif != i));
            st.neighbours.retain(|(ifi, _), _| *ifi != i);
            st.fdb.retain(|e| e.ifindex != i);
            for other in st.links.values_mut() {
                if other.master == Some(i) {
                    other.master = None;
                    other.bridge_port = None;
                }
            }
        }
    }

    fn enslave(st: &mut NamespaceState, name: &str, master: Option<&str>) {
        let m = master.map(|m| idx(st, m));
        let is_bridge = master
            .and_then(|m| st.links.get(m))
            .is_some_and(|l| l.kind == LinkKind::Bridge);
        let l = st.links.get_mut(name).unwrap();
        l.master = m;
        l.bridge_port = is_bridge.then_some(BridgePortFlags {
            neigh_suppress: false,
            learning: true,
        });
    }

    /// Applies `ops` to `o` as the kernel would.
    fn sim(o: &mut ObservedNode, ops: &[Op]) {
        for op in ops {
            match op {
                Op::CreateNetns { .. } => o.router = Some(NamespaceState::fresh()),
                Op::SetSysctl { path, value, .. } => {
                    ns_mut(o, Ns::Router)
                        .sysctls
                        .insert(path.clone(), Some(value.clone()));
                }
                Op::DeleteLink { ns, name } => {
                    remove_link(ns_mut(o, *ns), name);
                    if let Some(vni) = names::vni_of(name, names::HOST_VETH_PREFIX) {
                        remove_link(ns_mut(o, Ns::Router), &names::router_veth(vni));
                    }
                    if name == names::PASSTHROUGH_HOST {
                        remove_link(ns_mut(o, Ns::Router), names::PASSTHROUGH_ROUTER);
                    }
                }
                Op::MoveLink { name, from, to } => {
                    let mut l = ns_mut(o, *from).links.get(name).unwrap().clone();
                    remove_link(ns_mut(o, *from), name);
                    let dst = ns_mut(o, *to);
                    l.ifindex = new_link(dst, name, LinkKind::Veth).ifindex;
                    l.addresses.clear();
                    l.up = false;
                    dst.links.insert(name.clone(), l);
                }
                Op::CreateVrf { name, table } => {
                    let st = ns_mut(o, Ns::Router);
                    let l = new_link(st, name, LinkKind::Vrf { table: *table });
                    st.links.insert(name.clone(), l);
                }
                Op::CreateBridge {
                    ns,
                    name,
                    master,
                    mac,
                } => {
                    let st = ns_mut(o, *ns);
                    let mut l = new_link(st, name, LinkKind::Bridge);
                    if mac.is_some() {
                        l.mac = *mac;
                    }
                    st.links.insert(name.clone(), l);
                    enslave(st, name, master.as_deref());
                }
                Op::CreateVxlan {
                    name,
                    vni,
                    local,
                    port,
                    master,
                } => {
                    let st = ns_mut(o, Ns::Router);
                    let info = VxlanInfo {
                        vni: *vni,
                        local: Some(*local),
                        port: *port,
                        learning: false,
                    };
                    let l = new_link(st, name, LinkKind::Vxlan(info));
                    st.links.insert(name.clone(), l);
                    enslave(st, name, Some(master));
                }
                Op::CreateVeth { host, router, mtu } => {
                    for (ns, n) in [(Ns::Host, host), (Ns::Router, router)] {
                        let st = ns_mut(o, ns);
                        let mut l = new_link(st, n, LinkKind::Veth);
                        if mtu.is_some() {
                            l.mtu = *mtu;
                        }
                        st.links.insert(n.clone(), l);
                    }
                }
                Op::SetLink { ns, name, change } => {
                    let st = ns_mut(o, *ns);
                    match change {
                        LinkChange::Master(m) => enslave(st, name, m.as_deref()),
                        LinkChange::Mtu(m) => st.links.get_mut(name).unwrap().mtu = Some(*m),
                        LinkChange::Mac(m) => st.links.get_mut(name).unwrap().mac = Some(*m),
                        LinkChange::Group(g) => st.links.get_mut(name).unwrap().group = *g,
                        LinkChange::AddrGenModeNone => {
                            st.links.get_mut(name).unwrap().addr_gen_mode = Some(ADDR_GEN_MODE_NONE)
                        }
                    }
                }
                Op::SetBridgePort {
                    name,
                    neigh_suppress,
                    learning,
                } => {
                    let l = ns_mut(o, Ns::Router).links.get_mut(name).unwrap();
                    assert!(l.bridge_port.is_some(), "{name} is not a bridge port yet");
                    l.bridge_port = Some(BridgePortFlags {
                        neigh_suppress: *neigh_suppress,
                        learning: *learning,
                    });
                }
                Op::AddAddress { ns, dev, addr } => {
                    let l = ns_mut(o, *ns).links.get_mut(dev).unwrap();
                    match addr.addr() {
                        IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80 => {
                            l.link_locals.insert(v6);
                        }
                        _ => {
                            l.addresses.insert(*addr);
                        }
                    }
                }
                Op::DelAddress { ns, dev, addr } => {
                    let st = ns_mut(o, *ns);
                    let l = st.links.get_mut(dev).unwrap();
                    l.addresses.remove(addr);
                    // The last IPv4 address gone: the kernel flushes the device's ARP entries.
                    if !l.addresses.iter().any(|a| a.addr().is_ipv4()) && addr.addr().is_ipv4() {
                        let i = l.ifindex;
                        st.neighbours
                            .retain(|(ifi, ip), _| !(*ifi == i && ip.is_ipv4()));
                    }
                }
                Op::SetUp { ns, name } => {
                    let st = ns_mut(o, *ns);
                    let l = st.links.get_mut(name).unwrap();
                    if name == "lo" && !l.up {
                        l.addresses.insert("127.0.0.1/8".parse().unwrap());
                        l.addresses.insert("::1/128".parse().unwrap());
                    }
                    l.up = true;
                    l.carrier = true;
                }
                Op::ReplaceRoute {
                    table,
                    prefix,
                    nexthops,
                } => {
                    let st = ns_mut(o, Ns::Router);
                    let hops = nexthops
                        .iter()
                        .map(|h| ObservedNextHop {
                            gateway: Some(h.gateway),
                            // A kernel-resolved gateway goes out of the link whose subnet
                            // holds it.
                            oif: match &h.dev {
                                Some(d) => idx(st, d),
                                None => st
                                    .links
                                    .values()
                                    .find(|l| l.addresses.iter().any(|a| a.contains(&h.gateway)))
                                    .map_or(0, |l| l.ifindex),
                            },
                            onlink: h.dev.is_some(),
                        })
                        .collect();
                    st.routes.insert(
                        (*table, *prefix),
                        ObservedRoute {
                            nexthops: hops,
                            nhid: None,
                            metric: ROUTE_METRIC,
                        },
                    );
                }
                Op::ReplaceNhObject { id, object } => {
                    let st = ns_mut(o, Ns::Router);
                    assert!(
                        st.nexthops.supported,
                        "objects only where the kernel has them"
                    );
                    let obs = match object {
                        NhObject::Hop(h) => ObservedNhObject::Hop {
                            gateway: Some(h.gateway),
                            oif: idx(st, &h.dev),
                            onlink: h.onlink,
                        },
                        NhObject::Group(m) => {
                            for id in m {
                                assert!(
                                    matches!(
                                        st.nexthops.ours.get(id),
                                        Some(ObservedNhObject::Hop { .. })
                                    ),
                                    "group member {id} exists before its group"
                                );
                            }
                            ObservedNhObject::Group(m.clone())
                        }
                    };
                    if let Some(old) = st.nexthops.ours.get(id) {
                        assert_eq!(
                            matches!(old, ObservedNhObject::Group(_)),
                            matches!(obs, ObservedNhObject::Group(_)),
                            "the kernel does not turn a hop into a group"
                        );
                    } else {
                        assert!(st.nexthops.taken.insert(*id), "id {id} is free");
                    }
                    st.nexthops.ours.insert(*id, obs);
                }
                Op::DelNhObject { id } => {
                    let st = ns_mut(o, Ns::Router);
                    assert!(
                        st.nexthops.ours.remove(id).is_some(),
                        "deleting a missing object"
                    );
                    st.nexthops.taken.remove(id);
                    assert!(
                        !st.routes.values().any(|r| r.nhid == Some(*id)),
                        "object {id} deleted under a route (the kernel would drop the route)"
                    );
                    assert!(
                        !st.nexthops
                            .ours
                            .values()
                            .any(|o| matches!(o, ObservedNhObject::Group(m) if m.contains(id))),
                        "member {id} deleted before its group"
                    );
                }
                Op::ReplaceRouteNh {
                    table,
                    prefix,
                    nhid,
                } => {
                    let st = ns_mut(o, Ns::Router);
                    assert!(st.nexthops.ours.contains_key(nhid), "object {nhid} exists");
                    st.routes.insert(
                        (*table, *prefix),
                        ObservedRoute {
                            nexthops: BTreeSet::new(),
                            nhid: Some(*nhid),
                            metric: ROUTE_METRIC,
                        },
                    );
                }
                Op::DelRoute {
                    table,
                    prefix,
                    metric,
                } => {
                    let st = ns_mut(o, Ns::Router);
                    if *metric == ROUTE_METRIC {
                        assert!(st.routes.remove(&(*table, *prefix)).is_some());
                    } else {
                        let before = st.stray_routes.len();
                        st.stray_routes
                            .retain(|(k, r)| !(*k == (*table, *prefix) && r.metric == *metric));
                        assert!(st.stray_routes.len() < before, "deleting a missing route");
                    }
                }
                Op::ReplaceNeighbour { dev, ip, mac } => {
                    let st = ns_mut(o, Ns::Router);
                    let i = idx(st, dev);
                    st.neighbours.insert(
                        (i, *ip),
                        ObservedNeighbour {
                            mac: Some(*mac),
                            state: 0x40,
                            ext_learned: true,
                        },
                    );
                }
                Op::ProbeNeighbour { .. } => {}
                Op::DelNeighbour { dev, ip } => {
                    let st = ns_mut(o, Ns::Router);
                    let i = idx(st, dev);
                    assert!(st.neighbours.remove(&(i, *ip)).is_some());
                }
                Op::ReplaceFdb { dev, mac, dst } => {
                    let st = ns_mut(o, Ns::Router);
                    let i = idx(st, dev);
                    st.fdb.retain(|e| !(e.ifindex == i && e.mac == *mac));
                    let row = |is_self, dst| FdbEntry {
                        ifindex: i,
                        mac: *mac,
                        dst,
                        is_self,
                        master: !is_self,
                        ext_learned: true,
                        permanent: false,
                    };
                    st.fdb.push(row(true, Some(*dst)));
                    st.fdb.push(row(false, None));
                }
                Op::AppendFlood { dev, dst } => {
                    let st = ns_mut(o, Ns::Router);
                    let i = idx(st, dev);
                    st.fdb.push(FdbEntry {
                        ifindex: i,
                        mac: MacAddress::ZERO,
                        dst: Some(*dst),
                        is_self: true,
                        master: false,
                        ext_learned: false,
                        permanent: true,
                    });
                }
                Op::DelFdb {
                    dev,
                    mac,
                    dst,
                    master,
                } => {
                    let st = ns_mut(o, Ns::Router);
                    let i = idx(st, dev);
                    let before = st.fdb.len();
                    st.fdb.retain(|e| {
                        !(e.ifindex == i
                            && e.mac == *mac
                            && e.is_self != *master
                            && (*master || e.dst == *dst))
                    });
                    assert!(st.fdb.len() < before, "deleting a missing FDB row {op}");
                }
            }
        }
    }

    fn host_with_nic() -> ObservedNode {
        let mut host = NamespaceState::default();
        let mut lo = NamespaceState::fresh().links["lo"].clone();
        lo.up = true;
        host.links.insert("lo".into(), lo);
        let mut nic = new_link(&host, "eth1", LinkKind::Other(None));
        nic.addresses.insert("192.168.11.3/24".parse().unwrap());
        nic.up = true;
        host.links.insert("eth1".into(), nic);
        let foreign = new_link(&host, "docker0", LinkKind::Bridge);
        host.links.insert("docker0".into(), foreign);
        ObservedNode { host, router: None }
    }

    fn l3(vrf: &str, table: u32, vni: u32) -> L3Vni {
        L3Vni {
            vrf: vrf.into(),
            table,
            vni,
            vxlan_port: 4789,
            local_vtep: "100.65.0.1".parse().unwrap(),
            addresses: VethAddresses {
                host: vec!["192.169.10.2/24".parse().unwrap()],
                router: vec![
                    "192.169.10.1/24".parse().unwrap(),
                    "2001:db8::1/64".parse().unwrap(),
                ],
            },
            mtu: Some(1450),
            router_mac: None,
        }
    }

    fn l2(vni: u32, vrf: Option<&str>, leg: HostLeg) -> L2Vni {
        L2Vni {
            vni,
            vxlan_port: 4789,
            local_vtep: "100.65.0.1".parse().unwrap(),
            vrf: vrf.map(Into::into),
            gateway_ips: if vrf.is_some() {
                vec!["192.168.110.1/24".parse().unwrap()]
            } else {
                vec![]
            },
            host_leg: leg,
            mtu: None,
        }
    }

    fn full_node() -> NodeDatapath {
        let mut d = NodeDatapath::new("perouter");
        d.underlay_nics = vec!["eth1".into()];
        d.vteps = vec!["100.65.0.1/32".parse().unwrap()];
        d.l3vnis = vec![l3("red", 1, 100), l3("blue", 2, 200)];
        d.l2vnis = vec![
            l2(110, Some("red"), HostLeg::ManagedBridge),
            l2(120, None, HostLeg::ExistingBridge("docker0".into())),
            l2(130, None, HostLeg::Bare),
        ];
        d.passthrough = Some(Passthrough {
            addresses: VethAddresses {
                host: vec!["192.169.100.2/24".parse().unwrap()],
                router: vec![
                    "192.169.100.1/24".parse().unwrap(),
                    "2001:db8:100::1/64".parse().unwrap(),
                ],
            },
            mtu: None,
        });
        d
    }

    fn forwarding() -> ForwardingState {
        let mut f = ForwardingState::default();
        let mut vr = VrfRoutes {
            table: 1,
            ..Default::default()
        };
        let v2: IpAddr = "100.65.0.2".parse().unwrap();
        let v3: IpAddr = "100.65.0.3".parse().unwrap();
        vr.router_macs.insert(v2, MacAddress([0xaa, 0, 0, 0, 0, 2]));
        vr.router_macs.insert(v3, MacAddress([0xaa, 0, 0, 0, 0, 3]));
        vr.routes
            .insert("10.0.0.0/24".parse().unwrap(), [v2].into());
        vr.routes
            .insert("10.0.1.0/24".parse().unwrap(), [v2, v3].into());
        vr.routes
            .insert("2001:db8:9::/64".parse().unwrap(), [v3].into());
        f.vrf_routes.insert(100, vr);
        f.remote_macs
            .insert((110, MacAddress([2, 0, 0, 0, 1, 1])), v2);
        f.flood.insert((110, v2));
        f.flood.insert((130, v3));
        f.remote_neighbours.insert(
            (110, "192.168.110.9".parse().unwrap()),
            MacAddress([2, 0, 0, 0, 1, 1]),
        );
        // Main-table routes: a remote VTEP over the fabric (ECMP), and a v6 passthrough route.
        f.default_routes.insert(
            "100.65.0.2/32".parse().unwrap(),
            [
                "192.168.11.1".parse().unwrap(),
                "192.168.11.2".parse().unwrap(),
            ]
            .into(),
        );
        f.default_routes.insert(
            "2001:db8:77::/48".parse().unwrap(),
            ["2001:db8:100::2".parse().unwrap()].into(),
        );
        f
    }

    fn pos(ops: &[Op], pred: impl Fn(&Op) -> bool) -> usize {
        ops.iter().position(pred).expect("operation present")
    }

    /// A node converged with nexthop objects: the model kernel takes them.
    fn converged_with_objects(d: &NodeDatapath, f: &ForwardingState) -> ObservedNode {
        let mut o = host_with_nic();
        let plan = diff(d, &ForwardingState::default(), &o).unwrap();
        sim(&mut o, &plan.ops);
        o.router.as_mut().unwrap().nexthops.supported = true;
        let plan = diff(d, f, &o).unwrap();
        assert!(is_ordered(&plan.ops));
        sim(&mut o, &plan.ops);
        assert_eq!(diff(d, f, &o).unwrap().ops, vec![], "converged in one pass");
        o
    }

    fn objects(o: &ObservedNode) -> &BTreeMap<u32, ObservedNhObject> {
        &o.router.as_ref().unwrap().nexthops.ours
    }

    fn many_routes_via(f: &mut ForwardingState, vtep: IpAddr, n: u32) {
        let vr = f.vrf_routes.get_mut(&100).unwrap();
        vr.routes.clear();
        for i in 0..n {
            let p = IpNet::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + (i << 8))), 24).unwrap();
            vr.routes.insert(p, [vtep].into());
        }
    }

    #[test]
    fn routes_through_one_gateway_share_one_nexthop_object() {
        let d = full_node();
        let mut f = forwarding();
        let v2: IpAddr = "100.65.0.2".parse().unwrap();
        many_routes_via(&mut f, v2, 100);
        let o = converged_with_objects(&d, &f);
        let st = o.router.as_ref().unwrap();
        let users: BTreeSet<u32> = st
            .routes
            .iter()
            .filter(|((t, _), _)| *t == 1)
            .map(|(_, r)| r.nhid.expect("route uses an object"))
            .collect();
        assert_eq!(users.len(), 1, "100 routes, one object");
        let id = *users.first().unwrap();
        assert!((crate::nexthop::ID_FIRST..=crate::nexthop::ID_LAST).contains(&id));
        assert_eq!(
            objects(&o)[&id],
            ObservedNhObject::Hop {
                gateway: Some(v2),
                oif: idx(st, "br-pe-100"),
                onlink: true
            }
        );
        // A main-table gateway on a connected subnet is tied to that link (NHA_OIF).
        let v6 = &st.routes[&(MAIN_TABLE, "2001:db8:77::/48".parse().unwrap())];
        let Some(ObservedNhObject::Hop { oif, onlink, .. }) = objects(&o).get(&v6.nhid.unwrap())
        else {
            panic!("main-table route through an object");
        };
        assert_eq!((st.name_of(*oif), *onlink), (Some("pt-ns"), false));
    }

    #[test]
    fn ecmp_routes_use_one_group_of_shared_members() {
        let d = full_node();
        let f = forwarding();
        let o = converged_with_objects(&d, &f);
        let st = o.router.as_ref().unwrap();
        let ecmp = &st.routes[&(1, "10.0.1.0/24".parse().unwrap())];
        let Some(ObservedNhObject::Group(members)) = objects(&o).get(&ecmp.nhid.unwrap()) else {
            panic!("ECMP route through a group");
        };
        assert_eq!(members.len(), 2);
        // 10.0.0.0/24 goes via v2 alone: the same object the group holds.
        let single = st.routes[&(1, "10.0.0.0/24".parse().unwrap())]
            .nhid
            .unwrap();
        assert!(members.contains(&single));
    }

    #[test]
    fn changing_the_gateway_of_many_routes_is_one_nexthop_message() {
        let d = full_node();
        let mut f = forwarding();
        let v2: IpAddr = "100.65.0.2".parse().unwrap();
        let v4: IpAddr = "100.65.0.4".parse().unwrap();
        many_routes_via(&mut f, v2, 1000);
        let mut o = converged_with_objects(&d, &f);
        let before = o.router.as_ref().unwrap().routes.clone();
        let old = before[&(1, "10.0.0.0/24".parse().unwrap())].nhid.unwrap();
        many_routes_via(&mut f, v4, 1000);
        f.vrf_routes
            .get_mut(&100)
            .unwrap()
            .router_macs
            .insert(v4, MacAddress([0xaa, 0, 0, 0, 0, 4]));
        let plan = diff(&d, &f, &o).unwrap();
        let nh: Vec<&Op> = plan
            .ops
            .iter()
            .filter(|op| !matches!(op, Op::ReplaceNeighbour { .. } | Op::ReplaceFdb { .. }))
            .collect();
        assert_eq!(
            nh,
            vec![&Op::ReplaceNhObject {
                id: old,
                object: NhObject::Hop(NhHop {
                    gateway: v4,
                    dev: "br-pe-100".into(),
                    onlink: true
                })
            }],
            "1000 routes move in one message"
        );
        sim(&mut o, &plan.ops);
        assert_eq!(
            o.router.as_ref().unwrap().routes,
            before,
            "routes untouched"
        );
        assert_eq!(diff(&d, &f, &o).unwrap().ops, vec![]);
    }

    #[test]
    fn the_last_route_gone_takes_its_object_and_a_foreign_delete_is_repaired() {
        let d = full_node();
        let mut f = forwarding();
        let v2: IpAddr = "100.65.0.2".parse().unwrap();
        many_routes_via(&mut f, v2, 3);
        let mut o = converged_with_objects(&d, &f);
        let id = o.router.as_ref().unwrap().routes[&(1, "10.0.0.0/24".parse().unwrap())]
            .nhid
            .unwrap();
        // Someone deletes our object: the kernel drops the routes using it; the audit puts
        // both back, the object first.
        {
            let st = o.router.as_mut().unwrap();
            st.nexthops.ours.remove(&id);
            st.nexthops.taken.remove(&id);
            st.routes.retain(|_, r| r.nhid != Some(id));
        }
        let plan = diff(&d, &f, &o).unwrap();
        assert!(is_ordered(&plan.ops));
        assert!(plan.ops.contains(&Op::ReplaceNhObject {
            id,
            object: NhObject::Hop(NhHop {
                gateway: v2,
                dev: "br-pe-100".into(),
                onlink: true
            })
        }));
        sim(&mut o, &plan.ops);
        assert_eq!(diff(&d, &f, &o).unwrap().ops, vec![]);
        // Withdraw every route via v2: the routes go, then the object.
        f.vrf_routes.get_mut(&100).unwrap().routes.clear();
        let plan = diff(&d, &f, &o).unwrap();
        let dels = plan
            .ops
            .iter()
            .filter(|op| matches!(op, Op::DelRoute { .. }))
            .count();
        assert_eq!(dels, 3);
        assert_eq!(plan.ops.last(), Some(&Op::DelNhObject { id }));
        sim(&mut o, &plan.ops);
        assert!(!objects(&o).contains_key(&id));
        assert_eq!(diff(&d, &f, &o).unwrap().ops, vec![]);
    }

    #[test]
    fn adopted_objects_and_routes_are_kept_and_per_route_gateways_move_to_objects_on_change() {
        let d = full_node();
        let f = forwarding();
        // Installed by a perouter without objects (or before a restart on an older kernel).
        let mut o = host_with_nic();
        let plan = diff(&d, &f, &o).unwrap();
        sim(&mut o, &plan.ops);
        assert_eq!(diff(&d, &f, &o).unwrap().ops, vec![]);
        o.router.as_mut().unwrap().nexthops.supported = true;
        // Routes that forward as wanted are kept in their form...
        assert_eq!(diff(&d, &f, &o).unwrap().ops, vec![]);
        // ...and move to objects when their next hops change.
        let mut f = f.clone();
        let v3: IpAddr = "100.65.0.3".parse().unwrap();
        f.vrf_routes
            .get_mut(&100)
            .unwrap()
            .routes
            .insert("10.0.0.0/24".parse().unwrap(), [v3].into());
        let plan = diff(&d, &f, &o).unwrap();
        assert!(plan
            .ops
            .iter()
            .all(|op| matches!(op, Op::ReplaceNhObject { .. } | Op::ReplaceRouteNh { .. })));
        assert_eq!(plan.ops.len(), 2, "{:#?}", plan.ops);
        sim(&mut o, &plan.ops);
        // A restart: the same objects and routes are observed and kept as they are.
        let snapshot = o.clone();
        assert_eq!(diff(&d, &f, &o).unwrap().ops, vec![]);
        // An observation with no wanted routes (adoption) only plans removals, which the
        // driver drops while adopting.
        let plan = diff(&d, &ForwardingState::default(), &o).unwrap();
        assert!(plan.ops.iter().all(|op| matches!(
            op.phase(),
            Phase::DelRoute | Phase::DelNeighbour | Phase::DelNextHop
        )));
        assert_eq!(o, snapshot);
        // Foreign objects (another protocol) hold ids we never take.
        let mut o2 = host_with_nic();
        let plan = diff(&d, &ForwardingState::default(), &o2).unwrap();
        sim(&mut o2, &plan.ops);
        o2.router.as_mut().unwrap().nexthops.supported = true;
        o2.router
            .as_mut()
            .unwrap()
            .nexthops
            .taken
            .insert(crate::nexthop::ID_FIRST);
        let plan = diff(&d, &f, &o2).unwrap();
        assert!(plan.ops.iter().all(|op| !matches!(
            op,
            Op::ReplaceNhObject { id, .. } if *id == crate::nexthop::ID_FIRST
        )));
    }

    #[test]
    fn without_kernel_support_routes_carry_their_gateways() {
        let d = full_node();
        let f = forwarding();
        let mut o = host_with_nic();
        let plan = diff(&d, &f, &o).unwrap();
        assert!(plan
            .ops
            .iter()
            .all(|op| !matches!(op, Op::ReplaceNhObject { .. } | Op::ReplaceRouteNh { .. })));
        sim(&mut o, &plan.ops);
        assert_eq!(diff(&d, &f, &o).unwrap().ops, vec![]);
    }

    #[test]
    fn fresh_node_plan_is_ordered_and_converges_in_one_pass() {
        let d = full_node();
        let f = forwarding();
        let mut o = host_with_nic();
        let plan = diff(&d, &f, &o).unwrap();
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
        let ops = &plan.ops;
        assert!(is_ordered(ops));
        assert!(matches!(ops[0], Op::CreateNetns { .. }), "namespace first");
        let vrf = pos(
            ops,
            |o| matches!(o, Op::CreateVrf { name, .. } if name == "red"),
        );
        let br = pos(
            ops,
            |o| matches!(o, Op::CreateBridge { name, .. } if name == "br-pe-100"),
        );
        let vx = pos(
            ops,
            |o| matches!(o, Op::CreateVxlan { name, .. } if name == "vni100"),
        );
        let enslave = pos(
            ops,
            |o| matches!(o, Op::SetLink { name, change: LinkChange::Master(Some(m)), .. } if name == "pe-e-100" && m == "red"),
        );
        // A new veth gets its MTU in the create message itself.
        let mtu = pos(
            ops,
            |o| matches!(o, Op::CreateVeth { router, mtu: Some(1450), .. } if router == "pe-e-100"),
        );
        let addr = pos(
            ops,
            |o| matches!(o, Op::AddAddress { dev, .. } if dev == "pe-e-100"),
        );
        let port = pos(
            ops,
            |o| matches!(o, Op::SetBridgePort { name, .. } if name == "vni100"),
        );
        let up = pos(
            ops,
            |o| matches!(o, Op::SetUp { name, .. } if name == "vni100"),
        );
        let moved = pos(
            ops,
            |o| matches!(o, Op::MoveLink { name, .. } if name == "eth1"),
        );
        let nic_addr = pos(
            ops,
            |o| matches!(o, Op::AddAddress { dev, ns: Ns::Router, .. } if dev == "eth1"),
        );
        let fdb = pos(ops, |o| matches!(o, Op::ReplaceFdb { .. }));
        let neigh = pos(ops, |o| matches!(o, Op::ReplaceNeighbour { .. }));
        let route = pos(ops, |o| matches!(o, Op::ReplaceRoute { .. }));
        assert!(vrf < br && br < vx, "VRF before bridge before VXLAN");
        assert!(
            mtu < enslave && enslave < addr,
            "MTU, then master VRF, then addresses"
        );
        assert!(
            vx < port && port < up,
            "bridge-port flags once enslaved, up last"
        );
        assert!(
            moved < nic_addr,
            "a moved NIC gets its addresses back afterwards"
        );
        assert!(
            up < fdb && fdb < neigh && neigh < route,
            "routes after what they resolve through"
        );
        // An IPv6 route over an IPv4 VTEP uses the mapped gateway and its own neighbour entry.
        assert!(ops
            .iter()
            .any(|o| matches!(o, Op::ReplaceRoute { nexthops, .. }
            if nexthops[0].gateway == "::ffff:100.65.0.3".parse::<IpAddr>().unwrap())));
        assert!(ops
            .iter()
            .any(|o| matches!(o, Op::ReplaceNeighbour { ip, .. }
            if *ip == "::ffff:100.65.0.3".parse::<IpAddr>().unwrap())));
        // Nothing foreign is touched.
        assert!(!ops.iter().any(|o| matches!(o, Op::DeleteLink { .. })));

        sim(&mut o, ops);
        let again = diff(&d, &f, &o).unwrap();
        assert!(again.ops.is_empty(), "second pass: {:#?}", again.ops);
    }

    #[test]
    fn cleanup_removes_only_our_objects() {
        let d = full_node();
        let f = forwarding();
        let mut o = host_with_nic();
        let first = diff(&d, &f, &o).unwrap();
        sim(&mut o, &first.ops);
        // Foreign objects in the router namespace that look nearly like ours.
        let st = o.router.as_mut().unwrap();
        for (n, k) in [
            ("vnic0", LinkKind::Veth),
            ("br-pe-x", LinkKind::Bridge),
            ("vni9", LinkKind::Veth),
        ] {
            let l = new_link(st, n, k);
            st.links.insert(n.into(), l);
        }
        let empty = NodeDatapath::new("perouter");
        let plan = diff(&empty, &ForwardingState::default(), &o).unwrap();
        let deleted: BTreeSet<&str> = plan
            .ops
            .iter()
            .filter_map(|op| match op {
                Op::DeleteLink { name, .. } => Some(name.as_str()),
                _ => None,
            })
            .collect();
        for n in ["vnic0", "br-pe-x", "vni9", "docker0", "lo"] {
            assert!(!deleted.contains(n), "{n} deleted");
        }
        for n in [
            "red",
            "blue",
            "br-pe-100",
            "vni100",
            "host-e-100",
            "br-hs-110",
            "pt-host",
        ] {
            assert!(deleted.contains(n), "{n} kept");
        }
        // Peers of deleted host legs are not deleted twice.
        assert!(!deleted.contains("pe-e-100") && !deleted.contains("pt-ns"));
        assert!(plan
            .ops
            .iter()
            .any(|op| matches!(op, Op::MoveLink { name, to: Ns::Host, .. } if name == "eth1")));
        // Forwarding entries go with their devices: no separate deletes.
        assert!(!plan.ops.iter().any(|op| matches!(
            op,
            Op::DelRoute { .. } | Op::DelFdb { .. } | Op::DelNeighbour { .. }
        )));
        sim(&mut o, &plan.ops);
        assert!(diff(&empty, &ForwardingState::default(), &o)
            .unwrap()
            .ops
            .is_empty());
        assert_eq!(
            o.host.links["eth1"].addresses.len(),
            1,
            "NIC returned with its address"
        );
    }

    #[test]
    fn router_mac_is_set_at_creation_and_changed_with_one_message() {
        let rmac = MacAddress([0x02, 0x52, 0, 0, 0, 1]);
        let mut d = full_node();
        for v in &mut d.l3vnis {
            v.router_mac = Some(rmac);
        }
        let f = forwarding();
        let mut o = host_with_nic();
        let plan = diff(&d, &f, &o).unwrap();
        for vni in [100, 200] {
            let br = names::bridge(vni);
            assert!(plan.ops.iter().any(|op| matches!(op,
                Op::CreateBridge { name, mac: Some(m), .. } if *name == br && *m == rmac)));
            assert!(!plan.ops.iter().any(|op| matches!(op,
                Op::SetLink { name, change: LinkChange::Mac(_), .. } if *name == br)));
        }
        sim(&mut o, &plan.ops);
        assert!(diff(&d, &f, &o).unwrap().ops.is_empty());
        assert_eq!(
            o.l3vni_router_macs(&d),
            [(100, rmac), (200, rmac)].into_iter().collect()
        );
        // A new router MAC: exactly one RTM_NEWLINK per bridge, nothing else.
        let other = MacAddress([0x02, 0x52, 0, 0, 0, 2]);
        for v in &mut d.l3vnis {
            v.router_mac = Some(other);
        }
        let plan = diff(&d, &f, &o).unwrap();
        assert_eq!(plan.ops.len(), 2, "{:#?}", plan.ops);
        assert!(plan.ops.iter().all(|op| matches!(op,
            Op::SetLink { change: LinkChange::Mac(m), .. } if *m == other)));
        // `None` leaves whatever the bridge has.
        for v in &mut d.l3vnis {
            v.router_mac = None;
        }
        assert!(diff(&d, &f, &o).unwrap().ops.is_empty());
    }

    #[test]
    fn main_table_routes_resolve_through_the_kernel_and_strays_are_removed() {
        let d = full_node();
        let f = forwarding();
        let mut o = host_with_nic();
        let plan = diff(&d, &f, &o).unwrap();
        let main: Vec<&Op> = plan
            .ops
            .iter()
            .filter(|op| {
                matches!(
                    op,
                    Op::ReplaceRoute {
                        table: MAIN_TABLE,
                        ..
                    }
                )
            })
            .collect();
        assert_eq!(main.len(), 2, "{main:#?}");
        let Op::ReplaceRoute { nexthops, .. } = main[0] else {
            unreachable!()
        };
        assert_eq!(
            nexthops,
            &[
                NextHop::via("192.168.11.1".parse().unwrap()),
                NextHop::via("192.168.11.2".parse().unwrap())
            ]
        );
        sim(&mut o, &plan.ops);
        assert!(diff(&d, &f, &o).unwrap().ops.is_empty());
        // A proto-bgp route of another metric (an older install, or by hand) is ours to remove,
        // even when the same prefix is wanted: the wanted one (metric 20) stays.
        let stray = ObservedRoute {
            nexthops: [ObservedNextHop {
                gateway: Some("192.168.11.9".parse().unwrap()),
                oif: 0,
                onlink: false,
            }]
            .into(),
            nhid: None,
            metric: 0,
        };
        let st = o.router.as_mut().unwrap();
        st.stray_routes
            .push(((MAIN_TABLE, "100.65.0.2/32".parse().unwrap()), stray));
        let plan = diff(&d, &f, &o).unwrap();
        assert_eq!(
            plan.ops,
            vec![Op::DelRoute {
                table: MAIN_TABLE,
                prefix: "100.65.0.2/32".parse().unwrap(),
                metric: 0
            }]
        );
        sim(&mut o, &plan.ops);
        // A changed gateway set is one replace; a withdrawn prefix one delete.
        let mut f2 = f.clone();
        f2.default_routes.insert(
            "100.65.0.2/32".parse().unwrap(),
            ["192.168.11.2".parse().unwrap()].into(),
        );
        f2.default_routes
            .remove(&"2001:db8:77::/48".parse().unwrap());
        let plan = diff(&d, &f2, &o).unwrap();
        assert_eq!(plan.ops.len(), 2, "{:#?}", plan.ops);
        assert!(
            matches!(&plan.ops[0], Op::DelRoute { table: MAIN_TABLE, metric: ROUTE_METRIC, prefix } if prefix.to_string() == "2001:db8:77::/48")
        );
        assert!(matches!(
            &plan.ops[1],
            Op::ReplaceRoute {
                table: MAIN_TABLE,
                ..
            }
        ));
        // Empty gateway sets are refused.
        f2.default_routes
            .insert("10.0.0.0/8".parse().unwrap(), BTreeSet::new());
        assert!(matches!(
            diff(&d, &f2, &o),
            Err(DesiredError::NoNextHop { vni: 0, .. })
        ));
    }

    #[test]
    fn vrf_gateway_routes_resolve_through_the_vrf_and_merge_with_type5_hops() {
        let d = full_node();
        let mut f = forwarding();
        let vr = f.vrf_routes.get_mut(&100).unwrap();
        // A host-session route (next hop the host side of pe-e-100), and a prefix reachable
        // both over VXLAN and through the host (ECMP across both kinds).
        vr.gateway_routes.insert(
            "10.250.0.1/32".parse().unwrap(),
            ["192.169.10.2".parse().unwrap()].into(),
        );
        vr.gateway_routes.insert(
            "10.0.0.0/24".parse().unwrap(),
            ["192.169.10.2".parse().unwrap()].into(),
        );
        let mut o = host_with_nic();
        let plan = diff(&d, &f, &o).unwrap();
        assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
        let route = |p: &str| {
            plan.ops.iter().find_map(|op| match op {
                Op::ReplaceRoute {
                    table: 1,
                    prefix,
                    nexthops,
                } if prefix.to_string() == p => Some(nexthops.clone()),
                _ => None,
            })
        };
        assert_eq!(
            route("10.250.0.1/32").unwrap(),
            [NextHop::via("192.169.10.2".parse().unwrap())]
        );
        let both = route("10.0.0.0/24").unwrap();
        assert_eq!(both.len(), 2, "{both:?}");
        assert!(both.contains(&NextHop::via("192.169.10.2".parse().unwrap())));
        assert!(both.contains(&NextHop::onlink("100.65.0.2".parse().unwrap(), "br-pe-100")));
        sim(&mut o, &plan.ops);
        assert!(diff(&d, &f, &o).unwrap().ops.is_empty());
        // Withdrawn: one delete.
        f.vrf_routes
            .get_mut(&100)
            .unwrap()
            .gateway_routes
            .remove(&"10.250.0.1/32".parse().unwrap());
        let plan = diff(&d, &f, &o).unwrap();
        assert!(
            matches!(&plan.ops[..], [Op::DelRoute { table: 1, prefix, .. }] if prefix.to_string() == "10.250.0.1/32"),
            "{:#?}",
            plan.ops
        );
        // An empty gateway set is refused.
        f.vrf_routes
            .get_mut(&100)
            .unwrap()
            .gateway_routes
            .insert("10.9.0.0/16".parse().unwrap(), BTreeSet::new());
        assert!(matches!(
            diff(&d, &f, &o),
            Err(DesiredError::NoNextHop { vni: 100, .. })
        ));
    }

    #[test]
    fn neighbours_are_reinstalled_when_the_last_ipv4_address_goes() {
        let mut d = full_node();
        let f = forwarding();
        let mut o = host_with_nic();
        let first = diff(&d, &f, &o).unwrap();
        sim(&mut o, &first.ops);
        // L2VNI 110 stops being a gateway: its address goes, and with it (kernel) the ARP table
        // of br-pe-110, so the remote MAC+IP entry is installed again in the same plan.
        d.l2vnis[0].gateway_ips.clear();
        let plan = diff(&d, &f, &o).unwrap();
        let del = pos(
            &plan.ops,
            |op| matches!(op, Op::DelAddress { dev, .. } if dev == "br-pe-110"),
        );
        let add = pos(
            &plan.ops,
            |op| matches!(op, Op::ReplaceNeighbour { dev, .. } if dev == "br-pe-110"),
        );
        assert!(del < add);
        sim(&mut o, &plan.ops);
        assert!(diff(&d, &f, &o).unwrap().ops.is_empty());
    }

    /// An IPv6 gateway gets the anycast link-local (the modified EUI-64 of the gateway MAC), once:
    /// without it the kernel sends no neighbour solicitation for routed IPv6 traffic and a pod
    /// behind an IPv6-only gateway stays unresolved (found by interop/frr-lab/upstream-l2.sh).
    /// An IPv4-only gateway gets none, and a kernel-made link-local is never removed.
    #[test]
    fn an_ipv6_gateway_bridge_gets_the_anycast_link_local_once() {
        let ll: Ipv6Addr = "fe80::2f3:ff:fe00:6f".parse().unwrap();
        assert_eq!(gateway_link_local(l2vni_gateway_mac(110)), ll);
        let mut d = full_node();
        let f = forwarding();
        let mut o = host_with_nic();
        let first = diff(&d, &f, &o).unwrap();
        sim(&mut o, &first.ops);
        let br = |o: &ObservedNode| o.router.as_ref().unwrap().links["br-pe-110"].clone();
        assert!(
            br(&o).link_locals.is_empty(),
            "IPv4-only gateway: no link-local"
        );
        d.l2vnis[0].gateway_ips = vec!["2001:db8:110::1/64".parse().unwrap()];
        let plan = diff(&d, &f, &o).unwrap();
        let want = IpNet::new(IpAddr::V6(ll), 64).unwrap();
        assert!(
            plan.ops.iter().any(|op| matches!(op,
                Op::AddAddress { dev, addr, .. } if dev == "br-pe-110" && *addr == want)),
            "{:?}",
            plan.ops
        );
        sim(&mut o, &plan.ops);
        assert_eq!(br(&o).link_locals, [ll].into());
        assert_eq!(diff(&d, &f, &o).unwrap().ops, vec![], "converged");
        // A link-local the kernel made on the bridge stays.
        let other: Ipv6Addr = "fe80::1234".parse().unwrap();
        o.router
            .as_mut()
            .unwrap()
            .links
            .get_mut("br-pe-110")
            .unwrap()
            .link_locals
            .insert(other);
        assert_eq!(diff(&d, &f, &o).unwrap().ops, vec![]);
    }

    #[test]
    fn invalid_desired_state_is_refused_before_planning() {
        let mut d = full_node();
        d.l3vnis[1].table = 1;
        assert!(matches!(
            diff(&d, &ForwardingState::default(), &ObservedNode::default()),
            Err(DesiredError::DuplicateTable(1))
        ));
    }

    fn arb_node() -> impl Strategy<Value = (NodeDatapath, ForwardingState)> {
        (
            proptest::collection::btree_set(1u32..6, 0..4),
            proptest::collection::btree_set(6u32..12, 0..4),
            any::<bool>(),
            any::<bool>(),
            proptest::collection::btree_set((0u8..4, 0u8..3), 0..6),
        )
            .prop_map(|(l3s, l2s, pt, nic, routes)| {
                let mut d = NodeDatapath::new("perouter");
                if nic {
                    d.underlay_nics.push("eth1".into());
                }
                d.vteps = vec!["100.65.0.1/32".parse().unwrap()];
                for v in &l3s {
                    d.l3vnis.push(l3(&format!("vrf{v}"), *v, *v));
                }
                for (i, v) in l2s.iter().enumerate() {
                    let vrf = l3s
                        .iter()
                        .next()
                        .filter(|_| i % 2 == 0)
                        .map(|x| format!("vrf{x}"));
                    let leg = [HostLeg::ManagedBridge, HostLeg::Bare][i % 2].clone();
                    d.l2vnis.push(l2(*v, vrf.as_deref(), leg));
                }
                if pt {
                    d.passthrough = Some(Passthrough {
                        addresses: VethAddresses::default(),
                        mtu: Some(1400),
                    });
                }
                let mut f = ForwardingState::default();
                if let Some(v) = l3s.iter().next() {
                    let mut vr = VrfRoutes {
                        table: *v,
                        ..Default::default()
                    };
                    for (net, vtep) in routes {
                        let vt: IpAddr = format!("100.65.0.{}", vtep + 2).parse().unwrap();
                        vr.router_macs
                            .insert(vt, MacAddress([0xaa, 0, 0, 0, 0, vtep]));
                        vr.routes
                            .entry(format!("10.{net}.0.0/16").parse().unwrap())
                            .or_default()
                            .insert(vt);
                    }
                    f.vrf_routes.insert(*v, vr);
                }
                if nic {
                    f.default_routes.insert(
                        "100.65.0.9/32".parse().unwrap(),
                        ["192.168.11.1".parse().unwrap()].into(),
                    );
                }
                for v in &l2s {
                    f.flood.insert((*v, "100.65.0.9".parse().unwrap()));
                    f.remote_macs.insert(
                        (*v, MacAddress([2, 0, 0, 0, 0, *v as u8])),
                        "100.65.0.9".parse().unwrap(),
                    );
                }
                (d, f)
            })
    }

    proptest! {
        /// From any converged node to any other: one pass converges, the second writes nothing,
        /// every plan is phase-ordered, and foreign links are never deleted.
        #[test]
        fn any_transition_converges_in_one_pass((a, fa) in arb_node(), (b, fb) in arb_node()) {
            let mut o = host_with_nic();
            let p1 = diff(&a, &fa, &o).unwrap();
            prop_assert!(is_ordered(&p1.ops));
            sim(&mut o, &p1.ops);
            prop_assert!(diff(&a, &fa, &o).unwrap().ops.is_empty());
            let p2 = diff(&b, &fb, &o).unwrap();
            prop_assert!(is_ordered(&p2.ops));
            let foreign_deleted = p2.ops.iter().any(|op| {
                matches!(op, Op::DeleteLink { name, .. } if name == "docker0" || name == "lo")
            });
            prop_assert!(!foreign_deleted);
            sim(&mut o, &p2.ops);
            let p3 = diff(&b, &fb, &o).unwrap();
            prop_assert!(p3.ops.is_empty(), "not converged: {:#?}", p3.ops);
        }
    }
}
