//! perouter's agent: the `perouter` binary's library half.
//!
//! **Role.** Turn OpenPERouter's configuration into a running PE router on this node: read the
//! static files or the CRDs, validate them, derive the node plan, and run the daemon that owns the
//! BGP speaker ([`perouter_bgp`]), the RIB ([`perouter_rib`]) and the FIB programmer
//! ([`perouter_fib`]); plus the CLI (`run`, `check`, `show`, `decode`, `crds`).
//!
//! **Inputs.** Configuration (static files or Kubernetes objects), the node's identity, BGP events
//! from the speaker, local API requests.
//!
//! **Outputs.** Sessions and routes handed to the speaker, FIB programs handed to the FIB crate,
//! CRD status, the local API, metrics and health probes, CLI output.
//!
//! **Must not.** Speak BGP on sockets itself (only `perouter-bgp`'s driver does), talk netlink
//! (only `perouter-fib` does), or hold a packet-capture or codec library (`perouter decode`'s
//! machinery lives in `perouter-capture`; [`cli`] is its thin front end).
/// The local API socket, Prometheus metrics and health probes.
pub mod api;
/// `perouter check`: offline validation and the derived node plan.
pub mod check;
pub mod cli;
/// OpenPERouter's configuration: API types, static files, validation (issue 6).
pub mod config;
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
