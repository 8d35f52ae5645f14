//! The replica's users, in the entitlement service's compact layout: one allocation per
//! user holding its id and (usually its only) subscription, times in 32 bits, ids inline
//! and feature lists shared. A check over a million users then touches the table's
//! control bytes, one bucket and one entry: three cache lines, not six.

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
#[derive(Default)]
pub(super) struct Table {
    users: HashTable<Box<Entry>>,
    hasher: DefaultHashBuilder,
    feature_lists: HashMap<Box<[String]>, Features>,
}

impl Table {
    /// The entry of `user_id`.
    #[inline]
    pub(super) fn get(&self, user_id: &str) -> Option<&Entry> {
        self.users.find(self.hasher.hash_one(user_id), |e| e.user_id == user_id).map(|e| &**e)
    }

    /// Number of users.
    pub(super) fn len(&self) -> usize {
        self.users.len()
    }

    /// Stores `state` unless what is held for its user is as new or newer.
    pub(super) fn apply(&mut self, state: &EntitlementState) {
        let hash = self.hasher.hash_one(state.user_id.as_str());
        let hasher = &self.hasher;
        let slot =
            self.users.entry(hash, |e| e.user_id == state.user_id, |e| hasher.hash_one(e.user_id.as_str()));
        if let Slot::Occupied(held) = &slot
            && held.get().revision >= state.revision
        {
            return;
        }
        let lists = &mut self.feature_lists;
        let subscriptions = state.subscriptions.iter().map(|s| held(s, lists)).collect();
        let entry = Box::new(Entry {
            user_id: SmolStr::new(&state.user_id),
            revision: state.revision,
            subscriptions,
        });
        match slot {
            Slot::Occupied(mut held) => *held.get_mut() = entry,
            Slot::Vacant(vacant) => drop(vacant.insert(entry)),
        }
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
