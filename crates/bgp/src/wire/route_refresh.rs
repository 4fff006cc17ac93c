//! ROUTE-REFRESH messages (RFC 2918 §3) with the enhanced route refresh
//! subtypes (RFC 7313 §3) and, for plain requests, raw ORF entries (RFC 5291).

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use super::error::{WireError, WireErrorKind};
use super::family::AfiSafi;
use super::header::HEADER_LEN;
use super::hex::serialize_hex;

/// The ROUTE-REFRESH message subtype (RFC 7313 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum RouteRefreshSubtype {
    /// 0: a normal route refresh request.
    Normal,
    /// 1: demarcation of the beginning of a route refresh (BoRR).
    BeginningOfRouteRefresh,
    /// 2: demarcation of the ending of a route refresh (EoRR).
    EndOfRouteRefresh,
    /// Any other value (RFC 7313 §5: ignored on receipt).
    Other(u8),
}

impl RouteRefreshSubtype {
    /// Decodes the subtype byte.
    pub fn from_u8(v: u8) -> Self {
        match v {
            0 => Self::Normal,
            1 => Self::BeginningOfRouteRefresh,
            2 => Self::EndOfRouteRefresh,
            o => Self::Other(o),
        }
    }

    /// Encodes the subtype byte.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Normal => 0,
            Self::BeginningOfRouteRefresh => 1,
            Self::EndOfRouteRefresh => 2,
            Self::Other(o) => o,
        }
    }
}

/// A ROUTE-REFRESH message.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RouteRefresh {
    /// The family to refresh.
    pub family: AfiSafi,
    /// The subtype (the byte RFC 2918 called reserved).
    pub subtype: RouteRefreshSubtype,
    /// ORF entries after the fixed fields (RFC 5291 §4), raw; only a
    /// Normal request may carry them.
    #[serde(serialize_with = "serialize_hex")]
    pub orf: Bytes,
}

impl RouteRefresh {
    /// A request (or BoRR/EoRR marker) for `family` without ORF entries.
    pub fn new(family: AfiSafi, subtype: RouteRefreshSubtype) -> Self {
        RouteRefresh {
            family,
            subtype,
            orf: Bytes::new(),
        }
    }

    /// Parses a ROUTE-REFRESH from the whole message (header included; the
    /// header has been checked, so `message.len() >= 23`).
    pub(crate) fn parse_message(message: &Bytes) -> Result<Self, WireError> {
        let body = message.get(HEADER_LEN..).unwrap_or_default();
        let (Some(afi), Some(&sub), Some(&safi)) = (body.get(..2), body.get(2), body.get(3)) else {
            return Err(Self::length_error(message));
        };
        let subtype = RouteRefreshSubtype::from_u8(sub);
        let orf = message.slice(HEADER_LEN + 4..);
        // RFC 7313 §5: BoRR/EoRR must be exactly 4 bytes of body.
        if !orf.is_empty() && subtype != RouteRefreshSubtype::Normal {
            return Err(Self::length_error(message));
        }
        Ok(RouteRefresh {
            family: AfiSafi::from_wire(u16::from_be_bytes([afi[0], afi[1]]), safi),
            subtype,
            orf,
        })
    }

    fn length_error(message: &Bytes) -> WireError {
        WireError {
            offset: 16,
            kind: WireErrorKind::RouteRefreshLength {
                length: u16::try_from(message.len()).unwrap_or(u16::MAX),
                message: message.clone(),
            },
        }
    }

    /// Length of the body in bytes.
    pub fn body_len(&self) -> usize {
        4 + self.orf.len()
    }

    /// Writes the body.
    pub(crate) fn emit_body(&self, out: &mut BytesMut) {
        out.put_u16(self.family.afi.to_u16());
        out.put_u8(self.subtype.to_u8());
        out.put_u8(self.family.safi.to_u8());
        out.put_slice(&self.orf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::header::MARKER;

    fn msg(body: &[u8]) -> Bytes {
        let mut v = MARKER.to_vec();
        v.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
        v.push(5);
        v.extend_from_slice(body);
        Bytes::from(v)
    }

    #[test]
    fn borr_and_eorr_parse() {
        let r = RouteRefresh::parse_message(&msg(&[0, 2, 1, 1])).unwrap();
        assert_eq!(r.family, AfiSafi::IPV6_UNICAST);
        assert_eq!(r.subtype, RouteRefreshSubtype::BeginningOfRouteRefresh);
        let r = RouteRefresh::parse_message(&msg(&[0, 25, 2, 70])).unwrap();
        assert_eq!(r.family, AfiSafi::L2VPN_EVPN);
        assert_eq!(r.subtype, RouteRefreshSubtype::EndOfRouteRefresh);
        let mut out = BytesMut::new();
        r.emit_body(&mut out);
        assert_eq!(&out[..], &[0, 25, 2, 70]);
    }

    #[test]
    fn eorr_with_extra_bytes_is_invalid_length() {
        let m = msg(&[0, 1, 2, 1, 9]);
        let e = RouteRefresh::parse_message(&m).unwrap_err();
        let n = e.notification().unwrap();
        assert_eq!((n.code, n.subcode), (7, 1));
        assert_eq!(n.data, m);
    }

    #[test]
    fn normal_request_keeps_orf_entries() {
        let r = RouteRefresh::parse_message(&msg(&[0, 1, 0, 1, 1, 64, 0, 1])).unwrap();
        assert_eq!(&r.orf[..], &[1, 64, 0, 1]);
        assert_eq!(r.body_len(), 8);
    }
}
