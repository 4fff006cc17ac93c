//! perouter's RIB: Adj-RIB-In per peer, the default table, one table per VRF, the global EVPN
//! table, best-path selection with ECMP, route-target import/export, the translation between
//! VRF unicast routes and EVPN type-5 routes, L2VNIs (type-2/type-3, MAC mobility), VTEP
//! next-hop tracking, and per-peer Adj-RIB-Out queues.
//!
//! Pure code (sans-IO): [`Rib`] takes `handle_*` inputs and gives `poll_*` outputs; it never
//! touches a socket, netlink or a clock.

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
