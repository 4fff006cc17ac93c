//! Next hops: which addresses can never be a next hop (RFC 4271 §5.1.3), and which next hops
//! the underlay can reach (next-hop tracking, RFC 4271 §9.1.2.1).
//!
//! # Invalid next hops
//!
//! [`defect`] names what is wrong with an address that cannot be a next hop whatever the
//! routing state: unspecified (0.0.0.0, ::), loopback (127/8, ::1), multicast (224/4, ff00::/8),
//! the limited broadcast (255.255.255.255) and the rest of class E (240/4), and IPv6 link-local
//! where it is not appropriate (an EVPN route's VTEP must be routable; a link-local next hop is
//! fine for unicast routes from a directly connected session, which is what RFC 2545 §3 uses it
//! for). Our own addresses (router ID, VTEP, the local address of every session, and whatever
//! the agent reports with [`crate::Rib::handle_local_address`]) are checked by the RIB, which
//! knows them. A path with such a next hop stays in the Adj-RIB-In (it can be shown) but is not
//! eligible: never selected, so never re-advertised nor installed.
//!
//! # Reachability (next-hop tracking)
//!
//! [`NextHopTracker`] decides whether the router namespace (the default instance) can reach a
//! next hop. That covers the VTEPs of EVPN routes and the next hops of default-table paths
//! (fabric and passthrough sessions). A next hop is reachable when:
//!
//! 1. it is the address of an established fabric or passthrough session (the neighbour itself:
//!    the session is up over it, so it is on the session's link or routed to);
//! 2. it is IPv6 link-local (on-link by definition, on the link of the session it came from);
//! 3. a connected prefix of the router namespace covers it (the agent feeds them with
//!    [`crate::Rib::handle_connected`]); or
//! 4. a non-default best route of the default table covers it, other than a route whose own
//!    best path goes through that very next hop (a route cannot resolve through itself). Like
//!    FRR, the default route does not count (`ip nht resolve-via-default` is off by default).
//!
//! Rules 1, 2 and 4 always apply to VTEPs. For the gateways of default-table paths, which are
//! normally on the link of the session they came from (for example the global IPv6 next hop
//! of a fabric neighbour on an IPv4 session), the check needs rule 3: until the first
//! connected prefix is reported ([`NextHopTracker::gateway_reachable`]) they are taken as
//! reachable, so a node whose agent does not report its connected prefixes keeps forwarding.
//!
//! Host-session (VRF) paths are checked by the RIB against the session itself: their next hop
//! must be the host's address on the veth (or link-local), since the veth is the only link.
//! A path whose next hop is unreachable is not eligible (RFC 4271 §9.1.2.1): it is not
//! installed nor re-advertised, and it is re-evaluated as soon as reachability changes.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;

/// Why an address cannot be a next hop (RFC 4271 §5.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Defect {
    /// 0.0.0.0 or ::.
    Unspecified,
    /// 127.0.0.0/8 or ::1.
    Loopback,
    /// 224.0.0.0/4 or ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 240.0.0.0/4 (class E, reserved).
    ClassE,
    /// fe80::/10 where a routable address is needed (an EVPN route's VTEP).
    LinkLocal,
    /// One of this router's own addresses.
    Ours,
    /// A peer path without a next hop.
    Missing,
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Defect::Unspecified => "unspecified address",
            Defect::Loopback => "loopback address",
            Defect::Multicast => "multicast address",
            Defect::Broadcast => "broadcast address",
            Defect::ClassE => "class E (reserved) address",
            Defect::LinkLocal => "link-local address where a routable one is needed",
            Defect::Ours => "one of our own addresses",
            Defect::Missing => "no next hop",
        })
    }
}

/// Whether `ip` is an IPv6 link-local unicast address (fe80::/10).
pub fn is_link_local(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V6(a) if a.segments()[0] & 0xffc0 == 0xfe80)
}

/// What makes `ip` unusable as a next hop whatever the routing state, if anything.
/// `link_local_ok`: whether a link-local IPv6 address is acceptable (unicast routes from a
/// directly connected session) or not (an EVPN VTEP).
pub fn defect(ip: IpAddr, link_local_ok: bool) -> Option<Defect> {
    match ip {
        IpAddr::V4(a) => {
            if a.is_unspecified() {
                Some(Defect::Unspecified)
            } else if a.is_loopback() {
                Some(Defect::Loopback)
            } else if a.is_multicast() {
                Some(Defect::Multicast)
            } else if a.is_broadcast() {
                Some(Defect::Broadcast)
            } else if a.octets()[0] >= 240 {
                Some(Defect::ClassE)
            } else {
                None
            }
        }
        IpAddr::V6(a) => {
            if let Some(v4) = a.to_ipv4_mapped() {
                return defect(IpAddr::V4(v4), link_local_ok);
            }
            if a.is_unspecified() {
                Some(Defect::Unspecified)
            } else if a.is_loopback() {
                Some(Defect::Loopback)
            } else if a.is_multicast() {
                Some(Defect::Multicast)
            } else if !link_local_ok && is_link_local(ip) {
                Some(Defect::LinkLocal)
            } else {
                None
            }
        }
    }
}

/// Tracks the next hops (VTEPs and default-table gateways) routes depend on and whether the
/// router namespace can reach each; see the module documentation for the rules.
#[derive(Debug, Default)]
pub struct NextHopTracker {
    connected: BTreeSet<IpNet>,
    /// Addresses of established default-instance sessions, with how many sessions use each.
    neighbors: HashMap<IpAddr, usize>,
    tracked: HashMap<IpAddr, bool>,
    /// Connected prefixes were reported at least once.
    connected_known: bool,
}

impl NextHopTracker {
    /// A tracker with no connected prefixes and no neighbours.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or removes a connected prefix of the router namespace (from the agent).
    pub fn set_connected(&mut self, prefix: IpNet, present: bool) {
        self.connected_known = true;
        if present {
            self.connected.insert(prefix.trunc());
        } else {
            self.connected.remove(&prefix.trunc());
        }
    }

    /// A default-instance session with the neighbour at `addr` came up (`present`) or went down.
    pub fn set_neighbor(&mut self, addr: IpAddr, present: bool) {
        if present {
            *self.neighbors.entry(addr).or_default() += 1;
        } else if let Some(n) = self.neighbors.get_mut(&addr) {
            *n -= 1;
            if *n == 0 {
                self.neighbors.remove(&addr);
            }
        }
    }

    /// The last known reachability of `nh`, tracking it from now on. `resolve` answers
    /// whether the default table has a covering route (called only for new next hops).
    pub fn reachable(&mut self, nh: IpAddr, resolve: impl FnOnce(IpAddr) -> bool) -> bool {
        if let Some(&r) = self.tracked.get(&nh) {
            return r;
        }
        let r = self.direct(nh) || resolve(nh);
        self.tracked.insert(nh, r);
        r
    }

    /// The cached reachability of a tracked next hop (false for untracked ones).
    pub fn cached(&self, nh: IpAddr) -> bool {
        self.tracked.get(&nh).copied().unwrap_or(false)
    }

    /// Whether the gateway `nh` of a default-table path is reachable: its cached state once
    /// connected prefixes are known, else true (see the module documentation).
    pub fn gateway_reachable(&self, nh: IpAddr) -> bool {
        !self.connected_known || self.cached(nh)
    }

    /// How many tracked next hops are unreachable.
    pub fn unreachable(&self) -> usize {
        self.tracked.values().filter(|r| !**r).count()
    }

    /// Reachable without looking at routes: a neighbour, link-local or connected.
    fn direct(&self, nh: IpAddr) -> bool {
        Self::direct_in(&self.connected, &self.neighbors, nh)
    }

    fn direct_in(
        connected: &BTreeSet<IpNet>,
        neighbors: &HashMap<IpAddr, usize>,
        nh: IpAddr,
    ) -> bool {
        neighbors.contains_key(&nh)
            || is_link_local(nh)
            || connected
                .iter()
                .any(|p| p.prefix_len() > 0 && p.contains(&nh))
    }

    /// Forgets next hops `used` says no route refers to any more (memory stays bounded by
    /// what is in the tables).
    pub fn retain(&mut self, used: impl Fn(IpAddr) -> bool) {
        self.tracked.retain(|nh, _| used(*nh));
        if self.tracked.capacity() > 64 && self.tracked.len() < self.tracked.capacity() / 4 {
            self.tracked.shrink_to_fit();
        }
    }

    /// Recomputes every tracked next hop after the underlay changed; returns those whose
    /// reachability flipped, with the new value.
    pub fn refresh(&mut self, resolve: impl Fn(IpAddr) -> bool) -> Vec<(IpAddr, bool)> {
        let mut flipped = Vec::new();
        let (connected, neighbors) = (&self.connected, &self.neighbors);
        for (nh, state) in self.tracked.iter_mut() {
            let now = Self::direct_in(connected, neighbors, *nh) || resolve(*nh);
            if now != *state {
                *state = now;
                flipped.push((*nh, now));
            }
        }
        flipped.sort();
        flipped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connected_prefixes_neighbours_and_resolver_decide_and_flips_are_reported() {
        let mut t = NextHopTracker::new();
        let a: IpAddr = "192.0.2.10".parse().unwrap();
        let b: IpAddr = "198.51.100.1".parse().unwrap();
        let n: IpAddr = "203.0.113.1".parse().unwrap();
        let ll: IpAddr = "fe80::1".parse().unwrap();
        assert!(!t.reachable(a, |_| false));
        assert!(t.reachable(b, |_| true));
        assert!(!t.reachable(n, |_| false));
        assert!(t.reachable(ll, |_| false), "link-local is on-link");
        t.set_connected("192.0.2.0/24".parse().unwrap(), true);
        t.set_neighbor(n, true);
        t.set_neighbor(n, true);
        assert_eq!(t.refresh(|ip| ip == b), vec![(a, true), (n, true)]);
        assert_eq!(t.refresh(|ip| ip == b), vec![]);
        t.set_neighbor(n, false);
        assert_eq!(t.refresh(|ip| ip == b), vec![], "one session still up");
        t.set_neighbor(n, false);
        t.set_connected("0.0.0.0/0".parse().unwrap(), true);
        t.set_connected("192.0.2.0/24".parse().unwrap(), false);
        assert_eq!(
            t.refresh(|_| false),
            vec![(a, false), (b, false), (n, false)],
            "a default route does not count"
        );
        assert!(!t.cached(a));
        assert_eq!(t.unreachable(), 3);
        t.retain(|ip| ip == ll);
        assert_eq!(t.unreachable(), 0);
    }

    #[test]
    fn invalid_next_hops() {
        let d = |s: &str, ll| defect(s.parse().unwrap(), ll);
        assert_eq!(d("0.0.0.0", true), Some(Defect::Unspecified));
        assert_eq!(d("127.0.0.1", true), Some(Defect::Loopback));
        assert_eq!(d("127.9.9.9", true), Some(Defect::Loopback));
        assert_eq!(d("224.0.0.1", true), Some(Defect::Multicast));
        assert_eq!(d("239.255.255.255", true), Some(Defect::Multicast));
        assert_eq!(d("255.255.255.255", true), Some(Defect::Broadcast));
        assert_eq!(d("240.0.0.1", true), Some(Defect::ClassE));
        assert_eq!(d("::", true), Some(Defect::Unspecified));
        assert_eq!(d("::1", true), Some(Defect::Loopback));
        assert_eq!(d("ff02::1", true), Some(Defect::Multicast));
        assert_eq!(d("::ffff:127.0.0.1", true), Some(Defect::Loopback));
        assert_eq!(d("fe80::1", false), Some(Defect::LinkLocal));
        assert_eq!(d("fe80::1", true), None);
        assert_eq!(d("192.0.2.1", false), None);
        assert_eq!(d("223.255.255.254", false), None);
        assert_eq!(d("2001:db8::1", false), None);
    }
}
