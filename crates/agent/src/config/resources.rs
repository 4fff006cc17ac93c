//! Resources as perouter holds them, whichever source they came from (static files or the
//! Kubernetes API), and the failures reported against them.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

use super::types::{L2VniSpec, L3PassthroughSpec, L3VniSpec, UnderlaySpec};

/// The four kinds of `network.openperouter.io/v1alpha1` perouter acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum ResourceKind {
    /// `Underlay`.
    Underlay,
    /// `L3VNI`.
    #[serde(rename = "L3VNI")]
    L3Vni,
    /// `L2VNI`.
    #[serde(rename = "L2VNI")]
    L2Vni,
    /// `L3Passthrough`.
    L3Passthrough,
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ResourceKind::Underlay => "Underlay",
            ResourceKind::L3Vni => "L3VNI",
            ResourceKind::L2Vni => "L2VNI",
            ResourceKind::L3Passthrough => "L3Passthrough",
        })
    }
}

/// Where a resource came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Source {
    /// A static `openpe_*.yaml` file.
    File(PathBuf),
    /// The Kubernetes API (namespace of the object).
    Api {
        /// The object's namespace.
        namespace: String,
    },
}

/// One resource: kind, name, origin and spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource<T> {
    /// Its kind.
    pub kind: ResourceKind,
    /// Its `metadata.name` (static files: the `name` field, or the file stem for underlays).
    pub name: String,
    /// Where it came from.
    pub source: Source,
    /// What it asks for.
    pub spec: T,
}

impl<T> Resource<T> {
    /// Bundles a resource.
    pub fn new(kind: ResourceKind, name: impl Into<String>, source: Source, spec: T) -> Self {
        Resource {
            kind,
            name: name.into(),
            source,
            spec,
        }
    }
}

/// Every resource that applies to this node, before validation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceSet {
    /// Underlays (valid configs have exactly one).
    pub underlays: Vec<Resource<UnderlaySpec>>,
    /// L3VNIs.
    pub l3vnis: Vec<Resource<L3VniSpec>>,
    /// L2VNIs.
    pub l2vnis: Vec<Resource<L2VniSpec>>,
    /// Passthroughs (valid configs have at most one).
    pub passthroughs: Vec<Resource<L3PassthroughSpec>>,
}

impl ResourceSet {
    /// Appends every resource of `other` (static files and API objects are merged this way).
    pub fn extend(&mut self, other: ResourceSet) {
        self.underlays.extend(other.underlays);
        self.l3vnis.extend(other.l3vnis);
        self.l2vnis.extend(other.l2vnis);
        self.passthroughs.extend(other.passthroughs);
    }

    /// How many resources it holds.
    pub fn len(&self) -> usize {
        self.underlays.len() + self.l3vnis.len() + self.l2vnis.len() + self.passthroughs.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a resource was not applied: upstream's `failedResources[].reason` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum FailureReason {
    /// The resource breaks a rule of the API.
    ValidationFailed,
    /// The resource refers to another that is missing or failed (e.g. an L2VNI's routing domain).
    DependencyFailed,
    /// The datapath could not attach the overlay.
    OverlayAttachmentFailed,
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureReason::ValidationFailed => "ValidationFailed",
            FailureReason::DependencyFailed => "DependencyFailed",
            FailureReason::OverlayAttachmentFailed => "OverlayAttachmentFailed",
        })
    }
}

/// One resource that was skipped, and why (upstream's `failedResources` entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedResource {
    /// Its kind.
    pub kind: ResourceKind,
    /// Its name.
    pub name: String,
    /// The class of failure.
    pub reason: FailureReason,
    /// Every rule it broke, each naming the field: `spec.vni 0 is outside 1..16777215`.
    pub message: String,
}

impl fmt::Display for FailedResource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {} ({})",
            self.kind, self.name, self.message, self.reason
        )
    }
}
