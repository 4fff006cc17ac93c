//! perouter-capture: the library behind `perouter decode`, which prints every BGP message of a
//! packet capture, a hex dump or a raw stream as JSON.
//!
//! **Role.** Turn recorded bytes back into the BGP messages a session saw, decoded with the codec
//! context that session negotiated. The value is in the last two steps: TCP reassembly per
//! connection and direction, and following each connection's OPEN exchange to pick the codec
//! context (4-octet AS, ADD-PATH per family and direction, extended messages) per direction.
//!
//! **Inputs.** The bytes of a pcap or pcapng file (both byte orders, micro- or nanosecond
//! timestamps; Ethernet with VLAN tags, Linux cooked SLL/SLL2, raw IP, BSD loopback), hex lines
//! or a raw message stream, plus the fallback context given by the user.
//!
//! **Outputs.** Frames ([`CaptureReader`]), TCP segments ([`packet`]), reassembled per-direction
//! streams ([`reassembly`]), whole messages ([`decode::framing`], [`decode::stream`]), decoded
//! messages with the context used ([`decode::MessageDecoder`]) and the JSON records the tool
//! prints ([`decode::record`]).
//!
//! **Must not.** Panic on any input (malformed files yield typed errors carrying the byte offset;
//! the `pcap` fuzz target in `fuzz/` holds it to that); open sockets or talk to a live session;
//! depend on the agent (the dependency points agent → capture → bgp/evpn). It holds no codec of
//! its own: messages are parsed and re-emitted by `perouter_bgp::wire`.
//!
//! The pieces, each in its own module:
//!
//! - [`pcap`]: the classic libpcap file format (both byte orders, microsecond and nanosecond
//!   timestamps), parsed by `pcap-parser`.
//! - [`pcapng`]: the pcapng block format (sections, interfaces with their link types and
//!   timestamp resolutions, enhanced/simple/obsolete packet blocks), parsed by `pcap-parser`
//!   behind a framing check that gives every error its byte offset.
//! - [`packet`]: link layer (Ethernet with VLAN tags, Linux cooked SLL and SLL2, raw IP),
//!   IPv4/IPv6 and TCP header decoding down to a [`packet::TcpSegment`], by `etherparse`.
//! - [`reassembly`]: per connection and per direction, sequence-ordered TCP reassembly that drops
//!   retransmitted bytes and reports gaps.
//! - [`timestamp`]: capture timestamps and their RFC 3339 rendering.
//! - [`decode`]: BGP framing on reassembled streams, codec contexts, the hex-lines input and the
//!   JSON records.

#![warn(missing_docs)]

pub mod decode;

pub mod packet;
pub mod pcap;
pub mod pcapng;
pub mod reassembly;
pub mod timestamp;

pub use timestamp::Timestamp;

use std::fmt;

/// A link-layer header type, as numbered in the tcpdump.org LINKTYPE registry (which pcap and
/// pcapng both use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LinkType(pub u16);

impl LinkType {
    /// BSD loopback: a 4-byte address family in the capturing host's byte order.
    pub const NULL: LinkType = LinkType(0);
    /// IEEE 802.3 Ethernet.
    pub const ETHERNET: LinkType = LinkType(1);
    /// Raw IP as written by some BSDs (DLT_RAW = 12 there).
    pub const RAW_BSD: LinkType = LinkType(12);
    /// Raw IP as written by OpenBSD (DLT_RAW = 14 there).
    pub const RAW_OPENBSD: LinkType = LinkType(14);
    /// Raw IPv4 or IPv6, version taken from the first nibble.
    pub const RAW: LinkType = LinkType(101);
    /// OpenBSD loopback: a 4-byte address family in network byte order.
    pub const LOOP: LinkType = LinkType(108);
    /// Linux "cooked" capture, version 1 (16-byte header), e.g. `tcpdump -i any`.
    pub const LINUX_SLL: LinkType = LinkType(113);
    /// Raw IPv4 only.
    pub const IPV4: LinkType = LinkType(228);
    /// Raw IPv6 only.
    pub const IPV6: LinkType = LinkType(229);
    /// Linux "cooked" capture, version 2 (20-byte header), newer `tcpdump -i any`.
    pub const LINUX_SLL2: LinkType = LinkType(276);
}

impl fmt::Display for LinkType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            LinkType::NULL => "NULL",
            LinkType::ETHERNET => "ETHERNET",
            LinkType::RAW_BSD | LinkType::RAW_OPENBSD | LinkType::RAW => "RAW",
            LinkType::LOOP => "LOOP",
            LinkType::LINUX_SLL => "LINUX_SLL",
            LinkType::IPV4 => "IPV4",
            LinkType::IPV6 => "IPV6",
            LinkType::LINUX_SLL2 => "LINUX_SLL2",
            _ => return write!(f, "LINKTYPE {}", self.0),
        };
        write!(f, "{name} ({})", self.0)
    }
}

/// One captured frame, borrowed from the capture file's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame<'a> {
    /// 1-based frame number counted over all packet records of the file, the number tshark and
    /// Wireshark show.
    pub number: u64,
    /// When the frame was captured (UTC).
    pub timestamp: Timestamp,
    /// How to read `data`.
    pub link_type: LinkType,
    /// The captured bytes (possibly fewer than `original_len` when the snap length cut them).
    pub data: &'a [u8],
    /// The frame's length on the wire.
    pub original_len: u32,
}

/// What was wrong with a capture file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaptureErrorKind {
    /// The first four bytes are neither a pcap nor a pcapng magic number.
    #[error("not a pcap or pcapng file (magic {0:02x?})")]
    UnknownMagic([u8; 4]),
    /// The file ends in the middle of a header or record.
    #[error("truncated {what}: need {needed} bytes, {available} left")]
    Truncated {
        /// Which structure was cut short.
        what: &'static str,
        /// Bytes the structure needs.
        needed: usize,
        /// Bytes left in the file.
        available: usize,
    },
    /// The pcap file header has a major version other than 2.
    #[error("unsupported pcap version {major}.{minor}")]
    UnsupportedVersion {
        /// Major version found.
        major: u16,
        /// Minor version found.
        minor: u16,
    },
    /// A pcapng section header with a byte-order magic that is neither 0x1A2B3C4D nor its swap.
    #[error("bad pcapng byte-order magic {0:#010x}")]
    BadByteOrderMagic(u32),
    /// A pcapng block whose total length is not a multiple of 4, smaller than 12, or whose
    /// trailing copy of the length differs.
    #[error("bad pcapng block length {0}")]
    BadBlockLength(u32),
    /// A pcapng block came before the first section header block.
    #[error("pcapng block before the section header")]
    NoSection,
    /// A record's captured length is larger than the room its block/record has.
    #[error("captured length {captured} does not fit (room for {room})")]
    CapturedLengthTooLarge {
        /// Captured length claimed.
        captured: u32,
        /// Bytes actually available for it.
        room: usize,
    },
    /// A pcapng packet block names an interface that no interface description block defined.
    #[error("packet refers to interface {0}, which was not described")]
    UnknownInterface(u32),
    /// A pcapng block whose contents `pcap-parser` refused (a field or option running past the
    /// block, a length that does not add up).
    #[error("malformed pcapng block of type {block_type:#x}: {reason}")]
    MalformedBlock {
        /// The block's type.
        block_type: u32,
        /// What the parser said.
        reason: String,
    },
    /// A pcapng `if_tsresol` option with an exponent this reader cannot represent.
    #[error("unsupported timestamp resolution {0:#04x}")]
    UnsupportedTimestampResolution(u8),
}

/// An error reading a capture file: what was wrong and at which byte offset of the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("capture file offset {offset}: {kind}")]
pub struct CaptureError {
    /// Byte offset in the file where the faulty structure starts.
    pub offset: usize,
    /// What was wrong.
    pub kind: CaptureErrorKind,
}

impl CaptureError {
    pub(crate) fn new(offset: usize, kind: CaptureErrorKind) -> Self {
        CaptureError { offset, kind }
    }

    pub(crate) fn truncated(
        offset: usize,
        what: &'static str,
        needed: usize,
        available: usize,
    ) -> Self {
        CaptureError::new(
            offset,
            CaptureErrorKind::Truncated {
                what,
                needed,
                available,
            },
        )
    }
}

/// Which of the two file formats a capture is in, detected from its magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureFormat {
    /// Classic libpcap format.
    Pcap,
    /// pcapng (starts with a section header block).
    PcapNg,
}

impl CaptureFormat {
    /// Detects the format from the first bytes of a file; `None` if neither magic matches.
    pub fn detect(data: &[u8]) -> Option<CaptureFormat> {
        let magic: [u8; 4] = data.get(..4)?.try_into().ok()?;
        if pcap::is_pcap_magic(magic) {
            Some(CaptureFormat::Pcap)
        } else if magic == pcapng::SECTION_HEADER_BLOCK_TYPE.to_le_bytes() {
            Some(CaptureFormat::PcapNg)
        } else {
            None
        }
    }
}

/// Reads the frames of a pcap or pcapng capture held in memory, whichever the magic says.
///
/// Iterating yields frames in file order; after the first error the iterator ends (the error
/// says where the file went wrong, and every frame before it has been delivered).
#[derive(Debug)]
pub enum CaptureReader<'a> {
    /// A classic pcap file.
    Pcap(pcap::PcapReader<'a>),
    /// A pcapng file.
    PcapNg(pcapng::PcapNgReader<'a>),
}

impl<'a> CaptureReader<'a> {
    /// Opens a capture held in `data`, detecting the format by its magic number.
    pub fn new(data: &'a [u8]) -> Result<Self, CaptureError> {
        match CaptureFormat::detect(data) {
            Some(CaptureFormat::Pcap) => Ok(CaptureReader::Pcap(pcap::PcapReader::new(data)?)),
            Some(CaptureFormat::PcapNg) => {
                Ok(CaptureReader::PcapNg(pcapng::PcapNgReader::new(data)?))
            }
            None => {
                let mut magic = [0u8; 4];
                let n = data.len().min(4);
                magic[..n].copy_from_slice(&data[..n]);
                if data.len() < 4 {
                    Err(CaptureError::truncated(0, "file magic", 4, data.len()))
                } else {
                    Err(CaptureError::new(0, CaptureErrorKind::UnknownMagic(magic)))
                }
            }
        }
    }

    /// The detected format.
    pub fn format(&self) -> CaptureFormat {
        match self {
            CaptureReader::Pcap(_) => CaptureFormat::Pcap,
            CaptureReader::PcapNg(_) => CaptureFormat::PcapNg,
        }
    }
}

impl<'a> Iterator for CaptureReader<'a> {
    type Item = Result<Frame<'a>, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            CaptureReader::Pcap(r) => r.next(),
            CaptureReader::PcapNg(r) => r.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_formats_and_rejects_others() {
        assert_eq!(
            CaptureFormat::detect(&[0xd4, 0xc3, 0xb2, 0xa1]),
            Some(CaptureFormat::Pcap)
        );
        assert_eq!(
            CaptureFormat::detect(&[0xa1, 0xb2, 0x3c, 0x4d]),
            Some(CaptureFormat::Pcap)
        );
        assert_eq!(
            CaptureFormat::detect(&[0x0a, 0x0d, 0x0d, 0x0a]),
            Some(CaptureFormat::PcapNg)
        );
        assert_eq!(CaptureFormat::detect(b"GIF8"), None);
        assert_eq!(CaptureFormat::detect(&[0xd4]), None);
        let err = CaptureReader::new(b"GIF89a").unwrap_err();
        assert_eq!(err.offset, 0);
        assert_eq!(err.kind, CaptureErrorKind::UnknownMagic(*b"GIF8"));
        let err = CaptureReader::new(b"ab").unwrap_err();
        assert!(matches!(
            err.kind,
            CaptureErrorKind::Truncated {
                needed: 4,
                available: 2,
                ..
            }
        ));
    }
}
