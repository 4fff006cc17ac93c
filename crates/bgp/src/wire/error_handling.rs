//! What is done about a codec error: the NOTIFICATION RFC 4271 §6 requires for
//! a [`WireError`] that ends the session, and the RFC 7606 §2 error-handling
//! approaches for path attribute errors that do not.
//!
//! Kept apart from [`super::error`] (what went wrong) and
//! [`super::notification`] (the NOTIFICATION message), which both stand below
//! it: the NOTIFICATION parser reports [`WireError`]s, and the answer to a
//! `WireError` is a [`Notification`].

use bytes::Bytes;
use serde::Serialize;

use super::error::{NlriField, WireError, WireErrorKind};
use super::message_type::MessageType;
use super::notification::{
    ErrorCode, MessageHeaderSubcode, Notification, OpenSubcode, RouteRefreshSubcode, UpdateSubcode,
};

impl WireError {
    /// The NOTIFICATION RFC 4271 §6 (and RFC 4760 §7, RFC 7313 §5, RFC 7606)
    /// requires in answer to this error, or `None` when none is to be sent
    /// (incomplete input, or an error in a received NOTIFICATION, RFC 4271 §6.4).
    pub fn notification(&self) -> Option<Notification> {
        use UpdateSubcode as U;
        let n = match &self.kind {
            WireErrorKind::Incomplete { .. } => return None,
            WireErrorKind::ConnectionNotSynchronized => Notification::new(
                ErrorCode::MessageHeader(MessageHeaderSubcode::ConnectionNotSynchronized),
                Bytes::new(),
            ),
            WireErrorKind::BadMessageLength { length, .. } => Notification::new(
                ErrorCode::MessageHeader(MessageHeaderSubcode::BadMessageLength),
                Bytes::copy_from_slice(&length.to_be_bytes()),
            ),
            WireErrorKind::BadMessageType { message_type } => Notification::new(
                ErrorCode::MessageHeader(MessageHeaderSubcode::BadMessageType),
                Bytes::copy_from_slice(&[*message_type]),
            ),
            WireErrorKind::Truncated { message_type, .. }
            | WireErrorKind::TrailingBytes { message_type, .. } => match message_type {
                MessageType::Open => {
                    Notification::new(ErrorCode::Open(OpenSubcode::Unspecific), Bytes::new())
                }
                MessageType::Update => {
                    Notification::new(ErrorCode::Update(U::MalformedAttributeList), Bytes::new())
                }
                MessageType::RouteRefresh => Notification::new(
                    ErrorCode::RouteRefresh(RouteRefreshSubcode::InvalidMessageLength),
                    Bytes::new(),
                ),
                MessageType::Keepalive | MessageType::Unknown(_) => Notification::new(
                    ErrorCode::MessageHeader(MessageHeaderSubcode::BadMessageLength),
                    Bytes::new(),
                ),
                MessageType::Notification => return None,
            },
            WireErrorKind::UnsupportedVersion { .. } => {
                // RFC 4271 §6.2: data is the largest supported version, 2 bytes.
                Notification::new(
                    ErrorCode::Open(OpenSubcode::UnsupportedVersionNumber),
                    Bytes::from_static(&[0, 4]),
                )
            }
            WireErrorKind::MalformedOptionalParameters { .. } => {
                Notification::new(ErrorCode::Open(OpenSubcode::Unspecific), Bytes::new())
            }
            WireErrorKind::MalformedAttributeList { .. }
            | WireErrorKind::DuplicateMpAttribute { .. } => {
                Notification::new(ErrorCode::Update(U::MalformedAttributeList), Bytes::new())
            }
            WireErrorKind::UnrecognizedWellKnownAttribute { attribute, .. } => Notification::new(
                ErrorCode::Update(U::UnrecognizedWellKnownAttribute),
                attribute.clone(),
            ),
            WireErrorKind::MalformedMpAttribute { attribute, .. } => Notification::new(
                ErrorCode::Update(U::OptionalAttributeError),
                attribute.clone(),
            ),
            WireErrorKind::InvalidNetworkField { field, .. } => match field {
                NlriField::Withdrawn => {
                    Notification::new(ErrorCode::Update(U::MalformedAttributeList), Bytes::new())
                }
                NlriField::Nlri => {
                    Notification::new(ErrorCode::Update(U::InvalidNetworkField), Bytes::new())
                }
            },
            WireErrorKind::RouteRefreshLength { message, .. } => Notification::new(
                ErrorCode::RouteRefresh(RouteRefreshSubcode::InvalidMessageLength),
                message.clone(),
            ),
        };
        Some(n)
    }
}

/// The RFC 7606 §2 error-handling approaches, strongest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ErrorAction {
    /// Send this NOTIFICATION and reset the session (RFC 4271 §6).
    SessionReset(Notification),
    /// Treat every route in the UPDATE as withdrawn (RFC 7606 §2).
    TreatAsWithdraw,
    /// Drop the attribute and process the UPDATE without it (RFC 7606 §2).
    AttributeDiscard,
}

/// One path attribute error that did not end the session, recorded on the
/// UPDATE it came in (RFC 7606).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AttributeError {
    /// The attribute's type code.
    pub type_code: u8,
    /// Absolute offset of the attribute's flags byte in the message.
    pub offset: usize,
    /// What was done about it.
    pub action: ErrorAction,
    /// What was wrong.
    pub reason: String,
}

impl std::fmt::Display for ErrorAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ErrorAction::SessionReset(n) => write!(f, "session reset ({n})"),
            ErrorAction::TreatAsWithdraw => f.write_str("treat-as-withdraw"),
            ErrorAction::AttributeDiscard => f.write_str("attribute-discard"),
        }
    }
}

impl std::fmt::Display for AttributeError {
    /// `attribute 16 at offset 45: attribute-discard: bad length 7`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "attribute {} at offset {}: {}: {}",
            self.type_code, self.offset, self.action, self.reason
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: WireErrorKind) -> WireError {
        WireError { offset: 0, kind }
    }

    #[test]
    fn header_errors_map_to_message_header_notifications() {
        let n = err(WireErrorKind::BadMessageLength {
            message_type: 4,
            length: 20,
            min: 19,
            max: 19,
        })
        .notification()
        .unwrap();
        assert_eq!((n.code, n.subcode, &n.data[..]), (1, 2, &[0, 20][..]));
        let n = err(WireErrorKind::BadMessageType { message_type: 9 })
            .notification()
            .unwrap();
        assert_eq!((n.code, n.subcode, &n.data[..]), (1, 3, &[9][..]));
        let n = err(WireErrorKind::ConnectionNotSynchronized)
            .notification()
            .unwrap();
        assert_eq!((n.code, n.subcode), (1, 1));
    }

    #[test]
    fn incomplete_and_notification_errors_send_nothing() {
        assert!(err(WireErrorKind::Incomplete {
            needed: 19,
            available: 3
        })
        .notification()
        .is_none());
        assert!(err(WireErrorKind::Truncated {
            message_type: MessageType::Notification,
            field: "x",
            needed: 1,
            available: 0
        })
        .notification()
        .is_none());
    }

    #[test]
    fn update_and_open_errors_map_to_their_subcodes() {
        let attr = Bytes::from_static(&[0x40, 0x63, 0x00]);
        let n = err(WireErrorKind::UnrecognizedWellKnownAttribute {
            type_code: 99,
            attribute: attr.clone(),
        })
        .notification()
        .unwrap();
        assert_eq!((n.code, n.subcode, n.data.clone()), (3, 2, attr.clone()));
        let n = err(WireErrorKind::MalformedMpAttribute {
            type_code: 14,
            reason: "x".into(),
            attribute: attr.clone(),
        })
        .notification()
        .unwrap();
        assert_eq!((n.code, n.subcode, n.data), (3, 9, attr));
        let n = err(WireErrorKind::DuplicateMpAttribute { type_code: 14 })
            .notification()
            .unwrap();
        assert_eq!((n.code, n.subcode), (3, 1));
        let n = err(WireErrorKind::InvalidNetworkField {
            field: NlriField::Nlri,
            reason: "x".into(),
        })
        .notification()
        .unwrap();
        assert_eq!((n.code, n.subcode), (3, 10));
        let n = err(WireErrorKind::UnsupportedVersion { version: 3 })
            .notification()
            .unwrap();
        assert_eq!((n.code, n.subcode, &n.data[..]), (2, 1, &[0, 4][..]));
        let msg = Bytes::from_static(&[1, 2, 3]);
        let n = err(WireErrorKind::RouteRefreshLength {
            length: 24,
            message: msg.clone(),
        })
        .notification()
        .unwrap();
        assert_eq!((n.code, n.subcode, n.data), (7, 1, msg));
    }
}
