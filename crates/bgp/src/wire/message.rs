//! A whole BGP message: framing, parse and emit (RFC 4271 §4).

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use super::context::WireContext;
use super::error::{EmitError, WireError, WireErrorKind};
use super::header::{Header, MessageType, HEADER_LEN, MARKER};
use super::hex::serialize_hex;
use super::notification::{ErrorCode, MessageHeaderSubcode, Notification};
use super::open::Open;
use super::route_refresh::RouteRefresh;
use super::update::Update;

/// A BGP message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type")]
pub enum Message {
    /// OPEN (RFC 4271 §4.2).
    #[serde(rename = "OPEN")]
    Open(Open),
    /// UPDATE (RFC 4271 §4.3).
    #[serde(rename = "UPDATE")]
    Update(Update),
    /// NOTIFICATION (RFC 4271 §4.5).
    #[serde(rename = "NOTIFICATION")]
    Notification(Notification),
    /// KEEPALIVE (RFC 4271 §4.4).
    #[serde(rename = "KEEPALIVE")]
    Keepalive,
    /// ROUTE-REFRESH (RFC 2918, RFC 7313).
    #[serde(rename = "ROUTE-REFRESH")]
    RouteRefresh(RouteRefresh),
    /// A message of a type this codec does not know. A session answers it
    /// with [`Message::bad_type_notification`] (RFC 4271 §6.1); a decoder
    /// shows it.
    #[serde(rename = "UNKNOWN")]
    Unknown {
        /// The type byte.
        message_type: u8,
        /// The body, raw.
        #[serde(serialize_with = "serialize_hex")]
        body: Bytes,
    },
}

impl Message {
    /// The message type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Open(_) => MessageType::Open,
            Message::Update(_) => MessageType::Update,
            Message::Notification(_) => MessageType::Notification,
            Message::Keepalive => MessageType::Keepalive,
            Message::RouteRefresh(_) => MessageType::RouteRefresh,
            Message::Unknown { message_type, .. } => MessageType::from_u8(*message_type),
        }
    }

    /// Parses the message at the front of `buf` with the context of its
    /// direction; returns it and the number of bytes it took. When `buf`
    /// does not yet hold the whole message the error is
    /// [`WireErrorKind::Incomplete`] (see [`WireError::is_incomplete`]).
    pub fn parse(buf: &Bytes, ctx: &WireContext) -> Result<(Message, usize), WireError> {
        let header = Header::parse(buf, ctx.max_message_len())?;
        let len = usize::from(header.length);
        if buf.len() < len {
            return Err(WireError {
                offset: buf.len(),
                kind: WireErrorKind::Incomplete {
                    needed: len,
                    available: buf.len(),
                },
            });
        }
        let body = buf.slice(HEADER_LEN..len);
        let msg = match header.message_type {
            MessageType::Open => Message::Open(Open::parse_body(body, HEADER_LEN)?),
            MessageType::Update => Message::Update(Update::parse_body(body, HEADER_LEN, ctx)?),
            MessageType::Notification => {
                Message::Notification(Notification::parse_body(body, HEADER_LEN)?)
            }
            MessageType::Keepalive => Message::Keepalive,
            MessageType::RouteRefresh => {
                Message::RouteRefresh(RouteRefresh::parse_message(&buf.slice(..len))?)
            }
            MessageType::Unknown(message_type) => Message::Unknown { message_type, body },
        };
        Ok((msg, len))
    }

    /// The NOTIFICATION a session sends for a message of unknown type
    /// (RFC 4271 §6.1: Bad Message Type, data = the type byte); `None` for
    /// known types.
    pub fn bad_type_notification(&self) -> Option<Notification> {
        match self {
            Message::Unknown { message_type, .. } => Some(Notification::new(
                ErrorCode::MessageHeader(MessageHeaderSubcode::BadMessageType),
                Bytes::copy_from_slice(&[*message_type]),
            )),
            _ => None,
        }
    }

    /// Appends the encoded message to `out`. Fails, leaving `out` as it
    /// was, when the message exceeds the maximum size for its type in this
    /// context (4096; 65535 for non-OPEN messages with RFC 8654).
    pub fn emit(&self, ctx: &WireContext, out: &mut BytesMut) -> Result<(), EmitError> {
        let start = out.len();
        out.put_slice(&MARKER);
        out.put_u16(0);
        out.put_u8(self.message_type().to_u8());
        let r = match self {
            Message::Open(o) => o.emit_body(out),
            Message::Update(u) => u.emit_body(ctx, out),
            Message::Notification(n) => {
                n.emit_body(out);
                Ok(())
            }
            Message::Keepalive => Ok(()),
            Message::RouteRefresh(r) => {
                r.emit_body(out);
                Ok(())
            }
            Message::Unknown { body, .. } => {
                out.put_slice(body);
                Ok(())
            }
        };
        let len = out.len() - start;
        let max = self.message_type().max_len(ctx.max_message_len());
        let r = if r.is_ok() && len > max {
            Err(EmitError::TooLarge { length: len, max })
        } else {
            r
        };
        match r {
            Ok(()) => {
                out[start + 16..start + 18].copy_from_slice(&(len as u16).to_be_bytes());
                Ok(())
            }
            Err(e) => {
                out.truncate(start);
                Err(e)
            }
        }
    }

    /// The encoded message as bytes.
    pub fn to_bytes(&self, ctx: &WireContext) -> Result<Bytes, EmitError> {
        let mut out = BytesMut::new();
        self.emit(ctx, &mut out)?;
        Ok(out.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::family::AfiSafi;
    use crate::wire::route_refresh::RouteRefreshSubtype;

    fn b(hex: &str) -> Bytes {
        Bytes::from(
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect::<Vec<u8>>(),
        )
    }

    #[test]
    fn keepalive_and_incomplete_input() {
        let k = b("ffffffffffffffffffffffffffffffff001304");
        let (m, n) = Message::parse(&k, &WireContext::default()).unwrap();
        assert_eq!((m.clone(), n), (Message::Keepalive, 19));
        assert_eq!(m.to_bytes(&WireContext::default()).unwrap(), k);
        let e = Message::parse(&k.slice(..10), &WireContext::default()).unwrap_err();
        assert!(e.is_incomplete());
        let rr = b("ffffffffffffffffffffffffffffffff00170500010001");
        let e = Message::parse(&rr.slice(..20), &WireContext::default()).unwrap_err();
        assert_eq!(
            e.kind,
            WireErrorKind::Incomplete {
                needed: 23,
                available: 20
            }
        );
    }

    #[test]
    fn two_messages_back_to_back() {
        let two = b(
            "ffffffffffffffffffffffffffffffff001304ffffffffffffffffffffffffffffffff00170500190246",
        );
        let (m, n) = Message::parse(&two, &WireContext::default()).unwrap();
        assert_eq!(m, Message::Keepalive);
        let (m, n2) = Message::parse(&two.slice(n..), &WireContext::default()).unwrap();
        assert_eq!(n2, 23);
        assert_eq!(
            m,
            Message::RouteRefresh(RouteRefresh::new(
                AfiSafi::L2VPN_EVPN,
                RouteRefreshSubtype::EndOfRouteRefresh
            ))
        );
    }

    #[test]
    fn unknown_types_are_kept_and_answered() {
        let u = b("ffffffffffffffffffffffffffffffff0015090102");
        let (m, _) = Message::parse(&u, &WireContext::default()).unwrap();
        let n = m.bad_type_notification().unwrap();
        assert_eq!((n.code, n.subcode, &n.data[..]), (1, 3, &[9][..]));
        assert_eq!(m.to_bytes(&WireContext::default()).unwrap(), u);
    }

    #[test]
    fn oversized_messages_are_refused_and_leave_out_untouched() {
        let m = Message::Unknown {
            message_type: 2,
            body: Bytes::from(vec![0u8; 5000]),
        };
        let mut out = BytesMut::from(&b"abc"[..]);
        let e = m.emit(&WireContext::default(), &mut out).unwrap_err();
        assert_eq!(
            e,
            EmitError::TooLarge {
                length: 5019,
                max: 4096
            }
        );
        assert_eq!(&out[..], b"abc");
        let ext = WireContext {
            extended_message: true,
            ..WireContext::default()
        };
        assert!(m.emit(&ext, &mut out).is_ok());
        let keepalive_too_big = Message::Unknown {
            message_type: 4,
            body: Bytes::from_static(&[0]),
        };
        assert!(keepalive_too_big.to_bytes(&ext).is_err());
    }
}
