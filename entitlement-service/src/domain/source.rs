//! The two forms an entry is built from, the stored JSON state (a start from the
//! database, the log) and the proto snapshot (billing's stream, the local snapshot file),
//! read through one borrowed view, so that neither is copied into the other on the way:
//! a start from the file builds ten million entries.

use caixa_entities::state::SubscriptionState;
use caixa_proto::billing::v1::{SubscriptionSnapshot, SubscriptionStatus};
use caixa_types::Limit;

/// One subscription as an entry is built from it.
pub trait Source {
    /// `sub_...`.
    fn id(&self) -> &str;
    /// `cus_...`.
    fn customer_id(&self) -> &str;
    /// Stripe's status.
    fn status(&self) -> SubscriptionStatus;
    /// The price, if known.
    fn price_id(&self) -> Option<&str>;
    /// The product, if known.
    fn product_id(&self) -> Option<&str>;
    /// The features its plan grants, in order.
    fn features(&self) -> impl Iterator<Item = &str> + Clone;
    /// The limits its plan sets, in order.
    fn limits(&self) -> impl Iterator<Item = (&str, Limit)> + Clone;
    /// trial_start, trial_end, current_period_start, current_period_end, cancel_at,
    /// ended_at, past_due_since (Unix seconds).
    fn times(&self) -> [Option<i64>; 7];
    /// Seats.
    fn quantity(&self) -> u32;
    /// Cancels at period end.
    fn cancel_at_period_end(&self) -> bool;
    /// Stripe's livemode flag.
    fn livemode(&self) -> bool;
}

impl Source for SubscriptionState {
    fn id(&self) -> &str {
        &self.id
    }
    fn customer_id(&self) -> &str {
        &self.customer_id
    }
    fn status(&self) -> SubscriptionStatus {
        self.status
    }
    fn price_id(&self) -> Option<&str> {
        self.price_id.as_deref()
    }
    fn product_id(&self) -> Option<&str> {
        self.product_id.as_deref()
    }
    fn features(&self) -> impl Iterator<Item = &str> + Clone {
        self.features.iter().map(String::as_str)
    }
    fn limits(&self) -> impl Iterator<Item = (&str, Limit)> + Clone {
        self.limits.iter().map(|(f, l)| (f.as_str(), *l))
    }
    fn times(&self) -> [Option<i64>; 7] {
        [
            self.trial_start,
            self.trial_end,
            self.current_period_start,
            self.current_period_end,
            self.cancel_at,
            self.ended_at,
            self.past_due_since,
        ]
    }
    fn quantity(&self) -> u32 {
        self.quantity
    }
    fn cancel_at_period_end(&self) -> bool {
        self.cancel_at_period_end
    }
    fn livemode(&self) -> bool {
        self.livemode
    }
}

/// As the stored form reads it: an empty id is none.
fn present(id: &str) -> Option<&str> {
    Some(id).filter(|id| !id.is_empty())
}

impl Source for SubscriptionSnapshot {
    fn id(&self) -> &str {
        &self.subscription_id
    }
    fn customer_id(&self) -> &str {
        &self.customer_id
    }
    fn status(&self) -> SubscriptionStatus {
        SubscriptionSnapshot::status(self)
    }
    fn price_id(&self) -> Option<&str> {
        present(&self.price_id)
    }
    fn product_id(&self) -> Option<&str> {
        present(&self.product_id)
    }
    fn features(&self) -> impl Iterator<Item = &str> + Clone {
        self.features.iter().map(String::as_str)
    }
    fn limits(&self) -> impl Iterator<Item = (&str, Limit)> + Clone {
        Limit::of_features(&self.limits)
    }
    fn times(&self) -> [Option<i64>; 7] {
        [
            &self.trial_start,
            &self.trial_end,
            &self.current_period_start,
            &self.current_period_end,
            &self.cancel_at,
            &self.ended_at,
            &self.past_due_since,
        ]
        .map(|t| t.as_ref().map(|t| t.seconds))
    }
    fn quantity(&self) -> u32 {
        self.quantity
    }
    fn cancel_at_period_end(&self) -> bool {
        self.cancel_at_period_end
    }
    fn livemode(&self) -> bool {
        self.livemode
    }
}
