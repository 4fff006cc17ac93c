//! The pure heart of the datapath: `diff(desired, observed) -> ordered operations`.
//!
//! Nothing here touches the kernel. The diff writes nothing that already matches (a needless
//! `RTM_NEWLINK` makes peers flush their neighbour tables), removes only objects this crate owns
//! (by the name prefixes upstream uses, VRFs and `proto bgp` routes in the router namespace,
//! `NTF_EXT_LEARNED` neighbour and FDB rows on our devices), and orders what it writes by
//! [`Phase`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use crate::desired::{
    names, DesiredError, ForwardingState, HostLeg, NodeDatapath, UNDERLAY_LINK_GROUP,
};
use crate::mac::MacAddr;
use crate::observed::{
    BridgePortFlags, Link, LinkKind, NamespaceState, ObservedNode, ADDR_GEN_MODE_NONE,
};
use crate::op::{LinkChange, NextHop, Ns, Op, Phase};

/// The result of a diff: operations in execution order, and what could not be planned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Operations, sorted by [`Phase`] (stable within a phase).
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
    desired.validate()?;
    forwarding.validate()?;
    let fresh_ns = NamespaceState::fresh();
    let router = observed.router.as_ref().unwrap_or(&fresh_ns);
    let mut p = Planner {
        ops: Vec::new(),
        warnings: Vec::new(),
        fresh: BTreeSet::new(),
        doomed: BTreeSet::new(),
    };
    if observed.router.is_none() {
        p.ops.push(Op::CreateNetns { name: desired.router_netns.clone() });
    }
    p.sysctls(desired, router, observed.router.is_none());
    p.devices(desired, &observed.host, router);
    p.forwarding(desired, forwarding, router);
    let Planner { mut ops, warnings, .. } = p;
    ops.sort_by_key(Op::phase);
    Ok(Plan { ops, warnings })
}

/// How a wanted link comes to exist.
#[derive(Debug, Clone, PartialEq)]
enum Make {
    Vrf { table: u32 },
    Bridge,
    Vxlan { vni: u32, local: IpAddr, port: u16 },
    /// Host leg of a veth, created together with its router-side peer.
    Veth { peer: String },
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
    mac: Option<MacAddr>,
    group: Option<u32>,
    addr_gen_none: bool,
    bridge_port: Option<BridgePortFlags>,
    addresses: Option<Vec<IpNet>>,
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
            up: true,
        }
    }
}

/// The link attributes the diff compares, resolved to names.
struct LinkView {
    master: Option<String>,
    mtu: Option<u32>,
    mac: Option<MacAddr>,
    group: u32,
    addr_gen_mode: Option<u8>,
    bridge_port: Option<BridgePortFlags>,
    addresses: BTreeSet<IpNet>,
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
            up: link.up,
        }
    }

    /// What a link looks like right after this crate created it (down, no addresses, master
    /// and MTU as given in the create message).
    fn created(master: Option<String>, mtu: Option<u32>, mac: Option<MacAddr>) -> LinkView {
        let bridge_port = master
            .as_ref()
            .filter(|m| m.starts_with(names::BRIDGE_PREFIX))
            .map(|_| BridgePortFlags { neigh_suppress: false, learning: true });
        LinkView {
            master,
            mtu,
            mac,
            group: 0,
            addr_gen_mode: Some(0),
            bridge_port,
            addresses: BTreeSet::new(),
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
            up: false,
        }
    }
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
fn ours_in_router(link: &Link) -> bool {
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
            let known_absent = !new_ns && device.is_none() && router.sysctls.get(&s.path) == Some(&None);
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
            w.push(WantLink::new(Ns::Router, v.vrf.clone(), Make::Vrf { table: v.table }));
            let mut br = WantLink::new(Ns::Router, names::bridge(v.vni), Make::Bridge);
            br.master = Some(Some(v.vrf.clone()));
            br.addr_gen_none = true;
            br.addresses = Some(Vec::new());
            w.push(br);
            w.push(vxlan_want(v.vni, v.local_vtep, v.vxlan_port));
            let (mut h, mut r) = veth_want(names::host_veth(v.vni), names::router_veth(v.vni), v.mtu);
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
                br.mac = Some(MacAddr::l2vni_gateway(v.vni));
            }
            w.push(br);
            w.push(vxlan_want(v.vni, v.local_vtep, v.vxlan_port));
            let (mut h, mut r) = veth_want(names::host_veth(v.vni), names::router_veth(v.vni), v.mtu);
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
                self.ops.push(Op::DeleteLink { ns: Ns::Host, name: l.name.clone() });
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
                self.ops.push(Op::MoveLink { name: l.name.clone(), from: Ns::Router, to: Ns::Host });
                for a in &l.addresses {
                    self.ops.push(Op::AddAddress { ns: Ns::Host, dev: l.name.clone(), addr: *a });
                }
                self.ops.push(Op::SetUp { ns: Ns::Host, name: l.name.clone() });
                self.doomed.insert(l.name.clone());
            } else if ours_in_router(l) {
                if !gone_with_peer.contains(name) {
                    self.ops.push(Op::DeleteLink { ns: Ns::Router, name: l.name.clone() });
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
                self.ops.push(Op::MoveLink { name: nic.clone(), from: Ns::Host, to: Ns::Router });
                for a in &l.addresses {
                    self.ops.push(Op::AddAddress { ns: Ns::Router, dev: nic.clone(), addr: *a });
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
                    None => self.warnings.push(format!("[{}] {} does not exist", w.ns, w.name)),
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
                    let host_is_veth = matches!(existing, Some(l) if matches!(l.kind, LinkKind::Veth));
                    if existing.is_some() {
                        self.ops.push(Op::DeleteLink { ns: w.ns, name: w.name.clone() });
                    }
                    if peer_link.is_some() && !host_is_veth {
                        self.ops.push(Op::DeleteLink { ns: Ns::Router, name: peer.clone() });
                    }
                    self.ops.push(Op::CreateVeth { host: w.name.clone(), router: peer.clone(), mtu: w.mtu });
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
                        self.ops.push(Op::DeleteLink { ns: w.ns, name: w.name.clone() });
                    }
                    let master = w.master.clone().flatten();
                    let op = match make {
                        Make::Vrf { table } => Op::CreateVrf { name: w.name.clone(), table: *table },
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
        let set = |change| Op::SetLink { ns: w.ns, name: w.name.clone(), change };
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
            for a in &have.addresses {
                if !want.contains(a) && !(w.name == "lo" && is_loopback_own(a)) {
                    self.ops.push(Op::DelAddress { ns: w.ns, dev: w.name.clone(), addr: *a });
                }
            }
            for a in &want {
                if !have.addresses.contains(a) {
                    self.ops.push(Op::AddAddress { ns: w.ns, dev: w.name.clone(), addr: *a });
                }
            }
        }
        if w.up && !have.up {
            self.ops.push(Op::SetUp { ns: w.ns, name: w.name.clone() });
        }
    }

    fn forwarding(&mut self, d: &NodeDatapath, f: &ForwardingState, router: &NamespaceState) {
        let vni_devices: BTreeSet<u32> =
            d.l3vnis.iter().map(|v| v.vni).chain(d.l2vnis.iter().map(|v| v.vni)).collect();
        let mut routes: BTreeMap<(u32, IpNet), BTreeSet<NextHop>> = BTreeMap::new();
        let mut neigh: BTreeMap<(String, IpAddr), MacAddr> = BTreeMap::new();
        let mut fdb: BTreeMap<(String, MacAddr), IpAddr> = BTreeMap::new();
        let mut flood: BTreeSet<(String, IpAddr)> = BTreeSet::new();

        for (vni, vr) in &f.vrf_routes {
            if !vni_devices.contains(vni) {
                self.warnings.push(format!("routes for VNI {vni}, which has no devices: skipped"));
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
                    hops.insert(NextHop { gateway, dev: br.clone() });
                }
                if !hops.is_empty() {
                    routes.insert((vr.table, prefix.trunc()), hops);
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
        for ((vni, mac), vtep) in &f.remote_macs {
            if vni_devices.contains(vni) {
                fdb.insert((names::vxlan(*vni), *mac), *vtep);
            } else {
                self.warnings.push(format!("remote MAC {mac} in unknown VNI {vni}: skipped"));
            }
        }
        for (vni, vtep) in &f.flood {
            if vni_devices.contains(vni) {
                flood.insert((names::vxlan(*vni), *vtep));
            } else {
                self.warnings.push(format!("flood entry for unknown VNI {vni}: skipped"));
            }
        }
        for ((vni, ip), mac) in &f.remote_neighbours {
            if vni_devices.contains(vni) {
                neigh.insert((names::bridge(*vni), *ip), *mac);
            } else {
                self.warnings.push(format!("remote neighbour {ip} in unknown VNI {vni}: skipped"));
            }
        }

        // What the kernel has on devices that survive this plan unchanged.
        let live = |ifindex: u32| -> Option<&str> {
            let n = router.name_of(ifindex)?;
            (!self.fresh.contains(n)).then_some(n)
        };
        let doomed = |n: &str| self.doomed.contains(n);
        let mut ops = Vec::new();

        for ((table, prefix), r) in &router.routes {
            let mut have = BTreeSet::new();
            let mut intact = r.nhid.is_none();
            let mut on_doomed = false;
            for h in &r.nexthops {
                match (h.gateway, live(h.oif)) {
                    (Some(gateway), Some(dev)) if h.onlink => {
                        on_doomed |= doomed(dev);
                        have.insert(NextHop { gateway, dev: dev.to_string() });
                    }
                    _ => intact = false,
                }
            }
            match routes.get(&(*table, *prefix)) {
                Some(want) if intact && *want == have => {
                    routes.remove(&(*table, *prefix));
                }
                Some(_) => {}
                None if on_doomed => {}
                None => ops.push(Op::DelRoute { table: *table, prefix: *prefix }),
            }
        }
        for ((table, prefix), hops) in routes {
            ops.push(Op::ReplaceRoute { table, prefix, nexthops: hops.into_iter().collect() });
        }

        for ((ifindex, ip), n) in &router.neighbours {
            let Some(dev) = live(*ifindex) else { continue };
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
                None => ops.push(Op::DelNeighbour { dev: key.0, ip: *ip }),
            }
        }
        for ((dev, ip), mac) in neigh {
            ops.push(Op::ReplaceNeighbour { dev, ip, mac });
        }

        let mut self_rows: BTreeMap<(String, MacAddr), BTreeSet<IpAddr>> = BTreeMap::new();
        let mut master_rows: BTreeSet<(String, MacAddr)> = BTreeSet::new();
        for e in &router.fdb {
            let Some(dev) = live(e.ifindex) else { continue };
            if names::vni_of(dev, names::VXLAN_PREFIX).is_none() || doomed(dev) {
                continue;
            }
            if e.is_self {
                if let Some(dst) = e.dst {
                    self_rows.entry((dev.to_string(), e.mac)).or_default().insert(dst);
                }
            } else if e.master && e.ext_learned && !e.permanent {
                master_rows.insert((dev.to_string(), e.mac));
            }
        }
        let wanted_macs: BTreeSet<(String, MacAddr)> = fdb.keys().cloned().collect();
        for ((dev, mac), dsts) in &self_rows {
            if *mac == MacAddr::ZERO {
                for dst in dsts {
                    if !flood.remove(&(dev.clone(), *dst)) {
                        ops.push(Op::DelFdb { dev: dev.clone(), mac: *mac, dst: Some(*dst), master: false });
                    }
                }
                continue;
            }
            let want = fdb.get(&(dev.clone(), *mac)).copied();
            for dst in dsts {
                if Some(*dst) != want {
                    ops.push(Op::DelFdb { dev: dev.clone(), mac: *mac, dst: Some(*dst), master: false });
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
                ops.push(Op::DelFdb { dev: dev.clone(), mac: *mac, dst: None, master: true });
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

fn vxlan_want(vni: u32, local: IpAddr, port: u16) -> WantLink {
    let mut vx = WantLink::new(Ns::Router, names::vxlan(vni), Make::Vxlan { vni, local, port });
    vx.master = Some(Some(names::bridge(vni)));
    vx.addr_gen_none = true;
    vx.bridge_port = Some(BridgePortFlags { neigh_suppress: true, learning: false });
    vx.addresses = Some(Vec::new());
    vx
}

fn veth_want(host: String, router: String, mtu: Option<u32>) -> (WantLink, WantLink) {
    let mut h = WantLink::new(Ns::Host, host, Make::Veth { peer: router.clone() });
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
