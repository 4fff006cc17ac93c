//! The thin tokio driver: a [`Connection`] over a Unix socket. It only moves bytes; what is
//! sent and how replies are read is the sans-IO [`Connection`]'s.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::connection::{Connection, Event};
use crate::rpc::ProtocolError;
use crate::transact::TransactError;
use crate::vswitch::{self, Plan, Scope, Snapshot, Wanted};

/// Why a request did not get its answer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Connecting, reading or writing failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// No answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The server closed the connection.
    #[error("the server closed the connection")]
    Closed,
    /// The server sent something that is not OVSDB JSON-RPC.
    #[error("protocol error: {0}")]
    Protocol(#[from] ProtocolError),
    /// The transaction was refused or did not commit.
    #[error("{0}")]
    Transact(#[from] TransactError),
    /// The database's content could not be read.
    #[error("unexpected database content: {0}")]
    Content(String),
}

impl Error {
    /// Whether the connection is unusable after this error (reconnect before the next
    /// request); a refused transaction leaves it usable.
    pub fn is_fatal(&self) -> bool {
        !matches!(self, Error::Transact(_) | Error::Content(_))
    }
}

/// An OVSDB client connection over a Unix socket.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
    conn: Connection,
    timeout: Duration,
}

impl Client {
    /// Connects to the server socket at `path` (`/var/run/openvswitch/db.sock`); every request
    /// then waits at most `timeout` for its answer.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<Client, Error> {
        let stream = tokio::time::timeout(timeout, UnixStream::connect(path))
            .await
            .map_err(|_| Error::Timeout(timeout))??;
        Ok(Client {
            stream,
            conn: Connection::default(),
            timeout,
        })
    }

    /// Runs one transaction on `db`: the operations' results.
    pub async fn transact(&mut self, db: &str, ops: &[Value]) -> Result<Vec<Value>, Error> {
        let id = self.conn.transact(db, ops);
        let timeout = self.timeout;
        tokio::time::timeout(timeout, self.until_reply(id))
            .await
            .map_err(|_| Error::Timeout(timeout))?
    }

    async fn flush(&mut self) -> Result<(), Error> {
        while let Some(bytes) = self.conn.poll_transmit() {
            self.stream.write_all(&bytes).await?;
        }
        Ok(())
    }

    async fn until_reply(&mut self, id: u64) -> Result<Vec<Value>, Error> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            self.flush().await?;
            while let Some(Event::Transacted { id: got, outcome }) = self.conn.poll_event() {
                if got == id {
                    return Ok(outcome?);
                }
            }
            let n = self.stream.read(&mut buf).await?;
            if n == 0 {
                return Err(Error::Closed);
            }
            self.conn.handle_input(&buf[..n])?;
        }
    }

    /// Reads what [`vswitch::plan`] needs from the `Open_vSwitch` database.
    pub async fn snapshot(&mut self) -> Result<Snapshot, Error> {
        let results = self
            .transact(vswitch::DATABASE, &vswitch::read_ops())
            .await?;
        Snapshot::from_results(&results).map_err(Error::Content)
    }

    /// Reads the database and plans what brings it to `wanted` (run the plan's transactions
    /// with [`Client::transact`] on [`vswitch::DATABASE`]).
    pub async fn plan(&mut self, wanted: &Wanted, scope: &Scope) -> Result<Plan, Error> {
        Ok(vswitch::plan(&self.snapshot().await?, wanted, scope))
    }
}
