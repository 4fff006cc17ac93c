//! Criterion benchmarks of the RIB's hot paths. Speed targets (≤1 µs per route through the
//! RIB) are checked here and in `examples/scale.rs`, never in unit tests.
//!
//! `cargo bench -p perouter-rib --bench rib -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ipnet::{IpNet, Ipv4Net};
use perouter_evpn::derive::frr_auto_route_target;
use perouter_evpn::{EthernetTag, EvpnRoute, IpPrefixRoute, Label, MacAddress, RouteDistinguisher};
use perouter_rib::attrs::ext;
use perouter_rib::best_path::{select, MultipathConfig as Mp, Rank};
use perouter_rib::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn rib() -> Rib {
    Rib::new(RibConfig {
        asn: 64514,
        router_id: Ipv4Addr::new(10, 0, 0, 1),
        vtep: ip("100.65.0.1"),
        multipath: MultipathConfig::default(),
        default_networks: vec![],
        cluster_id: None,
    })
}

fn fabric(asn: u32, addr: &str) -> PeerConfig {
    PeerConfig {
        role: PeerRole::Fabric,
        local_asn: 64514,
        remote_asn: asn,
        remote_address: ip(addr),
        local_address: ip("192.0.2.1"),
        remote_router_id: Ipv4Addr::new(10, 0, 1, 1),
        families: vec![Family::Ipv4Unicast, Family::L2vpnEvpn],
        route_reflector_client: false,
        allowas_in: 0,
    }
}

fn prefix(i: u32) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::from((1u32 << 24) + (i << 8)), 24).unwrap()
}

fn bench_best_path(c: &mut Criterion) {
    let paths: Vec<AsPath> = (0..4)
        .map(|i| AsPath::sequence([65000, 65100 + i]))
        .collect();
    let ranks: Vec<Rank<'_>> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| Rank {
            local_pref: 100,
            local: false,
            as_path: p,
            origin: Origin::Igp,
            med: i as u32 % 2,
            neighbor_as: perouter_rib::attrs::neighbor_as(p),
            ebgp: true,
            router_id: Ipv4Addr::new(10, 0, 0, i as u8),
            cluster_len: 0,
            peer_addr: Some(IpAddr::from([192, 0, 2, i as u8])),
            tiebreak: i as u64,
        })
        .collect();
    let mut out = Vec::new();
    c.bench_function("best_path/select_4_paths", |b| {
        b.iter(|| select(black_box(&ranks), |_| true, Mp::default(), &mut out))
    });
}

fn bench_unicast(c: &mut Criterion) {
    let mut g = c.benchmark_group("rib");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("ipv4_update_1000_nlri_in_and_out", |b| {
        b.iter_batched(
            || {
                let mut r = rib();
                let a = r.handle_peer_up(fabric(65001, "192.0.2.2")).unwrap();
                let o = r.handle_peer_up(fabric(65002, "192.0.2.6")).unwrap();
                while r.poll_adj_out(o, 10_000).is_some() {}
                let u = RouteUpdate {
                    attrs: PathAttrs {
                        as_path: AsPath::sequence([65001]),
                        next_hop: Some(ip("192.0.2.2")),
                        ..Default::default()
                    },
                    announced: (0..1000).map(|i| Nlri::V4(prefix(i))).collect(),
                    withdrawn: vec![],
                    path_id: 0,
                };
                (r, a, o, u)
            },
            |(mut r, a, o, u)| {
                r.handle_update(a, u).unwrap();
                let mut n = 0;
                while let Some(b) = r.poll_adj_out(o, 4096) {
                    n += b.len();
                }
                let mut fib = Vec::new();
                r.poll_forwarding(&mut fib, usize::MAX);
                (n, fib.len(), r)
            },
            BatchSize::LargeInput,
        )
    });
    g.throughput(Throughput::Elements(110));
    g.bench_function("type5_update_110_nlri_import_to_host", |b| {
        let rd: RouteDistinguisher = "100.64.0.2:2".parse().unwrap();
        b.iter_batched(
            || {
                let mut r = rib();
                r.handle_vrf(VrfConfig {
                    id: VrfId(1),
                    name: "red".into(),
                    l3vni: 100,
                    router_mac: MacAddress([2, 0, 0, 0, 1, 0]),
                    rd: None,
                    rd_index: 1,
                    import_rts: vec![],
                    export_rts: vec![],
                    networks: vec![],
                });
                let tor = r.handle_peer_up(fabric(65000, "192.0.2.2")).unwrap();
                let mut host = fabric(64515, "192.168.10.3");
                host.role = PeerRole::Host(VrfId(1));
                let h = r.handle_peer_up(host).unwrap();
                r.handle_connected("100.64.0.0/16".parse().unwrap(), true);
                while r.poll_adj_out(h, 10_000).is_some() {}
                let u = RouteUpdate {
                    attrs: PathAttrs {
                        as_path: AsPath::sequence([65000, 65101]),
                        next_hop: Some(ip("100.64.0.2")),
                        ext_communities: Box::new([
                            frr_auto_route_target(65101, 100).into(),
                            ext::encapsulation_vxlan(),
                            ext::router_mac(MacAddress([2, 0xaa, 0, 0, 0, 2])),
                        ]),
                        ..Default::default()
                    },
                    announced: (0..110)
                        .map(|i| {
                            Nlri::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute::without_gateway(
                                rd,
                                Default::default(),
                                EthernetTag(0),
                                IpNet::V4(prefix(i)),
                                Label::from_vni(100),
                            )))
                        })
                        .collect(),
                    withdrawn: vec![],
                    path_id: 0,
                };
                (r, tor, h, u)
            },
            |(mut r, tor, h, u)| {
                r.handle_update(tor, u).unwrap();
                let mut n = 0;
                while let Some(b) = r.poll_adj_out(h, 4096) {
                    n += b.len();
                }
                let mut fib = Vec::new();
                r.poll_forwarding(&mut fib, usize::MAX);
                (n, fib.len(), r)
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_best_path, bench_unicast);
criterion_main!(benches);
