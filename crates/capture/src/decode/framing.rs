//! Splitting one direction's byte stream into BGP messages (RFC 4271 §4.1: a 16-octet marker of
//! all ones, a 2-octet length counting the whole message, a 1-octet type).
//!
//! The framer only looks at the header; the codec parses the body. It remembers which frame
//! carried each byte so a message is attributed to the frame carrying its last byte (where tshark
//! shows it). After a gap, or when a header is not a header, it drops what it holds and
//! re-synchronises on the next plausible header (marker, length 19..=65535, type 1..=5).

use std::collections::VecDeque;

use bytes::Bytes;

use crate::Timestamp;

/// Length of the BGP header.
pub const HEADER_LEN: usize = 19;
/// The 16-octet marker.
pub const MARKER: [u8; 16] = [0xff; 16];

/// One complete message cut out of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramedMessage {
    /// The whole message, header included.
    pub bytes: Bytes,
    /// Stream offset of its first byte.
    pub offset: u64,
    /// The frame that carried its first byte.
    pub first_frame: u64,
    /// The frame that carried its last byte.
    pub frame: u64,
    /// The timestamp of that last frame.
    pub timestamp: Timestamp,
}

/// Why bytes of a stream were not delivered as messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FramingErrorKind {
    /// Where a header should start, the 16 octets are not all ones.
    #[error("marker is not 16 octets of 0xff")]
    BadMarker,
    /// The header's length field is below the 19-octet minimum (RFC 4271 §4.1).
    #[error("header length {0} is below the 19-octet minimum")]
    BadLength(u16),
    /// A gap in the TCP stream cut a message short: its first bytes were dropped.
    #[error("TCP gap: {missing} bytes never captured; {dropped} buffered bytes of a cut message dropped")]
    Gap {
        /// Bytes missing from the capture.
        missing: u64,
        /// Bytes held for the message the gap cut.
        dropped: usize,
    },
    /// Bytes skipped while looking for the next header after losing synchronisation.
    #[error("skipped {0} bytes to the next BGP header")]
    Skipped(u64),
    /// The stream ended inside a message.
    #[error("stream ends inside a message: {have} of {need} bytes")]
    Truncated {
        /// Bytes present.
        have: usize,
        /// Bytes the header announced (or 19 when the header itself is cut).
        need: usize,
    },
}

/// A framing problem at a stream offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramingError {
    /// Stream offset where the problem starts.
    pub offset: u64,
    /// The frame carrying the byte at that offset (or the frame after a gap).
    pub frame: u64,
    /// What was wrong.
    pub kind: FramingErrorKind,
}

/// What the framer produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FramerOutput {
    /// A complete message.
    Message(FramedMessage),
    /// Bytes that could not be framed.
    Error(FramingError),
}

#[derive(Debug, Clone, Copy)]
struct Chunk {
    /// Stream offset one past the chunk's last byte.
    end: u64,
    frame: u64,
    timestamp: Timestamp,
}

/// Frames one direction of one connection (sans-IO: bytes in with `handle_*`, messages out with
/// [`MessageFramer::poll_output`]).
#[derive(Debug, Default)]
pub struct MessageFramer {
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    base: u64,
    chunks: VecDeque<Chunk>,
    /// False after a gap or a bad header, until a plausible header is found.
    lost_sync: bool,
    /// Bytes skipped since synchronisation was lost.
    skipped: u64,
    /// Where the skipped bytes started.
    skipped_from: Option<(u64, u64)>,
    out: VecDeque<FramerOutput>,
}

fn plausible_header(b: &[u8]) -> bool {
    b.len() >= HEADER_LEN
        && b[..16] == MARKER
        && u16::from_be_bytes([b[16], b[17]]) >= HEADER_LEN as u16
        && (1..=5).contains(&b[18])
}

impl MessageFramer {
    /// A framer for a stream whose first byte starts a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes at stream `offset` (which must follow the previous bytes, or a gap).
    pub fn handle_data(&mut self, offset: u64, bytes: &[u8], frame: u64, timestamp: Timestamp) {
        if self.buf.is_empty() {
            self.base = offset;
        }
        self.buf.extend_from_slice(bytes);
        self.chunks.push_back(Chunk {
            end: offset + bytes.len() as u64,
            frame,
            timestamp,
        });
        self.run();
    }

    /// Reports missing bytes before stream `offset + missing`; `missing: None` means the stream
    /// started before the capture did. Whatever partial message is held is dropped and framing
    /// re-synchronises on the next header.
    pub fn handle_gap(&mut self, offset: u64, missing: Option<u64>, frame: u64) {
        let dropped = self.buf.len();
        if let Some(missing) = missing {
            self.out.push_back(FramerOutput::Error(FramingError {
                offset,
                frame,
                kind: FramingErrorKind::Gap { missing, dropped },
            }));
        }
        self.flush_skipped();
        self.buf.clear();
        self.chunks.clear();
        self.base = offset + missing.unwrap_or(0);
        self.lost_sync = true;
    }

    /// The stream ended: reports any bytes held as a truncated message.
    pub fn handle_end(&mut self) {
        self.run();
        self.flush_skipped();
        if !self.buf.is_empty() {
            let need = if self.buf.len() >= HEADER_LEN {
                usize::from(u16::from_be_bytes([self.buf[16], self.buf[17]]))
            } else {
                HEADER_LEN
            };
            let frame = self.frame_at(self.base);
            self.out.push_back(FramerOutput::Error(FramingError {
                offset: self.base,
                frame,
                kind: FramingErrorKind::Truncated {
                    have: self.buf.len(),
                    need,
                },
            }));
            self.buf.clear();
            self.chunks.clear();
        }
    }

    /// The next message or error.
    pub fn poll_output(&mut self) -> Option<FramerOutput> {
        self.out.pop_front()
    }

    /// The frame that carried the byte at stream `offset` (the last known frame if beyond).
    fn frame_at(&self, offset: u64) -> u64 {
        self.chunks
            .iter()
            .find(|c| c.end > offset)
            .or(self.chunks.back())
            .map_or(0, |c| c.frame)
    }

    fn chunk_at(&self, offset: u64) -> Option<Chunk> {
        self.chunks.iter().find(|c| c.end > offset).copied()
    }

    /// Drops `n` bytes from the front of the buffer.
    fn consume(&mut self, n: usize) {
        self.buf.drain(..n);
        self.base += n as u64;
        while self.chunks.front().is_some_and(|c| c.end <= self.base) {
            self.chunks.pop_front();
        }
    }

    fn flush_skipped(&mut self) {
        if let Some((offset, frame)) = self.skipped_from.take() {
            self.out.push_back(FramerOutput::Error(FramingError {
                offset,
                frame,
                kind: FramingErrorKind::Skipped(self.skipped),
            }));
            self.skipped = 0;
        }
    }

    fn skip(&mut self, n: usize) {
        if self.skipped_from.is_none() {
            self.skipped_from = Some((self.base, self.frame_at(self.base)));
        }
        self.skipped += n as u64;
        self.consume(n);
    }

    fn run(&mut self) {
        loop {
            if self.lost_sync {
                // Look for a plausible header; keep the last 18 bytes in case one straddles
                // the next chunk.
                let found = (0..self.buf.len()).find(|&i| {
                    let rest = &self.buf[i..];
                    if rest.len() >= HEADER_LEN {
                        plausible_header(rest)
                    } else {
                        // Too short to judge: keep it if it could be the start of a marker.
                        rest[..rest.len().min(16)].iter().all(|&b| b == 0xff)
                    }
                });
                match found {
                    Some(i) => {
                        if i > 0 {
                            self.skip(i);
                        }
                        if self.buf.len() < HEADER_LEN {
                            return;
                        }
                        self.flush_skipped();
                        self.lost_sync = false;
                    }
                    None => {
                        let n = self.buf.len();
                        if n > 0 {
                            self.skip(n);
                        }
                        return;
                    }
                }
            }
            if self.buf.len() < HEADER_LEN {
                return;
            }
            let frame = self.frame_at(self.base);
            if self.buf[..16] != MARKER {
                self.out.push_back(FramerOutput::Error(FramingError {
                    offset: self.base,
                    frame,
                    kind: FramingErrorKind::BadMarker,
                }));
                self.lost_sync = true;
                continue;
            }
            let length = u16::from_be_bytes([self.buf[16], self.buf[17]]);
            if usize::from(length) < HEADER_LEN {
                self.out.push_back(FramerOutput::Error(FramingError {
                    offset: self.base,
                    frame,
                    kind: FramingErrorKind::BadLength(length),
                }));
                self.lost_sync = true;
                self.skip(1);
                continue;
            }
            let length = usize::from(length);
            if self.buf.len() < length {
                return;
            }
            let last = self.base + length as u64 - 1;
            let (frame, timestamp) = self
                .chunk_at(last)
                .map_or((frame, Timestamp::default()), |c| (c.frame, c.timestamp));
            let msg = FramedMessage {
                bytes: Bytes::copy_from_slice(&self.buf[..length]),
                offset: self.base,
                first_frame: self.frame_at(self.base),
                frame,
                timestamp,
            };
            self.consume(length);
            self.out.push_back(FramerOutput::Message(msg));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keepalive() -> Vec<u8> {
        let mut v = MARKER.to_vec();
        v.extend_from_slice(&[0, 19, 4]);
        v
    }

    fn message(body: &[u8], ty: u8) -> Vec<u8> {
        let mut v = MARKER.to_vec();
        v.extend_from_slice(&u16::try_from(19 + body.len()).unwrap().to_be_bytes());
        v.push(ty);
        v.extend_from_slice(body);
        v
    }

    fn drain(f: &mut MessageFramer) -> Vec<FramerOutput> {
        std::iter::from_fn(|| f.poll_output()).collect()
    }

    fn ts(n: u64) -> Timestamp {
        Timestamp::new(n as i64, 0)
    }

    #[test]
    fn splits_and_attributes_frames() {
        let mut stream = keepalive();
        stream.extend(message(&[1, 2, 3, 4, 5], 2));
        stream.extend(keepalive());
        let mut f = MessageFramer::new();
        // Frame 1: the first keepalive and 10 bytes of the update; frame 2: the rest.
        f.handle_data(0, &stream[..29], 1, ts(1));
        f.handle_data(29, &stream[29..], 2, ts(2));
        f.handle_end();
        let out = drain(&mut f);
        assert_eq!(out.len(), 3);
        let FramerOutput::Message(m) = &out[1] else {
            panic!("{out:?}")
        };
        assert_eq!(m.bytes.len(), 24);
        assert_eq!(
            (m.offset, m.first_frame, m.frame, m.timestamp),
            (19, 1, 2, ts(2))
        );
        let FramerOutput::Message(m) = &out[2] else {
            panic!()
        };
        assert_eq!((m.offset, m.frame), (43, 2));
    }

    #[test]
    fn byte_by_byte_feeding() {
        let mut stream = message(&[9; 40], 2);
        stream.extend(keepalive());
        let mut f = MessageFramer::new();
        for (i, b) in stream.iter().enumerate() {
            f.handle_data(i as u64, &[*b], i as u64 + 1, ts(0));
        }
        let out = drain(&mut f);
        assert_eq!(out.len(), 2);
        assert!(matches!(&out[0], FramerOutput::Message(m) if m.first_frame == 1 && m.frame == 59));
        assert!(matches!(&out[1], FramerOutput::Message(m) if m.frame == 78));
    }

    #[test]
    fn bad_marker_resyncs() {
        let mut stream = b"garbage!".to_vec();
        stream.extend(keepalive());
        let mut f = MessageFramer::new();
        f.handle_data(0, &stream, 7, ts(0));
        let out = drain(&mut f);
        assert_eq!(
            out[0],
            FramerOutput::Error(FramingError {
                offset: 0,
                frame: 7,
                kind: FramingErrorKind::BadMarker
            })
        );
        assert_eq!(
            out[1],
            FramerOutput::Error(FramingError {
                offset: 0,
                frame: 7,
                kind: FramingErrorKind::Skipped(8)
            })
        );
        assert!(matches!(&out[2], FramerOutput::Message(m) if m.offset == 8));
    }

    #[test]
    fn short_length_is_an_error() {
        let mut bad = MARKER.to_vec();
        bad.extend_from_slice(&[0, 18, 4]);
        bad.extend(keepalive());
        let mut f = MessageFramer::new();
        f.handle_data(0, &bad, 1, ts(0));
        let out = drain(&mut f);
        assert_eq!(
            out[0],
            FramerOutput::Error(FramingError {
                offset: 0,
                frame: 1,
                kind: FramingErrorKind::BadLength(18)
            })
        );
        assert!(matches!(out.last(), Some(FramerOutput::Message(m)) if m.offset == 19));
    }

    #[test]
    fn gap_drops_partial_message_and_resyncs() {
        let upd = message(&[7; 30], 2);
        let mut f = MessageFramer::new();
        f.handle_data(0, &upd[..25], 1, ts(0));
        // 10 bytes lost, then the rest of the update and a keepalive.
        f.handle_gap(25, Some(10), 3);
        let mut rest = upd[35..].to_vec();
        rest.extend(keepalive());
        f.handle_data(35, &rest, 3, ts(0));
        let out = drain(&mut f);
        assert_eq!(
            out[0],
            FramerOutput::Error(FramingError {
                offset: 25,
                frame: 3,
                kind: FramingErrorKind::Gap {
                    missing: 10,
                    dropped: 25
                }
            })
        );
        assert_eq!(
            out[1],
            FramerOutput::Error(FramingError {
                offset: 35,
                frame: 3,
                kind: FramingErrorKind::Skipped(14)
            })
        );
        assert!(
            matches!(&out[2], FramerOutput::Message(m) if m.offset == 49 && m.bytes.len() == 19)
        );
    }

    #[test]
    fn mid_stream_start_resyncs_without_an_error() {
        let mut stream = vec![0xff; 5]; // tail of a marker-looking field
        stream.extend_from_slice(&[1, 2, 3]);
        stream.extend(keepalive());
        let mut f = MessageFramer::new();
        f.handle_gap(0, None, 1);
        f.handle_data(0, &stream, 1, ts(0));
        let out = drain(&mut f);
        assert_eq!(out.len(), 2);
        assert!(matches!(
            &out[0],
            FramerOutput::Error(FramingError {
                kind: FramingErrorKind::Skipped(8),
                ..
            })
        ));
        assert!(matches!(&out[1], FramerOutput::Message(m) if m.offset == 8));
    }

    #[test]
    fn truncated_at_end() {
        let upd = message(&[7; 30], 2);
        let mut f = MessageFramer::new();
        f.handle_data(0, &upd[..20], 4, ts(0));
        f.handle_end();
        assert_eq!(
            drain(&mut f),
            vec![FramerOutput::Error(FramingError {
                offset: 0,
                frame: 4,
                kind: FramingErrorKind::Truncated { have: 20, need: 49 }
            })]
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_conserves_bytes(chunks in proptest::collection::vec(
            proptest::collection::vec(proptest::sample::select(vec![0u8, 1, 2, 4, 19, 0xff]), 0..60), 0..20)) {
            let mut f = MessageFramer::new();
            let mut off = 0u64;
            for (i, c) in chunks.iter().enumerate() {
                f.handle_data(off, c, i as u64, ts(0));
                off += c.len() as u64;
            }
            f.handle_end();
            let mut seen = 0u64;
            for o in drain(&mut f) {
                match o {
                    FramerOutput::Message(m) => seen += m.bytes.len() as u64,
                    FramerOutput::Error(FramingError { kind: FramingErrorKind::Skipped(n), .. }) => seen += n,
                    FramerOutput::Error(FramingError { kind: FramingErrorKind::Truncated { have, .. }, .. }) => seen += have as u64,
                    FramerOutput::Error(_) => {}
                }
            }
            // Every byte is accounted for exactly once: a message, skipped, or truncated.
            proptest::prop_assert_eq!(seen, off);
        }
    }
}
