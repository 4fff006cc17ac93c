//! perouter's agent: the `perouter` binary's library half.
//!
//! For now it holds the machinery behind `perouter decode`:
//! - [`capture`]: pcap/pcapng readers, link/IP/TCP decoding and TCP reassembly;
//! - [`decode`]: BGP message framing on reassembled streams, following each connection's OPEN
//!   exchange to pick the codec context per direction, and the JSON records the tool prints.
//!
//! Later: configuration sources, node planning, the reconcile loop and the local API.

/// The local API socket, Prometheus metrics and health probes.
pub mod api;
pub mod capture;
/// `perouter check`: offline validation and the derived node plan.
pub mod check;
pub mod cli;
/// OpenPERouter's configuration: API types, static files, validation (issue 6).
pub mod config;
pub mod decode;
/// Kubernetes mode: CRDs, controllers, node index, status, secrets (issue 7).
pub mod k8s;
/// Logging setup: text or JSON, level from `RUST_LOG` or node-config.yaml's `logLevel`, live.
pub mod logging;
/// Prometheus metrics on `prometheus-client`.
pub mod metrics;
/// Node derivation: addresses, names, sessions, RDs and RTs for this node.
pub mod plan;
/// `perouter run`: the daemon that turns this node into a PE router.
pub mod runtime;
/// The local API's typed answers (`perouter show ... -o json`), with a stable schema.
pub mod views;
