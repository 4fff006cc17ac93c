//! Every message captured between FRR, GoBGP and BIRD (tests/data/*.hex)
//! parses with the context its session negotiated, re-emits byte for byte,
//! and decodes to the values the capture's comments and README state.

use std::collections::HashMap;

use bytes::Bytes;
use perouter_bgp::wire::attribute::type_code;
use perouter_bgp::wire::*;

/// One captured message with its comment line and direction.
struct Captured {
    comment: String,
    /// "src->dst" endpoints, e.g. ("192.0.2.2:53777(gobgp)", "192.0.2.1:179(frr)").
    src: String,
    dst: String,
    bytes: Bytes,
    message: Message,
}

fn unhex(s: &str) -> Vec<u8> {
    ::hex::decode(s.trim()).expect("valid hex in vector file")
}

/// Reads a .hex file and parses every message with the per-direction
/// context derived from the OPENs seen so far on its connection, as a
/// session would.
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
            .unwrap_or_else(|| panic!("no direction in {comment:?}"));
        let (src, dst) = dir.split_once("->").unwrap();
        let (src, dst) = (src.to_string(), dst.to_string());
        let ctx = match (
            opens.get(&(src.clone(), dst.clone())),
            opens.get(&(dst.clone(), src.clone())),
        ) {
            (Some(mine), Some(theirs)) => WireContext::negotiate(mine, theirs),
            _ => WireContext::default(),
        };
        let bytes = Bytes::from(unhex(line));
        let (message, used) = Message::parse(&bytes, &ctx)
            .unwrap_or_else(|e| panic!("{name}: {comment}\nparse error: {e}"));
        assert_eq!(used, bytes.len(), "{comment}");
        let again = message.to_bytes(&ctx).unwrap();
        assert_eq!(
            ::hex::encode(&again),
            ::hex::encode(&bytes),
            "{name}: re-emitted bytes differ for {comment}"
        );
        if let Message::Update(u) = &message {
            assert!(
                u.attribute_errors.is_empty() && !u.treat_as_withdraw,
                "{comment}: unexpected attribute errors {:?}",
                u.attribute_errors
            );
        }
        if let Message::Open(o) = &message {
            opens.insert((src.clone(), dst.clone()), o.clone());
        }
        // JSON works for every message.
        serde_json::to_string(&message).unwrap();
        out.push(Captured {
            comment: comment.clone(),
            src,
            dst,
            bytes,
            message,
        });
    }
    out
}

fn updates(v: &[Captured]) -> impl Iterator<Item = (&Captured, &Update)> {
    v.iter().filter_map(|c| match &c.message {
        Message::Update(u) => Some((c, u)),
        _ => None,
    })
}

#[test]
fn every_vector_round_trips() {
    let mut total = 0;
    for (file, expected) in [
        ("frr-gobgp.hex", 98),
        ("frr-bird.hex", 73),
        ("gobgp-bird.hex", 50),
    ] {
        let v = load(file);
        assert_eq!(v.len(), expected, "{file}");
        total += v.len();
    }
    assert_eq!(total, 221);
}

#[test]
fn frr_gobgp_opens_and_contexts() {
    let v = load("frr-gobgp.hex");
    let Message::Open(gobgp) = &v[0].message else {
        panic!()
    };
    let Message::Open(frr) = &v[1].message else {
        panic!()
    };
    assert_eq!(gobgp.my_as, AS_TRANS);
    assert_eq!(gobgp.asn(), 4200000002);
    assert_eq!(frr.my_as, 23456);
    assert_eq!(frr.asn(), 4200000001);
    assert!(gobgp.capabilities().any(|c| matches!(c, Capability::Fqdn { hostname, domain } if hostname == "vm" && domain.is_empty())));
    assert!(frr.capabilities().any(|c| matches!(c, Capability::Fqdn { hostname, domain } if hostname == "frr-fg" && domain == "vectors.example")));
    assert!(frr
        .capabilities()
        .any(|c| *c == Capability::RouteRefreshCisco));
    assert!(frr
        .capabilities()
        .any(|c| *c == Capability::EnhancedRouteRefresh));
    // ORF (3) and dynamic capability (66/67) stay raw.
    assert!(frr
        .capabilities()
        .any(|c| matches!(c, Capability::Unknown { code: 3, .. })));
    assert!(frr
        .capabilities()
        .any(|c| matches!(c, Capability::Unknown { code: 66, .. })));
    let gr = frr.graceful_restart().unwrap();
    assert!(gr.restart_state(), "README oddity 12: R bit set");
    assert_eq!(gr.families.len(), 3);
    assert!(gobgp.capabilities().any(|c| matches!(c, Capability::ExtendedNextHop(f) if f.contains(&(AfiSafi::IPV4_UNICAST, Afi::Ipv6)))));
    assert_eq!(
        frr.families(),
        vec![
            AfiSafi::IPV4_UNICAST,
            AfiSafi::IPV6_UNICAST,
            AfiSafi::L2VPN_EVPN
        ]
    );
    // GoBGP offers add-path for IPv4 only; FRR both for all three.
    let g2f = WireContext::negotiate(gobgp, frr);
    let f2g = WireContext::negotiate(frr, gobgp);
    assert!(g2f.four_octet_as && f2g.four_octet_as);
    assert!(g2f.add_path(AfiSafi::IPV4_UNICAST));
    assert!(!g2f.add_path(AfiSafi::L2VPN_EVPN));
    assert_eq!(g2f.ibgp, Some(false));
}

#[test]
fn frr_gobgp_updates_decode_to_the_captured_values() {
    let v = load("frr-gobgp.hex");
    // FRR's first IPv4 UPDATE: AS_PATH 4200000001, AGGREGATOR, communities.
    let (_, u) = updates(&v)
        .find(|(c, _)| {
            c.comment.contains("frame 16")
                && c.comment.contains("AGGREGATOR")
                && c.comment
                    .contains("NEXT_HOP: 192.0.2.1; MULTI_EXIT_DISC: 0")
        })
        .unwrap();
    assert_eq!(u.attributes.as_path().unwrap().to_string(), "4200000001");
    assert_eq!(u.attributes.next_hop(), Some("192.0.2.1".parse().unwrap()));
    let agg = u.attributes.aggregator().unwrap();
    assert_eq!(
        (agg.asn, agg.address.to_string().as_str()),
        (4200000001, "192.0.2.1")
    );
    let comms: Vec<String> = u
        .attributes
        .communities()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert!(
        comms.contains(&"64512:100".to_string()) && comms.contains(&"64512:200".to_string()),
        "{comms:?}"
    );
    let large: Vec<String> = u
        .attributes
        .large_communities()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(large, vec!["4200000001:1:1", "4200000001:2:2"]);
    assert!(u.attributes.route_targets().count() >= 2);
    assert!(!u.nlri.is_empty());
    assert!(
        u.nlri.iter().all(|n| n.path_id.is_some()),
        "FRR sends path ids to GoBGP for IPv4"
    );

    // GoBGP: AIGP 1000, BLACKHOLE, 4-byte AGGREGATOR, path id 1.
    let (_, u) = updates(&v)
        .find(|(c, _)| c.comment.contains("AIGP: 1000"))
        .unwrap();
    assert_eq!(u.attributes.aigp(), Some(1000));
    assert!(u.attributes.communities().contains(&Community::BLACKHOLE));
    assert_eq!(u.attributes.aggregator().unwrap().asn, 4200000002);
    assert_eq!(u.attributes.origin(), Some(Origin::Egp));
    let n: Vec<Nlri> = u.nlri.iter().collect();
    assert_eq!(
        n,
        vec![Nlri {
            path_id: Some(1),
            prefix: "198.51.100.192/27".parse().unwrap()
        }]
    );

    // GoBGP: AS_SET with a 4-byte AS; NEXT_HOP after EXTENDED_COMMUNITIES.
    let (c, u) = updates(&v)
        .find(|(c, _)| c.comment.contains("{65020, 4200000020}"))
        .unwrap();
    let p = u.attributes.as_path().unwrap();
    assert_eq!(p.to_string(), "4200000002 65010 {65020,4200000020}");
    assert_eq!(p.length(), 3);
    let order: Vec<u8> = u.attributes.iter().map(|a| a.type_code()).collect();
    assert_eq!(order.last(), Some(&type_code::NEXT_HOP), "{}", c.comment);

    // FRR: IPv6 with a 32-byte next hop.
    let (_, u) = updates(&v)
        .find(|(c, _)| {
            c.comment
                .contains("nh=2001:db8:1::1/fe80::a46d:cbff:fe26:c2f9 nlri=2001:db8:f000::/48")
        })
        .unwrap();
    let r = u.attributes.mp_reach().unwrap();
    assert_eq!(r.family, AfiSafi::IPV6_UNICAST);
    assert_eq!(
        r.next_hop.to_string(),
        "2001:db8:1::1/fe80::a46d:cbff:fe26:c2f9"
    );
    assert_eq!(
        r.nlri.iter().next().unwrap().prefix.to_string(),
        "2001:db8:f000::/48"
    );
    assert_eq!(
        u.attributes.iter().next().unwrap().type_code(),
        type_code::MP_REACH_NLRI
    );

    // GoBGP withdraws with a path id.
    let (_, u) = updates(&v)
        .find(|(c, _)| c.comment.contains("withdrawn=198.51.100.224/28 PathId 2"))
        .unwrap();
    assert_eq!(
        u.withdrawn.iter().collect::<Vec<_>>(),
        vec![Nlri {
            path_id: Some(2),
            prefix: "198.51.100.224/28".parse().unwrap()
        }]
    );
    assert_eq!(u.withdrawals().count(), 1);
}

#[test]
fn frr_gobgp_evpn_routes() {
    let v = load("frr-gobgp.hex");
    let mut types = [0usize; 6];
    let mut withdrawn = [0usize; 6];
    for (_, u) in updates(&v) {
        if let Some(r) = u
            .attributes
            .mp_reach()
            .filter(|r| r.family == AfiSafi::L2VPN_EVPN)
        {
            assert!(matches!(r.next_hop, NextHop::V4(_)));
            for e in r.nlri.evpn_routes() {
                types[usize::from(e.route.route_type()).min(5)] += 1;
            }
            assert_eq!(r.nlri.len(), r.nlri.evpn_routes().count());
        }
        if let Some(w) = u
            .attributes
            .mp_unreach()
            .filter(|w| w.family == AfiSafi::L2VPN_EVPN)
        {
            for e in w.nlri.evpn_routes() {
                withdrawn[usize::from(e.route.route_type()).min(5)] += 1;
            }
        }
    }
    // README "EVPN NLRI totals".
    assert_eq!(&types[1..], &[4, 15, 3, 3, 9]);
    assert_eq!(&withdrawn[1..], &[1, 4, 0, 1, 4]);

    // The type-3 route carries an ingress-replication PMSI with VNI 10 (FRR).
    let (_, u) = updates(&v)
        .find(|(c, _)| c.comment.contains("frame 16") && c.comment.contains("EVPN type 3"))
        .unwrap();
    let pmsi = u.attributes.pmsi_tunnel().expect("PMSI on FRR's type-3");
    assert_eq!(pmsi.label.0, [0, 0, 10]);
    // FRR's type-5 carries the VXLAN encapsulation and router MAC communities.
    let (_, u) = updates(&v)
        .find(|(c, _)| c.comment.contains("frame 16") && c.comment.contains("plen=25"))
        .unwrap();
    let evpn: Vec<_> = u
        .attributes
        .ext_communities()
        .iter()
        .filter_map(|c| c.evpn())
        .collect();
    assert!(evpn.iter().any(|e| e.is_vxlan_encapsulation()));
    assert!(evpn.len() >= 2, "{evpn:?}");
}

#[test]
fn frr_gobgp_notification_and_route_refresh() {
    let v = load("frr-gobgp.hex");
    let n = v
        .iter()
        .find_map(|c| match &c.message {
            Message::Notification(n) => Some(n),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        n.error(),
        ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown)
    );
    assert_eq!(n.shutdown_communication(), Some("maintenance window 42"));
    assert_eq!(
        n.to_string(),
        "Cease/Administrative Shutdown: \"maintenance window 42\""
    );
    let rr: Vec<AfiSafi> = v
        .iter()
        .filter_map(|c| match &c.message {
            Message::RouteRefresh(r) => Some(r.family),
            _ => None,
        })
        .collect();
    assert_eq!(
        rr,
        vec![
            AfiSafi::IPV4_UNICAST,
            AfiSafi::IPV6_UNICAST,
            AfiSafi::L2VPN_EVPN
        ]
    );
    let eors: Vec<AfiSafi> = updates(&v).filter_map(|(_, u)| u.is_end_of_rib()).collect();
    assert_eq!(eors.len(), 9, "{eors:?}"); // 9 "End-of-RIB" comments in the file
    assert!(eors.contains(&AfiSafi::L2VPN_EVPN));
}

#[test]
fn frr_bird_ibgp_over_ipv6() {
    let v = load("frr-bird.hex");
    let Message::Open(bird) = &v[0].message else {
        panic!()
    };
    assert!(bird
        .capabilities()
        .any(|c| matches!(c, Capability::Fqdn { hostname, .. } if hostname == "bird-fb")));
    // RFC 8950 IPv4 over a 32-byte (FRR) and 16-byte (BIRD) IPv6 next hop,
    // with path ids and LOCAL_PREF.
    let (_, u) = updates(&v)
        .find(|(c, _)| {
            c.src.contains("(frr)") && c.comment.contains("nlri=203.0.113.0/26 PathId 2")
        })
        .unwrap();
    let r = u.attributes.mp_reach().unwrap();
    assert_eq!(r.family, AfiSafi::IPV4_UNICAST);
    assert!(matches!(
        r.next_hop,
        NextHop::V6 {
            link_local: Some(_),
            ..
        }
    ));
    assert_eq!(r.nlri.iter().next().unwrap().path_id, Some(2));
    assert_eq!(u.attributes.local_pref(), Some(300));
    assert!(u.attributes.communities().contains(&Community::NO_EXPORT));
    let (_, u) = updates(&v)
        .find(|(c, _)| c.src.contains("(bird)") && c.comment.contains("LOCAL_PREF: 250"))
        .unwrap();
    let r = u.attributes.mp_reach().unwrap();
    assert_eq!(r.next_hop.to_string(), "2001:db8:2::2");
    assert!(u.attributes.communities().contains(&Community::NOPEER));
    // BIRD withdraws 2 prefixes with path ids in one MP_UNREACH.
    let (_, u) = updates(&v)
        .find(|(c, _)| {
            c.comment
                .contains("198.51.100.0/26 PathId 2,198.51.100.64/26 PathId 2")
        })
        .unwrap();
    assert_eq!(u.attributes.mp_unreach().unwrap().nlri.iter().count(), 2);
    // BoRR / EoRR and two shutdown communications.
    let subtypes: Vec<RouteRefreshSubtype> = v
        .iter()
        .filter_map(|c| match &c.message {
            Message::RouteRefresh(r) => Some(r.subtype),
            _ => None,
        })
        .collect();
    assert!(subtypes.contains(&RouteRefreshSubtype::BeginningOfRouteRefresh));
    assert!(subtypes.contains(&RouteRefreshSubtype::EndOfRouteRefresh));
    let comms: Vec<&str> = v
        .iter()
        .filter_map(|c| match &c.message {
            Message::Notification(n) => n.shutdown_communication(),
            _ => None,
        })
        .collect();
    assert_eq!(comms, vec!["bird maintenance", "frr maintenance"]);
}

#[test]
fn gobgp_bird_role_otc_and_bad_peer_as() {
    let v = load("gobgp-bird.hex");
    let roles: Vec<BgpRole> = v
        .iter()
        .filter_map(|c| match &c.message {
            Message::Open(o) => o.capabilities().find_map(|c| match c {
                Capability::Role(r) => Some(*r),
                _ => None,
            }),
            _ => None,
        })
        .collect();
    assert_eq!(roles, vec![BgpRole::Provider]);
    // BIRD's wrong-AS OPEN: 65099 in both places, GR without families.
    let Message::Open(wrong) = &v[1].message else {
        panic!()
    };
    assert_eq!((wrong.my_as, wrong.asn()), (65099, 65099));
    assert!(wrong.graceful_restart().unwrap().families.is_empty());
    let Message::Notification(n) = &v[2].message else {
        panic!()
    };
    assert_eq!(n.error(), ErrorCode::Open(OpenSubcode::BadPeerAs));
    // OTC from BIRD (local role provider), AS 4200000004.
    let otc: Vec<u32> = updates(&v)
        .filter_map(|(_, u)| u.attributes.otc())
        .collect();
    assert_eq!(otc.len(), 5);
    assert!(otc.iter().all(|&a| a == 4200000004));
    let (_, u) = updates(&v)
        .find(|(c, _)| c.comment.contains("AS_PATH: 4200000004 4200000040 65040"))
        .unwrap();
    assert_eq!(
        u.attributes.as_path().unwrap().to_string(),
        "4200000004 4200000040 65040"
    );
    // BIRD withdraws 3 prefixes with path ids in the classic field.
    let (_, u) = updates(&v)
        .find(|(c, _)| c.comment.contains("withdrawn=198.51.100.0/27"))
        .unwrap();
    assert_eq!(
        u.withdrawn.iter().filter(|n| n.path_id == Some(2)).count(),
        3
    );
    let n = v
        .iter()
        .rev()
        .find_map(|c| match &c.message {
            Message::Notification(n) => n.shutdown_communication(),
            _ => None,
        })
        .unwrap();
    assert_eq!(n, "gobgp maintenance");
}

#[test]
fn framing_splits_a_concatenated_stream() {
    // All messages of one file back to back, as on the wire.
    let v = load("frr-gobgp.hex");
    let mut stream: Vec<u8> = Vec::new();
    for c in &v {
        stream.extend_from_slice(&c.bytes);
    }
    let mut pos = 0;
    let mut n = 0;
    while pos < stream.len() {
        let len = frame_length(&stream[pos..], MAX_MESSAGE_LEN)
            .unwrap()
            .unwrap();
        assert_eq!(len, v[n].bytes.len(), "{}", v[n].comment);
        pos += len;
        n += 1;
    }
    assert_eq!(n, v.len());
    let _ = (&v[0].src, &v[0].dst);
}

#[test]
fn json_uses_rfc_field_names() {
    let v = load("frr-gobgp.hex");
    let (c, _) = updates(&v)
        .find(|(c, _)| c.comment.contains("AIGP: 1000"))
        .unwrap();
    let j: serde_json::Value = serde_json::to_value(&c.message).unwrap();
    assert_eq!(j["type"], "UPDATE");
    assert!(j["withdrawn_routes"].as_array().unwrap().is_empty());
    let attrs = j["path_attributes"].as_array().unwrap();
    assert_eq!(attrs[0]["type_code"], 1);
    assert_eq!(attrs[0]["name"], "ORIGIN");
    assert_eq!(attrs[0]["value"], "EGP");
    assert!(attrs.iter().any(|a| a["name"] == "AIGP"));
    assert!(attrs
        .iter()
        .any(|a| a["name"] == "LARGE_COMMUNITY" && a["value"][0] == "4200000002:3:4"));
    assert_eq!(j["nlri"][0]["prefix"], "198.51.100.192/27");
    assert_eq!(j["nlri"][0]["path_id"], 1);
    // EVPN routes carry their FRR text form.
    let (c, _) = updates(&v)
        .find(|(c, _)| c.comment.contains("frame 16") && c.comment.contains("plen=25"))
        .unwrap();
    let j = serde_json::to_value(&c.message).unwrap();
    let reach = &j["path_attributes"][0];
    assert_eq!(reach["name"], "MP_REACH_NLRI");
    assert_eq!(reach["value"]["family"], "l2vpn-evpn");
    assert!(reach["value"]["nlri"][0]["text"]
        .as_str()
        .unwrap()
        .starts_with("[5]:"));
    let n = v
        .iter()
        .find(|c| matches!(c.message, Message::Notification(_)))
        .unwrap();
    let j = serde_json::to_value(&n.message).unwrap();
    assert_eq!(j["type"], "NOTIFICATION");
    assert_eq!(j["shutdown_communication"], "maintenance window 42");
}

#[test]
fn evpn_routes_from_the_vectors_repack_with_and_without_path_ids() {
    let v = load("frr-gobgp.hex");
    let routes: Vec<EvpnNlri> = updates(&v)
        .filter_map(|(_, u)| u.attributes.mp_reach())
        .filter(|r| r.family == AfiSafi::L2VPN_EVPN)
        .flat_map(|r| r.nlri.evpn_routes().collect::<Vec<_>>())
        .enumerate()
        .map(|(i, r)| EvpnNlri {
            path_id: Some(i as u32 + 1),
            ..r
        })
        .collect();
    assert_eq!(routes.len(), 34);
    let attrs = PathAttributes::new()
        .with(AttributeValue::Origin(Origin::Igp))
        .with(AttributeValue::AsPath(AsPath::sequence([4200000001])));
    let nh = NextHop::V4("198.51.100.1".parse().unwrap());
    for add_path in [false, true] {
        let ctx = WireContext {
            add_path: if add_path {
                AddPathFamilies::of(&[AfiSafi::L2VPN_EVPN])
            } else {
                AddPathFamilies::none()
            },
            ..WireContext::four_octet()
        };
        let ups =
            Update::pack_reach(&attrs, Some(nh.clone()), NlriList::Evpn(&routes), &ctx).unwrap();
        let mut back = Vec::new();
        for u in ups {
            let b = Message::Update(u).to_bytes(&ctx).unwrap();
            let (Message::Update(u), _) = Message::parse(&b, &ctx).unwrap() else {
                panic!()
            };
            back.extend(u.attributes.mp_reach().unwrap().nlri.evpn_routes());
        }
        let got: Vec<_> = back.iter().map(|r| (r.path_id, &r.route)).collect();
        let want: Vec<_> = routes
            .iter()
            .map(|r| (r.path_id.filter(|_| add_path), &r.route))
            .collect();
        assert_eq!(got, want);
        let w = Update::pack_withdraw(NlriList::Evpn(&routes), &ctx).unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(
            w[0].attributes.mp_unreach().unwrap().nlri.len(),
            routes.len()
        );
    }
}
