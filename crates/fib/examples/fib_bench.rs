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

fn bench_ours(n: u32) -> (Duration, Duration, u64, u64) {
    let host = ns("h");
    let router = ns("r");
    let d = l2_carrier(router.name());
    let cfg = DatapathConfig {
        host_netns: Some(host.name().into()),
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
    let t = Instant::now();
    let rep = dp.reconcile(&d, &f).unwrap();
    let install = t.elapsed();
    assert!(
        rep.apply.failures.is_empty(),
        "{:?}",
        rep.apply.failures.first()
    );
    let (msgs, sends) = (rep.apply.messages_sent, rep.apply.sends);
    let t = Instant::now();
    let noop = dp.reconcile(&d, &f).unwrap();
    eprintln!(
        "  no-op reconcile with {n} routes: {:.3} s, {} ops, {} messages",
        t.elapsed().as_secs_f64(),
        noop.plan.ops.len(),
        noop.apply.messages_sent
    );
    let t = Instant::now();
    let rep = dp.reconcile(&d, &ForwardingState::default()).unwrap();
    let withdraw = t.elapsed();
    assert!(
        rep.apply.failures.is_empty(),
        "{:?}",
        rep.apply.failures.first()
    );
    (install, withdraw, msgs, sends)
}

fn bench_ip_batch(n: u32, nhid: bool) -> (Duration, Duration) {
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
    let t = Instant::now();
    sh(&["ip", "-n", r, "-batch", fa.to_str().unwrap()]);
    let install = t.elapsed();
    let t = Instant::now();
    sh(&["ip", "-n", r, "-batch", fd.to_str().unwrap()]);
    let withdraw = t.elapsed();
    let _ = std::fs::remove_file(fa);
    let _ = std::fs::remove_file(fd);
    (install, withdraw)
}

fn routes(n: u32, sync_mem: bool) {
    fib_sync_mem(sync_mem);
    println!(
        "{n} /24 routes into table 100 of a fresh namespace, kernel {}",
        kernel()
    );
    let (oi, ow, msgs, sends) = bench_ours(n);
    let (gi, gw) = bench_ip_batch(n, false);
    let (ni, nw) = bench_ip_batch(n, true);
    println!(
        "  perouter-fib install  {}  ({msgs} messages in {sends} sends)",
        rate(n, oi)
    );
    println!("  perouter-fib withdraw {}", rate(n, ow));
    println!("  ip -batch    install  {}  (gateway routes)", rate(n, gi));
    println!("  ip -batch    withdraw {}", rate(n, gw));
    println!("  ip -batch    install  {}  (nhid)", rate(n, ni));
    println!("  ip -batch    withdraw {}  (nhid)", rate(n, nw));
    let best_i = gi.min(ni);
    let best_w = gw.min(nw);
    println!(
        "  ratio vs best ip -batch: install {:.0}%, withdraw {:.0}% (higher is better)",
        100.0 * best_i.as_secs_f64() / oi.as_secs_f64(),
        100.0 * best_w.as_secs_f64() / ow.as_secs_f64()
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
