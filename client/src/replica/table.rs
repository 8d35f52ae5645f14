//! The replica's users, in the entitlement service's compact layout: one entry per user
//! holding its id and (usually its only) subscription. A check over a million users then
//! touches one index slot and one entry.
//!
//! Readers share the table under a read lock; the one task that writes takes the write
//! lock only to place entries it built beforehand, a batch at a time, and to swap in an
//! index it grew while readers went on using the old one.

use std::hash::BuildHasher;

use caixa_types::{prefetch, same};
use hashbrown::DefaultHashBuilder;

pub(super) use super::entry::Entry;
use super::{arena::Arena, entry::Prepared, index::Index};
#[cfg(test)]
use super::{arena::SEGMENT, entry::Builder};
#[cfg(test)]
use caixa_policy::Terms;
#[cfg(test)]
use caixa_proto::billing::v1::{EntitlementState, SubscriptionSnapshot};
#[cfg(test)]
use std::collections::HashMap;

/// Every user's entry, keyed by the id the entry holds.
///
/// The [`Index`] holds each entry's position (8 bytes a slot, 16 MB for a million
/// users); the entries lie side by side in [`Arena`] segments. A lookup misses cache on
/// the index's slot and on the entry, no more; [`Table::get_many`] overlaps those misses
/// across a batch.
#[derive(Default)]
pub(super) struct Table {
    index: Index,
    entries: Arena,
    hasher: DefaultHashBuilder,
}

/// Checks a batch looks up together: their slots and entries (3 lines each) stay in
/// the first-level cache until they are decided.
pub(super) const BATCH: usize = 64;

impl Table {
    /// The entry of `user_id`.
    #[inline]
    pub(super) fn get(&self, user_id: &str) -> Option<&Entry> {
        self.get_hashed(user_id, self.hasher.hash_one(user_id))
    }

    #[inline]
    fn get_hashed(&self, user_id: &str, hash: u64) -> Option<&Entry> {
        let entries = &self.entries;
        let at = self.index.find(hash, |at| same(&entries.get(at).user_id, user_id))?;
        Some(entries.get(at))
    }

    /// The entries of up to [`BATCH`] users, in order. Each pass asks memory for one more
    /// level for every user before the next pass needs it (home slots, then both lines of
    /// the entries the slots point at), so the batch waits on memory about twice rather
    /// than twice per user.
    pub(super) fn get_many<'a>(&'a self, users: &[&str], found: &mut [Option<&'a Entry>; BATCH]) {
        let users = &users[..users.len().min(BATCH)];
        let mut hashes = [0u64; BATCH];
        for (hash, user) in hashes.iter_mut().zip(users) {
            *hash = self.hasher.hash_one(user);
            prefetch(self.index.home(*hash));
        }
        let hashes = &hashes[..users.len()];
        // The first position under each tag: almost always the user's (tags are 32 bits).
        let mut at = [usize::MAX; BATCH];
        for (at, &hash) in at.iter_mut().zip(hashes) {
            if let Some(found) = self.index.find(hash, |_| true) {
                let entry = self.entries.get(found);
                prefetch(entry);
                prefetch(&entry.user_id);
                *at = found;
            }
        }
        for (((slot, user), &hash), &at) in found.iter_mut().zip(users).zip(hashes).zip(&at) {
            let first = (at != usize::MAX).then(|| self.entries.get(at));
            *slot = match first {
                Some(entry) if same(&entry.user_id, user) => Some(entry),
                Some(_) => self.get_hashed(user, hash),
                None => None,
            };
        }
    }

    /// Number of users.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    /// The hasher entries are placed by, for a [`super::entry::Builder`].
    pub(super) fn hasher(&self) -> DefaultHashBuilder {
        self.hasher.clone()
    }

    /// An index with room for `more` users beyond those held, built from this table
    /// while readers go on using it (a read lock is enough); `None` when there is room.
    pub(super) fn grown_index(&self, more: usize) -> Option<Index> {
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index.grown(self.len() + more, |at| hasher.hash_one(entries.get(at).user_id.as_str()))
    }

    /// Swaps in an index from [`Self::grown_index`], returning the one it replaces (or,
    /// if users were placed since it was built, itself) for the caller to drop after
    /// releasing the lock.
    pub(super) fn install(&mut self, index: Index) -> Index {
        if index.len() != self.index.len() {
            return index;
        }
        std::mem::replace(&mut self.index, index)
    }

    /// Places each prepared entry unless what is held for its user is as new or newer.
    /// Whatever is displaced or refused goes to `spent`, to be dropped after the lock.
    pub(super) fn place(&mut self, batch: &mut Vec<Prepared>, spent: &mut Vec<Entry>) {
        for Prepared { hash, entry } in batch.drain(..) {
            let entries = &self.entries;
            let held = self.index.find(hash, |at| entries.get(at).user_id == entry.user_id);
            match held {
                Some(at) if self.entries.get(at).revision >= entry.revision => spent.push(entry),
                Some(at) => spent.push(std::mem::replace(self.entries.get_mut(at), entry)),
                None => {
                    let at = self.entries.push(entry);
                    let (entries, hasher) = (&self.entries, &self.hasher);
                    self.index.insert(hash, at, |at| hasher.hash_one(entries.get(at).user_id.as_str()));
                }
            }
        }
    }

    /// Stores `state` unless what is held for its user is as new or newer.
    #[cfg(test)]
    pub(super) fn apply(&mut self, state: &EntitlementState) {
        let prepared = Builder::new(self.hasher()).prepare(state);
        self.place(&mut vec![prepared], &mut Vec::new());
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
