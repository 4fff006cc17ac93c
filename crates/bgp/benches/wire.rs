//! Parse+iterate and emit of realistic UPDATEs: IPv4 unicast with 500 NLRI,
//! an EVPN type-5 UPDATE of ~110 routes (4 KiB) and an EVPN type-2 UPDATE.
//! Throughput is in elements (prefixes / routes); the message sizes are
//! printed once so MB/s can be derived.
//!
//! Run: `cargo bench -p perouter-bgp --bench wire -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::Ipv4Addr;

use bytes::{BufMut, Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use perouter_bgp::wire::*;

fn ipv4_update(n: usize) -> (WireContext, Bytes) {
    let ctx = WireContext::four_octet();
    let attrs = PathAttributes::new()
        .with(AttributeValue::Origin(Origin::Igp))
        .with(AttributeValue::AsPath(AsPath::sequence([
            4200000001, 65010,
        ])))
        .with(AttributeValue::NextHop(Ipv4Addr::new(192, 0, 2, 1)))
        .with(AttributeValue::MultiExitDisc(0))
        .with(AttributeValue::Communities(vec![
            Community::new(64512, 100),
            Community::new(64512, 200),
        ]));
    let prefixes: Vec<Nlri> = (0..n as u32)
        .map(|i| Nlri::new(format!("10.{}.{}.0/24", i >> 8, i & 0xff).parse().unwrap()))
        .collect();
    let u = Update {
        nlri: NlriBlock::from_prefixes(AfiSafi::IPV4_UNICAST, false, prefixes).unwrap(),
        attributes: attrs,
        ..Update::empty()
    };
    (ctx.clone(), Message::Update(u).to_bytes(&ctx).unwrap())
}

fn evpn_update(route_type: u8, n: usize) -> (WireContext, Bytes) {
    let ctx = WireContext::four_octet();
    let mut raw = BytesMut::new();
    for i in 0..n as u32 {
        let rd = [0u8, 1, 192, 0, 2, 1, 0, 1];
        match route_type {
            5 => {
                raw.put_u8(5);
                raw.put_u8(34);
                raw.put_slice(&rd);
                raw.put_slice(&[0; 10]); // ESI
                raw.put_u32(0); // Ethernet tag
                raw.put_u8(24);
                raw.put_slice(&[10, (i >> 8) as u8, i as u8, 0]);
                raw.put_slice(&[0; 4]); // gateway
                raw.put_slice(&[0, 0x03, 0xe8]); // VNI 1000
            }
            _ => {
                raw.put_u8(2);
                raw.put_u8(40);
                raw.put_slice(&rd);
                raw.put_slice(&[0; 10]);
                raw.put_u32(0);
                raw.put_u8(48);
                raw.put_slice(&[0x02, 0, 0, 0, (i >> 8) as u8, i as u8]);
                raw.put_u8(32);
                raw.put_slice(&[198, 51, (i >> 8) as u8, i as u8]);
                raw.put_slice(&[0, 0, 10]); // L2VNI 10
                raw.put_slice(&[0, 0x03, 0xe8]); // L3VNI 1000
            }
        }
    }
    let nlri = NlriBlock::parse(AfiSafi::L2VPN_EVPN, false, raw.freeze()).unwrap();
    let attrs = PathAttributes::new()
        .with(AttributeValue::MpReach(MpReach {
            family: AfiSafi::L2VPN_EVPN,
            next_hop: NextHop::V4(Ipv4Addr::new(198, 51, 100, 1)),
            reserved: 0,
            nlri,
        }))
        .with(AttributeValue::Origin(Origin::Igp))
        .with(AttributeValue::AsPath(AsPath::sequence([4200000001])))
        .with(AttributeValue::ExtendedCommunities(vec![
            ExtendedCommunity([0x03, 0x0c, 0, 0, 0, 0, 0, 8]),
            ExtendedCommunity([0x00, 0x02, 0xea, 0x01, 0, 0, 0x03, 0xe8]),
            ExtendedCommunity([0x06, 0x03, 0x02, 0xaa, 0, 0, 0, 0x10]),
        ]));
    let u = Update {
        attributes: attrs,
        ..Update::empty()
    };
    (ctx.clone(), Message::Update(u).to_bytes(&ctx).unwrap())
}

fn parse_and_iterate(bytes: &Bytes, ctx: &WireContext) -> usize {
    let (m, _) = Message::parse(bytes, ctx).unwrap();
    let Message::Update(u) = m else {
        unreachable!()
    };
    iterate(&u)
}

fn iterate(u: &Update) -> usize {
    let mut n = 0usize;
    for b in u.announced() {
        if b.kind == AfiSafi::L2VPN_EVPN {
            for r in b.evpn_routes() {
                black_box(&r);
                n += 1;
            }
        } else {
            for p in b.iter() {
                black_box(p);
                n += 1;
            }
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let cases = [
        ("ipv4_unicast_1", ipv4_update(1), 1usize),
        ("ipv4_unicast_500", ipv4_update(500), 500),
        ("evpn_type5_110", evpn_update(5, 110), 110),
        ("evpn_type2_95", evpn_update(2, 95), 95),
    ];
    let mut g = c.benchmark_group("wire");
    for (name, (ctx, bytes), n) in &cases {
        eprintln!("{name}: {} bytes, {n} NLRI", bytes.len());
        assert_eq!(parse_and_iterate(bytes, ctx), *n);
        g.throughput(Throughput::Elements(*n as u64));
        g.bench_function(format!("parse_iterate/{name}"), |b| {
            b.iter(|| parse_and_iterate(black_box(bytes), ctx))
        });
        g.bench_function(format!("parse/{name}"), |b| {
            b.iter(|| Message::parse(black_box(bytes), ctx).unwrap())
        });
        let (m, _) = Message::parse(bytes, ctx).unwrap();
        let Message::Update(u) = &m else {
            unreachable!()
        };
        g.bench_function(format!("iterate/{name}"), |b| {
            b.iter(|| iterate(black_box(u)))
        });
        let mut out = BytesMut::with_capacity(8192);
        g.bench_function(format!("emit/{name}"), |b| {
            b.iter(|| {
                out.clear();
                black_box(&m).emit(ctx, &mut out).unwrap();
                black_box(out.len())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
