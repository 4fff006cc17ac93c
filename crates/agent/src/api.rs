//! The daemon's local API: a Unix socket answering one JSON request per line (what `perouter show`
//! uses), and an HTTP listener for Prometheus `/metrics` and the `/healthz` / `/readyz` probes.
//!
//! The API owns no state: every request is answered by a [`Responder`] (the runtime), which asks
//! the owners of the state (speaker, routing task, datapath) for a snapshot.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixListener, UnixStream};
use tracing::{debug, info};

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
    /// What one session sent us (Adj-RIB-In) or holds from us (Adj-RIB-Out).
    BgpNeighborRoutes {
        /// The peer's address.
        address: String,
        /// Advertised (true) or received routes.
        advertised: bool,
        /// Only this family (`ipv4-unicast`, `ipv6-unicast`, `l2vpn-evpn`).
        #[serde(default)]
        family: Option<String>,
    },
    /// The default table (underlay and passthrough routes) of one family: every path, flagged.
    BgpUnicast {
        /// IPv6 (true) or IPv4.
        ipv6: bool,
        /// A prefix (exact match) or an address (longest match); all prefixes when absent.
        prefix: Option<String>,
        /// A VRF's table instead of the default one.
        #[serde(default)]
        vrf: Option<String>,
    },
    /// The EVPN table.
    BgpEvpn {
        /// Only this route type.
        route_type: Option<u8>,
        /// Only routes of this VNI.
        vni: Option<u32>,
        /// Only routes with this route distinguisher (`ASN:NN` or `A.B.C.D:NN`).
        #[serde(default)]
        rd: Option<String>,
        /// Every path, each route's best flagged (default: the best paths only).
        #[serde(default)]
        all_paths: bool,
    },
    /// VRF routes (all VRFs, or one).
    Vrf {
        /// The VRF.
        name: Option<String>,
    },
    /// The VNIs of this node.
    Vni,
    /// The MACs of one L2VNI or all: local or remote, VTEP, IPs, sequence numbers.
    EvpnMac {
        /// Only this VNI.
        vni: Option<u32>,
    },
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

/// How long a client may take to send a request head: a half-sent request is dropped after this.
pub const HTTP_HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one HTTP connection may live (reading, answering, writing, idle keep-alive): a
/// client that stops reading its answer cannot hold the connection open.
pub const HTTP_CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// At most this many HTTP connections are served at once; more wait in the accept queue.
pub const HTTP_MAX_CONNECTIONS: usize = 64;

/// The content type of `/metrics`: the OpenMetrics text format `prometheus-client` writes.
pub const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The content type of `/metrics` for clients that do not ask for OpenMetrics: the Prometheus
/// text format 0.0.4 (what `promtool check metrics` reads).
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Whether the client's `Accept` lists OpenMetrics (Prometheus does; `curl` does not).
fn accepts_openmetrics(h: &hyper::HeaderMap) -> bool {
    h.get_all(hyper::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"))
}

/// Serves HTTP/1.1 on hyper: `GET`/`HEAD` of `/metrics`, `/healthz` and `/readyz` (query strings
/// ignored), `405` for other methods, `404` for other paths. A request head must arrive within
/// [`HTTP_HEADER_TIMEOUT`] and a connection lives at most [`HTTP_CONNECTION_TIMEOUT`].
pub async fn serve_http(addr: SocketAddr, responder: Arc<dyn Responder>) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr).await?;
    info!(%addr, "metrics and probes listening");
    serve_http_on(listener, responder).await
}

/// [`serve_http`] on a bound listener.
pub async fn serve_http_on(
    listener: TcpListener,
    responder: Arc<dyn Responder>,
) -> std::io::Result<()> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HTTP_HEADER_TIMEOUT)
        .keep_alive(true);
    let slots = Arc::new(tokio::sync::Semaphore::new(HTTP_MAX_CONNECTIONS));
    loop {
        let permit = slots
            .clone()
            .acquire_owned()
            .await
            .map_err(std::io::Error::other)?;
        let (stream, peer) = listener.accept().await?;
        let r = responder.clone();
        let builder = builder.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let r = r.clone();
                async move { Ok::<_, std::convert::Infallible>(answer_http(&*r, &req).await) }
            });
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            match tokio::time::timeout(HTTP_CONNECTION_TIMEOUT, conn).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => debug!(%peer, error = %e, "HTTP connection ended"),
                Err(_) => debug!(%peer, "HTTP connection closed after {HTTP_CONNECTION_TIMEOUT:?}"),
            }
            drop(permit);
        });
    }
}

type HttpBody = http_body_util::Full<bytes::Bytes>;

fn http_response(
    status: hyper::StatusCode,
    ctype: &str,
    body: impl Into<bytes::Bytes>,
) -> hyper::Response<HttpBody> {
    let mut resp = hyper::Response::new(http_body_util::Full::new(body.into()));
    *resp.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(ctype) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

/// Answers one HTTP request (the body, if any, is ignored; HEAD gets the GET answer's headers:
/// hyper leaves the body out).
async fn answer_http<B>(r: &dyn Responder, req: &hyper::Request<B>) -> hyper::Response<HttpBody> {
    use hyper::{Method, StatusCode};
    const TEXT: &str = "text/plain; charset=utf-8";
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut resp = http_response(
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            "method not allowed: use GET or HEAD\n",
        );
        resp.headers_mut().insert(
            hyper::header::ALLOW,
            hyper::header::HeaderValue::from_static("GET, HEAD"),
        );
        return resp;
    }
    match req.uri().path() {
        "/metrics" => {
            let om = r.metrics().await;
            if accepts_openmetrics(req.headers()) {
                http_response(StatusCode::OK, METRICS_CONTENT_TYPE, om)
            } else {
                http_response(
                    StatusCode::OK,
                    PROMETHEUS_TEXT_CONTENT_TYPE,
                    crate::metrics::to_prometheus_text(&om),
                )
            }
        }
        "/healthz" if r.healthy() => http_response(StatusCode::OK, TEXT, "ok\n"),
        "/healthz" => http_response(StatusCode::SERVICE_UNAVAILABLE, TEXT, "unhealthy\n"),
        "/readyz" if r.ready().await => http_response(StatusCode::OK, TEXT, "ready\n"),
        "/readyz" => http_response(StatusCode::SERVICE_UNAVAILABLE, TEXT, "not ready\n"),
        _ => http_response(
            StatusCode::NOT_FOUND,
            TEXT,
            "not found: try /metrics, /healthz or /readyz\n",
        ),
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
                "# HELP perouter_x Some things.\n# TYPE perouter_x counter\nperouter_x_total{peer=\"192.0.2.1\"} 1\n# EOF\n".to_string()
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
                vni: None,
                rd: None,
                all_paths: false,
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

        let m = http(
            r.clone(),
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(m.starts_with("HTTP/1.1 200 OK"), "{m}");
        assert!(m.contains("# TYPE perouter_x_total counter"), "{m}");
        assert!(m.contains(r#"perouter_x_total{peer="192.0.2.1"} 1"#), "{m}");
    }

    /// Sends `raw` to a fresh server and returns everything it answers until it closes.
    async fn http(r: Arc<dyn Responder>, raw: &str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve_http_on(listener, r));
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(raw.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut s, &mut out)
            .await
            .unwrap();
        server.abort();
        String::from_utf8_lossy(&out).into_owned()
    }

    const CLOSE: &str = "Host: x\r\nConnection: close\r\n\r\n";

    #[tokio::test]
    async fn http_methods_paths_and_query_strings() {
        let r: Arc<dyn Responder> = Arc::new(Fixed);
        let get = |line: &str| {
            let r = r.clone();
            let raw = format!("{line}\r\n{CLOSE}");
            async move { http(r, &raw).await }
        };
        let m = get("GET /metrics?x=1&y HTTP/1.1").await;
        assert!(m.starts_with("HTTP/1.1 200 OK"), "{m}");
        assert!(m.contains(PROMETHEUS_TEXT_CONTENT_TYPE), "{m}");
        assert!(!m.contains("# EOF"), "{m}");
        // What Prometheus sends: OpenMetrics.
        let m = get("GET /metrics HTTP/1.1\r\nAccept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5").await;
        assert!(m.contains(METRICS_CONTENT_TYPE), "{m}");
        assert!(m.contains("# TYPE perouter_x counter\n"), "{m}");
        assert!(m.ends_with("# EOF\n"), "{m}");
        assert!(get("GET /healthz HTTP/1.1")
            .await
            .starts_with("HTTP/1.1 200 OK"));
        assert!(get("GET /readyz?verbose HTTP/1.1")
            .await
            .starts_with("HTTP/1.1 503"));
        assert!(get("GET /nope HTTP/1.1").await.starts_with("HTTP/1.1 404"));
        // HEAD: the GET answer's head, no body.
        let h = get("HEAD /healthz HTTP/1.1").await;
        assert!(h.starts_with("HTTP/1.1 200 OK"), "{h}");
        assert!(h.ends_with("\r\n\r\n"), "HEAD answered with a body: {h:?}");
        for m in ["POST", "PUT", "DELETE", "OPTIONS"] {
            let a = get(&format!("{m} /metrics HTTP/1.1")).await;
            assert!(a.starts_with("HTTP/1.1 405"), "{m}: {a}");
            assert!(a.to_ascii_lowercase().contains("allow: get, head"), "{a}");
        }
    }

    /// A client that sends half a request head is cut off after [`HTTP_HEADER_TIMEOUT`] (the
    /// clock is paused: tokio advances it while everything waits).
    #[tokio::test(start_paused = true)]
    async fn a_half_sent_request_does_not_stay_open() {
        let r: Arc<dyn Responder> = Arc::new(Fixed);
        let start = tokio::time::Instant::now();
        let out = http(r.clone(), "GET /metrics HTTP/1.1\r\nHost: x\r\n").await;
        assert!(!out.contains("200 OK"), "{out}");
        let waited = start.elapsed();
        assert!(waited >= HTTP_HEADER_TIMEOUT, "{waited:?}");
        assert!(waited < HTTP_CONNECTION_TIMEOUT, "{waited:?}");
        // A client that sends nothing at all is cut off too.
        let start = tokio::time::Instant::now();
        let out = http(r, "").await;
        assert!(!out.contains("200 OK"), "{out}");
        assert!(
            start.elapsed() <= HTTP_CONNECTION_TIMEOUT,
            "{:?}",
            start.elapsed()
        );
    }
}
