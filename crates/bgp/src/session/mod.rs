//! The tokio driver of one BGP peering.
//!
//! A session task owns the peering's [`Fsm`], its TCP connection(s) and its
//! counters. It is thin: it turns socket activity, commands and timer
//! deadlines into `handle_*` calls and carries out what `poll_*` returns
//! (connect, write, disconnect, report to the consumer).
//!
//! - Active connect with the connect-retry timer as connect timeout, in the
//!   configured namespace, with MD5/TTL/GTSM/bind options ([`socket`]).
//! - Passive accept: the speaker's listener hands accepted streams over with
//!   [`SessionCommand::Incoming`]; a second connection during OpenSent or
//!   OpenConfirm runs its own FSM until the collision is resolved (§6.8).
//! - Framing by a reader task per connection; decoding here, with the
//!   negotiated context; writes by a writer task draining the connection's
//!   [`conn::SendQueue`].
//!
//! # Never waiting on anyone
//!
//! The task's loop body never awaits another task: it only waits in its one
//! `select!`, so its timers (KEEPALIVE, hold, SendHold) fire whatever the
//! consumer or the peer do.
//!
//! - **Out to the peer.** Encoded messages are appended to the connection's
//!   send queue without waiting; KEEPALIVE, OPEN and NOTIFICATION take the
//!   control lane, which the writer serves before the next chunk of UPDATEs.
//!   Routes come from the consumer through the session's [`Outbox`] (a
//!   bounded channel handed over in [`SpeakerEvent::PeerUp`]), and the
//!   session only takes the next batch while less than
//!   [`SEND_HIGH_WATER`] bytes are queued: a peer that stops reading stops
//!   the outbox from draining, the consumer sees it full and keeps the
//!   changes in its Adj-RIB-Out. The session samples the queue's progress
//!   and tells the FSM when it stalled (RFC 9687 SendHoldTimer).
//! - **In from the peer.** Events for the consumer are queued in order and
//!   handed over as the consumer's bounded channel has room; once
//!   [`MAX_PENDING_UPDATES`] are waiting, the session stops reading the
//!   connection, so a slow consumer pushes back onto that peer's TCP window,
//!   never onto the timers (a peer with little to say, like a quiet ToR, is
//!   still read, so its KEEPALIVEs keep counting).
//! - **Status.** The session publishes a [`SessionStatus`] on a `watch`
//!   channel after every step; nobody has to ask (and wait for) it.
//! - UPDATEs received in one read are delivered as one
//!   [`SpeakerEvent::Updates`] batch.

pub mod conn;
pub mod counters;
pub mod frames;
pub mod handoff;
pub mod socket;

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use crate::consumer::{PeerId, SpeakerEvent};
use crate::fsm::collision::{self, Initiator};
use crate::fsm::graceful_restart::{GrEvent, GrHelper};
use crate::fsm::{DownReason, Event, Fsm, FsmConfig, SessionParams, State};
use crate::wire::{CeaseSubcode, ErrorCode, Message, Notification, Update};
use conn::{Conn, ConnEvent, ConnId};
pub use counters::Counters;
// Kept at their old path: the consumer's side of a session.
pub use crate::consumer::{Outbound, Outbox, OutboxReceiver};
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
    /// The task ends once its first connection is gone (dynamic neighbours:
    /// a passive session accepted from a listen range frees its slot when
    /// the connection closes, fails, or times out in OpenSent).
    pub one_shot: bool,
}

/// How many bytes may wait in a connection's send queue before the session
/// stops taking routes from its [`Outbox`].
pub const SEND_HIGH_WATER: u64 = 256 * 1024;

/// How many received UPDATEs may wait for the consumer before the session
/// stops reading the connection.
pub const MAX_PENDING_UPDATES: usize = 1024;

/// How often a session with bytes pending for its peer samples their
/// progress (and how long without progress before its status says stalled).
pub const SEND_SAMPLE_PERIOD: Duration = Duration::from_secs(1);

/// How many batches an [`Outbox`] holds.
pub const OUTBOX_DEPTH: usize = 8;

/// How many encoded UPDATE bytes make one chunk of the send queue (small, so
/// that a KEEPALIVE waits for at most one chunk).
const DATA_CHUNK: usize = 64 * 1024;

/// Commands to a session task.
#[derive(Debug)]
pub enum SessionCommand {
    /// The listener accepted this connection from the peer.
    Incoming(TcpStream),
    /// Start (or restart after [`SessionCommand::Stop`]).
    Start,
    /// Administrative shutdown with an optional RFC 9003 message; the
    /// session stays down until started again.
    Stop(Option<String>),
    /// Close with this NOTIFICATION and restart after the backoff.
    Reset(Notification),
    /// The link the session ran over went down (FRR's
    /// fast-external-failover): drop the connection at once as if TCP had
    /// failed, instead of waiting for the hold timer.
    LinkDown,
    /// Session handoff: stop reading the peer (frames already read are
    /// processed and their events handed to the consumer), write what is
    /// queued, and answer with the session's state and a duplicate of its
    /// socket. Only an Established session freezes; others answer an error
    /// and go on. A frozen session waits for [`SessionCommand::Thaw`] or
    /// [`SessionCommand::Release`] (other commands thaw it first; incoming
    /// connections are refused meanwhile).
    Freeze(oneshot::Sender<Result<Frozen, String>>),
    /// The handoff was abandoned: continue as if nothing happened.
    Thaw,
    /// The handoff completed: end without a NOTIFICATION, a FIN or a
    /// PeerDown (the socket lives on in the successor); answers once done.
    Release(oneshot::Sender<()>),
}

/// A frozen session: its state and a duplicate of its socket.
#[derive(Debug)]
pub struct Frozen {
    /// The state (target and Adj-RIB-In not filled in yet).
    pub state: handoff::SessionState,
    /// The socket (a duplicate: the session keeps its own until released).
    pub fd: std::os::fd::OwnedFd,
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
    /// Bytes queued for the peer and not yet acknowledged by it (our send
    /// queue plus the kernel's socket buffer).
    pub send_queue_bytes: u64,
    /// Since when (Unix seconds) the send queue has made no progress, while
    /// it does not drain: the peer is not reading (RFC 9687).
    pub send_stalled_since: Option<u64>,
    /// Batches of routes waiting in the session's outbox.
    pub outbox_depth: usize,
    /// What the OPEN exchange decided, while Established (RFC 4271 §4.2, RFC 5492).
    pub negotiated: Option<Box<SessionParams>>,
    /// When this snapshot was taken (to age `uptime` when it is read).
    #[serde(skip)]
    pub taken_at: Option<Instant>,
}

impl SessionStatus {
    fn initial() -> Self {
        SessionStatus {
            state: State::Idle,
            counters: Counters::default(),
            remote: None,
            local: None,
            send_queue_bytes: 0,
            send_stalled_since: None,
            outbox_depth: 0,
            negotiated: None,
            taken_at: None,
        }
    }

    /// The snapshot with `uptime` brought to `now`.
    pub fn aged(mut self, now: Instant) -> Self {
        if let (Some(t), Some(u)) = (self.taken_at, self.counters.uptime.as_mut()) {
            *u += now.saturating_duration_since(t);
        }
        self.taken_at = Some(now);
        self
    }
}

fn ser_state<S: serde::Serializer>(st: &State, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format!("{st:?}"))
}

/// The speaker's handle on a running session.
#[derive(Debug)]
pub struct SessionHandle {
    /// Command channel.
    pub commands: mpsc::Sender<SessionCommand>,
    /// The session's latest published state.
    pub status: watch::Receiver<SessionStatus>,
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
    let (tx, rx) = mpsc::channel(64);
    let (status_tx, status) = watch::channel(SessionStatus::initial());
    let task = tokio::spawn(Session::new(spec, events, status_tx).run(rx, false));
    SessionHandle {
        commands: tx,
        status,
        task,
    }
}

/// Spawns a session that continues one handed over by another process (see
/// [`handoff`]): Established at once on the transferred socket, a KEEPALIVE
/// sent at once, counters and uptime continued. The consumer sees PeerUp,
/// then the carried Adj-RIB-In as UPDATEs, then End-of-RIB for each
/// negotiated family: it rebuilds exactly as if the peer had sent its table
/// again. Fails (and the socket is closed) if the state cannot be read or
/// the configuration refuses the negotiated OPENs.
pub fn spawn_resumed(
    spec: SessionSpec,
    events: mpsc::Sender<SpeakerEvent>,
    transfer: handoff::SessionTransfer,
) -> Result<SessionHandle, handoff::HandoffError> {
    let now = clock_now();
    let st = &transfer.state;
    let est = st.established()?;
    let facts = st.conn()?;
    let fsm = Fsm::resume(spec.fsm.clone(), &est, now)?;
    let updates = st.adj_rib_in(fsm.rx_context())?;
    let std_stream = std::net::TcpStream::from(transfer.fd);
    std_stream.set_nonblocking(true).map_err(io_err)?;
    let stream = TcpStream::from_std(std_stream).map_err(io_err)?;
    let (status_tx, status) = watch::channel(SessionStatus::initial());
    let (tx, rx) = mpsc::channel(64);
    let mut s = Session::new(spec, events, status_tx);
    s.next_conn = 1;
    s.had_conn = true;
    let conn = Conn::resume(
        1,
        facts.initiator,
        stream,
        s.conn_tx.clone(),
        &facts.unread,
        fsm.rx_context().max_message_len(),
    )
    .map_err(io_err)?;
    s.main = Slot {
        fsm,
        conn: Some(conn),
    };
    s.counters = Counters::resumed(&st.counters, st.up_since(now));
    s.resuming = true;
    // PeerUp (from the resumed FSM's Up event) and the KEEPALIVE.
    s.pump();
    s.resuming = false;
    if let Some(held) = &mut s.held {
        for u in &updates {
            track_prefixes(u, held);
        }
        s.counters.prefixes_current = Some(held.len() as u64);
    }
    let families = s.up_params.as_ref().map(|p| p.families.clone());
    for chunk in updates.chunks(256) {
        s.emit(SpeakerEvent::Updates {
            peer: s.spec.peer,
            updates: chunk.to_vec(),
        });
    }
    for family in families.unwrap_or_default() {
        s.emit(SpeakerEvent::EndOfRib {
            peer: s.spec.peer,
            family,
        });
    }
    info!(peer = %s.spec.remote, routes_in = updates.len(), handoffs = s.counters.handoffs,
        "session resumed from the previous process");
    let task = tokio::spawn(s.run(rx, true));
    Ok(SessionHandle {
        commands: tx,
        status,
        task,
    })
}

fn io_err(e: std::io::Error) -> handoff::HandoffError {
    handoff::HandoffError::Io(e.to_string())
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
    /// Events for the consumer not handed over yet, in order.
    outgoing: VecDeque<SpeakerEvent>,
    /// Routes to send, while Established.
    outbox: Option<OutboxReceiver>,
    /// Where the status is published.
    status: watch::Sender<SessionStatus>,
    /// The send queue's progress as last sampled: (connection, bytes
    /// acknowledged by the peer, stalled since).
    send_sample: (ConnId, u64, Option<Instant>),
    /// Bytes pending for the peer at the last sample (ours and the kernel's).
    send_pending: u64,
    /// A connection was attached once (for [`SessionSpec::one_shot`]).
    had_conn: bool,
    /// Frozen for a handoff: the connection, stopped.
    frozen: Option<conn::FrozenConn>,
    /// Pumping the Up of a resumed session: its counters continue.
    resuming: bool,
}

/// The current time on tokio's clock (so that tests with a paused clock drive
/// the FSM's timers too).
fn clock_now() -> Instant {
    tokio::time::Instant::now().into_std()
}

/// Waits for the next batch of an optional outbox (forever without one).
async fn next_outbound(rx: &mut Option<OutboxReceiver>) -> Option<Outbound> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Waits until the writer of `conn` made progress (forever without one).
async fn send_progress(q: Option<std::sync::Arc<conn::SendQueue>>) {
    match q {
        Some(q) => q.progressed().await,
        None => std::future::pending().await,
    }
}

impl Session {
    fn new(
        spec: SessionSpec,
        events: mpsc::Sender<SpeakerEvent>,
        status: watch::Sender<SessionStatus>,
    ) -> Self {
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
            outgoing: VecDeque::new(),
            outbox: None,
            status,
            send_sample: (0, 0, None),
            send_pending: 0,
            had_conn: false,
            frozen: None,
            resuming: false,
        }
    }

    async fn run(mut self, mut commands: mpsc::Receiver<SessionCommand>, resumed: bool) {
        let peer = self.spec.remote;
        if !resumed {
            info!(%peer, "session starting");
            self.main.fsm.handle_start(clock_now());
        }
        loop {
            if self.frozen.is_some() {
                // Frozen for a handoff: no timer runs, nothing is read or
                // written, until the handoff completes or is abandoned.
                self.publish(clock_now());
                match commands.recv().await {
                    Some(SessionCommand::Release(done)) => {
                        // Closing our descriptor does not end the connection:
                        // the successor holds it. No FIN, no NOTIFICATION.
                        self.frozen = None;
                        self.outbox = None;
                        info!(%peer, "session handed over to the next process");
                        let _ = done.send(());
                        return;
                    }
                    Some(SessionCommand::Freeze(tx)) => {
                        let _ = tx.send(Err("already frozen".into()));
                    }
                    Some(SessionCommand::Incoming(_)) => {
                        debug!(%peer, "connection refused: session frozen for a handoff");
                    }
                    Some(SessionCommand::Thaw) => self.thaw(),
                    Some(other) => {
                        self.thaw();
                        self.handle_command(other);
                    }
                    None => self.thaw(),
                }
                continue;
            }
            self.pump();
            if self.spec.one_shot
                && self.had_conn
                && self.main.conn.is_none()
                && self.shadow.is_none()
            {
                debug!(%peer, "dynamic neighbor's connection is gone: freeing its slot");
                break;
            }
            let now = clock_now();
            self.sample_send_queue(now);
            self.publish(now);
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
            let queue = self.main.conn.as_ref().map(|c| c.queue.clone());
            let backlog = queue.as_ref().map_or(0, |q| q.backlog());
            let take_routes = self.outbox.is_some() && backlog < SEND_HIGH_WATER;
            // Backpressure: the connection is read (KEEPALIVEs keep the hold
            // timer honest) until the consumer lags by MAX_PENDING_UPDATES;
            // then reading stops and the peer's TCP window closes.
            let read = self.pending_updates() < MAX_PENDING_UPDATES;
            let events = self.events.clone();
            tokio::select! {
                biased;
                permit = events.reserve_owned(), if !self.outgoing.is_empty() => {
                    let Ok(permit) = permit else {
                        debug!("speaker event consumer gone");
                        self.outgoing.clear();
                        continue;
                    };
                    if let Some(ev) = self.outgoing.pop_front() {
                        permit.send(ev);
                    }
                    self.drain_outgoing();
                }
                _ = sleep => {
                    let now = clock_now();
                    self.sample_send_queue(now);
                    self.main.fsm.handle_timeout(now);
                    if let Some(s) = &mut self.shadow {
                        s.fsm.handle_timeout(now);
                    }
                    self.gr.handle_timeout(now);
                }
                ev = self.conn_rx.recv(), if read => {
                    if let Some(ev) = ev {
                        self.handle_conn_event(ev);
                    }
                }
                cmd = commands.recv() => match cmd {
                    Some(SessionCommand::Freeze(tx)) => {
                        // Waits (for the reader to stop and the writer to
                        // flush, each bounded): only during a handoff.
                        let r = self.freeze().await;
                        let _ = tx.send(r);
                    }
                    Some(c) => self.handle_command(c),
                    None => {
                        // The speaker dropped us: say goodbye and end.
                        self.main.fsm.handle_stop(clock_now(), Some("peer removed"));
                        self.shadow = None;
                        self.pump();
                        break;
                    }
                },
                res = self.connect_rx.recv() => {
                    if let Some((attempt, res)) = res {
                        self.handle_connect_result(attempt, res);
                    }
                }
                _ = send_progress(queue), if backlog > 0 => {}
                // While bytes are pending, look again regularly: the peer's
                // acknowledgements wake nobody.
                _ = tokio::time::sleep(SEND_SAMPLE_PERIOD), if self.send_pending > 0 => {}
                o = next_outbound(&mut self.outbox), if take_routes => match o {
                    Some(o) => self.handle_outbound(o),
                    None => self.outbox = None,
                },
            }
        }
        if let Some(c) = self.connecting.take() {
            c.abort();
        }
        // Routes still kept for a restarting peer go with the peering.
        self.gr.handle_removed();
        self.queue_gr_events();
        self.sample_send_queue(clock_now());
        self.publish(clock_now());
        // What the consumer has not taken yet (the last PeerDown) is handed
        // over before the task ends: the consumer never waits on a session,
        // so this wait is short.
        for ev in self.outgoing.drain(..) {
            if self.events.send(ev).await.is_err() {
                break;
            }
        }
        // Let the last NOTIFICATION reach the peer before the task ends (the
        // writers give up after conn::CLOSE_GRACE).
        for w in self.closing.drain(..) {
            let _ = w.await;
        }
        info!(%peer, "session ended");
    }

    /// Freezes the Established session for a handoff (see
    /// [`SessionCommand::Freeze`]).
    async fn freeze(&mut self) -> Result<Frozen, String> {
        let peer = self.spec.remote;
        if self.main.fsm.state() != State::Established || self.shadow.is_some() {
            return Err(format!("session is {}", self.main.fsm.state()));
        }
        let Some(conn) = self.main.conn.as_mut() else {
            return Err("no connection".into());
        };
        let (remote, local, initiator) = (conn.remote, conn.local, conn.initiator);
        let Some(mut reader) = conn.stop_reading() else {
            return Err("the connection's reader has ended".into());
        };
        // The reader may be waiting for room to hand over frames: keep taking them.
        let stopped = loop {
            tokio::select! {
                r = &mut reader => break r.ok().flatten(),
                Some(ev) = self.conn_rx.recv() => self.handle_conn_event(ev),
            }
        };
        while let Ok(ev) = self.conn_rx.try_recv() {
            self.handle_conn_event(ev);
        }
        self.pump();
        let Some(stopped) = stopped else {
            return Err("the connection ended while freezing".into());
        };
        if self.main.fsm.state() != State::Established {
            return Err(format!(
                "session went {} while freezing",
                self.main.fsm.state()
            ));
        }
        // Everything read is the consumer's before the state is taken: the
        // Adj-RIB-In it exports then holds every UPDATE the peer sent.
        for ev in self.outgoing.drain(..) {
            if self.events.send(ev).await.is_err() {
                break;
            }
        }
        let now = clock_now();
        let Some(est) = self.main.fsm.export(now) else {
            return Err("session not exportable".into());
        };
        let conn = self.main.conn.take().expect("checked above");
        let frozen = match conn.freeze(stopped).await {
            Ok(f) => f,
            Err(e) => {
                // The socket is lost to us: as if the connection failed.
                warn!(%peer, error = %e, "cannot freeze the session: closing it");
                self.main.fsm.handle_closed(clock_now());
                return Err(e.to_string());
            }
        };
        let fd = std::os::fd::AsFd::as_fd(&frozen.stream)
            .try_clone_to_owned()
            .map_err(|e| e.to_string());
        let facts = handoff::ConnFacts {
            remote,
            local,
            initiator,
            unread: frozen.unread.clone(),
            max_message_len: frozen.max_len,
        };
        let up_since = self.counters.up_since().unwrap_or(now);
        let state =
            handoff::SessionState::new(&est, &facts, self.counters.carried(), up_since, now);
        self.frozen = Some(frozen);
        let fd = match fd {
            Ok(fd) => fd,
            Err(e) => {
                self.thaw();
                return Err(e);
            }
        };
        info!(%peer, unread = facts.unread.len(), "session frozen for a handoff");
        Ok(Frozen { state, fd })
    }

    /// Continues a frozen session on its own connection.
    fn thaw(&mut self) {
        let Some(f) = self.frozen.take() else { return };
        let peer = self.spec.remote;
        match Conn::resume(
            f.id,
            f.initiator,
            f.stream,
            self.conn_tx.clone(),
            &f.unread,
            f.max_len,
        ) {
            Ok(c) => {
                info!(%peer, "handoff abandoned: session continues");
                self.main.conn = Some(c);
            }
            Err(e) => {
                warn!(%peer, error = %e, "cannot thaw the session: closing it");
                self.main.fsm.handle_closed(clock_now());
            }
        }
    }

    /// UPDATEs read from the peer that the consumer has not taken yet.
    fn pending_updates(&self) -> usize {
        self.outgoing
            .iter()
            .map(|e| match e {
                SpeakerEvent::Updates { updates, .. } => updates.len(),
                _ => 0,
            })
            .sum()
    }

    /// Samples the send queue and tells the FSM since when it has stalled
    /// (RFC 9687): any byte written since the last sample is progress.
    ///
    /// Pending is what our queue holds plus what the kernel holds unacknowledged;
    /// progress is the peer acknowledging bytes (written minus unacknowledged
    /// grows), so data parked in a socket buffer behind a closed window does
    /// not pass for progress.
    fn sample_send_queue(&mut self, now: Instant) {
        let (id, pending, delivered) = match &self.main.conn {
            Some(c) => {
                let unacked = c.kernel_unacked();
                (
                    c.id,
                    c.queue.backlog() + unacked,
                    c.queue.written().saturating_sub(unacked),
                )
            }
            None => (0, 0, 0),
        };
        self.send_pending = pending;
        let (last_id, last_delivered, since) = self.send_sample;
        let since = if pending == 0 {
            None
        } else if id != last_id || delivered != last_delivered || since.is_none() {
            Some(now)
        } else {
            since
        };
        self.send_sample = (id, delivered, since);
        self.main.fsm.handle_send_backlog(since);
    }

    /// Publishes the session's state for the speaker and the API.
    fn publish(&mut self, now: Instant) {
        let conn = self.main.conn.as_ref();
        let stalled = self.send_sample.2.and_then(|t| {
            let ago = now.saturating_duration_since(t);
            if ago < SEND_SAMPLE_PERIOD {
                // Pending, but it moved within the last period: not stalled.
                return None;
            }
            SystemTime::now()
                .checked_sub(ago)
                .unwrap_or(SystemTime::UNIX_EPOCH)
                .duration_since(SystemTime::UNIX_EPOCH)
                .ok()
                .map(|d| d.as_secs())
        });
        let st = SessionStatus {
            state: self.main.fsm.state(),
            counters: self.counters.snapshot(now),
            remote: conn.map(|c| c.remote),
            local: conn.map(|c| c.local),
            send_queue_bytes: self.send_pending,
            send_stalled_since: stalled,
            outbox_depth: self.outbox.as_ref().map_or(0, |o| o.len()),
            negotiated: match self.main.fsm.state() {
                State::Established => self.up_params.clone().map(Box::new),
                _ => None,
            },
            taken_at: Some(now),
        };
        self.status.send_replace(st);
    }

    fn handle_outbound(&mut self, o: Outbound) {
        let now = clock_now();
        match o {
            Outbound::Updates(updates) => {
                let n = updates.len();
                let prefixes: u64 = updates.iter().map(|u| announced_count(u) as u64).sum();
                match self.main.fsm.send_updates(now, updates) {
                    Ok(()) => self.counters.prefixes_advertised += prefixes,
                    Err(e) => {
                        debug!(peer = %self.spec.remote, error = %e, dropped = n, "UPDATEs not sent")
                    }
                }
            }
            Outbound::RouteRefresh(rr) => {
                if let Err(e) = self.main.fsm.send_route_refresh(rr) {
                    debug!(peer = %self.spec.remote, error = %e, "ROUTE-REFRESH not sent");
                }
            }
        }
    }

    fn handle_command(&mut self, cmd: SessionCommand) {
        let now = clock_now();
        match cmd {
            SessionCommand::Incoming(stream) => self.handle_incoming(stream, now),
            SessionCommand::Start => self.main.fsm.handle_start(now),
            SessionCommand::Stop(msg) => {
                self.main.fsm.handle_stop(now, msg.as_deref());
                if let Some(s) = &mut self.shadow {
                    s.fsm.handle_stop(now, msg.as_deref());
                }
            }
            SessionCommand::Reset(n) => self.main.fsm.handle_cease(now, n),
            SessionCommand::LinkDown => {
                if self.main.conn.is_some() {
                    info!(peer = %self.spec.remote, "link down: closing the session now");
                    self.counters.last_error = Some("link down".into());
                    self.main.conn = None;
                    self.main.fsm.handle_closed(now);
                }
                if let Some(mut s) = self.shadow.take() {
                    s.fsm.handle_closed(now);
                }
            }
            SessionCommand::Freeze(tx) => {
                let _ = tx.send(Err("freeze is handled by the session loop".into()));
            }
            SessionCommand::Thaw => {}
            SessionCommand::Release(done) => {
                // Not frozen: nothing to hand over.
                let _ = done.send(());
            }
        }
    }

    fn new_conn(&mut self, initiator: Initiator, stream: TcpStream) -> Option<Conn> {
        self.next_conn += 1;
        self.had_conn = true;
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
                if !self.main.fsm.accepts_connections(now) {
                    debug!(peer = %self.spec.remote, "refusing connection: held down after exceeding the prefix limit");
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
        let now = clock_now();
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
        let now = clock_now();
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
                    // Once this connection's FSM has closed it (a NOTIFICATION
                    // sent or received), the rest of the batch is void: its
                    // negotiated context is gone.
                    if self
                        .slot_for(id)
                        .is_none_or(|s| s.fsm.state() == State::Idle)
                    {
                        return;
                    }
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
            let restart = Duration::from_secs(u64::from(self.spec.fsm.peer.max_prefix_restart));
            self.main.fsm.handle_cease_hold_down(now, n, restart);
        }
    }

    /// Carries out what the FSMs ask for, without waiting.
    fn pump(&mut self) {
        // Collision: once the peer's identifier is known, keep one connection.
        self.resolve_collision();
        self.pump_main();
        self.pump_shadow();
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
        let now = clock_now();
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
                        c.send_control(b.freeze());
                    }
                }
            }
            while self.main.fsm.poll_event().is_some() {}
            if let Some(w) = old_conn.and_then(Conn::close) {
                self.closing.push(w);
            }
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

    fn pump_main(&mut self) {
        let now = clock_now();
        // Transmits first: a NOTIFICATION must go out before the close.
        self.flush_transmits();
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
                    if !self.resuming {
                        self.counters.up(now);
                    }
                    let (outbox, rx) = Outbox::channel(OUTBOX_DEPTH);
                    self.outbox = Some(rx);
                    info!(peer = %self.spec.remote, peer_as = params.peer_as, peer_id = %params.peer_id,
                        hold = params.hold_time, families = %crate::wire::display_list(&params.families), "session Established");
                    self.up_params = Some((*params).clone());
                    self.gr.handle_session_up(now, &params);
                    let (remote, local) = match &self.main.conn {
                        Some(c) => (c.remote, c.local),
                        None => (self.spec.remote, self.spec.remote),
                    };
                    self.emit(SpeakerEvent::PeerUp {
                        peer: self.spec.peer,
                        remote,
                        local,
                        params,
                        outbox,
                    });
                }
                Event::Down {
                    reason,
                    established,
                } => {
                    self.counters.down(established);
                    // Routes still queued for the peer are void: the consumer
                    // sends the table again on the next PeerUp.
                    self.outbox = None;
                    // The next session starts counting from zero (cleared here,
                    // not at Up: UPDATEs read in the same batch as the
                    // KEEPALIVE that brought the session up are counted
                    // before the Up event is pumped).
                    if let Some(h) = &mut self.held {
                        h.clear();
                    }
                    self.counters.prefixes_current = self.held.as_ref().map(|h| h.len() as u64);
                    if let DownReason::NotificationSent(n) = &reason {
                        self.counters.notification_sent(n);
                    }
                    if established {
                        self.flush_batch();
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
                        });
                        self.queue_gr_events();
                    } else {
                        debug!(peer = %self.spec.remote, %reason, "connection closed before Established");
                    }
                }
                Event::Update(u) => {
                    if let Some(family) = u.is_end_of_rib() {
                        self.flush_batch();
                        self.emit(SpeakerEvent::EndOfRib {
                            peer: self.spec.peer,
                            family,
                        });
                        self.gr.handle_end_of_rib(family);
                    } else {
                        self.batch.push(u);
                    }
                }
                Event::RouteRefresh(rr) => {
                    self.flush_batch();
                    self.emit(SpeakerEvent::RouteRefresh {
                        peer: self.spec.peer,
                        request: rr,
                    });
                }
            }
        }
        self.flush_batch();
        self.queue_gr_events();
        // Transmits queued by events (none today) and after state changes.
        self.flush_transmits();
    }

    fn pump_shadow(&mut self) {
        let Some(s) = &mut self.shadow else { return };
        let mut buf = BytesMut::new();
        while let Some(m) = s.fsm.poll_transmit() {
            self.counters.messages_out.count(&m);
            if let Err(e) = m.emit(s.fsm.tx_context(), &mut buf) {
                warn!(error = %e, "cannot encode message");
            }
        }
        if let Some(c) = &s.conn {
            // Before the collision is resolved only OPEN, KEEPALIVE and
            // NOTIFICATION are sent.
            c.send_control(buf.freeze());
        }
        let mut gone = false;
        while let Some(ev) = s.fsm.poll_event() {
            if matches!(ev, Event::Disconnect) {
                gone = true;
            }
        }
        if gone || s.fsm.state() == State::Idle {
            if let Some(w) = self
                .shadow
                .take()
                .and_then(|s| s.conn)
                .and_then(Conn::close)
            {
                self.closing.push(w);
            }
        }
    }

    /// Encodes what the FSM wants sent into the send queue: UPDATEs and
    /// ROUTE-REFRESH in chunks on the data lane, the rest on the control lane.
    fn flush_transmits(&mut self) {
        let mut data = BytesMut::new();
        let mut control = BytesMut::new();
        while let Some(m) = self.main.fsm.poll_transmit() {
            self.counters.messages_out.count(&m);
            let buf = match m {
                Message::Update(_) | Message::RouteRefresh(_) => &mut data,
                _ => &mut control,
            };
            if let Err(e) = m.emit(self.main.fsm.tx_context(), buf) {
                warn!(peer = %self.spec.remote, error = %e, "cannot encode message");
            }
            if data.len() >= DATA_CHUNK {
                if let Some(c) = &self.main.conn {
                    c.send_data(data.split().freeze());
                }
            }
        }
        if let Some(c) = &self.main.conn {
            c.send_control(control.freeze());
            c.send_data(data.freeze());
        }
    }

    fn flush_batch(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let updates = std::mem::take(&mut self.batch);
        self.emit(SpeakerEvent::Updates {
            peer: self.spec.peer,
            updates,
        });
    }

    /// Queues the GR helper's purges (RFC 4724 §4.2) for the consumer.
    fn queue_gr_events(&mut self) {
        while let Some(GrEvent::Expired(family)) = self.gr.poll_event() {
            info!(peer = %self.spec.remote, %family, "stale routes to be purged");
            self.emit(SpeakerEvent::StaleExpired {
                peer: self.spec.peer,
                family,
            });
        }
    }

    /// Queues `ev` for the consumer, in order, and hands over what fits now.
    fn emit(&mut self, ev: SpeakerEvent) {
        self.outgoing.push_back(ev);
        self.drain_outgoing();
    }

    fn drain_outgoing(&mut self) {
        while let Some(ev) = self.outgoing.pop_front() {
            match self.events.try_send(ev) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(ev)) => {
                    self.outgoing.push_front(ev);
                    return;
                }
                Err(mpsc::error::TrySendError::Closed(_)) => {
                    debug!("speaker event consumer gone");
                    self.outgoing.clear();
                    return;
                }
            }
        }
    }
}

pub mod rfc7606;
pub use rfc7606::{announced_count, track_prefixes, withdrawn_count};
