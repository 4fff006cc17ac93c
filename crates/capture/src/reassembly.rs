//! TCP stream reassembly, per connection and per direction (sans-IO).
//!
//! Segments go in with [`Reassembler::handle_segment`] in capture order; ordered events come out
//! of [`Reassembler::poll_event`]: a connection was seen, in-order data (each chunk tagged with
//! the frame that carried it), or a gap (bytes the capture never saw).
//!
//! Rules:
//! - A direction's byte stream starts after its SYN (RFC 9293 §3.4: the SYN consumes one
//!   sequence number). Without a SYN (capture started mid-connection) it starts at the first
//!   segment seen, and a [`StreamEvent::Gap`] with `missing: None` says so.
//! - Bytes already delivered are dropped (retransmissions, keepalive probes); a segment that
//!   overlaps delivered data is trimmed.
//! - Segments ahead of the next expected byte wait, bounded by [`MAX_PENDING_BYTES`] per
//!   direction; when that is exceeded or the capture ends with data still waiting, the hole is
//!   reported as a gap and delivery continues after it.
//! - Sequence numbers wrap (32 bits); offsets are 64-bit from the stream's start.
//! - A SYN (without ACK) with a new initial sequence number on a 4-tuple whose connection has
//!   already carried data starts a new connection (port reuse).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::SocketAddr;

use super::packet::TcpSegment;
use super::Timestamp;

/// Most out-of-order bytes held per direction before the hole is declared a gap.
pub const MAX_PENDING_BYTES: usize = 16 * 1024 * 1024;

/// Index of a connection in the order connections were first seen (0-based, like tshark's
/// `tcp.stream`).
pub type StreamId = u64;

/// Which way bytes flow, relative to the connection's initiator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// From the initiator (the side that sent the SYN) to the responder.
    Forward,
    /// From the responder back to the initiator.
    Reverse,
}

impl Direction {
    /// The other direction.
    pub fn opposite(self) -> Direction {
        match self {
            Direction::Forward => Direction::Reverse,
            Direction::Reverse => Direction::Forward,
        }
    }

    fn index(self) -> usize {
        match self {
            Direction::Forward => 0,
            Direction::Reverse => 1,
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Forward => "forward",
            Direction::Reverse => "reverse",
        })
    }
}

/// The two ends of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Connection {
    /// The side that opened the connection (sent the SYN), or, without a SYN in the capture, the
    /// side not using the well-known port.
    pub initiator: SocketAddr,
    /// The other side.
    pub responder: SocketAddr,
}

impl Connection {
    /// (sender, receiver) of bytes flowing in `direction`.
    pub fn endpoints(&self, direction: Direction) -> (SocketAddr, SocketAddr) {
        match direction {
            Direction::Forward => (self.initiator, self.responder),
            Direction::Reverse => (self.responder, self.initiator),
        }
    }
}

impl fmt::Display for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}->{}", self.initiator, self.responder)
    }
}

/// What the reassembler reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// A connection seen for the first time.
    Opened {
        /// Its id.
        stream: StreamId,
        /// Its ends.
        connection: Connection,
        /// The frame it was first seen in.
        frame: u64,
    },
    /// The next in-order bytes of one direction.
    Data {
        /// Connection.
        stream: StreamId,
        /// Direction.
        direction: Direction,
        /// Stream offset of `bytes[0]` (0 = first byte after the SYN).
        offset: u64,
        /// The bytes.
        bytes: Vec<u8>,
        /// The frame that carried them.
        frame: u64,
        /// That frame's timestamp.
        timestamp: Timestamp,
    },
    /// Bytes of one direction the capture does not have.
    Gap {
        /// Connection.
        stream: StreamId,
        /// Direction.
        direction: Direction,
        /// Stream offset where the missing bytes start.
        offset: u64,
        /// How many bytes are missing; `None` when the capture started after the connection did
        /// (the stream's beginning was never seen).
        missing: Option<u64>,
        /// The frame of the first segment after the gap.
        frame: u64,
    },
}

/// A segment held until the bytes before it arrive.
#[derive(Debug)]
struct Pending {
    bytes: Vec<u8>,
    frame: u64,
    timestamp: Timestamp,
}

#[derive(Debug, Default)]
struct Flow {
    /// Sequence number of stream offset 0.
    base: Option<u32>,
    /// Offset of the next byte to deliver.
    next: u64,
    /// Out-of-order segments by offset.
    pending: BTreeMap<u64, Pending>,
    pending_bytes: usize,
    /// Initial sequence number of the SYN, if seen.
    syn_isn: Option<u32>,
}

#[derive(Debug)]
struct ConnState {
    id: StreamId,
    connection: Connection,
    flows: [Flow; 2],
    carried_data: bool,
}

/// Counters for what the reassembler dropped or could not place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReassemblyStats {
    /// Segments whose bytes had all been delivered already.
    pub retransmitted_segments: u64,
    /// Bytes dropped as already delivered (whole or partial overlap).
    pub retransmitted_bytes: u64,
    /// Gaps reported.
    pub gaps: u64,
}

/// Reassembles every TCP connection of a capture.
#[derive(Debug)]
pub struct Reassembler {
    well_known_port: u16,
    connections: HashMap<(SocketAddr, SocketAddr), ConnState>,
    next_id: StreamId,
    events: VecDeque<StreamEvent>,
    stats: ReassemblyStats,
}

fn key(a: SocketAddr, b: SocketAddr) -> (SocketAddr, SocketAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

impl Reassembler {
    /// A reassembler; `well_known_port` (179 for BGP) decides which side initiated a connection
    /// whose SYN is not in the capture.
    pub fn new(well_known_port: u16) -> Self {
        Reassembler {
            well_known_port,
            connections: HashMap::new(),
            next_id: 0,
            events: VecDeque::new(),
            stats: ReassemblyStats::default(),
        }
    }

    /// What was dropped so far.
    pub fn stats(&self) -> ReassemblyStats {
        self.stats
    }

    /// Feeds one segment, captured in `frame` at `timestamp`.
    pub fn handle_segment(&mut self, frame: u64, timestamp: Timestamp, seg: &TcpSegment<'_>) {
        let k = key(seg.src, seg.dst);
        let fresh_syn = seg.flags.syn() && !seg.flags.ack();
        let restart = match self.connections.get(&k) {
            None => true,
            Some(c) => {
                fresh_syn
                    && c.carried_data
                    && c.flows[Self::direction_of(c, seg.src).index()].syn_isn != Some(seg.seq)
            }
        };
        if restart {
            let connection = if seg.flags.syn() {
                // SYN from the initiator, SYN-ACK from the responder.
                if seg.flags.ack() {
                    Connection {
                        initiator: seg.dst,
                        responder: seg.src,
                    }
                } else {
                    Connection {
                        initiator: seg.src,
                        responder: seg.dst,
                    }
                }
            } else if seg.src.port() == self.well_known_port
                && seg.dst.port() != self.well_known_port
            {
                Connection {
                    initiator: seg.dst,
                    responder: seg.src,
                }
            } else {
                Connection {
                    initiator: seg.src,
                    responder: seg.dst,
                }
            };
            let id = self.next_id;
            self.next_id += 1;
            tracing::debug!(stream = id, %connection, frame, "new TCP connection");
            self.events.push_back(StreamEvent::Opened {
                stream: id,
                connection,
                frame,
            });
            self.connections.insert(
                k,
                ConnState {
                    id,
                    connection,
                    flows: [Flow::default(), Flow::default()],
                    carried_data: false,
                },
            );
        }
        let Some(conn) = self.connections.get_mut(&k) else {
            return;
        };
        let direction = Self::direction_of(conn, seg.src);
        let stream = conn.id;
        let flow = &mut conn.flows[direction.index()];

        let data_seq = if seg.flags.syn() {
            flow.syn_isn = Some(seg.seq);
            seg.seq.wrapping_add(1)
        } else {
            seg.seq
        };
        if flow.base.is_none() && !seg.flags.syn() && seg.payload.is_empty() {
            // A bare ACK or RST before anything else says nothing about where the stream
            // starts (e.g. the RST answering a refused SYN).
            return;
        }
        let base = match flow.base {
            Some(b) => b,
            None => {
                flow.base = Some(data_seq);
                if !seg.flags.syn() {
                    self.events.push_back(StreamEvent::Gap {
                        stream,
                        direction,
                        offset: 0,
                        missing: None,
                        frame,
                    });
                }
                data_seq
            }
        };
        if seg.payload.is_empty() {
            return;
        }
        conn.carried_data = true;
        // Unwrap the 32-bit relative sequence number to the 64-bit offset closest to `next`.
        let rel = data_seq.wrapping_sub(base);
        let delta = rel.wrapping_sub(flow.next as u32) as i32;
        let Some(offset) = flow.next.checked_add_signed(i64::from(delta)) else {
            // Before the stream's start: a retransmission of something never delivered.
            self.stats.retransmitted_segments += 1;
            self.stats.retransmitted_bytes += seg.payload.len() as u64;
            return;
        };
        let events = &mut self.events;
        let stats = &mut self.stats;
        Self::accept(
            flow,
            stream,
            direction,
            offset,
            seg.payload,
            frame,
            timestamp,
            events,
            stats,
        );
    }

    fn direction_of(conn: &ConnState, src: SocketAddr) -> Direction {
        if src == conn.connection.initiator {
            Direction::Forward
        } else {
            Direction::Reverse
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn accept(
        flow: &mut Flow,
        stream: StreamId,
        direction: Direction,
        offset: u64,
        payload: &[u8],
        frame: u64,
        timestamp: Timestamp,
        events: &mut VecDeque<StreamEvent>,
        stats: &mut ReassemblyStats,
    ) {
        let end = offset + payload.len() as u64;
        if end <= flow.next {
            stats.retransmitted_segments += 1;
            stats.retransmitted_bytes += payload.len() as u64;
            return;
        }
        if offset > flow.next {
            let keep = match flow.pending.get(&offset) {
                Some(p) => p.bytes.len() < payload.len(),
                None => true,
            };
            if keep {
                if let Some(old) = flow.pending.insert(
                    offset,
                    Pending {
                        bytes: payload.to_vec(),
                        frame,
                        timestamp,
                    },
                ) {
                    flow.pending_bytes -= old.bytes.len();
                }
                flow.pending_bytes += payload.len();
            }
            if flow.pending_bytes > MAX_PENDING_BYTES {
                Self::skip_gap(flow, stream, direction, events, stats);
            }
            return;
        }
        let skip = (flow.next - offset) as usize;
        if skip > 0 {
            stats.retransmitted_bytes += skip as u64;
        }
        Self::deliver(
            flow,
            stream,
            direction,
            &payload[skip..],
            frame,
            timestamp,
            events,
        );
        Self::drain(flow, stream, direction, events, stats);
    }

    fn deliver(
        flow: &mut Flow,
        stream: StreamId,
        direction: Direction,
        bytes: &[u8],
        frame: u64,
        timestamp: Timestamp,
        events: &mut VecDeque<StreamEvent>,
    ) {
        events.push_back(StreamEvent::Data {
            stream,
            direction,
            offset: flow.next,
            bytes: bytes.to_vec(),
            frame,
            timestamp,
        });
        flow.next += bytes.len() as u64;
    }

    /// Delivers waiting segments that have become contiguous.
    fn drain(
        flow: &mut Flow,
        stream: StreamId,
        direction: Direction,
        events: &mut VecDeque<StreamEvent>,
        stats: &mut ReassemblyStats,
    ) {
        while let Some(entry) = flow.pending.first_entry() {
            let offset = *entry.key();
            if offset > flow.next {
                break;
            }
            let p = entry.remove();
            flow.pending_bytes -= p.bytes.len();
            let end = offset + p.bytes.len() as u64;
            if end <= flow.next {
                stats.retransmitted_segments += 1;
                stats.retransmitted_bytes += p.bytes.len() as u64;
                continue;
            }
            let skip = (flow.next - offset) as usize;
            stats.retransmitted_bytes += skip as u64;
            Self::deliver(
                flow,
                stream,
                direction,
                &p.bytes[skip..],
                p.frame,
                p.timestamp,
                events,
            );
        }
    }

    /// Declares the hole before the first waiting segment lost and continues after it.
    fn skip_gap(
        flow: &mut Flow,
        stream: StreamId,
        direction: Direction,
        events: &mut VecDeque<StreamEvent>,
        stats: &mut ReassemblyStats,
    ) {
        let Some((&offset, p)) = flow.pending.first_key_value() else {
            return;
        };
        stats.gaps += 1;
        tracing::debug!(stream, %direction, offset = flow.next, missing = offset - flow.next, "TCP gap");
        events.push_back(StreamEvent::Gap {
            stream,
            direction,
            offset: flow.next,
            missing: Some(offset - flow.next),
            frame: p.frame,
        });
        flow.next = offset;
        Self::drain(flow, stream, direction, events, stats);
    }

    /// The capture ended: every hole still open is reported as a gap and the data after it is
    /// delivered.
    pub fn handle_end(&mut self) {
        let mut conns: Vec<&mut ConnState> = self.connections.values_mut().collect();
        conns.sort_by_key(|c| c.id);
        for conn in conns {
            for direction in [Direction::Forward, Direction::Reverse] {
                let flow = &mut conn.flows[direction.index()];
                while !flow.pending.is_empty() {
                    Self::skip_gap(flow, conn.id, direction, &mut self.events, &mut self.stats);
                }
            }
        }
    }

    /// The next event, in the order they happened.
    pub fn poll_event(&mut self) -> Option<StreamEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::super::packet::TcpFlags;
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    struct Script {
        r: Reassembler,
        frame: u64,
    }

    impl Script {
        fn new() -> Self {
            Script {
                r: Reassembler::new(179),
                frame: 0,
            }
        }

        fn seg(&mut self, src: &str, dst: &str, seq: u32, flags: u8, payload: &[u8]) {
            self.frame += 1;
            let seg = TcpSegment {
                src: addr(src),
                dst: addr(dst),
                seq,
                flags: TcpFlags(flags),
                payload,
            };
            self.r
                .handle_segment(self.frame, Timestamp::new(self.frame as i64, 0), &seg);
        }

        fn events(&mut self) -> Vec<StreamEvent> {
            std::iter::from_fn(|| self.r.poll_event()).collect()
        }

        /// Concatenated data per (stream, direction), and the frame of each chunk.
        fn data(
            events: &[StreamEvent],
            stream: StreamId,
            direction: Direction,
        ) -> (Vec<u8>, Vec<u64>) {
            let mut v = Vec::new();
            let mut frames = Vec::new();
            for e in events {
                if let StreamEvent::Data {
                    stream: s,
                    direction: d,
                    bytes,
                    frame,
                    offset,
                    ..
                } = e
                {
                    if *s == stream && *d == direction {
                        assert_eq!(*offset, v.len() as u64);
                        v.extend_from_slice(bytes);
                        frames.push(*frame);
                    }
                }
            }
            (v, frames)
        }
    }

    const C: &str = "192.0.2.2:53777";
    const S: &str = "192.0.2.1:179";
    const SYN: u8 = TcpFlags::SYN;
    const SYNACK: u8 = TcpFlags::SYN | TcpFlags::ACK;
    const ACK: u8 = TcpFlags::ACK;

    #[test]
    fn in_order_both_directions() {
        let mut s = Script::new();
        s.seg(C, S, 100, SYN, b"");
        s.seg(S, C, 5000, SYNACK, b"");
        s.seg(C, S, 101, ACK, b"hello ");
        s.seg(S, C, 5001, ACK, b"HI");
        s.seg(C, S, 107, ACK, b"world");
        let ev = s.events();
        assert_eq!(
            ev[0],
            StreamEvent::Opened {
                stream: 0,
                connection: Connection {
                    initiator: addr(C),
                    responder: addr(S)
                },
                frame: 1
            }
        );
        assert_eq!(
            Script::data(&ev, 0, Direction::Forward),
            (b"hello world".to_vec(), vec![3, 5])
        );
        assert_eq!(
            Script::data(&ev, 0, Direction::Reverse),
            (b"HI".to_vec(), vec![4])
        );
        assert!(!ev.iter().any(|e| matches!(e, StreamEvent::Gap { .. })));
    }

    #[test]
    fn retransmissions_dropped_and_overlaps_trimmed() {
        let mut s = Script::new();
        s.seg(C, S, 100, SYN, b"");
        s.seg(C, S, 101, ACK, b"abcd");
        s.seg(C, S, 101, ACK, b"abcd"); // full retransmission
        s.seg(C, S, 103, ACK, b"cdef"); // overlap
        s.seg(C, S, 106, ACK, b""); // pure ACK
        s.seg(C, S, 106, ACK, b"f"); // keepalive probe style (1 old byte)
        let ev = s.events();
        assert_eq!(
            Script::data(&ev, 0, Direction::Forward),
            (b"abcdef".to_vec(), vec![2, 4])
        );
        assert_eq!(s.r.stats().retransmitted_segments, 2);
        assert_eq!(s.r.stats().retransmitted_bytes, 4 + 2 + 1);
    }

    #[test]
    fn out_of_order_is_reordered() {
        let mut s = Script::new();
        s.seg(C, S, 100, SYN, b"");
        s.seg(C, S, 105, ACK, b"56789");
        s.seg(C, S, 110, ACK, b"ab");
        s.seg(C, S, 101, ACK, b"1234");
        let ev = s.events();
        // The frame of each chunk is the frame that carried it.
        assert_eq!(
            Script::data(&ev, 0, Direction::Forward),
            (b"123456789ab".to_vec(), vec![4, 2, 3])
        );
    }

    #[test]
    fn gaps_are_reported_at_the_end() {
        let mut s = Script::new();
        s.seg(C, S, 100, SYN, b"");
        s.seg(C, S, 101, ACK, b"ab");
        s.seg(C, S, 110, ACK, b"xyz");
        assert_eq!(s.events().len(), 2); // Opened, Data "ab"
        s.r.handle_end();
        let ev = s.events();
        assert_eq!(
            ev[0],
            StreamEvent::Gap {
                stream: 0,
                direction: Direction::Forward,
                offset: 2,
                missing: Some(7),
                frame: 3
            }
        );
        assert!(
            matches!(&ev[1], StreamEvent::Data { offset: 9, bytes, frame: 3, .. } if bytes == b"xyz")
        );
        assert_eq!(s.r.stats().gaps, 1);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut s = Script::new();
        s.seg(C, S, u32::MAX - 2, SYN, b"");
        s.seg(C, S, u32::MAX - 1, ACK, b"ab");
        s.seg(C, S, 0, ACK, b"cd"); // wrapped
        s.seg(C, S, 2, ACK, b"ef");
        let ev = s.events();
        assert_eq!(
            Script::data(&ev, 0, Direction::Forward).0,
            b"abcdef".to_vec()
        );
    }

    #[test]
    fn mid_stream_capture_starts_with_unknown_gap() {
        let mut s = Script::new();
        // First segment comes from the BGP port: the other side is taken as the initiator.
        s.seg(S, C, 7777, ACK, b"data");
        let ev = s.events();
        assert!(
            matches!(&ev[0], StreamEvent::Opened { connection, .. } if connection.initiator == addr(C))
        );
        assert_eq!(
            ev[1],
            StreamEvent::Gap {
                stream: 0,
                direction: Direction::Reverse,
                offset: 0,
                missing: None,
                frame: 1
            }
        );
        assert_eq!(Script::data(&ev, 0, Direction::Reverse).0, b"data".to_vec());
    }

    #[test]
    fn refused_connection_is_not_mid_stream() {
        let mut s = Script::new();
        s.seg(C, S, 100, SYN, b"");
        s.seg(S, C, 0, TcpFlags::RST | ACK, b"");
        let ev = s.events();
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert!(matches!(ev[0], StreamEvent::Opened { .. }));
    }

    #[test]
    fn port_reuse_starts_a_new_connection() {
        let mut s = Script::new();
        s.seg(C, S, 100, SYN, b"");
        s.seg(C, S, 100, SYN, b""); // SYN retransmission: same connection
        s.seg(C, S, 101, ACK, b"one");
        s.seg(C, S, 9000, SYN, b"");
        s.seg(C, S, 9001, ACK, b"two");
        let ev = s.events();
        let opened: Vec<_> = ev
            .iter()
            .filter(|e| matches!(e, StreamEvent::Opened { .. }))
            .collect();
        assert_eq!(opened.len(), 2);
        assert_eq!(Script::data(&ev, 0, Direction::Forward).0, b"one".to_vec());
        assert_eq!(Script::data(&ev, 1, Direction::Forward).0, b"two".to_vec());
    }

    proptest::proptest! {
        /// Any permutation of segments, with duplicates, reassembles to the original stream.
        #[test]
        fn any_order_reassembles(
            cuts in proptest::collection::vec(1usize..40, 1..20),
            order in proptest::collection::vec(proptest::num::usize::ANY, 1..40),
            isn in proptest::num::u32::ANY,
        ) {
            let total: usize = cuts.iter().sum();
            let stream: Vec<u8> = (0..total).map(|i| (i * 7 % 251) as u8).collect();
            let mut segs = Vec::new();
            let mut at = 0;
            for c in &cuts {
                segs.push((at, &stream[at..at + c]));
                at += c;
            }
            let mut s = Script::new();
            s.seg(C, S, isn, SYN, b"");
            let mut sent = vec![false; segs.len()];
            for o in &order {
                let i = o % segs.len();
                sent[i] = true;
                let (off, bytes) = segs[i];
                s.seg(C, S, isn.wrapping_add(1).wrapping_add(off as u32), ACK, bytes);
            }
            for (i, (off, bytes)) in segs.iter().enumerate() {
                if !sent[i] {
                    s.seg(C, S, isn.wrapping_add(1).wrapping_add(*off as u32), ACK, bytes);
                }
            }
            s.r.handle_end();
            let ev = s.events();
            proptest::prop_assert_eq!(Script::data(&ev, 0, Direction::Forward).0, stream);
            let gaps = ev.iter().filter(|e| matches!(e, StreamEvent::Gap { .. })).count();
            proptest::prop_assert_eq!(gaps, 0);
        }
    }
}
