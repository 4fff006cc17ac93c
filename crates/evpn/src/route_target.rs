//! Route Targets (RFC 4360 §4, RFC 5668 §2) and the import match used by
//! EVPN VRFs, including FRR's `*:VNI` wildcard.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::rd::{split_admin, Admin, ParseAdminError};

/// Extended community sub-type of a Route Target (RFC 4360 §4).
const SUBTYPE_ROUTE_TARGET: u8 = 0x02;

/// A Route Target extended community (transitive; sub-type 0x02).
///
/// Text form (Display/FromStr, and serde), as OpenPERouter's
/// `importRTs`/`exportRTs` and FRR: `ASN:NN` or `A.B.C.D:NN`. An AS that does
/// not fit in 16 bits gives the 4-octet-AS form (and then NN <= 65535); a
/// 4-octet-AS RT whose AS fits in 16 bits is written `100L:5` so the text
/// round-trips.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum RouteTarget {
    /// Type 0x00: 2-octet AS specific (RFC 4360 §3.1).
    As2 {
        /// Global administrator: 2-octet AS.
        asn: u16,
        /// Local administrator.
        number: u32,
    },
    /// Type 0x01: IPv4 address specific (RFC 4360 §3.2).
    Ipv4 {
        /// Global administrator: IPv4 address.
        addr: Ipv4Addr,
        /// Local administrator.
        number: u16,
    },
    /// Type 0x02: 4-octet AS specific (RFC 5668 §2).
    As4 {
        /// Global administrator: 4-octet AS.
        asn: u32,
        /// Local administrator.
        number: u16,
    },
}

impl RouteTarget {
    /// Reads a Route Target from an 8-octet extended community; `None` if the
    /// community is not a transitive RT of type 0x00, 0x01 or 0x02.
    pub fn from_ext_community(b: &[u8; 8]) -> Option<Self> {
        if b[1] != SUBTYPE_ROUTE_TARGET {
            return None;
        }
        match b[0] {
            0x00 => Some(RouteTarget::As2 {
                asn: u16::from_be_bytes([b[2], b[3]]),
                number: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
            }),
            0x01 => Some(RouteTarget::Ipv4 {
                addr: Ipv4Addr::new(b[2], b[3], b[4], b[5]),
                number: u16::from_be_bytes([b[6], b[7]]),
            }),
            0x02 => Some(RouteTarget::As4 {
                asn: u32::from_be_bytes([b[2], b[3], b[4], b[5]]),
                number: u16::from_be_bytes([b[6], b[7]]),
            }),
            _ => None,
        }
    }

    /// The 8-octet extended community.
    pub fn to_ext_community(&self) -> [u8; 8] {
        let mut out = [0u8; 8];
        out[1] = SUBTYPE_ROUTE_TARGET;
        match *self {
            RouteTarget::As2 { asn, number } => {
                out[2..4].copy_from_slice(&asn.to_be_bytes());
                out[4..8].copy_from_slice(&number.to_be_bytes());
            }
            RouteTarget::Ipv4 { addr, number } => {
                out[0] = 0x01;
                out[2..6].copy_from_slice(&addr.octets());
                out[6..8].copy_from_slice(&number.to_be_bytes());
            }
            RouteTarget::As4 { asn, number } => {
                out[0] = 0x02;
                out[2..6].copy_from_slice(&asn.to_be_bytes());
                out[6..8].copy_from_slice(&number.to_be_bytes());
            }
        }
        out
    }

    /// The local administrator (assigned number), widened to 32 bits.
    pub fn number(&self) -> u32 {
        match *self {
            RouteTarget::As2 { number, .. } => number,
            RouteTarget::Ipv4 { number, .. } | RouteTarget::As4 { number, .. } => u32::from(number),
        }
    }
}

impl fmt::Display for RouteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RouteTarget::As2 { asn, number } => write!(f, "{asn}:{number}"),
            RouteTarget::Ipv4 { addr, number } => write!(f, "{addr}:{number}"),
            RouteTarget::As4 { asn, number } if asn <= u32::from(u16::MAX) => {
                write!(f, "{asn}L:{number}")
            }
            RouteTarget::As4 { asn, number } => write!(f, "{asn}:{number}"),
        }
    }
}

impl FromStr for RouteTarget {
    type Err = ParseAdminError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseAdminError {
            what: "route target",
            input: s.to_owned(),
            reason,
        };
        let (admin, number) = split_admin(s).map_err(err)?;
        let n16 = || {
            u16::try_from(number).map_err(|_| err("NN must be <= 65535 with this administrator"))
        };
        match admin {
            Admin::Ipv4(addr) => Ok(RouteTarget::Ipv4 {
                addr,
                number: n16()?,
            }),
            Admin::Asn4(asn) => Ok(RouteTarget::As4 {
                asn,
                number: n16()?,
            }),
            Admin::Asn(asn) => match u16::try_from(asn) {
                Ok(asn) => Ok(RouteTarget::As2 {
                    asn,
                    number: u32::try_from(number).map_err(|_| err("NN must fit in 32 bits"))?,
                }),
                Err(_) => Ok(RouteTarget::As4 {
                    asn,
                    number: n16()?,
                }),
            },
        }
    }
}

serde_via_str!(RouteTarget);

/// An import rule: one exact RT, or FRR's `*:NN` wildcard that matches any
/// administrator with the given local administrator. eBGP EVPN fabrics need
/// the wildcard because every leaf has its own AS, so the auto-derived
/// `ASN:VNI` RTs differ per leaf (landscape pitfall 9).
///
/// Text form: `64512:100`, `10.0.0.1:5`, or `*:100`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum RouteTargetMatch {
    /// Matches this RT only.
    Exact(RouteTarget),
    /// Matches any RT (2-octet AS, IPv4 or 4-octet AS) whose local
    /// administrator equals `number`, as FRR's `route-target import *:NN`.
    AnyAsn {
        /// The local administrator to match (usually the VNI).
        number: u32,
    },
}

impl RouteTargetMatch {
    /// True if `rt` is imported by this rule.
    pub fn matches(&self, rt: &RouteTarget) -> bool {
        match self {
            RouteTargetMatch::Exact(want) => want == rt,
            RouteTargetMatch::AnyAsn { number } => rt.number() == *number,
        }
    }
}

impl fmt::Display for RouteTargetMatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteTargetMatch::Exact(rt) => rt.fmt(f),
            RouteTargetMatch::AnyAsn { number } => write!(f, "*:{number}"),
        }
    }
}

impl FromStr for RouteTargetMatch {
    type Err = ParseAdminError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("*:") {
            Some(n) if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) => n
                .parse()
                .map(|number| RouteTargetMatch::AnyAsn { number })
                .map_err(|_| ParseAdminError {
                    what: "route target",
                    input: s.to_owned(),
                    reason: "NN must fit in 32 bits",
                }),
            Some(_) => Err(ParseAdminError {
                what: "route target",
                input: s.to_owned(),
                reason: "the assigned number must be decimal digits",
            }),
            None => s.parse().map(RouteTargetMatch::Exact),
        }
    }
}

serde_via_str!(RouteTargetMatch);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rts_from_the_vectors() {
        // FRR auto RT with 4-byte AS: 00 02 e901 0000000a = RT:59905:10 (oddity 4).
        let b = [0x00, 0x02, 0xea, 0x01, 0x00, 0x00, 0x00, 0x0a];
        let rt = RouteTarget::from_ext_community(&b).unwrap();
        assert_eq!(
            rt,
            RouteTarget::As2 {
                asn: 59905,
                number: 10
            }
        );
        assert_eq!(rt.to_string(), "59905:10");
        assert_eq!(rt.to_ext_community(), b);
        // User-set 4200000001:20 is a 4-octet-AS RT: 02 02 fa56ea01 0014.
        let b = [0x02, 0x02, 0xfa, 0x56, 0xea, 0x01, 0x00, 0x14];
        let rt = RouteTarget::from_ext_community(&b).unwrap();
        assert_eq!(
            rt,
            RouteTarget::As4 {
                asn: 4_200_000_001,
                number: 20
            }
        );
        assert_eq!(rt.to_string(), "4200000001:20");
        assert_eq!("4200000001:20".parse::<RouteTarget>().unwrap(), rt);
        assert_eq!(rt.to_ext_community(), b);
    }

    #[test]
    fn text_forms() {
        for (text, rt) in [
            (
                "64512:100",
                RouteTarget::As2 {
                    asn: 64512,
                    number: 100,
                },
            ),
            (
                "64512:4294967295",
                RouteTarget::As2 {
                    asn: 64512,
                    number: u32::MAX,
                },
            ),
            (
                "10.0.0.1:5",
                RouteTarget::Ipv4 {
                    addr: Ipv4Addr::new(10, 0, 0, 1),
                    number: 5,
                },
            ),
            (
                "100L:5",
                RouteTarget::As4 {
                    asn: 100,
                    number: 5,
                },
            ),
        ] {
            assert_eq!(text.parse::<RouteTarget>().unwrap(), rt, "{text}");
            assert_eq!(rt.to_string(), text);
            assert_eq!(
                RouteTarget::from_ext_community(&rt.to_ext_community()),
                Some(rt)
            );
            let json = serde_json::to_string(&rt).unwrap();
            assert_eq!(serde_json::from_str::<RouteTarget>(&json).unwrap(), rt);
        }
        for bad in [
            "10.0.0.1:65536",
            "4200000001:65536",
            "64512",
            "x:1",
            "64512:",
            "1.2.3:4",
        ] {
            assert!(bad.parse::<RouteTarget>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn non_rt_communities_are_not_rts() {
        // Encapsulation (03 0c), Router MAC (06 03), route origin (00 03), non-transitive (40 02).
        for b in [
            [0x03, 0x0c, 0, 0, 0, 0, 0, 8],
            [0x06, 0x03, 2, 0xaa, 0, 0, 0x10, 0],
            [0x00, 0x03, 0, 1, 0, 0, 0, 1],
            [0x40, 0x02, 0, 1, 0, 0, 0, 1],
        ] {
            assert_eq!(RouteTarget::from_ext_community(&b), None);
        }
    }

    #[test]
    fn wildcard_match() {
        let any: RouteTargetMatch = "*:10".parse().unwrap();
        assert_eq!(any, RouteTargetMatch::AnyAsn { number: 10 });
        assert_eq!(any.to_string(), "*:10");
        assert!(any.matches(&RouteTarget::As2 {
            asn: 59905,
            number: 10
        }));
        assert!(any.matches(&RouteTarget::As4 {
            asn: 4_200_000_002,
            number: 10
        }));
        assert!(any.matches(&RouteTarget::Ipv4 {
            addr: Ipv4Addr::new(1, 2, 3, 4),
            number: 10
        }));
        assert!(!any.matches(&RouteTarget::As2 {
            asn: 59905,
            number: 11
        }));
        let exact: RouteTargetMatch = "64512:10".parse().unwrap();
        assert!(exact.matches(&RouteTarget::As2 {
            asn: 64512,
            number: 10
        }));
        assert!(!exact.matches(&RouteTarget::As2 {
            asn: 64513,
            number: 10
        }));
        assert!("*:".parse::<RouteTargetMatch>().is_err());
        assert!("*:x".parse::<RouteTargetMatch>().is_err());
        let json = serde_json::to_string(&any).unwrap();
        assert_eq!(json, "\"*:10\"");
        assert_eq!(
            serde_json::from_str::<RouteTargetMatch>(&json).unwrap(),
            any
        );
    }
}
