//! NLRI blocks: the Withdrawn Routes and NLRI fields of an UPDATE (RFC 4271
//! §4.3) and the NLRI of MP_REACH/MP_UNREACH (RFC 4760 §3, §4), optionally
//! with ADD-PATH path identifiers (RFC 7911 §3).
//!
//! A block keeps its raw bytes (so it re-emits byte for byte) and is
//! validated once when parsed; iterating it afterwards cannot fail and does
//! not allocate. IPv4/IPv6 unicast and multicast blocks yield [`Nlri`]
//! prefixes, EVPN blocks yield [`EvpnNlri`] routes (parsed by
//! `perouter_evpn`), other families are kept opaque.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{BufMut, Bytes, BytesMut};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use perouter_evpn::EvpnRoute;
use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};

use super::error::EmitError;
use super::family::{AfiSafi, NlriEncoding};
use super::hex::to_hex;

/// One IP prefix NLRI, with its ADD-PATH path identifier when the block carries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Nlri {
    /// The path identifier (RFC 7911 §3), present iff ADD-PATH is on for the block.
    pub path_id: Option<u32>,
    /// The prefix, host bits cleared.
    pub prefix: IpNet,
}

impl Nlri {
    /// A prefix without a path identifier.
    pub fn new(prefix: IpNet) -> Self {
        Nlri {
            path_id: None,
            prefix,
        }
    }
}

impl Serialize for Nlri {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("prefix", &self.prefix.to_string())?;
        if let Some(id) = self.path_id {
            m.serialize_entry("path_id", &id)?;
        }
        m.end()
    }
}

/// One EVPN NLRI with its ADD-PATH path identifier when the block carries them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EvpnNlri {
    /// The path identifier (RFC 7911 §3), present iff ADD-PATH is on for the block.
    pub path_id: Option<u32>,
    /// The route.
    pub route: EvpnRoute,
}

impl Serialize for EvpnNlri {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        if let Some(id) = self.path_id {
            m.serialize_entry("path_id", &id)?;
        }
        m.serialize_entry("route", &self.route)?;
        m.serialize_entry("text", &self.route.to_string())?;
        m.end()
    }
}

/// An NLRI field that failed validation: where (relative to the start of the
/// field) and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NlriError {
    /// Offset of the offending byte, relative to the start of the field.
    pub offset: usize,
    /// What was wrong.
    pub reason: String,
}

/// A validated block of NLRI of one family, kept raw.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NlriBlock {
    /// The family of every NLRI in the block.
    pub kind: AfiSafi,
    /// Whether each NLRI is preceded by a 4-byte path identifier.
    pub add_path: bool,
    /// The encoded NLRI, exactly as on the wire.
    pub raw: Bytes,
}

impl NlriBlock {
    /// An empty block.
    pub fn empty(kind: AfiSafi, add_path: bool) -> Self {
        NlriBlock {
            kind,
            add_path,
            raw: Bytes::new(),
        }
    }

    /// True when the block holds no NLRI.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Validates `raw` as NLRI of `kind` (RFC 4271 §4.3: prefix length at most
    /// 32/128 and its bytes within the field; EVPN: each route parses, RFC
    /// 7432 §7) and wraps it. Families this codec does not interpret are
    /// accepted as they are.
    pub fn parse(kind: AfiSafi, add_path: bool, raw: Bytes) -> Result<Self, NlriError> {
        match kind.encoding() {
            NlriEncoding::Prefix(max) => validate_prefixes(&raw, add_path, max)?,
            NlriEncoding::Evpn => validate_evpn(&raw, add_path)?,
            NlriEncoding::Opaque => {}
        }
        Ok(NlriBlock {
            kind,
            add_path,
            raw,
        })
    }

    /// Encodes prefixes into a block. Each prefix must match the family's
    /// address family; each must carry a path id iff `add_path`
    /// (a missing one is written as 0).
    pub fn from_prefixes(
        kind: AfiSafi,
        add_path: bool,
        prefixes: impl IntoIterator<Item = Nlri>,
    ) -> Result<Self, EmitError> {
        let mut out = BytesMut::new();
        for n in prefixes {
            encode_prefix(kind, add_path, &n, &mut out)?;
        }
        Ok(NlriBlock {
            kind,
            add_path,
            raw: out.freeze(),
        })
    }

    /// Encodes EVPN routes into an L2VPN EVPN block.
    pub fn from_evpn<'a>(add_path: bool, routes: impl IntoIterator<Item = &'a EvpnNlri>) -> Self {
        let mut out = BytesMut::new();
        for r in routes {
            encode_evpn(add_path, r, &mut out);
        }
        NlriBlock {
            kind: AfiSafi::L2VPN_EVPN,
            add_path,
            raw: out.freeze(),
        }
    }

    /// The IP prefixes of an IPv4/IPv6 block, in order; nothing for other
    /// families. Does not allocate.
    #[inline]
    pub fn iter(&self) -> PrefixIter<'_> {
        let v6 = match self.kind.encoding() {
            NlriEncoding::Prefix(128) => true,
            NlriEncoding::Prefix(_) => false,
            _ => {
                return PrefixIter {
                    buf: &[],
                    add_path: false,
                    v6: false,
                }
            }
        };
        PrefixIter {
            buf: &self.raw,
            add_path: self.add_path,
            v6,
        }
    }

    /// The EVPN routes of an EVPN block, in order; nothing for other families.
    pub fn evpn_routes(&self) -> EvpnIter<'_> {
        EvpnIter {
            buf: if self.kind.encoding() == NlriEncoding::Evpn {
                &self.raw
            } else {
                &[]
            },
            add_path: self.add_path,
        }
    }

    /// Number of NLRI in the block (0 for opaque families).
    pub fn len(&self) -> usize {
        match self.kind.encoding() {
            NlriEncoding::Prefix(_) => self.iter().count(),
            NlriEncoding::Evpn => {
                let mut b: &[u8] = &self.raw;
                let mut n = 0;
                let skip = if self.add_path { 4 } else { 0 };
                while let Some(len) = b.get(skip + 1) {
                    let end = skip + 2 + usize::from(*len);
                    b = b.get(end..).unwrap_or_default();
                    n += 1;
                }
                n
            }
            NlriEncoding::Opaque => 0,
        }
    }
}

/// Appends one prefix NLRI (RFC 4271 §4.3; RFC 7911 §3 path id first).
pub fn encode_prefix(
    kind: AfiSafi,
    add_path: bool,
    n: &Nlri,
    out: &mut BytesMut,
) -> Result<(), EmitError> {
    let ok = matches!(
        (kind.encoding(), n.prefix),
        (NlriEncoding::Prefix(32), IpNet::V4(_)) | (NlriEncoding::Prefix(128), IpNet::V6(_))
    );
    if !ok {
        return Err(EmitError::FamilyMismatch {
            family: kind,
            nlri: n.prefix.to_string(),
        });
    }
    if add_path {
        out.put_u32(n.path_id.unwrap_or(0));
    }
    let len = n.prefix.prefix_len();
    let bytes = usize::from(len).div_ceil(8);
    out.put_u8(len);
    match n.prefix.trunc() {
        IpNet::V4(p) => out.put_slice(p.addr().octets().get(..bytes).unwrap_or_default()),
        IpNet::V6(p) => out.put_slice(p.addr().octets().get(..bytes).unwrap_or_default()),
    }
    Ok(())
}

/// Appends one EVPN NLRI (path id first when `add_path`).
pub fn encode_evpn(add_path: bool, r: &EvpnNlri, out: &mut BytesMut) {
    if add_path {
        out.put_u32(r.path_id.unwrap_or(0));
    }
    r.route.emit(out);
}

/// Encoded size of one prefix NLRI.
pub fn prefix_encoded_len(add_path: bool, n: &Nlri) -> usize {
    (if add_path { 4 } else { 0 }) + 1 + usize::from(n.prefix.prefix_len()).div_ceil(8)
}

fn validate_prefixes(raw: &[u8], add_path: bool, max: u8) -> Result<(), NlriError> {
    let mut b = raw;
    while !b.is_empty() {
        let start = raw.len() - b.len();
        if add_path {
            match b.split_first_chunk::<4>() {
                Some((_, rest)) if !rest.is_empty() => b = rest,
                _ => {
                    return Err(NlriError {
                        offset: start,
                        reason: format!(
                            "NLRI with path identifier needs at least 5 bytes, {} remain",
                            b.len()
                        ),
                    })
                }
            }
        }
        let at = raw.len() - b.len();
        let (&len, rest) = b.split_first().ok_or_else(|| NlriError {
            offset: at,
            reason: "prefix length byte missing".into(),
        })?;
        if len > max {
            return Err(NlriError {
                offset: at,
                reason: format!("prefix length {len} exceeds {max}"),
            });
        }
        let n = usize::from(len).div_ceil(8);
        b = rest.get(n..).ok_or_else(|| NlriError {
            offset: at,
            reason: format!(
                "prefix length {len} needs {n} bytes, only {} remain",
                rest.len()
            ),
        })?;
    }
    Ok(())
}

fn validate_evpn(raw: &[u8], add_path: bool) -> Result<(), NlriError> {
    let mut pos = 0usize;
    while pos < raw.len() {
        if add_path {
            if raw.len() - pos < 4 {
                return Err(NlriError {
                    offset: pos,
                    reason: format!(
                        "EVPN NLRI path identifier needs 4 bytes, {} remain",
                        raw.len() - pos
                    ),
                });
            }
            pos += 4;
        }
        let rest = raw.get(pos..).unwrap_or_default();
        match EvpnRoute::parse(rest) {
            Ok((_, used)) => pos += used,
            Err(e) => {
                return Err(NlriError {
                    offset: pos + e.offset,
                    reason: format!("EVPN NLRI: {}", e.kind),
                })
            }
        }
    }
    Ok(())
}

/// Iterator over the prefixes of a validated block.
#[derive(Debug, Clone)]
pub struct PrefixIter<'a> {
    buf: &'a [u8],
    add_path: bool,
    v6: bool,
}

impl Iterator for PrefixIter<'_> {
    type Item = Nlri;

    #[inline]
    fn next(&mut self) -> Option<Nlri> {
        let mut b = self.buf;
        let path_id = if self.add_path {
            let (id, rest) = b.split_first_chunk::<4>()?;
            b = rest;
            Some(u32::from_be_bytes(*id))
        } else {
            None
        };
        let (&len, rest) = b.split_first()?;
        let n = usize::from(len).div_ceil(8);
        let prefix = if self.v6 {
            let mask = u128::MAX
                .checked_shl(128u32.checked_sub(u32::from(len))?)
                .unwrap_or(0);
            // Read 16 bytes at once when the buffer has them: the bytes past
            // the prefix are cleared by the mask.
            let bits = match rest.first_chunk::<16>() {
                Some(a) => u128::from_be_bytes(*a),
                None => {
                    let mut a = [0u8; 16];
                    a.get_mut(..n)?.copy_from_slice(rest.get(..n)?);
                    u128::from_be_bytes(a)
                }
            };
            IpNet::V6(Ipv6Net::new(Ipv6Addr::from(bits & mask), len).ok()?)
        } else {
            let mask = u32::MAX
                .checked_shl(32u32.checked_sub(u32::from(len))?)
                .unwrap_or(0);
            let bits = match rest.first_chunk::<4>() {
                Some(a) => u32::from_be_bytes(*a),
                None => {
                    let mut a = [0u8; 4];
                    a.get_mut(..n)?.copy_from_slice(rest.get(..n)?);
                    u32::from_be_bytes(a)
                }
            };
            IpNet::V4(Ipv4Net::new(Ipv4Addr::from(bits & mask), len).ok()?)
        };
        self.buf = rest.get(n..)?;
        Some(Nlri { path_id, prefix })
    }
}

/// Iterator over the routes of a validated EVPN block.
#[derive(Debug, Clone)]
pub struct EvpnIter<'a> {
    buf: &'a [u8],
    add_path: bool,
}

impl Iterator for EvpnIter<'_> {
    type Item = EvpnNlri;

    #[inline]
    fn next(&mut self) -> Option<EvpnNlri> {
        let mut b = self.buf;
        let path_id = if self.add_path {
            let (id, rest) = b.split_first_chunk::<4>()?;
            b = rest;
            Some(u32::from_be_bytes(*id))
        } else {
            None
        };
        let (route, used) = EvpnRoute::parse(b).ok()?;
        self.buf = b.get(used..).unwrap_or_default();
        Some(EvpnNlri { path_id, route })
    }
}

impl Serialize for NlriBlock {
    /// A list: prefixes as `{"prefix": "10.0.0.0/24", "path_id": 1}`, EVPN
    /// routes as `{"path_id": 1, "route": {...}, "text": "[5]:[0]:..."}`,
    /// other families as one `{"afi": .., "safi": .., "raw": "hex"}`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        match self.kind.encoding() {
            NlriEncoding::Prefix(_) => {
                for n in self.iter() {
                    seq.serialize_element(&n)?;
                }
            }
            NlriEncoding::Evpn => {
                for r in self.evpn_routes() {
                    seq.serialize_element(&r)?;
                }
            }
            NlriEncoding::Opaque => {
                if !self.raw.is_empty() {
                    seq.serialize_element(&serde_json_like_opaque(self))?;
                }
            }
        }
        seq.end()
    }
}

#[derive(Serialize)]
struct Opaque {
    family: AfiSafi,
    raw: String,
}

fn serde_json_like_opaque(b: &NlriBlock) -> Opaque {
    Opaque {
        family: b.kind,
        raw: to_hex(&b.raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn ipv4_prefixes_round_trip() {
        let prefixes = [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "198.51.100.224/28",
            "203.0.113.7/32",
        ];
        let nlri: Vec<Nlri> = prefixes.iter().map(|p| Nlri::new(v4(p))).collect();
        let b = NlriBlock::from_prefixes(AfiSafi::IPV4_UNICAST, false, nlri.clone()).unwrap();
        assert_eq!(&b.raw[..3], &[0, 8, 10]);
        let parsed = NlriBlock::parse(AfiSafi::IPV4_UNICAST, false, b.raw.clone()).unwrap();
        assert_eq!(parsed.iter().collect::<Vec<_>>(), nlri);
        assert_eq!(parsed.len(), 4);
    }

    #[test]
    fn add_path_ids_are_read() {
        // GoBGP -> FRR: 198.51.100.224/28 path id 1 (frr-gobgp frame 24).
        let raw = Bytes::from_static(&[0, 0, 0, 1, 28, 198, 51, 100, 224]);
        let b = NlriBlock::parse(AfiSafi::IPV4_UNICAST, true, raw.clone()).unwrap();
        let v: Vec<_> = b.iter().collect();
        assert_eq!(
            v,
            vec![Nlri {
                path_id: Some(1),
                prefix: v4("198.51.100.224/28")
            }]
        );
        let again = NlriBlock::from_prefixes(AfiSafi::IPV4_UNICAST, true, v).unwrap();
        assert_eq!(again.raw, raw);
        // The same bytes without ADD-PATH are malformed: /0, then length 0, then 1 > 32? no: 1 then /28 overruns.
        assert!(NlriBlock::parse(AfiSafi::IPV4_UNICAST, false, raw).is_err());
    }

    #[test]
    fn ipv6_prefixes_and_host_bits() {
        let raw = Bytes::from_static(&[48, 0x20, 0x01, 0x0d, 0xb8, 0xf1, 0x01, 7, 0xff]);
        let b = NlriBlock::parse(AfiSafi::IPV6_UNICAST, false, raw).unwrap();
        let v: Vec<_> = b.iter().collect();
        assert_eq!(v[0].prefix, "2001:db8:f101::/48".parse::<IpNet>().unwrap());
        // host bits beyond /7 are cleared in the value, kept in raw
        assert_eq!(v[1].prefix, "fe00::/7".parse::<IpNet>().unwrap());
        assert_eq!(b.raw[8], 0xff);
    }

    #[test]
    fn malformed_prefixes_are_rejected_with_offsets() {
        let e = NlriBlock::parse(
            AfiSafi::IPV4_UNICAST,
            false,
            Bytes::from_static(&[24, 10, 0, 0, 33, 1, 2, 3, 4, 5]),
        )
        .unwrap_err();
        assert_eq!(e.offset, 4);
        assert!(e.reason.contains("33"), "{}", e.reason);
        let e = NlriBlock::parse(
            AfiSafi::IPV4_UNICAST,
            false,
            Bytes::from_static(&[24, 10, 0]),
        )
        .unwrap_err();
        assert_eq!(e.offset, 0);
        let e =
            NlriBlock::parse(AfiSafi::IPV6_UNICAST, false, Bytes::from_static(&[129])).unwrap_err();
        assert_eq!(e.offset, 0);
        let e = NlriBlock::parse(AfiSafi::IPV4_UNICAST, true, Bytes::from_static(&[0, 0, 1]))
            .unwrap_err();
        assert_eq!(e.offset, 0);
        let e = NlriBlock::parse(AfiSafi::L2VPN_EVPN, false, Bytes::from_static(&[5, 34, 0]))
            .unwrap_err();
        assert!(e.reason.starts_with("EVPN NLRI"));
    }

    #[test]
    fn family_mismatch_is_an_emit_error() {
        let e = NlriBlock::from_prefixes(
            AfiSafi::IPV4_UNICAST,
            false,
            [Nlri::new("2001:db8::/32".parse().unwrap())],
        );
        assert!(matches!(e, Err(EmitError::FamilyMismatch { .. })));
    }

    #[test]
    fn iterating_an_unvalidated_block_never_panics() {
        let b = NlriBlock {
            kind: AfiSafi::IPV4_UNICAST,
            add_path: false,
            raw: Bytes::from_static(&[24, 10, 0, 0, 200, 1, 2]),
        };
        assert_eq!(b.iter().count(), 1);
        let b = NlriBlock {
            kind: AfiSafi::IPV6_UNICAST,
            ..b
        };
        assert_eq!(b.iter().count(), 1);
        let b = NlriBlock {
            kind: AfiSafi::L2VPN_EVPN,
            ..b
        };
        assert_eq!(b.evpn_routes().count(), 0);
        let _ = b.len();
    }

    #[test]
    fn opaque_families_are_kept_raw() {
        let fam = AfiSafi::from_wire(1, 128);
        let b = NlriBlock::parse(fam, false, Bytes::from_static(&[0xde, 0xad])).unwrap();
        assert_eq!(b.iter().count(), 0);
        assert_eq!(b.len(), 0);
        assert_eq!(&b.raw[..], &[0xde, 0xad]);
    }
}
