//! Session handoff: what an Established session is, written down, so that
//! another perouter process continues it on the same TCP socket without the
//! peer noticing (no NOTIFICATION, no new OPEN, uptime and counters going
//! on).
//!
//! A [`SessionState`] is plain data (serde, versioned by
//! [`HANDOFF_VERSION`]): both OPEN messages as sent on the wire (the
//! successor re-runs the negotiation from them, so capabilities, the codec
//! contexts — 4-octet AS, ADD-PATH, extended next hop, extended messages —
//! and hold/keepalive come out identical), the timers' time left, the
//! jitter generator, the bytes read from the socket and not yet a whole
//! message, the counters that carry over, and the Adj-RIB-In as UPDATE
//! messages (filled in by the consumer, which holds it). A
//! [`SessionTransfer`] is a state with its socket.
//!
//! The Adj-RIB-In is the consumer's (the RIB's) to give, not the session's:
//! the session layer keeps no copy of what the peer sent (it would double
//! the memory of every route for a rare event), and the RIB already holds
//! every path by peer with its attributes as received.

use std::net::SocketAddr;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::config::NeighborTarget;
use crate::fsm::collision::Initiator;
use crate::fsm::{EstablishedState, OpenError};
use crate::session::counters::CarriedCounters;
use crate::wire::{Message, Open, Update, WireContext, WireError};

/// The version of the handoff format. A successor refuses a state of
/// another version (and the handoff falls back to a restart).
pub const HANDOFF_VERSION: u32 = 1;

/// One Established session, ready to be continued by another process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionState {
    /// [`HANDOFF_VERSION`] of the writer.
    pub version: u32,
    /// The neighbour entry the session belongs to (filled in by the
    /// speaker; the successor matches it against its own neighbours).
    pub target: Option<NeighborTarget>,
    /// The peer's address and port.
    pub remote: SocketAddr,
    /// Our address and port.
    pub local: SocketAddr,
    /// We opened the connection (else the peer did).
    pub we_connected: bool,
    /// The OPEN we sent, whole message, hex.
    pub our_open: String,
    /// The OPEN the peer sent, whole message, hex.
    pub peer_open: String,
    /// Bytes read from the socket that are not a whole message yet, hex.
    pub unread: String,
    /// The largest message the reader accepts (RFC 8654).
    pub max_message_len: usize,
    /// Time left on the HoldTimer, nanoseconds.
    pub hold_left_ns: Option<u64>,
    /// Time left on the KeepaliveTimer, nanoseconds.
    pub keepalive_left_ns: Option<u64>,
    /// Time left on the SendHoldTimer (RFC 9687), nanoseconds.
    pub send_hold_left_ns: Option<u64>,
    /// The FSM's jitter generator state.
    pub jitter: u64,
    /// When the session reached Established, Unix milliseconds (the uptime
    /// the successor shows continues from it).
    pub established_unix_ms: u64,
    /// Counters that carry over.
    pub counters: CarriedCounters,
    /// What the peer sent us and we hold (RFC 4271 §3.2 Adj-RIB-In), as
    /// UPDATE messages (whole messages, hex, encoded for the session's
    /// receive context): the successor's consumer rebuilds from them.
    pub adj_rib_in: Vec<String>,
}

/// A session state with its socket.
#[derive(Debug)]
pub struct SessionTransfer {
    /// The state.
    pub state: SessionState,
    /// The connected TCP socket.
    pub fd: OwnedFd,
}

/// Why a state cannot be resumed.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    /// Another format version.
    #[error("handoff format version {0}, this perouter reads version {HANDOFF_VERSION}")]
    Version(u32),
    /// A hex field is not hex.
    #[error("{field}: not hex: {error}")]
    Hex {
        /// Which field.
        field: &'static str,
        /// The decoder's complaint.
        error: hex::FromHexError,
    },
    /// A carried message does not parse.
    #[error("{field}: {error}")]
    Wire {
        /// Which field.
        field: &'static str,
        /// The parser's complaint.
        error: WireError,
    },
    /// A carried OPEN field holds another message type.
    #[error("{0}: not an OPEN message")]
    NotOpen(&'static str),
    /// An Adj-RIB-In entry is not an UPDATE.
    #[error("adj_rib_in: not an UPDATE message")]
    NotUpdate,
    /// The socket cannot be used.
    #[error("socket: {0}")]
    Io(String),
    /// The OPENs are not acceptable under the successor's configuration.
    #[error("the negotiated OPENs are refused by this configuration: {0}")]
    Open(#[from] OpenError),
}

fn ns(d: Option<Duration>) -> Option<u64> {
    d.map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn unhex(field: &'static str, s: &str) -> Result<Vec<u8>, HandoffError> {
    hex::decode(s).map_err(|error| HandoffError::Hex { field, error })
}

fn open_hex(o: &Open) -> String {
    // An OPEN is at most 4096 bytes and always encodes (it was sent).
    Message::Open(o.clone())
        .to_bytes(&WireContext::default())
        .map(|b| hex::encode(&b))
        .unwrap_or_default()
}

fn parse_open(field: &'static str, s: &str) -> Result<Open, HandoffError> {
    let b = Bytes::from(unhex(field, s)?);
    match Message::parse(&b, &WireContext::default()) {
        Ok((Message::Open(o), _)) => Ok(o),
        Ok(_) => Err(HandoffError::NotOpen(field)),
        Err(error) => Err(HandoffError::Wire { field, error }),
    }
}

/// `Instant` ↔ wall clock at `now`, for carrying "up since" across
/// processes (instants do not travel).
fn unix_ms_of(t: Instant, now: Instant) -> u64 {
    let ago = now.saturating_duration_since(t);
    SystemTime::now()
        .checked_sub(ago)
        .and_then(|s| s.duration_since(UNIX_EPOCH).ok())
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// What a session carries besides its FSM, for [`SessionState::new`].
#[derive(Debug, Clone)]
pub struct ConnFacts {
    /// Peer address.
    pub remote: SocketAddr,
    /// Our address.
    pub local: SocketAddr,
    /// Who opened the connection.
    pub initiator: Initiator,
    /// Bytes read and not framed.
    pub unread: Bytes,
    /// The reader's limit.
    pub max_message_len: usize,
}

impl SessionState {
    /// The state of a session exported at `now` (see [`crate::fsm::Fsm::export`]),
    /// up since `up_since`, with an empty Adj-RIB-In and no target yet.
    pub fn new(
        fsm: &EstablishedState,
        conn: &ConnFacts,
        counters: CarriedCounters,
        up_since: Instant,
        now: Instant,
    ) -> Self {
        SessionState {
            version: HANDOFF_VERSION,
            target: None,
            remote: conn.remote,
            local: conn.local,
            we_connected: conn.initiator == Initiator::Local,
            our_open: open_hex(&fsm.our_open),
            peer_open: open_hex(&fsm.peer_open),
            unread: hex::encode(&conn.unread),
            max_message_len: conn.max_message_len,
            hold_left_ns: ns(fsm.hold_left),
            keepalive_left_ns: ns(fsm.keepalive_left),
            send_hold_left_ns: ns(fsm.send_hold_left),
            jitter: fsm.jitter,
            established_unix_ms: unix_ms_of(up_since, now),
            counters,
            adj_rib_in: Vec::new(),
        }
    }

    /// The FSM's part, checked: the version, both OPENs parsed.
    pub fn established(&self) -> Result<EstablishedState, HandoffError> {
        if self.version != HANDOFF_VERSION {
            return Err(HandoffError::Version(self.version));
        }
        Ok(EstablishedState {
            our_open: parse_open("our_open", &self.our_open)?,
            peer_open: parse_open("peer_open", &self.peer_open)?,
            hold_left: self.hold_left_ns.map(Duration::from_nanos),
            keepalive_left: self.keepalive_left_ns.map(Duration::from_nanos),
            send_hold_left: self.send_hold_left_ns.map(Duration::from_nanos),
            jitter: self.jitter,
        })
    }

    /// The connection's part.
    pub fn conn(&self) -> Result<ConnFacts, HandoffError> {
        Ok(ConnFacts {
            remote: self.remote,
            local: self.local,
            initiator: if self.we_connected {
                Initiator::Local
            } else {
                Initiator::Remote
            },
            unread: Bytes::from(unhex("unread", &self.unread)?),
            max_message_len: self.max_message_len,
        })
    }

    /// When the session came up, on this process's clock at `now`.
    pub fn up_since(&self, now: Instant) -> Instant {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let ago = Duration::from_millis(now_ms.saturating_sub(self.established_unix_ms));
        now.checked_sub(ago).unwrap_or(now)
    }

    /// Sets the Adj-RIB-In from UPDATEs encoded with `ctx` (the session's
    /// receive context, as the peer would have sent them).
    pub fn set_adj_rib_in(&mut self, updates: &[Update], ctx: &WireContext) {
        self.adj_rib_in = updates
            .iter()
            .filter_map(|u| Message::Update(u.clone()).to_bytes(ctx).ok())
            .map(|b| hex::encode(&b))
            .collect();
    }

    /// The Adj-RIB-In's UPDATEs decoded with `ctx`.
    pub fn adj_rib_in(&self, ctx: &WireContext) -> Result<Vec<Update>, HandoffError> {
        self.adj_rib_in
            .iter()
            .map(|h| {
                let b = Bytes::from(unhex("adj_rib_in", h)?);
                match Message::parse(&b, ctx) {
                    Ok((Message::Update(u), _)) => Ok(u),
                    Ok(_) => Err(HandoffError::NotUpdate),
                    Err(error) => Err(HandoffError::Wire {
                        field: "adj_rib_in",
                        error,
                    }),
                }
            })
            .collect()
    }
}
