//! Updates in: a peer's UPDATE checked and applied to the default and EVPN tables, and the
//! selection that follows each change.

use std::collections::BTreeSet;

use ipnet::IpNet;
use perouter_evpn::{EvpnRoute, EvpnRouteKey};
use tracing::{debug, warn};

use crate::adj_out::Nlri;
use crate::attrs::{occurrences, PathAttrs};
use crate::best_path::MultipathConfig;
use crate::evpn_table::{split, EvpnData};
use crate::nexthop::Defect;
use crate::peer::{Family, PeerId, PeerRole};
use crate::table::{Attrs, Source};

use super::scope::UnicastKey;
use super::selection::{choose, default_path_usable, evpn_path_usable, next_hop_defect};
use super::{Rib, RibError};

/// The parsed contents of one UPDATE, as the session hands them over (MP_REACH/MP_UNREACH
/// already split into NLRI; attributes without them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteUpdate {
    /// The path attributes of the announced NLRI.
    pub attrs: PathAttrs,
    /// Announced NLRI.
    pub announced: Vec<Nlri>,
    /// Withdrawn NLRI.
    pub withdrawn: Vec<Nlri>,
    /// The ADD-PATH path identifier of every NLRI here (RFC 7911 §3): a peer may send several
    /// paths for one prefix, each is a path of its own. 0 when the session has no ADD-PATH.
    pub path_id: u32,
}

/// What the RIB refused from one peer (or from all of them, in [`RibStats`](super::RibStats)): well-formed but
/// wrong input, counted so the operator can see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PeerInputCounters {
    /// NLRI (announced or withdrawn) of an address family not negotiated on the session,
    /// ignored (RFC 4760 §7 allows treating them as an error; we ignore them so a confused peer
    /// cannot reset the session, nor put routes in tables it does not exchange).
    pub ignored_family: u64,
    /// Announced NLRI whose next hop is invalid (RFC 4271 §5.1.3: unspecified, loopback,
    /// multicast, broadcast, class E, ours, link-local where not allowed): kept in the
    /// Adj-RIB-In, never selected, advertised or installed.
    pub invalid_next_hop: u64,
}

impl Rib {
    /// The networks originated in the default table besides our VTEP changed (a passthrough
    /// host session added or removed): originates the new ones and withdraws the old ones in
    /// place. Every other route, peer and advertisement is left as it is, so the change costs
    /// the fabric one UPDATE, not a refresh of every table.
    pub fn handle_default_networks(&mut self, networks: Vec<IpNet>) {
        let vtep = IpNet::from(self.config.vtep);
        let old: BTreeSet<IpNet> = self
            .config
            .default_networks
            .iter()
            .map(IpNet::trunc)
            .collect();
        let new: BTreeSet<IpNet> = networks.iter().map(IpNet::trunc).collect();
        for n in old.difference(&new).filter(|n| **n != vtep) {
            self.set_default_path(n, Source::Local, None);
        }
        let local = self.attrs.intern(PathAttrs::default());
        for n in new.difference(&old) {
            self.set_default_path(n, Source::Local, Some(local.clone()));
        }
        self.config.default_networks = networks;
        self.settle();
    }

    /// A parsed UPDATE from `peer`. Announcements with a looped AS_PATH (beyond `allowas-in`,
    /// which only fabric sessions honour) or our own ORIGINATOR_ID/cluster are treated as
    /// withdrawals (RFC 4271 §9.1.2, RFC 4456 §8); EVPN routes whose next hop is our own VTEP
    /// are ignored (our routes coming back). NLRI of families not negotiated on the session are
    /// ignored and counted; announcements with an invalid next hop are kept but not eligible,
    /// and counted (see [`crate::nexthop`]). Each is logged once per session.
    pub fn handle_update(&mut self, peer: PeerId, update: RouteUpdate) -> Result<(), RibError> {
        let st = self
            .peers
            .get_mut(peer.0 as usize)
            .and_then(Option::as_mut)
            .filter(|s| s.up)
            .ok_or(RibError::UnknownPeer(peer))?;
        let cfg = &st.config;
        let role = cfg.role;
        // All nodes share one AS, so eBGP fabrics send our AS back to us: upstream sets
        // allowas-in on fabric neighbours only. A host or passthrough session sending a path
        // with our AS in it is echoing our own routes (a mass withdrawal would otherwise be
        // reflected back to the fabric with our AS twice).
        let allowas_in = if role == PeerRole::Fabric {
            cfg.allowas_in
        } else {
            0
        };
        let looped = occurrences(&update.attrs.as_path, cfg.local_asn) > usize::from(allowas_in)
            || update.attrs.originator_id() == Some(self.config.router_id)
            || update
                .attrs
                .cluster_list()
                .contains(&self.config.effective_cluster_id());
        if looped && !update.announced.is_empty() {
            debug!(peer = ?peer, n = update.announced.len(), "announcements with a routing loop treated as withdrawn");
        }
        // RFC 4760 §7: only the families negotiated on the session are exchanged.
        let foreign = update
            .announced
            .iter()
            .chain(&update.withdrawn)
            .filter(|n| !cfg.has(n.family()))
            .count();
        if foreign > 0 {
            st.input.ignored_family += foreign as u64;
            self.refused.ignored_family += foreign as u64;
            if st.warned & 1 == 0 {
                st.warned |= 1;
                let families: Vec<Family> = update
                    .announced
                    .iter()
                    .chain(&update.withdrawn)
                    .map(Nlri::family)
                    .filter(|f| !st.config.has(*f))
                    .collect();
                warn!(peer = ?peer, remote = %st.config.remote_address, ?families, negotiated = ?st.config.families,
                    "NLRI of an address family not negotiated on the session ignored (logged once per session; see the RIB counters)");
            }
        }
        // RFC 4271 §5.1.3: a next hop that can never be one makes the routes ineligible.
        let announced_ok = update
            .announced
            .iter()
            .filter(|n| st.config.has(n.family()))
            .count();
        if announced_ok > 0 && !looped {
            let evpn = update.announced.iter().any(|n| matches!(n, Nlri::Evpn(_)));
            let bad = match update.attrs.next_hop {
                // Our own EVPN routes coming back: ignored below, not an error.
                Some(nh) if evpn && nh == self.config.vtep => None,
                Some(nh) => next_hop_defect(nh, !evpn, &self.own),
                None if evpn => None,
                None => Some(Defect::Missing),
            };
            if let Some(d) = bad {
                st.input.invalid_next_hop += announced_ok as u64;
                self.refused.invalid_next_hop += announced_ok as u64;
                if st.warned & 2 == 0 {
                    st.warned |= 2;
                    warn!(peer = ?peer, remote = %st.config.remote_address, next_hop = ?update.attrs.next_hop, reason = %d,
                        "routes with an invalid next hop kept but not used (RFC 4271 §5.1.3; logged once per session; see the RIB counters)");
                }
            }
        }
        let families = st.config.families.clone();
        let src = Source::peer_path(peer, update.path_id);
        for n in update
            .withdrawn
            .iter()
            .filter(|n| families.contains(&n.family()))
        {
            self.apply_nlri(src, role, n, None);
        }
        if announced_ok > 0 {
            let attrs = (!looped).then(|| self.attrs.intern(update.attrs.normalized()));
            for n in update
                .announced
                .iter()
                .filter(|n| families.contains(&n.family()))
            {
                self.apply_nlri(src, role, n, attrs.clone());
            }
        }
        self.settle();
        Ok(())
    }

    /// What the RIB refused from `peer` since its session came up.
    pub fn peer_input(&self, peer: PeerId) -> Option<PeerInputCounters> {
        self.peers
            .get(peer.0 as usize)
            .and_then(Option::as_ref)
            .map(|s| s.input)
    }

    /// Applies one announced (`attrs` given) or withdrawn NLRI from a session of `role`:
    /// unicast from the fabric or a passthrough session to the default table, from a host
    /// session to its VRF's table; EVPN from the fabric to the EVPN table.
    pub(super) fn apply_nlri(
        &mut self,
        src: Source,
        role: PeerRole,
        n: &Nlri,
        attrs: Option<Attrs>,
    ) {
        let prefix = match n {
            Nlri::V4(p) => IpNet::V4(*p),
            Nlri::V6(p) => IpNet::V6(*p),
            Nlri::Evpn(route) => return self.apply_evpn(src, role, route, attrs),
        };
        match role {
            PeerRole::Fabric | PeerRole::Passthrough => {
                if let Some(nh) = attrs.as_ref().and_then(|a| a.next_hop) {
                    self.track(nh);
                }
                self.set_default_path(&prefix, src, attrs);
            }
            PeerRole::Host(vrf) => {
                if self.vrfs.contains_key(&vrf) {
                    self.set_vrf_path(vrf, &prefix, src, attrs.map(|a| (a, 0)));
                }
            }
        }
    }

    /// [`Rib::apply_nlri`] for an EVPN route: only fabric sessions exchange them.
    fn apply_evpn(&mut self, src: Source, role: PeerRole, route: &EvpnRoute, attrs: Option<Attrs>) {
        if role != PeerRole::Fabric {
            debug!(source = ?src, "EVPN route from a host session ignored");
            return;
        }
        let attrs = attrs.filter(|a| a.next_hop != Some(self.config.vtep));
        if let Some(nh) = attrs.as_ref().and_then(|a| a.next_hop) {
            self.track(nh);
        }
        let (key, fields) = split(route);
        let v = attrs.map(|a| (a, self.fields.intern(fields)));
        self.set_evpn_path(&key, src, v);
    }

    /// Adds (`Some(attrs)`) or removes a path in the default table and follows the change.
    pub(super) fn set_default_path(&mut self, prefix: &IpNet, src: Source, attrs: Option<Attrs>) {
        match *prefix {
            IpNet::V4(p) => self.set_default_key(p.trunc(), src, attrs),
            IpNet::V6(p) => self.set_default_key(p.trunc(), src, attrs),
        }
    }

    /// [`Rib::set_default_path`] in the table of `key`'s family.
    fn set_default_key<K: UnicastKey>(&mut self, key: K, src: Source, attrs: Option<Attrs>) {
        let scope = K::of_mut(&mut self.default);
        if let Some(slot) = scope.set_path(&key, src, attrs.map(|a| (a, ()))) {
            self.reselect_default::<K>(slot);
        }
    }

    /// Runs selection again for `slot` of the default table of family `K`: a changed
    /// multipath set is queued for the peers and the datapath, and may change next-hop
    /// reachability (the underlay is settled again at the end of the input).
    pub(super) fn reselect_default<K: UnicastKey>(&mut self, slot: u32) {
        let peers = &self.peers;
        let cfg = self.config.multipath;
        let (tracker, own) = (&self.tracker, &self.own);
        let scope = K::of_mut(&mut self.default);
        if scope.table.reselect(slot, &mut self.scratch, |p, out| {
            choose(p, peers, cfg, |x| default_path_usable(x, tracker, own), out)
        }) {
            scope.notify(slot);
            self.underlay_dirty = true;
        }
        scope.table.collect(slot);
    }

    /// Adds or removes a path in the EVPN table and follows the change.
    pub(super) fn set_evpn_path(
        &mut self,
        key: &EvpnRouteKey,
        src: Source,
        v: Option<(Attrs, EvpnData)>,
    ) {
        if let Some(s) = self.evpn.set_path(key, src, v) {
            self.reselect_evpn(s);
        }
    }

    /// Runs selection again for `slot` of the EVPN table (one best path, no ECMP): a changed
    /// best path is queued for the peers and imported into the VRFs or L2VNIs it targets.
    pub(super) fn reselect_evpn(&mut self, slot: u32) {
        let peers = &self.peers;
        let cfg = MultipathConfig {
            max_paths: 1,
            ..self.config.multipath
        };
        let own = &self.own;
        if self.evpn.table.reselect(slot, &mut self.scratch, |p, out| {
            choose(p, peers, cfg, |x| evpn_path_usable(x, own), out)
        }) {
            self.evpn.notify(slot);
            match self.evpn.table.get(slot).0 {
                EvpnRouteKey::IpPrefix { .. } => self.import_type5(slot, None),
                EvpnRouteKey::MacIp { .. } | EvpnRouteKey::InclusiveMulticast { .. } => {
                    self.import_l2(slot)
                }
                _ => {}
            }
        }
        self.evpn.table.collect(slot);
    }
}
