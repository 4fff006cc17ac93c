//! The codec-independent part of `perouter_agent::decode` (framing and capture streams),
//! compiled in from `crates/agent/src/decode/`.

/// `perouter_agent::decode::framing`.
#[path = "../../../crates/agent/src/decode/framing.rs"]
pub mod framing;

/// `perouter_agent::decode::stream`.
#[path = "../../../crates/agent/src/decode/stream.rs"]
pub mod stream;
