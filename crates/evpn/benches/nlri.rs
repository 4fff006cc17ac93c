//! Parse and emit of 1000-route EVPN NLRI buffers (type-5 IPv4 and type-2
//! MAC+IPv4 with two labels, as FRR sends them). Throughput is reported per
//! route: time per iteration / 1000 = ns per route.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ipnet::{IpNet, Ipv4Net};
use perouter_evpn::{
    Esi, EthernetTag, EvpnNlriIter, EvpnRoute, IpPrefixRoute, Label, MacAddress, MacIpRoute,
    RouteDistinguisher,
};

const ROUTES: usize = 1000;

fn type5_routes() -> Vec<EvpnRoute> {
    (0..ROUTES as u32)
        .map(|i| {
            let prefix = Ipv4Net::new(Ipv4Addr::from(0x0a00_0000 | (i << 8)), 24).unwrap();
            EvpnRoute::IpPrefix(IpPrefixRoute::without_gateway(
                RouteDistinguisher::Ipv4 {
                    addr: Ipv4Addr::new(192, 0, 2, 1),
                    number: 1,
                },
                Esi::ZERO,
                EthernetTag(0),
                IpNet::V4(prefix),
                Label::from_vni(1000),
            ))
        })
        .collect()
}

fn type2_routes() -> Vec<EvpnRoute> {
    (0..ROUTES as u32)
        .map(|i| {
            let b = i.to_be_bytes();
            EvpnRoute::MacIp(MacIpRoute {
                rd: RouteDistinguisher::Ipv4 {
                    addr: Ipv4Addr::new(192, 0, 2, 1),
                    number: 2,
                },
                esi: Esi([3, 0x44, 0x38, 0x39, 0xff, 0xff, 1, 0, 0, 1]),
                ethernet_tag: EthernetTag(0),
                mac: MacAddress([0x02, 0, b[0], b[1], b[2], b[3]]),
                ip: Some(IpAddr::V4(Ipv4Addr::from(0xc633_0000 | i))),
                label1: Label::from_vni(10),
                label2: Some(Label::from_vni(1000)),
            })
        })
        .collect()
}

fn encode(routes: &[EvpnRoute]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in routes {
        r.emit(&mut out);
    }
    out
}

fn bench(c: &mut Criterion) {
    for (name, routes) in [
        ("type5_ipv4", type5_routes()),
        ("type2_mac_ipv4", type2_routes()),
    ] {
        let buf = encode(&routes);
        let mut g = c.benchmark_group(format!("evpn_nlri/{name}"));
        g.throughput(Throughput::Elements(ROUTES as u64));
        g.bench_function("parse_1000", |b| {
            b.iter(|| {
                let mut n = 0usize;
                for r in EvpnNlriIter::new(black_box(&buf)) {
                    black_box(r.unwrap());
                    n += 1;
                }
                assert_eq!(n, ROUTES);
            })
        });
        g.bench_function("emit_1000", |b| {
            let mut out = Vec::with_capacity(buf.len());
            b.iter(|| {
                out.clear();
                for r in black_box(&routes) {
                    r.emit(&mut out);
                }
                black_box(out.len())
            })
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
