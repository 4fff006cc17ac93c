//! Decoding BGP messages the way a session would see them.
//!
//! - [`framing`]: cutting a byte stream into messages by their headers.
//! - [`stream`]: the messages of a capture (frames → TCP → reassembly → framing).
//! - [`hex`]: the hex-lines input format.
//! - [`context`]: which codec context applies (the OPEN exchange, or flags).
//! - [`record`]: the JSON objects printed.
//!
//! [`MessageDecoder`] ties them to the codec: it parses each message with the context of its
//! connection and direction, learns contexts from OPEN exchanges, and optionally re-emits each
//! message to check the codec reproduces the received bytes.

#![warn(missing_docs)]

pub mod context;
pub mod framing;
pub mod hex;
pub mod record;
pub mod stream;

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use perouter_bgp::wire::{Message, WireContext};

use crate::reassembly::Direction;
use context::{ContextSource, FallbackContext, OpenExchange};
use record::RoundtripReport;

/// How messages are decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeOptions {
    /// The context used where no OPEN exchange is known.
    pub fallback: FallbackContext,
    /// Learn contexts from OPEN exchanges (the default).
    pub follow_open: bool,
    /// Re-emit every message and compare.
    pub check_roundtrip: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            fallback: FallbackContext::default(),
            follow_open: true,
            check_roundtrip: false,
        }
    }
}

/// Identifies a message's session: a connection id and the direction within it. `None` when
/// the input says nothing about where messages come from.
pub type SessionRef = Option<(u64, Direction)>;

/// The result of decoding one message.
#[derive(Debug)]
pub struct DecodedMessage {
    /// The message, or the codec's error.
    pub result: Result<Message, perouter_bgp::wire::WireError>,
    /// Bytes after the message's end that the input put in the same unit (a hex line).
    pub trailing: usize,
    /// Where the context came from.
    pub context: ContextSource,
    /// Round-trip outcome, when checking.
    pub roundtrip: Option<RoundtripReport>,
}

/// Parses messages with the right context per connection and direction.
#[derive(Debug)]
pub struct MessageDecoder {
    options: DecodeOptions,
    exchanges: HashMap<u64, OpenExchange>,
}

impl MessageDecoder {
    /// A decoder with these options.
    pub fn new(options: DecodeOptions) -> Self {
        MessageDecoder {
            options,
            exchanges: HashMap::new(),
        }
    }

    /// The options.
    pub fn options(&self) -> &DecodeOptions {
        &self.options
    }

    fn context(&self, session: SessionRef) -> (WireContext, ContextSource) {
        if self.options.follow_open {
            if let Some((id, direction)) = session {
                if let Some(ctx) = self
                    .exchanges
                    .get(&id)
                    .and_then(|x| x.negotiated(direction))
                {
                    return (ctx.clone(), ContextSource::Negotiated);
                }
            }
        }
        (
            self.options.fallback.context(session.map(|s| s.1)),
            ContextSource::Flags,
        )
    }

    /// Decodes one whole message (header included) sent in `session`.
    pub fn handle_message(&mut self, session: SessionRef, bytes: &Bytes) -> DecodedMessage {
        let (ctx, source) = self.context(session);
        let parsed = Message::parse(bytes, &ctx);
        let (result, trailing) = match parsed {
            Ok((message, used)) => (Ok(message), bytes.len().saturating_sub(used)),
            Err(e) => (Err(e), 0),
        };
        if let (Ok(Message::Open(open)), Some((id, direction))) = (&result, session) {
            if self.options.follow_open {
                self.exchanges
                    .entry(id)
                    .or_default()
                    .handle_open(direction, open);
            }
        }
        let roundtrip = match (&result, self.options.check_roundtrip) {
            (Ok(message), true) => Some(roundtrip(message, &ctx, &bytes[..bytes.len() - trailing])),
            _ => None,
        };
        DecodedMessage {
            result,
            trailing,
            context: source,
            roundtrip,
        }
    }
}

/// Re-emits `message` with `ctx` and compares with `received`.
pub fn roundtrip(message: &Message, ctx: &WireContext, received: &[u8]) -> RoundtripReport {
    let mut out = BytesMut::with_capacity(received.len());
    if let Err(e) = message.emit(ctx, &mut out) {
        return RoundtripReport::EmitFailed {
            what: e.to_string(),
        };
    }
    if out[..] == *received {
        return RoundtripReport::Identical;
    }
    let offset = out
        .iter()
        .zip(received)
        .position(|(a, b)| a != b)
        .unwrap_or(out.len().min(received.len()));
    RoundtripReport::Differs {
        offset,
        received_len: received.len(),
        emitted_len: out.len(),
        emitted: ::hex::encode(&out),
    }
}
