//! The pcapng file format (draft-ietf-opsawg-pcapng): a sequence of blocks
//! `type(4) total_length(4) body total_length(4)`, grouped in sections, each section starting
//! with a Section Header Block that fixes the byte order.
//!
//! Blocks are parsed by `pcap-parser` (rusticata). We chose it over `pcap-file` because it is
//! maintained (0.17, nom 8, which the workspace already uses), zero-copy on a file held in memory,
//! reads every pcapng variant we need (multiple sections of either byte order, interface
//! options), and its parsers are total: bad input is a `nom` error, never a panic (our `pcap`
//! fuzz target holds both crates to that). `pcap-file`'s last stable release is 2.0, and its 3.0
//! rewrite is still a release candidate that needs Rust 1.93 (our MSRV is 1.89).
//!
//! What stays here, because `pcap-parser` does not do it: the block framing check (it verifies
//! the trailing length on some block types only and reports errors without a position, while our
//! errors name the byte offset where a file breaks); `if_tsoffset` in big-endian sections (it
//! reads it little-endian); tick-to-time conversion for every `if_tsresol` (its helper rejects
//! binary resolutions and truncates to 32-bit seconds); and the obsolete Packet Block (type 2),
//! which it leaves unparsed. Frames are numbered over all packet blocks of the file, as
//! Wireshark numbers them.

use pcap_parser::pcapng::{parse_block_be, parse_block_le, Block, OptionCode};
use pcap_parser::PcapError;

use super::{CaptureError, CaptureErrorKind, Frame, LinkType, Timestamp};

/// The Section Header Block type; it is a palindrome so it reads the same in both byte orders.
pub const SECTION_HEADER_BLOCK_TYPE: u32 = pcap_parser::pcapng::SHB_MAGIC;
/// The byte-order magic inside a section header.
pub const BYTE_ORDER_MAGIC: u32 = pcap_parser::pcapng::BOM_MAGIC;
/// Interface Description Block type.
pub const INTERFACE_DESCRIPTION_BLOCK_TYPE: u32 = pcap_parser::pcapng::IDB_MAGIC;
/// Obsolete Packet Block type.
pub const PACKET_BLOCK_TYPE: u32 = 2;
/// Simple Packet Block type.
pub const SIMPLE_PACKET_BLOCK_TYPE: u32 = pcap_parser::pcapng::SPB_MAGIC;
/// Enhanced Packet Block type.
pub const ENHANCED_PACKET_BLOCK_TYPE: u32 = pcap_parser::pcapng::EPB_MAGIC;

const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = OptionCode::IfTsresol.0;
#[cfg(test)]
const OPT_IF_TSOFFSET: u16 = OptionCode::IfTsoffset.0;

/// An interface as its description block defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface {
    /// Link type of every packet captured on the interface.
    pub link_type: LinkType,
    /// Snapshot length (0 = unlimited).
    pub snap_len: u32,
    /// Timestamp unit: `if_tsresol` (default 6, i.e. microseconds); high bit set means a power
    /// of two, clear a power of ten.
    pub ts_resolution: u8,
    /// Seconds added to every timestamp: `if_tsoffset` (default 0).
    pub ts_offset: i64,
}

impl Interface {
    /// Converts a tick count in this interface's unit to a time. `None` for a resolution no u64
    /// tick count can carry (checked when the interface is read).
    fn timestamp(&self, ticks: u64) -> Option<Timestamp> {
        let exp = u32::from(self.ts_resolution & 0x7f);
        let (secs, nanos) = if self.ts_resolution & 0x80 == 0 {
            let unit = 10u64.checked_pow(exp)?;
            let frac = u128::from(ticks % unit);
            (ticks / unit, frac * 1_000_000_000 / u128::from(unit))
        } else {
            let unit = 1u64.checked_shl(exp)?;
            let frac = u128::from(ticks & (unit - 1));
            (ticks >> exp, (frac * 1_000_000_000) >> exp)
        };
        let secs = i64::try_from(secs).unwrap_or(i64::MAX);
        // nanos < 10^9: the fraction of a second scaled to nanoseconds.
        Some(Timestamp::new(
            secs.saturating_add(self.ts_offset),
            nanos as u64,
        ))
    }
}

/// Reads an integer of `N` bytes at `at` in the section's byte order.
fn int_at<const N: usize>(b: &[u8], at: usize, big_endian: bool) -> Option<[u8; N]> {
    let mut a: [u8; N] = b.get(at..at.checked_add(N)?)?.try_into().ok()?;
    if !big_endian {
        a.reverse();
    }
    Some(a)
}

fn u32_at(b: &[u8], at: usize, big_endian: bool) -> Option<u32> {
    int_at(b, at, big_endian).map(u32::from_be_bytes)
}

/// Iterates over the packets of a pcapng file held in memory.
#[derive(Debug, Clone)]
pub struct PcapNgReader<'a> {
    data: &'a [u8],
    pos: usize,
    /// The current section's byte order (`None` before the first section header).
    big_endian: Option<bool>,
    interfaces: Vec<Interface>,
    frame: u64,
    failed: bool,
}

/// One whole block: where it starts, its type and its bytes (header and trailer included).
struct RawBlock<'a> {
    offset: usize,
    block_type: u32,
    bytes: &'a [u8],
}

impl<'a> PcapNgReader<'a> {
    /// Checks that the file starts with a section header block.
    pub fn new(data: &'a [u8]) -> Result<Self, CaptureError> {
        let Some(first) = data.get(..4) else {
            return Err(CaptureError::truncated(
                0,
                "pcapng block type",
                4,
                data.len(),
            ));
        };
        if first != SECTION_HEADER_BLOCK_TYPE.to_le_bytes() {
            return Err(CaptureError::new(0, CaptureErrorKind::NoSection));
        }
        Ok(PcapNgReader {
            data,
            pos: 0,
            big_endian: None,
            interfaces: Vec::new(),
            frame: 0,
            failed: false,
        })
    }

    /// The interfaces described so far in the current section.
    pub fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    /// Checks the next block's framing (byte order, length, trailer) and advances past it.
    fn next_block(&mut self) -> Result<RawBlock<'a>, CaptureError> {
        let offset = self.pos;
        let rest = self.data.get(offset..).unwrap_or(&[]);
        if rest.len() < 12 {
            return Err(CaptureError::truncated(
                offset,
                "pcapng block header",
                12,
                rest.len(),
            ));
        }
        let is_section = rest[..4] == SECTION_HEADER_BLOCK_TYPE.to_le_bytes();
        let be = if is_section {
            // The byte order of a section, including its own header, comes from the magic
            // right after the length.
            match u32_at(rest, 8, false) {
                Some(BYTE_ORDER_MAGIC) => false,
                Some(m) if m == BYTE_ORDER_MAGIC.swap_bytes() => true,
                m => {
                    return Err(CaptureError::new(
                        offset + 8,
                        CaptureErrorKind::BadByteOrderMagic(m.unwrap_or(0)),
                    ))
                }
            }
        } else {
            self.big_endian
                .ok_or(CaptureError::new(offset, CaptureErrorKind::NoSection))?
        };
        let total = u32_at(rest, 4, be).unwrap_or(0);
        let len = usize::try_from(total).unwrap_or(usize::MAX);
        if len < 12 || !len.is_multiple_of(4) {
            return Err(CaptureError::new(
                offset + 4,
                CaptureErrorKind::BadBlockLength(total),
            ));
        }
        let Some(bytes) = rest.get(..len) else {
            return Err(CaptureError::truncated(
                offset,
                "pcapng block",
                len,
                rest.len(),
            ));
        };
        let trailer = u32_at(bytes, len - 4, be).unwrap_or(0);
        if trailer != total {
            return Err(CaptureError::new(
                offset + len - 4,
                CaptureErrorKind::BadBlockLength(trailer),
            ));
        }
        if is_section {
            self.big_endian = Some(be);
            self.interfaces.clear();
        }
        self.pos = offset + len;
        Ok(RawBlock {
            offset,
            block_type: u32_at(bytes, 0, be).unwrap_or(0),
            bytes,
        })
    }

    /// The error for a block `pcap-parser` refused, at the byte where it stopped if it says.
    fn malformed(&self, b: &RawBlock<'a>, e: nom::Err<PcapError<&'a [u8]>>) -> CaptureError {
        let at = match &e {
            nom::Err::Error(PcapError::NomError(rest, _))
            | nom::Err::Failure(PcapError::NomError(rest, _)) => {
                (rest.as_ptr() as usize).saturating_sub(self.data.as_ptr() as usize)
            }
            _ => b.offset,
        };
        let reason = match e {
            nom::Err::Incomplete(_) => "a length inside the block runs past its end".to_string(),
            nom::Err::Error(e) | nom::Err::Failure(e) => e.to_string(),
        };
        CaptureError::new(
            at.clamp(b.offset, b.offset + b.bytes.len()),
            CaptureErrorKind::MalformedBlock {
                block_type: b.block_type,
                reason,
            },
        )
    }

    fn interface_description(
        &mut self,
        b: &RawBlock<'a>,
        idb: &pcap_parser::pcapng::InterfaceDescriptionBlock<'a>,
    ) -> Result<(), CaptureError> {
        let res = idb.if_tsresol;
        let exp = res & 0x7f;
        if (res & 0x80 == 0 && exp > 19) || exp >= 64 {
            return Err(CaptureError::new(
                b.offset,
                CaptureErrorKind::UnsupportedTimestampResolution(res),
            ));
        }
        // `idb.if_tsoffset` is read little-endian whatever the section's byte order.
        let be = self.big_endian.unwrap_or(false);
        let ts_offset = idb
            .options
            .iter()
            .find(|o| o.code == OptionCode::IfTsoffset)
            .and_then(|o| int_at(o.value(), 0, be))
            .map_or(0, i64::from_be_bytes);
        self.interfaces.push(Interface {
            link_type: LinkType(idb.linktype.0 as u16),
            snap_len: idb.snaplen,
            ts_resolution: res,
            ts_offset,
        });
        Ok(())
    }

    fn interface(&self, b: &RawBlock<'a>, id: u32) -> Result<Interface, CaptureError> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.interfaces.get(i))
            .copied()
            .ok_or_else(|| CaptureError::new(b.offset + 8, CaptureErrorKind::UnknownInterface(id)))
    }

    fn frame(
        &mut self,
        iface: Interface,
        ticks: Option<u64>,
        data: &'a [u8],
        original_len: u32,
    ) -> Frame<'a> {
        self.frame += 1;
        Frame {
            number: self.frame,
            timestamp: ticks.and_then(|t| iface.timestamp(t)).unwrap_or_default(),
            link_type: iface.link_type,
            data,
            original_len,
        }
    }

    /// The obsolete Packet Block, which `pcap-parser` leaves unparsed: interface id (2),
    /// drops (2), timestamp high (4) and low (4), captured length (4), original length (4).
    fn obsolete_packet(&mut self, b: &RawBlock<'a>) -> Result<Frame<'a>, CaptureError> {
        let be = self.big_endian.unwrap_or(false);
        let body = &b.bytes[8..b.bytes.len() - 4];
        let field = |at| u32_at(body, at, be);
        let (Some(id), Some(hi), Some(lo), Some(captured), Some(orig)) = (
            int_at(body, 0, be).map(u16::from_be_bytes),
            field(4),
            field(8),
            field(12),
            field(16),
        ) else {
            return Err(CaptureError::truncated(
                b.offset,
                "pcapng packet block",
                32,
                b.bytes.len(),
            ));
        };
        let iface = self.interface(b, u32::from(id))?;
        let room = body.len() - 20;
        let Some(data) = usize::try_from(captured)
            .ok()
            .and_then(|n| body.get(20..20usize.checked_add(n)?))
        else {
            return Err(CaptureError::new(
                b.offset,
                CaptureErrorKind::CapturedLengthTooLarge { captured, room },
            ));
        };
        let ticks = (u64::from(hi) << 32) | u64::from(lo);
        Ok(self.frame(iface, Some(ticks), data, orig))
    }

    /// Reads blocks until the next packet (or the end, or an error).
    fn read_packet(&mut self) -> Option<Result<Frame<'a>, CaptureError>> {
        while self.pos < self.data.len() {
            let b = match self.next_block() {
                Ok(b) => b,
                Err(e) => return Some(Err(e)),
            };
            match b.block_type {
                PACKET_BLOCK_TYPE => return Some(self.obsolete_packet(&b)),
                SECTION_HEADER_BLOCK_TYPE
                | INTERFACE_DESCRIPTION_BLOCK_TYPE
                | ENHANCED_PACKET_BLOCK_TYPE
                | SIMPLE_PACKET_BLOCK_TYPE => {}
                // Statistics, name resolution, custom blocks...: not needed, not parsed, so a
                // broken one costs nothing.
                _ => continue,
            }
            let parsed = if self.big_endian == Some(true) {
                parse_block_be(b.bytes)
            } else {
                parse_block_le(b.bytes)
            };
            let block = match parsed {
                Ok((_, block)) => block,
                Err(e) => return Some(Err(self.malformed(&b, e))),
            };
            let r = match block {
                Block::SectionHeader(shb) if shb.major_version != 1 => Err(CaptureError::new(
                    b.offset + 12,
                    CaptureErrorKind::UnsupportedVersion {
                        major: shb.major_version,
                        minor: shb.minor_version,
                    },
                )),
                Block::InterfaceDescription(idb) => match self.interface_description(&b, &idb) {
                    Ok(()) => continue,
                    Err(e) => Err(e),
                },
                Block::EnhancedPacket(epb) => self.interface(&b, epb.if_id).map(|iface| {
                    let ticks = (u64::from(epb.ts_high) << 32) | u64::from(epb.ts_low);
                    // `data` is padded to 4 bytes and holds at least `caplen` of them.
                    let data = epb.data.get(..epb.caplen as usize).unwrap_or(epb.data);
                    self.frame(iface, Some(ticks), data, epb.origlen)
                }),
                Block::SimplePacket(spb) => self.interface(&b, 0).map(|iface| {
                    // The captured length is implied: the original length, cut by the snap
                    // length and by the room in the block (which includes padding).
                    let mut cap = spb.origlen;
                    if iface.snap_len != 0 {
                        cap = cap.min(iface.snap_len);
                    }
                    let data = spb.data.get(..cap as usize).unwrap_or(spb.data);
                    self.frame(iface, None, data, spb.origlen)
                }),
                _ => continue,
            };
            return Some(r);
        }
        None
    }
}

impl<'a> Iterator for PcapNgReader<'a> {
    type Item = Result<Frame<'a>, CaptureError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let r = self.read_packet()?;
        self.failed = r.is_err();
        Some(r)
    }
}

/// Writes pcapng files (one section); used by tests to produce captures in the variants the
/// reader accepts. (`pcap-parser`'s writer, feature `serialize`, writes little-endian only.)
#[derive(Debug, Clone)]
pub struct PcapNgWriter {
    big_endian: bool,
    out: Vec<u8>,
}

impl PcapNgWriter {
    /// Starts a section in the given byte order.
    pub fn new(big_endian: bool) -> Self {
        let mut w = PcapNgWriter {
            big_endian,
            out: Vec::new(),
        };
        let mut body = Vec::new();
        w.push32(&mut body, BYTE_ORDER_MAGIC);
        w.push16(&mut body, 1);
        w.push16(&mut body, 0);
        body.extend_from_slice(&u64::MAX.to_le_bytes());
        w.block(SECTION_HEADER_BLOCK_TYPE, &body);
        w
    }

    fn push16(&self, v: &mut Vec<u8>, x: u16) {
        v.extend_from_slice(&if self.big_endian {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        });
    }

    fn push32(&self, v: &mut Vec<u8>, x: u32) {
        v.extend_from_slice(&if self.big_endian {
            x.to_be_bytes()
        } else {
            x.to_le_bytes()
        });
    }

    /// Appends a raw block with the given type and body (padded to 4 bytes).
    pub fn block(&mut self, block_type: u32, body: &[u8]) {
        let padded = body.len().next_multiple_of(4);
        let total = u32::try_from(padded + 12).unwrap_or(u32::MAX);
        let mut b = Vec::with_capacity(padded + 12);
        self.push32(&mut b, block_type);
        self.push32(&mut b, total);
        b.extend_from_slice(body);
        b.resize(8 + padded, 0);
        self.push32(&mut b, total);
        self.out.extend_from_slice(&b);
    }

    /// Appends an interface description with an optional `if_tsresol` option.
    pub fn interface(&mut self, link_type: LinkType, ts_resolution: Option<u8>) {
        let mut body = Vec::new();
        self.push16(&mut body, link_type.0);
        self.push16(&mut body, 0);
        self.push32(&mut body, 0);
        if let Some(res) = ts_resolution {
            self.push16(&mut body, OPT_IF_TSRESOL);
            self.push16(&mut body, 1);
            body.extend_from_slice(&[res, 0, 0, 0]);
            self.push16(&mut body, OPT_END);
            self.push16(&mut body, 0);
        }
        self.block(INTERFACE_DESCRIPTION_BLOCK_TYPE, &body);
    }

    /// Appends an enhanced packet block with a raw tick count.
    pub fn enhanced_packet(&mut self, interface: u32, ticks: u64, data: &[u8]) {
        let mut body = Vec::new();
        self.push32(&mut body, interface);
        self.push32(&mut body, (ticks >> 32) as u32);
        self.push32(&mut body, ticks as u32);
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.push32(&mut body, len);
        self.push32(&mut body, len);
        body.extend_from_slice(data);
        self.block(ENHANCED_PACKET_BLOCK_TYPE, &body);
    }

    /// Appends a simple packet block (no timestamp, interface 0).
    pub fn simple_packet(&mut self, data: &[u8]) {
        let mut body = Vec::new();
        let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
        self.push32(&mut body, len);
        body.extend_from_slice(data);
        self.block(SIMPLE_PACKET_BLOCK_TYPE, &body);
    }

    /// The file's bytes.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(big_endian: bool) -> Vec<u8> {
        let mut w = PcapNgWriter::new(big_endian);
        w.interface(LinkType::ETHERNET, None);
        w.interface(LinkType::LINUX_SLL2, Some(9));
        w.block(5, &[1, 2, 3, 4]); // interface statistics: skipped
        w.enhanced_packet(0, 1_700_000_000_250_000, b"first");
        w.enhanced_packet(1, 1_700_000_000_000_000_007, b"second!");
        w.simple_packet(b"third");
        w.finish()
    }

    #[test]
    fn reads_both_byte_orders() {
        for be in [false, true] {
            let file = sample(be);
            let frames: Vec<_> = PcapNgReader::new(&file)
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(frames.len(), 3);
            assert_eq!((frames[0].number, frames[0].data), (1, &b"first"[..]));
            assert_eq!(frames[0].link_type, LinkType::ETHERNET);
            assert_eq!(
                frames[0].timestamp,
                Timestamp::new(1_700_000_000, 250_000_000)
            );
            assert_eq!((frames[1].number, frames[1].data), (2, &b"second!"[..]));
            assert_eq!(frames[1].link_type, LinkType::LINUX_SLL2);
            assert_eq!(frames[1].timestamp, Timestamp::new(1_700_000_000, 7));
            assert_eq!(frames[2].data, b"third");
            assert_eq!(frames[2].link_type, LinkType::ETHERNET);
        }
    }

    #[test]
    fn binary_resolution_and_offset() {
        let mut w = PcapNgWriter::new(false);
        let mut body = Vec::new();
        body.extend_from_slice(&101u16.to_le_bytes());
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        body.extend_from_slice(&OPT_IF_TSRESOL.to_le_bytes());
        body.extend_from_slice(&1u16.to_le_bytes());
        body.extend_from_slice(&[0x80 | 10, 0, 0, 0]);
        body.extend_from_slice(&OPT_IF_TSOFFSET.to_le_bytes());
        body.extend_from_slice(&8u16.to_le_bytes());
        body.extend_from_slice(&100i64.to_le_bytes());
        w.block(INTERFACE_DESCRIPTION_BLOCK_TYPE, &body);
        w.enhanced_packet(0, (5 << 10) | 256, b"x");
        let file = w.finish();
        let f = PcapNgReader::new(&file).unwrap().next().unwrap().unwrap();
        assert_eq!(f.link_type, LinkType::RAW);
        assert_eq!(f.timestamp, Timestamp::new(105, 250_000_000));
    }

    #[test]
    fn converts_ticks_at_every_resolution() {
        let at = |ts_resolution, ts_offset, ticks| {
            Interface {
                link_type: LinkType::RAW,
                snap_len: 0,
                ts_resolution,
                ts_offset,
            }
            .timestamp(ticks)
        };
        assert_eq!(at(6, 0, 1_500_000), Some(Timestamp::new(1, 500_000_000)));
        assert_eq!(at(9, 0, 1_000_000_007), Some(Timestamp::new(1, 7)));
        assert_eq!(
            at(12, 0, 12_345_678_901_234),
            Some(Timestamp::new(12, 345_678_901))
        );
        assert_eq!(at(0, -10, 5), Some(Timestamp::new(-5, 0)));
        assert_eq!(at(20, 0, 5), None);
        assert_eq!(
            at(0x80 | 10, 0, 3 << 10 | 512),
            Some(Timestamp::new(3, 500_000_000))
        );
        assert_eq!(at(0x80 | 63, 0, u64::MAX).map(|t| t.secs), Some(1));
        assert_eq!(at(0x80 | 64, 0, 1), None);
        assert_eq!(at(19, i64::MAX, u64::MAX).map(|t| t.secs), Some(i64::MAX));
    }

    #[test]
    fn big_endian_offset_and_bad_resolution() {
        let mut w = PcapNgWriter::new(true);
        let mut body = Vec::new();
        body.extend_from_slice(&101u16.to_be_bytes());
        body.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
        body.extend_from_slice(&OPT_IF_TSOFFSET.to_be_bytes());
        body.extend_from_slice(&8u16.to_be_bytes());
        body.extend_from_slice(&(-100i64).to_be_bytes());
        w.block(INTERFACE_DESCRIPTION_BLOCK_TYPE, &body);
        w.enhanced_packet(0, 1_000_000_000, b"x");
        w.interface(LinkType::RAW, Some(20));
        let file = w.finish();
        let mut r = PcapNgReader::new(&file).unwrap();
        let f = r.next().unwrap().unwrap();
        assert_eq!(f.timestamp, Timestamp::new(900, 0));
        let err = r.next().unwrap().unwrap_err();
        assert_eq!(
            err.kind,
            CaptureErrorKind::UnsupportedTimestampResolution(20)
        );
        assert!(r.next().is_none());
    }

    #[test]
    fn obsolete_packet_block() {
        let mut w = PcapNgWriter::new(false);
        w.interface(LinkType::ETHERNET, None);
        let mut body = vec![0, 0, 0, 0];
        body.extend_from_slice(&0u32.to_le_bytes());
        body.extend_from_slice(&2_000_000u32.to_le_bytes());
        body.extend_from_slice(&3u32.to_le_bytes());
        body.extend_from_slice(&60u32.to_le_bytes());
        body.extend_from_slice(b"abc");
        w.block(PACKET_BLOCK_TYPE, &body);
        let file = w.finish();
        let f = PcapNgReader::new(&file).unwrap().next().unwrap().unwrap();
        assert_eq!((f.data, f.original_len), (&b"abc"[..], 60));
        assert_eq!(f.timestamp, Timestamp::new(2, 0));
    }

    #[test]
    fn malformed_block_contents_name_the_block() {
        // An enhanced packet whose captured length runs past its block.
        let mut w = PcapNgWriter::new(false);
        w.interface(LinkType::ETHERNET, None);
        let mut body = Vec::new();
        for v in [0u32, 0, 0, 500, 500] {
            body.extend_from_slice(&v.to_le_bytes());
        }
        w.block(ENHANCED_PACKET_BLOCK_TYPE, &body);
        let file = w.finish();
        let err = PcapNgReader::new(&file)
            .unwrap()
            .next()
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(
                err.kind,
                CaptureErrorKind::MalformedBlock { block_type: 6, .. }
            ),
            "{err}"
        );
        assert!(err.offset >= 28 + 20, "{err}");
    }

    #[test]
    fn errors_carry_offsets() {
        let file = sample(false);
        // Unknown interface.
        let mut w = PcapNgWriter::new(false);
        w.enhanced_packet(3, 0, b"x");
        let f = w.finish();
        let err = PcapNgReader::new(&f).unwrap().next().unwrap().unwrap_err();
        assert_eq!(err.kind, CaptureErrorKind::UnknownInterface(3));
        assert_eq!(err.offset, 28 + 8);

        // A trailer length that disagrees.
        let mut bad = file.clone();
        bad[24] ^= 0xff; // SHB (28 bytes) trailing length at offset 24
        let err = PcapNgReader::new(&bad)
            .unwrap()
            .next()
            .unwrap()
            .unwrap_err();
        assert_eq!(err.offset, 24);
        assert!(matches!(err.kind, CaptureErrorKind::BadBlockLength(_)));

        // Truncated file: every frame before the cut is still delivered.
        let cut = file.len() - 5;
        let results: Vec<_> = PcapNgReader::new(&file[..cut]).unwrap().collect();
        assert_eq!(results.len(), 3);
        assert!(results[0].is_ok() && results[1].is_ok());
        assert!(matches!(
            results[2].as_ref().unwrap_err().kind,
            CaptureErrorKind::Truncated { .. }
        ));

        // Bad byte-order magic.
        let mut bad = file.clone();
        bad[8] = 0;
        let err = PcapNgReader::new(&bad)
            .unwrap()
            .next()
            .unwrap()
            .unwrap_err();
        assert_eq!(err.offset, 8);
        assert!(matches!(err.kind, CaptureErrorKind::BadByteOrderMagic(_)));

        assert_eq!(
            PcapNgReader::new(b"\x01\x00\x00\x00").unwrap_err().kind,
            CaptureErrorKind::NoSection
        );
    }
}
