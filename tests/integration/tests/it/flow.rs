//! Stripe's webhooks, from the emulator through the bridge and the inbox to the revision
//! log and the Watch stream, with duplicates and shuffled order.

use std::time::Duration;

use caixa_entities::{customers, entitlement_changes, stripe_events, subscriptions};
use caixa_integration_tests::{spawn_billing_with_stripe, stripe::StripeEmulator, wait_until};
use caixa_proto::billing::v1::{
    SubscriptionStatus, WatchRequest, subscription_events_client::SubscriptionEventsClient,
    watch_response::Event,
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
    on_both_backends,
};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

on_both_backends!(
    a_completed_checkout_reaches_the_log_and_the_stream,
    duplicated_shuffled_events_converge_to_stripes_state
);

async fn all_processed(db: &DatabaseConnection) -> bool {
    let events = stripe_events::Entity::find().all(db).await.unwrap();
    !events.is_empty() && events.iter().all(|e| e.status == "processed" || e.status == "ignored")
}

async fn a_completed_checkout_reaches_the_log_and_the_stream(backend: Backend) {
    // Arrange
    let db = TestDatabase::migrated(backend).await;
    let stripe = StripeEmulator::start().await;
    let billing = spawn_billing_with_stripe(&db, &stripe, &[]).await;
    stripe.register_billing(&db, billing.http_addr).await;
    let price = stripe.monthly_price().await;
    let mut watch = SubscriptionEventsClient::new(channel(billing.grpc_addr).await)
        .watch(WatchRequest { after_revision: 0 })
        .await
        .unwrap()
        .into_inner();

    // Act
    stripe.subscribe(&price, "user-1", "14").await;

    // Assert: the stream carries user-1's trialing subscription with its features.
    let change = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(Event::Change(change)) = watch.message().await.unwrap().unwrap().event
                && change.subscriptions.iter().any(|s| s.status() == SubscriptionStatus::Trialing)
            {
                return change;
            }
        }
    })
    .await
    .expect("a trialing change for user-1 within 10 s");
    assert_eq!(change.user_id, "user-1");
    assert_eq!(change.subscriptions[0].features, ["app", "reports"]);
    assert!(change.subscriptions[0].trial_end.is_some());
    // The trialing change can come from the subscription's own event; the link comes
    // with checkout.session.completed, which may still be on its way.
    stripe.wait_for_deliveries().await;
    let conn = db.connect().await;
    wait_until("every event processed", Duration::from_secs(10), || all_processed(&conn)).await;
    let customer = customers::Entity::find().one(&conn).await.unwrap().unwrap();
    assert_eq!(customer.user_id.as_deref(), Some("user-1"), "customer linked to the user");
    // A new customer or subscription whose event came before any other told billing
    // about it applied from that event, and a confirming refetch of it waited its turn
    // in the inbox. Whether one did depends on the order of delivery (a
    // checkout.session.completed processed first stores both objects), so what holds
    // every time is that confirmations exist only for those events, each processed
    // beside the event it confirms.
    let stored = stripe_events::Entity::find().all(&conn).await.unwrap();
    for confirmation in
        stored.iter().filter(|e| e.id.ends_with(billing_service::domain::objects::intake::CONFIRMATION))
    {
        let original =
            confirmation.id.trim_end_matches(billing_service::domain::objects::intake::CONFIRMATION);
        assert!(
            ["customer.created", "customer.subscription.created"].contains(&confirmation.event_type.as_str()),
            "a confirmation of {}",
            confirmation.event_type
        );
        assert!(stored.iter().any(|e| e.id == original), "{} confirms a stored event", confirmation.id);
    }
    billing.running.stop().await.unwrap();
}

async fn duplicated_shuffled_events_converge_to_stripes_state(backend: Backend) {
    // Arrange: every delivery sent ten times, in shuffled order.
    let db = TestDatabase::migrated(backend).await;
    let stripe = StripeEmulator::start().await;
    let billing = spawn_billing_with_stripe(&db, &stripe, &[]).await;
    stripe.register_billing(&db, billing.http_addr).await;
    let price = stripe.monthly_price().await;
    stripe.post("/_emulator/chaos", &[("duplicates", "9"), ("shuffle_ms", "150")]).await;

    // Act: trial, conversion, a cancellation at period end.
    stripe.subscribe(&price, "user-2", "7").await;
    stripe.post("/_emulator/clock/advance", &[("days", "8")]).await;
    let sub_id = stripe.get("/v1/subscriptions").await["data"][0]["id"].as_str().unwrap().to_owned();
    stripe.post(&format!("/v1/subscriptions/{sub_id}"), &[("cancel_at_period_end", "true")]).await;
    stripe.wait_for_deliveries().await;
    let conn = db.connect().await;
    wait_until("every event processed", Duration::from_secs(15), || all_processed(&conn)).await;

    // Assert: each event stored once (beside the rows that confirm early applies);
    // the local row equals Stripe's object.
    let events = stripe.get("/v1/events?limit=100").await;
    let stored = stripe_events::Entity::find().all(&conn).await.unwrap();
    let (confirmations, stored): (Vec<_>, Vec<_>) = stored
        .into_iter()
        .partition(|e| e.id.ends_with(billing_service::domain::objects::intake::CONFIRMATION));
    assert!(
        confirmations.iter().all(|c| stored.iter().any(|e| format!(
            "{}{}",
            e.id,
            billing_service::domain::objects::intake::CONFIRMATION
        ) == c.id)),
        "a confirmation belongs to a stored event"
    );
    assert_eq!(
        stored.len(),
        events["data"].as_array().unwrap().len(),
        "one row per event despite 10 deliveries each"
    );
    let truth = stripe.get(&format!("/v1/subscriptions/{sub_id}")).await;
    let row = subscriptions::Entity::find_by_id(sub_id).one(&conn).await.unwrap().unwrap();
    assert_eq!(row.status, truth["status"].as_str().unwrap());
    assert!(row.cancel_at_period_end);
    assert_eq!(
        row.current_period_end.map(|t| t.timestamp()),
        truth["items"]["data"][0]["current_period_end"].as_i64()
    );
    // Every revision of the user is a real change: duplicates added none.
    let changes = entitlement_changes::Entity::find()
        .filter(entitlement_changes::Column::UserId.eq("user-2"))
        .order_by_asc(entitlement_changes::Column::Revision)
        .all(&conn)
        .await
        .unwrap();
    assert!(!changes.is_empty(), "the user has a revision");
    assert!(
        changes.windows(2).all(|w| w[0].state != w[1].state),
        "a revision that changes nothing was written"
    );
    billing.running.stop().await.unwrap();
}
