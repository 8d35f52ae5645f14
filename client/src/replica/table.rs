//! The replica's users, in the entitlement service's compact layout: one entry per user
//! holding its id and (usually its only) subscription, times in 32 bits, ids inline and
//! feature lists shared. A check over a million users then touches the table's control
//! bytes and slot (small enough to stay in cache) and one entry.

use std::{collections::HashMap, hash::BuildHasher, sync::Arc};

use caixa_policy::{Stamp, StripeId, Terms, same};
use caixa_proto::billing::v1::{EntitlementState, SubscriptionSnapshot, SubscriptionStatus};
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
    fn trial_end(&self) -> Option<i64> {
        self.times[0].get()
    }
    fn current_period_start(&self) -> Option<i64> {
        self.times[1].get()
    }
    fn current_period_end(&self) -> Option<i64> {
        self.times[2].get()
    }
    fn cancel_at_period_end(&self) -> bool {
        self.cancel_at_period_end
    }
    fn cancel_at(&self) -> Option<i64> {
        self.times[3].get()
    }
    fn ended_at(&self) -> Option<i64> {
        self.times[4].get()
    }
    fn past_due_since(&self) -> Option<i64> {
        self.times[5].get()
    }
    fn grants_feature(&self, feature: &str) -> bool {
        self.features.iter().any(|f| same(f, feature))
    }
}

/// One user at the revision that last changed it. Aligned to a cache line so that an
/// entry (128 bytes) spans two lines, not three.
#[repr(align(64))]
pub(super) struct Entry {
    user_id: SmolStr,
    revision: u64,
    subscriptions: SmallVec<[Held; 1]>,
}

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

    /// The entries of up to [`BATCH`] users, in order. Each pass reads one more level
    /// for every user before the next pass needs it (home slots, then the entries the
    /// slots point at), so the batch waits on memory about twice rather than twice per
    /// user. The reads' results are folded into a value the optimiser must keep.
    pub(super) fn get_many<'a>(&'a self, users: &[&str], found: &mut [Option<&'a Entry>; BATCH]) {
        let users = &users[..users.len().min(BATCH)];
        let mut hashes = [0u64; BATCH];
        for (hash, user) in hashes.iter_mut().zip(users) {
            *hash = self.hasher.hash_one(user);
        }
        let hashes = &hashes[..users.len()];
        let mut touched = 0u64;
        for &hash in hashes {
            touched ^= self.index.home(hash);
        }
        // Positions first (the slots are in cache now), then the entries in a loop of a
        // few instructions, so that many of their misses are in flight at once.
        let mut at = [usize::MAX; BATCH];
        for (at, &hash) in at.iter_mut().zip(hashes) {
            *at = self.index.find(hash, |_| true).unwrap_or(usize::MAX);
        }
        for &at in at[..hashes.len()].iter().filter(|&&at| at != usize::MAX) {
            let entry = self.entries.get(at);
            // Both of the entry's lines: its key, and its subscription's terms.
            let terms = entry.subscriptions.first().map_or(0, |s| s.features.len() ^ s.status as usize);
            touched ^= entry.user_id.len() as u64 ^ entry.revision ^ terms as u64;
        }
        std::hint::black_box(touched);
        for ((slot, user), &hash) in found.iter_mut().zip(users).zip(hashes) {
            *slot = self.get_hashed(user, hash);
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
        if held.is_some_and(|at| entries.get(at).revision >= state.revision) {
            return;
        }
        let lists = &mut self.feature_lists;
        let subscriptions = state.subscriptions.iter().map(|s| held_subscription(s, lists)).collect();
        let entry = Entry { user_id: SmolStr::new(&state.user_id), revision: state.revision, subscriptions };
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
    Held {
        id: StripeId::new(&s.subscription_id),
        features,
        times: [
            Stamp::new(s.trial_end()),
            Stamp::new(s.current_period_start()),
            Stamp::new(s.current_period_end()),
            Stamp::new(Terms::cancel_at(s)),
            Stamp::new(s.ended_at()),
            Stamp::new(s.past_due_since()),
        ],
        status: Terms::status(s),
        cancel_at_period_end: s.cancel_at_period_end,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(user: usize, revision: u64) -> EntitlementState {
        let subscription = SubscriptionSnapshot {
            subscription_id: format!("sub_{user}"),
            features: vec!["app".to_owned()],
            ..SubscriptionSnapshot::default()
        };
        EntitlementState {
            user_id: format!("user-{user}"),
            revision,
            subscriptions: vec![subscription],
            ..EntitlementState::default()
        }
    }

    #[test]
    fn users_across_several_segments_are_found_and_replaced_in_place() {
        // Arrange: more users than two segments hold.
        let users = 2 * SEGMENT + 7;
        let mut table = Table::default();
        for user in 0..users {
            table.apply(&state(user, user as u64 + 1));
        }

        // Act: a newer state for every third user, an older one for every fifth.
        for user in (0..users).step_by(3) {
            table.apply(&state(user, 1_000_000 + user as u64));
        }
        for user in (0..users).step_by(5) {
            table.apply(&state(user, 0));
        }

        // Assert
        assert_eq!(table.len(), users);
        for user in 0..users {
            let entry = table.get(&format!("user-{user}")).expect("held");
            let expected = if user % 3 == 0 { 1_000_000 + user as u64 } else { user as u64 + 1 };
            assert_eq!((entry.user_id.as_str(), entry.revision), (format!("user-{user}").as_str(), expected));
            assert_eq!(entry.subscriptions()[0].id(), format!("sub_{user}"));
        }
        assert!(table.get("user-unknown").is_none());
    }

    #[test]
    fn a_batch_finds_what_single_lookups_find_in_order() {
        // Arrange: users across segments, asked for with unknown ones among them.
        let (mut table, users) = (Table::default(), SEGMENT + 100);
        for user in 0..users {
            table.apply(&state(user, 1));
        }
        let name =
            |n: usize| if n % 7 == 3 { format!("nobody-{n}") } else { format!("user-{}", n * 61 % users) };
        let names: Vec<String> = (0..BATCH + 9).map(name).collect();

        for ask in [&names[..BATCH], &names[BATCH..], &names[..0]] {
            // Act
            let ids: Vec<&str> = ask.iter().map(String::as_str).collect();
            let mut found = [None; BATCH];
            table.get_many(&ids, &mut found);

            // Assert
            for (name, entry) in ask.iter().zip(found) {
                let expected = table.get(name).map(|e| e.user_id.as_str());
                assert_eq!(entry.map(|e| e.user_id.as_str()), expected, "{name}");
                assert_eq!(expected.is_some(), name.starts_with("user-"), "{name}");
            }
        }
    }
}
