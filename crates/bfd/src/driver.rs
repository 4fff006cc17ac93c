//! The tokio driver: sockets, clock and demultiplexing around [`Session`]s.
//!
//! * Single-hop sessions (RFC 5881) receive on UDP 3784 and accept only
//!   packets whose TTL / hop limit is 255 (GTSM, §5), read from the
//!   `IP_RECVTTL` / `IPV6_RECVHOPLIMIT` control message; they send with TTL
//!   255 from a source port in 49152–65535 that stays the same for the
//!   session's life (§4).
//! * Multihop sessions (RFC 5883) receive on UDP 4784 and accept packets
//!   whose TTL is at least the session's minimum TTL; they send with TTL 255.
//!
//! Sockets are created inside the router's network namespace (the same
//! helper as the BGP sockets, [`perouter_bgp::session::socket::in_netns`]).
//! A received packet is matched to its session by Your Discriminator, or by
//! the peer's address and the port it came in on while Your Discriminator is
//! 0 (RFC 5881 §3, RFC 5883 §3). One task owns every session; a reader task
//! per receive socket only forwards datagrams. State changes leave on a
//! bounded channel, and a snapshot of every session is published on a
//! `watch` channel for `perouter show bfd peers`.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::socket::{self as nixsock, sockopt, ControlMessageOwned, MsgFlags, SockaddrStorage};
use perouter_bgp::session::socket::{in_netns, NetnsTarget};
use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};

use crate::packet::{ControlPacket, State};
use crate::session::{Config, Session, SessionStatus, StateChange};

/// UDP port of single-hop control packets (RFC 5881 §4).
pub const SINGLE_HOP_PORT: u16 = 3784;
/// UDP port of multihop control packets (RFC 5883 §5).
pub const MULTIHOP_PORT: u16 = 4784;
/// The TTL every packet is sent with, and the one single-hop packets must arrive with.
pub const GTSM_TTL: u8 = 255;

/// How a session reaches its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Hop {
    /// Directly connected (RFC 5881), TTL 255 required on receive.
    Single,
    /// Several hops away (RFC 5883); packets with a lower TTL are dropped.
    Multi {
        /// Minimum TTL accepted.
        min_ttl: u8,
    },
}

/// One wanted session.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerSpec {
    /// The peer's address.
    pub peer: IpAddr,
    /// Source address to send from (None: the kernel's choice).
    pub local: Option<IpAddr>,
    /// Interface to bind to (link-local peers).
    pub interface: Option<String>,
    /// Single-hop or multihop.
    pub hop: Hop,
    /// Timers and role.
    pub config: Config,
}

/// A session's state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Event {
    /// The peer.
    pub peer: IpAddr,
    /// What changed.
    pub change: StateChange,
}

/// One session as `show bfd peers` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeerStatus {
    /// The peer's address.
    pub peer: IpAddr,
    /// Source address, when configured.
    pub local: Option<IpAddr>,
    /// Interface, when bound.
    pub interface: Option<String>,
    /// Multihop session.
    pub multihop: bool,
    /// Passive role.
    pub passive: bool,
    /// Packets dropped by the driver for this peer: wrong TTL (GTSM) or unparsable.
    pub dropped: u64,
    /// The session itself.
    #[serde(flatten)]
    pub session: SessionStatus,
}

/// The handle the agent keeps: set the wanted sessions, read their status.
#[derive(Debug, Clone)]
pub struct Handle {
    specs: mpsc::Sender<Vec<PeerSpec>>,
    /// Every session, refreshed on each state change and every second.
    pub status: watch::Receiver<Vec<PeerStatus>>,
}

impl Handle {
    /// Replaces the set of sessions: new peers get a session, gone ones are
    /// sent AdminDown and removed, changed timers are renegotiated in place.
    pub async fn set(&self, specs: Vec<PeerSpec>) -> Result<(), io::Error> {
        self.specs
            .send(specs)
            .await
            .map_err(|_| io::Error::other("bfd driver stopped"))
    }
}

/// Starts the driver in `netns`. Returns the handle and the state changes.
pub fn spawn(netns: NetnsTarget) -> (Handle, mpsc::Receiver<Event>) {
    let (spec_tx, spec_rx) = mpsc::channel(8);
    let (ev_tx, ev_rx) = mpsc::channel(256);
    let (status_tx, status_rx) = watch::channel(Vec::new());
    let (dgram_tx, dgram_rx) = mpsc::channel(1024);
    let driver = Driver {
        netns,
        sessions: HashMap::new(),
        by_discr: HashMap::new(),
        rx_sockets: HashMap::new(),
        dgram_tx,
        events: ev_tx,
        status: status_tx,
        seed: random_u64(),
    };
    tokio::spawn(driver.run(spec_rx, dgram_rx));
    (
        Handle {
            specs: spec_tx,
            status: status_rx,
        },
        ev_rx,
    )
}

fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish()
}

/// A receive socket's identity: address family and hop kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct RxKind {
    v6: bool,
    multihop: bool,
}

/// A datagram from a reader task.
struct Datagram {
    kind: RxKind,
    from: IpAddr,
    ttl: Option<u8>,
    bytes: Vec<u8>,
}

struct PeerEntry {
    spec: PeerSpec,
    session: Session,
    socket: Arc<UdpSocket>,
    dropped: u64,
}

struct Driver {
    netns: NetnsTarget,
    /// Keyed by (peer, multihop).
    sessions: HashMap<(IpAddr, bool), PeerEntry>,
    by_discr: HashMap<u32, (IpAddr, bool)>,
    rx_sockets: HashMap<RxKind, tokio::task::JoinHandle<()>>,
    dgram_tx: mpsc::Sender<Datagram>,
    events: mpsc::Sender<Event>,
    status: watch::Sender<Vec<PeerStatus>>,
    seed: u64,
}

impl Driver {
    async fn run(
        mut self,
        mut specs: mpsc::Receiver<Vec<PeerSpec>>,
        mut dgrams: mpsc::Receiver<Datagram>,
    ) {
        let mut last_publish = Instant::now();
        loop {
            let deadline = self
                .sessions
                .values()
                .filter_map(|e| e.session.poll_timeout())
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(1))
                .min(last_publish + Duration::from_secs(1));
            let mut changed = false;
            tokio::select! {
                s = specs.recv() => match s {
                    Some(s) => { self.apply(s); changed = true; }
                    None => { self.shutdown(); return; }
                },
                Some(d) = dgrams.recv() => self.receive(d),
                _ = tokio::time::sleep_until(deadline.into()) => {}
            }
            let now = Instant::now();
            changed |= self.service(now);
            if changed || now >= last_publish + Duration::from_secs(1) {
                self.publish(now);
                last_publish = now;
            }
        }
    }

    /// Timeouts, packets to send and events of every session. True when a state changed.
    fn service(&mut self, now: Instant) -> bool {
        let mut changed = false;
        for entry in self.sessions.values_mut() {
            entry.session.handle_timeout(now);
            while let Some(p) = entry.session.poll_transmit(now) {
                send(entry, &p);
            }
            while let Some(change) = entry.session.poll_event() {
                changed = true;
                log_change(&entry.spec, &change);
                let ev = Event {
                    peer: entry.spec.peer,
                    change,
                };
                if self.events.try_send(ev).is_err() {
                    tracing::error!(peer = %entry.spec.peer, "bfd event channel full, state change not delivered");
                }
            }
        }
        changed
    }

    fn publish(&self, now: Instant) {
        let mut all: Vec<PeerStatus> = self
            .sessions
            .values()
            .map(|e| PeerStatus {
                peer: e.spec.peer,
                local: e.spec.local,
                interface: e.spec.interface.clone(),
                multihop: matches!(e.spec.hop, Hop::Multi { .. }),
                passive: e.spec.config.passive,
                dropped: e.dropped,
                session: e.session.status(now),
            })
            .collect();
        all.sort_by_key(|a| (a.peer, a.multihop));
        self.status.send_replace(all);
    }

    fn receive(&mut self, d: Datagram) {
        let now = Instant::now();
        let multihop = d.kind.multihop;
        let parsed = ControlPacket::parse(&d.bytes);
        let key = match &parsed {
            Ok(p) if p.your_discriminator != 0 => self.by_discr.get(&p.your_discriminator).copied(),
            _ => Some((d.from, multihop)),
        };
        let Some(entry) = key.and_then(|k| self.sessions.get_mut(&k)) else {
            tracing::debug!(from = %d.from, "bfd packet for no session");
            return;
        };
        if entry.spec.peer != d.from || matches!(entry.spec.hop, Hop::Multi { .. }) != multihop {
            tracing::debug!(from = %d.from, "bfd packet from the wrong address for its discriminator");
            entry.dropped += 1;
            return;
        }
        let min_ttl = match entry.spec.hop {
            Hop::Single => GTSM_TTL,
            Hop::Multi { min_ttl } => min_ttl,
        };
        if d.ttl.is_none_or(|t| t < min_ttl) {
            tracing::debug!(from = %d.from, ttl = ?d.ttl, min_ttl, "bfd packet dropped: TTL");
            entry.dropped += 1;
            return;
        }
        match parsed {
            Ok(p) => {
                if let Err(e) = entry.session.handle_packet(now, &p) {
                    tracing::debug!(from = %d.from, "bfd packet discarded: {e}");
                }
            }
            Err(e) => {
                tracing::debug!(from = %d.from, "bad bfd packet: {e}");
                entry.dropped += 1;
            }
        }
    }

    fn apply(&mut self, specs: Vec<PeerSpec>) {
        let now = Instant::now();
        let wanted: HashMap<(IpAddr, bool), PeerSpec> = specs
            .into_iter()
            .map(|s| ((s.peer, matches!(s.hop, Hop::Multi { .. })), s))
            .collect();
        let gone: Vec<_> = self
            .sessions
            .iter()
            .filter(|(k, e)| {
                wanted
                    .get(*k)
                    .is_none_or(|w| w.local != e.spec.local || w.interface != e.spec.interface)
            })
            .map(|(k, _)| *k)
            .collect();
        for k in gone {
            if let Some(mut e) = self.sessions.remove(&k) {
                self.by_discr.remove(&e.session.local_discriminator());
                // Tell the peer, so that its clients do not take this for a failure (RFC 5882 §3.2).
                let cfg = Config {
                    admin_down: true,
                    ..e.session.config()
                };
                e.session.set_config(now, cfg);
                while let Some(p) = e.session.poll_transmit(now) {
                    send(&e, &p);
                }
            }
        }
        for (k, spec) in wanted {
            if let Some(e) = self.sessions.get_mut(&k) {
                if e.spec != spec {
                    e.session.set_config(now, spec.config);
                    e.spec = spec;
                }
                continue;
            }
            let rx = RxKind {
                v6: spec.peer.is_ipv6(),
                multihop: k.1,
            };
            if let Err(e) = self.ensure_rx(rx) {
                tracing::error!(peer = %spec.peer, "bfd: cannot open the receive socket: {e}");
                continue;
            }
            let socket = match tx_socket(&self.netns, &spec) {
                Ok(s) => Arc::new(s),
                Err(e) => {
                    tracing::error!(peer = %spec.peer, "bfd: cannot open the send socket: {e}");
                    continue;
                }
            };
            let mut discr;
            loop {
                self.seed = self
                    .seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                discr = (self.seed >> 32) as u32;
                if discr != 0 && !self.by_discr.contains_key(&discr) {
                    break;
                }
            }
            self.by_discr.insert(discr, k);
            let session = Session::new(now, spec.config, discr, self.seed);
            tracing::info!(peer = %spec.peer, discriminator = discr, hop = ?spec.hop, "bfd session created");
            self.sessions.insert(
                k,
                PeerEntry {
                    spec,
                    session,
                    socket,
                    dropped: 0,
                },
            );
        }
    }

    fn shutdown(&mut self) {
        self.apply(Vec::new());
        for (_, task) in self.rx_sockets.drain() {
            task.abort();
        }
    }

    fn ensure_rx(&mut self, kind: RxKind) -> io::Result<()> {
        if self.rx_sockets.contains_key(&kind) {
            return Ok(());
        }
        let sock = rx_socket(&self.netns, kind)?;
        let tx = self.dgram_tx.clone();
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 512];
            loop {
                match recv_with_ttl(&sock, &mut buf).await {
                    Ok((from, ttl, n)) => {
                        let d = Datagram {
                            kind,
                            from,
                            ttl,
                            bytes: buf[..n].to_vec(),
                        };
                        if tx.send(d).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        tracing::warn!("bfd receive: {e}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        });
        self.rx_sockets.insert(kind, task);
        Ok(())
    }
}

fn log_change(spec: &PeerSpec, c: &StateChange) {
    let msg = "bfd session state changed";
    if c.to == State::Up {
        tracing::info!(peer = %spec.peer, from = %c.from, to = %c.to, diag = %c.diag, msg);
    } else {
        tracing::warn!(peer = %spec.peer, from = %c.from, to = %c.to, diag = %c.diag,
            remote_state = %c.remote_state, remote_diag = %c.remote_diag, msg);
    }
}

fn send(entry: &PeerEntry, p: &ControlPacket) {
    let port = match entry.spec.hop {
        Hop::Single => SINGLE_HOP_PORT,
        Hop::Multi { .. } => MULTIHOP_PORT,
    };
    let to = SocketAddr::new(entry.spec.peer, port);
    if let Err(e) = entry.socket.try_send_to(&p.emit(), to) {
        tracing::debug!(peer = %entry.spec.peer, "bfd send: {e}");
    }
}

fn domain(v6: bool) -> Domain {
    if v6 {
        Domain::IPV6
    } else {
        Domain::IPV4
    }
}

/// The receive socket of one kind, in the namespace, asking for the TTL of each datagram.
fn rx_socket(netns: &NetnsTarget, kind: RxKind) -> io::Result<UdpSocket> {
    let std_sock = in_netns(netns, move || {
        let s = Socket::new(domain(kind.v6), Type::DGRAM, Some(Protocol::UDP))?;
        s.set_reuse_address(true)?;
        s.set_nonblocking(true)?;
        let port = if kind.multihop {
            MULTIHOP_PORT
        } else {
            SINGLE_HOP_PORT
        };
        let addr: SocketAddr = if kind.v6 {
            s.set_only_v6(true)?;
            nixsock::setsockopt(&s, sockopt::Ipv6RecvHopLimit, &true)?;
            (Ipv6Addr::UNSPECIFIED, port).into()
        } else {
            nixsock::setsockopt(&s, sockopt::Ipv4RecvTtl, &true)?;
            (Ipv4Addr::UNSPECIFIED, port).into()
        };
        s.bind(&addr.into())?;
        Ok(std::net::UdpSocket::from(s))
    })?;
    UdpSocket::from_std(std_sock)
}

/// A session's send socket: TTL 255, bound to a free source port in 49152–65535 (RFC 5881 §4).
fn tx_socket(netns: &NetnsTarget, spec: &PeerSpec) -> io::Result<UdpSocket> {
    let v6 = spec.peer.is_ipv6();
    let local = spec.local.unwrap_or(if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    });
    let dev = spec.interface.clone();
    let start = random_u64();
    let std_sock = in_netns(netns, move || {
        let s = Socket::new(domain(v6), Type::DGRAM, Some(Protocol::UDP))?;
        s.set_nonblocking(true)?;
        if v6 {
            s.set_unicast_hops_v6(u32::from(GTSM_TTL))?;
        } else {
            s.set_ttl_v4(u32::from(GTSM_TTL))?;
        }
        if let Some(dev) = &dev {
            s.bind_device(Some(dev.as_bytes()))?;
        }
        let mut last = io::Error::other("no source port free in 49152-65535");
        for i in 0..64u64 {
            let port = 49152 + ((start.wrapping_add(i * 7919)) % 16384) as u16;
            match s.bind(&SocketAddr::new(local, port).into()) {
                Ok(()) => return Ok(std::net::UdpSocket::from(s)),
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    })?;
    UdpSocket::from_std(std_sock)
}

/// One datagram with its source and received TTL / hop limit.
async fn recv_with_ttl(
    sock: &UdpSocket,
    buf: &mut [u8],
) -> io::Result<(IpAddr, Option<u8>, usize)> {
    sock.async_io(Interest::READABLE, || {
        let mut iov = [IoSliceMut::new(buf)];
        let mut cmsg = nix::cmsg_space!(libc::c_int, libc::c_int);
        let msg = nixsock::recvmsg::<SockaddrStorage>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_DONTWAIT,
        )
        .map_err(io::Error::from)?;
        let mut ttl = None;
        for c in msg.cmsgs().map_err(io::Error::from)? {
            match c {
                ControlMessageOwned::Ipv4Ttl(t) | ControlMessageOwned::Ipv6HopLimit(t) => {
                    ttl = u8::try_from(t).ok();
                }
                _ => {}
            }
        }
        let from = msg
            .address
            .and_then(|a| {
                a.as_sockaddr_in()
                    .map(|s| IpAddr::V4(s.ip()))
                    .or_else(|| a.as_sockaddr_in6().map(|s| IpAddr::V6(s.ip())))
            })
            .ok_or_else(|| io::Error::other("datagram without a source address"))?;
        Ok((from, ttl, msg.bytes))
    })
    .await
}
