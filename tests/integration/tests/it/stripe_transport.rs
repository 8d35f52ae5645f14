//! Billing's transport to Stripe, seen from the emulator: connections are kept and
//! reused (and counted by billing), a new user's checkout takes two calls, a rate-limited read is tried again, an idempotency
//! error never is, and the process's budget keeps under Stripe's rate limits with a
//! user's checkout served before background work.

use std::time::Duration;

use billing_service::stripe::StripeCallError;
use caixa_integration_tests::{
    http_get, metrics::Metrics, spawn_billing_with_stripe, stripe::StripeEmulator, wait_until,
};
use caixa_proto::billing::v1::{CreateCheckoutSessionRequest, billing_service_client::BillingServiceClient};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
};

/// The emulator's count of connections and `/v1` requests so far.
async fn stats(stripe: &StripeEmulator) -> (u64, u64) {
    let stats = stripe.get("/_emulator/stats").await;
    (stats["connections"].as_u64().unwrap(), stats["requests"].as_u64().unwrap())
}

#[tokio::test]
async fn checkouts_one_after_another_share_one_connection_to_stripe() {
    caixa_test_support::init_test_logging();
    // Arrange
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let stripe = StripeEmulator::start().await;
    let price = stripe.monthly_price().await;
    let billing =
        spawn_billing_with_stripe(&db, &stripe, &[("STRIPE_DEFAULT_PRICE_ID", price.as_str())]).await;
    let mut client = BillingServiceClient::new(channel(billing.grpc_addr).await);
    let (connections_before, requests_before) = stats(&stripe).await;

    // Act: five new users' checkouts, one after another.
    let mut calls = Vec::new();
    for n in 0..5 {
        let request = CreateCheckoutSessionRequest {
            user_id: format!("user-{n}"),
            email: format!("user{n}@example.com"),
            ..Default::default()
        };
        let (_, before) = stats(&stripe).await;
        client.create_checkout_session(request).await.unwrap();
        calls.push(stats(&stripe).await.1 - before);
    }

    // Assert: once the price is known, a new user's checkout is two calls (the customer,
    // the session), and every call came on one connection, which billing counted.
    assert_eq!(calls[1..], [2, 2, 2, 2], "Stripe calls of each checkout: {calls:?}");
    let (connections, requests) = stats(&stripe).await;
    let (connections, requests) = (connections - connections_before, requests - requests_before);
    assert!(requests >= 10, "{requests} requests");
    assert_eq!(connections, 1, "{requests} requests came on {connections} connections");
    let metrics = Metrics::parse(&http_get(billing.http_addr, "/metrics").await.1);
    assert_eq!(metrics.value("caixa_stripe_connections_opened_total", &[]), Some(1.0));
    billing.running.stop().await.unwrap();
}

#[tokio::test]
async fn a_rate_limited_read_is_tried_again_and_a_reused_idempotency_key_is_not() {
    // Arrange
    let stripe = StripeEmulator::start().await;
    let api = stripe.billing_api();
    let customer = stripe.post("/v1/customers", &[("email", "ana@example.com")]).await;
    let id = customer["id"].as_str().unwrap();
    stripe.post("/_emulator/rate_limit", &[("count", "2")]).await;
    let (_, before) = stats(&stripe).await;

    // Act: a read that meets two 429s.
    let read = api.customer(id).await;

    // Assert: three tries, the last answered.
    let (_, after_read) = stats(&stripe).await;
    assert_eq!(read.unwrap().id, id);
    assert_eq!(after_read - before, 3, "two refused tries and one answered");

    // Act: one idempotency key with two different requests.
    let key = "caixa-test-reused-key";
    let first = api.post("/customers", &[("email".to_owned(), "bia@example.com".to_owned())], key).await;
    let second = api.post("/customers", &[("email".to_owned(), "cris@example.com".to_owned())], key).await;

    // Assert: the second is refused once, not tried again.
    let (_, after_writes) = stats(&stripe).await;
    assert!(first.is_ok(), "{first:?}");
    assert!(matches!(second, Err(StripeCallError::Rejected { .. })), "{second:?}");
    assert_eq!(after_writes - after_read, 2, "one request each");
}

#[tokio::test]
async fn checkouts_get_through_a_background_storm_without_a_429() {
    caixa_test_support::init_test_logging();
    // Arrange: billing with a budget under Stripe's test-mode limits, following an
    // account whose every change it refetches (a backlog after an outage, say).
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let stripe = StripeEmulator::start().await;
    let price = stripe.monthly_price().await;
    let settings = [
        ("STRIPE_DEFAULT_PRICE_ID", price.as_str()),
        ("STRIPE_READS_PER_SECOND", "20"),
        ("STRIPE_WRITES_PER_SECOND", "20"),
    ];
    let billing = spawn_billing_with_stripe(&db, &stripe, &settings).await;
    stripe.register_billing(&db, billing.http_addr).await;
    stripe.seed_account(40).await;
    stripe.post("/_emulator/rate_limit", &[("read", "25"), ("write", "25")]).await;
    let mut client = BillingServiceClient::new(channel(billing.grpc_addr).await);
    let conn = db.connect().await;

    // Act: five users check out while billing refetches the backlog.
    for n in 0..5 {
        let request = CreateCheckoutSessionRequest {
            user_id: format!("buyer-{n}"),
            email: format!("buyer{n}@example.com"),
            ..Default::default()
        };
        client.create_checkout_session(request).await.unwrap();
    }
    let pending_after_checkouts = pending(&conn).await;

    // Assert: every checkout went through before the backlog was drained, and Stripe
    // refused nothing, then or while the backlog drained.
    assert!(pending_after_checkouts > 0, "the checkouts went ahead of the background work");
    wait_until("the backlog drained", Duration::from_secs(90), || async { pending(&conn).await == 0 }).await;
    let stats = stripe.get("/_emulator/stats").await;
    assert_eq!(stats["rate_limited"], 0, "{stats}");
    billing.running.stop().await.unwrap();
}

/// Inbox events not yet applied.
async fn pending(conn: &sea_orm::DatabaseConnection) -> u64 {
    use caixa_entities::stripe_events::{Column, Entity, InboxStatus};
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    Entity::find().filter(Column::Status.is_in(InboxStatus::PENDING)).count(conn).await.unwrap()
}
