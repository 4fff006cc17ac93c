//! Best-path selection over one key's paths: the rank of a path and which paths are usable
//! (RFC 4271 §9.1.2, §5.1.3).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};

use crate::attrs::{neighbor_as, PathAttrs};
use crate::best_path::{select, MultipathConfig, Rank};
use crate::nexthop::{defect, is_link_local, Defect, NextHopTracker};
use crate::peer::PeerConfig;
use crate::table::{Path, Source};

use super::peers::PeerState;

/// Ranks a path for best-path selection.
pub(super) fn rank<'a, X>(p: &'a Path<X>, peers: &[Option<PeerState>]) -> Rank<'a> {
    let a = &*p.attrs;
    let peer = p
        .source
        .peer()
        .and_then(|id| peers.get(id.0 as usize))
        .and_then(Option::as_ref)
        .map(|s| &s.config);
    let ebgp = peer.is_some_and(PeerConfig::is_ebgp);
    Rank {
        // A LOCAL_PREF received over eBGP is ignored (RFC 4271 §5.1.5).
        local_pref: if ebgp {
            PathAttrs::DEFAULT_LOCAL_PREF
        } else {
            a.effective_local_pref()
        },
        local: p.source == Source::Local,
        as_path: &a.as_path,
        origin: a.origin,
        med: a.med.unwrap_or(0),
        neighbor_as: neighbor_as(&a.as_path),
        ebgp,
        router_id: a
            .originator_id()
            .or(peer.map(|c| c.remote_router_id))
            .unwrap_or(Ipv4Addr::UNSPECIFIED),
        cluster_len: u32::try_from(a.cluster_list().len()).unwrap_or(u32::MAX),
        peer_addr: peer.map(|c| c.remote_address),
        tiebreak: match p.source {
            Source::Evpn { rd, .. } => u64::from_be_bytes(rd),
            _ => 0,
        },
    }
}

/// Chooses the multipath set of `paths` into `out`.
pub(super) fn choose<X>(
    paths: &[Path<X>],
    peers: &[Option<PeerState>],
    cfg: MultipathConfig,
    eligible: impl Fn(&Path<X>) -> bool,
    out: &mut Vec<usize>,
) {
    if paths.len() == 1 {
        if eligible(&paths[0]) {
            out.push(0);
        }
        return;
    }
    let ranks: Vec<Rank<'_>> = paths.iter().map(|p| rank(p, peers)).collect();
    let mut tmp = Vec::with_capacity(paths.len());
    select(&ranks, |i| eligible(&paths[i]), cfg, &mut tmp);
    out.extend_from_slice(&tmp);
}

/// Whether a VRF path can be used. An imported one: its VTEP is valid and reachable and it
/// carries a router MAC (symmetric IRB needs one; landscape pitfall 5). One from the host
/// session: its next hop is valid and is the host on the veth (the session's only link) or
/// link-local (RFC 4271 §5.1.3, §9.1.2.1).
pub(super) fn vrf_path_usable(
    p: &Path<u32>,
    tracker: &NextHopTracker,
    own: &HashSet<IpAddr>,
    peers: &[Option<PeerState>],
) -> bool {
    match p.source {
        Source::Evpn { .. } => {
            p.attrs.router_mac().is_some()
                && p.attrs
                    .next_hop
                    .is_some_and(|v| next_hop_defect(v, false, own).is_none() && tracker.cached(v))
        }
        Source::Peer { peer, .. } => p.attrs.next_hop.is_some_and(|nh| {
            next_hop_defect(nh, true, own).is_none()
                && (is_link_local(nh)
                    || peers
                        .get(peer.0 as usize)
                        .and_then(Option::as_ref)
                        .is_some_and(|s| s.config.remote_address == nh))
        }),
        Source::Local => true,
    }
}

/// Whether a default-table path can be used: ours, or from a peer with a valid next hop the
/// underlay can reach (RFC 4271 §5.1.3, §9.1.2.1).
pub(super) fn default_path_usable<X>(
    p: &Path<X>,
    tracker: &NextHopTracker,
    own: &HashSet<IpAddr>,
) -> bool {
    match p.source {
        Source::Local => true,
        _ => p.attrs.next_hop.is_some_and(|nh| {
            next_hop_defect(nh, true, own).is_none() && tracker.gateway_reachable(nh)
        }),
    }
}

/// Whether an EVPN path can be used: ours, or from a peer with a valid VTEP (an EVPN route
/// without a next hop is kept as before: it is never exported nor imported with one).
pub(super) fn evpn_path_usable<X>(p: &Path<X>, own: &HashSet<IpAddr>) -> bool {
    match (p.source, p.attrs.next_hop) {
        (Source::Local, _) | (_, None) => true,
        (_, Some(nh)) => next_hop_defect(nh, false, own).is_none(),
    }
}

/// What is wrong with next hop `nh`, counting our own addresses.
pub(super) fn next_hop_defect(
    nh: IpAddr,
    link_local_ok: bool,
    own: &HashSet<IpAddr>,
) -> Option<Defect> {
    defect(nh, link_local_ok).or_else(|| own.contains(&nh).then_some(Defect::Ours))
}
