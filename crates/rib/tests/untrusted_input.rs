//! Input that is well-formed but wrong (issue 10): NLRI of families the session did not
//! negotiate, invalid or unreachable next hops, and our own AS echoed back by a host or
//! passthrough session. Driven through the RIB's public sans-IO interface.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;
use perouter_evpn::derive::frr_auto_route_target;
use perouter_evpn::{EthernetTag, EvpnRoute, IpPrefixRoute, Label, MacAddress, RouteDistinguisher};
use perouter_rib::attrs::ext;
use perouter_rib::*;

const ASN: u32 = 64514;
const VTEP: &str = "100.65.0.1";
const ROUTER_ID: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const RED: VrfId = VrfId(100);
const RED_MAC: MacAddress = MacAddress([0x02, 0, 0, 0, 0x01, 0x00]);
const LEAF_MAC: MacAddress = MacAddress([0x02, 0xaa, 0, 0, 0, 0x02]);

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn nlri(s: &str) -> Nlri {
    match net(s) {
        IpNet::V4(p) => Nlri::V4(p),
        IpNet::V6(p) => Nlri::V6(p),
    }
}

fn rib() -> Rib {
    let mut r = Rib::new(RibConfig {
        asn: ASN,
        router_id: ROUTER_ID,
        vtep: ip(VTEP),
        multipath: MultipathConfig::default(),
        default_networks: vec![],
        cluster_id: None,
    });
    r.handle_vrf(VrfConfig {
        id: RED,
        name: "red".into(),
        l3vni: 100,
        router_mac: RED_MAC,
        rd: None,
        rd_index: 100,
        import_rts: vec![],
        export_rts: vec![],
        networks: vec![],
    });
    r
}

fn peer(role: PeerRole, remote_asn: u32, remote: &str, local: &str, fams: &[Family]) -> PeerConfig {
    PeerConfig {
        role,
        local_asn: ASN,
        remote_asn,
        remote_address: ip(remote),
        local_address: ip(local),
        remote_router_id: match ip(remote) {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => Ipv4Addr::new(10, 9, 9, 9),
        },
        families: fams.to_vec(),
        route_reflector_client: false,
        // What the agent used to configure on every eBGP session: the RIB must still refuse
        // our AS on host and passthrough sessions.
        allowas_in: 1,
    }
}

fn tor(addr: &str, fams: &[Family]) -> PeerConfig {
    peer(PeerRole::Fabric, 65000, addr, "192.0.2.1", fams)
}

const V4: &[Family] = &[Family::Ipv4Unicast];
const ALL: &[Family] = &[Family::Ipv4Unicast, Family::Ipv6Unicast, Family::L2vpnEvpn];

fn update(rib: &mut Rib, p: PeerId, as_path: &[u32], nh: Option<&str>, ann: Vec<Nlri>) {
    rib.handle_update(
        p,
        RouteUpdate {
            attrs: PathAttrs {
                as_path: AsPath::sequence(as_path.iter().copied()),
                next_hop: nh.map(ip),
                ..Default::default()
            },
            announced: ann,
            withdrawn: vec![],
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

/// Whether the datapath got (or has pending) a route for `prefix` in `table`.
fn installs(deltas: &[ForwardingDelta], table: FibTable, prefix: &str) -> bool {
    deltas.iter().any(|d| {
        matches!(d, ForwardingDelta::Route { table: t, prefix: p, op: RouteOp::Add(_) | RouteOp::Replace(_) }
            if *t == table && *p == net(prefix))
    })
}

/// Every announcement pending for `p`, with its attributes.
fn sent(rib: &mut Rib, p: PeerId) -> Vec<(perouter_rib::table::Attrs, Nlri)> {
    let mut v = Vec::new();
    while let Some(b) = rib.poll_adj_out(p, 1000) {
        for a in b.announce {
            for n in a.nlri {
                v.push((a.attrs.clone(), n));
            }
        }
    }
    v
}

fn type5(prefix: &str) -> Nlri {
    Nlri::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute::without_gateway(
        "100.64.0.2:2".parse::<RouteDistinguisher>().unwrap(),
        Default::default(),
        EthernetTag(0),
        net(prefix),
        Label::from_vni(100),
    )))
}

#[test]
fn families_not_negotiated_are_ignored_counted_and_never_outlive_the_session() {
    let mut rib = rib();
    let a = rib.handle_peer_up(tor("192.0.2.2", V4)).unwrap();
    let b = rib.handle_peer_up(tor("192.0.2.6", ALL)).unwrap();
    sent(&mut rib, b);
    // An IPv4-only peer sends IPv6 unicast and EVPN (MP_REACH), and a valid IPv4 route.
    update(
        &mut rib,
        a,
        &[65000],
        Some("192.0.2.2"),
        vec![nlri("2001:db8:99::/48")],
    );
    let mut attrs = PathAttrs {
        as_path: AsPath::sequence([65000, 65101]),
        next_hop: Some(ip("100.64.0.2")),
        ..Default::default()
    };
    attrs.ext_communities = vec![
        frr_auto_route_target(65101, 100).into(),
        ext::encapsulation_vxlan(),
        ext::router_mac(LEAF_MAC),
    ]
    .into();
    rib.handle_update(
        a,
        RouteUpdate {
            attrs,
            announced: vec![type5("10.1.0.0/24"), nlri("203.0.113.0/24")],
            withdrawn: vec![nlri("2001:db8:98::/48")],
            path_id: 0,
        },
    )
    .unwrap();
    assert!(!rib.default_has(net("2001:db8:99::/48")));
    assert!(rib
        .evpn_routes(None)
        .iter()
        .all(|(_, _, src)| *src == perouter_rib::table::Source::Local));
    assert!(
        rib.default_has(net("203.0.113.0/24")),
        "the IPv4 route is used"
    );
    assert_eq!(rib.peer_input(a).unwrap().ignored_family, 3);
    assert_eq!(rib.stats().refused.ignored_family, 3);
    // Nothing of it reached the other fabric peer.
    let out = sent(&mut rib, b);
    assert!(
        out.iter()
            .all(|(_, n)| !matches!(n, Nlri::V6(_) | Nlri::Evpn(_))),
        "{out:?}"
    );
    // And nothing survives the session.
    rib.handle_peer_down(a).unwrap();
    assert!(!rib.default_has(net("203.0.113.0/24")));
    assert_eq!(rib.stats().default_routes, 1, "only our VTEP");
    assert_eq!(rib.stats().evpn_routes, 0);
    assert_eq!(
        rib.stats().refused.ignored_family,
        3,
        "the total outlives the peer"
    );
}

#[test]
fn invalid_next_hops_are_kept_but_never_selected_advertised_or_installed() {
    let cases = [
        ("0.0.0.0", "198.18.0.0/24"),
        ("127.0.0.1", "198.18.1.0/24"),
        ("224.0.0.1", "198.18.2.0/24"),
        ("255.255.255.255", "198.18.3.0/24"),
        ("240.0.0.1", "198.18.4.0/24"),
        ("10.0.0.1", "198.18.5.0/24"),   // our router ID
        (VTEP, "198.18.6.0/24"),         // our VTEP
        ("192.0.2.1", "198.18.7.0/24"),  // our address on the session
        ("192.0.2.77", "198.18.8.0/24"), // an address the agent reported as ours
        ("::", "2001:db8:a0::/48"),
        ("::1", "2001:db8:a1::/48"),
        ("ff02::1", "2001:db8:a2::/48"),
    ];
    let mut rib = rib();
    rib.handle_local_address(ip("192.0.2.77"), true);
    let a = rib.handle_peer_up(tor("192.0.2.2", ALL)).unwrap();
    let b = rib.handle_peer_up(tor("192.0.2.6", ALL)).unwrap();
    sent(&mut rib, b);
    fib(&mut rib);
    for (i, (nh, prefix)) in cases.iter().enumerate() {
        update(&mut rib, a, &[65000], Some(nh), vec![nlri(prefix)]);
        let paths = rib.default_paths(net(prefix));
        assert_eq!(paths.len(), 1, "{nh}: kept in the Adj-RIB-In");
        assert!(!paths[0].1, "{nh}: not selected");
        assert_eq!(paths[0].0.next_hop, Some(ip(nh)));
        assert!(!rib.default_has(net(prefix)), "{nh}");
        assert_eq!(
            rib.peer_input(a).unwrap().invalid_next_hop,
            i as u64 + 1,
            "{nh}"
        );
    }
    assert!(sent(&mut rib, b).is_empty(), "nothing re-advertised");
    assert!(fib(&mut rib).is_empty(), "nothing installed");
    assert_eq!(rib.stats().refused.invalid_next_hop, cases.len() as u64);
    // A valid next hop from the other peer for the same prefix is used.
    update(
        &mut rib,
        b,
        &[65001],
        Some("192.0.2.6"),
        vec![nlri("198.18.1.0/24")],
    );
    assert!(installs(&fib(&mut rib), FibTable::Default, "198.18.1.0/24"));
    // Once the address is no longer ours, the path through it is eligible.
    rib.handle_local_address(ip("192.0.2.77"), false);
    assert!(rib.default_has(net("198.18.8.0/24")));
}

#[test]
fn invalid_next_hops_from_the_host_and_in_evpn_are_not_used_either() {
    let mut rib = rib();
    let t = rib.handle_peer_up(tor("192.0.2.2", ALL)).unwrap();
    let h = rib
        .handle_peer_up(peer(
            PeerRole::Host(RED),
            64515,
            "192.169.10.3",
            "192.169.10.1",
            V4,
        ))
        .unwrap();
    sent(&mut rib, t);
    fib(&mut rib);
    for (nh, prefix) in [
        ("127.0.0.1", "172.17.4.0/24"),
        ("192.169.10.1", "172.17.5.0/24"),
    ] {
        update(&mut rib, h, &[64515], Some(nh), vec![nlri(prefix)]);
        assert_eq!(rib.vrf_route(RED, net(prefix)), vec![], "{nh}");
    }
    // A host route through another address than the host's (the veth is its only link).
    update(
        &mut rib,
        h,
        &[64515],
        Some("198.51.100.9"),
        vec![nlri("172.17.6.0/24")],
    );
    assert_eq!(rib.vrf_route(RED, net("172.17.6.0/24")), vec![]);
    assert_eq!(rib.peer_input(h).unwrap().invalid_next_hop, 2);
    let d = fib(&mut rib);
    assert!(
        !d.iter().any(|x| matches!(x, ForwardingDelta::Route { .. })),
        "{d:?}"
    );
    assert!(sent(&mut rib, t).is_empty(), "no type-5 exported");
    // The host's own address works.
    update(
        &mut rib,
        h,
        &[64515],
        Some("192.169.10.3"),
        vec![nlri("172.17.7.0/24")],
    );
    assert_eq!(
        rib.vrf_route(RED, net("172.17.7.0/24")),
        vec![NextHop::Gateway(ip("192.169.10.3"))]
    );
    // EVPN: a type-5 route whose VTEP is loopback, or link-local, is not imported.
    for (vtep, prefix) in [("127.0.0.1", "10.1.0.0/24"), ("fe80::1", "10.2.0.0/24")] {
        let mut attrs = PathAttrs {
            as_path: AsPath::sequence([65000, 65101]),
            next_hop: Some(ip(vtep)),
            ..Default::default()
        };
        attrs.ext_communities = vec![
            frr_auto_route_target(65101, 100).into(),
            ext::encapsulation_vxlan(),
            ext::router_mac(LEAF_MAC),
        ]
        .into();
        rib.handle_update(
            t,
            RouteUpdate {
                attrs,
                announced: vec![type5(prefix)],
                withdrawn: vec![],
                path_id: 0,
            },
        )
        .unwrap();
        assert_eq!(rib.vrf_route(RED, net(prefix)), vec![], "{vtep}");
    }
    assert!(rib
        .evpn_routes(Some(5))
        .iter()
        .all(|(_, _, src)| *src == perouter_rib::table::Source::Local));
    assert_eq!(rib.peer_input(t).unwrap().invalid_next_hop, 2);
}

#[test]
fn unreachable_next_hops_are_not_installed_until_they_become_reachable() {
    let mut rib = rib();
    // The router namespace's connected prefixes are known: gateways are checked.
    rib.handle_connected(net("192.0.2.0/24"), true);
    let a = rib.handle_peer_up(tor("192.0.2.2", ALL)).unwrap();
    let b = rib.handle_peer_up(tor("192.0.2.6", ALL)).unwrap();
    sent(&mut rib, b);
    fib(&mut rib);
    // An iBGP-style next hop somewhere else: not reachable yet.
    update(
        &mut rib,
        a,
        &[65000],
        Some("198.51.100.9"),
        vec![nlri("203.0.113.0/24")],
    );
    assert!(!rib.default_has(net("203.0.113.0/24")));
    assert_eq!(rib.default_paths(net("203.0.113.0/24")).len(), 1);
    assert!(fib(&mut rib).is_empty());
    assert!(sent(&mut rib, b).is_empty());
    assert_eq!(rib.stats().unreachable_next_hops, 1);
    assert_eq!(
        rib.peer_input(a).unwrap().invalid_next_hop,
        0,
        "unreachable is not invalid"
    );
    // A route that would resolve through itself does not count.
    update(
        &mut rib,
        a,
        &[65000],
        Some("198.51.100.9"),
        vec![nlri("198.51.100.0/24")],
    );
    assert!(!rib.default_has(net("203.0.113.0/24")));
    // A covering route through the neighbour makes it reachable: both installed.
    update(
        &mut rib,
        b,
        &[65001],
        Some("192.0.2.6"),
        vec![nlri("198.51.100.0/25")],
    );
    let d = fib(&mut rib);
    assert!(installs(&d, FibTable::Default, "203.0.113.0/24"), "{d:?}");
    assert!(rib.default_has(net("198.51.100.0/24")));
    let out = sent(&mut rib, b);
    assert!(
        out.iter().any(|(_, n)| *n == nlri("203.0.113.0/24")),
        "{out:?}"
    );
    // It goes away: uninstalled again.
    rib.handle_peer_down(b).unwrap();
    let d = fib(&mut rib);
    assert!(
        d.contains(&ForwardingDelta::Route {
            table: FibTable::Default,
            prefix: net("203.0.113.0/24"),
            op: RouteOp::Delete
        }),
        "{d:?}"
    );
    // A connected prefix brings it back.
    rib.handle_connected(net("198.51.100.0/24"), true);
    assert!(installs(
        &fib(&mut rib),
        FibTable::Default,
        "203.0.113.0/24"
    ));
    assert_eq!(rib.stats().unreachable_next_hops, 0);
}

#[test]
fn our_as_echoed_by_a_host_or_passthrough_session_is_refused_but_fabric_allows_it_once() {
    let mut rib = rib();
    let t = rib.handle_peer_up(tor("192.0.2.2", ALL)).unwrap();
    let pt = rib
        .handle_peer_up(peer(
            PeerRole::Passthrough,
            64517,
            "192.169.100.4",
            "192.169.100.1",
            V4,
        ))
        .unwrap();
    let h = rib
        .handle_peer_up(peer(
            PeerRole::Host(RED),
            64515,
            "192.169.10.3",
            "192.169.10.1",
            V4,
        ))
        .unwrap();
    sent(&mut rib, t);
    // The mass-withdrawal echo: the host re-advertises what it learned from us.
    update(
        &mut rib,
        pt,
        &[64517, ASN, 64666],
        Some("192.169.100.4"),
        vec![nlri("172.20.0.0/24")],
    );
    update(
        &mut rib,
        h,
        &[64515, ASN, 64666],
        Some("192.169.10.3"),
        vec![nlri("172.21.0.0/24")],
    );
    assert!(!rib.default_has(net("172.20.0.0/24")));
    assert!(rib.default_paths(net("172.20.0.0/24")).is_empty());
    assert_eq!(rib.vrf_route(RED, net("172.21.0.0/24")), vec![]);
    let out = sent(&mut rib, t);
    assert!(
        out.is_empty(),
        "no path with our AS twice reaches the ToR: {out:?}"
    );
    // The fabric (all nodes share one AS) may send our AS once...
    update(
        &mut rib,
        t,
        &[65000, ASN, 65100],
        Some("192.0.2.2"),
        vec![nlri("172.22.0.0/24")],
    );
    assert!(rib.default_has(net("172.22.0.0/24")));
    // ...but not twice.
    update(
        &mut rib,
        t,
        &[65000, ASN, 65100, ASN],
        Some("192.0.2.2"),
        vec![nlri("172.23.0.0/24")],
    );
    assert!(!rib.default_has(net("172.23.0.0/24")));
    // Without our AS the host's routes are used.
    update(
        &mut rib,
        pt,
        &[64517],
        Some("192.169.100.4"),
        vec![nlri("172.20.0.0/24")],
    );
    assert!(rib.default_has(net("172.20.0.0/24")));
}

/// `show bgp ipv4 unicast`'s source: every path of a prefix, the best one flagged first, a
/// longer AS path kept but not selected, an ineligible next hop (our router ID) shown as such;
/// exact and longest-match lookups, and nothing across families.
#[test]
fn unicast_paths_list_every_path_with_its_flags() {
    let mut rib = rib();
    let a = rib.handle_peer_up(tor("192.0.2.2", ALL)).unwrap();
    let b = rib.handle_peer_up(tor("192.0.2.6", ALL)).unwrap();
    update(
        &mut rib,
        b,
        &[65000, 65001],
        Some("192.0.2.6"),
        vec![nlri("198.51.100.0/24")],
    );
    update(
        &mut rib,
        a,
        &[65000],
        Some("192.0.2.2"),
        vec![nlri("198.51.100.0/24")],
    );
    update(
        &mut rib,
        a,
        &[65000],
        Some("10.0.0.1"),
        vec![nlri("198.51.100.128/25")],
    );
    update(
        &mut rib,
        a,
        &[65000],
        Some("2001:db8::2"),
        vec![nlri("2001:db8:1::/48")],
    );

    let from = |p: &UnicastPath| match p.source {
        perouter_rib::table::Source::Peer { peer, .. } => Some(peer),
        _ => None,
    };
    let all = rib.unicast_paths(false, None, PrefixMatch::All);
    assert_eq!(all.len(), 4, "{all:?}");
    let vtep = all
        .iter()
        .find(|p| p.prefix == net("100.65.0.1/32"))
        .unwrap();
    assert!(
        vtep.best && vtep.source == perouter_rib::table::Source::Local,
        "our VTEP, local"
    );
    assert_eq!(vtep.decided_by, Some(best_path::DecisionStep::OnlyPath));

    let exact = rib.unicast_paths(false, None, PrefixMatch::Exact(net("198.51.100.7/24")));
    assert_eq!(exact.len(), 2);
    assert_eq!(exact[0].prefix, net("198.51.100.0/24"));
    assert_eq!(from(&exact[0]), Some(a), "the shorter AS path is best");
    assert!(exact[0].best && exact[0].multipath && exact[0].eligible);
    assert_eq!(from(&exact[1]), Some(b));
    assert!(!exact[1].best && !exact[1].multipath && exact[1].eligible);
    assert_eq!(
        exact[0].decided_by,
        Some(best_path::DecisionStep::AsPathLength)
    );
    assert_eq!(exact[1].decided_by, None, "only on the best path");

    let covering = rib.unicast_paths(false, None, PrefixMatch::Longest(ip("198.51.100.200")));
    assert_eq!(covering.len(), 1);
    assert_eq!(covering[0].prefix, net("198.51.100.128/25"));
    assert!(
        !covering[0].best && !covering[0].eligible,
        "our router ID as next hop"
    );
    assert_eq!(covering[0].decided_by, None, "nothing selected");
    let covering = rib.unicast_paths(false, None, PrefixMatch::Longest(ip("198.51.100.5")));
    assert_eq!(covering[0].prefix, net("198.51.100.0/24"));
    assert!(rib
        .unicast_paths(false, None, PrefixMatch::Longest(ip("203.0.113.1")))
        .is_empty());

    let v6 = rib.unicast_paths(true, None, PrefixMatch::All);
    assert_eq!(v6.len(), 1);
    assert_eq!(v6[0].prefix, net("2001:db8:1::/48"));
    assert!(v6[0].best);
    assert!(rib
        .unicast_paths(true, None, PrefixMatch::Exact(net("198.51.100.0/24")))
        .is_empty());
    assert!(rib
        .unicast_paths(false, None, PrefixMatch::Longest(ip("2001:db8:1::1")))
        .is_empty());
}
