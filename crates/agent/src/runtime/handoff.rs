//! Session handoff between two perouter processes on one node (issue 19): an upgrade without
//! a single BGP session flap.
//!
//! A running perouter (the predecessor) listens on a Unix socket (`/run/perouter/handoff.sock`
//! by default, mode 0600: root only). A new perouter (the successor) started beside it, once
//! its plan is made and its datapath is open, connects and asks for the sessions:
//!
//! ```text
//! successor                         predecessor
//!   Hello{version}          ──▶
//!                                   refuses (Refused{reason}, then an ordinary stop) when the
//!                                   version differs or a feature it cannot carry is on (BFD);
//!                                   else freezes every Established session (reading stops,
//!                                   what was read is handled, queued writes are flushed),
//!                                   exports each one's Adj-RIB-In from the RIB
//!                           ◀──     State{sessions, generation, listeners}
//!                           ◀──     the sockets (SCM_RIGHTS, FD_BATCH per message):
//!                                   sessions in order, then the listening sockets
//!   resumes every session (KEEPALIVE at once)
//!   Taken                   ──▶
//!                                   releases the sessions (no FIN, no NOTIFICATION)
//!                           ◀──     Released, and exits 0 without touching anything else
//! ```
//!
//! Framing: a 4-byte big-endian length, then JSON ([`Msg`]). Never both or neither speak for
//! the node: the predecessor exits only after Taken; the successor speaks only after State.
//! If the successor aborts, vanishes or does not answer within [`TAKEN_TIMEOUT`], the
//! predecessor thaws its sessions and goes on (the successor then exits). If the predecessor
//! dies before State, the successor sees the socket close and starts as an ordinary restart
//! (graceful restart, as without handoff); if the predecessor hangs (stopped), the successor
//! waits for it to die rather than speak beside it.
//!
//! The file-descriptor passing ([`send_fds`], [`recv_fds`]) is the only code here that deals
//! in raw descriptors; it goes through `nix`'s safe wrappers.

use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

use perouter_bgp::session::handoff::{SessionState, SessionTransfer, HANDOFF_VERSION};
use perouter_bgp::speaker::{ResumeReport, SpeakerCommand};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, warn};

use super::routing::RoutingCommand;
use crate::metrics::LiveMetrics;

/// The handoff socket's default path.
pub const DEFAULT_SOCKET: &str = "/run/perouter/handoff.sock";

/// The protocol's version (the session state format has its own, carried in each state).
pub const PROTOCOL_VERSION: u32 = 1;

/// The largest frame accepted: the Adj-RIB-In of every session travels in one State
/// (about 2 × the UPDATE bytes, hex); a larger claim is a broken peer.
const MAX_FRAME: usize = 1 << 30;

/// Descriptors per SCM_RIGHTS message (the kernel's limit is 253, SCM_MAX_FD).
pub const FD_BATCH: usize = 200;

/// How long the predecessor waits for Taken after sending State before it thaws.
pub const TAKEN_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the predecessor waits for the successor's Hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the successor waits for the predecessor's answer to Hello before it checks that
/// the predecessor is still alive (a live one is waited for: never both speak).
const ANSWER_WAIT: Duration = Duration::from_secs(30);

/// How long a predecessor that refused is given to stop.
const STOP_WAIT: Duration = Duration::from_secs(30);

/// A protocol message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Msg {
    /// Successor → predecessor: hand me your sessions.
    Hello {
        /// [`PROTOCOL_VERSION`] of the successor.
        version: u32,
        /// The session-state format it reads ([`HANDOFF_VERSION`]).
        state_version: u32,
        /// The router namespace it runs: only the perouter of the same one hands over.
        router_netns: String,
    },
    /// Predecessor → successor: the sessions (their sockets follow).
    State {
        /// The frozen sessions, in the order of the sockets that follow.
        sessions: Vec<SessionState>,
        /// Listening sockets following the sessions' sockets.
        listeners: usize,
        /// The predecessor's configuration generation.
        generation: u64,
    },
    /// Predecessor → successor: no handoff; the predecessor stops the ordinary way.
    Refused {
        /// Why.
        reason: String,
    },
    /// Successor → predecessor: the sessions are resumed here.
    Taken,
    /// Successor → predecessor: abandon (the predecessor thaws and goes on).
    Abort {
        /// Why.
        reason: String,
    },
    /// Predecessor → successor: sessions released; exiting.
    Released,
    /// Predecessor → successor: the handoff timed out; the predecessor goes on.
    Abandoned {
        /// Why.
        reason: String,
    },
}

/// Errors of the protocol.
#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    /// I/O on the socket.
    #[error("handoff socket: {0}")]
    Io(#[from] std::io::Error),
    /// A frame that is not a message.
    #[error("handoff message: {0}")]
    Decode(#[from] serde_json::Error),
    /// A frame claiming more than [`MAX_FRAME`] bytes.
    #[error("handoff frame of {0} bytes refused")]
    TooLarge(usize),
    /// The socket closed.
    #[error("the other process closed the handoff socket")]
    Closed,
    /// File-descriptor passing failed.
    #[error("passing sockets: {0}")]
    Fds(String),
    /// A message out of turn.
    #[error("unexpected handoff message: {0}")]
    Unexpected(String),
}

/// Writes one message: length, then JSON.
pub fn write_msg(w: &mut impl Write, m: &Msg) -> Result<(), HandoffError> {
    let body = serde_json::to_vec(m)?;
    if body.len() > MAX_FRAME {
        return Err(HandoffError::TooLarge(body.len()));
    }
    let len = u32::try_from(body.len()).map_err(|_| HandoffError::TooLarge(body.len()))?;
    w.write_all(&len.to_be_bytes())?;
    w.write_all(&body)?;
    w.flush()?;
    Ok(())
}

/// Reads one message (exactly its bytes: what follows, such as descriptors, stays unread).
pub fn read_msg(r: &mut impl Read) -> Result<Msg, HandoffError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return Err(HandoffError::Closed)
        }
        Err(e) => return Err(e.into()),
    }
    let n = u32::from_be_bytes(len) as usize;
    if n > MAX_FRAME {
        return Err(HandoffError::TooLarge(n));
    }
    let mut body = vec![0u8; n];
    r.read_exact(&mut body).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => HandoffError::Closed,
        _ => HandoffError::Io(e),
    })?;
    Ok(serde_json::from_slice(&body)?)
}

/// Sends `fds` over `sock`, [`FD_BATCH`] per message, each batch riding on one byte of data
/// (SCM_RIGHTS needs data to ride on). Our copies stay open; the receiver gets its own.
pub fn send_fds(sock: &UnixStream, fds: &[RawFd]) -> Result<(), HandoffError> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    for batch in fds.chunks(FD_BATCH) {
        let cmsg = [ControlMessage::ScmRights(batch)];
        let iov = [IoSlice::new(&[0u8])];
        sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
            .map_err(|e| HandoffError::Fds(e.to_string()))?;
    }
    Ok(())
}

/// Receives `n` descriptors sent by [`send_fds`] (close-on-exec set).
pub fn recv_fds(sock: &UnixStream, n: usize) -> Result<Vec<OwnedFd>, HandoffError> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let mut byte = [0u8; 1];
        let mut iov = [IoSliceMut::new(&mut byte)];
        let mut space = nix::cmsg_space!([RawFd; FD_BATCH]);
        let msg = recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| HandoffError::Fds(e.to_string()))?;
        if msg.bytes == 0 {
            return Err(HandoffError::Closed);
        }
        let mut got = 0;
        for c in msg.cmsgs().map_err(|e| HandoffError::Fds(e.to_string()))? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for fd in fds {
                    // SAFETY: the kernel just installed `fd` in our table for us (SCM_RIGHTS);
                    // nothing else owns it.
                    out.push(unsafe { OwnedFd::from_raw_fd(fd) });
                    got += 1;
                }
            }
        }
        if got == 0 {
            return Err(HandoffError::Fds("a message without descriptors".into()));
        }
        if msg.flags.contains(MsgFlags::MSG_CTRUNC) {
            return Err(HandoffError::Fds("descriptors truncated".into()));
        }
    }
    Ok(out)
}

// ------------------------------------------------------------------------------ predecessor

/// What the predecessor's main loop is told once a handoff ended.
#[derive(Debug)]
pub enum Outcome {
    /// The sessions are the successor's: exit now, touching nothing.
    HandedOver,
    /// The successor was refused: stop the ordinary way so that it can start. The connection
    /// is held until the stop is complete: its closing tells the successor to go.
    StopForSuccessor(String, UnixStream),
}

/// What the predecessor needs to hand its sessions over.
#[derive(Clone)]
pub struct Predecessor {
    /// The speaker.
    pub speaker: mpsc::Sender<SpeakerCommand>,
    /// The routing task (for the Adj-RIB-In).
    pub routing: mpsc::Sender<RoutingCommand>,
    /// Why a handoff would be refused now (a feature it cannot carry), if it would.
    pub refuse: std::sync::Arc<dyn Fn() -> Option<String> + Send + Sync>,
    /// The configuration generation now.
    pub generation: std::sync::Arc<dyn Fn() -> u64 + Send + Sync>,
    /// Metrics.
    pub live: LiveMetrics,
    /// The router namespace this process runs.
    pub router_netns: String,
}

/// Binds the handoff socket at `path` (root only: 0600), replacing a stale file.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let l = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(l)
}

/// Serves handoff requests on `listener` until one ends with an [`Outcome`], sent to `done`.
/// Each request runs on a blocking thread (the protocol is sequential).
pub async fn serve(listener: UnixListener, p: Predecessor, done: mpsc::Sender<Outcome>) {
    if let Err(e) = listener.set_nonblocking(true) {
        error!(error = %e, "handoff socket unusable: no handoff will be offered");
        return;
    }
    let listener = match tokio::net::UnixListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            error!(error = %e, "handoff socket unusable: no handoff will be offered");
            return;
        }
    };
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                warn!(error = %e, "handoff accept failed");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let Ok(stream) = stream.into_std() else {
            continue;
        };
        let p2 = p.clone();
        let rt = tokio::runtime::Handle::current();
        let r = tokio::task::spawn_blocking(move || give(stream, &p2, &rt)).await;
        match r {
            Ok(Some(o)) => {
                let _ = done.send(o).await;
                return;
            }
            Ok(None) => {}
            Err(e) => error!(error = %e, "handoff task failed"),
        }
    }
}

/// The predecessor's side of one request (blocking; async steps through `rt`).
fn give(mut s: UnixStream, p: &Predecessor, rt: &tokio::runtime::Handle) -> Option<Outcome> {
    let t0 = Instant::now();
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(HELLO_TIMEOUT));
    let hello = match read_msg(&mut s) {
        Ok(m) => m,
        Err(HandoffError::Closed) => {
            // `perouter upgrade` connects to learn which process serves the node (its pid,
            // through SO_PEERCRED) and closes without a word.
            debug!("handoff socket probed (connection closed without a request)");
            return None;
        }
        Err(e) => {
            warn!(error = %e, "handoff request without a Hello: ignored");
            return None;
        }
    };
    let refuse = |s: &mut UnixStream, reason: String| {
        warn!(%reason, "handoff refused: stopping the ordinary way so that the new process starts (sessions restart with graceful restart)");
        let _ = write_msg(
            s,
            &Msg::Refused {
                reason: reason.clone(),
            },
        );
        p.live.handoff("refused", 0);
        let held = s.try_clone().ok()?;
        Some(Outcome::StopForSuccessor(reason, held))
    };
    match hello {
        Msg::Hello { router_netns, .. } if router_netns != p.router_netns => {
            // Another node's perouter (labs run several on one machine): not ours to stop.
            warn!(theirs = %router_netns, ours = %p.router_netns, "handoff asked for another router namespace: ignored");
            let _ = write_msg(
                &mut s,
                &Msg::Abandoned {
                    reason: format!("this socket serves router namespace {}", p.router_netns),
                },
            );
            return None;
        }
        Msg::Hello {
            version,
            state_version,
            ..
        } if version == PROTOCOL_VERSION && state_version == HANDOFF_VERSION => {}
        Msg::Hello {
            version,
            state_version,
            ..
        } => {
            return refuse(
                &mut s,
                format!("the new process speaks handoff version {version} (state {state_version}), this one {PROTOCOL_VERSION} (state {HANDOFF_VERSION})"),
            )
        }
        other => return refuse(&mut s, format!("expected Hello, got {other:?}")),
    }
    if let Some(reason) = (p.refuse)() {
        return refuse(&mut s, reason);
    }
    info!("handoff requested by a new perouter process: freezing the sessions");
    let frozen = rt.block_on(async {
        let (tx, rx) = oneshot::channel();
        p.speaker.send(SpeakerCommand::Freeze(tx)).await.ok()?;
        rx.await.ok()
    });
    let Some(frozen) = frozen else {
        return refuse(&mut s, "the speaker did not answer".into());
    };
    let thaw = |s: &mut UnixStream, reason: String| {
        warn!(%reason, "handoff abandoned: the sessions continue here");
        let _ = write_msg(
            s,
            &Msg::Abandoned {
                reason: reason.clone(),
            },
        );
        let _ = rt.block_on(p.speaker.send(SpeakerCommand::Thaw));
        p.live.handoff("abandoned", 0);
        None
    };
    let export = rt.block_on(async {
        let (tx, rx) = oneshot::channel();
        p.routing
            .send(RoutingCommand::ExportAdjRibIn(tx))
            .await
            .ok()?;
        rx.await.ok()
    });
    let Some(mut export) = export else {
        return thaw(&mut s, "the routing task did not answer".into());
    };
    let listeners = rt
        .block_on(async {
            let (tx, rx) = oneshot::channel();
            p.speaker.send(SpeakerCommand::ListenerFds(tx)).await.ok()?;
            rx.await.ok()
        })
        .unwrap_or_default();
    let mut sessions = Vec::with_capacity(frozen.len());
    let mut fds: Vec<RawFd> = Vec::with_capacity(frozen.len() + listeners.len());
    let mut routes = 0;
    for f in &frozen {
        let mut st = f.state.clone();
        if let Some((updates, ctx)) = export.remove(&f.peer) {
            routes += updates.len();
            st.set_adj_rib_in(&updates, &ctx);
        }
        sessions.push(st);
        fds.push(f.fd.as_raw_fd());
    }
    fds.extend(listeners.iter().map(|l| l.as_raw_fd()));
    let n = sessions.len();
    let state = Msg::State {
        sessions,
        listeners: listeners.len(),
        generation: (p.generation)(),
    };
    if let Err(e) = write_msg(&mut s, &state).and_then(|()| send_fds(&s, &fds)) {
        return thaw(&mut s, format!("sending the state: {e}"));
    }
    info!(
        sessions = n,
        update_messages = routes,
        "session state sent: waiting for the new process to take over"
    );
    let _ = s.set_read_timeout(Some(TAKEN_TIMEOUT));
    match read_msg(&mut s) {
        Ok(Msg::Taken) => {}
        Ok(Msg::Abort { reason }) => {
            return thaw(&mut s, format!("the new process aborted: {reason}"))
        }
        Ok(other) => return thaw(&mut s, format!("unexpected answer {other:?}")),
        Err(e) => return thaw(&mut s, format!("no Taken from the new process: {e}")),
    }
    rt.block_on(async {
        let (tx, rx) = oneshot::channel();
        if p.speaker.send(SpeakerCommand::Release(tx)).await.is_ok() {
            let _ = rx.await;
        }
    });
    let _ = write_msg(&mut s, &Msg::Released);
    p.live.handoff("handed_over", n);
    info!(
        sessions = n,
        took_ms = t0.elapsed().as_millis() as u64,
        "sessions handed over to the new process: exiting, leaving the namespace, the kernel state and the sessions to it"
    );
    Some(Outcome::HandedOver)
}

// -------------------------------------------------------------------------------- successor

/// What the successor got from asking.
#[derive(Debug)]
pub enum Takeover {
    /// No predecessor answers on the socket: an ordinary start.
    NoPredecessor,
    /// The predecessor is gone (refused and stopped, or died mid-handoff): an ordinary start
    /// (a restart with graceful restart), for this reason.
    Fallback(String),
    /// The sessions, to resume.
    Received(Received),
}

/// Sessions received from the predecessor, to resume and then confirm with [`complete`].
#[derive(Debug)]
pub struct Received {
    sock: UnixStream,
    peer_pid: Option<i32>,
    /// The sessions with their sockets.
    pub transfers: Vec<SessionTransfer>,
    /// The listening sockets.
    pub listeners: Vec<OwnedFd>,
    /// The predecessor's configuration generation.
    pub generation: u64,
    /// When the request started.
    pub started: Instant,
}

/// Whether process `pid` is alive (not gone, not a zombie).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(s) => s
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .is_some_and(|st| st != 'Z' && st != 'X'),
        Err(_) => false,
    }
}

/// Waits until `pid` is gone, up to `max`; whether it is.
fn wait_gone(pid: Option<i32>, max: Duration) -> bool {
    let Some(pid) = pid else { return true };
    let t = Instant::now();
    while alive(pid) {
        if t.elapsed() > max {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

/// Asks the predecessor listening at `path` for its sessions (blocking). Returns only once it
/// is safe to speak: with the sessions, or with the predecessor gone. A predecessor that is
/// alive but does not answer is waited for (it is never spoken beside).
pub fn request(path: &Path, router_netns: &str) -> Result<Takeover, HandoffError> {
    let started = Instant::now();
    let mut peer_pid = None;
    let r = ask(path, router_netns, started, &mut peer_pid);
    // Under systemd the successor announced itself as the main process before asking (see
    // `ask`); when the predecessor goes on (abandoned, refused to another namespace, failed
    // while alive) the title goes back to it.
    if let (Err(_), Some(pid)) = (&r, peer_pid) {
        if alive(pid) {
            give_back_main_pid(pid);
        }
    }
    r
}

/// Tells systemd (when it supervises us) that the predecessor `pid` is the main process again.
fn give_back_main_pid(pid: i32) {
    if let Ok(pid) = u32::try_from(pid) {
        super::sd_notify::main_pid(pid);
    }
}

/// [`request`]'s steps; `peer_pid` is set as soon as the predecessor is known.
fn ask(
    path: &Path,
    router_netns: &str,
    started: Instant,
    peer_pid_out: &mut Option<i32>,
) -> Result<Takeover, HandoffError> {
    let mut s = match UnixStream::connect(path) {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(Takeover::NoPredecessor)
        }
        Err(e) => return Err(e.into()),
    };
    let peer_pid = nix::sys::socket::getsockopt(&s, nix::sys::socket::sockopt::PeerCredentials)
        .ok()
        .map(|c| c.pid());
    *peer_pid_out = peer_pid;
    info!(pid = ?peer_pid, socket = %path.display(), "a perouter process runs: asking it for its sessions");
    // systemd (Type=notify, NotifyAccess=all) must track this process before the predecessor
    // exits, whether it hands over or stops for us: an exiting main process would otherwise
    // end the unit. Undone by `request` and `complete` when the predecessor goes on.
    super::sd_notify::main_pid(std::process::id());
    write_msg(
        &mut s,
        &Msg::Hello {
            version: PROTOCOL_VERSION,
            state_version: HANDOFF_VERSION,
            router_netns: router_netns.to_string(),
        },
    )?;
    let answer = loop {
        let _ = s.set_read_timeout(Some(ANSWER_WAIT));
        match read_msg(&mut s) {
            Err(HandoffError::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                if peer_pid.is_some_and(alive) {
                    warn!(pid = ?peer_pid, "the running perouter does not answer: waiting for it (never both speak)");
                    continue;
                }
                break Err(HandoffError::Closed);
            }
            r => break r,
        }
    };
    match answer {
        Ok(Msg::State {
            sessions,
            listeners,
            generation,
        }) => {
            let mut fds = recv_fds(&s, sessions.len() + listeners)?;
            let listeners = fds.split_off(sessions.len());
            let transfers = sessions
                .into_iter()
                .zip(fds)
                .map(|(state, fd)| SessionTransfer { state, fd })
                .collect();
            Ok(Takeover::Received(Received {
                sock: s,
                peer_pid,
                transfers,
                listeners,
                generation,
                started,
            }))
        }
        Ok(Msg::Refused { reason }) => {
            // It stops the ordinary way and closes the connection once done (exiting, or in
            // Kubernetes mode becoming `perouter park`).
            info!(%reason, "the running perouter refused the handoff: waiting for it to stop");
            let mut rest = Vec::new();
            let _ = s.set_read_timeout(Some(STOP_WAIT));
            if s.read_to_end(&mut rest).is_err() {
                return Err(HandoffError::Unexpected(
                    "the running perouter refused the handoff and did not stop".into(),
                ));
            }
            Ok(Takeover::Fallback(format!("handoff refused: {reason}")))
        }
        Ok(Msg::Abandoned { reason }) => Err(HandoffError::Unexpected(format!(
            "the perouter on {} does not hand over to this one: {reason}",
            path.display()
        ))),
        Ok(other) => Err(HandoffError::Unexpected(format!("{other:?}"))),
        Err(e) => {
            // Closed or failed before State: the predecessor died (or is dying).
            if !wait_gone(peer_pid, STOP_WAIT) {
                return Err(HandoffError::Unexpected(format!(
                    "the handoff failed ({e}) and the running perouter is still alive"
                )));
            }
            Ok(Takeover::Fallback(format!(
                "the running perouter went away during the handoff ({e})"
            )))
        }
    }
}

/// Confirms the takeover: Taken, then waits (briefly) for Released and for the predecessor to
/// exit, so that the sockets it leaves (API) are free.
pub fn complete(mut r: Received, report: ResumeReport) -> Result<Completed, HandoffError> {
    if let Err(e) = write_msg(&mut r.sock, &Msg::Taken) {
        if let Some(pid) = r.peer_pid.filter(|p| alive(*p)) {
            give_back_main_pid(pid);
        }
        return Err(e);
    }
    let _ = r.sock.set_read_timeout(Some(Duration::from_secs(5)));
    match read_msg(&mut r.sock) {
        Ok(Msg::Released) => {}
        Ok(Msg::Abandoned { reason }) => {
            // Too late for the predecessor (it timed out): it continues, so this one must not.
            if let Some(pid) = r.peer_pid {
                give_back_main_pid(pid);
            }
            return Err(HandoffError::Unexpected(format!(
                "the running perouter abandoned the handoff: {reason}"
            )));
        }
        Ok(other) => warn!(?other, "unexpected answer to Taken"),
        Err(e) => {
            warn!(error = %e, "no Released from the previous process (it died?): the sessions are ours")
        }
    }
    // The predecessor exits (or, in Kubernetes, execs `perouter park`): either closes the
    // socket, and frees what it held (API socket path, metrics port).
    let mut rest = Vec::new();
    if r.sock.read_to_end(&mut rest).is_err() {
        warn!(pid = ?r.peer_pid, "the previous process has not let go yet");
    }
    info!(
        resumed = report.resumed,
        failed = report.failed,
        unmatched = report.unmatched,
        generation = r.generation,
        took_ms = r.started.elapsed().as_millis() as u64,
        "sessions taken over from the previous process"
    );
    Ok(Completed {
        predecessor: r.peer_pid,
        took: r.started.elapsed(),
    })
}

/// A completed takeover, as [`complete`] reports it.
#[derive(Debug, Clone, Copy)]
pub struct Completed {
    /// The predecessor's pid (SO_PEERCRED), when the kernel told it.
    pub predecessor: Option<i32>,
    /// From the request to the predecessor's exit.
    pub took: Duration,
}

/// Sends Abort (the predecessor thaws); used when this process cannot go on.
pub fn abort(mut r: Received, reason: &str) {
    if let Some(pid) = r.peer_pid {
        give_back_main_pid(pid);
    }
    let _ = write_msg(
        &mut r.sock,
        &Msg::Abort {
            reason: reason.to_string(),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip_through_the_framing() {
        let msgs = vec![
            Msg::Hello {
                version: 1,
                state_version: 1,
                router_netns: "pe".into(),
            },
            Msg::Refused {
                reason: "BFD".into(),
            },
            Msg::State {
                sessions: Vec::new(),
                listeners: 1,
                generation: 7,
            },
            Msg::Taken,
            Msg::Released,
        ];
        let mut buf = Vec::new();
        for m in &msgs {
            write_msg(&mut buf, m).unwrap();
        }
        let mut r = &buf[..];
        for m in &msgs {
            assert_eq!(&read_msg(&mut r).unwrap(), m);
        }
        assert!(matches!(read_msg(&mut r), Err(HandoffError::Closed)));
    }

    #[test]
    fn bad_frames_are_errors_not_panics() {
        let mut huge = &[0xffu8, 0xff, 0xff, 0xff][..];
        assert!(matches!(
            read_msg(&mut huge),
            Err(HandoffError::TooLarge(_))
        ));
        let mut junk = &[0, 0, 0, 3, b'{', b'x', b'}'][..];
        assert!(matches!(read_msg(&mut junk), Err(HandoffError::Decode(_))));
        let mut short = &[0, 0, 0, 9, b'{'][..];
        assert!(matches!(read_msg(&mut short), Err(HandoffError::Closed)));
    }

    #[test]
    fn descriptors_pass_in_batches_and_stay_usable() {
        // 450 descriptors: three SCM_RIGHTS messages after a frame.
        let (a, b) = UnixStream::pair().unwrap();
        let (mut a, b) = (a, b);
        let files: Vec<std::fs::File> = (0..450)
            .map(|_| std::fs::File::open("/proc/self/stat").unwrap())
            .collect();
        let raw: Vec<RawFd> = files.iter().map(|f| f.as_raw_fd()).collect();
        let sender = std::thread::spawn(move || {
            write_msg(&mut a, &Msg::Taken).unwrap();
            send_fds(&a, &raw).unwrap();
            write_msg(&mut a, &Msg::Released).unwrap();
            drop(files);
        });
        let mut b = b;
        assert_eq!(read_msg(&mut b).unwrap(), Msg::Taken);
        let got = recv_fds(&b, 450).unwrap();
        assert_eq!(got.len(), 450);
        assert_eq!(read_msg(&mut b).unwrap(), Msg::Released);
        sender.join().unwrap();
        // Each received descriptor is an open file of its own.
        let mut f = std::fs::File::from(got.into_iter().next().unwrap());
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert!(!s.is_empty());
    }

    #[test]
    fn a_missing_socket_means_no_predecessor() {
        let p = std::env::temp_dir().join(format!("perouter-handoff-none-{}", std::process::id()));
        assert!(matches!(request(&p, "pe"), Ok(Takeover::NoPredecessor)));
    }

    fn predecessor(
        refuse: Option<&'static str>,
    ) -> (
        Predecessor,
        mpsc::Receiver<SpeakerCommand>,
        mpsc::Receiver<RoutingCommand>,
    ) {
        let (speaker, srx) = mpsc::channel(4);
        let (routing, rrx) = mpsc::channel(4);
        let p = Predecessor {
            speaker,
            routing,
            refuse: std::sync::Arc::new(move || refuse.map(str::to_string)),
            generation: std::sync::Arc::new(|| 3),
            live: LiveMetrics::default(),
            router_netns: "pe".into(),
        };
        (p, srx, rrx)
    }

    fn ask(p: &Predecessor, hello: Msg) -> (Option<Outcome>, Result<Msg, HandoffError>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (mut a, b) = UnixStream::pair().unwrap();
        write_msg(&mut a, &hello).unwrap();
        let out = give(b, p, rt.handle());
        (out, read_msg(&mut a))
    }

    #[test]
    fn another_router_namespace_is_not_handed_anything_nor_stops_us() {
        let (p, mut srx, _rrx) = predecessor(None);
        let (out, answer) = ask(
            &p,
            Msg::Hello {
                version: PROTOCOL_VERSION,
                state_version: HANDOFF_VERSION,
                router_netns: "other".into(),
            },
        );
        assert!(out.is_none(), "we go on");
        assert!(matches!(answer, Ok(Msg::Abandoned { .. })), "{answer:?}");
        assert!(srx.try_recv().is_err(), "no session was frozen");
    }

    #[test]
    fn a_feature_we_cannot_carry_or_another_version_refuses_and_stops_us() {
        let (p, mut srx, _rrx) = predecessor(Some("1 BFD session(s) configured"));
        let hello = Msg::Hello {
            version: PROTOCOL_VERSION,
            state_version: HANDOFF_VERSION,
            router_netns: "pe".into(),
        };
        let (out, answer) = ask(&p, hello);
        assert!(matches!(out, Some(Outcome::StopForSuccessor(ref r, _)) if r.contains("BFD")));
        assert!(matches!(answer, Ok(Msg::Refused { ref reason }) if reason.contains("BFD")));
        assert!(srx.try_recv().is_err(), "no session was frozen");
        let (p, _srx, _rrx) = predecessor(None);
        let (out, answer) = ask(
            &p,
            Msg::Hello {
                version: PROTOCOL_VERSION + 1,
                state_version: HANDOFF_VERSION,
                router_netns: "pe".into(),
            },
        );
        assert!(matches!(out, Some(Outcome::StopForSuccessor(..))));
        assert!(matches!(answer, Ok(Msg::Refused { ref reason }) if reason.contains("version")));
    }

    #[test]
    fn this_process_is_alive_and_a_bogus_pid_is_not() {
        assert!(alive(std::process::id() as i32));
        assert!(!alive(i32::MAX));
    }
}
