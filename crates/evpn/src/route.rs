//! EVPN route types 1–5 as typed values (RFC 7432 §7.1–7.4, RFC 9136 §3.1)
//! and their BGP route keys.

use std::net::IpAddr;

use bytes::Bytes;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::esi::Esi;
use crate::label::{EthernetTag, Label};
use crate::mac::MacAddress;
use crate::rd::RouteDistinguisher;

/// EVPN route type 1, Ethernet Auto-Discovery (RFC 7432 §7.1).
///
/// Per-ES A-D routes carry [`EthernetTag::MAX`] and label 0; per-EVI A-D
/// routes carry the service's Ethernet tag and label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct EthernetAdRoute {
    /// Route Distinguisher.
    pub rd: RouteDistinguisher,
    /// Ethernet Segment Identifier (part of the key).
    pub esi: Esi,
    /// Ethernet Tag ID (part of the key).
    pub ethernet_tag: EthernetTag,
    /// MPLS label / VNI (attribute, not key).
    pub label: Label,
}

/// EVPN route type 2, MAC/IP Advertisement (RFC 7432 §7.2).
///
/// The BGP key is RD, Ethernet tag, MAC and IP; the ESI and the labels are
/// attributes (landscape pitfall 2). `label2` carries the L3VNI of symmetric
/// IRB (RFC 9135 §5.1) and should only accompany routes with an IP
/// (pitfall 3); it is nevertheless accepted on MAC-only routes so that what a
/// peer sent is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MacIpRoute {
    /// Route Distinguisher.
    pub rd: RouteDistinguisher,
    /// Ethernet Segment Identifier (attribute, not key).
    pub esi: Esi,
    /// Ethernet Tag ID.
    pub ethernet_tag: EthernetTag,
    /// The advertised MAC address (MAC address length is always 48).
    pub mac: MacAddress,
    /// The optional IPv4/IPv6 address bound to the MAC (IP address length 0, 32 or 128).
    pub ip: Option<IpAddr>,
    /// MPLS Label1 / L2VNI.
    pub label1: Label,
    /// Optional MPLS Label2 / L3VNI.
    pub label2: Option<Label>,
}

/// EVPN route type 3, Inclusive Multicast Ethernet Tag (RFC 7432 §7.3): the
/// originator's BUM flooding membership (with a PMSI Tunnel attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct InclusiveMulticastRoute {
    /// Route Distinguisher.
    pub rd: RouteDistinguisher,
    /// Ethernet Tag ID.
    pub ethernet_tag: EthernetTag,
    /// Originating router's IP address (usually the VTEP).
    pub originator: IpAddr,
}

/// EVPN route type 4, Ethernet Segment (RFC 7432 §7.4): DF election among
/// the PEs attached to one segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct EthernetSegmentRoute {
    /// Route Distinguisher.
    pub rd: RouteDistinguisher,
    /// Ethernet Segment Identifier.
    pub esi: Esi,
    /// Originating router's IP address.
    pub originator: IpAddr,
}

/// EVPN route type 5, IP Prefix (RFC 9136 §3.1).
///
/// The prefix and the gateway address are always of the same family (the
/// NLRI is 34 octets for IPv4, 58 for IPv6); the fields are private so that
/// a mixed-family route cannot be built. [`IpPrefixRoute::new`] checks it.
/// The prefix is kept exactly as received (host bits included) so that
/// emission is byte-identical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "IpPrefixRouteFields", into = "IpPrefixRouteFields")]
pub struct IpPrefixRoute {
    /// Route Distinguisher.
    pub rd: RouteDistinguisher,
    /// Ethernet Segment Identifier (attribute, not key; RFC 9136 §3.1).
    pub esi: Esi,
    /// Ethernet Tag ID.
    pub ethernet_tag: EthernetTag,
    prefix: IpNet,
    gateway: IpAddr,
    /// MPLS label / L3VNI (attribute, not key).
    pub label: Label,
}

/// A type-5 route was asked to mix an IPv4 prefix with an IPv6 gateway or the
/// reverse, which its wire format cannot express (RFC 9136 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("type-5 prefix {prefix} and gateway {gateway} must be of the same address family")]
pub struct MixedFamilyError {
    /// The prefix given.
    pub prefix: IpNet,
    /// The gateway given.
    pub gateway: IpAddr,
}

impl IpPrefixRoute {
    /// Builds a type-5 route; fails if `prefix` and `gateway` differ in family.
    pub fn new(
        rd: RouteDistinguisher,
        esi: Esi,
        ethernet_tag: EthernetTag,
        prefix: IpNet,
        gateway: IpAddr,
        label: Label,
    ) -> Result<Self, MixedFamilyError> {
        if prefix.addr().is_ipv4() != gateway.is_ipv4() {
            return Err(MixedFamilyError { prefix, gateway });
        }
        Ok(Self {
            rd,
            esi,
            ethernet_tag,
            prefix,
            gateway,
            label,
        })
    }

    /// Same as [`IpPrefixRoute::new`] with no overlay gateway (0.0.0.0 or ::),
    /// the form FRR and GoBGP send for symmetric IRB.
    pub fn without_gateway(
        rd: RouteDistinguisher,
        esi: Esi,
        ethernet_tag: EthernetTag,
        prefix: IpNet,
        label: Label,
    ) -> Self {
        let gateway = match prefix {
            IpNet::V4(_) => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            IpNet::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        };
        Self {
            rd,
            esi,
            ethernet_tag,
            prefix,
            gateway,
            label,
        }
    }

    /// Internal constructor for the parser, which guarantees equal families.
    pub(crate) const fn from_parts(
        rd: RouteDistinguisher,
        esi: Esi,
        ethernet_tag: EthernetTag,
        prefix: IpNet,
        gateway: IpAddr,
        label: Label,
    ) -> Self {
        Self {
            rd,
            esi,
            ethernet_tag,
            prefix,
            gateway,
            label,
        }
    }

    /// The advertised IP prefix (key).
    pub const fn prefix(&self) -> IpNet {
        self.prefix
    }

    /// The overlay gateway IP address (0.0.0.0 / :: when none).
    pub const fn gateway(&self) -> IpAddr {
        self.gateway
    }
}

/// Serde shape of [`IpPrefixRoute`], checked on the way in.
#[derive(Serialize, Deserialize)]
struct IpPrefixRouteFields {
    rd: RouteDistinguisher,
    esi: Esi,
    ethernet_tag: EthernetTag,
    prefix: IpNet,
    gateway: IpAddr,
    label: Label,
}

impl TryFrom<IpPrefixRouteFields> for IpPrefixRoute {
    type Error = MixedFamilyError;
    fn try_from(f: IpPrefixRouteFields) -> Result<Self, Self::Error> {
        IpPrefixRoute::new(f.rd, f.esi, f.ethernet_tag, f.prefix, f.gateway, f.label)
    }
}

impl From<IpPrefixRoute> for IpPrefixRouteFields {
    fn from(r: IpPrefixRoute) -> Self {
        IpPrefixRouteFields {
            rd: r.rd,
            esi: r.esi,
            ethernet_tag: r.ethernet_tag,
            prefix: r.prefix,
            gateway: r.gateway,
            label: r.label,
        }
    }
}

/// An EVPN route of a type this crate does not decode (0 or 6 and above, e.g.
/// the multicast types of RFC 9251), kept raw so it can be passed on and
/// re-emitted unchanged.
///
/// Invariant (checked by [`UnknownRoute::new`]): the type is not 1–5 and the
/// value fits the 1-octet length field.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnknownRoute {
    route_type: u8,
    value: Bytes,
}

impl UnknownRoute {
    /// Wraps a raw route; `None` if `route_type` is 1–5 (those have a typed
    /// form) or `value` is longer than 255 octets.
    pub fn new(route_type: u8, value: Bytes) -> Option<Self> {
        if (1..=5).contains(&route_type) || value.len() > usize::from(u8::MAX) {
            return None;
        }
        Some(Self { route_type, value })
    }

    /// The route type octet.
    pub const fn route_type(&self) -> u8 {
        self.route_type
    }

    /// The route-type-specific value, without the type and length octets.
    pub fn value(&self) -> &Bytes {
        &self.value
    }
}

#[derive(Serialize, Deserialize)]
struct UnknownRouteFields {
    route_type: u8,
    value: String,
}

impl Serialize for UnknownRoute {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        UnknownRouteFields {
            route_type: self.route_type,
            value: hex::encode(&self.value),
        }
        .serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for UnknownRoute {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let f = UnknownRouteFields::deserialize(deserializer)?;
        let value = hex::decode(&f.value).map_err(D::Error::custom)?;
        UnknownRoute::new(f.route_type, Bytes::from(value)).ok_or_else(|| {
            D::Error::custom(
                "unknown EVPN route must have a type other than 1-5 and at most 255 octets",
            )
        })
    }
}

/// One EVPN NLRI (RFC 7432 §7, RFC 9136 §3): a typed route of type 1–5, or
/// an unknown type kept raw.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EvpnRoute {
    /// Type 1: Ethernet Auto-Discovery (RFC 7432 §7.1).
    EthernetAd(EthernetAdRoute),
    /// Type 2: MAC/IP Advertisement (RFC 7432 §7.2).
    MacIp(MacIpRoute),
    /// Type 3: Inclusive Multicast Ethernet Tag (RFC 7432 §7.3).
    InclusiveMulticast(InclusiveMulticastRoute),
    /// Type 4: Ethernet Segment (RFC 7432 §7.4).
    EthernetSegment(EthernetSegmentRoute),
    /// Type 5: IP Prefix (RFC 9136 §3.1).
    IpPrefix(IpPrefixRoute),
    /// Any other route type, kept raw.
    Unknown(UnknownRoute),
}

/// The BGP route key of an EVPN route: the NLRI fields that identify it, so
/// that an UPDATE or a withdrawal with different attribute fields (ESI,
/// labels, gateway) replaces the same route.
///
/// - type 1: RD, ESI, Ethernet tag (RFC 7432 §7.1);
/// - type 2: RD, Ethernet tag, MAC, IP (RFC 7432 §7.2; the ESI and labels are not key);
/// - type 3: RD, Ethernet tag, originator IP (RFC 7432 §7.3);
/// - type 4: RD, ESI, originator IP (RFC 7432 §7.4);
/// - type 5: RD, Ethernet tag, IP prefix (RFC 9136 §3.1; ESI, gateway and label are not key);
/// - unknown types: the whole value.
///
/// The RD is part of every key: routes from different RDs are different
/// routes in the global EVPN table (RFC 4364 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum EvpnRouteKey {
    /// Key of a type-1 route.
    EthernetAd {
        /// Route Distinguisher.
        rd: RouteDistinguisher,
        /// Ethernet Segment Identifier.
        esi: Esi,
        /// Ethernet Tag ID.
        ethernet_tag: EthernetTag,
    },
    /// Key of a type-2 route.
    MacIp {
        /// Route Distinguisher.
        rd: RouteDistinguisher,
        /// Ethernet Tag ID.
        ethernet_tag: EthernetTag,
        /// MAC address.
        mac: MacAddress,
        /// IP address, if any.
        ip: Option<IpAddr>,
    },
    /// Key of a type-3 route.
    InclusiveMulticast {
        /// Route Distinguisher.
        rd: RouteDistinguisher,
        /// Ethernet Tag ID.
        ethernet_tag: EthernetTag,
        /// Originating router's IP address.
        originator: IpAddr,
    },
    /// Key of a type-4 route.
    EthernetSegment {
        /// Route Distinguisher.
        rd: RouteDistinguisher,
        /// Ethernet Segment Identifier.
        esi: Esi,
        /// Originating router's IP address.
        originator: IpAddr,
    },
    /// Key of a type-5 route.
    IpPrefix {
        /// Route Distinguisher.
        rd: RouteDistinguisher,
        /// Ethernet Tag ID.
        ethernet_tag: EthernetTag,
        /// The IP prefix.
        prefix: IpNet,
    },
    /// Key of an unknown route type: the whole route.
    Unknown(UnknownRoute),
}

impl EvpnRoute {
    /// The route type octet (RFC 7432 §7: 1–4; RFC 9136: 5).
    pub fn route_type(&self) -> u8 {
        match self {
            EvpnRoute::EthernetAd(_) => 1,
            EvpnRoute::MacIp(_) => 2,
            EvpnRoute::InclusiveMulticast(_) => 3,
            EvpnRoute::EthernetSegment(_) => 4,
            EvpnRoute::IpPrefix(_) => 5,
            EvpnRoute::Unknown(u) => u.route_type,
        }
    }

    /// The route type's name in snake case (`ip_prefix`, `mac_ip`, ...), as used in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            EvpnRoute::EthernetAd(_) => "ethernet_ad",
            EvpnRoute::MacIp(_) => "mac_ip",
            EvpnRoute::InclusiveMulticast(_) => "inclusive_multicast",
            EvpnRoute::EthernetSegment(_) => "ethernet_segment",
            EvpnRoute::IpPrefix(_) => "ip_prefix",
            EvpnRoute::Unknown(_) => "unknown",
        }
    }

    /// The Route Distinguisher. For an unknown type whose value starts with
    /// 8 octets (every EVPN route type defined so far does), those octets are
    /// read as the RD; a shorter value gives the all-zero type-0 RD.
    pub fn rd(&self) -> RouteDistinguisher {
        match self {
            EvpnRoute::EthernetAd(r) => r.rd,
            EvpnRoute::MacIp(r) => r.rd,
            EvpnRoute::InclusiveMulticast(r) => r.rd,
            EvpnRoute::EthernetSegment(r) => r.rd,
            EvpnRoute::IpPrefix(r) => r.rd,
            EvpnRoute::Unknown(u) => u
                .value
                .get(..8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(RouteDistinguisher::from_bytes)
                .unwrap_or_default(),
        }
    }

    /// The BGP route key (see [`EvpnRouteKey`]).
    pub fn key(&self) -> EvpnRouteKey {
        match self {
            EvpnRoute::EthernetAd(r) => EvpnRouteKey::EthernetAd {
                rd: r.rd,
                esi: r.esi,
                ethernet_tag: r.ethernet_tag,
            },
            EvpnRoute::MacIp(r) => EvpnRouteKey::MacIp {
                rd: r.rd,
                ethernet_tag: r.ethernet_tag,
                mac: r.mac,
                ip: r.ip,
            },
            EvpnRoute::InclusiveMulticast(r) => EvpnRouteKey::InclusiveMulticast {
                rd: r.rd,
                ethernet_tag: r.ethernet_tag,
                originator: r.originator,
            },
            EvpnRoute::EthernetSegment(r) => EvpnRouteKey::EthernetSegment {
                rd: r.rd,
                esi: r.esi,
                originator: r.originator,
            },
            EvpnRoute::IpPrefix(r) => EvpnRouteKey::IpPrefix {
                rd: r.rd,
                ethernet_tag: r.ethernet_tag,
                prefix: r.prefix,
            },
            EvpnRoute::Unknown(u) => EvpnRouteKey::Unknown(u.clone()),
        }
    }
}
