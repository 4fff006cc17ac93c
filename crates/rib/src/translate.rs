//! IP ⇄ EVPN translation: the attributes of the EVPN routes this node originates.
//!
//! - A VRF's best route learned from its host (or a local network) becomes a type-5 route
//!   (RFC 9136 §3.1) with the VRF's export RTs, the VXLAN encapsulation (RFC 9012 §4.1), our
//!   router MAC (RFC 9135 §8.1, symmetric IRB) and our VTEP as next hop (landscape pitfall 6:
//!   the VTEP, never the router ID). The route's own AS_PATH, ORIGIN, MED and communities are
//!   kept, as FRR does.
//! - The other direction (type-5 → VRF route → host) needs no new attributes: the imported path
//!   shares the EVPN route's attribute set, and export to the host strips the EVPN communities
//!   (see [`crate::adj_out::export_attrs`]).
//! - Local MACs become type-2 routes and each L2VNI one type-3 route (RFC 7432 §7.2-7.3,
//!   RFC 8365 §5.1.3) with ingress replication towards our VTEP.

use std::net::IpAddr;

use perouter_bgp::wire::{AsPath, ExtendedCommunity, Origin};
use perouter_evpn::{Label, MacAddress, PmsiTunnel, RouteTarget};

use crate::attrs::{ext, PathAttrs, RareAttrs};

/// Attributes of the type-5 route exported for a VRF route with attributes `from`.
pub fn type5_attrs(
    from: &PathAttrs,
    export_rts: &[RouteTarget],
    router_mac: MacAddress,
    vtep: IpAddr,
) -> PathAttrs {
    let mut ext_communities: Vec<ExtendedCommunity> = from
        .ext_communities
        .iter()
        .filter(|c| !PathAttrs::is_evpn_translation_community(c))
        .copied()
        .collect();
    ext_communities.extend(export_rts.iter().map(|rt| ExtendedCommunity::from(*rt)));
    ext_communities.push(ext::encapsulation_vxlan());
    ext_communities.push(ext::router_mac(router_mac));
    let r = from.rare();
    PathAttrs {
        origin: from.origin,
        as_path: from.as_path.clone(),
        next_hop: Some(vtep),
        med: from.med,
        local_pref: None,
        communities: from.communities.clone(),
        ext_communities: ext_communities.into(),
        rare: Some(Box::new(RareAttrs {
            atomic_aggregate: r.atomic_aggregate,
            aggregator: r.aggregator,
            large_communities: r.large_communities.clone(),
            originator_id: None,
            cluster_list: Vec::new(),
            pmsi: None,
            other: r
                .other
                .iter()
                .filter(|a| a.flags.transitive())
                .cloned()
                .collect(),
        })),
    }
    .normalized()
}

/// Attributes of a type-2 route for a local MAC (RFC 7432 §7.2, §7.7). `l3` carries the
/// routing domain's export RTs and router MAC; give it only for MAC+IP routes of an L2VNI
/// that has one (landscape pitfalls 3 and 5: never on MAC-only routes).
pub fn type2_attrs(
    l2_rts: &[RouteTarget],
    l3: Option<(&[RouteTarget], MacAddress)>,
    vtep: IpAddr,
    sequence: u32,
    sticky: bool,
) -> PathAttrs {
    let mut ext_communities: Vec<ExtendedCommunity> = l2_rts
        .iter()
        .map(|rt| ExtendedCommunity::from(*rt))
        .collect();
    if let Some((rts, _)) = l3 {
        ext_communities.extend(rts.iter().map(|rt| ExtendedCommunity::from(*rt)));
    }
    ext_communities.push(ext::encapsulation_vxlan());
    if let Some((_, mac)) = l3 {
        ext_communities.push(ext::router_mac(mac));
    }
    if sequence > 0 || sticky {
        ext_communities.push(ext::mac_mobility(sticky, sequence));
    }
    PathAttrs {
        origin: Origin::Igp,
        as_path: AsPath::empty(),
        next_hop: Some(vtep),
        ext_communities: ext_communities.into(),
        ..Default::default()
    }
}

/// Attributes of an L2VNI's type-3 route (RFC 7432 §11.2; RFC 8365 §5.1.3: PMSI ingress
/// replication with the VNI in the label field and our VTEP as tunnel endpoint).
pub fn type3_attrs(l2_rts: &[RouteTarget], vni: u32, vtep: IpAddr) -> PathAttrs {
    let mut ext_communities: Vec<ExtendedCommunity> = l2_rts
        .iter()
        .map(|rt| ExtendedCommunity::from(*rt))
        .collect();
    ext_communities.push(ext::encapsulation_vxlan());
    PathAttrs {
        origin: Origin::Igp,
        as_path: AsPath::empty(),
        next_hop: Some(vtep),
        ext_communities: ext_communities.into(),
        rare: Some(Box::new(RareAttrs {
            pmsi: Some(PmsiTunnel::ingress_replication(vtep, Label::from_vni(vni))),
            ..Default::default()
        })),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perouter_evpn::derive::frr_auto_route_target;

    #[test]
    fn type5_keeps_route_facts_and_adds_translation_communities() {
        let rt = frr_auto_route_target(64512, 100);
        let host = PathAttrs {
            as_path: AsPath::sequence([64515]),
            med: Some(7),
            communities: Box::new([perouter_bgp::wire::Community(0xfde8_0001)]),
            ext_communities: Box::new([frr_auto_route_target(1, 1).into()]),
            next_hop: Some("192.168.10.3".parse().unwrap()),
            ..Default::default()
        };
        let mac = MacAddress([2, 0, 0, 0, 0, 1]);
        let t5 = type5_attrs(&host, &[rt], mac, "100.64.0.1".parse().unwrap());
        assert_eq!(t5.as_path, host.as_path);
        assert_eq!(t5.med, Some(7));
        assert_eq!(t5.next_hop, Some("100.64.0.1".parse().unwrap()));
        assert_eq!(
            t5.route_targets().collect::<Vec<_>>(),
            vec![rt],
            "host RTs replaced by ours"
        );
        assert!(t5.is_vxlan());
        assert_eq!(t5.router_mac(), Some(mac));
    }

    #[test]
    fn mac_only_type2_never_carries_l3_communities() {
        let rt = frr_auto_route_target(64512, 200);
        let l3rt = frr_auto_route_target(64512, 100);
        let mac = MacAddress([2, 0, 0, 0, 0, 1]);
        let vtep: IpAddr = "100.64.0.1".parse().unwrap();
        let only_mac = type2_attrs(&[rt], None, vtep, 0, false);
        assert_eq!(only_mac.router_mac(), None);
        assert_eq!(only_mac.mac_mobility(), None);
        let with_ip = type2_attrs(&[rt], Some((&[l3rt], mac)), vtep, 3, false);
        assert_eq!(with_ip.router_mac(), Some(mac));
        assert_eq!(with_ip.route_targets().count(), 2);
        assert_eq!(with_ip.mac_mobility(), Some((false, 3)));
        let t3 = type3_attrs(&[rt], 200, vtep);
        assert_eq!(
            t3.pmsi(),
            Some(&PmsiTunnel::ingress_replication(vtep, Label::from_vni(200)))
        );
    }
}
