//! Kubernetes mode: perouter as the DaemonSet that replaces OpenPERouter's router and controller.
//!
//! - [`crd`]: the custom resources of `network.openperouter.io/v1alpha1` and their CRDs
//!   (`perouter crds`);
//! - [`schema`]: the structural-schema helpers the CRDs are built with;
//! - [`source`]: the sans-IO configuration source (watch events in, debounced configuration for
//!   this node out: nodeSelector filtering, static + API merge, two-stage boot);
//! - [`controller`]: the kube-runtime driver of [`source`];
//! - [`secrets`]: `passwordSecret` resolution (TCP-MD5 passwords from Secrets);
//! - [`node_index`]: the `openpe.io/nodeindex` annotation and its conflict-safe allocation;
//! - [`status`]: `RouterNodeConfigurationStatus` and the pure status builder;
//! - [`status_writer`]: writes it through the API;
//! - [`mirror`]: static resources mirrored as custom resources (upstream's hybrid mode);
//! - [`mode`]: the pieces started together by `perouter run` in Kubernetes mode.

pub mod controller;
pub mod crd;
pub mod mirror;
pub mod mode;
pub mod node_index;
pub mod schema;
pub mod secrets;
pub mod source;
pub mod status;
pub mod status_writer;
