//! The policy's own owned form of a subscription's terms, and the proto snapshot read as
//! terms: what a caller holding contracts (the client crate's replica, tests) decides on,
//! with no storage types in sight.

use caixa_proto::billing::v1::{SubscriptionSnapshot, SubscriptionStatus};

use crate::{Dates, Limit, Terms};

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
    /// The numbers its product sets on some of those features.
    pub limits: Vec<(String, Limit)>,
    /// Seats bought: its item's quantity.
    pub seats: u32,
}

impl Terms for Subscription {
    fn id(&self) -> &str {
        &self.id
    }
    fn status(&self) -> SubscriptionStatus {
        self.status
    }
    fn dates(&self) -> Dates {
        Dates {
            trial_end: self.trial_end,
            current_period_start: self.current_period_start,
            current_period_end: self.current_period_end,
            cancel_at: self.cancel_at,
            ended_at: self.ended_at,
            past_due_since: self.past_due_since,
            cancel_at_period_end: self.cancel_at_period_end,
        }
    }
    fn grants_feature(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
    fn features(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(String::as_str)
    }
    fn limit(&self, feature: &str) -> Option<Limit> {
        self.limits.iter().find(|(f, _)| f == feature).map(|(_, limit)| *limit)
    }
    fn seats(&self) -> u32 {
        self.seats
    }
}

impl Terms for SubscriptionSnapshot {
    fn id(&self) -> &str {
        &self.subscription_id
    }
    fn status(&self) -> SubscriptionStatus {
        SubscriptionSnapshot::status(self)
    }
    fn dates(&self) -> Dates {
        let seconds = |t: &Option<prost_types::Timestamp>| t.as_ref().map(|t| t.seconds);
        Dates {
            trial_end: seconds(&self.trial_end),
            current_period_start: seconds(&self.current_period_start),
            current_period_end: seconds(&self.current_period_end),
            cancel_at: seconds(&self.cancel_at),
            ended_at: seconds(&self.ended_at),
            past_due_since: seconds(&self.past_due_since),
            cancel_at_period_end: self.cancel_at_period_end,
        }
    }
    fn grants_feature(&self, feature: &str) -> bool {
        self.features.iter().any(|f| f == feature)
    }
    fn features(&self) -> impl Iterator<Item = &str> {
        self.features.iter().map(String::as_str)
    }
    fn limit(&self, feature: &str) -> Option<Limit> {
        Limit::of_features(&self.limits).find(|(f, _)| *f == feature).map(|(_, limit)| limit)
    }
    fn seats(&self) -> u32 {
        self.quantity
    }
}
