//! `arbitrary::Arbitrary` for the values whose invariants a derive cannot
//! keep: generated values are always VALID (they emit and parse back equal),
//! so fuzzers and property tests exercise real routes.

use std::net::IpAddr;

use arbitrary::{Arbitrary, Result, Unstructured};
use bytes::Bytes;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::esi::Esi;
use crate::label::{EthernetTag, Label};
use crate::pmsi::{PmsiTunnel, PmsiTunnelId, TUNNEL_TYPE_INGRESS_REPLICATION};
use crate::rd::RouteDistinguisher;
use crate::route::{EvpnRoute, IpPrefixRoute, UnknownRoute};

impl<'a> Arbitrary<'a> for RouteDistinguisher {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.int_in_range(0u8..=3)? {
            0 => RouteDistinguisher::As2 {
                asn: u.arbitrary()?,
                number: u.arbitrary()?,
            },
            1 => RouteDistinguisher::Ipv4 {
                addr: u.arbitrary()?,
                number: u.arbitrary()?,
            },
            2 => RouteDistinguisher::As4 {
                asn: u.arbitrary()?,
                number: u.arbitrary()?,
            },
            // Types 0-2 always decode to their typed variants.
            _ => RouteDistinguisher::Other {
                rd_type: u.int_in_range(3u16..=u16::MAX)?,
                value: u.arbitrary()?,
            },
        })
    }
}

impl<'a> Arbitrary<'a> for IpPrefixRoute {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let rd = u.arbitrary()?;
        let esi: Esi = u.arbitrary()?;
        let ethernet_tag: EthernetTag = u.arbitrary()?;
        let label: Label = u.arbitrary()?;
        let (prefix, gateway) = if u.arbitrary()? {
            let net = Ipv4Net::new(u.arbitrary()?, u.int_in_range(0..=32)?)
                .map_err(|_| arbitrary::Error::IncorrectFormat)?;
            (IpNet::V4(net), IpAddr::V4(u.arbitrary()?))
        } else {
            let net = Ipv6Net::new(u.arbitrary()?, u.int_in_range(0..=128)?)
                .map_err(|_| arbitrary::Error::IncorrectFormat)?;
            (IpNet::V6(net), IpAddr::V6(u.arbitrary()?))
        };
        Ok(IpPrefixRoute::from_parts(
            rd,
            esi,
            ethernet_tag,
            prefix,
            gateway,
            label,
        ))
    }
}

impl<'a> Arbitrary<'a> for UnknownRoute {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let route_type = match u.int_in_range(0u8..=250)? {
            0 => 0,
            t => t + 5,
        };
        let len = u.int_in_range(0usize..=255)?;
        let value = Bytes::copy_from_slice(u.bytes(len.min(u.len()))?);
        UnknownRoute::new(route_type, value).ok_or(arbitrary::Error::IncorrectFormat)
    }
}

impl<'a> Arbitrary<'a> for EvpnRoute {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(match u.int_in_range(1u8..=6)? {
            1 => EvpnRoute::EthernetAd(u.arbitrary()?),
            2 => EvpnRoute::MacIp(u.arbitrary()?),
            3 => EvpnRoute::InclusiveMulticast(u.arbitrary()?),
            4 => EvpnRoute::EthernetSegment(u.arbitrary()?),
            5 => EvpnRoute::IpPrefix(u.arbitrary()?),
            _ => EvpnRoute::Unknown(u.arbitrary()?),
        })
    }
}

impl<'a> Arbitrary<'a> for PmsiTunnel {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let flags = u.arbitrary()?;
        let label = u.arbitrary()?;
        if u.arbitrary()? {
            Ok(PmsiTunnel {
                flags,
                tunnel_type: TUNNEL_TYPE_INGRESS_REPLICATION,
                label,
                tunnel_id: PmsiTunnelId::IngressReplication(u.arbitrary()?),
            })
        } else {
            let tunnel_type = match u.arbitrary::<u8>()? {
                TUNNEL_TYPE_INGRESS_REPLICATION => 0,
                t => t,
            };
            let len = u.int_in_range(0usize..=64)?;
            let id = Bytes::copy_from_slice(u.bytes(len.min(u.len()))?);
            Ok(PmsiTunnel {
                flags,
                tunnel_type,
                label,
                tunnel_id: PmsiTunnelId::Other(id),
            })
        }
    }
}

impl<'a> Arbitrary<'a> for crate::ext_community::EvpnExtCommunity {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        use crate::ext_community::EvpnExtCommunity as C;
        Ok(match u.int_in_range(0u8..=7)? {
            0 => C::Encapsulation {
                tunnel_type: u.arbitrary()?,
            },
            1 => C::RouterMac(u.arbitrary()?),
            2 => C::MacMobility {
                sticky: u.arbitrary()?,
                sequence: u.arbitrary()?,
            },
            3 => C::EsiLabel {
                single_active: u.arbitrary()?,
                label: u.arbitrary()?,
            },
            4 => C::EsImportRouteTarget(u.arbitrary()?),
            5 => C::DefaultGateway,
            // The algorithm field has 5 bits on the wire.
            6 => C::DfElection {
                algorithm: u.int_in_range(0..=31)?,
                capabilities: u.arbitrary()?,
                reserved: u.arbitrary()?,
                preference: u.arbitrary()?,
            },
            _ => C::NdFlags {
                flags: u.arbitrary()?,
            },
        })
    }
}
