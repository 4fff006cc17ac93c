//! 48-bit IEEE MAC addresses as carried in type-2 routes and EVPN communities.

use std::fmt;
use std::str::FromStr;

/// A 48-bit MAC address (RFC 7432 §7.2 "MAC Address" field).
///
/// Displayed and parsed as six lower-case, colon-separated hex octets
/// (`aa:bb:cc:dd:ee:ff`), the form FRR prints; serde uses the same string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MacAddress(pub [u8; 6]);

impl MacAddress {
    /// The all-zero MAC address.
    pub const ZERO: MacAddress = MacAddress([0; 6]);

    /// The six octets in wire order.
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

/// Why a MAC address string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid MAC address {input:?}: expected six colon-separated hex octets like aa:bb:cc:dd:ee:ff"
)]
pub struct ParseMacError {
    /// The rejected text.
    pub input: String,
}

/// Parses `n` colon-separated two-digit hex octets (shared by MAC and ESI text).
pub(crate) fn parse_hex_octets<const N: usize>(s: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    let mut parts = s.split(':');
    for slot in out.iter_mut() {
        let part = parts.next()?;
        if part.len() != 2 || !part.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        *slot = u8::from_str_radix(part, 16).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(out)
}

impl FromStr for MacAddress {
    type Err = ParseMacError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_hex_octets::<6>(s)
            .map(MacAddress)
            .ok_or_else(|| ParseMacError {
                input: s.to_owned(),
            })
    }
}

serde_via_str!(MacAddress);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_and_parse_round_trip() {
        let mac = MacAddress([0x02, 0xaa, 0x00, 0x00, 0x10, 0x00]);
        assert_eq!(mac.to_string(), "02:aa:00:00:10:00");
        assert_eq!("02:aa:00:00:10:00".parse::<MacAddress>().unwrap(), mac);
        assert_eq!("02:AA:00:00:10:00".parse::<MacAddress>().unwrap(), mac);
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "02:aa:00:00:10",
            "02:aa:00:00:10:00:01",
            "2:aa:00:00:10:00",
            "02:aa:00:00:10:0g",
            "02-aa-00-00-10-00",
            "+2:aa:00:00:10:00",
        ] {
            assert!(bad.parse::<MacAddress>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn serde_is_the_string() {
        let mac = MacAddress([0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff]);
        let json = serde_json::to_string(&mac).unwrap();
        assert_eq!(json, "\"aa:bb:cc:dd:ee:ff\"");
        assert_eq!(serde_json::from_str::<MacAddress>(&json).unwrap(), mac);
    }
}
