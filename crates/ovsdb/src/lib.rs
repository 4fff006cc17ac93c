//! A small OVSDB client (RFC 7047) for what perouter needs from Open vSwitch: make sure a
//! bridge exists, attach or detach a port, delete a bridge perouter created.
//!
//! Written by hand over `serde_json`: the Rust OVSDB crates that exist (`ovsdb` 0.0.x,
//! `ovsdb-client` 0.0.1) are early, single-release or self-described work-in-progress
//! projects, and what is needed here (JSON-RPC framing, `transact`, `echo`) is small.
//!
//! * [`datum`]: OVSDB's JSON encoding of atoms, sets, maps and UUIDs (RFC 7047 §5.1).
//! * [`rpc`]: JSON-RPC 1.0 messages and the stream framing (RFC 7047 §4), never panics on
//!   any input.
//! * [`transact`]: the `transact` method's operations and results (RFC 7047 §4.1.3, §5.2).
//! * [`connection`]: the sans-IO client: requests in, bytes out, replies as events; answers
//!   the server's `echo`.
//! * [`vswitch`]: the part of the `Open_vSwitch` schema perouter touches (Bridge, Port,
//!   Interface), a snapshot read from it and the pure planning of the transactions that bring
//!   it to the wanted host legs (idempotent: an up-to-date database yields no transaction).
//! * [`driver`]: the thin tokio driver over a Unix socket (`/var/run/openvswitch/db.sock`).
//!
//! **Must not.** Touch a bridge or port it does not own: ports are ours by name prefix,
//! bridges only when they carry the `created-by` marker (see [`vswitch::Scope`]).

pub mod connection;
pub mod datum;
pub mod driver;
pub mod rpc;
pub mod transact;
pub mod vswitch;

pub use connection::{Connection, Event};
pub use driver::{Client, Error};
pub use rpc::{Decoder, Message, ProtocolError};
pub use transact::TransactError;
pub use vswitch::{Leg, Plan, Scope, Snapshot, Txn, Wanted};
