//! AGGREGATOR (type 7, RFC 4271 §5.1.7) and AS4_AGGREGATOR (type 18, RFC 6793 §3).

use std::net::Ipv4Addr;

use bytes::{BufMut, BytesMut};
use serde::Serialize;

use crate::wire::open::AS_TRANS;

/// The AS and router that formed an aggregate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Aggregator {
    /// The aggregating AS.
    pub asn: u32,
    /// The aggregating router's BGP identifier.
    pub address: Ipv4Addr,
    /// Whether the AS is encoded in 4 octets (8-byte value) or 2 (6-byte value).
    pub four_octet: bool,
}

impl Aggregator {
    /// Parses a 6-byte (2-octet AS) or 8-byte (4-octet AS) value; `expect_four`
    /// gives the length the session requires (RFC 6793 §4; AS4_AGGREGATOR is
    /// always 8). RFC 7606 §7.7: any other length is malformed.
    pub fn parse(value: &[u8], expect_four: bool) -> Result<Self, String> {
        match (value, expect_four) {
            ([a, b, c, d, e, f, g, h], true) => Ok(Aggregator {
                asn: u32::from_be_bytes([*a, *b, *c, *d]),
                address: Ipv4Addr::new(*e, *f, *g, *h),
                four_octet: true,
            }),
            ([a, b, e, f, g, h], false) => Ok(Aggregator {
                asn: u32::from(u16::from_be_bytes([*a, *b])),
                address: Ipv4Addr::new(*e, *f, *g, *h),
                four_octet: false,
            }),
            _ => Err(format!(
                "aggregator length {} (expected {})",
                value.len(),
                if expect_four { 8 } else { 6 }
            )),
        }
    }

    /// Writes the value (AS_TRANS for a 4-octet AS in 2-octet form, RFC 6793 §4.2.2).
    pub fn emit(&self, out: &mut BytesMut) {
        if self.four_octet {
            out.put_u32(self.asn);
        } else {
            out.put_u16(u16::try_from(self.asn).unwrap_or(AS_TRANS));
        }
        out.put_slice(&self.address.octets());
    }

    /// Encoded value length.
    pub fn encoded_len(&self) -> usize {
        if self.four_octet {
            8
        } else {
            6
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_widths_round_trip() {
        let v = [0xfa, 0x56, 0xea, 0x02, 192, 0, 2, 99];
        let a = Aggregator::parse(&v, true).unwrap();
        assert_eq!(a.asn, 4200000002);
        assert_eq!(a.address, Ipv4Addr::new(192, 0, 2, 99));
        let mut out = BytesMut::new();
        a.emit(&mut out);
        assert_eq!(&out[..], &v);
        let a = Aggregator::parse(&[0xfd, 0xe8, 10, 0, 0, 1], false).unwrap();
        assert_eq!(a.asn, 65000);
        assert_eq!(a.encoded_len(), 6);
        assert!(Aggregator::parse(&v, false).is_err());
        assert!(Aggregator::parse(&v[..6], true).is_err());
    }
}
