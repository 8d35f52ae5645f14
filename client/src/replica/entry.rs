//! One user as the replica holds it, and how the follow task builds it from a message:
//! feature lists are shared by every subscription granting the same features, times
//! are 32 bits and ids inline.

use std::{collections::HashMap, hash::BuildHasher, sync::Arc};

use caixa_policy::{Dates, Terms};
use caixa_proto::billing::v1::{EntitlementState, SubscriptionSnapshot, SubscriptionStatus};
use caixa_types::{Revision, Stamp, StripeId, same};
use hashbrown::DefaultHashBuilder;
use smallvec::SmallVec;
use smol_str::SmolStr;

/// A feature list, shared by every subscription that grants the same features.
type Features = Arc<[Box<str>]>;

/// One subscription as the replica holds it.
#[derive(Clone)]
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

/// One user at the revision that last changed it: 120 bytes, and 128 with the flag its
/// arena slot adds. The key is laid last, so that a reference to it names the entry's
/// last line and a reference to the entry its first; a batch prefetches both without
/// reading either. Never changed once placed: a newer state is a new entry.
#[derive(Clone)]
#[repr(C)]
pub(super) struct Entry {
    pub(super) subscriptions: SmallVec<[Held; 1]>,
    pub(super) revision: Revision,
    pub(super) user_id: SmolStr,
}

const _: () = assert!(size_of::<Entry>() == 120 && std::mem::offset_of!(Entry, user_id) == 96);

impl Entry {
    /// Every subscription of the user.
    pub(super) fn subscriptions(&self) -> &[Held] {
        &self.subscriptions
    }
}

/// An entry built ahead of placing it, with the hash of its id.
pub(super) struct Prepared {
    pub(super) hash: u64,
    pub(super) entry: Entry,
}

/// Builds entries from the stream's messages. Owned by the one task that writes.
pub(super) struct Builder {
    hasher: DefaultHashBuilder,
    feature_lists: HashMap<Box<[String]>, Features>,
}

impl Builder {
    /// A builder hashing as the table it feeds does.
    pub(super) fn new(hasher: DefaultHashBuilder) -> Self {
        Self { hasher, feature_lists: HashMap::new() }
    }

    /// `state` as an entry, ready to be placed.
    pub(super) fn prepare(&mut self, state: &EntitlementState) -> Prepared {
        let lists = &mut self.feature_lists;
        let subscriptions = state.subscriptions.iter().map(|s| held_subscription(s, lists)).collect();
        let entry = Entry {
            subscriptions,
            revision: Revision::new(state.revision),
            user_id: SmolStr::new(&state.user_id),
        };
        Prepared { hash: self.hasher.hash_one(state.user_id.as_str()), entry }
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
