//! The speaker: every session of the process, the listeners, and the
//! neighbour set.
//!
//! One task owns the neighbour table and the listening sockets. Each
//! neighbour runs its own session task ([`crate::session`]); every session
//! reports straight to the one consumer's bounded channel
//! ([`SpeakerEvent`]), so routes do not pass through the speaker task.
//! Neighbours are found by address, by interface (unnumbered, IPv6
//! link-local: we send Router Advertisements on the interface so the peer
//! learns our address ([`ra`]), and the session is created when the peer
//! first connects from that interface) or by listen range (dynamic
//! neighbours, with a limit).
//! Neighbours can be added, changed and removed at runtime; others are not
//! disturbed.
//!
//! The speaker task never waits on a session: commands reach sessions with
//! `try_send` (a session's loop never blocks, so its queue only fills if it
//! is wedged, and then the command is dropped with a log), and status comes
//! from what each session publishes ([`StatusBoard`]), read without asking
//! anyone. A listen-range session is one-shot: it ends with its connection,
//! which frees its slot under the range's limit.

pub mod event;
pub mod ra;

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ipnet::IpNet;
use std::os::fd::OwnedFd;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{info, warn};

use crate::config::{NeighborConfig, NeighborTarget, SpeakerConfig};
use crate::fsm::FsmConfig;
use crate::session::handoff::SessionTransfer;
use crate::session::socket::{self, NetnsTarget, SocketOptions};
use crate::session::{self, SessionCommand, SessionHandle, SessionSpec, SessionStatus};
pub use event::{FrozenPeer, PeerId, PeerStatus, ResumeReport, SpeakerCommand, SpeakerEvent};

/// Every session's published status, shared by the speaker and whoever
/// shows it: reading it never waits on a session or on the speaker task.
#[derive(Debug, Clone, Default)]
pub struct StatusBoard {
    inner: Arc<Mutex<BTreeMap<PeerId, BoardEntry>>>,
}

#[derive(Debug)]
struct BoardEntry {
    target: NeighborTarget,
    remote: SocketAddr,
    status: watch::Receiver<SessionStatus>,
}

impl StatusBoard {
    /// A snapshot of every session, by peer id.
    pub fn snapshot(&self) -> Vec<PeerStatus> {
        let now = tokio::time::Instant::now().into_std();
        let board = self.inner.lock().expect("status board lock");
        board
            .iter()
            .map(|(peer, e)| PeerStatus {
                peer: *peer,
                target: e.target.clone(),
                remote: e.remote,
                session: e.status.borrow().clone().aged(now),
            })
            .collect()
    }

    fn insert(&self, peer: PeerId, target: NeighborTarget, remote: SocketAddr, h: &SessionHandle) {
        let e = BoardEntry {
            target,
            remote,
            status: h.status.clone(),
        };
        self.inner
            .lock()
            .expect("status board lock")
            .insert(peer, e);
    }

    fn remove(&self, peer: PeerId) {
        self.inner.lock().expect("status board lock").remove(&peer);
    }
}

/// A handle on the speaker task.
#[derive(Debug)]
pub struct SpeakerHandle {
    /// Commands to the speaker.
    pub commands: mpsc::Sender<SpeakerCommand>,
    /// The addresses actually listened on (port 0 resolved).
    pub listening: Vec<SocketAddr>,
    /// Every session's published status.
    pub board: StatusBoard,
    /// Bumped by the speaker task at every turn of its loop (at least once a
    /// second): a value that stops moving means the task is wedged.
    pub heartbeat: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl SpeakerHandle {
    /// A snapshot of every session, from what they published.
    pub async fn status(&self) -> Vec<PeerStatus> {
        self.board.snapshot()
    }

    /// Stops every session with an admin shutdown `message` and waits.
    pub async fn shutdown(self, message: Option<String>) {
        let _ = self.commands.send(SpeakerCommand::Shutdown(message)).await;
        let _ = self.task.await;
    }
}

struct Neighbor {
    cfg: NeighborConfig,
    /// Sessions: one for address/interface neighbours (once the address is
    /// known), one per remote address for listen ranges.
    sessions: HashMap<IpAddr, (PeerId, SocketAddr, SessionHandle)>,
    /// Interface neighbours: the task sending our Router Advertisements on the
    /// interface, so the peer learns our link-local address ([`ra`]).
    _advertiser: Option<Advertiser>,
}

/// The Router Advertisement task of an interface neighbour, stopped with it.
struct Advertiser(tokio::task::JoinHandle<()>);

impl Drop for Advertiser {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Speaker {
    cfg: SpeakerConfig,
    neighbors: HashMap<NeighborTarget, Neighbor>,
    next_id: u32,
    events: mpsc::Sender<SpeakerEvent>,
    /// Listening sockets (dups of the fds), for installing MD5 keys.
    listen_fds: Vec<(SocketAddr, socket2::Socket)>,
    board: StatusBoard,
    heartbeat: Arc<AtomicU64>,
    /// Sessions handed over by the previous process, waiting for their
    /// neighbour to be added ([`SpeakerCommand::Resume`]).
    pending_resume: Vec<SessionTransfer>,
    /// Sessions resumed, and handed over but not resumable, so far.
    resumed: usize,
    resume_failed: usize,
    /// Frozen for a handoff: the accept loops pause, so that a connection
    /// attempt made meanwhile waits in the listening socket's backlog for
    /// whichever process speaks next (the successor shares the socket).
    frozen: bool,
    /// Whether the accept loops take connections (false: they leave them in
    /// the backlog). Off while frozen, and in a successor until the handed
    /// over sessions and the neighbours are in place ([`SpeakerCommand::ResumeDone`]).
    accepting: tokio::sync::watch::Sender<bool>,
    /// Connections an accept loop took just before it paused, handled on
    /// thaw (or closed when the sessions are handed over: the peer retries,
    /// and the successor answers).
    deferred: Vec<(TcpStream, SocketAddr)>,
}

/// How long binding a listener is retried while the port is in use: during
/// an upgrade the previous process may hold it a little longer (a handoff
/// passes the listener itself; an ordinary restart beside a stopping
/// predecessor needs the retry).
const BIND_RETRY: std::time::Duration = std::time::Duration::from_secs(10);

/// Binds a listener, retrying on EADDRINUSE for up to [`BIND_RETRY`].
async fn bind_listener(addr: SocketAddr, opts: &SocketOptions) -> io::Result<socket2::Socket> {
    let deadline = tokio::time::Instant::now() + BIND_RETRY;
    loop {
        let o = opts.clone();
        let r = tokio::task::spawn_blocking(move || socket::listening_socket(addr, &o))
            .await
            .map_err(io::Error::other)?;
        match r {
            Err(e)
                if e.kind() == io::ErrorKind::AddrInUse
                    && tokio::time::Instant::now() < deadline =>
            {
                warn!(%addr, "BGP port in use (the previous perouter still holds it?): retrying");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            r => return r,
        }
    }
}

/// Starts the speaker: binds the listeners, starts a session per configured
/// neighbour, and returns its handle. Every session reports to `events`.
pub async fn start(
    cfg: SpeakerConfig,
    neighbors: Vec<NeighborConfig>,
    events: mpsc::Sender<SpeakerEvent>,
) -> io::Result<SpeakerHandle> {
    start_with_listeners(cfg, neighbors, events, Vec::new()).await
}

/// Like [`start`], listening on `inherited` listening sockets (handed over
/// by the previous process) instead of binding new ones when there are any:
/// the listening socket never closes during an upgrade, so no connection
/// attempt is refused.
pub async fn start_with_listeners(
    cfg: SpeakerConfig,
    neighbors: Vec<NeighborConfig>,
    events: mpsc::Sender<SpeakerEvent>,
    inherited: Vec<OwnedFd>,
) -> io::Result<SpeakerHandle> {
    let (cmd_tx, cmd_rx) = mpsc::channel(1024);
    let (acc_tx, acc_rx) = mpsc::channel(64);
    let netns = netns_of(&cfg);
    let mut listen_fds = Vec::new();
    let mut listening = Vec::new();
    let mut socks = Vec::new();
    // A successor takes connections only once the sessions handed over and
    // the neighbours are in place (ResumeDone); until then they wait in the
    // shared backlog instead of meeting a speaker that knows no neighbour.
    let (accepting, accepting_rx) = tokio::sync::watch::channel(inherited.is_empty());
    if inherited.is_empty() {
        for addr in &cfg.listen {
            let opts = SocketOptions {
                netns: netns.clone(),
                ..Default::default()
            };
            socks.push(bind_listener(*addr, &opts).await?);
        }
    } else {
        for fd in inherited {
            let sock = socket2::Socket::from(fd);
            sock.set_nonblocking(true)?;
            socks.push(sock);
        }
    }
    for sock in socks {
        let dup = sock.try_clone()?;
        let std_listener: std::net::TcpListener = sock.into();
        let listener = TcpListener::from_std(std_listener)?;
        let bound = listener.local_addr()?;
        info!(%bound, "listening for BGP connections");
        listening.push(bound);
        listen_fds.push((bound, dup));
        tokio::spawn(accept_loop(listener, acc_tx.clone(), accepting_rx.clone()));
    }
    let board = StatusBoard::default();
    let heartbeat = Arc::new(AtomicU64::new(0));
    let mut sp = Speaker {
        cfg,
        neighbors: HashMap::new(),
        next_id: 0,
        events,
        listen_fds,
        board: board.clone(),
        heartbeat: heartbeat.clone(),
        pending_resume: Vec::new(),
        resumed: 0,
        resume_failed: 0,
        frozen: false,
        accepting,
        deferred: Vec::new(),
    };
    for n in neighbors {
        sp.add_neighbor(n);
    }
    let task = tokio::spawn(sp.run(cmd_rx, acc_rx));
    Ok(SpeakerHandle {
        commands: cmd_tx,
        listening,
        board,
        heartbeat,
        task,
    })
}

fn netns_of(cfg: &SpeakerConfig) -> NetnsTarget {
    match &cfg.netns {
        Some(n) => NetnsTarget::Named(n.clone()),
        None => NetnsTarget::Current,
    }
}

/// Accepts connections while `accepting` is true; while it is false the
/// connections stay in the kernel's backlog (not refused: during a handoff
/// the listening socket is shared with the successor, which takes them).
async fn accept_loop(
    listener: TcpListener,
    tx: mpsc::Sender<(TcpStream, SocketAddr)>,
    mut accepting: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if !*accepting.borrow_and_update() {
            if accepting.changed().await.is_err() {
                return;
            }
            continue;
        }
        let r = tokio::select! {
            biased;
            c = accepting.changed() => {
                if c.is_err() {
                    return;
                }
                continue;
            }
            r = listener.accept() => r,
        };
        match r {
            Ok((s, a)) => {
                if tx.send((s, socket::unmap(a))).await.is_err() {
                    return;
                }
            }
            Err(e) => {
                warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// The index of interface `name` in `netns` (the router namespace: the scope id of a
/// link-local peer's address is an index there, not in the process's namespace). Runs on a
/// short-lived helper thread; only called for link-local connections.
fn ifindex_in(netns: &NetnsTarget, name: &str) -> Option<u32> {
    let name = name.to_string();
    socket::in_netns(netns, move || {
        nix::net::if_::if_nametoindex(name.as_str()).map_err(io::Error::from)
    })
    .ok()
}

impl Speaker {
    async fn run(
        mut self,
        mut commands: mpsc::Receiver<SpeakerCommand>,
        mut accepted: mpsc::Receiver<(TcpStream, SocketAddr)>,
    ) {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            self.heartbeat.fetch_add(1, Ordering::Relaxed);
            tokio::select! {
                cmd = commands.recv() => match cmd {
                    None => { self.stop_all(Some("speaker stopped".into())).await; return; }
                    Some(SpeakerCommand::Shutdown(msg)) => { self.stop_all(msg).await; return; }
                    Some(c) => self.handle_command(c).await,
                },
                Some((stream, addr)) = accepted.recv() => self.handle_accept(stream, addr),
                _ = tick.tick() => self.reap(),
            }
        }
    }

    /// Forgets the sessions that ended (dynamic neighbours whose connection
    /// is gone): their slot is free and they leave the status board.
    fn reap(&mut self) {
        let board = &self.board;
        for n in self.neighbors.values_mut() {
            n.sessions.retain(|_, (id, _, h)| {
                let keep = !h.is_finished();
                if !keep {
                    board.remove(*id);
                }
                keep
            });
        }
    }

    async fn stop_all(&mut self, msg: Option<String>) {
        let all: Vec<_> = self
            .neighbors
            .drain()
            .flat_map(|(_, n)| n.sessions.into_values())
            .collect();
        // In parallel: each waits for its last NOTIFICATION at most
        // conn::CLOSE_GRACE.
        let stops: Vec<_> = all
            .into_iter()
            .map(|(id, _, h)| {
                self.board.remove(id);
                tokio::spawn(h.shutdown(msg.clone()))
            })
            .collect();
        for s in stops {
            let _ = s.await;
        }
    }

    async fn handle_command(&mut self, cmd: SpeakerCommand) {
        match cmd {
            SpeakerCommand::LinkDown {
                interface,
                addresses,
            } => {
                for n in self.neighbors.values() {
                    let bound = match &n.cfg.target {
                        NeighborTarget::Interface(i) => *i == interface,
                        _ => n.cfg.peer.vrf.as_deref() == Some(interface.as_str()),
                    };
                    for (id, _, h) in n.sessions.values() {
                        let local = h.status.borrow().local.map(|l| l.ip());
                        if bound || local.is_some_and(|l| addresses.contains(&l)) {
                            info!(%id, %interface, "link down: closing the session over it");
                            send_to(h, *id, SessionCommand::LinkDown);
                        }
                    }
                }
            }
            SpeakerCommand::AddNeighbor(n) => {
                if let Some(old) = self.neighbors.get(&n.target) {
                    if old.cfg == n {
                        return;
                    }
                    info!(target = %n.target, "neighbor configuration changed: resetting it");
                    self.remove_neighbor(&n.target, "configuration changed")
                        .await;
                }
                self.add_neighbor(n);
            }
            SpeakerCommand::RemoveNeighbor(t) => self.remove_neighbor(&t, "neighbor removed").await,
            SpeakerCommand::AdminState {
                target,
                up,
                message,
            } => {
                if let Some(n) = self.neighbors.get(&target) {
                    for (id, _, h) in n.sessions.values() {
                        let c = if up {
                            SessionCommand::Start
                        } else {
                            SessionCommand::Stop(message.clone())
                        };
                        send_to(h, *id, c);
                    }
                }
            }
            SpeakerCommand::Status(tx) => {
                let _ = tx.send(self.board.snapshot());
            }
            SpeakerCommand::Freeze(tx) => {
                let frozen = self.freeze_all().await;
                let _ = tx.send(frozen);
            }
            SpeakerCommand::Thaw => {
                self.frozen = false;
                self.accepting.send_replace(true);
                for (stream, addr) in std::mem::take(&mut self.deferred) {
                    self.handle_accept(stream, addr);
                }
                for n in self.neighbors.values() {
                    for (id, _, h) in n.sessions.values() {
                        send_to(h, *id, SessionCommand::Thaw);
                    }
                }
            }
            SpeakerCommand::Release(done) => {
                for (_, addr) in self.deferred.drain(..) {
                    info!(peer = %addr, "connection accepted just before the handoff closed: the peer retries, the next process answers");
                }
                let mut waits = Vec::new();
                for n in self.neighbors.values() {
                    for (id, _, h) in n.sessions.values() {
                        let (tx, rx) = oneshot::channel();
                        send_to(h, *id, SessionCommand::Release(tx));
                        waits.push(rx);
                    }
                }
                for w in waits {
                    let _ = w.await;
                }
                let _ = done.send(());
            }
            SpeakerCommand::Resume(transfers) => self.pending_resume.extend(transfers),
            SpeakerCommand::ResumeDone(tx) => {
                let unmatched = std::mem::take(&mut self.pending_resume);
                for t in &unmatched {
                    warn!(peer = %t.state.remote, target = ?t.state.target,
                        "handed-over session has no neighbour in this configuration: closing it");
                }
                if !self.frozen {
                    self.accepting.send_replace(true);
                }
                let _ = tx.send(ResumeReport {
                    resumed: self.resumed,
                    failed: self.resume_failed,
                    unmatched: unmatched.len(),
                });
            }
            SpeakerCommand::ListenerFds(tx) => {
                let fds = self
                    .listen_fds
                    .iter()
                    .filter_map(|(_, s)| s.try_clone().ok().map(OwnedFd::from))
                    .collect();
                let _ = tx.send(fds);
            }
            SpeakerCommand::Shutdown(_) => {}
        }
    }

    /// Freezes every session for a handoff (in parallel) and collects what
    /// the Established ones give: their state, target filled in, and socket.
    /// The others go on (and stop when the process ends).
    async fn freeze_all(&mut self) -> Vec<FrozenPeer> {
        self.frozen = true;
        self.accepting.send_replace(false);
        let mut waits = Vec::new();
        for n in self.neighbors.values() {
            for (id, _, h) in n.sessions.values() {
                let (tx, rx) = oneshot::channel();
                send_to(h, *id, SessionCommand::Freeze(tx));
                waits.push((*id, n.cfg.target.clone(), rx));
            }
        }
        let mut out = Vec::new();
        for (peer, target, rx) in waits {
            match rx.await {
                Ok(Ok(f)) => {
                    let mut state = f.state;
                    state.target = Some(target);
                    out.push(FrozenPeer {
                        peer,
                        state,
                        fd: f.fd,
                    });
                }
                Ok(Err(why)) => info!(%peer, %target, why, "session not handed over"),
                Err(_) => info!(%peer, %target, "session not handed over: it ended"),
            }
        }
        out
    }

    async fn remove_neighbor(&mut self, t: &NeighborTarget, why: &str) {
        if let Some(n) = self.neighbors.remove(t) {
            info!(target = %t, why, "removing neighbor");
            self.set_md5(&n.cfg, None);
            let stops: Vec<_> = n
                .sessions
                .into_values()
                .map(|(id, _, h)| {
                    self.board.remove(id);
                    tokio::spawn(h.shutdown(Some(why.to_string())))
                })
                .collect();
            for s in stops {
                let _ = s.await;
            }
        }
    }

    /// Installs (or removes) the neighbour's TCP-MD5 key on every listening
    /// socket, keyed by its address or range (v4-mapped on IPv6 sockets).
    fn set_md5(&self, n: &NeighborConfig, key: Option<&[u8]>) {
        if n.peer.password.is_none() {
            return;
        }
        let net = match &n.target {
            NeighborTarget::Address(a) => IpNet::from(*a),
            NeighborTarget::ListenRange(r) => *r,
            NeighborTarget::Interface(_) => return,
        };
        for (addr, s) in &self.listen_fds {
            let net = match (addr, net) {
                (SocketAddr::V6(_), IpNet::V4(_)) => socket::v4_mapped(net),
                (SocketAddr::V4(_), IpNet::V6(_)) => continue,
                _ => net,
            };
            if let Err(e) = socket::set_tcp_md5(s, net, key.unwrap_or(&[])) {
                warn!(%addr, peer = %net, error = %e, "cannot set TCP-MD5 key on listener");
            }
        }
    }

    fn add_neighbor(&mut self, n: NeighborConfig) {
        if let Err(e) = n.peer.validate() {
            warn!(target = %n.target, error = %e, "neighbor refused");
            return;
        }
        info!(target = %n.target, remote_as = %n.peer.remote_as, "adding neighbor");
        self.set_md5(&n, n.peer.password.as_deref().map(str::as_bytes));
        let advertiser = match &n.target {
            NeighborTarget::Interface(i) => Some(Advertiser(tokio::spawn(ra::run(
                netns_of(&self.cfg),
                i.clone(),
            )))),
            _ => None,
        };
        let mut nb = Neighbor {
            cfg: n.clone(),
            sessions: HashMap::new(),
            _advertiser: advertiser,
        };
        let resumed = self.resume_sessions(&n, &mut nb);
        if let NeighborTarget::Address(a) = n.target {
            if resumed.contains(&a) {
                self.neighbors.insert(n.target.clone(), nb);
                return;
            }
            let remote = SocketAddr::new(a, n.peer.port);
            let (id, h) = self.spawn_session(&n, remote, false, false);
            nb.sessions.insert(a, (id, remote, h));
        }
        self.neighbors.insert(n.target.clone(), nb);
    }

    fn session_spec(
        &mut self,
        n: &NeighborConfig,
        remote: SocketAddr,
        passive: bool,
        one_shot: bool,
    ) -> (PeerId, SessionSpec) {
        self.next_id += 1;
        let id = PeerId(self.next_id);
        let mut peer = n.peer.clone();
        peer.passive |= passive;
        if matches!(n.target, NeighborTarget::Interface(_)) {
            peer.extended_next_hop = true;
        }
        let local_as = peer.local_as.unwrap_or(self.cfg.local_as);
        let ebgp = peer.remote_as.is_internal(local_as) == Some(false);
        let ttl = match (peer.ebgp_multihop, ebgp) {
            (Some(h), _) => Some(h),
            (None, true) => Some(1),
            (None, false) => None,
        };
        let socket = SocketOptions {
            netns: netns_of(&self.cfg),
            local_addr: peer.local_address,
            bind_device: match &n.target {
                NeighborTarget::Interface(i) => Some(i.clone()),
                _ => peer.vrf.clone(),
            },
            ttl,
            min_ttl: peer
                .ttl_security_hops
                .map(|h| 255u8.saturating_sub(h.saturating_sub(1))),
        };
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        (self.cfg.router_id, remote, id).hash(&mut hasher);
        let spec = SessionSpec {
            peer: id,
            remote,
            fsm: FsmConfig {
                local_as,
                router_id: self.cfg.router_id,
                peer,
            },
            socket,
            seed: hasher.finish(),
            one_shot,
        };
        (id, spec)
    }

    fn spawn_session(
        &mut self,
        n: &NeighborConfig,
        remote: SocketAddr,
        passive: bool,
        one_shot: bool,
    ) -> (PeerId, SessionHandle) {
        let (id, spec) = self.session_spec(n, remote, passive, one_shot);
        info!(%id, %remote, "starting session");
        let h = session::spawn(spec, self.events.clone());
        self.board.insert(id, n.target.clone(), remote, &h);
        (id, h)
    }

    /// Resumes the sessions handed over for neighbour `n` (see
    /// [`SpeakerCommand::Resume`]) into `nb`; returns the addresses resumed.
    fn resume_sessions(&mut self, n: &NeighborConfig, nb: &mut Neighbor) -> Vec<IpAddr> {
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pending_resume)
            .into_iter()
            .partition(|t| t.state.target.as_ref() == Some(&n.target));
        self.pending_resume = rest;
        let mut done = Vec::new();
        for t in mine {
            let ip = t.state.remote.ip();
            let remote = match t.state.remote {
                SocketAddr::V6(mut r) => {
                    r.set_port(n.peer.port);
                    SocketAddr::V6(r)
                }
                SocketAddr::V4(r) => SocketAddr::new(IpAddr::V4(*r.ip()), n.peer.port),
            };
            let dynamic = matches!(n.target, NeighborTarget::ListenRange(_));
            let (id, spec) = self.session_spec(n, remote, dynamic, dynamic);
            match session::spawn_resumed(spec, self.events.clone(), t) {
                Ok(h) => {
                    info!(%id, %remote, "session resumed from the previous process");
                    self.board.insert(id, n.target.clone(), remote, &h);
                    nb.sessions.insert(ip, (id, remote, h));
                    self.resumed += 1;
                    done.push(ip);
                }
                Err(e) => {
                    warn!(%remote, error = %e, "handed-over session cannot be resumed: it closes and starts again");
                    self.resume_failed += 1;
                }
            }
        }
        done
    }

    fn handle_accept(&mut self, stream: TcpStream, addr: SocketAddr) {
        if self.frozen {
            info!(peer = %addr, "connection held: sessions frozen for a handoff");
            self.deferred.push((stream, addr));
            return;
        }
        let ip = addr.ip();
        // 1. A numbered neighbour at that address.
        if let Some(n) = self.neighbors.get(&NeighborTarget::Address(ip)) {
            if let Some((id, _, h)) = n.sessions.get(&ip) {
                send_to(h, *id, SessionCommand::Incoming(stream));
            }
            return;
        }
        // 2. An unnumbered neighbour on the interface the link-local came in on.
        if let SocketAddr::V6(v6) = addr {
            if v6.ip().is_unicast_link_local() {
                let netns = netns_of(&self.cfg);
                let target = self.neighbors.keys().find_map(|t| match t {
                    NeighborTarget::Interface(i)
                        if ifindex_in(&netns, i) == Some(v6.scope_id()) =>
                    {
                        Some(t.clone())
                    }
                    _ => None,
                });
                if let Some(t) = target {
                    self.attach(t, stream, addr, true);
                    return;
                }
            }
        }
        // 3. A listen range (longest prefix first).
        let target = self
            .neighbors
            .keys()
            .filter_map(|t| match t {
                NeighborTarget::ListenRange(r) if r.contains(&ip) => {
                    Some((r.prefix_len(), t.clone()))
                }
                _ => None,
            })
            .max_by_key(|(l, _)| *l)
            .map(|(_, t)| t);
        match target {
            Some(t) => self.attach(t, stream, addr, true),
            None => info!(peer = %addr, "connection from an unconfigured address refused"),
        }
    }

    /// Hands `stream` to the session for `addr` under neighbour `t`, creating
    /// it if needed (within the listen range's limit).
    fn attach(&mut self, t: NeighborTarget, stream: TcpStream, addr: SocketAddr, passive: bool) {
        let ip = addr.ip();
        self.reap();
        let Some(n) = self.neighbors.get_mut(&t) else {
            return;
        };
        if let Some((id, _, h)) = n.sessions.get(&ip) {
            send_to(h, *id, SessionCommand::Incoming(stream));
            return;
        }
        let limit = n.cfg.limit.unwrap_or(usize::MAX);
        if matches!(t, NeighborTarget::ListenRange(_)) && n.sessions.len() >= limit {
            warn!(peer = %addr, limit, range = ?t, "dynamic neighbor limit reached: connection refused");
            return;
        }
        let cfg = n.cfg.clone();
        let remote = SocketAddr::new(ip, cfg.peer.port);
        let remote = match (remote, addr) {
            (SocketAddr::V6(mut r), SocketAddr::V6(a)) => {
                r.set_scope_id(a.scope_id());
                SocketAddr::V6(r)
            }
            (r, _) => r,
        };
        // Listen-range sessions only ever answer; unnumbered ones reconnect.
        let dynamic = matches!(t, NeighborTarget::ListenRange(_));
        let passive = passive && dynamic;
        let (id, h) = self.spawn_session(&cfg, remote, passive, dynamic);
        info!(%id, peer = %addr, "dynamic neighbor accepted");
        send_to(&h, id, SessionCommand::Incoming(stream));
        if let Some(n) = self.neighbors.get_mut(&t) {
            n.sessions.insert(ip, (id, remote, h));
        }
    }
}

/// Hands `cmd` to a session without waiting: a session's loop never blocks,
/// so a full queue means it is wedged, and the command is dropped.
fn send_to(h: &SessionHandle, id: PeerId, cmd: SessionCommand) {
    if let Err(e) = h.commands.try_send(cmd) {
        warn!(%id, error = %e, "session not taking commands: command dropped");
    }
}
