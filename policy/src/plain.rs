//! The policy's own owned form of a subscription's terms, and the proto snapshot read as
//! terms: what a caller holding contracts (the client crate's replica, tests) decides on,
//! with no storage types in sight.

use caixa_proto::billing::v1::{SubscriptionSnapshot, SubscriptionStatus};

use crate::Terms;

/// A subscription's terms, owned.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subscription {
    /// `sub_...`.
    pub id: String,
    /// Stripe's status.
    pub status: SubscriptionStatus,
    /// Trial end (Unix seconds).
    pub trial_end: Option<i64>,
    /// Current period start.
    pub current_period_start: Option<i64>,
    /// Current period end.
    pub current_period_end: Option<i64>,
    /// Cancels at period end.
    pub cancel_at_period_end: bool,
    /// Scheduled cancellation.
    pub cancel_at: Option<i64>,
    /// When it ended.
    pub ended_at: Option<i64>,
    /// Start of the grace period of a past_due episode.
    pub past_due_since: Option<i64>,
    /// Feature lookup keys its product grants.
    pub features: Vec<String>,
}

impl Terms for Subscription {
    fn id(&self) -> &str {
        &self.id
    }
    fn status(&self) -> SubscriptionStatus {
        self.status
    }
    fn trial_end(&self) -> Option<i64> {
        self.trial_end
    }
    fn current_period_start(&self) -> Option<i64> {
        self.current_period_start
    }
    fn current_period_end(&self) -> Option<i64> {
        self.current_period_end
    }
    fn cancel_at_period_end(&self) -> bool {
        self.cancel_at_period_end
    }
    fn cancel_at(&self) -> Option<i64> {
        self.cancel_at
    }
    fn ended_at(&self) -> Option<i64> {
        self.ended_at
    }
    fn past_due_since(&self) -> Option<i64> {
        self.past_due_since
    }
    fn grants_feature(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
}

fn seconds(timestamp: Option<&prost_types::Timestamp>) -> Option<i64> {
    timestamp.map(|t| t.seconds)
}

impl Terms for SubscriptionSnapshot {
    fn id(&self) -> &str {
        &self.subscription_id
    }
    fn status(&self) -> SubscriptionStatus {
        SubscriptionSnapshot::status(self)
    }
    fn trial_end(&self) -> Option<i64> {
        seconds(self.trial_end.as_ref())
    }
    fn current_period_start(&self) -> Option<i64> {
        seconds(self.current_period_start.as_ref())
    }
    fn current_period_end(&self) -> Option<i64> {
        seconds(self.current_period_end.as_ref())
    }
    fn cancel_at_period_end(&self) -> bool {
        self.cancel_at_period_end
    }
    fn cancel_at(&self) -> Option<i64> {
        seconds(self.cancel_at.as_ref())
    }
    fn ended_at(&self) -> Option<i64> {
        seconds(self.ended_at.as_ref())
    }
    fn past_due_since(&self) -> Option<i64> {
        seconds(self.past_due_since.as_ref())
    }
    fn grants_feature(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
}

/// Stripe's status name (`trialing`, `past_due`, …) as the proto enum; `Unspecified` for a
/// name Stripe does not use.
pub fn stripe_status(name: &str) -> SubscriptionStatus {
    match name {
        "trialing" => SubscriptionStatus::Trialing,
        "active" => SubscriptionStatus::Active,
        "past_due" => SubscriptionStatus::PastDue,
        "unpaid" => SubscriptionStatus::Unpaid,
        "canceled" => SubscriptionStatus::Canceled,
        "incomplete" => SubscriptionStatus::Incomplete,
        "incomplete_expired" => SubscriptionStatus::IncompleteExpired,
        "paused" => SubscriptionStatus::Paused,
        _ => SubscriptionStatus::Unspecified,
    }
}
