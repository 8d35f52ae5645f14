//! No secret reaches the logs: a whole scenario runs with debug logging, and its output
//! is searched for the keys.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use caixa_proto::billing::v1::{
    CreateCheckoutSessionRequest, CreatePortalSessionRequest, GetSubscriptionStatusRequest,
    SyncCheckoutSessionRequest, billing_service_client::BillingServiceClient,
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
    process::ServiceProcess,
};
use stripe_emulator::{Emulator, EmulatorConfig};

const SECRET_KEY: &str = "sk_test_9f8e7d6c5b4a_keep_me_out_of_logs";
const WEBHOOK_SECRET: &str = "whsec_0a1b2c3d_keep_me_out_of_logs";

async fn stripe_post(emulator: &Emulator, path: &str, form: &str) -> serde_json::Value {
    let (_, body) = caixa_test_support::http::post_form(emulator.addr(), path, form, SECRET_KEY).await;
    serde_json::from_str(&body).unwrap()
}

#[tokio::test]
async fn a_full_scenario_logs_no_secret() {
    // Arrange: debug logging, a real Stripe-shaped peer, the binary as a process.
    let emulator = Emulator::start("127.0.0.1:0".parse().unwrap(), EmulatorConfig::default()).await.unwrap();
    let product = stripe_post(&emulator, "/v1/products", "name=Pro").await;
    let price = stripe_post(
        &emulator,
        "/v1/prices",
        &format!(
            "product={}&currency=brl&unit_amount=990&recurring[interval]=month",
            product["id"].as_str().unwrap()
        ),
    )
    .await;
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let process = ServiceProcess::spawn(
        env!("CARGO_BIN_EXE_billing-service"),
        &[
            ("DATABASE_URL", db.url.clone()),
            ("BILLING_GRPC_ADDR", "127.0.0.1:0".into()),
            ("BILLING_HTTP_ADDR", "127.0.0.1:0".into()),
            ("RUST_LOG", "debug".into()),
            ("STRIPE_API_BASE", emulator.url()),
            ("STRIPE_TEST_SECRET_KEY", SECRET_KEY.into()),
            ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET.into()),
            ("STRIPE_DEFAULT_PRICE_ID", price["id"].as_str().unwrap().into()),
        ],
    );
    let grpc = process.address("billing service listening", "grpc_addr").await;
    let http = process.address("billing service listening", "http_addr").await;
    let mut client = BillingServiceClient::new(channel(grpc).await);

    // Act: checkout, completion, sync, status, portal, and a forged webhook.
    let session = client
        .create_checkout_session(CreateCheckoutSessionRequest {
            user_id: "u1".into(),
            email: "u1@example.com".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    stripe_post(&emulator, &format!("/_emulator/checkout/sessions/{}/complete", session.session_id), "")
        .await;
    client
        .sync_checkout_session(SyncCheckoutSessionRequest { session_id: session.session_id })
        .await
        .unwrap();
    client.get_subscription_status(GetSubscriptionStatusRequest { user_id: "u1".into() }).await.unwrap();
    client
        .create_portal_session(CreatePortalSessionRequest { user_id: "u1".into(), return_url: None })
        .await
        .unwrap();
    let forged = caixa_test_support::http::post_json(
        http,
        "/stripe/webhook/00000000-0000-0000-0000-000000000000",
        "{}",
        "t=1,v1=00",
    )
    .await;
    assert_eq!(forged.0, 400);
    tokio::time::sleep(Duration::from_millis(200)).await;
    process.terminate();

    // Assert
    let output = process.output().await;
    assert!(output.contains("checkout session created"), "the scenario was logged at all");
    assert!(!output.contains("keep_me_out_of_logs"), "a secret reached the logs");
}
