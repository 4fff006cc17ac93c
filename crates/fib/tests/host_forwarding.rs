//! Forwarding state on the real kernel, without a VRF device: type-5 routes in a plain table
//! through `br-pe-<vni>` onlink (ECMP, IPv6 over an IPv4 VTEP), router-MAC neighbours and FDB
//! rows, remote MACs (`extern_learn`), the flood list, remote MAC+IP neighbours; idempotence and
//! withdrawal that leaves foreign entries alone.

mod common;

use std::collections::BTreeMap;

use common::*;
use perouter_fib::desired::{HostLeg, L2Vni, NodeDatapath, VrfRoutes};
use perouter_fib::{Datapath, DatapathConfig, ForwardingState, MacAddress};
use serde_json::Value;

const TABLE: u32 = 1000;

fn node(router: &str) -> NodeDatapath {
    let mut d = NodeDatapath::new(router);
    d.vteps = vec!["100.65.0.1/32".parse().unwrap()];
    for vni in [100u32, 110] {
        d.l2vnis.push(L2Vni {
            vni,
            vxlan_port: 4789,
            local_vtep: "100.65.0.1".parse().unwrap(),
            vrf: None,
            gateway_ips: vec![],
            host_leg: HostLeg::Bare,
            mtu: None,
        });
    }
    d
}

fn mac(s: &str) -> MacAddress {
    s.parse().unwrap()
}

fn forwarding() -> ForwardingState {
    let mut f = ForwardingState::default();
    let mut vr = VrfRoutes {
        table: TABLE,
        ..Default::default()
    };
    vr.router_macs
        .insert("100.65.0.2".parse().unwrap(), mac("aa:bb:cc:00:00:02"));
    vr.router_macs
        .insert("100.65.0.3".parse().unwrap(), mac("aa:bb:cc:00:00:03"));
    vr.routes.insert(
        "10.10.0.0/24".parse().unwrap(),
        ["100.65.0.2".parse().unwrap()].into(),
    );
    vr.routes.insert(
        "10.20.0.0/24".parse().unwrap(),
        ["100.65.0.2".parse().unwrap(), "100.65.0.3".parse().unwrap()].into(),
    );
    vr.routes.insert(
        "2001:db8:10::/64".parse().unwrap(),
        ["100.65.0.3".parse().unwrap()].into(),
    );
    f.vrf_routes.insert(100, vr);
    f.remote_macs.insert(
        (110, mac("02:00:00:00:01:10")),
        "100.65.0.2".parse().unwrap(),
    );
    f.flood.insert((110, "100.65.0.2".parse().unwrap()));
    f.flood.insert((110, "100.65.0.3".parse().unwrap()));
    f.remote_neighbours.insert(
        (110, "192.168.110.7".parse().unwrap()),
        mac("02:00:00:00:01:10"),
    );
    f
}

fn routes(ns: &str) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for fam in ["-4", "-6"] {
        for r in ipj_or_empty(ns, &[fam, "route", "show", "table", &TABLE.to_string()])
            .as_array()
            .unwrap()
        {
            out.insert(r["dst"].as_str().unwrap().to_string(), r.clone());
        }
    }
    out
}

fn fdb(ns: &str, dev: &str) -> Vec<Value> {
    bridgej(ns, &["fdb", "show", "dev", dev])
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn forwarding_entries_are_installed_idempotently_and_withdrawn() {
    println!("{}", where_we_run());
    let host = netns("pfh");
    let router = netns("pfr");
    let r = router.name();
    let d = node(r);
    let cfg = DatapathConfig {
        host_netns: Some(host.name().into()),
        ..Default::default()
    };
    let mut dp = Datapath::open(r, cfg).unwrap();
    let f = forwarding();
    let rep = dp.reconcile(&d, &f).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    assert!(rep.plan.warnings.is_empty(), "{:?}", rep.plan.warnings);
    // Many foreign routes in the same table: a reconcile's dump never carries them (the kernel
    // filters by protocol), only our three.
    let batch: String = (0..500)
        .map(|i| {
            format!(
                "route add 10.98.{}.{}/32 dev br-pe-100 table {TABLE} proto static\n",
                i / 250,
                i % 250
            )
        })
        .collect();
    let mut child = std::process::Command::new("ip")
        .args(["-n", r, "-batch", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(batch.as_bytes())
        .unwrap();
    assert!(child.wait().unwrap().success());
    let dumped = dp.routes_dumped();
    assert!(dp.reconcile(&d, &f).unwrap().plan.ops.is_empty());
    assert_eq!(dp.routes_dumped() - dumped, 3, "only our routes are dumped");
    ip(
        r,
        &[
            "route",
            "flush",
            "table",
            &TABLE.to_string(),
            "proto",
            "static",
        ],
    );

    // A route somebody else put in the same table.
    ip(
        r,
        &[
            "route",
            "add",
            "10.99.0.0/24",
            "dev",
            "br-pe-100",
            "table",
            &TABLE.to_string(),
            "proto",
            "static",
        ],
    );

    let rt = routes(r);
    let single = &rt["10.10.0.0/24"];
    assert_eq!(single["gateway"], "100.65.0.2");
    assert_eq!(single["dev"], "br-pe-100");
    assert_eq!(single["protocol"], "bgp");
    assert!(
        single["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "onlink"),
        "{single}"
    );
    let ecmp = rt["10.20.0.0/24"]["nexthops"]
        .as_array()
        .expect("ECMP route")
        .clone();
    let gws: Vec<&str> = ecmp
        .iter()
        .map(|h| h["gateway"].as_str().unwrap())
        .collect();
    assert_eq!(gws, ["100.65.0.2", "100.65.0.3"]);
    assert_eq!(rt["2001:db8:10::/64"]["gateway"], "::ffff:100.65.0.3");

    // Router MACs: neighbour on the bridge, FDB row on the VXLAN device.
    let neigh = ipj(r, &["neigh", "show", "dev", "br-pe-100"]);
    let n: BTreeMap<String, String> = neigh
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["dst"].as_str().unwrap().to_string(),
                e["lladdr"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(n["100.65.0.2"], "aa:bb:cc:00:00:02");
    assert_eq!(n["100.65.0.3"], "aa:bb:cc:00:00:03");
    assert_eq!(n["::ffff:100.65.0.3"], "aa:bb:cc:00:00:03");
    let f100 = fdb(r, "vni100");
    assert!(f100
        .iter()
        .any(|e| e["mac"] == "aa:bb:cc:00:00:02" && e["dst"] == "100.65.0.2"));

    // L2VNI 110: remote MAC in both tables, extern_learn; the flood list has both VTEPs.
    let f110 = fdb(r, "vni110");
    let rows: Vec<&Value> = f110
        .iter()
        .filter(|e| e["mac"] == "02:00:00:00:01:10")
        .collect();
    assert!(rows.iter().any(|e| e["dst"] == "100.65.0.2"), "{f110:?}");
    assert!(
        rows.iter().any(|e| e["master"] == "br-pe-110"
            && e["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x == "extern_learn")),
        "{f110:?}"
    );
    let flood: Vec<&str> = f110
        .iter()
        .filter(|e| e["mac"] == "00:00:00:00:00:00")
        .map(|e| e["dst"].as_str().unwrap())
        .collect();
    assert_eq!(flood, ["100.65.0.2", "100.65.0.3"]);
    let n110 = ipj(r, &["neigh", "show", "dev", "br-pe-110"]);
    assert_eq!(n110[0]["dst"], "192.168.110.7");
    assert_eq!(n110[0]["lladdr"], "02:00:00:00:01:10");

    // Converged.
    let before = dp.messages_sent();
    let again = dp.reconcile(&d, &f).unwrap();
    assert!(again.plan.ops.is_empty(), "{:#?}", again.plan.ops);
    assert_eq!(dp.messages_sent(), before);

    // Change: one ECMP leg withdrawn, a route gone, a VTEP leaves the flood list, the MAC moves.
    let mut f2 = f.clone();
    let vr = f2.vrf_routes.get_mut(&100).unwrap();
    vr.routes.remove(&"10.10.0.0/24".parse().unwrap());
    vr.routes.insert(
        "10.20.0.0/24".parse().unwrap(),
        ["100.65.0.3".parse().unwrap()].into(),
    );
    f2.flood.remove(&(110, "100.65.0.3".parse().unwrap()));
    f2.remote_macs.insert(
        (110, mac("02:00:00:00:01:10")),
        "100.65.0.3".parse().unwrap(),
    );
    f2.remote_neighbours.clear();
    let rep = dp.reconcile(&d, &f2).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    let rt = routes(r);
    assert!(!rt.contains_key("10.10.0.0/24"));
    assert_eq!(rt["10.20.0.0/24"]["gateway"], "100.65.0.3");
    assert!(rt.contains_key("10.99.0.0/24"), "foreign route must stay");
    let f110 = fdb(r, "vni110");
    let flood: Vec<&str> = f110
        .iter()
        .filter(|e| e["mac"] == "00:00:00:00:00:00")
        .map(|e| e["dst"].as_str().unwrap())
        .collect();
    assert_eq!(flood, ["100.65.0.2"]);
    let moved: Vec<&Value> = f110
        .iter()
        .filter(|e| e["mac"] == "02:00:00:00:01:10" && e.get("dst").is_some())
        .collect();
    assert_eq!(moved.len(), 1, "{f110:?}");
    assert_eq!(moved[0]["dst"], "100.65.0.3");
    assert!(ipj(r, &["neigh", "show", "dev", "br-pe-110"])
        .as_array()
        .unwrap()
        .is_empty());
    assert!(dp.reconcile(&d, &f2).unwrap().plan.ops.is_empty());

    // Everything withdrawn: only the foreign route remains.
    let rep = dp.reconcile(&d, &ForwardingState::default()).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    let rt = routes(r);
    assert_eq!(rt.keys().collect::<Vec<_>>(), ["10.99.0.0/24"]);
    assert!(
        fdb(r, "vni110").iter().all(|e| e.get("dst").is_none()),
        "{:?}",
        fdb(r, "vni110")
    );
    let last = dp.reconcile(&d, &ForwardingState::default()).unwrap();
    assert!(last.plan.ops.is_empty(), "{:#?}", last.plan.ops);
}

#[test]
fn a_failed_operation_is_reported_and_the_rest_applied() {
    println!("{}", where_we_run());
    let host = netns("pfh");
    let router = netns("pfr");
    let r = router.name();
    let d = node(r);
    let cfg = DatapathConfig {
        host_netns: Some(host.name().into()),
        ..Default::default()
    };
    let mut dp = Datapath::open(r, cfg).unwrap();
    dp.reconcile(&d, &ForwardingState::default()).unwrap();
    // A batch where the middle route cannot be installed (unreachable, non-onlink gateway
    // family mismatch is refused by the kernel: an IPv4 multicast gateway).
    use perouter_fib::op::{NextHop, Op};
    let ok = |p: &str| Op::ReplaceRoute {
        table: TABLE,
        prefix: p.parse().unwrap(),
        nexthops: vec![NextHop::onlink("100.65.0.2".parse().unwrap(), "br-pe-100")],
    };
    let bad = Op::ReplaceRoute {
        table: TABLE,
        prefix: "10.0.2.0/24".parse().unwrap(),
        nexthops: vec![NextHop::onlink("224.0.0.1".parse().unwrap(), "br-pe-100")],
    };
    let rep = dp.apply(&[ok("10.0.1.0/24"), bad, ok("10.0.3.0/24")]);
    assert_eq!(rep.sends, 1, "one batch");
    assert_eq!(rep.failures.len(), 1, "{:#?}", rep.failures);
    assert_eq!(rep.failures[0].index, 1);
    assert_ne!(rep.failures[0].errno, 0);
    println!("kernel refused: {}", rep.failures[0]);
    let rt = routes(r);
    assert!(rt.contains_key("10.0.1.0/24") && rt.contains_key("10.0.3.0/24"));
    assert!(!rt.contains_key("10.0.2.0/24"));
}

/// Main-table routes of `ns` for one family, keyed "dst protocol metric".
fn main_routes(ns: &str, fam: &str) -> BTreeMap<String, Value> {
    ipj(ns, &[fam, "route", "show", "table", "main"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let key = format!(
                "{} {} {}",
                r["dst"].as_str().unwrap(),
                r["protocol"].as_str().unwrap_or("boot"),
                r["metric"].as_u64().unwrap_or(0)
            );
            (key, r.clone())
        })
        .collect()
}

#[test]
fn main_table_routes_resolve_via_the_underlay_and_leave_connected_ones_alone() {
    println!("{}", where_we_run());
    let host = netns("pfh");
    let router_name = unique("pfr");
    let _router_guard = perouter_fib::netns::NetnsGuard::adopt(&router_name);
    let h = host.name();
    ip(
        h,
        &[
            "link", "add", "ul0", "type", "veth", "peer", "name", "ulpeer",
        ],
    );
    ip(h, &["addr", "add", "192.168.11.3/24", "dev", "ul0"]);
    ip(
        h,
        &["addr", "add", "2001:db8:11::3/64", "dev", "ul0", "nodad"],
    );
    let mut d = NodeDatapath::new(&router_name);
    d.underlay_nics = vec!["ul0".into()];
    d.vteps = vec!["100.65.0.1/32".parse().unwrap()];
    let mut f = ForwardingState::default();
    let gw2: std::net::IpAddr = "192.168.11.2".parse().unwrap();
    let gw4: std::net::IpAddr = "192.168.11.4".parse().unwrap();
    f.default_routes
        .insert("100.65.0.2/32".parse().unwrap(), [gw2].into());
    f.default_routes
        .insert("10.200.0.0/16".parse().unwrap(), [gw2, gw4].into());
    // The fabric announces the underlay's own subnet: installed beside the connected route.
    f.default_routes
        .insert("192.168.11.0/24".parse().unwrap(), [gw2].into());
    f.default_routes.insert(
        "2001:db8:77::/48".parse().unwrap(),
        ["2001:db8:11::2".parse().unwrap()].into(),
    );
    let cfg = DatapathConfig {
        host_netns: Some(h.to_string()),
        ..Default::default()
    };
    let mut dp = Datapath::open(&router_name, cfg).unwrap();
    let rep = dp.reconcile(&d, &f).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    let r = router_name.as_str();
    // Somebody else's routes: a static one (kept) and a proto-bgp one of another metric (ours,
    // removed).
    ip(
        r,
        &[
            "route",
            "add",
            "10.88.0.0/16",
            "via",
            "192.168.11.2",
            "proto",
            "static",
        ],
    );
    ip(
        r,
        &[
            "route",
            "add",
            "10.77.0.0/16",
            "via",
            "192.168.11.2",
            "proto",
            "bgp",
            "metric",
            "5",
        ],
    );

    let v4 = main_routes(r, "-4");
    let vtep = &v4["100.65.0.2 bgp 20"];
    assert_eq!(vtep["gateway"], "192.168.11.2");
    assert_eq!(vtep["dev"], "ul0", "resolved by the kernel: {vtep}");
    assert!(
        !vtep["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "onlink"),
        "{vtep}"
    );
    let ecmp: Vec<&str> = v4["10.200.0.0/16 bgp 20"]["nexthops"]
        .as_array()
        .expect("ECMP")
        .iter()
        .map(|h| h["gateway"].as_str().unwrap())
        .collect();
    assert_eq!(ecmp, ["192.168.11.2", "192.168.11.4"]);
    assert!(v4.contains_key("192.168.11.0/24 bgp 20"), "{:?}", v4.keys());
    assert!(
        v4.contains_key("192.168.11.0/24 kernel 0"),
        "the connected route must survive: {:?}",
        v4.keys()
    );
    let v6 = main_routes(r, "-6");
    assert_eq!(v6["2001:db8:77::/48 bgp 20"]["gateway"], "2001:db8:11::2");

    // The stray proto-bgp route is removed, the static one stays; then nothing to do.
    let rep = dp.reconcile(&d, &f).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    assert_eq!(rep.plan.ops.len(), 1, "{:#?}", rep.plan.ops);
    let v4 = main_routes(r, "-4");
    assert!(!v4.contains_key("10.77.0.0/16 bgp 5"));
    assert!(v4.contains_key("10.88.0.0/16 static 0"));
    let before = dp.messages_sent();
    assert!(dp.reconcile(&d, &f).unwrap().plan.ops.is_empty());
    assert_eq!(dp.messages_sent(), before);

    // Withdrawn: ours go, the connected and the static routes stay.
    let rep = dp.reconcile(&d, &ForwardingState::default()).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    let v4 = main_routes(r, "-4");
    assert!(v4.keys().all(|k| !k.contains(" bgp ")), "{:?}", v4.keys());
    assert!(v4.contains_key("192.168.11.0/24 kernel 0"));
    assert!(v4.contains_key("10.88.0.0/16 static 0"));
    assert!(main_routes(r, "-6").keys().all(|k| !k.contains(" bgp ")));
}

/// Route changes between passes go in edge-triggered ([`perouter_fib::edge`]): the reconciler
/// task applies one message per changed route without a pass, and the kernel then holds exactly
/// what a full pass would have made of the patched state (a pass afterwards has nothing to do).
#[test]
fn route_patches_go_in_without_a_pass_and_leave_nothing_for_the_audit() {
    use perouter_fib::patch::ForwardingKeys;
    use perouter_fib::reconcile::{Command, Reconciler, ReconcilerConfig};
    use std::time::Duration;

    println!("{}", where_we_run());
    let host = netns("peh");
    let router_name = unique("per");
    let _router_guard = perouter_fib::netns::NetnsGuard::adopt(&router_name);
    let h = host.name();
    ip(
        h,
        &[
            "link", "add", "ul0", "type", "veth", "peer", "name", "ulpeer",
        ],
    );
    ip(h, &["addr", "add", "192.168.11.3/24", "dev", "ul0"]);
    let mut d = NodeDatapath::new(&router_name);
    d.underlay_nics = vec!["ul0".into()];
    d.vteps = vec!["100.65.0.1/32".parse().unwrap()];
    let gw2: std::net::IpAddr = "192.168.11.2".parse().unwrap();
    let gw4: std::net::IpAddr = "192.168.11.4".parse().unwrap();
    let mut s0 = ForwardingState::default();
    for i in 0..200u32 {
        s0.default_routes.insert(
            format!("10.{}.{}.0/24", 100 + i / 256, i % 256)
                .parse()
                .unwrap(),
            [gw2].into(),
        );
    }
    let cfg = DatapathConfig {
        host_netns: Some(h.to_string()),
        ..Default::default()
    };
    let dp = Datapath::open(&router_name, cfg.clone()).unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let (status_tx, mut status) = tokio::sync::watch::channel(Default::default());
    let rcfg = ReconcilerConfig {
        period: Duration::from_secs(3600),
        ..Default::default()
    };
    rt.spawn(Reconciler::new(dp, d.clone(), rcfg).run(rx, status_tx));
    let wait = |status: &mut tokio::sync::watch::Receiver<perouter_fib::reconcile::Status>,
                what: &str,
                f: &dyn Fn(&perouter_fib::reconcile::Status) -> bool| {
        rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), status.wait_for(|s| f(s)))
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
                .unwrap()
                .clone()
        })
    };
    tx.blocking_send(Command::SetForwarding(Box::new(s0.clone())))
        .unwrap();
    let st = wait(&mut status, "the first pass", &|s| {
        s.passes >= 1 && s.ops_by_kind.get("replace_route") == Some(&200)
    });
    assert!(st.last_failures.is_empty(), "{:?}", st.last_failures);
    let passes = st.passes;
    let r = router_name.as_str();
    assert_eq!(
        main_routes(r, "-4")
            .keys()
            .filter(|k| k.contains(" bgp "))
            .count(),
        200
    );

    // One route moves to ECMP, one is withdrawn, one is new.
    let mut s1 = s0.clone();
    let moved: ipnet::IpNet = "10.100.7.0/24".parse().unwrap();
    let gone: ipnet::IpNet = "10.100.8.0/24".parse().unwrap();
    let new: ipnet::IpNet = "10.250.0.0/16".parse().unwrap();
    s1.default_routes.insert(moved, [gw2, gw4].into());
    s1.default_routes.remove(&gone);
    s1.default_routes.insert(new, [gw4].into());
    let keys = ForwardingKeys {
        default_routes: [moved, gone, new].into(),
        ..Default::default()
    };
    tx.blocking_send(Command::PatchForwarding(Box::new(s1.patch(&keys))))
        .unwrap();
    let st = wait(&mut status, "the edge apply", &|s| s.edge_applies >= 1);
    assert_eq!(st.passes, passes, "no full pass for route changes");
    assert_eq!(st.edge_declined, 0);
    let v4 = main_routes(r, "-4");
    let ecmp: Vec<&str> = v4["10.100.7.0/24 bgp 20"]["nexthops"]
        .as_array()
        .expect("ECMP")
        .iter()
        .map(|h| h["gateway"].as_str().unwrap())
        .collect();
    assert_eq!(ecmp, ["192.168.11.2", "192.168.11.4"]);
    assert!(!v4.contains_key("10.100.8.0/24 bgp 20"));
    assert_eq!(v4["10.250.0.0/16 bgp 20"]["gateway"], "192.168.11.4");

    // A route withdrawn that the kernel never had (added and withdrawn between hand-overs) is
    // not a failure, and does not cost a full pass either.
    let keys = ForwardingKeys {
        default_routes: ["10.251.0.0/16".parse().unwrap()].into(),
        ..Default::default()
    };
    tx.blocking_send(Command::PatchForwarding(Box::new(s1.patch(&keys))))
        .unwrap();
    let st = wait(&mut status, "the second edge apply", &|s| {
        s.edge_applies >= 2
    });
    assert_eq!(st.passes, passes);

    // A change the kernel refuses (a gateway on no connected subnet): the edge apply fails, a
    // full pass follows at once and reports the failure in the status (logs and metrics read it).
    let mut bad = s1.clone();
    let unreachable: ipnet::IpNet = "10.252.0.0/16".parse().unwrap();
    bad.default_routes
        .insert(unreachable, ["10.99.99.1".parse().unwrap()].into());
    let keys = ForwardingKeys {
        default_routes: [unreachable].into(),
        ..Default::default()
    };
    tx.blocking_send(Command::PatchForwarding(Box::new(bad.patch(&keys))))
        .unwrap();
    let st = wait(
        &mut status,
        "the full pass after a failed edge apply",
        &|s| s.passes > passes,
    );
    assert!(
        st.last_failures.iter().any(|f| f.contains("10.252.0.0/16")),
        "{:?}",
        st.last_failures
    );
    assert!(
        st.failures_by_kind
            .get("replace_route")
            .copied()
            .unwrap_or(0)
            >= 2
    );
    drop(tx);
    drop(rt);

    // The audit: a full pass against the patched state finds nothing to do.
    let mut dp = Datapath::open(&router_name, cfg).unwrap();
    let rep = dp.reconcile(&d, &s1).unwrap();
    assert!(rep.plan.ops.is_empty(), "{:#?}", rep.plan.ops);
}

/// Unnumbered neighbours (RFC 8950): IPv4 routes whose gateway is the neighbour's IPv6
/// link-local address go in `via inet6 fe80::… dev <if>` (`RTA_VIA` + `RTA_OIF`), alone and in
/// ECMP beside an IPv4 gateway, IPv6 routes via the link-local with their device; the next
/// pass observes them back (`RTA_VIA` parsed) and has nothing to do; traffic flows through the
/// link-local gateway; a link-local gateway on no known device is skipped with a warning.
#[test]
fn ipv4_routes_via_an_ipv6_link_local_gateway_install_converge_and_forward() {
    println!("{}", where_we_run());
    let host = netns("pfl");
    let router_name = unique("pfL");
    let _router_guard = perouter_fib::netns::NetnsGuard::adopt(&router_name);
    let h = host.name();
    ip(
        h,
        &[
            "link", "add", "ul0", "type", "veth", "peer", "name", "ulpeer",
        ],
    );
    ip(h, &["addr", "add", "192.168.11.3/24", "dev", "ul0"]);
    // The peer (the unnumbered neighbour): a fixed link-local address, and a loopback
    // address behind it to reach.
    ip(h, &["addr", "add", "192.168.11.2/24", "dev", "ulpeer"]);
    ip(h, &["addr", "add", "fe80::2/64", "dev", "ulpeer", "nodad"]);
    ip(h, &["addr", "add", "10.201.0.1/32", "dev", "lo"]);
    ip(h, &["link", "set", "lo", "up"]);
    ip(h, &["link", "set", "ulpeer", "up"]);
    let mut d = NodeDatapath::new(&router_name);
    d.underlay_nics = vec!["ul0".into()];
    d.vteps = vec!["100.65.0.1/32".parse().unwrap()];
    let ll: std::net::IpAddr = "fe80::2".parse().unwrap();
    let gw2: std::net::IpAddr = "192.168.11.2".parse().unwrap();
    let mut f = ForwardingState::default();
    f.link_local_devices
        .insert("fe80::2".parse().unwrap(), "ul0".into());
    f.default_routes
        .insert("10.201.0.0/16".parse().unwrap(), [ll].into());
    f.default_routes
        .insert("10.202.0.0/16".parse().unwrap(), [gw2, ll].into());
    f.default_routes
        .insert("2001:db8:78::/48".parse().unwrap(), [ll].into());
    // A link-local gateway nobody said the device of: skipped, with a warning.
    f.default_routes.insert(
        "10.203.0.0/16".parse().unwrap(),
        ["fe80::9".parse().unwrap()].into(),
    );
    let cfg = DatapathConfig {
        host_netns: Some(h.to_string()),
        ..Default::default()
    };
    let mut dp = Datapath::open(&router_name, cfg).unwrap();
    let rep = dp.reconcile(&d, &f).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    assert!(
        rep.plan.warnings.iter().any(|w| w.contains("fe80::9")),
        "{:?}",
        rep.plan.warnings
    );
    let r = router_name.as_str();
    let v4 = main_routes(r, "-4");
    let one = &v4["10.201.0.0/16 bgp 20"];
    assert_eq!(one["via"]["family"], "inet6", "{one}");
    assert_eq!(one["via"]["host"], "fe80::2", "{one}");
    assert_eq!(one["dev"], "ul0", "{one}");
    let ecmp: Vec<String> = v4["10.202.0.0/16 bgp 20"]["nexthops"]
        .as_array()
        .expect("ECMP")
        .iter()
        .map(|h| {
            h["gateway"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| format!("{} {}", h["via"]["host"], h["dev"]))
        })
        .collect();
    assert_eq!(ecmp, ["192.168.11.2", "\"fe80::2\" \"ul0\""], "{v4:?}");
    assert!(!v4.contains_key("10.203.0.0/16 bgp 20"), "{:?}", v4.keys());
    let v6 = main_routes(r, "-6");
    let r6 = &v6["2001:db8:78::/48 bgp 20"];
    assert_eq!(
        (&r6["gateway"], &r6["dev"]),
        (&"fe80::2".into(), &"ul0".into()),
        "{r6}"
    );

    // Observed back as wanted: the next pass has nothing to do.
    let before = dp.messages_sent();
    let rep = dp.reconcile(&d, &f).unwrap();
    assert!(rep.plan.ops.is_empty(), "{:#?}", rep.plan.ops);
    assert_eq!(dp.messages_sent(), before);

    // Traffic: the router namespace reaches the peer's loopback through the link-local.
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            r,
            "ping",
            "-c",
            "1",
            "-W",
            "3",
            "10.201.0.1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Withdrawn: gone.
    let rep = dp.reconcile(&d, &ForwardingState::default()).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    assert!(main_routes(r, "-4").keys().all(|k| !k.contains(" bgp ")));
    assert!(main_routes(r, "-6").keys().all(|k| !k.contains(" bgp ")));
}
