//! Two billing replicas on one PostgreSQL: the same user's checkouts sent to both at the
//! same instant leave one open session, carrying the trial. The per-user lock is the
//! database's, not the process's.

use caixa_entities::trial_usage;
use caixa_integration_tests::{spawn_billing_with_stripe, stripe::StripeEmulator};
use caixa_proto::billing::v1::{CreateCheckoutSessionRequest, billing_service_client::BillingServiceClient};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
};
use sea_orm::EntityTrait;

#[tokio::test]
async fn checkouts_of_one_user_on_two_replicas_leave_one_session_with_the_trial() {
    caixa_test_support::init_test_logging();
    // Arrange
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let stripe = StripeEmulator::start().await;
    let price = stripe.monthly_price().await;
    let settings = [("STRIPE_DEFAULT_PRICE_ID", price.as_str())];
    let replicas = [
        spawn_billing_with_stripe(&db, &stripe, &settings).await,
        spawn_billing_with_stripe(&db, &stripe, &settings).await,
    ];
    let mut clients = Vec::new();
    for replica in &replicas {
        clients.push(BillingServiceClient::new(channel(replica.grpc_addr).await));
    }

    // Act: ten checkouts at once, alternating between the replicas.
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..10 {
        let mut client = clients[i % 2].clone();
        let request = CreateCheckoutSessionRequest {
            user_id: "user-r".to_owned(),
            email: "rita@example.com".to_owned(),
            ..Default::default()
        };
        calls.spawn(async move { client.create_checkout_session(request).await });
    }
    for result in calls.join_all().await {
        result.unwrap();
    }

    // Assert
    let customers = stripe.get("/v1/customers?email=rita@example.com").await;
    assert_eq!(customers["data"].as_array().unwrap().len(), 1, "one Stripe customer: {customers}");
    let customer = customers["data"][0]["id"].as_str().unwrap();
    let open = stripe.get(&format!("/v1/checkout/sessions?customer={customer}&status=open")).await;
    let open = open["data"].as_array().unwrap();
    assert_eq!(open.len(), 1, "one open session: {open:?}");
    assert_eq!(open[0]["amount_total"], 0, "the open session carries the trial");
    let ledger = trial_usage::Entity::find().all(&db.connect().await).await.unwrap();
    assert_eq!(ledger.len(), 1, "one trial reserved");
    assert_eq!(ledger[0].checkout_session_id.as_deref(), open[0]["id"].as_str(), "held by the open session");
    for replica in replicas {
        replica.running.stop().await.unwrap();
    }
}
