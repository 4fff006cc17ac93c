//! The boundary between the speaker and its single consumer (the RIB task):
//! plain values sent over bounded channels, in batches. The values the
//! sessions produce themselves ([`PeerId`], [`SpeakerEvent`]) live in
//! [`crate::consumer`] and are re-exported here.

use std::net::SocketAddr;

use serde::Serialize;

pub use crate::consumer::{PeerId, SpeakerEvent};

use crate::config::{NeighborConfig, NeighborTarget};
use crate::session::SessionStatus;

/// What the agent asks of the speaker. Routes (and ROUTE-REFRESH) do not
/// pass through the speaker: they go to each session's [`Outbox`](crate::consumer::Outbox).
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
