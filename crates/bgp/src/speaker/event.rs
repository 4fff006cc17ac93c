//! The boundary between the speaker and its single consumer (the RIB task):
//! plain values sent over bounded channels, in batches.

use std::net::SocketAddr;

use serde::Serialize;

use crate::config::{NeighborConfig, NeighborTarget};
use crate::fsm::{DownReason, SessionParams};
use crate::session::{Outbox, SessionStatus};
use crate::wire::{AfiSafi, RouteRefresh, Update};

/// A peering's id, stable for the life of the neighbour (a dynamic neighbour
/// gets a new one per session).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PeerId(pub u32);

impl std::fmt::Display for PeerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "peer#{}", self.0)
    }
}

/// What the speaker tells the RIB.
#[derive(Debug, Clone)]
pub enum SpeakerEvent {
    /// A session reached Established.
    PeerUp {
        /// Which peering.
        peer: PeerId,
        /// The peer's address and port.
        remote: SocketAddr,
        /// Our address and port on the connection (the next hop to advertise).
        local: SocketAddr,
        /// What was negotiated.
        params: Box<SessionParams>,
        /// Where routes for this session go (closed when it goes down).
        outbox: Outbox,
    },
    /// A session left Established.
    PeerDown {
        /// Which peering.
        peer: PeerId,
        /// Why.
        reason: DownReason,
        /// RFC 4724 helper: keep the peer's routes as stale (it has GR and
        /// the session dropped without a NOTIFICATION) instead of removing
        /// them. They are purged on [`SpeakerEvent::StaleExpired`] or
        /// replaced, family by family, after its End-of-RIB.
        graceful: bool,
    },
    /// UPDATEs received, in order, with RFC 7606 treat-as-withdraw already
    /// applied (affected NLRI moved to the withdrawn side).
    Updates {
        /// From which peering.
        peer: PeerId,
        /// The UPDATEs.
        updates: Vec<Update>,
    },
    /// The peer finished its initial table for a family (RFC 4724 §2):
    /// stale routes of that family that were not refreshed are to be purged.
    EndOfRib {
        /// From which peering.
        peer: PeerId,
        /// The family.
        family: AfiSafi,
    },
    /// The peer asks us to resend a family (RFC 2918), or marks the start or
    /// end of its own re-advertisement (RFC 7313 BoRR/EoRR).
    RouteRefresh {
        /// From which peering.
        peer: PeerId,
        /// The request.
        request: RouteRefresh,
    },
    /// GR helper (RFC 4724 §4.2): purge the peer's routes of `family` that
    /// are still marked stale. Sent when the restart timer runs out (the
    /// peer did not come back), when the stale timer runs out (no
    /// End-of-RIB), when the peer comes back without preserving that
    /// family's forwarding state (F bit clear) or without the family, right
    /// after a graceful [`SpeakerEvent::PeerDown`] for the families its GR
    /// capability did not list, and when the neighbour is removed.
    StaleExpired {
        /// Which peering.
        peer: PeerId,
        /// The family whose stale routes go.
        family: AfiSafi,
    },
}

/// What the agent asks of the speaker. Routes (and ROUTE-REFRESH) do not
/// pass through the speaker: they go to each session's [`Outbox`].
#[derive(Debug)]
pub enum SpeakerCommand {
    /// Add a neighbour (or replace one with the same target, resetting it
    /// only if its configuration changed).
    AddNeighbor(NeighborConfig),
    /// Remove a neighbour: Cease / Peer De-configured.
    RemoveNeighbor(NeighborTarget),
    /// Administratively shut a neighbour down with a message (RFC 9003), or
    /// bring it back up with `message: None` and `up: true`.
    AdminState {
        /// Which neighbour.
        target: NeighborTarget,
        /// Up or down.
        up: bool,
        /// Shutdown communication.
        message: Option<String>,
    },
    /// The link named here went down: every session whose connection runs
    /// over it (its socket is bound to it, or its local address is one of
    /// `addresses`) is closed at once (FRR's fast-external-failover).
    LinkDown {
        /// The interface.
        interface: String,
        /// The addresses the interface had.
        addresses: Vec<std::net::IpAddr>,
    },
    /// Snapshot every session (answered from the published statuses,
    /// without asking any session).
    Status(tokio::sync::oneshot::Sender<Vec<PeerStatus>>),
    /// Stop every session (admin shutdown with `message`) and end.
    Shutdown(Option<String>),
}

/// One line of [`SpeakerCommand::Status`].
#[derive(Debug, Clone, Serialize)]
pub struct PeerStatus {
    /// Its id.
    pub peer: PeerId,
    /// How it is configured.
    pub target: NeighborTarget,
    /// Remote address used for connecting (dynamic neighbours: the one seen).
    pub remote: SocketAddr,
    /// State and counters.
    pub session: SessionStatus,
}
