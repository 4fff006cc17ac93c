//! Test support shared by the session tests: raw BGP messages built byte
//! by byte, a scripted peer on a loopback address, and a recorder of the
//! speaker's events.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use perouter_bgp::config::{
    Family, NeighborConfig, NeighborTarget, PeerConfig, RemoteAs, SpeakerConfig,
};
use perouter_bgp::speaker::{self, PeerId, SpeakerEvent, SpeakerHandle};
use perouter_bgp::wire::{AfiSafi, Capability, Message, Open, WireContext};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

// ------------------------------------------------------------ message bytes

pub fn message(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![0xff; 16];
    let len = u16::try_from(19 + body.len()).expect("test message fits");
    m.extend_from_slice(&len.to_be_bytes());
    m.push(ty);
    m.extend_from_slice(body);
    m
}

pub fn keepalive() -> Vec<u8> {
    message(4, &[])
}

pub fn attr(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut a = vec![flags, code];
    if flags & 0x10 != 0 {
        a.extend_from_slice(&u16::try_from(value.len()).unwrap().to_be_bytes());
    } else {
        a.push(u8::try_from(value.len()).unwrap());
    }
    a.extend_from_slice(value);
    a
}

pub fn update(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&u16::try_from(withdrawn.len()).unwrap().to_be_bytes());
    b.extend_from_slice(withdrawn);
    b.extend_from_slice(&u16::try_from(attrs.len()).unwrap().to_be_bytes());
    b.extend_from_slice(attrs);
    b.extend_from_slice(nlri);
    message(2, &b)
}

pub fn origin_igp() -> Vec<u8> {
    attr(0x40, 1, &[0])
}

/// AS_PATH of one AS_SEQUENCE with 4-octet ASNs (RFC 6793 session).
pub fn as_path(asn: u32) -> Vec<u8> {
    let mut v = vec![2, 1];
    v.extend_from_slice(&asn.to_be_bytes());
    attr(0x40, 2, &v)
}

pub fn next_hop(a: Ipv4Addr) -> Vec<u8> {
    attr(0x40, 3, &a.octets())
}

pub fn base_attrs(asn: u32, nh: Ipv4Addr) -> Vec<u8> {
    [origin_igp(), as_path(asn), next_hop(nh)].concat()
}

/// An IPv4 NLRI: length byte then the significant octets.
pub fn v4(a: [u8; 4], len: u8) -> Vec<u8> {
    let mut v = vec![len];
    v.extend_from_slice(&a[..usize::from(len).div_ceil(8)]);
    v
}

pub fn open_bytes(asn: u32, hold: u16, id: Ipv4Addr) -> Vec<u8> {
    open_bytes_with(asn, hold, id, Vec::new())
}

/// An OPEN with IPv4 and IPv6 unicast, 4-octet AS and `extra` capabilities.
pub fn open_bytes_with(asn: u32, hold: u16, id: Ipv4Addr, extra: Vec<Capability>) -> Vec<u8> {
    let mut caps = vec![
        Capability::MultiProtocol(AfiSafi::IPV4_UNICAST),
        Capability::MultiProtocol(AfiSafi::IPV6_UNICAST),
        Capability::FourOctetAs(asn),
    ];
    caps.extend(extra);
    let open = Open::new(asn, hold, id, caps);
    Message::Open(open)
        .to_bytes(&WireContext::default())
        .expect("OPEN encodes")
        .to_vec()
}

// ----------------------------------------------------------- scripted peers

/// A raw BGP connection from a given loopback address. Reads go through a
/// buffer so that a timed-out read never loses bytes.
pub struct RawPeer {
    /// The connection.
    pub stream: TcpStream,
    buf: BytesMut,
}

/// What a raw peer read back.
#[derive(Debug, PartialEq)]
pub enum Reply {
    Open,
    Keepalive,
    Update,
    Notification { code: u8, subcode: u8 },
    Other(u8),
    Closed,
    Silence,
}

impl RawPeer {
    pub async fn connect(from: Ipv4Addr, to: SocketAddr) -> std::io::Result<RawPeer> {
        let s = TcpSocket::new_v4()?;
        s.bind(SocketAddr::new(from.into(), 0))?;
        let stream = s.connect(to).await?;
        stream.set_nodelay(true)?;
        Ok(RawPeer {
            stream,
            buf: BytesMut::new(),
        })
    }

    /// Wraps a connected stream.
    pub fn from_stream(stream: TcpStream) -> RawPeer {
        RawPeer {
            stream,
            buf: BytesMut::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        // The speaker may already have closed: a failed write is an answer too.
        let _ = self.stream.write_all(bytes).await;
    }

    /// Reads one message, waiting at most `wait`.
    pub async fn read(&mut self, wait: Duration) -> Reply {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if self.buf.len() >= 19 {
                let len = usize::from(u16::from_be_bytes([self.buf[16], self.buf[17]])).max(19);
                if self.buf.len() >= len {
                    let m = self.buf.split_to(len);
                    return match m[18] {
                        1 => Reply::Open,
                        2 => Reply::Update,
                        3 => Reply::Notification {
                            code: m.get(19).copied().unwrap_or(0),
                            subcode: m.get(20).copied().unwrap_or(0),
                        },
                        4 => Reply::Keepalive,
                        t => Reply::Other(t),
                    };
                }
            }
            match tokio::time::timeout_at(deadline, self.stream.read_buf(&mut self.buf)).await {
                Err(_) => return Reply::Silence,
                Ok(Ok(0)) | Ok(Err(_)) => return Reply::Closed,
                Ok(Ok(_)) => {}
            }
        }
    }

    /// Reads until something other than KEEPALIVE/UPDATE arrives.
    pub async fn read_significant(&mut self, wait: Duration) -> Reply {
        loop {
            match self.read(wait).await {
                Reply::Keepalive | Reply::Update => continue,
                r => return r,
            }
        }
    }

    /// OPEN + KEEPALIVE both ways: the session is Established at the
    /// speaker once this returns true.
    pub async fn establish(&mut self, asn: u32, hold: u16, id: Ipv4Addr) -> bool {
        self.establish_with(open_bytes(asn, hold, id)).await
    }

    /// Like [`RawPeer::establish`] with a given OPEN.
    pub async fn establish_with(&mut self, open: Vec<u8>) -> bool {
        self.send(&open).await;
        if self.read(Duration::from_secs(5)).await != Reply::Open {
            return false;
        }
        self.send(&keepalive()).await;
        self.read(Duration::from_secs(5)).await == Reply::Keepalive
    }

    /// Expects the connection to be closed, possibly after KEEPALIVEs.
    pub async fn expect_closed(&mut self) {
        let r = self.read_significant(Duration::from_secs(5)).await;
        assert_eq!(r, Reply::Closed, "connection should be closed");
    }
}

// ---------------------------------------------------------- event recording

#[derive(Default)]
pub struct Log {
    pub events: Vec<SpeakerEvent>,
}

pub type SharedLog = Arc<Mutex<Log>>;

pub fn peer_of(ev: &SpeakerEvent) -> PeerId {
    match ev {
        SpeakerEvent::PeerUp { peer, .. }
        | SpeakerEvent::PeerDown { peer, .. }
        | SpeakerEvent::Updates { peer, .. }
        | SpeakerEvent::EndOfRib { peer, .. }
        | SpeakerEvent::RouteRefresh { peer, .. }
        | SpeakerEvent::StaleExpired { peer, .. } => *peer,
    }
}

/// Waits until `pred` holds for the log, or panics after 5 s.
pub async fn wait_for(log: &SharedLog, what: &str, pred: impl Fn(&[SpeakerEvent]) -> bool) {
    for _ in 0..500 {
        if pred(&log.lock().unwrap().events) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

pub fn peer_by_remote(events: &[SpeakerEvent], ip: Ipv4Addr) -> Option<PeerId> {
    events.iter().find_map(|e| match e {
        SpeakerEvent::PeerUp { peer, remote, .. } if remote.ip() == ip => Some(*peer),
        _ => None,
    })
}

pub fn count_up(events: &[SpeakerEvent], peer: PeerId) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, SpeakerEvent::PeerUp { peer: p, .. } if *p == peer))
        .count()
}

pub fn count_down(events: &[SpeakerEvent], peer: PeerId) -> usize {
    events
        .iter()
        .filter(|e| matches!(e, SpeakerEvent::PeerDown { peer: p, .. } if *p == peer))
        .count()
}

/// The prefixes announced and withdrawn in a peer's UPDATE events, in order.
pub fn route_log(events: &[SpeakerEvent], peer: PeerId) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    for e in events {
        if let SpeakerEvent::Updates { peer: p, updates } = e {
            if *p != peer {
                continue;
            }
            for u in updates {
                for b in u.withdrawals() {
                    out.extend(b.iter().map(|n| (false, n.prefix.to_string())));
                }
                for b in u.announced() {
                    out.extend(b.iter().map(|n| (true, n.prefix.to_string())));
                }
            }
        }
    }
    out
}

/// A passive neighbour at `addr` (hold time 9 s, retry 1 s, IPv4 and IPv6).
pub fn neighbor(addr: Ipv4Addr, asn: u32) -> NeighborConfig {
    let mut peer = PeerConfig::new(RemoteAs::Number(asn));
    peer.passive = true;
    peer.hold_time = 9;
    peer.connect_retry = 1;
    peer.connect_retry_max = 1;
    peer.families = vec![Family::Ipv4Unicast, Family::Ipv6Unicast];
    NeighborConfig {
        target: NeighborTarget::Address(addr.into()),
        limit: None,
        peer,
    }
}

/// Starts a speaker (AS 65000, listening on 127.0.0.1 with an ephemeral
/// port) with `neighbors`, and a task recording its events.
pub async fn start_speaker(neighbors: Vec<NeighborConfig>) -> (SpeakerHandle, SharedLog) {
    let (tx, mut rx) = mpsc::channel(64);
    let sp = speaker::start(
        SpeakerConfig {
            local_as: 65000,
            router_id: Ipv4Addr::new(127, 0, 0, 1),
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            netns: None,
        },
        neighbors,
        tx,
    )
    .await
    .expect("speaker starts");
    let log: SharedLog = Arc::default();
    let l = log.clone();
    tokio::spawn(async move {
        while let Some(ev) = rx.recv().await {
            l.lock().unwrap().events.push(ev);
        }
    });
    (sp, log)
}
