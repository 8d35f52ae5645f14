//! The rules that decide what a Stripe object means for stored state, apart from any I/O
//! so they can be tested on their own.

use caixa_entities::{
    customers, prices, products,
    subscriptions::{self, Status},
};
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

/// Whether a stored product grants other features than Stripe's `fresh` one.
pub fn product_drifted(row: &products::Model, fresh: &Product) -> bool {
    let stored: Vec<String> = serde_json::from_value(row.features.clone()).unwrap_or_default();
    stored != fresh.features || row.active != fresh.active
}

/// Whether a stored price differs from Stripe's `fresh` one in what checkout checks.
pub fn price_drifted(row: &prices::Model, fresh: &Price) -> bool {
    (row.active, row.livemode, &row.product_id, row.unit_amount, &row.recurring_interval)
        != (fresh.active, fresh.livemode, &fresh.product_id, fresh.unit_amount, &fresh.recurring_interval)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    #[test]
    fn older_data_never_replaces_newer() {
        assert!(may_replace(None, t(5)));
        assert!(may_replace(Some(t(5)), t(5)));
        assert!(may_replace(Some(t(5)), t(6)));
        assert!(!may_replace(Some(t(6)), t(5)));
    }

    #[test]
    fn a_payload_leads_a_row_only_by_more_than_the_skew_bound() {
        // A refetch stamped 10.5 s: Stripe read it by 11.5 s on its clock at the latest.
        let stored = t(10) + chrono::TimeDelta::milliseconds(500);
        assert!(!payload_leads(stored, t(10)), "the same second");
        assert!(!payload_leads(stored, t(11)), "within the bound");
        assert!(payload_leads(stored, t(12)), "dated after the latest read");
        assert!(!payload_leads(t(12), t(13)), "exactly the bound is not more than it");
        assert!(payload_leads(t(12), t(14)));
    }

    #[test]
    fn a_stripe_clock_ahead_of_ours_is_seen_in_an_event_dated_after_its_arrival() {
        assert!(!stripe_clock_ahead(t(10), t(10)));
        assert!(!stripe_clock_ahead(t(11), t(10)), "within the bound");
        assert!(stripe_clock_ahead(t(12), t(10)));
        assert!(!stripe_clock_ahead(t(3), t(10)), "a late delivery is not a clock ahead");
    }

    #[test]
    fn owners() {
        let some = |s: &str| Some(s.to_owned());
        assert_eq!(subscription_owner(some("linked"), some("meta")), some("linked"));
        assert_eq!(subscription_owner(None, some("meta")), some("meta"));
        assert_eq!(customer_owner(some("meta"), some("current")), some("meta"));
        assert_eq!(customer_owner(None, some("current")), some("current"));
        assert_eq!(customer_owner(None, None), None);
        assert!(session_may_link(None, "a"));
        assert!(session_may_link(Some("a"), "a"));
        assert!(!session_may_link(Some("b"), "a"), "a re-link in Stripe outranks an older checkout");
    }

    fn stored(fresh: &Subscription, user: &str) -> subscriptions::Model {
        subscriptions::Model {
            id: fresh.id.clone(),
            livemode: false,
            customer_id: fresh.customer_id.clone(),
            user_id: Some(user.to_owned()),
            status: fresh.status,
            price_id: fresh.price_id.clone(),
            product_id: fresh.product_id.clone(),
            quantity: 1,
            trial_start: fresh.trial_start,
            trial_end: fresh.trial_end,
            current_period_start: fresh.current_period_start,
            current_period_end: fresh.current_period_end,
            cancel_at_period_end: fresh.cancel_at_period_end,
            cancel_at: fresh.cancel_at,
            canceled_at: None,
            ended_at: fresh.ended_at,
            past_due_since: None,
            latest_invoice_id: None,
            metadata: serde_json::json!({}),
            stripe_created: t(0),
            as_of: t(0),
            created_at: t(0),
            updated_at: t(0),
        }
    }

    #[test]
    fn drift_is_what_changes_access_and_nothing_else() {
        let fresh = Subscription::from_json(&serde_json::json!({ "id": "sub_1", "customer": "cus_1",
            "status": "active", "items": { "data": [{ "current_period_end": 500, "price": { "id": "price_1", "product": "prod_1" } }] } }));
        let mut row = stored(&fresh, "u1");
        assert!(!subscription_drifted(&row, &fresh, Some("u1")), "equal is no drift");
        assert!(subscription_drifted(&row, &fresh, Some("u2")), "another owner is drift");
        row.latest_invoice_id = Some("in_9".to_owned());
        row.quantity = 7;
        assert!(!subscription_drifted(&row, &fresh, Some("u1")), "fields access ignores are no drift");
        row.status = Status::PastDue;
        assert!(subscription_drifted(&row, &fresh, Some("u1")));
        let mut row = stored(&fresh, "u1");
        row.current_period_end = Some(t(400));
        assert!(subscription_drifted(&row, &fresh, Some("u1")), "a missed renewal is drift");
        let mut row = stored(&fresh, "u1");
        row.cancel_at = Some(t(450));
        assert!(subscription_drifted(&row, &fresh, Some("u1")));
    }

    #[test]
    fn grace_starts_at_the_failed_period_and_keeps_its_start() {
        let new = past_due_since(Some((Status::Active, None)), Status::PastDue, Some(t(100)), t(150));
        assert_eq!(new, Some(t(100)));
        let ongoing =
            past_due_since(Some((Status::PastDue, Some(t(100)))), Status::PastDue, Some(t(200)), t(250));
        assert_eq!(ongoing, Some(t(100)), "a renewal inside the episode does not restart grace");
        assert_eq!(past_due_since(None, Status::PastDue, None, t(7)), Some(t(7)));
        assert_eq!(
            past_due_since(Some((Status::PastDue, Some(t(1)))), Status::Active, Some(t(9)), t(9)),
            None
        );
    }
}
