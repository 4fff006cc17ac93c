//! The conversion between the RIB and the wire codec (`perouter_bgp::wire`): what the agent's
//! glue calls between a session and the RIB, and nothing else.
//!
//! - [`route_updates`]: a parsed UPDATE → the [`RouteUpdate`]s the RIB takes, one per family
//!   (and per next hop and ADD-PATH path identifier): IPv4 NLRI field with NEXT_HOP,
//!   MP_REACH_NLRI / MP_UNREACH_NLRI for IPv4/IPv6 unicast (RFC 4760; an IPv6 next hop for
//!   IPv4 NLRI per RFC 8950) and L2VPN EVPN (RFC 7432 §7); an UPDATE marked treat-as-withdraw
//!   withdraws everything it announced (RFC 7606 §2).
//! - [`end_of_rib`]: the End-of-RIB marker's family (RFC 4724 §2), for `Rib::handle_end_of_rib`.
//! - [`adj_out_updates`]: an [`AdjOutBatch`] → UPDATEs ready to send, many NLRI per UPDATE
//!   under the session's size limit (RFC 4271 §4, RFC 8654), withdrawals batched, and the
//!   End-of-RIB marker last when the batch ends the initial dump.

use std::net::{IpAddr, Ipv6Addr};

use perouter_bgp::wire::{
    attribute::type_code, AfiSafi, Aggregator, AttributeFlags, AttributeValue, EmitError, EvpnNlri,
    NextHop, NlriBlock, NlriList, PathAttribute, PathAttributes, Update, WireContext,
};
use tracing::debug;

use crate::adj_out::{AdjOutBatch, Nlri};
use crate::attrs::{PathAttrs, RareAttrs};
use crate::peer::Family;
use crate::rib::RouteUpdate;

/// The RIB family of a wire AFI/SAFI, if the RIB handles it.
pub fn family_of(f: AfiSafi) -> Option<Family> {
    match f {
        AfiSafi::IPV4_UNICAST => Some(Family::Ipv4Unicast),
        AfiSafi::IPV6_UNICAST => Some(Family::Ipv6Unicast),
        AfiSafi::L2VPN_EVPN => Some(Family::L2vpnEvpn),
        _ => None,
    }
}

/// The wire AFI/SAFI of a RIB family.
pub fn afi_safi(f: Family) -> AfiSafi {
    match f {
        Family::Ipv4Unicast => AfiSafi::IPV4_UNICAST,
        Family::Ipv6Unicast => AfiSafi::IPV6_UNICAST,
        Family::L2vpnEvpn => AfiSafi::L2VPN_EVPN,
    }
}

/// The family an UPDATE is the End-of-RIB marker of (RFC 4724 §2), if it is one and the RIB
/// handles the family.
pub fn end_of_rib(update: &Update) -> Option<Family> {
    update.is_end_of_rib().and_then(family_of)
}

/// The RIB's attribute set for the shared attributes of an UPDATE, with `next_hop` as the
/// next hop. From an external peer (`ebgp`), LOCAL_PREF, ORIGINATOR_ID and CLUSTER_LIST are
/// ignored (RFC 4271 §5.1.5, RFC 4456 §8, RFC 7606 §7.5, §7.9, §7.10). The AS path and the
/// aggregator come with AS4_PATH / AS4_AGGREGATOR merged (RFC 6793 §4.2.3). Attributes the
/// RIB does not interpret are kept as they are, in [`RareAttrs::other`].
pub fn path_attrs(attrs: &PathAttributes, next_hop: Option<IpAddr>, ebgp: bool) -> PathAttrs {
    let mut rare = RareAttrs {
        atomic_aggregate: attrs.atomic_aggregate(),
        aggregator: attrs.aggregator().map(|a| Aggregator {
            four_octet: true,
            ..a
        }),
        large_communities: attrs.large_communities().to_vec(),
        originator_id: attrs.originator_id().filter(|_| !ebgp),
        cluster_list: if ebgp {
            Vec::new()
        } else {
            attrs.cluster_list().to_vec()
        },
        pmsi: attrs.pmsi_tunnel().cloned(),
        other: Vec::new(),
    };
    rare.other = attrs
        .iter()
        .filter(|a| !is_modelled(a.type_code()))
        .cloned()
        .collect();
    PathAttrs {
        origin: attrs
            .origin()
            .unwrap_or(perouter_bgp::wire::Origin::Incomplete),
        as_path: attrs.as_path().map(|p| p.into_owned()).unwrap_or_default(),
        next_hop,
        med: attrs.med(),
        local_pref: attrs.local_pref().filter(|_| !ebgp),
        communities: attrs.communities().into(),
        ext_communities: attrs.ext_communities().into(),
        rare: Some(Box::new(rare)),
    }
    .normalized()
}

/// Attribute types [`PathAttrs`] holds in a field of its own (or that carry NLRI).
fn is_modelled(code: u8) -> bool {
    matches!(
        code,
        type_code::ORIGIN
            | type_code::AS_PATH
            | type_code::NEXT_HOP
            | type_code::MULTI_EXIT_DISC
            | type_code::LOCAL_PREF
            | type_code::ATOMIC_AGGREGATE
            | type_code::AGGREGATOR
            | type_code::COMMUNITIES
            | type_code::ORIGINATOR_ID
            | type_code::CLUSTER_LIST
            | type_code::MP_REACH_NLRI
            | type_code::MP_UNREACH_NLRI
            | type_code::EXTENDED_COMMUNITIES
            | type_code::AS4_PATH
            | type_code::AS4_AGGREGATOR
            | type_code::PMSI_TUNNEL
            | type_code::LARGE_COMMUNITIES
    )
}

/// The address of an MP_REACH next hop: the global IPv6 address, or the link-local one when
/// the global one is unspecified (RFC 2545 §3); `None` for a next hop of an unknown form.
fn next_hop_address(nh: &NextHop) -> Option<IpAddr> {
    match nh {
        NextHop::V6 {
            global,
            link_local: Some(ll),
        } if global.is_unspecified() => Some(IpAddr::V6(*ll)),
        other => other.address(),
    }
}

/// Appends `nlri` to the group of `out` for (`family`, `path_id`, `announce`) if it is the
/// last group, else starts a new group. Consecutive NLRI with the same path id share a group.
fn push(
    out: &mut Vec<(Family, RouteUpdate)>,
    family: Family,
    path_id: u32,
    announce: Option<&PathAttrs>,
    nlri: Nlri,
) {
    let fits = out.last().is_some_and(|(f, u)| {
        *f == family
            && u.path_id == path_id
            && match announce {
                Some(a) => u.withdrawn.is_empty() && u.attrs == *a,
                None => u.announced.is_empty(),
            }
    });
    if !fits {
        out.push((
            family,
            RouteUpdate {
                attrs: announce.cloned().unwrap_or_default(),
                announced: Vec::new(),
                withdrawn: Vec::new(),
                path_id,
            },
        ));
    }
    if let Some((_, u)) = out.last_mut() {
        match announce {
            Some(_) => u.announced.push(nlri),
            None => u.withdrawn.push(nlri),
        }
    }
}

/// Appends every NLRI of `block` to `out` as announced with `announce`, or withdrawn.
fn push_block(
    out: &mut Vec<(Family, RouteUpdate)>,
    block: &NlriBlock,
    announce: Option<&PathAttrs>,
) {
    let Some(family) = family_of(block.kind) else {
        debug!(family = %block.kind, "NLRI of a family the RIB does not handle ignored");
        return;
    };
    // The group the previous NLRI of this block went to: the next one with the same path id
    // joins it without comparing attribute sets again (one comparison per block, not per NLRI).
    let mut group: Option<(usize, u32)> = None;
    let mut add = |out: &mut Vec<(Family, RouteUpdate)>, path_id: u32, nlri: Nlri| {
        if let Some((i, id)) = group {
            if id == path_id && i + 1 == out.len() {
                let u = &mut out[i].1;
                match announce {
                    Some(_) => u.announced.push(nlri),
                    None => u.withdrawn.push(nlri),
                }
                return;
            }
        }
        push(out, family, path_id, announce, nlri);
        group = Some((out.len() - 1, path_id));
    };
    match family {
        Family::Ipv4Unicast | Family::Ipv6Unicast => {
            for n in block.iter() {
                let nlri = match n.prefix {
                    ipnet::IpNet::V4(p) if family == Family::Ipv4Unicast => Nlri::V4(p),
                    ipnet::IpNet::V6(p) if family == Family::Ipv6Unicast => Nlri::V6(p),
                    _ => continue,
                };
                add(out, n.path_id.unwrap_or(0), nlri);
            }
        }
        Family::L2vpnEvpn => {
            for r in block.evpn_routes() {
                add(out, r.path_id.unwrap_or(0), Nlri::Evpn(r.route));
            }
        }
    }
}

/// What a parsed UPDATE from a peer means to the RIB: withdrawals first, then announcements,
/// grouped per family, next hop and ADD-PATH path identifier (RFC 7911 §3; 0 without
/// ADD-PATH), in the order the UPDATE has them. Feed each to `Rib::handle_update` in order.
///
/// `ebgp` says whether the session is external (it decides which attributes are ignored, see
/// [`path_attrs`]). An UPDATE marked treat-as-withdraw (RFC 7606 §2) yields only withdrawals,
/// of everything it withdrew and announced. An End-of-RIB marker yields nothing (see
/// [`end_of_rib`]). NLRI of families the RIB does not handle are skipped.
pub fn route_updates(update: &Update, ebgp: bool) -> Vec<(Family, RouteUpdate)> {
    let mut out = Vec::new();
    for block in update.withdrawals() {
        push_block(&mut out, block, None);
    }
    let mut announced = update.announced().peekable();
    if announced.peek().is_none() {
        return out;
    }
    let shared = path_attrs(&update.attributes, None, ebgp);
    for block in announced {
        let next_hop = if std::ptr::eq(block, &update.nlri) {
            update.attributes.next_hop().map(IpAddr::V4)
        } else {
            update
                .attributes
                .mp_reach()
                .and_then(|r| next_hop_address(&r.next_hop))
        };
        let attrs = PathAttrs {
            next_hop,
            ..shared.clone()
        };
        push_block(&mut out, block, Some(&attrs));
    }
    out
}

/// The wire attributes for a RIB attribute set, in type-code order (RFC 4271 §5 recommends
/// it), for a session with context `ctx`. NEXT_HOP is included only with `with_next_hop` (the
/// IPv4 NLRI field; other families carry the next hop in MP_REACH_NLRI). On a 2-octet AS
/// session, AS4_PATH and AS4_AGGREGATOR carry the 4-octet ASNs (RFC 6793 §4.2.2).
pub fn wire_attributes(a: &PathAttrs, ctx: &WireContext, with_next_hop: bool) -> PathAttributes {
    let r = a.rare();
    let mut out = PathAttributes::new()
        .with(AttributeValue::Origin(a.origin))
        .with(AttributeValue::AsPath(a.as_path.clone()));
    let wide = |asn: u32| asn > u32::from(u16::MAX);
    if !ctx.four_octet_as
        && a.as_path
            .segments
            .iter()
            .any(|s| s.asns.iter().any(|&x| wide(x)))
    {
        // AS4_PATH never carries confederation segments (RFC 6793 §3).
        let mut p4 = a.as_path.clone();
        p4.segments.retain(|s| !s.kind.is_confed());
        out.set(AttributeValue::As4Path(p4));
    }
    if with_next_hop {
        if let Some(IpAddr::V4(nh)) = a.next_hop {
            out.set(AttributeValue::NextHop(nh));
        }
    }
    if let Some(m) = a.med {
        out.set(AttributeValue::MultiExitDisc(m));
    }
    if let Some(lp) = a.local_pref {
        out.set(AttributeValue::LocalPref(lp));
    }
    if r.atomic_aggregate {
        out.set(AttributeValue::AtomicAggregate);
    }
    if let Some(ag) = r.aggregator {
        out.set(AttributeValue::Aggregator(Aggregator {
            four_octet: ctx.four_octet_as,
            ..ag
        }));
        if !ctx.four_octet_as && wide(ag.asn) {
            out.set(AttributeValue::As4Aggregator(Aggregator {
                four_octet: true,
                ..ag
            }));
        }
    }
    if !a.communities.is_empty() {
        out.set(AttributeValue::Communities(a.communities.to_vec()));
    }
    if let Some(o) = r.originator_id {
        out.set(AttributeValue::OriginatorId(o));
    }
    if !r.cluster_list.is_empty() {
        out.set(AttributeValue::ClusterList(r.cluster_list.clone()));
    }
    if !a.ext_communities.is_empty() {
        out.set(AttributeValue::ExtendedCommunities(
            a.ext_communities.to_vec(),
        ));
    }
    if let Some(p) = &r.pmsi {
        out.set(AttributeValue::PmsiTunnel(p.clone()));
    }
    if !r.large_communities.is_empty() {
        out.set(AttributeValue::LargeCommunities(
            r.large_communities.clone(),
        ));
    }
    let mut other: Vec<&PathAttribute> = r.other.iter().collect();
    other.sort_by_key(|x| x.type_code());
    for x in other {
        out.insert(PathAttribute {
            // The extended-length bit is recomputed on emission.
            flags: AttributeFlags(x.flags.0 & !AttributeFlags::EXTENDED_LENGTH),
            value: x.value.clone(),
        });
    }
    out
}

/// The MP_REACH next hop for `family` from the RIB's next hop: for IPv6 unicast (and IPv4
/// unicast over an IPv6 next hop, RFC 8950) with our `link_local` address when we have one
/// (RFC 2545 §3); EVPN carries the VTEP alone (RFC 8365 §5.1.3). IPv6 routes over an IPv4
/// session (next hop self is then an IPv4 address) get the IPv4-mapped IPv6 address, as FRR
/// sends them (RFC 4291 §2.5.5.2).
fn mp_next_hop(family: Family, nh: IpAddr, link_local: Option<Ipv6Addr>) -> NextHop {
    match (nh, family) {
        (IpAddr::V4(a), Family::Ipv6Unicast) => NextHop::V6 {
            global: a.to_ipv6_mapped(),
            link_local: None,
        },
        (IpAddr::V4(a), _) => NextHop::V4(a),
        (IpAddr::V6(global), Family::L2vpnEvpn) => NextHop::V6 {
            global,
            link_local: None,
        },
        (IpAddr::V6(global), _) => NextHop::V6 { global, link_local },
    }
}

/// Splits RIB NLRI into the wire's prefix list and EVPN list (a batch is one family).
fn wire_nlri(nlri: &[Nlri]) -> (Vec<perouter_bgp::wire::Nlri>, Vec<EvpnNlri>) {
    wire_nlri_with_path(nlri, None)
}

/// Like [`wire_nlri`], each NLRI with the ADD-PATH path identifier `path_id` (RFC 7911 §3).
fn wire_nlri_with_path(
    nlri: &[Nlri],
    path_id: Option<u32>,
) -> (Vec<perouter_bgp::wire::Nlri>, Vec<EvpnNlri>) {
    let mut prefixes = Vec::new();
    let mut evpn = Vec::new();
    for n in nlri {
        match n {
            Nlri::V4(p) => prefixes.push(perouter_bgp::wire::Nlri {
                path_id,
                prefix: (*p).into(),
            }),
            Nlri::V6(p) => prefixes.push(perouter_bgp::wire::Nlri {
                path_id,
                prefix: (*p).into(),
            }),
            Nlri::Evpn(r) => evpn.push(EvpnNlri {
                path_id,
                route: r.clone(),
            }),
        }
    }
    (prefixes, evpn)
}

/// The UPDATEs a peer could have sent us to give us `routes` (its Adj-RIB-In as
/// `Rib::adj_rib_in` lists it, RFC 4271 §3.2): one attribute set per group of NLRI with the
/// path identifiers it gave them (RFC 7911), encoded for the session's receive context
/// `ctx`. Fed back through [`route_updates`] they give the same paths: a session handed over
/// to the next perouter process carries its Adj-RIB-In this way (the RIB of the new process
/// rebuilds as if the peer had sent its table again).
pub fn adj_rib_in_updates(
    routes: &[crate::rib::ExchangedRoute],
    ctx: &WireContext,
) -> Result<Vec<Update>, EmitError> {
    // Grouped by family, path id and attribute set; in first-seen order for stable output.
    let mut order: Vec<(Family, u32, crate::table::Attrs)> = Vec::new();
    let mut groups: std::collections::HashMap<(Family, u32, crate::table::Attrs), Vec<Nlri>> =
        std::collections::HashMap::new();
    for r in routes {
        let key = (r.nlri.family(), r.path_id, r.attrs.clone());
        let g = groups.entry(key.clone()).or_default();
        if g.is_empty() {
            order.push(key);
        }
        g.push(r.nlri.clone());
    }
    let mut out = Vec::new();
    for key in order {
        let (family, path_id, attrs) = &key;
        let nlri = &groups[&key];
        let wire_family = afi_safi(*family);
        let nh = attrs.next_hop.ok_or(EmitError::MissingNextHop {
            family: wire_family,
        })?;
        let classic = *family == Family::Ipv4Unicast && nh.is_ipv4();
        let wattrs = wire_attributes(attrs, ctx, classic);
        let id = ctx.add_path(wire_family).then_some(*path_id);
        let (p, e) = wire_nlri_with_path(nlri, id);
        let next_hop = (!classic).then(|| mp_next_hop(*family, nh, None));
        out.extend(Update::pack_reach(
            &wattrs,
            next_hop,
            nlri_list(*family, &p, &e),
            ctx,
        )?);
    }
    Ok(out)
}

fn nlri_list<'a>(
    family: Family,
    prefixes: &'a [perouter_bgp::wire::Nlri],
    evpn: &'a [EvpnNlri],
) -> NlriList<'a> {
    match family {
        Family::L2vpnEvpn => NlriList::Evpn(evpn),
        f => NlriList::Prefixes(afi_safi(f), prefixes),
    }
}

/// The UPDATEs that carry one Adj-RIB-Out batch to a peer whose session negotiated `ctx`:
/// withdrawals first (Withdrawn Routes for IPv4, MP_UNREACH_NLRI otherwise), then each
/// attribute set's NLRI packed into as few UPDATEs as fit (IPv4 with an IPv4 next hop in the
/// NLRI field with NEXT_HOP, everything else in MP_REACH_NLRI), then the End-of-RIB marker
/// when the batch ends the initial dump (RFC 4724 §2). `link_local` is our IPv6 link-local
/// address on the session, sent beside a global IPv6 next hop (RFC 2545 §3).
///
/// Errors: an announcement without a next hop ([`EmitError::MissingNextHop`]) or attributes
/// too large for one message ([`EmitError::TooLarge`]).
pub fn adj_out_updates(
    batch: &AdjOutBatch,
    ctx: &WireContext,
    link_local: Option<Ipv6Addr>,
) -> Result<Vec<Update>, EmitError> {
    let family = batch.family;
    let wire_family = afi_safi(family);
    let mut out = Vec::new();
    if !batch.withdraw.is_empty() {
        let (p, e) = wire_nlri(&batch.withdraw);
        out.extend(Update::pack_withdraw(nlri_list(family, &p, &e), ctx)?);
    }
    for ann in &batch.announce {
        let nh = ann.attrs.next_hop.ok_or(EmitError::MissingNextHop {
            family: wire_family,
        })?;
        let classic = family == Family::Ipv4Unicast && nh.is_ipv4();
        let attrs = wire_attributes(&ann.attrs, ctx, classic);
        let (p, e) = wire_nlri(&ann.nlri);
        let next_hop = (!classic).then(|| mp_next_hop(family, nh, link_local));
        out.extend(Update::pack_reach(
            &attrs,
            next_hop,
            nlri_list(family, &p, &e),
            ctx,
        )?);
    }
    if batch.end_of_rib {
        out.push(Update::end_of_rib(wire_family));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use perouter_bgp::wire::{AsPath, Origin};

    fn attrs() -> PathAttributes {
        PathAttributes::new()
            .with(AttributeValue::Origin(Origin::Igp))
            .with(AttributeValue::AsPath(AsPath::sequence([65001])))
            .with(AttributeValue::NextHop("192.0.2.1".parse().unwrap()))
    }

    #[test]
    fn treat_as_withdraw_turns_every_announcement_into_a_withdrawal() {
        let p: Vec<perouter_bgp::wire::Nlri> = ["10.0.0.0/24", "10.0.1.0/24"]
            .iter()
            .map(|s| perouter_bgp::wire::Nlri::new(s.parse().unwrap()))
            .collect();
        let ctx = WireContext::four_octet();
        let mut u = Update::pack_reach(
            &attrs(),
            None,
            NlriList::Prefixes(AfiSafi::IPV4_UNICAST, &p),
            &ctx,
        )
        .unwrap()
        .remove(0);
        let ok = route_updates(&u, true);
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].1.announced.len(), 2);
        assert_eq!(ok[0].1.attrs.next_hop, Some("192.0.2.1".parse().unwrap()));
        u.treat_as_withdraw = true;
        let w = route_updates(&u, true);
        assert_eq!(w.len(), 1);
        assert!(w[0].1.announced.is_empty());
        assert_eq!(w[0].1.withdrawn.len(), 2);
    }

    #[test]
    fn unmodelled_attributes_are_kept_and_passed_on() {
        let a = attrs()
            .with(AttributeValue::OnlyToCustomer(65001))
            .with(AttributeValue::Unknown {
                type_code: 99,
                value: bytes::Bytes::from_static(&[1, 2]),
            });
        let rib = path_attrs(&a, None, true);
        assert_eq!(rib.rare().other.len(), 2);
        let back = wire_attributes(&rib, &WireContext::four_octet(), false);
        assert_eq!(back.otc(), Some(65001));
        assert!(back.get(99).is_some());
        assert!(
            back.next_hop().is_none(),
            "NEXT_HOP only for the NLRI field"
        );
        // Sorted by type code.
        let codes: Vec<u8> = back.iter().map(|x| x.type_code()).collect();
        let mut sorted = codes.clone();
        sorted.sort();
        assert_eq!(codes, sorted);
    }
}
