//! The RIB's view of a route's path attributes: one value per distinct attribute set,
//! interned (see [`crate::intern`]) so that routes sharing attributes share one allocation.
//!
//! Every value in it is the wire codec's type (`perouter_bgp::wire`): ORIGIN, AS_PATH,
//! communities, aggregator and whatever attribute the RIB does not interpret, kept as the
//! wire's [`PathAttribute`]. What differs from the wire's [`perouter_bgp::wire::PathAttributes`]
//! is the shape:
//!
//! - MP_REACH_NLRI / MP_UNREACH_NLRI are stripped (they carry the NLRI, which would make
//!   every UPDATE's set unique) and the next hop is a plain field, so a million routes
//!   announced in a thousand UPDATEs with the same attributes collapse into one [`PathAttrs`];
//! - the attributes a fabric route seldom carries (AGGREGATOR, large communities, route
//!   reflection, PMSI, unknown ones) live in one optional box ([`RareAttrs`]), which keeps
//!   the common set small when there are many sets (about 2.6 routes per set in practice).
//!
//! Conversion from and to UPDATEs is in [`crate::wire`].

use std::net::{IpAddr, Ipv4Addr};

use perouter_bgp::wire::{
    Aggregator, AsPath, AsSegmentKind, Community, ExtendedCommunity, LargeCommunity, Origin,
    PathAttribute,
};
use perouter_evpn::{EvpnExtCommunity, MacAddress, PmsiTunnel, RouteTarget, TUNNEL_TYPE_VXLAN};

/// Attributes most routes do not carry, boxed together so that [`PathAttrs`] stays small.
/// An all-default value is never stored: [`PathAttrs::normalized`] turns it into `None`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct RareAttrs {
    /// ATOMIC_AGGREGATE present (RFC 4271 §5.1.6).
    pub atomic_aggregate: bool,
    /// AGGREGATOR (RFC 4271 §5.1.7), with the 4-octet AS of AS4_AGGREGATOR already merged
    /// (RFC 6793 §4.2.3).
    pub aggregator: Option<Aggregator>,
    /// LARGE_COMMUNITY (RFC 8092).
    pub large_communities: Vec<LargeCommunity>,
    /// ORIGINATOR_ID (RFC 4456 §8).
    pub originator_id: Option<Ipv4Addr>,
    /// CLUSTER_LIST (RFC 4456 §8).
    pub cluster_list: Vec<Ipv4Addr>,
    /// PMSI_TUNNEL (RFC 6514 §5), carried by EVPN type-3 routes.
    pub pmsi: Option<PmsiTunnel>,
    /// Attributes the RIB does not interpret (unknown types, AIGP, OTC, IPv6 address-specific
    /// extended communities), as received; passed on per RFC 4271 §5 on export.
    pub other: Vec<PathAttribute>,
}

/// One distinct set of path attributes, as stored (interned) in the RIB.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PathAttrs {
    /// ORIGIN (RFC 4271 §5.1.1).
    pub origin: Origin,
    /// AS_PATH (RFC 4271 §5.1.2) with 4-octet ASNs (AS4_PATH merged, RFC 6793 §4.2.3).
    pub as_path: AsPath,
    /// NEXT_HOP or the MP_REACH_NLRI next hop (for EVPN routes, the VTEP; RFC 8365 §5.1.3).
    pub next_hop: Option<IpAddr>,
    /// MULTI_EXIT_DISC (RFC 4271 §5.1.4).
    pub med: Option<u32>,
    /// LOCAL_PREF (RFC 4271 §5.1.5), iBGP only.
    pub local_pref: Option<u32>,
    /// COMMUNITIES (RFC 1997), in received order.
    pub communities: Box<[Community]>,
    /// EXTENDED COMMUNITIES (RFC 4360), in received order.
    pub ext_communities: Box<[ExtendedCommunity]>,
    /// The seldom-present attributes; `None` when all are absent.
    pub rare: Option<Box<RareAttrs>>,
}

impl Default for PathAttrs {
    /// ORIGIN IGP, empty AS path, nothing else: a locally originated route.
    fn default() -> Self {
        Self {
            origin: Origin::Igp,
            as_path: AsPath::empty(),
            next_hop: None,
            med: None,
            local_pref: None,
            communities: Box::new([]),
            ext_communities: Box::new([]),
            rare: None,
        }
    }
}

static NO_RARE: RareAttrs = RareAttrs {
    atomic_aggregate: false,
    aggregator: None,
    large_communities: Vec::new(),
    originator_id: None,
    cluster_list: Vec::new(),
    pmsi: None,
    other: Vec::new(),
};

impl PathAttrs {
    /// Default LOCAL_PREF when none is present (the common default of FRR, BIRD and GoBGP).
    pub const DEFAULT_LOCAL_PREF: u32 = 100;

    /// LOCAL_PREF, or the default of 100 when absent.
    pub fn effective_local_pref(&self) -> u32 {
        self.local_pref.unwrap_or(Self::DEFAULT_LOCAL_PREF)
    }

    /// The rare attributes (all absent when there is no box).
    pub fn rare(&self) -> &RareAttrs {
        self.rare.as_deref().unwrap_or(&NO_RARE)
    }

    /// The rare attributes for changing, boxing them first if needed. Call
    /// [`PathAttrs::normalized`] before interning.
    pub fn rare_mut(&mut self) -> &mut RareAttrs {
        self.rare.get_or_insert_with(Box::default)
    }

    /// The same set with an all-absent [`RareAttrs`] box dropped, so that equal sets compare
    /// (and intern) equal.
    pub fn normalized(mut self) -> Self {
        if self.rare.as_deref() == Some(&NO_RARE) {
            self.rare = None;
        }
        self
    }

    /// ORIGINATOR_ID.
    pub fn originator_id(&self) -> Option<Ipv4Addr> {
        self.rare().originator_id
    }

    /// CLUSTER_LIST (empty when absent).
    pub fn cluster_list(&self) -> &[Ipv4Addr] {
        &self.rare().cluster_list
    }

    /// PMSI_TUNNEL.
    pub fn pmsi(&self) -> Option<&PmsiTunnel> {
        self.rare().pmsi.as_ref()
    }

    /// LARGE_COMMUNITY (empty when absent).
    pub fn large_communities(&self) -> &[LargeCommunity] {
        &self.rare().large_communities
    }

    /// The route targets among the extended communities (RFC 4360 §4).
    pub fn route_targets(&self) -> impl Iterator<Item = RouteTarget> + '_ {
        self.ext_communities.iter().filter_map(|c| c.route_target())
    }

    /// The typed EVPN extended communities (RFC 7432 §7.5-7.8, RFC 9135 §8.1, RFC 9012 §4.1).
    pub fn evpn_communities(&self) -> impl Iterator<Item = EvpnExtCommunity> + '_ {
        self.ext_communities.iter().filter_map(|c| c.evpn())
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
    pub fn is_evpn_translation_community(c: &ExtendedCommunity) -> bool {
        c.route_target().is_some()
            || matches!(
                c.evpn(),
                Some(
                    EvpnExtCommunity::Encapsulation { .. }
                        | EvpnExtCommunity::RouterMac(_)
                        | EvpnExtCommunity::MacMobility { .. }
                        | EvpnExtCommunity::DefaultGateway
                )
            )
    }
}

/// The neighbouring AS for MED comparison (RFC 4271 §9.1.2.2 c): the first AS of the first
/// AS_SEQUENCE, skipping confederation segments (RFC 5065 §5.3); `None` for an empty path (a
/// route from our own AS) or one that starts with a set.
pub fn neighbor_as(path: &AsPath) -> Option<u32> {
    for seg in &path.segments {
        match seg.kind {
            AsSegmentKind::Sequence => return seg.asns.first().copied(),
            AsSegmentKind::ConfedSequence | AsSegmentKind::ConfedSet => continue,
            AsSegmentKind::Set => return None,
        }
    }
    None
}

/// How many times `asn` occurs in the path (loop detection, RFC 4271 §9.1.2; `allowas-in`
/// tolerates a configured number of occurrences).
pub fn occurrences(path: &AsPath, asn: u32) -> usize {
    path.segments
        .iter()
        .map(|s| s.asns.iter().filter(|&&x| x == asn).count())
        .sum()
}

/// The path with `asn` prepended, as a speaker does when advertising to an external peer
/// (RFC 4271 §5.1.2 b).
pub fn prepended(path: &AsPath, asn: u32) -> AsPath {
    let mut p = path.clone();
    p.prepend(asn);
    p
}

/// Extended community constructors used when originating routes.
pub mod ext {
    use super::*;

    /// BGP Encapsulation extended community, tunnel type VXLAN (RFC 9012 §4.1, type 8).
    pub fn encapsulation_vxlan() -> ExtendedCommunity {
        EvpnExtCommunity::Encapsulation {
            tunnel_type: TUNNEL_TYPE_VXLAN,
        }
        .into()
    }

    /// EVPN Router's MAC extended community (RFC 9135 §8.1).
    pub fn router_mac(mac: MacAddress) -> ExtendedCommunity {
        EvpnExtCommunity::RouterMac(mac).into()
    }

    /// MAC Mobility extended community (RFC 7432 §7.7).
    pub fn mac_mobility(sticky: bool, sequence: u32) -> ExtendedCommunity {
        EvpnExtCommunity::MacMobility { sticky, sequence }.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perouter_bgp::wire::AsSegment;

    #[test]
    fn neighbor_as_skips_confederation_segments_and_counts_occurrences() {
        let p = AsPath {
            segments: vec![
                AsSegment {
                    kind: AsSegmentKind::ConfedSequence,
                    asns: vec![1, 2],
                },
                AsSegment {
                    kind: AsSegmentKind::Sequence,
                    asns: vec![10, 20, 10],
                },
                AsSegment {
                    kind: AsSegmentKind::Set,
                    asns: vec![40, 50, 60],
                },
            ],
        };
        assert_eq!(p.length(), 4);
        assert_eq!(neighbor_as(&p), Some(10));
        assert_eq!(occurrences(&p, 10), 2);
        assert_eq!(neighbor_as(&AsPath::empty()), None);
        let set_first = AsPath {
            segments: vec![AsSegment {
                kind: AsSegmentKind::Set,
                asns: vec![7],
            }],
        };
        assert_eq!(neighbor_as(&set_first), None);
        assert_eq!(
            prepended(&AsPath::sequence([2, 3]), 1),
            AsPath::sequence([1, 2, 3])
        );
    }

    #[test]
    fn typed_ext_community_views() {
        let rt = perouter_evpn::derive::frr_auto_route_target(64512, 100);
        let a = PathAttrs {
            ext_communities: Box::new([
                ext::encapsulation_vxlan(),
                rt.into(),
                ext::router_mac(MacAddress([0xaa, 0xbb, 0xcc, 0, 0, 1])),
                ext::mac_mobility(true, 7),
                ExtendedCommunity([0x00, 0x02, 0xe9, 0x01, 0, 0, 0, 0x0a]),
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

    #[test]
    fn empty_rare_box_normalizes_away() {
        let mut a = PathAttrs::default();
        a.rare_mut();
        assert_ne!(a, PathAttrs::default());
        assert_eq!(a.clone().normalized(), PathAttrs::default());
        a.rare_mut().originator_id = Some(Ipv4Addr::new(1, 2, 3, 4));
        assert_eq!(
            a.clone().normalized().originator_id(),
            Some(Ipv4Addr::new(1, 2, 3, 4))
        );
    }

    #[test]
    fn common_set_stays_small() {
        // Many distinct sets at 1M routes (2.6 routes per set): keep the common part small.
        assert!(std::mem::size_of::<PathAttrs>() <= 112);
    }
}
