//! A routing table: for each key (prefix, EVPN route key) the paths received for it, sorted
//! best first, plus the per-key state of what was sent to each subscribed peer and to the
//! datapath.
//!
//! Layout, chosen for bytes per route: entries live in a slab (`Vec`) and a hash index of
//! 4-byte slot numbers points into it, so each key is stored once and the index costs about
//! 5 bytes per bucket however large the key is. Slot numbers are stable for an entry's life,
//! which lets the per-peer Adj-RIB-Out queues and the datapath queue hold 4-byte slot numbers
//! instead of keys. An entry whose last path is gone stays (a tombstone) until every peer and
//! the datapath have been told, then its slot is recycled.

use std::hash::{BuildHasher, Hash};

use hashbrown::hash_table::{Entry as HtEntry, HashTable};
use hashbrown::DefaultHashBuilder;

use crate::attrs::PathAttrs;
use crate::intern::Interned;
use crate::peer::PeerId;

/// An interned attribute set: the handle every path holds.
pub type Attrs = Interned<PathAttrs>;

/// A set of subscriber slots (at most [`PeerSet::CAPACITY`] peers per table).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeerSet(u32);

impl PeerSet {
    /// How many subscribers one table can track.
    pub const CAPACITY: usize = 32;

    /// Whether `slot` is in the set.
    pub fn contains(self, slot: u8) -> bool {
        self.0 & (1 << slot) != 0
    }
    /// Adds `slot`.
    pub fn insert(&mut self, slot: u8) {
        self.0 |= 1 << slot;
    }
    /// Removes `slot`.
    pub fn remove(&mut self, slot: u8) {
        self.0 &= !(1 << slot);
    }
    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
}

/// Where a path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Source {
    /// Originated by this router (a `network`, our VTEP, a local MAC, an exported VRF route).
    Local,
    /// Received from a peer: one path per peer and ADD-PATH path identifier.
    Peer {
        /// The peer.
        peer: PeerId,
        /// The ADD-PATH path identifier (RFC 7911 §3); 0 without ADD-PATH.
        path_id: u32,
        /// Kept from before the peer's session went down gracefully (RFC 4724 §4.2): purged
        /// unless the peer sends the path again before its End-of-RIB.
        stale: bool,
    },
    /// Imported into a VRF from the EVPN table: the best path of the EVPN route with this
    /// route distinguisher, learned from `peer`. Identity is the RD: when the EVPN best path
    /// moves to another peer, the imported path is replaced, not duplicated.
    Evpn {
        /// Route distinguisher of the EVPN route (wire octets).
        rd: [u8; 8],
        /// The peer the EVPN route's best path came from.
        peer: PeerId,
    },
}

impl Source {
    /// Whether two sources denote the same path slot (one path per source per key).
    pub fn same_path(&self, other: &Source) -> bool {
        match (self, other) {
            (Source::Evpn { rd: a, .. }, Source::Evpn { rd: b, .. }) => a == b,
            (
                Source::Peer {
                    peer: a,
                    path_id: x,
                    ..
                },
                Source::Peer {
                    peer: b,
                    path_id: y,
                    ..
                },
            ) => a == b && x == y,
            _ => self == other,
        }
    }

    /// A fresh (not stale) path from `peer` with ADD-PATH identifier `path_id`.
    pub fn peer_path(peer: PeerId, path_id: u32) -> Self {
        Source::Peer {
            peer,
            path_id,
            stale: false,
        }
    }

    /// Whether the path was received directly from `peer` (not imported from EVPN).
    pub fn is_from(&self, peer: PeerId) -> bool {
        matches!(*self, Source::Peer { peer: p, .. } if p == peer)
    }

    /// The peer behind this path, if any.
    pub fn peer(&self) -> Option<PeerId> {
        match *self {
            Source::Local => None,
            Source::Peer { peer: p, .. } | Source::Evpn { peer: p, .. } => Some(p),
        }
    }
}

/// One path for a key: its source, its attributes and table-specific data `X` (the VNI of
/// an imported VRF path, the non-key NLRI fields of an EVPN route).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path<X> {
    /// Where it came from.
    pub source: Source,
    /// Its attributes.
    pub attrs: Attrs,
    /// Table-specific data.
    pub extra: X,
}

/// The paths of one key: inline when there is one, which is the common case.
#[derive(Debug, Clone, Default)]
enum PathList<X> {
    #[default]
    Empty,
    One(Path<X>),
    Many(Vec<Path<X>>),
}

impl<X> PathList<X> {
    fn as_slice(&self) -> &[Path<X>] {
        match self {
            PathList::Empty => &[],
            PathList::One(p) => std::slice::from_ref(p),
            PathList::Many(v) => v,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [Path<X>] {
        match self {
            PathList::Empty => &mut [],
            PathList::One(p) => std::slice::from_mut(p),
            PathList::Many(v) => v,
        }
    }

    fn push(&mut self, path: Path<X>) {
        match std::mem::take(self) {
            PathList::Empty => *self = PathList::One(path),
            PathList::One(p) => *self = PathList::Many(vec![p, path]),
            PathList::Many(mut v) => {
                v.push(path);
                *self = PathList::Many(v);
            }
        }
    }

    fn remove(&mut self, index: usize) -> Path<X> {
        match std::mem::take(self) {
            PathList::Empty => unreachable!("remove is only called with an index from as_slice"),
            PathList::One(p) => p,
            PathList::Many(mut v) => {
                let p = v.remove(index);
                *self = match v.len() {
                    0 => PathList::Empty,
                    1 => PathList::One(v.pop().expect("length checked")),
                    _ => PathList::Many(v),
                };
                p
            }
        }
    }
}

/// Flag: the datapath has this key installed.
const FIB_INSTALLED: u8 = 1;
/// Flag: the key is queued for the datapath.
const FIB_QUEUED: u8 = 2;

/// Everything a table keeps for one key.
#[derive(Debug)]
pub struct Entry<X> {
    paths: PathList<X>,
    /// Number of paths at the front of `paths` that form the multipath set (0: no eligible path).
    ecmp: u8,
    flags: u8,
    /// Subscribers that currently hold an advertisement of this key from us (Adj-RIB-Out).
    pub advertised: PeerSet,
    /// Subscribers that have this key in their queue.
    pub queued: PeerSet,
    /// The table index's hash of the key, folded to 32 bits (see [`fold`]): growing or
    /// shrinking the index reads it instead of hashing every key again (a million EVPN keys
    /// of 48 bytes: the rehash was 7% of a relay's CPU, issue 16). It fits in the entry's
    /// padding.
    hash: u32,
}

impl<X> Default for Entry<X> {
    fn default() -> Self {
        Self {
            paths: PathList::Empty,
            ecmp: 0,
            flags: 0,
            advertised: PeerSet::default(),
            queued: PeerSet::default(),
            hash: 0,
        }
    }
}

impl<X> Entry<X> {
    /// All paths, the multipath set first (best path at index 0).
    pub fn paths(&self) -> &[Path<X>] {
        self.paths.as_slice()
    }

    /// The multipath (ECMP) set, best first; empty when no path is eligible.
    pub fn multipath(&self) -> &[Path<X>] {
        &self.paths.as_slice()[..usize::from(self.ecmp)]
    }

    /// The best path, if any path is eligible.
    pub fn best(&self) -> Option<&Path<X>> {
        self.multipath().first()
    }

    /// Whether the datapath currently has this key.
    pub fn fib_installed(&self) -> bool {
        self.flags & FIB_INSTALLED != 0
    }

    /// Records whether the datapath has this key.
    pub fn set_fib_installed(&mut self, on: bool) {
        if on {
            self.flags |= FIB_INSTALLED;
        } else {
            self.flags &= !FIB_INSTALLED;
        }
    }

    /// Marks the key queued for the datapath; returns false if it already was.
    pub fn mark_fib_queued(&mut self) -> bool {
        let was = self.flags & FIB_QUEUED != 0;
        self.flags |= FIB_QUEUED;
        !was
    }

    /// Clears the datapath-queued mark.
    pub fn clear_fib_queued(&mut self) {
        self.flags &= !FIB_QUEUED;
    }

    /// Whether nothing refers to this entry any more (no path, nothing advertised, queued or
    /// installed), so its slot can be recycled.
    fn is_dead(&self) -> bool {
        self.paths.as_slice().is_empty()
            && self.flags & (FIB_INSTALLED | FIB_QUEUED) == 0
            && self.advertised.is_empty()
            && self.queued.is_empty()
    }
}

struct Slot<K, X> {
    key: K,
    entry: Entry<X>,
    live: bool,
}

/// A 64-bit hash folded to the 32 bits an [`Entry`] keeps.
fn fold(h: u64) -> u32 {
    (h ^ (h >> 32)) as u32
}

/// The hash the index uses for a folded hash: the same 32 bits in both halves, so hashbrown
/// finds its bucket bits (low) and its tag bits (high 7) in it.
fn unfold(h: u32) -> u64 {
    u64::from(h) | (u64::from(h) << 32)
}

/// What changed for a key after a path was added, replaced or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// The key's slot.
    pub slot: u32,
    /// Whether the multipath set (which paths, with which attributes) changed.
    pub selection_changed: bool,
}

/// A routing table keyed by `K` with per-path data `X`.
pub struct Table<K, X> {
    index: HashTable<u32>,
    slots: Vec<Slot<K, X>>,
    free: Vec<u32>,
    hasher: DefaultHashBuilder,
    live: usize,
}

impl<K: Hash + Eq + Clone, X: Clone + PartialEq> Default for Table<K, X> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Hash + Eq + Clone, X: Clone + PartialEq> Table<K, X> {
    /// An empty table.
    pub fn new() -> Self {
        Self {
            index: HashTable::new(),
            slots: Vec::new(),
            free: Vec::new(),
            hasher: DefaultHashBuilder::default(),
            live: 0,
        }
    }

    /// Number of keys that have at least one path.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no key has a path.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The slot of `key`, if present.
    pub fn find(&self, key: &K) -> Option<u32> {
        let h = fold(self.hasher.hash_one(key));
        let slots = &self.slots;
        self.index
            .find(unfold(h), |&s| {
                let s = &slots[s as usize];
                s.entry.hash == h && s.key == *key
            })
            .copied()
    }

    /// Every key that has at least one path, with its entry, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &Entry<X>)> {
        self.slots
            .iter()
            .filter(|s| s.live)
            .map(|s| (&s.key, &s.entry))
    }

    /// The key and entry in `slot`. Panics on a slot number the table never handed out.
    pub fn get(&self, slot: u32) -> (&K, &Entry<X>) {
        let s = &self.slots[slot as usize];
        (&s.key, &s.entry)
    }

    /// Mutable access to the entry in `slot`.
    pub fn entry_mut(&mut self, slot: u32) -> &mut Entry<X> {
        &mut self.slots[slot as usize].entry
    }

    /// The entry for `key`, if present.
    pub fn lookup(&self, key: &K) -> Option<&Entry<X>> {
        self.find(key).map(|s| &self.slots[s as usize].entry)
    }

    /// The slot for `key`, creating an empty entry if needed.
    fn find_or_insert(&mut self, key: &K) -> u32 {
        let h = fold(self.hasher.hash_one(key));
        let Self {
            index, slots, free, ..
        } = self;
        match index.entry(
            unfold(h),
            |&s| {
                let s = &slots[s as usize];
                s.entry.hash == h && s.key == *key
            },
            |&s| unfold(slots[s as usize].entry.hash),
        ) {
            HtEntry::Occupied(o) => *o.get(),
            HtEntry::Vacant(v) => {
                let slot = match free.pop() {
                    Some(s) => {
                        slots[s as usize] = Slot {
                            key: key.clone(),
                            entry: Entry {
                                hash: h,
                                ..Entry::default()
                            },
                            live: true,
                        };
                        s
                    }
                    None => {
                        let s =
                            u32::try_from(slots.len()).expect("more than 4G routes in one table");
                        slots.push(Slot {
                            key: key.clone(),
                            entry: Entry {
                                hash: h,
                                ..Entry::default()
                            },
                            live: true,
                        });
                        s
                    }
                };
                v.insert(slot);
                slot
            }
        }
    }

    /// Adds `path` for `key`, replacing the path from the same source. The selection is not
    /// recomputed: call [`Table::reselect`] (once per key per batch is enough).
    pub fn upsert(&mut self, key: &K, path: Path<X>) -> u32 {
        let slot = self.find_or_insert(key);
        let e = &mut self.slots[slot as usize].entry;
        if e.paths.as_slice().is_empty() {
            self.live += 1;
        }
        match e
            .paths
            .as_slice()
            .iter()
            .position(|p| p.source.same_path(&path.source))
        {
            Some(i) => {
                let old = &mut e.paths.as_mut_slice()[i];
                if i < usize::from(e.ecmp) && *old != path {
                    e.flags |= SELECTION_DIRTY;
                }
                *old = path;
            }
            None => e.paths.push(path),
        }
        slot
    }

    /// Removes the path from `source` for `key`; returns the slot if a path was removed.
    pub fn remove(&mut self, key: &K, source: &Source) -> Option<u32> {
        let slot = self.find(key)?;
        self.remove_in(slot, source).then_some(slot)
    }

    /// Removes the path from `source` in `slot`; returns whether one was removed.
    pub fn remove_in(&mut self, slot: u32, source: &Source) -> bool {
        let e = &mut self.slots[slot as usize].entry;
        let Some(i) = e
            .paths
            .as_slice()
            .iter()
            .position(|p| p.source.same_path(source))
        else {
            return false;
        };
        e.paths.remove(i);
        if usize::from(e.ecmp) > i {
            // The multipath set lost a member: the next reselect must report a change.
            e.ecmp -= 1;
            e.flags |= SELECTION_DIRTY;
        }
        if e.paths.as_slice().is_empty() {
            self.live -= 1;
        }
        true
    }

    /// Removes every path in `slot` whose source matches `pred`; returns whether any was.
    pub fn remove_where(&mut self, slot: u32, pred: impl Fn(&Source) -> bool) -> bool {
        let mut any = false;
        while let Some(src) = self.slots[slot as usize]
            .entry
            .paths
            .as_slice()
            .iter()
            .find(|p| pred(&p.source))
            .map(|p| p.source)
        {
            any |= self.remove_in(slot, &src);
        }
        any
    }

    /// Marks the paths in `slot` received from `peer` stale (RFC 4724 §4.2); returns whether
    /// there was one.
    pub fn mark_stale_in(&mut self, slot: u32, peer: PeerId) -> bool {
        let mut any = false;
        for p in self.slots[slot as usize].entry.paths.as_mut_slice() {
            if let Source::Peer { peer: q, stale, .. } = &mut p.source {
                if *q == peer {
                    *stale = true;
                    any = true;
                }
            }
        }
        any
    }

    /// Recomputes the multipath set of `slot` with `choose`, which is given the paths and
    /// writes the chosen indices (best first) into the scratch buffer. Returns whether the set
    /// (which paths, with which attributes and data) changed.
    pub fn reselect(
        &mut self,
        slot: u32,
        scratch: &mut Vec<usize>,
        choose: impl FnOnce(&[Path<X>], &mut Vec<usize>),
    ) -> bool {
        let e = &mut self.slots[slot as usize].entry;
        let was_dirty = e.flags & SELECTION_DIRTY != 0;
        e.flags &= !SELECTION_DIRTY;
        let paths = e.paths.as_mut_slice();
        let old_n = usize::from(e.ecmp);
        scratch.clear();
        choose(paths, scratch);
        let new_n = scratch.len().min(usize::from(u8::MAX));
        // Is the new set, in order, what is already at the front?
        let in_place = is_sorted_front(&scratch[..new_n]);
        let same = !was_dirty && new_n == old_n && in_place;
        if !in_place {
            // Move the chosen paths to the front in order (stable for the rest).
            let mut order: Vec<usize> = scratch[..new_n].to_vec();
            order.extend((0..paths.len()).filter(|i| !scratch[..new_n].contains(i)));
            apply_permutation(paths, &order);
        }
        e.ecmp = new_n as u8;
        !same
    }

    /// Marks `slot` so that its next [`Table::reselect`] reports a change (used after a
    /// path in the multipath set was replaced in place).
    pub fn mark_selection_dirty(&mut self, slot: u32) {
        self.slots[slot as usize].entry.flags |= SELECTION_DIRTY;
    }

    /// Recycles `slot` if nothing refers to it any more. Call after dequeuing.
    pub fn collect(&mut self, slot: u32) {
        let s = &self.slots[slot as usize];
        if !s.live || !s.entry.is_dead() {
            return;
        }
        if let Ok(o) = self.index.find_entry(unfold(s.entry.hash), |&x| x == slot) {
            o.remove();
        }
        self.slots[slot as usize].live = false;
        self.free.push(slot);
    }

    /// Every live slot (with or without paths), for walks such as an initial dump.
    pub fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.live)
            .map(|(i, _)| i as u32)
    }

    /// Gives memory back after the table emptied out (a mass withdrawal): drops the recycled
    /// slots at the end of the slab and shrinks the slab, the free list and the index to what
    /// is in use. Slot numbers of live entries do not change (queues hold them), so a live
    /// entry near the end keeps the slab long; new routes reuse the freed slots first anyway.
    /// Does nothing unless at most a quarter of the capacity is in use (amortised O(1)).
    /// Returns whether it shrank.
    pub fn shrink(&mut self) -> bool {
        let cap = self.slots.capacity();
        let trailing_dead = self.slots.last().is_some_and(|s| !s.live);
        if cap < 1024
            || self.index.len() * 4 > cap
            || !(trailing_dead || cap > 2 * self.slots.len())
        {
            return false;
        }
        let before = self.slots.len();
        while self.slots.last().is_some_and(|s| !s.live) {
            self.slots.pop();
        }
        if self.slots.len() < before {
            let n = self.slots.len() as u32;
            self.free.retain(|&s| s < n);
        }
        self.slots.shrink_to_fit();
        self.free.shrink_to_fit();
        let slots = &self.slots;
        self.index
            .shrink_to_fit(|&s| unfold(slots[s as usize].entry.hash));
        true
    }

    /// Approximate heap bytes used by the table's own structures (not shared attributes).
    pub fn heap_bytes(&self) -> usize {
        self.index.capacity() * (std::mem::size_of::<u32>() + 1)
            + self.slots.capacity() * std::mem::size_of::<Slot<K, X>>()
            + self.free.capacity() * 4
    }
}

/// Flag: the multipath set lost or changed a member since the last reselect.
const SELECTION_DIRTY: u8 = 4;

fn is_sorted_front(scratch: &[usize]) -> bool {
    scratch.iter().enumerate().all(|(i, &j)| i == j)
}

/// Reorders `v` so that `v[i]` becomes the old `v[order[i]]`.
fn apply_permutation<T>(v: &mut [T], order: &[usize]) {
    let mut pos: Vec<usize> = order.to_vec();
    // Cycle-following permutation in place.
    for i in 0..v.len() {
        let mut cur = i;
        while pos[cur] != i {
            let next = pos[cur];
            v.swap(cur, next);
            pos[cur] = cur;
            cur = next;
        }
        pos[cur] = cur;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intern::Interner;

    fn attrs(i: &mut Interner<PathAttrs>, med: u32) -> Attrs {
        i.intern(PathAttrs {
            med: Some(med),
            ..Default::default()
        })
    }

    #[test]
    fn permutation_moves_chosen_to_front() {
        let mut v = vec!['a', 'b', 'c', 'd'];
        apply_permutation(&mut v, &[2, 0, 3, 1]);
        assert_eq!(v, vec!['c', 'a', 'd', 'b']);
        let mut v = vec![1, 2, 3];
        apply_permutation(&mut v, &[1, 2, 0]);
        assert_eq!(v, vec![2, 3, 1]);
    }

    /// A key that counts how often it is hashed.
    #[derive(Clone, PartialEq, Eq)]
    struct Counted(u32);

    thread_local! {
        static HASHED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    }

    impl Hash for Counted {
        fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
            HASHED.with(|c| c.set(c.get() + 1));
            self.0.hash(h);
        }
    }

    /// Growing the index (a large table arriving) and shrinking it never hash a key again:
    /// each insertion hashes its key once, the index is rebuilt from the slots' cached hashes
    /// (issue 16: the rehash was 7% of a 1M relay's CPU).
    #[test]
    fn growing_and_shrinking_the_index_hash_no_key_again() {
        let mut i = Interner::new();
        let a = attrs(&mut i, 1);
        let mut t: Table<Counted, ()> = Table::new();
        HASHED.with(|c| c.set(0));
        const N: u32 = 100_000;
        for k in 0..N {
            t.upsert(
                &Counted(k),
                Path {
                    source: Source::peer_path(PeerId(1), 0),
                    attrs: a.clone(),
                    extra: (),
                },
            );
        }
        assert_eq!(
            HASHED.with(|c| c.get()),
            N as usize,
            "one hash per insertion"
        );
        for k in 0..N {
            assert_eq!(t.find(&Counted(k)), Some(k));
        }
        HASHED.with(|c| c.set(0));
        for k in 10..N {
            let s = t
                .remove(&Counted(k), &Source::peer_path(PeerId(1), 0))
                .unwrap();
            t.collect(s);
        }
        assert_eq!(
            HASHED.with(|c| c.get()),
            (N - 10) as usize,
            "one hash per removal"
        );
        assert!(t.shrink());
        assert_eq!(
            HASHED.with(|c| c.get()),
            (N - 10) as usize,
            "no hash to shrink"
        );
        for k in 0..10 {
            assert_eq!(t.find(&Counted(k)), Some(k));
        }
        assert_eq!(t.find(&Counted(10)), None);
    }

    #[test]
    fn upsert_replace_remove_and_recycle() {
        let mut i = Interner::new();
        let mut t: Table<u32, ()> = Table::new();
        let mut scratch = Vec::new();
        let lowest_med = |paths: &[Path<()>], out: &mut Vec<usize>| {
            let min = paths.iter().map(|p| p.attrs.med).min();
            out.extend((0..paths.len()).filter(|&k| paths[k].attrs.med == min.flatten()));
        };
        let p1 = PeerId(1);
        let p2 = PeerId(2);
        let s = t.upsert(
            &7,
            Path {
                source: Source::peer_path(p1, 0),
                attrs: attrs(&mut i, 10),
                extra: (),
            },
        );
        assert!(t.reselect(s, &mut scratch, lowest_med));
        assert!(
            !t.reselect(s, &mut scratch, lowest_med),
            "no change the second time"
        );
        t.upsert(
            &7,
            Path {
                source: Source::peer_path(p2, 0),
                attrs: attrs(&mut i, 5),
                extra: (),
            },
        );
        assert!(t.reselect(s, &mut scratch, lowest_med));
        assert_eq!(
            t.get(s).1.best().map(|p| p.source),
            Some(Source::peer_path(p2, 0))
        );
        assert_eq!(t.get(s).1.paths().len(), 2);
        // Replace p2's path with a worse one: p1 becomes best.
        t.upsert(
            &7,
            Path {
                source: Source::peer_path(p2, 0),
                attrs: attrs(&mut i, 50),
                extra: (),
            },
        );
        assert!(t.reselect(s, &mut scratch, lowest_med));
        assert_eq!(
            t.get(s).1.best().map(|p| p.source),
            Some(Source::peer_path(p1, 0))
        );
        assert_eq!(t.len(), 1);
        assert_eq!(t.remove(&7, &Source::peer_path(p1, 0)), Some(s));
        assert!(t.reselect(s, &mut scratch, lowest_med));
        assert_eq!(
            t.get(s).1.best().map(|p| p.source),
            Some(Source::peer_path(p2, 0))
        );
        assert_eq!(t.remove(&7, &Source::peer_path(p1, 0)), None);
        t.remove(&7, &Source::peer_path(p2, 0));
        assert!(t.reselect(s, &mut scratch, lowest_med));
        assert!(t.is_empty());
        t.entry_mut(s).advertised.insert(3);
        t.collect(s);
        assert_eq!(t.find(&7), Some(s), "still advertised: kept as a tombstone");
        t.entry_mut(s).advertised.remove(3);
        t.collect(s);
        assert_eq!(t.find(&7), None);
        let s2 = t.upsert(
            &8,
            Path {
                source: Source::Local,
                attrs: attrs(&mut i, 1),
                extra: (),
            },
        );
        assert_eq!(s2, s, "slot recycled");
    }

    #[test]
    fn evpn_sources_are_identified_by_rd() {
        let a = Source::Evpn {
            rd: [1; 8],
            peer: PeerId(1),
        };
        let b = Source::Evpn {
            rd: [1; 8],
            peer: PeerId(2),
        };
        let c = Source::Evpn {
            rd: [2; 8],
            peer: PeerId(1),
        };
        assert!(a.same_path(&b));
        assert!(!a.same_path(&c));
        assert!(!Source::peer_path(PeerId(1), 0).same_path(&a));
    }

    #[test]
    fn shrink_gives_back_the_slab_after_a_mass_withdrawal() {
        let mut i = Interner::new();
        let a = attrs(&mut i, 1);
        let mut t: Table<u32, ()> = Table::new();
        let src = Source::peer_path(PeerId(1), 0);
        let path = || Path {
            source: src,
            attrs: a.clone(),
            extra: (),
        };
        for k in 0..100_000u32 {
            t.upsert(&k, path());
        }
        let keep = t.upsert(&7, path());
        let big = t.heap_bytes();
        assert!(!t.shrink(), "full: nothing to give back");
        for k in 0..100_000u32 {
            if k != 7 {
                let s = t.remove(&k, &src).unwrap();
                t.collect(s);
            }
        }
        assert!(t.shrink());
        assert!(!t.shrink(), "once is enough");
        assert!(t.heap_bytes() * 100 < big, "{} of {big}", t.heap_bytes());
        assert_eq!(t.len(), 1);
        assert_eq!(t.find(&7), Some(keep), "live slots keep their number");
        // The table still works: freed slots are reused, new ones appended.
        for k in 200_000..200_010u32 {
            t.upsert(&k, path());
        }
        assert_eq!(t.len(), 11);
        assert!(t.lookup(&200_005).is_some() && t.lookup(&7).is_some());
    }
}
#[cfg(test)]
mod size_budget {
    /// Bytes per route are a design target (≤150 B/route at 1M): keep the per-key records
    /// from growing unnoticed.
    #[test]
    fn per_route_records_stay_small() {
        use std::mem::size_of;
        assert!(size_of::<super::Source>() <= 16);
        assert!(size_of::<super::Path<()>>() <= 24);
        assert!(size_of::<super::Entry<()>>() <= 48);
        assert!(size_of::<super::Slot<ipnet::Ipv4Net, ()>>() <= 56);
        // The entry's cached hash lives in its padding: an EVPN slot stays at 104 bytes.
        assert!(
            size_of::<super::Slot<perouter_evpn::EvpnRouteKey, crate::evpn_table::EvpnData>>()
                <= 104
        );
    }
}
