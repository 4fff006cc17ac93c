//! Communities: COMMUNITIES (type 8, RFC 1997), EXTENDED_COMMUNITIES
//! (type 16, RFC 4360) with typed views from `perouter_evpn`, IPv6
//! address-specific extended communities (type 25, RFC 5701) and
//! LARGE_COMMUNITY (type 32, RFC 8092).

use std::fmt;

use perouter_evpn::{EvpnExtCommunity, RouteTarget};
use serde::{Serialize, Serializer};

use crate::wire::hex::to_hex;

/// A standard community (RFC 1997): 2-byte AS and 2-byte value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Community(pub u32);

impl Community {
    /// GRACEFUL_SHUTDOWN (RFC 8326).
    pub const GRACEFUL_SHUTDOWN: Community = Community(0xffff_0000);
    /// ACCEPT_OWN (RFC 7611).
    pub const ACCEPT_OWN: Community = Community(0xffff_0001);
    /// LLGR_STALE (RFC 9494).
    pub const LLGR_STALE: Community = Community(0xffff_0006);
    /// NO_LLGR (RFC 9494).
    pub const NO_LLGR: Community = Community(0xffff_0007);
    /// BLACKHOLE (RFC 7999).
    pub const BLACKHOLE: Community = Community(0xffff_029a);
    /// NO_EXPORT (RFC 1997).
    pub const NO_EXPORT: Community = Community(0xffff_ff01);
    /// NO_ADVERTISE (RFC 1997).
    pub const NO_ADVERTISE: Community = Community(0xffff_ff02);
    /// NO_EXPORT_SUBCONFED (RFC 1997).
    pub const NO_EXPORT_SUBCONFED: Community = Community(0xffff_ff03);
    /// NOPEER (RFC 3765).
    pub const NOPEER: Community = Community(0xffff_ff04);

    /// A community from its AS and value halves.
    pub fn new(asn: u16, value: u16) -> Self {
        Community((u32::from(asn) << 16) | u32::from(value))
    }

    /// The well-known name, if any.
    pub fn well_known_name(self) -> Option<&'static str> {
        Some(match self {
            Self::GRACEFUL_SHUTDOWN => "GRACEFUL_SHUTDOWN",
            Self::ACCEPT_OWN => "ACCEPT_OWN",
            Self::LLGR_STALE => "LLGR_STALE",
            Self::NO_LLGR => "NO_LLGR",
            Self::BLACKHOLE => "BLACKHOLE",
            Self::NO_EXPORT => "NO_EXPORT",
            Self::NO_ADVERTISE => "NO_ADVERTISE",
            Self::NO_EXPORT_SUBCONFED => "NO_EXPORT_SUBCONFED",
            Self::NOPEER => "NOPEER",
            _ => return None,
        })
    }
}

impl fmt::Display for Community {
    /// The well-known name, or `asn:value`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.well_known_name() {
            Some(n) => f.write_str(n),
            None => write!(f, "{}:{}", self.0 >> 16, self.0 & 0xffff),
        }
    }
}

impl Serialize for Community {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An extended community (RFC 4360 §2), 8 raw bytes, with typed views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExtendedCommunity(pub [u8; 8]);

impl ExtendedCommunity {
    /// The type byte (high-order octet).
    pub fn type_high(&self) -> u8 {
        self.0[0]
    }

    /// The sub-type byte.
    pub fn subtype(&self) -> u8 {
        self.0[1]
    }

    /// True when the community is transitive across ASes (RFC 4360 §2: T bit clear).
    pub fn is_transitive(&self) -> bool {
        self.0[0] & 0x40 == 0
    }

    /// The route target view (RFC 4360 §4, RFC 5668), if this is one.
    pub fn route_target(&self) -> Option<RouteTarget> {
        RouteTarget::from_ext_community(&self.0)
    }

    /// The EVPN view (encapsulation, router MAC, MAC mobility, ...), if this is one.
    pub fn evpn(&self) -> Option<EvpnExtCommunity> {
        EvpnExtCommunity::from_bytes(&self.0)
    }
}

impl From<RouteTarget> for ExtendedCommunity {
    fn from(rt: RouteTarget) -> Self {
        ExtendedCommunity(rt.to_ext_community())
    }
}

impl From<EvpnExtCommunity> for ExtendedCommunity {
    fn from(c: EvpnExtCommunity) -> Self {
        ExtendedCommunity(c.to_bytes())
    }
}

impl fmt::Display for ExtendedCommunity {
    /// `RT:asn:value` for route targets, the EVPN name for EVPN kinds, else hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(rt) = self.route_target() {
            write!(f, "RT:{rt}")
        } else if let Some(e) = self.evpn() {
            write!(f, "{e:?}")
        } else {
            write!(f, "0x{}", to_hex(&self.0))
        }
    }
}

impl Serialize for ExtendedCommunity {
    /// `{"raw": "hex", "route_target": ..}` or `{"raw": .., "evpn": ..}`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("raw", &to_hex(&self.0))?;
        if let Some(rt) = self.route_target() {
            m.serialize_entry("route_target", &rt)?;
        } else if let Some(e) = self.evpn() {
            m.serialize_entry("evpn", &e)?;
        }
        m.end()
    }
}

/// An IPv6 address-specific extended community (RFC 5701), 20 raw bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv6ExtendedCommunity(pub [u8; 20]);

impl Serialize for Ipv6ExtendedCommunity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&to_hex(&self.0))
    }
}

/// A large community (RFC 8092 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LargeCommunity {
    /// Global administrator (an AS).
    pub global: u32,
    /// First local data part.
    pub local1: u32,
    /// Second local data part.
    pub local2: u32,
}

impl fmt::Display for LargeCommunity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.global, self.local1, self.local2)
    }
}

impl Serialize for LargeCommunity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Splits a value into fixed-size items mapped by `f`; malformed unless its
/// length is a non-zero multiple of `N` (RFC 7606 §7.8, §7.13, §7.14;
/// RFC 8092 §6).
pub(crate) fn parse_fixed<const N: usize, T>(
    value: &[u8],
    what: &str,
    f: impl Fn(&[u8; N]) -> T,
) -> Result<Vec<T>, String> {
    if value.is_empty() || !value.len().is_multiple_of(N) {
        return Err(format!(
            "{what} length {} is not a non-zero multiple of {N}",
            value.len()
        ));
    }
    Ok(value
        .chunks_exact(N)
        .filter_map(|c| <&[u8; N]>::try_from(c).ok())
        .map(f)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_communities_have_names() {
        assert_eq!(Community::NO_EXPORT.to_string(), "NO_EXPORT");
        assert_eq!(Community::BLACKHOLE.to_string(), "BLACKHOLE");
        assert_eq!(Community::new(64512, 100).to_string(), "64512:100");
        assert_eq!(Community(0xffff_ff05).to_string(), "65535:65285");
    }

    #[test]
    fn extended_community_views() {
        // 2-octet AS RT 64512:10 (frr-gobgp).
        let rt = ExtendedCommunity([0x00, 0x02, 0xfc, 0x00, 0, 0, 0, 10]);
        assert!(rt.route_target().is_some());
        assert!(rt.is_transitive());
        assert!(rt.to_string().starts_with("RT:"), "{rt}");
        // VXLAN encapsulation.
        let enc = ExtendedCommunity([0x03, 0x0c, 0, 0, 0, 0, 0, 8]);
        assert!(enc.evpn().is_some());
        assert!(enc.route_target().is_none());
        // Something else stays raw.
        let x = ExtendedCommunity([0x43, 0x99, 0, 0, 0, 0, 0, 1]);
        assert!(!x.is_transitive());
        assert_eq!(x.to_string(), "0x4399000000000001");
    }

    #[test]
    fn fixed_lists_need_non_zero_multiples() {
        assert_eq!(
            parse_fixed::<4, u32>(&[1, 2, 3, 4], "x", |a| u32::from_be_bytes(*a)).unwrap(),
            vec![0x01020304]
        );
        assert!(parse_fixed::<4, u8>(&[], "x", |a| a[0]).is_err());
        assert!(parse_fixed::<12, u8>(&[0; 13], "x", |a| a[0]).is_err());
    }

    #[test]
    fn large_community_display() {
        let l = LargeCommunity {
            global: 4200000001,
            local1: 4,
            local2: 4,
        };
        assert_eq!(l.to_string(), "4200000001:4:4");
    }
}
