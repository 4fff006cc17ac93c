//! NOTIFICATION messages (RFC 4271 §4.5) with typed error codes and subcodes
//! from RFC 4271 §6 and later RFCs, and the shutdown communication of
//! RFC 8203 / RFC 9003.
//!
//! The wire form (`code`, `subcode`, `data`) is kept raw so every message
//! round-trips; [`Notification::error`] is the typed view.

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use super::cursor::Cursor;
use super::error::WireError;
use super::hex::serialize_hex;
use super::message_type::MessageType;

/// A NOTIFICATION message (RFC 4271 §4.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Notification {
    /// Error code.
    pub code: u8,
    /// Error subcode.
    pub subcode: u8,
    /// Data; meaning depends on the code and subcode.
    pub data: Bytes,
}

/// Message Header Error subcodes (code 1, RFC 4271 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum MessageHeaderSubcode {
    /// 1: the marker is not all ones.
    ConnectionNotSynchronized,
    /// 2: the length is out of range for the type.
    BadMessageLength,
    /// 3: the type is not known.
    BadMessageType,
    /// Any other subcode.
    Unknown(u8),
}

/// OPEN Message Error subcodes (code 2, RFC 4271 §4.5, RFC 5492, RFC 9234).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum OpenSubcode {
    /// 0: unspecific (RFC 4271 errata; used for malformed optional parameters).
    Unspecific,
    /// 1: unsupported version number; data is the largest supported version (2 bytes).
    UnsupportedVersionNumber,
    /// 2: bad peer AS.
    BadPeerAs,
    /// 3: bad BGP identifier.
    BadBgpIdentifier,
    /// 4: unsupported optional parameter.
    UnsupportedOptionalParameter,
    /// 6: unacceptable hold time.
    UnacceptableHoldTime,
    /// 7: unsupported capability (RFC 5492 §5).
    UnsupportedCapability,
    /// 11: role mismatch (RFC 9234 §4.2).
    RoleMismatch,
    /// Any other subcode (5 is deprecated).
    Unknown(u8),
}

/// UPDATE Message Error subcodes (code 3, RFC 4271 §4.5 and §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum UpdateSubcode {
    /// 1: malformed attribute list.
    MalformedAttributeList,
    /// 2: unrecognized well-known attribute.
    UnrecognizedWellKnownAttribute,
    /// 3: missing well-known attribute.
    MissingWellKnownAttribute,
    /// 4: attribute flags error.
    AttributeFlagsError,
    /// 5: attribute length error.
    AttributeLengthError,
    /// 6: invalid ORIGIN attribute.
    InvalidOriginAttribute,
    /// 8: invalid NEXT_HOP attribute.
    InvalidNextHopAttribute,
    /// 9: optional attribute error (also used for MP_REACH/MP_UNREACH, RFC 4760 §7).
    OptionalAttributeError,
    /// 10: invalid network field.
    InvalidNetworkField,
    /// 11: malformed AS_PATH.
    MalformedAsPath,
    /// Any other subcode (7 is deprecated).
    Unknown(u8),
}

/// Finite State Machine Error subcodes (code 5, RFC 6608).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum FsmSubcode {
    /// 0: unspecified.
    Unspecified,
    /// 1: unexpected message in OpenSent.
    UnexpectedMessageInOpenSent,
    /// 2: unexpected message in OpenConfirm.
    UnexpectedMessageInOpenConfirm,
    /// 3: unexpected message in Established.
    UnexpectedMessageInEstablished,
    /// Any other subcode.
    Unknown(u8),
}

/// Cease subcodes (code 6, RFC 4486, RFC 8538, RFC 9384).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum CeaseSubcode {
    /// 1: maximum number of prefixes reached.
    MaximumPrefixesReached,
    /// 2: administrative shutdown (may carry a shutdown communication, RFC 9003).
    AdministrativeShutdown,
    /// 3: peer de-configured.
    PeerDeconfigured,
    /// 4: administrative reset (may carry a shutdown communication, RFC 9003).
    AdministrativeReset,
    /// 5: connection rejected.
    ConnectionRejected,
    /// 6: other configuration change.
    OtherConfigurationChange,
    /// 7: connection collision resolution.
    ConnectionCollisionResolution,
    /// 8: out of resources.
    OutOfResources,
    /// 9: hard reset (RFC 8538).
    HardReset,
    /// 10: BFD down (RFC 9384).
    BfdDown,
    /// Any other subcode.
    Unknown(u8),
}

/// ROUTE-REFRESH Message Error subcodes (code 7, RFC 7313 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum RouteRefreshSubcode {
    /// 1: invalid message length.
    InvalidMessageLength,
    /// Any other subcode.
    Unknown(u8),
}

/// The typed view of a NOTIFICATION's code and subcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum ErrorCode {
    /// 1: Message Header Error.
    MessageHeader(MessageHeaderSubcode),
    /// 2: OPEN Message Error.
    Open(OpenSubcode),
    /// 3: UPDATE Message Error.
    Update(UpdateSubcode),
    /// 4/0: Hold Timer Expired.
    HoldTimerExpired,
    /// 5: Finite State Machine Error (RFC 6608).
    Fsm(FsmSubcode),
    /// 6: Cease.
    Cease(CeaseSubcode),
    /// 7: ROUTE-REFRESH Message Error (RFC 7313).
    RouteRefresh(RouteRefreshSubcode),
    /// 8/0: Send Hold Timer Expired (RFC 9687).
    SendHoldTimerExpired,
    /// Any other code, or a non-zero subcode for codes 4 and 8.
    Unknown {
        /// Error code.
        code: u8,
        /// Error subcode.
        subcode: u8,
    },
}

macro_rules! subcode_map {
    ($ty:ident { $($v:ident = $n:expr),* $(,)? }) => {
        impl $ty {
            /// Decodes a subcode.
            pub fn from_u8(v: u8) -> Self {
                match v { $($n => $ty::$v,)* other => $ty::Unknown(other) }
            }
            /// Encodes a subcode.
            pub fn to_u8(self) -> u8 {
                match self { $($ty::$v => $n,)* $ty::Unknown(v) => v }
            }
        }
    };
}

subcode_map!(MessageHeaderSubcode {
    ConnectionNotSynchronized = 1,
    BadMessageLength = 2,
    BadMessageType = 3,
});
subcode_map!(OpenSubcode {
    Unspecific = 0,
    UnsupportedVersionNumber = 1,
    BadPeerAs = 2,
    BadBgpIdentifier = 3,
    UnsupportedOptionalParameter = 4,
    UnacceptableHoldTime = 6,
    UnsupportedCapability = 7,
    RoleMismatch = 11,
});
subcode_map!(UpdateSubcode {
    MalformedAttributeList = 1,
    UnrecognizedWellKnownAttribute = 2,
    MissingWellKnownAttribute = 3,
    AttributeFlagsError = 4,
    AttributeLengthError = 5,
    InvalidOriginAttribute = 6,
    InvalidNextHopAttribute = 8,
    OptionalAttributeError = 9,
    InvalidNetworkField = 10,
    MalformedAsPath = 11,
});
subcode_map!(FsmSubcode {
    Unspecified = 0,
    UnexpectedMessageInOpenSent = 1,
    UnexpectedMessageInOpenConfirm = 2,
    UnexpectedMessageInEstablished = 3,
});
subcode_map!(CeaseSubcode {
    MaximumPrefixesReached = 1,
    AdministrativeShutdown = 2,
    PeerDeconfigured = 3,
    AdministrativeReset = 4,
    ConnectionRejected = 5,
    OtherConfigurationChange = 6,
    ConnectionCollisionResolution = 7,
    OutOfResources = 8,
    HardReset = 9,
    BfdDown = 10,
});
subcode_map!(RouteRefreshSubcode {
    InvalidMessageLength = 1,
});

impl ErrorCode {
    /// Decodes a code and subcode.
    pub fn from_parts(code: u8, subcode: u8) -> Self {
        match (code, subcode) {
            (1, s) => ErrorCode::MessageHeader(MessageHeaderSubcode::from_u8(s)),
            (2, s) => ErrorCode::Open(OpenSubcode::from_u8(s)),
            (3, s) => ErrorCode::Update(UpdateSubcode::from_u8(s)),
            (4, 0) => ErrorCode::HoldTimerExpired,
            (5, s) => ErrorCode::Fsm(FsmSubcode::from_u8(s)),
            (6, s) => ErrorCode::Cease(CeaseSubcode::from_u8(s)),
            (7, s) => ErrorCode::RouteRefresh(RouteRefreshSubcode::from_u8(s)),
            (8, 0) => ErrorCode::SendHoldTimerExpired,
            (code, subcode) => ErrorCode::Unknown { code, subcode },
        }
    }

    /// Encodes to (code, subcode).
    pub fn to_parts(self) -> (u8, u8) {
        match self {
            ErrorCode::MessageHeader(s) => (1, s.to_u8()),
            ErrorCode::Open(s) => (2, s.to_u8()),
            ErrorCode::Update(s) => (3, s.to_u8()),
            ErrorCode::HoldTimerExpired => (4, 0),
            ErrorCode::Fsm(s) => (5, s.to_u8()),
            ErrorCode::Cease(s) => (6, s.to_u8()),
            ErrorCode::RouteRefresh(s) => (7, s.to_u8()),
            ErrorCode::SendHoldTimerExpired => (8, 0),
            ErrorCode::Unknown { code, subcode } => (code, subcode),
        }
    }

    /// The code's name as RFC 4271 §4.5 (and later RFCs) spell it.
    pub fn code_name(self) -> &'static str {
        match self {
            ErrorCode::MessageHeader(_) => "Message Header Error",
            ErrorCode::Open(_) => "OPEN Message Error",
            ErrorCode::Update(_) => "UPDATE Message Error",
            ErrorCode::HoldTimerExpired => "Hold Timer Expired",
            ErrorCode::Fsm(_) => "Finite State Machine Error",
            ErrorCode::Cease(_) => "Cease",
            ErrorCode::RouteRefresh(_) => "ROUTE-REFRESH Message Error",
            ErrorCode::SendHoldTimerExpired => "Send Hold Timer Expired",
            ErrorCode::Unknown { .. } => "Unknown",
        }
    }

    /// The subcode's name, if the subcode is a defined one.
    pub fn subcode_name(self) -> Option<&'static str> {
        use CeaseSubcode as C;
        use FsmSubcode as F;
        use MessageHeaderSubcode as H;
        use OpenSubcode as O;
        use UpdateSubcode as U;
        Some(match self {
            ErrorCode::MessageHeader(H::ConnectionNotSynchronized) => "Connection Not Synchronized",
            ErrorCode::MessageHeader(H::BadMessageLength) => "Bad Message Length",
            ErrorCode::MessageHeader(H::BadMessageType) => "Bad Message Type",
            ErrorCode::Open(O::Unspecific) => "Unspecific",
            ErrorCode::Open(O::UnsupportedVersionNumber) => "Unsupported Version Number",
            ErrorCode::Open(O::BadPeerAs) => "Bad Peer AS",
            ErrorCode::Open(O::BadBgpIdentifier) => "Bad BGP Identifier",
            ErrorCode::Open(O::UnsupportedOptionalParameter) => "Unsupported Optional Parameter",
            ErrorCode::Open(O::UnacceptableHoldTime) => "Unacceptable Hold Time",
            ErrorCode::Open(O::UnsupportedCapability) => "Unsupported Capability",
            ErrorCode::Open(O::RoleMismatch) => "Role Mismatch",
            ErrorCode::Update(U::MalformedAttributeList) => "Malformed Attribute List",
            ErrorCode::Update(U::UnrecognizedWellKnownAttribute) => {
                "Unrecognized Well-known Attribute"
            }
            ErrorCode::Update(U::MissingWellKnownAttribute) => "Missing Well-known Attribute",
            ErrorCode::Update(U::AttributeFlagsError) => "Attribute Flags Error",
            ErrorCode::Update(U::AttributeLengthError) => "Attribute Length Error",
            ErrorCode::Update(U::InvalidOriginAttribute) => "Invalid ORIGIN Attribute",
            ErrorCode::Update(U::InvalidNextHopAttribute) => "Invalid NEXT_HOP Attribute",
            ErrorCode::Update(U::OptionalAttributeError) => "Optional Attribute Error",
            ErrorCode::Update(U::InvalidNetworkField) => "Invalid Network Field",
            ErrorCode::Update(U::MalformedAsPath) => "Malformed AS_PATH",
            ErrorCode::Fsm(F::Unspecified) => "Unspecified Error",
            ErrorCode::Fsm(F::UnexpectedMessageInOpenSent) => {
                "Receive Unexpected Message in OpenSent State"
            }
            ErrorCode::Fsm(F::UnexpectedMessageInOpenConfirm) => {
                "Receive Unexpected Message in OpenConfirm State"
            }
            ErrorCode::Fsm(F::UnexpectedMessageInEstablished) => {
                "Receive Unexpected Message in Established State"
            }
            ErrorCode::Cease(C::MaximumPrefixesReached) => "Maximum Number of Prefixes Reached",
            ErrorCode::Cease(C::AdministrativeShutdown) => "Administrative Shutdown",
            ErrorCode::Cease(C::PeerDeconfigured) => "Peer De-configured",
            ErrorCode::Cease(C::AdministrativeReset) => "Administrative Reset",
            ErrorCode::Cease(C::ConnectionRejected) => "Connection Rejected",
            ErrorCode::Cease(C::OtherConfigurationChange) => "Other Configuration Change",
            ErrorCode::Cease(C::ConnectionCollisionResolution) => "Connection Collision Resolution",
            ErrorCode::Cease(C::OutOfResources) => "Out of Resources",
            ErrorCode::Cease(C::HardReset) => "Hard Reset",
            ErrorCode::Cease(C::BfdDown) => "BFD Down",
            ErrorCode::RouteRefresh(RouteRefreshSubcode::InvalidMessageLength) => {
                "Invalid Message Length"
            }
            _ => return None,
        })
    }
}

/// Maximum length of a shutdown communication in bytes (RFC 9003 §2).
pub const MAX_SHUTDOWN_COMMUNICATION_LEN: usize = 255;

impl Notification {
    /// A NOTIFICATION for a typed error code with the given data.
    pub fn new(error: ErrorCode, data: impl Into<Bytes>) -> Self {
        let (code, subcode) = error.to_parts();
        Notification {
            code,
            subcode,
            data: data.into(),
        }
    }

    /// A Cease NOTIFICATION carrying a shutdown communication (RFC 9003 §2).
    ///
    /// RFC 9003 defines it for Administrative Shutdown and Administrative
    /// Reset. The message is cut to 255 bytes at a UTF-8 character boundary.
    pub fn cease_with_communication(subcode: CeaseSubcode, message: &str) -> Self {
        let mut end = message.len().min(MAX_SHUTDOWN_COMMUNICATION_LEN);
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        let text = &message.as_bytes()[..end];
        let mut data = BytesMut::with_capacity(1 + text.len());
        data.put_u8(text.len() as u8);
        data.put_slice(text);
        Notification::new(ErrorCode::Cease(subcode), data.freeze())
    }

    /// The typed error code.
    pub fn error(&self) -> ErrorCode {
        ErrorCode::from_parts(self.code, self.subcode)
    }

    /// The shutdown communication (RFC 9003 §2) for Cease / Administrative
    /// Shutdown or Administrative Reset, if the data holds a well-formed one
    /// (a length byte, then that many bytes of UTF-8). Any bytes after it
    /// are ignored, as RFC 9003 §2 allows.
    pub fn shutdown_communication(&self) -> Option<&str> {
        match self.error() {
            ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown)
            | ErrorCode::Cease(CeaseSubcode::AdministrativeReset) => {}
            _ => return None,
        }
        let (&len, rest) = self.data.split_first()?;
        let text = rest.get(..usize::from(len))?;
        std::str::from_utf8(text).ok()
    }

    /// Parses a NOTIFICATION body (after the 19-byte header); `base` is the
    /// body's offset in the message.
    pub(crate) fn parse_body(body: Bytes, base: usize) -> Result<Self, WireError> {
        let mut c = Cursor::new(body, base);
        let code = c.u8().map_err(|s| {
            WireError::truncated(MessageType::Notification, s, "NOTIFICATION error code")
        })?;
        let subcode = c.u8().map_err(|s| {
            WireError::truncated(MessageType::Notification, s, "NOTIFICATION error subcode")
        })?;
        Ok(Notification {
            code,
            subcode,
            data: c.rest(),
        })
    }

    /// Length of the body in bytes.
    pub fn body_len(&self) -> usize {
        2 + self.data.len()
    }

    /// Writes the body.
    pub(crate) fn emit_body(&self, out: &mut BytesMut) {
        out.put_u8(self.code);
        out.put_u8(self.subcode);
        out.put_slice(&self.data);
    }
}

impl fmt::Display for Notification {
    /// Formats like `Cease/Administrative Shutdown: "maintenance window 42"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = self.error();
        write!(f, "{}", e.code_name())?;
        match (e, e.subcode_name()) {
            (ErrorCode::HoldTimerExpired | ErrorCode::SendHoldTimerExpired, _) => {}
            (ErrorCode::Unknown { code, subcode }, _) => write!(f, " {code}/{subcode}")?,
            (_, Some(s)) => write!(f, "/{s}")?,
            (_, None) => write!(f, "/{}", self.subcode)?,
        }
        if let Some(msg) = self.shutdown_communication() {
            write!(f, ": {msg:?}")?;
        } else if !self.data.is_empty() {
            write!(f, " data={}", super::hex::to_hex(&self.data))?;
        }
        Ok(())
    }
}

impl Serialize for Notification {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let e = self.error();
        let mut st = s.serialize_struct("Notification", 6)?;
        st.serialize_field("error_code", &self.code)?;
        st.serialize_field("error_subcode", &self.subcode)?;
        st.serialize_field("error", e.code_name())?;
        st.serialize_field("suberror", &e.subcode_name())?;
        st.serialize_field("shutdown_communication", &self.shutdown_communication())?;
        st.serialize_field("data", &HexField(&self.data))?;
        st.end()
    }
}

struct HexField<'a>(&'a Bytes);

impl Serialize for HexField<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_hex(self.0, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_and_subcode_round_trips_through_the_typed_view() {
        for code in 0..=255u8 {
            for subcode in 0..=255u8 {
                let e = ErrorCode::from_parts(code, subcode);
                assert_eq!(e.to_parts(), (code, subcode));
            }
        }
        assert_eq!(
            ErrorCode::from_parts(6, 2),
            ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown)
        );
        assert_eq!(ErrorCode::from_parts(8, 0), ErrorCode::SendHoldTimerExpired);
        assert_eq!(
            ErrorCode::from_parts(2, 11),
            ErrorCode::Open(OpenSubcode::RoleMismatch)
        );
        assert_eq!(
            ErrorCode::from_parts(7, 1),
            ErrorCode::RouteRefresh(RouteRefreshSubcode::InvalidMessageLength)
        );
        assert_eq!(
            ErrorCode::from_parts(5, 3),
            ErrorCode::Fsm(FsmSubcode::UnexpectedMessageInEstablished)
        );
    }

    #[test]
    fn shutdown_communication_is_emitted_and_displayed() {
        let n = Notification::cease_with_communication(
            CeaseSubcode::AdministrativeShutdown,
            "maintenance window 42",
        );
        assert_eq!(n.data[0], 21);
        assert_eq!(n.shutdown_communication(), Some("maintenance window 42"));
        assert_eq!(
            n.to_string(),
            "Cease/Administrative Shutdown: \"maintenance window 42\""
        );
    }

    #[test]
    fn shutdown_communication_is_cut_at_a_char_boundary() {
        let long = "é".repeat(200); // 400 bytes
        let n = Notification::cease_with_communication(CeaseSubcode::AdministrativeReset, &long);
        assert_eq!(n.data[0], 254);
        assert_eq!(
            n.shutdown_communication().map(|s| s.chars().count()),
            Some(127)
        );
    }

    #[test]
    fn malformed_communication_is_not_reported() {
        let n = Notification::new(
            ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown),
            Bytes::from_static(&[10, b'a']),
        );
        assert_eq!(n.shutdown_communication(), None);
        assert_eq!(n.to_string(), "Cease/Administrative Shutdown data=0a61");
        let bad_utf8 = Notification::new(
            ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown),
            Bytes::from_static(&[1, 0xff]),
        );
        assert_eq!(bad_utf8.shutdown_communication(), None);
    }

    #[test]
    fn parse_needs_code_and_subcode() {
        let e = Notification::parse_body(Bytes::from_static(&[6]), 19).unwrap_err();
        assert_eq!(e.offset, 20);
        let n = Notification::parse_body(Bytes::from_static(&[4, 0]), 19).unwrap();
        assert_eq!(n.error(), ErrorCode::HoldTimerExpired);
        assert_eq!(n.to_string(), "Hold Timer Expired");
    }
}
