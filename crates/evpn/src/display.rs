//! FRR's text form of EVPN routes, exactly as FRR 8.4 prints prefixes in
//! `show bgp l2vpn evpn`:
//!
//! ```text
//! EVPN type-1 prefix: [1]:[EthTag]:[ESI]:[IPlen]:[VTEP-IP]:[Frag-id]
//! EVPN type-2 prefix: [2]:[EthTag]:[MAClen]:[MAC]:[IPlen]:[IP]
//! EVPN type-3 prefix: [3]:[EthTag]:[IPlen]:[OrigIP]
//! EVPN type-4 prefix: [4]:[ESI]:[IPlen]:[OrigIP]
//! EVPN type-5 prefix: [5]:[EthTag]:[IPlen]:[IP]
//! ```
//!
//! The RD is not part of the text (FRR prints it as a group header). For
//! type 1, FRR's VTEP-IP and fragment id are local bookkeeping that is not on
//! the wire; FRR shows `[32]:[0.0.0.0]:[0]` for every route it learns, and so
//! does this crate.

use std::fmt;
use std::net::IpAddr;

use crate::route::EvpnRoute;

fn ip_bits(ip: &IpAddr) -> u8 {
    match ip {
        IpAddr::V4(_) => 32,
        IpAddr::V6(_) => 128,
    }
}

impl fmt::Display for EvpnRoute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvpnRoute::EthernetAd(r) => {
                write!(f, "[1]:[{}]:[{}]:[32]:[0.0.0.0]:[0]", r.ethernet_tag, r.esi)
            }
            EvpnRoute::MacIp(r) => {
                write!(f, "[2]:[{}]:[48]:[{}]", r.ethernet_tag, r.mac)?;
                if let Some(ip) = &r.ip {
                    write!(f, ":[{}]:[{}]", ip_bits(ip), ip)?;
                }
                Ok(())
            }
            EvpnRoute::InclusiveMulticast(r) => write!(
                f,
                "[3]:[{}]:[{}]:[{}]",
                r.ethernet_tag,
                ip_bits(&r.originator),
                r.originator
            ),
            EvpnRoute::EthernetSegment(r) => write!(
                f,
                "[4]:[{}]:[{}]:[{}]",
                r.esi,
                ip_bits(&r.originator),
                r.originator
            ),
            EvpnRoute::IpPrefix(r) => write!(
                f,
                "[5]:[{}]:[{}]:[{}]",
                r.ethernet_tag,
                r.prefix().prefix_len(),
                r.prefix().addr()
            ),
            EvpnRoute::Unknown(u) => {
                write!(f, "[{}]:[{}]", u.route_type(), hex::encode(u.value()))
            }
        }
    }
}
