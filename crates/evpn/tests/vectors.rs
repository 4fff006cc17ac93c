//! The codec against real EVPN NLRIs captured between FRR 8.4 and GoBGP 3.x
//! (crates/bgp/tests/data/frr-gobgp.hex; the NLRI fields were copied into
//! tests/data/ so nothing outside the crate is read).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr};

use perouter_evpn::{
    Esi, EsiKind, EthernetTag, EvpnNlriIter, EvpnRoute, Label, MacAddress, RouteDistinguisher,
};

include!("data/frr_gobgp_nlri_fields.rs");

fn routes_of(hex_field: &str) -> Vec<EvpnRoute> {
    let bytes = hex::decode(hex_field).unwrap();
    EvpnNlriIter::new(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{hex_field}: {e}"))
}

fn one(frame: u32, kind: &str) -> EvpnRoute {
    let (_, _, _, h) = ALL_NLRI_FIELDS
        .iter()
        .find(|(k, _, f, _)| *f == frame && *k == kind)
        .unwrap();
    let mut r = routes_of(h);
    assert_eq!(r.len(), 1, "frame {frame}");
    r.pop().unwrap()
}

fn rd(s: &str) -> RouteDistinguisher {
    s.parse().unwrap()
}

#[test]
fn every_captured_nlri_parses_and_re_emits_byte_for_byte() {
    let mut counts: BTreeMap<(&str, u8), usize> = BTreeMap::new();
    for (kind, _, frame, h) in ALL_NLRI_FIELDS {
        let bytes = hex::decode(h).unwrap();
        let mut out = Vec::new();
        for route in EvpnNlriIter::new(&bytes) {
            let route = route.unwrap_or_else(|e| panic!("frame {frame}: {e}"));
            let before = out.len();
            route.emit(&mut out);
            assert_eq!(out.len() - before, route.encoded_len(), "frame {frame}");
            *counts.entry((kind, route.route_type())).or_default() += 1;
            // The JSON form reads back to the same route.
            let json = serde_json::to_string(&route).unwrap();
            let back: EvpnRoute = serde_json::from_str(&json).unwrap();
            assert_eq!(back, route, "{json}");
        }
        assert_eq!(out, bytes, "frame {frame} re-emission differs");
    }
    // The NLRI counts of frr-gobgp.stats.json (vectors README).
    let want: BTreeMap<(&str, u8), usize> = [
        (("reach", 1), 4),
        (("reach", 2), 15),
        (("reach", 3), 3),
        (("reach", 4), 3),
        (("reach", 5), 9),
        (("unreach", 1), 1),
        (("unreach", 2), 4),
        (("unreach", 4), 1),
        (("unreach", 5), 4),
    ]
    .into_iter()
    .collect();
    assert_eq!(counts, want);
}

#[test]
fn frr_mac_ip_route_with_type3_esi_and_two_vnis() {
    // Frame 16: [2]:[0]:[48]:[02:00:00:00:10:02]:[32]:[198.51.100.70], L2VNI 10, L3VNI 1000.
    let h = ALL_NLRI_FIELDS
        .iter()
        .find(|(k, s, f, h)| *k == "reach" && *s == "frr" && *f == 16 && h.contains("c6336446"))
        .unwrap()
        .3;
    let routes = routes_of(h);
    assert_eq!(routes.len(), 2);
    let EvpnRoute::MacIp(r) = &routes[0] else {
        panic!("not type-2: {:?}", routes[0])
    };
    assert_eq!(r.rd, rd("192.0.2.1:2"));
    assert_eq!(
        r.esi,
        "03:44:38:39:ff:ff:01:00:00:01".parse::<Esi>().unwrap()
    );
    assert_eq!(
        r.esi.kind(),
        EsiKind::Mac {
            system_mac: "44:38:39:ff:ff:01".parse().unwrap(),
            discriminator: 1
        }
    );
    assert_eq!(r.ethernet_tag, EthernetTag(0));
    assert_eq!(r.mac, "02:00:00:00:10:02".parse::<MacAddress>().unwrap());
    assert_eq!(r.ip, Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 70))));
    assert_eq!(r.label1.vni(), 10);
    assert_eq!(r.label2.map(|l| l.vni()), Some(1000));
    let EvpnRoute::MacIp(r6) = &routes[1] else {
        panic!()
    };
    assert_eq!(r6.ip, Some("2001:db8:10::70".parse().unwrap()));
    assert_eq!(
        routes[1].to_string(),
        "[2]:[0]:[48]:[02:00:00:00:10:02]:[128]:[2001:db8:10::70]"
    );
}

#[test]
fn frr_mac_only_routes_have_one_label() {
    let h = ALL_NLRI_FIELDS
        .iter()
        .find(|(k, s, f, h)| *k == "reach" && *s == "frr" && *f == 16 && h.starts_with("0221"))
        .unwrap()
        .3;
    let routes = routes_of(h);
    assert_eq!(routes.len(), 2);
    for (route, mac) in routes
        .iter()
        .zip(["02:00:00:00:10:01", "02:00:00:00:10:02"])
    {
        let EvpnRoute::MacIp(r) = route else { panic!() };
        assert_eq!(r.mac.to_string(), mac);
        assert_eq!(r.ip, None);
        assert_eq!(r.label1, Label([0, 0, 0x0a]));
        assert_eq!(r.label2, None);
    }
}

#[test]
fn gobgp_mac_ip_route_labels_are_raw() {
    // Frame 43: GoBGP `label 100,5000`, type-0 ESI, two labels (vectors oddity 1).
    let EvpnRoute::MacIp(r) = one(43, "reach") else {
        panic!()
    };
    assert_eq!(r.rd, rd("192.0.2.2:100"));
    assert_eq!(
        r.esi,
        Esi([0, 0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88])
    );
    assert_eq!(r.esi.esi_type(), 0);
    assert_eq!(r.mac.to_string(), "02:00:00:00:20:02");
    assert_eq!(r.ip, Some(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 130))));
    assert_eq!(r.label1.0, [0x00, 0x00, 0x64]);
    assert_eq!(r.label1.vni(), 100);
    assert_eq!(r.label2, Some(Label([0x00, 0x13, 0x88])));
    assert_eq!(r.label2.unwrap().vni(), 5000);
    // tshark's MPLS reading of the same octets (oddity 1): 6 and 312.
    assert_eq!(r.label1.mpls_label(), 6);
    assert_eq!(r.label2.unwrap().mpls_label(), 312);
}

#[test]
fn gobgp_ethernet_ad_routes() {
    // Frame 31: A-D per ES, Ethernet tag MAX-ET, label 0.
    let EvpnRoute::EthernetAd(r) = one(31, "reach") else {
        panic!()
    };
    assert_eq!(r.rd, rd("192.0.2.2:1"));
    assert_eq!(r.ethernet_tag, EthernetTag::MAX);
    assert_eq!(r.label, Label([0, 0, 0]));
    assert_eq!(r.esi.to_string(), "00:00:11:22:33:44:55:66:77:88");
    // Frame 33: A-D per EVI, tag 0, label 100.
    let EvpnRoute::EthernetAd(r) = one(33, "reach") else {
        panic!()
    };
    assert_eq!(r.rd, rd("192.0.2.2:100"));
    assert_eq!(r.ethernet_tag, EthernetTag(0));
    assert_eq!(r.label.vni(), 100);
}

#[test]
fn inclusive_multicast_and_ethernet_segment_routes() {
    let EvpnRoute::InclusiveMulticast(r) = one(49, "reach") else {
        panic!()
    };
    assert_eq!(r.rd, rd("192.0.2.2:100"));
    assert_eq!(r.originator, IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)));
    // Frame 35: GoBGP type-4 with the LACP (type-1) ESI `aa:bb:cc:dd:ee:ff 258`.
    let EvpnRoute::EthernetSegment(r) = one(35, "reach") else {
        panic!()
    };
    assert_eq!(r.rd, rd("192.0.2.2:1"));
    assert_eq!(
        r.esi.kind(),
        EsiKind::Lacp {
            system_mac: "aa:bb:cc:dd:ee:ff".parse().unwrap(),
            port_key: 258
        }
    );
    assert_eq!(r.originator, IpAddr::V4(Ipv4Addr::new(198, 51, 100, 2)));
}

#[test]
fn ip_prefix_routes() {
    let EvpnRoute::IpPrefix(r) = one(55, "reach") else {
        panic!()
    };
    assert_eq!(r.rd, rd("192.0.2.2:5000"));
    assert_eq!(r.prefix(), "198.51.100.128/26".parse().unwrap());
    assert_eq!(r.gateway(), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    assert_eq!(r.label.vni(), 5000);
    assert!(r.esi.is_zero());
    let EvpnRoute::IpPrefix(r) = one(29, "reach") else {
        panic!()
    };
    assert_eq!(r.rd, rd("192.0.2.1:1"));
    assert_eq!(r.prefix(), "2001:db8:b100::/48".parse().unwrap());
    assert_eq!(r.gateway(), "::".parse::<IpAddr>().unwrap());
    assert_eq!(r.label.vni(), 1000);
}

#[test]
fn withdrawals_share_the_key_of_the_route_they_withdraw() {
    // FRR withdraws its MAC+IP route (frame 118) with ESI 0 and label 0; the
    // advertisement (frame 16) had a type-3 ESI and labels 10/1000. Same key.
    let withdrawn = one(118, "unreach");
    let EvpnRoute::MacIp(w) = &withdrawn else {
        panic!()
    };
    assert!(w.esi.is_zero());
    assert_eq!(w.label1, Label([0, 0, 0]));
    let advertised = ALL_NLRI_FIELDS
        .iter()
        .filter(|(k, s, f, _)| *k == "reach" && *s == "frr" && *f == 16)
        .flat_map(|(_, _, _, h)| routes_of(h))
        .find(|r| r.key() == withdrawn.key())
        .expect("advertisement with the withdrawn key");
    assert_ne!(advertised, withdrawn);
    // Type-5: the withdrawal of 203.0.113.128/26 (label 0) keys like its advertisement.
    let withdrawn = one(124, "unreach");
    let advertised = ALL_NLRI_FIELDS
        .iter()
        .filter(|(k, _, f, _)| *k == "reach" && *f == 16)
        .flat_map(|(_, _, _, h)| routes_of(h))
        .find(|r| r.to_string() == "[5]:[0]:[26]:[203.0.113.128]")
        .unwrap();
    assert_ne!(advertised, withdrawn);
    assert_eq!(advertised.key(), withdrawn.key());
}

/// FRR 8.4's own `show bgp l2vpn evpn` dump of the same run
/// (`tests/data/state-frr-evpn-rib.txt`, copied from the capture's configs): the
/// (RD, route) pairs it lists. The dump's own "Displayed N out of N" total is checked, so a
/// parse that missed a line fails here rather than in the comparison.
fn frr_rib() -> BTreeSet<(String, String)> {
    let text = include_str!("data/state-frr-evpn-rib.txt");
    let mut rd = None;
    let mut out = BTreeSet::new();
    let mut listed = 0;
    let mut displayed = None;
    for line in text.lines() {
        if let Some(r) = line.strip_prefix("Route Distinguisher: ") {
            rd = Some(r.trim().to_string());
        } else if line.len() > 3 && line.is_char_boundary(3) && line[3..].starts_with('[') {
            let rd = rd
                .clone()
                .expect("a route before any Route Distinguisher line");
            let route = line[3..].split_whitespace().next().unwrap().to_string();
            out.insert((rd, route));
            listed += 1;
        } else if let Some(rest) = line.strip_prefix("Displayed ") {
            displayed = rest
                .split_whitespace()
                .next()
                .map(|n| n.parse::<usize>().unwrap());
        }
    }
    assert_eq!(Some(listed), displayed, "routes parsed vs FRR's own total");
    assert_eq!(out.len(), listed, "a route listed twice");
    out
}

#[test]
fn display_matches_frr_rib_text() {
    let ours: BTreeSet<(String, String)> = ALL_NLRI_FIELDS
        .iter()
        .filter(|(k, _, _, _)| *k == "reach")
        .flat_map(|(_, _, _, h)| routes_of(h))
        .map(|r| (r.rd().to_string(), r.to_string()))
        .collect();
    assert_eq!(ours, frr_rib());
}

#[test]
fn json_names_the_route_and_carries_frr_text() {
    let route = one(55, "reach");
    let v = serde_json::to_value(&route).unwrap();
    assert_eq!(
        v,
        serde_json::json!({
            "route_type": 5,
            "name": "ip_prefix",
            "frr": "[5]:[0]:[26]:[198.51.100.128]",
            "rd": "192.0.2.2:5000",
            "esi": "00:00:00:00:00:00:00:00:00:00",
            "ethernet_tag": 0,
            "prefix": "198.51.100.128/26",
            "gateway": "0.0.0.0",
            "label": {"raw": "001388", "vni": 5000, "mpls_label": 312, "bottom_of_stack": false}
        })
    );
    let v = serde_json::to_value(one(43, "reach")).unwrap();
    assert_eq!(v["route_type"], 2);
    assert_eq!(v["name"], "mac_ip");
    assert_eq!(v["mac"], "02:00:00:00:20:02");
    assert_eq!(v["ip"], "198.51.100.130");
    assert_eq!(v["label2"]["vni"], 5000);
}
