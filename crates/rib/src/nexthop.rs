//! VTEP reachability (next-hop tracking): a route through a VTEP the underlay cannot reach
//! must not be installed, and must be installed as soon as the VTEP becomes reachable.
//!
//! A VTEP is reachable when a non-default route in the underlay covers it: a connected
//! prefix the datapath reported, or a best route in the default table (like FRR, the default
//! route does not count: `ip nht resolve-via-default` is off by default).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;

/// Tracks the VTEPs routes depend on and whether each is reachable.
#[derive(Debug, Default)]
pub struct VtepTracker {
    connected: BTreeSet<IpNet>,
    tracked: HashMap<IpAddr, bool>,
}

impl VtepTracker {
    /// A tracker with no connected prefixes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or removes a connected underlay prefix (from the datapath).
    pub fn set_connected(&mut self, prefix: IpNet, present: bool) {
        if present {
            self.connected.insert(prefix.trunc());
        } else {
            self.connected.remove(&prefix.trunc());
        }
    }

    /// The last known reachability of `vtep`, tracking it from now on. `resolve` answers
    /// whether the default table has a covering route (called only for new VTEPs).
    pub fn reachable(&mut self, vtep: IpAddr, resolve: impl FnOnce(IpAddr) -> bool) -> bool {
        if let Some(&r) = self.tracked.get(&vtep) {
            return r;
        }
        let r = self.covered_by_connected(vtep) || resolve(vtep);
        self.tracked.insert(vtep, r);
        r
    }

    /// The cached reachability of a tracked VTEP (false for untracked ones).
    pub fn cached(&self, vtep: IpAddr) -> bool {
        self.tracked.get(&vtep).copied().unwrap_or(false)
    }

    fn covered_by_connected(&self, vtep: IpAddr) -> bool {
        self.connected
            .iter()
            .any(|p| p.prefix_len() > 0 && p.contains(&vtep))
    }

    /// Recomputes every tracked VTEP after the underlay changed; returns those whose
    /// reachability flipped, with the new value.
    pub fn refresh(&mut self, resolve: impl Fn(IpAddr) -> bool) -> Vec<(IpAddr, bool)> {
        let mut flipped = Vec::new();
        let connected = &self.connected;
        for (vtep, state) in self.tracked.iter_mut() {
            let now = connected
                .iter()
                .any(|p| p.prefix_len() > 0 && p.contains(vtep))
                || resolve(*vtep);
            if now != *state {
                *state = now;
                flipped.push((*vtep, now));
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
    fn connected_prefixes_and_resolver_decide_and_flips_are_reported() {
        let mut t = VtepTracker::new();
        let a: IpAddr = "192.0.2.10".parse().unwrap();
        let b: IpAddr = "198.51.100.1".parse().unwrap();
        assert!(!t.reachable(a, |_| false));
        assert!(t.reachable(b, |_| true));
        t.set_connected("192.0.2.0/24".parse().unwrap(), true);
        assert_eq!(t.refresh(|ip| ip == b), vec![(a, true)]);
        assert_eq!(t.refresh(|ip| ip == b), vec![]);
        t.set_connected("0.0.0.0/0".parse().unwrap(), true);
        t.set_connected("192.0.2.0/24".parse().unwrap(), false);
        assert_eq!(
            t.refresh(|_| false),
            vec![(a, false), (b, false)],
            "a default route does not count"
        );
        assert!(!t.cached(a));
    }
}
