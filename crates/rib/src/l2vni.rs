//! L2VNIs (MAC-VRFs of RFC 7432 over VXLAN, RFC 8365): local MACs become type-2 routes,
//! remote type-2/type-3 routes become FDB, flood-list and neighbour entries, and MAC mobility
//! (RFC 7432 §15) decides where a MAC lives.
//!
//! Mobility rules (§15.1-15.2, landscape pitfall 8): a sticky (static) MAC wins over a
//! non-sticky one; otherwise the higher sequence number wins; on equal sequence numbers the
//! lower VTEP address wins. When we learn a MAC that a remote VTEP advertises, we advertise it
//! with the remote sequence number plus one. Duplicate detection (§15.1): a MAC that moves
//! `max_moves` times within `window` is frozen: we stop advertising changes for it and say so
//! (FRR's `dup-addr-detection`, default 5 moves in 180 s).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use perouter_evpn::{derive, MacAddress, RouteDistinguisher, RouteTarget, RouteTargetMatch};

use crate::forwarding::ForwardingDelta;
use crate::vrf::VrfId;

/// Duplicate-address detection settings (RFC 7432 §15.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DupDetection {
    /// Moves that make a MAC a duplicate.
    pub max_moves: u32,
    /// Within this window.
    pub window: Duration,
}

impl Default for DupDetection {
    fn default() -> Self {
        Self {
            max_moves: 5,
            window: Duration::from_secs(180),
        }
    }
}

/// One L2VNI's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L2VniConfig {
    /// The VNI (label 1 of its type-2 routes, RFC 8365 §5.1.3).
    pub vni: u32,
    /// Explicit RD, or `None` for auto `router-id:rd_index`.
    pub rd: Option<RouteDistinguisher>,
    /// Index for the auto RD.
    pub rd_index: u16,
    /// Explicit import RTs (empty: the `*:VNI` wildcard).
    pub import_rts: Vec<RouteTargetMatch>,
    /// Explicit export RTs (empty: auto `ASN:VNI`).
    pub export_rts: Vec<RouteTarget>,
    /// The routing domain (VRF with its L3VNI and router MAC) for symmetric IRB, if any: MAC+IP
    /// routes then carry label 2 = L3VNI, the L3 RTs and the router MAC (RFC 9135 §5.1).
    pub vrf: Option<VrfId>,
    /// Duplicate detection.
    pub dup_detection: DupDetection,
    /// This VNI's local VTEP (its VXLAN device's `local`), when it differs from the RIB's: an
    /// L2VNI with `underlayAddressFamily: IPv6` tunnels from the node's IPv6 VTEP while the
    /// others use the IPv4 one. It is the next hop of the VNI's type-2 routes (RFC 7432 §9.2.1)
    /// and the originator and PMSI tunnel endpoint of its type-3 route (RFC 7432 §11, RFC 6514
    /// §5). `None`: the RIB's VTEP ([`crate::RibConfig::vtep`]).
    pub vtep: Option<IpAddr>,
}

/// A remote type-2 route for a MAC, as the domain sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RemoteMac {
    pub rd: [u8; 8],
    pub ip: Option<IpAddr>,
    pub vtep: IpAddr,
    pub seq: u32,
    pub sticky: bool,
}

/// A MAC learned on a local port.
#[derive(Debug, Clone, Default)]
pub(crate) struct LocalMac {
    pub present: bool,
    pub sticky: bool,
    pub seq: u32,
    pub ips: BTreeSet<IpAddr>,
    pub moves: VecDeque<Instant>,
    pub frozen: bool,
    /// Learned (again) since the last resolution.
    pub fresh: bool,
    /// Whether we owned the MAC at the last resolution (to count moves on transitions).
    pub local_won: bool,
    /// IPs whose binding went since the last resolution: their MAC+IP routes are withdrawn.
    pub gone: Vec<IpAddr>,
}

/// What we should advertise for a local MAC: `(ip, seq, sticky)` per route (ip `None` is the
/// MAC-only route).
pub(crate) type LocalAdvert = Vec<(Option<IpAddr>, u32, bool)>;

/// The outcome of resolving one MAC.
#[derive(Debug, Default)]
pub(crate) struct MacPlan {
    /// The local routes to have in the EVPN table (everything else for this MAC is withdrawn).
    pub advertise: LocalAdvert,
    /// All local route IPs that existed (to withdraw those not in `advertise`).
    pub all_local_ips: Vec<Option<IpAddr>>,
    /// Datapath changes.
    pub deltas: Vec<ForwardingDelta>,
    /// Set when the MAC was just declared a duplicate.
    pub duplicate: bool,
}

/// One MAC of an L2VNI as `show evpn mac vni` lists it: where it lives now and what the
/// bridge was told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacEntry {
    /// The VNI.
    pub vni: u32,
    /// The MAC.
    pub mac: MacAddress,
    /// Learned on a local port and ours: we advertise it.
    pub local: bool,
    /// The remote VTEP the bridge forwards it to (its FDB entry), when remote.
    pub vtep: Option<IpAddr>,
    /// IPs bound to it: the local ones we advertise, or the neighbour entries installed
    /// for it from remote MAC+IP routes.
    pub ips: Vec<IpAddr>,
    /// Our MAC mobility sequence number (RFC 7432 §15), when learned locally.
    pub local_seq: Option<u32>,
    /// The highest sequence number among the remote routes for it.
    pub remote_seq: Option<u32>,
    /// Sticky (static) on either side: it never moves (RFC 7432 §15.2).
    pub sticky: bool,
    /// Declared a duplicate after too many moves and frozen (RFC 7432 §15.1).
    pub duplicate: bool,
    /// Every remote VTEP advertising it (more than one while it moves).
    pub remote_vteps: Vec<IpAddr>,
}

/// One L2VNI's state.
#[derive(Debug)]
pub(crate) struct L2Domain {
    pub config: L2VniConfig,
    pub rd: RouteDistinguisher,
    pub import: Vec<RouteTargetMatch>,
    pub export: Vec<RouteTarget>,
    pub local: HashMap<MacAddress, LocalMac>,
    pub remote: HashMap<MacAddress, Vec<RemoteMac>>,
    fdb: HashMap<MacAddress, IpAddr>,
    neigh: HashMap<IpAddr, MacAddress>,
    /// Remote type-3 routes per VTEP (by RD), and the VTEPs installed in the flood list.
    flood_routes: BTreeMap<IpAddr, BTreeSet<[u8; 8]>>,
    flood: BTreeSet<IpAddr>,
}

impl L2Domain {
    pub fn new(config: L2VniConfig, router_id: Ipv4Addr, asn: u32) -> Self {
        let rd = config
            .rd
            .unwrap_or_else(|| derive::auto_route_distinguisher(router_id, config.rd_index));
        let import = if config.import_rts.is_empty() {
            vec![derive::wildcard_import(config.vni)]
        } else {
            config.import_rts.clone()
        };
        let export = if config.export_rts.is_empty() {
            vec![derive::frr_auto_route_target(asn, config.vni)]
        } else {
            config.export_rts.clone()
        };
        Self {
            config,
            rd,
            import,
            export,
            local: HashMap::new(),
            remote: HashMap::new(),
            fdb: HashMap::new(),
            neigh: HashMap::new(),
            flood_routes: BTreeMap::new(),
            flood: BTreeSet::new(),
        }
    }

    /// Every MAC the domain knows, local or remote, sorted by MAC.
    pub fn mac_entries(&self) -> Vec<MacEntry> {
        let macs: BTreeSet<MacAddress> = self
            .local
            .iter()
            .filter(|(_, l)| l.present)
            .map(|(m, _)| *m)
            .chain(self.remote.keys().copied())
            .collect();
        macs.into_iter()
            .map(|mac| {
                let local = self.local.get(&mac).filter(|l| l.present);
                let remote = self.remote.get(&mac).map(Vec::as_slice).unwrap_or(&[]);
                let is_local = local.is_some_and(|l| l.local_won);
                let ips = match (is_local, local) {
                    (true, Some(l)) => l.ips.iter().copied().collect(),
                    _ => {
                        let mut v: Vec<IpAddr> = self
                            .neigh
                            .iter()
                            .filter(|(_, m)| **m == mac)
                            .map(|(ip, _)| *ip)
                            .collect();
                        v.sort();
                        v
                    }
                };
                let remote_vteps: BTreeSet<IpAddr> = remote.iter().map(|r| r.vtep).collect();
                MacEntry {
                    vni: self.config.vni,
                    mac,
                    local: is_local,
                    vtep: self.fdb.get(&mac).copied(),
                    ips,
                    local_seq: local.map(|l| l.seq),
                    remote_seq: remote.iter().map(|r| r.seq).max(),
                    sticky: local.is_some_and(|l| l.sticky) || remote.iter().any(|r| r.sticky),
                    duplicate: local.is_some_and(|l| l.frozen),
                    remote_vteps: remote_vteps.into_iter().collect(),
                }
            })
            .collect()
    }

    /// Whether a route with these RTs belongs to this domain.
    pub fn imports(&self, mut rts: impl Iterator<Item = RouteTarget>) -> bool {
        rts.any(|rt| self.import.iter().any(|m| m.matches(&rt)))
    }

    /// Records (or with `None`, forgets) the remote route `(rd, ip)` for `mac`.
    pub fn set_remote(
        &mut self,
        mac: MacAddress,
        rd: [u8; 8],
        ip: Option<IpAddr>,
        r: Option<RemoteMac>,
    ) {
        let list = self.remote.entry(mac).or_default();
        list.retain(|x| !(x.rd == rd && x.ip == ip));
        if let Some(r) = r {
            list.push(r);
        }
        if list.is_empty() {
            self.remote.remove(&mac);
        }
    }

    /// Records a local MAC (and IP) appearing or going away.
    pub fn set_local(&mut self, mac: MacAddress, ip: Option<IpAddr>, present: bool, sticky: bool) {
        let l = self.local.entry(mac).or_default();
        match (ip, present) {
            // A binding only: the MAC is local once it is learned on a local port (the
            // bridge resolves remote hosts' addresses too, e.g. their IPv6 link-local ones).
            (Some(ip), true) => {
                l.ips.insert(ip);
            }
            (Some(ip), false) => {
                if l.ips.remove(&ip) {
                    l.gone.push(ip);
                }
            }
            (None, true) => {
                l.present = true;
                l.sticky = sticky;
                l.fresh = true;
            }
            // The MAC aged out of (or was deleted from) the bridge: its MAC+IP routes go with
            // its MAC route (RFC 7432 §9.1: only hosts the bridge knows are advertised; an
            // absent MAC advertises nothing). Its IP bindings stay while the kernel keeps the
            // neighbour entries, so a MAC learned again is advertised with them at once: the
            // kernel tells nothing new of a neighbour that did not change, and without its
            // MAC+IP route the fabric reaches the host through the subnet's type-5 on any
            // node, whose probe the host answers to the anycast gateway of its own node
            // (upstream-l2.sh's IPv6 pods went dark that way).
            (None, false) => {
                l.present = false;
            }
        }
    }

    /// Resolves where `mac` lives and what to advertise and install. `our_vtep` breaks
    /// sequence ties (RFC 7432 §15.1); `reachable` filters remote VTEPs (next-hop tracking).
    pub fn resolve_mac(
        &mut self,
        mac: MacAddress,
        our_vtep: IpAddr,
        now: Instant,
        reachable: impl Fn(IpAddr) -> bool,
    ) -> MacPlan {
        let vni = self.config.vni;
        let dup = self.config.dup_detection;
        let mut plan = MacPlan::default();
        // Best remote claim: per VTEP the highest sequence; then sticky, seq, lower VTEP.
        let remotes = self.remote.get(&mac).map(Vec::as_slice).unwrap_or(&[]);
        let best_remote = remotes
            .iter()
            .max_by(|a, b| {
                (a.sticky, a.seq, std::cmp::Reverse(a.vtep)).cmp(&(
                    b.sticky,
                    b.seq,
                    std::cmp::Reverse(b.vtep),
                ))
            })
            .copied();
        let remote_seq = remotes.iter().map(|r| r.seq).max();
        let mut local_wins = false;
        if let Some(l) = self.local.get_mut(&mac) {
            plan.all_local_ips.push(None);
            plan.all_local_ips.extend(l.ips.iter().map(|&ip| Some(ip)));
            plan.all_local_ips.extend(l.gone.drain(..).map(Some));
            if l.present {
                let fresh = std::mem::take(&mut l.fresh);
                let mut moved = false;
                if let Some(rs) = remote_seq {
                    if fresh {
                        // A MAC we learn while a remote VTEP claims it has moved to us:
                        // outbid the remote claim (RFC 7432 §15.1).
                        if !l.frozen {
                            l.seq = l.seq.max(rs.saturating_add(1));
                        }
                        moved = true;
                    }
                }
                local_wins = match best_remote {
                    None => true,
                    Some(r) => {
                        (l.sticky, l.seq, std::cmp::Reverse(our_vtep))
                            > (r.sticky, r.seq, std::cmp::Reverse(r.vtep))
                    }
                };
                if l.local_won && !local_wins {
                    moved = true;
                }
                l.local_won = local_wins;
                if moved {
                    l.moves.push_back(now);
                    while l
                        .moves
                        .front()
                        .is_some_and(|&t| now.duration_since(t) > dup.window)
                    {
                        l.moves.pop_front();
                    }
                    if !l.frozen && l.moves.len() >= dup.max_moves as usize {
                        l.frozen = true;
                        plan.duplicate = true;
                    }
                }
                if local_wins {
                    plan.advertise.push((None, l.seq, l.sticky));
                    plan.advertise
                        .extend(l.ips.iter().map(|&ip| (Some(ip), l.seq, l.sticky)));
                } else if !fresh
                    && best_remote.is_some_and(|r| r.seq > l.seq || (r.sticky && !l.sticky))
                {
                    // A newer claim from another VTEP (a higher sequence, or a sticky one)
                    // outbid a MAC we had learned: the host moved there (RFC 7432 §15.1). It
                    // is no longer local (the bridge now forwards it to that VTEP), so a later
                    // withdrawal of that claim does not bring our stale route back; it is
                    // local again only when the bridge learns it again on a local port (its IP
                    // bindings kept for then). A tie lost on the VTEP address is no move: the MAC
                    // stays ours and wins again when that claim goes (upstream-l2.sh's IPv6
                    // phase lost a pod for good when ties counted).
                    if let Some(r) = best_remote {
                        tracing::info!(vni, mac = %mac, vtep = %r.vtep, seq = r.seq, our_seq = l.seq,
                            "local MAC outbid: it moved to another VTEP (RFC 7432 §15)");
                    }
                    l.present = false;
                }
            }
            // Kept while another VTEP claims the MAC, with its sequence number and moves, for
            // duplicate detection if it comes back (RFC 7432 §15.1).
            if !l.present && l.ips.is_empty() && !l.frozen && remotes.is_empty() {
                self.local.remove(&mac);
            }
        }
        // FDB: the winning remote VTEP, when it wins and is reachable.
        let want = match best_remote {
            Some(r) if !local_wins && reachable(r.vtep) => Some(r.vtep),
            _ => None,
        };
        let have = self.fdb.get(&mac).copied();
        if want != have {
            match want {
                Some(v) => self.fdb.insert(mac, v),
                None => self.fdb.remove(&mac),
            };
            plan.deltas.push(ForwardingDelta::Fdb {
                vni,
                mac,
                vtep: want,
            });
        }
        // Neighbour entries for the IPs the winning VTEP binds to this MAC.
        let ips: BTreeSet<IpAddr> = match want {
            Some(v) => remotes
                .iter()
                .filter(|r| r.vtep == v)
                .filter_map(|r| r.ip)
                .collect(),
            None => BTreeSet::new(),
        };
        let stale: Vec<IpAddr> = self
            .neigh
            .iter()
            .filter(|(ip, m)| **m == mac && !ips.contains(ip))
            .map(|(ip, _)| *ip)
            .collect();
        for ip in stale {
            self.neigh.remove(&ip);
            plan.deltas
                .push(ForwardingDelta::Neighbor { vni, ip, mac: None });
        }
        for ip in ips {
            if self.neigh.insert(ip, mac) != Some(mac) {
                plan.deltas.push(ForwardingDelta::Neighbor {
                    vni,
                    ip,
                    mac: Some(mac),
                });
            }
        }
        plan
    }

    /// Whether `mac` is frozen as a duplicate.
    #[cfg(test)]
    pub fn is_frozen(&self, mac: &MacAddress) -> bool {
        self.local.get(mac).is_some_and(|l| l.frozen)
    }

    /// Records a remote type-3 route (or its withdrawal) from `vtep` with `rd`.
    pub fn set_flood_route(&mut self, vtep: IpAddr, rd: [u8; 8], present: bool) {
        let set = self.flood_routes.entry(vtep).or_default();
        if present {
            set.insert(rd);
        } else {
            set.remove(&rd);
            if set.is_empty() {
                self.flood_routes.remove(&vtep);
            }
        }
    }

    /// Brings the flood list in line with the type-3 routes and VTEP reachability.
    pub fn resolve_flood(&mut self, reachable: impl Fn(IpAddr) -> bool) -> Vec<ForwardingDelta> {
        let want: BTreeSet<IpAddr> = self
            .flood_routes
            .keys()
            .copied()
            .filter(|&v| reachable(v))
            .collect();
        let vni = self.config.vni;
        let mut out = Vec::new();
        for &v in self.flood.difference(&want) {
            out.push(ForwardingDelta::Flood {
                vni,
                vtep: v,
                present: false,
            });
        }
        for &v in want.difference(&self.flood) {
            out.push(ForwardingDelta::Flood {
                vni,
                vtep: v,
                present: true,
            });
        }
        self.flood = want;
        out
    }

    /// Every MAC the domain knows of (for walks after reachability changes).
    pub fn macs(&self) -> Vec<MacAddress> {
        let mut v: Vec<MacAddress> = self
            .remote
            .keys()
            .chain(self.local.keys())
            .copied()
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Removal of the domain: deltas that undo everything it installed.
    pub fn teardown(&mut self) -> Vec<ForwardingDelta> {
        let vni = self.config.vni;
        let mut out: Vec<ForwardingDelta> = self
            .fdb
            .drain()
            .map(|(mac, _)| ForwardingDelta::Fdb {
                vni,
                mac,
                vtep: None,
            })
            .collect();
        out.extend(self.neigh.drain().map(|(ip, _)| ForwardingDelta::Neighbor {
            vni,
            ip,
            mac: None,
        }));
        out.extend(std::mem::take(&mut self.flood).into_iter().map(|vtep| {
            ForwardingDelta::Flood {
                vni,
                vtep,
                present: false,
            }
        }));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain() -> L2Domain {
        L2Domain::new(
            L2VniConfig {
                vni: 200,
                rd: None,
                rd_index: 1,
                import_rts: vec![],
                export_rts: vec![],
                vrf: None,
                dup_detection: DupDetection {
                    max_moves: 3,
                    window: Duration::from_secs(60),
                },
                vtep: None,
            },
            Ipv4Addr::new(10, 0, 0, 1),
            64512,
        )
    }

    const MAC: MacAddress = MacAddress([2, 0, 0, 0, 0, 0x11]);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn remote(vtep: &str, seq: u32, sticky: bool) -> RemoteMac {
        RemoteMac {
            rd: [vtep.len() as u8; 8],
            ip: None,
            vtep: ip(vtep),
            seq,
            sticky,
        }
    }

    #[test]
    fn higher_sequence_wins_then_sticky_then_lower_vtep() {
        let mut d = domain();
        let t = Instant::now();
        let us = ip("192.0.2.1");
        let a = RemoteMac {
            rd: [1; 8],
            ..remote("192.0.2.10", 0, false)
        };
        let b = RemoteMac {
            rd: [2; 8],
            ..remote("192.0.2.20", 1, false)
        };
        d.set_remote(MAC, a.rd, None, Some(a));
        let p = d.resolve_mac(MAC, us, t, |_| true);
        assert_eq!(
            p.deltas,
            vec![ForwardingDelta::Fdb {
                vni: 200,
                mac: MAC,
                vtep: Some(a.vtep)
            }]
        );
        d.set_remote(MAC, b.rd, None, Some(b));
        let p = d.resolve_mac(MAC, us, t, |_| true);
        assert_eq!(
            p.deltas,
            vec![ForwardingDelta::Fdb {
                vni: 200,
                mac: MAC,
                vtep: Some(b.vtep)
            }],
            "seq 1 beats seq 0"
        );
        let a_sticky = RemoteMac { sticky: true, ..a };
        d.set_remote(MAC, a.rd, None, Some(a_sticky));
        let p = d.resolve_mac(MAC, us, t, |_| true);
        assert_eq!(
            p.deltas,
            vec![ForwardingDelta::Fdb {
                vni: 200,
                mac: MAC,
                vtep: Some(a.vtep)
            }],
            "sticky beats seq"
        );
        // Equal seq, no sticky: lower VTEP wins.
        d.set_remote(MAC, a.rd, None, Some(RemoteMac { seq: 1, ..a }));
        let p = d.resolve_mac(MAC, us, t, |_| true);
        assert!(
            p.deltas.is_empty(),
            "a (lower address) still wins on the tie"
        );
        // Unreachable VTEPs are not installed.
        let p = d.resolve_mac(MAC, us, t, |v| v != a.vtep);
        assert_eq!(
            p.deltas,
            vec![ForwardingDelta::Fdb {
                vni: 200,
                mac: MAC,
                vtep: None
            }]
        );
    }

    #[test]
    fn local_learn_outbids_remote_and_repeated_moves_freeze() {
        let mut d = domain();
        let us = ip("192.0.2.1");
        let t0 = Instant::now();
        let r = remote("192.0.2.10", 4, false);
        d.set_remote(MAC, r.rd, None, Some(r));
        d.resolve_mac(MAC, us, t0, |_| true);
        d.set_local(MAC, None, true, false);
        let p = d.resolve_mac(MAC, us, t0, |_| true);
        assert_eq!(
            p.advertise,
            vec![(None, 5, false)],
            "advertised with remote seq + 1"
        );
        assert_eq!(
            p.deltas,
            vec![ForwardingDelta::Fdb {
                vni: 200,
                mac: MAC,
                vtep: None
            }]
        );
        // The remote outbids us: we stop advertising (the MAC moved back).
        d.set_remote(MAC, r.rd, None, Some(RemoteMac { seq: 6, ..r }));
        let p = d.resolve_mac(MAC, us, t0 + Duration::from_secs(1), |_| true);
        assert!(p.advertise.is_empty());
        assert!(!p.duplicate);
        // Third move within the window: duplicate.
        d.set_local(MAC, None, true, false);
        let p = d.resolve_mac(MAC, us, t0 + Duration::from_secs(2), |_| true);
        assert!(p.duplicate);
        assert!(d.is_frozen(&MAC));
    }

    #[test]
    fn a_binding_or_mac_that_goes_withdraws_its_mac_ip_routes() {
        let mut d = domain();
        let us = ip("192.0.2.1");
        let t = Instant::now();
        let (v4, v6) = (ip("10.1.0.5"), ip("2001:db8::5"));
        d.set_local(MAC, None, true, false);
        d.set_local(MAC, Some(v4), true, false);
        d.set_local(MAC, Some(v6), true, false);
        let p = d.resolve_mac(MAC, us, t, |_| true);
        assert_eq!(
            p.advertise,
            vec![(None, 0, false), (Some(v4), 0, false), (Some(v6), 0, false)]
        );
        // The IPv4 neighbour goes: its route is among those the RIB withdraws.
        d.set_local(MAC, Some(v4), false, false);
        let p = d.resolve_mac(MAC, us, t, |_| true);
        assert_eq!(p.advertise, vec![(None, 0, false), (Some(v6), 0, false)]);
        assert!(p.all_local_ips.contains(&Some(v4)), "{:?}", p.all_local_ips);
        // The MAC ages out of the bridge: the MAC route and the IPv6 one go.
        d.set_local(MAC, None, false, false);
        let p = d.resolve_mac(MAC, us, t, |_| true);
        assert!(p.advertise.is_empty());
        assert!(p.all_local_ips.contains(&None) && p.all_local_ips.contains(&Some(v6)));
        // Learned again: advertised at once with the binding the kernel still holds (no new
        // neighbour event comes for an entry that did not change).
        d.set_local(MAC, None, true, false);
        let p = d.resolve_mac(MAC, us, t, |_| true);
        assert_eq!(p.advertise, vec![(None, 0, false), (Some(v6), 0, false)]);
        // The neighbour goes, then the MAC: nothing is left to withdraw after that.
        d.set_local(MAC, Some(v6), false, false);
        d.set_local(MAC, None, false, false);
        let p = d.resolve_mac(MAC, us, t, |_| true);
        assert!(p.advertise.is_empty());
        assert!(p.all_local_ips.contains(&Some(v6)));
        let p = d.resolve_mac(MAC, us, t, |_| true);
        assert!(p.all_local_ips.is_empty(), "{:?}", p.all_local_ips);
    }

    #[test]
    fn an_outbid_local_mac_is_no_longer_local_until_learned_again() {
        let mut d = domain();
        let us = ip("192.0.2.1");
        let t = Instant::now();
        let v4 = ip("10.1.0.5");
        d.set_local(MAC, None, true, false);
        d.set_local(MAC, Some(v4), true, false);
        let p = d.resolve_mac(MAC, us, t, |_| true);
        assert_eq!(p.advertise, vec![(None, 0, false), (Some(v4), 0, false)]);
        // The host moved: another VTEP claims the MAC with sequence 1.
        let r = remote("192.0.2.10", 1, false);
        d.set_remote(MAC, r.rd, None, Some(r));
        let p = d.resolve_mac(MAC, us, t, |_| true);
        assert!(p.advertise.is_empty());
        assert!(p.all_local_ips.contains(&Some(v4)));
        assert!(!d.mac_entries()[0].local);
        // That VTEP withdraws (the host aged out there): our old route does not come back.
        // (A tie lost on the VTEP address is no move: see the test below.)
        d.set_remote(MAC, r.rd, None, None);
        let p = d.resolve_mac(MAC, us, t, |_| true);
        assert!(p.advertise.is_empty(), "{:?}", p.advertise);
        assert!(d.mac_entries().is_empty());
        // Learned here again: advertised, with the binding the kernel still holds.
        d.set_local(MAC, None, true, false);
        let p = d.resolve_mac(MAC, us, t, |_| true);
        assert_eq!(p.advertise, vec![(None, 0, false), (Some(v4), 0, false)]);
        // Outbid, then learned back while the other claim stands: the sequence outbids it.
        d.set_remote(MAC, r.rd, None, Some(RemoteMac { seq: 3, ..r }));
        assert!(d.resolve_mac(MAC, us, t, |_| true).advertise.is_empty());
        d.set_local(MAC, None, true, false);
        let p = d.resolve_mac(MAC, us, t, |_| true);
        assert_eq!(p.advertise, vec![(None, 4, false), (Some(v4), 4, false)]);
    }

    #[test]
    fn a_tie_lost_on_the_vtep_address_keeps_the_mac_local() {
        let mut d = domain();
        let us = ip("192.0.2.20");
        let t = Instant::now();
        d.set_local(MAC, None, true, false);
        assert_eq!(
            d.resolve_mac(MAC, us, t, |_| true).advertise,
            vec![(None, 0, false)]
        );
        // A lower VTEP claims the MAC with the same sequence: it wins the tie (RFC 7432 §15.1).
        let r = remote("192.0.2.10", 0, false);
        d.set_remote(MAC, r.rd, None, Some(r));
        assert!(d.resolve_mac(MAC, us, t, |_| true).advertise.is_empty());
        // Its claim goes: the MAC is ours again without being learned again.
        d.set_remote(MAC, r.rd, None, None);
        let p = d.resolve_mac(MAC, us, t, |_| true);
        assert_eq!(p.advertise, vec![(None, 0, false)]);
        assert!(d.mac_entries()[0].local);
    }

    #[test]
    fn flood_list_follows_type3_routes_and_reachability() {
        let mut d = domain();
        let v = ip("192.0.2.10");
        d.set_flood_route(v, [1; 8], true);
        assert_eq!(
            d.resolve_flood(|_| true),
            vec![ForwardingDelta::Flood {
                vni: 200,
                vtep: v,
                present: true
            }]
        );
        assert!(d.resolve_flood(|_| true).is_empty());
        assert_eq!(
            d.resolve_flood(|_| false),
            vec![ForwardingDelta::Flood {
                vni: 200,
                vtep: v,
                present: false
            }]
        );
        d.set_flood_route(v, [1; 8], false);
        assert!(d.resolve_flood(|_| true).is_empty());
    }
}
