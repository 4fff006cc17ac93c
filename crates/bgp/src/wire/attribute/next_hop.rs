//! Next hops: the NEXT_HOP attribute (type 3, RFC 4271 §5.1.3) is a plain
//! IPv4 address; the MP_REACH_NLRI next hop ([`NextHop`], RFC 4760 §3) is
//! IPv4, IPv6 global (16 bytes) or global + link-local (32 bytes, RFC 2545
//! §3), also for IPv4 NLRI (RFC 8950 §3).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use crate::wire::family::{Afi, AfiSafi, NlriEncoding};
use crate::wire::hex::serialize_hex;

/// An MP_REACH_NLRI next hop.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum NextHop {
    /// 4 bytes: an IPv4 address.
    V4(Ipv4Addr),
    /// 16 or 32 bytes: an IPv6 global address, and a link-local one when 32.
    V6 {
        /// The global address.
        global: Ipv6Addr,
        /// The link-local address (RFC 2545 §3), when 32 bytes were sent.
        link_local: Option<Ipv6Addr>,
    },
    /// A next hop of a family this codec does not interpret, raw.
    Other(#[serde(serialize_with = "serialize_hex")] Bytes),
}

impl NextHop {
    /// Decodes a next hop for `family` (RFC 4760 §3, RFC 2545 §3, RFC 8950 §3,
    /// RFC 7432 §7: EVPN next hops are one IPv4 or IPv6 address). A length the
    /// family does not allow is malformed (RFC 7606 §7.11).
    pub fn parse(family: AfiSafi, b: &Bytes) -> Result<Self, String> {
        let v6 = |b: &[u8]| -> Ipv6Addr {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            Ipv6Addr::from(a)
        };
        let ip_family = !matches!(family.encoding(), NlriEncoding::Opaque);
        match (b.len(), ip_family) {
            (4, true) if family.afi != Afi::Ipv6 => {
                Ok(NextHop::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
            }
            (16, true) => Ok(NextHop::V6 {
                global: v6(&b[..16]),
                link_local: None,
            }),
            (32, true) if family.afi != Afi::L2vpn => Ok(NextHop::V6 {
                global: v6(&b[..16]),
                link_local: Some(v6(&b[16..32])),
            }),
            (_, false) => Ok(NextHop::Other(b.clone())),
            (n, true) => Err(format!("next hop length {n} is not valid for {family}")),
        }
    }

    /// Writes the next hop (without its length byte).
    pub fn emit(&self, out: &mut BytesMut) {
        match self {
            NextHop::V4(a) => out.put_slice(&a.octets()),
            NextHop::V6 { global, link_local } => {
                out.put_slice(&global.octets());
                if let Some(ll) = link_local {
                    out.put_slice(&ll.octets());
                }
            }
            NextHop::Other(b) => out.put_slice(b),
        }
    }

    /// Encoded length (the next hop length byte).
    pub fn encoded_len(&self) -> usize {
        match self {
            NextHop::V4(_) => 4,
            NextHop::V6 {
                link_local: None, ..
            } => 16,
            NextHop::V6 { .. } => 32,
            NextHop::Other(b) => b.len(),
        }
    }

    /// The address to forward to: IPv4, or the IPv6 global address.
    pub fn address(&self) -> Option<IpAddr> {
        match self {
            NextHop::V4(a) => Some(IpAddr::V4(*a)),
            NextHop::V6 { global, .. } => Some(IpAddr::V6(*global)),
            NextHop::Other(_) => None,
        }
    }
}

impl From<IpAddr> for NextHop {
    fn from(a: IpAddr) -> Self {
        match a {
            IpAddr::V4(a) => NextHop::V4(a),
            IpAddr::V6(global) => NextHop::V6 {
                global,
                link_local: None,
            },
        }
    }
}

impl fmt::Display for NextHop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NextHop::V4(a) => write!(f, "{a}"),
            NextHop::V6 {
                global,
                link_local: None,
            } => write!(f, "{global}"),
            NextHop::V6 {
                global,
                link_local: Some(ll),
            } => write!(f, "{global}/{ll}"),
            NextHop::Other(b) => write!(f, "0x{}", crate::wire::hex::to_hex(b)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_per_family() {
        let b4 = Bytes::from_static(&[198, 51, 100, 1]);
        assert_eq!(
            NextHop::parse(AfiSafi::L2VPN_EVPN, &b4)
                .unwrap()
                .to_string(),
            "198.51.100.1"
        );
        assert!(NextHop::parse(AfiSafi::IPV6_UNICAST, &b4).is_err());
        let mut v = vec![0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let g = Bytes::from(v.clone());
        // RFC 8950: IPv4 NLRI over a 16-byte IPv6 next hop (BIRD).
        let nh = NextHop::parse(AfiSafi::IPV4_UNICAST, &g).unwrap();
        assert_eq!(nh.to_string(), "2001:db8:2::1");
        v.extend_from_slice(&[
            0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0x4c, 0x72, 0xa4, 0xff, 0xfe, 0xda, 0x39, 0,
        ]);
        let both = Bytes::from(v);
        let nh = NextHop::parse(AfiSafi::IPV4_UNICAST, &both).unwrap();
        assert_eq!(nh.to_string(), "2001:db8:2::1/fe80::4c72:a4ff:feda:3900");
        assert_eq!(nh.encoded_len(), 32);
        let mut out = BytesMut::new();
        nh.emit(&mut out);
        assert_eq!(out.freeze(), both);
        assert!(NextHop::parse(AfiSafi::L2VPN_EVPN, &both).is_err());
        assert!(NextHop::parse(AfiSafi::IPV6_UNICAST, &Bytes::from_static(&[1, 2, 3])).is_err());
        let other =
            NextHop::parse(AfiSafi::from_wire(1, 128), &Bytes::from_static(&[1, 2, 3])).unwrap();
        assert_eq!(other.encoded_len(), 3);
        assert_eq!(other.address(), None);
    }
}
