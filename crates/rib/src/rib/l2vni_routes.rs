//! L2VNIs in the RIB: type-3 origination, type-2/type-3 import, local MACs turned into type-2
//! routes, symmetric IRB host routes (RFC 7432, RFC 9135).

use std::net::IpAddr;
use std::time::Instant;

use ipnet::IpNet;
use perouter_evpn::{EthernetTag, EvpnRouteKey, Label, MacAddress};
use tracing::{info, warn};

use crate::evpn_table::EvpnFields;
use crate::l2vni::{L2Domain, L2VniConfig, MacPlan, RemoteMac};
use crate::peer::PeerId;
use crate::table::Source;
use crate::translate::{type2_attrs, type3_attrs};

use super::{Rib, RibError, RibEvent};

impl Rib {
    /// The time, for MAC-mobility duplicate detection.
    pub fn handle_time(&mut self, now: Instant) {
        self.now = Some(now);
    }

    /// Adds an L2VNI: it originates its type-3 route and imports matching type-2/3 routes.
    pub fn handle_l2vni(&mut self, config: L2VniConfig) {
        let vni = config.vni;
        if self.l2.get(&vni).is_some_and(|d| d.config == config) {
            return;
        }
        self.handle_l2vni_removed(vni);
        let vtep = config.vtep.unwrap_or(self.config.vtep);
        let d = L2Domain::new(config, self.config.router_id, self.config.asn);
        let rd = d.rd;
        let attrs = self.attrs.intern(type3_attrs(&d.export, vni, vtep));
        self.l2.insert(vni, d);
        info!(vni, rd = %rd, "l2vni added");
        let key = EvpnRouteKey::InclusiveMulticast {
            rd,
            ethernet_tag: EthernetTag(0),
            originator: vtep,
        };
        let f = self.fields.intern(EvpnFields::default());
        self.set_evpn_path(&key, Source::Local, Some((attrs, f)));
        // Only the new domain imports: the others have seen every route already (a scan per
        // domain over every route would make N VNIs cost N³).
        let slots: Vec<u32> = self.evpn.table.slots().collect();
        for s in slots {
            self.import_l2_into(s, Some(vni));
        }
        self.refresh_own();
        self.settle();
    }

    /// Removes an L2VNI: withdraws its routes and undoes its datapath entries.
    pub fn handle_l2vni_removed(&mut self, vni: u32) {
        let Some(mut d) = self.l2.remove(&vni) else {
            return;
        };
        let rd = d.rd;
        let keys: Vec<EvpnRouteKey> = self
            .evpn
            .table
            .slots()
            .map(|s| self.evpn.table.get(s).0.clone())
            .filter(|k| match k {
                EvpnRouteKey::MacIp { rd: r, .. }
                | EvpnRouteKey::InclusiveMulticast { rd: r, .. } => *r == rd,
                _ => false,
            })
            .collect();
        for k in keys {
            self.set_evpn_path(&k, Source::Local, None);
        }
        self.l2_deltas.extend(d.teardown());
        self.refresh_own();
        info!(vni, "l2vni removed");
        self.settle();
    }

    /// The datapath learned (`present`) or lost a local MAC, or a MAC+IP binding, in an L2VNI.
    pub fn handle_local_mac(
        &mut self,
        vni: u32,
        mac: MacAddress,
        ip: Option<IpAddr>,
        present: bool,
        sticky: bool,
    ) -> Result<(), RibError> {
        let d = self.l2.get_mut(&vni).ok_or(RibError::UnknownL2Vni(vni))?;
        d.set_local(mac, ip, present, sticky);
        self.resolve_mac(vni, mac);
        self.settle();
        Ok(())
    }

    /// Feeds the type-2/type-3 route in `slot` to the L2VNIs that import it.
    pub(super) fn import_l2(&mut self, slot: u32) {
        self.import_l2_into(slot, None);
    }

    /// [`Self::import_l2`] for one L2VNI (`Some`) or all of them (`None`).
    fn import_l2_into(&mut self, slot: u32, only: Option<u32>) {
        if self.l2.is_empty() {
            return;
        }
        let (key, e) = self.evpn.table.get(slot);
        let best = e
            .best()
            .filter(|p| p.source != Source::Local)
            .map(|p| p.attrs.clone());
        // For the symmetric IRB host route: who sent it and its L3VNI (label 2, RFC 9135 §5.1).
        let origin = e
            .best()
            .filter(|p| p.source != Source::Local)
            .and_then(|p| Some((p.source.peer()?, p.extra.label2?.vni())));
        if only.is_some() && best.is_none() {
            // A domain just created holds nothing a missing route could take away.
            return;
        }
        let key = key.clone();
        let vnis: Vec<u32> = match only {
            Some(v) => vec![v],
            None => self.l2.keys().copied().collect(),
        };
        for vni in vnis {
            let Some(d) = self.l2.get_mut(&vni) else {
                continue;
            };
            let ours = match &key {
                EvpnRouteKey::MacIp { rd, .. } | EvpnRouteKey::InclusiveMulticast { rd, .. } => {
                    *rd == d.rd
                }
                _ => true,
            };
            if ours {
                continue;
            }
            let imported = best.as_ref().filter(|a| d.imports(a.route_targets()));
            match &key {
                EvpnRouteKey::MacIp { rd, mac, ip, .. } => {
                    let r = imported.and_then(|a| {
                        let (sticky, seq) = a.mac_mobility().unwrap_or((false, 0));
                        a.next_hop.map(|vtep| RemoteMac {
                            rd: rd.to_bytes(),
                            ip: *ip,
                            vtep,
                            seq,
                            sticky,
                        })
                    });
                    if let Some(r) = &r {
                        self.track(r.vtep);
                    }
                    let d = self.l2.get_mut(&vni).expect("key from the map");
                    d.set_remote(*mac, rd.to_bytes(), *ip, r);
                    let vrf = d.config.vrf;
                    self.resolve_mac(vni, *mac);
                    if let (Some(host), Some(vrf)) = (ip.filter(|i| routable(*i)), vrf) {
                        // Symmetric IRB (RFC 9135 §4.1): a remote MAC+IP route with an L3VNI
                        // and a router MAC is a /32 (/128) host route in the L2VNI's VRF. An
                        // IPv6 link-local binding never is (RFC 4291 §2.5.6: not routable).
                        let v = imported.zip(origin).and_then(|(a, (peer, l3vni))| {
                            a.router_mac()?;
                            a.next_hop?;
                            Some((a.clone(), peer, l3vni))
                        });
                        let prefix = IpNet::from(host);
                        let rd = rd.to_bytes();
                        match v {
                            Some((a, peer, l3vni)) => self.set_vrf_path(
                                vrf,
                                &prefix,
                                Source::Evpn { rd, peer },
                                Some((a, l3vni)),
                            ),
                            None => self.set_vrf_path(
                                vrf,
                                &prefix,
                                Source::Evpn {
                                    rd,
                                    peer: PeerId(0),
                                },
                                None,
                            ),
                        }
                    }
                }
                EvpnRouteKey::InclusiveMulticast { rd, originator, .. } => {
                    let vtep = imported.map(|a| match a.pmsi().map(|p| &p.tunnel_id) {
                        Some(perouter_evpn::PmsiTunnelId::IngressReplication(ip)) => *ip,
                        _ => *originator,
                    });
                    if let Some(v) = vtep {
                        self.track(v);
                    }
                    let d = self.l2.get_mut(&vni).expect("key from the map");
                    // A withdrawn route: forget it under whatever VTEP it named.
                    d.set_flood_route(vtep.unwrap_or(*originator), rd.to_bytes(), vtep.is_some());
                    if vtep.is_none() {
                        if let Some(IpAddr::V4(_) | IpAddr::V6(_)) = Some(*originator) {
                            d.set_flood_route(*originator, rd.to_bytes(), false);
                        }
                    }
                    let tracker = &self.tracker;
                    let deltas = d.resolve_flood(|v| tracker.cached(v));
                    self.l2_deltas.extend(deltas);
                }
                _ => {}
            }
        }
    }

    /// Resolves one MAC of an L2VNI and applies the plan: local type-2 routes and deltas.
    pub(super) fn resolve_mac(&mut self, vni: u32, mac: MacAddress) {
        let now = self.now.unwrap_or_else(Instant::now);
        let default_vtep = self.config.vtep;
        let tracker = &self.tracker;
        let Some(d) = self.l2.get_mut(&vni) else {
            return;
        };
        let vtep = d.config.vtep.unwrap_or(default_vtep);
        let plan: MacPlan = d.resolve_mac(mac, vtep, now, |v| tracker.cached(v));
        if plan.duplicate {
            warn!(vni, mac = %mac, "MAC moved too often: duplicate detected, frozen (RFC 7432 §15.1)");
            self.events.push_back(RibEvent::DuplicateMac { vni, mac });
        }
        self.l2_deltas.extend(plan.deltas);
        let rd = d.rd;
        let l2_rts = d.export.clone();
        let l3 = d.config.vrf.and_then(|v| self.vrfs.get(&v)).map(|st| {
            (
                st.vrf.export.clone(),
                st.vrf.config.router_mac,
                st.vrf.config.l3vni,
            )
        });
        let mut ips = plan.all_local_ips.clone();
        ips.extend(plan.advertise.iter().map(|a| a.0));
        ips.sort();
        ips.dedup();
        for ip in ips {
            let key = EvpnRouteKey::MacIp {
                rd,
                ethernet_tag: EthernetTag(0),
                mac,
                ip,
            };
            let adv = plan.advertise.iter().find(|a| a.0 == ip);
            let v = adv.map(|&(ip, seq, sticky)| {
                // L3 attributes (label 2, the L3VNI's RTs, the router MAC; RFC 9135 §5.1) only
                // for a routable IP: an IPv6 link-local binding is advertised for the bridge
                // (ARP/ND suppression) alone, as FRR does.
                let l3_for_route = l3.as_ref().filter(|_| ip.is_some_and(routable));
                let attrs = self.attrs.intern(type2_attrs(
                    &l2_rts,
                    l3_for_route.map(|(rts, mac, _)| (rts.as_slice(), *mac)),
                    vtep,
                    seq,
                    sticky,
                ));
                let f = self.fields.intern(EvpnFields {
                    label1: Label::from_vni(vni),
                    label2: l3_for_route.map(|(_, _, l3vni)| Label::from_vni(*l3vni)),
                    ..Default::default()
                });
                (attrs, f)
            });
            self.set_evpn_path(&key, Source::Local, v);
        }
    }
}

/// Whether a MAC+IP binding's IP can be a host route in a VRF: not an IPv6 link-local address
/// (RFC 4291 §2.5.6), which every host has on every link and no router forwards.
fn routable(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(_) => true,
        IpAddr::V6(v6) => !v6.is_unicast_link_local(),
    }
}
