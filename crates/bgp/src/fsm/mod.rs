//! The BGP-4 session state machine (RFC 4271 §8), sans-IO.
//!
//! [`Fsm`] is a pure function of what it is told: `handle_*` methods take an
//! input (admin start/stop, TCP connected/failed/closed, a decoded message, a
//! decode error, the passage of time) together with the current time; the
//! results are read back with `poll_*`: messages to transmit
//! ([`Fsm::poll_transmit`]), the next deadline ([`Fsm::poll_timeout`]) and
//! events for the driver and the speaker ([`Fsm::poll_event`]: connect,
//! disconnect, session up with the negotiated [`SessionParams`], session down,
//! routes received). No socket, clock or random source is touched: jitter
//! comes from a seed given at construction.
//!
//! Automatic restart is built in: after an error the machine goes to Idle and
//! re-arms the ConnectRetry timer with an exponential, jittered backoff
//! (RFC 4271 §8.1.1 "DampPeerOscillations" in spirit), reset once a session
//! has been Established.
//!
//! Connection collision (§6.8) involves two connections and so two machines:
//! the driver runs a second [`Fsm`] for an incoming connection and asks
//! [`collision::keep_existing`] which one survives.

pub mod collision;
pub mod graceful_restart;
pub mod open;
pub mod timers;

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{debug, info, warn};

use crate::config::PeerConfig;
use crate::wire::{
    CeaseSubcode, ErrorCode, FsmSubcode, Message, Notification, RouteRefresh, Update, WireContext,
    WireError,
};

pub use open::{OpenError, SessionParams};
use timers::{Backoff, Jitter};

/// The six states of RFC 4271 §8.2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Refuses connections; waits for start or for the restart backoff.
    Idle,
    /// Waiting for an outgoing TCP connection to complete.
    Connect,
    /// Waiting for an incoming TCP connection (or the retry timer).
    Active,
    /// Our OPEN is sent; waiting for the peer's.
    OpenSent,
    /// OPENs exchanged; waiting for the peer's KEEPALIVE.
    OpenConfirm,
    /// The session is up: UPDATEs flow.
    Established,
}

/// The timers of §10 the machine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimerKind {
    /// ConnectRetryTimer: the delay before the next connection attempt, and
    /// the connect timeout while in Connect.
    ConnectRetry,
    /// HoldTimer: the peer is declared dead when it expires.
    Hold,
    /// KeepaliveTimer: time to send a KEEPALIVE.
    Keepalive,
    /// SendHoldTimer (RFC 9687): the peer has not read what we queued for
    /// it for this long; it is closed when the timer expires.
    SendHold,
}

/// The large hold time used while waiting for the peer's OPEN (§8.2.2: "a
/// large value", 4 minutes suggested).
pub const OPEN_HOLD_TIME: Duration = Duration::from_secs(240);

/// RFC 9687 §4: the SendHoldTimer is at least 8 minutes unless configured.
pub const DEFAULT_SEND_HOLD_TIME: Duration = Duration::from_secs(480);

/// Why a session went down (or a connection was given up).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// We sent this NOTIFICATION.
    NotificationSent(Notification),
    /// The peer sent this NOTIFICATION.
    NotificationReceived(Notification),
    /// The TCP connection closed or failed.
    ConnectionClosed,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

impl std::fmt::Display for DownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownReason::NotificationSent(n) => write!(f, "NOTIFICATION sent: {n}"),
            DownReason::NotificationReceived(n) => write!(f, "NOTIFICATION received: {n}"),
            DownReason::ConnectionClosed => f.write_str("connection closed"),
        }
    }
}

/// What the machine asks of its driver and reports to the speaker.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Open a TCP connection to the peer (abandoning any pending attempt).
    Connect,
    /// Close the TCP connection, after writing queued transmits.
    Disconnect,
    /// The session reached Established with these parameters.
    Up(Box<SessionParams>),
    /// A connection that had reached OpenSent or beyond ended; `established`
    /// says whether the session was up (routes learnt from it are gone).
    Down {
        /// Why.
        reason: DownReason,
        /// Whether the session was Established.
        established: bool,
    },
    /// An UPDATE arrived on the Established session.
    Update(Update),
    /// A ROUTE-REFRESH (RFC 2918 / RFC 7313) arrived.
    RouteRefresh(RouteRefresh),
}

/// The returned error when routes are offered to a session that is not up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("session is {0:?}, UPDATEs are only sent in Established")]
pub struct NotEstablished(pub State);

/// An Established session's state as [`Fsm::export`] gives it and
/// [`Fsm::resume`] takes it (serialized by `crate::session::handoff`).
#[derive(Debug, Clone, PartialEq)]
pub struct EstablishedState {
    /// The OPEN we sent.
    pub our_open: crate::wire::Open,
    /// The OPEN the peer sent.
    pub peer_open: crate::wire::Open,
    /// Time left on the HoldTimer (None: not running, hold time 0).
    pub hold_left: Option<Duration>,
    /// Time left on the KeepaliveTimer.
    pub keepalive_left: Option<Duration>,
    /// Time left on the SendHoldTimer (RFC 9687), when running.
    pub send_hold_left: Option<Duration>,
    /// The jitter generator's state (RFC 4271 §10 jitter continues the same).
    pub jitter: u64,
}

/// Local settings the machine needs (a resolved [`PeerConfig`]).
#[derive(Debug, Clone)]
pub struct FsmConfig {
    /// Our AS towards this peer.
    pub local_as: u32,
    /// Our BGP identifier.
    pub router_id: Ipv4Addr,
    /// The neighbour's configuration.
    pub peer: PeerConfig,
}

/// The state machine of one BGP connection.
#[derive(Debug)]
pub struct Fsm {
    cfg: FsmConfig,
    state: State,
    admin_up: bool,
    jitter: Jitter,
    backoff: Backoff,
    connect_retry: Option<Instant>,
    hold: Option<Instant>,
    keepalive: Option<Instant>,
    hold_time: Duration,
    keepalive_time: Option<Duration>,
    sent_open: Option<crate::wire::Open>,
    /// The peer's OPEN once accepted: kept (with ours) so that an Established
    /// session can be exported and resumed elsewhere ([`Fsm::export`]).
    peer_open: Option<crate::wire::Open>,
    params: Option<SessionParams>,
    rx_ctx: WireContext,
    tx_ctx: WireContext,
    transmits: VecDeque<Message>,
    events: VecDeque<Event>,
    established_at: Option<Instant>,
    /// RFC 9687 SendHoldTimer deadline: armed while the driver reports bytes
    /// queued for the peer that made no progress.
    send_hold: Option<Instant>,
    /// No connection is accepted or opened before this instant (a peer
    /// closed for exceeding its prefix limit, RFC 4486).
    hold_down_until: Option<Instant>,
    /// RFC 4724 restarting role: set the R bit until a session has been
    /// re-established after our restart.
    restarting: bool,
}

impl Fsm {
    /// A machine in Idle, administratively down; `seed` feeds timer jitter.
    pub fn new(cfg: FsmConfig, seed: u64) -> Self {
        let backoff = Backoff::new(
            cfg.peer.connect_retry_duration(),
            cfg.peer.connect_retry_max_duration(),
        );
        let gr = &cfg.peer.graceful_restart;
        let restarting = gr.enabled && gr.restarting;
        Self {
            restarting,
            cfg,
            state: State::Idle,
            admin_up: false,
            jitter: Jitter::new(seed),
            backoff,
            connect_retry: None,
            hold: None,
            keepalive: None,
            hold_time: OPEN_HOLD_TIME,
            keepalive_time: None,
            sent_open: None,
            peer_open: None,
            params: None,
            rx_ctx: WireContext::default(),
            tx_ctx: WireContext::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            established_at: None,
            send_hold: None,
            hold_down_until: None,
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The configuration the machine runs with.
    pub fn config(&self) -> &FsmConfig {
        &self.cfg
    }

    /// Negotiated parameters, from OpenConfirm on (`None` before).
    pub fn params(&self) -> Option<&SessionParams> {
        self.params.as_ref()
    }

    /// The peer's BGP identifier once its OPEN has been accepted.
    pub fn remote_id(&self) -> Option<Ipv4Addr> {
        self.params.as_ref().map(|p| p.peer_id)
    }

    /// When the session last reached Established, while it is.
    pub fn established_at(&self) -> Option<Instant> {
        self.established_at
    }

    /// How to decode what the peer sends (negotiated after its OPEN).
    pub fn rx_context(&self) -> &WireContext {
        &self.rx_ctx
    }

    /// How to encode what we send (negotiated after the peer's OPEN).
    pub fn tx_context(&self) -> &WireContext {
        &self.tx_ctx
    }

    /// The deadline of one timer, if armed.
    pub fn timer(&self, kind: TimerKind) -> Option<Instant> {
        match kind {
            TimerKind::ConnectRetry => self.connect_retry,
            TimerKind::Hold => self.hold,
            TimerKind::Keepalive => self.keepalive,
            TimerKind::SendHold => self.send_hold,
        }
    }

    /// Whether a connection (accepted or opened) may be used now: not during
    /// the hold-down after a [`Fsm::handle_cease_hold_down`].
    pub fn accepts_connections(&self, now: Instant) -> bool {
        self.hold_down_until.is_none_or(|t| now >= t)
    }

    // ---------------------------------------------------------------- inputs

    /// ManualStart/AutomaticStart (events 1, 3-5): leave Idle and connect,
    /// or wait for the peer if passive.
    pub fn handle_start(&mut self, now: Instant) {
        self.admin_up = true;
        if let Some(until) = self.hold_down_until.filter(|t| now < *t) {
            // Still held down: start when the hold-down ends.
            if self.state == State::Idle {
                self.connect_retry = Some(until);
            }
            return;
        }
        if self.state == State::Idle {
            self.backoff.reset();
            self.begin_connecting(now);
        }
    }

    /// Start without connecting out (event 5, passive): for the second
    /// connection of a collision, which only ever answers an accepted one.
    pub fn handle_start_passive(&mut self, now: Instant) {
        self.admin_up = true;
        if self.state == State::Idle {
            self.set_state(State::Active);
            let _ = now;
        }
    }

    /// ManualStop (event 2): send Cease / Administrative Shutdown with the
    /// RFC 9003 `message` if a connection exists, and stay Idle until the
    /// next start.
    pub fn handle_stop(&mut self, now: Instant, message: Option<&str>) {
        self.admin_up = false;
        let n = match message {
            Some(m) => {
                Notification::cease_with_communication(CeaseSubcode::AdministrativeShutdown, m)
            }
            None => Notification::new(
                ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown),
                Bytes::new(),
            ),
        };
        self.close_with(now, n);
        self.connect_retry = None;
    }

    /// Tear the session down with a Cease subcode such as Administrative
    /// Reset or Maximum Number of Prefixes Reached, then restart after the
    /// backoff (build a shutdown communication with
    /// [`Notification::cease_with_communication`]).
    pub fn handle_cease(&mut self, now: Instant, notification: Notification) {
        self.close_with(now, notification);
    }

    /// Like [`Fsm::handle_cease`], then stays down for `hold_down`: no
    /// connection is opened or accepted before it has passed (the restart
    /// interval after Cease / Maximum Number of Prefixes Reached, RFC 4486).
    pub fn handle_cease_hold_down(
        &mut self,
        now: Instant,
        notification: Notification,
        hold_down: Duration,
    ) {
        self.close_with(now, notification);
        let until = now + hold_down;
        self.hold_down_until = Some(until);
        if self.admin_up {
            self.connect_retry = Some(until);
        }
    }

    /// The driver's report on the send queue (RFC 9687): `stalled_since` is
    /// when the bytes queued for the peer last made progress while some are
    /// still pending, or `None` when nothing is pending. While it is `Some`,
    /// the SendHoldTimer runs from that instant; it expires after
    /// [`Fsm::send_hold_time`] and closes the session with Send Hold Timer
    /// Expired. Only what the peer's TCP window holds back counts: the
    /// NOTIFICATION is sent best effort, as RFC 9687 §4 says.
    pub fn handle_send_backlog(&mut self, stalled_since: Option<Instant>) {
        let live = matches!(
            self.state,
            State::OpenSent | State::OpenConfirm | State::Established
        );
        self.send_hold = match (stalled_since, self.send_hold_time()) {
            (Some(t), Some(d)) if live => Some(t + d),
            _ => None,
        };
    }

    /// The SendHoldTimer's duration: the configured one, or RFC 9687 §4's
    /// suggestion, the larger of 8 minutes and twice the hold time; `None`
    /// when configured to 0 (disabled).
    pub fn send_hold_time(&self) -> Option<Duration> {
        match self.cfg.peer.send_hold_time {
            Some(0) => None,
            Some(s) => Some(Duration::from_secs(u64::from(s))),
            None => Some(DEFAULT_SEND_HOLD_TIME.max(self.hold_time * 2)),
        }
    }

    /// Our outgoing connection completed, or an incoming one was accepted
    /// (events 16/17): send OPEN, go to OpenSent.
    pub fn handle_connected(&mut self, now: Instant) {
        match self.state {
            State::Idle | State::Connect | State::Active if !self.accepts_connections(now) => {
                self.events.push_back(Event::Disconnect);
            }
            State::Idle if !self.admin_up => {
                // Refuse: the driver closes it.
                self.events.push_back(Event::Disconnect);
            }
            State::Idle | State::Connect | State::Active => {
                self.connect_retry = None;
                let open = open::build_open(&self.cfg, self.restarting);
                self.transmits.push_back(Message::Open(open.clone()));
                self.sent_open = Some(open);
                self.hold_time = OPEN_HOLD_TIME;
                self.hold = Some(now + OPEN_HOLD_TIME);
                self.set_state(State::OpenSent);
            }
            // A second connection is the driver's business (collision).
            _ => {}
        }
    }

    /// The outgoing connection failed (event 18): wait in Active.
    pub fn handle_connect_failed(&mut self, now: Instant) {
        if self.state == State::Connect {
            self.set_state(State::Active);
            self.arm_retry(now);
        }
    }

    /// The TCP connection closed (event 18 after connecting).
    pub fn handle_closed(&mut self, now: Instant) {
        match self.state {
            State::Idle | State::Active => {}
            State::Connect => self.handle_connect_failed(now),
            State::OpenSent | State::OpenConfirm | State::Established => {
                let established = self.state == State::Established;
                self.reset_session();
                self.events.push_back(Event::Down {
                    reason: DownReason::ConnectionClosed,
                    established,
                });
                self.events.push_back(Event::Disconnect);
                self.enter_idle_and_retry(now);
            }
        }
    }

    /// A message that could not be decoded (header, OPEN, UPDATE errors that
    /// reset the session, RFC 7606 §3): answer with its NOTIFICATION and close.
    pub fn handle_decode_error(&mut self, now: Instant, err: &WireError) {
        warn!(state = ?self.state, error = %err, "peer sent an undecodable message");
        match err.notification() {
            Some(n) => self.close_with(now, n),
            None => self.handle_closed(now),
        }
    }

    /// A decoded message from the peer.
    pub fn handle_message(&mut self, now: Instant, msg: Message) {
        match (self.state, msg) {
            (State::Idle | State::Connect | State::Active, _) => {
                // No connection is known to be open: nothing to do.
            }
            (_, m @ Message::Unknown { .. }) => {
                // RFC 4271 §6.1: Message Header Error / Bad Message Type.
                if let Some(n) = m.bad_type_notification() {
                    self.close_with(now, n);
                }
            }
            (_, Message::Notification(n)) => {
                info!(peer_state = ?self.state, notification = %n, "NOTIFICATION received");
                let established = self.state == State::Established;
                self.reset_session();
                self.events.push_back(Event::Down {
                    reason: DownReason::NotificationReceived(n),
                    established,
                });
                self.events.push_back(Event::Disconnect);
                self.enter_idle_and_retry(now);
            }
            (State::OpenSent, Message::Open(peer_open)) => {
                let Some(ours) = self.sent_open.clone() else {
                    return;
                };
                match open::negotiate(&self.cfg, &ours, &peer_open) {
                    Ok(params) => {
                        self.rx_ctx = params.rx.clone();
                        self.tx_ctx = params.tx.clone();
                        self.hold_time = Duration::from_secs(u64::from(params.hold_time));
                        self.keepalive_time = params.keepalive;
                        self.params = Some(params);
                        self.peer_open = Some(peer_open);
                        self.transmits.push_back(Message::Keepalive);
                        self.restart_hold(now);
                        self.restart_keepalive(now);
                        self.set_state(State::OpenConfirm);
                    }
                    Err(e) => {
                        warn!(error = %e, "rejecting the peer's OPEN");
                        self.close_with(now, e.notification());
                    }
                }
            }
            (State::OpenSent, _) => self.fsm_error(now, FsmSubcode::UnexpectedMessageInOpenSent),
            (State::OpenConfirm, Message::Keepalive) => {
                self.restart_hold(now);
                self.backoff.reset();
                // RFC 4724 §4.1: the R bit is for the sessions re-established
                // after our restart, not for later ones.
                self.restarting = false;
                self.established_at = Some(now);
                self.set_state(State::Established);
                if let Some(p) = &self.params {
                    self.events.push_back(Event::Up(Box::new(p.clone())));
                }
            }
            (State::OpenConfirm, _) => {
                self.fsm_error(now, FsmSubcode::UnexpectedMessageInOpenConfirm)
            }
            (State::Established, Message::Keepalive) => self.restart_hold(now),
            (State::Established, Message::Update(u)) => {
                self.restart_hold(now);
                self.events.push_back(Event::Update(u));
            }
            (State::Established, Message::RouteRefresh(r)) => {
                self.restart_hold(now);
                self.events.push_back(Event::RouteRefresh(r));
            }
            (State::Established, Message::Open(_)) => {
                self.fsm_error(now, FsmSubcode::UnexpectedMessageInEstablished)
            }
        }
    }

    /// Processes every timer whose deadline is at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.send_hold.is_some_and(|t| t <= now) {
            self.send_hold = None;
            if matches!(
                self.state,
                State::OpenSent | State::OpenConfirm | State::Established
            ) {
                warn!(state = ?self.state, "send hold timer expired: the peer does not read (RFC 9687)");
                self.close_with(
                    now,
                    Notification::new(ErrorCode::SendHoldTimerExpired, Bytes::new()),
                );
            }
        }
        if self.hold.is_some_and(|t| t <= now) {
            self.hold = None;
            if matches!(
                self.state,
                State::OpenSent | State::OpenConfirm | State::Established
            ) {
                warn!(state = ?self.state, "hold timer expired");
                self.close_with(
                    now,
                    Notification::new(ErrorCode::HoldTimerExpired, Bytes::new()),
                );
            }
        }
        if self.keepalive.is_some_and(|t| t <= now) {
            self.keepalive = None;
            if matches!(self.state, State::OpenConfirm | State::Established) {
                self.transmits.push_back(Message::Keepalive);
                self.restart_keepalive(now);
            }
        }
        if self.connect_retry.is_some_and(|t| t <= now) {
            self.connect_retry = None;
            match self.state {
                State::Idle if self.admin_up => self.begin_connecting(now),
                State::Connect => {
                    // Connect timeout: try again, a little later next time.
                    self.events.push_back(Event::Connect);
                    self.backoff.next_delay(&mut self.jitter);
                    self.arm_connect_timeout(now);
                }
                State::Active if !self.cfg.peer.passive => {
                    self.set_state(State::Connect);
                    self.events.push_back(Event::Connect);
                    self.arm_connect_timeout(now);
                }
                _ => {}
            }
        }
    }

    /// Queues UPDATEs for the peer. Refused unless Established (§9.2: UPDATEs
    /// only flow on an Established session). Sending restarts the keepalive
    /// timer (§10: KEEPALIVE is only needed when nothing else was sent).
    pub fn send_updates(
        &mut self,
        now: Instant,
        updates: impl IntoIterator<Item = Update>,
    ) -> Result<(), NotEstablished> {
        if self.state != State::Established {
            return Err(NotEstablished(self.state));
        }
        let before = self.transmits.len();
        self.transmits
            .extend(updates.into_iter().map(Message::Update));
        if self.transmits.len() > before {
            self.restart_keepalive(now);
        }
        Ok(())
    }

    /// Queues a ROUTE-REFRESH (RFC 2918) or an enhanced route refresh
    /// BoRR/EoRR marker (RFC 7313) for the peer. Refused unless Established.
    pub fn send_route_refresh(&mut self, rr: RouteRefresh) -> Result<(), NotEstablished> {
        if self.state != State::Established {
            return Err(NotEstablished(self.state));
        }
        self.transmits.push_back(Message::RouteRefresh(rr));
        Ok(())
    }

    // -------------------------------------------------------------- handoff

    /// What it takes to continue this session in another process (session
    /// handoff): both OPENs (the negotiation is re-run from them, so
    /// capabilities and codec contexts come out the same), the running
    /// deadlines as time left from `now`, and the jitter generator. `None`
    /// unless Established: only an Established session is handed over.
    pub fn export(&self, now: Instant) -> Option<EstablishedState> {
        if self.state != State::Established {
            return None;
        }
        let left = |t: Option<Instant>| t.map(|t| t.saturating_duration_since(now));
        Some(EstablishedState {
            our_open: self.sent_open.clone()?,
            peer_open: self.peer_open.clone()?,
            hold_left: left(self.hold),
            keepalive_left: left(self.keepalive),
            send_hold_left: left(self.send_hold),
            jitter: self.jitter.state(),
        })
    }

    /// An Established machine continuing an exported session at `now`: the
    /// negotiation is re-run from the two OPENs under `cfg` (which must still
    /// accept them: a changed configuration that does not is an error and
    /// the session is not resumed), the deadlines continue where they were.
    /// It emits [`Event::Up`] (so its driver announces the session like any
    /// other) and queues one KEEPALIVE at once: the peer hears from the new
    /// process well within its hold time whatever the handoff cost. The
    /// KEEPALIVE timer is not restarted for it, so the machine behaves
    /// afterwards exactly as the exported one would have.
    pub fn resume(cfg: FsmConfig, st: &EstablishedState, now: Instant) -> Result<Self, OpenError> {
        let params = open::negotiate(&cfg, &st.our_open, &st.peer_open)?;
        let mut f = Fsm::new(cfg, st.jitter);
        f.admin_up = true;
        f.restarting = false;
        f.rx_ctx = params.rx.clone();
        f.tx_ctx = params.tx.clone();
        f.hold_time = Duration::from_secs(u64::from(params.hold_time));
        f.keepalive_time = params.keepalive;
        f.hold = st.hold_left.map(|d| now + d);
        f.keepalive = st.keepalive_left.map(|d| now + d);
        f.send_hold = st.send_hold_left.map(|d| now + d);
        f.sent_open = Some(st.our_open.clone());
        f.peer_open = Some(st.peer_open.clone());
        f.established_at = Some(now);
        f.state = State::Established;
        f.events.push_back(Event::Up(Box::new(params.clone())));
        f.params = Some(params);
        f.transmits.push_back(Message::Keepalive);
        Ok(f)
    }

    // --------------------------------------------------------------- outputs

    /// The next message to write to the peer.
    pub fn poll_transmit(&mut self) -> Option<Message> {
        self.transmits.pop_front()
    }

    /// The next event for the driver or the speaker.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest armed deadline: call [`Fsm::handle_timeout`] then.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.connect_retry,
            self.hold,
            self.keepalive,
            self.send_hold,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    // -------------------------------------------------------------- internal

    fn set_state(&mut self, to: State) {
        if to != self.state {
            debug!(from = ?self.state, to = ?to, "BGP FSM transition");
            if self.state == State::Established {
                self.established_at = None;
            }
            self.state = to;
        }
    }

    fn begin_connecting(&mut self, now: Instant) {
        if self.cfg.peer.passive {
            self.set_state(State::Active);
        } else {
            self.set_state(State::Connect);
            self.events.push_back(Event::Connect);
            self.arm_connect_timeout(now);
        }
    }

    /// In Connect the ConnectRetry timer is the connect timeout: the current
    /// backoff base, jittered, without advancing the backoff.
    fn arm_connect_timeout(&mut self, now: Instant) {
        let d = self.jitter.apply(self.backoff.current());
        self.connect_retry = Some(now + d);
    }

    fn arm_retry(&mut self, now: Instant) {
        let d = self.backoff.next_delay(&mut self.jitter);
        self.connect_retry = Some(now + d);
    }

    fn restart_hold(&mut self, now: Instant) {
        self.hold = if self.hold_time.is_zero() {
            None
        } else {
            Some(now + self.hold_time)
        };
    }

    fn restart_keepalive(&mut self, now: Instant) {
        self.keepalive = self.keepalive_time.map(|k| now + self.jitter.apply(k));
    }

    fn reset_session(&mut self) {
        self.hold = None;
        self.send_hold = None;
        self.keepalive = None;
        self.hold_time = OPEN_HOLD_TIME;
        self.keepalive_time = None;
        self.params = None;
        self.sent_open = None;
        self.peer_open = None;
        self.rx_ctx = WireContext::default();
        self.tx_ctx = WireContext::default();
    }

    fn enter_idle_and_retry(&mut self, now: Instant) {
        self.set_state(State::Idle);
        if self.admin_up {
            self.arm_retry(now);
        } else {
            self.connect_retry = None;
        }
    }

    fn fsm_error(&mut self, now: Instant, subcode: FsmSubcode) {
        self.close_with(
            now,
            Notification::new(ErrorCode::Fsm(subcode), Bytes::new()),
        );
    }

    /// Sends `n` if a connection is open, closes it, and goes Idle.
    fn close_with(&mut self, now: Instant, n: Notification) {
        match self.state {
            State::OpenSent | State::OpenConfirm | State::Established => {
                let established = self.state == State::Established;
                self.transmits.push_back(Message::Notification(n.clone()));
                self.reset_session();
                self.events.push_back(Event::Down {
                    reason: DownReason::NotificationSent(n),
                    established,
                });
                self.events.push_back(Event::Disconnect);
            }
            State::Connect => self.events.push_back(Event::Disconnect),
            State::Idle | State::Active => {}
        }
        self.enter_idle_and_retry(now);
    }
}
