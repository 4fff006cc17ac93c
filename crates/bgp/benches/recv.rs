//! Receive throughput of one session: 1M IPv4 unicast prefixes (and 1M EVPN
//! type-5 routes), pre-encoded as UPDATEs with the wire's packer, blasted by
//! a raw peer over a loopback TCP connection into a real speaker session;
//! the time measured runs from the first byte written until the consumer
//! of the speaker's event channel has seen every NLRI (decoded, RFC 7606
//! checked, counted, batched). Throughput is in prefixes per second.
//!
//! Run: `cargo bench -p perouter-bgp --bench recv -- --warm-up-time 1 --measurement-time 3`
//! (`RECV_PREFIXES=100000` for a smaller stream).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ipnet::{IpNet, Ipv4Net};
use perouter_bgp::config::{
    Family, NeighborConfig, NeighborTarget, PeerConfig, RemoteAs, SpeakerConfig,
};
use perouter_bgp::session::announced_count;
use perouter_bgp::speaker::{self, SpeakerEvent};
use perouter_bgp::wire::*;
use perouter_evpn::{EvpnRoute, IpPrefixRoute};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpSocket;

const PEER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 9);
const PEER_AS: u32 = 65009;

fn prefixes(n: usize) -> impl Iterator<Item = IpNet> {
    (0..n as u32).map(|i| {
        // 10.0.0.0/8 and up, as /24s: 16M distinct values before wrapping.
        let a = 0x0a00_0000u32.wrapping_add(i << 8);
        IpNet::V4(Ipv4Net::new(Ipv4Addr::from(a), 24).expect("valid length"))
    })
}

fn base_attrs() -> PathAttributes {
    PathAttributes::new()
        .with(AttributeValue::Origin(Origin::Igp))
        .with(AttributeValue::AsPath(AsPath::sequence([PEER_AS, 65100])))
}

/// The whole stream of UPDATE messages, encoded for a 4-octet-AS session.
fn ipv4_stream(n: usize) -> Bytes {
    let ctx = WireContext::four_octet();
    let attrs = base_attrs().with(AttributeValue::NextHop(PEER));
    let nlri: Vec<Nlri> = prefixes(n).map(Nlri::new).collect();
    let updates = Update::pack_reach(
        &attrs,
        None,
        NlriList::Prefixes(AfiSafi::IPV4_UNICAST, &nlri),
        &ctx,
    )
    .expect("packs");
    encode(updates, &ctx)
}

fn evpn_stream(n: usize) -> Bytes {
    let ctx = WireContext::four_octet();
    let rd = perouter_evpn::RouteDistinguisher::from_bytes([0, 1, 127, 0, 0, 9, 0, 100]);
    let routes: Vec<EvpnNlri> = prefixes(n)
        .map(|p| EvpnNlri {
            path_id: None,
            route: EvpnRoute::IpPrefix(IpPrefixRoute::without_gateway(
                rd,
                perouter_evpn::Esi([0; 10]),
                perouter_evpn::EthernetTag(0),
                p,
                perouter_evpn::Label::from_vni(100),
            )),
        })
        .collect();
    let updates = Update::pack_reach(
        &base_attrs(),
        Some(NextHop::V4(PEER)),
        NlriList::Evpn(&routes),
        &ctx,
    )
    .expect("packs");
    encode(updates, &ctx)
}

fn encode(updates: Vec<Update>, ctx: &WireContext) -> Bytes {
    let mut out = BytesMut::new();
    for u in updates {
        Message::Update(u).emit(ctx, &mut out).expect("encodes");
    }
    out.freeze()
}

fn message(m: Message) -> Bytes {
    m.to_bytes(&WireContext::default()).expect("encodes")
}

/// One measured run: a fresh speaker and session, `stream` written by the
/// peer, returns the time until `expected` NLRI reached the consumer.
async fn run_once(stream: Bytes, expected: u64, family: Family) -> Duration {
    let mut peer_cfg = PeerConfig::new(RemoteAs::Number(PEER_AS));
    peer_cfg.passive = true;
    peer_cfg.families = vec![family];
    let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
    let sp = speaker::start(
        SpeakerConfig {
            local_as: 65000,
            router_id: Ipv4Addr::new(127, 0, 0, 1),
            listen: vec!["127.0.0.1:0".parse().unwrap()],
            netns: None,
        },
        vec![NeighborConfig {
            target: NeighborTarget::Address(IpAddr::V4(PEER)),
            limit: None,
            peer: peer_cfg,
        }],
        tx,
    )
    .await
    .expect("speaker starts");
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(PEER.into(), 0)).unwrap();
    let mut conn = sock.connect(sp.listening[0]).await.expect("connects");
    conn.set_nodelay(true).unwrap();
    let fam = match family {
        Family::L2vpnEvpn => AfiSafi::L2VPN_EVPN,
        _ => AfiSafi::IPV4_UNICAST,
    };
    let open = Open::new(
        PEER_AS,
        0,
        PEER,
        vec![
            Capability::MultiProtocol(fam),
            Capability::FourOctetAs(PEER_AS),
        ],
    );
    conn.write_all(&message(Message::Open(open))).await.unwrap();
    conn.write_all(&message(Message::Keepalive)).await.unwrap();
    // Wait for the session to be up at the speaker.
    loop {
        match rx.recv().await.expect("speaker alive") {
            SpeakerEvent::PeerUp { .. } => break,
            SpeakerEvent::PeerDown { reason, .. } => panic!("session refused: {reason:?}"),
            _ => {}
        }
    }
    let (mut rd, mut wr) = conn.into_split();
    // Drain what the speaker sends (OPEN, KEEPALIVE).
    let drain = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while matches!(rd.read(&mut buf).await, Ok(n) if n > 0) {}
    });
    let t0 = Instant::now();
    let writer = tokio::spawn(async move {
        wr.write_all(&stream).await.expect("stream written");
        wr
    });
    let mut seen = 0u64;
    while seen < expected {
        match rx.recv().await.expect("speaker alive") {
            SpeakerEvent::Updates { updates, .. } => {
                seen += updates
                    .iter()
                    .map(|u| announced_count(u) as u64)
                    .sum::<u64>();
            }
            SpeakerEvent::PeerDown { reason, .. } => panic!("session went down: {reason:?}"),
            _ => {}
        }
    }
    let elapsed = t0.elapsed();
    let _wr = writer.await.unwrap();
    sp.shutdown(None).await;
    drain.abort();
    elapsed
}

fn bench(c: &mut Criterion) {
    let n: usize = std::env::var("RECV_PREFIXES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("recv");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n as u64));
    for (name, family, stream) in [
        ("ipv4_unicast", Family::Ipv4Unicast, ipv4_stream(n)),
        ("evpn_type5", Family::L2vpnEvpn, evpn_stream(n)),
    ] {
        eprintln!(
            "recv/{name}: {n} NLRI in {} bytes ({:.1} MB)",
            stream.len(),
            stream.len() as f64 / 1e6
        );
        g.bench_function(format!("{name}_{n}"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += rt.block_on(run_once(stream.clone(), n as u64, family));
                }
                total
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
