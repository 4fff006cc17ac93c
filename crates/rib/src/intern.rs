//! Hash-consing of shared values (attribute sets): equal values are stored once and shared by
//! reference count, so a million routes with a handful of attribute sets cost a handful of
//! allocations. Handles compare and hash by pointer, which makes grouping routes by attribute
//! set (UPDATE packing) a pointer comparison.

use std::fmt;
use std::hash::{BuildHasher, Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

use hashbrown::hash_table::HashTable;
use hashbrown::DefaultHashBuilder;

/// A handle to an interned value. Two handles from the same [`Interner`] are equal exactly when
/// their values are equal, so equality and hashing use the pointer.
pub struct Interned<T>(Arc<T>);

impl<T> Interned<T> {
    /// The address of the shared value: stable for the handle's life, usable as a map key.
    pub fn addr(&self) -> usize {
        Arc::as_ptr(&self.0) as usize
    }
}

impl<T> Clone for Interned<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> Deref for Interned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> PartialEq for Interned<T> {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<T> Eq for Interned<T> {}

impl<T> Hash for Interned<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.addr().hash(state);
    }
}

impl<T: fmt::Debug> fmt::Debug for Interned<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One live value with its hash, computed once when the value was first interned: growing the
/// table (a million routes arriving) and purging never hash a value again.
struct Slot<T> {
    hash: u64,
    value: Arc<T>,
}

/// The set of live values of one kind. Values no route refers to any more are dropped by
/// [`Interner::purge`], which the RIB runs after batches.
///
/// A raw [`HashTable`] rather than a `HashSet<Arc<T>>`: the set keeps each value's hash beside
/// it, and lookups by `&T` need no wrapper type. The hasher is hashbrown's default (foldhash),
/// not SipHash: the keys are attribute sets we built ourselves after parsing, and a peer that
/// could steer collisions would still need to send one distinct attribute set per entry, which
/// `maxPrefixes` and the input budget bound.
pub struct Interner<T> {
    set: HashTable<Slot<T>>,
    hasher: DefaultHashBuilder,
}

impl<T: Hash + Eq> Default for Interner<T> {
    fn default() -> Self {
        Self {
            set: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
        }
    }
}

impl<T: Hash + Eq> Interner<T> {
    /// An empty interner.
    pub fn new() -> Self {
        Self::default()
    }

    /// The live slot equal to `value`, found with its `hash`.
    fn find(&self, hash: u64, value: &T) -> Option<Interned<T>> {
        self.set
            .find(hash, |s| *s.value == *value)
            .map(|s| Interned(Arc::clone(&s.value)))
    }

    /// Stores a value known not to be live.
    fn insert_new(&mut self, hash: u64, value: T) -> Interned<T> {
        let arc = Arc::new(value);
        self.set.insert_unique(
            hash,
            Slot {
                hash,
                value: Arc::clone(&arc),
            },
            |s| s.hash,
        );
        Interned(arc)
    }

    /// The shared handle for `value`, allocating only when no equal value is live. Hashes
    /// `value` once.
    pub fn intern(&mut self, value: T) -> Interned<T> {
        let hash = self.hasher.hash_one(&value);
        match self.find(hash, &value) {
            Some(h) => h,
            None => self.insert_new(hash, value),
        }
    }

    /// Like [`Interner::intern`] for a borrowed value: clones only when it is new.
    pub fn intern_ref(&mut self, value: &T) -> Interned<T>
    where
        T: Clone,
    {
        let hash = self.hasher.hash_one(value);
        match self.find(hash, value) {
            Some(h) => h,
            None => self.insert_new(hash, value.clone()),
        }
    }

    /// Drops every value only the interner still holds; returns how many were dropped.
    pub fn purge(&mut self) -> usize {
        let before = self.set.len();
        self.set.retain(|s| Arc::strong_count(&s.value) > 1);
        // Give the set's memory back after a mass withdrawal (rehashing from the kept hashes).
        if self.set.capacity() > 1024 && self.set.len() * 4 < self.set.capacity() {
            self.set.shrink_to_fit(|s| s.hash);
        }
        before - self.set.len()
    }

    /// Number of distinct live values.
    pub fn len(&self) -> usize {
        self.set.len()
    }

    /// Whether no value is live.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_share_one_allocation_and_purge_drops_unused() {
        let mut i: Interner<Vec<u32>> = Interner::new();
        let a = i.intern(vec![1, 2]);
        let b = i.intern_ref(&vec![1, 2]);
        let c = i.intern(vec![3]);
        assert_eq!(a, b);
        assert_eq!(a.addr(), b.addr());
        assert_ne!(a, c);
        assert_eq!(i.len(), 2);
        drop(c);
        assert_eq!(i.purge(), 1);
        assert_eq!(i.len(), 1);
        drop(a);
        assert_eq!(i.purge(), 0, "b still holds the value");
        drop(b);
        assert_eq!(i.purge(), 1);
        assert!(i.is_empty());
    }

    #[test]
    fn lookups_still_find_every_value_after_growth_and_shrinking() {
        let mut i: Interner<u64> = Interner::new();
        let kept: Vec<_> = (0..5000u64).map(|v| i.intern(v)).collect();
        let dropped: Vec<_> = (5000..50_000u64).map(|v| i.intern(v)).collect();
        assert_eq!(i.len(), 50_000);
        drop(dropped);
        assert_eq!(i.purge(), 45_000);
        // The table shrank (rehashed from the stored hashes): every kept value is still found
        // and shared, nothing new is allocated for it.
        for (v, h) in kept.iter().enumerate() {
            assert_eq!(i.intern_ref(&(v as u64)), *h);
        }
        assert_eq!(i.len(), 5000);
        assert_ne!(i.intern(7_000_000), kept[0]);
    }
}
