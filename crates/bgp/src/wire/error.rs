//! Typed codec errors and the RFC 7606 error-handling classes.
//!
//! A [`WireError`] says where (absolute byte offset from the start of the
//! message, marker included) and what was wrong. Errors that end the session
//! map to the NOTIFICATION RFC 4271 §6 requires ([`WireError::notification`],
//! in [`super::error_handling`]). Attribute errors that do not end the session
//! (RFC 7606 "treat-as-withdraw" and "attribute discard") are not
//! `WireError`s: they are recorded in
//! [`super::update::Update::attribute_errors`] as
//! [`AttributeError`](super::error_handling::AttributeError)s.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use super::cursor::Short;
use super::message_type::MessageType;

/// A parse error: where it happened and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at byte {offset}: {kind}")]
pub struct WireError {
    /// Absolute offset from the first byte of the message (the marker).
    pub offset: usize,
    /// What was wrong.
    pub kind: WireErrorKind,
}

/// Which NLRI field of an UPDATE an NLRI error is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NlriField {
    /// The Withdrawn Routes field (RFC 4271 §4.3).
    Withdrawn,
    /// The Network Layer Reachability Information field (RFC 4271 §4.3).
    Nlri,
}

/// What was wrong, with what was expected and what was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireErrorKind {
    /// The buffer does not yet hold the whole message: not an error of the
    /// peer, a framer should wait for more bytes.
    #[error("need more bytes: the message needs {needed}, only {available} are buffered")]
    Incomplete {
        /// Bytes needed in total (from the start of the message).
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The 16-byte marker is not all ones (RFC 4271 §4.1).
    #[error("marker is not sixteen 0xff bytes")]
    ConnectionNotSynchronized,
    /// The header's length is out of range for the message type (RFC 4271 §6.1).
    #[error("message length {length} is invalid for message type {message_type} (expected {min}..={max})")]
    BadMessageLength {
        /// The message type byte.
        message_type: u8,
        /// The length field.
        length: u16,
        /// Smallest valid length for the type.
        min: usize,
        /// Largest valid length for the type in this context.
        max: usize,
    },
    /// The message type is not known (RFC 4271 §6.1).
    #[error("unknown message type {message_type}")]
    BadMessageType {
        /// The message type byte.
        message_type: u8,
    },
    /// A field runs past the end of the message or of its enclosing field.
    #[error("{message_type} {field}: needs {needed} bytes, only {available} remain")]
    Truncated {
        /// The message the field is in.
        message_type: MessageType,
        /// The field.
        field: &'static str,
        /// Bytes needed.
        needed: usize,
        /// Bytes left.
        available: usize,
    },
    /// Bytes are left after the last field of a fixed-layout message part.
    #[error("{message_type} {field}: {extra} unexpected trailing bytes")]
    TrailingBytes {
        /// The message the field is in.
        message_type: MessageType,
        /// The field.
        field: &'static str,
        /// Number of extra bytes.
        extra: usize,
    },
    /// OPEN version is not 4 (RFC 4271 §6.2).
    #[error("OPEN version {version} is not supported (expected 4)")]
    UnsupportedVersion {
        /// The version found.
        version: u8,
    },
    /// OPEN optional parameters are malformed (RFC 4271 §6.2, RFC 9072).
    #[error("OPEN optional parameters: {reason}")]
    MalformedOptionalParameters {
        /// What was wrong.
        reason: String,
    },
    /// UPDATE lengths are inconsistent or an attribute header is malformed
    /// beyond recovery (RFC 4271 §6.3, RFC 7606 §4).
    #[error("UPDATE malformed attribute list: {reason}")]
    MalformedAttributeList {
        /// What was wrong.
        reason: String,
    },
    /// A well-known (non-optional) attribute with an unknown type code
    /// (RFC 4271 §6.3).
    #[error("UPDATE attribute {type_code} is well-known (optional bit clear) but not recognized")]
    UnrecognizedWellKnownAttribute {
        /// The type code.
        type_code: u8,
        /// The whole attribute (flags, type, length, value), for the NOTIFICATION data.
        attribute: Bytes,
    },
    /// MP_REACH_NLRI or MP_UNREACH_NLRI is malformed (RFC 4760 §7, RFC 7606 §7.11).
    #[error("UPDATE attribute {type_code} (MP_REACH/MP_UNREACH) malformed: {reason}")]
    MalformedMpAttribute {
        /// The type code (14 or 15).
        type_code: u8,
        /// What was wrong.
        reason: String,
        /// The whole attribute, for the NOTIFICATION data.
        attribute: Bytes,
    },
    /// MP_REACH_NLRI or MP_UNREACH_NLRI appears twice (RFC 7606 §3.g).
    #[error("UPDATE attribute {type_code} (MP_REACH/MP_UNREACH) appears more than once")]
    DuplicateMpAttribute {
        /// The type code (14 or 15).
        type_code: u8,
    },
    /// The Withdrawn Routes or NLRI field is malformed (RFC 4271 §6.3, RFC 7606 §5.3).
    #[error("UPDATE {field:?} field: {reason}")]
    InvalidNetworkField {
        /// Which field.
        field: NlriField,
        /// What was wrong.
        reason: String,
    },
    /// A ROUTE-REFRESH whose length is not 23 (RFC 7313 §5).
    #[error("ROUTE-REFRESH length {length} is invalid (expected 23)")]
    RouteRefreshLength {
        /// The length field.
        length: u16,
        /// The whole message, for the NOTIFICATION data.
        message: Bytes,
    },
}

impl WireError {
    /// A `Truncated` error from a short read.
    pub(crate) fn truncated(message_type: MessageType, s: Short, field: &'static str) -> Self {
        WireError {
            offset: s.offset,
            kind: WireErrorKind::Truncated {
                message_type,
                field,
                needed: s.needed,
                available: s.available,
            },
        }
    }

    /// True when the error only means the buffer is not yet complete.
    pub fn is_incomplete(&self) -> bool {
        matches!(self.kind, WireErrorKind::Incomplete { .. })
    }
}

/// An emit error: the value cannot be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// The message would exceed the maximum size for the context
    /// (4096, or 65535 with RFC 8654 extended messages).
    #[error("message of {length} bytes exceeds the maximum of {max}")]
    TooLarge {
        /// Encoded length.
        length: usize,
        /// Maximum allowed.
        max: usize,
    },
    /// A field's value is longer than its length field can express.
    #[error("{field} of {length} bytes exceeds the maximum of {max}")]
    FieldTooLong {
        /// The field.
        field: &'static str,
        /// Encoded length.
        length: usize,
        /// Maximum allowed.
        max: usize,
    },
    /// Packing NLRI of a family carried in MP_REACH_NLRI needs a next hop.
    #[error("NLRI of {family} need an MP_REACH_NLRI next hop")]
    MissingNextHop {
        /// The family.
        family: super::family::AfiSafi,
    },
    /// An NLRI does not belong to the block's family.
    #[error("NLRI {nlri} does not belong to family {family}")]
    FamilyMismatch {
        /// The block's family.
        family: super::family::AfiSafi,
        /// The NLRI, as text.
        nlri: String,
    },
}

/// Writes a u16 length placeholder and returns its position; see [`patch_u16_len`].
pub(crate) fn begin_u16_len(out: &mut BytesMut) -> usize {
    let at = out.len();
    out.put_u16(0);
    at
}

/// Fills a u16 length written by [`begin_u16_len`] with the number of bytes
/// written after it.
pub(crate) fn patch_u16_len(
    out: &mut BytesMut,
    at: usize,
    field: &'static str,
) -> Result<(), EmitError> {
    let len = out.len() - at - 2;
    let v = u16::try_from(len).map_err(|_| EmitError::FieldTooLong {
        field,
        length: len,
        max: usize::from(u16::MAX),
    })?;
    out[at..at + 2].copy_from_slice(&v.to_be_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_patching_rejects_overlong_fields() {
        let mut out = BytesMut::new();
        let at = begin_u16_len(&mut out);
        out.put_slice(&[0u8; 70000]);
        assert!(matches!(
            patch_u16_len(&mut out, at, "x"),
            Err(EmitError::FieldTooLong { length: 70000, .. })
        ));
        let mut out = BytesMut::new();
        let at = begin_u16_len(&mut out);
        out.put_slice(&[1, 2, 3]);
        patch_u16_len(&mut out, at, "x").unwrap();
        assert_eq!(&out[..], &[0, 3, 1, 2, 3]);
    }
}
