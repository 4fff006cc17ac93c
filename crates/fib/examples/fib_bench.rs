//! Datapath benchmarks on the real kernel, in namespaces of their own (root needed).
//!
//! `fib_bench routes --count 100000`: install then withdraw N /24 type-5 routes
//! (`via <VTEP> dev br-pe-100 onlink`, table 100) through the batched programmer, and the same
//! with `ip -batch` (gateway routes, and nexthop objects `nhid`) in fresh namespaces of the same
//! run; prints routes/s and the ratios.
//!
//! `fib_bench node --vnis 50`: time to build a node with N L3VNIs from nothing, and the time and
//! message count of a no-op reconcile of it (needs VRF: run in the guest, see
//! `tests/guest/run.sh --bench`).

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant};

use perouter_fib::desired::{HostLeg, L2Vni, L3Vni, NodeDatapath, VethAddresses, VrfRoutes};
use perouter_fib::netns::NetnsGuard;
use perouter_fib::{Datapath, DatapathConfig, ForwardingState, MacAddress};

fn ns(tag: &str) -> NetnsGuard {
    NetnsGuard::create(&format!("pfb{tag}{}", std::process::id())).expect("create netns (root?)")
}

fn sh(args: &[&str]) {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn prefix(i: u32) -> String {
    // 10.0.0.0/24, 10.0.1.0/24, ... spread over 10/8 .. 11/8 etc.
    let a = 10 + (i >> 16);
    format!("{a}.{}.{}.0/24", (i >> 8) & 0xff, i & 0xff)
}

fn l2_carrier(router: &str) -> NodeDatapath {
    let mut d = NodeDatapath::new(router);
    d.vteps = vec!["100.65.0.1/32".parse().unwrap()];
    d.l2vnis = vec![L2Vni {
        vni: 100,
        vxlan_port: 4789,
        local_vtep: "100.65.0.1".parse().unwrap(),
        vrf: None,
        gateway_ips: vec![],
        host_leg: HostLeg::Bare,
        mtu: None,
    }];
    d
}

fn rate(n: u32, d: Duration) -> String {
    format!(
        "{:>8.2} s  {:>9.0} routes/s",
        d.as_secs_f64(),
        n as f64 / d.as_secs_f64()
    )
}

fn fib_sync_mem(enabled: bool) {
    // performance.md: a larger fib_sync_mem nearly doubles the install rate. It is a global
    // sysctl (not per namespace), so it is only raised on request (`--fib-sync-mem`), for every
    // contender alike.
    if enabled {
        let _ = std::fs::write("/proc/sys/net/core/fib_sync_mem", "67108864");
    }
}

/// Kernel slab memory (`Slab:` of /proc/meminfo), bytes: what the kernel's route tables grow.
fn slab_bytes() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Slab:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// What one contender's run measured.
struct Run {
    install: Duration,
    withdraw: Duration,
    messages: u64,
    sends: u64,
    /// Slab growth per installed route, bytes.
    slab_per_route: i64,
    /// Moving every route to another gateway: time and messages.
    repoint: Option<(Duration, u64)>,
}

fn bench_ours(n: u32, objects: bool) -> Run {
    let host = ns(if objects { "oh" } else { "gh" });
    let router = ns(if objects { "o" } else { "g" });
    let d = l2_carrier(router.name());
    let cfg = DatapathConfig {
        host_netns: Some(host.name().into()),
        nexthop_objects: objects,
        ..Default::default()
    };
    let mut dp = Datapath::open(router.name(), cfg).unwrap();
    dp.reconcile(&d, &ForwardingState::default()).unwrap();
    let mut f = ForwardingState::default();
    let vtep: IpAddr = "100.65.0.2".parse().unwrap();
    let mut vr = VrfRoutes {
        table: 100,
        ..Default::default()
    };
    vr.router_macs
        .insert(vtep, MacAddress([0xaa, 0, 0, 0, 0, 2]));
    for i in 0..n {
        vr.routes.insert(prefix(i).parse().unwrap(), [vtep].into());
    }
    f.vrf_routes.insert(100, vr);
    let slab = slab_bytes();
    let t = Instant::now();
    let rep = dp.reconcile(&d, &f).unwrap();
    let install = t.elapsed();
    let slab_per_route = (slab_bytes() - slab) / i64::from(n.max(1));
    assert!(
        rep.apply.failures.is_empty(),
        "{:?}",
        rep.apply.failures.first()
    );
    let with_nhid = rep
        .plan
        .ops
        .iter()
        .filter(|o| matches!(o, perouter_fib::Op::ReplaceRouteNh { .. }))
        .count();
    assert_eq!(
        with_nhid > 0,
        objects,
        "routes through nexthop objects only when asked"
    );
    let (messages, sends) = (rep.apply.messages_sent, rep.apply.sends);
    let t = Instant::now();
    let noop = dp.reconcile(&d, &f).unwrap();
    eprintln!(
        "  no-op reconcile with {n} routes: {:.3} s, {} ops, {} messages",
        t.elapsed().as_secs_f64(),
        noop.plan.ops.len(),
        noop.apply.messages_sent
    );
    // Every route moves to another VTEP.
    let vtep2: IpAddr = "100.65.0.3".parse().unwrap();
    let vr = f.vrf_routes.get_mut(&100).unwrap();
    vr.router_macs.clear();
    vr.router_macs
        .insert(vtep2, MacAddress([0xaa, 0, 0, 0, 0, 3]));
    for hops in vr.routes.values_mut() {
        *hops = [vtep2].into();
    }
    let t = Instant::now();
    let rep = dp.reconcile(&d, &f).unwrap();
    let repoint = Some((t.elapsed(), rep.apply.messages_sent));
    assert!(
        rep.apply.failures.is_empty(),
        "{:?}",
        rep.apply.failures.first()
    );
    let t = Instant::now();
    let rep = dp.reconcile(&d, &ForwardingState::default()).unwrap();
    let withdraw = t.elapsed();
    assert!(
        rep.apply.failures.is_empty(),
        "{:?}",
        rep.apply.failures.first()
    );
    Run {
        install,
        withdraw,
        messages,
        sends,
        slab_per_route,
        repoint,
    }
}

fn bench_ip_batch(n: u32, nhid: bool) -> Run {
    // The same devices as for our run, built the same way.
    let host = ns(if nhid { "nh" } else { "ih" });
    let router = ns(if nhid { "n" } else { "i" });
    let r = router.name();
    let cfg = DatapathConfig {
        host_netns: Some(host.name().into()),
        ..Default::default()
    };
    let mut dp = Datapath::open(r, cfg).unwrap();
    dp.reconcile(&l2_carrier(r), &ForwardingState::default())
        .unwrap();
    drop(dp);
    let mut add = String::with_capacity(n as usize * 80);
    if nhid {
        add.push_str("nexthop add id 1 via 100.65.0.2 dev br-pe-100 onlink\n");
    }
    for i in 0..n {
        if nhid {
            writeln!(
                add,
                "route add {} nhid 1 table 100 proto bgp metric 20",
                prefix(i)
            )
            .unwrap();
        } else {
            writeln!(
                add,
                "route add {} via 100.65.0.2 dev br-pe-100 onlink table 100 proto bgp metric 20",
                prefix(i)
            )
            .unwrap();
        }
    }
    let mut del = String::with_capacity(n as usize * 40);
    for i in (0..n).rev() {
        writeln!(del, "route del {} table 100", prefix(i)).unwrap();
    }
    let dir = std::env::temp_dir();
    let (fa, fd) = (dir.join(format!("{r}.add")), dir.join(format!("{r}.del")));
    std::fs::write(&fa, add).unwrap();
    std::fs::write(&fd, del).unwrap();
    let slab = slab_bytes();
    let t = Instant::now();
    sh(&["ip", "-n", r, "-batch", fa.to_str().unwrap()]);
    let install = t.elapsed();
    let slab_per_route = (slab_bytes() - slab) / i64::from(n.max(1));
    let t = Instant::now();
    sh(&["ip", "-n", r, "-batch", fd.to_str().unwrap()]);
    let withdraw = t.elapsed();
    let _ = std::fs::remove_file(fa);
    let _ = std::fs::remove_file(fd);
    Run {
        install,
        withdraw,
        messages: u64::from(n),
        sends: 0,
        slab_per_route,
        repoint: None,
    }
}

fn routes(n: u32, sync_mem: bool) {
    fib_sync_mem(sync_mem);
    println!(
        "{n} /24 routes into table 100 of a fresh namespace, kernel {}",
        kernel()
    );
    let runs = [
        ("perouter-fib, nexthop objects ", bench_ours(n, true)),
        ("perouter-fib, per-route gateway", bench_ours(n, false)),
        ("ip -batch, per-route gateway   ", bench_ip_batch(n, false)),
        ("ip -batch, one nhid            ", bench_ip_batch(n, true)),
    ];
    for (what, r) in &runs {
        println!(
            "  {what} install  {}  ({} messages, {} sends), kernel slab {} B/route",
            rate(n, r.install),
            r.messages,
            r.sends,
            r.slab_per_route
        );
        println!("  {what} withdraw {}", rate(n, r.withdraw));
        if let Some((t, m)) = r.repoint {
            println!(
                "  {what} move every route to another gateway: {:.3} s, {m} messages",
                t.as_secs_f64()
            );
        }
    }
    let nhid_batch = runs[3].1.install.as_secs_f64();
    println!(
        "  install time / ip -batch nhid time: objects {:.2}x, per-route {:.2}x (lower is better)",
        runs[0].1.install.as_secs_f64() / nhid_batch,
        runs[1].1.install.as_secs_f64() / nhid_batch,
    );
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string()
}

fn node(vnis: u32) {
    let host = ns("h");
    let router = NetnsGuard::adopt(&format!("pfbr{}", std::process::id()));
    let mut d = NodeDatapath::new(router.name());
    d.vteps = vec!["100.65.0.1/32".parse().unwrap()];
    for i in 0..vnis {
        let net = Ipv4Addr::new(192, 169, i as u8, 0);
        d.l3vnis.push(L3Vni {
            vrf: format!("vrf{i}"),
            table: 1000 + i,
            vni: 100 + i,
            vxlan_port: 4789,
            local_vtep: "100.65.0.1".parse().unwrap(),
            addresses: VethAddresses {
                host: vec![format!("{}/24", Ipv4Addr::from(u32::from(net) + 2))
                    .parse()
                    .unwrap()],
                router: vec![format!("{}/24", Ipv4Addr::from(u32::from(net) + 1))
                    .parse()
                    .unwrap()],
            },
            mtu: Some(1450),
            router_mac: None,
        });
    }
    let cfg = DatapathConfig {
        host_netns: Some(host.name().into()),
        ..Default::default()
    };
    let mut dp = Datapath::open(router.name(), cfg).unwrap();
    let f = ForwardingState::default();
    let t = Instant::now();
    let rep = dp.reconcile(&d, &f).unwrap();
    let build = t.elapsed();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    let t = Instant::now();
    let noop = dp.reconcile(&d, &f).unwrap();
    let idle = t.elapsed();
    println!(
        "node with {vnis} L3VNIs, kernel {}: built from nothing in {:.3} s ({} ops, {} messages, {} sends); \
         no-op reconcile {:.3} s, {} ops, {} messages",
        kernel(),
        build.as_secs_f64(),
        rep.plan.ops.len(),
        rep.apply.messages_sent,
        rep.apply.sends,
        idle.as_secs_f64(),
        noop.plan.ops.len(),
        noop.apply.messages_sent
    );
    assert!(noop.plan.ops.is_empty());
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let num = |flag: &str, default: u32| -> u32 {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    match args.get(1).map(String::as_str) {
        Some("routes") => routes(
            num("--count", 100_000),
            args.iter().any(|a| a == "--fib-sync-mem"),
        ),
        Some("node") => node(num("--vnis", 50)),
        _ => {
            eprintln!("usage: fib_bench routes [--count N] [--fib-sync-mem] | node [--vnis N]");
            std::process::exit(2);
        }
    }
}
