//! The lifecycle rules, one decision at a time.

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
    assert_eq!(past_due_since(Some((Status::PastDue, Some(t(1)))), Status::Active, Some(t(9)), t(9)), None);
}

fn customer(user: Option<&str>, email: Option<&str>, deleted: bool) -> Customer {
    Customer {
        id: "cus_1".to_owned(),
        livemode: false,
        deleted,
        email: email.map(str::to_owned),
        name: None,
        user_id: user.map(str::to_owned),
        named_by_other_key: false,
        metadata: serde_json::json!({}),
        created: Some(t(0)),
    }
}

fn stored_customer(fresh: &Customer) -> customers::Model {
    customers::Model {
        id: fresh.id.clone(),
        livemode: false,
        user_id: fresh.user_id.clone(),
        former_user_id: None,
        email: fresh.email.clone(),
        email_normalized: None,
        name: None,
        deleted: fresh.deleted,
        metadata: serde_json::json!({}),
        stripe_created: t(0),
        as_of: t(0),
        created_at: t(0),
        updated_at: t(0),
    }
}

#[test]
fn a_customer_drifts_by_its_link_its_email_or_its_deletion() {
    let fresh = customer(Some("u1"), Some("ana@example.com"), false);
    let row = stored_customer(&fresh);
    assert!(!customer_drifted(&row, &fresh), "equal is no drift");
    let relinked = customer(Some("u2"), Some("ana@example.com"), false);
    assert!(customer_drifted(&row, &relinked), "another user in Stripe's metadata");
    let renamed = customer(Some("u1"), Some("bia@example.com"), false);
    assert!(customer_drifted(&row, &renamed), "another email");
    let deleted = customer(Some("u1"), Some("ana@example.com"), true);
    assert!(customer_drifted(&row, &deleted), "deleted at Stripe");
    let unnamed = customer(None, Some("ana@example.com"), false);
    assert!(!customer_drifted(&row, &unnamed), "no user in Stripe keeps the stored link");
    let mut unlinked = stored_customer(&fresh);
    unlinked.user_id = None;
    assert!(customer_drifted(&unlinked, &fresh), "a link Stripe has and the row lacks");
}

fn product(features: &[&str], active: bool) -> Product {
    Product {
        id: "prod_1".to_owned(),
        livemode: false,
        active,
        name: "Pro".to_owned(),
        description: None,
        metadata: serde_json::json!({}),
        features: features.iter().map(|f| (*f).to_owned()).collect(),
        limits: std::collections::BTreeMap::new(),
    }
}

fn stored_product(fresh: &Product) -> products::Model {
    products::Model {
        id: fresh.id.clone(),
        livemode: false,
        active: fresh.active,
        name: fresh.name.clone(),
        description: None,
        features: serde_json::json!(fresh.features),
        metadata: serde_json::json!({}),
        limits: serde_json::json!(fresh.limits),
        as_of: t(0),
        created_at: t(0),
        updated_at: t(0),
    }
}

#[test]
fn a_product_drifts_by_its_features_or_its_state() {
    let fresh = product(&["app", "reports"], true);
    let row = stored_product(&fresh);
    assert!(!product_drifted(&row, &fresh), "equal is no drift");
    assert!(product_drifted(&row, &product(&["app"], true)), "a feature taken away");
    assert!(product_drifted(&row, &product(&["app", "reports"], false)), "archived");
    let mut limited = product(&["app", "reports"], true);
    limited.limits.insert("reports".to_owned(), caixa_types::Limit::Count(5));
    assert!(product_drifted(&row, &limited), "a limit set");
    let mut renamed = product(&["app", "reports"], true);
    renamed.name = "Pro 2".to_owned();
    assert!(!product_drifted(&row, &renamed), "a new name changes no access");
}

fn price(amount: i64, active: bool, interval: Option<&str>) -> Price {
    Price {
        id: "price_1".to_owned(),
        livemode: false,
        product_id: "prod_1".to_owned(),
        active,
        currency: "brl".to_owned(),
        unit_amount: Some(amount),
        recurring_interval: interval.map(str::to_owned),
        recurring_interval_count: Some(1),
        lookup_key: None,
        metadata: serde_json::json!({}),
    }
}

fn stored_price(fresh: &Price) -> prices::Model {
    prices::Model {
        id: fresh.id.clone(),
        livemode: fresh.livemode,
        product_id: fresh.product_id.clone(),
        active: fresh.active,
        currency: fresh.currency.clone(),
        unit_amount: fresh.unit_amount,
        recurring_interval: fresh.recurring_interval.clone(),
        recurring_interval_count: fresh.recurring_interval_count,
        lookup_key: None,
        metadata: serde_json::json!({}),
        as_of: t(0),
        created_at: t(0),
        updated_at: t(0),
    }
}

#[test]
fn a_price_drifts_by_what_checkout_checks() {
    let fresh = price(4990, true, Some("month"));
    let row = stored_price(&fresh);
    assert!(!price_drifted(&row, &fresh), "equal is no drift");
    assert!(price_drifted(&row, &price(5990, true, Some("month"))), "another amount");
    assert!(price_drifted(&row, &price(4990, false, Some("month"))), "archived");
    assert!(price_drifted(&row, &price(4990, true, None)), "no longer recurring");
    let mut nicknamed = price(4990, true, Some("month"));
    nicknamed.lookup_key = Some("pro".to_owned());
    assert!(!price_drifted(&row, &nicknamed), "a lookup key changes nothing checkout checks");
}

#[test]
fn a_trial_that_moved_is_drift() {
    let fresh = Subscription::from_json(&serde_json::json!({ "id": "sub_1", "customer": "cus_1",
        "status": "trialing", "trial_start": 100, "trial_end": 200 }));
    let mut row = stored(&fresh, "u1");
    assert!(!subscription_drifted(&row, &fresh, Some("u1")));
    row.trial_end = Some(t(300));
    assert!(subscription_drifted(&row, &fresh, Some("u1")), "a trial extended at Stripe");
}
