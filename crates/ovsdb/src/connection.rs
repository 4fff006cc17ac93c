//! The sans-IO client: requests go in ([`Connection::transact`]), received bytes go in
//! ([`Connection::handle_input`]); bytes to write come out of [`Connection::poll_transmit`]
//! and replies out of [`Connection::poll_event`]. The server's `echo` requests (its liveness
//! probe, RFC 7047 §4.1.11) are answered here, so a driver cannot forget them.

use std::collections::{BTreeSet, VecDeque};

use serde_json::Value;

use crate::rpc::{self, Decoder, Message, ProtocolError};
use crate::transact::{self, TransactError};

/// What the connection reports.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The reply to transaction `id`: the operations' results, or why nothing was committed.
    Transacted {
        /// The id [`Connection::transact`] returned.
        id: u64,
        /// The results.
        outcome: Result<Vec<Value>, TransactError>,
    },
}

/// One OVSDB client connection's protocol state.
#[derive(Debug, Default)]
pub struct Connection {
    next_id: u64,
    /// Transactions sent and not answered yet, with their operation count.
    pending: BTreeSet<(u64, usize)>,
    decoder: Decoder,
    out: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
}

impl Connection {
    /// Queues a `transact` of `ops` on database `db`; its reply comes as
    /// [`Event::Transacted`] with the returned id.
    pub fn transact(&mut self, db: &str, ops: &[Value]) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.out
            .push_back(rpc::request(id, "transact", transact::params(db, ops)));
        self.pending.insert((id, ops.len()));
        id
    }

    /// Takes received bytes. An error means the stream is unusable: drop the connection.
    pub fn handle_input(&mut self, bytes: &[u8]) -> Result<(), ProtocolError> {
        self.decoder.feed(bytes);
        while let Some(m) = self.decoder.next_message()? {
            match m {
                Message::Request { id, method, params } if method == "echo" => {
                    self.out.push_back(rpc::response(&id, params));
                }
                Message::Request { .. } | Message::Notification { .. } => {}
                Message::Response { id, result, error } => {
                    let Some(id) = id.as_u64() else { continue };
                    let Some(&(_, n)) = self.pending.range((id, 0)..=(id, usize::MAX)).next()
                    else {
                        continue;
                    };
                    self.pending.remove(&(id, n));
                    self.events.push_back(Event::Transacted {
                        id,
                        outcome: transact::check(&result, &error, n),
                    });
                }
            }
        }
        Ok(())
    }

    /// The next bytes to write.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.out.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Transactions waiting for their reply.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn transacts_and_answers_echo() {
        let mut c = Connection::default();
        let id = c.transact("Open_vSwitch", &[json!({"op": "comment", "comment": "x"})]);
        let sent: Value = serde_json::from_slice(&c.poll_transmit().unwrap()).unwrap();
        assert_eq!(sent["method"], "transact");
        assert_eq!(sent["id"], id);
        assert_eq!(sent["params"][0], "Open_vSwitch");
        assert!(c.poll_transmit().is_none());
        // The server's probe arrives first, then an unrelated reply, then ours.
        c.handle_input(
            br#"{"id":"echo","method":"echo","params":[]}{"id":99,"result":[],"error":null}{"id":"#,
        )
        .unwrap();
        let echo: Value = serde_json::from_slice(&c.poll_transmit().unwrap()).unwrap();
        assert_eq!(echo, json!({"id": "echo", "result": [], "error": null}));
        assert!(c.poll_event().is_none());
        assert_eq!(c.pending(), 1);
        c.handle_input(format!(r#"{id},"result":[{{}}],"error":null}}"#).as_bytes())
            .unwrap();
        assert_eq!(
            c.poll_event(),
            Some(Event::Transacted {
                id,
                outcome: Ok(vec![json!({})])
            })
        );
        assert_eq!(c.pending(), 0);
        assert!(c.handle_input(b"}").is_err());
    }
}
