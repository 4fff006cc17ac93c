//! Cutting a BGP byte stream into messages, sans-IO: bytes go in as they
//! are read, whole frames (header checked, RFC 4271 §4.1) come out, and
//! whatever follows the last whole frame stays buffered. The reader task of
//! a connection drives it; a session handoff carries the buffered bytes
//! (read from the socket but not yet a whole message) to the next process,
//! which starts its buffer with them ([`FrameBuffer::with_unread`]).

use bytes::{Bytes, BytesMut};

use crate::wire::{frame_length, WireError};

/// Bytes read from a connection and not yet cut into frames.
#[derive(Debug, Default)]
pub struct FrameBuffer {
    buf: BytesMut,
}

impl FrameBuffer {
    /// An empty buffer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        FrameBuffer {
            buf: BytesMut::with_capacity(capacity),
        }
    }

    /// A buffer that starts with `unread` (bytes a previous reader had read
    /// but not framed).
    pub fn with_unread(unread: &[u8]) -> Self {
        let mut buf = BytesMut::with_capacity(unread.len().max(4096));
        buf.extend_from_slice(unread);
        FrameBuffer { buf }
    }

    /// Appends bytes read from the socket.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The buffer itself, for reading into it without a copy.
    pub fn buf_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }

    /// The next whole frame (header included), `None` until one is
    /// complete, or the header error of the next frame (bad marker, length
    /// over `max_len`, bad type): the stream cannot be cut any further.
    pub fn next_frame(&mut self, max_len: usize) -> Result<Option<Bytes>, WireError> {
        match frame_length(&self.buf, max_len)? {
            Some(n) if n <= self.buf.len() => Ok(Some(self.buf.split_to(n).freeze())),
            _ => Ok(None),
        }
    }

    /// Bytes buffered that do not make a whole frame yet.
    pub fn unread(&self) -> &[u8] {
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Message, WireContext, MAX_MESSAGE_LEN};

    #[test]
    fn frames_cut_at_any_point_come_out_whole_and_the_rest_stays() {
        let ka = Message::Keepalive
            .to_bytes(&WireContext::default())
            .unwrap();
        let mut stream = Vec::new();
        for _ in 0..3 {
            stream.extend_from_slice(&ka);
        }
        for cut in 0..=stream.len() {
            let mut fb = FrameBuffer::with_unread(&stream[..cut]);
            let mut n = 0;
            while let Some(f) = fb.next_frame(MAX_MESSAGE_LEN).unwrap() {
                assert_eq!(f, ka);
                n += 1;
            }
            assert_eq!(n, cut / ka.len());
            assert_eq!(fb.unread(), &stream[n * ka.len()..cut]);
            fb.push(&stream[cut..]);
            while fb.next_frame(MAX_MESSAGE_LEN).unwrap().is_some() {
                n += 1;
            }
            assert_eq!(n, 3);
            assert!(fb.unread().is_empty());
        }
    }

    #[test]
    fn a_bad_header_is_an_error() {
        let mut fb = FrameBuffer::with_unread(&[0u8; 19]);
        assert!(fb.next_frame(MAX_MESSAGE_LEN).is_err());
    }
}
