//! Device programming on the real kernel, in namespaces the test creates: everything that needs
//! no VRF device (bridges, VXLAN, veths, addresses, a moved NIC, VTEPs on lo, sysctls, cleanup,
//! and the no-op reconcile that writes nothing).

mod common;

use common::*;
use perouter_fib::desired::{HostLeg, L2Vni, NodeDatapath, Passthrough, VethAddresses};
use perouter_fib::{Datapath, DatapathConfig, ForwardingState};

fn l2(vni: u32, leg: HostLeg) -> L2Vni {
    L2Vni {
        vni,
        vxlan_port: 4789,
        local_vtep: "100.65.0.1".parse().unwrap(),
        vrf: None,
        gateway_ips: vec![],
        host_leg: leg,
        mtu: Some(1450),
    }
}

#[test]
fn node_without_vrf_converges_and_a_second_pass_writes_nothing() {
    println!("{}", where_we_run());
    let host = netns("pfh");
    let router_name = unique("pfr");
    let _router_guard = perouter_fib::netns::NetnsGuard::adopt(&router_name);
    let h = host.name();
    // An "underlay NIC" in the host namespace: one end of a veth, with an address.
    ip(
        h,
        &[
            "link", "add", "ul0", "type", "veth", "peer", "name", "ulpeer",
        ],
    );
    ip(h, &["addr", "add", "192.168.11.3/24", "dev", "ul0"]);
    ip(h, &["link", "set", "ul0", "up"]);
    // A bridge of the host's own, for an L2VNI's host leg.
    ip(h, &["link", "add", "hostbr", "type", "bridge"]);

    let mut d = NodeDatapath::new(&router_name);
    d.underlay_nics = vec!["ul0".into()];
    d.vteps = vec!["100.65.0.1/32".parse().unwrap()];
    d.l2vnis = vec![
        l2(110, HostLeg::ManagedBridge),
        l2(120, HostLeg::ExistingBridge("hostbr".into())),
        l2(130, HostLeg::Bare),
    ];
    d.passthrough = Some(Passthrough {
        addresses: VethAddresses {
            host: vec!["192.169.100.2/24".parse().unwrap()],
            router: vec![
                "192.169.100.1/24".parse().unwrap(),
                "2001:db8:100::1/64".parse().unwrap(),
            ],
        },
        mtu: None,
    });
    let cfg = DatapathConfig {
        host_netns: Some(h.to_string()),
        ..Default::default()
    };
    let mut dp = Datapath::open(&router_name, cfg).unwrap();
    let fwd = ForwardingState::default();
    let r1 = dp.reconcile(&d, &fwd).unwrap();
    assert!(
        r1.apply.failures.is_empty(),
        "failures: {:#?}",
        r1.apply.failures
    );
    assert!(r1.plan.warnings.is_empty(), "{:?}", r1.plan.warnings);
    println!(
        "first pass: {} operations, {} messages in {} sends",
        r1.plan.ops.len(),
        r1.apply.messages_sent,
        r1.apply.sends
    );
    // One batch per (phase, namespace) plus one per name-cache refresh after creations: the
    // ~60 messages of this node fit in well under 20 sends.
    assert!(
        r1.apply.sends <= 20,
        "requests are batched: {} sends for {} messages",
        r1.apply.sends,
        r1.apply.messages_sent
    );
    let r = router_name.as_str();

    // The NIC moved with its address, group 4242, up.
    assert!(link(h, "ul0").is_none());
    let ul = link(r, "ul0").expect("ul0 in router ns");
    assert_eq!(ul["group"], "4242");
    assert!(ul["flags"].as_array().unwrap().iter().any(|f| f == "UP"));
    assert_eq!(addrs(r, "ul0"), vec!["192.168.11.3/24"]);
    // VTEP on lo, lo up.
    assert_eq!(
        addrs(r, "lo"),
        vec!["100.65.0.1/32", "127.0.0.1/8", "::1/128"]
    );
    // Sysctls.
    assert_eq!(sysctl(r, "net.ipv4.conf.all.forwarding"), "1");
    assert_eq!(sysctl(r, "net.ipv6.conf.all.forwarding"), "1");
    assert_eq!(sysctl(r, "net.ipv4.conf.all.arp_accept"), "1");
    assert_eq!(sysctl(r, "net.ipv4.conf.ul0.rp_filter"), "2");

    for vni in [110u32, 120, 130] {
        let br = link(r, &format!("br-pe-{vni}")).unwrap();
        assert_eq!(br["linkinfo"]["info_kind"], "bridge");
        assert_eq!(br["inet6_addr_gen_mode"], "none", "{br}");
        let vx = link(r, &format!("vni{vni}")).unwrap();
        let info = &vx["linkinfo"]["info_data"];
        assert_eq!(info["id"], vni);
        assert_eq!(info["local"], "100.65.0.1");
        assert_eq!(info["port"], 4789);
        assert_eq!(info["learning"], false);
        assert_eq!(vx["master"], format!("br-pe-{vni}"));
        let port = &vx["linkinfo"]["info_slave_data"];
        assert_eq!(port["neigh_suppress"], true, "{vx}");
        assert_eq!(port["learning"], false);
        assert_eq!(
            master(r, &format!("pe-e-{vni}")).unwrap(),
            format!("br-pe-{vni}")
        );
        assert_eq!(link(h, &format!("host-e-{vni}")).unwrap()["mtu"], 1450);
        assert_eq!(link(r, &format!("pe-e-{vni}")).unwrap()["mtu"], 1450);
    }
    assert_eq!(master(h, "host-e-110").as_deref(), Some("br-hs-110"));
    assert_eq!(master(h, "host-e-120").as_deref(), Some("hostbr"));
    assert_eq!(master(h, "host-e-130"), None);
    assert_eq!(addrs(h, "pt-host"), vec!["192.169.100.2/24"]);
    assert_eq!(
        addrs(r, "pt-ns"),
        vec!["192.169.100.1/24", "2001:db8:100::1/64"]
    );

    // Converged: the next pass plans nothing and sends no write.
    let before = dp.messages_sent();
    let r2 = dp.reconcile(&d, &fwd).unwrap();
    assert!(
        r2.plan.ops.is_empty(),
        "second pass planned {:#?}",
        r2.plan.ops
    );
    assert_eq!(
        dp.messages_sent(),
        before,
        "a converged node gets zero write messages"
    );

    // Drift: someone deletes a bridge and an address; the next pass repairs only that.
    ip(r, &["link", "del", "br-pe-120"]);
    ip(r, &["addr", "del", "100.65.0.1/32", "dev", "lo"]);
    let r3 = dp.reconcile(&d, &fwd).unwrap();
    assert!(r3.apply.failures.is_empty(), "{:#?}", r3.apply.failures);
    assert_eq!(master(r, "vni120").as_deref(), Some("br-pe-120"));
    assert_eq!(master(r, "pe-e-120").as_deref(), Some("br-pe-120"));
    assert!(addrs(r, "lo").contains(&"100.65.0.1/32".to_string()));
    assert!(dp.reconcile(&d, &fwd).unwrap().plan.ops.is_empty());

    // Removal: drop an L2VNI, the passthrough and the underlay NIC. Only ours goes; the NIC
    // returns with its address; the host's own bridge stays.
    ip(r, &["link", "add", "foreign0", "type", "bridge"]);
    d.l2vnis.retain(|v| v.vni != 110);
    d.passthrough = None;
    d.underlay_nics.clear();
    let r4 = dp.reconcile(&d, &fwd).unwrap();
    assert!(r4.apply.failures.is_empty(), "{:#?}", r4.apply.failures);
    let rn = link_names(r);
    for gone in ["br-pe-110", "vni110", "pe-e-110", "pt-ns", "ul0"] {
        assert!(
            !rn.contains(&gone.to_string()),
            "{gone} still in router ns: {rn:?}"
        );
    }
    assert!(
        rn.contains(&"foreign0".to_string()),
        "cleanup must not touch foreign links"
    );
    let hn = link_names(h);
    for gone in ["br-hs-110", "host-e-110", "pt-host"] {
        assert!(
            !hn.contains(&gone.to_string()),
            "{gone} still in host ns: {hn:?}"
        );
    }
    assert!(hn.contains(&"hostbr".to_string()));
    assert_eq!(addrs(h, "ul0"), vec!["192.168.11.3/24"]);
    assert!(dp.reconcile(&d, &fwd).unwrap().plan.ops.is_empty());
}

#[test]
fn vxlan_with_wrong_attributes_is_recreated() {
    println!("{}", where_we_run());
    let host = netns("pfh");
    let router = netns("pfr");
    let r = router.name();
    ip(r, &["link", "add", "br-pe-200", "type", "bridge"]);
    ip(
        r,
        &[
            "link",
            "add",
            "vni200",
            "type",
            "vxlan",
            "id",
            "999",
            "dstport",
            "4789",
            "local",
            "100.65.0.1",
        ],
    );
    let mut d = NodeDatapath::new(r);
    d.l2vnis = vec![l2(200, HostLeg::Bare)];
    let cfg = DatapathConfig {
        host_netns: Some(host.name().into()),
        ..Default::default()
    };
    let mut dp = Datapath::open(r, cfg).unwrap();
    let rep = dp.reconcile(&d, &ForwardingState::default()).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    let vx = link(r, "vni200").unwrap();
    assert_eq!(vx["linkinfo"]["info_data"]["id"], 200);
    assert_eq!(vx["master"], "br-pe-200");
    assert!(dp
        .reconcile(&d, &ForwardingState::default())
        .unwrap()
        .plan
        .ops
        .is_empty());
}

/// The underlay MTU is read over netlink, in the namespace asked for (no `ip` command).
#[test]
fn link_mtu_is_read_over_netlink_in_a_namespace() {
    let ns = netns("pfm");
    ip(
        ns.name(),
        &[
            "link", "add", "mtu0", "mtu", "1432", "type", "veth", "peer", "name", "mtu1",
        ],
    );
    assert_eq!(
        perouter_fib::apply::link_mtu(Some(ns.name()), "mtu0").unwrap(),
        Some(1432)
    );
    assert_eq!(
        perouter_fib::apply::link_mtu(Some(ns.name()), "absent0").unwrap(),
        None
    );
    assert_eq!(
        perouter_fib::apply::link_mtu(Some("perouter-no-such-ns"), "mtu0").unwrap(),
        None
    );
    assert_eq!(
        perouter_fib::apply::link_mtu(None, "lo").unwrap(),
        Some(65536)
    );
}
