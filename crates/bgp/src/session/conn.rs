//! The I/O halves of one TCP connection: a reader task that cuts the byte
//! stream into BGP frames (header checks only, RFC 4271 §4.1) and hands them
//! to the session in batches, and a writer task that writes batches of
//! encoded messages. Decoding stays with the session, which owns the
//! negotiated [`crate::wire::WireContext`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::debug;

use crate::fsm::collision::Initiator;
use crate::wire::{frame_length, WireError, MAX_MESSAGE_LEN};

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
    /// Encoded messages to the writer task.
    pub writer: mpsc::Sender<Bytes>,
    /// The largest message the reader accepts: 4096 until the OPEN exchange
    /// negotiates extended messages (RFC 8654), so that an oversized length
    /// is refused from the header alone instead of buffering 64 KiB.
    max_len: Arc<AtomicUsize>,
    reader_task: tokio::task::JoinHandle<()>,
    writer_task: Option<tokio::task::JoinHandle<()>>,
}

impl Conn {
    /// Splits `stream` into a reader and a writer task. Frames (up to
    /// 4096 bytes each until [`Conn::set_max_len`] raises the limit) are
    /// sent to `events`.
    pub fn start(
        id: ConnId,
        initiator: Initiator,
        stream: TcpStream,
        events: mpsc::Sender<ConnEvent>,
    ) -> std::io::Result<Conn> {
        stream.set_nodelay(true)?;
        let remote = super::socket::unmap(stream.peer_addr()?);
        let local = super::socket::unmap(stream.local_addr()?);
        let (rd, wr) = stream.into_split();
        let (wtx, wrx) = mpsc::channel(64);
        let max_len = Arc::new(AtomicUsize::new(MAX_MESSAGE_LEN));
        let reader_task = tokio::spawn(read_loop(id, rd, events, max_len.clone()));
        let writer_task = Some(tokio::spawn(write_loop(wr, wrx)));
        Ok(Conn {
            id,
            initiator,
            remote,
            local,
            writer: wtx,
            max_len,
            reader_task,
            writer_task,
        })
    }

    /// Sets the largest message length the reader accepts (RFC 4271 §4.1:
    /// 4096; RFC 8654: 65535 once extended messages are negotiated). Called
    /// by the session when it handles the peer's OPEN, before our KEEPALIVE
    /// goes out, so the peer cannot send a larger message before it applies.
    pub fn set_max_len(&self, len: usize) {
        self.max_len.store(len, Ordering::Relaxed);
    }

    /// Closes the connection, returning the writer task, which ends once
    /// what was queued (a NOTIFICATION, typically) is written.
    pub fn close(mut self) -> Option<tokio::task::JoinHandle<()>> {
        self.writer_task.take()
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        // The writer ends when its channel closes (after flushing what was
        // queued); the reader is stopped here.
        self.reader_task.abort();
    }
}

async fn read_loop(
    id: ConnId,
    mut rd: OwnedReadHalf,
    events: mpsc::Sender<ConnEvent>,
    max_len: Arc<AtomicUsize>,
) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        if buf.capacity() - buf.len() < HEADER_RESERVE {
            buf.reserve(READ_CHUNK);
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) => {
                let _ = events.send(ConnEvent::Closed(id, None)).await;
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = events.send(ConnEvent::Closed(id, Some(e))).await;
                return;
            }
        }
        let mut frames = Vec::new();
        loop {
            match frame_length(&buf, max_len.load(Ordering::Relaxed)) {
                Ok(Some(n)) if n <= buf.len() => frames.push(buf.split_to(n).freeze()),
                Ok(_) => break,
                Err(e) => {
                    if !frames.is_empty() {
                        let _ = events.send(ConnEvent::Frames(id, frames)).await;
                    }
                    let _ = events.send(ConnEvent::BadFrame(id, e)).await;
                    return;
                }
            }
        }
        if !frames.is_empty() && events.send(ConnEvent::Frames(id, frames)).await.is_err() {
            return;
        }
    }
}

/// Spare room kept in the read buffer before reading again.
const HEADER_RESERVE: usize = 4096;

async fn write_loop(mut wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Bytes>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        for b in batch.drain(..) {
            if let Err(e) = wr.write_all(&b).await {
                debug!(error = %e, "write failed");
                return;
            }
        }
    }
    let _ = wr.shutdown().await;
}
