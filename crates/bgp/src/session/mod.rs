//! The tokio driver of one BGP peering.
//!
//! A session task owns the peering's [`Fsm`], its TCP connection(s) and its
//! counters. It is thin: it turns socket activity, commands and timer
//! deadlines into `handle_*` calls and carries out what `poll_*` returns
//! (connect, write, disconnect, report to the speaker's event channel).
//!
//! - Active connect with the connect-retry timer as connect timeout, in the
//!   configured namespace, with MD5/TTL/GTSM/bind options ([`socket`]).
//! - Passive accept: the speaker's listener hands accepted streams over with
//!   [`SessionCommand::Incoming`]; a second connection during OpenSent or
//!   OpenConfirm runs its own FSM until the collision is resolved (§6.8).
//! - Framing by a reader task per connection; decoding here, with the
//!   negotiated context; writes batched by a writer task.
//! - UPDATEs received in one read are delivered to the speaker's single
//!   consumer as one [`SpeakerEvent::Updates`] batch; the bounded channel
//!   pushes back onto the TCP window when the consumer is slower.

pub mod conn;
pub mod counters;
pub mod socket;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::fsm::collision::{self, Initiator};
use crate::fsm::graceful_restart::{GrEvent, GrHelper};
use crate::fsm::{DownReason, Event, Fsm, FsmConfig, SessionParams, State};
use crate::speaker::event::{PeerId, SpeakerEvent};
use crate::wire::{CeaseSubcode, ErrorCode, Message, Notification, RouteRefresh, Update};
use conn::{Conn, ConnEvent, ConnId};
pub use counters::Counters;
use socket::SocketOptions;

/// What a session needs to run.
#[derive(Debug, Clone)]
pub struct SessionSpec {
    /// The id the speaker reports this peering under.
    pub peer: PeerId,
    /// Where to connect (port included; link-local addresses carry their
    /// scope id).
    pub remote: SocketAddr,
    /// FSM settings.
    pub fsm: FsmConfig,
    /// Socket settings.
    pub socket: SocketOptions,
    /// Seed for timer jitter.
    pub seed: u64,
}

/// Commands to a session task.
#[derive(Debug)]
pub enum SessionCommand {
    /// Send these UPDATEs (dropped, with a log, unless Established).
    Send(Vec<Update>),
    /// Send a ROUTE-REFRESH (or a BoRR/EoRR marker).
    RouteRefresh(RouteRefresh),
    /// The listener accepted this connection from the peer.
    Incoming(TcpStream),
    /// Start (or restart after [`SessionCommand::Stop`]).
    Start,
    /// Administrative shutdown with an optional RFC 9003 message; the
    /// session stays down until started again.
    Stop(Option<String>),
    /// Close with this NOTIFICATION and restart after the backoff.
    Reset(Notification),
    /// Report state and counters.
    Status(oneshot::Sender<SessionStatus>),
}

/// A snapshot of a session.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SessionStatus {
    /// FSM state.
    #[serde(serialize_with = "ser_state")]
    pub state: State,
    /// Counters.
    pub counters: Counters,
    /// Remote address of the live connection.
    pub remote: Option<SocketAddr>,
    /// Local address of the live connection.
    pub local: Option<SocketAddr>,
}

fn ser_state<S: serde::Serializer>(st: &State, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{st:?}"))
}

/// The speaker's handle on a running session.
#[derive(Debug)]
pub struct SessionHandle {
    /// Command channel.
    pub commands: mpsc::Sender<SessionCommand>,
    task: tokio::task::JoinHandle<()>,
}

impl SessionHandle {
    /// Stops the session (admin shutdown with `message`) and waits until it
    /// has said goodbye.
    pub async fn shutdown(self, message: Option<String>) {
        let _ = self.commands.send(SessionCommand::Stop(message)).await;
        drop(self.commands);
        let _ = self.task.await;
    }

    /// Whether the task has ended.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }
}

/// Spawns a session task that reports to `events`; it starts at once.
pub fn spawn(spec: SessionSpec, events: mpsc::Sender<SpeakerEvent>) -> SessionHandle {
    let (tx, rx) = mpsc::channel(1024);
    let task = tokio::spawn(Session::new(spec, events).run(rx));
    SessionHandle { commands: tx, task }
}

/// One FSM with its connection.
struct Slot {
    fsm: Fsm,
    conn: Option<Conn>,
}

struct Session {
    spec: SessionSpec,
    main: Slot,
    /// The second connection of a collision, until resolved.
    shadow: Option<Slot>,
    events: mpsc::Sender<SpeakerEvent>,
    conn_tx: mpsc::Sender<ConnEvent>,
    conn_rx: mpsc::Receiver<ConnEvent>,
    connect_tx: mpsc::Sender<(u64, std::io::Result<TcpStream>)>,
    connect_rx: mpsc::Receiver<(u64, std::io::Result<TcpStream>)>,
    connect_attempt: u64,
    connecting: Option<tokio::task::JoinHandle<()>>,
    next_conn: ConnId,
    counters: Counters,
    up_params: Option<SessionParams>,
    /// Prefixes held from the peer, tracked only with max-prefix.
    held: Option<HashSet<Bytes>>,
    batch: Vec<Update>,
    /// RFC 4724 helper state, across the peering's sessions.
    gr: GrHelper,
    /// Writers of closed connections still flushing (a last NOTIFICATION).
    closing: Vec<tokio::task::JoinHandle<()>>,
}

impl Session {
    fn new(spec: SessionSpec, events: mpsc::Sender<SpeakerEvent>) -> Self {
        let (conn_tx, conn_rx) = mpsc::channel(16);
        let (connect_tx, connect_rx) = mpsc::channel(4);
        let fsm = Fsm::new(spec.fsm.clone(), spec.seed);
        let held = spec.fsm.peer.max_prefix.map(|_| HashSet::new());
        let gr = GrHelper::new(std::time::Duration::from_secs(u64::from(
            spec.fsm.peer.graceful_restart.stale_time,
        )));
        Session {
            gr,
            spec,
            main: Slot { fsm, conn: None },
            shadow: None,
            events,
            conn_tx,
            conn_rx,
            connect_tx,
            connect_rx,
            connect_attempt: 0,
            connecting: None,
            next_conn: 0,
            counters: Counters::default(),
            up_params: None,
            held,
            batch: Vec::new(),
            closing: Vec::new(),
        }
    }

    async fn run(mut self, mut commands: mpsc::Receiver<SessionCommand>) {
        let peer = self.spec.remote;
        info!(%peer, "session starting");
        self.main.fsm.handle_start(Instant::now());
        loop {
            if !self.pump().await {
                break;
            }
            let deadline = [
                self.main.fsm.poll_timeout(),
                self.shadow.as_ref().and_then(|s| s.fsm.poll_timeout()),
                self.gr.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                ev = self.conn_rx.recv() => {
                    if let Some(ev) = ev {
                        self.handle_conn_event(ev);
                    }
                }
                cmd = commands.recv() => match cmd {
                    Some(c) => self.handle_command(c),
                    None => {
                        // The speaker dropped us: say goodbye and end.
                        self.main.fsm.handle_stop(Instant::now(), Some("peer removed"));
                        self.shadow = None;
                        let _ = self.pump().await;
                        break;
                    }
                },
                res = self.connect_rx.recv() => {
                    if let Some((attempt, res)) = res {
                        self.handle_connect_result(attempt, res);
                    }
                }
                _ = sleep => {
                    let now = Instant::now();
                    self.main.fsm.handle_timeout(now);
                    if let Some(s) = &mut self.shadow {
                        s.fsm.handle_timeout(now);
                    }
                    self.gr.handle_timeout(now);
                }
            }
        }
        if let Some(c) = self.connecting.take() {
            c.abort();
        }
        // Routes still kept for a restarting peer go with the peering.
        self.gr.handle_removed();
        self.emit_gr_events().await;
        // Let the last NOTIFICATION reach the peer before the task ends.
        for w in self.closing.drain(..) {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(2), w).await;
        }
        info!(%peer, "session ended");
    }

    fn handle_command(&mut self, cmd: SessionCommand) {
        let now = Instant::now();
        match cmd {
            SessionCommand::Send(updates) => {
                let n = updates.len();
                let prefixes: u64 = updates.iter().map(|u| announced_count(u) as u64).sum();
                match self.main.fsm.send_updates(now, updates) {
                    Ok(()) => self.counters.prefixes_advertised += prefixes,
                    Err(e) => {
                        debug!(peer = %self.spec.remote, error = %e, dropped = n, "UPDATEs not sent")
                    }
                }
            }
            SessionCommand::RouteRefresh(rr) => {
                if let Err(e) = self.main.fsm.send_route_refresh(rr) {
                    debug!(peer = %self.spec.remote, error = %e, "ROUTE-REFRESH not sent");
                }
            }
            SessionCommand::Incoming(stream) => self.handle_incoming(stream, now),
            SessionCommand::Start => self.main.fsm.handle_start(now),
            SessionCommand::Stop(msg) => {
                self.main.fsm.handle_stop(now, msg.as_deref());
                if let Some(s) = &mut self.shadow {
                    s.fsm.handle_stop(now, msg.as_deref());
                }
            }
            SessionCommand::Reset(n) => self.main.fsm.handle_cease(now, n),
            SessionCommand::Status(tx) => {
                let _ = tx.send(SessionStatus {
                    state: self.main.fsm.state(),
                    counters: self.counters.snapshot(now),
                    remote: self.main.conn.as_ref().map(|c| c.remote),
                    local: self.main.conn.as_ref().map(|c| c.local),
                });
            }
        }
    }

    fn new_conn(&mut self, initiator: Initiator, stream: TcpStream) -> Option<Conn> {
        self.next_conn += 1;
        match Conn::start(self.next_conn, initiator, stream, self.conn_tx.clone()) {
            Ok(c) => Some(c),
            Err(e) => {
                warn!(peer = %self.spec.remote, error = %e, "cannot use connection");
                None
            }
        }
    }

    fn handle_incoming(&mut self, stream: TcpStream, now: Instant) {
        let state = self.main.fsm.state();
        match state {
            State::Idle | State::Connect | State::Active => {
                if state == State::Idle
                    && self
                        .main
                        .fsm
                        .timer(crate::fsm::TimerKind::ConnectRetry)
                        .is_none()
                {
                    debug!(peer = %self.spec.remote, "refusing connection: administratively down");
                    return;
                }
                if let Some(c) = self.connecting.take() {
                    c.abort();
                }
                self.connect_attempt += 1;
                if let Some(c) = self.new_conn(Initiator::Remote, stream) {
                    info!(peer = %self.spec.remote, "accepted connection");
                    self.main.conn = Some(c);
                    self.main.fsm.handle_connected(now);
                }
            }
            State::OpenSent | State::OpenConfirm => {
                if self.shadow.is_some() {
                    debug!(peer = %self.spec.remote, "third connection refused");
                    return;
                }
                let Some(c) = self.new_conn(Initiator::Remote, stream) else {
                    return;
                };
                info!(peer = %self.spec.remote, "connection collision: running both until resolved");
                let mut fsm = Fsm::new(self.spec.fsm.clone(), self.spec.seed ^ 0x5eed);
                fsm.handle_start_passive(now);
                fsm.handle_connected(now);
                self.shadow = Some(Slot { fsm, conn: Some(c) });
            }
            State::Established => {
                let gr = self
                    .up_params
                    .as_ref()
                    .is_some_and(|p| p.graceful_restart.is_some());
                if gr {
                    // RFC 4724 §4.2: a new connection from a GR-capable peer
                    // means it restarted; the old session is gone.
                    info!(peer = %self.spec.remote, "new connection from an Established GR peer: peer restarted");
                    self.main.fsm.handle_closed(now);
                    self.main.conn = None;
                    if let Some(c) = self.new_conn(Initiator::Remote, stream) {
                        self.main.conn = Some(c);
                        self.main.fsm.handle_connected(now);
                    }
                } else {
                    debug!(peer = %self.spec.remote, "connection refused: session Established (RFC 4271 §6.8)");
                }
            }
        }
    }

    fn handle_connect_result(&mut self, attempt: u64, res: std::io::Result<TcpStream>) {
        if attempt != self.connect_attempt {
            return;
        }
        self.connecting = None;
        let now = Instant::now();
        if self.main.fsm.state() != State::Connect {
            return;
        }
        match res {
            Ok(stream) => {
                if let Some(c) = self.new_conn(Initiator::Local, stream) {
                    info!(peer = %self.spec.remote, local = %c.local, "connected");
                    self.main.conn = Some(c);
                    self.main.fsm.handle_connected(now);
                } else {
                    self.main.fsm.handle_connect_failed(now);
                }
            }
            Err(e) => {
                debug!(peer = %self.spec.remote, error = %e, "connect failed");
                self.counters.last_error = Some(format!("connect: {e}"));
                self.main.fsm.handle_connect_failed(now);
            }
        }
    }

    fn start_connect(&mut self) {
        if let Some(c) = self.connecting.take() {
            c.abort();
        }
        self.main.conn = None;
        self.connect_attempt += 1;
        let attempt = self.connect_attempt;
        let remote = self.spec.remote;
        let opts = self.spec.socket.clone();
        let key = self.spec.fsm.peer.password.clone();
        let tx = self.connect_tx.clone();
        debug!(peer = %remote, "connecting");
        self.connecting = Some(tokio::spawn(async move {
            let res = async {
                let sock = tokio::task::spawn_blocking(move || {
                    socket::connecting_socket(remote, &opts, key.as_deref().map(str::as_bytes))
                })
                .await
                .map_err(std::io::Error::other)??;
                let std_stream: std::net::TcpStream = sock.into();
                tokio::net::TcpSocket::from_std_stream(std_stream)
                    .connect(remote)
                    .await
            }
            .await;
            let _ = tx.send((attempt, res)).await;
        }));
    }

    fn slot_for(&mut self, id: ConnId) -> Option<&mut Slot> {
        if self.main.conn.as_ref().is_some_and(|c| c.id == id) {
            return Some(&mut self.main);
        }
        match &mut self.shadow {
            Some(s) if s.conn.as_ref().is_some_and(|c| c.id == id) => Some(s),
            _ => None,
        }
    }

    fn handle_conn_event(&mut self, ev: ConnEvent) {
        let now = Instant::now();
        match ev {
            ConnEvent::Frames(id, frames) => {
                for f in frames {
                    let Some(slot) = self.slot_for(id) else {
                        return;
                    };
                    let ctx = slot.fsm.rx_context().clone();
                    match Message::parse(&f, &ctx) {
                        Ok((msg, _)) => {
                            self.counters.messages_in.count(&msg);
                            let msg = match msg {
                                Message::Update(u) => match self.inspect_update(u) {
                                    Some(u) => Message::Update(u),
                                    None => continue,
                                },
                                m => m,
                            };
                            if let Message::Notification(n) = &msg {
                                self.counters.notification_received(n);
                            }
                            if let Some(slot) = self.slot_for(id) {
                                slot.fsm.handle_message(now, msg);
                                if let Some(c) = &slot.conn {
                                    c.set_max_len(slot.fsm.rx_context().max_message_len());
                                }
                            }
                        }
                        Err(e) => {
                            warn!(peer = %self.spec.remote, error = %e, "malformed message");
                            self.counters.last_error = Some(e.to_string());
                            if let Some(slot) = self.slot_for(id) {
                                slot.fsm.handle_decode_error(now, &e);
                            }
                            return;
                        }
                    }
                    self.check_max_prefix(now);
                }
            }
            ConnEvent::BadFrame(id, e) => {
                warn!(peer = %self.spec.remote, error = %e, "bad message header");
                self.counters.last_error = Some(e.to_string());
                if let Some(slot) = self.slot_for(id) {
                    slot.fsm.handle_decode_error(now, &e);
                }
            }
            ConnEvent::Closed(id, err) => {
                if let Some(e) = &err {
                    self.counters.last_error = Some(format!("connection: {e}"));
                }
                if let Some(slot) = self.slot_for(id) {
                    debug!(error = ?err, "connection closed by peer");
                    slot.conn = None;
                    slot.fsm.handle_closed(now);
                }
            }
        }
    }

    /// RFC 7606 bookkeeping and prefix accounting for a received UPDATE;
    /// returns what to hand to the FSM.
    fn inspect_update(&mut self, u: Update) -> Option<Update> {
        let u = crate::session::rfc7606::apply(u, &mut self.counters, self.spec.remote.ip());
        let (ann, wd) = (announced_count(&u), withdrawn_count(&u));
        self.counters.prefixes_received += ann as u64;
        self.counters.prefixes_withdrawn += wd as u64;
        if let Some(held) = &mut self.held {
            track_prefixes(&u, held);
            self.counters.prefixes_current = Some(held.len() as u64);
        }
        Some(u)
    }

    fn check_max_prefix(&mut self, now: Instant) {
        let (Some(max), Some(held)) = (self.spec.fsm.peer.max_prefix, &self.held) else {
            return;
        };
        if held.len() as u64 > u64::from(max) && self.main.fsm.state() == State::Established {
            warn!(peer = %self.spec.remote, limit = max, held = held.len(),
                "maximum prefix count exceeded: closing with Cease/Maximum Number of Prefixes Reached");
            // RFC 4486 §4: data is AFI (2), SAFI (1), prefix upper bound (4).
            let mut data = BytesMut::with_capacity(7);
            let (afi, safi) = self
                .spec
                .fsm
                .peer
                .families
                .first()
                .map(|f| f.afi_safi())
                .unwrap_or((1, 1));
            data.extend_from_slice(&afi.to_be_bytes());
            data.extend_from_slice(&[safi]);
            data.extend_from_slice(&max.to_be_bytes());
            let n = Notification::new(
                ErrorCode::Cease(CeaseSubcode::MaximumPrefixesReached),
                data.freeze(),
            );
            self.main.fsm.handle_cease(now, n);
        }
    }

    /// Carries out what the FSMs ask for. Returns false when the task should end.
    async fn pump(&mut self) -> bool {
        // Collision: once the peer's identifier is known, keep one connection.
        self.resolve_collision();
        self.pump_main().await;
        self.pump_shadow().await;
        true
    }

    fn resolve_collision(&mut self) {
        let Some(shadow) = &mut self.shadow else {
            return;
        };
        let rid = self.main.fsm.remote_id().or(shadow.fsm.remote_id());
        let ras = self
            .main
            .fsm
            .params()
            .or(shadow.fsm.params())
            .map(|p| p.peer_as);
        let (Some(rid), Some(ras)) = (rid, ras) else {
            return;
        };
        let Some(main_conn) = &self.main.conn else {
            // The main connection is gone: the shadow simply takes over.
            let s = self.shadow.take().expect("checked above");
            self.adopt_shadow(s);
            return;
        };
        let now = Instant::now();
        let n = Notification::new(
            ErrorCode::Cease(CeaseSubcode::ConnectionCollisionResolution),
            Bytes::new(),
        );
        let cfg = &self.spec.fsm;
        let keep_main =
            collision::keep_existing(main_conn.initiator, cfg.router_id, cfg.local_as, rid, ras);
        info!(peer = %self.spec.remote, keep = ?if keep_main { main_conn.initiator } else { shadow.conn.as_ref().map(|c| c.initiator).unwrap_or(Initiator::Remote) },
            "connection collision resolved (RFC 4271 §6.8)");
        if keep_main {
            shadow.fsm.handle_cease(now, n);
        } else {
            self.main.fsm.handle_cease(now, n);
            // Flush the loser's NOTIFICATION on its own connection, then swap.
            let old_conn = self.main.conn.take();
            while let Some(m) = self.main.fsm.poll_transmit() {
                if let (Some(c), Message::Notification(_)) = (&old_conn, &m) {
                    let mut b = BytesMut::new();
                    if m.emit(&crate::wire::WireContext::default(), &mut b).is_ok() {
                        let _ = c.writer.try_send(b.freeze());
                    }
                }
            }
            while self.main.fsm.poll_event().is_some() {}
            let s = self.shadow.take().expect("checked above");
            self.adopt_shadow(s);
        }
    }

    fn adopt_shadow(&mut self, s: Slot) {
        self.main = s;
        if let Some(c) = self.connecting.take() {
            c.abort();
        }
        self.connect_attempt += 1;
    }

    async fn pump_main(&mut self) {
        let now = Instant::now();
        // Transmits first: a NOTIFICATION must go out before the close.
        self.flush_transmits(true).await;
        while let Some(ev) = self.main.fsm.poll_event() {
            match ev {
                Event::Connect => self.start_connect(),
                Event::Disconnect => {
                    if let Some(w) = self.main.conn.take().and_then(Conn::close) {
                        self.closing.retain(|h| !h.is_finished());
                        self.closing.push(w);
                    }
                    if let Some(c) = self.connecting.take() {
                        c.abort();
                    }
                }
                Event::Up(params) => {
                    self.counters.up(now);
                    info!(peer = %self.spec.remote, peer_as = params.peer_as, peer_id = %params.peer_id,
                        hold = params.hold_time, families = %crate::wire::display_list(&params.families), "session Established");
                    self.up_params = Some((*params).clone());
                    self.gr.handle_session_up(now, &params);
                    if let Some(h) = &mut self.held {
                        h.clear();
                    }
                    let (remote, local) = match &self.main.conn {
                        Some(c) => (c.remote, c.local),
                        None => (self.spec.remote, self.spec.remote),
                    };
                    self.emit(SpeakerEvent::PeerUp {
                        peer: self.spec.peer,
                        remote,
                        local,
                        params,
                    })
                    .await;
                }
                Event::Down {
                    reason,
                    established,
                } => {
                    self.counters.down(established);
                    if let DownReason::NotificationSent(n) = &reason {
                        self.counters.notification_sent(n);
                    }
                    if established {
                        self.flush_batch().await;
                        // RFC 4724 §4.2: only the loss of the TCP session
                        // (no NOTIFICATION either way) keeps the routes.
                        let notification = !matches!(reason, DownReason::ConnectionClosed);
                        let graceful = match self.up_params.take() {
                            Some(p) => self.gr.handle_session_down(now, &p, notification),
                            None => false,
                        };
                        info!(peer = %self.spec.remote, %reason, graceful, "session down");
                        self.emit(SpeakerEvent::PeerDown {
                            peer: self.spec.peer,
                            reason,
                            graceful,
                        })
                        .await;
                        self.emit_gr_events().await;
                    } else {
                        debug!(peer = %self.spec.remote, %reason, "connection closed before Established");
                    }
                }
                Event::Update(u) => {
                    if let Some(family) = u.is_end_of_rib() {
                        self.flush_batch().await;
                        self.emit(SpeakerEvent::EndOfRib {
                            peer: self.spec.peer,
                            family,
                        })
                        .await;
                        self.gr.handle_end_of_rib(family);
                    } else {
                        self.batch.push(u);
                    }
                }
                Event::RouteRefresh(rr) => {
                    self.flush_batch().await;
                    self.emit(SpeakerEvent::RouteRefresh {
                        peer: self.spec.peer,
                        request: rr,
                    })
                    .await;
                }
            }
        }
        self.flush_batch().await;
        self.emit_gr_events().await;
        // Transmits queued by events (none today) and after state changes.
        self.flush_transmits(true).await;
    }

    async fn pump_shadow(&mut self) {
        let Some(s) = &mut self.shadow else { return };
        let mut buf = BytesMut::new();
        while let Some(m) = s.fsm.poll_transmit() {
            self.counters.messages_out.count(&m);
            if let Err(e) = m.emit(s.fsm.tx_context(), &mut buf) {
                warn!(error = %e, "cannot encode message");
            }
        }
        if let Some(c) = &s.conn {
            if !buf.is_empty() {
                let _ = c.writer.send(buf.freeze()).await;
            }
        }
        let mut gone = false;
        while let Some(ev) = s.fsm.poll_event() {
            if matches!(ev, Event::Disconnect) {
                gone = true;
            }
        }
        if gone || s.fsm.state() == State::Idle {
            self.shadow = None;
        }
    }

    async fn flush_transmits(&mut self, _main: bool) {
        let mut buf = BytesMut::new();
        while let Some(m) = self.main.fsm.poll_transmit() {
            self.counters.messages_out.count(&m);
            if let Err(e) = m.emit(self.main.fsm.tx_context(), &mut buf) {
                warn!(peer = %self.spec.remote, error = %e, "cannot encode message");
            }
            if buf.len() >= 1 << 20 {
                self.write(buf.split().freeze()).await;
            }
        }
        if !buf.is_empty() {
            self.write(buf.freeze()).await;
        }
    }

    async fn write(&mut self, b: Bytes) {
        if let Some(c) = &self.main.conn {
            if c.writer.send(b).await.is_err() {
                debug!(peer = %self.spec.remote, "writer gone");
            }
        }
    }

    async fn flush_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let updates = std::mem::take(&mut self.batch);
        self.emit(SpeakerEvent::Updates {
            peer: self.spec.peer,
            updates,
        })
        .await;
    }

    /// Reports the GR helper's purges (RFC 4724 §4.2) to the consumer.
    async fn emit_gr_events(&mut self) {
        while let Some(GrEvent::Expired(family)) = self.gr.poll_event() {
            info!(peer = %self.spec.remote, %family, "stale routes to be purged");
            self.emit(SpeakerEvent::StaleExpired {
                peer: self.spec.peer,
                family,
            })
            .await;
        }
    }

    async fn emit(&mut self, ev: SpeakerEvent) {
        if self.events.send(ev).await.is_err() {
            debug!("speaker event consumer gone");
        }
    }
}

pub mod rfc7606;
pub use rfc7606::{announced_count, track_prefixes, withdrawn_count};
