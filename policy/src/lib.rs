//! The access policy (docs/api.md, "Access policy"), computed at call time from
//! timestamps so that a trial or period that ends without a webhook still ends.
//! Billing's `GetSubscriptionStatus` and the entitlement service's checks share it.
//!
//! The policy reads subscriptions through [`Terms`], so billing can hand it the stored
//! JSON form, the entitlement service its compact in-memory form and a caller's replica
//! the proto snapshot; deciding allocates nothing. It depends on the contracts only: the
//! storage side implements [`Terms`] for its own types.

mod plain;

pub use caixa_types::Limit;
pub use plain::Subscription;

/// The policy's answers use the contract's enums: the reasons and statuses callers see.
pub use caixa_proto::billing::v1::{AccessReason, SubscriptionStatus};

/// What the policy reads of one subscription.
pub trait Terms {
    /// `sub_...`.
    fn id(&self) -> &str;
    /// Stripe's status.
    fn status(&self) -> SubscriptionStatus;
    /// Its dates and whether it cancels at period end.
    fn dates(&self) -> Dates;
    /// Whether its product grants `feature`.
    fn grants_feature(&self, feature: &str) -> bool;
    /// Every feature its product grants.
    fn features(&self) -> impl Iterator<Item = &str>;
    /// The number its product sets on `feature`, if it sets one.
    fn limit(&self, feature: &str) -> Option<Limit>;
    /// Seats bought: its item's quantity.
    fn seats(&self) -> u32;
}

/// A subscription's dates (Unix seconds) and its cancel-at-period-end flag: every form
/// of a subscription hands them over in one value, read once per decision.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dates {
    /// Trial end.
    pub trial_end: Option<i64>,
    /// Current period start.
    pub current_period_start: Option<i64>,
    /// Current period end.
    pub current_period_end: Option<i64>,
    /// Scheduled cancellation.
    pub cancel_at: Option<i64>,
    /// When it ended.
    pub ended_at: Option<i64>,
    /// Start of the grace period of a past_due episode.
    pub past_due_since: Option<i64>,
    /// Cancels at period end.
    pub cancel_at_period_end: bool,
}

/// Tunable parts of the policy.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// How long a past_due subscription keeps access, from the start of the period whose
    /// payment failed.
    pub grace_seconds: i64,
    /// How long a trial that has ended keeps access while Stripe's word on the first
    /// payment is on its way (reason `TRIAL_ENDING`).
    pub trial_end_grace_seconds: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self { grace_seconds: 3 * 86_400, trial_end_grace_seconds: 3_600 }
    }
}

impl Policy {
    /// The policy with these graces (durations past `i64::MAX` seconds read as forever).
    pub fn with_graces(grace: std::time::Duration, trial_end_grace: std::time::Duration) -> Self {
        let seconds = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Self { grace_seconds: seconds(grace), trial_end_grace_seconds: seconds(trial_end_grace) }
    }
}

/// The answer to "may this user use this now?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision<'a, S> {
    /// Whether access is granted.
    pub allowed: bool,
    /// Why.
    pub reason: AccessReason,
    /// Status of the subscription that decided.
    pub status: SubscriptionStatus,
    /// Until when the answer holds if nothing changes (Unix seconds), when granted.
    pub access_until: Option<i64>,
    /// The subscription that decided: callers take from it what they answer with (its id,
    /// or the whole of it), without the policy copying anything.
    pub subscription: Option<&'a S>,
    /// When granted for a feature: the largest number any granting subscription's plan
    /// sets on it; `None` when none sets one.
    pub limit: Option<Limit>,
    /// When granted: the seats bought on the subscription that decided; 0 when refused.
    pub seats: u32,
}

impl<'a, S: Terms> Decision<'a, S> {
    /// The id of the subscription that decided.
    pub fn subscription_id(&self) -> Option<&'a str> {
        self.subscription.map(Terms::id)
    }
}

/// One subscription's verdict.
struct Verdict<'a, S> {
    subscription: &'a S,
    reason: AccessReason,
    until: Option<i64>,
}

// Manual, so that `S` need not be `Copy`: a verdict only borrows its subscription.
impl<S> Clone for Verdict<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<S> Copy for Verdict<'_, S> {}

impl<S> Verdict<'_, S> {
    fn grants(&self) -> bool {
        matches!(
            self.reason,
            AccessReason::Trialing
                | AccessReason::TrialEnding
                | AccessReason::Active
                | AccessReason::Canceling
                | AccessReason::PastDueGrace
        )
    }

    /// Open-ended grants outlast every dated one.
    fn end(&self) -> i64 {
        self.until.unwrap_or(i64::MAX)
    }
}

impl Policy {
    /// Decides access for `feature` ("" or `None` means the paid app) at `now`, over all
    /// of one user's subscriptions: features are the union over the granting ones.
    pub fn decide<'a, S: Terms>(
        &self,
        subscriptions: &'a [S],
        feature: Option<&str>,
        now: i64,
    ) -> Decision<'a, S> {
        let feature = feature.filter(|f| !f.is_empty());
        // The latest-ending grant, the latest-ending grant that covers the feature, and
        // the refusal most worth telling; later ties win among grants, earlier among
        // refusals.
        let mut best: Option<Verdict<'a, S>> = None;
        let mut holder: Option<Verdict<'a, S>> = None;
        let mut worst: Option<Verdict<'a, S>> = None;
        let mut limit: Option<Limit> = None;
        for subscription in subscriptions {
            let verdict = self.judge(subscription, now);
            if verdict.grants() {
                let covers = feature.is_none_or(|f| subscription.grants_feature(f));
                if let Some(f) = feature.filter(|_| covers) {
                    limit = limit.max(subscription.limit(f));
                }
                if covers && holder.as_ref().is_none_or(|h| verdict.end() >= h.end()) {
                    holder = Some(verdict);
                }
                if best.as_ref().is_none_or(|b| verdict.end() >= b.end()) {
                    best = Some(verdict);
                }
            } else if worst.as_ref().is_none_or(|w| priority(verdict.reason) < priority(w.reason)) {
                worst = Some(verdict);
            }
        }
        match (holder, best, worst) {
            (Some(holder), _, _) => Decision {
                limit,
                seats: holder.subscription.seats(),
                ..decision(&holder, true, holder.reason)
            },
            (None, Some(best), _) => decision(&best, false, AccessReason::FeatureNotInPlan),
            (None, None, Some(worst)) => decision(&worst, false, worst.reason),
            (None, None, None) => Decision {
                allowed: false,
                reason: AccessReason::NoSubscription,
                status: SubscriptionStatus::Unspecified,
                access_until: None,
                subscription: None,
                limit: None,
                seats: 0,
            },
        }
    }

    /// Every feature granted at `now`, sorted, each with the largest number any granting
    /// subscription's plan sets on it (`None` when none sets one).
    pub fn grants<'a, S: Terms>(&self, subscriptions: &'a [S], now: i64) -> Vec<(&'a str, Option<Limit>)> {
        let mut grants: Vec<(&'a str, Option<Limit>)> = Vec::new();
        for subscription in subscriptions.iter().filter(|s| self.judge(*s, now).grants()) {
            grants.extend(subscription.features().map(|f| (f, subscription.limit(f))));
        }
        // Equal features side by side, the largest limit first: dedup keeps it.
        grants.sort_by(|a, b| a.0.cmp(b.0).then(b.1.cmp(&a.1)));
        grants.dedup_by(|later, kept| later.0 == kept.0);
        grants
    }

    fn judge<'a, S: Terms>(&self, subscription: &'a S, now: i64) -> Verdict<'a, S> {
        let s = subscription.dates();
        let ended = s.ended_at.is_some_and(|t| t <= now);
        let (reason, until) = match subscription.status() {
            _ if ended => (AccessReason::Canceled, None),
            // A scheduled cancellation ends access at its time, whatever the status says
            // (Stripe's word on it may be late).
            _ if s.cancel_at.is_some_and(|t| t <= now) => (AccessReason::Canceled, None),
            SubscriptionStatus::Trialing => {
                // A trial set to cancel (at a time, or at its end) stops then: no grace
                // waits for a first payment that will not come.
                let stops = s.cancel_at.or_else(|| s.trial_end.filter(|_| s.cancel_at_period_end));
                let grace_end = |end: i64| end.saturating_add(self.trial_end_grace_seconds);
                match s.trial_end {
                    Some(end) if now < end => {
                        (AccessReason::Trialing, Some(stops.map_or(end, |t| t.min(end))))
                    }
                    // Stripe's word on the first payment may be minutes behind the clock.
                    Some(end) if stops.is_none_or(|t| t > end) && now < grace_end(end) => (
                        AccessReason::TrialEnding,
                        Some(stops.map_or(grace_end(end), |t| t.min(grace_end(end)))),
                    ),
                    // A trial that ended without news from Stripe has ended.
                    _ => (AccessReason::Canceled, None),
                }
            }
            SubscriptionStatus::Active if s.cancel_at_period_end => {
                match s.current_period_end.or(s.cancel_at) {
                    Some(end) if now < end => (AccessReason::Canceling, Some(end)),
                    _ => (AccessReason::Canceled, None),
                }
            }
            // Scheduled to cancel at a set time, whatever the period (a time already
            // passed was refused above).
            SubscriptionStatus::Active if s.cancel_at.is_some() => (AccessReason::Canceling, s.cancel_at),
            // A period end already past means the renewal's news is on its way: access
            // goes on, with no end to promise.
            SubscriptionStatus::Active => {
                (AccessReason::Active, s.current_period_end.filter(|end| *end > now))
            }
            SubscriptionStatus::PastDue => {
                let grace_end = s.past_due_since.or(s.current_period_start).map(|t| t + self.grace_seconds);
                match grace_end {
                    Some(end) if now < end => (AccessReason::PastDueGrace, Some(end)),
                    _ => (AccessReason::PaymentFailed, None),
                }
            }
            SubscriptionStatus::Unpaid => (AccessReason::PaymentFailed, None),
            SubscriptionStatus::Incomplete | SubscriptionStatus::IncompleteExpired => {
                (AccessReason::Incomplete, None)
            }
            SubscriptionStatus::Paused => (AccessReason::Paused, None),
            SubscriptionStatus::Canceled | SubscriptionStatus::Unspecified => (AccessReason::Canceled, None),
        };
        Verdict { subscription, reason, until }
    }
}

/// Among refusals, the one most worth telling the user about comes first.
fn priority(reason: AccessReason) -> u8 {
    match reason {
        AccessReason::PaymentFailed => 0,
        AccessReason::Paused => 1,
        AccessReason::Incomplete => 2,
        _ => 3,
    }
}

fn decision<'a, S: Terms>(verdict: &Verdict<'a, S>, allowed: bool, reason: AccessReason) -> Decision<'a, S> {
    Decision {
        allowed,
        reason,
        status: verdict.subscription.status(),
        access_until: if allowed { verdict.until } else { None },
        subscription: Some(verdict.subscription),
        limit: None,
        seats: 0,
    }
}

#[cfg(test)]
mod tests;
