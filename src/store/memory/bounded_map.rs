//! [`BoundedMap`]: the map both in-memory stores keep their entries in.

use std::borrow::Borrow;
use std::collections::hash_map::Entry as MapEntry;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// A map bounded to `capacity` keys that evicts in insertion order (or
/// order of last [`touch`](Self::touch)), O(1) amortized per operation.
/// Keys that must not be evicted yet are skipped.
pub(super) struct BoundedMap<K, V> {
    map: HashMap<K, (V, u64)>,
    /// Every key, in insertion order (with stale positions, skipped).
    order: VecDeque<(K, u64)>,
    /// Keys to evict before any other, in the order they were marked.
    first: VecDeque<(K, u64)>,
    next_generation: u64,
    pub(super) capacity: usize,
}

impl<K: Hash + Eq + Clone, V> BoundedMap<K, V> {
    pub(super) fn new(capacity: usize) -> Self {
        BoundedMap {
            map: HashMap::new(),
            order: VecDeque::new(),
            first: VecDeque::new(),
            next_generation: 0,
            capacity: capacity.max(1),
        }
    }

    pub(super) fn get_mut<Q: Hash + Eq + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        self.map.get_mut(key).map(|(v, _)| v)
    }

    pub(super) fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.map.get(key).map(|(v, _)| v)
    }

    pub(super) fn remove<Q: Hash + Eq + ?Sized>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
    {
        self.map.remove(key);
    }

    /// Marks `key` to be evicted before the keys that are not marked.
    pub(super) fn evict_first<Q: Hash + Eq + ?Sized>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
    {
        if let Some((k, _)) = self.map.get_key_value(key) {
            let generation = self.map[key].1;
            self.first.push_back((k.clone(), generation));
        }
        if self.first.len() > 2 * self.capacity {
            let map = &self.map;
            self.first
                .retain(|(k, g)| map.get::<K>(k).is_some_and(|(_, live)| live == g));
        }
    }

    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    /// Moves `key` to the back of the eviction order, as if inserted now
    /// (which also drops an [`evict_first`](Self::evict_first) mark).
    pub(super) fn touch<Q: Hash + Eq + ?Sized>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
    {
        let generation = self.next_generation;
        let Some((_, live)) = self.map.get_mut(key) else {
            return;
        };
        *live = generation;
        self.next_generation += 1;
        if let Some((k, _)) = self.map.get_key_value(key) {
            let k = k.clone();
            self.push_order(k, generation);
        }
    }

    /// Records `key` at the back of the eviction order, compacting the
    /// queue of stale positions when it grows past twice the capacity.
    pub(super) fn push_order(&mut self, key: K, generation: u64) {
        self.order.push_back((key, generation));
        if self.order.len() > 2 * self.capacity {
            let map = &self.map;
            self.order
                .retain(|(k, g)| map.get(k).is_some_and(|(_, live)| live == g));
        }
    }

    /// Inserts a new key, first evicting the oldest evictable one when the
    /// map is full. Fails when nothing can be evicted.
    pub(super) fn insert(
        &mut self,
        key: K,
        value: V,
        evictable: impl Fn(&V) -> bool,
    ) -> Result<(), ()> {
        if !self.map.contains_key(&key) && self.map.len() >= self.capacity {
            self.evict_one(&evictable)?;
        }
        let generation = self.next_generation;
        self.next_generation += 1;
        self.map.insert(key.clone(), (value, generation));
        self.push_order(key, generation);
        Ok(())
    }

    pub(super) fn evict_one(&mut self, evictable: &impl Fn(&V) -> bool) -> Result<(), ()> {
        while let Some((key, generation)) = self.first.pop_front() {
            match self.map.entry(key) {
                MapEntry::Occupied(entry)
                    if entry.get().1 == generation && evictable(&entry.get().0) =>
                {
                    entry.remove();
                    return Ok(());
                }
                _ => {} // gone, re-inserted, or no longer evictable
            }
        }
        for _ in 0..self.order.len() {
            let Some((key, generation)) = self.order.pop_front() else {
                break;
            };
            match self.map.entry(key.clone()) {
                MapEntry::Occupied(entry) if entry.get().1 == generation => {
                    if evictable(&entry.get().0) {
                        entry.remove();
                        return Ok(());
                    }
                    self.order.push_back((key, generation));
                }
                _ => {} // a stale position: the key was removed or re-inserted
            }
        }
        Err(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_map_evicts_in_insertion_order_and_skips_pinned_keys() {
        let mut map = BoundedMap::new(3);
        for k in 0..3 {
            map.insert(k, k == 0, |_| true).unwrap();
        }
        // Key 0 is pinned (value true means "not evictable").
        map.insert(3, false, |pinned| !pinned).unwrap();
        assert!(map.get(&0).is_some());
        assert!(map.get(&1).is_none());
        assert_eq!(map.len(), 3);
        let mut full = BoundedMap::new(1);
        full.insert(0, true, |pinned| !pinned).unwrap();
        assert!(full.insert(1, true, |pinned| !pinned).is_err());
    }

    #[test]
    fn the_order_queue_stays_bounded_under_reinsertion() {
        let mut map = BoundedMap::new(10);
        for round in 0..1000 {
            let key = round % 5;
            map.remove(&key);
            map.insert(key, (), |_| true).unwrap();
        }
        assert!(map.order.len() <= 20);
        assert_eq!(map.len(), 5);
    }

    #[test]
    fn a_touched_key_is_evicted_last_and_the_queue_stays_bounded() {
        let mut map = BoundedMap::new(3);
        for k in 0..3 {
            map.insert(k, (), |_| true).unwrap();
        }
        for _ in 0..1000 {
            map.touch(&0);
        }
        assert!(map.order.len() <= 6);
        map.insert(3, (), |_| true).unwrap();
        map.insert(4, (), |_| true).unwrap();
        assert!(map.get(&0).is_some());
        assert!(map.get(&1).is_none() && map.get(&2).is_none());
    }
}
