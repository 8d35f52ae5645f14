//! One user as the replica holds it, and how the follow task builds it from a message:
//! feature lists are shared by every subscription granting the same features, times
//! are 32 bits and ids inline.

use std::{
    collections::{HashMap, HashSet},
    hash::BuildHasher,
    sync::Arc,
};

use caixa_policy::{Dates, Terms};
use caixa_proto::billing::v1::{EntitlementState, SubscriptionSnapshot, SubscriptionStatus};
use caixa_types::{Limit, Revision, Stamp, StripeId, same};
use hashbrown::DefaultHashBuilder;
use smallvec::SmallVec;
use smol_str::SmolStr;

/// What a plan grants: its features and the numbers set on them. Shared by every
/// subscription whose plan grants the same.
#[derive(Default, PartialEq, Eq, Hash)]
struct Grant {
    features: Box<[Box<str>]>,
    limits: Box<[(Box<str>, Limit)]>,
}

impl Grant {
    fn of(s: &SubscriptionSnapshot) -> Self {
        Self {
            features: s.features.iter().map(|f| f.as_str().into()).collect(),
            limits: Limit::of_features(&s.limits).map(|(f, l)| (f.into(), l)).collect(),
        }
    }
}

/// One subscription as the replica holds it.
#[derive(Clone)]
pub(super) struct Held {
    id: StripeId,
    grant: Arc<Grant>,
    /// trial_end, current_period_start, current_period_end, cancel_at, ended_at,
    /// past_due_since.
    times: [Stamp; 6],
    status: SubscriptionStatus,
    seats: u32,
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
        self.grant.features.iter().any(|f| same(f, feature))
    }
    fn features(&self) -> impl Iterator<Item = &str> {
        self.grant.features.iter().map(|f| &**f)
    }
    fn limit(&self, feature: &str) -> Option<Limit> {
        self.grant.limits.iter().find(|(f, _)| same(f, feature)).map(|(_, l)| *l)
    }
    fn seats(&self) -> u32 {
        self.seats
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
    // Keyed by the feature list alone when the plan sets no number (nearly always, and
    // found without allocating); with numbers, by the whole grant.
    feature_lists: HashMap<Box<[String]>, Arc<Grant>>,
    limited: HashSet<Arc<Grant>>,
}

impl Builder {
    /// A builder hashing as the table it feeds does.
    pub(super) fn new(hasher: DefaultHashBuilder) -> Self {
        Self { hasher, feature_lists: HashMap::new(), limited: HashSet::new() }
    }

    /// `state` as an entry, ready to be placed.
    pub(super) fn prepare(&mut self, state: &EntitlementState) -> Prepared {
        let subscriptions = state.subscriptions.iter().map(|s| self.held_subscription(s)).collect();
        let entry = Entry {
            subscriptions,
            revision: Revision::new(state.revision),
            user_id: SmolStr::new(&state.user_id),
        };
        Prepared { hash: self.hasher.hash_one(state.user_id.as_str()), entry }
    }

    /// The shared grant of `s`, made on first sight.
    fn grant(&mut self, s: &SubscriptionSnapshot) -> Arc<Grant> {
        if !s.limits.is_empty() {
            let grant = Grant::of(s);
            if let Some(shared) = self.limited.get(&grant) {
                return shared.clone();
            }
            let shared = Arc::new(grant);
            self.limited.insert(shared.clone());
            return shared;
        }
        if let Some(shared) = self.feature_lists.get(s.features.as_slice()) {
            return shared.clone();
        }
        let shared = Arc::new(Grant::of(s));
        self.feature_lists.insert(s.features.clone().into_boxed_slice(), shared.clone());
        shared
    }

    fn held_subscription(&mut self, s: &SubscriptionSnapshot) -> Held {
        let dates = s.dates();
        Held {
            id: StripeId::new(&s.subscription_id),
            grant: self.grant(s),
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
            seats: s.quantity,
            cancel_at_period_end: s.cancel_at_period_end,
        }
    }
}
