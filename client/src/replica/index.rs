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

use std::sync::atomic::{
    AtomicU64, AtomicUsize,
    Ordering::{Acquire, Relaxed, Release},
};

use super::pages::Pages;

/// Smallest number of slots.
const MIN_SLOTS: usize = 64;

/// Entry positions by hash. Users are never removed, so no slot is ever emptied; one
/// writer fills and repoints slots while readers probe them.
pub(super) struct Index {
    /// In huge pages where the kernel gives them.
    slots: Pages,
    len: AtomicUsize,
}

impl Default for Index {
    fn default() -> Self {
        Self::with_room(0)
    }
}

/// A slot that holds a position: where it is, and the position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Found {
    pub(super) slot: usize,
    pub(super) position: usize,
}

fn tag(hash: u64) -> u64 {
    hash >> 32
}

fn word(hash: u64, position: usize) -> u64 {
    // Positions are below the entries ever placed since the last compaction, which
    // happens long before four billion.
    debug_assert!(position < u32::MAX as usize);
    (tag(hash) << 32) | (position as u64 + 1)
}

fn position(slot: u64) -> usize {
    (slot & u64::from(u32::MAX)) as usize - 1
}

impl Index {
    /// An empty index with room for `users` positions.
    pub(super) fn with_room(users: usize) -> Self {
        let slots = (users * 2).next_power_of_two().max(MIN_SLOTS);
        Self { slots: Pages::zeroed(slots), len: AtomicUsize::new(0) }
    }

    /// Number of positions held.
    pub(super) fn len(&self) -> usize {
        self.len.load(Relaxed)
    }

    /// Whether `users` positions fit (at most half full).
    pub(super) fn has_room(&self, users: usize) -> bool {
        users * 2 <= self.slots.get().len()
    }

    /// `hash`'s home slot, for a batch to prefetch for every check before probing any.
    #[inline]
    pub(super) fn home(&self, hash: u64) -> &AtomicU64 {
        let slots = self.slots.get();
        &slots[hash as usize & (slots.len() - 1)]
    }

    /// The first slot whose tag matches `hash` and whose position `is` accepts.
    #[inline]
    pub(super) fn find(&self, hash: u64, mut is: impl FnMut(usize) -> bool) -> Option<Found> {
        let slots = self.slots.get();
        let mask = slots.len() - 1;
        let mut at = hash as usize & mask;
        loop {
            // Acquire: the entry a position names was placed before the position was.
            let slot = slots[at].load(Acquire);
            if slot == 0 {
                return None;
            }
            if slot >> 32 == tag(hash) {
                let found = position(slot);
                if is(found) {
                    return Some(Found { slot: at, position: found });
                }
            }
            at = (at + 1) & mask;
        }
    }

    /// Records `position` under `hash`. For the one writer, which has found no position
    /// for the key and made room beforehand ([`Self::has_room`], [`Self::grown`]).
    pub(super) fn insert(&self, hash: u64, position: usize) {
        debug_assert!(self.has_room(self.len() + 1));
        self.place(word(hash, position), hash);
        self.len.fetch_add(1, Relaxed);
    }

    /// Points the slot `found` at `position`, the key's newer entry. For the one writer.
    pub(super) fn repoint(&self, found: Found, hash: u64, position: usize) {
        self.slots.get()[found.slot].store(word(hash, position), Release);
    }

    fn place(&self, word: u64, hash: u64) {
        let slots = self.slots.get();
        let mask = slots.len() - 1;
        let mut at = hash as usize & mask;
        while slots[at].load(Relaxed) != 0 {
            at = (at + 1) & mask;
        }
        slots[at].store(word, Release);
    }

    /// Every position held, in slot order.
    pub(super) fn positions(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots.get().iter().map(|s| s.load(Acquire)).filter(|&s| s != 0).map(position)
    }

    /// A copy with room for `users` positions, or `None` when this one has room. Reads
    /// `self` only, so readers go on using it meanwhile. `rehash` gives the hash of the
    /// key at a position.
    pub(super) fn grown(&self, users: usize, rehash: impl Fn(usize) -> u64) -> Option<Self> {
        if self.has_room(users) {
            return None;
        }
        let grown = Self::with_room(users);
        for at in self.positions() {
            grown.insert(rehash(at), at);
        }
        Some(grown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inserts `key` at `position`, growing `index` first when it is full, as the table's
    /// writer does.
    fn insert(index: &mut Index, keys: &[u64], hash: impl Fn(u64) -> u64, position: usize) {
        if let Some(grown) = index.grown(index.len() + 1, |p| hash(keys[p])) {
            *index = grown;
        }
        index.insert(hash(keys[position]), position);
    }

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
            insert(&mut index, &keys, hash, position);
        }

        // Assert: every key finds its own position, never its twin's.
        assert_eq!(index.len(), keys.len());
        assert!(index.slots.get().len() >= 2 * keys.len(), "at most half full");
        for (position, &key) in keys.iter().enumerate() {
            assert_eq!(index.find(hash(key), |p| keys[p] == key).map(|f| f.position), Some(position));
        }
        assert_eq!(index.find(hash(5_000), |p| keys[p] == 5_000), None);
    }

    #[test]
    fn a_grown_copy_finds_every_key_and_leaves_the_original_whole() {
        // Arrange
        let keys: Vec<u64> = (0..100).collect();
        let hash = |key: u64| key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut index = Index::default();
        for position in 0..keys.len() {
            insert(&mut index, &keys, hash, position);
        }
        let before = index.slots.get().len();

        // Act
        let grown = index.grown(10_000, |p| hash(keys[p])).expect("100 slots are too few for 10,000");

        // Assert: room for 10,000 at most half full; both copies find every key.
        assert!(index.grown(before / 2, |p| hash(keys[p])).is_none(), "room enough already");
        assert_eq!((grown.slots.get().len(), grown.len()), (32_768, 100));
        assert_eq!(index.slots.get().len(), before);
        for (position, &key) in keys.iter().enumerate() {
            assert_eq!(grown.find(hash(key), |p| keys[p] == key).map(|f| f.position), Some(position));
            assert_eq!(index.find(hash(key), |p| keys[p] == key).map(|f| f.position), Some(position));
        }
    }

    #[test]
    fn a_repointed_slot_names_the_new_position_and_only_that() {
        // Arrange
        let keys: Vec<u64> = vec![1, 2, 1];
        let hash = |key: u64| key.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let index = Index::default();
        index.insert(hash(1), 0);
        index.insert(hash(2), 1);

        // Act: key 1's newer entry lies at position 2.
        let found = index.find(hash(1), |p| keys[p] == 1).expect("held");
        index.repoint(found, hash(1), 2);

        // Assert
        assert_eq!(index.find(hash(1), |p| keys[p] == 1).map(|f| f.position), Some(2));
        assert_eq!(index.len(), 2, "a repointed key is not counted twice");
        let mut held: Vec<usize> = index.positions().collect();
        held.sort_unstable();
        assert_eq!(held, [1, 2]);
    }
}
