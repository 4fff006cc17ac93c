//! The conversion between UPDATEs and the RIB (`perouter_rib::wire`) on real bytes: every
//! UPDATE captured between FRR, GoBGP and BIRD (tests/data/*.hex) is parsed with the wire codec
//! and converted; FRR's table is fed into a RIB and checked route by route; and what the RIB
//! sends is packed into UPDATE bytes, parsed again and fed into a second RIB, which must end
//! up with the same routes and attributes.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use bytes::Bytes;
use ipnet::IpNet;
use perouter_bgp::wire::{
    AddPathFamilies, AfiSafi, AttributeValue, Community, LargeCommunity, Message, Open, Update,
    WireContext,
};
use perouter_evpn::{EthernetTag, EvpnRoute, IpPrefixRoute, Label, MacAddress};
use perouter_rib::wire::{adj_out_updates, end_of_rib, route_updates};
use perouter_rib::*;

/// One captured UPDATE with its comment line and the context it was parsed with.
struct Captured {
    comment: String,
    src: String,
    update: Update,
}

/// Every UPDATE of a capture, parsed with the context its session negotiated (as a session
/// would: from the two OPENs seen on the connection).
fn load(name: &str) -> Vec<Captured> {
    let path = format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut opens: HashMap<(String, String), Open> = HashMap::new();
    let mut out = Vec::new();
    let mut comment = String::new();
    for line in text.lines() {
        if let Some(c) = line.strip_prefix("# ") {
            comment = c.to_string();
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        let dir = comment
            .split_whitespace()
            .find(|w| w.contains(")->"))
            .unwrap();
        let (src, dst) = dir.split_once("->").unwrap();
        let (src, dst) = (src.to_string(), dst.to_string());
        let ctx = match (
            opens.get(&(src.clone(), dst.clone())),
            opens.get(&(dst.clone(), src.clone())),
        ) {
            (Some(mine), Some(theirs)) => WireContext::negotiate(mine, theirs),
            _ => WireContext::default(),
        };
        let bytes = Bytes::from(hex::decode(line.trim()).unwrap());
        let (message, _) = Message::parse(&bytes, &ctx).unwrap();
        match message {
            Message::Open(o) => {
                opens.insert((src.clone(), dst), o);
            }
            Message::Update(update) => out.push(Captured {
                comment: comment.clone(),
                src,
                update,
            }),
            _ => {}
        }
    }
    out
}

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Number of NLRI of the families the RIB handles in a set of blocks.
fn count<'a>(blocks: impl Iterator<Item = &'a perouter_bgp::wire::NlriBlock>) -> usize {
    blocks
        .filter(|b| {
            [
                AfiSafi::IPV4_UNICAST,
                AfiSafi::IPV6_UNICAST,
                AfiSafi::L2VPN_EVPN,
            ]
            .contains(&b.kind)
        })
        .map(|b| b.len())
        .sum()
}

#[test]
fn every_captured_update_converts_with_all_its_nlri() {
    let mut updates = 0;
    let mut eors = 0;
    for file in ["frr-gobgp.hex", "frr-bird.hex", "gobgp-bird.hex"] {
        for c in load(file) {
            updates += 1;
            let u = &c.update;
            let routes = route_updates(u, true);
            if u.is_end_of_rib().is_some() {
                eors += 1;
                assert!(end_of_rib(u).is_some(), "{}", c.comment);
                assert!(routes.is_empty(), "{}", c.comment);
                continue;
            }
            let announced: usize = routes.iter().map(|(_, r)| r.announced.len()).sum();
            let withdrawn: usize = routes.iter().map(|(_, r)| r.withdrawn.len()).sum();
            assert_eq!(announced, count(u.announced()), "{}", c.comment);
            assert_eq!(withdrawn, count(u.withdrawals()), "{}", c.comment);
            for (family, r) in &routes {
                for n in r.announced.iter().chain(&r.withdrawn) {
                    assert_eq!(n.family(), *family, "{}", c.comment);
                }
                if !r.announced.is_empty() {
                    assert!(
                        r.attrs.next_hop.is_some(),
                        "every announcement has a next hop: {}",
                        c.comment
                    );
                }
            }
        }
    }
    assert!(updates > 100, "{updates} UPDATEs");
    assert!(eors >= 9, "{eors} End-of-RIB markers");
}

#[test]
fn attributes_next_hops_and_path_ids_are_what_the_capture_says() {
    let frr = load("frr-gobgp.hex");
    // FRR's first IPv4 UPDATE: NEXT_HOP, aggregator, communities, large communities, RTs.
    let c = frr
        .iter()
        .find(|c| c.src.contains("(frr)") && c.comment.contains("nlri=203.0.113.0/24 PathId 2"))
        .unwrap();
    let routes = route_updates(&c.update, true);
    assert_eq!(routes.len(), 1);
    let (family, r) = &routes[0];
    assert_eq!(*family, Family::Ipv4Unicast);
    assert_eq!(r.path_id, 2, "ADD-PATH path identifier kept");
    assert_eq!(
        r.announced,
        vec![Nlri::V4("203.0.113.0/24".parse().unwrap())]
    );
    let a = &r.attrs;
    assert_eq!(a.next_hop, Some(ip("192.0.2.1")));
    assert_eq!(a.origin, Origin::Igp);
    assert_eq!(a.as_path, AsPath::sequence([4200000001]));
    assert_eq!(a.med, Some(0));
    assert_eq!(
        &*a.communities,
        &[
            Community(0), // tshark's "Reserved": FRR sent 0:0
            Community::new(64512, 100),
            Community::new(64512, 200)
        ]
    );
    assert_eq!(
        a.large_communities(),
        &[
            LargeCommunity {
                global: 4200000001,
                local1: 1,
                local2: 1
            },
            LargeCommunity {
                global: 4200000001,
                local1: 2,
                local2: 2
            }
        ]
    );
    assert_eq!(a.route_targets().count(), 2);
    let ag = a.rare().aggregator.unwrap();
    assert_eq!(
        (ag.asn, ag.address),
        (4200000001, Ipv4Addr::new(192, 0, 2, 1))
    );
    // IPv6 from FRR: global + link-local next hop, the global one is used.
    let c = frr
        .iter()
        .find(|c| c.src.contains("(frr)") && c.comment.contains("nlri=2001:db8:f000::/48)"))
        .unwrap();
    let (family, r) = &route_updates(&c.update, true)[0];
    assert_eq!(*family, Family::Ipv6Unicast);
    assert_eq!(r.attrs.next_hop, Some(ip("2001:db8:1::1")));
    // BIRD over iBGP: IPv4 NLRI with an IPv6 next hop (RFC 8950), LOCAL_PREF kept on iBGP.
    let bird = load("frr-bird.hex");
    let c = bird
        .iter()
        .find(|c| c.comment.contains("nlri=198.51.100.0/26 PathId 2"))
        .unwrap();
    let (family, r) = &route_updates(&c.update, false)[0];
    assert_eq!(*family, Family::Ipv4Unicast);
    assert_eq!(r.attrs.next_hop, Some(ip("2001:db8:2::2")));
    assert_eq!(r.attrs.local_pref, Some(250));
    assert_eq!(r.path_id, 2);
    // The same UPDATE seen as from an external peer: LOCAL_PREF ignored (RFC 4271 §5.1.5).
    assert_eq!(route_updates(&c.update, true)[0].1.attrs.local_pref, None);
}

fn rib(asn: u32, router_id: Ipv4Addr, vtep: &str) -> Rib {
    Rib::new(RibConfig {
        asn,
        router_id,
        vtep: ip(vtep),
        multipath: MultipathConfig::default(),
        default_networks: vec![],
        cluster_id: None,
    })
}

fn fabric(local_asn: u32, remote_asn: u32, remote: &str, local: &str) -> PeerConfig {
    PeerConfig {
        role: PeerRole::Fabric,
        local_asn,
        remote_asn,
        remote_address: ip(remote),
        local_address: ip(local),
        remote_router_id: match ip(remote) {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => Ipv4Addr::new(192, 0, 2, 250),
        },
        families: vec![Family::Ipv4Unicast, Family::Ipv6Unicast, Family::L2vpnEvpn],
        route_reflector_client: false,
        allowas_in: 0,
    }
}

fn feed(rib: &mut Rib, peer: PeerId, u: &Update, ebgp: bool) {
    if let Some(f) = end_of_rib(u) {
        rib.handle_end_of_rib(peer, f).unwrap();
    }
    for (_, r) in route_updates(u, ebgp) {
        rib.handle_update(peer, r).unwrap();
    }
}

fn frr_type5(prefix: &str) -> EvpnRoute {
    EvpnRoute::IpPrefix(IpPrefixRoute::without_gateway(
        "192.0.2.1:1".parse().unwrap(),
        Default::default(),
        EthernetTag(0),
        net(prefix),
        Label::from_vni(1000),
    ))
}

/// FRR's table as GoBGP received it, fed into a RIB standing where GoBGP stood.
fn rib_with_frr_table() -> (Rib, PeerId, VrfId) {
    let mut r = rib(4200000002, Ipv4Addr::new(192, 0, 2, 2), "100.65.0.2");
    let red = VrfId(1);
    r.handle_vrf(VrfConfig {
        id: red,
        name: "red".into(),
        l3vni: 1000,
        router_mac: MacAddress([2, 0, 0, 0, 0, 2]),
        rd: None,
        rd_index: 1,
        import_rts: vec![],
        export_rts: vec![],
        networks: vec![],
    });
    // FRR's VTEP is reachable through a connected underlay prefix, and its link (where its
    // IPv6 next hop is) is connected too.
    r.handle_connected(net("198.51.100.0/24"), true);
    r.handle_connected(net("192.0.2.0/24"), true);
    r.handle_connected(net("2001:db8:1::/64"), true);
    let frr = r
        .handle_peer_up(fabric(4200000002, 4200000001, "192.0.2.1", "192.0.2.2"))
        .unwrap();
    for c in load("frr-gobgp.hex") {
        if c.comment.contains("frame 104") {
            break; // the withdrawals start here
        }
        if c.src.contains("(frr)") {
            feed(&mut r, frr, &c.update, true);
        }
    }
    (r, frr, red)
}

#[test]
fn frr_table_lands_in_the_default_evpn_and_vrf_tables() {
    let (mut r, frr, red) = rib_with_frr_table();
    for p in ["203.0.113.0/24", "203.0.113.128/26", "2001:db8:f000::/48"] {
        assert!(r.default_has(net(p)), "{p}");
    }
    for f in [Family::Ipv4Unicast, Family::Ipv6Unicast, Family::L2vpnEvpn] {
        assert!(r.end_of_rib_received(frr, f), "{f:?}");
    }
    let (a, ours) = r.evpn_best(&frr_type5("203.0.113.0/24")).unwrap();
    assert!(!ours);
    assert_eq!(a.next_hop, Some(ip("198.51.100.1")));
    assert_eq!(a.router_mac(), Some(MacAddress([2, 0xaa, 0, 0, 0x10, 0])));
    assert!(a.is_vxlan());
    assert_eq!(a.as_path, AsPath::sequence([4200000001]));
    // Imported into VRF red (RT 59905:1000 matches the auto *:1000) with symmetric IRB.
    assert_eq!(
        r.vrf_route(red, net("203.0.113.0/24")),
        vec![NextHop::Vxlan {
            vtep: ip("198.51.100.1"),
            vni: 1000,
            router_mac: MacAddress([2, 0xaa, 0, 0, 0x10, 0]),
        }]
    );
    // Now FRR's withdrawals: the ADD-PATH withdrawal (path id 4) removes 203.0.113.128/26.
    for c in load("frr-gobgp.hex")
        .into_iter()
        .skip_while(|c| !c.comment.contains("frame 104"))
    {
        if c.src.contains("(frr)") {
            feed(&mut r, frr, &c.update, true);
        }
    }
    assert!(!r.default_has(net("203.0.113.128/26")));
    assert!(!r.default_has(net("2001:db8:f000::/48")));
    assert!(r.default_has(net("203.0.113.0/24")), "not withdrawn by FRR");
    assert!(r.evpn_best(&frr_type5("203.0.113.128/26")).is_none());
}

/// Everything the RIB has for `to`, as UPDATEs with `ctx`, serialised and parsed back.
fn send(r: &mut Rib, to: PeerId, ctx: &WireContext) -> Vec<Update> {
    let mut out = Vec::new();
    while let Some(batch) = r.poll_adj_out(to, 10_000) {
        for u in adj_out_updates(&batch, ctx, None).unwrap() {
            let bytes = Message::Update(u).to_bytes(ctx).unwrap();
            assert!(bytes.len() <= ctx.max_message_len());
            let (m, used) = Message::parse(&bytes, ctx).unwrap();
            assert_eq!(used, bytes.len());
            let Message::Update(back) = m else {
                panic!("not an UPDATE")
            };
            assert!(
                back.attribute_errors.is_empty(),
                "{:?}",
                back.attribute_errors
            );
            out.push(back);
        }
    }
    out
}

#[test]
fn rib_to_update_bytes_to_rib_round_trip() {
    for ctx in [
        WireContext::four_octet(),
        // ADD-PATH towards the receiver and 2-octet ASNs (AS4_PATH, AS_TRANS).
        WireContext {
            four_octet_as: false,
            add_path: AddPathFamilies::of(&[AfiSafi::IPV4_UNICAST]),
            ..WireContext::default()
        },
    ] {
        let (mut a, _, _) = rib_with_frr_table();
        let b = a
            .handle_peer_up(fabric(4200000002, 4200000003, "192.0.2.9", "192.0.2.8"))
            .unwrap();
        let updates = send(&mut a, b, &ctx);
        assert!(updates.len() >= 4);
        let eors: Vec<AfiSafi> = updates.iter().filter_map(Update::is_end_of_rib).collect();
        assert_eq!(eors.len(), 3, "one End-of-RIB per family: {eors:?}");
        // A third router receives them as B.
        let mut c = rib(4200000003, Ipv4Addr::new(192, 0, 2, 9), "100.65.0.3");
        let from_a = c
            .handle_peer_up(fabric(4200000003, 4200000002, "192.0.2.8", "192.0.2.9"))
            .unwrap();
        for u in &updates {
            feed(&mut c, from_a, u, true);
        }
        for f in [Family::Ipv4Unicast, Family::Ipv6Unicast, Family::L2vpnEvpn] {
            assert!(c.end_of_rib_received(from_a, f), "{f:?}");
        }
        for p in [
            "203.0.113.0/24",
            "203.0.113.128/26",
            "2001:db8:f000::/48",
            "100.65.0.2/32",
        ] {
            assert!(c.default_has(net(p)), "{p} with {ctx:?}");
        }
        // EVPN: next hop unchanged (FRR's VTEP), AS path prepended, communities kept.
        let (sent, _) = a.evpn_best(&frr_type5("203.0.113.0/24")).unwrap();
        let (got, ours) = c.evpn_best(&frr_type5("203.0.113.0/24")).unwrap();
        assert!(!ours);
        assert_eq!(got.next_hop, Some(ip("198.51.100.1")));
        assert_eq!(got.as_path, AsPath::sequence([4200000002, 4200000001]));
        assert_eq!(got.communities, sent.communities);
        assert_eq!(got.ext_communities, sent.ext_communities);
        assert_eq!(got.large_communities(), sent.large_communities());
        assert_eq!(got.rare().aggregator, sent.rare().aggregator);
        assert_eq!(
            got.med, None,
            "MED not passed to another AS (RFC 4271 §5.1.4)"
        );
        // The IPv4 route: next hop self.
        let ipv4 = updates
            .iter()
            .find(|u| u.nlri.iter().any(|n| n.prefix == net("203.0.113.0/24")))
            .expect("IPv4 in the NLRI field");
        assert_eq!(
            ipv4.attributes.next_hop(),
            Some(Ipv4Addr::new(192, 0, 2, 8))
        );
        if !ctx.four_octet_as {
            assert!(ipv4
                .attributes
                .iter()
                .any(|a| matches!(a.value, AttributeValue::As4Path(_))));
        }
        assert_eq!(
            ipv4.attributes.as_path().unwrap().into_owned(),
            AsPath::sequence([4200000002, 4200000001])
        );
    }
}

#[test]
fn withdrawals_and_many_nlri_pack_into_few_updates() {
    let mut a = rib(64512, Ipv4Addr::new(10, 0, 0, 1), "100.65.0.1");
    let src = a
        .handle_peer_up(fabric(64512, 65001, "192.0.2.2", "192.0.2.1"))
        .unwrap();
    let dst = a
        .handle_peer_up(fabric(64512, 65002, "192.0.2.6", "192.0.2.5"))
        .unwrap();
    let ctx = WireContext::four_octet();
    send(&mut a, dst, &ctx);
    let prefixes: Vec<Nlri> = (0..3000u32)
        .map(|i| Nlri::V4(ipnet::Ipv4Net::new(Ipv4Addr::from((10 << 24) | (i << 8)), 24).unwrap()))
        .collect();
    a.handle_update(
        src,
        RouteUpdate {
            attrs: PathAttrs {
                as_path: AsPath::sequence([65001]),
                next_hop: Some(ip("192.0.2.2")),
                ..Default::default()
            },
            announced: prefixes.clone(),
            withdrawn: vec![],
            path_id: 0,
        },
    )
    .unwrap();
    let ups = send(&mut a, dst, &ctx);
    // 3000 /24s at 4 bytes each in 4096-byte UPDATEs: 3 messages.
    assert_eq!(ups.len(), 3, "{}", ups.len());
    assert_eq!(ups.iter().map(|u| u.nlri.len()).sum::<usize>(), 3000);
    a.handle_update(
        src,
        RouteUpdate {
            attrs: PathAttrs::default(),
            announced: vec![],
            withdrawn: prefixes,
            path_id: 0,
        },
    )
    .unwrap();
    let ups = send(&mut a, dst, &ctx);
    assert_eq!(ups.len(), 3);
    assert_eq!(ups.iter().map(|u| u.withdrawn.len()).sum::<usize>(), 3000);
}

/// Session handoff: FRR's real table, held as a peer's Adj-RIB-In, turned into UPDATEs
/// (`adj_rib_in_updates`), encoded, parsed and fed into a second RIB gives the same
/// Adj-RIB-In: every path, with its attributes and next hop.
#[test]
fn adj_rib_in_as_updates_rebuilds_the_same_adj_rib_in() {
    let (r, frr, _) = rib_with_frr_table();
    let before = r.adj_rib_in(frr);
    assert!(before.len() > 5, "the captured table: {}", before.len());
    // FRR sent its IPv4 paths with ADD-PATH: the identifiers travel too.
    let ctx = WireContext {
        add_path: AddPathFamilies::of(&[AfiSafi::IPV4_UNICAST]),
        ..WireContext::four_octet()
    };
    let updates = perouter_rib::wire::adj_rib_in_updates(&before, &ctx).unwrap();
    assert!(updates.len() < before.len(), "NLRI share UPDATEs");
    let mut r2 = rib(4200000002, Ipv4Addr::new(192, 0, 2, 2), "100.65.0.2");
    r2.handle_connected(net("198.51.100.0/24"), true);
    r2.handle_connected(net("192.0.2.0/24"), true);
    r2.handle_connected(net("2001:db8:1::/64"), true);
    let p2 = r2
        .handle_peer_up(fabric(4200000002, 4200000001, "192.0.2.1", "192.0.2.2"))
        .unwrap();
    for u in &updates {
        let bytes = Message::Update(u.clone()).to_bytes(&ctx).unwrap();
        let (m, _) = Message::parse(&bytes, &ctx).unwrap();
        let Message::Update(u) = m else {
            panic!("not an UPDATE")
        };
        feed(&mut r2, p2, &u, true);
    }
    let key = |x: &ExchangedRoute| format!("{:?} {} {:?}", x.nlri, x.path_id, *x.attrs);
    let mut a: Vec<String> = before.iter().map(key).collect();
    let mut b: Vec<String> = r2.adj_rib_in(p2).iter().map(key).collect();
    a.sort();
    b.sort();
    assert_eq!(a, b);
}
