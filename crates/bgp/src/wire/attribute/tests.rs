//! RFC 7606 (and RFC 4271 §6.3, RFC 4760 §7, RFC 6793, RFC 7311, RFC 9234)
//! error handling: one test per rule, asserting the action and, for a
//! session reset, the NOTIFICATION.

use bytes::Bytes;

use super::*;
use crate::wire::error_handling::ErrorAction;
use crate::wire::message::Message;
use crate::wire::notification::{ErrorCode, UpdateSubcode};
use crate::wire::update::Update;

const WK: u8 = 0x40; // well-known
const ON: u8 = 0x80; // optional non-transitive
const OT: u8 = 0xc0; // optional transitive

fn attr(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![flags, code];
    if flags & 0x10 != 0 {
        v.extend_from_slice(&(value.len() as u16).to_be_bytes());
    } else {
        v.push(value.len() as u8);
    }
    v.extend_from_slice(value);
    v
}

fn origin() -> Vec<u8> {
    attr(WK, 1, &[0])
}
fn as_path() -> Vec<u8> {
    attr(WK, 2, &[2, 1, 0xfd, 0xe9]) // 65001 (2-octet ctx) / truncated for 4-octet
}
fn as_path4() -> Vec<u8> {
    attr(WK, 2, &[2, 1, 0, 0, 0xfd, 0xe9])
}
fn next_hop() -> Vec<u8> {
    attr(WK, 3, &[10, 0, 0, 1])
}
const NLRI: &[u8] = &[24, 10, 1, 2];

fn message(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Bytes {
    let mut v = vec![0xff; 16];
    let len = 19 + 2 + withdrawn.len() + 2 + attrs.len() + nlri.len();
    v.extend_from_slice(&(len as u16).to_be_bytes());
    v.push(2);
    v.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    v.extend_from_slice(withdrawn);
    v.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    v.extend_from_slice(attrs);
    v.extend_from_slice(nlri);
    Bytes::from(v)
}

fn ebgp() -> WireContext {
    WireContext {
        ibgp: Some(false),
        ..WireContext::default()
    }
}

fn ibgp() -> WireContext {
    WireContext {
        ibgp: Some(true),
        ..WireContext::default()
    }
}

fn parse(attrs: &[Vec<u8>], nlri: &[u8], ctx: &WireContext) -> Result<Update, WireError> {
    let a: Vec<u8> = attrs.concat();
    match Message::parse(&message(&[], &a, nlri), ctx)? {
        (Message::Update(u), _) => Ok(u),
        (m, _) => panic!("not an update: {m:?}"),
    }
}

/// Parses a valid base (ORIGIN, AS_PATH, NEXT_HOP, NLRI) plus `extra`, and
/// returns the update and the single recorded error's action.
fn with_extra(extra: Vec<u8>, ctx: &WireContext) -> (Update, ErrorAction) {
    let u = parse(&[origin(), as_path(), next_hop(), extra], NLRI, ctx).unwrap();
    assert_eq!(u.attribute_errors.len(), 1, "{:?}", u.attribute_errors);
    let action = u.attribute_errors[0].action.clone();
    assert_eq!(u.treat_as_withdraw, action == ErrorAction::TreatAsWithdraw);
    (u, action)
}

fn reset(e: WireError) -> (u8, u8, Bytes) {
    let n = e
        .notification()
        .expect("a session reset sends a NOTIFICATION");
    (n.code, n.subcode, n.data)
}

#[test]
fn base_update_is_clean() {
    let u = parse(&[origin(), as_path(), next_hop()], NLRI, &ebgp()).unwrap();
    assert!(u.attribute_errors.is_empty() && !u.treat_as_withdraw);
    assert_eq!(u.announced().count(), 1);
    assert_eq!(u.attributes.as_path().unwrap().to_string(), "65001");
}

#[test]
fn origin_malformed_is_treat_as_withdraw() {
    // RFC 7606 §7.1: length != 1 or undefined value.
    for bad in [attr(WK, 1, &[3]), attr(WK, 1, &[0, 0])] {
        let u = parse(&[bad, as_path(), next_hop()], NLRI, &ebgp()).unwrap();
        assert!(u.treat_as_withdraw);
        assert_eq!(u.attribute_errors[0].type_code, 1);
        assert_eq!(u.attribute_errors[0].offset, 23);
        assert_eq!(u.announced().count(), 0);
        assert_eq!(u.withdrawals().count(), 1, "TaW NLRI count as withdrawn");
    }
}

#[test]
fn as_path_malformed_is_treat_as_withdraw() {
    // RFC 7606 §7.2: unknown segment type, zero length, overrun.
    for bad in [
        attr(WK, 2, &[7, 1, 0, 1]),
        attr(WK, 2, &[2, 0]),
        attr(WK, 2, &[2, 2, 0, 1]),
    ] {
        let u = parse(&[origin(), bad, next_hop()], NLRI, &ebgp()).unwrap();
        assert!(u.treat_as_withdraw, "{:?}", u.attribute_errors);
        assert_eq!(u.attribute_errors[0].action, ErrorAction::TreatAsWithdraw);
    }
    // A 2-octet path parsed in a 4-octet context overruns.
    let u = parse(
        &[origin(), as_path(), next_hop()],
        NLRI,
        &WireContext::four_octet(),
    )
    .unwrap();
    assert!(u.treat_as_withdraw);
    let u = parse(
        &[origin(), as_path4(), next_hop()],
        NLRI,
        &WireContext::four_octet(),
    )
    .unwrap();
    assert!(!u.treat_as_withdraw);
}

#[test]
fn next_hop_med_communities_ext_large_otc_pmsi_ipv6ext_are_treat_as_withdraw() {
    let cases = [
        ("NEXT_HOP", attr(WK, 3, &[10, 0, 0, 1, 2])),
        ("MED", attr(ON, 4, &[0, 0, 1])),
        ("COMMUNITIES empty", attr(OT, 8, &[])),
        ("COMMUNITIES", attr(OT, 8, &[0, 0, 0, 1, 2])),
        ("EXTENDED_COMMUNITIES", attr(OT, 16, &[0; 7])),
        ("LARGE_COMMUNITY", attr(OT, 32, &[0; 11])),
        ("OTC", attr(OT, 35, &[0, 0, 1])),
        ("PMSI_TUNNEL", attr(OT, 22, &[0, 6, 0])),
        ("IPv6 ext communities", attr(OT, 25, &[0; 19])),
    ];
    for (what, bad) in cases {
        let code = bad[1];
        let base: Vec<Vec<u8>> = if code == 3 {
            vec![origin(), as_path(), bad]
        } else {
            vec![origin(), as_path(), next_hop(), bad]
        };
        let u = parse(&base, NLRI, &ebgp()).unwrap();
        assert!(u.treat_as_withdraw, "{what}");
        assert_eq!(u.attribute_errors[0].type_code, code, "{what}");
        assert_eq!(
            u.attribute_errors[0].action,
            ErrorAction::TreatAsWithdraw,
            "{what}"
        );
        assert!(u.attributes.get(code).is_none(), "{what}");
    }
}

#[test]
fn local_pref_rules() {
    // RFC 7606 §7.5: from eBGP discarded even when well-formed.
    let (u, a) = with_extra(attr(WK, 5, &[0, 0, 0, 100]), &ebgp());
    assert_eq!(a, ErrorAction::AttributeDiscard);
    assert_eq!(u.attributes.local_pref(), None);
    // From iBGP: kept when well-formed, treat-as-withdraw when malformed.
    let u = parse(
        &[
            origin(),
            as_path(),
            next_hop(),
            attr(WK, 5, &[0, 0, 0, 100]),
        ],
        NLRI,
        &ibgp(),
    )
    .unwrap();
    assert_eq!(u.attributes.local_pref(), Some(100));
    let (_, a) = with_extra(attr(WK, 5, &[0, 0, 100]), &ibgp());
    assert_eq!(a, ErrorAction::TreatAsWithdraw);
    // Unknown session type: treated like iBGP.
    let (_, a) = with_extra(attr(WK, 5, &[0, 0, 100]), &WireContext::default());
    assert_eq!(a, ErrorAction::TreatAsWithdraw);
}

#[test]
fn atomic_aggregate_aggregator_as4_aigp_are_discarded() {
    let cases = [
        ("ATOMIC_AGGREGATE", attr(WK, 6, &[1])),
        (
            "AGGREGATOR 2-octet ctx with 8 bytes",
            attr(OT, 7, &[0, 0, 0, 1, 10, 0, 0, 1]),
        ),
        ("AS4_PATH", attr(OT, 17, &[2, 1, 0, 0])),
        ("AS4_PATH confed", attr(OT, 17, &[3, 1, 0, 0, 0, 1])),
        ("AS4_AGGREGATOR", attr(OT, 18, &[0, 1, 10, 0, 0, 1])),
        ("AIGP", attr(ON, 26, &[1, 0, 4, 0])),
    ];
    for (what, bad) in cases {
        let code = bad[1];
        let (u, a) = with_extra(bad, &ebgp());
        assert_eq!(a, ErrorAction::AttributeDiscard, "{what}");
        assert_eq!(u.attribute_errors[0].type_code, code, "{what}");
        assert!(u.attributes.get(code).is_none(), "{what}");
        assert_eq!(u.announced().count(), 1, "{what}: routes stay");
    }
}

#[test]
fn originator_id_and_cluster_list_rules() {
    // RFC 7606 §7.9, §7.10: iBGP malformed → TaW; eBGP → discarded.
    for (bad, good) in [
        (attr(ON, 9, &[1, 2, 3]), attr(ON, 9, &[1, 2, 3, 4])),
        (
            attr(ON, 10, &[1, 2, 3, 4, 5, 6]),
            attr(ON, 10, &[1, 2, 3, 4, 5, 6, 7, 8]),
        ),
    ] {
        let (_, a) = with_extra(bad.clone(), &ibgp());
        assert_eq!(a, ErrorAction::TreatAsWithdraw);
        let (_, a) = with_extra(bad, &ebgp());
        assert_eq!(a, ErrorAction::AttributeDiscard);
        let (u, a) = with_extra(good.clone(), &ebgp());
        assert_eq!(a, ErrorAction::AttributeDiscard);
        assert!(u.attributes.get(good[1]).is_none());
        let u = parse(&[origin(), as_path(), next_hop(), good], NLRI, &ibgp()).unwrap();
        assert!(u.attribute_errors.is_empty());
    }
}

#[test]
fn malformed_mp_reach_and_unreach_reset_the_session() {
    // RFC 7606 §7.11 / RFC 4760 §7: UPDATE Message Error / Optional Attribute Error,
    // data = the attribute.
    let bad_reach = attr(0x90, 14, &[0, 2, 1, 4, 10, 0, 0, 1, 0]); // IPv6 with a 4-byte next hop
    let e = parse(&[bad_reach.clone(), origin(), as_path()], &[], &ebgp()).unwrap_err();
    assert_eq!(e.offset, 23);
    assert_eq!(reset(e), (3, 9, Bytes::from(bad_reach)));
    let bad_unreach = attr(ON, 15, &[0, 1, 1, 33, 0, 0, 0, 0, 0]);
    let e = parse(std::slice::from_ref(&bad_unreach), &[], &ebgp()).unwrap_err();
    assert_eq!(reset(e), (3, 9, Bytes::from(bad_unreach)));
    // NLRI inside MP_REACH with a bad prefix length.
    let e = parse(
        &[attr(
            ON,
            14,
            &[0, 1, 1, 4, 10, 0, 0, 1, 0, 40, 1, 2, 3, 4, 5],
        )],
        &[],
        &ebgp(),
    )
    .unwrap_err();
    assert!(matches!(
        e.kind,
        WireErrorKind::MalformedMpAttribute { type_code: 14, .. }
    ));
    // Flags conflicting with the type: the attribute's own treatment (reset).
    let e = parse(&[attr(OT, 15, &[0, 2, 1])], &[], &ebgp()).unwrap_err();
    assert_eq!(reset(e).1, 9);
}

#[test]
fn duplicate_attributes() {
    // RFC 7606 §3.g: MP_REACH/MP_UNREACH twice → reset (Malformed Attribute List).
    let unreach = attr(ON, 15, &[0, 2, 1]);
    let e = parse(&[unreach.clone(), unreach], &[], &ebgp()).unwrap_err();
    assert_eq!(
        e.kind,
        WireErrorKind::DuplicateMpAttribute { type_code: 15 }
    );
    assert_eq!(reset(e).0, 3);
    // Others: the first is kept, the rest discarded.
    let (u, a) = with_extra(attr(WK, 1, &[2]), &ebgp());
    assert_eq!(a, ErrorAction::AttributeDiscard);
    assert_eq!(u.attributes.origin(), Some(Origin::Igp));
}

#[test]
fn flag_conflicts_get_the_attributes_own_treatment() {
    // RFC 7606 §3.c. ORIGIN marked optional → TaW.
    let u = parse(&[attr(OT, 1, &[0]), as_path(), next_hop()], NLRI, &ebgp()).unwrap();
    assert!(u.treat_as_withdraw);
    // MED marked transitive → TaW.
    let (_, a) = with_extra(attr(OT, 4, &[0, 0, 0, 1]), &ebgp());
    assert_eq!(a, ErrorAction::TreatAsWithdraw);
    // AGGREGATOR marked non-transitive → discard.
    let (_, a) = with_extra(attr(ON, 7, &[0, 1, 10, 0, 0, 1]), &ebgp());
    assert_eq!(a, ErrorAction::AttributeDiscard);
    // The partial bit alone is not a conflict.
    let u = parse(
        &[
            origin(),
            as_path(),
            next_hop(),
            attr(0xe0, 8, &[0, 0, 0, 1]),
        ],
        NLRI,
        &ebgp(),
    )
    .unwrap();
    assert!(u.attribute_errors.is_empty());
}

#[test]
fn attribute_overrunning_the_attributes_is_treat_as_withdraw() {
    // RFC 7606 §4: the last attribute's length overruns the Total Attribute Length.
    let mut overrun = attr(OT, 8, &[0, 0, 0, 1]);
    overrun[2] = 9;
    let u = parse(&[origin(), as_path(), next_hop(), overrun], NLRI, &ebgp()).unwrap();
    assert!(u.treat_as_withdraw);
    assert_eq!(
        u.nlri.iter().count(),
        1,
        "NLRI still located via the total length"
    );
    // Fewer bytes than an attribute header left.
    let u = parse(
        &[origin(), as_path(), next_hop(), vec![0x40, 1]],
        NLRI,
        &ebgp(),
    )
    .unwrap();
    assert!(u.treat_as_withdraw);
    assert!(u.attribute_errors[0]
        .reason
        .contains("less than an attribute header"));
    // Extended-length flag with only 3 bytes left.
    let u = parse(
        &[origin(), as_path(), next_hop(), vec![0x50, 8, 0]],
        NLRI,
        &ebgp(),
    )
    .unwrap();
    assert!(u.treat_as_withdraw);
    // An MP_REACH that overruns cannot be located: session reset.
    let mut mp = attr(ON, 14, &[0, 1, 1, 4, 10, 0, 0, 1, 0]);
    mp[2] = 40;
    let e = parse(&[mp], &[], &ebgp()).unwrap_err();
    assert_eq!(reset(e).1, 9);
}

#[test]
fn missing_well_known_attributes_are_treat_as_withdraw() {
    // RFC 7606 §3.d.
    for (attrs, missing) in [
        (vec![as_path(), next_hop()], 1u8),
        (vec![origin(), next_hop()], 2),
        (vec![origin(), as_path()], 3),
    ] {
        let u = parse(&attrs, NLRI, &ebgp()).unwrap();
        assert!(u.treat_as_withdraw);
        assert_eq!(u.attribute_errors[0].type_code, missing);
    }
    // No NLRI: nothing is mandatory.
    let u = parse(&[], &[], &ebgp()).unwrap();
    assert!(!u.treat_as_withdraw);
    assert_eq!(
        u.is_end_of_rib(),
        Some(crate::wire::family::AfiSafi::IPV4_UNICAST)
    );
    // MP_REACH only: NEXT_HOP is not required, ORIGIN and AS_PATH are.
    let reach = attr(0x90, 14, &[0, 1, 1, 4, 10, 0, 0, 1, 0, 24, 10, 1, 2]);
    let u = parse(&[origin(), as_path(), reach.clone()], &[], &ebgp()).unwrap();
    assert!(!u.treat_as_withdraw);
    let u = parse(&[reach], &[], &ebgp()).unwrap();
    assert!(u.treat_as_withdraw);
    assert_eq!(u.withdrawals().count(), 1);
}

#[test]
fn mp_reach_anywhere_in_the_message_is_processed() {
    // RFC 7606 §5.1: MP_REACH SHOULD be first but may come last (GoBGP).
    let reach = attr(0x90, 14, &[0, 1, 1, 4, 10, 0, 0, 1, 0, 24, 10, 1, 2]);
    let u = parse(
        &[origin(), as_path(), attr(OT, 8, &[]), reach],
        &[],
        &ebgp(),
    )
    .unwrap();
    assert!(
        u.treat_as_withdraw,
        "bad COMMUNITIES withdraws the MP_REACH routes"
    );
    let w: Vec<_> = u.withdrawals().flat_map(|b| b.iter()).collect();
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].prefix.to_string(), "10.1.2.0/24");
}

#[test]
fn unrecognized_well_known_attribute_resets_the_session() {
    // RFC 4271 §6.3: Unrecognized Well-known Attribute, data = the attribute.
    let bad = attr(WK, 99, &[1, 2]);
    let e = parse(
        &[origin(), as_path(), next_hop(), bad.clone()],
        NLRI,
        &ebgp(),
    )
    .unwrap_err();
    assert_eq!(reset(e), (3, 2, Bytes::from(bad)));
}

#[test]
fn unknown_optional_attributes_are_kept_and_propagated_per_rfc4271() {
    let u = parse(
        &[
            origin(),
            as_path(),
            next_hop(),
            attr(OT, 99, &[1, 2]),
            attr(ON, 100, &[3]),
        ],
        NLRI,
        &ebgp(),
    )
    .unwrap();
    assert!(u.attribute_errors.is_empty());
    let t = u.attributes.get(99).unwrap();
    assert_eq!(
        t.for_propagation().unwrap().flags.0,
        0xe0,
        "README oddity 9"
    );
    assert!(u.attributes.get(100).unwrap().for_propagation().is_none());
    assert_eq!(
        u.attributes
            .get(1)
            .unwrap()
            .for_propagation()
            .unwrap()
            .flags
            .0,
        WK
    );
}

#[test]
fn as4_path_on_two_and_four_octet_sessions() {
    // RFC 6793 §4.2.3: a 2-octet session's AS_PATH with AS_TRANS is completed by AS4_PATH.
    let as_path = attr(WK, 2, &[2, 2, 0xfd, 0xe9, 0x5b, 0xa0]); // 65001 23456
    let as4 = attr(OT, 17, &[2, 1, 0xfa, 0x56, 0xea, 0x01]); // 4200000001
    let u = parse(
        &[origin(), as_path.clone(), next_hop(), as4.clone()],
        NLRI,
        &ebgp(),
    )
    .unwrap();
    assert!(u.attribute_errors.is_empty());
    assert_eq!(
        u.attributes.as_path().unwrap().to_string(),
        "65001 4200000001"
    );
    // RFC 6793 §3: on a 4-octet session AS4_PATH is discarded.
    let four = WireContext {
        ibgp: Some(false),
        ..WireContext::four_octet()
    };
    let (u, a) = {
        let u = parse(&[origin(), as_path4(), next_hop(), as4], NLRI, &four).unwrap();
        let a = u.attribute_errors[0].action.clone();
        (u, a)
    };
    assert_eq!(a, ErrorAction::AttributeDiscard);
    assert!(!u.treat_as_withdraw);
    assert_eq!(u.attributes.as_path().unwrap().to_string(), "65001");
    // AGGREGATOR AS_TRANS completed by AS4_AGGREGATOR.
    let agg = attr(OT, 7, &[0x5b, 0xa0, 10, 0, 0, 1]);
    let agg4 = attr(OT, 18, &[0xfa, 0x56, 0xea, 0x01, 10, 0, 0, 1]);
    let u = parse(&[origin(), as_path, next_hop(), agg, agg4], NLRI, &ebgp()).unwrap();
    assert_eq!(u.attributes.aggregator().unwrap().asn, 4200000001);
}

#[test]
fn update_length_errors_reset_the_session() {
    let ctx = ebgp();
    // Withdrawn Routes Length overruns: Malformed Attribute List.
    let mut m = message(&[], &[], &[]).to_vec();
    m[19..21].copy_from_slice(&[0, 9]);
    let e = Message::parse(&Bytes::from(m), &ctx).unwrap_err();
    assert_eq!(e.offset, 19);
    assert_eq!(
        e.notification().unwrap().error(),
        ErrorCode::Update(UpdateSubcode::MalformedAttributeList)
    );
    // Total Attribute Length overruns.
    let mut m = message(&[], &[], &[]).to_vec();
    m[21..23].copy_from_slice(&[0, 1]);
    let e = Message::parse(&Bytes::from(m), &ctx).unwrap_err();
    assert_eq!(reset(e).1, 1);
    // Malformed NLRI field: Invalid Network Field.
    let e = parse(
        &[origin(), as_path(), next_hop()],
        &[33, 1, 2, 3, 4, 5],
        &ctx,
    )
    .unwrap_err();
    assert_eq!(e.offset, 23 + 4 + 7 + 7, "offset of the prefix length byte");
    assert_eq!(reset(e).1, 10);
    // Malformed Withdrawn Routes: Malformed Attribute List.
    let e = Message::parse(&message(&[24, 10], &[], &[]), &ctx).unwrap_err();
    assert!(matches!(
        e.kind,
        WireErrorKind::InvalidNetworkField {
            field: crate::wire::error::NlriField::Withdrawn,
            ..
        }
    ));
    assert_eq!(reset(e).1, 1);
}
