//! A subscription billing has never stored applies from its own event at once, ahead of
//! Stripe's answer; a confirming refetch follows in the inbox and brings Stripe's state
//! now. An event about a stored subscription does the same when it is dated after the
//! stored row by more than the clock-skew bound, and otherwise takes the usual path
//! (refetch, then apply).

use std::time::Duration;

use caixa_entities::{
    entitlement_changes, state::UserState, stripe_events, stripe_events::InboxStatus, subscriptions,
};
use caixa_integration_tests::{
    TestBilling, inbox_settled, spawn_billing_with_stripe, stripe::StripeEmulator, wait_until,
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    http::post_json,
    on_both_backends,
};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};
use serde_json::Value;

const SECRET: &str = "whsec_early_test";
const PATH: &str = "/stripe/webhook/00000000-0000-0000-0000-000000000000";
const CONFIRMATION: &str = billing_service::domain::objects::intake::CONFIRMATION;

on_both_backends!(
    a_new_subscription_applies_from_its_event_and_a_refetch_confirms_it,
    a_stored_subscription_applies_a_later_update_from_its_event
);

/// The emulator's one event of `event_type`, as Stripe would deliver it.
async fn event_of(stripe: &StripeEmulator, event_type: &str) -> Value {
    let events = stripe.get(&format!("/v1/events?type={event_type}")).await;
    let data = events["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "one {event_type} event");
    data[0].clone()
}

/// Delivers `event` signed with the bridge's secret; panics unless acknowledged.
async fn deliver(addr: std::net::SocketAddr, event: &Value) {
    let body = event.to_string();
    let signature = stripe_emulator::sign(SECRET, chrono::Utc::now().timestamp(), &body);
    let (status, reason) = post_json(addr, PATH, &body, &signature).await;
    assert_eq!(status, 200, "delivery of {}: {reason}", event["id"]);
}

/// The user's revisions in order, as the subscription's `cancel_at_period_end` flags.
async fn cancel_flags(db: &DatabaseConnection, user: &str) -> Vec<bool> {
    entitlement_changes::Entity::find()
        .filter(entitlement_changes::Column::UserId.eq(user))
        .order_by_asc(entitlement_changes::Column::Revision)
        .all(db)
        .await
        .unwrap()
        .iter()
        .map(|change| {
            let state: UserState = serde_json::from_value(change.state.clone()).unwrap();
            assert_eq!(state.subscriptions.len(), 1, "one subscription in {state:?}");
            state.subscriptions[0].cancel_at_period_end
        })
        .collect()
}

/// A billing service with the bridge's secret, and one trialing subscription of `user` in
/// the emulator. No endpoint is registered with the emulator, so nothing reaches billing
/// unless the test delivers it.
struct Subscribed {
    db: TestDatabase,
    stripe: StripeEmulator,
    billing: TestBilling,
    sub_id: String,
}

async fn subscribed(backend: Backend, user: &str) -> Subscribed {
    let db = TestDatabase::migrated(backend).await;
    let stripe = StripeEmulator::start().await;
    let billing = spawn_billing_with_stripe(&db, &stripe, &[("STRIPE_WEBHOOK_SECRET", SECRET)]).await;
    let price = stripe.monthly_price().await;
    let done = stripe.subscribe(&price, user, "14").await;
    let sub_id = done["subscription"].as_str().unwrap().to_owned();
    Subscribed { db, stripe, billing, sub_id }
}

async fn a_new_subscription_applies_from_its_event_and_a_refetch_confirms_it(backend: Backend) {
    // Arrange: a trialing subscription that Stripe has since set to cancel at period end;
    // its creation's payload is therefore older than Stripe's state now.
    let Subscribed { db, stripe, billing, sub_id } = subscribed(backend, "user-1").await;
    stripe.post(&format!("/v1/subscriptions/{sub_id}"), &[("cancel_at_period_end", "true")]).await;
    let created = event_of(&stripe, "customer.subscription.created").await;
    assert_eq!(created["data"]["object"]["cancel_at_period_end"], false, "the payload predates the update");
    let conn = db.connect().await;

    // Act: only the subscription's creation is delivered.
    deliver(billing.http_addr, &created).await;
    wait_until("the event and its confirmation settled", Duration::from_secs(10), || inbox_settled(&conn))
        .await;

    // Assert: the first revision is the event's own payload, the next is the refetch
    // that its confirmation made; the usual path would have written Stripe's state only.
    let id = created["id"].as_str().unwrap();
    let rows =
        stripe_events::Entity::find().order_by_asc(stripe_events::Column::Id).all(&conn).await.unwrap();
    let ids: Vec<&str> = rows.iter().map(|row| row.id.as_str()).collect();
    assert_eq!(ids, [id.to_owned(), format!("{id}{CONFIRMATION}")], "the event and its confirmation");
    assert_eq!(rows[1].event_type, "customer.subscription.created");
    assert_eq!(cancel_flags(&conn, "user-1").await, [false, true], "payload first, then Stripe's state");
    let row = subscriptions::Entity::find_by_id(sub_id.clone()).one(&conn).await.unwrap().unwrap();
    assert!(row.cancel_at_period_end, "the stored row is Stripe's state now");
    assert_eq!(row.user_id.as_deref(), Some("user-1"));

    // Act: the update's event, for a subscription billing now stores.
    let updated = event_of(&stripe, "customer.subscription.updated").await;
    deliver(billing.http_addr, &updated).await;
    wait_until("the update settled", Duration::from_secs(10), || inbox_settled(&conn)).await;

    // Assert: it took the usual path (no confirmation of it), and as Stripe's state was
    // already stored, it wrote no revision.
    let updated_id = updated["id"].as_str().unwrap();
    let confirmations = stripe_events::Entity::find()
        .filter(stripe_events::Column::Id.like(format!("%{CONFIRMATION}")))
        .all(&conn)
        .await
        .unwrap();
    assert_eq!(confirmations.len(), 1, "only the new subscription's event was confirmed");
    assert!(stripe_events::Entity::find_by_id(updated_id).one(&conn).await.unwrap().is_some());
    assert_eq!(cancel_flags(&conn, "user-1").await, [false, true], "an unchanged state adds no revision");
    billing.running.stop().await.unwrap();
}

async fn a_stored_subscription_applies_a_later_update_from_its_event(backend: Backend) {
    // Arrange: a subscription billing stores, confirmed by a refetch.
    let Subscribed { db, stripe, billing, sub_id } = subscribed(backend, "user-2").await;
    let conn = db.connect().await;
    deliver(billing.http_addr, &event_of(&stripe, "customer.subscription.created").await).await;
    wait_until("the creation settled", Duration::from_secs(10), || inbox_settled(&conn)).await;
    let refetched =
        subscriptions::Entity::find_by_id(sub_id.clone()).one(&conn).await.unwrap().unwrap().as_of;
    // Stripe's next event must be dated, in whole seconds, more than the skew bound after
    // the refetch.
    let bound = billing_service::domain::objects::lifecycle::CLOCK_SKEW_BOUND;
    let wait = (refetched + bound + chrono::TimeDelta::milliseconds(1100)) - chrono::Utc::now();
    tokio::time::sleep(wait.to_std().unwrap_or_default()).await;
    stripe.post(&format!("/v1/subscriptions/{sub_id}"), &[("cancel_at_period_end", "true")]).await;
    let updated = event_of(&stripe, "customer.subscription.updated").await;
    assert_eq!(updated["data"]["object"]["cancel_at_period_end"], true);

    // Act
    deliver(billing.http_addr, &updated).await;
    wait_until("the update settled", Duration::from_secs(10), || inbox_settled(&conn)).await;

    // Assert: the update applied from its payload (only that path queues a confirmation),
    // and the confirming refetch, finding Stripe's state unchanged, wrote no revision.
    let id = updated["id"].as_str().unwrap();
    let confirmation =
        stripe_events::Entity::find_by_id(format!("{id}{CONFIRMATION}")).one(&conn).await.unwrap();
    let confirmation = confirmation.expect("the update was applied ahead of Stripe's answer");
    assert_eq!(confirmation.status, InboxStatus::Processed);
    assert_eq!(cancel_flags(&conn, "user-2").await, [false, true], "one revision for the update");
    let row = subscriptions::Entity::find_by_id(sub_id).one(&conn).await.unwrap().unwrap();
    assert!(row.cancel_at_period_end);
    billing.running.stop().await.unwrap();
}
