//! The inbox under failure: several workers, a worker that dies mid-event, a database
//! that goes away while Stripe is delivering.

use std::time::Duration;

use billing_service::store::inbox::{self, NewEvent};
use caixa_entities::{entitlement_changes, stripe_events, subscriptions};
use caixa_integration_tests::{spawn_billing, spawn_billing_with_stripe, stripe::StripeEmulator, wait_until};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    on_both_backends,
};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

const FAST: &[(&str, &str)] = &[("INBOX_POLL_MS", "20"), ("INBOX_RETRY_BASE_MS", "20")];

/// A `customer.subscription.updated` event for customer `c`, the `k`-th of its series;
/// each moves the period end, so each is a real change.
fn event(c: usize, k: usize, base: i64) -> NewEvent {
    let created = base + k as i64;
    let subscription = json!({
        "id": format!("sub_{c}"), "object": "subscription", "customer": format!("cus_{c}"), "livemode": false,
        "status": "active", "created": base, "metadata": { "user_id": format!("user-{c}") },
        "cancel_at_period_end": false,
        "items": { "object": "list", "data": [{ "id": format!("si_{c}"), "quantity": 1,
            "price": { "id": "price_1", "product": "prod_1" },
            "current_period_start": base, "current_period_end": base + 1000 + k as i64 }] },
    });
    let payload = json!({
        "id": format!("evt_{c}_{k}"), "object": "event", "type": "customer.subscription.updated",
        "created": created, "livemode": false, "data": { "object": subscription },
    });
    NewEvent {
        id: format!("evt_{c}_{k}"),
        event_type: "customer.subscription.updated".to_owned(),
        livemode: false,
        api_version: None,
        created: DateTime::from_timestamp(created, 0).unwrap(),
        object_id: Some(format!("sub_{c}")),
        customer_id: Some(format!("cus_{c}")),
        endpoint_id: None,
        payload: payload.to_string(),
        trace_context: None,
    }
}

/// Whether `expected` of Stripe's events are processed (rows that confirm an early apply
/// are not Stripe's events).
async fn all_processed(db: &DatabaseConnection, expected: u64) -> bool {
    let confirmation = format!("%{}", billing_service::domain::objects::intake::CONFIRMATION);
    stripe_events::Entity::find()
        .filter(stripe_events::Column::Status.eq("processed"))
        .filter(stripe_events::Column::Id.not_like(confirmation))
        .count(db)
        .await
        .unwrap()
        == expected
}

#[tokio::test]
async fn two_workers_apply_1000_events_once_each_in_customer_order() {
    caixa_test_support::init_test_logging();
    // Arrange: 100 customers × 10 events, stored in scrambled order.
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let conn = db.connect().await;
    let base = Utc::now().timestamp() - 10_000;
    let mut events: Vec<(usize, usize)> = (0..100).flat_map(|c| (0..10).map(move |k| (c, k))).collect();
    events.sort_by_key(|(c, k)| (k * 7919 + c * 104_729) % 1000);
    for (c, k) in events {
        assert!(inbox::insert(&conn, event(c, k, base)).await.unwrap());
    }

    // Act: two billing replicas, each with a worker, on the same database.
    let first = spawn_billing(&db, FAST).await;
    let second = spawn_billing(&db, FAST).await;
    wait_until("1,000 events processed", Duration::from_secs(90), || all_processed(&conn, 1000)).await;

    // Assert: each claimed once (a stale, out-of-order apply would have been retried),
    // every subscription at its last event, each user at least one revision.
    let retried = stripe_events::Entity::find()
        .filter(stripe_events::Column::Attempts.ne(1))
        .count(&conn)
        .await
        .unwrap();
    assert_eq!(retried, 0, "every event applied on its first attempt");
    for sub in subscriptions::Entity::find().all(&conn).await.unwrap() {
        assert_eq!(
            sub.current_period_end.map(|t| t.timestamp()),
            Some(base + 1009),
            "{} ends at its last event",
            sub.id
        );
    }
    // A customer's events claimed together apply as one change (its last event's), so a
    // user has between one revision and one per event.
    let changes = entitlement_changes::Entity::find().count(&conn).await.unwrap();
    assert!((100..=1000).contains(&changes), "{changes} revisions");
    first.running.stop().await.unwrap();
    second.running.stop().await.unwrap();
}

on_both_backends!(an_event_left_by_a_dead_worker_is_processed_once);

async fn an_event_left_by_a_dead_worker_is_processed_once(backend: Backend) {
    // Arrange: a worker claimed the event and died before finishing (its lease is over).
    let db = TestDatabase::migrated(backend).await;
    let conn = db.connect().await;
    inbox::insert(&conn, event(1, 0, Utc::now().timestamp())).await.unwrap();
    let claimed = inbox::claim(&conn, "dead-worker", (1, 1), chrono::Duration::zero()).await.unwrap();
    assert_eq!(claimed.len(), 1);

    // Act: a new process starts.
    let billing = spawn_billing(&db, FAST).await;
    wait_until("the event processed", Duration::from_secs(10), || all_processed(&conn, 1)).await;

    // Assert
    let stored = stripe_events::Entity::find_by_id("evt_1_0").one(&conn).await.unwrap().unwrap();
    assert_eq!(stored.attempts, 2, "the dead worker's attempt and one more");
    assert_eq!(entitlement_changes::Entity::find().count(&conn).await.unwrap(), 1, "applied once");
    billing.running.stop().await.unwrap();
}

#[tokio::test]
async fn a_database_outage_answers_5xx_and_stripes_retries_land() {
    caixa_test_support::init_test_logging();
    // Arrange
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let stripe = StripeEmulator::start().await;
    let billing = spawn_billing_with_stripe(&db, &stripe, FAST).await;
    stripe.register_billing(&db, billing.http_addr).await;

    // Act: the database goes away while Stripe delivers an event, then comes back.
    db.set_reachable(false).await;
    let customer = stripe.post("/v1/customers", &[("email", "outage@example.com")]).await;
    wait_until("a refused delivery", Duration::from_secs(10), || async {
        let log = stripe.get("/_emulator/deliveries").await;
        log["data"].as_array().unwrap().iter().any(|d| d["status"].as_u64().is_some_and(|s| s >= 500))
    })
    .await;
    db.set_reachable(true).await;

    // Assert: a retry landed and the event was applied; nothing lost.
    let conn = db.connect().await;
    wait_until("the event stored and processed", Duration::from_secs(20), || all_processed(&conn, 1)).await;
    let stored = stripe_events::Entity::find().all(&conn).await.unwrap();
    assert!(stored.iter().all(|e| e.object_id.as_deref() == customer["id"].as_str()), "{stored:?}");
    let log = stripe.get("/_emulator/deliveries").await;
    let statuses: Vec<u64> =
        log["data"].as_array().unwrap().iter().filter_map(|d| d["status"].as_u64()).collect();
    assert!(statuses.first().is_some_and(|s| *s >= 500) && statuses.last() == Some(&200), "{statuses:?}");
    billing.running.stop().await.unwrap();
}
