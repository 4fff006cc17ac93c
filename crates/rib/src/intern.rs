//! Hash-consing of shared values (attribute sets): equal values are stored once and shared by
//! reference count, so a million routes with a handful of attribute sets cost a handful of
//! allocations. Handles compare and hash by pointer, which makes grouping routes by attribute
//! set (UPDATE packing) a pointer comparison.

use std::borrow::Borrow;
use std::collections::HashSet;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;
use std::sync::Arc;

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

/// Wrapper so the set can be looked up by `&T` while storing `Arc<T>`.
struct Slot<T>(Arc<T>);

impl<T: PartialEq> PartialEq for Slot<T> {
    fn eq(&self, other: &Self) -> bool {
        *self.0 == *other.0
    }
}
impl<T: Eq> Eq for Slot<T> {}
impl<T: Hash> Hash for Slot<T> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (*self.0).hash(state)
    }
}
impl<T> Borrow<T> for Slot<T> {
    fn borrow(&self) -> &T {
        &self.0
    }
}

/// The set of live values of one kind. Values no route refers to any more are dropped by
/// [`Interner::purge`], which the RIB runs after batches.
pub struct Interner<T> {
    set: HashSet<Slot<T>>,
}

impl<T: Hash + Eq> Default for Interner<T> {
    fn default() -> Self {
        Self {
            set: HashSet::new(),
        }
    }
}

impl<T: Hash + Eq> Interner<T> {
    /// An empty interner.
    pub fn new() -> Self {
        Self::default()
    }

    /// The shared handle for `value`, allocating only when no equal value is live.
    pub fn intern(&mut self, value: T) -> Interned<T> {
        if let Some(slot) = self.set.get(&value) {
            return Interned(Arc::clone(&slot.0));
        }
        let arc = Arc::new(value);
        self.set.insert(Slot(Arc::clone(&arc)));
        Interned(arc)
    }

    /// Like [`Interner::intern`] for a borrowed value: clones only when it is new.
    pub fn intern_ref(&mut self, value: &T) -> Interned<T>
    where
        T: Clone,
    {
        if let Some(slot) = self.set.get(value) {
            return Interned(Arc::clone(&slot.0));
        }
        self.intern(value.clone())
    }

    /// Drops every value only the interner still holds; returns how many were dropped.
    pub fn purge(&mut self) -> usize {
        let before = self.set.len();
        self.set.retain(|s| Arc::strong_count(&s.0) > 1);
        // Give the set's memory back after a mass withdrawal.
        if self.set.capacity() > 1024 && self.set.len() * 4 < self.set.capacity() {
            self.set.shrink_to_fit();
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
}
