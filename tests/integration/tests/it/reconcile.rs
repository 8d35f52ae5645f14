//! Reconciliation: deliveries Stripe never made are healed within one interval, and a
//! sweep puts back what a stored row got wrong.

use std::{sync::Arc, time::Duration};

use billing_service::{domain::operations::reconcile::Reconciler, revisions::RevisionFeed};
use caixa_entities::subscriptions;
use caixa_integration_tests::{
    http_get, inbox_settled, spawn_billing_with_stripe, stripe::StripeEmulator, wait_until,
};
use caixa_proto::billing::v1::{GetSubscriptionStatusRequest, billing_service_client::BillingServiceClient};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
    on_both_backends,
};
use sea_orm::{ConnectionTrait, EntityTrait};

on_both_backends!(
    dropped_deliveries_are_healed_within_one_interval,
    a_sweep_heals_a_wrong_row_and_then_finds_none
);

async fn dropped_deliveries_are_healed_within_one_interval(backend: Backend) {
    // Arrange: every delivery dropped; reconciliation every second.
    let db = TestDatabase::migrated(backend).await;
    let stripe = StripeEmulator::start().await;
    let billing = spawn_billing_with_stripe(&db, &stripe, &[("RECONCILE_INTERVAL_SECONDS", "1")]).await;
    stripe.register_billing(&db, billing.http_addr).await;
    let price = stripe.monthly_price().await;
    stripe.post("/_emulator/chaos", &[("drop_next", "1000")]).await;
    let mut client = BillingServiceClient::new(channel(billing.grpc_addr).await);

    // Act
    stripe.subscribe(&price, "user-lost", "0").await;

    // Assert: the user has access although no webhook arrived, and it was counted.
    wait_until("the dropped subscription healed", Duration::from_secs(10), || {
        let mut client = client.clone();
        async move {
            let request = GetSubscriptionStatusRequest { user_id: "user-lost".to_owned() };
            client.get_subscription_status(request).await.unwrap().into_inner().has_active_subscription
        }
    })
    .await;
    for delivered in stripe.get_deliveries().await.iter().filter(|d| d["status"] == 200) {
        let event = stripe.get(&format!("/v1/events/{}", delivered["event"].as_str().unwrap())).await;
        let kind = event["type"].as_str().unwrap();
        assert!(kind.starts_with("product.") || kind.starts_with("price."), "{kind} was delivered");
    }
    // The pass counts once it is done, which may be just after the worker applied.
    wait_until("the drift counted", Duration::from_secs(5), || async {
        let (_, metrics) = http_get(billing.http_addr, "/metrics").await;
        metrics.contains("caixa_reconcile_drift_total{kind=\"event\"}")
            && metrics.contains("caixa_reconcile_last_success_timestamp_seconds")
    })
    .await;
    let status = client
        .get_subscription_status(GetSubscriptionStatusRequest { user_id: "user-lost".to_owned() })
        .await
        .unwrap()
        .into_inner();
    assert!(status.revision > 0);
    billing.running.stop().await.unwrap();
}

async fn a_sweep_heals_a_wrong_row_and_then_finds_none(backend: Backend) {
    // Arrange: a subscription applied, then its row corrupted behind billing's back.
    let db = TestDatabase::migrated(backend).await;
    let stripe = StripeEmulator::start().await;
    let billing = spawn_billing_with_stripe(&db, &stripe, &[]).await;
    stripe.register_billing(&db, billing.http_addr).await;
    let price = stripe.monthly_price().await;
    stripe.subscribe(&price, "user-drift", "0").await;
    let client = BillingServiceClient::new(channel(billing.grpc_addr).await);
    let status = |mut client: BillingServiceClient<_>| async move {
        let request = GetSubscriptionStatusRequest { user_id: "user-drift".to_owned() };
        client.get_subscription_status(request).await.unwrap().into_inner()
    };
    let c = client.clone();
    wait_until("applied", Duration::from_secs(10), || async {
        status(c.clone()).await.has_active_subscription
    })
    .await;
    let conn = db.connect().await;
    // Every delivery in, so none restores the row behind the test's back.
    stripe.wait_for_deliveries().await;
    wait_until("every event applied", Duration::from_secs(10), || inbox_settled(&conn)).await;
    conn.execute_unprepared("UPDATE subscriptions SET status = 'canceled'").await.unwrap();
    assert!(!status(client.clone()).await.has_active_subscription);
    let api = stripe.billing_api();
    let reconciler = Reconciler::new(conn.clone(), api, Arc::default(), RevisionFeed::default());

    // Act
    let first = reconciler.pass(true).await.unwrap();
    let healed = subscriptions::Entity::find().one(&conn).await.unwrap().unwrap().as_of;
    let second = reconciler.pass(true).await.unwrap();

    // Assert
    assert!(first.ran && first.subscriptions == 1, "{first:?}");
    assert!(status(client.clone()).await.has_active_subscription, "access restored");
    assert_eq!(second.drift(), 0, "{second:?}");
    // Found unchanged, the row is stamped as of the second sweep: an event dated between
    // the sweeps must not go ahead of its refetch.
    let confirmed = subscriptions::Entity::find().one(&conn).await.unwrap().unwrap().as_of;
    assert!(confirmed > healed, "{confirmed} > {healed}");
    billing.running.stop().await.unwrap();
}
