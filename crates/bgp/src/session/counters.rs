//! Per-session counters: messages in and out by type, prefixes, last
//! NOTIFICATION both ways, uptime and flaps. Owned by the session task and
//! published as a snapshot ([`Counters`] is `Clone`).

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::wire::{Message, Notification};

/// Message counts by type (RFC 4271 §4.1 types 1-5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageCounts {
    /// OPEN messages.
    pub open: u64,
    /// UPDATE messages.
    pub update: u64,
    /// NOTIFICATION messages.
    pub notification: u64,
    /// KEEPALIVE messages.
    pub keepalive: u64,
    /// ROUTE-REFRESH messages.
    pub route_refresh: u64,
    /// Messages of unknown types.
    pub unknown: u64,
}

impl MessageCounts {
    /// Counts one message.
    pub fn count(&mut self, m: &Message) {
        match m {
            Message::Open(_) => self.open += 1,
            Message::Update(_) => self.update += 1,
            Message::Notification(_) => self.notification += 1,
            Message::Keepalive => self.keepalive += 1,
            Message::RouteRefresh(_) => self.route_refresh += 1,
            Message::Unknown { .. } => self.unknown += 1,
        }
    }

    /// All messages.
    pub fn total(&self) -> u64 {
        self.open
            + self.update
            + self.notification
            + self.keepalive
            + self.route_refresh
            + self.unknown
    }
}

/// A session's counters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Counters {
    /// Messages received.
    pub messages_in: MessageCounts,
    /// Messages sent.
    pub messages_out: MessageCounts,
    /// NLRI announced by the peer (all families, duplicates included).
    pub prefixes_received: u64,
    /// NLRI withdrawn by the peer (all families).
    pub prefixes_withdrawn: u64,
    /// Distinct prefixes currently held from the peer, when tracked
    /// (max-prefix configured).
    pub prefixes_current: Option<u64>,
    /// NLRI we sent to the peer.
    pub prefixes_advertised: u64,
    /// UPDATEs treated as withdraw (RFC 7606).
    pub updates_treated_as_withdraw: u64,
    /// Attributes discarded (RFC 7606).
    pub attributes_discarded: u64,
    /// The last NOTIFICATION we sent.
    pub last_notification_sent: Option<Notification>,
    /// The last NOTIFICATION the peer sent.
    pub last_notification_received: Option<Notification>,
    /// NOTIFICATIONs we sent, by code and subcode (sorted).
    pub notifications_sent: Vec<NotificationCount>,
    /// NOTIFICATIONs the peer sent, by code and subcode (sorted).
    pub notifications_received: Vec<NotificationCount>,
    /// The last local error (I/O, decode).
    pub last_error: Option<String>,
    /// Times the session left Established.
    pub flaps: u64,
    /// Times the session reached Established.
    pub established_transitions: u64,
    /// Times the live session was handed over to a new perouter process
    /// (session handoff): the peer saw one session throughout.
    pub handoffs: u64,
    /// How long the session has been Established (at snapshot time).
    #[serde(serialize_with = "ser_secs")]
    pub uptime: Option<Duration>,
    #[serde(skip)]
    up_since: Option<Instant>,
}

/// The part of [`Counters`] a session handoff carries to the next process.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarriedCounters {
    /// Messages received.
    pub messages_in: MessageCounts,
    /// Messages sent.
    pub messages_out: MessageCounts,
    /// NLRI announced by the peer.
    pub prefixes_received: u64,
    /// NLRI withdrawn by the peer.
    pub prefixes_withdrawn: u64,
    /// NLRI sent to the peer.
    pub prefixes_advertised: u64,
    /// Times the session left Established.
    pub flaps: u64,
    /// Times the session reached Established.
    pub established_transitions: u64,
    /// Handoffs so far.
    pub handoffs: u64,
}

/// How many NOTIFICATIONs of one code and subcode (RFC 4271 §4.5) went one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NotificationCount {
    /// Error code.
    pub code: u8,
    /// Error subcode.
    pub subcode: u8,
    /// How many.
    pub count: u64,
}

fn count_notification(list: &mut Vec<NotificationCount>, n: &Notification) {
    match list.binary_search_by_key(&(n.code, n.subcode), |c| (c.code, c.subcode)) {
        Ok(i) => list[i].count += 1,
        Err(i) => list.insert(
            i,
            NotificationCount {
                code: n.code,
                subcode: n.subcode,
                count: 1,
            },
        ),
    }
}

fn ser_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

impl Counters {
    /// Records that the session came up at `now`.
    pub fn up(&mut self, now: Instant) {
        self.up_since = Some(now);
        self.established_transitions += 1;
    }

    /// Records a NOTIFICATION we sent.
    pub fn notification_sent(&mut self, n: &Notification) {
        count_notification(&mut self.notifications_sent, n);
        self.last_notification_sent = Some(n.clone());
    }

    /// Records a NOTIFICATION the peer sent.
    pub fn notification_received(&mut self, n: &Notification) {
        count_notification(&mut self.notifications_received, n);
        self.last_notification_received = Some(n.clone());
    }

    /// Records that the session went down.
    pub fn down(&mut self, was_established: bool) {
        if was_established {
            self.flaps += 1;
        }
        self.up_since = None;
    }

    /// The counters that continue across a session handoff (uptime is
    /// carried separately, as the time the session came up).
    pub fn carried(&self) -> CarriedCounters {
        CarriedCounters {
            messages_in: self.messages_in,
            messages_out: self.messages_out,
            prefixes_received: self.prefixes_received,
            prefixes_withdrawn: self.prefixes_withdrawn,
            prefixes_advertised: self.prefixes_advertised,
            flaps: self.flaps,
            established_transitions: self.established_transitions,
            handoffs: self.handoffs,
        }
    }

    /// Counters continuing `c` for a session handed over to this process
    /// and Established since `up_since`; counts one more handoff.
    pub fn resumed(c: &CarriedCounters, up_since: Instant) -> Counters {
        Counters {
            messages_in: c.messages_in,
            messages_out: c.messages_out,
            prefixes_received: c.prefixes_received,
            prefixes_withdrawn: c.prefixes_withdrawn,
            prefixes_advertised: c.prefixes_advertised,
            flaps: c.flaps,
            established_transitions: c.established_transitions,
            handoffs: c.handoffs + 1,
            up_since: Some(up_since),
            ..Counters::default()
        }
    }

    /// When the session came up, while it is up.
    pub fn up_since(&self) -> Option<Instant> {
        self.up_since
    }

    /// A copy with `uptime` computed at `now`.
    pub fn snapshot(&self, now: Instant) -> Counters {
        let mut c = self.clone();
        c.uptime = self.up_since.map(|t| now.saturating_duration_since(t));
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_uptime() {
        let mut c = Counters::default();
        c.messages_in.count(&Message::Keepalive);
        c.messages_in.count(&Message::Keepalive);
        assert_eq!(c.messages_in.keepalive, 2);
        assert_eq!(c.messages_in.total(), 2);
        let t0 = Instant::now();
        c.up(t0);
        assert_eq!(
            c.snapshot(t0 + Duration::from_secs(5)).uptime,
            Some(Duration::from_secs(5))
        );
        c.down(true);
        c.down(false);
        assert_eq!(c.flaps, 1);
        assert_eq!(c.snapshot(t0).uptime, None);
    }

    #[test]
    fn notifications_are_counted_by_code_and_subcode() {
        let n = |code, subcode| Notification {
            code,
            subcode,
            data: bytes::Bytes::new(),
        };
        let mut c = Counters::default();
        c.notification_received(&n(6, 2));
        c.notification_received(&n(4, 0));
        c.notification_received(&n(6, 2));
        c.notification_sent(&n(6, 4));
        let got: Vec<_> = c
            .notifications_received
            .iter()
            .map(|x| (x.code, x.subcode, x.count))
            .collect();
        assert_eq!(got, vec![(4, 0, 1), (6, 2, 2)]);
        assert_eq!(c.notifications_sent.len(), 1);
        assert_eq!(c.last_notification_received, Some(n(6, 2)));
        assert_eq!(c.last_notification_sent, Some(n(6, 4)));
    }
}
