//! The routing task's forwarding bookkeeping on a big VRF: `apply_delta` for 20k type-5 routes
//! over 4 VTEPs added, then withdrawn (what a converging or withdrawing fabric sends).

use std::collections::BTreeMap;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use perouter_agent::runtime::compact_routes::CompactRoutes;
use perouter_agent::runtime::routing::{apply_delta, VtepRefs};
use perouter_fib::{ForwardingKeys, ForwardingState};
use perouter_rib::{FibTable, ForwardingDelta, NextHop, RouteOp, VrfId};

const ROUTES: u32 = 20_000;

fn deltas(op: impl Fn(u32) -> RouteOp) -> Vec<ForwardingDelta> {
    (0..ROUTES)
        .map(|i| ForwardingDelta::Route {
            table: FibTable::Vrf(VrfId(100)),
            prefix: format!("10.{}.{}.0/24", i >> 8, i & 0xff).parse().unwrap(),
            op: op(i),
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let tables: BTreeMap<VrfId, (String, u32)> = [(VrfId(100), ("red".to_string(), 1100))].into();
    let add = deltas(|i| {
        let vtep: IpAddr = format!("100.64.0.{}", 1 + i % 4).parse().unwrap();
        RouteOp::Add(vec![NextHop::Vxlan {
            vtep,
            vni: 100,
            router_mac: "aa:bb:cc:00:00:64".parse().unwrap(),
        }])
    });
    let del = deltas(|_| RouteOp::Delete);
    let mut g = c.benchmark_group("forwarding_20k_vrf_routes");
    g.throughput(Throughput::Elements(u64::from(ROUTES) * 2));
    g.sample_size(10);
    g.bench_function("add_then_withdraw", |b| {
        b.iter(|| {
            let mut fwd = ForwardingState::default();
            let mut compact = CompactRoutes::default();
            let mut refs = VtepRefs::default();
            let mut keys = ForwardingKeys::default();
            for d in add.iter().chain(del.iter()) {
                apply_delta(
                    &mut fwd,
                    &mut compact,
                    &mut refs,
                    &mut keys,
                    &tables,
                    d.clone(),
                );
            }
            assert!(fwd.vrf_routes[&100].router_macs.is_empty());
            fwd
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
