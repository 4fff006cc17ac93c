//! Ethernet Segment Identifiers (RFC 7432 §5).

use std::fmt;
use std::str::FromStr;

use crate::mac::{parse_hex_octets, MacAddress};

/// A 10-octet Ethernet Segment Identifier (RFC 7432 §5).
///
/// The first octet is the ESI type (0–5); the other nine are type-specific.
/// The ESI is treated as opaque on receive (landscape pitfall 7) and kept
/// exactly as received; [`Esi::kind`] offers a typed reading.
/// Displayed like FRR: ten colon-separated hex octets
/// (`03:44:38:39:ff:ff:01:00:00:01`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Esi(pub [u8; 10]);

/// A typed reading of an ESI's value by its type octet (RFC 7432 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EsiKind {
    /// Type 0: an operator-configured 9-octet value.
    Arbitrary([u8; 9]),
    /// Type 1: auto-generated from IEEE 802.1AX LACP (CE system MAC, port key).
    Lacp {
        /// The CE's LACP system MAC address.
        system_mac: MacAddress,
        /// The CE's LACP port key.
        port_key: u16,
    },
    /// Type 2: auto-generated from a bridged LAN's root bridge (root MAC, priority).
    BridgeProtocol {
        /// The root bridge MAC address.
        root_mac: MacAddress,
        /// The root bridge priority.
        priority: u16,
    },
    /// Type 3: MAC-based (system MAC + 3-octet local discriminator); FRR's
    /// `es-sys-mac` + `es-id` yields this type.
    Mac {
        /// The system MAC address.
        system_mac: MacAddress,
        /// The 24-bit local discriminator.
        discriminator: u32,
    },
    /// Type 4: router-ID based (4-octet router ID + 4-octet local discriminator).
    RouterId {
        /// The router ID.
        router_id: std::net::Ipv4Addr,
        /// The local discriminator.
        discriminator: u32,
    },
    /// Type 5: AS-based (4-octet AS + 4-octet local discriminator).
    As {
        /// The autonomous system number.
        asn: u32,
        /// The local discriminator.
        discriminator: u32,
    },
    /// Any other type octet (reserved); the value is kept as-is.
    Reserved {
        /// The ESI type octet.
        esi_type: u8,
        /// The nine value octets.
        value: [u8; 9],
    },
}

impl Esi {
    /// ESI 0: the route is not tied to a multi-homed Ethernet segment.
    pub const ZERO: Esi = Esi([0; 10]);
    /// The reserved all-ones ESI (MAX-ESI), treated like [`Esi::ZERO`].
    pub const MAX: Esi = Esi([0xff; 10]);

    /// The ESI type octet (RFC 7432 §5: 0x00–0x05 are defined).
    pub const fn esi_type(&self) -> u8 {
        self.0[0]
    }

    /// True for ESI 0 and for the reserved all-ones MAX-ESI: neither names a
    /// multi-homed segment, so both mean "single-homed" (RFC 7432 §5,
    /// landscape pitfall 7).
    pub fn is_zero(&self) -> bool {
        *self == Self::ZERO || *self == Self::MAX
    }

    /// A typed reading of the value by type (RFC 7432 §5). Nothing is lost:
    /// the `Esi` itself stays the source of truth for emission.
    pub fn kind(&self) -> EsiKind {
        let [t, v1, v2, v3, v4, v5, v6, v7, v8, v9] = self.0;
        let value = [v1, v2, v3, v4, v5, v6, v7, v8, v9];
        let mac = MacAddress([v1, v2, v3, v4, v5, v6]);
        match t {
            0 => EsiKind::Arbitrary(value),
            1 => EsiKind::Lacp {
                system_mac: mac,
                port_key: u16::from_be_bytes([v7, v8]),
            },
            2 => EsiKind::BridgeProtocol {
                root_mac: mac,
                priority: u16::from_be_bytes([v7, v8]),
            },
            3 => EsiKind::Mac {
                system_mac: mac,
                discriminator: u32::from_be_bytes([0, v7, v8, v9]),
            },
            4 => EsiKind::RouterId {
                router_id: std::net::Ipv4Addr::new(v1, v2, v3, v4),
                discriminator: u32::from_be_bytes([v5, v6, v7, v8]),
            },
            5 => EsiKind::As {
                asn: u32::from_be_bytes([v1, v2, v3, v4]),
                discriminator: u32::from_be_bytes([v5, v6, v7, v8]),
            },
            esi_type => EsiKind::Reserved { esi_type, value },
        }
    }
}

impl fmt::Display for Esi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Why an ESI string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid ESI {input:?}: expected ten colon-separated hex octets like 03:44:38:39:ff:ff:01:00:00:01")]
pub struct ParseEsiError {
    /// The rejected text.
    pub input: String,
}

impl FromStr for Esi {
    type Err = ParseEsiError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex_octets::<10>(s)
            .map(Esi)
            .ok_or_else(|| ParseEsiError {
                input: s.to_owned(),
            })
    }
}

serde_via_str!(Esi);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frr_type3_esi_from_the_vectors() {
        // FRR: `evpn mh es-id 1` + `es-sys-mac 44:38:39:ff:ff:01` (vectors README oddity 2).
        let esi = Esi([0x03, 0x44, 0x38, 0x39, 0xff, 0xff, 0x01, 0x00, 0x00, 0x01]);
        assert_eq!(esi.to_string(), "03:44:38:39:ff:ff:01:00:00:01");
        assert_eq!(esi.esi_type(), 3);
        assert!(!esi.is_zero());
        assert_eq!(
            esi.kind(),
            EsiKind::Mac {
                system_mac: MacAddress([0x44, 0x38, 0x39, 0xff, 0xff, 0x01]),
                discriminator: 1
            }
        );
        assert_eq!("03:44:38:39:ff:ff:01:00:00:01".parse::<Esi>().unwrap(), esi);
    }

    #[test]
    fn gobgp_lacp_esi_from_the_vectors() {
        // GoBGP `LACP aa:bb:cc:dd:ee:ff 258` -> 01 aabbccddeeff 0102 00.
        let esi = Esi([0x01, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x01, 0x02, 0x00]);
        assert_eq!(
            esi.kind(),
            EsiKind::Lacp {
                system_mac: MacAddress([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]),
                port_key: 258
            }
        );
    }

    #[test]
    fn zero_and_max_esi_are_both_zero() {
        assert!(Esi::ZERO.is_zero());
        assert!(Esi::MAX.is_zero());
        let mut almost = Esi::MAX;
        almost.0[9] = 0xfe;
        assert!(!almost.is_zero());
    }

    #[test]
    fn other_kinds() {
        let esi = Esi([4, 10, 0, 0, 1, 0, 0, 0, 7, 0]);
        assert_eq!(
            esi.kind(),
            EsiKind::RouterId {
                router_id: std::net::Ipv4Addr::new(10, 0, 0, 1),
                discriminator: 7
            }
        );
        let esi = Esi([5, 0, 0, 0xfd, 0xe8, 0, 0, 0, 9, 0]);
        assert_eq!(
            esi.kind(),
            EsiKind::As {
                asn: 65000,
                discriminator: 9
            }
        );
        let esi = Esi([9; 10]);
        assert_eq!(
            esi.kind(),
            EsiKind::Reserved {
                esi_type: 9,
                value: [9; 9]
            }
        );
    }

    #[test]
    fn rejects_malformed_text() {
        assert!("03:44:38:39:ff:ff:01:00:00".parse::<Esi>().is_err());
        assert!("03:44:38:39:ff:ff:01:00:00:01:02".parse::<Esi>().is_err());
        assert!("".parse::<Esi>().is_err());
    }
}
