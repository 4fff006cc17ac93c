//! Kernel nexthop objects on the real kernel (namespaces this test creates): routes through one
//! gateway share one object, ECMP goes through a group, moving every route of a gateway is one
//! message, a restarted driver adopts objects and routes as they are, a foreign deletion of an
//! object is repaired, and the last route gone takes its object.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use common::*;
use perouter_fib::desired::NodeDatapath;
use perouter_fib::nexthop::{ID_FIRST, ID_LAST};
use perouter_fib::{Datapath, DatapathConfig, ForwardingState, Op};
use serde_json::Value;

const N: u32 = 200;

fn gw(last: u8) -> IpAddr {
    IpAddr::from([192, 168, 11, last])
}

/// `N` routes 10.50.i.0/24 via `via`, and 10.60.0.0/16 over ECMP through .4 and .6.
fn forwarding(via: IpAddr) -> ForwardingState {
    let mut f = ForwardingState::default();
    for i in 0..N {
        let p = format!("10.50.{}.{}/32", i / 250, i % 250);
        f.default_routes.insert(p.parse().unwrap(), [via].into());
    }
    f.default_routes
        .insert("10.60.0.0/16".parse().unwrap(), [gw(4), gw(6)].into());
    f
}

/// Our objects (protocol bgp) by id.
fn objects(ns: &str) -> BTreeMap<u64, Value> {
    ipj_or_empty(ns, &["nexthop", "show"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["protocol"] == "bgp")
        .map(|o| (o["id"].as_u64().unwrap(), o.clone()))
        .collect()
}

/// nhid of each of our main-table IPv4 routes, by destination.
fn route_nhids(ns: &str) -> BTreeMap<String, Option<u64>> {
    ipj_or_empty(ns, &["-4", "route", "show", "proto", "bgp"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["dst"].as_str().unwrap().to_string(), r["nhid"].as_u64()))
        .collect()
}

#[test]
fn routes_share_nexthop_objects_which_are_repointed_adopted_and_repaired() {
    println!("{}", where_we_run());
    let host = netns("pnh");
    let router_name = unique("pnr");
    let _router_guard = perouter_fib::netns::NetnsGuard::adopt(&router_name);
    let h = host.name();
    ip(
        h,
        &[
            "link", "add", "ul0", "type", "veth", "peer", "name", "ulpeer",
        ],
    );
    ip(h, &["addr", "add", "192.168.11.3/24", "dev", "ul0"]);
    ip(h, &["link", "set", "ulpeer", "up"]);
    let mut d = NodeDatapath::new(&router_name);
    d.underlay_nics = vec!["ul0".into()];
    d.vteps = vec!["100.65.0.1/32".parse().unwrap()];
    let cfg = DatapathConfig {
        host_netns: Some(h.to_string()),
        ..Default::default()
    };
    let mut dp = Datapath::open(&router_name, cfg.clone()).unwrap();
    // Devices first (ul0 moved in and up), then the routes.
    let rep = dp.reconcile(&d, &ForwardingState::default()).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    let f = forwarding(gw(2));
    let rep = dp.reconcile(&d, &f).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    assert!(dp.uses_nexthop_objects(), "this kernel has nexthop objects");
    let r = router_name.as_str();

    // N routes through .2 share one object; the ECMP route uses a group of .4 and .6.
    let objs = objects(r);
    assert_eq!(objs.len(), 4, "one per gateway and one group: {objs:#?}");
    for id in objs.keys() {
        assert!((u64::from(ID_FIRST)..=u64::from(ID_LAST)).contains(id));
    }
    let nhids = route_nhids(r);
    let single: BTreeSet<Option<u64>> = nhids
        .iter()
        .filter(|(dst, _)| dst.starts_with("10.50."))
        .map(|(_, n)| *n)
        .collect();
    assert_eq!(single.len(), 1, "{single:?}");
    let via2 = single.first().unwrap().expect("routes carry nhid");
    assert_eq!(objs[&via2]["gateway"], "192.168.11.2");
    assert_eq!(objs[&via2]["dev"], "ul0");
    let group = nhids["10.60.0.0/16"].expect("ECMP route carries nhid");
    let members: BTreeSet<u64> = objs[&group]["group"]
        .as_array()
        .expect("a group")
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    let gws: BTreeSet<&str> = members
        .iter()
        .map(|m| objs[m]["gateway"].as_str().unwrap())
        .collect();
    assert_eq!(gws, ["192.168.11.4", "192.168.11.6"].into());

    // Converged: nothing to write.
    assert!(dp.reconcile(&d, &f).unwrap().plan.ops.is_empty());

    // Every route via .2 moves to .5: one message re-points the object, routes untouched.
    let f = forwarding(gw(5));
    let before = dp.messages_sent();
    let rep = dp.reconcile(&d, &f).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    assert_eq!(
        rep.plan.ops.len(),
        1,
        "{} routes move in one message: {:#?}",
        N,
        rep.plan.ops
    );
    assert!(matches!(rep.plan.ops[0], Op::ReplaceNhObject { id, .. } if u64::from(id) == via2));
    assert_eq!(dp.messages_sent() - before, 1);
    assert_eq!(objects(r)[&via2]["gateway"], "192.168.11.5");
    assert_eq!(route_nhids(r), nhids, "routes keep their object");

    // A restart: a new driver adopts objects and routes without touching them.
    drop(dp);
    let mut dp = Datapath::open(&router_name, cfg).unwrap();
    let rep = dp.reconcile_adopting(&d, None).unwrap();
    assert!(rep.plan.ops.is_empty(), "{:#?}", rep.plan.ops);
    let rep = dp.reconcile(&d, &f).unwrap();
    assert!(rep.plan.ops.is_empty(), "{:#?}", rep.plan.ops);
    assert_eq!(route_nhids(r), nhids);
    assert_eq!(objects(r).len(), 4);

    // Someone deletes our object: the kernel drops the routes using it; the audit repairs.
    ip(r, &["nexthop", "del", "id", &via2.to_string()]);
    assert!(route_nhids(r).len() < nhids.len());
    let rep = dp.reconcile(&d, &f).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    assert_eq!(route_nhids(r).len(), nhids.len());
    assert_eq!(objects(r).len(), 4);
    assert!(dp.reconcile(&d, &f).unwrap().plan.ops.is_empty());

    // The last route through .5 withdrawn: its object goes too; the group stays.
    let mut f2 = ForwardingState::default();
    f2.default_routes
        .insert("10.60.0.0/16".parse().unwrap(), [gw(4), gw(6)].into());
    let rep = dp.reconcile(&d, &f2).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    let objs = objects(r);
    assert_eq!(objs.len(), 3, "{objs:#?}");
    assert!(!objs.values().any(|o| o["gateway"] == "192.168.11.5"));
    assert!(dp.reconcile(&d, &f2).unwrap().plan.ops.is_empty());
    // And nothing at all: every object goes.
    let rep = dp.reconcile(&d, &ForwardingState::default()).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    assert!(objects(r).is_empty());
}

#[test]
fn without_nexthop_objects_routes_carry_their_gateways() {
    let host = netns("pnh");
    let router_name = unique("pnr");
    let _router_guard = perouter_fib::netns::NetnsGuard::adopt(&router_name);
    let h = host.name();
    ip(
        h,
        &[
            "link", "add", "ul0", "type", "veth", "peer", "name", "ulpeer",
        ],
    );
    ip(h, &["addr", "add", "192.168.11.3/24", "dev", "ul0"]);
    ip(h, &["link", "set", "ulpeer", "up"]);
    let mut d = NodeDatapath::new(&router_name);
    d.underlay_nics = vec!["ul0".into()];
    let cfg = DatapathConfig {
        host_netns: Some(h.to_string()),
        nexthop_objects: false,
        ..Default::default()
    };
    let mut dp = Datapath::open(&router_name, cfg).unwrap();
    dp.reconcile(&d, &ForwardingState::default()).unwrap();
    let f = forwarding(gw(2));
    let rep = dp.reconcile(&d, &f).unwrap();
    assert!(rep.apply.failures.is_empty(), "{:#?}", rep.apply.failures);
    assert!(!dp.uses_nexthop_objects());
    assert!(objects(&router_name).is_empty());
    assert!(route_nhids(&router_name).values().all(Option::is_none));
    assert_eq!(route_nhids(&router_name).len(), N as usize + 1);
}
