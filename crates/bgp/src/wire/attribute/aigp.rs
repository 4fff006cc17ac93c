//! AIGP (type 26, RFC 7311): a list of TLVs; type 1 carries the accumulated
//! IGP metric.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use crate::wire::hex::serialize_hex;

/// The AIGP TLV type of the accumulated IGP metric (RFC 7311 §3.1).
pub const AIGP_TLV_METRIC: u8 = 1;

/// One AIGP TLV (RFC 7311 §3): the length on the wire counts the 3-byte
/// type and length header.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct AigpTlv {
    /// TLV type.
    pub tlv_type: u8,
    /// TLV value.
    #[serde(serialize_with = "serialize_hex")]
    pub value: Bytes,
}

impl AigpTlv {
    /// An AIGP metric TLV (type 1, 8-byte value).
    pub fn metric(metric: u64) -> Self {
        AigpTlv {
            tlv_type: AIGP_TLV_METRIC,
            value: Bytes::copy_from_slice(&metric.to_be_bytes()),
        }
    }

    /// The accumulated IGP metric, for a well-formed type-1 TLV.
    pub fn as_metric(&self) -> Option<u64> {
        if self.tlv_type != AIGP_TLV_METRIC {
            return None;
        }
        let a: [u8; 8] = self.value[..].try_into().ok()?;
        Some(u64::from_be_bytes(a))
    }

    /// Parses the attribute value. RFC 7311 §3.1: a TLV whose length is
    /// below 3 or overruns, or a type-1 TLV whose length is not 11, is malformed.
    pub fn parse_all(value: &Bytes) -> Result<Vec<AigpTlv>, String> {
        let mut v = Vec::new();
        let mut pos = 0usize;
        while pos < value.len() {
            let Some(&[ty, l0, l1]) = value.get(pos..pos + 3).and_then(|s| s.first_chunk::<3>())
            else {
                return Err(format!("AIGP TLV header truncated at byte {pos}"));
            };
            let len = usize::from(u16::from_be_bytes([l0, l1]));
            if len < 3 || pos + len > value.len() {
                return Err(format!(
                    "AIGP TLV at byte {pos} has length {len} (at least 3, at most {})",
                    value.len() - pos
                ));
            }
            if ty == AIGP_TLV_METRIC && len != 11 {
                return Err(format!("AIGP metric TLV length {len} (expected 11)"));
            }
            v.push(AigpTlv {
                tlv_type: ty,
                value: value.slice(pos + 3..pos + len),
            });
            pos += len;
        }
        Ok(v)
    }

    /// Writes one TLV.
    pub fn emit(&self, out: &mut BytesMut) {
        out.put_u8(self.tlv_type);
        out.put_u16((self.value.len() + 3) as u16);
        out.put_slice(&self.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_tlv_round_trips() {
        // GoBGP's AIGP 1000 (frr-gobgp frame 18).
        let v = Bytes::from_static(&[1, 0, 11, 0, 0, 0, 0, 0, 0, 0x03, 0xe8]);
        let t = AigpTlv::parse_all(&v).unwrap();
        assert_eq!(t, vec![AigpTlv::metric(1000)]);
        assert_eq!(t[0].as_metric(), Some(1000));
        let mut out = BytesMut::new();
        t[0].emit(&mut out);
        assert_eq!(out.freeze(), v);
    }

    #[test]
    fn malformed_tlvs() {
        assert!(AigpTlv::parse_all(&Bytes::from_static(&[1, 0])).is_err());
        assert!(AigpTlv::parse_all(&Bytes::from_static(&[1, 0, 2])).is_err());
        assert!(AigpTlv::parse_all(&Bytes::from_static(&[1, 0, 4, 9]))
            .unwrap_err()
            .contains("expected 11"));
        assert!(AigpTlv::parse_all(&Bytes::from_static(&[2, 0, 9, 1])).is_err());
        assert_eq!(
            AigpTlv::parse_all(&Bytes::from_static(&[2, 0, 4, 9])).unwrap()[0].as_metric(),
            None
        );
    }
}
