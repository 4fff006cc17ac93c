//! The daemon's local API: a Unix socket answering one JSON request per line (what `perouter show`
//! uses), and an HTTP listener for Prometheus `/metrics` and the `/healthz` / `/readyz` probes.
//!
//! The API owns no state: every request is answered by a [`Responder`] (the runtime), which asks
//! the owners of the state (speaker, routing task, datapath) for a snapshot.

use std::fmt::Write as _;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tracing::{debug, info, warn};

/// The default path of the API socket.
pub const DEFAULT_SOCKET: &str = "/run/perouter/perouter.sock";

/// A question to the daemon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "query", rename_all = "kebab-case")]
pub enum Request {
    /// Every BGP session, one line each.
    BgpSummary,
    /// One session in detail.
    BgpNeighbor {
        /// The peer's address.
        address: String,
    },
    /// The EVPN table.
    BgpEvpn {
        /// Only this route type.
        route_type: Option<u8>,
        /// Only routes of this VNI.
        vni: Option<u32>,
    },
    /// VRF routes (all VRFs, or one).
    Vrf {
        /// The VRF.
        name: Option<String>,
    },
    /// The VNIs of this node.
    Vni,
    /// The BFD sessions.
    BfdPeers,
    /// The applied configuration, failed resources and datapath state.
    Status,
}

/// The daemon's answer: `{"ok": ...}` or `{"error": "..."}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Response {
    /// The answer.
    Ok(serde_json::Value),
    /// Why there is none.
    Error(String),
}

/// A boxed future, so [`Responder`] stays object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Answers requests; implemented by the runtime.
pub trait Responder: Send + Sync + 'static {
    /// Answers one request.
    fn answer(&self, req: Request) -> BoxFuture<'_, Response>;
    /// The Prometheus text exposition of every metric.
    fn metrics(&self) -> BoxFuture<'_, String>;
    /// Liveness: the process is serving.
    fn healthy(&self) -> bool {
        true
    }
    /// Readiness: configuration applied and the datapath converged at least once.
    fn ready(&self) -> BoxFuture<'_, bool>;
}

/// Serves the Unix socket until the listener fails. Removes a stale socket file first.
pub async fn serve_socket(path: PathBuf, responder: Arc<dyn Responder>) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let listener = UnixListener::bind(&path)?;
    info!(socket = %path.display(), "local API listening");
    loop {
        let (stream, _) = listener.accept().await?;
        let r = responder.clone();
        tokio::spawn(async move {
            if let Err(e) = handle_socket(stream, r).await {
                debug!(error = %e, "API connection ended");
            }
        });
    }
}

async fn handle_socket(stream: UnixStream, responder: Arc<dyn Responder>) -> std::io::Result<()> {
    let (rd, mut wr) = stream.into_split();
    let mut lines = BufReader::new(rd).lines();
    while let Some(line) = lines.next_line().await? {
        let resp = match serde_json::from_str::<Request>(&line) {
            Ok(req) => responder.answer(req).await,
            Err(e) => Response::Error(format!("bad request: {e}")),
        };
        let mut out = serde_json::to_vec(&resp).map_err(std::io::Error::other)?;
        out.push(b'\n');
        wr.write_all(&out).await?;
    }
    Ok(())
}

/// Sends one request to a daemon and returns its answer.
pub async fn query(socket: &Path, req: &Request) -> std::io::Result<Response> {
    let stream = UnixStream::connect(socket).await.map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot reach perouter at {}: {e} (is `perouter run` running?)",
                socket.display()
            ),
        )
    })?;
    let (rd, mut wr) = stream.into_split();
    let mut line = serde_json::to_vec(req).map_err(std::io::Error::other)?;
    line.push(b'\n');
    wr.write_all(&line).await?;
    wr.shutdown().await?;
    let mut lines = BufReader::new(rd).lines();
    let Some(reply) = lines.next_line().await? else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "perouter closed the connection",
        ));
    };
    serde_json::from_str(&reply)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Serves HTTP: `GET /metrics`, `/healthz`, `/readyz`. A deliberately small HTTP/1.1 server:
/// one request per connection, no bodies.
pub async fn serve_http(addr: SocketAddr, responder: Arc<dyn Responder>) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    info!(%addr, "metrics and probes listening");
    loop {
        let (mut stream, peer) = listener.accept().await?;
        let r = responder.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            let mut n = 0;
            // Read until the end of the request head (or the buffer is full).
            while n < buf.len() {
                match stream.read(&mut buf[n..]).await {
                    Ok(0) | Err(_) => break,
                    Ok(k) => n += k,
                }
                if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..n]);
            let path = head.split_whitespace().nth(1).unwrap_or("");
            let (status, ctype, body) = match path {
                "/metrics" => (
                    "200 OK",
                    "text/plain; version=0.0.4; charset=utf-8",
                    r.metrics().await,
                ),
                "/healthz" if r.healthy() => ("200 OK", "text/plain", "ok\n".to_string()),
                "/healthz" => (
                    "503 Service Unavailable",
                    "text/plain",
                    "unhealthy\n".to_string(),
                ),
                "/readyz" if r.ready().await => ("200 OK", "text/plain", "ready\n".to_string()),
                "/readyz" => (
                    "503 Service Unavailable",
                    "text/plain",
                    "not ready\n".to_string(),
                ),
                _ => (
                    "404 Not Found",
                    "text/plain",
                    "not found: try /metrics, /healthz or /readyz\n".to_string(),
                ),
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            if let Err(e) = stream.write_all(resp.as_bytes()).await {
                warn!(%peer, error = %e, "HTTP write failed");
            }
        });
    }
}

/// Builds the Prometheus text exposition format (version 0.0.4).
#[derive(Debug, Default)]
pub struct MetricsText {
    out: String,
}

impl MetricsText {
    /// Starts a metric family with its help text and type (`gauge` or `counter`).
    pub fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(
            self.out,
            "# HELP {name} {}",
            help.replace('\\', "\\\\").replace('\n', "\\n")
        );
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    /// Adds one sample with labels.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.out, "{k}=\"{v}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// The finished text.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl Responder for Fixed {
        fn answer(&self, req: Request) -> BoxFuture<'_, Response> {
            Box::pin(async move {
                match req {
                    Request::Vni => Response::Ok(serde_json::json!([{"vni": 100}])),
                    other => Response::Error(format!("no answer for {other:?}")),
                }
            })
        }
        fn metrics(&self) -> BoxFuture<'_, String> {
            Box::pin(async {
                let mut m = MetricsText::default();
                m.family(
                    "perouter_bgp_session_up",
                    "gauge",
                    "1 when the session is Established",
                );
                m.sample(
                    "perouter_bgp_session_up",
                    &[("peer", "192.0.2.1"), ("vrf", "a\"b")],
                    1.0,
                );
                m.finish()
            })
        }
        fn ready(&self) -> BoxFuture<'_, bool> {
            Box::pin(async { false })
        }
    }

    #[test]
    fn requests_have_a_stable_json_form() {
        let r: Request =
            serde_json::from_str(r#"{"query":"bgp-evpn","route_type":5,"vni":null}"#).unwrap();
        assert_eq!(
            r,
            Request::BgpEvpn {
                route_type: Some(5),
                vni: None
            }
        );
        assert_eq!(
            serde_json::to_string(&Request::BgpSummary).unwrap(),
            r#"{"query":"bgp-summary"}"#
        );
    }

    #[tokio::test]
    async fn socket_and_http_round_trip() {
        let dir = std::env::temp_dir().join(format!("perouter-api-{}", std::process::id()));
        let sock = dir.join("api.sock");
        let r: Arc<dyn Responder> = Arc::new(Fixed);
        tokio::spawn(serve_socket(sock.clone(), r.clone()));
        for _ in 0..100 {
            if sock.exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        match query(&sock, &Request::Vni).await.unwrap() {
            Response::Ok(v) => assert_eq!(v[0]["vni"], 100),
            Response::Error(e) => panic!("{e}"),
        }
        assert!(matches!(
            query(&sock, &Request::Status).await.unwrap(),
            Response::Error(_)
        ));
        std::fs::remove_dir_all(&dir).unwrap();

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        tokio::spawn(serve_http(addr, r));
        let get = |path: &'static str| async move {
            for _ in 0..100 {
                if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
                    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                        .await
                        .unwrap();
                    let mut out = String::new();
                    s.read_to_string(&mut out).await.unwrap();
                    return out;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            panic!("HTTP server did not start");
        };
        let m = get("/metrics").await;
        assert!(m.starts_with("HTTP/1.1 200 OK"), "{m}");
        assert!(m.contains("# TYPE perouter_bgp_session_up gauge"), "{m}");
        assert!(
            m.contains(r#"perouter_bgp_session_up{peer="192.0.2.1",vrf="a\"b"} 1"#),
            "{m}"
        );
        assert!(get("/healthz").await.starts_with("HTTP/1.1 200 OK"));
        assert!(get("/readyz").await.starts_with("HTTP/1.1 503"));
        assert!(get("/nope").await.starts_with("HTTP/1.1 404"));
    }
}
