//! Address families: AFI (IANA "Address Family Numbers") and SAFI
//! (RFC 4760 §5), and their pair.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

/// An Address Family Identifier (RFC 4760 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Afi {
    /// 1: IPv4.
    Ipv4,
    /// 2: IPv6.
    Ipv6,
    /// 25: L2VPN (RFC 4761, used by EVPN, RFC 7432 §7).
    L2vpn,
    /// Any other AFI. Never holds 1, 2 or 25 when built by [`Afi::from_u16`].
    Unknown(u16),
}

impl Afi {
    /// Decodes an AFI.
    pub fn from_u16(v: u16) -> Self {
        match v {
            1 => Afi::Ipv4,
            2 => Afi::Ipv6,
            25 => Afi::L2vpn,
            other => Afi::Unknown(other),
        }
    }

    /// Encodes an AFI.
    pub fn to_u16(self) -> u16 {
        match self {
            Afi::Ipv4 => 1,
            Afi::Ipv6 => 2,
            Afi::L2vpn => 25,
            Afi::Unknown(v) => v,
        }
    }
}

/// A Subsequent Address Family Identifier (RFC 4760 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Safi {
    /// 1: unicast.
    Unicast,
    /// 2: multicast.
    Multicast,
    /// 70: EVPN (RFC 7432 §7).
    Evpn,
    /// Any other SAFI. Never holds 1, 2 or 70 when built by [`Safi::from_u8`].
    Unknown(u8),
}

impl Safi {
    /// Decodes a SAFI.
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => Safi::Unicast,
            2 => Safi::Multicast,
            70 => Safi::Evpn,
            other => Safi::Unknown(other),
        }
    }

    /// Encodes a SAFI.
    pub fn to_u8(self) -> u8 {
        match self {
            Safi::Unicast => 1,
            Safi::Multicast => 2,
            Safi::Evpn => 70,
            Safi::Unknown(v) => v,
        }
    }
}

/// An AFI/SAFI pair: what an MP_REACH, a capability or a route refresh is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AfiSafi {
    /// The AFI.
    pub afi: Afi,
    /// The SAFI.
    pub safi: Safi,
}

/// How the prefixes of a family are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NlriEncoding {
    /// RFC 4271 §4.3 length+prefix, with this many address bits at most.
    Prefix(u8),
    /// EVPN route type + length + value (RFC 7432 §7).
    Evpn,
    /// Not interpreted: kept raw.
    Opaque,
}

impl AfiSafi {
    /// IPv4 unicast (the RFC 4271 family).
    pub const IPV4_UNICAST: AfiSafi = AfiSafi {
        afi: Afi::Ipv4,
        safi: Safi::Unicast,
    };
    /// IPv6 unicast (RFC 2545).
    pub const IPV6_UNICAST: AfiSafi = AfiSafi {
        afi: Afi::Ipv6,
        safi: Safi::Unicast,
    };
    /// L2VPN EVPN (RFC 7432).
    pub const L2VPN_EVPN: AfiSafi = AfiSafi {
        afi: Afi::L2vpn,
        safi: Safi::Evpn,
    };

    /// A pair from wire values.
    pub fn from_wire(afi: u16, safi: u8) -> Self {
        AfiSafi {
            afi: Afi::from_u16(afi),
            safi: Safi::from_u8(safi),
        }
    }

    /// How this family's NLRI are encoded.
    pub(crate) fn encoding(self) -> NlriEncoding {
        match (self.afi, self.safi) {
            (Afi::Ipv4, Safi::Unicast | Safi::Multicast) => NlriEncoding::Prefix(32),
            (Afi::Ipv6, Safi::Unicast | Safi::Multicast) => NlriEncoding::Prefix(128),
            (Afi::L2vpn, Safi::Evpn) => NlriEncoding::Evpn,
            _ => NlriEncoding::Opaque,
        }
    }
}

/// Families as a log field: `ipv4-unicast,l2vpn-evpn`.
pub fn display_list(families: &[AfiSafi]) -> String {
    families
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl fmt::Display for AfiSafi {
    /// `ipv4-unicast`, `ipv6-unicast`, `l2vpn-evpn`, `ipv4-multicast`, or
    /// `afi-<n>-safi-<n>` for the others.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let afi = match self.afi {
            Afi::Ipv4 => "ipv4",
            Afi::Ipv6 => "ipv6",
            Afi::L2vpn => "l2vpn",
            Afi::Unknown(_) => "",
        };
        let safi = match self.safi {
            Safi::Unicast => "unicast",
            Safi::Multicast => "multicast",
            Safi::Evpn => "evpn",
            Safi::Unknown(_) => "",
        };
        if afi.is_empty() || safi.is_empty() {
            write!(f, "afi-{}-safi-{}", self.afi.to_u16(), self.safi.to_u8())
        } else {
            write!(f, "{afi}-{safi}")
        }
    }
}

/// A family name that [`AfiSafi::from_str`] does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown address family {0:?} (expected ipv4-unicast, ipv6-unicast, l2vpn-evpn, ipv4-multicast, ipv6-multicast or afi-N-safi-N)")]
pub struct UnknownFamily(pub String);

impl FromStr for AfiSafi {
    type Err = UnknownFamily;

    /// Parses the names [`AfiSafi`]'s `Display` prints (also with `_` or a
    /// space instead of `-`, any case).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace(['_', ' ', '/'], "-");
        let parts: Vec<&str> = norm.split('-').collect();
        let fam = match parts.as_slice() {
            ["ipv4", "unicast"] | ["ipv4"] => AfiSafi::IPV4_UNICAST,
            ["ipv6", "unicast"] | ["ipv6"] => AfiSafi::IPV6_UNICAST,
            ["l2vpn", "evpn"] | ["evpn"] => AfiSafi::L2VPN_EVPN,
            ["ipv4", "multicast"] => AfiSafi::from_wire(1, 2),
            ["ipv6", "multicast"] => AfiSafi::from_wire(2, 2),
            ["afi", a, "safi", b] => match (a.parse::<u16>(), b.parse::<u8>()) {
                (Ok(a), Ok(b)) => AfiSafi::from_wire(a, b),
                _ => return Err(UnknownFamily(s.to_string())),
            },
            _ => return Err(UnknownFamily(s.to_string())),
        };
        Ok(fam)
    }
}

impl Serialize for AfiSafi {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Serialize for Afi {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u16(self.to_u16())
    }
}

impl Serialize for Safi {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.to_u8())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_values_round_trip() {
        for v in 0..=u16::MAX {
            assert_eq!(Afi::from_u16(v).to_u16(), v);
        }
        for v in 0..=u8::MAX {
            assert_eq!(Safi::from_u8(v).to_u8(), v);
        }
        assert_eq!(AfiSafi::from_wire(25, 70), AfiSafi::L2VPN_EVPN);
    }

    #[test]
    fn names_round_trip() {
        for f in [
            AfiSafi::IPV4_UNICAST,
            AfiSafi::IPV6_UNICAST,
            AfiSafi::L2VPN_EVPN,
            AfiSafi::from_wire(1, 2),
            AfiSafi::from_wire(16388, 71),
        ] {
            assert_eq!(f.to_string().parse::<AfiSafi>().unwrap(), f);
        }
        assert_eq!(
            "IPv4_Unicast".parse::<AfiSafi>().unwrap(),
            AfiSafi::IPV4_UNICAST
        );
        assert!("ipx".parse::<AfiSafi>().is_err());
    }
}
