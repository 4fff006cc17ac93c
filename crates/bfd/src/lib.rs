//! Bidirectional Forwarding Detection for perouter: sub-second detection of a
//! dead link or ToR so that BGP sessions (and the routes learned over them)
//! are torn down long before the hold timer would expire (RFC 5882).
//!
//! * [`packet`]: the BFD Control packet codec (RFC 5880 §4.1), parse/emit,
//!   never panics on any input.
//! * [`session`]: one BFD session in asynchronous mode (RFC 5880 §6), a
//!   sans-IO state machine: the time is an input, packets and timeouts go in
//!   through `handle_*`, packets to send, the next deadline and state
//!   changes come out of `poll_*`.
//! * [`driver`]: the tokio driver: UDP sockets for single-hop (RFC 5881) and
//!   multihop (RFC 5883) sessions created in the router's network namespace,
//!   demultiplexing by discriminator, events out on a channel.
//!
//! **Inputs.** Session configuration (peer, intervals, multiplier), received
//! Control packets and the time. **Outputs.** Control packets to send, the
//! next deadline, and session state changes, which the agent turns into BGP
//! session resets.
//!
//! **Must not.** Touch BGP or routes itself (it reports; the agent acts),
//! block on anything in the state machine, or accept Demand mode, Echo or
//! authenticated packets as if they were supported.
//!
//! BFD is written by hand here: no maintained Rust crate implements RFC 5880
//! as a reusable sans-IO library (the implementations that exist are parts of
//! whole routing suites, such as holo, and are not meant to be embedded), and
//! the protocol is small. Demand mode, the Echo function and authentication
//! are not implemented: packets asking for them are refused (counted and
//! discarded), never half-honoured.

pub mod driver;
pub mod packet;
pub mod session;

pub use packet::{ControlPacket, Diagnostic, ParseError, State};
pub use session::{Config, Discard, Session, SessionStatus, StateChange};
