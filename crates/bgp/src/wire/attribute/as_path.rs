//! AS_PATH (type 2, RFC 4271 §4.3, §5.1.2) and AS4_PATH (type 17, RFC 6793),
//! with 2- and 4-octet encodings (RFC 6793 §4) and AS_TRANS reconstruction
//! (RFC 6793 §4.2.3).

use std::fmt;

use bytes::{BufMut, BytesMut};
use serde::Serialize;

use crate::wire::open::AS_TRANS;

/// The kind of an AS path segment (RFC 4271 §4.3, RFC 5065 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum AsSegmentKind {
    /// 1: AS_SET, unordered.
    #[serde(rename = "AS_SET")]
    Set,
    /// 2: AS_SEQUENCE, ordered.
    #[serde(rename = "AS_SEQUENCE")]
    Sequence,
    /// 3: AS_CONFED_SEQUENCE (RFC 5065).
    #[serde(rename = "AS_CONFED_SEQUENCE")]
    ConfedSequence,
    /// 4: AS_CONFED_SET (RFC 5065).
    #[serde(rename = "AS_CONFED_SET")]
    ConfedSet,
}

impl AsSegmentKind {
    /// Decodes the segment type; `None` for undefined types.
    pub fn from_u8(v: u8) -> Option<Self> {
        match v {
            1 => Some(Self::Set),
            2 => Some(Self::Sequence),
            3 => Some(Self::ConfedSequence),
            4 => Some(Self::ConfedSet),
            _ => None,
        }
    }

    /// Encodes the segment type.
    pub fn to_u8(self) -> u8 {
        match self {
            Self::Set => 1,
            Self::Sequence => 2,
            Self::ConfedSequence => 3,
            Self::ConfedSet => 4,
        }
    }

    /// True for the confederation kinds.
    pub fn is_confed(self) -> bool {
        matches!(self, Self::ConfedSequence | Self::ConfedSet)
    }
}

/// One AS path segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct AsSegment {
    /// The segment kind.
    #[serde(rename = "type")]
    pub kind: AsSegmentKind,
    /// The AS numbers (never empty when parsed, RFC 7606 §7.2).
    pub asns: Vec<u32>,
}

/// An AS path: AS_PATH or AS4_PATH.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct AsPath {
    /// The segments, in order.
    pub segments: Vec<AsSegment>,
}

impl AsPath {
    /// An empty path (what an iBGP or locally originated route carries).
    pub fn empty() -> Self {
        AsPath::default()
    }

    /// A path of one AS_SEQUENCE.
    pub fn sequence(asns: impl IntoIterator<Item = u32>) -> Self {
        let asns: Vec<u32> = asns.into_iter().collect();
        if asns.is_empty() {
            return AsPath::empty();
        }
        AsPath {
            segments: vec![AsSegment {
                kind: AsSegmentKind::Sequence,
                asns,
            }],
        }
    }

    /// Path length for best-path selection (RFC 4271 §9.1.2.2 a; RFC 5065
    /// §5.3): each AS in a sequence counts 1, a set counts 1, confederation
    /// segments count 0.
    pub fn length(&self) -> usize {
        self.segments
            .iter()
            .map(|s| match s.kind {
                AsSegmentKind::Sequence => s.asns.len(),
                AsSegmentKind::Set => 1,
                AsSegmentKind::ConfedSequence | AsSegmentKind::ConfedSet => 0,
            })
            .sum()
    }

    /// The first AS of the path (the neighbour AS for eBGP; RFC 4271 §9.1.2.2 c),
    /// if the path starts with an AS_SEQUENCE.
    pub fn first_asn(&self) -> Option<u32> {
        match self.segments.first() {
            Some(AsSegment {
                kind: AsSegmentKind::Sequence,
                asns,
            }) => asns.first().copied(),
            _ => None,
        }
    }

    /// The origin AS: the last AS of the path if it ends in an AS_SEQUENCE.
    pub fn origin_asn(&self) -> Option<u32> {
        match self.segments.last() {
            Some(AsSegment {
                kind: AsSegmentKind::Sequence,
                asns,
            }) => asns.last().copied(),
            _ => None,
        }
    }

    /// True when `asn` appears anywhere in the path (loop detection, RFC 4271 §9.1.2).
    pub fn contains(&self, asn: u32) -> bool {
        self.segments.iter().any(|s| s.asns.contains(&asn))
    }

    /// True when any segment is a confederation segment.
    pub fn has_confed(&self) -> bool {
        self.segments.iter().any(|s| s.kind.is_confed())
    }

    /// Prepends `asn` to the path (RFC 4271 §5.1.2 b), into the leading
    /// AS_SEQUENCE when there is room, else as a new segment.
    pub fn prepend(&mut self, asn: u32) {
        match self.segments.first_mut() {
            Some(s) if s.kind == AsSegmentKind::Sequence && s.asns.len() < 255 => {
                s.asns.insert(0, asn)
            }
            _ => self.segments.insert(
                0,
                AsSegment {
                    kind: AsSegmentKind::Sequence,
                    asns: vec![asn],
                },
            ),
        }
    }

    /// Parses an AS_PATH or AS4_PATH value with 2- or 4-octet AS numbers.
    /// Malformed (RFC 7606 §7.2): unknown segment type, zero segment length,
    /// or a segment overrunning the attribute.
    pub fn parse(value: &[u8], four_octet: bool) -> Result<Self, String> {
        let width = if four_octet { 4 } else { 2 };
        let mut segments = Vec::new();
        let mut b = value;
        let mut pos = 0usize;
        while !b.is_empty() {
            let [ty, count, rest @ ..] = b else {
                return Err(format!("AS path segment header truncated at byte {pos}"));
            };
            let kind = AsSegmentKind::from_u8(*ty)
                .ok_or_else(|| format!("unknown AS path segment type {ty} at byte {pos}"))?;
            if *count == 0 {
                return Err(format!("zero-length AS path segment at byte {pos}"));
            }
            let n = usize::from(*count) * width;
            let Some((data, rest)) = rest.split_at_checked(n) else {
                return Err(format!(
                    "AS path segment at byte {pos} needs {n} bytes for {count} ASNs, only {} remain",
                    rest.len()
                ));
            };
            let asns = if four_octet {
                data.chunks_exact(4)
                    .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                    .collect()
            } else {
                data.chunks_exact(2)
                    .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                    .collect()
            };
            segments.push(AsSegment { kind, asns });
            pos += 2 + n;
            b = rest;
        }
        Ok(AsPath { segments })
    }

    /// Writes the value with 2- or 4-octet AS numbers. In 2-octet form an AS
    /// above 65535 is written as AS_TRANS (RFC 6793 §4.2.2). Segments longer
    /// than 255 ASNs are split.
    pub fn emit(&self, four_octet: bool, out: &mut BytesMut) {
        for s in &self.segments {
            for chunk in s.asns.chunks(255) {
                out.put_u8(s.kind.to_u8());
                out.put_u8(chunk.len() as u8);
                for &a in chunk {
                    if four_octet {
                        out.put_u32(a);
                    } else {
                        out.put_u16(u16::try_from(a).unwrap_or(AS_TRANS));
                    }
                }
            }
        }
    }

    /// Encoded value length.
    pub fn encoded_len(&self, four_octet: bool) -> usize {
        let w = if four_octet { 4 } else { 2 };
        self.segments
            .iter()
            .map(|s| s.asns.len().div_ceil(255) * 2 + s.asns.len() * w)
            .sum()
    }

    /// True when every AS fits in 2 octets.
    pub fn is_two_octet_clean(&self) -> bool {
        self.segments
            .iter()
            .all(|s| s.asns.iter().all(|&a| a <= 0xffff))
    }
}

/// Reconstructs the real AS path from AS_PATH and AS4_PATH received from a
/// 2-octet speaker (RFC 6793 §4.2.3): if AS_PATH has fewer ASes than
/// AS4_PATH, AS4_PATH is ignored; otherwise the leading ASes of AS_PATH
/// (as many as it has more than AS4_PATH, counted as in RFC 4271 §9.1.2.2
/// with confederation segments kept and counting 0) are followed by AS4_PATH.
pub fn reconstruct_as4(as_path: &AsPath, as4_path: &AsPath) -> AsPath {
    let n = as_path.length();
    let m = as4_path.length();
    if n < m {
        return as_path.clone();
    }
    let mut keep = n - m;
    let mut segments: Vec<AsSegment> = Vec::new();
    for s in &as_path.segments {
        match s.kind {
            AsSegmentKind::ConfedSequence | AsSegmentKind::ConfedSet => segments.push(s.clone()),
            AsSegmentKind::Set if keep > 0 => {
                segments.push(s.clone());
                keep -= 1;
            }
            AsSegmentKind::Sequence if keep > 0 => {
                let take = keep.min(s.asns.len());
                segments.push(AsSegment {
                    kind: AsSegmentKind::Sequence,
                    asns: s.asns[..take].to_vec(),
                });
                keep -= take;
            }
            _ => {}
        }
        if keep == 0 {
            break;
        }
    }
    for s in &as4_path.segments {
        match (segments.last_mut(), s.kind) {
            (Some(last), AsSegmentKind::Sequence) if last.kind == AsSegmentKind::Sequence => {
                last.asns.extend_from_slice(&s.asns)
            }
            _ => segments.push(s.clone()),
        }
    }
    AsPath { segments }
}

impl fmt::Display for AsPath {
    /// `65001 65002 {65003,65004} (65010 65011) [65020]`: sets in braces,
    /// confederation sequences in parentheses, confederation sets in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            let (open, sep, close) = match s.kind {
                AsSegmentKind::Sequence => ("", " ", ""),
                AsSegmentKind::Set => ("{", ",", "}"),
                AsSegmentKind::ConfedSequence => ("(", " ", ")"),
                AsSegmentKind::ConfedSet => ("[", ",", "]"),
            };
            f.write_str(open)?;
            for (j, a) in s.asns.iter().enumerate() {
                if j > 0 {
                    f.write_str(sep)?;
                }
                write!(f, "{a}")?;
            }
            f.write_str(close)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(kind: AsSegmentKind, asns: &[u32]) -> AsSegment {
        AsSegment {
            kind,
            asns: asns.to_vec(),
        }
    }

    #[test]
    fn parses_gobgps_as_set_with_a_four_byte_as() {
        // frr-gobgp frame 24: AS_PATH 4200000002 65010 {65020, 4200000020}
        let v = [
            2, 2, 0xfa, 0x56, 0xea, 0x02, 0, 0, 0xfd, 0xf2, 1, 2, 0, 0, 0xfd, 0xfc, 0xfa, 0x56,
            0xea, 0x14,
        ];
        let p = AsPath::parse(&v, true).unwrap();
        assert_eq!(
            p.segments,
            vec![
                seg(AsSegmentKind::Sequence, &[4200000002, 65010]),
                seg(AsSegmentKind::Set, &[65020, 4200000020])
            ]
        );
        assert_eq!(p.length(), 3);
        assert_eq!(p.to_string(), "4200000002 65010 {65020,4200000020}");
        let mut out = BytesMut::new();
        p.emit(true, &mut out);
        assert_eq!(&out[..], &v);
        assert_eq!(p.encoded_len(true), v.len());
    }

    #[test]
    fn two_octet_emit_uses_as_trans() {
        let p = AsPath::sequence([65001, 4200000001]);
        let mut out = BytesMut::new();
        p.emit(false, &mut out);
        assert_eq!(&out[..], &[2, 2, 0xfd, 0xe9, 0x5b, 0xa0]);
        assert_eq!(p.encoded_len(false), 6);
    }

    #[test]
    fn malformed_paths_are_rejected() {
        assert!(AsPath::parse(&[5, 1, 0, 1], false)
            .unwrap_err()
            .contains("type 5"));
        assert!(AsPath::parse(&[2, 0], false)
            .unwrap_err()
            .contains("zero-length"));
        assert!(AsPath::parse(&[2, 2, 0, 1], false)
            .unwrap_err()
            .contains("needs 4"));
        assert!(AsPath::parse(&[2], false)
            .unwrap_err()
            .contains("truncated"));
        assert_eq!(AsPath::parse(&[], true), Ok(AsPath::empty()));
    }

    #[test]
    fn length_counts_sets_as_one_and_confeds_as_zero() {
        let p = AsPath {
            segments: vec![
                seg(AsSegmentKind::ConfedSequence, &[1, 2, 3]),
                seg(AsSegmentKind::Sequence, &[10, 20]),
                seg(AsSegmentKind::Set, &[30, 40, 50]),
                seg(AsSegmentKind::ConfedSet, &[4]),
            ],
        };
        assert_eq!(p.length(), 3);
        assert_eq!(p.to_string(), "(1 2 3) 10 20 {30,40,50} [4]");
        assert_eq!(p.first_asn(), None);
    }

    #[test]
    fn reconstructs_as4_path_rfc6793() {
        // AS_PATH: 65001 23456 23456; AS4_PATH: 4200000001 4200000002
        let as_path = AsPath::sequence([65001, 23456, 23456]);
        let as4 = AsPath::sequence([4200000001, 4200000002]);
        let r = reconstruct_as4(&as_path, &as4);
        assert_eq!(r, AsPath::sequence([65001, 4200000001, 4200000002]));
        // AS4_PATH longer than AS_PATH: ignored.
        let r = reconstruct_as4(&AsPath::sequence([23456]), &as4);
        assert_eq!(r, AsPath::sequence([23456]));
        // A set in the leading part counts 1.
        let as_path = AsPath {
            segments: vec![
                seg(AsSegmentKind::Set, &[1, 2]),
                seg(AsSegmentKind::Sequence, &[23456]),
            ],
        };
        let r = reconstruct_as4(&as_path, &AsPath::sequence([4200000009]));
        assert_eq!(
            r.segments,
            vec![
                seg(AsSegmentKind::Set, &[1, 2]),
                seg(AsSegmentKind::Sequence, &[4200000009])
            ]
        );
    }

    #[test]
    fn prepend_and_long_segments() {
        let mut p = AsPath::empty();
        p.prepend(65001);
        p.prepend(65002);
        assert_eq!(p, AsPath::sequence([65002, 65001]));
        let long = AsPath::sequence(0..300);
        let mut out = BytesMut::new();
        long.emit(true, &mut out);
        assert_eq!(out.len(), long.encoded_len(true));
        let back = AsPath::parse(&out, true).unwrap();
        assert_eq!(back.segments.len(), 2);
        assert_eq!(back.length(), 300);
    }
}
