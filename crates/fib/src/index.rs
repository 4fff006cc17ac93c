//! The datapath's compact index of the main table's wanted routes, and the streaming audit
//! that compares the kernel's route dump with it (issue 16).
//!
//! The reconciler used to keep the default table as `BTreeMap<IpNet, BTreeSet<IpAddr>>` (a
//! B-tree node per route for its one gateway: about 280 bytes per route), and every full pass
//! rebuilt the whole wanted set and parsed the whole kernel dump beside it (about 1 KB per
//! route at the pass's peak). Here a route is a fixed-size hash-table entry: its prefix and a
//! 4-byte handle to an interned, counted gateway set (a million routes through one gateway
//! share one set). The full pass ([`Audit`]) compares each main-table route of the kernel's
//! dump with the index as it is parsed and keeps only the differences: routes of ours nothing
//! wants, routes installed otherwise than wanted, and (after the dump) wanted routes the kernel
//! lacks. The diff ([`crate::diff`]) then plans only those, exactly as it planned the whole
//! table before: "the kernel is the truth" holds, at the cost of the differences alone.
//!
//! Pure: no netlink, no clock. The driver ([`crate::apply::Datapath::reconcile_indexed`])
//! feeds the dump in.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use hashbrown::HashMap;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::desired::{ForwardingState, MAIN_TABLE, ROUTE_METRIC};
use crate::nexthop::{NhHop, ObservedNhObject};
use crate::observed::{NamespaceState, ObservedRoute};
use crate::op::NextHop;

/// Marks a handle whose route the running audit found installed as wanted.
const SEEN: u32 = 1 << 31;

/// Interned gateway sets (sorted, without duplicates), counted by the routes using them.
#[derive(Debug, Clone, Default)]
struct GatewaySets {
    /// Slot → (set, routes using it); a slot no route uses is on `free`.
    slots: Vec<(Box<[IpAddr]>, u32)>,
    index: HashMap<Box<[IpAddr]>, u32>,
    free: Vec<u32>,
}

impl GatewaySets {
    fn acquire(&mut self, set: &[IpAddr]) -> u32 {
        if let Some(&id) = self.index.get(set) {
            self.slots[id as usize].1 += 1;
            return id;
        }
        let boxed: Box<[IpAddr]> = set.into();
        let id = match self.free.pop() {
            Some(id) => {
                self.slots[id as usize] = (boxed.clone(), 1);
                id
            }
            None => {
                self.slots.push((boxed.clone(), 1));
                let id = u32::try_from(self.slots.len() - 1).expect("fewer than 2^31 sets");
                assert!(id < SEEN, "fewer than 2^31 gateway sets");
                id
            }
        };
        self.index.insert(boxed, id);
        id
    }

    fn release(&mut self, id: u32) {
        let slot = &mut self.slots[id as usize];
        slot.1 -= 1;
        if slot.1 == 0 {
            let set = std::mem::take(&mut slot.0);
            self.index.remove(&set);
            self.free.push(id);
        }
    }

    fn get(&self, id: u32) -> &[IpAddr] {
        &self.slots[(id & !SEEN) as usize].0
    }
}

/// The main table's wanted routes: prefix → gateways (several = ECMP). IPv4 and IPv6 prefixes
/// in separate tables; an IPv4 entry is 12 bytes.
#[derive(Debug, Clone, Default)]
pub struct RouteIndex {
    v4: HashMap<Ipv4Net, u32>,
    v6: HashMap<Ipv6Net, u32>,
    sets: GatewaySets,
}

impl RouteIndex {
    /// The index of `routes` (a [`ForwardingState::default_routes`]).
    pub fn from_map(routes: BTreeMap<IpNet, BTreeSet<IpAddr>>) -> RouteIndex {
        let mut ix = RouteIndex::default();
        for (prefix, gateways) in routes {
            let g: Vec<IpAddr> = gateways.into_iter().collect();
            ix.set(prefix, Some(&g));
        }
        ix
    }

    /// Sets `prefix`'s gateways, in any order (`None` removes the route). The prefix is stored
    /// truncated (the kernel's form: `10.1.2.3/16` is `10.1.0.0/16`).
    pub fn set(&mut self, prefix: IpNet, gateways: Option<&[IpAddr]>) {
        let new = gateways.map(|g| {
            let mut g = g.to_vec();
            g.sort_unstable();
            g.dedup();
            self.sets.acquire(&g)
        });
        let old = match (prefix.trunc(), new) {
            (IpNet::V4(p), Some(id)) => self.v4.insert(p, id),
            (IpNet::V4(p), None) => self.v4.remove(&p),
            (IpNet::V6(p), Some(id)) => self.v6.insert(p, id),
            (IpNet::V6(p), None) => self.v6.remove(&p),
        };
        if let Some(old) = old {
            self.sets.release(old & !SEEN);
        }
        shrink(&mut self.v4);
        shrink(&mut self.v6);
    }

    /// `prefix`'s gateways, sorted.
    pub fn get(&self, prefix: &IpNet) -> Option<&[IpAddr]> {
        self.handle(prefix).map(|h| self.sets.get(h))
    }

    /// `prefix`'s gateways in the [`ForwardingState`] form (for a patch).
    pub fn get_set(&self, prefix: &IpNet) -> Option<BTreeSet<IpAddr>> {
        self.get(prefix).map(|g| g.iter().copied().collect())
    }

    fn handle(&self, prefix: &IpNet) -> Option<u32> {
        match prefix.trunc() {
            IpNet::V4(p) => self.v4.get(&p),
            IpNet::V6(p) => self.v6.get(&p),
        }
        .copied()
    }

    /// Marks `prefix` as installed as wanted (for the audit); false if it is not in the index.
    fn mark(&mut self, prefix: &IpNet) -> bool {
        let slot = match prefix.trunc() {
            IpNet::V4(p) => self.v4.get_mut(&p),
            IpNet::V6(p) => self.v6.get_mut(&p),
        };
        match slot {
            Some(h) => {
                *h |= SEEN;
                true
            }
            None => false,
        }
    }

    /// The routes not marked, in the diff's form; clears every mark.
    fn take_unmarked(&mut self) -> BTreeMap<IpNet, BTreeSet<IpAddr>> {
        let mut out = BTreeMap::new();
        let sets = &self.sets;
        for (p, h) in self.v4.iter_mut() {
            if *h & SEEN == 0 {
                out.insert(IpNet::V4(*p), sets.get(*h).iter().copied().collect());
            }
            *h &= !SEEN;
        }
        for (p, h) in self.v6.iter_mut() {
            if *h & SEEN == 0 {
                out.insert(IpNet::V6(*p), sets.get(*h).iter().copied().collect());
            }
            *h &= !SEEN;
        }
        out
    }

    /// Number of routes.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether there is no route.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Distinct gateway sets in use.
    pub fn gateway_sets(&self) -> usize {
        self.sets.index.len()
    }

    /// Every route, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (IpNet, &[IpAddr])> + '_ {
        self.v4
            .iter()
            .map(|(p, h)| (IpNet::V4(*p), *h))
            .chain(self.v6.iter().map(|(p, h)| (IpNet::V6(*p), *h)))
            .map(|(p, h)| (p, self.sets.get(h)))
    }

    /// Every route in the [`ForwardingState::default_routes`] form.
    pub fn to_map(&self) -> BTreeMap<IpNet, BTreeSet<IpAddr>> {
        self.iter()
            .map(|(p, g)| (p, g.iter().copied().collect()))
            .collect()
    }
}

/// Halves a table's capacity once it is at most a quarter full (amortized: a shrink follows at
/// least as many removals as it keeps entries).
fn shrink<K: std::hash::Hash + Eq, V>(m: &mut HashMap<K, V>) {
    if m.capacity() > 1024 && m.len() * 4 <= m.capacity() {
        m.shrink_to(m.len() * 2);
    }
}

/// What a gateway set wants of the kernel, for one address family of prefix: the route's next
/// hops with their gateways, and the object content when every hop can have one.
#[derive(Debug, Clone)]
struct Want {
    /// `None` when a gateway cannot go in a route of this family (the diff warns about it).
    plain: Option<BTreeSet<NextHop>>,
    /// The hops of the route's nexthop object(s); `None` when not all can have one.
    object: Option<BTreeSet<NhHop>>,
}

/// The streaming audit of the main table for one full pass: [`Audit::check`] takes each route
/// of the kernel's dump as it is parsed and says whether it is installed as wanted (then it is
/// left out of the observation, and its object counted as used); [`Audit::finish`] gives the
/// wanted routes the kernel lacks or holds otherwise.
///
/// Conservative: a route is taken as wanted only when the diff would leave it as it is whatever
/// the device plan does, i.e. its devices are none the diff creates or deletes (underlay NICs,
/// not `br-pe-*`, VRFs, veths of ours). Anything else stays in the observation for the diff.
#[derive(Debug)]
pub struct Audit<'a> {
    index: Option<&'a mut RouteIndex>,
    link_local: &'a BTreeMap<std::net::Ipv6Addr, String>,
    /// Per (gateway-set handle, IPv4 prefix?): what it wants, computed once.
    wants: HashMap<(u32, bool), Want>,
    /// Our objects' hops as the kernel holds them (on devices the diff leaves alone).
    content: BTreeMap<u32, BTreeSet<NhHop>>,
    objects: bool,
    /// Objects used by the routes found as wanted.
    used: BTreeSet<u32>,
    /// Routes found as wanted (left out of the observation).
    matched: u64,
}

impl<'a> Audit<'a> {
    /// An audit of `index` against `router` (its links, addresses and nexthop objects already
    /// observed; its routes still to come). `index` = `None` adopts: the forwarding state is not
    /// known yet (right after a restart), the kernel's main-table routes are kept as they are
    /// and never planned (see [`crate::apply::Datapath::reconcile_adopting`]).
    pub fn new(
        index: Option<&'a mut RouteIndex>,
        forwarding: &'a ForwardingState,
        router: &NamespaceState,
    ) -> Audit<'a> {
        let nh = &router.nexthops;
        let mut content = BTreeMap::new();
        if nh.supported {
            let hop_of = |o: &ObservedNhObject| -> Option<NhHop> {
                match o {
                    ObservedNhObject::Hop {
                        gateway: Some(gateway),
                        oif,
                        onlink,
                    } => {
                        let l = router.link_by_index(*oif)?;
                        (!crate::diff::ours_in_router(l)).then(|| NhHop {
                            gateway: *gateway,
                            dev: l.name.clone(),
                            onlink: *onlink,
                        })
                    }
                    _ => None,
                }
            };
            for (id, o) in &nh.ours {
                let set: Option<BTreeSet<NhHop>> = match o {
                    ObservedNhObject::Hop { .. } => hop_of(o).map(|h| [h].into()),
                    ObservedNhObject::Group(m) => m
                        .iter()
                        .map(|m| nh.ours.get(m).and_then(hop_of))
                        .collect::<Option<BTreeSet<NhHop>>>()
                        .filter(|s| s.len() == m.len()),
                };
                if let Some(set) = set {
                    content.insert(*id, set);
                }
            }
        }
        Audit {
            index,
            link_local: &forwarding.link_local_devices,
            wants: HashMap::new(),
            content,
            objects: nh.supported,
            used: BTreeSet::new(),
            matched: 0,
        }
    }

    /// Whether the kernel's route `key` is installed as wanted (or, adopting, is a main-table
    /// route to keep as it is): then the caller leaves it out of the observation.
    pub fn check(
        &mut self,
        router: &NamespaceState,
        key: &(u32, IpNet),
        route: &ObservedRoute,
    ) -> bool {
        let (table, prefix) = key;
        if *table != MAIN_TABLE || route.metric != ROUTE_METRIC {
            return false;
        }
        let Some(index) = self.index.as_deref_mut() else {
            // Adopting: nothing is planned for the main table's routes, so they need not be
            // held. Their objects stay (the adopting pass deletes nothing).
            self.matched += 1;
            return true;
        };
        let Some(h) = index.handle(prefix) else {
            return false;
        };
        let h = h & !SEEN;
        let v4 = prefix.addr().is_ipv4();
        let want = self
            .wants
            .entry((h, v4))
            .or_insert_with(|| want_of(prefix, index.sets.get(h), self.link_local, router));
        let ok = match route.nhid {
            Some(id) => {
                self.objects
                    && want.object.is_some()
                    && self.content.get(&id) == want.object.as_ref()
            }
            None => {
                let mut have = BTreeSet::new();
                let mut intact = !route.nexthops.is_empty();
                for n in &route.nexthops {
                    let Some(gateway) = n.gateway else {
                        intact = false;
                        break;
                    };
                    match router.link_by_index(n.oif) {
                        Some(l) if !crate::diff::ours_in_router(l) => {
                            have.insert(if n.onlink {
                                NextHop::onlink(gateway, l.name.clone())
                            } else {
                                NextHop::via(gateway)
                            });
                        }
                        _ => {
                            intact = false;
                            break;
                        }
                    }
                }
                intact && want.plain.as_ref() == Some(&have)
            }
        };
        if ok {
            index.mark(prefix);
            if let Some(id) = route.nhid {
                self.used.insert(id);
            }
            self.matched += 1;
        }
        ok
    }

    /// The dump of one family (IPv4 if `v4`) was interrupted and starts over: its routes'
    /// marks are cleared. (Objects counted as used stay so: at worst one kept a pass longer.)
    pub fn restart(&mut self, v4: bool) {
        if let Some(ix) = self.index.as_deref_mut() {
            if v4 {
                ix.v4.values_mut().for_each(|h| *h &= !SEEN);
            } else {
                ix.v6.values_mut().for_each(|h| *h &= !SEEN);
            }
        }
    }

    /// Ends the audit: the wanted routes not found installed as wanted (to plan), the objects
    /// the routes found use, and how many routes were found. Clears the index's marks.
    pub fn finish(self) -> AuditResult {
        AuditResult {
            unmatched: self.index.map(|ix| ix.take_unmarked()).unwrap_or_default(),
            used_objects: self.used,
            matched: self.matched,
        }
    }
}

/// The outcome of an [`Audit`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditResult {
    /// Wanted main-table routes the kernel lacks or holds otherwise.
    pub unmatched: BTreeMap<IpNet, BTreeSet<IpAddr>>,
    /// Nexthop objects used by the routes found installed as wanted.
    pub used_objects: BTreeSet<u32>,
    /// Routes found installed as wanted (left out of the observation).
    pub matched: u64,
}

/// What `gateways` want for a route of `prefix`'s family (the diff's rules: kernel-resolved
/// gateways through the one live device on their subnet, link-local ones on their device).
fn want_of(
    prefix: &IpNet,
    gateways: &[IpAddr],
    link_local: &BTreeMap<std::net::Ipv6Addr, String>,
    router: &NamespaceState,
) -> Want {
    let plain: Option<BTreeSet<NextHop>> = gateways
        .iter()
        .map(|g| NextHop::for_gateway(prefix, *g, link_local))
        .collect::<Option<_>>()
        .filter(|s: &BTreeSet<NextHop>| !s.is_empty());
    let running = |dev: &str| {
        router
            .links
            .get(dev)
            .is_some_and(|l| l.up && l.carrier && !crate::diff::ours_in_router(l))
    };
    let object = plain.as_ref().and_then(|plain| {
        plain
            .iter()
            .map(|h| match &h.dev {
                Some(dev) => running(dev).then(|| NhHop {
                    gateway: h.gateway,
                    dev: dev.clone(),
                    onlink: true,
                }),
                None => {
                    let mut found = router.links.values().filter(|l| {
                        l.name != "lo"
                            && l.up
                            && l.carrier
                            && l.addresses.iter().any(|a| {
                                a.prefix_len() < a.max_prefix_len()
                                    && a.contains(&h.gateway)
                                    && a.addr() != h.gateway
                            })
                    });
                    let one = found.next()?;
                    if found.next().is_some() || crate::diff::ours_in_router(one) {
                        return None;
                    }
                    Some(NhHop {
                        gateway: h.gateway,
                        dev: one.name.clone(),
                        onlink: false,
                    })
                }
            })
            .collect()
    });
    Want { plain, object }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::desired::NodeDatapath;
    use crate::diff::{diff, diff_with_defaults};
    use crate::nexthop::ID_FIRST;
    use crate::observed::{LinkKind, ObservedNextHop, ObservedNode};
    use crate::op::Op;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }
    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn routes_share_interned_sets_which_go_with_their_last_route() {
        let mut ix = RouteIndex::default();
        for i in 0..100u32 {
            let p = IpNet::V4(Ipv4Net::new((0x0a00_0000 + (i << 8)).into(), 24).unwrap());
            ix.set(p, Some(&[ip("192.168.11.2")]));
        }
        // Unsorted, duplicated gateways are one set; prefixes are kept truncated.
        ix.set(
            net("10.200.1.2/16"),
            Some(&[ip("192.168.11.5"), ip("192.168.11.2"), ip("192.168.11.5")]),
        );
        ix.set(net("2001:db8::/64"), Some(&[ip("2001:db8:1::1")]));
        assert_eq!((ix.len(), ix.gateway_sets()), (102, 3));
        assert_eq!(
            ix.get(&net("10.200.0.0/16")),
            Some(&[ip("192.168.11.2"), ip("192.168.11.5")][..])
        );
        assert_eq!(ix.get(&net("10.0.7.0/24")), Some(&[ip("192.168.11.2")][..]));
        let map = ix.to_map();
        assert_eq!(map.len(), 102);
        assert_eq!(RouteIndex::from_map(map.clone()).to_map(), map);
        // Moving a route moves it to the other set; removing every route drops every set.
        ix.set(net("10.0.7.0/24"), Some(&[ip("2001:db8:1::1")]));
        assert_eq!(ix.gateway_sets(), 3);
        for (p, _) in map {
            ix.set(p, None);
        }
        assert!(ix.is_empty());
        assert_eq!(ix.gateway_sets(), 0, "no set outlives its routes");
    }

    #[test]
    fn a_mass_withdrawal_gives_the_table_back() {
        let mut ix = RouteIndex::default();
        let gw = [ip("192.168.11.2")];
        let nets: Vec<IpNet> = (0..100_000u32)
            .map(|i| IpNet::V4(Ipv4Net::new((0x1000_0000 + (i << 8)).into(), 24).unwrap()))
            .collect();
        for p in &nets {
            ix.set(*p, Some(&gw));
        }
        let full = ix.v4.capacity();
        for p in &nets[..99_990] {
            ix.set(*p, None);
        }
        assert_eq!(ix.len(), 10);
        assert!(
            ix.v4.capacity() < full / 16,
            "{} of {full}",
            ix.v4.capacity()
        );
        assert_eq!(ix.iter().count(), 10);
        assert_eq!(ix.get_set(&nets[99_999]), Some(gw.into()));
    }

    /// A router namespace with `ul0` (192.168.11.3/24, running) and our objects `ID_FIRST`
    /// holding 192.168.11.2 on it and `ID_FIRST + 1` holding 192.168.11.8.
    fn router() -> NamespaceState {
        let mut st = NamespaceState::fresh();
        let mut ul = st.links["lo"].clone();
        ul.name = "ul0".into();
        ul.ifindex = 5;
        ul.kind = LinkKind::Other(None);
        ul.up = true;
        ul.carrier = true;
        ul.addresses = [net("192.168.11.3/24")].into();
        st.links.insert("ul0".into(), ul);
        st.nexthops.supported = true;
        st.nexthops.ours.insert(
            ID_FIRST,
            ObservedNhObject::Hop {
                gateway: Some(ip("192.168.11.2")),
                oif: 5,
                onlink: false,
            },
        );
        st.nexthops.ours.insert(
            ID_FIRST + 1,
            ObservedNhObject::Hop {
                gateway: Some(ip("192.168.11.8")),
                oif: 5,
                onlink: false,
            },
        );
        st.nexthops.taken.extend([ID_FIRST, ID_FIRST + 1]);
        st
    }

    fn via_object(id: u32) -> ObservedRoute {
        ObservedRoute {
            nexthops: BTreeSet::new(),
            nhid: Some(id),
            metric: ROUTE_METRIC,
        }
    }

    fn via_gateway(gw: &str) -> ObservedRoute {
        ObservedRoute {
            nexthops: [ObservedNextHop {
                gateway: Some(ip(gw)),
                oif: 5,
                onlink: false,
            }]
            .into(),
            nhid: None,
            metric: ROUTE_METRIC,
        }
    }

    /// Routes as a dump gives them.
    type Dump = Vec<((u32, IpNet), ObservedRoute)>;

    fn sorted(ops: &[Op]) -> Vec<String> {
        let mut v: Vec<String> = ops.iter().map(|o| format!("{o:?}")).collect();
        v.sort();
        v
    }

    /// The kernel's routes (as the dump gives them) and the wanted main table, with drift:
    /// a route re-pointed by someone else, one deleted, one added; two as wanted.
    fn scene() -> (ForwardingState, Dump) {
        let mut f = ForwardingState::default();
        for p in ["10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"] {
            f.default_routes.insert(net(p), [ip("192.168.11.2")].into());
        }
        f.default_routes
            .insert(net("10.4.0.0/16"), [ip("192.168.11.9")].into());
        f.default_routes
            .insert(net("10.5.0.0/16"), [ip("192.168.11.8")].into());
        let kernel = vec![
            // As wanted, and the only user of its object (which must stay).
            ((MAIN_TABLE, net("10.5.0.0/16")), via_object(ID_FIRST + 1)),
            // As wanted: through the object, and with its gateway in the route.
            ((MAIN_TABLE, net("10.1.0.0/16")), via_object(ID_FIRST)),
            (
                (MAIN_TABLE, net("10.2.0.0/16")),
                via_gateway("192.168.11.2"),
            ),
            // Drift: re-pointed to another gateway.
            (
                (MAIN_TABLE, net("10.3.0.0/16")),
                via_gateway("192.168.11.7"),
            ),
            // Drift: ours, wanted by nobody.
            (
                (MAIN_TABLE, net("10.9.0.0/16")),
                via_gateway("192.168.11.2"),
            ),
            // Not the main table: always left to the diff.
            ((1100, net("10.1.0.0/16")), via_gateway("192.168.11.2")),
        ];
        // 10.4.0.0/16 is missing from the kernel.
        (f, kernel)
    }

    /// Feeds `kernel` through an audit as the driver does: what it does not take is observed.
    fn audit(
        index: Option<&mut RouteIndex>,
        f: &ForwardingState,
        kernel: &[((u32, IpNet), ObservedRoute)],
    ) -> (NamespaceState, AuditResult) {
        let mut st = router();
        let mut a = Audit::new(index, f, &st);
        for (k, r) in kernel {
            if !a.check(&st, k, r) {
                st.insert_route(*k, r.clone());
            }
        }
        let res = a.finish();
        st.nexthops.audited = res.used_objects.clone();
        (st, res)
    }

    #[test]
    fn the_audit_keeps_only_differences_and_plans_what_the_whole_diff_plans() {
        let (f, kernel) = scene();
        let mut ix = RouteIndex::from_map(f.default_routes.clone());
        let (st, res) = audit(Some(&mut ix), &f, &kernel);
        assert_eq!(
            res.matched, 3,
            "10.1 and 10.5 via their objects, 10.2 via its gateway"
        );
        assert_eq!(res.used_objects, [ID_FIRST, ID_FIRST + 1].into());
        assert_eq!(
            res.unmatched.keys().copied().collect::<Vec<_>>(),
            [net("10.3.0.0/16"), net("10.4.0.0/16")],
            "drifted and missing routes are planned"
        );
        let observed: BTreeSet<(u32, IpNet)> = st.routes.keys().copied().collect();
        assert_eq!(
            observed,
            [
                (MAIN_TABLE, net("10.3.0.0/16")),
                (MAIN_TABLE, net("10.9.0.0/16")),
                (1100, net("10.1.0.0/16")),
            ]
            .into()
        );
        // The plan from the differences is the plan from the whole table.
        let mut d = NodeDatapath::new("perouter");
        d.underlay_nics = vec!["ul0".into()];
        let mut whole = router();
        for (k, r) in &kernel {
            whole.insert_route(*k, r.clone());
        }
        let whole = ObservedNode {
            host: NamespaceState::default(),
            router: Some(whole),
        };
        let want = diff(&d, &f, &whole).unwrap();
        let part = ObservedNode {
            host: NamespaceState::default(),
            router: Some(st),
        };
        let rest = ForwardingState {
            default_routes: BTreeMap::new(),
            ..f.clone()
        };
        let got = diff_with_defaults(&d, &rest, &res.unmatched, &part).unwrap();
        assert_eq!(sorted(&got.ops), sorted(&want.ops));
        // The repairs are there: the stray route goes, the drifted one is re-installed through
        // the object, the missing one gets an object of its own; the used object stays.
        let ops = sorted(&got.ops).join("\n");
        assert!(
            ops.contains("DelRoute { table: 254, prefix: 10.9.0.0/16"),
            "{ops}"
        );
        assert!(
            ops.contains(&format!(
                "ReplaceRouteNh {{ table: 254, prefix: 10.3.0.0/16, nhid: {ID_FIRST} }}"
            )),
            "{ops}"
        );
        assert!(ops.contains("prefix: 10.4.0.0/16"), "{ops}");
        assert!(!ops.contains("DelNhObject"), "{ops}");
        // The marks are cleared: a kernel without routes leaves everything to plan.
        let (_, res) = audit(Some(&mut ix), &f, &[]);
        assert_eq!(ix.len(), f.default_routes.len());
        assert_eq!(res.unmatched, f.default_routes);
        assert_eq!(res.matched, 0);
    }

    #[test]
    fn an_interrupted_dump_forgets_what_it_had_found() {
        let (f, kernel) = scene();
        let mut ix = RouteIndex::from_map(f.default_routes.clone());
        let st = router();
        let mut a = Audit::new(Some(&mut ix), &f, &st);
        for (k, r) in &kernel {
            a.check(&st, k, r);
        }
        a.restart(true);
        // The retried dump no longer has 10.1.0.0/16.
        let (k, r) = kernel
            .iter()
            .find(|(k, _)| *k == (MAIN_TABLE, net("10.2.0.0/16")))
            .unwrap();
        a.check(&st, k, r);
        let res = a.finish();
        assert!(res.unmatched.contains_key(&net("10.1.0.0/16")));
        assert!(!res.unmatched.contains_key(&net("10.2.0.0/16")));
    }

    #[test]
    fn adopting_keeps_the_main_table_out_of_the_plan() {
        // Right after a restart nothing is known: the main table's routes are neither held nor
        // planned (the adopting pass deletes nothing); other tables' routes are observed.
        let (f, kernel) = scene();
        let (st, res) = audit(None, &f, &kernel);
        assert_eq!(res.matched, 5);
        assert!(res.unmatched.is_empty());
        assert_eq!(
            st.routes.keys().copied().collect::<Vec<_>>(),
            [(1100, net("10.1.0.0/16"))]
        );
        // A route of ours with another metric is not adopted: it stays for the diff.
        let stray = ObservedRoute {
            metric: 7,
            ..via_gateway("192.168.11.2")
        };
        let empty = ForwardingState::default();
        let st = router();
        let mut a = Audit::new(None, &empty, &st);
        assert!(!a.check(&st, &(MAIN_TABLE, net("10.5.0.0/16")), &stray));
    }

    #[test]
    fn routes_on_devices_the_plan_manages_are_left_to_the_diff() {
        // A route through one of our own devices (a bridge the plan may delete or recreate) is
        // never taken as wanted by the audit, even when it looks right.
        let mut f = ForwardingState::default();
        f.default_routes
            .insert(net("10.1.0.0/16"), [ip("192.168.11.2")].into());
        let mut ix = RouteIndex::from_map(f.default_routes.clone());
        let mut st = router();
        let mut br = st.links["ul0"].clone();
        br.name = "br-pe-100".into();
        br.ifindex = 9;
        st.links.insert("br-pe-100".into(), br);
        let r = ObservedRoute {
            nexthops: [ObservedNextHop {
                gateway: Some(ip("192.168.11.2")),
                oif: 9,
                onlink: false,
            }]
            .into(),
            nhid: None,
            metric: ROUTE_METRIC,
        };
        let mut a = Audit::new(Some(&mut ix), &f, &st);
        assert!(!a.check(&st, &(MAIN_TABLE, net("10.1.0.0/16")), &r));
        assert!(a.finish().unmatched.contains_key(&net("10.1.0.0/16")));
    }
}
