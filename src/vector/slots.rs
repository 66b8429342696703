//! Id → slot lookup that does not store the ids a second time.
//!
//! A `HashMap<String, u32>` next to the `Vec` of ids would keep every id twice (plus a 24-byte
//! `String` header per bucket): about 9 MB extra at 100k UUIDs, a sixth of the whole index. This
//! table holds only `u32` slot numbers and compares keys through the index's own id list, so it
//! costs 4 bytes per bucket. Open addressing with linear probing; deletion shifts later entries
//! back (no tombstones), so lookups stay short however many removes happen.

use std::hash::{BuildHasher, RandomState};

/// Bucket value meaning "empty"; a full bucket holds `slot + 1`.
const EMPTY: u32 = 0;

#[derive(Clone, Debug, Default)]
pub(super) struct SlotTable {
    /// Power-of-two length (or empty), at most 3/4 full.
    buckets: Vec<u32>,
    len: usize,
    hasher: RandomState,
}

impl SlotTable {
    fn mask(&self) -> usize {
        self.buckets.len() - 1
    }

    fn home(&self, id: &str) -> usize {
        // Truncating the 64-bit hash is intended: only the low bits select a bucket.
        self.hasher.hash_one(id) as usize & self.mask()
    }

    /// Bucket index holding `id`, if present. `ids[slot]` is the id stored in each slot.
    fn find(&self, id: &str, ids: &[Box<str>]) -> Option<usize> {
        if self.buckets.is_empty() {
            return None;
        }
        let mut i = self.home(id);
        loop {
            match self.buckets[i] {
                EMPTY => return None,
                b if *ids[(b - 1) as usize] == *id => return Some(i),
                _ => i = (i + 1) & self.mask(),
            }
        }
    }

    /// The slot of `id`.
    pub(super) fn get(&self, id: &str, ids: &[Box<str>]) -> Option<u32> {
        self.find(id, ids).map(|i| self.buckets[i] - 1)
    }

    /// Records that `slot` holds `ids[slot]`, which must not be in the table yet.
    /// `slot` must be below `u32::MAX`.
    pub(super) fn insert(&mut self, slot: u32, ids: &[Box<str>]) {
        debug_assert!(slot < u32::MAX);
        if (self.len + 1) * 4 > self.buckets.len() * 3 {
            self.grow(ids);
        }
        let mut i = self.home(&ids[slot as usize]);
        while self.buckets[i] != EMPTY {
            i = (i + 1) & self.mask();
        }
        self.buckets[i] = slot + 1;
        self.len += 1;
    }

    /// Forgets `id`, returning the slot it had.
    pub(super) fn remove(&mut self, id: &str, ids: &[Box<str>]) -> Option<u32> {
        let found = self.find(id, ids)?;
        let slot = self.buckets[found] - 1;
        // Backward-shift deletion: walk the probe run after the hole and move back every entry
        // whose home bucket is not between the hole and its current position, so no lookup ever
        // meets an empty bucket before its key.
        let mask = self.mask();
        let mut hole = found;
        let mut j = found;
        loop {
            j = (j + 1) & mask;
            let b = self.buckets[j];
            if b == EMPTY {
                break;
            }
            let home = self.home(&ids[(b - 1) as usize]);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.buckets[hole] = b;
                hole = j;
            }
        }
        self.buckets[hole] = EMPTY;
        self.len -= 1;
        Some(slot)
    }

    fn grow(&mut self, ids: &[Box<str>]) {
        let new_len = (self.buckets.len() * 2).max(16);
        let old = std::mem::replace(&mut self.buckets, vec![EMPTY; new_len]);
        for b in old.into_iter().filter(|&b| b != EMPTY) {
            let mut i = self.home(&ids[(b - 1) as usize]);
            while self.buckets[i] != EMPTY {
                i = (i + 1) & self.mask();
            }
            self.buckets[i] = b;
        }
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.buckets.capacity() * size_of::<u32>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Random inserts and removes against a `HashMap` model, with a small table so probe runs
    /// wrap around the end and deletions shift entries across it.
    #[test]
    fn behaves_like_a_map() {
        let mut state = 0x1234_5678_u64;
        let mut rnd = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut table = SlotTable::default();
        let mut ids: Vec<Box<str>> = Vec::new();
        let mut free: Vec<u32> = Vec::new();
        let mut model: HashMap<String, u32> = HashMap::new();
        for step in 0..20_000usize {
            let key = format!("k{}", rnd() % 300);
            if rnd().is_multiple_of(2) {
                if model.contains_key(&key) {
                    continue;
                }
                let slot = match free.pop() {
                    Some(s) => {
                        ids[s as usize] = key.clone().into();
                        s
                    }
                    None => {
                        ids.push(key.clone().into());
                        (ids.len() - 1) as u32
                    }
                };
                table.insert(slot, &ids);
                model.insert(key, slot);
            } else {
                let got = table.remove(&key, &ids);
                assert_eq!(got, model.remove(&key), "step {step}");
                if let Some(s) = got {
                    ids[s as usize] = "".into();
                    free.push(s);
                }
            }
            assert_eq!(table.len, model.len());
            if step.is_multiple_of(97) {
                for k in 0..300 {
                    let k = format!("k{k}");
                    assert_eq!(table.get(&k, &ids), model.get(&k).copied(), "step {step}");
                }
            }
        }
        assert!(table.buckets.len() <= 1024, "table grew without bound");
    }
}
