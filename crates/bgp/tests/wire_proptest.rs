//! Property tests: emit → parse is the identity on generated messages (IPv4/IPv6 unicast and
//! EVPN, MP_REACH and MP_UNREACH, every capability including EVPN's multiprotocol one), whatever
//! parses can be emitted again, and parsing arbitrary bytes never panics.

use std::net::{Ipv4Addr, Ipv6Addr};

use arbitrary::{Arbitrary, Unstructured};
use bytes::{Bytes, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use perouter_bgp::wire::*;
use perouter_evpn::EvpnRoute;
use proptest::prelude::*;

fn ctx_strategy() -> impl Strategy<Value = WireContext> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(any::<bool>()),
        any::<bool>(),
    )
        .prop_map(|(four, ext, ap4, ap6, ibgp, ap_evpn)| {
            let mut add_path = AddPathFamilies::none();
            if ap4 {
                add_path.insert(AfiSafi::IPV4_UNICAST);
            }
            if ap6 {
                add_path.insert(AfiSafi::IPV6_UNICAST);
            }
            if ap_evpn {
                add_path.insert(AfiSafi::L2VPN_EVPN);
            }
            WireContext {
                four_octet_as: four,
                extended_message: ext,
                add_path,
                ibgp,
            }
        })
}

fn v4_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u32>(), 0u8..=32)
        .prop_map(|(a, l)| IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), l).unwrap().trunc()))
}

fn v6_prefix() -> impl Strategy<Value = IpNet> {
    (any::<u128>(), 0u8..=128)
        .prop_map(|(a, l)| IpNet::V6(Ipv6Net::new(Ipv6Addr::from(a), l).unwrap().trunc()))
}

fn nlri_list(p: impl Strategy<Value = IpNet>, add_path: bool) -> impl Strategy<Value = Vec<Nlri>> {
    proptest::collection::vec((p, any::<u32>()), 0..20).prop_map(move |v| {
        v.into_iter()
            .map(|(prefix, id)| Nlri {
                path_id: add_path.then_some(id),
                prefix,
            })
            .collect()
    })
}

/// Valid EVPN routes of every type (1-5 and unknown types), from the evpn crate's `arbitrary`
/// generator, with path identifiers when ADD-PATH is on for EVPN.
fn evpn_list(add_path: bool) -> impl Strategy<Value = Vec<EvpnNlri>> {
    proptest::collection::vec(
        (
            proptest::collection::vec(any::<u8>(), 64..160),
            any::<u32>(),
        ),
        0..8,
    )
    .prop_map(move |v| {
        v.into_iter()
            .filter_map(|(data, id)| {
                let route = EvpnRoute::arbitrary(&mut Unstructured::new(&data)).ok()?;
                Some(EvpnNlri {
                    path_id: add_path.then_some(id),
                    route,
                })
            })
            .collect()
    })
}

/// The MP_REACH_NLRI of an UPDATE: IPv6 unicast or EVPN (RFC 4760 §3, RFC 7432 §7).
fn mp_reach(ctx: &WireContext) -> impl Strategy<Value = MpReach> {
    let ap6 = ctx.add_path(AfiSafi::IPV6_UNICAST);
    let ape = ctx.add_path(AfiSafi::L2VPN_EVPN);
    let v6 = (
        nlri_list(v6_prefix(), ap6),
        any::<[u8; 16]>(),
        proptest::option::of(any::<[u8; 16]>()),
    )
        .prop_map(move |(v6, global, ll)| MpReach {
            family: AfiSafi::IPV6_UNICAST,
            next_hop: NextHop::V6 {
                global: Ipv6Addr::from(global),
                link_local: ll.map(Ipv6Addr::from),
            },
            reserved: 0,
            nlri: NlriBlock::from_prefixes(AfiSafi::IPV6_UNICAST, ap6, v6).unwrap(),
        });
    let evpn =
        (evpn_list(ape), any::<bool>(), any::<[u8; 16]>()).prop_map(move |(routes, v4, addr)| {
            MpReach {
                family: AfiSafi::L2VPN_EVPN,
                // The VTEP: IPv4 (4 bytes) or IPv6 global (16 bytes), RFC 8365 §5.1.3.
                next_hop: if v4 {
                    NextHop::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]))
                } else {
                    NextHop::V6 {
                        global: Ipv6Addr::from(addr),
                        link_local: None,
                    }
                },
                reserved: 0,
                nlri: NlriBlock::from_evpn(ape, &routes),
            }
        });
    prop_oneof![v6, evpn]
}

/// The MP_UNREACH_NLRI of an UPDATE: IPv6 unicast or EVPN withdrawals (RFC 4760 §4).
fn mp_unreach(ctx: &WireContext) -> impl Strategy<Value = MpUnreach> {
    let ap6 = ctx.add_path(AfiSafi::IPV6_UNICAST);
    let ape = ctx.add_path(AfiSafi::L2VPN_EVPN);
    prop_oneof![
        nlri_list(v6_prefix(), ap6).prop_map(move |v6| MpUnreach {
            family: AfiSafi::IPV6_UNICAST,
            nlri: NlriBlock::from_prefixes(AfiSafi::IPV6_UNICAST, ap6, v6).unwrap(),
        }),
        evpn_list(ape).prop_map(move |routes| MpUnreach {
            family: AfiSafi::L2VPN_EVPN,
            nlri: NlriBlock::from_evpn(ape, &routes),
        }),
    ]
}

fn as_path(four: bool) -> impl Strategy<Value = AsPath> {
    let asn = if four {
        any::<u32>().boxed()
    } else {
        (0u32..=65535).boxed()
    };
    let kind = prop_oneof![
        Just(AsSegmentKind::Sequence),
        Just(AsSegmentKind::Set),
        Just(AsSegmentKind::ConfedSequence),
        Just(AsSegmentKind::ConfedSet)
    ];
    proptest::collection::vec((kind, proptest::collection::vec(asn, 1..8)), 0..4).prop_map(|segs| {
        AsPath {
            segments: segs
                .into_iter()
                .map(|(kind, asns)| AsSegment { kind, asns })
                .collect(),
        }
    })
}

/// Attributes that are valid for `ctx` (so none is discarded on parse).
fn attributes(ctx: WireContext) -> impl Strategy<Value = Vec<AttributeValue>> {
    let four = ctx.four_octet_as;
    let ebgp = ctx.ibgp == Some(false);
    (
        prop_oneof![
            Just(Origin::Igp),
            Just(Origin::Egp),
            Just(Origin::Incomplete)
        ],
        as_path(four),
        any::<u32>(),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        proptest::collection::vec(any::<u32>(), 1..6),
        proptest::collection::vec(any::<[u8; 8]>(), 1..6),
        proptest::collection::vec((any::<u32>(), any::<u32>(), any::<u32>()), 1..4),
        proptest::option::of((
            if four {
                any::<u32>().boxed()
            } else {
                (0u32..=65535).boxed()
            },
            any::<u32>(),
        )),
        any::<bool>(),
        proptest::collection::vec(
            (40u8..60, proptest::collection::vec(any::<u8>(), 0..300)),
            0..3,
        ),
        proptest::option::of(any::<u32>()),
    )
        .prop_map(
            move |(origin, path, nh, med, lp, comms, ext, large, agg, atomic, unknown, otc)| {
                let mut v = vec![
                    AttributeValue::Origin(origin),
                    AttributeValue::AsPath(path),
                    AttributeValue::NextHop(Ipv4Addr::from(nh)),
                ];
                if let Some(m) = med {
                    v.push(AttributeValue::MultiExitDisc(m));
                }
                if let Some(l) = lp.filter(|_| !ebgp) {
                    v.push(AttributeValue::LocalPref(l));
                }
                if atomic {
                    v.push(AttributeValue::AtomicAggregate);
                }
                if let Some((asn, addr)) = agg {
                    v.push(AttributeValue::Aggregator(Aggregator {
                        asn,
                        address: Ipv4Addr::from(addr),
                        four_octet: four,
                    }));
                }
                v.push(AttributeValue::Communities(
                    comms.into_iter().map(Community).collect(),
                ));
                v.push(AttributeValue::ExtendedCommunities(
                    ext.into_iter().map(ExtendedCommunity).collect(),
                ));
                v.push(AttributeValue::LargeCommunities(
                    large
                        .into_iter()
                        .map(|(global, local1, local2)| LargeCommunity {
                            global,
                            local1,
                            local2,
                        })
                        .collect(),
                ));
                if let Some(o) = otc {
                    v.push(AttributeValue::OnlyToCustomer(o));
                }
                v.push(AttributeValue::Aigp(vec![AigpTlv::metric(u64::from(nh))]));
                for (type_code, value) in unknown {
                    v.push(AttributeValue::Unknown {
                        type_code,
                        value: Bytes::from(value),
                    });
                }
                v
            },
        )
}

fn update_strategy() -> impl Strategy<Value = (WireContext, Update)> {
    ctx_strategy().prop_flat_map(|ctx| {
        let ap4 = ctx.add_path(AfiSafi::IPV4_UNICAST);
        (
            Just(ctx.clone()),
            nlri_list(v4_prefix(), ap4),
            nlri_list(v4_prefix(), ap4),
            proptest::option::of(mp_reach(&ctx)),
            proptest::option::of(mp_unreach(&ctx)),
            attributes(ctx),
            any::<prop::sample::Index>(),
            any::<prop::sample::Index>(),
        )
            .prop_map(|(ctx, withdrawn, nlri, reach, unreach, attrs, pos, pos2)| {
                let ap4 = ctx.add_path(AfiSafi::IPV4_UNICAST);
                let mut a = PathAttributes::new();
                for v in attrs {
                    a.set(v);
                }
                let mut list: Vec<PathAttribute> = a.iter().cloned().collect();
                // MP_REACH and MP_UNREACH anywhere in the list (attributes in any order).
                if let Some(r) = reach {
                    list.insert(
                        pos.index(list.len() + 1),
                        PathAttribute::new(AttributeValue::MpReach(r)),
                    );
                }
                if let Some(u) = unreach {
                    list.insert(
                        pos2.index(list.len() + 1),
                        PathAttribute::new(AttributeValue::MpUnreach(u)),
                    );
                }
                let mut attributes = PathAttributes::new();
                for p in list {
                    attributes.insert(p);
                }
                let u = Update {
                    withdrawn: NlriBlock::from_prefixes(AfiSafi::IPV4_UNICAST, ap4, withdrawn)
                        .unwrap(),
                    attributes,
                    nlri: NlriBlock::from_prefixes(AfiSafi::IPV4_UNICAST, ap4, nlri).unwrap(),
                    treat_as_withdraw: false,
                    attribute_errors: vec![],
                };
                (ctx, u)
            })
    })
}

/// Clears the extended-length bit that emission adds for long values.
fn normalize(u: &Update) -> Update {
    let mut n = u.clone();
    let mut attrs = PathAttributes::new();
    for a in u.attributes.iter() {
        attrs.insert(PathAttribute {
            flags: AttributeFlags(a.flags.0 & !AttributeFlags::EXTENDED_LENGTH),
            value: a.value.clone(),
        });
    }
    n.attributes = attrs;
    n
}

fn capability() -> impl Strategy<Value = Capability> {
    let fam = prop_oneof![
        (1u16..4, 1u8..5).prop_map(|(a, s)| AfiSafi::from_wire(a, s)),
        Just(AfiSafi::L2VPN_EVPN),
    ];
    prop_oneof![
        fam.clone().prop_map(Capability::MultiProtocol),
        Just(Capability::RouteRefresh),
        Just(Capability::EnhancedRouteRefresh),
        Just(Capability::ExtendedMessage),
        any::<u32>().prop_map(Capability::FourOctetAs),
        (0u8..6).prop_map(|r| Capability::Role(BgpRole::from_u8(r))),
        proptest::collection::vec((fam.clone(), 1u8..4), 0..4).prop_map(|v| Capability::AddPath(
            v.into_iter()
                .map(|(f, m)| (f, AddPathMode::from_u8(m)))
                .collect()
        )),
        (
            any::<u8>(),
            0u16..4096,
            proptest::collection::vec((fam.clone(), any::<u8>()), 0..4)
        )
            .prop_map(|(f, t, fams)| Capability::GracefulRestart(GracefulRestart {
                restart_flags: f & 0xf0,
                restart_time: t,
                families: fams
            })),
        ("[a-z0-9-]{0,20}", "[a-z.]{0,20}")
            .prop_map(|(hostname, domain)| Capability::Fqdn { hostname, domain }),
        (200u8..255, proptest::collection::vec(any::<u8>(), 0..20)).prop_map(|(code, v)| {
            Capability::Unknown {
                code,
                value: Bytes::from(v),
            }
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn update_emit_then_parse_is_identity((ctx, u) in update_strategy()) {
        let m = Message::Update(u.clone());
        let bytes = match m.to_bytes(&ctx) {
            Ok(b) => b,
            Err(EmitError::TooLarge { .. }) => return Ok(()),
            Err(e) => panic!("{e}"),
        };
        let (back, used) = Message::parse(&bytes, &ctx).unwrap();
        prop_assert_eq!(used, bytes.len());
        let Message::Update(back) = back else { panic!() };
        prop_assert!(back.attribute_errors.is_empty(), "{:?}", back.attribute_errors);
        prop_assert_eq!(normalize(&back), normalize(&u));
        prop_assert_eq!(Message::Update(back).to_bytes(&ctx).unwrap(), bytes);
    }

    #[test]
    fn open_emit_then_parse_is_identity(
        asn in any::<u32>(), hold in any::<u16>(), id in any::<u32>(),
        groups in proptest::collection::vec(proptest::collection::vec(capability(), 0..6), 0..4),
    ) {
        let mut open = Open::new(asn, hold, Ipv4Addr::from(id), vec![]);
        open.params = groups.into_iter().map(|capabilities| OptionalParameter::Capabilities { capabilities }).collect();
        let m = Message::Open(open);
        let bytes = m.to_bytes(&WireContext::default()).unwrap();
        let (back, _) = Message::parse(&bytes, &WireContext::default()).unwrap();
        let Message::Open(mut back) = back else { panic!() };
        back.extended_params = false; // chosen by size on emit
        let Message::Open(orig) = &m else { panic!() };
        prop_assert_eq!(&back, orig);
    }

    #[test]
    fn notification_and_route_refresh_round_trip(
        code in any::<u8>(), sub in any::<u8>(), data in proptest::collection::vec(any::<u8>(), 0..100),
        afi in any::<u16>(), safi in any::<u8>(), st in 0u8..3,
    ) {
        for m in [
            Message::Notification(Notification { code, subcode: sub, data: Bytes::from(data.clone()) }),
            Message::RouteRefresh(RouteRefresh::new(AfiSafi::from_wire(afi, safi), RouteRefreshSubtype::from_u8(st))),
        ] {
            let bytes = m.to_bytes(&WireContext::default()).unwrap();
            let (back, _) = Message::parse(&bytes, &WireContext::default()).unwrap();
            prop_assert_eq!(back, m);
        }
    }

    #[test]
    fn random_bodies_never_panic(
        ty in 1u8..=6, body in proptest::collection::vec(any::<u8>(), 0..600), ctx in ctx_strategy(),
    ) {
        let mut v = vec![0xff; 16];
        v.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
        v.push(ty);
        v.extend_from_slice(&body);
        let b = Bytes::from(v);
        if let Ok((m, _)) = Message::parse(&b, &ctx) {
            // Whatever parses can be emitted (a message that fitted when it arrived fits when
            // it leaves) and serialized.
            let mut out = BytesMut::new();
            let emitted = m.emit(&ctx, &mut out);
            prop_assert!(emitted.is_ok(), "{:?} parsed but does not emit: {:?}", m, emitted);
            let _ = serde_json::to_string(&m).unwrap();
        } else if let Err(e) = Message::parse(&b, &ctx) {
            let _ = e.notification();
            let _ = e.to_string();
        }
    }

    #[test]
    fn random_update_attributes_never_panic(
        attrs in proptest::collection::vec((any::<u8>(), 0u8..40, proptest::collection::vec(any::<u8>(), 0..40)), 0..8),
        nlri in proptest::collection::vec(any::<u8>(), 0..40),
        ctx in ctx_strategy(),
    ) {
        // Structurally framed attributes with random flags, types and values
        // reach every attribute parser.
        let mut a = Vec::new();
        for (flags, code, value) in attrs {
            a.push(flags & 0xef);
            a.push(code);
            a.push(value.len() as u8);
            a.extend_from_slice(&value);
        }
        let mut v = vec![0xff; 16];
        v.extend_from_slice(&((19 + 4 + a.len() + nlri.len()) as u16).to_be_bytes());
        v.push(2);
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&(a.len() as u16).to_be_bytes());
        v.extend_from_slice(&a);
        v.extend_from_slice(&nlri);
        let b = Bytes::from(v);
        match Message::parse(&b, &ctx) {
            Ok((m, _)) => { let _ = m.to_bytes(&ctx); let _ = serde_json::to_string(&m).unwrap(); }
            Err(e) => { let _ = e.notification(); }
        }
    }

    #[test]
    fn random_bytes_after_a_valid_header_never_panic(
        len in 0u16..=4096, ty in any::<u8>(),
        body in proptest::collection::vec(any::<u8>(), 0..200),
        ctx in ctx_strategy(),
    ) {
        // A valid marker so the bytes reach the length, type and body checks rather than
        // stopping at the marker; the length field is random (too short, too long, beyond
        // the bytes given).
        let mut v = vec![0xff; 16];
        v.extend_from_slice(&len.to_be_bytes());
        v.push(ty);
        v.extend_from_slice(&body);
        let b = Bytes::from(v);
        match Message::parse(&b, &ctx) {
            Ok((m, used)) => {
                prop_assert_eq!(used, usize::from(len));
                prop_assert!(m.to_bytes(&ctx).is_ok());
            }
            Err(e) => { let _ = e.notification(); let _ = e.to_string(); }
        }
        let _ = frame_length(&b, MAX_MESSAGE_LEN);
    }

    #[test]
    fn fully_random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..100), ctx in ctx_strategy()) {
        let b = Bytes::from(bytes);
        let _ = Message::parse(&b, &ctx);
        let _ = frame_length(&b, MAX_MESSAGE_LEN);
    }
}

/// The generators reach what the round-trip property claims to cover: EVPN MP_REACH and
/// MP_UNREACH with routes in them, and the EVPN multiprotocol capability.
#[test]
fn generators_cover_evpn_reach_unreach_and_capability() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut reach, mut unreach, mut cap) = (0, 0, 0);
    for _ in 0..256 {
        let (_, u) = update_strategy().new_tree(&mut runner).unwrap().current();
        for a in u.attributes.iter() {
            match &a.value {
                AttributeValue::MpReach(r)
                    if r.family == AfiSafi::L2VPN_EVPN && r.nlri.evpn_routes().count() > 0 =>
                {
                    reach += 1
                }
                AttributeValue::MpUnreach(r)
                    if r.family == AfiSafi::L2VPN_EVPN && r.nlri.evpn_routes().count() > 0 =>
                {
                    unreach += 1
                }
                _ => {}
            }
        }
        if capability().new_tree(&mut runner).unwrap().current()
            == Capability::MultiProtocol(AfiSafi::L2VPN_EVPN)
        {
            cap += 1;
        }
    }
    assert!(
        reach > 10 && unreach > 10 && cap > 2,
        "reach {reach} unreach {unreach} cap {cap}"
    );
}
