//! The BGP message header (RFC 4271 §4.1) and message size limits
//! (RFC 4271 §4, RFC 8654).

use std::fmt;

use bytes::{BufMut, BytesMut};
use serde::Serialize;

use super::error::{WireError, WireErrorKind};

/// The 16-byte all-ones marker that starts every message (RFC 4271 §4.1).
pub const MARKER: [u8; 16] = [0xff; 16];
/// Length of the header: marker, length, type.
pub const HEADER_LEN: usize = 19;
/// Maximum message size without extended messages (RFC 4271 §4).
pub const MAX_MESSAGE_LEN: usize = 4096;
/// Maximum message size with extended messages negotiated (RFC 8654 §4).
/// OPEN and KEEPALIVE stay limited to 4096 (RFC 8654 §4).
pub const MAX_EXTENDED_MESSAGE_LEN: usize = 65535;

/// A message type (RFC 4271 §4.1, RFC 2918 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum MessageType {
    /// 1: OPEN.
    Open,
    /// 2: UPDATE.
    Update,
    /// 3: NOTIFICATION.
    Notification,
    /// 4: KEEPALIVE.
    Keepalive,
    /// 5: ROUTE-REFRESH (RFC 2918).
    RouteRefresh,
    /// Any other type.
    Unknown(u8),
}

impl MessageType {
    /// Decodes a type byte.
    pub fn from_u8(v: u8) -> Self {
        match v {
            1 => MessageType::Open,
            2 => MessageType::Update,
            3 => MessageType::Notification,
            4 => MessageType::Keepalive,
            5 => MessageType::RouteRefresh,
            other => MessageType::Unknown(other),
        }
    }

    /// Encodes to the type byte.
    pub fn to_u8(self) -> u8 {
        match self {
            MessageType::Open => 1,
            MessageType::Update => 2,
            MessageType::Notification => 3,
            MessageType::Keepalive => 4,
            MessageType::RouteRefresh => 5,
            MessageType::Unknown(v) => v,
        }
    }

    /// Smallest valid total length (header included) for this type
    /// (RFC 4271 §4.2-§4.5, RFC 2918 §3).
    pub fn min_len(self) -> usize {
        match self {
            MessageType::Open => 29,
            MessageType::Update => 23,
            MessageType::Notification => 21,
            MessageType::Keepalive => HEADER_LEN,
            MessageType::RouteRefresh => 23,
            MessageType::Unknown(_) => HEADER_LEN,
        }
    }

    /// Largest valid total length for this type: KEEPALIVE is exactly 19
    /// (RFC 4271 §4.4); OPEN stays at 4096 even with extended messages
    /// (RFC 8654 §4); the others are limited by `max_message_len`.
    pub fn max_len(self, max_message_len: usize) -> usize {
        match self {
            MessageType::Keepalive => HEADER_LEN,
            MessageType::Open => MAX_MESSAGE_LEN,
            _ => max_message_len,
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MessageType::Open => f.write_str("OPEN"),
            MessageType::Update => f.write_str("UPDATE"),
            MessageType::Notification => f.write_str("NOTIFICATION"),
            MessageType::Keepalive => f.write_str("KEEPALIVE"),
            MessageType::RouteRefresh => f.write_str("ROUTE-REFRESH"),
            MessageType::Unknown(v) => write!(f, "type {v}"),
        }
    }
}

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
