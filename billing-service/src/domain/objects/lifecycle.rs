//! The rules that decide what a Stripe object means for stored state, apart from any I/O
//! so they can be tested on their own.

use std::collections::BTreeMap;

use caixa_entities::{
    customers, prices, products,
    subscriptions::{self, Status},
};
use caixa_types::Limit;
use chrono::{DateTime, Utc};

use crate::stripe::objects::{Customer, Price, Product, Subscription};

/// Whether data as of `incoming` may replace a row holding data as of `stored`: equal
/// times may (a refetch of the same moment is the same data), older never does.
pub fn may_replace(stored: Option<DateTime<Utc>>, incoming: DateTime<Utc>) -> bool {
    stored.is_none_or(|stored| stored <= incoming)
}

/// How far Stripe's clock may be from ours. A refetched row is stamped with our clock when
/// Stripe's answer arrived; Stripe read it at most this much later on its own clock.
/// Stripe's servers and ours keep time by NTP, which holds them within milliseconds.
pub const CLOCK_SKEW_BOUND: chrono::TimeDelta = chrono::TimeDelta::seconds(1);

/// Whether an event's payload, as of `created` (Stripe's clock, whole seconds), is
/// provably newer than a stored row as of `stored`, whichever clock stamped the row. The
/// change the event reports happened at or after `created`; Stripe read the row's data
/// no later than `stored` plus the skew bound. An event in the same second, or within the
/// bound, may be older, and takes the usual path (refetch, then apply).
pub fn payload_leads(stored: DateTime<Utc>, created: DateTime<Utc>) -> bool {
    created > stored + CLOCK_SKEW_BOUND
}

/// Whether an event dated `created` by Stripe and received at `received` by us shows
/// Stripe's clock running ahead of ours by more than the skew bound: a test clock, or a
/// clock out of sync. [`payload_leads`] cannot be trusted once that has been seen.
pub fn stripe_clock_ahead(created: DateTime<Utc>, received: DateTime<Utc>) -> bool {
    created > received + CLOCK_SKEW_BOUND
}

/// The user a subscription belongs to: its customer's link wins (it can be repaired),
/// else the `metadata.user_id` billing set at checkout.
pub fn subscription_owner(linked: Option<String>, metadata: Option<String>) -> Option<String> {
    linked.or(metadata)
}

/// The user a customer belongs to: its `metadata.user_id`, else the link it already has
/// (made at checkout, it survives a payload without metadata).
pub fn customer_owner(metadata: Option<String>, current: Option<String>) -> Option<String> {
    metadata.or(current)
}

/// Whether a completed checkout may link its customer to the session's user. A customer
/// whose stored `metadata.user_id` names someone else was re-linked in Stripe after the
/// checkout; a late or replayed session event must not undo that.
pub fn session_may_link(stored_metadata_user: Option<&str>, session_user: &str) -> bool {
    stored_metadata_user.is_none_or(|owner| owner == session_user)
}

/// When the grace of a past_due subscription started: an episode already under way
/// keeps its start; a new one starts at the period whose payment failed (or now, when
/// the period is unknown); any other status has none.
pub fn past_due_since(
    previous: Option<(Status, Option<DateTime<Utc>>)>,
    status: Status,
    period_start: Option<DateTime<Utc>>,
    as_of: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    match (previous, status) {
        (Some((Status::PastDue, since)), Status::PastDue) => since,
        (_, Status::PastDue) => period_start.or(Some(as_of)),
        _ => None,
    }
}

/// Whether a stored subscription says something about access that Stripe's `fresh` one
/// does not (`owner`: the user it should belong to now).
pub fn subscription_drifted(row: &subscriptions::Model, fresh: &Subscription, owner: Option<&str>) -> bool {
    row.status != fresh.status
        || row.customer_id != fresh.customer_id
        || row.user_id.as_deref() != owner
        || (row.price_id.as_ref(), row.product_id.as_ref())
            != (fresh.price_id.as_ref(), fresh.product_id.as_ref())
        || (row.trial_start, row.trial_end) != (fresh.trial_start, fresh.trial_end)
        || (row.current_period_start, row.current_period_end)
            != (fresh.current_period_start, fresh.current_period_end)
        || (row.cancel_at_period_end, row.cancel_at, row.ended_at)
            != (fresh.cancel_at_period_end, fresh.cancel_at, fresh.ended_at)
}

/// Whether a stored customer's link or email differs from Stripe's `fresh` one.
pub fn customer_drifted(row: &customers::Model, fresh: &Customer) -> bool {
    let owner = customer_owner(fresh.user_id.clone(), row.user_id.clone());
    row.deleted != fresh.deleted || row.user_id != owner || row.email != fresh.email
}

/// Whether a stored product grants other features, or sets other limits, than Stripe's
/// `fresh` one.
pub fn product_drifted(row: &products::Model, fresh: &Product) -> bool {
    let stored: Vec<String> = serde_json::from_value(row.features.clone()).unwrap_or_default();
    let limits: BTreeMap<String, Limit> = serde_json::from_value(row.limits.clone()).unwrap_or_default();
    stored != fresh.features || limits != fresh.limits || row.active != fresh.active
}

/// Whether a stored price differs from Stripe's `fresh` one in what checkout checks.
pub fn price_drifted(row: &prices::Model, fresh: &Price) -> bool {
    (row.active, row.livemode, &row.product_id, row.unit_amount, &row.recurring_interval)
        != (fresh.active, fresh.livemode, &fresh.product_id, fresh.unit_amount, &fresh.recurring_interval)
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
