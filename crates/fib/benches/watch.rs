//! The kernel watch on the notifications of a big install: 100k `RTM_NEWROUTE` of ours, as the
//! kernel announces every route the datapath installs, in 64 KiB `recv` buffers. `decode_frames`
//! (skipping what the decoder ignores from the fixed headers) against decoding every message
//! and handing it to the decoder (what the watch thread did before).

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use perouter_fib::desired::ROUTE_PROTOCOL;
use perouter_fib::watch::{decode_frames, FrameCounts, WatchDecoder};

const ROUTES: u32 = 100_000;

/// Kernel-shaped notifications (header, table, destination, gateway, device, metric), packed
/// into recv-sized buffers.
fn buffers() -> Vec<Vec<u8>> {
    let mut out = vec![Vec::new()];
    for i in 0..ROUTES {
        let mut m = RouteMessage::default();
        m.header.address_family = AddressFamily::Inet;
        m.header.destination_prefix_length = 24;
        m.header.table = 254;
        m.header.protocol = RouteProtocol::from(ROUTE_PROTOCOL);
        m.header.kind = RouteType::Unicast;
        m.attributes = vec![
            RouteAttribute::Table(254),
            RouteAttribute::Destination(RouteAddress::Inet(
                [10, (i >> 16) as u8, (i >> 8) as u8, i as u8].into(),
            )),
            RouteAttribute::Gateway(RouteAddress::Inet([192, 168, 11, 2].into())),
            RouteAttribute::Oif(12),
            RouteAttribute::Priority(20),
        ];
        let mut nl = NetlinkMessage::from(RouteNetlinkMessage::NewRoute(m));
        nl.finalize();
        let mut b = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut b);
        if out.last().unwrap().len() + b.len() > 64 << 10 {
            out.push(Vec::new());
        }
        out.last_mut().unwrap().extend_from_slice(&b);
    }
    out
}

/// Every message decoded and handed to the decoder.
fn decode_all(data: &[u8], d: &mut WatchDecoder) -> usize {
    let (mut off, mut events) = (0usize, 0usize);
    while off + 16 <= data.len() {
        let len = u32::from_ne_bytes(data[off..off + 4].try_into().unwrap()) as usize;
        if let Ok(NetlinkMessage {
            payload: NetlinkPayload::InnerMessage(m),
            ..
        }) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&data[off..off + len])
        {
            events += d.handle_message(&m).len();
        }
        off += (len + 3) & !3;
    }
    events
}

fn bench(c: &mut Criterion) {
    let bufs = buffers();
    let mut g = c.benchmark_group("watch_100k_own_route_notifications");
    g.throughput(Throughput::Elements(u64::from(ROUTES)));
    g.sample_size(20);
    g.bench_function("decode_every_message", |b| {
        b.iter(|| {
            let mut d = WatchDecoder::default();
            bufs.iter().map(|x| decode_all(x, &mut d)).sum::<usize>()
        })
    });
    g.bench_function("decode_frames_prefiltered", |b| {
        b.iter(|| {
            let mut d = WatchDecoder::default();
            let mut counts = FrameCounts::default();
            let mut events = 0usize;
            for x in &bufs {
                decode_frames(x, &mut d, &mut counts, |_| {
                    events += 1;
                    true
                });
            }
            assert_eq!(counts.skipped, u64::from(ROUTES));
            events
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
