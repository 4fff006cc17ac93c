//! Sessions coming up and going down: subscriptions to tables, the initial dump, ROUTE-REFRESH.

use tracing::info;

use crate::peer::{Family, PeerConfig, PeerId, PeerRole};
use crate::vrf::VrfId;

use super::graceful_restart::Sweep;
use super::scope::ScopeId;
use super::update::PeerInputCounters;
use super::{Rib, RibError};

/// Per-peer state.
pub(super) struct PeerState {
    pub(super) config: PeerConfig,
    /// The session is established (a peer that is down gracefully keeps its state).
    pub(super) up: bool,
    /// Families whose paths are (partly) stale after a graceful restart (RFC 4724 §4.2).
    pub(super) stale: Vec<Family>,
    /// Subscriptions: table, subscriber index, End-of-RIB still owed.
    pub(super) subs: Vec<(ScopeId, u8, bool)>,
    /// Families for which the peer sent End-of-RIB.
    pub(super) eor_received: Vec<Family>,
    /// What was refused from this peer since its session came up.
    pub(super) input: PeerInputCounters,
    /// Already logged: non-negotiated family (bit 0), invalid next hop (bit 1). Once per
    /// session, so a misbehaving peer cannot flood the log.
    pub(super) warned: u8,
}

impl Rib {
    /// The state of `peer` (up, or down with stale paths kept).
    pub(super) fn peer_mut(&mut self, peer: PeerId) -> Result<&mut PeerState, RibError> {
        (self.peers.get_mut(peer.0 as usize))
            .and_then(Option::as_mut)
            .ok_or(RibError::UnknownPeer(peer))
    }

    /// A session reached Established with `config`. Returns the peer's handle and queues the
    /// initial dump of every table the peer exchanges.
    pub fn handle_peer_up(&mut self, config: PeerConfig) -> Result<PeerId, RibError> {
        let mut scopes = Vec::new();
        let (v4, v6) = (
            config.has(Family::Ipv4Unicast),
            config.has(Family::Ipv6Unicast),
        );
        match config.role {
            PeerRole::Fabric | PeerRole::Passthrough => {
                if v4 {
                    scopes.push(ScopeId::Default4);
                }
                if v6 {
                    scopes.push(ScopeId::Default6);
                }
                if config.role == PeerRole::Fabric && config.has(Family::L2vpnEvpn) {
                    scopes.push(ScopeId::Evpn);
                }
            }
            PeerRole::Host(vrf) => {
                if !self.vrfs.contains_key(&vrf) {
                    return Err(RibError::UnknownVrf(vrf));
                }
                if v4 {
                    scopes.push(ScopeId::Vrf4(vrf));
                }
                if v6 {
                    scopes.push(ScopeId::Vrf6(vrf));
                }
            }
        }
        // A neighbour coming back from a graceful restart resumes its handle and stale paths.
        let resumed = self.peers.iter().position(|p| {
            p.as_ref().is_some_and(|s| {
                !s.up
                    && s.config.role == config.role
                    && s.config.remote_address == config.remote_address
            })
        });
        let idx = resumed
            .or_else(|| self.peers.iter().position(Option::is_none))
            .unwrap_or(self.peers.len());
        let id = PeerId(idx as u32);
        let mut subs = Vec::new();
        for s in scopes {
            let r =
                on_scope!(self, s, sc => sc.subscribe(id, s), Err(RibError::UnknownVrf(VrfId(0))));
            match r {
                Ok(i) => subs.push((s, i, true)),
                Err(e) => {
                    for (s, i, _) in subs {
                        on_scope!(self, s, sc => sc.unsubscribe(i), ());
                    }
                    return Err(e);
                }
            }
        }
        info!(peer = ?id, role = ?config.role, remote = %config.remote_address, resumed = resumed.is_some(), "peer up");
        let stale = match resumed.and_then(|i| self.peers[i].as_ref()) {
            Some(old) => old.stale.clone(),
            None => Vec::new(),
        };
        // Families the peer no longer exchanges keep nothing stale.
        let (keep, gone): (Vec<Family>, Vec<Family>) =
            stale.into_iter().partition(|f| config.has(*f));
        if resumed.is_none() {
            self.track_neighbor(&config, true);
        }
        let state = PeerState {
            config,
            up: true,
            stale: keep,
            subs,
            eor_received: Vec::new(),
            input: PeerInputCounters::default(),
            warned: 0,
        };
        if idx == self.peers.len() {
            self.peers.push(Some(state));
        } else {
            self.peers[idx] = Some(state);
        }
        for f in gone {
            self.sweep(id, f, Sweep::RemoveStale);
        }
        self.refresh_own();
        self.settle();
        Ok(id)
    }

    /// The session went down: its routes are withdrawn everywhere and its queues dropped.
    pub fn handle_peer_down(&mut self, peer: PeerId) -> Result<(), RibError> {
        self.peer_down(peer, false)
    }

    pub(super) fn peer_down(&mut self, peer: PeerId, graceful: bool) -> Result<(), RibError> {
        let mut state = self
            .peers
            .get_mut(peer.0 as usize)
            .and_then(Option::take)
            .filter(|s| s.up)
            .ok_or(RibError::UnknownPeer(peer))?;
        for &(s, i, _) in &state.subs {
            on_scope!(self, s, sc => sc.unsubscribe(i), ());
        }
        self.export_caches.remove(&peer);
        state.subs = Vec::new();
        state.up = false;
        state.eor_received.clear();
        let families: Vec<Family> = state.config.families.clone();
        // Keep the config while the paths exist so ranks can still see it.
        self.peers[peer.0 as usize] = Some(state);
        if graceful {
            for &f in &families {
                self.sweep(peer, f, Sweep::MarkStale);
            }
            if let Some(Some(st)) = self.peers.get_mut(peer.0 as usize) {
                st.stale = families;
            }
            info!(peer = ?peer, "peer down gracefully, its routes kept as stale (RFC 4724)");
        } else {
            let stale = self.peers[peer.0 as usize]
                .as_ref()
                .map(|s| s.stale.clone())
                .unwrap_or_default();
            for f in [Family::Ipv4Unicast, Family::Ipv6Unicast, Family::L2vpnEvpn] {
                if families.contains(&f) || stale.contains(&f) {
                    self.sweep(peer, f, Sweep::RemoveAll);
                }
            }
            if let Some(st) = self.peers[peer.0 as usize].take() {
                self.track_neighbor(&st.config, false);
            }
            info!(peer = ?peer, "peer down, its routes withdrawn");
        }
        self.refresh_own();
        self.settle();
        Ok(())
    }

    /// Frees the slot of a peer that is down and has no stale family left.
    pub(super) fn forget_if_gone(&mut self, peer: PeerId) {
        if let Some(slot) = self.peers.get_mut(peer.0 as usize) {
            if slot.as_ref().is_some_and(|s| !s.up && s.stale.is_empty()) {
                if let Some(st) = slot.take() {
                    self.track_neighbor(&st.config, false);
                }
            }
        }
    }

    /// The peer asked for our routes of `family` again (ROUTE-REFRESH, RFC 2918 §4): every best
    /// route it is sent is queued again; the next [`Rib::poll_adj_out`] batches carry them (and
    /// an End-of-RIB, which RFC 7313 §4 allows as the end of the refresh).
    pub fn handle_route_refresh(&mut self, peer: PeerId, family: Family) -> Result<(), RibError> {
        let st = self.peer_mut(peer)?;
        let subs: Vec<(ScopeId, u8)> = st
            .subs
            .iter_mut()
            .filter(|(scope, _, _)| scope.family() == family)
            .map(|(scope, i, eor_owed)| {
                *eor_owed = true;
                (*scope, *i)
            })
            .collect();
        for (scope, i) in subs {
            on_scope!(self, scope, sc => sc.requeue(i), ());
        }
        Ok(())
    }
}
