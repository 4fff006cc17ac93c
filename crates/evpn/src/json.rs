//! serde form of [`EvpnRoute`]: the route type number, its name, FRR's text
//! form and the route's fields, e.g.
//! `{"route_type":5,"name":"ip_prefix","frr":"[5]:[0]:[24]:[10.10.10.0]","rd":"192.0.2.1:1",...}`.
//! Deserialization reads `name` and the fields; `route_type` and `frr` are
//! derived and ignored on input.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::route::{
    EthernetAdRoute, EthernetSegmentRoute, EvpnRoute, InclusiveMulticastRoute, IpPrefixRoute,
    MacIpRoute, UnknownRoute,
};

#[derive(Serialize)]
struct Tagged<'a, T> {
    #[serde(skip_serializing_if = "Option::is_none")]
    route_type: Option<u8>,
    name: &'static str,
    frr: String,
    #[serde(flatten)]
    route: &'a T,
}

impl Serialize for EvpnRoute {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let frr = self.to_string();
        let name = self.name();
        let route_type = Some(self.route_type());
        match self {
            EvpnRoute::EthernetAd(route) => Tagged {
                route_type,
                name,
                frr,
                route,
            }
            .serialize(serializer),
            EvpnRoute::MacIp(route) => Tagged {
                route_type,
                name,
                frr,
                route,
            }
            .serialize(serializer),
            EvpnRoute::InclusiveMulticast(route) => Tagged {
                route_type,
                name,
                frr,
                route,
            }
            .serialize(serializer),
            EvpnRoute::EthernetSegment(route) => Tagged {
                route_type,
                name,
                frr,
                route,
            }
            .serialize(serializer),
            EvpnRoute::IpPrefix(route) => Tagged {
                route_type,
                name,
                frr,
                route,
            }
            .serialize(serializer),
            // The unknown route carries its own route_type field.
            EvpnRoute::Unknown(route) => Tagged {
                route_type: None,
                name,
                frr,
                route,
            }
            .serialize(serializer),
        }
    }
}

#[derive(Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
enum Untagged {
    EthernetAd(EthernetAdRoute),
    MacIp(MacIpRoute),
    InclusiveMulticast(InclusiveMulticastRoute),
    EthernetSegment(EthernetSegmentRoute),
    IpPrefix(IpPrefixRoute),
    Unknown(UnknownRoute),
}

impl<'de> Deserialize<'de> for EvpnRoute {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Untagged::deserialize(deserializer)? {
            Untagged::EthernetAd(r) => EvpnRoute::EthernetAd(r),
            Untagged::MacIp(r) => EvpnRoute::MacIp(r),
            Untagged::InclusiveMulticast(r) => EvpnRoute::InclusiveMulticast(r),
            Untagged::EthernetSegment(r) => EvpnRoute::EthernetSegment(r),
            Untagged::IpPrefix(r) => EvpnRoute::IpPrefix(r),
            Untagged::Unknown(r) => EvpnRoute::Unknown(r),
        })
    }
}
