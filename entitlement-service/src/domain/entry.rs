//! The compact in-memory form of one user's state. A million users must fit in a few
//! hundred megabytes, so an entry is one allocation holding its user id and (usually
//! its only) subscription: short ids sit inline, times are 32-bit, the status is an enum, and the
//! price, product and feature list, which a million subscriptions share, are interned
//! as one [`Plan`].

use std::{
    hash::{BuildHasher, Hash, Hasher},
    sync::{Arc, Mutex},
};

use caixa_entities::state::UserState;
use caixa_policy::{Dates, Terms};
use caixa_proto::billing::v1::{EntitlementState, SubscriptionSnapshot, SubscriptionStatus};
use caixa_types::{Limit, Revision, Stamp, StripeId};
use hashbrown::{DefaultHashBuilder, HashTable};
use smallvec::SmallVec;
use smol_str::SmolStr;

use super::source::Source;

/// What a price grants: shared by every subscription to it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    price_id: Option<Box<str>>,
    product_id: Option<Box<str>>,
    features: Box<[Box<str>]>,
    limits: Box<[(Box<str>, Limit)]>,
}

impl Plan {
    fn of(s: &impl Source) -> Self {
        Self {
            price_id: s.price_id().map(Box::from),
            product_id: s.product_id().map(Box::from),
            features: s.features().map(Box::from).collect(),
            limits: s.limits().map(|(f, l)| (Box::from(f), l)).collect(),
        }
    }

    fn matches(&self, s: &impl Source) -> bool {
        self.price_id.as_deref() == s.price_id()
            && self.product_id.as_deref() == s.product_id()
            && self.features.iter().map(|f| &**f).eq(s.features())
            && self.limits.iter().map(|(f, l)| (&**f, *l)).eq(s.limits())
    }
}

/// Interns plans, so that equal plans are one allocation.
#[derive(Default)]
pub struct Plans {
    known: Mutex<HashTable<Arc<Plan>>>,
    hasher: DefaultHashBuilder,
}

impl Plans {
    /// Hashes a plan from borrowed parts, so that a known plan is found without
    /// allocating.
    fn hash<'a>(
        &self,
        price: Option<&str>,
        product: Option<&str>,
        features: impl Iterator<Item = &'a str>,
        limits: impl Iterator<Item = (&'a str, Limit)>,
    ) -> u64 {
        let mut state = self.hasher.build_hasher();
        price.hash(&mut state);
        product.hash(&mut state);
        for feature in features {
            feature.hash(&mut state);
        }
        for limit in limits {
            limit.hash(&mut state);
        }
        state.finish()
    }

    /// The shared plan of `s`, created on first sight.
    fn intern(&self, s: &impl Source) -> Arc<Plan> {
        let hash = self.hash(s.price_id(), s.product_id(), s.features(), s.limits());
        let Ok(mut known) = self.known.lock() else { return Arc::new(Plan::of(s)) };
        if let Some(plan) = known.find(hash, |p| p.matches(s)) {
            return plan.clone();
        }
        let plan = Arc::new(Plan::of(s));
        known.insert_unique(hash, plan.clone(), |p| {
            self.hash(
                p.price_id.as_deref(),
                p.product_id.as_deref(),
                p.features.iter().map(|f| &**f),
                p.limits.iter().map(|(f, l)| (&**f, *l)),
            )
        });
        plan
    }

    /// How many distinct plans are held.
    pub fn len(&self) -> usize {
        self.known.lock().map_or(0, |k| k.len())
    }

    /// Whether no plan is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One subscription, compact.
#[derive(Debug)]
pub struct Subscription {
    id: StripeId,
    customer_id: SmolStr,
    plan: Arc<Plan>,
    status: SubscriptionStatus,
    trial_start: Stamp,
    trial_end: Stamp,
    current_period_start: Stamp,
    current_period_end: Stamp,
    cancel_at: Stamp,
    ended_at: Stamp,
    past_due_since: Stamp,
    quantity: u32,
    cancel_at_period_end: bool,
    livemode: bool,
}

impl Subscription {
    fn new(s: &impl Source, plans: &Plans) -> Self {
        let [
            trial_start,
            trial_end,
            current_period_start,
            current_period_end,
            cancel_at,
            ended_at,
            past_due_since,
        ] = s.times().map(Stamp::new);
        Self {
            id: StripeId::new(s.id()),
            customer_id: SmolStr::new(s.customer_id()),
            plan: plans.intern(s),
            status: s.status(),
            trial_start,
            trial_end,
            current_period_start,
            current_period_end,
            cancel_at,
            ended_at,
            past_due_since,
            quantity: s.quantity(),
            cancel_at_period_end: s.cancel_at_period_end(),
            livemode: s.livemode(),
        }
    }

    /// The features its plan grants.
    pub fn features(&self) -> impl Iterator<Item = &str> {
        self.plan.features.iter().map(|f| &**f)
    }

    /// The proto snapshot.
    pub fn to_proto(&self) -> SubscriptionSnapshot {
        SubscriptionSnapshot {
            subscription_id: self.id.as_str().to_owned(),
            customer_id: self.customer_id.to_string(),
            status: self.status.into(),
            price_id: self.plan.price_id.as_deref().unwrap_or_default().to_owned(),
            product_id: self.plan.product_id.as_deref().unwrap_or_default().to_owned(),
            trial_start: self.trial_start.proto(),
            trial_end: self.trial_end.proto(),
            current_period_start: self.current_period_start.proto(),
            current_period_end: self.current_period_end.proto(),
            cancel_at_period_end: self.cancel_at_period_end,
            cancel_at: self.cancel_at.proto(),
            ended_at: self.ended_at.proto(),
            past_due_since: self.past_due_since.proto(),
            features: self.features().map(str::to_owned).collect(),
            livemode: self.livemode,
            quantity: self.quantity,
            limits: self.plan.limits.iter().map(|(f, l)| Limit::feature(f, *l)).collect(),
        }
    }
}

impl Terms for Subscription {
    fn id(&self) -> &str {
        self.id.as_str()
    }
    fn status(&self) -> SubscriptionStatus {
        self.status
    }
    fn dates(&self) -> Dates {
        Dates {
            trial_end: self.trial_end.get(),
            current_period_start: self.current_period_start.get(),
            current_period_end: self.current_period_end.get(),
            cancel_at: self.cancel_at.get(),
            ended_at: self.ended_at.get(),
            past_due_since: self.past_due_since.get(),
            cancel_at_period_end: self.cancel_at_period_end,
        }
    }
    fn grants_feature(&self, feature: &str) -> bool {
        self.plan.features.iter().any(|f| caixa_types::same(f, feature))
    }
    fn features(&self) -> impl Iterator<Item = &str> {
        Subscription::features(self)
    }
    fn limit(&self, feature: &str) -> Option<Limit> {
        self.plan.limits.iter().find(|(f, _)| caixa_types::same(f, feature)).map(|(_, l)| *l)
    }
    fn seats(&self) -> u32 {
        self.quantity
    }
}

/// One user's state at the revision that last changed it.
#[derive(Debug)]
pub struct Entry {
    /// The user.
    pub user_id: SmolStr,
    /// The revision of this state.
    pub revision: Revision,
    // Nearly every user has one subscription: it lives inside the entry, so a lookup
    // touches one allocation and a million users save a million small ones.
    subscriptions: SmallVec<[Subscription; 1]>,
}

impl Entry {
    /// The compact form of `state`.
    pub fn new(user_id: &str, revision: Revision, state: &UserState, plans: &Plans) -> Self {
        Self {
            user_id: SmolStr::new(user_id),
            revision,
            subscriptions: state.subscriptions.iter().map(|s| Subscription::new(s, plans)).collect(),
        }
    }

    /// The compact form of a change from billing's stream (or the local snapshot file),
    /// built straight from the message.
    pub fn from_proto(change: &EntitlementState, plans: &Plans) -> Self {
        Self {
            user_id: SmolStr::new(&change.user_id),
            revision: Revision::new(change.revision),
            subscriptions: change.subscriptions.iter().map(|s| Subscription::new(s, plans)).collect(),
        }
    }

    /// Every subscription of the user.
    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subscriptions
    }

    /// The proto state, committed at `changed_at` (Unix seconds) when known.
    pub fn to_proto(&self, changed_at: Option<i64>) -> EntitlementState {
        EntitlementState {
            user_id: self.user_id.to_string(),
            revision: self.revision.get(),
            subscriptions: self.subscriptions.iter().map(Subscription::to_proto).collect(),
            changed_at: changed_at.map(caixa_proto::timestamp),
            traceparent: String::new(),
        }
    }
}
