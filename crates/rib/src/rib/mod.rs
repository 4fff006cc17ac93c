//! The RIB: one value owned by one task. Inputs are `handle_*` calls, outputs are pulled with
//! `poll_*` (sans-IO: no sockets, no clocks; time is an input).
//!
//! Data flow (upstream's FRR behaviour, reference §3):
//!
//! ```text
//!  fabric peers ──IPv4/6──► default table ──► fabric peers, passthrough host, FIB (default)
//!  fabric peers ──EVPN────► EVPN table ──type-5 (RT match)──► VRF table ──► host session, FIB (VRF)
//!                              ▲   └─type-2/3 (RT match)──► L2VNI ──► FDB, flood list, neighbours
//!  host session ──IPv4/6──► VRF table ──best (host/local)──► type-5 in EVPN table ──► fabric
//!  local MACs ──────────────► L2VNI ──► type-2 in EVPN table ──► fabric
//! ```
//!
//! [`Rib`] is the one owner of every table; its `impl` is split by concern, one module each:
//!
//! | module | holds |
//! | --- | --- |
//! | `scope` | a table with its subscribers' queues; the IPv4/IPv6 pair of one instance and the per-family key trait that writes each unicast rule once |
//! | `selection` | the rank of a path and which paths are usable (best path, RFC 4271 §9.1.2) |
//! | `update` | UPDATEs in, the default and EVPN tables, selection after each change |
//! | `peers` | sessions up and down, subscriptions, ROUTE-REFRESH |
//! | `graceful_restart` | stale paths kept and swept (RFC 4724, helper side) |
//! | `vrf_routes` | VRF tables, type-5 import and export (RFC 9136) |
//! | `l2vni_routes` | L2VNIs: type-2/type-3 import and origination, MAC resolution (RFC 7432) |
//! | `next_hops` | next-hop reachability and our own addresses |
//! | `housekeeping` | end-of-batch work: settling, shrinking, purging |
//! | `outputs` | datapath changes, Adj-RIB-Out batches, events |
//! | `inspect` | read-only views for `show` |

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use ipnet::IpNet;
use perouter_evpn::{EvpnRouteKey, MacAddress};

use crate::adj_out::ExportCache;
use crate::attrs::PathAttrs;
use crate::best_path::MultipathConfig;
use crate::evpn_table::{EvpnData, EvpnFields};
use crate::forwarding::{FibTable, ForwardingDelta};
use crate::intern::Interner;
use crate::l2vni::L2Domain;
use crate::nexthop::NextHopTracker;
use crate::peer::PeerId;
use crate::table::{PeerSet, Source};
use crate::vrf::VrfId;

/// Node-wide RIB settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RibConfig {
    /// Our AS number (the default instance's).
    pub asn: u32,
    /// Our router ID (auto RDs derive from it).
    pub router_id: Ipv4Addr,
    /// Our VTEP address: advertised in the underlay, next hop of every EVPN route we originate.
    pub vtep: IpAddr,
    /// ECMP settings.
    pub multipath: MultipathConfig,
    /// Extra networks originated in the default table (e.g. the passthrough host-side address).
    pub default_networks: Vec<IpNet>,
    /// Route-reflector CLUSTER_ID (RFC 4456 §7), when we reflect: prepended to the
    /// CLUSTER_LIST of every reflected route and looked for in received ones. `None`: the
    /// router ID serves (RFC 4456 §7, a single-reflector cluster).
    pub cluster_id: Option<Ipv4Addr>,
}

impl RibConfig {
    /// The CLUSTER_ID in use: the configured one, else the router ID (RFC 4456 §7).
    pub fn effective_cluster_id(&self) -> Ipv4Addr {
        self.cluster_id.unwrap_or(self.router_id)
    }
}

/// Something the RIB wants the operator or the agent to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RibEvent {
    /// A MAC moved too often (RFC 7432 §15.1): frozen, no longer advertised as it moves.
    DuplicateMac {
        /// L2VNI.
        vni: u32,
        /// MAC.
        mac: MacAddress,
    },
    /// A tracked next hop (a VTEP, or the gateway of default-table routes) became reachable
    /// or unreachable through the underlay.
    VtepReachability {
        /// The next hop.
        vtep: IpAddr,
        /// Now reachable.
        reachable: bool,
    },
}

/// Errors from RIB inputs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RibError {
    /// The peer handle is not (or no longer) valid.
    #[error("unknown peer {0:?}")]
    UnknownPeer(PeerId),
    /// A host session names a VRF that is not configured.
    #[error("host session for unknown VRF {0:?}")]
    UnknownVrf(VrfId),
    /// An L2VNI event names a VNI that is not configured.
    #[error("unknown L2VNI {0}")]
    UnknownL2Vni(u32),
    /// A table already has [`PeerSet::CAPACITY`] peers subscribed.
    #[error("table {0:?} already has {cap} peers", cap = PeerSet::CAPACITY)]
    TooManyPeers(ScopeId),
}

/// The RIB. See the module documentation for the data flow.
pub struct Rib {
    config: RibConfig,
    peers: Vec<Option<PeerState>>,
    /// The default table, both families.
    default: UnicastPair<()>,
    evpn: Scope<EvpnRouteKey, EvpnData>,
    vrfs: BTreeMap<VrfId, VrfState>,
    l2: BTreeMap<u32, L2Domain>,
    attrs: Interner<PathAttrs>,
    fields: Interner<EvpnFields>,
    export_caches: HashMap<PeerId, ExportCache>,
    tracker: NextHopTracker,
    underlay_dirty: bool,
    /// Our own addresses: router ID, VTEP, the local address of every established session and
    /// those the agent reported. No path through one of them is eligible.
    own: HashSet<IpAddr>,
    /// Addresses the agent reported as ours ([`Rib::handle_local_address`]).
    reported_local: BTreeSet<IpAddr>,
    /// Refused input since start, over every peer.
    refused: PeerInputCounters,
    /// Memory was given back since [`Rib::take_shrunk`] was last called.
    shrunk: bool,
    l2_deltas: VecDeque<ForwardingDelta>,
    events: VecDeque<RibEvent>,
    scratch: Vec<usize>,
    now: Option<Instant>,
    /// Purge the interners when they grow past this many values.
    purge_at: usize,
}

/// Runs `$body` with `$s` bound to the table `$id` names (`ref self`: borrowed shared, else
/// mutably); `$missing` when it names a VRF that is gone.
macro_rules! on_scope {
    (ref $self:ident, $id:expr, $s:ident => $body:expr, $missing:expr) => {
        on_scope!(@[&] get, $self, $id, $s => $body, $missing)
    };
    ($self:ident, $id:expr, $s:ident => $body:expr, $missing:expr) => {
        on_scope!(@[&mut] get_mut, $self, $id, $s => $body, $missing)
    };
    (@[$($r:tt)+] $get:ident, $self:ident, $id:expr, $s:ident => $body:expr, $missing:expr) => {
        match $id {
            ScopeId::Default4 => {
                let $s = $($r)+ $self.default.v4;
                $body
            }
            ScopeId::Default6 => {
                let $s = $($r)+ $self.default.v6;
                $body
            }
            ScopeId::Evpn => {
                let $s = $($r)+ $self.evpn;
                $body
            }
            ScopeId::Vrf4(v) => match $self.vrfs.$get(&v) {
                Some(vrf) => {
                    let $s = $($r)+ vrf.tables.v4;
                    $body
                }
                None => $missing,
            },
            ScopeId::Vrf6(v) => match $self.vrfs.$get(&v) {
                Some(vrf) => {
                    let $s = $($r)+ vrf.tables.v6;
                    $body
                }
                None => $missing,
            },
        }
    };
}

mod graceful_restart;
mod housekeeping;
mod inspect;
mod l2vni_routes;
mod next_hops;
mod outputs;
mod peers;
mod scope;
mod selection;
mod update;
mod vrf_routes;

pub use inspect::{ExchangedRoute, PrefixMatch, RibStats, UnicastPath};
pub use scope::ScopeId;
pub use update::{PeerInputCounters, RouteUpdate};

use peers::PeerState;
use scope::{Scope, UnicastPair};
use vrf_routes::VrfState;

impl Rib {
    /// A RIB that originates our VTEP address (and `default_networks`) in the default table.
    pub fn new(config: RibConfig) -> Self {
        let mut rib = Self {
            peers: Vec::new(),
            default: UnicastPair::new(FibTable::Default),
            evpn: Scope::new(None),
            vrfs: BTreeMap::new(),
            l2: BTreeMap::new(),
            attrs: Interner::new(),
            fields: Interner::new(),
            export_caches: HashMap::new(),
            tracker: NextHopTracker::new(),
            underlay_dirty: false,
            own: HashSet::new(),
            reported_local: BTreeSet::new(),
            refused: PeerInputCounters::default(),
            shrunk: false,
            l2_deltas: VecDeque::new(),
            events: VecDeque::new(),
            scratch: Vec::new(),
            now: None,
            purge_at: 4096,
            config,
        };
        rib.own = rib.own_addresses();
        let local = rib.attrs.intern(PathAttrs::default());
        let mut nets = vec![IpNet::from(rib.config.vtep)];
        nets.extend(rib.config.default_networks.iter().copied());
        for n in nets {
            rib.set_default_path(&n, Source::Local, Some(local.clone()));
        }
        rib
    }

    /// The configuration.
    pub fn config(&self) -> &RibConfig {
        &self.config
    }
}
