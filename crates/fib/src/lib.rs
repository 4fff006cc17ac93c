//! perouter's datapath: a level-triggered netlink programmer for the router namespace.
//!
//! The wanted state ([`desired::NodeDatapath`] for devices, [`desired::ForwardingState`] for
//! routes, FDB and neighbour entries) is compared by a pure [`diff::diff`] with what the kernel
//! reports ([`observed::ObservedNode`]), giving ordered, idempotent [`op::Op`]s that the driver
//! ([`apply::Datapath`]) sends to the kernel in batches. [`reconcile::Reconciler`] runs that loop
//! after every change, after every error and periodically; [`watch`] reports local MACs and
//! neighbours and notices drift. Routes go through kernel nexthop objects ([`nexthop`]): one per
//! distinct next hop, a group per ECMP set, re-pointed in one message when every route using one
//! moves; per-route gateways where the kernel refuses them.
//!
//! **Inputs.** The wanted state from the agent (devices from the node plan, routes, FDB and
//! neighbour entries from the RIB's forwarding deltas) and what the kernel reports over
//! netlink. **Outputs.** Netlink requests that make the kernel match, an
//! [`apply::ApplyReport`] per pass, and the local MACs and neighbours [`watch`] sees.
//!
//! **Must not.** Decide routes (it installs what it is given; selection is `perouter-rib`'s),
//! speak BGP, depend on the RIB or the agent, or touch objects outside the router namespace and
//! the host legs it owns. [`diff`](mod@diff) stays pure: no netlink, no clock.
//!
//! The kernel objects and their names are those upstream OpenPERouter builds
//! (`internal/hostnetwork`): VRF, `br-pe-<vni>`, `vni<vni>`, `host-e-<vni>`/`pe-e-<vni>`,
//! `br-hs-<vni>`, `pt-host`/`pt-ns`, in the `perouter` namespace.

pub mod apply;
pub mod desired;
pub mod diff;
pub mod edge;
pub mod index;
pub mod message;
pub mod netns;
pub mod nexthop;
pub mod observed;
pub mod op;
pub mod patch;
pub mod reconcile;
pub mod watch;

pub use apply::{ApplyReport, Datapath, DatapathConfig, OpFailure};
pub use desired::{
    ForwardingState, HostLeg, L2Vni, L3Vni, NodeDatapath, Passthrough, VethAddresses, VrfRoutes,
};
pub use diff::{diff, Plan};
pub use observed::ObservedNode;
pub use op::{Ns, Op};
pub use patch::{ForwardingKeys, ForwardingPatch};
pub use perouter_evpn::MacAddress;
