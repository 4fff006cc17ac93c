//! Route Distinguishers (RFC 4364 §4.2).

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An 8-octet Route Distinguisher (RFC 4364 §4.2): a 2-octet type field and a
/// 6-octet value made of an administrator and an assigned number.
///
/// Text form (Display/FromStr, and serde) follows FRR: `64512:100` (type 0),
/// `10.0.0.1:3` (type 1), `4200000001:5` (type 2). A type-2 RD whose AS fits in
/// 16 bits is written with an `L` suffix (`100L:5`, the Junos convention) so
/// the text still round-trips. Unknown types are written `rd-type-N:HEX12`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RouteDistinguisher {
    /// Type 0: 2-octet AS administrator, 4-octet assigned number.
    As2 {
        /// The administrator: a 2-octet AS number.
        asn: u16,
        /// The assigned number.
        number: u32,
    },
    /// Type 1: IPv4 address administrator, 2-octet assigned number (the auto-derived
    /// EVPN form `router-id:index`, RFC 7432 §7.9).
    Ipv4 {
        /// The administrator: an IPv4 address (usually the router ID).
        addr: Ipv4Addr,
        /// The assigned number.
        number: u16,
    },
    /// Type 2: 4-octet AS administrator, 2-octet assigned number.
    As4 {
        /// The administrator: a 4-octet AS number.
        asn: u32,
        /// The assigned number.
        number: u16,
    },
    /// Any other type, kept raw. [`RouteDistinguisher::from_bytes`] only yields
    /// this for `rd_type >= 3`; types 0–2 always decode to the variants above.
    Other {
        /// The type field.
        rd_type: u16,
        /// The 6-octet value field.
        value: [u8; 6],
    },
}

impl Default for RouteDistinguisher {
    fn default() -> Self {
        RouteDistinguisher::As2 { asn: 0, number: 0 }
    }
}

impl RouteDistinguisher {
    /// Decodes the 8 wire octets. Never fails: unknown types are kept raw.
    pub fn from_bytes(b: [u8; 8]) -> Self {
        // Decoded from one 64-bit word: the fields are built in registers,
        // which keeps NLRI parsing free of partial-store stalls.
        let v = u64::from_be_bytes(b);
        match (v >> 48) as u16 {
            0 => RouteDistinguisher::As2 {
                asn: (v >> 32) as u16,
                number: v as u32,
            },
            1 => RouteDistinguisher::Ipv4 {
                addr: Ipv4Addr::from((v >> 16) as u32),
                number: v as u16,
            },
            2 => RouteDistinguisher::As4 {
                asn: (v >> 16) as u32,
                number: v as u16,
            },
            rd_type => RouteDistinguisher::Other {
                rd_type,
                value: [b[2], b[3], b[4], b[5], b[6], b[7]],
            },
        }
    }

    /// Encodes the 8 wire octets.
    pub fn to_bytes(&self) -> [u8; 8] {
        let mut out = [0u8; 8];
        match *self {
            RouteDistinguisher::As2 { asn, number } => {
                out[2..4].copy_from_slice(&asn.to_be_bytes());
                out[4..8].copy_from_slice(&number.to_be_bytes());
            }
            RouteDistinguisher::Ipv4 { addr, number } => {
                out[1] = 1;
                out[2..6].copy_from_slice(&addr.octets());
                out[6..8].copy_from_slice(&number.to_be_bytes());
            }
            RouteDistinguisher::As4 { asn, number } => {
                out[1] = 2;
                out[2..6].copy_from_slice(&asn.to_be_bytes());
                out[6..8].copy_from_slice(&number.to_be_bytes());
            }
            RouteDistinguisher::Other { rd_type, value } => {
                out[0..2].copy_from_slice(&rd_type.to_be_bytes());
                out[2..8].copy_from_slice(&value);
            }
        }
        out
    }

    /// The 2-octet type field (0, 1, 2, or the raw type of `Other`).
    pub fn rd_type(&self) -> u16 {
        match *self {
            RouteDistinguisher::As2 { .. } => 0,
            RouteDistinguisher::Ipv4 { .. } => 1,
            RouteDistinguisher::As4 { .. } => 2,
            RouteDistinguisher::Other { rd_type, .. } => rd_type,
        }
    }
}

impl fmt::Display for RouteDistinguisher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RouteDistinguisher::As2 { asn, number } => write!(f, "{asn}:{number}"),
            RouteDistinguisher::Ipv4 { addr, number } => write!(f, "{addr}:{number}"),
            RouteDistinguisher::As4 { asn, number } if asn <= u32::from(u16::MAX) => {
                write!(f, "{asn}L:{number}")
            }
            RouteDistinguisher::As4 { asn, number } => write!(f, "{asn}:{number}"),
            RouteDistinguisher::Other { rd_type, value } => {
                write!(f, "rd-type-{rd_type}:{}", hex::encode(value))
            }
        }
    }
}

/// Why an RD or RT string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {input:?}: {reason}")]
pub struct ParseAdminError {
    /// "route distinguisher" or "route target".
    pub what: &'static str,
    /// The rejected text.
    pub input: String,
    /// What was expected.
    pub reason: &'static str,
}

/// The administrator part of an `ADMIN:NUMBER` string, shared by RD and RT text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admin {
    /// A plain AS number (2-octet if it fits, else 4-octet).
    Asn(u32),
    /// An AS number with the `L` suffix: always the 4-octet form.
    Asn4(u32),
    /// An IPv4 address.
    Ipv4(Ipv4Addr),
}

/// Splits `ADMIN:NUMBER` into its administrator and number (as u64 to let the
/// caller range-check). Shared by [`RouteDistinguisher`] and [`crate::RouteTarget`].
pub(crate) fn split_admin(s: &str) -> Result<(Admin, u64), &'static str> {
    let (left, right) = s.rsplit_once(':').ok_or("expected ADMIN:NUMBER")?;
    if right.is_empty() || !right.bytes().all(|c| c.is_ascii_digit()) {
        return Err("the assigned number must be decimal digits");
    }
    let number: u64 = right
        .parse()
        .map_err(|_| "the assigned number is out of range")?;
    let admin = if left.contains('.') {
        Admin::Ipv4(left.parse().map_err(|_| "invalid IPv4 administrator")?)
    } else if let Some(asn) = left.strip_suffix('L') {
        if asn.is_empty() || !asn.bytes().all(|c| c.is_ascii_digit()) {
            return Err("the AS number must be decimal digits");
        }
        Admin::Asn4(
            asn.parse()
                .map_err(|_| "the AS number must fit in 32 bits")?,
        )
    } else {
        if left.is_empty() || !left.bytes().all(|c| c.is_ascii_digit()) {
            return Err("the AS number must be decimal digits");
        }
        Admin::Asn(
            left.parse()
                .map_err(|_| "the AS number must fit in 32 bits")?,
        )
    };
    Ok((admin, number))
}

impl FromStr for RouteDistinguisher {
    type Err = ParseAdminError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseAdminError {
            what: "route distinguisher",
            input: s.to_owned(),
            reason,
        };
        if let Some(rest) = s.strip_prefix("rd-type-") {
            let (t, v) = rest
                .split_once(':')
                .ok_or_else(|| err("expected rd-type-N:HEX"))?;
            let rd_type: u16 = t.parse().map_err(|_| err("invalid RD type"))?;
            if rd_type <= 2 {
                return Err(err("RD types 0-2 must use their ADMIN:NUMBER form"));
            }
            let mut value = [0u8; 6];
            hex::decode_to_slice(v, &mut value).map_err(|_| err("expected 12 hex digits"))?;
            return Ok(RouteDistinguisher::Other { rd_type, value });
        }
        let (admin, number) = split_admin(s).map_err(err)?;
        let n16 = || u16::try_from(number).map_err(|_| err("the assigned number must be <= 65535"));
        match admin {
            Admin::Ipv4(addr) => Ok(RouteDistinguisher::Ipv4 {
                addr,
                number: n16()?,
            }),
            Admin::Asn4(asn) => Ok(RouteDistinguisher::As4 {
                asn,
                number: n16()?,
            }),
            Admin::Asn(asn) => match u16::try_from(asn) {
                Ok(asn) => Ok(RouteDistinguisher::As2 {
                    asn,
                    number: u32::try_from(number)
                        .map_err(|_| err("the assigned number must fit in 32 bits"))?,
                }),
                Err(_) => Ok(RouteDistinguisher::As4 {
                    asn,
                    number: n16()?,
                }),
            },
        }
    }
}

serde_via_str!(RouteDistinguisher);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frr_rd_type1_from_the_vectors() {
        // rd=0001c00002010001 (192.0.2.1:1) in frr-gobgp.hex.
        let b = [0x00, 0x01, 0xc0, 0x00, 0x02, 0x01, 0x00, 0x01];
        let rd = RouteDistinguisher::from_bytes(b);
        assert_eq!(
            rd,
            RouteDistinguisher::Ipv4 {
                addr: Ipv4Addr::new(192, 0, 2, 1),
                number: 1
            }
        );
        assert_eq!(rd.to_string(), "192.0.2.1:1");
        assert_eq!(rd.to_bytes(), b);
        assert_eq!(rd.rd_type(), 1);
    }

    #[test]
    fn every_type_round_trips_bytes_and_text() {
        let cases = [
            ([0, 0, 0xfc, 0, 0, 0, 0, 100], "64512:100"),
            ([0, 1, 10, 0, 0, 1, 0, 3], "10.0.0.1:3"),
            ([0, 2, 0xfa, 0x56, 0xea, 0x01, 0, 5], "4200000001:5"),
            ([0, 2, 0, 0, 0, 100, 0, 5], "100L:5"),
            ([0, 7, 1, 2, 3, 4, 5, 6], "rd-type-7:010203040506"),
        ];
        for (bytes, text) in cases {
            let rd = RouteDistinguisher::from_bytes(bytes);
            assert_eq!(rd.to_bytes(), bytes, "{text}");
            assert_eq!(rd.to_string(), text);
            assert_eq!(text.parse::<RouteDistinguisher>().unwrap(), rd, "{text}");
            let json = serde_json::to_string(&rd).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(
                serde_json::from_str::<RouteDistinguisher>(&json).unwrap(),
                rd
            );
        }
    }

    #[test]
    fn rejects_bad_text() {
        for bad in [
            "",
            "100",
            "10.0.0.1:70000",
            "4200000001:70000",
            "64512:4294967296",
            "99999999999:1",
            "10.0.0:1",
            "a:1",
            "1:-1",
            "rd-type-1:000000000000",
            "rd-type-9:00",
            ":5",
            "L:5",
        ] {
            assert!(
                bad.parse::<RouteDistinguisher>().is_err(),
                "{bad:?} accepted"
            );
        }
    }
}
