//! BGP-4 for perouter: the wire codec, the sans-IO session state machine,
//! the tokio session driver and the speaker that owns all sessions.

pub mod wire;

pub mod config;
pub mod consumer;
pub mod fsm;
pub mod session;
pub mod speaker;
