//! The JSON objects `perouter decode` prints, one per line: a decoded message, or a problem
//! (parse error, framing error, TCP gap, broken capture), with where it came from.

use serde::Serialize;

use perouter_bgp::wire::Message;

use crate::reassembly::Direction;
use crate::Timestamp;

use super::context::ContextSource;

/// Where a record's bytes came from. Fields that do not apply are left out of the JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// The connection, `initiator->responder` (captures; hex files whose comments name
    /// endpoints).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// The connection's index in the capture (0-based, like tshark's `tcp.stream`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<u64>,
    /// `forward` (sent by the initiator) or `reverse`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub direction: Option<Direction>,
    /// Sender.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
    /// Receiver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dst: Option<String>,
    /// The frame carrying the message's last byte (captures).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frame: Option<u64>,
    /// The frame carrying the message's first byte, when it is not `frame`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_frame: Option<u64>,
    /// Capture time of `frame`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    /// 1-based line number (hex input).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    /// Byte offset in the stream or file (raw input, framing problems).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// What went wrong with a message or a stretch of input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorReport {
    /// The class of problem: `parse`, `framing`, `gap`, `capture`, `packet`, `hex`.
    pub kind: &'static str,
    /// What was wrong, in words.
    pub what: String,
    /// Byte offset: within the message for `parse` errors; otherwise within the stream, file or
    /// frame, as `kind` says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
}

/// The outcome of `--check-roundtrip` for one message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum RoundtripReport {
    /// Re-emitting produced exactly the received bytes.
    Identical,
    /// The bytes differ.
    Differs {
        /// First differing byte offset.
        offset: usize,
        /// Lengths received and emitted.
        received_len: usize,
        /// Length emitted.
        emitted_len: usize,
        /// The emitted bytes, hex.
        emitted: String,
    },
    /// The codec refused to emit the parsed message.
    EmitFailed {
        /// The emit error.
        what: String,
    },
}

impl RoundtripReport {
    /// True unless the bytes were identical.
    pub fn is_failure(&self) -> bool {
        !matches!(self, RoundtripReport::Identical)
    }
}

/// One line of output.
#[derive(Debug, Clone, Serialize)]
pub struct Record<'a> {
    /// Where it came from.
    #[serde(flatten)]
    pub origin: Origin,
    /// The message type from the header (`OPEN`, `UPDATE`, `NOTIFICATION`, `KEEPALIVE`,
    /// `ROUTE-REFRESH`, or `TYPE-n`).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    /// Message length from the header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub length: Option<usize>,
    /// Whether the codec context came from the OPEN exchange or from flags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<ContextSource>,
    /// The decoded message, as the codec serializes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'a Message>,
    /// The problem, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
    /// Round-trip result (with `--check-roundtrip`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roundtrip: Option<RoundtripReport>,
    /// Something worth knowing that is not an error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
    /// The raw message bytes, hex, when it could not be parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hex: Option<String>,
}

impl<'a> Record<'a> {
    /// An empty record from `origin`.
    pub fn new(origin: Origin) -> Self {
        Record {
            origin,
            message_type: None,
            length: None,
            context: None,
            message: None,
            error: None,
            roundtrip: None,
            notice: None,
            hex: None,
        }
    }

    /// True if this record makes the exit status non-zero.
    pub fn is_failure(&self) -> bool {
        self.error.is_some()
            || self
                .roundtrip
                .as_ref()
                .is_some_and(RoundtripReport::is_failure)
    }
}

/// The name of a message type octet (RFC 4271 §4.1, RFC 2918 §3).
pub fn message_type_name(t: u8) -> String {
    match t {
        1 => "OPEN".into(),
        2 => "UPDATE".into(),
        3 => "NOTIFICATION".into(),
        4 => "KEEPALIVE".into(),
        5 => "ROUTE-REFRESH".into(),
        n => format!("TYPE-{n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_are_left_out() {
        let mut r = Record::new(Origin {
            line: Some(3),
            ..Default::default()
        });
        r.error = Some(ErrorReport {
            kind: "hex",
            what: "odd number of hex digits (3)".into(),
            offset: None,
        });
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"line":3,"error":{"kind":"hex","what":"odd number of hex digits (3)"}}"#
        );
        assert!(r.is_failure());
        let mut ok = Record::new(Origin::default());
        ok.roundtrip = Some(RoundtripReport::Identical);
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"roundtrip":{"result":"identical"}}"#
        );
        assert!(!ok.is_failure());
        assert_eq!(message_type_name(5), "ROUTE-REFRESH");
        assert_eq!(message_type_name(9), "TYPE-9");
    }
}
