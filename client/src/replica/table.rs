//! The replica's users, in the entitlement service's compact layout: one entry per user
//! holding its id and (usually its only) subscription, times in 32 bits, ids inline and
//! feature lists shared. A check over a million users then touches the table's control
//! bytes and slot (small enough to stay in cache) and one entry.

use std::{collections::HashMap, hash::BuildHasher, sync::Arc};

use caixa_policy::{Dates, Terms};
use caixa_proto::billing::v1::{EntitlementState, SubscriptionSnapshot, SubscriptionStatus};
use caixa_types::{Revision, Stamp, StripeId, prefetch, same};
use hashbrown::DefaultHashBuilder;
use smallvec::SmallVec;
use smol_str::SmolStr;

#[cfg(test)]
use super::arena::SEGMENT;
use super::{arena::Arena, index::Index};

/// A feature list, shared by every subscription that grants the same features.
type Features = Arc<[Box<str>]>;

/// One subscription as the replica holds it.
pub(super) struct Held {
    id: StripeId,
    features: Features,
    /// trial_end, current_period_start, current_period_end, cancel_at, ended_at,
    /// past_due_since.
    times: [Stamp; 6],
    status: SubscriptionStatus,
    cancel_at_period_end: bool,
}

impl Held {
    /// The subscription's id as held, to copy into an answer without re-reading it.
    pub(super) fn stripe_id(&self) -> &StripeId {
        &self.id
    }
}

impl Terms for Held {
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn status(&self) -> SubscriptionStatus {
        self.status
    }
    fn dates(&self) -> Dates {
        let [trial_end, current_period_start, current_period_end, cancel_at, ended_at, past_due_since] =
            self.times.map(Stamp::get);
        Dates {
            trial_end,
            current_period_start,
            current_period_end,
            cancel_at,
            ended_at,
            past_due_since,
            cancel_at_period_end: self.cancel_at_period_end,
        }
    }
    fn grants_feature(&self, feature: &str) -> bool {
        self.features.iter().any(|f| same(f, feature))
    }
}

/// One user at the revision that last changed it: 128 bytes aligned to a cache line, so
/// two lines. The key is laid last so that a reference to it names the second line and a
/// reference to the entry the first; a batch prefetches both without reading either.
#[repr(C, align(64))]
pub(super) struct Entry {
    subscriptions: SmallVec<[Held; 1]>,
    revision: Revision,
    user_id: SmolStr,
}

const _: () = assert!(size_of::<Entry>() == 128 && std::mem::offset_of!(Entry, user_id) >= 64);

impl Entry {
    /// Every subscription of the user.
    pub(super) fn subscriptions(&self) -> &[Held] {
        &self.subscriptions
    }
}

/// Every user's entry, keyed by the id the entry holds, and the distinct feature lists.
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
    feature_lists: HashMap<Box<[String]>, Features>,
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

    /// Stores `state` unless what is held for its user is as new or newer.
    pub(super) fn apply(&mut self, state: &EntitlementState) {
        let hash = self.hasher.hash_one(state.user_id.as_str());
        let entries = &self.entries;
        let held = self.index.find(hash, |at| entries.get(at).user_id == state.user_id);
        if held.is_some_and(|at| entries.get(at).revision.get() >= state.revision) {
            return;
        }
        let lists = &mut self.feature_lists;
        let subscriptions = state.subscriptions.iter().map(|s| held_subscription(s, lists)).collect();
        let entry = Entry {
            subscriptions,
            revision: Revision::new(state.revision),
            user_id: SmolStr::new(&state.user_id),
        };
        match held {
            Some(at) => *self.entries.get_mut(at) = entry,
            None => {
                let at = self.entries.push(entry);
                let (entries, hasher) = (&self.entries, &self.hasher);
                self.index.insert(hash, at, |at| hasher.hash_one(entries.get(at).user_id.as_str()));
            }
        }
    }
}

fn held_subscription(s: &SubscriptionSnapshot, lists: &mut HashMap<Box<[String]>, Features>) -> Held {
    let features = match lists.get(s.features.as_slice()) {
        Some(shared) => shared.clone(),
        None => {
            let shared: Features = s.features.iter().map(|f| f.as_str().into()).collect();
            lists.insert(s.features.clone().into_boxed_slice(), shared.clone());
            shared
        }
    };
    let dates = s.dates();
    Held {
        id: StripeId::new(&s.subscription_id),
        features,
        times: [
            dates.trial_end,
            dates.current_period_start,
            dates.current_period_end,
            dates.cancel_at,
            dates.ended_at,
            dates.past_due_since,
        ]
        .map(Stamp::new),
        status: Terms::status(s),
        cancel_at_period_end: s.cancel_at_period_end,
    }
}

#[cfg(test)]
#[path = "table_tests.rs"]
mod tests;
