//! BGP-4 for perouter: the wire codec, the sans-IO session state machine,
//! the tokio session driver and the speaker that owns all sessions.
//!
//! **Role.** Speak BGP with every neighbour of the node: encode and decode
//! messages ([`wire`], RFC 4271, 4760, 7606 and the capabilities perouter
//! negotiates), run each session's finite state machine ([`fsm`], sans-IO:
//! time and bytes are inputs), drive it over TCP ([`session`]) and own the
//! neighbour set and listeners ([`speaker`]).
//!
//! **Inputs.** Neighbour configuration and admin commands
//! ([`speaker::SpeakerCommand`]), TCP connections and bytes from peers, and
//! the routes the consumer sends back through each session's
//! [`consumer::Outbox`].
//!
//! **Outputs.** Bytes to peers, and [`consumer::SpeakerEvent`]s (peer up/down,
//! UPDATEs with RFC 7606 already applied, End-of-RIB, ROUTE-REFRESH,
//! graceful-restart stale timers) to the one consumer, plus published
//! session statuses.
//!
//! **Must not.** Select routes or keep a RIB (that is `perouter-rib`: UPDATEs
//! pass through as decoded values), program the kernel's routes (that is
//! `perouter-fib`), depend on the RIB or the agent, or let a slow consumer
//! or a slow peer block a session's timers. The codec never panics on input
//! (the fuzz targets in `fuzz/` hold it to that).

pub mod wire;

pub mod config;
pub mod consumer;
pub mod fsm;
pub mod session;
pub mod speaker;
