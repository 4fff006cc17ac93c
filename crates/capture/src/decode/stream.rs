//! The BGP messages of a capture, in the order their last bytes were captured: frames are
//! decoded to TCP segments, segments on the BGP port are reassembled per connection and
//! direction, and each direction is cut into messages. Nothing here parses message bodies.

use std::collections::{HashMap, VecDeque};

use crate::packet::{self, PacketError};
use crate::reassembly::{
    Connection, Direction, Reassembler, ReassemblyStats, StreamEvent, StreamId,
};
use crate::{CaptureError, CaptureReader};

use super::framing::{FramedMessage, FramerOutput, FramingError, MessageFramer};

/// What walking a capture yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamItem {
    /// A BGP connection was seen for the first time.
    Connection {
        /// Its id.
        stream: StreamId,
        /// Its ends.
        connection: Connection,
        /// First frame.
        frame: u64,
    },
    /// A direction's bytes start mid-connection (the capture missed its beginning).
    MidStream {
        /// Connection.
        stream: StreamId,
        /// Direction.
        direction: Direction,
        /// Frame of the first segment seen.
        frame: u64,
    },
    /// A complete message.
    Message {
        /// Connection.
        stream: StreamId,
        /// Direction.
        direction: Direction,
        /// The message and where it was captured.
        message: FramedMessage,
    },
    /// Bytes that could not be cut into messages (gap, bad header, truncated).
    Framing {
        /// Connection.
        stream: StreamId,
        /// Direction.
        direction: Direction,
        /// What and where.
        error: FramingError,
    },
    /// A frame on the BGP port that could not be decoded down to TCP.
    Packet {
        /// The frame.
        frame: u64,
        /// Why.
        error: PacketError,
    },
    /// The capture file itself is broken from here on.
    Capture(CaptureError),
}

/// Iterates over the BGP messages (and problems) of a capture.
#[derive(Debug)]
pub struct CaptureMessages<'a> {
    reader: CaptureReader<'a>,
    port: u16,
    reassembler: Reassembler,
    framers: HashMap<(StreamId, Direction), MessageFramer>,
    order: Vec<(StreamId, Direction)>,
    queue: VecDeque<StreamItem>,
    finished: bool,
    frames: u64,
}

impl<'a> CaptureMessages<'a> {
    /// Walks `reader`, taking TCP segments to or from `port`.
    pub fn new(reader: CaptureReader<'a>, port: u16) -> Self {
        CaptureMessages {
            reader,
            port,
            reassembler: Reassembler::new(port),
            framers: HashMap::new(),
            order: Vec::new(),
            queue: VecDeque::new(),
            finished: false,
            frames: 0,
        }
    }

    /// Frames read so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Retransmissions and gaps seen by the reassembler so far.
    pub fn reassembly_stats(&self) -> ReassemblyStats {
        self.reassembler.stats()
    }

    fn framer(&mut self, stream: StreamId, direction: Direction) -> &mut MessageFramer {
        let order = &mut self.order;
        self.framers.entry((stream, direction)).or_insert_with(|| {
            order.push((stream, direction));
            MessageFramer::new()
        })
    }

    fn collect_framer(&mut self, stream: StreamId, direction: Direction) {
        let Some(framer) = self.framers.get_mut(&(stream, direction)) else {
            return;
        };
        while let Some(out) = framer.poll_output() {
            self.queue.push_back(match out {
                FramerOutput::Message(message) => StreamItem::Message {
                    stream,
                    direction,
                    message,
                },
                FramerOutput::Error(error) => StreamItem::Framing {
                    stream,
                    direction,
                    error,
                },
            });
        }
    }

    fn pump_reassembler(&mut self) {
        while let Some(ev) = self.reassembler.poll_event() {
            match ev {
                StreamEvent::Opened {
                    stream,
                    connection,
                    frame,
                } => self.queue.push_back(StreamItem::Connection {
                    stream,
                    connection,
                    frame,
                }),
                StreamEvent::Data {
                    stream,
                    direction,
                    offset,
                    bytes,
                    frame,
                    timestamp,
                } => {
                    self.framer(stream, direction)
                        .handle_data(offset, &bytes, frame, timestamp);
                    self.collect_framer(stream, direction);
                }
                StreamEvent::Gap {
                    stream,
                    direction,
                    offset,
                    missing,
                    frame,
                } => {
                    if missing.is_none() {
                        self.queue.push_back(StreamItem::MidStream {
                            stream,
                            direction,
                            frame,
                        });
                    }
                    self.framer(stream, direction)
                        .handle_gap(offset, missing, frame);
                    self.collect_framer(stream, direction);
                }
            }
        }
    }

    /// Reads frames until something is queued or the capture ends.
    fn fill(&mut self) {
        while self.queue.is_empty() && !self.finished {
            match self.reader.next() {
                Some(Ok(frame)) => {
                    self.frames += 1;
                    match packet::decode_tcp(frame.link_type, frame.data) {
                        Ok(seg) => {
                            if seg.src.port() == self.port || seg.dst.port() == self.port {
                                self.reassembler.handle_segment(
                                    frame.number,
                                    frame.timestamp,
                                    &seg,
                                );
                                self.pump_reassembler();
                            }
                        }
                        Err(e) if e.is_benign() => {}
                        Err(e) => {
                            tracing::debug!(frame = frame.number, error = %e, "frame not decoded");
                            self.queue.push_back(StreamItem::Packet {
                                frame: frame.number,
                                error: e,
                            });
                        }
                    }
                }
                Some(Err(e)) => {
                    self.queue.push_back(StreamItem::Capture(e));
                }
                None => {
                    self.finished = true;
                    self.reassembler.handle_end();
                    self.pump_reassembler();
                    for (stream, direction) in self.order.clone() {
                        if let Some(f) = self.framers.get_mut(&(stream, direction)) {
                            f.handle_end();
                        }
                        self.collect_framer(stream, direction);
                    }
                }
            }
        }
    }
}

impl Iterator for CaptureMessages<'_> {
    type Item = StreamItem;

    fn next(&mut self) -> Option<StreamItem> {
        self.fill();
        self.queue.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::{build, TcpFlags};
    use crate::pcap::PcapWriter;
    use crate::pcapng::PcapNgWriter;
    use crate::{LinkType, Timestamp};
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn keepalive() -> Vec<u8> {
        let mut v = vec![0xff; 16];
        v.extend_from_slice(&[0, 19, 4]);
        v
    }

    fn messages(items: &[StreamItem]) -> Vec<(StreamId, Direction, u64, usize)> {
        items
            .iter()
            .filter_map(|i| match i {
                StreamItem::Message {
                    stream,
                    direction,
                    message,
                } => Some((*stream, *direction, message.frame, message.bytes.len())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn ipv6_sll2_capture_with_handshake() {
        let c = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 2);
        let s = Ipv6Addr::new(0x2001, 0xdb8, 2, 0, 0, 0, 0, 1);
        let mut w = PcapNgWriter::new(true);
        w.interface(LinkType::LINUX_SLL2, Some(9));
        let frame = |src, dst, sp, dp, seq, flags, payload: &[u8]| {
            build::link(
                LinkType::LINUX_SLL2,
                false,
                &build::ipv6(
                    src,
                    dst,
                    false,
                    &build::tcp(sp, dp, seq, flags, true, payload),
                ),
            )
        };
        let two = [keepalive(), keepalive()].concat();
        w.enhanced_packet(0, 1, &frame(c, s, 40000, 179, 10, TcpFlags::SYN, b""));
        w.enhanced_packet(
            0,
            2,
            &frame(s, c, 179, 40000, 90, TcpFlags::SYN | TcpFlags::ACK, b""),
        );
        w.enhanced_packet(0, 3, &frame(c, s, 40000, 179, 11, TcpFlags::ACK, &two));
        w.enhanced_packet(
            0,
            4,
            &frame(s, c, 179, 40000, 91, TcpFlags::ACK, &two[..10]),
        );
        w.enhanced_packet(
            0,
            5,
            &frame(s, c, 179, 40000, 101, TcpFlags::ACK, &two[10..]),
        );
        // Unrelated traffic on another port is ignored.
        w.enhanced_packet(0, 6, &frame(s, c, 22, 40001, 1, TcpFlags::ACK, &two));
        let file = w.finish();
        let items: Vec<_> = CaptureMessages::new(CaptureReader::new(&file).unwrap(), 179).collect();
        assert!(
            matches!(&items[0], StreamItem::Connection { stream: 0, connection, frame: 1 }
            if connection.initiator.port() == 40000)
        );
        assert_eq!(
            messages(&items),
            vec![
                (0, Direction::Forward, 3, 19),
                (0, Direction::Forward, 3, 19),
                (0, Direction::Reverse, 5, 19),
                (0, Direction::Reverse, 5, 19),
            ]
        );
        assert_eq!(items.len(), 5);
    }

    #[test]
    fn classic_pcap_mid_stream_and_truncated_file() {
        let a = Ipv4Addr::new(192, 0, 2, 1);
        let b = Ipv4Addr::new(192, 0, 2, 2);
        let mut w = PcapWriter::new(false, true, LinkType::ETHERNET);
        let mut payload = vec![0xab; 7];
        payload.extend(keepalive());
        let f = build::link(
            LinkType::ETHERNET,
            true,
            &build::ipv4(
                a,
                b,
                6,
                &build::tcp(179, 50000, 1000, TcpFlags::ACK, false, &payload),
            ),
        );
        w.record(Timestamp::new(10, 5), &f);
        let mut file = w.finish();
        file.extend_from_slice(&[1, 2, 3]); // a cut record header
        let items: Vec<_> = CaptureMessages::new(CaptureReader::new(&file).unwrap(), 179).collect();
        assert!(matches!(
            &items[1],
            StreamItem::MidStream {
                stream: 0,
                direction: Direction::Reverse,
                frame: 1
            }
        ));
        assert!(items
            .iter()
            .any(|i| matches!(i, StreamItem::Framing { .. })));
        assert_eq!(messages(&items), vec![(0, Direction::Reverse, 1, 19)]);
        assert!(matches!(items.last(), Some(StreamItem::Capture(_))));
    }
}
