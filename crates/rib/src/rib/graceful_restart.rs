//! Graceful restart, helper side (RFC 4724 §4.2): stale paths kept, then swept by End-of-RIB
//! or the stale timer.

use std::hash::Hash;

use ipnet::{Ipv4Net, Ipv6Net};
use tracing::{debug, info};

use crate::peer::{Family, PeerId};
use crate::table::{Source, Table};
use crate::vrf::VrfId;

use super::scope::UnicastKey;
use super::{Rib, RibError};

/// What [`Rib::sweep`] does to a peer's paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sweep {
    /// Mark them stale (graceful restart began).
    MarkStale,
    /// Remove those still stale (End-of-RIB, stale timer).
    RemoveStale,
    /// Remove them all (session down).
    RemoveAll,
}

impl Sweep {
    /// Applies the sweep to `peer`'s paths of `slot` in `table`: whether a path went away.
    fn apply<K: Hash + Eq + Clone, X: Clone + PartialEq>(
        self,
        table: &mut Table<K, X>,
        slot: u32,
        peer: PeerId,
    ) -> bool {
        match self {
            Sweep::MarkStale => {
                table.mark_stale_in(slot, peer);
                false
            }
            Sweep::RemoveStale | Sweep::RemoveAll => {
                table.remove_where(slot, |src| match (self, *src) {
                    (Sweep::RemoveStale, Source::Peer { peer: p, stale, .. }) => p == peer && stale,
                    (_, s) => s.is_from(peer),
                })
            }
        }
    }
}

impl Rib {
    /// The session went down and the peer is restarting gracefully (RFC 4724 §4.2, we are
    /// the helper): its routes stay, in use, marked stale; its queues are dropped. When the
    /// same neighbour (same role and address) comes back, [`Rib::handle_peer_up`] gives it
    /// the same handle; what it sends again replaces the stale paths, and its End-of-RIB
    /// ([`Rib::handle_end_of_rib`]) or the end of the stale timer
    /// ([`Rib::handle_stale_expired`]) purges those of a family still stale.
    pub fn handle_peer_down_graceful(&mut self, peer: PeerId) -> Result<(), RibError> {
        self.peer_down(peer, true)
    }

    /// The restart or stale timer ran out for `peer` and `family` (RFC 4724 §4.2), or the
    /// peer came back without preserving it: its paths of `family` still stale are withdrawn.
    pub fn handle_stale_expired(&mut self, peer: PeerId, family: Family) -> Result<(), RibError> {
        let st = self.peer_mut(peer)?;
        if !st.stale.contains(&family) {
            return Ok(());
        }
        st.stale.retain(|f| *f != family);
        info!(peer = ?peer, ?family, "stale routes of a restarting peer purged");
        self.sweep(peer, family, Sweep::RemoveStale);
        self.forget_if_gone(peer);
        self.settle();
        Ok(())
    }

    /// Applies `op` to the paths `peer` gave for `family`, in every table of the family, and
    /// follows the changes.
    pub(super) fn sweep(&mut self, peer: PeerId, family: Family, op: Sweep) {
        match family {
            Family::Ipv4Unicast => self.sweep_unicast::<Ipv4Net>(peer, op),
            Family::Ipv6Unicast => self.sweep_unicast::<Ipv6Net>(peer, op),
            Family::L2vpnEvpn => {
                self.sweep_table(peer, op, |r| &mut r.evpn.table, Self::reselect_evpn);
            }
        }
    }

    /// [`Rib::sweep`] for the unicast family `K`: the default table, then every VRF's.
    fn sweep_unicast<K: UnicastKey>(&mut self, peer: PeerId, op: Sweep) {
        let vrf_ids: Vec<VrfId> = self.vrfs.keys().copied().collect();
        self.sweep_table(
            peer,
            op,
            |r| &mut K::of_mut(&mut r.default).table,
            Self::reselect_default::<K>,
        );
        for v in vrf_ids {
            self.sweep_table(
                peer,
                op,
                |r| &mut K::of_mut(&mut r.vrf_mut(v).tables).table,
                |r, slot| r.reselect_vrf::<K>(v, slot),
            );
        }
    }

    /// Applies `op` to every key of the table `table` picks, running `reselect` for each key
    /// whose paths changed.
    fn sweep_table<K: Hash + Eq + Clone, X: Clone + PartialEq>(
        &mut self,
        peer: PeerId,
        op: Sweep,
        table: impl Fn(&mut Self) -> &mut Table<K, X>,
        reselect: impl Fn(&mut Self, u32),
    ) {
        let slots: Vec<u32> = table(self).slots().collect();
        for slot in slots {
            if op.apply(table(self), slot, peer) {
                reselect(self, slot);
            }
        }
    }

    /// End-of-RIB received from `peer` for `family` (RFC 4724 §2): its initial dump is in.
    pub fn handle_end_of_rib(&mut self, peer: PeerId, family: Family) -> Result<(), RibError> {
        let st = self.peer_mut(peer)?;
        if !st.eor_received.contains(&family) {
            st.eor_received.push(family);
        }
        debug!(peer = ?peer, ?family, "end-of-rib received");
        // RFC 4724 §4.2: what the restarting peer did not send again is gone.
        self.handle_stale_expired(peer, family)
    }

    /// Whether `peer` has sent End-of-RIB for `family`.
    pub fn end_of_rib_received(&self, peer: PeerId, family: Family) -> bool {
        self.peers
            .get(peer.0 as usize)
            .and_then(Option::as_ref)
            .is_some_and(|s| s.eor_received.contains(&family))
    }
}
