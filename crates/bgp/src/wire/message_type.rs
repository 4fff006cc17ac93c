//! The BGP message types and the lengths a message may have (RFC 4271 §4, §4.1; RFC 2918
//! §3; RFC 8654 §4): plain facts every part of the codec names (the header, the errors, the
//! messages), kept apart so that none of them has to reach into another for them.

use std::fmt;

use serde::Serialize;

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
