//! perouter's agent: the `perouter` binary's library half.
//!
//! For now it holds the machinery behind `perouter decode`:
//! - [`capture`]: pcap/pcapng readers, link/IP/TCP decoding and TCP reassembly;
//! - [`decode`]: BGP message framing on reassembled streams, following each connection's OPEN
//!   exchange to pick the codec context per direction, and the JSON records the tool prints.
//!
//! Later: configuration sources, node planning, the reconcile loop and the local API.

pub mod capture;
