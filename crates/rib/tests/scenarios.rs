//! End-to-end scenarios mirroring upstream's (OpenPERouter's) e2e cases, driven through the
//! RIB's public sans-IO interface.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};
use perouter_evpn::derive::frr_auto_route_target;
use perouter_evpn::{
    EthernetTag, EvpnRoute, InclusiveMulticastRoute, IpPrefixRoute, Label, MacAddress, MacIpRoute,
    RouteDistinguisher, RouteTarget, RouteTargetMatch,
};
use perouter_rib::attrs::ext;
use perouter_rib::*;

const ASN: u32 = 64514;
const VTEP: &str = "100.65.0.1";
const LEAF_A: &str = "100.64.0.2";
const LEAF_B: &str = "100.64.0.3";
const RED: VrfId = VrfId(100);
const BLUE: VrfId = VrfId(200);
const RED_MAC: MacAddress = MacAddress([0x02, 0, 0, 0, 0x01, 0x00]);
const LEAF_MAC: MacAddress = MacAddress([0x02, 0xaa, 0, 0, 0, 0x02]);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn v4(s: &str) -> Ipv4Net {
    s.parse().unwrap()
}

fn rib() -> Rib {
    Rib::new(RibConfig {
        asn: ASN,
        router_id: Ipv4Addr::new(10, 0, 0, 1),
        vtep: ip(VTEP),
        multipath: MultipathConfig::default(),
        default_networks: vec![],
        cluster_id: None,
    })
}

fn vrf(id: VrfId, name: &str, l3vni: u32) -> VrfConfig {
    VrfConfig {
        id,
        name: name.into(),
        l3vni,
        router_mac: RED_MAC,
        rd: None,
        rd_index: id.0 as u16,
        import_rts: vec![],
        export_rts: vec![],
        networks: vec![net("192.168.10.0/32")],
    }
}

fn fabric(remote_asn: u32, addr: &str, rid: u8) -> PeerConfig {
    PeerConfig {
        role: PeerRole::Fabric,
        local_asn: ASN,
        remote_asn,
        remote_address: ip(addr),
        local_address: ip("192.0.2.1"),
        remote_router_id: Ipv4Addr::new(10, 0, 1, rid),
        families: vec![Family::Ipv4Unicast, Family::L2vpnEvpn],
        route_reflector_client: false,
        allowas_in: 1,
    }
}

fn host(vrf: VrfId) -> PeerConfig {
    PeerConfig {
        role: PeerRole::Host(vrf),
        local_asn: ASN,
        remote_asn: 64515,
        remote_address: ip("192.168.10.3"),
        local_address: ip("192.168.10.2"),
        remote_router_id: Ipv4Addr::new(192, 168, 10, 3),
        families: vec![Family::Ipv4Unicast],
        route_reflector_client: false,
        allowas_in: 0,
    }
}

/// The fabric peer tells us how to reach the leaves' VTEPs.
fn underlay(rib: &mut Rib, tor: PeerId, vteps: &[&str]) {
    rib.handle_update(
        tor,
        RouteUpdate {
            attrs: PathAttrs {
                as_path: AsPath::sequence([65000]),
                next_hop: Some(ip("192.0.2.2")),
                ..Default::default()
            },
            announced: vteps
                .iter()
                .map(|v| Nlri::V4(v4(&format!("{v}/32"))))
                .collect(),
            withdrawn: vec![],
            path_id: 0,
        },
    )
    .unwrap();
}

fn type5(rd: &str, prefix: &str, vni: u32) -> Nlri {
    Nlri::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute::without_gateway(
        rd.parse::<RouteDistinguisher>().unwrap(),
        Default::default(),
        EthernetTag(0),
        net(prefix),
        Label::from_vni(vni),
    )))
}

fn evpn_attrs(
    leaf_as: u32,
    vtep: &str,
    rts: &[RouteTarget],
    extra: &[ExtendedCommunity],
) -> PathAttrs {
    let mut ext: Vec<ExtendedCommunity> = rts.iter().map(|r| (*r).into()).collect();
    ext.push(ext::encapsulation_vxlan());
    ext.push(ext::router_mac(LEAF_MAC));
    ext.extend_from_slice(extra);
    PathAttrs {
        as_path: AsPath::sequence([65000, leaf_as]),
        next_hop: Some(ip(vtep)),
        ext_communities: ext.into(),
        ..Default::default()
    }
}

fn announce(rib: &mut Rib, peer: PeerId, attrs: PathAttrs, nlri: Vec<Nlri>) {
    rib.handle_update(
        peer,
        RouteUpdate {
            attrs,
            announced: nlri,
            withdrawn: vec![],
            path_id: 0,
        },
    )
    .unwrap();
}

fn withdraw(rib: &mut Rib, peer: PeerId, nlri: Vec<Nlri>) {
    rib.handle_update(
        peer,
        RouteUpdate {
            attrs: PathAttrs::default(),
            announced: vec![],
            withdrawn: nlri,
            path_id: 0,
        },
    )
    .unwrap();
}

fn fib(rib: &mut Rib) -> Vec<ForwardingDelta> {
    let mut out = Vec::new();
    rib.poll_forwarding(&mut out, usize::MAX);
    out
}

fn vxlan(vtep: &str, vni: u32) -> NextHop {
    NextHop::Vxlan {
        vtep: ip(vtep),
        vni,
        router_mac: LEAF_MAC,
    }
}

/// Everything a peer has pending, flattened.
fn drain(rib: &mut Rib, peer: PeerId) -> Vec<AdjOutBatch> {
    let mut v = Vec::new();
    while let Some(b) = rib.poll_adj_out(peer, 1000) {
        v.push(b);
    }
    v
}

fn announced(batches: &[AdjOutBatch]) -> Vec<(Attrs, Nlri)> {
    batches
        .iter()
        .flat_map(|b| {
            b.announce
                .iter()
                .flat_map(|a| a.nlri.iter().map(move |n| (a.attrs.clone(), n.clone())))
        })
        .collect()
}

type Attrs = perouter_rib::table::Attrs;

#[test]
fn red_and_blue_import_by_route_target_and_stay_isolated() {
    let mut rib = rib();
    rib.handle_vrf(vrf(RED, "red", 100));
    rib.handle_vrf(vrf(BLUE, "blue", 200));
    // A third VRF with explicit RTs: imports only 65000:5000.
    let mut green = vrf(VrfId(300), "green", 300);
    let green_rt: RouteTarget = "65000:5000".parse().unwrap();
    green.import_rts = vec![RouteTargetMatch::Exact(green_rt)];
    green.export_rts = vec![green_rt];
    rib.handle_vrf(green);
    let tor = rib.handle_peer_up(fabric(65000, "192.0.2.2", 2)).unwrap();
    underlay(&mut rib, tor, &[LEAF_A]);
    // Leaf A is in its own AS (eBGP fabric): auto RTs from AS 65101 still match `*:VNI`.
    announce(
        &mut rib,
        tor,
        evpn_attrs(65101, LEAF_A, &[frr_auto_route_target(65101, 100)], &[]),
        vec![type5("100.64.0.2:2", "10.1.0.0/24", 100)],
    );
    announce(
        &mut rib,
        tor,
        evpn_attrs(65101, LEAF_A, &[frr_auto_route_target(65101, 200)], &[]),
        vec![type5("100.64.0.2:3", "10.2.0.0/24", 200)],
    );
    announce(
        &mut rib,
        tor,
        evpn_attrs(65101, LEAF_A, &[green_rt], &[]),
        vec![type5("100.64.0.2:4", "10.3.0.0/24", 300)],
    );

    assert_eq!(
        rib.vrf_route(RED, net("10.1.0.0/24")),
        vec![vxlan(LEAF_A, 100)]
    );
    assert_eq!(
        rib.vrf_route(RED, net("10.2.0.0/24")),
        vec![],
        "blue's route is not in red"
    );
    assert_eq!(
        rib.vrf_route(BLUE, net("10.2.0.0/24")),
        vec![vxlan(LEAF_A, 200)]
    );
    assert_eq!(rib.vrf_route(BLUE, net("10.1.0.0/24")), vec![]);
    assert_eq!(
        rib.vrf_route(VrfId(300), net("10.3.0.0/24")),
        vec![vxlan(LEAF_A, 300)]
    );
    assert_eq!(
        rib.vrf_route(VrfId(300), net("10.1.0.0/24")),
        vec![],
        "explicit RTs: no auto wildcard"
    );

    let deltas = fib(&mut rib);
    let red_routes: Vec<_> = deltas
        .iter()
        .filter(
            |d| matches!(d, ForwardingDelta::Route { table: FibTable::Vrf(v), .. } if *v == RED),
        )
        .collect();
    assert_eq!(
        red_routes,
        vec![&ForwardingDelta::Route {
            table: FibTable::Vrf(RED),
            prefix: net("10.1.0.0/24"),
            op: RouteOp::Add(vec![vxlan(LEAF_A, 100)])
        }]
    );

    // Each VRF exports its local network as a type-5 with its own RD and RTs.
    let out = announced(&drain(&mut rib, tor));
    let t5: Vec<_> = out
        .iter()
        .filter_map(|(a, n)| match n {
            Nlri::Evpn(EvpnRoute::IpPrefix(r)) => Some((a.clone(), *r)),
            _ => None,
        })
        .collect();
    let red_t5 = t5
        .iter()
        .find(|(_, r)| r.rd.to_string() == "10.0.0.1:100")
        .expect("red's type-5");
    assert_eq!(red_t5.1.prefix(), net("192.168.10.0/32"));
    assert_eq!(red_t5.1.label.vni(), 100);
    assert_eq!(
        red_t5.0.route_targets().collect::<Vec<_>>(),
        vec![frr_auto_route_target(ASN, 100)]
    );
    assert_eq!(red_t5.0.router_mac(), Some(RED_MAC));
    assert_eq!(red_t5.0.next_hop, Some(ip(VTEP)));
    assert_eq!(red_t5.0.as_path, AsPath::sequence([ASN]));
    let green_t5 = t5
        .iter()
        .find(|(_, r)| r.rd.to_string() == "10.0.0.1:300")
        .expect("green's type-5");
    assert_eq!(
        green_t5.0.route_targets().collect::<Vec<_>>(),
        vec![green_rt]
    );
    // The routes learned from the ToR are not sent back to it.
    assert!(t5
        .iter()
        .all(|(_, r)| r.rd.to_string().starts_with("10.0.0.1:")));
}

#[test]
fn two_leaves_give_ecmp_and_one_withdrawal_leaves_one_path() {
    let mut rib = rib();
    rib.handle_vrf(vrf(RED, "red", 100));
    let tor = rib.handle_peer_up(fabric(65000, "192.0.2.2", 2)).unwrap();
    underlay(&mut rib, tor, &[LEAF_A, LEAF_B]);
    fib(&mut rib);
    announce(
        &mut rib,
        tor,
        evpn_attrs(65101, LEAF_A, &[frr_auto_route_target(65101, 100)], &[]),
        vec![type5("100.64.0.2:2", "10.9.0.0/24", 100)],
    );
    announce(
        &mut rib,
        tor,
        evpn_attrs(65102, LEAF_B, &[frr_auto_route_target(65102, 100)], &[]),
        vec![type5("100.64.0.3:2", "10.9.0.0/24", 100)],
    );
    let d = fib(&mut rib);
    let route = d.iter().find_map(|x| match x {
        ForwardingDelta::Route {
            table: FibTable::Vrf(RED),
            prefix,
            op,
        } if *prefix == net("10.9.0.0/24") => Some(op.clone()),
        _ => None,
    });
    let Some(RouteOp::Add(mut hops)) = route else {
        panic!("expected one add, got {d:?}")
    };
    hops.sort();
    assert_eq!(
        hops,
        vec![vxlan(LEAF_A, 100), vxlan(LEAF_B, 100)],
        "ECMP over both leaves"
    );
    // `show bgp ipv4 unicast 10.9.0.7 --vrf red`: both imported paths, best and multipath,
    // each from the EVPN route it was imported from.
    assert_eq!(rib.vrf_named("red"), Some(RED));
    assert_eq!(rib.vrf_named("green"), None);
    let shown = rib.unicast_paths(false, Some(RED), PrefixMatch::Longest(ip("10.9.0.7")));
    assert_eq!(shown.len(), 2, "{shown:?}");
    assert!(shown
        .iter()
        .all(|p| p.multipath && p.eligible && p.prefix == net("10.9.0.0/24")));
    assert!(shown[0].best && !shown[1].best);
    let mut rds: Vec<String> = shown
        .iter()
        .map(|p| match p.source {
            perouter_rib::table::Source::Evpn { rd, .. } => {
                RouteDistinguisher::from_bytes(rd).to_string()
            }
            other => panic!("not imported: {other:?}"),
        })
        .collect();
    rds.sort();
    assert_eq!(rds, ["100.64.0.2:2", "100.64.0.3:2"]);
    assert!(
        rib.unicast_paths(false, None, PrefixMatch::Exact(net("10.9.0.0/24")))
            .is_empty(),
        "not in the default table"
    );
    assert!(rib
        .unicast_paths(true, Some(RED), PrefixMatch::All)
        .is_empty());
    withdraw(
        &mut rib,
        tor,
        vec![type5("100.64.0.2:2", "10.9.0.0/24", 100)],
    );
    assert_eq!(
        fib(&mut rib),
        vec![ForwardingDelta::Route {
            table: FibTable::Vrf(RED),
            prefix: net("10.9.0.0/24"),
            op: RouteOp::Replace(vec![vxlan(LEAF_B, 100)])
        }]
    );
    withdraw(
        &mut rib,
        tor,
        vec![type5("100.64.0.3:2", "10.9.0.0/24", 100)],
    );
    assert_eq!(
        fib(&mut rib),
        vec![ForwardingDelta::Route {
            table: FibTable::Vrf(RED),
            prefix: net("10.9.0.0/24"),
            op: RouteOp::Delete
        }]
    );
}

#[test]
fn host_routes_become_type5_and_are_never_reflected_to_the_host() {
    let mut rib = rib();
    rib.handle_vrf(vrf(RED, "red", 100));
    let tor = rib.handle_peer_up(fabric(65000, "192.0.2.2", 2)).unwrap();
    let h = rib.handle_peer_up(host(RED)).unwrap();
    underlay(&mut rib, tor, &[LEAF_A]);
    // The initial dump: red's local network, then End-of-RIB.
    let first = drain(&mut rib, h);
    assert!(
        first.last().is_some_and(|b| b.end_of_rib),
        "End-of-RIB after the initial dump: {first:?}"
    );
    // The host advertises a service prefix.
    announce(
        &mut rib,
        h,
        PathAttrs {
            as_path: AsPath::sequence([64515]),
            next_hop: Some(ip("192.168.10.3")),
            ..Default::default()
        },
        vec![Nlri::V4(v4("172.16.0.10/32"))],
    );
    // A fabric route arrives too.
    announce(
        &mut rib,
        tor,
        evpn_attrs(65101, LEAF_A, &[frr_auto_route_target(65101, 100)], &[]),
        vec![type5("100.64.0.2:2", "10.1.0.0/24", 100)],
    );
    let to_host = announced(&drain(&mut rib, h));
    assert!(
        to_host
            .iter()
            .all(|(_, n)| *n != Nlri::V4(v4("172.16.0.10/32"))),
        "host route reflected: {to_host:?}"
    );
    let (a, _) = to_host
        .iter()
        .find(|(_, n)| *n == Nlri::V4(v4("10.1.0.0/24")))
        .expect("fabric route sent to host");
    assert_eq!(
        a.next_hop,
        Some(ip("192.168.10.2")),
        "next hop = router-side veth"
    );
    assert_eq!(
        a.route_targets().count(),
        0,
        "EVPN communities stripped towards the host"
    );
    assert_eq!(a.router_mac(), None);
    assert_eq!(a.as_path, AsPath::sequence([ASN, 65000, 65101]));
    // `show bgp neighbor HOST received-routes|advertised-routes`: the service prefix in, the
    // fabric route out with exactly the attributes just sent (and nothing pending).
    let rin = rib.adj_rib_in(h);
    assert_eq!(rin.len(), 1, "{rin:?}");
    assert_eq!(rin[0].nlri, Nlri::V4(v4("172.16.0.10/32")));
    assert!(rin[0].best);
    let rout = rib.adj_rib_out(h);
    let shown = rout
        .iter()
        .find(|r| r.nlri == Nlri::V4(v4("10.1.0.0/24")))
        .expect("advertised-routes lists the fabric route");
    assert_eq!(*shown.attrs, **a, "the attributes as sent");
    assert!(!shown.pending);
    assert!(
        rout.iter()
            .all(|r| r.nlri != Nlri::V4(v4("172.16.0.10/32"))),
        "never reflected, never listed"
    );
    let is_host_t5 = |x: &ExchangedRoute| matches!(&x.nlri, Nlri::Evpn(EvpnRoute::IpPrefix(p)) if p.prefix() == net("172.16.0.10/32"));
    assert!(
        !rib.adj_rib_out(tor).iter().any(is_host_t5),
        "queued, not yet sent: not in the Adj-RIB-Out"
    );
    // The fabric gets the host route as type-5.
    let to_fabric = announced(&drain(&mut rib, tor));
    let (a, r) = to_fabric
        .iter()
        .find_map(|(a, n)| match n {
            Nlri::Evpn(EvpnRoute::IpPrefix(r)) if r.prefix() == net("172.16.0.10/32") => {
                Some((a.clone(), *r))
            }
            _ => None,
        })
        .expect("type-5 for the host route");
    assert_eq!(r.label.vni(), 100);
    assert_eq!(a.next_hop, Some(ip(VTEP)));
    assert_eq!(a.as_path, AsPath::sequence([ASN, 64515]));
    assert!(a.is_vxlan());
    assert_eq!(a.router_mac(), Some(RED_MAC));
    // Until sent, the type-5 was not in the ToR's Adj-RIB-Out; now it is, as sent.
    let rout = rib.adj_rib_out(tor);
    let shown = rout
        .iter()
        .find(|x| is_host_t5(x))
        .expect("advertised-routes lists our type-5");
    assert_eq!(shown.nlri, Nlri::Evpn(EvpnRoute::IpPrefix(r)));
    assert_eq!(*shown.attrs, *a);
    assert!(rib.adj_rib_in(tor).iter().any(|x| matches!(&x.nlri,
        Nlri::Evpn(EvpnRoute::IpPrefix(p)) if p.prefix() == net("10.1.0.0/24"))));
    // The EVPN table lists both: the leaf's route (not ours) and our type-5 (ours).
    let listed = rib.evpn_routes(Some(5));
    let ours: Vec<bool> = ["10.1.0.0/24", "172.16.0.10/32"]
        .iter()
        .map(|p| {
            listed
                .iter()
                .find(|(r, _, _)| matches!(r, EvpnRoute::IpPrefix(x) if x.prefix() == net(p)))
                .map(|(_, _, src)| *src == perouter_rib::table::Source::Local)
                .unwrap_or_else(|| panic!("{p} not listed: {listed:?}"))
        })
        .collect();
    assert_eq!(ours, [false, true]);
    assert!(rib.evpn_routes(Some(2)).is_empty());
    // The host route is installed in red's table towards the host.
    assert_eq!(
        rib.vrf_route(RED, net("172.16.0.10/32")),
        vec![NextHop::Gateway(ip("192.168.10.3"))]
    );
    // The host withdraws: the type-5 is withdrawn from the fabric.
    withdraw(&mut rib, h, vec![Nlri::V4(v4("172.16.0.10/32"))]);
    let b = drain(&mut rib, tor);
    let w: Vec<_> = b.iter().flat_map(|b| b.withdraw.iter()).collect();
    assert!(
        matches!(w.as_slice(), [Nlri::Evpn(EvpnRoute::IpPrefix(r))] if r.prefix() == net("172.16.0.10/32")),
        "{w:?}"
    );
}

fn mac_route(rd: &str, mac: MacAddress, ip_: Option<&str>) -> Nlri {
    Nlri::Evpn(EvpnRoute::MacIp(MacIpRoute {
        rd: rd.parse().unwrap(),
        esi: Default::default(),
        ethernet_tag: EthernetTag(0),
        mac,
        ip: ip_.map(ip),
        label1: Label::from_vni(300),
        label2: None,
    }))
}

#[test]
fn type2_mac_moves_between_two_vteps_and_to_us() {
    let mut rib = rib();
    rib.handle_time(std::time::Instant::now());
    rib.handle_l2vni(L2VniConfig {
        vni: 300,
        rd: None,
        rd_index: 5,
        import_rts: vec![],
        export_rts: vec![],
        vrf: None,
        dup_detection: DupDetection::default(),
        vtep: None,
    });
    let tor = rib.handle_peer_up(fabric(65000, "192.0.2.2", 2)).unwrap();
    underlay(&mut rib, tor, &[LEAF_A, LEAF_B]);
    fib(&mut rib);
    let mac = MacAddress([0x02, 0x42, 0, 0, 0, 0x07]);
    let rt = frr_auto_route_target(65101, 300);
    let mut a = evpn_attrs(65101, LEAF_A, &[rt], &[]);
    a.ext_communities = a
        .ext_communities
        .iter()
        .copied()
        .filter(|c| c.0[1] != 0x03 || c.0[0] != 0x06)
        .collect();
    announce(
        &mut rib,
        tor,
        a.clone(),
        vec![
            mac_route("100.64.0.2:5", mac, None),
            mac_route("100.64.0.2:5", mac, Some("10.30.0.7")),
        ],
    );
    let d = fib(&mut rib);
    assert!(
        d.contains(&ForwardingDelta::Fdb {
            vni: 300,
            mac,
            vtep: Some(ip(LEAF_A))
        }),
        "{d:?}"
    );
    assert!(d.contains(&ForwardingDelta::Neighbor {
        vni: 300,
        ip: ip("10.30.0.7"),
        mac: Some(mac)
    }));
    // `show evpn mac vni 300`: remote at leaf A with its IP.
    let shown = rib.evpn_macs(Some(300));
    assert_eq!(shown.len(), 1, "{shown:?}");
    let m = &shown[0];
    assert_eq!((m.mac, m.local, m.vtep), (mac, false, Some(ip(LEAF_A))));
    assert_eq!(m.ips, vec![ip("10.30.0.7")]);
    assert_eq!((m.local_seq, m.remote_seq), (None, Some(0)));
    assert!(rib.evpn_macs(Some(301)).is_empty());
    // The MAC moves to leaf B with sequence 1.
    let mut b = a.clone();
    b.next_hop = Some(ip(LEAF_B));
    let mut ext: Vec<ExtendedCommunity> = b.ext_communities.to_vec();
    ext.push(ext::mac_mobility(false, 1));
    b.ext_communities = ext.into();
    announce(&mut rib, tor, b, vec![mac_route("100.64.0.3:5", mac, None)]);
    let d = fib(&mut rib);
    assert!(
        d.contains(&ForwardingDelta::Fdb {
            vni: 300,
            mac,
            vtep: Some(ip(LEAF_B))
        }),
        "{d:?}"
    );
    assert!(
        d.contains(&ForwardingDelta::Neighbor {
            vni: 300,
            ip: ip("10.30.0.7"),
            mac: None
        }),
        "leaf B bound no IP: {d:?}"
    );
    // Leaf A, on seeing the higher sequence, withdraws.
    withdraw(
        &mut rib,
        tor,
        vec![
            mac_route("100.64.0.2:5", mac, None),
            mac_route("100.64.0.2:5", mac, Some("10.30.0.7")),
        ],
    );
    assert!(fib(&mut rib).is_empty(), "still at leaf B");
    let m = &rib.evpn_macs(None)[0];
    assert_eq!(
        (m.local, m.vtep, m.remote_seq),
        (false, Some(ip(LEAF_B)), Some(1))
    );
    assert!(m.ips.is_empty(), "leaf B bound no IP");
    assert_eq!(m.remote_vteps, vec![ip(LEAF_B)]);
    // Now the MAC appears on a local port: we advertise it with sequence 2 and drop the FDB entry.
    drain(&mut rib, tor);
    rib.handle_local_mac(300, mac, None, true, false).unwrap();
    let d = fib(&mut rib);
    assert_eq!(
        d,
        vec![ForwardingDelta::Fdb {
            vni: 300,
            mac,
            vtep: None
        }]
    );
    let out = announced(&drain(&mut rib, tor));
    let (attrs, _) = out
        .iter()
        .find(|(_, n)| matches!(n, Nlri::Evpn(EvpnRoute::MacIp(r)) if r.mac == mac))
        .expect("our type-2");
    assert_eq!(attrs.mac_mobility(), Some((false, 2)));
    let m = &rib.evpn_macs(Some(300))[0];
    assert_eq!((m.local, m.vtep, m.local_seq), (true, None, Some(2)));
    assert_eq!(
        attrs.router_mac(),
        None,
        "MAC-only route without router MAC"
    );
    assert_eq!(attrs.next_hop, Some(ip(VTEP)));
}

/// A neighbour entry is not a local MAC. The bridge resolves the addresses of remote hosts
/// too (its own NDP/ARP, e.g. an IPv6 link-local one of a host behind another VTEP): the
/// binding is local only once the MAC itself is learned on a local port (RFC 7432 §10 learns
/// MACs in the data plane; the MAC+IP route follows the MAC). Taking such a neighbour for a
/// local host used to advertise the remote host's MAC from here and, on a sequence tie won by
/// the lower VTEP (RFC 7432 §15.1), pull its FDB entry: the host went dark for seconds
/// (interop/frr-lab/ipv6-vtep.sh, issue 15).
#[test]
fn a_neighbour_of_a_remote_mac_does_not_make_the_mac_local() {
    const FAR: &str = "100.66.0.9"; // above our VTEP: we would win a sequence tie
    let mut rib = rib();
    rib.handle_time(std::time::Instant::now());
    rib.handle_l2vni(L2VniConfig {
        vni: 300,
        rd: None,
        rd_index: 5,
        import_rts: vec![],
        export_rts: vec![],
        vrf: None,
        dup_detection: DupDetection::default(),
        vtep: None,
    });
    let tor = rib.handle_peer_up(fabric(65000, "192.0.2.2", 2)).unwrap();
    underlay(&mut rib, tor, &[FAR]);
    fib(&mut rib);
    let mac = MacAddress([0x02, 0x42, 0, 0, 0, 0x09]);
    let a = evpn_attrs(65101, FAR, &[frr_auto_route_target(65101, 300)], &[]);
    announce(&mut rib, tor, a, vec![mac_route("100.66.0.9:5", mac, None)]);
    let d = fib(&mut rib);
    let at_far = ForwardingDelta::Fdb {
        vni: 300,
        mac,
        vtep: Some(ip(FAR)),
    };
    assert!(d.contains(&at_far), "{d:?}");
    drain(&mut rib, tor);
    // Our bridge resolves the remote host's link-local address: nothing changes.
    rib.handle_local_mac(300, mac, Some(ip("fe80::42:ff:fe00:9")), true, false)
        .unwrap();
    assert_eq!(fib(&mut rib), vec![], "the FDB entry towards {FAR} stays");
    let out = announced(&drain(&mut rib, tor));
    assert!(
        !out.iter()
            .any(|(_, n)| matches!(n, Nlri::Evpn(EvpnRoute::MacIp(r)) if r.mac == mac)),
        "no type-2 of a remote MAC from us: {out:?}"
    );
    let m = &rib.evpn_macs(Some(300))[0];
    assert_eq!((m.local, m.vtep), (false, Some(ip(FAR))));
    // The host really moves here (its MAC learned on a local port): now it is ours, with the
    // IP bound to it, outbidding the remote claim.
    rib.handle_local_mac(300, mac, None, true, false).unwrap();
    assert_eq!(
        fib(&mut rib),
        vec![ForwardingDelta::Fdb {
            vni: 300,
            mac,
            vtep: None
        }]
    );
    let out = announced(&drain(&mut rib, tor));
    let ours: Vec<_> = out
        .iter()
        .filter_map(|(a, n)| match n {
            Nlri::Evpn(EvpnRoute::MacIp(r)) if r.mac == mac => Some((r.ip, a.mac_mobility())),
            _ => None,
        })
        .collect();
    assert!(ours.contains(&(None, Some((false, 1)))), "{ours:?}");
    assert!(
        ours.contains(&(Some(ip("fe80::42:ff:fe00:9")), Some((false, 1)))),
        "{ours:?}"
    );
}

#[test]
fn unreachable_vtep_takes_its_routes_out_of_the_datapath_and_back() {
    let mut rib = rib();
    rib.handle_vrf(vrf(RED, "red", 100));
    let tor = rib.handle_peer_up(fabric(65000, "192.0.2.2", 2)).unwrap();
    // No underlay route yet: the imported route is not installed.
    announce(
        &mut rib,
        tor,
        evpn_attrs(65101, LEAF_A, &[frr_auto_route_target(65101, 100)], &[]),
        vec![type5("100.64.0.2:2", "10.1.0.0/24", 100)],
    );
    assert!(!fib(&mut rib).iter().any(|d| matches!(
        d,
        ForwardingDelta::Route {
            table: FibTable::Vrf(_),
            ..
        }
    )));
    assert_eq!(rib.vrf_route(RED, net("10.1.0.0/24")), vec![]);
    // The VTEP becomes reachable: installed.
    underlay(&mut rib, tor, &[LEAF_A]);
    let d = fib(&mut rib);
    assert!(
        d.contains(&ForwardingDelta::Route {
            table: FibTable::Vrf(RED),
            prefix: net("10.1.0.0/24"),
            op: RouteOp::Add(vec![vxlan(LEAF_A, 100)])
        }),
        "{d:?}"
    );
    assert_eq!(
        rib.poll_event(),
        Some(RibEvent::VtepReachability {
            vtep: ip(LEAF_A),
            reachable: true
        })
    );
    // The underlay route goes away: removed from the datapath.
    withdraw(&mut rib, tor, vec![Nlri::V4(v4("100.64.0.2/32"))]);
    let d = fib(&mut rib);
    assert!(
        d.contains(&ForwardingDelta::Route {
            table: FibTable::Vrf(RED),
            prefix: net("10.1.0.0/24"),
            op: RouteOp::Delete
        }),
        "{d:?}"
    );
    // A connected underlay prefix covering it brings it back.
    rib.handle_connected(net("100.64.0.0/24"), true);
    let d = fib(&mut rib);
    assert!(
        d.contains(&ForwardingDelta::Route {
            table: FibTable::Vrf(RED),
            prefix: net("10.1.0.0/24"),
            op: RouteOp::Add(vec![vxlan(LEAF_A, 100)])
        }),
        "{d:?}"
    );
}

#[test]
fn our_vtep_is_advertised_in_the_underlay_and_peer_down_withdraws() {
    let mut rib = rib();
    let tor = rib.handle_peer_up(fabric(65000, "192.0.2.2", 2)).unwrap();
    let b = drain(&mut rib, tor);
    let vtep = announced(&b);
    assert!(vtep
        .iter()
        .any(|(a, n)| *n == Nlri::V4(v4("100.65.0.1/32")) && a.next_hop == Some(ip("192.0.2.1"))));
    assert!(
        b.iter().filter(|b| b.end_of_rib).count() == 2,
        "EoR for IPv4 and EVPN: {b:?}"
    );
    let tor2 = rib.handle_peer_up(fabric(65001, "192.0.2.6", 3)).unwrap();
    drain(&mut rib, tor2);
    announce(
        &mut rib,
        tor,
        PathAttrs {
            as_path: AsPath::sequence([65000]),
            next_hop: Some(ip("192.0.2.2")),
            ..Default::default()
        },
        vec![Nlri::V4(v4("198.51.100.0/24"))],
    );
    assert_eq!(
        announced(&drain(&mut rib, tor2)).len(),
        1,
        "passed on to the other ToR"
    );
    assert!(drain(&mut rib, tor).is_empty(), "not back to its source");
    let d = fib(&mut rib);
    assert!(d.contains(&ForwardingDelta::Route {
        table: FibTable::Default,
        prefix: net("198.51.100.0/24"),
        op: RouteOp::Add(vec![NextHop::Gateway(ip("192.0.2.2"))])
    }));
    rib.handle_peer_down(tor).unwrap();
    let w: Vec<Nlri> = drain(&mut rib, tor2)
        .into_iter()
        .flat_map(|b| b.withdraw)
        .collect();
    assert_eq!(w, vec![Nlri::V4(v4("198.51.100.0/24"))]);
    assert_eq!(
        fib(&mut rib),
        vec![ForwardingDelta::Route {
            table: FibTable::Default,
            prefix: net("198.51.100.0/24"),
            op: RouteOp::Delete
        }]
    );
    assert!(rib
        .handle_update(
            tor,
            RouteUpdate {
                attrs: PathAttrs::default(),
                announced: vec![],
                withdrawn: vec![],
                path_id: 0
            }
        )
        .is_err());
}

#[test]
fn slow_peer_queue_coalesces_to_the_latest_state() {
    let mut rib = rib();
    let tor = rib.handle_peer_up(fabric(65000, "192.0.2.2", 2)).unwrap();
    let tor2 = rib.handle_peer_up(fabric(65001, "192.0.2.6", 3)).unwrap();
    drain(&mut rib, tor2);
    for med in 0..10 {
        announce(
            &mut rib,
            tor,
            PathAttrs {
                as_path: AsPath::sequence([65000]),
                next_hop: Some(ip("192.0.2.2")),
                communities: Box::new([Community(med)]),
                ..Default::default()
            },
            vec![Nlri::V4(v4("198.51.100.0/24"))],
        );
    }
    let out = announced(&drain(&mut rib, tor2));
    assert_eq!(out.len(), 1, "ten changes, one announcement");
    assert_eq!(&*out[0].0.communities, &[Community(9)]);
}

/// Leaf A's type-2 for `mac` in L2VNI 300 (RD 100.64.0.2:5): with `ip`, a symmetric IRB route
/// carrying the L3VNI 100 as label 2 (RFC 9135 §5.1).
fn leaf_a_irb_route(mac: MacAddress, ip_: Option<&str>) -> Nlri {
    Nlri::Evpn(EvpnRoute::MacIp(MacIpRoute {
        rd: "100.64.0.2:5".parse().unwrap(),
        esi: Default::default(),
        ethernet_tag: EthernetTag(0),
        mac,
        ip: ip_.map(ip),
        label1: Label::from_vni(300),
        label2: ip_.map(|_| Label::from_vni(100)),
    }))
}

/// Leaf A's attributes for [`leaf_a_irb_route`]: the L2VNI's and the L3VNI's FRR auto RTs.
fn leaf_a_irb_attrs() -> PathAttrs {
    let rts = [
        frr_auto_route_target(65101, 300),
        frr_auto_route_target(65101, 100),
    ];
    evpn_attrs(65101, LEAF_A, &rts, &[])
}

/// RFC 9135 §4.1 symmetric IRB: a remote MAC+IP route carrying the L3VNI (label 2) and the
/// router MAC becomes a /32 host route in the L2VNI's VRF; the MAC-only route does not; the
/// withdrawal takes the host route away.
#[test]
fn type2_mac_ip_routes_become_vrf_host_routes() {
    let mut rib = rib();
    rib.handle_vrf(vrf(RED, "red", 100));
    rib.handle_l2vni(L2VniConfig {
        vni: 300,
        rd: None,
        rd_index: 5,
        import_rts: vec![],
        export_rts: vec![],
        vrf: Some(RED),
        dup_detection: DupDetection::default(),
        vtep: None,
    });
    let tor = rib.handle_peer_up(fabric(65000, "192.0.2.2", 2)).unwrap();
    underlay(&mut rib, tor, &[LEAF_A]);
    fib(&mut rib);
    let mac = MacAddress([0x02, 0x42, 0, 0, 0, 0x09]);
    let irb = |ip_: Option<&str>| leaf_a_irb_route(mac, ip_);
    announce(
        &mut rib,
        tor,
        leaf_a_irb_attrs(),
        vec![irb(None), irb(Some("10.30.0.9"))],
    );
    assert_eq!(
        rib.vrf_route(RED, net("10.30.0.9/32")),
        vec![vxlan(LEAF_A, 100)]
    );
    let d = fib(&mut rib);
    assert!(
        d.contains(&ForwardingDelta::Route {
            table: FibTable::Vrf(RED),
            prefix: net("10.30.0.9/32"),
            op: RouteOp::Add(vec![vxlan(LEAF_A, 100)]),
        }),
        "{d:?}"
    );
    // The host route is not exported back to the fabric as a type-5.
    let tor_out = announced(&drain(&mut rib, tor));
    assert!(
        !tor_out
            .iter()
            .any(|(_, n)| matches!(n, Nlri::Evpn(EvpnRoute::IpPrefix(r)) if r.prefix() == net("10.30.0.9/32"))),
        "{tor_out:?}"
    );
    withdraw(&mut rib, tor, vec![irb(Some("10.30.0.9"))]);
    assert!(rib.vrf_route(RED, net("10.30.0.9/32")).is_empty());
    assert!(fib(&mut rib).contains(&ForwardingDelta::Route {
        table: FibTable::Vrf(RED),
        prefix: net("10.30.0.9/32"),
        op: RouteOp::Delete,
    }));
}

/// An IPv6 link-local binding is advertised for the bridge alone (label 1, the L2VNI's RT, no
/// router MAC: FRR's rule too) and, received with L3 attributes anyway, never becomes a host
/// route in the VRF (RFC 4291 §2.5.6: link-local addresses are not routed). Both happened:
/// every node's FRR leaf held the same fe80:: under several MACs, routed into VRF red.
#[test]
fn link_local_bindings_carry_no_l3_attributes_and_are_not_routed() {
    let mut rib = rib();
    rib.handle_time(std::time::Instant::now());
    rib.handle_vrf(vrf(RED, "red", 100));
    rib.handle_l2vni(L2VniConfig {
        vrf: Some(RED),
        ..l2vni(300)
    });
    let tor = rib.handle_peer_up(fabric(65000, "192.0.2.2", 2)).unwrap();
    underlay(&mut rib, tor, &[LEAF_A]);
    fib(&mut rib);
    drain(&mut rib, tor);
    let mac = MacAddress([0x02, 0x42, 0, 0, 0, 0x0a]);
    rib.handle_local_mac(300, mac, None, true, false).unwrap();
    for a in ["fe80::42:ff:fe00:a", "2001:db8:30::a", "10.30.0.10"] {
        rib.handle_local_mac(300, mac, Some(ip(a)), true, false)
            .unwrap();
    }
    let out = announced(&drain(&mut rib, tor));
    let route = |want: &str| {
        out.iter()
            .find_map(|(a, n)| match n {
                Nlri::Evpn(EvpnRoute::MacIp(r)) if r.ip == Some(ip(want)) => Some((a, r)),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no MAC+IP route for {want} in {out:?}"))
    };
    let l3_rt = frr_auto_route_target(ASN, 100);
    for global in ["2001:db8:30::a", "10.30.0.10"] {
        let (a, r) = route(global);
        assert_eq!(a.router_mac(), Some(RED_MAC), "{global}");
        assert_eq!(r.label2, Some(Label::from_vni(100)), "{global}");
        assert!(a.route_targets().any(|t| t == l3_rt), "{global}");
    }
    let (a, r) = route("fe80::42:ff:fe00:a");
    assert_eq!(a.router_mac(), None);
    assert_eq!(r.label2, None);
    assert!(!a.route_targets().any(|t| t == l3_rt));
    assert!(a
        .route_targets()
        .any(|t| t == frr_auto_route_target(ASN, 300)));

    // From the fabric, with label 2, the L3 RT and a router MAC all the same.
    let remote = MacAddress([0x02, 0x42, 0, 0, 0, 0x0b]);
    let irb = |a: &str| leaf_a_irb_route(remote, Some(a));
    announce(
        &mut rib,
        tor,
        leaf_a_irb_attrs(),
        vec![irb("fe80::42:ff:fe00:b"), irb("2001:db8:30::b")],
    );
    assert_eq!(
        rib.vrf_route(RED, net("2001:db8:30::b/128")),
        vec![vxlan(LEAF_A, 100)],
        "the global address is a host route"
    );
    assert!(rib.vrf_route(RED, net("fe80::42:ff:fe00:b/128")).is_empty());
    assert!(
        !fib(&mut rib).iter().any(|d| matches!(d,
            ForwardingDelta::Route { prefix, .. } if *prefix == net("fe80::42:ff:fe00:b/128"))),
        "no link-local host route in the datapath"
    );
}

/// RFC 4724 §4.2 helper: a graceful session loss keeps the peer's routes (no datapath
/// change); the peer comes back under the same handle; what it does not send again before
/// its End-of-RIB is purged; StaleExpired purges a family; a plain loss withdraws all.
#[test]
fn graceful_restart_keeps_stale_routes_until_end_of_rib() {
    let mut rib = rib();
    rib.handle_vrf(vrf(RED, "red", 100));
    let tor = rib.handle_peer_up(fabric(65000, "192.0.2.2", 2)).unwrap();
    underlay(&mut rib, tor, &[LEAF_A]);
    let u = |p: &str| Nlri::V4(v4(p));
    let attrs = PathAttrs {
        as_path: AsPath::sequence([65000]),
        next_hop: Some(ip("192.0.2.2")),
        ..Default::default()
    };
    announce(
        &mut rib,
        tor,
        attrs.clone(),
        vec![u("198.51.100.0/24"), u("203.0.113.0/24")],
    );
    let rt = frr_auto_route_target(65101, 100);
    announce(
        &mut rib,
        tor,
        evpn_attrs(65101, LEAF_A, &[rt], &[]),
        vec![type5("100.64.0.2:2", "10.99.0.0/16", 100)],
    );
    fib(&mut rib);
    let listener = rib.handle_peer_up(fabric(65010, "192.0.2.10", 10)).unwrap();
    drain(&mut rib, listener);

    rib.handle_peer_down_graceful(tor).unwrap();
    assert!(fib(&mut rib).is_empty(), "forwarding untouched while stale");
    assert!(
        drain(&mut rib, listener).is_empty(),
        "nothing withdrawn from other peers"
    );
    assert!(rib.default_has(net("203.0.113.0/24")));
    assert_eq!(
        rib.vrf_route(RED, net("10.99.0.0/16")),
        vec![vxlan(LEAF_A, 100)]
    );
    assert_eq!(
        rib.handle_update(
            tor,
            RouteUpdate {
                attrs: attrs.clone(),
                announced: vec![],
                withdrawn: vec![],
                path_id: 0
            }
        ),
        Err(RibError::UnknownPeer(tor)),
        "no UPDATE while down"
    );

    let back = rib.handle_peer_up(fabric(65000, "192.0.2.2", 2)).unwrap();
    assert_eq!(back, tor, "the restarting neighbour resumes its handle");
    underlay(&mut rib, tor, &[LEAF_A]);
    announce(&mut rib, tor, attrs.clone(), vec![u("198.51.100.0/24")]);
    rib.handle_end_of_rib(tor, Family::Ipv4Unicast).unwrap();
    assert!(rib.default_has(net("198.51.100.0/24")), "sent again");
    assert!(
        !rib.default_has(net("203.0.113.0/24")),
        "not sent again: purged"
    );
    assert!(fib(&mut rib).contains(&ForwardingDelta::Route {
        table: FibTable::Default,
        prefix: net("203.0.113.0/24"),
        op: RouteOp::Delete,
    }));
    // EVPN is still stale until its timer runs out.
    assert!(!rib.vrf_route(RED, net("10.99.0.0/16")).is_empty());
    rib.handle_stale_expired(tor, Family::L2vpnEvpn).unwrap();
    assert!(rib.vrf_route(RED, net("10.99.0.0/16")).is_empty());

    // A plain loss withdraws everything and frees the handle.
    rib.handle_peer_down(tor).unwrap();
    assert!(!rib.default_has(net("198.51.100.0/24")));
    assert_eq!(
        rib.handle_stale_expired(tor, Family::Ipv4Unicast),
        Err(RibError::UnknownPeer(tor))
    );
}

#[test]
fn route_refresh_re_sends_everything_the_peer_gets_then_end_of_rib() {
    let mut rib = rib();
    rib.handle_vrf(vrf(RED, "red", 100));
    let tor = rib.handle_peer_up(fabric(65000, "192.0.2.2", 2)).unwrap();
    let h = rib.handle_peer_up(host(RED)).unwrap();
    underlay(&mut rib, tor, &[LEAF_A]);
    announce(
        &mut rib,
        tor,
        evpn_attrs(65101, LEAF_A, &[frr_auto_route_target(65101, 100)], &[]),
        vec![type5("100.64.0.2:2", "10.1.0.0/24", 100)],
    );
    let first: Vec<Nlri> = announced(&drain(&mut rib, h))
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert!(first.contains(&Nlri::V4(v4("10.1.0.0/24"))), "{first:?}");
    assert!(
        drain(&mut rib, h).is_empty(),
        "nothing left before the refresh"
    );
    // RFC 2918: the host asks again for IPv4 unicast.
    rib.handle_route_refresh(h, Family::Ipv4Unicast).unwrap();
    let batches = drain(&mut rib, h);
    assert!(batches.last().is_some_and(|b| b.end_of_rib), "{batches:?}");
    let mut again: Vec<Nlri> = announced(&batches).into_iter().map(|(_, n)| n).collect();
    let mut first = first;
    first.sort_by_key(|n| format!("{n:?}"));
    again.sort_by_key(|n| format!("{n:?}"));
    assert_eq!(first, again);
    // A family the peer doesn't have changes nothing; an unknown peer is an error.
    rib.handle_route_refresh(h, Family::L2vpnEvpn).unwrap();
    assert!(drain(&mut rib, h).is_empty());
    assert!(rib
        .handle_route_refresh(PeerId(999), Family::Ipv4Unicast)
        .is_err());
}

/// A passthrough host session added or removed changes the originated networks in place: the
/// ToR gets one UPDATE for the new /32 (then one withdrawal), nothing else is re-sent, the
/// datapath sees no change to the ToR's routes, and our VTEP is never withdrawn.
#[test]
fn originated_networks_change_in_place() {
    let mut rib = rib();
    let tor = rib.handle_peer_up(fabric(65000, "192.0.2.2", 2)).unwrap();
    underlay(&mut rib, tor, &[LEAF_A]);
    drain(&mut rib, tor);
    fib(&mut rib);

    let pt = net("192.169.100.2/32");
    rib.handle_default_networks(vec![pt]);
    let out = drain(&mut rib, tor);
    let ann = announced(&out);
    assert_eq!(
        ann.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>(),
        vec![Nlri::V4(v4("192.169.100.2/32"))],
        "only the new network is sent: {out:?}"
    );
    assert!(out.iter().all(|b| b.withdraw.is_empty()));
    assert!(
        fib(&mut rib).is_empty(),
        "the ToR's routes stay in the kernel untouched"
    );
    assert!(rib.default_has(pt));

    // The same list again: nothing happens.
    rib.handle_default_networks(vec![pt]);
    assert!(drain(&mut rib, tor).is_empty());

    // Removed: one withdrawal; the VTEP is kept even if a list ever names it.
    rib.handle_default_networks(vec![net(&format!("{VTEP}/32"))]);
    rib.handle_default_networks(vec![]);
    let out = drain(&mut rib, tor);
    let w: Vec<_> = out
        .iter()
        .flat_map(|b| b.withdraw.iter().cloned())
        .collect();
    assert_eq!(w, vec![Nlri::V4(v4("192.169.100.2/32"))], "{out:?}");
    assert!(
        rib.default_has(net(&format!("{VTEP}/32"))),
        "our VTEP stays originated"
    );
    assert!(!rib.default_has(pt));
}

/// `show bgp evpn` with every path: the same type-5 route from two ToRs is two paths of one
/// key, exactly one of them best; the best-only listing has one.
#[test]
fn evpn_paths_list_every_path_best_flagged() {
    let mut rib = rib();
    let tor1 = rib.handle_peer_up(fabric(65000, "192.0.2.2", 2)).unwrap();
    let tor2 = rib.handle_peer_up(fabric(65000, "192.0.2.6", 6)).unwrap();
    for t in [tor1, tor2] {
        announce(
            &mut rib,
            t,
            evpn_attrs(65101, LEAF_A, &[frr_auto_route_target(65101, 100)], &[]),
            vec![type5("100.64.0.2:2", "10.1.0.0/24", 100)],
        );
    }
    let all = rib.evpn_paths(Some(5));
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all.iter().filter(|(_, _, _, best)| *best).count(), 1);
    let mut from: Vec<_> = all.iter().filter_map(|(_, _, s, _)| s.peer()).collect();
    from.sort_by_key(|p| p.0);
    assert_eq!(from, vec![tor1, tor2]);
    assert_eq!(rib.evpn_routes(Some(5)).len(), 1);
    assert!(rib.evpn_paths(Some(2)).is_empty());
}

fn l2vni(vni: u32) -> L2VniConfig {
    L2VniConfig {
        vni,
        rd: None,
        rd_index: 5,
        import_rts: vec![],
        export_rts: vec![],
        vrf: None,
        dup_detection: DupDetection::default(),
        vtep: None,
    }
}

/// Routes learned before an L2VNI exists are imported when it is added, into that L2VNI only;
/// adding another L2VNI later leaves the first one's entries as they are (each new L2VNI imports
/// for itself, without revisiting the others: 500 VNIs must not cost 500³).
#[test]
fn an_added_l2vni_imports_the_routes_learned_before_it_and_only_it_does() {
    let mut rib = rib();
    rib.handle_time(std::time::Instant::now());
    let tor = rib.handle_peer_up(fabric(65000, "192.0.2.2", 2)).unwrap();
    underlay(&mut rib, tor, &[LEAF_A]);
    fib(&mut rib);
    let mac = MacAddress([0x02, 0x42, 0, 0, 0, 0x11]);
    let a = evpn_attrs(65101, LEAF_A, &[frr_auto_route_target(65101, 300)], &[]);
    announce(
        &mut rib,
        tor,
        a,
        vec![
            mac_route("100.64.0.2:5", mac, None),
            Nlri::Evpn(EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
                rd: "100.64.0.2:5".parse().unwrap(),
                ethernet_tag: EthernetTag(0),
                originator: ip(LEAF_A),
            })),
        ],
    );
    assert!(fib(&mut rib).is_empty(), "no L2VNI yet: nothing to install");
    rib.handle_l2vni(l2vni(301));
    let d = fib(&mut rib);
    assert!(
        !d.iter().any(|x| matches!(
            x,
            ForwardingDelta::Fdb { .. } | ForwardingDelta::Flood { .. }
        )),
        "VNI 301 does not import RT 65101:300: {d:?}"
    );
    rib.handle_l2vni(l2vni(300));
    let d = fib(&mut rib);
    assert!(
        d.contains(&ForwardingDelta::Fdb {
            vni: 300,
            mac,
            vtep: Some(ip(LEAF_A))
        }),
        "{d:?}"
    );
    assert!(
        d.contains(&ForwardingDelta::Flood {
            vni: 300,
            vtep: ip(LEAF_A),
            present: true
        }),
        "{d:?}"
    );
    assert!(
        d.iter().all(|x| !matches!(
            x,
            ForwardingDelta::Fdb { vni: 301, .. } | ForwardingDelta::Flood { vni: 301, .. }
        )),
        "{d:?}"
    );
    for vni in 302..310 {
        rib.handle_l2vni(l2vni(vni));
    }
    let d = fib(&mut rib);
    assert!(
        d.iter().all(|x| !matches!(
            x,
            ForwardingDelta::Fdb { .. } | ForwardingDelta::Flood { .. }
        )),
        "later L2VNIs change nothing of VNI 300's: {d:?}"
    );
    let shown = rib.evpn_macs(Some(300));
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(shown[0].vtep, Some(ip(LEAF_A)));
}

/// An iBGP fabric peer (same AS), a route-reflector client or not.
fn ibgp(addr: &str, rid: u8, client: bool) -> PeerConfig {
    PeerConfig {
        route_reflector_client: client,
        allowas_in: 0,
        ..fabric(ASN, addr, rid)
    }
}

/// The MAC routes `peer` was sent, with their ORIGINATOR_ID and CLUSTER_LIST.
fn reflected(rib: &mut Rib, peer: PeerId) -> Vec<(MacAddress, Option<Ipv4Addr>, Vec<Ipv4Addr>)> {
    announced(&drain(rib, peer))
        .into_iter()
        .filter_map(|(a, n)| match n {
            Nlri::Evpn(EvpnRoute::MacIp(m)) => {
                Some((m.mac, a.originator_id(), a.cluster_list().to_vec()))
            }
            _ => None,
        })
        .collect()
}

fn with_reflection(
    mut a: PathAttrs,
    originator: Option<Ipv4Addr>,
    clusters: &[Ipv4Addr],
) -> PathAttrs {
    a.rare_mut().originator_id = originator;
    a.rare_mut().cluster_list = clusters.to_vec();
    a
}

#[test]
fn route_reflection_follows_rfc4456_with_the_configured_cluster_id() {
    // upstream route_reflector.go: type-2 routes reflected between client nodes.
    let cluster = Ipv4Addr::new(10, 255, 0, 9);
    let router_id = Ipv4Addr::new(10, 0, 0, 1);
    let mut rib = Rib::new(RibConfig {
        cluster_id: Some(cluster),
        ..rib().config().clone()
    });
    let c1 = rib.handle_peer_up(ibgp("192.0.2.11", 11, true)).unwrap();
    let c2 = rib.handle_peer_up(ibgp("192.0.2.12", 12, true)).unwrap();
    let n1 = rib.handle_peer_up(ibgp("192.0.2.13", 13, false)).unwrap();
    let n2 = rib.handle_peer_up(ibgp("192.0.2.14", 14, false)).unwrap();
    let tor = rib.handle_peer_up(fabric(65000, "192.0.2.2", 2)).unwrap();
    underlay(&mut rib, tor, &[LEAF_A, LEAF_B]);
    for p in [c1, c2, n1, n2, tor] {
        drain(&mut rib, p);
    }
    let ibgp_attrs = |vtep: &str| PathAttrs {
        as_path: AsPath::sequence([]),
        local_pref: Some(100),
        ..evpn_attrs(0, vtep, &[frr_auto_route_target(ASN, 300)], &[])
    };
    let m = |last: u8| MacAddress([0x02, 0x42, 0, 0, 0, last]);

    // §8: from a client, to every other peer, clients and non-clients, never back.
    announce(
        &mut rib,
        c1,
        ibgp_attrs(LEAF_A),
        vec![mac_route("10.0.1.11:5", m(1), None)],
    );
    let from_client = vec![(m(1), Some(Ipv4Addr::new(10, 0, 1, 11)), vec![cluster])];
    assert_eq!(reflected(&mut rib, c2), from_client, "client to client");
    assert_eq!(reflected(&mut rib, n1), from_client, "client to non-client");
    assert_eq!(reflected(&mut rib, n2), from_client, "client to non-client");
    assert_eq!(reflected(&mut rib, c1), vec![], "never back to its source");
    let ebgp = reflected(&mut rib, tor);
    assert_eq!(
        ebgp,
        vec![(m(1), None, vec![])],
        "no reflection attributes over eBGP"
    );

    // §8: from a non-client, to clients only.
    announce(
        &mut rib,
        n1,
        ibgp_attrs(LEAF_B),
        vec![mac_route("10.0.1.13:5", m(2), None)],
    );
    let from_non_client = vec![(m(2), Some(Ipv4Addr::new(10, 0, 1, 13)), vec![cluster])];
    assert_eq!(reflected(&mut rib, c1), from_non_client);
    assert_eq!(reflected(&mut rib, c2), from_non_client);
    assert_eq!(
        reflected(&mut rib, n2),
        vec![],
        "non-client to non-client is not reflected"
    );

    // A route already reflected elsewhere keeps its ORIGINATOR_ID and gets our cluster first.
    let other = Ipv4Addr::new(10, 254, 0, 1);
    let orig = Ipv4Addr::new(10, 0, 9, 9);
    let a = with_reflection(ibgp_attrs(LEAF_A), Some(orig), &[other]);
    announce(&mut rib, c2, a, vec![mac_route("10.0.9.9:5", m(3), None)]);
    let twice = vec![(m(3), Some(orig), vec![cluster, other])];
    assert_eq!(reflected(&mut rib, c1), twice);
    assert_eq!(reflected(&mut rib, n1), twice);

    // §8 loop detection: our CLUSTER_ID in the CLUSTER_LIST, or our router ID as
    // ORIGINATOR_ID: ignored (nothing reflected, nothing stored).
    let looped = with_reflection(ibgp_attrs(LEAF_A), Some(orig), &[other, cluster]);
    announce(
        &mut rib,
        c2,
        looped,
        vec![mac_route("10.0.9.9:5", m(4), None)],
    );
    let ours = with_reflection(ibgp_attrs(LEAF_A), Some(router_id), &[]);
    announce(
        &mut rib,
        c2,
        ours,
        vec![mac_route("10.0.0.1:5", m(5), None)],
    );
    assert_eq!(
        reflected(&mut rib, c1),
        vec![],
        "looped routes are not reflected"
    );
    assert_eq!(reflected(&mut rib, n1), vec![]);
    // With a configured cluster ID, the router ID in a CLUSTER_LIST is someone else's cluster.
    let rid_cluster = with_reflection(ibgp_attrs(LEAF_A), Some(orig), &[router_id]);
    announce(
        &mut rib,
        c2,
        rid_cluster,
        vec![mac_route("10.0.9.9:5", m(6), None)],
    );
    assert_eq!(
        reflected(&mut rib, c1),
        vec![(m(6), Some(orig), vec![cluster, router_id])]
    );
}

#[test]
fn without_a_cluster_id_the_router_id_is_the_cluster() {
    let router_id = Ipv4Addr::new(10, 0, 0, 1);
    let mut rib = rib();
    let c1 = rib.handle_peer_up(ibgp("192.0.2.11", 11, true)).unwrap();
    let c2 = rib.handle_peer_up(ibgp("192.0.2.12", 12, true)).unwrap();
    let tor = rib.handle_peer_up(fabric(65000, "192.0.2.2", 2)).unwrap();
    underlay(&mut rib, tor, &[LEAF_A]);
    drain(&mut rib, c2);
    let a = PathAttrs {
        as_path: AsPath::sequence([]),
        ..evpn_attrs(0, LEAF_A, &[frr_auto_route_target(ASN, 300)], &[])
    };
    let mac = MacAddress([0x02, 0x42, 0, 0, 0, 1]);
    announce(
        &mut rib,
        c1,
        a.clone(),
        vec![mac_route("10.0.1.11:5", mac, None)],
    );
    assert_eq!(
        reflected(&mut rib, c2),
        vec![(mac, Some(Ipv4Addr::new(10, 0, 1, 11)), vec![router_id])]
    );
    let looped = with_reflection(a, None, &[router_id]);
    announce(
        &mut rib,
        c1,
        looped,
        vec![mac_route("10.0.1.11:5", mac, Some("10.30.0.1"))],
    );
    assert_eq!(reflected(&mut rib, c2), vec![]);
}

/// A live change of a VRF's route targets (upstream's route_target.go, `importRTs` edited on an
/// L3VNI) keeps the VRF: the host session keeps its routes and its feed, a route whose RT is
/// now imported lands and reaches the host, and our type-5 routes go out with the new RTs.
#[test]
fn changed_route_targets_apply_in_place_and_keep_the_host_session_fed() {
    let mut rib = rib();
    let a: RouteTarget = "65000:5000".parse().unwrap();
    let b: RouteTarget = "10.10.10.2:100".parse().unwrap();
    let exp1: RouteTarget = "64514:1100".parse().unwrap();
    let exp2: RouteTarget = "10.10.10.1:100".parse().unwrap();
    let mut red = vrf(RED, "red", 100);
    red.import_rts = vec![RouteTargetMatch::Exact(a)];
    red.export_rts = vec![exp1];
    rib.handle_vrf(red.clone());
    let tor = rib.handle_peer_up(fabric(65000, "192.0.2.2", 2)).unwrap();
    underlay(&mut rib, tor, &[LEAF_A]);
    let hs = rib.handle_peer_up(host(RED)).unwrap();
    announce(
        &mut rib,
        hs,
        PathAttrs {
            as_path: AsPath::sequence([64515]),
            next_hop: Some(ip("192.168.10.3")),
            ..Default::default()
        },
        vec![Nlri::V4(v4("10.9.0.1/32"))],
    );
    announce(
        &mut rib,
        tor,
        evpn_attrs(65101, LEAF_A, &[a], &[]),
        vec![type5("100.64.0.2:2", "10.1.0.0/24", 100)],
    );
    announce(
        &mut rib,
        tor,
        evpn_attrs(65101, LEAF_A, &[b], &[]),
        vec![type5("100.64.0.2:3", "10.2.0.0/24", 100)],
    );
    assert_eq!(
        rib.vrf_route(RED, net("10.1.0.0/24")),
        vec![vxlan(LEAF_A, 100)]
    );
    assert_eq!(
        rib.vrf_route(RED, net("10.2.0.0/24")),
        vec![],
        "RT not imported yet"
    );
    drain(&mut rib, hs);
    drain(&mut rib, tor);

    // Import b as well, export exp2 instead of exp1.
    red.import_rts = vec![RouteTargetMatch::Exact(a), RouteTargetMatch::Exact(b)];
    red.export_rts = vec![exp2];
    rib.handle_vrf(red.clone());
    assert_eq!(
        rib.vrf_route(RED, net("10.2.0.0/24")),
        vec![vxlan(LEAF_A, 100)]
    );
    assert_eq!(
        rib.vrf_route(RED, net("10.1.0.0/24")),
        vec![vxlan(LEAF_A, 100)]
    );
    assert!(
        !rib.vrf_route(RED, net("10.9.0.1/32")).is_empty(),
        "the host session's route stays in the VRF"
    );
    let to_host = announced(&drain(&mut rib, hs));
    assert!(
        to_host
            .iter()
            .any(|(_, n)| *n == Nlri::V4(v4("10.2.0.0/24"))),
        "the newly imported route reaches the host session: {to_host:?}"
    );
    let to_tor = announced(&drain(&mut rib, tor));
    let host_t5 = to_tor
        .iter()
        .find(|(_, n)| matches!(n, Nlri::Evpn(EvpnRoute::IpPrefix(r)) if r.prefix() == net("10.9.0.1/32")))
        .expect("the host route re-advertised as type-5");
    assert_eq!(host_t5.0.route_targets().collect::<Vec<_>>(), vec![exp2]);

    // Dropping b again takes its route out of the VRF and withdraws it from the host.
    red.import_rts = vec![RouteTargetMatch::Exact(a)];
    rib.handle_vrf(red);
    assert_eq!(rib.vrf_route(RED, net("10.2.0.0/24")), vec![]);
    let withdrawn: Vec<Nlri> = drain(&mut rib, hs)
        .into_iter()
        .flat_map(|b| b.withdraw.into_iter())
        .collect();
    assert!(
        withdrawn.contains(&Nlri::V4(v4("10.2.0.0/24"))),
        "{withdrawn:?}"
    );
}

/// upstream ipv6_vtep.go: an L2VNI with `underlayAddressFamily: IPv6` tunnels from the node's
/// IPv6 VTEP while another L2VNI keeps the IPv4 one. Each VNI's type-3 carries its own VTEP as
/// originator, next hop and PMSI tunnel endpoint (RFC 7432 §11, RFC 6514 §5), its type-2 routes
/// carry it as next hop (RFC 7432 §9.2.1), and a remote IPv6 VTEP's type-2/3 routes become FDB
/// and flood entries towards that IPv6 address.
#[test]
fn an_ipv6_vtep_l2vni_beside_an_ipv4_one_uses_its_own_vtep_per_family() {
    const VTEP6: &str = "fd00:65::1";
    const LEAF6: &str = "fd00:64::2";
    let mut rib = rib();
    rib.handle_time(std::time::Instant::now());
    rib.handle_l2vni(l2vni(300));
    rib.handle_l2vni(L2VniConfig {
        vtep: Some(ip(VTEP6)),
        rd_index: 6,
        ..l2vni(600)
    });
    // An IPv6 underlay session (RFC 8950 for its IPv4 routes) carrying IPv6 unicast and EVPN.
    let tor = rib
        .handle_peer_up(PeerConfig {
            remote_address: ip("2001:db8::2"),
            local_address: ip("2001:db8::1"),
            families: vec![Family::Ipv4Unicast, Family::Ipv6Unicast, Family::L2vpnEvpn],
            ..fabric(65000, "2001:db8::2", 2)
        })
        .unwrap();
    let mac = MacAddress([0x02, 0x42, 0, 0, 0x06, 0x01]);
    rib.handle_local_mac(600, mac, None, true, false).unwrap();
    rib.handle_local_mac(600, mac, Some(ip("2001:db8:6::10")), true, false)
        .unwrap();
    let out = announced(&drain(&mut rib, tor));
    let type3 = |vni: u32| {
        out.iter()
            .find_map(|(a, n)| match n {
                Nlri::Evpn(EvpnRoute::InclusiveMulticast(r))
                    if a.route_targets()
                        .any(|t| t == frr_auto_route_target(ASN, vni)) =>
                {
                    Some((a.clone(), r.originator))
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("type-3 of VNI {vni} in {out:?}"))
    };
    let (a6, orig6) = type3(600);
    assert_eq!(orig6, ip(VTEP6));
    assert_eq!(a6.next_hop, Some(ip(VTEP6)));
    assert_eq!(
        a6.pmsi().map(|p| p.tunnel_id.clone()),
        Some(perouter_evpn::PmsiTunnelId::IngressReplication(ip(VTEP6)))
    );
    let (a4, orig4) = type3(300);
    assert_eq!((orig4, a4.next_hop), (ip(VTEP), Some(ip(VTEP))));
    assert_eq!(
        a4.pmsi().map(|p| p.tunnel_id.clone()),
        Some(perouter_evpn::PmsiTunnelId::IngressReplication(ip(VTEP)))
    );
    let type2: Vec<_> = out
        .iter()
        .filter(|(_, n)| matches!(n, Nlri::Evpn(EvpnRoute::MacIp(r)) if r.mac == mac))
        .collect();
    assert_eq!(type2.len(), 2, "MAC and MAC+IP: {type2:?}");
    assert!(type2.iter().all(|(a, _)| a.next_hop == Some(ip(VTEP6))));

    // A remote node's IPv6 VTEP, reachable through the fabric's IPv6 unicast route over a
    // connected IPv6 underlay link.
    rib.handle_update(
        tor,
        RouteUpdate {
            attrs: PathAttrs {
                as_path: AsPath::sequence([65000]),
                next_hop: Some(ip("2001:db8::2")),
                ..Default::default()
            },
            announced: vec![Nlri::V6(format!("{LEAF6}/128").parse().unwrap())],
            withdrawn: vec![],
            path_id: 0,
        },
    )
    .unwrap();
    fib(&mut rib);
    let rmac = MacAddress([0x02, 0x42, 0, 0, 0x06, 0x02]);
    let mut a = evpn_attrs(65101, LEAF6, &[frr_auto_route_target(65101, 600)], &[]);
    a.rare = Some(Box::new(perouter_rib::attrs::RareAttrs {
        pmsi: Some(perouter_evpn::PmsiTunnel::ingress_replication(
            ip(LEAF6),
            Label::from_vni(600),
        )),
        ..Default::default()
    }));
    let mut r2 = mac_route("100.64.0.2:6", rmac, None);
    if let Nlri::Evpn(EvpnRoute::MacIp(r)) = &mut r2 {
        r.label1 = Label::from_vni(600);
    }
    announce(
        &mut rib,
        tor,
        a,
        vec![
            r2,
            Nlri::Evpn(EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
                rd: "100.64.0.2:6".parse().unwrap(),
                ethernet_tag: EthernetTag(0),
                originator: ip(LEAF6),
            })),
        ],
    );
    let d = fib(&mut rib);
    assert!(
        d.contains(&ForwardingDelta::Fdb {
            vni: 600,
            mac: rmac,
            vtep: Some(ip(LEAF6))
        }),
        "{d:?}"
    );
    assert!(
        d.contains(&ForwardingDelta::Flood {
            vni: 600,
            vtep: ip(LEAF6),
            present: true
        }),
        "{d:?}"
    );
    assert!(
        d.iter().all(|x| !matches!(
            x,
            ForwardingDelta::Fdb { vni: 300, .. } | ForwardingDelta::Flood { vni: 300, .. }
        )),
        "the IPv4 VNI imports nothing of VNI 600's: {d:?}"
    );
}

/// A relay of a table with one attribute set per route (real tables have about 2.6 routes per
/// set) keeps each peer's export cache bounded: it holds at most a batch's worth of
/// transformed sets beyond its limit, not one per set (issue 16). The sets still collapse into
/// one exported set (eBGP export drops the MED), so the relay packs them together.
#[test]
fn the_export_cache_stays_bounded_with_many_attribute_sets() {
    let mut rib = rib();
    let a = rib.handle_peer_up(fabric(65001, LEAF_A, 2)).unwrap();
    let b = rib.handle_peer_up(fabric(65002, LEAF_B, 3)).unwrap();
    const N: u32 = 20_000;
    for i in 0..N {
        let mut attrs = evpn_attrs(65001, "100.64.0.9", &[], &[]);
        attrs.med = Some(i);
        let prefix = format!("10.{}.{}.0/24", i / 256, i % 256);
        announce(
            &mut rib,
            a,
            attrs,
            vec![type5("100.64.0.9:100", &prefix, 100)],
        );
    }
    assert!(rib.stats().attribute_sets >= N as usize);
    let mut sent = Vec::new();
    while let Some(batch) = rib.poll_adj_out(b, 1000) {
        sent.extend(announced(std::slice::from_ref(&batch)));
        assert!(
            rib.stats().export_cache_entries <= 4096 + 1000,
            "the export cache grew to {} entries",
            rib.stats().export_cache_entries
        );
    }
    let evpn: Vec<&(Attrs, Nlri)> = sent
        .iter()
        .filter(|(_, n)| matches!(n, Nlri::Evpn(_)))
        .collect();
    assert_eq!(evpn.len(), N as usize);
    assert!(
        evpn.iter().all(|(x, _)| *x == evpn[0].0),
        "one exported set"
    );
    assert_eq!(evpn[0].0.med, None);
}
