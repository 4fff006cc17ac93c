//! End-of-batch work: next-hop reachability settled, memory given back, interners purged.

use tracing::{debug, info};

use super::next_hops::covered;
use super::{Rib, RibEvent};

impl Rib {
    /// End-of-batch work: next-hop tracking after underlay changes, interner housekeeping.
    pub(super) fn settle(&mut self) {
        // Reachability changes change default-table selections, which can change reachability
        // again (a next hop resolved through a BGP route): iterate, a bounded number of times
        // (what is left is finished by the next input).
        for _ in 0..8 {
            if !self.underlay_dirty {
                break;
            }
            self.underlay_dirty = false;
            let default = &self.default;
            let flips = self.tracker.refresh(|ip| covered(ip, default));
            for (vtep, reachable) in flips {
                info!(next_hop = %vtep, reachable, "next-hop reachability changed");
                self.events
                    .push_back(RibEvent::VtepReachability { vtep, reachable });
                self.revisit_next_hop(vtep);
            }
        }
        // Purge when the interned sets doubled since the last purge: amortised O(1) per set.
        if self.attrs.len() + self.fields.len() > self.purge_at {
            self.purge();
        }
        self.shrink();
    }

    /// Gives memory back after a mass withdrawal: tables whose occupancy fell to a quarter of
    /// their capacity shrink (slab, index, queues), unused attribute sets are dropped. Cheap
    /// when there is nothing to do; the RIB runs it after every input, and the owner should run
    /// it after draining the outputs too (a withdrawn key's slot is freed only once every peer
    /// and the datapath were told). It records that it shrank something ([`Rib::take_shrunk`])
    /// so the owner can hand freed memory back to the operating system (an allocator keeps
    /// freed pages otherwise).
    pub fn shrink(&mut self) {
        let mut any = self.default.shrink() | self.evpn.shrink();
        for st in self.vrfs.values_mut() {
            any |= st.tables.shrink();
        }
        if any {
            self.purge();
            self.l2_deltas.shrink_to_fit();
            self.events.shrink_to_fit();
            self.shrunk = true;
            debug!("RIB tables shrank after routes went away");
        }
    }

    /// Whether the RIB gave memory back since the last call: the moment for the owner to
    /// return freed memory to the operating system (for example glibc's `malloc_trim`).
    pub fn take_shrunk(&mut self) -> bool {
        std::mem::take(&mut self.shrunk)
    }

    /// Drops unused attribute sets and export caches.
    pub fn purge(&mut self) {
        self.export_caches.clear();
        for st in self.vrfs.values_mut() {
            st.t5_cache.clear();
        }
        let a = self.attrs.purge();
        let f = self.fields.purge();
        self.purge_at = (2 * (self.attrs.len() + self.fields.len())).max(4096);
        debug!(attrs = a, fields = f, "purged unused interned values");
    }
}
