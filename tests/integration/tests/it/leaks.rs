//! No answer carries internals: with the database down and with Stripe unreachable,
//! every error a caller can get (gRPC statuses and the HTTP bridge's bodies) is searched
//! for SQL, driver and transport text, connection strings and secrets.

use std::time::Duration;

use caixa_entities::webhook_endpoints;
use caixa_integration_tests::{
    http_get, spawn_billing_with_stripe,
    stripe::{StripeEmulator, TEST_KEY},
    wait_until,
};
use caixa_proto::billing::v1::{
    CreateCheckoutSessionRequest, CreatePortalSessionRequest, GetConfigRequest, GetSubscriptionStatusRequest,
    SyncCheckoutSessionRequest, WatchRequest, billing_service_client::BillingServiceClient,
    subscription_events_client::SubscriptionEventsClient,
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
    http::post_json,
};
use sea_orm::EntityTrait;
use tonic::{Code, Status};

/// Text that would mean an internal leaked.
const INTERNALS: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE ",
    "sqlx",
    "error returned from database",
    "pool timed out",
    "onnection refused",
    "tcp connect",
    "error trying to connect",
    "postgres://",
    "sk_test",
    "whsec_",
    "127.0.0.1:1",
];

fn assert_clean(what: &str, text: &str, extra_secrets: &[&str]) {
    for needle in INTERNALS.iter().chain(extra_secrets) {
        assert!(!text.contains(needle), "{what} leaks {needle:?}: {text}");
    }
}

fn assert_clean_status(what: &str, result: Result<(), Status>, extra_secrets: &[&str]) {
    let status = result.expect_err(what);
    assert_clean(what, status.message(), extra_secrets);
    if status.code() == Code::Unavailable {
        assert!(status.message().contains("request id"), "{what}: {}", status.message());
        assert!(status.metadata().get("x-request-id").is_some(), "{what}: no request id header");
    }
}

#[tokio::test]
async fn no_error_answer_carries_database_or_stripe_internals() {
    caixa_test_support::init_test_logging();
    // Arrange: billing on PostgreSQL with the emulator; a paying user; then the database
    // goes away.
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let stripe = StripeEmulator::start().await;
    let price = stripe.monthly_price().await;
    let billing =
        spawn_billing_with_stripe(&db, &stripe, &[("STRIPE_DEFAULT_PRICE_ID", price.as_str())]).await;
    let endpoint = stripe.register_billing(&db, billing.http_addr).await;
    let session = stripe.subscribe(&price, "user-ana", "0").await;
    let session_id = session["id"].as_str().unwrap().to_owned();
    // The bridge learns its endpoints from the database on the first delivery; one must
    // have arrived before the database goes, or a forged one cannot be judged at all.
    wait_until("a delivery reached the bridge", std::time::Duration::from_secs(15), || async {
        http_get(billing.http_addr, "/metrics").await.1.contains("caixa_webhook_received_total")
    })
    .await;
    let mut client = BillingServiceClient::new(channel(billing.grpc_addr).await);
    let conn = db.connect().await;
    let signing = webhook_endpoints::Entity::find_by_id(endpoint).one(&conn).await.unwrap().unwrap().secret;
    let secrets = [db.url.as_str(), TEST_KEY, signing.as_str()];
    db.set_reachable(false).await;

    // Act and assert: every RPC with the database down.
    let user = || "user-ana".to_owned();
    let checkout = CreateCheckoutSessionRequest {
        user_id: user(),
        email: "ana@example.com".to_owned(),
        ..Default::default()
    };
    let result = client.create_checkout_session(checkout.clone()).await.map(drop);
    assert_clean_status("CreateCheckoutSession", result, &secrets);
    let result = client.sync_checkout_session(SyncCheckoutSessionRequest { session_id }).await.map(drop);
    assert_clean_status("SyncCheckoutSession", result, &secrets);
    let portal = CreatePortalSessionRequest { user_id: user(), return_url: None };
    assert_clean_status(
        "CreatePortalSession",
        client.create_portal_session(portal).await.map(drop),
        &secrets,
    );
    let status = GetSubscriptionStatusRequest { user_id: user() };
    assert_clean_status(
        "GetSubscriptionStatus",
        client.get_subscription_status(status).await.map(drop),
        &secrets,
    );
    if let Err(status) = client.get_config(GetConfigRequest {}).await {
        assert_clean("GetConfig", status.message(), &secrets);
    }
    let mut events = SubscriptionEventsClient::new(channel(billing.grpc_addr).await);
    assert_clean_status("Watch", events.watch(WatchRequest { after_revision: 0 }).await.map(drop), &secrets);

    // The HTTP bridge.
    let path = format!("/stripe/webhook/{endpoint}");
    let (code, body) = post_json(billing.http_addr, &path, "{}", "t=1,v1=00").await;
    assert_eq!(code, 400, "a forged delivery is refused without the database: {body}");
    assert_clean("webhook answer, forged", &body, &secrets);
    let event =
        r#"{"id":"evt_down","type":"customer.created","livemode":false,"data":{"object":{"id":"cus_down"}}}"#;
    let signature = stripe_emulator::sign(&signing, chrono::Utc::now().timestamp(), event);
    let (code, body) = post_json(billing.http_addr, &path, event, &signature).await;
    assert_eq!(code, 503, "a good delivery that cannot be stored: {body}");
    assert_clean("webhook answer, store down", &body, &secrets);
    let (_, body) = http_get(billing.http_addr, "/readyz").await;
    assert_clean("readyz", &body, &secrets);

    // Act and assert: Stripe unreachable (the database back).
    db.set_reachable(true).await;
    billing.running.stop().await.unwrap();
    let closed = [("STRIPE_API_BASE", "http://127.0.0.1:1"), ("STRIPE_DEFAULT_PRICE_ID", price.as_str())];
    let billing = spawn_billing_with_stripe(&db, &stripe, &closed).await;
    let mut client = BillingServiceClient::new(channel(billing.grpc_addr).await);
    let checkout = CreateCheckoutSessionRequest { user_id: "user-bea".to_owned(), ..checkout };
    let started = tokio::time::Instant::now();
    let result = client.create_checkout_session(checkout).await.map(drop);
    assert!(started.elapsed() < Duration::from_secs(60));
    assert_clean_status("CreateCheckoutSession, Stripe down", result, &secrets);
    let (_, metrics) = http_get(billing.http_addr, "/metrics").await;
    assert!(metrics.contains(r#"outcome="unreachable""#), "Stripe failures are counted: {metrics}");
    assert!(metrics.contains(r#"caixa_stripe_requests_total{method="GET",outcome="ok"}"#), "{metrics}");
    billing.running.stop().await.unwrap();
}
