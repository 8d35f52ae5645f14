//! Where each user's entry lies, by the hash of its id: open addressing with linear
//! probing, one `u64` a slot (the hash's high 32 bits as a tag, the entry's position + 1
//! below; 0 is empty), never more than half full.
//!
//! Why not a general hash table: a check over a million users is bound by memory
//! latency (about 150 ns a miss on a virtual machine, whose usable cache holds a few MiB
//! of the ~150 MB a million users take). A SwissTable keeps control bytes and slots
//! apart, so a lookup misses twice before it reaches the entry. Here tag and position
//! share one word, so the index costs one miss, and [`Index::home`] lets a batch prefetch
//! every home slot before it probes any, so that their misses overlap.

use super::pages::Pages;

/// Smallest number of slots.
const MIN_SLOTS: usize = 64;

/// Entry positions by hash. Users are never removed, so nothing is ever deleted.
pub(super) struct Index {
    /// In huge pages where the kernel gives them.
    slots: Pages<u64>,
    len: usize,
}

impl Default for Index {
    fn default() -> Self {
        Self { slots: Pages::zeroed(MIN_SLOTS), len: 0 }
    }
}

fn tag(hash: u64) -> u64 {
    hash >> 32
}

fn word(hash: u64, position: usize) -> u64 {
    // The arena hands out positions in order, so one past u32::MAX - 1 would take four
    // billion users.
    debug_assert!(position < u32::MAX as usize);
    (tag(hash) << 32) | (position as u64 + 1)
}

fn position(slot: u64) -> usize {
    (slot & u64::from(u32::MAX)) as usize - 1
}

impl Index {
    /// Number of positions held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// `hash`'s home slot, for a batch to prefetch for every check before probing any.
    #[inline]
    pub(super) fn home(&self, hash: u64) -> &u64 {
        let slots = self.slots.get();
        &slots[hash as usize & (slots.len() - 1)]
    }

    /// The first position whose tag matches `hash` and for which `is` holds.
    #[inline]
    pub(super) fn find(&self, hash: u64, mut is: impl FnMut(usize) -> bool) -> Option<usize> {
        let slots = self.slots.get();
        let mask = slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            let slot = slots[at];
            if slot == 0 {
                return None;
            }
            if slot >> 32 == tag(hash) {
                let found = position(slot);
                if is(found) {
                    return Some(found);
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// Records `position` under `hash`; the caller has found no position for its key.
    /// `rehash` gives the hash of the key at a position, for growing here when the
    /// caller did not make room beforehand with [`Self::grown`].
    pub(super) fn insert(&mut self, hash: u64, position: usize, rehash: impl Fn(usize) -> u64) {
        if let Some(grown) = self.grown(self.len + 1, rehash) {
            *self = grown;
        }
        self.place(word(hash, position), hash);
        self.len += 1;
    }

    fn place(&mut self, word: u64, hash: u64) {
        let slots = self.slots.get_mut();
        let mask = slots.len() - 1;
        let mut at = hash as usize & mask;
        while slots[at] != 0 {
            at = (at + 1) & mask;
        }
        slots[at] = word;
    }

    /// A copy with room for `users` positions (at most half full), or `None` when this
    /// one has room. Reads `self` only, so readers go on using it meanwhile.
    pub(super) fn grown(&self, users: usize, rehash: impl Fn(usize) -> u64) -> Option<Self> {
        if users * 2 <= self.slots.get().len() {
            return None;
        }
        let mut grown = Self { slots: Pages::zeroed((users * 2).next_power_of_two()), len: self.len };
        for slot in self.slots.get().iter().copied().filter(|&s| s != 0) {
            let hash = rehash(position(slot));
            grown.place(word(hash, position(slot)), hash);
        }
        Some(grown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_hashes_are_told_apart_by_their_keys_across_growth() {
        // Arrange: keys whose hashes share home slots and tags in pairs, enough of them
        // to grow the index several times.
        let keys: Vec<u64> = (0..1_000).collect();
        let hash = |key: u64| (key / 2).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut index = Index::default();

        // Act
        for (position, &key) in keys.iter().enumerate() {
            assert_eq!(index.find(hash(key), |p| keys[p] == key), None, "not yet held");
            index.insert(hash(key), position, |p| hash(keys[p]));
        }

        // Assert: every key finds its own position, never its twin's.
        assert_eq!(index.len(), keys.len());
        assert!(index.slots.get().len() >= 2 * keys.len(), "at most half full");
        for (position, &key) in keys.iter().enumerate() {
            assert_eq!(index.find(hash(key), |p| keys[p] == key), Some(position));
        }
        assert_eq!(index.find(hash(5_000), |p| keys[p] == 5_000), None);
    }

    #[test]
    fn a_grown_copy_finds_every_key_and_leaves_the_original_whole() {
        // Arrange
        let keys: Vec<u64> = (0..100).collect();
        let hash = |key: u64| key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut index = Index::default();
        for (position, &key) in keys.iter().enumerate() {
            index.insert(hash(key), position, |p| hash(keys[p]));
        }
        let before = index.slots.get().len();

        // Act
        let grown = index.grown(10_000, |p| hash(keys[p])).expect("100 slots are too few for 10,000");

        // Assert: room for 10,000 at most half full; both copies find every key.
        assert!(index.grown(before / 2, |p| hash(keys[p])).is_none(), "room enough already");
        assert_eq!((grown.slots.get().len(), grown.len()), (32_768, 100));
        assert_eq!(index.slots.get().len(), before);
        for (position, &key) in keys.iter().enumerate() {
            assert_eq!(grown.find(hash(key), |p| keys[p] == key), Some(position));
            assert_eq!(index.find(hash(key), |p| keys[p] == key), Some(position));
        }
    }
}
