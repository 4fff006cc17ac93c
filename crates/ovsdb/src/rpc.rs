//! JSON-RPC 1.0 as OVSDB uses it (RFC 7047 §4): every message is one JSON object; messages
//! follow each other on the stream with no delimiter, so the [`Decoder`] splits the byte
//! stream at the end of each complete JSON value.
//!
//! Never panics on any input: bytes that are not JSON, JSON that is not a JSON-RPC message, an
//! unbounded message are errors (the connection is then dropped and made again).

use serde_json::{json, Value};

/// The largest message accepted, in bytes. The reads perouter makes (a few columns of the
/// Bridge, Port and Interface tables) are kilobytes even on a node with thousands of ports;
/// 16 MiB bounds the buffer a broken or hostile peer can make us hold.
pub const MAX_MESSAGE: usize = 16 << 20;

/// A JSON-RPC message (RFC 7047 §4: request, response, notification).
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// A request: the server sends `echo` (§4.1.11) and expects the same `params` back.
    Request {
        /// Request id (any JSON value; echoed in the response).
        id: Value,
        /// Method name.
        method: String,
        /// Parameters (an array).
        params: Value,
    },
    /// A response to one of our requests.
    Response {
        /// The id of the request answered.
        id: Value,
        /// `result` (null on error).
        result: Value,
        /// `error` (null on success; a string or an object otherwise).
        error: Value,
    },
    /// A notification (`id` null), e.g. `update` for a monitor; perouter sets none, so they
    /// are ignored.
    Notification {
        /// Method name.
        method: String,
        /// Parameters.
        params: Value,
    },
}

/// What can be wrong with the byte stream.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// The bytes are not JSON.
    #[error("not JSON: {0}")]
    NotJson(String),
    /// A JSON value that is not a JSON-RPC message.
    #[error("not a JSON-RPC message: {0}")]
    NotMessage(String),
    /// A message longer than [`MAX_MESSAGE`].
    #[error("message longer than {MAX_MESSAGE} bytes")]
    TooLong,
}

/// Turns a JSON value into a [`Message`].
pub fn parse_message(v: Value) -> Result<Message, ProtocolError> {
    let Value::Object(mut m) = v else {
        return Err(ProtocolError::NotMessage("not an object".into()));
    };
    let id = m.remove("id").unwrap_or(Value::Null);
    match m.remove("method") {
        Some(Value::String(method)) => {
            let params = m.remove("params").unwrap_or(Value::Null);
            if !params.is_array() {
                return Err(ProtocolError::NotMessage(format!(
                    "{method}: params is not an array"
                )));
            }
            Ok(if id.is_null() {
                Message::Notification { method, params }
            } else {
                Message::Request { id, method, params }
            })
        }
        Some(_) => Err(ProtocolError::NotMessage("method is not a string".into())),
        None => {
            if !m.contains_key("result") && !m.contains_key("error") {
                return Err(ProtocolError::NotMessage(
                    "neither a method nor a result or an error".into(),
                ));
            }
            Ok(Message::Response {
                id,
                result: m.remove("result").unwrap_or(Value::Null),
                error: m.remove("error").unwrap_or(Value::Null),
            })
        }
    }
}

/// The bytes of a request.
pub fn request(id: u64, method: &str, params: Value) -> Vec<u8> {
    json!({"id": id, "method": method, "params": params})
        .to_string()
        .into_bytes()
}

/// The bytes of a successful response to request `id`.
pub fn response(id: &Value, result: Value) -> Vec<u8> {
    json!({"id": id, "result": result, "error": null})
        .to_string()
        .into_bytes()
}

/// Splits a byte stream into messages. The end of a message is found by an incremental scan
/// (bracket depth outside strings), so each byte is looked at once however the stream is cut;
/// the complete message is then parsed by `serde_json`.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    /// How far `buf` has been scanned.
    scanned: usize,
    /// Bracket depth at `scanned`.
    depth: usize,
    /// Inside a string at `scanned`, and just after a backslash in it.
    in_string: bool,
    escaped: bool,
}

impl Decoder {
    /// Appends received bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The length of the first complete message in `buf`, scanning from where the last call
    /// stopped.
    fn message_end(&mut self) -> Result<Option<usize>, ProtocolError> {
        while self.scanned < self.buf.len() {
            let b = self.buf[self.scanned];
            self.scanned += 1;
            if self.in_string {
                match (self.escaped, b) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match b {
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' if self.depth > 0 => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Ok(Some(self.scanned));
                    }
                }
                b'"' if self.depth > 0 => self.in_string = true,
                _ if self.depth == 0 && !b.is_ascii_whitespace() => {
                    return Err(ProtocolError::NotMessage(format!(
                        "a message starts with {:?}",
                        char::from(b)
                    )))
                }
                _ => {}
            }
        }
        if self.buf.len() > MAX_MESSAGE {
            return Err(ProtocolError::TooLong);
        }
        Ok(None)
    }

    /// The next complete message, `Ok(None)` when more bytes are needed. After an error the
    /// stream cannot be resynchronised: drop the connection.
    pub fn next_message(&mut self) -> Result<Option<Message>, ProtocolError> {
        let Some(end) = self.message_end()? else {
            if self.depth == 0 {
                // Only whitespace so far.
                self.buf.clear();
                self.scanned = 0;
            }
            return Ok(None);
        };
        let v: Result<Value, _> = serde_json::from_slice(&self.buf[..end]);
        self.buf.drain(..end);
        self.scanned = 0;
        parse_message(v.map_err(|e| ProtocolError::NotJson(e.to_string()))?).map(Some)
    }

    /// Bytes held waiting for the rest of a message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two responses exactly as a real ovsdb-server 3.1 wrote them, back to back.
    const TWO: &[u8] =
        br#"{"id":5,"error":"unknown method"}{"id":"e","result":["hi"],"error":null}"#;

    #[test]
    fn splits_back_to_back_messages_at_any_cut() {
        for cut in 0..=TWO.len() {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            d.feed(&TWO[..cut]);
            while let Some(m) = d.next_message().unwrap() {
                got.push(m);
            }
            d.feed(&TWO[cut..]);
            while let Some(m) = d.next_message().unwrap() {
                got.push(m);
            }
            assert_eq!(got.len(), 2, "cut at {cut}");
            assert_eq!(
                got[0],
                Message::Response {
                    id: json!(5),
                    result: Value::Null,
                    error: json!("unknown method")
                }
            );
            assert_eq!(
                got[1],
                Message::Response {
                    id: json!("e"),
                    result: json!(["hi"]),
                    error: Value::Null
                }
            );
            assert_eq!(d.buffered(), 0);
        }
    }

    #[test]
    fn strings_with_brackets_and_escapes_survive_any_cut() {
        let msg = br#" {"id":3,"error":{"error":"x","details":"[{\"}\\"}} 
{"id":4,"result":[],"error":null}"#;
        for cut in 0..=msg.len() {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for part in [&msg[..cut], &msg[cut..]] {
                d.feed(part);
                while let Some(m) = d.next_message().unwrap() {
                    got.push(m);
                }
            }
            assert_eq!(got.len(), 2, "cut at {cut}");
            match &got[0] {
                Message::Response { error, .. } => {
                    assert_eq!(error["details"], json!("[{\"}\\"), "cut at {cut}")
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn tells_requests_notifications_and_garbage_apart() {
        let m = |s: &str| {
            let mut d = Decoder::default();
            d.feed(s.as_bytes());
            d.next_message()
        };
        assert_eq!(
            m(r#"{"id":"echo","method":"echo","params":[]}"#).unwrap(),
            Some(Message::Request {
                id: json!("echo"),
                method: "echo".into(),
                params: json!([])
            })
        );
        assert!(matches!(
            m(r#"{"id":null,"method":"update","params":[null,{}]}"#).unwrap(),
            Some(Message::Notification { .. })
        ));
        assert!(matches!(m("]"), Err(ProtocolError::NotMessage(_))));
        assert!(matches!(m("{]"), Err(ProtocolError::NotJson(_))));
        assert!(matches!(m("{\"a\":tru}"), Err(ProtocolError::NotJson(_))));
        // Brackets inside strings (escaped quotes too) do not end a message.
        assert!(matches!(
            m(r#"{"id":1,"result":["}]\"}"],"error":null}"#).unwrap(),
            Some(Message::Response { .. })
        ));
        assert!(matches!(m("[1]"), Err(ProtocolError::NotMessage(_))));
        assert!(matches!(
            m(r#"{"id":1}"#),
            Err(ProtocolError::NotMessage(_))
        ));
        assert!(matches!(
            m(r#"{"id":1,"method":"echo","params":{}}"#),
            Err(ProtocolError::NotMessage(_))
        ));
        assert_eq!(m("  \n").unwrap(), None);
        assert_eq!(m(r#"{"id":1,"res"#).unwrap(), None);
        // Deep nesting is refused by serde_json's recursion limit, not a stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(matches!(m(&deep), Err(ProtocolError::NotJson(_))));
    }

    #[test]
    fn an_endless_message_is_refused() {
        let mut d = Decoder::default();
        d.feed(b"{\"id\":1,\"result\":\"");
        let chunk = vec![b'a'; 1 << 20];
        let mut refused = false;
        for _ in 0..20 {
            d.feed(&chunk);
            if d.next_message() == Err(ProtocolError::TooLong) {
                refused = true;
                break;
            }
        }
        assert!(refused);
    }

    #[test]
    fn requests_and_responses_are_json_rpc() {
        let r: Value =
            serde_json::from_slice(&request(7, "transact", json!(["Open_vSwitch"]))).unwrap();
        assert_eq!(
            r,
            json!({"id": 7, "method": "transact", "params": ["Open_vSwitch"]})
        );
        let e: Value = serde_json::from_slice(&response(&json!("echo"), json!([]))).unwrap();
        assert_eq!(e, json!({"id": "echo", "result": [], "error": null}));
    }
}
