//! Property tests: emit -> parse is the identity on valid routes; parse of
//! arbitrary bytes never panics, and whatever parses re-emits byte for byte.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::Bytes;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use perouter_evpn::{
    Esi, EthernetAdRoute, EthernetSegmentRoute, EthernetTag, EvpnExtCommunity, EvpnNlriIter,
    EvpnRoute, InclusiveMulticastRoute, IpPrefixRoute, Label, MacAddress, MacIpRoute, PmsiTunnel,
    RouteDistinguisher, RouteTarget, UnknownRoute,
};
use proptest::prelude::*;

fn rd() -> impl Strategy<Value = RouteDistinguisher> {
    prop_oneof![
        (any::<u16>(), any::<u32>())
            .prop_map(|(asn, number)| RouteDistinguisher::As2 { asn, number }),
        (any::<u32>(), any::<u16>()).prop_map(|(a, number)| RouteDistinguisher::Ipv4 {
            addr: Ipv4Addr::from(a),
            number
        }),
        (any::<u32>(), any::<u16>())
            .prop_map(|(asn, number)| RouteDistinguisher::As4 { asn, number }),
        (3u16.., any::<[u8; 6]>())
            .prop_map(|(rd_type, value)| RouteDistinguisher::Other { rd_type, value }),
    ]
}

fn esi() -> impl Strategy<Value = Esi> {
    prop_oneof![
        Just(Esi::ZERO),
        Just(Esi::MAX),
        any::<[u8; 10]>().prop_map(Esi)
    ]
}

fn label() -> impl Strategy<Value = Label> {
    any::<[u8; 3]>().prop_map(Label)
}

fn tag() -> impl Strategy<Value = EthernetTag> {
    prop_oneof![
        Just(EthernetTag(0)),
        Just(EthernetTag::MAX),
        any::<u32>().prop_map(EthernetTag)
    ]
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|a| IpAddr::V4(Ipv4Addr::from(a))),
        any::<u128>().prop_map(|a| IpAddr::V6(Ipv6Addr::from(a))),
    ]
}

fn ip_prefix() -> impl Strategy<Value = IpPrefixRoute> {
    let v4 = (any::<u32>(), 0u8..=32, any::<u32>()).prop_map(|(a, l, g)| {
        (
            IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), l).unwrap()),
            IpAddr::V4(Ipv4Addr::from(g)),
        )
    });
    let v6 = (any::<u128>(), 0u8..=128, any::<u128>()).prop_map(|(a, l, g)| {
        (
            IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), l).unwrap()),
            IpAddr::V6(Ipv6Addr::from(g)),
        )
    });
    (rd(), esi(), tag(), prop_oneof![v4, v6], label())
        .prop_map(|(rd, esi, t, (p, g), l)| IpPrefixRoute::new(rd, esi, t, p, g, l).unwrap())
}

fn route() -> impl Strategy<Value = EvpnRoute> {
    prop_oneof![
        (rd(), esi(), tag(), label()).prop_map(|(rd, esi, ethernet_tag, label)| {
            EvpnRoute::EthernetAd(EthernetAdRoute {
                rd,
                esi,
                ethernet_tag,
                label,
            })
        }),
        (
            rd(),
            esi(),
            tag(),
            any::<[u8; 6]>(),
            proptest::option::of(ip()),
            label(),
            proptest::option::of(label())
        )
            .prop_map(|(rd, esi, ethernet_tag, mac, ip, label1, label2)| {
                EvpnRoute::MacIp(MacIpRoute {
                    rd,
                    esi,
                    ethernet_tag,
                    mac: MacAddress(mac),
                    ip,
                    label1,
                    label2,
                })
            }),
        (rd(), tag(), ip()).prop_map(|(rd, ethernet_tag, originator)| {
            EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
                rd,
                ethernet_tag,
                originator,
            })
        }),
        (rd(), esi(), ip()).prop_map(|(rd, esi, originator)| {
            EvpnRoute::EthernetSegment(EthernetSegmentRoute {
                rd,
                esi,
                originator,
            })
        }),
        ip_prefix().prop_map(EvpnRoute::IpPrefix),
        (
            prop_oneof![Just(0u8), 6u8..],
            proptest::collection::vec(any::<u8>(), 0..=255)
        )
            .prop_map(|(t, v)| EvpnRoute::Unknown(UnknownRoute::new(t, Bytes::from(v)).unwrap())),
    ]
}

/// Real NLRIs from the frr-gobgp capture, used as mutation seeds.
const SEEDS: &[&str] = &[
    "05220001c00002010001000000000000000000000000000018cb007100000000000003e8",
    "02280001c0000201000203443839ffff01000001000000003002000000100220c633644600000a0003e8",
    "03110001c000020100020000000020c6336401",
    "04170001c0000201000303443839ffff0100000120c6336401",
    "01190001c0000202000100001122334455667788ffffffff000000",
    "02310001c000020200640000000000000000000000000000300200000020038020010db8002000000000000000000003000064",
    "053a0001c0000202138800000000000000000000000000003020010db8b0000000000000000000000000000000000000000000000000000000001388",
];

fn check_reemission(buf: &[u8]) {
    if let Ok((route, used)) = EvpnRoute::parse(buf) {
        assert!(used <= buf.len());
        assert_eq!(used, route.encoded_len());
        let mut out = Vec::new();
        route.emit(&mut out);
        assert_eq!(&out[..], &buf[..used]);
        let (again, _) = EvpnRoute::parse(&out).unwrap();
        assert_eq!(again, route);
    }
    // The iterator re-emits exactly the prefix it parsed, then stops.
    let mut out = Vec::new();
    let mut it = EvpnNlriIter::new(buf);
    for r in it.by_ref() {
        match r {
            Ok(route) => route.emit(&mut out),
            Err(e) => assert!(e.offset < buf.len().max(1)),
        }
    }
    assert_eq!(&out[..], &buf[..out.len()]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn emit_then_parse_is_identity(route in route()) {
        let mut out = Vec::new();
        route.emit(&mut out);
        prop_assert_eq!(out.len(), route.encoded_len());
        let (back, used) = EvpnRoute::parse(&out).unwrap();
        prop_assert_eq!(used, out.len());
        prop_assert_eq!(&back, &route);
        prop_assert_eq!(back.key(), route.key());
    }

    #[test]
    fn json_round_trips(route in route()) {
        let json = serde_json::to_string(&route).unwrap();
        let back: EvpnRoute = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, route);
    }

    #[test]
    fn parse_of_arbitrary_bytes_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..300)) {
        check_reemission(&buf);
    }

    #[test]
    fn parse_of_plausible_headers_never_panics(
        t in 0u8..8,
        len in 0u8..70,
        body in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let mut buf = vec![t, len];
        buf.extend_from_slice(&body);
        check_reemission(&buf);
    }

    #[test]
    fn mutated_real_nlris_never_panic(
        seed in 0..SEEDS.len(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        cut in any::<usize>(),
    ) {
        let mut buf = hex::decode(SEEDS[seed]).unwrap();
        for (at, v) in flips {
            let i = at % buf.len();
            buf[i] = v;
        }
        check_reemission(&buf);
        buf.truncate(cut % (buf.len() + 1));
        check_reemission(&buf);
    }

    #[test]
    fn ext_communities_round_trip_exactly(b in any::<[u8; 8]>(), t in prop_oneof![Just(3u8), Just(6u8)], s in 0u8..16) {
        for bytes in [b, { let mut x = b; x[0] = t; x[1] = s; x }] {
            if let Some(c) = EvpnExtCommunity::from_bytes(&bytes) {
                prop_assert_eq!(c.to_bytes(), bytes);
            }
            if let Some(rt) = RouteTarget::from_ext_community(&bytes) {
                prop_assert_eq!(rt.to_ext_community(), bytes);
                prop_assert_eq!(rt.to_string().parse::<RouteTarget>().unwrap(), rt);
            }
        }
    }

    #[test]
    fn rds_round_trip_bytes_and_text(b in any::<[u8; 8]>()) {
        let rd = RouteDistinguisher::from_bytes(b);
        prop_assert_eq!(rd.to_bytes(), b);
        prop_assert_eq!(rd.to_string().parse::<RouteDistinguisher>().unwrap(), rd);
    }

    #[test]
    fn pmsi_parse_never_panics_and_re_emits(buf in proptest::collection::vec(any::<u8>(), 0..40), ir in any::<bool>()) {
        let mut buf = buf;
        if ir && buf.len() > 1 { buf[1] = 6; }
        if let Ok(p) = PmsiTunnel::parse(&buf) {
            let mut out = Vec::new();
            p.emit(&mut out);
            prop_assert_eq!(out.len(), p.encoded_len());
            prop_assert_eq!(out, buf);
        }
    }
}
