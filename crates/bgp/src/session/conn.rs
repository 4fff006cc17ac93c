//! The I/O halves of one TCP connection: a reader task that cuts the byte
//! stream into BGP frames (header checks only, RFC 4271 §4.1) and hands them
//! to the session in batches, and a writer task that writes batches of
//! encoded messages. Decoding stays with the session, which owns the
//! negotiated [`crate::wire::WireContext`].

use std::net::SocketAddr;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::debug;

use crate::fsm::collision::Initiator;
use crate::wire::{frame_length, WireError, MAX_EXTENDED_MESSAGE_LEN};

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
    reader_task: tokio::task::JoinHandle<()>,
    writer_task: Option<tokio::task::JoinHandle<()>>,
}

impl Conn {
    /// Splits `stream` into a reader and a writer task. Frames (up to
    /// `max_len` bytes each, the extended-message limit by default) are sent
    /// to `events`.
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
        let reader_task = tokio::spawn(read_loop(id, rd, events));
        let writer_task = Some(tokio::spawn(write_loop(wr, wrx)));
        Ok(Conn {
            id,
            initiator,
            remote,
            local,
            writer: wtx,
            reader_task,
            writer_task,
        })
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

async fn read_loop(id: ConnId, mut rd: OwnedReadHalf, events: mpsc::Sender<ConnEvent>) {
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
            match frame_length(&buf, MAX_EXTENDED_MESSAGE_LEN) {
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
