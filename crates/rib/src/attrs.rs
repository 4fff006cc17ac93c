//! The RIB's view of a route's path attributes: one value per distinct attribute set,
//! interned (see [`crate::intern`]) so that routes sharing attributes share one allocation.
//!
//! This is deliberately *not* the wire's attribute list: MP_REACH_NLRI / MP_UNREACH_NLRI are
//! stripped (they carry the NLRI, which would make every UPDATE's set unique) and the next hop
//! is kept as a plain field, so a million routes announced in a thousand UPDATEs with the same
//! attributes collapse into one [`PathAttrs`].

use std::net::{IpAddr, Ipv4Addr};

use perouter_evpn::{EvpnExtCommunity, MacAddress, PmsiTunnel, RouteTarget, TUNNEL_TYPE_VXLAN};

/// ORIGIN (RFC 4271 §5.1.1). Lower is preferred in the decision process (§9.1.2.2 c).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Origin {
    /// Learned from an interior protocol or a `network` statement.
    #[default]
    Igp = 0,
    /// Learned via EGP.
    Egp = 1,
    /// Learned some other way (redistribution).
    Incomplete = 2,
}

/// One AS_PATH segment (RFC 4271 §4.3, RFC 5065 §3 for the confederation kinds).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AsSegment {
    /// AS_SEQUENCE: ordered ASes, each counts 1 towards the path length.
    Sequence(Box<[u32]>),
    /// AS_SET: unordered ASes from aggregation; the whole set counts 1.
    Set(Box<[u32]>),
    /// AS_CONFED_SEQUENCE: does not count (RFC 5065 §5.3).
    ConfedSequence(Box<[u32]>),
    /// AS_CONFED_SET: does not count (RFC 5065 §5.3).
    ConfedSet(Box<[u32]>),
}

/// AS_PATH (RFC 4271 §5.1.2) with 4-octet ASNs (RFC 6793).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct AsPath {
    /// Segments in wire order (first segment is nearest to us).
    pub segments: Box<[AsSegment]>,
}

impl AsPath {
    /// The empty path of a locally originated route.
    pub fn empty() -> Self {
        Self::default()
    }

    /// A path made of one AS_SEQUENCE.
    pub fn sequence(asns: &[u32]) -> Self {
        if asns.is_empty() {
            return Self::empty();
        }
        Self {
            segments: Box::new([AsSegment::Sequence(asns.into())]),
        }
    }

    /// Path length as the decision process counts it (RFC 4271 §9.1.2.2 a): each AS in an
    /// AS_SEQUENCE counts 1, an AS_SET counts 1 in total, confederation segments count 0.
    pub fn length(&self) -> u32 {
        self.segments
            .iter()
            .map(|s| match s {
                AsSegment::Sequence(a) => u32::try_from(a.len()).unwrap_or(u32::MAX),
                AsSegment::Set(_) => 1,
                AsSegment::ConfedSequence(_) | AsSegment::ConfedSet(_) => 0,
            })
            .fold(0u32, u32::saturating_add)
    }

    /// The neighbouring AS for MED comparison (RFC 4271 §9.1.2.2 c): the first AS of the first
    /// AS_SEQUENCE; `None` for an empty path (a route from our own AS) or one that starts with a set.
    pub fn neighbor_as(&self) -> Option<u32> {
        for seg in self.segments.iter() {
            match seg {
                AsSegment::Sequence(a) => return a.first().copied(),
                AsSegment::ConfedSequence(_) | AsSegment::ConfedSet(_) => continue,
                AsSegment::Set(_) => return None,
            }
        }
        None
    }

    /// How many times `asn` occurs in the path (loop detection, RFC 4271 §9.1.2; `allowas-in`
    /// tolerates a configured number of occurrences).
    pub fn count(&self, asn: u32) -> usize {
        self.segments
            .iter()
            .map(|s| match s {
                AsSegment::Sequence(a)
                | AsSegment::Set(a)
                | AsSegment::ConfedSequence(a)
                | AsSegment::ConfedSet(a) => a.iter().filter(|&&x| x == asn).count(),
            })
            .sum()
    }

    /// The path with `asn` prepended, as a speaker does when advertising to an external peer
    /// (RFC 4271 §5.1.2 b). Merges into a leading AS_SEQUENCE unless it is full (255 ASes).
    pub fn prepend(&self, asn: u32) -> Self {
        let mut segs: Vec<AsSegment> = Vec::with_capacity(self.segments.len() + 1);
        match self.segments.first() {
            Some(AsSegment::Sequence(a)) if a.len() < 255 => {
                let mut v = Vec::with_capacity(a.len() + 1);
                v.push(asn);
                v.extend_from_slice(a);
                segs.push(AsSegment::Sequence(v.into()));
                segs.extend(self.segments.iter().skip(1).cloned());
            }
            _ => {
                segs.push(AsSegment::Sequence(Box::new([asn])));
                segs.extend(self.segments.iter().cloned());
            }
        }
        Self {
            segments: segs.into(),
        }
    }
}

/// An attribute the RIB does not interpret, kept to be passed on when it is optional
/// transitive (RFC 4271 §5: set the Partial bit when passing on an unrecognised one).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RawAttribute {
    /// Attribute flags octet as received.
    pub flags: u8,
    /// Attribute type code.
    pub type_code: u8,
    /// Attribute value.
    pub value: Box<[u8]>,
}

impl RawAttribute {
    /// Optional bit (RFC 4271 §4.3).
    pub const OPTIONAL: u8 = 0x80;
    /// Transitive bit.
    pub const TRANSITIVE: u8 = 0x40;
    /// Partial bit.
    pub const PARTIAL: u8 = 0x20;

    /// Whether this attribute may be propagated to other peers (optional transitive).
    pub fn is_transitive(&self) -> bool {
        self.flags & Self::TRANSITIVE != 0
    }
}

/// One distinct set of path attributes, as stored (interned) in the RIB.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct PathAttrs {
    /// ORIGIN.
    pub origin: Origin,
    /// AS_PATH.
    pub as_path: AsPath,
    /// NEXT_HOP or the MP_REACH_NLRI next hop (for EVPN routes, the VTEP; RFC 8365 §5.1.3).
    pub next_hop: Option<IpAddr>,
    /// MULTI_EXIT_DISC (RFC 4271 §5.1.4).
    pub med: Option<u32>,
    /// LOCAL_PREF (RFC 4271 §5.1.5), iBGP only.
    pub local_pref: Option<u32>,
    /// ATOMIC_AGGREGATE present.
    pub atomic_aggregate: bool,
    /// AGGREGATOR (ASN, address).
    pub aggregator: Option<(u32, Ipv4Addr)>,
    /// COMMUNITIES (RFC 1997), in received order.
    pub communities: Box<[u32]>,
    /// EXTENDED COMMUNITIES (RFC 4360), 8 octets each, in received order.
    pub ext_communities: Box<[[u8; 8]]>,
    /// LARGE COMMUNITIES (RFC 8092).
    pub large_communities: Box<[[u32; 3]]>,
    /// ORIGINATOR_ID (RFC 4456 §8).
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST (RFC 4456 §8).
    pub cluster_list: Box<[Ipv4Addr]>,
    /// PMSI_TUNNEL (RFC 6514 §5), carried by EVPN type-3 routes.
    pub pmsi: Option<PmsiTunnel>,
    /// Attributes the RIB does not interpret.
    pub unknown: Box<[RawAttribute]>,
}

impl PathAttrs {
    /// Default LOCAL_PREF when none is present (the common default of FRR, BIRD and GoBGP).
    pub const DEFAULT_LOCAL_PREF: u32 = 100;

    /// LOCAL_PREF, or the default of 100 when absent.
    pub fn effective_local_pref(&self) -> u32 {
        self.local_pref.unwrap_or(Self::DEFAULT_LOCAL_PREF)
    }

    /// The route targets among the extended communities (RFC 4360 §4).
    pub fn route_targets(&self) -> impl Iterator<Item = RouteTarget> + '_ {
        self.ext_communities
            .iter()
            .filter_map(RouteTarget::from_ext_community)
    }

    /// The typed EVPN extended communities (RFC 7432 §7.5-7.8, RFC 9135 §8.1, RFC 9012 §4.1).
    pub fn evpn_communities(&self) -> impl Iterator<Item = EvpnExtCommunity> + '_ {
        self.ext_communities
            .iter()
            .filter_map(EvpnExtCommunity::from_bytes)
    }

    /// The EVPN Router's MAC extended community (RFC 9135 §8.1).
    pub fn router_mac(&self) -> Option<MacAddress> {
        self.evpn_communities().find_map(|c| match c {
            EvpnExtCommunity::RouterMac(m) => Some(m),
            _ => None,
        })
    }

    /// The MAC Mobility extended community (RFC 7432 §7.7) as `(sticky, sequence)`.
    pub fn mac_mobility(&self) -> Option<(bool, u32)> {
        self.evpn_communities().find_map(|c| match c {
            EvpnExtCommunity::MacMobility { sticky, sequence } => Some((sticky, sequence)),
            _ => None,
        })
    }

    /// Whether the Encapsulation extended community says VXLAN (RFC 9012 §4.1, tunnel type 8),
    /// which is what makes the label fields VNIs (RFC 8365 §5.1.3; landscape pitfall 1).
    pub fn is_vxlan(&self) -> bool {
        self.evpn_communities().any(|c| {
            matches!(c, EvpnExtCommunity::Encapsulation { tunnel_type } if tunnel_type == TUNNEL_TYPE_VXLAN)
        })
    }

    /// Whether an extended community is one of those the EVPN translation adds (route targets,
    /// encapsulation, router MAC, MAC mobility): stripped when a route leaves EVPN for a host.
    pub fn is_evpn_translation_community(c: &[u8; 8]) -> bool {
        RouteTarget::from_ext_community(c).is_some()
            || matches!(
                EvpnExtCommunity::from_bytes(c),
                Some(
                    EvpnExtCommunity::Encapsulation { .. }
                        | EvpnExtCommunity::RouterMac(_)
                        | EvpnExtCommunity::MacMobility { .. }
                        | EvpnExtCommunity::DefaultGateway
                )
            )
    }
}

/// Extended community constructors used when originating routes.
pub mod ext {
    use super::*;

    /// BGP Encapsulation extended community, tunnel type VXLAN (RFC 9012 §4.1, type 8).
    pub fn encapsulation_vxlan() -> [u8; 8] {
        EvpnExtCommunity::Encapsulation {
            tunnel_type: TUNNEL_TYPE_VXLAN,
        }
        .to_bytes()
    }

    /// EVPN Router's MAC extended community (RFC 9135 §8.1).
    pub fn router_mac(mac: MacAddress) -> [u8; 8] {
        EvpnExtCommunity::RouterMac(mac).to_bytes()
    }

    /// MAC Mobility extended community (RFC 7432 §7.7).
    pub fn mac_mobility(sticky: bool, sequence: u32) -> [u8; 8] {
        EvpnExtCommunity::MacMobility { sticky, sequence }.to_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_path_length_counts_sets_once_and_confeds_zero() {
        let p = AsPath {
            segments: Box::new([
                AsSegment::ConfedSequence(Box::new([1, 2])),
                AsSegment::Sequence(Box::new([10, 20, 30])),
                AsSegment::Set(Box::new([40, 50, 60])),
            ]),
        };
        assert_eq!(p.length(), 4);
        assert_eq!(p.neighbor_as(), Some(10));
        assert_eq!(AsPath::empty().length(), 0);
        assert_eq!(AsPath::empty().neighbor_as(), None);
    }

    #[test]
    fn prepend_merges_into_leading_sequence_and_starts_new_when_full() {
        let p = AsPath::sequence(&[2, 3]).prepend(1);
        assert_eq!(p, AsPath::sequence(&[1, 2, 3]));
        let full: Vec<u32> = (0..255).collect();
        let p = AsPath::sequence(&full).prepend(7);
        assert_eq!(p.segments.len(), 2);
        assert_eq!(p.length(), 256);
        let p = AsPath::empty().prepend(9);
        assert_eq!(p, AsPath::sequence(&[9]));
        assert_eq!(AsPath::sequence(&[9, 8, 9]).count(9), 2);
    }

    #[test]
    fn typed_ext_community_views() {
        let rt = perouter_evpn::derive::frr_auto_route_target(64512, 100);
        let a = PathAttrs {
            ext_communities: Box::new([
                ext::encapsulation_vxlan(),
                rt.to_ext_community(),
                ext::router_mac(MacAddress([0xaa, 0xbb, 0xcc, 0, 0, 1])),
                ext::mac_mobility(true, 7),
                [0x00, 0x02, 0xe9, 0x01, 0, 0, 0, 0x0a],
            ]),
            ..Default::default()
        };
        assert_eq!(a.route_targets().count(), 2);
        assert!(a.is_vxlan());
        assert_eq!(a.route_targets().next(), Some(rt));
        assert_eq!(
            a.router_mac(),
            Some(MacAddress([0xaa, 0xbb, 0xcc, 0, 0, 1]))
        );
        assert_eq!(a.mac_mobility(), Some((true, 7)));
        assert_eq!(a.effective_local_pref(), 100);
    }
}
