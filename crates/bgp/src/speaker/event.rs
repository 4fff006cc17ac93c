//! The boundary between the speaker and its single consumer (the RIB task):
//! plain values sent over bounded channels, in batches. The values the
//! sessions produce themselves ([`PeerId`], [`SpeakerEvent`]) live in
//! [`crate::consumer`] and are re-exported here.

use std::net::SocketAddr;

use serde::Serialize;

pub use crate::consumer::{PeerId, SpeakerEvent};

use crate::config::{NeighborConfig, NeighborTarget};
use crate::session::handoff::{SessionState, SessionTransfer};
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
    /// Session handoff: freeze every Established session (see
    /// [`crate::session::SessionCommand::Freeze`]) and answer with their
    /// states and sockets; connections accepted meanwhile are refused.
    Freeze(tokio::sync::oneshot::Sender<Vec<FrozenPeer>>),
    /// The handoff was abandoned: every frozen session continues.
    Thaw,
    /// The handoff completed: every frozen session ends silently (the
    /// successor has them); answers once done.
    Release(tokio::sync::oneshot::Sender<()>),
    /// Sessions handed over by the previous process: each is resumed when
    /// its neighbour is added (send this before the neighbours).
    Resume(Vec<SessionTransfer>),
    /// The neighbours are all added: report, close the handed-over
    /// sessions that no neighbour took, and start taking connections on the
    /// inherited listening sockets (until then they wait in the backlog).
    ResumeDone(tokio::sync::oneshot::Sender<ResumeReport>),
    /// Duplicates of the listening sockets (handed over with the sessions).
    ListenerFds(tokio::sync::oneshot::Sender<Vec<std::os::fd::OwnedFd>>),
}

/// A session frozen for a handoff.
#[derive(Debug)]
pub struct FrozenPeer {
    /// Its id in this process (the consumer's key for its Adj-RIB-In).
    pub peer: PeerId,
    /// Its state.
    pub state: SessionState,
    /// Its socket.
    pub fd: std::os::fd::OwnedFd,
}

/// What [`SpeakerCommand::ResumeDone`] reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ResumeReport {
    /// Sessions resumed.
    pub resumed: usize,
    /// Sessions that could not be resumed (closed; they start again).
    pub failed: usize,
    /// Sessions no neighbour took (closed).
    pub unmatched: usize,
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
