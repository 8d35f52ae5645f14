//! The replica's users, in the entitlement service's compact layout: one entry per user
//! holding its id and (usually its only) subscription, times in 32 bits, ids inline and
//! feature lists shared. A check over a million users then touches the table's control
//! bytes and slot (small enough to stay in cache) and one entry.

use std::{collections::HashMap, hash::BuildHasher, sync::Arc};

use caixa_policy::{Stamp, StripeId, Terms};
use caixa_proto::billing::v1::{EntitlementState, SubscriptionSnapshot, SubscriptionStatus};
use hashbrown::{DefaultHashBuilder, HashTable, hash_table::Entry as Slot};
use smallvec::SmallVec;
use smol_str::SmolStr;

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
        self.features.iter().any(|f| &**f == feature)
    }
}

/// One user at the revision that last changed it.
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
/// The hash table holds only each entry's position (8 bytes a slot, about 18 MB for a
/// million users, which stays in the last-level cache); the entries lie side by side in
/// [`Arena`] segments. A lookup then misses cache once, on the entry, where a table of
/// boxed entries misses on the slot's pointer and again on the allocation it points to.
#[derive(Default)]
pub(super) struct Table {
    index: HashTable<usize>,
    entries: Arena,
    hasher: DefaultHashBuilder,
    feature_lists: HashMap<Box<[String]>, Features>,
}

impl Table {
    /// The entry of `user_id`.
    #[inline]
    pub(super) fn get(&self, user_id: &str) -> Option<&Entry> {
        let entries = &self.entries;
        let at = self.index.find(self.hasher.hash_one(user_id), |&at| entries.get(at).user_id == user_id)?;
        Some(entries.get(*at))
    }

    /// Number of users.
    pub(super) fn len(&self) -> usize {
        self.index.len()
    }

    /// Stores `state` unless what is held for its user is as new or newer.
    pub(super) fn apply(&mut self, state: &EntitlementState) {
        let hash = self.hasher.hash_one(state.user_id.as_str());
        let (entries, hasher) = (&mut self.entries, &self.hasher);
        let slot = self.index.entry(
            hash,
            |&at| entries.get(at).user_id == state.user_id,
            |&at| hasher.hash_one(entries.get(at).user_id.as_str()),
        );
        if let Slot::Occupied(held) = &slot
            && entries.get(*held.get()).revision >= state.revision
        {
            return;
        }
        let lists = &mut self.feature_lists;
        let subscriptions = state.subscriptions.iter().map(|s| held(s, lists)).collect();
        let entry = Entry { user_id: SmolStr::new(&state.user_id), revision: state.revision, subscriptions };
        match slot {
            Slot::Occupied(held) => *entries.get_mut(*held.get()) = entry,
            Slot::Vacant(vacant) => drop(vacant.insert(entries.push(entry))),
        }
    }
}

/// Users per arena segment.
const SEGMENT: usize = 4096;

/// Entries in segments of a fixed size: an entry never moves once placed (users are
/// never removed, only replaced), growing copies nothing, and at most one segment is
/// partly empty, so memory follows the user count instead of doubling past it.
#[derive(Default)]
struct Arena {
    segments: Vec<Vec<Entry>>,
}

impl Arena {
    #[inline]
    fn get(&self, at: usize) -> &Entry {
        &self.segments[at / SEGMENT][at % SEGMENT]
    }

    fn get_mut(&mut self, at: usize) -> &mut Entry {
        &mut self.segments[at / SEGMENT][at % SEGMENT]
    }

    /// Places `entry`; returns its position.
    fn push(&mut self, entry: Entry) -> usize {
        let full = self.segments.last().is_none_or(|s| s.len() == SEGMENT);
        if full {
            self.segments.push(Vec::with_capacity(SEGMENT));
        }
        let segment = self.segments.len() - 1;
        let at = segment * SEGMENT + self.segments[segment].len();
        self.segments[segment].push(entry);
        at
    }
}

fn held(s: &SubscriptionSnapshot, lists: &mut HashMap<Box<[String]>, Features>) -> Held {
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
}
