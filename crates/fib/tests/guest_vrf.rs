//! Tests that need a VRF device: run in a virtme-ng guest by `tests/guest/run.sh` (feature
//! `guest-tests`). On a kernel without VRF they fail.
#![cfg(feature = "guest-tests")]

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::*;
use perouter_fib::desired::{
    assign_table_ids, HostLeg, L2Vni, L3Vni, NodeDatapath, VethAddresses, VrfRoutes,
};
use perouter_fib::{Datapath, DatapathConfig, ForwardingState, MacAddress};

fn require_vrf() {
    println!("{}", where_we_run());
    assert!(
        kernel_has_vrf(),
        "this test needs a kernel with VRF (CONFIG_NET_VRF); {}",
        where_we_run()
    );
}

fn l3(vrf: &str, table: u32, vni: u32, vtep: &str, host: &str, router: &str) -> L3Vni {
    L3Vni {
        vrf: vrf.into(),
        table,
        vni,
        vxlan_port: 4789,
        local_vtep: vtep.parse().unwrap(),
        addresses: VethAddresses {
            host: host.split(',').map(|a| a.parse().unwrap()).collect(),
            router: router.split(',').map(|a| a.parse().unwrap()).collect(),
        },
        mtu: Some(1450),
        router_mac: None,
    }
}

#[test]
fn l3vni_device_set_with_vrf_matches_upstream_and_converges() {
    require_vrf();
    let host = netns("pgh");
    let router = netns("pgr");
    let (h, r) = (host.name(), router.name());
    let mut d = NodeDatapath::new(r);
    d.vteps = vec!["100.65.0.0/32".parse().unwrap()];
    d.l3vnis = vec![
        l3(
            "red",
            1,
            100,
            "100.65.0.0",
            "192.169.10.2/24,2001:db8:1::2/64",
            "192.169.10.1/24,2001:db8:1::1/64",
        ),
        l3(
            "blue",
            2,
            200,
            "100.65.0.0",
            "192.169.11.2/24",
            "192.169.11.1/24",
        ),
    ];
    d.l2vnis = vec![L2Vni {
        vni: 110,
        vxlan_port: 4789,
        local_vtep: "100.65.0.0".parse().unwrap(),
        vrf: Some("red".into()),
        gateway_ips: vec!["192.168.110.1/24".parse().unwrap()],
        host_leg: HostLeg::ManagedBridge,
        mtu: None,
    }];
    let cfg = DatapathConfig {
        host_netns: Some(h.into()),
        ..Default::default()
    };
    let mut dp = Datapath::open(r, cfg.clone()).unwrap();
    let f = ForwardingState::default();
    let rep = dp.reconcile(&d, &f).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);

    let red = link(r, "red").unwrap();
    assert_eq!(red["linkinfo"]["info_kind"], "vrf");
    assert_eq!(red["linkinfo"]["info_data"]["table"], 1);
    assert_eq!(
        link(r, "blue").unwrap()["linkinfo"]["info_data"]["table"],
        2
    );
    assert_eq!(master(r, "br-pe-100").as_deref(), Some("red"));
    assert_eq!(master(r, "vni100").as_deref(), Some("br-pe-100"));
    assert_eq!(master(r, "pe-e-100").as_deref(), Some("red"));
    // Enslaved before addressed: the IPv6 address survived the move into the VRF.
    assert_eq!(
        addrs(r, "pe-e-100"),
        vec!["192.169.10.1/24", "2001:db8:1::1/64"]
    );
    assert_eq!(
        addrs(h, "host-e-100"),
        vec!["192.169.10.2/24", "2001:db8:1::2/64"]
    );
    assert_eq!(sysctl(r, "net.ipv4.conf.red.rp_filter"), "2");
    // L2VNI routed in red: bridge in the VRF, gateway IP and the fixed MAC.
    assert_eq!(master(r, "br-pe-110").as_deref(), Some("red"));
    assert_eq!(
        link(r, "br-pe-110").unwrap()["address"],
        "00:f3:00:00:00:6f"
    );
    assert_eq!(addrs(r, "br-pe-110"), vec!["192.168.110.1/24"]);
    assert_eq!(master(h, "host-e-110").as_deref(), Some("br-hs-110"));
    // The connected route of the VRF lives in its table.
    let t1 = ip(r, &["route", "show", "table", "1"]);
    assert!(t1.contains("192.169.10.0/24 dev pe-e-100"), "{t1}");

    // Converged, and a restarted driver (new sockets, same kernel) also finds nothing to do.
    let before = dp.messages_sent();
    assert!(dp.reconcile(&d, &f).unwrap().plan.ops.is_empty());
    assert_eq!(dp.messages_sent(), before);

    // Without a router MAC the bridge keeps the kernel's, which the driver reports.
    let observed = dp.observe(&d).unwrap().l3vni_router_macs(&d);
    for vni in [100u32, 200] {
        let kernel = link(r, &format!("br-pe-{vni}")).unwrap()["address"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(observed[&vni].to_string(), kernel);
    }
    // One router MAC for the node: one RTM_NEWLINK per L3VNI bridge, nothing else.
    let rmac: MacAddress = "02:52:00:00:00:01".parse().unwrap();
    for v in &mut d.l3vnis {
        v.router_mac = Some(rmac);
    }
    let before = dp.messages_sent();
    let rep = dp.reconcile(&d, &f).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    assert_eq!(dp.messages_sent() - before, 2, "{:#?}", rep.plan.ops);
    for vni in [100u32, 200] {
        assert_eq!(
            link(r, &format!("br-pe-{vni}")).unwrap()["address"],
            "02:52:00:00:00:01"
        );
    }
    assert!(dp.reconcile(&d, &f).unwrap().plan.ops.is_empty());
    drop(dp);
    let mut dp = Datapath::open(r, cfg).unwrap();
    let observed = dp.observe(&d).unwrap();
    // Table ids read back: stable across restarts, a new VRF takes the first free one.
    let tables = assign_table_ids(
        ["red", "blue", "green"],
        &observed.router.as_ref().unwrap().vrf_tables(),
    );
    assert_eq!(
        tables,
        BTreeMap::from([("blue".into(), 2), ("green".into(), 3), ("red".into(), 1)])
    );
    assert!(dp.reconcile(&d, &f).unwrap().plan.ops.is_empty());
    assert_eq!(dp.messages_sent(), 0);

    // A VRF with the wrong table is recreated; removing an L3VNI removes its VRF and devices.
    ip(r, &["link", "del", "blue"]);
    ip(r, &["link", "add", "blue", "type", "vrf", "table", "99"]);
    let rep = dp.reconcile(&d, &f).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    assert_eq!(
        link(r, "blue").unwrap()["linkinfo"]["info_data"]["table"],
        2
    );
    assert_eq!(master(r, "pe-e-200").as_deref(), Some("blue"));
    d.l3vnis.retain(|v| v.vrf != "blue");
    let rep = dp.reconcile(&d, &f).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    let names = link_names(r);
    for gone in ["blue", "br-pe-200", "vni200", "pe-e-200"] {
        assert!(!names.contains(&gone.to_string()), "{gone}: {names:?}");
    }
    assert!(link(h, "host-e-200").is_none());
    assert!(dp.reconcile(&d, &f).unwrap().plan.ops.is_empty());
}

/// One simulated node: a host namespace, a router namespace, the driver.
struct Node {
    host: perouter_fib::netns::NetnsGuard,
    router: perouter_fib::netns::NetnsGuard,
    dp: Datapath,
    desired: NodeDatapath,
}

fn node(idx: u8, ul: &str) -> Node {
    let host = netns("pgh");
    let router = netns("pgr");
    let vtep = format!("100.65.0.{idx}");
    let mut d = NodeDatapath::new(router.name());
    d.underlay_nics = vec![ul.into()];
    d.vteps = vec![format!("{vtep}/32").parse().unwrap()];
    let mut red = l3(
        "red",
        1,
        100,
        &vtep,
        &format!("10.{idx}.0.2/24"),
        &format!("10.{idx}.0.1/24"),
    );
    // Each node's router MAC, fixed by the control plane (set when the bridge is created).
    red.router_mac = Some(MacAddress([0x02, 0x52, 0, 0, 0, idx]));
    d.l3vnis = vec![red];
    d.l2vnis = vec![L2Vni {
        vni: 200,
        vxlan_port: 4789,
        local_vtep: vtep.parse().unwrap(),
        vrf: None,
        gateway_ips: vec![],
        host_leg: HostLeg::Bare,
        mtu: Some(1450),
    }];
    let cfg = DatapathConfig {
        host_netns: Some(host.name().into()),
        ..Default::default()
    };
    let dp = Datapath::open(router.name(), cfg).unwrap();
    Node {
        host,
        router,
        dp,
        desired: d,
    }
}

fn ping(ns: &str, dst: &str) -> bool {
    Command::new("ip")
        .args([
            "netns", "exec", ns, "ping", "-c", "3", "-i", "0.3", "-W", "2", dst,
        ])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

#[test]
fn two_nodes_ping_across_vxlan_in_a_vrf_and_across_a_stretched_l2vni() {
    require_vrf();
    let mut a = node(1, "ula");
    let mut b = node(2, "ulb");
    let (ha, hb) = (a.host.name().to_string(), b.host.name().to_string());
    // The underlay: a veth between the two hosts' NICs, moved into the router namespaces.
    let out = Command::new("ip")
        .args([
            "link", "add", "ula", "netns", &ha, "type", "veth", "peer", "name", "ulb", "netns", &hb,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    ip(&ha, &["addr", "add", "192.168.11.1/24", "dev", "ula"]);
    ip(&hb, &["addr", "add", "192.168.11.2/24", "dev", "ulb"]);

    // Devices first (the router MAC of each node is its L3VNI bridge's MAC).
    for n in [&mut a, &mut b] {
        let rep =
            n.dp.reconcile(&n.desired, &ForwardingState::default())
                .unwrap();
        assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
        assert!(rep.plan.warnings.is_empty(), "{:?}", rep.plan.warnings);
    }
    let rmac = |n: &mut Node| -> MacAddress {
        let o = n.dp.observe(&n.desired).unwrap();
        let mac = o.l3vni_router_macs(&n.desired)[&100];
        assert_eq!(Some(mac), n.desired.l3vnis[0].router_mac);
        mac
    };
    let (rmac_a, rmac_b) = (rmac(&mut a), rmac(&mut b));
    let hostmac = |ns: &str, dev: &str| -> MacAddress {
        link(ns, dev).unwrap()["address"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    let (l2mac_a, l2mac_b) = (hostmac(&ha, "host-e-200"), hostmac(&hb, "host-e-200"));

    // Forwarding state as the RIB would hand it over: type-5 routes, type-2 MAC / MAC+IP,
    // type-3 flood lists.
    let fwd = |peer_vtep: &str,
               peer_rmac: MacAddress,
               peer_net: &str,
               peer_mac: MacAddress,
               peer_ip: &str,
               peer_underlay: &str| {
        let mut f = ForwardingState::default();
        // The underlay route to the peer's VTEP, as learned from the fabric.
        f.default_routes.insert(
            format!("{peer_vtep}/32").parse().unwrap(),
            [peer_underlay.parse().unwrap()].into(),
        );
        let mut vr = VrfRoutes {
            table: 1,
            ..Default::default()
        };
        vr.router_macs.insert(peer_vtep.parse().unwrap(), peer_rmac);
        vr.routes.insert(
            peer_net.parse().unwrap(),
            [peer_vtep.parse().unwrap()].into(),
        );
        f.vrf_routes.insert(100, vr);
        f.flood.insert((200, peer_vtep.parse().unwrap()));
        f.remote_macs
            .insert((200, peer_mac), peer_vtep.parse().unwrap());
        f.remote_neighbours
            .insert((200, peer_ip.parse().unwrap()), peer_mac);
        f
    };
    let fa = fwd(
        "100.65.0.2",
        rmac_b,
        "10.2.0.0/24",
        l2mac_b,
        "192.168.200.2",
        "192.168.11.2",
    );
    let fb = fwd(
        "100.65.0.1",
        rmac_a,
        "10.1.0.0/24",
        l2mac_a,
        "192.168.200.1",
        "192.168.11.1",
    );
    for (n, f) in [(&mut a, &fa), (&mut b, &fb)] {
        let rep = n.dp.reconcile(&n.desired, f).unwrap();
        assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
        assert!(n.dp.reconcile(&n.desired, f).unwrap().plan.ops.is_empty());
    }
    // What the hosts' own config would add.
    let (ra, rb) = (a.router.name().to_string(), b.router.name().to_string());
    for (ns, vtep, via) in [
        (
            &ra,
            "100.65.0.2/32",
            "via 192.168.11.2 dev ula proto bgp metric 20",
        ),
        (
            &rb,
            "100.65.0.1/32",
            "via 192.168.11.1 dev ulb proto bgp metric 20",
        ),
    ] {
        let vtep_route = ip(ns, &["route", "show", vtep]);
        assert!(vtep_route.contains(via), "{vtep_route}");
    }
    ip(&ha, &["route", "add", "10.2.0.0/24", "via", "10.1.0.1"]);
    ip(&hb, &["route", "add", "10.1.0.0/24", "via", "10.2.0.1"]);
    ip(
        &ha,
        &["addr", "add", "192.168.200.1/24", "dev", "host-e-200"],
    );
    ip(
        &hb,
        &["addr", "add", "192.168.200.2/24", "dev", "host-e-200"],
    );
    ip(&ha, &["link", "set", "host-e-200", "up"]);
    ip(&hb, &["link", "set", "host-e-200", "up"]);

    assert!(
        ping(&ha, "10.2.0.2"),
        "L3VNI: host A cannot reach host B through VRF red over VXLAN"
    );
    assert!(ping(&hb, "10.1.0.2"), "L3VNI: host B cannot reach host A");
    assert!(
        ping(&ha, "192.168.200.2"),
        "L2VNI: host A cannot reach host B on the stretched segment"
    );
    // The packets really went through VXLAN: the VXLAN devices counted them.
    let vx = ipj(&ra, &["-s", "link", "show", "vni100"]);
    let tx = vx[0]["stats64"]["tx"]["packets"].as_u64().unwrap();
    assert!(tx >= 3, "vni100 sent {tx} packets");
    let vx = ipj(&ra, &["-s", "link", "show", "vni200"]);
    assert!(vx[0]["stats64"]["tx"]["packets"].as_u64().unwrap() >= 3);
}
