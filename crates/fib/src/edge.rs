//! Edge-triggered forwarding: the netlink operations one [`ForwardingPatch`] needs, computed
//! from the patch alone — no dump of the kernel's tables, no diff of the whole wanted state.
//!
//! A route that changes at the fabric reaches the kernel as one `RTM_NEWROUTE` (replace) or
//! `RTM_DELROUTE`, however many routes are installed. The level-triggered pass
//! ([`crate::diff::diff`] against a fresh observation) stays the audit: it runs first, after
//! every device change, on drift, after any failure and periodically, and it alone handles what
//! this module declines ([`patch_ops`] returns `None`): VRFs that appear, go or change table or
//! router MACs, FDB, flood-list and neighbour entries (their rows have kernel-side details only
//! an observation shows), IPv6 routes over IPv4 VTEPs (they need a neighbour entry per VTEP),
//! and gateways the kernel cannot take (an IPv4 gateway for an IPv6 prefix, a link-local one on
//! no known device: the pass reports them). IPv4 routes via IPv6 gateways (RFC 8950) go in here.
//!
//! Pure: the reconciler decides when to use it and applies the operations.

use std::collections::BTreeSet;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::desired::{ForwardingState, NodeDatapath, MAIN_TABLE, ROUTE_METRIC};
use crate::op::{NextHop, Op};
use crate::patch::ForwardingPatch;

/// The operations that take the kernel from `current` (already installed by an earlier pass or
/// patch) to `current` with `patch` applied, or `None` when the patch needs a full pass (see the
/// module's documentation). Deletions come first, in descending prefix order (the kernel's FIB
/// trie removes routes about ten times faster that way), then replacements.
pub fn patch_ops(
    node: &NodeDatapath,
    current: &ForwardingState,
    patch: &ForwardingPatch,
) -> Option<Vec<Op>> {
    if !patch.vrfs_reset.is_empty()
        || !patch.remote_macs.is_empty()
        || !patch.flood.is_empty()
        || !patch.remote_neighbours.is_empty()
    {
        return None;
    }
    // A VRF head in a patch is the VRF of a touched route: it must be the one installed.
    for (vni, head) in &patch.vrfs {
        let now = current.vrf_routes.get(vni)?;
        let head = head.as_ref()?;
        if head.table != now.table || head.router_macs != now.router_macs {
            return None;
        }
    }
    let mut dels: Vec<(u32, IpNet)> = Vec::new();
    let mut puts: Vec<Op> = Vec::new();
    let mut route = |table: u32, prefix: IpNet, hops: BTreeSet<NextHop>| {
        let prefix = prefix.trunc();
        if hops.is_empty() {
            dels.push((table, prefix));
        } else {
            puts.push(Op::ReplaceRoute {
                table,
                prefix,
                nexthops: hops.into_iter().collect(),
            });
        }
    };
    for (prefix, gateways) in &patch.default_routes {
        let hops = gateways
            .iter()
            .flatten()
            .map(|gw| NextHop::for_gateway(prefix, *gw, &current.link_local_devices))
            .collect::<Option<BTreeSet<NextHop>>>()?;
        route(MAIN_TABLE, *prefix, hops);
    }
    for ((vni, prefix), vteps, gateways) in &patch.vrf_routes {
        let table = current.vrf_routes.get(vni)?.table;
        let has_devices =
            node.l2vnis.iter().any(|v| v.vni == *vni) || node.l3vnis.iter().any(|v| v.vni == *vni);
        if !has_devices
            || node
                .l3vnis
                .iter()
                .any(|v| v.vni == *vni && v.table != table)
        {
            return None;
        }
        let mut hops = gateway_hops(prefix, gateways.iter().flatten())?;
        let bridge = crate::desired::names::bridge(*vni);
        for vtep in vteps.iter().flatten() {
            if prefix.addr().is_ipv4() != vtep.is_ipv4() {
                return None;
            }
            hops.insert(NextHop::onlink(*vtep, bridge.clone()));
        }
        route(table, *prefix, hops);
    }
    dels.sort_unstable();
    dels.dedup();
    let mut ops: Vec<Op> = dels
        .into_iter()
        .rev()
        .map(|(table, prefix)| Op::DelRoute {
            table,
            prefix,
            metric: ROUTE_METRIC,
        })
        .collect();
    ops.extend(puts);
    Some(ops)
}

/// Points the routes [`patch_ops`] installs at nexthop objects: an object `index` knows (those
/// the last full pass left in the kernel, and those made here since), or a new one created just
/// before the first route that needs it. A route whose next hops cannot have an object (a
/// device not running) keeps its gateways. Objects the patches leave unused are removed by the
/// next audit.
pub fn use_objects(ops: &mut Vec<Op>, index: &mut crate::nexthop::NhIndex) {
    if index.is_empty() {
        return;
    }
    let mut out = Vec::with_capacity(ops.len());
    let mut objects = Vec::new();
    for op in ops.drain(..) {
        match op {
            Op::ReplaceRoute {
                table,
                prefix,
                nexthops,
            } => match index.ensure(&nexthops) {
                Some((nhid, new)) => {
                    objects.extend(new);
                    out.push(Op::ReplaceRouteNh {
                        table,
                        prefix,
                        nhid,
                    });
                }
                None => out.push(Op::ReplaceRoute {
                    table,
                    prefix,
                    nexthops,
                }),
            },
            other => out.push(other),
        }
    }
    // Deletions first (as patch_ops orders them), then the new objects, then the routes.
    let first_put = out
        .iter()
        .position(|op| !matches!(op, Op::DelRoute { .. }))
        .unwrap_or(out.len());
    out.splice(first_put..first_put, objects);
    *ops = out;
}

/// The kernel-resolved next hops of `prefix`; `None` when a gateway is of the other address
/// family (the full pass skips it and says so).
fn gateway_hops<'a>(
    prefix: &IpNet,
    gateways: impl IntoIterator<Item = &'a IpAddr>,
) -> Option<BTreeSet<NextHop>> {
    gateways
        .into_iter()
        .map(|gw| (prefix.addr().is_ipv4() == gw.is_ipv4()).then(|| NextHop::via(*gw)))
        .collect()
}

/// Whether a failed operation of [`patch_ops`]'s is harmless: deleting a route the kernel does
/// not have (it was added and withdrawn between two hand-overs, or is gone already) leaves the
/// kernel as wanted.
pub fn is_benign_failure(op: &Op, errno: i32) -> bool {
    matches!(op, Op::DelRoute { .. }) && (errno == libc::ESRCH || errno == libc::ENOENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::{HostLeg, L2Vni, VrfRoutes};
    use crate::patch::{ForwardingKeys, VrfHead};

    #[test]
    fn patched_routes_share_objects_made_once_before_them() {
        use crate::nexthop::{NhHop, NhIndex, NhObject, ID_FIRST};
        use crate::observed::{Link, LinkKind, NamespaceState};
        let mut st = NamespaceState::fresh();
        let mut ul = st.links["lo"].clone();
        ul.name = "ul0".into();
        ul.ifindex = 5;
        ul.kind = LinkKind::Other(None);
        ul.up = true;
        ul.carrier = true;
        ul.addresses = [net("192.168.11.3/24")].into();
        let down = Link {
            name: "ul1".into(),
            ifindex: 6,
            carrier: false,
            addresses: [net("192.168.12.3/24")].into(),
            ..ul.clone()
        };
        st.links.insert("ul0".into(), ul);
        st.links.insert("ul1".into(), down);
        let mut index = NhIndex::after(&st, &[]);
        let put = |p: &str, gws: &[&str]| Op::ReplaceRoute {
            table: MAIN_TABLE,
            prefix: net(p),
            nexthops: gws.iter().map(|g| NextHop::via(ip(g))).collect(),
        };
        let del = Op::DelRoute {
            table: MAIN_TABLE,
            prefix: net("10.9.0.0/16"),
            metric: ROUTE_METRIC,
        };
        let mut ops = vec![
            del.clone(),
            put("10.1.0.0/16", &["192.168.11.2"]),
            put("10.2.0.0/16", &["192.168.11.2"]),
            put("10.3.0.0/16", &["192.168.11.2", "192.168.11.4"]),
            put("10.4.0.0/16", &["192.168.12.2"]),
        ];
        use_objects(&mut ops, &mut index);
        let hop = |g: &str| {
            NhObject::Hop(NhHop {
                gateway: ip(g),
                dev: "ul0".into(),
                onlink: false,
            })
        };
        let nh = |p: &str, nhid: u32| Op::ReplaceRouteNh {
            table: MAIN_TABLE,
            prefix: net(p),
            nhid,
        };
        assert_eq!(
            ops,
            vec![
                del,
                Op::ReplaceNhObject {
                    id: ID_FIRST,
                    object: hop("192.168.11.2")
                },
                Op::ReplaceNhObject {
                    id: ID_FIRST + 1,
                    object: hop("192.168.11.4")
                },
                Op::ReplaceNhObject {
                    id: ID_FIRST + 2,
                    object: NhObject::Group(vec![ID_FIRST, ID_FIRST + 1])
                },
                nh("10.1.0.0/16", ID_FIRST),
                nh("10.2.0.0/16", ID_FIRST),
                nh("10.3.0.0/16", ID_FIRST + 2),
                // No carrier on ul1: the kernel would refuse the object.
                put("10.4.0.0/16", &["192.168.12.2"]),
            ]
        );
        // The next patch reuses them.
        let mut ops = vec![put("10.5.0.0/16", &["192.168.11.4", "192.168.11.2"])];
        use_objects(&mut ops, &mut index);
        assert_eq!(ops, vec![nh("10.5.0.0/16", ID_FIRST + 2)]);
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    fn node() -> NodeDatapath {
        let mut n = NodeDatapath::new("perouter");
        n.l2vnis.push(L2Vni {
            vni: 100,
            vxlan_port: 4789,
            local_vtep: ip("100.65.0.1"),
            vrf: None,
            gateway_ips: vec![],
            host_leg: HostLeg::Bare,
            mtu: None,
        });
        n
    }

    fn state() -> ForwardingState {
        let mut f = ForwardingState::default();
        f.default_routes
            .insert(net("100.65.0.2/32"), [ip("192.168.11.2")].into());
        let mut vr = VrfRoutes {
            table: 1100,
            ..Default::default()
        };
        vr.router_macs
            .insert(ip("100.65.0.2"), "aa:bb:cc:00:00:02".parse().unwrap());
        vr.routes
            .insert(net("10.10.0.0/24"), [ip("100.65.0.2")].into());
        f.vrf_routes.insert(100, vr);
        f
    }

    /// The patch of `after` against the keys touched.
    fn patch(after: &ForwardingState, keys: ForwardingKeys) -> ForwardingPatch {
        after.patch(&keys)
    }

    #[test]
    fn route_changes_become_one_operation_each_deletions_first() {
        let before = state();
        let mut after = before.clone();
        after.default_routes.insert(
            net("10.200.0.0/16"),
            [ip("192.168.11.2"), ip("192.168.11.4")].into(),
        );
        after.default_routes.remove(&net("100.65.0.2/32"));
        let vr = after.vrf_routes.get_mut(&100).unwrap();
        vr.routes.remove(&net("10.10.0.0/24"));
        vr.routes
            .insert(net("10.30.0.0/24"), [ip("100.65.0.2")].into());
        let keys = ForwardingKeys {
            default_routes: [net("10.200.0.0/16"), net("100.65.0.2/32")].into(),
            vrf_routes: [(100, net("10.10.0.0/24")), (100, net("10.30.0.0/24"))].into(),
            ..Default::default()
        };
        let ops = patch_ops(&node(), &before, &patch(&after, keys)).unwrap();
        assert_eq!(
            ops,
            vec![
                Op::DelRoute {
                    table: 1100,
                    prefix: net("10.10.0.0/24"),
                    metric: ROUTE_METRIC
                },
                Op::DelRoute {
                    table: MAIN_TABLE,
                    prefix: net("100.65.0.2/32"),
                    metric: ROUTE_METRIC
                },
                Op::ReplaceRoute {
                    table: MAIN_TABLE,
                    prefix: net("10.200.0.0/16"),
                    nexthops: vec![
                        NextHop::via(ip("192.168.11.2")),
                        NextHop::via(ip("192.168.11.4"))
                    ],
                },
                Op::ReplaceRoute {
                    table: 1100,
                    prefix: net("10.30.0.0/24"),
                    nexthops: vec![NextHop::onlink(ip("100.65.0.2"), "br-pe-100")],
                },
            ]
        );
    }

    #[test]
    fn what_only_an_observation_can_settle_is_left_to_the_full_pass() {
        let before = state();
        let n = node();
        // A new router MAC (a VRF head change).
        let mut after = before.clone();
        after
            .vrf_routes
            .get_mut(&100)
            .unwrap()
            .router_macs
            .insert(ip("100.65.0.3"), "aa:bb:cc:00:00:03".parse().unwrap());
        let keys = ForwardingKeys {
            vrfs: [100].into(),
            ..Default::default()
        };
        assert_eq!(patch_ops(&n, &before, &patch(&after, keys)), None);
        // A remote MAC.
        let mut after = before.clone();
        after.remote_macs.insert(
            (100, "02:00:00:00:00:01".parse().unwrap()),
            ip("100.65.0.2"),
        );
        let keys = ForwardingKeys {
            remote_macs: after.remote_macs.keys().copied().collect(),
            ..Default::default()
        };
        assert_eq!(patch_ops(&n, &before, &patch(&after, keys)), None);
        // An IPv6 route over an IPv4 VTEP.
        let mut after = before.clone();
        after
            .vrf_routes
            .get_mut(&100)
            .unwrap()
            .routes
            .insert(net("2001:db8::/64"), [ip("100.65.0.2")].into());
        let keys = ForwardingKeys {
            vrf_routes: [(100, net("2001:db8::/64"))].into(),
            ..Default::default()
        };
        assert_eq!(patch_ops(&n, &before, &patch(&after, keys)), None);
        // A gateway the kernel cannot take: an IPv4 one for an IPv6 prefix, a link-local one on
        // no known device.
        for (prefix, gw) in [
            ("2001:db8:5::/48", "192.168.11.2"),
            ("10.1.0.0/16", "fe80::9"),
        ] {
            let mut after = before.clone();
            after.default_routes.insert(net(prefix), [ip(gw)].into());
            let keys = ForwardingKeys {
                default_routes: [net(prefix)].into(),
                ..Default::default()
            };
            assert_eq!(
                patch_ops(&n, &before, &patch(&after, keys)),
                None,
                "{prefix} via {gw}"
            );
        }
        // RFC 8950: an IPv4 route via an IPv6 gateway, global (the kernel resolves it) or
        // link-local on its known device, goes in edge-triggered.
        let mut with_ll = before.clone();
        with_ll
            .link_local_devices
            .insert("fe80::2".parse().unwrap(), "ul0".into());
        let mut after = with_ll.clone();
        after.default_routes.insert(
            net("10.1.0.0/16"),
            [ip("fe80::2"), ip("2001:db8::1")].into(),
        );
        let keys = ForwardingKeys {
            default_routes: [net("10.1.0.0/16")].into(),
            ..Default::default()
        };
        assert_eq!(
            patch_ops(&n, &with_ll, &patch(&after, keys)),
            Some(vec![Op::ReplaceRoute {
                table: MAIN_TABLE,
                prefix: net("10.1.0.0/16"),
                nexthops: vec![
                    NextHop::via(ip("2001:db8::1")),
                    NextHop::onlink(ip("fe80::2"), "ul0"),
                ],
            }])
        );
        // A VRF that is not installed yet.
        let mut after = before.clone();
        after.vrf_routes.insert(
            200,
            VrfRoutes {
                table: 1200,
                ..Default::default()
            },
        );
        let p = ForwardingPatch {
            vrfs: vec![(
                200,
                Some(VrfHead {
                    table: 1200,
                    router_macs: Default::default(),
                }),
            )],
            ..Default::default()
        };
        assert_eq!(patch_ops(&n, &before, &p), None);
    }

    #[test]
    fn only_a_missing_route_deletion_is_benign() {
        let del = Op::DelRoute {
            table: MAIN_TABLE,
            prefix: net("10.0.0.0/8"),
            metric: ROUTE_METRIC,
        };
        assert!(is_benign_failure(&del, libc::ESRCH));
        assert!(!is_benign_failure(&del, libc::EPERM));
        let put = Op::ReplaceRoute {
            table: MAIN_TABLE,
            prefix: net("10.0.0.0/8"),
            nexthops: vec![NextHop::via(ip("192.0.2.1"))],
        };
        assert!(!is_benign_failure(&put, libc::ESRCH));
    }
}
