//! Scale run: 1M IPv4 routes in from one peer and out to another; 1M EVPN type-5 routes
//! imported into a VRF and translated to its host session. Reports time per route and bytes
//! per route (live heap measured with a counting global allocator), for one attribute set and
//! for about 2.6 routes per attribute set (FRR #5443's realistic ratio).
//!
//! Times are process CPU time. Run:
//! `cargo run --release -p perouter-rib --example scale [-- ROUTES]`

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicIsize, Ordering};

use ipnet::{IpNet, Ipv4Net};
use perouter_evpn::derive::frr_auto_route_target;
use perouter_evpn::{EthernetTag, EvpnRoute, IpPrefixRoute, Label, MacAddress, RouteDistinguisher};
use perouter_rib::attrs::ext;
use perouter_rib::*;

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(l) };
        if !p.is_null() {
            let now = LIVE.fetch_add(l.size() as isize, Ordering::Relaxed) + l.size() as isize;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) };
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, l, new) };
        if !q.is_null() {
            let now = LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed)
                + new as isize
                - l.size() as isize;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        q
    }
}

#[global_allocator]
static A: Counting = Counting;

/// CPU time of this process (the machine is shared, so wall time overstates).
fn cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

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

fn fabric(asn: u32, addr: &str, fam: Vec<Family>) -> PeerConfig {
    PeerConfig {
        role: PeerRole::Fabric,
        local_asn: 64514,
        remote_asn: asn,
        remote_address: ip(addr),
        local_address: ip("192.0.2.1"),
        remote_router_id: Ipv4Addr::new(10, 0, 1, (asn % 250) as u8),
        families: fam,
        route_reflector_client: false,
        allowas_in: 0,
    }
}

/// Length of the UPDATE starting at route `i`: consecutive routes sharing an attribute set,
/// at most `cap` (what fits in a 4 KiB UPDATE).
fn run(i: u32, routes: u32, cap: u32, set_of: impl Fn(u32) -> u32) -> u32 {
    let s = set_of(i);
    let mut n = 1;
    while n < cap && i + n < routes && set_of(i + n) == s {
        n += 1;
    }
    n
}

fn prefix(i: u32) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::from((1u32 << 24) + (i << 8)), 24).unwrap()
}

struct Report {
    name: String,
    routes: u32,
    sets: u32,
    secs_in: f64,
    secs_out: f64,
    bytes: isize,
    peak: isize,
    out_nlri: usize,
    fib: usize,
}

fn print(r: &Report) {
    let n = f64::from(r.routes);
    println!(
        "{:<34} routes {:>8}  attr sets {:>7}  in {:>6.3} s  out {:>6.3} s  => {:>5.0} ns/route  {:>5.0} B/route (peak {:>5.0} B/route)  sent {} NLRI, {} FIB deltas",
        r.name,
        r.routes,
        r.sets,
        r.secs_in,
        r.secs_out,
        (r.secs_in + r.secs_out) * 1e9 / n,
        r.bytes as f64 / n,
        r.peak as f64 / n,
        r.out_nlri,
        r.fib
    );
}

/// 1M IPv4 routes from peer A into the default table, out to peer B and to the FIB.
fn unicast(routes: u32, sets: u32) -> Report {
    let mut rib = rib();
    let a = rib
        .handle_peer_up(fabric(65001, "192.0.2.2", vec![Family::Ipv4Unicast]))
        .unwrap();
    let b = rib
        .handle_peer_up(fabric(65002, "192.0.2.6", vec![Family::Ipv4Unicast]))
        .unwrap();
    while rib.poll_adj_out(b, 10_000).is_some() {}
    let mut sink = Vec::new();
    rib.poll_forwarding(&mut sink, usize::MAX);
    sink = Vec::new();
    let base = live();
    PEAK.store(base, Ordering::Relaxed);
    let t0 = cpu();
    // One UPDATE per attribute set, at most ~1000 NLRI each (a 4 KiB UPDATE holds ~1000 /24s).
    let set_of = |k: u32| (u64::from(k) * u64::from(sets) / u64::from(routes)) as u32;
    let mut i = 0;
    while i < routes {
        let n = run(i, routes, 1000, set_of);
        let attrs = PathAttrs {
            as_path: AsPath::sequence([65001, 65100]),
            next_hop: Some(ip("192.0.2.2")),
            med: Some(set_of(i)),
            ..Default::default()
        };
        let announced = (i..i + n).map(|k| Nlri::V4(prefix(k))).collect();
        rib.handle_update(
            a,
            RouteUpdate {
                attrs,
                announced,
                withdrawn: vec![],
                path_id: 0,
            },
        )
        .unwrap();
        i += n;
    }
    let t1 = cpu();
    let mut out_nlri = 0;
    while let Some(batch) = rib.poll_adj_out(b, 4096) {
        out_nlri += batch.len();
    }
    let mut fib = 0;
    loop {
        sink.clear();
        let n = rib.poll_forwarding(&mut sink, 4096);
        if n == 0 {
            break;
        }
        fib += n;
    }
    let t2 = cpu();
    drop(sink);
    rib.purge();
    let bytes = live() - base;
    let r = Report {
        name: format!(
            "ipv4 A->B, {:.1} routes/set",
            f64::from(routes) / f64::from(sets)
        ),
        routes,
        sets,
        secs_in: t1 - t0,
        secs_out: t2 - t1,
        bytes,
        peak: PEAK.load(Ordering::Relaxed) - base,
        out_nlri,
        fib,
    };
    drop(rib);
    r
}

/// 1M type-5 routes from the fabric imported into VRF red and sent to its host session.
fn type5(routes: u32, sets: u32) -> Report {
    let mut rib = rib();
    let red = VrfId(100);
    rib.handle_vrf(VrfConfig {
        id: red,
        name: "red".into(),
        l3vni: 100,
        router_mac: MacAddress([2, 0, 0, 0, 1, 0]),
        rd: None,
        rd_index: 1,
        import_rts: vec![],
        export_rts: vec![],
        networks: vec![],
    });
    let tor = rib
        .handle_peer_up(fabric(
            65000,
            "192.0.2.2",
            vec![Family::Ipv4Unicast, Family::L2vpnEvpn],
        ))
        .unwrap();
    let host = rib
        .handle_peer_up(PeerConfig {
            role: PeerRole::Host(red),
            local_asn: 64514,
            remote_asn: 64515,
            remote_address: ip("192.168.10.3"),
            local_address: ip("192.168.10.2"),
            remote_router_id: Ipv4Addr::new(192, 168, 10, 3),
            families: vec![Family::Ipv4Unicast],
            route_reflector_client: false,
            allowas_in: 0,
        })
        .unwrap();
    rib.handle_update(
        tor,
        RouteUpdate {
            attrs: PathAttrs {
                as_path: AsPath::sequence([65000]),
                next_hop: Some(ip("192.0.2.2")),
                ..Default::default()
            },
            announced: vec![Nlri::V4("100.64.0.0/16".parse().unwrap())],
            withdrawn: vec![],
            path_id: 0,
        },
    )
    .unwrap();
    while rib.poll_adj_out(host, 10_000).is_some() {}
    while rib.poll_adj_out(tor, 10_000).is_some() {}
    let mut sink = Vec::new();
    rib.poll_forwarding(&mut sink, usize::MAX);
    sink = Vec::new();
    let rd: RouteDistinguisher = "100.64.0.2:2".parse().unwrap();
    let rt: ExtendedCommunity = frr_auto_route_target(65101, 100).into();
    let base = live();
    PEAK.store(base, Ordering::Relaxed);
    let t0 = cpu();
    // ~110 type-5 NLRI fit in a 4 KiB UPDATE (performance.md).
    let set_of = |k: u32| (u64::from(k) * u64::from(sets) / u64::from(routes)) as u32;
    let mut i = 0;
    while i < routes {
        let n = run(i, routes, 110, set_of);
        let attrs = PathAttrs {
            as_path: AsPath::sequence([65000, 65101]),
            next_hop: Some(ip("100.64.0.2")),
            med: Some(set_of(i)),
            ext_communities: Box::new([
                rt,
                ext::encapsulation_vxlan(),
                ext::router_mac(MacAddress([2, 0xaa, 0, 0, 0, 2])),
            ]),
            ..Default::default()
        };
        let announced = (i..i + n)
            .map(|k| {
                Nlri::Evpn(EvpnRoute::IpPrefix(IpPrefixRoute::without_gateway(
                    rd,
                    Default::default(),
                    EthernetTag(0),
                    IpNet::V4(prefix(k)),
                    Label::from_vni(100),
                )))
            })
            .collect();
        rib.handle_update(
            tor,
            RouteUpdate {
                attrs,
                announced,
                withdrawn: vec![],
                path_id: 0,
            },
        )
        .unwrap();
        i += n;
    }
    let t1 = cpu();
    let mut out_nlri = 0;
    while let Some(batch) = rib.poll_adj_out(host, 4096) {
        out_nlri += batch.len();
    }
    let mut fib = 0;
    loop {
        sink.clear();
        let n = rib.poll_forwarding(&mut sink, 4096);
        if n == 0 {
            break;
        }
        fib += n;
    }
    let t2 = cpu();
    drop(sink);
    rib.purge();
    let bytes = live() - base;
    let r = Report {
        name: format!(
            "evpn t5 -> red -> host, {:.1} routes/set",
            f64::from(routes) / f64::from(sets)
        ),
        routes,
        sets,
        secs_in: t1 - t0,
        secs_out: t2 - t1,
        bytes,
        peak: PEAK.load(Ordering::Relaxed) - base,
        out_nlri,
        fib,
    };
    drop(rib);
    r
}

fn main() {
    let routes: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    // One attribute set, and about 2.6 routes per attribute set (FRR #5443).
    let realistic = (f64::from(routes) / 2.6) as u32;
    for r in [
        unicast(routes, 1),
        unicast(routes, realistic),
        type5(routes, 1),
        type5(routes, realistic),
    ] {
        print(&r);
    }
}
