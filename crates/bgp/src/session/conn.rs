//! The I/O halves of one TCP connection: a reader task that cuts the byte
//! stream into BGP frames (header checks only, RFC 4271 §4.1) and hands them
//! to the session in batches, and a writer task that drains the connection's
//! [`SendQueue`]. Decoding stays with the session, which owns the negotiated
//! [`crate::wire::WireContext`].
//!
//! The session never waits for the writer: it appends encoded messages to the
//! send queue (a lock held for a push, never across I/O) and reads the queue's
//! depth and write progress back. Two lanes keep the session's control traffic
//! independent of the data path: OPEN, KEEPALIVE and NOTIFICATION go to the
//! control lane, which the writer serves before the next chunk of UPDATEs, so
//! a KEEPALIVE is never queued behind megabytes of routes (it can still wait
//! behind the chunk being written: chunks are kept small). The session stops
//! taking routes for the peer while the queue holds more than a high-water
//! mark, so what a peer that stops reading costs is bounded; RFC 9687's
//! SendHoldTimer (in the FSM) closes it when the queue makes no progress.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};
use tracing::debug;

use super::frames::FrameBuffer;
use crate::fsm::collision::Initiator;
use crate::wire::{WireError, MAX_MESSAGE_LEN};

/// Identifies a connection within its session (a session has at most two
/// during a collision).
pub type ConnId = u64;

/// What a reader task reports.
#[derive(Debug)]
pub enum ConnEvent {
    /// Complete frames (header included), in order.
    Frames(ConnId, Vec<Bytes>),
    /// The header of the next frame is invalid (bad marker, length or type):
    /// the session answers with the error's NOTIFICATION.
    BadFrame(ConnId, WireError),
    /// The peer closed the connection or it failed.
    Closed(ConnId, Option<std::io::Error>),
}

/// How many bytes a reader asks the kernel for at once.
const READ_CHUNK: usize = 256 * 1024;

/// How long a closed connection's writer may take to deliver what is left in
/// its control lane (the last NOTIFICATION) before it is aborted: a peer that
/// does not read must not keep a socket and a task alive.
pub const CLOSE_GRACE: Duration = Duration::from_secs(3);

/// The two lanes of encoded messages waiting for the writer task, with the
/// counters the session reads without waiting.
#[derive(Debug, Default)]
pub struct SendQueue {
    lanes: Mutex<Lanes>,
    /// Wakes the writer when something was queued or the queue was closed.
    wake_writer: Notify,
    /// Wakes the session each time the writer finished a chunk.
    progress: Notify,
    /// Bytes ever queued (both lanes).
    queued: AtomicU64,
    /// Bytes ever written to the socket (partial writes count).
    written: AtomicU64,
}

#[derive(Debug, Default)]
struct Lanes {
    control: VecDeque<Bytes>,
    data: VecDeque<Bytes>,
    closed: bool,
    /// Session handoff: the writer writes what is queued, then returns its
    /// half of the socket instead of waiting for more (never shutting it).
    frozen: bool,
}

impl SendQueue {
    fn push(&self, b: Bytes, control: bool) {
        if b.is_empty() {
            return;
        }
        let mut l = self.lanes.lock().expect("send queue lock");
        if l.closed {
            return;
        }
        self.queued.fetch_add(b.len() as u64, Ordering::Relaxed);
        if control {
            l.control.push_back(b);
        } else {
            l.data.push_back(b);
        }
        drop(l);
        self.wake_writer.notify_one();
    }

    /// Bytes queued and not yet written to the socket.
    pub fn backlog(&self) -> u64 {
        let written = self.written.load(Ordering::Relaxed);
        self.queued.load(Ordering::Relaxed).saturating_sub(written)
    }

    /// Bytes written so far: a change means the peer is reading.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    /// Resolves after the writer finished writing a chunk (or at once if it
    /// did since the last call).
    pub async fn progressed(&self) {
        self.progress.notified().await
    }

    /// Stops accepting messages and drops the queued UPDATEs; what is in the
    /// control lane (a NOTIFICATION) is still written, then the socket is shut.
    fn close(&self) {
        let mut l = self.lanes.lock().expect("send queue lock");
        l.closed = true;
        let dropped: usize = l.data.drain(..).map(|b| b.len()).sum();
        drop(l);
        // Dropped bytes will never be written: count them as gone.
        self.written.fetch_add(dropped as u64, Ordering::Relaxed);
        self.wake_writer.notify_one();
    }

    /// Asks the writer to hand its half back once everything queued is
    /// written (session handoff).
    fn freeze(&self) {
        self.lanes.lock().expect("send queue lock").frozen = true;
        self.wake_writer.notify_one();
    }

    /// The next chunk for the writer, control lane first; `None` once closed
    /// and the control lane is empty.
    fn next(&self) -> Next {
        let mut l = self.lanes.lock().expect("send queue lock");
        if let Some(b) = l.control.pop_front() {
            return Next::Chunk(b);
        }
        if l.closed {
            return Next::Done;
        }
        match l.data.pop_front() {
            Some(b) => Next::Chunk(b),
            None if l.frozen => Next::Frozen,
            None => Next::Empty,
        }
    }
}

enum Next {
    Chunk(Bytes),
    Empty,
    Done,
    Frozen,
}

/// A connection whose reader and writer stopped for a handoff: the socket
/// (never shut down), what was read from it and not yet a whole message,
/// and who the session was with. [`Conn::resume`] starts it again.
#[derive(Debug)]
pub struct FrozenConn {
    /// The connection's id in its session.
    pub id: ConnId,
    /// Who opened it.
    pub initiator: Initiator,
    /// The socket, with nothing queued in user space.
    pub stream: TcpStream,
    /// Bytes read and not yet framed.
    pub unread: Bytes,
    /// The reader's message-length limit.
    pub max_len: usize,
}

/// Why a connection could not be frozen: it is not usable any more (the
/// session goes on as if the freeze never was asked, and ends as it would).
#[derive(Debug, thiserror::Error)]
pub enum FreezeError {
    /// The reader already ended (the connection closed or failed).
    #[error("the connection's reader had already ended")]
    ReaderGone,
    /// The writer did not write its queue within [`CLOSE_GRACE`] or failed.
    #[error("the queued messages could not be written")]
    WriterStuck,
}

/// The session's side of a live connection.
#[derive(Debug)]
pub struct Conn {
    /// Its id.
    pub id: ConnId,
    /// Who opened it.
    pub initiator: Initiator,
    /// Peer address (v4-mapped addresses unmapped).
    pub remote: SocketAddr,
    /// Our address.
    pub local: SocketAddr,
    /// Encoded messages waiting for the writer task.
    pub queue: Arc<SendQueue>,
    /// The largest message the reader accepts: 4096 until the OPEN exchange
    /// negotiates extended messages (RFC 8654), so that an oversized length
    /// is refused from the header alone instead of buffering 64 KiB.
    max_len: Arc<AtomicUsize>,
    /// A duplicate of the socket, for asking the kernel what it still holds.
    fd: Option<OwnedFd>,
    /// Stops the reader between two reads (session handoff).
    stop_reading: Arc<Notify>,
    reader_task: Option<tokio::task::JoinHandle<Option<Stopped>>>,
    writer_task: Option<tokio::task::JoinHandle<Option<OwnedWriteHalf>>>,
}

/// What a reader stopped by [`Conn::stop_reading`] hands back.
#[derive(Debug)]
pub struct Stopped {
    rd: OwnedReadHalf,
    unread: Bytes,
}

impl Conn {
    /// Bytes the kernel holds for the peer and the peer has not acknowledged
    /// (`TIOCOUTQ`): with a closed receive window they stay there, so they
    /// count as pending for the SendHoldTimer like the queue in user space.
    pub fn kernel_unacked(&self) -> u64 {
        let Some(fd) = &self.fd else { return 0 };
        let mut v: libc::c_int = 0;
        // SAFETY: TIOCOUTQ writes one c_int through the pointer, which is valid.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCOUTQ, &mut v) };
        if r == 0 {
            u64::try_from(v).unwrap_or(0)
        } else {
            0
        }
    }

    /// Splits `stream` into a reader and a writer task. Frames (up to
    /// 4096 bytes each until [`Conn::set_max_len`] raises the limit) are
    /// sent to `events`.
    pub fn start(
        id: ConnId,
        initiator: Initiator,
        stream: TcpStream,
        events: mpsc::Sender<ConnEvent>,
    ) -> std::io::Result<Conn> {
        Self::resume(id, initiator, stream, events, &[], MAX_MESSAGE_LEN)
    }

    /// Like [`Conn::start`] for a connection that was already read from:
    /// `unread` (bytes read and not yet framed) comes first, and frames up to
    /// `max_len` bytes are accepted (the negotiated limit). Used to thaw a
    /// frozen connection and to resume one handed over by another process.
    pub fn resume(
        id: ConnId,
        initiator: Initiator,
        stream: TcpStream,
        events: mpsc::Sender<ConnEvent>,
        unread: &[u8],
        max_len: usize,
    ) -> std::io::Result<Conn> {
        stream.set_nodelay(true)?;
        let remote = super::socket::unmap(stream.peer_addr()?);
        let local = super::socket::unmap(stream.local_addr()?);
        let fd = stream.as_fd().try_clone_to_owned().ok();
        let (rd, wr) = stream.into_split();
        let queue = Arc::new(SendQueue::default());
        let max_len = Arc::new(AtomicUsize::new(max_len));
        let stop_reading = Arc::new(Notify::new());
        let buf = FrameBuffer::with_unread(unread);
        let reader_task = Some(tokio::spawn(read_loop(
            id,
            rd,
            buf,
            events,
            max_len.clone(),
            stop_reading.clone(),
        )));
        let writer_task = Some(tokio::spawn(write_loop(wr, queue.clone())));
        Ok(Conn {
            id,
            initiator,
            remote,
            local,
            queue,
            max_len,
            fd,
            stop_reading,
            reader_task,
            writer_task,
        })
    }

    /// Session handoff, first step: the reader stops before its next read
    /// (a read in progress is cancel-safe: nothing read is lost, the bytes
    /// that do not make a whole frame yet are handed back). Returns the task
    /// to await; frames it cut before stopping still arrive as
    /// [`ConnEvent::Frames`], and the caller must keep taking them while it
    /// waits (the reader may be waiting for room to send them).
    pub fn stop_reading(&mut self) -> Option<tokio::task::JoinHandle<Option<Stopped>>> {
        // notify_one keeps a permit: a reader that is not waiting yet stops
        // at its next turn.
        self.stop_reading.notify_one();
        self.reader_task.take()
    }

    /// Session handoff, second step, once the reader stopped: everything
    /// queued is written, then the socket is taken back whole, without
    /// shutting it down (the next process continues on it).
    pub async fn freeze(mut self, stopped: Stopped) -> Result<FrozenConn, FreezeError> {
        self.queue.freeze();
        let mut writer = self.writer_task.take().ok_or(FreezeError::WriterStuck)?;
        let wr = match tokio::time::timeout(CLOSE_GRACE, &mut writer).await {
            Ok(Ok(Some(wr))) => wr,
            Ok(_) => return Err(FreezeError::WriterStuck),
            Err(_) => {
                writer.abort();
                return Err(FreezeError::WriterStuck);
            }
        };
        let stream = stopped
            .rd
            .reunite(wr)
            .map_err(|_| FreezeError::WriterStuck)?;
        Ok(FrozenConn {
            id: self.id,
            initiator: self.initiator,
            stream,
            unread: stopped.unread,
            max_len: self.max_len.load(Ordering::Relaxed),
        })
    }

    /// Queues OPEN, KEEPALIVE or NOTIFICATION bytes: written before any
    /// queued UPDATE chunk.
    pub fn send_control(&self, b: Bytes) {
        self.queue.push(b, true);
    }

    /// Queues a chunk of UPDATEs (or ROUTE-REFRESH markers, which must stay
    /// in order with the UPDATEs, RFC 7313).
    pub fn send_data(&self, b: Bytes) {
        self.queue.push(b, false);
    }

    /// Sets the largest message length the reader accepts (RFC 4271 §4.1:
    /// 4096; RFC 8654: 65535 once extended messages are negotiated). Called
    /// by the session when it handles the peer's OPEN, before our KEEPALIVE
    /// goes out, so the peer cannot send a larger message before it applies.
    pub fn set_max_len(&self, len: usize) {
        self.max_len.store(len, Ordering::Relaxed);
    }

    /// Closes the connection: queued UPDATEs are dropped, the control lane
    /// (a last NOTIFICATION) is written within [`CLOSE_GRACE`], then the
    /// socket is shut. Returns the task that ends when that is done.
    pub fn close(mut self) -> Option<tokio::task::JoinHandle<()>> {
        self.queue.close();
        let mut writer = self.writer_task.take()?;
        Some(tokio::spawn(async move {
            if tokio::time::timeout(CLOSE_GRACE, &mut writer)
                .await
                .is_err()
            {
                debug!("peer does not read: closing without the last NOTIFICATION");
                writer.abort();
            }
        }))
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // The reader is stopped here; a writer not handed over by `close`
        // ends once its queue is empty, or is aborted after the grace time.
        self.queue.close();
        if let Some(r) = &self.reader_task {
            r.abort();
        }
        if let (Some(mut w), Ok(rt)) = (
            self.writer_task.take(),
            tokio::runtime::Handle::try_current(),
        ) {
            rt.spawn(async move {
                if tokio::time::timeout(CLOSE_GRACE, &mut w).await.is_err() {
                    w.abort();
                }
            });
        }
    }
}

async fn read_loop(
    id: ConnId,
    mut rd: OwnedReadHalf,
    mut fb: FrameBuffer,
    events: mpsc::Sender<ConnEvent>,
    max_len: Arc<AtomicUsize>,
    stop: Arc<Notify>,
) -> Option<Stopped> {
    // Bytes carried over (a thawed or resumed connection) may hold frames.
    let mut have_bytes = !fb.unread().is_empty();
    loop {
        if have_bytes {
            let mut frames = Vec::new();
            loop {
                match fb.next_frame(max_len.load(Ordering::Relaxed)) {
                    Ok(Some(f)) => frames.push(f),
                    Ok(None) => break,
                    Err(e) => {
                        if !frames.is_empty() {
                            let _ = events.send(ConnEvent::Frames(id, frames)).await;
                        }
                        let _ = events.send(ConnEvent::BadFrame(id, e)).await;
                        return None;
                    }
                }
            }
            if !frames.is_empty() && events.send(ConnEvent::Frames(id, frames)).await.is_err() {
                return None;
            }
        }
        let buf = fb.buf_mut();
        if buf.capacity() - buf.len() < HEADER_RESERVE {
            buf.reserve(READ_CHUNK);
        }
        // `read_buf` is cancel-safe: when the stop wins, nothing was read.
        let r = tokio::select! {
            biased;
            _ = stop.notified() => None,
            r = rd.read_buf(buf) => Some(r),
        };
        let Some(r) = r else {
            let unread = Bytes::copy_from_slice(fb.unread());
            return Some(Stopped { rd, unread });
        };
        match r {
            Ok(0) => {
                let _ = events.send(ConnEvent::Closed(id, None)).await;
                return None;
            }
            Ok(_) => have_bytes = true,
            Err(e) => {
                let _ = events.send(ConnEvent::Closed(id, Some(e))).await;
                return None;
            }
        }
    }
}

/// Spare room kept in the read buffer before reading again.
const HEADER_RESERVE: usize = 4096;

/// Writes the queue to the socket; returns the write half when frozen
/// (handoff: everything queued is written, the socket is not shut down).
async fn write_loop(mut wr: OwnedWriteHalf, q: Arc<SendQueue>) -> Option<OwnedWriteHalf> {
    loop {
        match q.next() {
            Next::Chunk(mut b) => {
                while b.has_remaining() {
                    match wr.write(&b).await {
                        Ok(0) => return None,
                        Ok(n) => {
                            b.advance(n);
                            q.written.fetch_add(n as u64, Ordering::Relaxed);
                        }
                        Err(e) => {
                            debug!(error = %e, "write failed");
                            return None;
                        }
                    }
                }
                q.progress.notify_one();
            }
            Next::Empty => q.wake_writer.notified().await,
            Next::Done => break,
            Next::Frozen => return Some(wr),
        }
    }
    let _ = wr.shutdown().await;
    None
}
