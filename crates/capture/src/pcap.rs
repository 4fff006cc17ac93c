//! The classic libpcap file format (draft-ietf-opsawg-pcap): a 24-byte file header, then
//! records of a 16-byte header and the captured bytes.
//!
//! Headers and records are parsed by `pcap-parser` (see [`crate::pcapng`] for why that crate).
//! Both byte orders and both timestamp precisions (magic 0xA1B2C3D4 = microseconds,
//! 0xA1B23C4D = nanoseconds) are read. The header's `thiszone` field is ignored (writers set it
//! to 0; timestamps are UTC).

use pcap_parser::{parse_pcap_frame, parse_pcap_frame_be, parse_pcap_header, PcapHeader};

use super::{CaptureError, CaptureErrorKind, Frame, LinkType, Timestamp};

/// Length of the file header.
pub const FILE_HEADER_LEN: usize = 24;
/// Length of each record header.
pub const RECORD_HEADER_LEN: usize = 16;

/// True if `magic` (the first four bytes of a file) is one of the pcap magic numbers this reader
/// accepts: either byte order, micro- or nanosecond timestamps.
pub fn is_pcap_magic(magic: [u8; 4]) -> bool {
    matches!(
        u32::from_le_bytes(magic),
        0xa1b2_c3d4 | 0xa1b2_3c4d | 0xd4c3_b2a1 | 0x4d3c_b2a1
    )
}

/// Iterates over the records of a pcap file held in memory.
#[derive(Debug, Clone)]
pub struct PcapReader<'a> {
    data: &'a [u8],
    header: PcapHeader,
    pos: usize,
    frame: u64,
    failed: bool,
}

impl<'a> PcapReader<'a> {
    /// Reads the file header; fails on a bad magic, a short header or a major version other
    /// than 2.
    pub fn new(data: &'a [u8]) -> Result<Self, CaptureError> {
        let magic = data.get(..4).and_then(|m| m.try_into().ok());
        if let Some(m) = magic.filter(|m| !is_pcap_magic(*m)) {
            return Err(CaptureError::new(0, CaptureErrorKind::UnknownMagic(m)));
        }
        let Ok((_, header)) = parse_pcap_header(data) else {
            return Err(CaptureError::truncated(
                0,
                "pcap file header",
                FILE_HEADER_LEN,
                data.len(),
            ));
        };
        if header.version_major != 2 {
            return Err(CaptureError::new(
                4,
                CaptureErrorKind::UnsupportedVersion {
                    major: header.version_major,
                    minor: header.version_minor,
                },
            ));
        }
        Ok(PcapReader {
            data,
            header,
            pos: FILE_HEADER_LEN,
            frame: 0,
            failed: false,
        })
    }

    /// True if the file was written big-endian.
    pub fn big_endian(&self) -> bool {
        self.header.is_bigendian()
    }

    /// True for nanosecond timestamps (magic 0xA1B23C4D), false for microseconds.
    pub fn nanosecond(&self) -> bool {
        self.header.is_nanosecond_precision()
    }

    /// The link type of every record in the file.
    pub fn link_type(&self) -> LinkType {
        // Low 16 bits: the link type; the upper bits carry FCS information we do not need.
        LinkType((self.header.network.0 & 0xffff) as u16)
    }

    /// The snapshot length from the file header.
    pub fn snap_len(&self) -> u32 {
        self.header.snaplen
    }

    fn read_record(&mut self) -> Result<Frame<'a>, CaptureError> {
        let start = self.pos;
        let rest = self.data.get(start..).unwrap_or(&[]);
        let parsed = if self.big_endian() {
            parse_pcap_frame_be(rest)
        } else {
            parse_pcap_frame(rest)
        };
        let record = match parsed {
            Ok((_, record)) => record,
            Err(_) if rest.len() < RECORD_HEADER_LEN => {
                return Err(CaptureError::truncated(
                    start,
                    "pcap record header",
                    RECORD_HEADER_LEN,
                    rest.len(),
                ))
            }
            Err(e) => {
                // The header was whole, so the data is what is missing: `needed` is the
                // captured length less the room there is.
                let room = rest.len() - RECORD_HEADER_LEN;
                let needed = match e {
                    nom::Err::Incomplete(nom::Needed::Size(n)) => n.get(),
                    _ => 0,
                };
                let captured = u32::try_from(room.saturating_add(needed)).unwrap_or(u32::MAX);
                return Err(CaptureError::new(
                    start,
                    CaptureErrorKind::CapturedLengthTooLarge { captured, room },
                ));
            }
        };
        let frac_nanos = if self.nanosecond() {
            u64::from(record.ts_usec)
        } else {
            u64::from(record.ts_usec) * 1000
        };
        self.pos = start + RECORD_HEADER_LEN + record.data.len();
        self.frame += 1;
        Ok(Frame {
            number: self.frame,
            timestamp: Timestamp::new(i64::from(record.ts_sec), frac_nanos),
            link_type: self.link_type(),
            data: record.data,
            original_len: record.origlen,
        })
    }
}

impl<'a> Iterator for PcapReader<'a> {
    type Item = Result<Frame<'a>, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.pos >= self.data.len() {
            return None;
        }
        let r = self.read_record();
        self.failed = r.is_err();
        Some(r)
    }
}

/// Writes pcap files; used by tests (and fuzz seeds) to produce captures in every variant the
/// reader accepts (`pcap-parser`'s writer, feature `serialize`, writes little-endian only).
#[derive(Debug, Clone)]
pub struct PcapWriter {
    big_endian: bool,
    nanosecond: bool,
    out: Vec<u8>,
}

impl PcapWriter {
    /// Starts a file with the given byte order, precision and link type.
    pub fn new(big_endian: bool, nanosecond: bool, link_type: LinkType) -> Self {
        let mut w = PcapWriter {
            big_endian,
            nanosecond,
            out: Vec::new(),
        };
        let magic: u32 = if nanosecond { 0xa1b2_3c4d } else { 0xa1b2_c3d4 };
        w.put32(magic);
        w.put16(2);
        w.put16(4);
        w.put32(0);
        w.put32(0);
        w.put32(262_144);
        w.put32(u32::from(link_type.0));
        w
    }

    fn put16(&mut self, v: u16) {
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.out.extend_from_slice(&b);
    }

    fn put32(&mut self, v: u32) {
        let b = if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        };
        self.out.extend_from_slice(&b);
    }

    /// Appends one record (seconds truncated to 32 bits, as the format stores them).
    pub fn record(&mut self, ts: Timestamp, data: &[u8]) {
        self.put32(ts.secs as u32);
        let frac = if self.nanosecond {
            ts.nanos
        } else {
            ts.nanos / 1000
        };
        self.put32(frac);
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.put32(len);
        self.put32(len);
        self.out.extend_from_slice(data);
    }

    /// The file's bytes.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(big_endian: bool, nanosecond: bool) -> Vec<u8> {
        let mut w = PcapWriter::new(big_endian, nanosecond, LinkType::ETHERNET);
        w.record(Timestamp::new(1_700_000_000, 123_456_789), b"abc");
        w.record(Timestamp::new(1_700_000_001, 0), b"");
        w.record(Timestamp::new(1_700_000_002, 999_999_000), b"hello");
        w.finish()
    }

    #[test]
    fn reads_all_four_variants() {
        for be in [false, true] {
            for ns in [false, true] {
                let file = sample(be, ns);
                let r = PcapReader::new(&file).unwrap();
                assert_eq!(r.big_endian(), be);
                assert_eq!(r.nanosecond(), ns);
                assert_eq!(r.link_type(), LinkType::ETHERNET);
                let frames: Vec<_> = r.map(Result::unwrap).collect();
                assert_eq!(frames.len(), 3);
                assert_eq!(frames[0].number, 1);
                assert_eq!(frames[0].data, b"abc");
                let want_nanos = if ns { 123_456_789 } else { 123_456_000 };
                assert_eq!(
                    frames[0].timestamp,
                    Timestamp::new(1_700_000_000, want_nanos)
                );
                assert_eq!(frames[1].data, b"");
                assert_eq!(frames[2].number, 3);
                assert_eq!(frames[2].data, b"hello");
                assert_eq!(frames[2].original_len, 5);
            }
        }
    }

    #[test]
    fn reports_truncation_with_offsets() {
        let file = sample(false, false);
        // Cut in the middle of the second record's header.
        let cut = FILE_HEADER_LEN + RECORD_HEADER_LEN + 3 + 5;
        let mut r = PcapReader::new(&file[..cut]).unwrap();
        assert!(r.next().unwrap().is_ok());
        let err = r.next().unwrap().unwrap_err();
        assert_eq!(err.offset, FILE_HEADER_LEN + RECORD_HEADER_LEN + 3);
        assert!(matches!(
            err.kind,
            CaptureErrorKind::Truncated {
                needed: 16,
                available: 5,
                ..
            }
        ));
        assert!(r.next().is_none());

        // Cut in the middle of the first record's data.
        let mut r = PcapReader::new(&file[..FILE_HEADER_LEN + RECORD_HEADER_LEN + 1]).unwrap();
        let err = r.next().unwrap().unwrap_err();
        assert_eq!(err.offset, FILE_HEADER_LEN);
        assert_eq!(
            err.kind,
            CaptureErrorKind::CapturedLengthTooLarge {
                captured: 3,
                room: 1
            }
        );

        let err = PcapReader::new(&file[..10]).unwrap_err();
        assert!(matches!(
            err.kind,
            CaptureErrorKind::Truncated {
                needed: 24,
                available: 10,
                ..
            }
        ));
    }

    #[test]
    fn rejects_other_versions() {
        let mut file = sample(false, false);
        file[4] = 1;
        let err = PcapReader::new(&file).unwrap_err();
        assert_eq!(err.offset, 4);
        assert_eq!(
            err.kind,
            CaptureErrorKind::UnsupportedVersion { major: 1, minor: 4 }
        );
    }

    #[test]
    fn huge_captured_length_is_an_error_not_a_panic() {
        let mut file = sample(true, false);
        file[FILE_HEADER_LEN + 8..FILE_HEADER_LEN + 12].copy_from_slice(&u32::MAX.to_be_bytes());
        let err = PcapReader::new(&file).unwrap().next().unwrap().unwrap_err();
        assert!(matches!(
            err.kind,
            CaptureErrorKind::CapturedLengthTooLarge {
                captured: u32::MAX,
                ..
            }
        ));
    }
}
