//! perouter's RIB: Adj-RIB-In per peer, the default table, one table per VRF, the global EVPN
//! table, best-path selection with ECMP, route-target import/export, the translation between
//! VRF unicast routes and EVPN type-5 routes, L2VNIs (type-2/type-3, MAC mobility), VTEP
//! next-hop tracking, and per-peer Adj-RIB-Out queues.
//!
//! **Role.** Decide which routes the node uses and advertises (RFC 4271 §9 best path, RFC 7432,
//! RFC 9136, RFC 9135 symmetric IRB, RFC 4724 helper).
//!
//! **Inputs** (`handle_*`): peers up and down with their negotiated families, parsed UPDATEs,
//! End-of-RIB and ROUTE-REFRESH, VRF and L2VNI configuration, local MACs, connected prefixes and
//! local addresses of the underlay, the time. **Outputs** (`poll_*`): per-peer Adj-RIB-Out
//! batches, datapath deltas ([`ForwardingDelta`]) and operator events ([`RibEvent`]); read-only
//! views for `show`.
//!
//! **Must not.** Touch a socket, netlink or a clock (sans-IO: time is an input), encode or
//! decode BGP messages itself (the wire types come from `perouter-bgp`), or depend on the FIB or
//! the agent. One value, owned by one task.

#![warn(missing_docs)]

pub mod adj_out;
pub mod attrs;
pub mod best_path;
pub mod evpn_table;
pub mod forwarding;
pub mod intern;
pub mod l2vni;
pub mod nexthop;
pub mod peer;
mod rib;
pub mod table;
pub mod translate;
pub mod vrf;
pub mod wire;

pub use adj_out::{AdjOutBatch, Announcement, Nlri};
pub use attrs::{PathAttrs, RareAttrs};
pub use best_path::MultipathConfig;
pub use forwarding::{FibTable, ForwardingDelta, NextHop, RouteOp};
pub use l2vni::{DupDetection, L2VniConfig, MacEntry};
pub use peer::{Family, PeerConfig, PeerId, PeerRole};
pub use perouter_bgp::wire::{
    AsPath, AsSegment, AsSegmentKind, Community, ExtendedCommunity, LargeCommunity, Origin,
};
pub use rib::{
    ExchangedRoute, PeerInputCounters, PrefixMatch, Rib, RibConfig, RibError, RibEvent, RibStats,
    RouteUpdate, ScopeId, UnicastPath,
};
pub use vrf::{VrfConfig, VrfId};
