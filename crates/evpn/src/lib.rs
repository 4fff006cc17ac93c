//! EVPN for perouter: route types 1–5 as typed values and their NLRI codec
//! (RFC 7432 §7, RFC 9136 §3), Route Distinguishers, ESIs, Ethernet tags,
//! VNI-in-label (RFC 8365 §5.1.3), the EVPN extended communities, Route
//! Targets with FRR's `*:VNI` wildcard, the PMSI Tunnel attribute, RD/RT
//! auto-derivation, and FRR's text form of every route.
//!
//! **Role.** The EVPN vocabulary every other crate shares. **Inputs.** NLRI
//! and attribute bytes, text forms, configuration values (router ID, AS,
//! VNI). **Outputs.** Typed routes, RDs, RTs and communities, their wire
//! bytes and FRR's text.
//!
//! **Must not.** Do I/O or read clocks, hold state, or depend on any other
//! perouter crate (it sits at the bottom: bgp, rib, fib and the agent use
//! it). Everything here is a pure value or a pure function. Parsers never
//! panic, never allocate for known route types, and report typed errors
//! with byte offsets; `parse` and `emit` are exact inverses.
//!
//! ```
//! use perouter_evpn::{EvpnNlriIter, EvpnRoute};
//! // A type-5 route as FRR sent it (frr-gobgp vectors): 203.0.113.0/24, L3VNI 1000.
//! let nlri = [
//!     0x05, 0x22, 0x00, 0x01, 0xc0, 0x00, 0x02, 0x01, 0x00, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
//!     0, 0, 0, 0, 24, 203, 0, 113, 0, 0, 0, 0, 0, 0x00, 0x03, 0xe8,
//! ];
//! let routes: Vec<EvpnRoute> = EvpnNlriIter::new(&nlri).collect::<Result<_, _>>().unwrap();
//! assert_eq!(routes[0].to_string(), "[5]:[0]:[24]:[203.0.113.0]");
//! let mut out = Vec::new();
//! routes[0].emit(&mut out);
//! assert_eq!(out, nlri);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// Implements serde for a value whose text form is its `Display`/`FromStr` pair (MACs, RDs,
/// RTs, ESIs): serialized as that string, parsed back with `FromStr`, so JSON reads as FRR prints.
macro_rules! serde_via_str {
    ($($t:ty),+ $(,)?) => {$(
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <String as serde::Deserialize>::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    )+};
}

#[cfg(feature = "arbitrary")]
mod arbitrary_values;
pub mod derive;
mod display;
mod error;
mod esi;
mod ext_community;
mod json;
mod label;
mod mac;
mod nlri;
mod pmsi;
mod rd;
mod route;
mod route_target;

pub use error::{EvpnError, EvpnErrorKind};
pub use esi::{Esi, EsiKind, ParseEsiError};
pub use ext_community::{
    EvpnExtCommunity, ND_FLAG_IMMUTABLE, ND_FLAG_OVERRIDE, ND_FLAG_PROXY, ND_FLAG_ROUTER,
    TUNNEL_TYPE_MPLS, TUNNEL_TYPE_VXLAN,
};
pub use label::{EthernetTag, Label};
pub use mac::{MacAddress, ParseMacError};
pub use nlri::EvpnNlriIter;
pub use pmsi::{PmsiTunnel, PmsiTunnelId, TUNNEL_TYPE_INGRESS_REPLICATION};
pub use rd::{ParseAdminError, RouteDistinguisher};
pub use route::{
    EthernetAdRoute, EthernetSegmentRoute, EvpnRoute, EvpnRouteKey, InclusiveMulticastRoute,
    IpPrefixRoute, MacIpRoute, MixedFamilyError, UnknownRoute,
};
pub use route_target::{RouteTarget, RouteTargetMatch};

/// AFI of L2VPN (RFC 4761 §3.2.2; EVPN's AFI per RFC 7432 §7).
pub const AFI_L2VPN: u16 = 25;
/// SAFI of EVPN (RFC 7432 §7).
pub const SAFI_EVPN: u8 = 70;
