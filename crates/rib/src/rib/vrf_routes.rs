//! VRF tables: route-target import of type-5 routes into them and export of their host and
//! local routes as type-5 routes (RFC 9136 §4, RFC 4364 §4.3.1).

use std::collections::HashMap;

use ipnet::IpNet;
use perouter_evpn::{EthernetTag, EvpnRouteKey, Label};
use tracing::info;

use crate::attrs::PathAttrs;
use crate::evpn_table::EvpnFields;
use crate::forwarding::{FibTable, ForwardingDelta, RouteOp};
use crate::peer::PeerId;
use crate::table::{Attrs, Source};
use crate::translate::type5_attrs;
use crate::vrf::{ResolvedVrf, VrfConfig, VrfId};

use super::scope::{ScopeId, UnicastKey, UnicastPair};
use super::selection::{choose, vrf_path_usable};
use super::Rib;

/// A VRF's tables and derived values.
pub(super) struct VrfState {
    /// The configuration with RD and RTs resolved.
    pub(super) vrf: ResolvedVrf,
    /// The IPv4 and IPv6 tables; a path's data is the VNI it came with (0 for host paths).
    pub(super) tables: UnicastPair<u32>,
    /// Type-5 attribute sets derived from VRF attribute sets.
    pub(super) t5_cache: HashMap<Attrs, Attrs>,
}

impl Rib {
    /// Adds or replaces a VRF. A replaced VRF whose route targets alone changed is updated in
    /// place: its tables and its host sessions' feeds stay, the type-5 routes of the EVPN table
    /// are imported or dropped again under the new import RTs and our type-5 routes are
    /// re-advertised with the new export RTs (RFC 4364 §4.3.1: what the RTs select changes, the
    /// VRF does not). Any other change (RD, VNI, router MAC, networks) tears it down and
    /// rebuilds it.
    pub fn handle_vrf(&mut self, config: VrfConfig) {
        let id = config.id;
        let resolved = ResolvedVrf::resolve(config, self.config.router_id, self.config.asn);
        if let Some(old) = self.vrfs.get(&id) {
            if old.vrf == resolved {
                return;
            }
            if only_route_targets_differ(&old.vrf, &resolved) {
                self.retarget_vrf(id, resolved);
                return;
            }
            self.handle_vrf_removed(id);
        }
        info!(vrf = %resolved.config.name, rd = %resolved.rd, l3vni = resolved.config.l3vni, "vrf added");
        let networks = resolved.config.networks.clone();
        self.vrfs.insert(
            id,
            VrfState {
                vrf: resolved,
                tables: UnicastPair::new(FibTable::Vrf(id)),
                t5_cache: HashMap::new(),
            },
        );
        let local = self.attrs.intern(PathAttrs::default());
        for n in networks {
            self.set_vrf_path(id, &n, Source::Local, Some((local.clone(), 0)));
        }
        // Import what the EVPN table already has.
        let slots: Vec<u32> = self.evpn.table.slots().collect();
        for s in slots {
            if matches!(self.evpn.table.get(s).0, EvpnRouteKey::IpPrefix { .. }) {
                self.import_type5(s, Some(id));
            }
        }
        self.settle();
    }

    /// Applies new route targets to VRF `id` in place (see [`Rib::handle_vrf`]).
    fn retarget_vrf(&mut self, id: VrfId, resolved: ResolvedVrf) {
        info!(vrf = %resolved.config.name, import = ?resolved.import, export = ?resolved.export, "vrf route targets changed");
        let st = self.vrf_mut(id);
        st.vrf = resolved;
        // The cached type-5 attribute sets carry the old export RTs.
        st.t5_cache.clear();
        let prefixes: Vec<IpNet> = st.tables.prefixes().into_iter().map(|(p, _)| p).collect();
        let slots: Vec<u32> = self.evpn.table.slots().collect();
        for s in slots {
            if matches!(self.evpn.table.get(s).0, EvpnRouteKey::IpPrefix { .. }) {
                self.import_type5(s, Some(id));
            }
        }
        for p in prefixes {
            self.export_type5(id, p);
        }
        self.settle();
    }

    /// Removes a VRF: its routes leave the datapath and its type-5 routes are withdrawn.
    /// Host sessions of the VRF lose their tables (the agent brings them down).
    pub fn handle_vrf_removed(&mut self, id: VrfId) {
        let Some(mut st) = self.vrfs.remove(&id) else {
            return;
        };
        let rd = st.vrf.rd;
        for (p, installed) in st.tables.prefixes() {
            if installed {
                self.l2_deltas.push_back(ForwardingDelta::Route {
                    table: FibTable::Vrf(id),
                    prefix: p,
                    op: RouteOp::Delete,
                });
            }
            let key = EvpnRouteKey::IpPrefix {
                rd,
                ethernet_tag: EthernetTag(0),
                prefix: p,
            };
            if let Some(slot) = self.evpn.table.remove(&key, &Source::Local) {
                self.reselect_evpn(slot);
            }
        }
        for p in self.peers.iter_mut().flatten() {
            p.subs
                .retain(|(s, _, _)| !matches!(s, ScopeId::Vrf4(v) | ScopeId::Vrf6(v) if *v == id));
        }
        st.t5_cache.clear();
        info!(vrf = %st.vrf.config.name, "vrf removed");
        self.settle();
    }

    /// The VRF called `name`, if configured.
    pub fn vrf_named(&self, name: &str) -> Option<VrfId> {
        self.vrfs
            .iter()
            .find(|(_, st)| st.vrf.config.name == name)
            .map(|(id, _)| *id)
    }

    /// The state of VRF `id`, which the caller knows exists.
    pub(super) fn vrf_mut(&mut self, id: VrfId) -> &mut VrfState {
        self.vrfs
            .get_mut(&id)
            .expect("caller checked the VRF exists")
    }

    /// Adds (`Some((attrs, vni))`) or removes a path in a VRF table and follows the change.
    pub(super) fn set_vrf_path(
        &mut self,
        vrf: VrfId,
        prefix: &IpNet,
        src: Source,
        v: Option<(Attrs, u32)>,
    ) {
        let Some(_st) = self.vrfs.get_mut(&vrf) else {
            return;
        };
        match *prefix {
            IpNet::V4(p) => self.set_vrf_key(vrf, p.trunc(), src, v),
            IpNet::V6(p) => self.set_vrf_key(vrf, p.trunc(), src, v),
        }
    }

    /// [`Rib::set_vrf_path`] in the table of `key`'s family.
    fn set_vrf_key<K: UnicastKey>(
        &mut self,
        vrf: VrfId,
        key: K,
        src: Source,
        v: Option<(Attrs, u32)>,
    ) {
        let Some(st) = self.vrfs.get_mut(&vrf) else {
            return;
        };
        if let Some(slot) = K::of_mut(&mut st.tables).set_path(&key, src, v) {
            self.reselect_vrf::<K>(vrf, slot);
        }
    }

    /// Runs selection again for `slot` of VRF `vrf`'s table of family `K`: a changed
    /// multipath set is queued for the host session and the datapath, and our type-5 route
    /// for the prefix follows the new best path.
    pub(super) fn reselect_vrf<K: UnicastKey>(&mut self, vrf: VrfId, slot: u32) {
        let peers = &self.peers;
        let tracker = &self.tracker;
        let cfg = self.config.multipath;
        let Some(st) = self.vrfs.get_mut(&vrf) else {
            return;
        };
        let own = &self.own;
        let scope = K::of_mut(&mut st.tables);
        let changed = scope.table.reselect(slot, &mut self.scratch, |p, out| {
            choose(
                p,
                peers,
                cfg,
                |x| vrf_path_usable(x, tracker, own, peers),
                out,
            )
        });
        if changed {
            scope.notify(slot);
            let prefix = scope.table.get(slot).0.to_net();
            self.export_type5(vrf, prefix);
        }
        if let Some(st) = self.vrfs.get_mut(&vrf) {
            K::of_mut(&mut st.tables).table.collect(slot);
        }
    }

    /// Keeps our type-5 route for `prefix` in line with the VRF's best path: exported when the
    /// best path came from the host or is local, withdrawn otherwise (imported routes are not
    /// re-exported).
    pub(super) fn export_type5(&mut self, vrf: VrfId, prefix: IpNet) {
        let Some(st) = self.vrfs.get_mut(&vrf) else {
            return;
        };
        let best = (st.tables.lookup(prefix))
            .and_then(|e| e.best())
            .map(|b| (b.source, b.attrs.clone()));
        let key = EvpnRouteKey::IpPrefix {
            rd: st.vrf.rd,
            ethernet_tag: EthernetTag(0),
            prefix,
        };
        let v = match best {
            Some((Source::Local | Source::Peer { .. }, attrs)) => {
                let t5 = match st.t5_cache.get(&attrs) {
                    Some(t) => t.clone(),
                    None => {
                        let t = self.attrs.intern(type5_attrs(
                            &attrs,
                            &st.vrf.export,
                            st.vrf.config.router_mac,
                            self.config.vtep,
                        ));
                        st.t5_cache.insert(attrs, t.clone());
                        t
                    }
                };
                let f = self.fields.intern(EvpnFields {
                    label1: Label::from_vni(st.vrf.config.l3vni),
                    ..Default::default()
                });
                Some((t5, f))
            }
            _ => None,
        };
        self.set_evpn_path(&key, Source::Local, v);
    }

    /// Imports (or un-imports) the type-5 route in `slot` into every VRF (or only `only`)
    /// whose import RTs match its best path (RFC 9136 §4, RFC 4364 §4.3.1).
    pub(super) fn import_type5(&mut self, slot: u32, only: Option<VrfId>) {
        if only.is_none() && self.vrfs.is_empty() {
            // A pure relay (no VRF): nothing can import, skip the per-route work.
            return;
        }
        let (key, e) = self.evpn.table.get(slot);
        let EvpnRouteKey::IpPrefix { rd, prefix, .. } = key.clone() else {
            return;
        };
        let best = e
            .best()
            .filter(|p| p.source != Source::Local)
            .map(|p| (p.source.peer(), p.attrs.clone(), p.extra.label1.vni()));
        let rd_bytes = rd.to_bytes();
        let ids: Vec<VrfId> = match only {
            Some(v) => vec![v],
            None => self.vrfs.keys().copied().collect(),
        };
        for id in ids {
            let Some(st) = self.vrfs.get(&id) else {
                continue;
            };
            let want = best
                .as_ref()
                .filter(|(_, a, _)| st.vrf.imports(a.route_targets()));
            match want {
                Some((Some(peer), attrs, vni)) => {
                    if let Some(vtep) = attrs.next_hop {
                        self.track(vtep);
                    }
                    let src = Source::Evpn {
                        rd: rd_bytes,
                        peer: *peer,
                    };
                    self.set_vrf_path(id, &prefix, src, Some((attrs.clone(), *vni)));
                }
                _ => {
                    let src = Source::Evpn {
                        rd: rd_bytes,
                        peer: PeerId(0),
                    };
                    self.set_vrf_path(id, &prefix, src, None);
                }
            }
        }
    }
}

/// Whether `a` and `b` are the same VRF but for their route targets.
fn only_route_targets_differ(a: &ResolvedVrf, b: &ResolvedVrf) -> bool {
    let strip = |v: &ResolvedVrf| {
        let mut c = v.config.clone();
        c.import_rts.clear();
        c.export_rts.clear();
        (c, v.rd)
    };
    strip(a) == strip(b)
}
