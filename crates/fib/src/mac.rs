//! Ethernet MAC addresses as values.

use std::fmt;
use std::str::FromStr;

/// A 48-bit IEEE 802 MAC address.
///
/// `perouter_evpn::MacAddress` holds the same six bytes; the agent converts with
/// `MacAddr(evpn_mac.0)`. The FIB keeps its own type so it builds without the EVPN crate.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// The all-zero MAC: in a VXLAN FDB it marks a BUM flood-list (head-end replication) entry.
    pub const ZERO: MacAddr = MacAddr([0; 6]);

    /// Reads a MAC from a netlink attribute payload; `None` unless it is exactly six bytes.
    pub fn from_slice(bytes: &[u8]) -> Option<MacAddr> {
        <[u8; 6]>::try_from(bytes).ok().map(MacAddr)
    }

    /// The fixed gateway MAC upstream gives an L2VNI bridge with gateway IPs, identical on every
    /// node so that hosts keep their ARP entry when they move: `00:f3` followed by the big-endian
    /// `vni + 1`.
    pub fn l2vni_gateway(vni: u32) -> MacAddr {
        let v = vni.wrapping_add(1).to_be_bytes();
        MacAddr([0x00, 0xf3, v[0], v[1], v[2], v[3]])
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(b: [u8; 6]) -> Self {
        MacAddr(b)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A MAC address that did not parse as six colon-separated hex octets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?}: expected six colon-separated hex octets")]
pub struct MacParseError(pub String);

impl FromStr for MacAddr {
    type Err = MacParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut parts = s.split(':');
        for slot in out.iter_mut() {
            let p = parts.next().ok_or_else(|| MacParseError(s.to_string()))?;
            if p.is_empty() || p.len() > 2 {
                return Err(MacParseError(s.to_string()));
            }
            *slot = u8::from_str_radix(p, 16).map_err(|_| MacParseError(s.to_string()))?;
        }
        if parts.next().is_some() {
            return Err(MacParseError(s.to_string()));
        }
        Ok(MacAddr(out))
    }
}

impl serde::Serialize for MacAddr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for MacAddr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateway_mac_is_00_f3_and_vni_plus_one() {
        assert_eq!(MacAddr::l2vni_gateway(110).to_string(), "00:f3:00:00:00:6f");
        assert_eq!(
            MacAddr::l2vni_gateway(0x00ff_ffff).to_string(),
            "00:f3:01:00:00:00"
        );
    }

    #[test]
    fn parse_and_display_round_trip() {
        let m: MacAddr = "aa:bb:cc:00:00:01".parse().unwrap();
        assert_eq!(m.0, [0xaa, 0xbb, 0xcc, 0, 0, 1]);
        assert_eq!(m.to_string(), "aa:bb:cc:00:00:01");
        assert!("aa:bb:cc:00:00".parse::<MacAddr>().is_err());
        assert!("aa:bb:cc:00:00:01:02".parse::<MacAddr>().is_err());
        assert!("aa:bb:cc:00:00:zz".parse::<MacAddr>().is_err());
        assert!(MacAddr::from_slice(&[1, 2, 3]).is_none());
    }
}
