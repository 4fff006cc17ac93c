//! Memory after a mass withdrawal (issue 10): drives the RIB as the routing task does (one
//! fabric peer announces N IPv4 routes, default 200k, which go out to another fabric peer and
//! the passthrough host session and to the datapath; then it withdraws them) and reports the
//! process RSS (VmRSS from /proc/self/status) idle, with the routes, after their withdrawal,
//! and after handing freed memory back to the operating system with glibc's `malloc_trim`.
//!
//! Run: `cargo run --release -p perouter-rib --example memory [-- ROUTES]`

use std::net::{IpAddr, Ipv4Addr};

use ipnet::Ipv4Net;
use perouter_rib::*;

const ASN: u32 = 64514;

/// Resident set size of this process in KiB.
fn rss_kib() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn peer(role: PeerRole, remote_asn: u32, remote: &str, local: &str) -> PeerConfig {
    PeerConfig {
        role,
        local_asn: ASN,
        remote_asn,
        remote_address: ip(remote),
        local_address: ip(local),
        remote_router_id: match ip(remote) {
            IpAddr::V4(a) => a,
            IpAddr::V6(_) => Ipv4Addr::new(10, 9, 9, 9),
        },
        families: vec![Family::Ipv4Unicast],
        route_reflector_client: false,
        allowas_in: u8::from(role == PeerRole::Fabric),
    }
}

fn prefix(i: u32) -> Ipv4Net {
    // 10.0.0.0/8 and up, /24s.
    Ipv4Net::new(Ipv4Addr::from((10u32 << 24) + (i << 8)), 24).unwrap()
}

/// What the routing task does after every input: pull the datapath changes and every peer's
/// Adj-RIB-Out (the batches are encoded and sent; here they are dropped).
fn drain(rib: &mut Rib, peers: &[PeerId]) {
    let mut out = Vec::new();
    while rib.poll_forwarding(&mut out, 4096) > 0 {
        out.clear();
    }
    for &p in peers {
        while rib.poll_adj_out(p, 4096).is_some() {}
    }
    rib.shrink();
}

fn trim() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::malloc_trim(0);
    }
}

fn main() {
    let routes: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(200_000);
    let mut rib = Rib::new(RibConfig {
        asn: ASN,
        router_id: Ipv4Addr::new(10, 255, 0, 1),
        vtep: ip("100.65.0.1"),
        multipath: MultipathConfig::default(),
        default_networks: vec![],
        cluster_id: None,
    });
    let src = rib
        .handle_peer_up(peer(PeerRole::Fabric, 65000, "192.0.2.2", "192.0.2.1"))
        .unwrap();
    let tor2 = rib
        .handle_peer_up(peer(PeerRole::Fabric, 65000, "192.0.2.6", "192.0.2.5"))
        .unwrap();
    let pt = rib
        .handle_peer_up(peer(
            PeerRole::Passthrough,
            64517,
            "192.169.100.4",
            "192.169.100.1",
        ))
        .unwrap();
    let peers = [src, tor2, pt];
    drain(&mut rib, &peers);
    let idle = rss_kib();
    // GoBGP-style injection: UPDATEs of 500 NLRI, one attribute set per UPDATE (MED varies).
    let per_update = 500;
    for (n, start) in (0..routes).step_by(per_update).enumerate() {
        let end = (start + per_update as u32).min(routes);
        rib.handle_update(
            src,
            RouteUpdate {
                attrs: PathAttrs {
                    as_path: AsPath::sequence([65000, 65100]),
                    next_hop: Some(ip("192.0.2.2")),
                    med: Some(n as u32),
                    ..Default::default()
                },
                announced: (start..end).map(|i| Nlri::V4(prefix(i))).collect(),
                withdrawn: vec![],
                path_id: 0,
            },
        )
        .unwrap();
        drain(&mut rib, &peers);
    }
    let loaded = rss_kib();
    let st = rib.stats();
    assert_eq!(st.default_routes as u32, routes + 1);
    for start in (0..routes).step_by(per_update) {
        let end = (start + per_update as u32).min(routes);
        rib.handle_update(
            src,
            RouteUpdate {
                attrs: PathAttrs::default(),
                announced: vec![],
                withdrawn: (start..end).map(|i| Nlri::V4(prefix(i))).collect(),
                path_id: 0,
            },
        )
        .unwrap();
        drain(&mut rib, &peers);
    }
    assert_eq!(rib.stats().default_routes, 1);
    let withdrawn = rss_kib();
    let shrunk = rib.take_shrunk();
    trim();
    let trimmed = rss_kib();
    println!("routes: {routes} IPv4 from one peer, sent to two peers and the datapath");
    println!("RSS idle:                 {:>8} KiB", idle);
    println!(
        "RSS with the routes:      {:>8} KiB ({} attribute sets)",
        loaded, st.attribute_sets
    );
    println!(
        "RSS after withdrawal:     {:>8} KiB (tables shrank: {shrunk})",
        withdrawn
    );
    println!("RSS after malloc_trim(0): {:>8} KiB", trimmed);
}
