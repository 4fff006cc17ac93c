//! The pcapng file format (draft-ietf-opsawg-pcapng): a sequence of blocks
//! `type(4) total_length(4) body total_length(4)`, grouped in sections, each section starting
//! with a Section Header Block that fixes the byte order.
//!
//! Read: Section Header (0x0A0D0D0A), Interface Description (1; link type, `if_tsresol` (9) and
//! `if_tsoffset` (14) options), Enhanced Packet (6), Simple Packet (3) and the obsolete Packet
//! block (2). Every other block type is skipped. Frames are numbered over all packet blocks of
//! the file, as Wireshark numbers them.

use super::{ByteOrder, CaptureError, CaptureErrorKind, Frame, LinkType, Timestamp};

/// The Section Header Block type; it is a palindrome so it reads the same in both byte orders.
pub const SECTION_HEADER_BLOCK_TYPE: u32 = 0x0a0d_0d0a;
/// The byte-order magic inside a section header.
pub const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
/// Interface Description Block type.
pub const INTERFACE_DESCRIPTION_BLOCK_TYPE: u32 = 1;
/// Obsolete Packet Block type.
pub const PACKET_BLOCK_TYPE: u32 = 2;
/// Simple Packet Block type.
pub const SIMPLE_PACKET_BLOCK_TYPE: u32 = 3;
/// Enhanced Packet Block type.
pub const ENHANCED_PACKET_BLOCK_TYPE: u32 = 6;

const OPT_END: u16 = 0;
const OPT_IF_TSRESOL: u16 = 9;
const OPT_IF_TSOFFSET: u16 = 14;

/// An interface as its description block defines it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interface {
    /// Link type of every packet captured on the interface.
    pub link_type: LinkType,
    /// Snapshot length (0 = unlimited).
    pub snap_len: u32,
    /// Timestamp unit: `if_tsresol` (default 6, i.e. microseconds).
    pub ts_resolution: u8,
    /// Seconds added to every timestamp: `if_tsoffset` (default 0).
    pub ts_offset: i64,
}

impl Interface {
    fn timestamp(&self, ticks: u64) -> Option<Timestamp> {
        let exp = u32::from(self.ts_resolution & 0x7f);
        let ts = if self.ts_resolution & 0x80 == 0 {
            Timestamp::from_decimal_ticks(ticks, exp)?
        } else {
            Timestamp::from_binary_ticks(ticks, exp)?
        };
        Some(ts.offset_by(self.ts_offset))
    }
}

/// Iterates over the packets of a pcapng file held in memory.
#[derive(Debug, Clone)]
pub struct PcapNgReader<'a> {
    data: &'a [u8],
    pos: usize,
    byte_order: Option<ByteOrder>,
    interfaces: Vec<Interface>,
    frame: u64,
    failed: bool,
}

/// One block's type, body and where it starts.
struct Block<'a> {
    offset: usize,
    block_type: u32,
    body: &'a [u8],
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
            byte_order: None,
            interfaces: Vec::new(),
            frame: 0,
            failed: false,
        })
    }

    /// The interfaces described so far in the current section.
    pub fn interfaces(&self) -> &[Interface] {
        &self.interfaces
    }

    /// Reads the next block's framing and advances past it.
    fn next_block(&mut self) -> Result<Block<'a>, CaptureError> {
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
        let raw_type: [u8; 4] = [rest[0], rest[1], rest[2], rest[3]];
        let block_type;
        let bo = if raw_type == SECTION_HEADER_BLOCK_TYPE.to_le_bytes() {
            // The byte order of a section, including its own header, comes from the magic
            // right after the length.
            let bom = ByteOrder::Little.u32(rest, 8).unwrap_or(0);
            let bo = if bom == BYTE_ORDER_MAGIC {
                ByteOrder::Little
            } else if bom == BYTE_ORDER_MAGIC.swap_bytes() {
                ByteOrder::Big
            } else {
                return Err(CaptureError::new(
                    offset + 8,
                    CaptureErrorKind::BadByteOrderMagic(bom),
                ));
            };
            self.byte_order = Some(bo);
            self.interfaces.clear();
            block_type = SECTION_HEADER_BLOCK_TYPE;
            bo
        } else {
            let Some(bo) = self.byte_order else {
                return Err(CaptureError::new(offset, CaptureErrorKind::NoSection));
            };
            block_type = bo.u32(rest, 0).unwrap_or(0);
            bo
        };
        let total = bo.u32(rest, 4).unwrap_or(0);
        let total_len = usize::try_from(total).unwrap_or(usize::MAX);
        if total_len < 12 || !total_len.is_multiple_of(4) {
            return Err(CaptureError::new(
                offset + 4,
                CaptureErrorKind::BadBlockLength(total),
            ));
        }
        let Some(block) = rest.get(..total_len) else {
            return Err(CaptureError::truncated(
                offset,
                "pcapng block",
                total_len,
                rest.len(),
            ));
        };
        let trailer = bo.u32(block, total_len - 4).unwrap_or(0);
        if trailer != total {
            return Err(CaptureError::new(
                offset + total_len - 4,
                CaptureErrorKind::BadBlockLength(trailer),
            ));
        }
        self.pos = offset + total_len;
        Ok(Block {
            offset,
            block_type,
            body: &block[8..total_len - 4],
        })
    }

    fn section_header(&mut self, b: &Block<'a>) -> Result<(), CaptureError> {
        let bo = self.byte_order.unwrap_or(ByteOrder::Little);
        // Body: byte-order magic (4), major (2), minor (2), section length (8), options.
        let (Some(major), Some(minor)) = (bo.u16(b.body, 4), bo.u16(b.body, 6)) else {
            return Err(CaptureError::truncated(
                b.offset,
                "pcapng section header",
                24,
                b.body.len() + 12,
            ));
        };
        if major != 1 {
            return Err(CaptureError::new(
                b.offset + 12,
                CaptureErrorKind::UnsupportedVersion { major, minor },
            ));
        }
        Ok(())
    }

    fn interface_description(&mut self, b: &Block<'a>) -> Result<(), CaptureError> {
        let bo = self.byte_order.unwrap_or(ByteOrder::Little);
        let (Some(link), Some(snap_len)) = (bo.u16(b.body, 0), bo.u32(b.body, 4)) else {
            return Err(CaptureError::truncated(
                b.offset,
                "pcapng interface description",
                20,
                b.body.len() + 12,
            ));
        };
        let mut iface = Interface {
            link_type: LinkType(link),
            snap_len,
            ts_resolution: 6,
            ts_offset: 0,
        };
        // Options: code (2), length (2), value padded to 4. A malformed option list ends the
        // options, it does not make the interface unusable.
        let mut at = 8;
        while let (Some(code), Some(len)) = (bo.u16(b.body, at), bo.u16(b.body, at + 2)) {
            if code == OPT_END {
                break;
            }
            let len = usize::from(len);
            let Some(value) = b.body.get(at + 4..at + 4 + len) else {
                break;
            };
            match code {
                OPT_IF_TSRESOL if len >= 1 => {
                    let res = value[0];
                    let exp = res & 0x7f;
                    let ok = if res & 0x80 == 0 { exp <= 19 } else { exp < 64 };
                    if !ok {
                        return Err(CaptureError::new(
                            b.offset + 8 + at,
                            CaptureErrorKind::UnsupportedTimestampResolution(res),
                        ));
                    }
                    iface.ts_resolution = res;
                }
                OPT_IF_TSOFFSET if len >= 8 => {
                    iface.ts_offset = bo.u64(value, 0).unwrap_or(0) as i64;
                }
                _ => {}
            }
            at += 4 + len.next_multiple_of(4);
        }
        self.interfaces.push(iface);
        Ok(())
    }

    fn interface(&self, b: &Block<'a>, id: u32) -> Result<Interface, CaptureError> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.interfaces.get(i))
            .copied()
            .ok_or_else(|| CaptureError::new(b.offset + 8, CaptureErrorKind::UnknownInterface(id)))
    }

    fn packet(
        &mut self,
        b: &Block<'a>,
        iface: Interface,
        ticks: Option<u64>,
        data_at: usize,
        captured: u32,
        original_len: u32,
    ) -> Result<Frame<'a>, CaptureError> {
        let room = b.body.len().saturating_sub(data_at);
        let Some(data) = usize::try_from(captured)
            .ok()
            .and_then(|n| b.body.get(data_at..data_at.checked_add(n)?))
        else {
            return Err(CaptureError::new(
                b.offset,
                CaptureErrorKind::CapturedLengthTooLarge { captured, room },
            ));
        };
        let timestamp = match ticks {
            Some(t) => iface.timestamp(t).unwrap_or_default(),
            None => Timestamp::default(),
        };
        self.frame += 1;
        Ok(Frame {
            number: self.frame,
            timestamp,
            link_type: iface.link_type,
            data,
            original_len,
        })
    }

    /// Reads blocks until the next packet (or the end, or an error).
    fn read_packet(&mut self) -> Option<Result<Frame<'a>, CaptureError>> {
        while self.pos < self.data.len() {
            let b = match self.next_block() {
                Ok(b) => b,
                Err(e) => return Some(Err(e)),
            };
            let bo = self.byte_order.unwrap_or(ByteOrder::Little);
            let short =
                |what, needed| CaptureError::truncated(b.offset, what, needed, b.body.len() + 12);
            let r = match b.block_type {
                SECTION_HEADER_BLOCK_TYPE => match self.section_header(&b) {
                    Ok(()) => continue,
                    Err(e) => Err(e),
                },
                INTERFACE_DESCRIPTION_BLOCK_TYPE => match self.interface_description(&b) {
                    Ok(()) => continue,
                    Err(e) => Err(e),
                },
                ENHANCED_PACKET_BLOCK_TYPE => {
                    let fields = (|| {
                        Some((
                            bo.u32(b.body, 0)?,
                            bo.u32(b.body, 4)?,
                            bo.u32(b.body, 8)?,
                            bo.u32(b.body, 12)?,
                            bo.u32(b.body, 16)?,
                        ))
                    })();
                    match fields {
                        None => Err(short("pcapng enhanced packet block", 32)),
                        Some((id, hi, lo, cap, orig)) => self.interface(&b, id).and_then(|iface| {
                            let ticks = (u64::from(hi) << 32) | u64::from(lo);
                            self.packet(&b, iface, Some(ticks), 20, cap, orig)
                        }),
                    }
                }
                PACKET_BLOCK_TYPE => {
                    let fields = (|| {
                        Some((
                            bo.u16(b.body, 0)?,
                            bo.u32(b.body, 4)?,
                            bo.u32(b.body, 8)?,
                            bo.u32(b.body, 12)?,
                            bo.u32(b.body, 16)?,
                        ))
                    })();
                    match fields {
                        None => Err(short("pcapng packet block", 32)),
                        Some((id, hi, lo, cap, orig)) => {
                            self.interface(&b, u32::from(id)).and_then(|iface| {
                                let ticks = (u64::from(hi) << 32) | u64::from(lo);
                                self.packet(&b, iface, Some(ticks), 20, cap, orig)
                            })
                        }
                    }
                }
                SIMPLE_PACKET_BLOCK_TYPE => match bo.u32(b.body, 0) {
                    None => Err(short("pcapng simple packet block", 16)),
                    Some(orig) => self.interface(&b, 0).and_then(|iface| {
                        // The captured length is implied: the original length, cut by the
                        // snap length and by the room in the block (which includes padding).
                        let room = b.body.len().saturating_sub(4);
                        let mut cap = orig.min(u32::try_from(room).unwrap_or(u32::MAX));
                        if iface.snap_len != 0 {
                            cap = cap.min(iface.snap_len);
                        }
                        self.packet(&b, iface, None, 4, cap, orig)
                    }),
                },
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
/// reader accepts.
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
