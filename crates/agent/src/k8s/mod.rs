//! Kubernetes mode: perouter as the DaemonSet that replaces OpenPERouter's router and controller.
//!
//! - [`crd`]: the custom resources of `network.openperouter.io/v1alpha1` and their CRDs
//!   (`perouter crds`);
//! - [`schema`]: the structural-schema helpers the CRDs are built with;
//! - [`status`]: `RouterNodeConfigurationStatus` and the pure status builder.

pub mod crd;
pub mod schema;
pub mod status;
