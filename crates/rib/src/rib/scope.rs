//! The tables peers subscribe to: [`ScopeId`] names one, [`Scope`] holds one with its
//! subscribers' queues and its datapath queue; [`UnicastPair`] holds the IPv4 and IPv6 scopes of
//! one instance (the default table or a VRF), and [`UnicastKey`] picks one of them by prefix
//! type, so every per-family rule of the RIB is written once, generic over the family.

use std::collections::VecDeque;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};

use crate::adj_out::{ExportKind, RouteKey};
use crate::forwarding::FibTable;
use crate::peer::{Family, PeerId};
use crate::table::{Attrs, Entry, Path, PeerSet, Source, Table};
use crate::vrf::VrfId;

use super::RibError;

/// Identifies one table that peers subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScopeId {
    /// Default table, IPv4.
    Default4,
    /// Default table, IPv6.
    Default6,
    /// The global EVPN table.
    Evpn,
    /// A VRF's IPv4 table.
    Vrf4(VrfId),
    /// A VRF's IPv6 table.
    Vrf6(VrfId),
}

impl ScopeId {
    /// The address family the table holds.
    pub(super) fn family(self) -> Family {
        match self {
            ScopeId::Default4 | ScopeId::Vrf4(_) => Family::Ipv4Unicast,
            ScopeId::Default6 | ScopeId::Vrf6(_) => Family::Ipv6Unicast,
            ScopeId::Evpn => Family::L2vpnEvpn,
        }
    }

    /// Which export rule applies to routes sent from the table.
    pub(super) fn export_kind(self) -> ExportKind {
        match self {
            ScopeId::Default4 | ScopeId::Default6 => ExportKind::Unicast,
            ScopeId::Evpn => ExportKind::Evpn,
            ScopeId::Vrf4(_) | ScopeId::Vrf6(_) => ExportKind::Host,
        }
    }
}

/// A table with its subscribers' queues and its datapath queue.
pub(super) struct Scope<K, X> {
    pub(super) table: Table<K, X>,
    pub(super) subs: [Option<PeerId>; PeerSet::CAPACITY],
    pub(super) active: PeerSet,
    pub(super) queues: Vec<VecDeque<u32>>,
    pub(super) fib: Option<FibTable>,
    pub(super) fib_queue: Vec<u32>,
}

impl<K: RouteKey<X>, X: Clone + PartialEq> Scope<K, X> {
    pub(super) fn new(fib: Option<FibTable>) -> Self {
        Self {
            table: Table::new(),
            subs: [None; PeerSet::CAPACITY],
            active: PeerSet::default(),
            queues: (0..PeerSet::CAPACITY).map(|_| VecDeque::new()).collect(),
            fib,
            fib_queue: Vec::new(),
        }
    }

    /// Queues `slot` for every subscriber and the datapath.
    // `#[inline]` here and on `set_path`, `drain_fib`, `drain_adj_out`: on every route's hot
    // path, and since the split they sit in another module (codegen unit) than their callers;
    // without the hint the ipv4 update bench ran about 10% slower.
    #[inline]
    pub(super) fn notify(&mut self, slot: u32) {
        let e = self.table.entry_mut(slot);
        for i in 0..PeerSet::CAPACITY as u8 {
            if self.active.contains(i) && !e.queued.contains(i) {
                e.queued.insert(i);
                self.queues[usize::from(i)].push_back(slot);
            }
        }
        if self.fib.is_some() && e.mark_fib_queued() {
            self.fib_queue.push(slot);
        }
    }

    /// Subscribes `peer`, queueing every key with a best path (the initial dump).
    pub(super) fn subscribe(&mut self, peer: PeerId, id: ScopeId) -> Result<u8, RibError> {
        let i = (0..PeerSet::CAPACITY as u8)
            .find(|&i| !self.active.contains(i))
            .ok_or(RibError::TooManyPeers(id))?;
        self.subs[usize::from(i)] = Some(peer);
        self.active.insert(i);
        self.requeue(i);
        Ok(i)
    }

    /// Gives memory back once the table has emptied out (see [`Table::shrink`]): the slab,
    /// the index and the queues. Returns whether anything shrank.
    pub(super) fn shrink(&mut self) -> bool {
        let mut any = self.table.shrink();
        for q in &mut self.queues {
            if q.capacity() > 1024 && q.len() * 4 < q.capacity() {
                q.shrink_to_fit();
                any = true;
            }
        }
        if self.fib_queue.capacity() > 1024 && self.fib_queue.len() * 4 < self.fib_queue.capacity()
        {
            self.fib_queue.shrink_to_fit();
            any = true;
        }
        any
    }

    /// Queues every key with a best path for subscriber `i` again (a ROUTE-REFRESH request).
    pub(super) fn requeue(&mut self, i: u8) {
        let slots: Vec<u32> = self.table.slots().collect();
        for s in slots {
            let e = self.table.entry_mut(s);
            if e.best().is_some() && !e.queued.contains(i) {
                e.queued.insert(i);
                self.queues[usize::from(i)].push_back(s);
            }
        }
    }

    /// Adds (`Some((attrs, extra))`) or removes `source`'s path of `key`: the slot whose
    /// selection must run again, if anything changed.
    #[inline]
    pub(super) fn set_path(
        &mut self,
        key: &K,
        source: Source,
        v: Option<(Attrs, X)>,
    ) -> Option<u32> {
        match v {
            Some((attrs, extra)) => Some(self.table.upsert(
                key,
                Path {
                    source,
                    attrs,
                    extra,
                },
            )),
            None => self.table.remove(key, &source),
        }
    }

    /// Forgets subscriber `i`: its queue and its advertised bits.
    pub(super) fn unsubscribe(&mut self, i: u8) {
        self.subs[usize::from(i)] = None;
        self.active.remove(i);
        let q = std::mem::take(&mut self.queues[usize::from(i)]);
        for s in q {
            self.table.entry_mut(s).queued.remove(i);
        }
        let slots: Vec<u32> = self.table.slots().collect();
        for s in slots {
            self.table.entry_mut(s).advertised.remove(i);
            self.table.collect(s);
        }
    }
}

/// The IPv4 and IPv6 unicast tables of one instance: the default table or a VRF.
pub(super) struct UnicastPair<X> {
    /// The IPv4 table.
    pub(super) v4: Scope<Ipv4Net, X>,
    /// The IPv6 table.
    pub(super) v6: Scope<Ipv6Net, X>,
}

impl<X: Clone + PartialEq> UnicastPair<X> {
    /// Both tables, each sending its changes to datapath table `fib`.
    pub(super) fn new(fib: FibTable) -> Self {
        Self {
            v4: Scope::new(Some(fib)),
            v6: Scope::new(Some(fib)),
        }
    }

    /// Keys with a path, both families.
    pub(super) fn len(&self) -> usize {
        self.v4.table.len() + self.v6.table.len()
    }

    /// The entry of `prefix` (host bits ignored) in the table of its family.
    pub(super) fn lookup(&self, prefix: IpNet) -> Option<&Entry<X>> {
        match prefix {
            IpNet::V4(p) => self.v4.table.lookup(&p.trunc()),
            IpNet::V6(p) => self.v6.table.lookup(&p.trunc()),
        }
    }

    /// Every key of both tables (IPv4 first, in slot order) as a prefix, with whether it is
    /// installed in the datapath.
    pub(super) fn prefixes(&self) -> Vec<(IpNet, bool)> {
        let v4 = self
            .v4
            .table
            .iter()
            .map(|(k, e)| (k.to_net(), e.fib_installed()));
        let v6 = self
            .v6
            .table
            .iter()
            .map(|(k, e)| (k.to_net(), e.fib_installed()));
        v4.chain(v6).collect()
    }

    /// Gives memory back in both tables (see [`Scope::shrink`]).
    pub(super) fn shrink(&mut self) -> bool {
        self.v4.shrink() | self.v6.shrink()
    }
}

/// A unicast table's key, an IPv4 or IPv6 prefix: what the RIB needs to treat both families
/// with one piece of code.
pub(super) trait UnicastKey: RouteKey<()> + RouteKey<u32> + Copy {
    /// Longest prefix length of the family.
    const MAX_LEN: u8;
    /// The key as a prefix of either family.
    fn to_net(&self) -> IpNet;
    /// The key for `net` (host bits cleared), `None` for the other family.
    fn from_net(net: IpNet) -> Option<Self>;
    /// This family's table of `pair`.
    fn of_mut<X>(pair: &mut UnicastPair<X>) -> &mut Scope<Self, X>;
}

/// Implements [`UnicastKey`] for one family: its prefix type, its [`IpNet`] variant, its
/// field of [`UnicastPair`] and its longest prefix length.
macro_rules! unicast_key {
    ($key:ty, $variant:ident, $field:ident, $max:expr) => {
        impl UnicastKey for $key {
            const MAX_LEN: u8 = $max;
            fn to_net(&self) -> IpNet {
                IpNet::$variant(*self)
            }
            fn from_net(net: IpNet) -> Option<Self> {
                match net {
                    IpNet::$variant(n) => Some(n.trunc()),
                    _ => None,
                }
            }
            fn of_mut<X>(pair: &mut UnicastPair<X>) -> &mut Scope<Self, X> {
                &mut pair.$field
            }
        }
    };
}

unicast_key!(Ipv4Net, V4, v4, 32);
unicast_key!(Ipv6Net, V6, v6, 128);
