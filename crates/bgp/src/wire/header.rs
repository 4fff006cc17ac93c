//! The BGP message header (RFC 4271 §4.1) and message size limits
//! (RFC 4271 §4, RFC 8654).

use bytes::{BufMut, BytesMut};

use super::error::{WireError, WireErrorKind};
// The message types and their lengths, at their old path (they live in `message_type`).
pub use super::message_type::{MessageType, HEADER_LEN, MAX_EXTENDED_MESSAGE_LEN, MAX_MESSAGE_LEN};

/// The 16-byte all-ones marker that starts every message (RFC 4271 §4.1).
pub const MARKER: [u8; 16] = [0xff; 16];
/// A message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header {
    /// Total message length including the header.
    pub length: u16,
    /// The message type.
    pub message_type: MessageType,
}

impl Header {
    /// Parses and checks a header at the front of `buf` (RFC 4271 §6.1):
    /// marker all ones, length within the type's bounds. Unknown types are
    /// returned as `MessageType::Unknown`, not rejected, so a decoder can
    /// show them; a session rejects them with [`WireErrorKind::BadMessageType`].
    pub fn parse(buf: &[u8], max_message_len: usize) -> Result<Header, WireError> {
        let Some(head) = buf.get(..HEADER_LEN) else {
            return Err(WireError {
                offset: 0,
                kind: WireErrorKind::Incomplete {
                    needed: HEADER_LEN,
                    available: buf.len(),
                },
            });
        };
        if head[..16] != MARKER {
            return Err(WireError {
                offset: 0,
                kind: WireErrorKind::ConnectionNotSynchronized,
            });
        }
        let length = u16::from_be_bytes([head[16], head[17]]);
        let message_type = MessageType::from_u8(head[18]);
        let len = usize::from(length);
        let (min, max) = (
            message_type.min_len(),
            message_type.max_len(max_message_len),
        );
        if len < min || len > max {
            return Err(WireError {
                offset: 16,
                kind: WireErrorKind::BadMessageLength {
                    message_type: head[18],
                    length,
                    min,
                    max,
                },
            });
        }
        Ok(Header {
            length,
            message_type,
        })
    }

    /// Writes the header.
    pub fn emit(&self, out: &mut BytesMut) {
        out.put_slice(&MARKER);
        out.put_u16(self.length);
        out.put_u8(self.message_type.to_u8());
    }
}

/// The total length of the message at the front of `buf` once its header is
/// buffered: `Ok(None)` while fewer than 19 bytes are buffered, otherwise the
/// checked length (RFC 4271 §6.1). A session framer reads until it has that
/// many bytes, then calls [`super::message::Message::parse`].
pub fn frame_length(buf: &[u8], max_message_len: usize) -> Result<Option<usize>, WireError> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    Header::parse(buf, max_message_len).map(|h| Some(usize::from(h.length)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(len: u16, ty: u8) -> Vec<u8> {
        let mut v = MARKER.to_vec();
        v.extend_from_slice(&len.to_be_bytes());
        v.push(ty);
        v
    }

    #[test]
    fn parses_a_keepalive_header() {
        let h = Header::parse(&hdr(19, 4), MAX_MESSAGE_LEN).unwrap();
        assert_eq!(h.length, 19);
        assert_eq!(h.message_type, MessageType::Keepalive);
        let mut out = BytesMut::new();
        h.emit(&mut out);
        assert_eq!(&out[..], &hdr(19, 4)[..]);
    }

    #[test]
    fn short_buffer_is_incomplete() {
        let e = Header::parse(&hdr(19, 4)[..10], MAX_MESSAGE_LEN).unwrap_err();
        assert!(e.is_incomplete());
        assert_eq!(frame_length(&hdr(19, 4)[..18], MAX_MESSAGE_LEN), Ok(None));
        assert_eq!(frame_length(&hdr(23, 2), MAX_MESSAGE_LEN), Ok(Some(23)));
    }

    #[test]
    fn bad_marker_is_connection_not_synchronized() {
        let mut b = hdr(19, 4);
        b[3] = 0;
        let e = Header::parse(&b, MAX_MESSAGE_LEN).unwrap_err();
        assert_eq!(e.kind, WireErrorKind::ConnectionNotSynchronized);
        let n = e.notification().unwrap();
        assert_eq!((n.code, n.subcode), (1, 1));
    }

    #[test]
    fn lengths_are_checked_per_type() {
        for (len, ty) in [
            (20u16, 4u8),
            (18, 4),
            (28, 1),
            (22, 2),
            (20, 3),
            (4097, 2),
            (5000, 1),
        ] {
            let e = Header::parse(&hdr(len, ty), MAX_MESSAGE_LEN).unwrap_err();
            assert_eq!(e.offset, 16);
            assert!(
                matches!(e.kind, WireErrorKind::BadMessageLength { length, .. } if length == len)
            );
            let n = e.notification().unwrap();
            assert_eq!((n.code, n.subcode), (1, 2));
            assert_eq!(&n.data[..], &len.to_be_bytes());
        }
        // RFC 8654: UPDATE may be larger, OPEN may not.
        assert!(Header::parse(&hdr(5000, 2), MAX_EXTENDED_MESSAGE_LEN).is_ok());
        assert!(Header::parse(&hdr(5000, 1), MAX_EXTENDED_MESSAGE_LEN).is_err());
    }
}
