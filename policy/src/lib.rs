//! The access policy (docs/api.md, "Access policy"), computed at call time from
//! timestamps so that a trial or period that ends without a webhook still ends.
//! Billing's `GetSubscriptionStatus` and the entitlement service's checks share it.

use caixa_entities::state::{SubscriptionState, UserState, status_from_str};
use caixa_proto::billing::v1::{AccessReason, SubscriptionStatus};

/// Tunable parts of the policy.
#[derive(Clone, Copy, Debug)]
pub struct Policy {
    /// How long a past_due subscription keeps access, from the start of the period whose
    /// payment failed.
    pub grace_seconds: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Self { grace_seconds: 3 * 86_400 }
    }
}

/// The answer to "may this user use this now?".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Whether access is granted.
    pub allowed: bool,
    /// Why.
    pub reason: AccessReason,
    /// Status of the subscription that decided.
    pub status: SubscriptionStatus,
    /// Until when the answer holds if nothing changes (Unix seconds), when granted.
    pub access_until: Option<i64>,
    /// The subscription that decided.
    pub subscription_id: Option<String>,
}

/// One subscription's verdict.
struct Verdict<'a> {
    subscription: &'a SubscriptionState,
    reason: AccessReason,
    until: Option<i64>,
}

impl Verdict<'_> {
    fn grants(&self) -> bool {
        matches!(
            self.reason,
            AccessReason::Trialing
                | AccessReason::Active
                | AccessReason::Canceling
                | AccessReason::PastDueGrace
        )
    }
}

impl Policy {
    /// Decides access for `feature` ("" or `None` means the paid app) at `now`.
    pub fn decide(&self, state: &UserState, feature: Option<&str>, now: i64) -> Decision {
        let verdicts: Vec<Verdict<'_>> = state.subscriptions.iter().map(|s| self.judge(s, now)).collect();
        let granting: Vec<&Verdict<'_>> = verdicts.iter().filter(|v| v.grants()).collect();
        let feature = feature.filter(|f| !f.is_empty());
        if let Some(best) = granting.iter().max_by_key(|v| v.until.unwrap_or(i64::MAX)) {
            let granted = match feature {
                None => true,
                Some(feature) => {
                    granting.iter().any(|v| v.subscription.features.iter().any(|f| f == feature))
                }
            };
            if granted {
                // The latest end among the subscriptions that grant this feature.
                let holder = granting
                    .iter()
                    .filter(|v| feature.is_none_or(|f| v.subscription.features.iter().any(|g| g == f)))
                    .max_by_key(|v| v.until.unwrap_or(i64::MAX))
                    .unwrap_or(best);
                return decision(holder, true, holder.reason);
            }
            return decision(best, false, AccessReason::FeatureNotInPlan);
        }
        let worst = verdicts.iter().min_by_key(|v| priority(v.reason));
        match worst {
            Some(verdict) => decision(verdict, false, verdict.reason),
            None => Decision {
                allowed: false,
                reason: AccessReason::NoSubscription,
                status: SubscriptionStatus::Unspecified,
                access_until: None,
                subscription_id: None,
            },
        }
    }

    fn judge<'a>(&self, s: &'a SubscriptionState, now: i64) -> Verdict<'a> {
        let ended = s.ended_at.is_some_and(|t| t <= now);
        let (reason, until) = match s.status.as_str() {
            _ if ended => (AccessReason::Canceled, None),
            "trialing" => match s.trial_end {
                Some(end) if now < end => (AccessReason::Trialing, Some(end)),
                // A trial that ended without news from Stripe has ended.
                _ => (AccessReason::Canceled, None),
            },
            "active" if s.cancel_at_period_end => match s.current_period_end.or(s.cancel_at) {
                Some(end) if now < end => (AccessReason::Canceling, Some(end)),
                _ => (AccessReason::Canceled, None),
            },
            "active" => (AccessReason::Active, s.current_period_end),
            "past_due" => {
                let grace_end = s.past_due_since.or(s.current_period_start).map(|t| t + self.grace_seconds);
                match grace_end {
                    Some(end) if now < end => (AccessReason::PastDueGrace, Some(end)),
                    _ => (AccessReason::PaymentFailed, None),
                }
            }
            "unpaid" => (AccessReason::PaymentFailed, None),
            "incomplete" | "incomplete_expired" => (AccessReason::Incomplete, None),
            "paused" => (AccessReason::Paused, None),
            _ => (AccessReason::Canceled, None),
        };
        Verdict { subscription: s, reason, until }
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

fn decision(verdict: &Verdict<'_>, allowed: bool, reason: AccessReason) -> Decision {
    Decision {
        allowed,
        reason,
        status: status_from_str(&verdict.subscription.status),
        access_until: if allowed { verdict.until } else { None },
        subscription_id: Some(verdict.subscription.id.clone()),
    }
}
