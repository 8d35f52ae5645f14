//! The replica's users, in the entitlement service's compact layout: one entry per user
//! holding its id and (usually its only) subscription. A check over a million users then
//! touches one index slot and one entry.
//!
//! Checks never wait for the writer, nor it for them: there is no lock to wait on. An
//! entry never changes once placed; a user's newer state is placed beside the old one
//! and the user's index slot repointed with one atomic store. Growing the index, and
//! compacting away the entries that newer states left behind, build a new
//! [`Generation`] beside the current one and publish it with one pointer swap: checks
//! under way finish on the generation they started with, and the writer frees that one
//! once no check holds it, so that no check pays for freeing a million entries.

use std::{
    hash::BuildHasher,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering::Relaxed},
    },
};

use arc_swap::{ArcSwap, Guard};
use caixa_types::{prefetch, same};
use hashbrown::DefaultHashBuilder;

#[cfg(test)]
use super::entry::Builder;
pub(super) use super::entry::Entry;
use super::{entry::Prepared, index::Index};
#[cfg(test)]
use caixa_policy::Terms;
#[cfg(test)]
use caixa_proto::billing::v1::{EntitlementState, SubscriptionSnapshot};
#[cfg(test)]
use std::collections::HashMap;

/// Entries by position, appended and never moved: a check reads one while the writer
/// appends the next.
type Arena = boxcar::Vec<Entry>;

/// Checks a batch looks up together: their slots and entries (3 lines each) stay in
/// the first-level cache until they are decided.
pub(super) const BATCH: usize = 64;

/// Entries left behind by newer states before a compaction is worth its copy: a quarter
/// of the users held, and no fewer than this.
const COMPACT_AFTER: usize = 4_096;

/// Every user's entry, as the checks see it now.
pub(super) struct Table {
    current: ArcSwap<Generation>,
    /// Entries of the current generation no slot names any more. The writer's count.
    dead: AtomicUsize,
}

impl Default for Table {
    fn default() -> Self {
        let generation = Generation {
            index: Index::default(),
            entries: Arc::default(),
            hasher: DefaultHashBuilder::default(),
        };
        Self { current: ArcSwap::from_pointee(generation), dead: AtomicUsize::new(0) }
    }
}

/// The index and the entries it points into, keyed by the id each entry holds.
///
/// The [`Index`] holds each entry's position (8 bytes a slot, 16 MB for a million
/// users). A lookup misses cache on the index's slot and on the entry, no more;
/// [`Generation::get_many`] overlaps those misses across a batch.
pub(super) struct Generation {
    index: Index,
    /// Shared with the generation this one grew from, when only the index grew.
    entries: Arc<Arena>,
    hasher: DefaultHashBuilder,
}

/// Generations replaced while checks may still read them. The writer drops each once
/// nothing else holds it.
#[derive(Default)]
pub(super) struct Retired(Vec<Arc<Generation>>);

impl Retired {
    /// Drops the generations no check holds any longer.
    pub(super) fn sweep(&mut self) {
        self.0.retain(|generation| Arc::strong_count(generation) > 1);
    }

    /// Generations still waiting for their checks.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}

impl Table {
    /// The generation to look users up in, held for as long as the answers are used.
    #[inline]
    pub(super) fn read(&self) -> Guard<Arc<Generation>> {
        self.current.load()
    }

    /// Number of users.
    pub(super) fn len(&self) -> usize {
        self.current.load().index.len()
    }

    /// The hasher entries are placed by, for a [`super::entry::Builder`].
    pub(super) fn hasher(&self) -> DefaultHashBuilder {
        self.current.load().hasher.clone()
    }

    /// Makes room for `more` users beyond those held: a bigger index is built beside the
    /// current one, then published. For the one writer.
    pub(super) fn reserve(&self, more: usize, retired: &mut Retired) {
        let now = self.current.load_full();
        let Some(index) = now.index.grown(now.index.len() + more, |at| now.rehash(at)) else { return };
        let grown = Generation { index, entries: now.entries.clone(), hasher: now.hasher.clone() };
        self.publish(grown, retired);
    }

    /// Places each prepared entry unless what is held for its user is as new or newer
    /// (that one goes to `spent`, to be dropped by the caller). For the one writer.
    pub(super) fn place(&self, batch: &mut Vec<Prepared>, spent: &mut Vec<Entry>, retired: &mut Retired) {
        self.reserve(batch.len(), retired);
        let now = self.current.load_full();
        let entries = &now.entries;
        for Prepared { hash, entry } in batch.drain(..) {
            let held = now.index.find(hash, |at| entries.get(at).is_some_and(|e| e.user_id == entry.user_id));
            match held {
                Some(found) if entries.get(found.position).is_some_and(|e| e.revision >= entry.revision) => {
                    spent.push(entry);
                }
                Some(found) => {
                    now.index.repoint(found, hash, entries.push(entry));
                    self.dead.fetch_add(1, Relaxed);
                }
                None => now.index.insert(hash, entries.push(entry)),
            }
        }
        let dead = self.dead.load(Relaxed);
        if dead >= COMPACT_AFTER && dead * 4 >= now.index.len() {
            self.compact(&now, retired);
        }
        drop(now);
        retired.sweep();
    }

    /// Copies the entries the index names into a new generation, leaving behind those
    /// that newer states replaced.
    fn compact(&self, now: &Generation, retired: &mut Retired) {
        let (index, entries) = (Index::with_room(now.index.len()), Arena::with_capacity(now.index.len()));
        for entry in now.index.positions().filter_map(|at| now.entries.get(at)) {
            index.insert(now.hasher.hash_one(entry.user_id.as_str()), entries.push(entry.clone()));
        }
        self.dead.store(0, Relaxed);
        self.publish(Generation { index, entries: Arc::new(entries), hasher: now.hasher.clone() }, retired);
        metrics::counter!("caixa_replica_compactions_total").increment(1);
    }

    fn publish(&self, generation: Generation, retired: &mut Retired) {
        retired.0.push(self.current.swap(Arc::new(generation)));
        retired.sweep();
    }

    /// An empty table placing users by `hasher`.
    #[cfg(test)]
    pub(super) fn with_hasher(hasher: DefaultHashBuilder) -> Self {
        let generation = Generation { index: Index::default(), entries: Arc::default(), hasher };
        Self { current: ArcSwap::from_pointee(generation), dead: AtomicUsize::new(0) }
    }

    /// Stores `state` unless what is held for its user is as new or newer.
    #[cfg(test)]
    pub(super) fn apply(&self, state: &EntitlementState) {
        let prepared = Builder::new(self.hasher()).prepare(state);
        self.place(&mut vec![prepared], &mut Vec::new(), &mut Retired::default());
    }
}

impl Generation {
    /// The entry of `user_id`.
    #[inline]
    pub(super) fn get(&self, user_id: &str) -> Option<&Entry> {
        self.get_hashed(user_id, self.hasher.hash_one(user_id))
    }

    #[inline]
    fn get_hashed(&self, user_id: &str, hash: u64) -> Option<&Entry> {
        let entries = &self.entries;
        let found = self.index.find(hash, |at| entries.get(at).is_some_and(|e| same(&e.user_id, user_id)))?;
        entries.get(found.position)
    }

    fn rehash(&self, at: usize) -> u64 {
        // Every position in the index names a placed entry.
        self.entries.get(at).map_or(0, |e| self.hasher.hash_one(e.user_id.as_str()))
    }

    /// The entries of up to [`BATCH`] users, in order. Each pass asks memory for one more
    /// level for every user before the next pass needs it (home slots, then the entries
    /// the slots point at), so the batch waits on memory about twice rather than twice
    /// per user.
    pub(super) fn get_many<'a>(&'a self, users: &[&str], found: &mut [Option<&'a Entry>; BATCH]) {
        let users = &users[..users.len().min(BATCH)];
        let mut hashes = [0u64; BATCH];
        for (hash, user) in hashes.iter_mut().zip(users) {
            *hash = self.hasher.hash_one(user);
            prefetch(self.index.home(*hash));
        }
        let hashes = &hashes[..users.len()];
        // The first entry under each tag: almost always the user's (tags are 32 bits).
        let mut first = [None; BATCH];
        for (first, &hash) in first.iter_mut().zip(hashes) {
            *first = self.index.find(hash, |_| true).and_then(|f| self.entries.get(f.position));
            if let Some(entry) = first {
                prefetch(&entry.user_id);
            }
        }
        for (((slot, user), &hash), first) in found.iter_mut().zip(users).zip(hashes).zip(first) {
            *slot = match first {
                Some(entry) if same(&entry.user_id, user) => Some(entry),
                Some(_) => self.get_hashed(user, hash),
                None => None,
            };
        }
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
