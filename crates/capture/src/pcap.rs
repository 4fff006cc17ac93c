//! The classic libpcap file format (draft-ietf-opsawg-pcap): a 24-byte file header, then
//! records of a 16-byte header and the captured bytes.
//!
//! Both byte orders and both timestamp precisions (magic 0xA1B2C3D4 = microseconds,
//! 0xA1B23C4D = nanoseconds) are read. The header's `thiszone` field is ignored (writers set it
//! to 0; timestamps are UTC).

use super::{ByteOrder, CaptureError, CaptureErrorKind, Frame, LinkType, Timestamp};

/// Length of the file header.
pub const FILE_HEADER_LEN: usize = 24;
/// Length of each record header.
pub const RECORD_HEADER_LEN: usize = 16;

/// What a pcap magic number says: the file's byte order and timestamp precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Magic {
    byte_order: ByteOrder,
    /// True for nanosecond timestamps (magic 0xA1B23C4D), false for microseconds.
    pub nanosecond: bool,
}

impl Magic {
    /// Reads the first four bytes of a file; `None` if they are not a pcap magic number.
    pub fn from_bytes(b: [u8; 4]) -> Option<Magic> {
        let (byte_order, nanosecond) = match b {
            [0xd4, 0xc3, 0xb2, 0xa1] => (ByteOrder::Little, false),
            [0xa1, 0xb2, 0xc3, 0xd4] => (ByteOrder::Big, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (ByteOrder::Little, true),
            [0xa1, 0xb2, 0x3c, 0x4d] => (ByteOrder::Big, true),
            _ => return None,
        };
        Some(Magic {
            byte_order,
            nanosecond,
        })
    }

    /// True if the file was written big-endian.
    pub fn big_endian(&self) -> bool {
        self.byte_order == ByteOrder::Big
    }
}

/// Iterates over the records of a pcap file held in memory.
#[derive(Debug, Clone)]
pub struct PcapReader<'a> {
    data: &'a [u8],
    magic: Magic,
    link_type: LinkType,
    snap_len: u32,
    pos: usize,
    frame: u64,
    failed: bool,
}

impl<'a> PcapReader<'a> {
    /// Reads the file header; fails on a bad magic, a short header or a major version other
    /// than 2.
    pub fn new(data: &'a [u8]) -> Result<Self, CaptureError> {
        let Some(header) = data.get(..FILE_HEADER_LEN) else {
            return Err(CaptureError::truncated(
                0,
                "pcap file header",
                FILE_HEADER_LEN,
                data.len(),
            ));
        };
        let magic_bytes: [u8; 4] = [header[0], header[1], header[2], header[3]];
        let Some(magic) = Magic::from_bytes(magic_bytes) else {
            return Err(CaptureError::new(
                0,
                CaptureErrorKind::UnknownMagic(magic_bytes),
            ));
        };
        let bo = magic.byte_order;
        // The header is 24 bytes long, so these reads cannot fail; unwrap_or keeps it total.
        let major = bo.u16(header, 4).unwrap_or(0);
        let minor = bo.u16(header, 6).unwrap_or(0);
        if major != 2 {
            return Err(CaptureError::new(
                4,
                CaptureErrorKind::UnsupportedVersion { major, minor },
            ));
        }
        let snap_len = bo.u32(header, 16).unwrap_or(0);
        // Low 16 bits: the link type; the upper bits carry FCS information we do not need.
        let link_type = LinkType((bo.u32(header, 20).unwrap_or(0) & 0xffff) as u16);
        Ok(PcapReader {
            data,
            magic,
            link_type,
            snap_len,
            pos: FILE_HEADER_LEN,
            frame: 0,
            failed: false,
        })
    }

    /// The byte order and precision announced by the magic number.
    pub fn magic(&self) -> Magic {
        self.magic
    }

    /// The link type of every record in the file.
    pub fn link_type(&self) -> LinkType {
        self.link_type
    }

    /// The snapshot length from the file header.
    pub fn snap_len(&self) -> u32 {
        self.snap_len
    }

    fn read_record(&mut self) -> Result<Frame<'a>, CaptureError> {
        let start = self.pos;
        let rest = self.data.get(start..).unwrap_or(&[]);
        let Some(header) = rest.get(..RECORD_HEADER_LEN) else {
            return Err(CaptureError::truncated(
                start,
                "pcap record header",
                RECORD_HEADER_LEN,
                rest.len(),
            ));
        };
        let bo = self.magic.byte_order;
        let ts_sec = bo.u32(header, 0).unwrap_or(0);
        let ts_frac = bo.u32(header, 4).unwrap_or(0);
        let captured = bo.u32(header, 8).unwrap_or(0);
        let original_len = bo.u32(header, 12).unwrap_or(0);
        let body = &rest[RECORD_HEADER_LEN..];
        let Some(data) = usize::try_from(captured).ok().and_then(|n| body.get(..n)) else {
            return Err(CaptureError::new(
                start,
                CaptureErrorKind::CapturedLengthTooLarge {
                    captured,
                    room: body.len(),
                },
            ));
        };
        let frac_nanos = if self.magic.nanosecond {
            u64::from(ts_frac)
        } else {
            u64::from(ts_frac) * 1000
        };
        self.pos = start + RECORD_HEADER_LEN + data.len();
        self.frame += 1;
        Ok(Frame {
            number: self.frame,
            timestamp: Timestamp::new(i64::from(ts_sec), frac_nanos),
            link_type: self.link_type,
            data,
            original_len,
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
/// reader accepts.
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
                assert_eq!(r.magic().big_endian(), be);
                assert_eq!(r.magic().nanosecond, ns);
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
