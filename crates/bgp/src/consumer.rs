//! What passes between the sessions and their single consumer (the RIB task): the peering
//! id, the events a session emits (through the speaker's channel) and the [`Outbox`] the
//! consumer sends routes back through.
//!
//! Both [`crate::session`] (which emits the events and drains the outbox) and
//! [`crate::speaker`] (which hands them over) use these values; they live here, below both,
//! so neither module has to reach into the other for them.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::{mpsc, Notify};

use crate::fsm::{DownReason, SessionParams};
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

/// What the consumer sends to an Established peer, in order.
#[derive(Debug)]
pub enum Outbound {
    /// UPDATEs, already packed.
    Updates(Vec<Update>),
    /// A ROUTE-REFRESH, or an RFC 7313 BoRR/EoRR marker (kept in order with
    /// the UPDATEs).
    RouteRefresh(RouteRefresh),
}

/// The consumer's handle for sending to one Established session: a bounded
/// queue that never blocks the sender. It is closed when that session goes
/// down (a new one comes with the next [`SpeakerEvent::PeerUp`]).
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Outbound>,
    room: Arc<Notify>,
}

impl Outbox {
    /// A pair for tests and for the session: the handle and its receiver.
    pub fn channel(depth: usize) -> (Outbox, OutboxReceiver) {
        let (tx, rx) = mpsc::channel(depth);
        let room = Arc::new(Notify::new());
        (
            Outbox {
                tx,
                room: Arc::clone(&room),
            },
            OutboxReceiver { rx, room },
        )
    }

    /// Signalled each time the session takes a batch off the queue. A consumer that found the
    /// queue full waits on it (with a timer as a fallback) instead of polling: the next batch
    /// goes out as soon as there is room, not at the next tick. A permit is stored when nobody
    /// waits, so a batch taken between the consumer's check and its wait is not missed.
    pub fn room(&self) -> &Arc<Notify> {
        &self.room
    }

    /// Queues `o` if there is room; gives it back when the queue is full (the
    /// peer is not draining: try again later) or closed (the session is
    /// gone: drop it).
    pub fn try_send(&self, o: Outbound) -> Result<(), mpsc::error::TrySendError<Outbound>> {
        self.tx.try_send(o)
    }

    /// Whether another batch fits now.
    pub fn has_room(&self) -> bool {
        self.tx.capacity() > 0
    }

    /// Batches waiting (the queue's depth).
    pub fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// Whether the session behind it is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// The session's end of an [`Outbox`]: takes the batches in order and signals
/// [`Outbox::room`] for each one taken.
#[derive(Debug)]
pub struct OutboxReceiver {
    rx: mpsc::Receiver<Outbound>,
    room: Arc<Notify>,
}

impl OutboxReceiver {
    /// The next batch; `None` once every [`Outbox`] handle is gone.
    pub async fn recv(&mut self) -> Option<Outbound> {
        let o = self.rx.recv().await;
        if o.is_some() {
            self.room.notify_one();
        }
        o
    }

    /// Batches waiting.
    pub fn len(&self) -> usize {
        self.rx.len()
    }

    /// Whether no batch is waiting.
    pub fn is_empty(&self) -> bool {
        self.rx.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn taking_a_batch_off_a_full_outbox_signals_room() {
        let (outbox, mut rx) = Outbox::channel(1);
        assert!(outbox.try_send(Outbound::Updates(Vec::new())).is_ok());
        assert!(!outbox.has_room());
        let room = Arc::clone(outbox.room());
        let waiter = tokio::spawn(async move { room.notified().await });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "no batch taken yet");
        assert!(rx.recv().await.is_some());
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .expect("the consumer is woken")
            .unwrap();
        assert!(outbox.has_room());
        // A batch taken while nobody waits leaves a permit: the next wait returns at once.
        assert!(outbox.try_send(Outbound::Updates(Vec::new())).is_ok());
        assert!(rx.recv().await.is_some());
        tokio::time::timeout(std::time::Duration::from_secs(1), outbox.room().notified())
            .await
            .expect("the permit was kept");
    }
}
