//! Adj-RIB-Out: what each peer is sent, computed when the peer's session pulls.
//!
//! Each table keeps, per key, the set of peers that hold an advertisement from us and the set
//! of peers that have the key queued; a peer's queue holds 4-byte slot numbers, each at most
//! once. So queues coalesce by construction (a prefix that changed ten times is sent once,
//! with its state at pull time), a slow peer only grows its own queue, and no per-peer copy of
//! the routes exists.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::{Ipv4Net, Ipv6Net};
use perouter_evpn::{EvpnRoute, EvpnRouteKey};

use perouter_bgp::wire::{ExtendedCommunity, PathAttribute};

use crate::attrs::PathAttrs;
use crate::evpn_table::{join, EvpnData, EvpnFields};
use crate::intern::Interner;
use crate::peer::{Family, PeerConfig};
use crate::table::{Attrs, Path};

/// One NLRI as the RIB takes and gives it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Nlri {
    /// An IPv4 unicast prefix.
    V4(Ipv4Net),
    /// An IPv6 unicast prefix.
    V6(Ipv6Net),
    /// An EVPN route (RFC 7432; key fields plus labels, ESI, gateway).
    Evpn(EvpnRoute),
}

impl Nlri {
    /// The family this NLRI belongs to.
    pub fn family(&self) -> Family {
        match self {
            Nlri::V4(_) => Family::Ipv4Unicast,
            Nlri::V6(_) => Family::Ipv6Unicast,
            Nlri::Evpn(_) => Family::L2vpnEvpn,
        }
    }
}

/// Announcements sharing one attribute set: the sessions put them in as few UPDATEs as fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The attributes to send (already transformed for the peer: next hop, AS_PATH, ...).
    pub attrs: Attrs,
    /// The NLRI that carry them.
    pub nlri: Vec<Nlri>,
}

/// One pull of a peer's Adj-RIB-Out for one family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdjOutBatch {
    /// The family of every NLRI in the batch.
    pub family: Family,
    /// Announcements grouped by identical attribute set.
    pub announce: Vec<Announcement>,
    /// Withdrawals (batched into as few UPDATEs as fit).
    pub withdraw: Vec<Nlri>,
    /// Send End-of-RIB for the family after this batch (RFC 4724 §2): the initial dump is done.
    pub end_of_rib: bool,
}

impl AdjOutBatch {
    /// Number of NLRI announced and withdrawn.
    pub fn len(&self) -> usize {
        self.withdraw.len() + self.announce.iter().map(|a| a.nlri.len()).sum::<usize>()
    }

    /// Whether the batch carries no NLRI (it may still carry End-of-RIB).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A table key that can be turned back into an NLRI.
pub trait RouteKey<X>: std::hash::Hash + Eq + Clone {
    /// The NLRI for this key, with the path's data when there is a path.
    fn nlri(&self, extra: Option<&X>) -> Nlri;
}

impl<X> RouteKey<X> for Ipv4Net {
    fn nlri(&self, _: Option<&X>) -> Nlri {
        Nlri::V4(*self)
    }
}

impl<X> RouteKey<X> for Ipv6Net {
    fn nlri(&self, _: Option<&X>) -> Nlri {
        Nlri::V6(*self)
    }
}

impl RouteKey<EvpnData> for EvpnRouteKey {
    fn nlri(&self, extra: Option<&EvpnData>) -> Nlri {
        let none = EvpnFields::default();
        Nlri::Evpn(join(self, extra.map(|e| &**e).unwrap_or(&none)))
    }
}

/// Which kind of table a route is exported from (it decides the next-hop rule).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportKind {
    /// Default-table unicast: next hop self.
    Unicast,
    /// EVPN: next hop unchanged (it is the originating VTEP, RFC 8365 §5.1.3).
    Evpn,
    /// A VRF's unicast routes to its host session: next hop self (the router-side veth
    /// address), the EVPN translation's communities stripped.
    Host,
}

/// Facts about the source of a path that export rules need.
#[derive(Debug, Clone, Copy)]
pub struct SourceFacts {
    /// The path is ours.
    pub local: bool,
    /// Learned over iBGP from a peer in the same table (not via EVPN import).
    pub ibgp: bool,
    /// That iBGP peer is a route-reflector client.
    pub from_rr_client: bool,
    /// The source peer's router ID (ORIGINATOR_ID when reflecting).
    pub router_id: Option<std::net::Ipv4Addr>,
}

/// Per-peer cache of transformed attribute sets: one transformation per distinct source set.
pub type ExportCache = HashMap<(Attrs, u64), Attrs>;

/// Whether `path` may be sent to `to` at all (split horizon, RFC 4456 §8 reflection rules).
pub fn may_export<X>(
    path: &Path<X>,
    to_id: crate::peer::PeerId,
    to: &PeerConfig,
    src: &SourceFacts,
) -> bool {
    if path.source.is_from(to_id) {
        return false; // never reflect a route to the peer it came from
    }
    if src.ibgp && !to.is_ebgp() && !(src.from_rr_client || to.route_reflector_client) {
        return false; // RFC 4271 §9.2: iBGP-learned routes are not sent to iBGP peers
    }
    true
}

/// The attributes sent to `to` for a path with attributes `attrs` (RFC 4271 §5.1; RFC 4456 §8).
#[allow(clippy::too_many_arguments)]
pub fn export_attrs(
    attrs: &Attrs,
    src: &SourceFacts,
    kind: ExportKind,
    to: &PeerConfig,
    cluster_id: std::net::Ipv4Addr,
    cache: &mut ExportCache,
    interner: &mut Interner<PathAttrs>,
) -> Attrs {
    let class = u64::from(src.local)
        | (u64::from(src.ibgp) << 1)
        | (u64::from(src.router_id.map(u32::from).unwrap_or(0)) << 8)
        | ((kind as u64) << 40);
    if let Some(a) = cache.get(&(attrs.clone(), class)) {
        return a.clone();
    }
    let mut a: PathAttrs = (**attrs).clone();
    match kind {
        ExportKind::Unicast | ExportKind::Host => a.next_hop = Some(to.local_address),
        ExportKind::Evpn => {}
    }
    if kind == ExportKind::Host {
        let kept: Vec<ExtendedCommunity> = a
            .ext_communities
            .iter()
            .filter(|c| !PathAttrs::is_evpn_translation_community(c))
            .copied()
            .collect();
        a.ext_communities = kept.into();
        if a.rare.is_some() {
            a.rare_mut().pmsi = None;
        }
    }
    if to.is_ebgp() {
        a.as_path.prepend(to.local_asn);
        a.local_pref = None;
        if !src.local {
            a.med = None; // RFC 4271 §5.1.4: not propagated to other ASes
        }
        if a.rare.is_some() {
            let r = a.rare_mut();
            r.originator_id = None;
            r.cluster_list = Vec::new();
        }
    } else {
        a.local_pref = Some(a.effective_local_pref());
        if src.ibgp {
            // Reflection (RFC 4456 §8).
            let r = a.rare_mut();
            r.originator_id = r.originator_id.or(src.router_id);
            r.cluster_list.insert(0, cluster_id);
        }
    }
    if a.rare.is_some() {
        // RFC 4271 §5: optional transitive attributes are passed on (the unrecognised ones
        // with the Partial bit), non-transitive ones are not.
        let r = a.rare_mut();
        r.other = r
            .other
            .iter()
            .filter(|x| x.flags.transitive())
            .filter_map(PathAttribute::for_propagation)
            .collect();
    }
    let a = a.normalized();
    let out = interner.intern(a);
    cache.insert((attrs.clone(), class), out.clone());
    out
}

/// Whether `ip` is a plausible unicast next hop family for the NLRI (IPv4 NLRI with an IPv6
/// next hop is legal with RFC 8950, so only the unspecified address is refused).
pub fn usable_next_hop(ip: Option<IpAddr>) -> bool {
    ip.is_some_and(|ip| !ip.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::RareAttrs;
    use crate::peer::{PeerId, PeerRole};
    use crate::table::Source;
    use bytes::Bytes;
    use perouter_bgp::wire::{AsPath, AttributeFlags, AttributeValue};
    use std::net::Ipv4Addr;

    fn peer(local: u32, remote: u32) -> PeerConfig {
        PeerConfig {
            role: PeerRole::Fabric,
            local_asn: local,
            remote_asn: remote,
            remote_address: "192.0.2.2".parse().unwrap(),
            local_address: "192.0.2.1".parse().unwrap(),
            remote_router_id: Ipv4Addr::new(10, 0, 0, 2),
            families: vec![Family::Ipv4Unicast],
            route_reflector_client: false,
            allowas_in: 0,
        }
    }

    #[test]
    fn ebgp_export_prepends_sets_next_hop_and_drops_local_pref_and_foreign_med() {
        let mut i = Interner::new();
        let mut cache = ExportCache::new();
        let a = i.intern(PathAttrs {
            as_path: AsPath::sequence([65010]),
            next_hop: Some("10.9.9.9".parse().unwrap()),
            med: Some(5),
            local_pref: Some(300),
            rare: Some(Box::new(RareAttrs {
                other: vec![
                    PathAttribute {
                        flags: AttributeFlags(0xc0),
                        value: AttributeValue::Unknown {
                            type_code: 99,
                            value: Bytes::from_static(&[1]),
                        },
                    },
                    PathAttribute {
                        flags: AttributeFlags(0x80),
                        value: AttributeValue::Unknown {
                            type_code: 98,
                            value: Bytes::from_static(&[2]),
                        },
                    },
                ],
                ..Default::default()
            })),
            ..Default::default()
        });
        let src = SourceFacts {
            local: false,
            ibgp: false,
            from_rr_client: false,
            router_id: None,
        };
        let to = peer(64512, 65020);
        let out = export_attrs(
            &a,
            &src,
            ExportKind::Unicast,
            &to,
            Ipv4Addr::new(10, 0, 0, 1),
            &mut cache,
            &mut i,
        );
        assert_eq!(out.as_path, AsPath::sequence([64512, 65010]));
        assert_eq!(out.next_hop, Some(to.local_address));
        assert_eq!((out.med, out.local_pref), (None, None));
        assert_eq!(out.rare().other.len(), 1);
        assert_eq!(
            out.rare().other[0].flags.0,
            0xe0,
            "partial bit set on a passed-on unknown attribute"
        );
        let again = export_attrs(
            &a,
            &src,
            ExportKind::Unicast,
            &to,
            Ipv4Addr::new(10, 0, 0, 1),
            &mut cache,
            &mut i,
        );
        assert_eq!(out, again, "cached and interned");
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn ibgp_rules_split_horizon_and_reflection() {
        let mut i = Interner::new();
        let a: Attrs = i.intern(PathAttrs::default());
        let path = Path {
            source: Source::peer_path(PeerId(1), 0),
            attrs: a.clone(),
            extra: (),
        };
        let ibgp_src = SourceFacts {
            local: false,
            ibgp: true,
            from_rr_client: false,
            router_id: Some(Ipv4Addr::new(10, 0, 0, 5)),
        };
        let mut to = peer(64512, 64512);
        assert!(
            !may_export(&path, PeerId(2), &to, &ibgp_src),
            "iBGP to iBGP without RR"
        );
        assert!(
            !may_export(
                &path,
                PeerId(1),
                &peer(1, 2),
                &SourceFacts {
                    ibgp: false,
                    ..ibgp_src
                }
            ),
            "never back to the source"
        );
        to.route_reflector_client = true;
        assert!(may_export(&path, PeerId(2), &to, &ibgp_src));
        let mut cache = ExportCache::new();
        let out = export_attrs(
            &a,
            &ibgp_src,
            ExportKind::Evpn,
            &to,
            Ipv4Addr::new(10, 0, 0, 1),
            &mut cache,
            &mut i,
        );
        assert_eq!(out.originator_id(), Some(Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(out.cluster_list(), &[Ipv4Addr::new(10, 0, 0, 1)]);
        assert_eq!(out.local_pref, Some(100));
        assert_eq!(out.next_hop, None, "EVPN next hop unchanged");
    }
}
