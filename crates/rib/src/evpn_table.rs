//! The global EVPN table (RFC 7432 §7: routes keyed by RD and the route type's key fields;
//! the ESI, labels and type-5 gateway are attributes, kept per path as [`EvpnData`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use perouter_evpn::{
    EthernetAdRoute, EthernetSegmentRoute, EvpnRoute, EvpnRouteKey, InclusiveMulticastRoute,
    IpPrefixRoute, Label, MacIpRoute,
};

use crate::intern::Interned;

/// The non-key NLRI fields of an EVPN route. Interned: the million type-5 routes of one VRF
/// share one value (ESI 0, no gateway, label = L3VNI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EvpnFields {
    /// ESI (types 1, 2 and 5).
    pub esi: perouter_evpn::Esi,
    /// Label 1 / the only label: the L2VNI of a type-2, the L3VNI of a type-5.
    pub label1: Label,
    /// Label 2 of a type-2: the L3VNI (RFC 9135 §5.1).
    pub label2: Option<Label>,
    /// Type-5 gateway IP (unspecified when none).
    pub gateway: Option<IpAddr>,
}

/// The handle stored in every EVPN path.
pub type EvpnData = Interned<EvpnFields>;

/// Splits a route into its key and its non-key fields.
pub fn split(route: &EvpnRoute) -> (EvpnRouteKey, EvpnFields) {
    let fields = match route {
        EvpnRoute::EthernetAd(r) => EvpnFields {
            esi: r.esi,
            label1: r.label,
            ..Default::default()
        },
        EvpnRoute::MacIp(r) => EvpnFields {
            esi: r.esi,
            label1: r.label1,
            label2: r.label2,
            gateway: None,
        },
        EvpnRoute::IpPrefix(r) => EvpnFields {
            esi: r.esi,
            label1: r.label,
            label2: None,
            gateway: Some(r.gateway()),
        },
        EvpnRoute::InclusiveMulticast(_)
        | EvpnRoute::EthernetSegment(_)
        | EvpnRoute::Unknown(_) => EvpnFields::default(),
    };
    (route.key(), fields)
}

/// Rebuilds the full route from its key and fields (the inverse of [`split`]; withdrawals
/// of a key whose fields are gone use the defaults, which receivers ignore).
pub fn join(key: &EvpnRouteKey, f: &EvpnFields) -> EvpnRoute {
    match key.clone() {
        EvpnRouteKey::EthernetAd {
            rd,
            esi,
            ethernet_tag,
        } => EvpnRoute::EthernetAd(EthernetAdRoute {
            rd,
            esi,
            ethernet_tag,
            label: f.label1,
        }),
        EvpnRouteKey::MacIp {
            rd,
            ethernet_tag,
            mac,
            ip,
        } => EvpnRoute::MacIp(MacIpRoute {
            rd,
            esi: f.esi,
            ethernet_tag,
            mac,
            ip,
            label1: f.label1,
            label2: f.label2,
        }),
        EvpnRouteKey::InclusiveMulticast {
            rd,
            ethernet_tag,
            originator,
        } => EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
            rd,
            ethernet_tag,
            originator,
        }),
        EvpnRouteKey::EthernetSegment {
            rd,
            esi,
            originator,
        } => EvpnRoute::EthernetSegment(EthernetSegmentRoute {
            rd,
            esi,
            originator,
        }),
        EvpnRouteKey::IpPrefix {
            rd,
            ethernet_tag,
            prefix,
        } => {
            let unspecified = match prefix {
                IpNet::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpNet::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            };
            let gw = f
                .gateway
                .filter(|g| g.is_ipv4() == prefix.addr().is_ipv4())
                .unwrap_or(unspecified);
            EvpnRoute::IpPrefix(
                IpPrefixRoute::new(rd, f.esi, ethernet_tag, prefix, gw, f.label1).unwrap_or_else(
                    |_| IpPrefixRoute::without_gateway(rd, f.esi, ethernet_tag, prefix, f.label1),
                ),
            )
        }
        EvpnRouteKey::Unknown(u) => EvpnRoute::Unknown(u),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perouter_evpn::{EthernetTag, MacAddress, RouteDistinguisher};

    #[test]
    fn split_then_join_gives_the_route_back() {
        let rd: RouteDistinguisher = "10.0.0.1:2".parse().unwrap();
        let routes = [
            EvpnRoute::IpPrefix(IpPrefixRoute::without_gateway(
                rd,
                Default::default(),
                EthernetTag(0),
                "10.1.0.0/16".parse().unwrap(),
                Label::from_vni(100),
            )),
            EvpnRoute::MacIp(MacIpRoute {
                rd,
                esi: Default::default(),
                ethernet_tag: EthernetTag(0),
                mac: MacAddress([2, 0, 0, 0, 0, 9]),
                ip: Some("10.1.0.9".parse().unwrap()),
                label1: Label::from_vni(200),
                label2: Some(Label::from_vni(100)),
            }),
            EvpnRoute::InclusiveMulticast(InclusiveMulticastRoute {
                rd,
                ethernet_tag: EthernetTag(0),
                originator: "192.0.2.1".parse().unwrap(),
            }),
        ];
        for r in routes {
            let (k, f) = split(&r);
            assert_eq!(join(&k, &f), r);
        }
    }
}
