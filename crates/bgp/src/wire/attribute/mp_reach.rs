//! MP_REACH_NLRI (type 14) and MP_UNREACH_NLRI (type 15), RFC 4760 §3, §4.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use super::next_hop::NextHop;
use crate::wire::context::WireContext;
use crate::wire::family::AfiSafi;
use crate::wire::prefix::NlriBlock;

/// MP_REACH_NLRI: reachable NLRI of one family with their next hop.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct MpReach {
    /// The family (AFI, SAFI).
    pub family: AfiSafi,
    /// The next hop.
    pub next_hop: NextHop,
    /// The reserved byte after the next hop (RFC 4760 §3: 0; kept raw).
    pub reserved: u8,
    /// The NLRI.
    pub nlri: NlriBlock,
}

/// MP_UNREACH_NLRI: withdrawn NLRI of one family. With no NLRI it is the
/// End-of-RIB marker for the family (RFC 4724 §2).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct MpUnreach {
    /// The family (AFI, SAFI).
    pub family: AfiSafi,
    /// The withdrawn NLRI.
    pub nlri: NlriBlock,
}

impl MpReach {
    /// Parses the value (RFC 4760 §3). Every error is malformed MP_REACH
    /// (RFC 7606 §7.11: session reset).
    pub fn parse(value: &Bytes, ctx: &WireContext) -> Result<Self, String> {
        let [a0, a1, safi, nh_len, ..] = value[..] else {
            return Err(format!(
                "MP_REACH_NLRI length {} is less than the 5 bytes of AFI, SAFI, next hop length, reserved",
                value.len()
            ));
        };
        let family = AfiSafi::from_wire(u16::from_be_bytes([a0, a1]), safi);
        let nh_end = 4 + usize::from(nh_len);
        if value.len() < nh_end + 1 {
            return Err(format!(
                "next hop length {nh_len} overruns MP_REACH_NLRI of {} bytes",
                value.len()
            ));
        }
        let next_hop = NextHop::parse(family, &value.slice(4..nh_end))?;
        let reserved = value[nh_end];
        let nlri = NlriBlock::parse(family, ctx.add_path(family), value.slice(nh_end + 1..))
            .map_err(|e| {
                format!(
                    "NLRI at byte {} of the attribute value: {}",
                    nh_end + 1 + e.offset,
                    e.reason
                )
            })?;
        Ok(MpReach {
            family,
            next_hop,
            reserved,
            nlri,
        })
    }

    /// Writes the value.
    pub fn emit(&self, out: &mut BytesMut) {
        out.put_u16(self.family.afi.to_u16());
        out.put_u8(self.family.safi.to_u8());
        out.put_u8(self.next_hop.encoded_len() as u8);
        self.next_hop.emit(out);
        out.put_u8(self.reserved);
        out.put_slice(&self.nlri.raw);
    }

    /// Encoded value length.
    pub fn encoded_len(&self) -> usize {
        5 + self.next_hop.encoded_len() + self.nlri.raw.len()
    }
}

impl MpUnreach {
    /// Parses the value (RFC 4760 §4). Every error is malformed MP_UNREACH
    /// (RFC 7606 §7.11: session reset).
    pub fn parse(value: &Bytes, ctx: &WireContext) -> Result<Self, String> {
        let [a0, a1, safi, ..] = value[..] else {
            return Err(format!(
                "MP_UNREACH_NLRI length {} is less than the 3 bytes of AFI and SAFI",
                value.len()
            ));
        };
        let family = AfiSafi::from_wire(u16::from_be_bytes([a0, a1]), safi);
        let nlri =
            NlriBlock::parse(family, ctx.add_path(family), value.slice(3..)).map_err(|e| {
                format!(
                    "withdrawn NLRI at byte {} of the attribute value: {}",
                    3 + e.offset,
                    e.reason
                )
            })?;
        Ok(MpUnreach { family, nlri })
    }

    /// An End-of-RIB marker for `family` (RFC 4724 §2).
    pub fn end_of_rib(family: AfiSafi) -> Self {
        MpUnreach {
            family,
            nlri: NlriBlock::empty(family, false),
        }
    }

    /// Writes the value.
    pub fn emit(&self, out: &mut BytesMut) {
        out.put_u16(self.family.afi.to_u16());
        out.put_u8(self.family.safi.to_u8());
        out.put_slice(&self.nlri.raw);
    }

    /// Encoded value length.
    pub fn encoded_len(&self) -> usize {
        3 + self.nlri.raw.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::context::AddPathFamilies;

    #[test]
    fn parses_frrs_rfc8950_reach_with_path_id() {
        // frr-bird: IPv4 NLRI 203.0.113.0/26 path id 2 over 2001:db8:2::1/fe80::...
        let hex = "0001012020010db8000200000000000000000001fe800000000000004c72a4fffeda390000000000021acb007100";
        let v: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let v = Bytes::from(v);
        let ctx = WireContext {
            add_path: AddPathFamilies::of(&[AfiSafi::IPV4_UNICAST]),
            ..WireContext::four_octet()
        };
        let r = MpReach::parse(&v, &ctx).unwrap();
        assert_eq!(r.family, AfiSafi::IPV4_UNICAST);
        assert_eq!(
            r.next_hop.to_string(),
            "2001:db8:2::1/fe80::4c72:a4ff:feda:3900"
        );
        let n: Vec<_> = r.nlri.iter().collect();
        assert_eq!(n.len(), 1);
        assert_eq!(n[0].path_id, Some(2));
        assert_eq!(n[0].prefix.to_string(), "203.0.113.0/26");
        let mut out = BytesMut::new();
        r.emit(&mut out);
        assert_eq!(out.freeze(), v);
        assert_eq!(r.encoded_len(), v.len());
        // Without ADD-PATH the same NLRI bytes are malformed.
        assert!(MpReach::parse(&v, &WireContext::four_octet()).is_err());
    }

    #[test]
    fn malformed_reach_and_unreach() {
        assert!(MpReach::parse(&Bytes::from_static(&[0, 1, 1]), &WireContext::default()).is_err());
        assert!(MpReach::parse(
            &Bytes::from_static(&[0, 1, 1, 4, 10, 0, 0]),
            &WireContext::default()
        )
        .unwrap_err()
        .contains("overruns"));
        assert!(MpReach::parse(
            &Bytes::from_static(&[0, 2, 1, 4, 10, 0, 0, 1, 0]),
            &WireContext::default()
        )
        .unwrap_err()
        .contains("next hop length 4"));
        assert!(MpUnreach::parse(&Bytes::from_static(&[0, 1]), &WireContext::default()).is_err());
        assert!(MpUnreach::parse(
            &Bytes::from_static(&[0, 1, 1, 33, 1, 2, 3, 4, 5]),
            &WireContext::default()
        )
        .unwrap_err()
        .contains("byte 3"));
        let eor =
            MpUnreach::parse(&Bytes::from_static(&[0, 25, 70]), &WireContext::default()).unwrap();
        assert_eq!(eor, MpUnreach::end_of_rib(AfiSafi::L2VPN_EVPN));
    }
}
