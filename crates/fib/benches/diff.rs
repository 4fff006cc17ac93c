//! The pure diff on big forwarding tables: planning 100k type-5 routes from nothing, and the
//! no-op diff of a converged 100k-route table (the CPU part of a periodic reconcile).

use std::collections::BTreeSet;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, Criterion};
use perouter_fib::desired::{HostLeg, L2Vni, NodeDatapath, VrfRoutes};
use perouter_fib::observed::{NamespaceState, ObservedNextHop, ObservedRoute};
use perouter_fib::{diff, ForwardingState, MacAddress, ObservedNode};

fn setup(n: u32) -> (NodeDatapath, ForwardingState, ObservedNode, ObservedNode) {
    let mut d = NodeDatapath::new("perouter");
    d.l2vnis.push(L2Vni {
        vni: 100,
        vxlan_port: 4789,
        local_vtep: "100.65.0.1".parse().unwrap(),
        vrf: None,
        gateway_ips: vec![],
        host_leg: HostLeg::Bare,
        mtu: None,
    });
    let vtep: IpAddr = "100.65.0.2".parse().unwrap();
    let mut vr = VrfRoutes {
        table: 100,
        ..Default::default()
    };
    vr.router_macs
        .insert(vtep, MacAddress([0xaa, 0, 0, 0, 0, 2]));
    for i in 0..n {
        let p = format!("{}.{}.{}.0/24", 10 + (i >> 16), (i >> 8) & 0xff, i & 0xff);
        vr.routes.insert(p.parse().unwrap(), [vtep].into());
    }
    let mut f = ForwardingState::default();
    f.vrf_routes.insert(100, vr.clone());
    // Observed: empty forwarding, and converged forwarding, with the devices present.
    let empty = ObservedNode::default();
    let plan = diff(&d, &ForwardingState::default(), &empty).unwrap();
    let _ = plan;
    let mut router = NamespaceState::fresh();
    let mut br = router.links["lo"].clone();
    br.name = "br-pe-100".into();
    br.ifindex = 7;
    router.links.insert(br.name.clone(), br);
    let base = ObservedNode {
        host: NamespaceState::default(),
        router: Some(router.clone()),
    };
    for p in vr.routes.keys() {
        let hops: BTreeSet<ObservedNextHop> = [ObservedNextHop {
            gateway: Some(vtep),
            oif: 7,
            onlink: true,
        }]
        .into();
        router.routes.insert(
            (100, *p),
            ObservedRoute {
                nexthops: hops,
                nhid: None,
                metric: perouter_fib::desired::ROUTE_METRIC,
            },
        );
    }
    let converged = ObservedNode {
        host: NamespaceState::default(),
        router: Some(router),
    };
    (d, f, base, converged)
}

fn bench(c: &mut Criterion) {
    let (d, f, base, converged) = setup(100_000);
    c.bench_function("diff_plan_100k_routes", |b| {
        b.iter(|| diff(&d, &f, &base).unwrap().ops.len())
    });
    c.bench_function("diff_converged_100k_routes", |b| {
        b.iter(|| {
            let p = diff(&d, &f, &converged).unwrap();
            // The bridge/vxlan devices are not modelled in full here; count only route ops.
            p.ops
                .iter()
                .filter(|o| matches!(o, perouter_fib::Op::ReplaceRoute { .. }))
                .count()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
