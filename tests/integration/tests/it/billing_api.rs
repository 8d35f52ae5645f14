//! The billing API against the emulator: one trial per user and per email, one customer
//! per user under concurrency, sync after checkout, portal, validation.

use std::time::Duration;

use caixa_entities::{entitlement_changes, trial_usage};
use caixa_integration_tests::{
    TestBilling, spawn_billing, spawn_billing_with_stripe, stripe::StripeEmulator, wait_until,
};
use caixa_proto::billing::v1::{
    AccessReason, CreateCheckoutSessionRequest, CreatePortalSessionRequest, GetSubscriptionStatusRequest,
    SubscriptionStatus, SyncCheckoutSessionRequest, billing_service_client::BillingServiceClient,
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
    on_both_backends,
};
use sea_orm::EntityTrait;
use tonic::{Code, transport::Channel};

on_both_backends!(
    one_trial_per_user_and_email,
    concurrent_checkouts_make_one_customer_and_one_trial,
    sync_after_checkout_returns_a_fresh_revision
);

struct Setup {
    db: TestDatabase,
    stripe: StripeEmulator,
    billing: TestBilling,
    client: BillingServiceClient<Channel>,
}

async fn setup(backend: Backend) -> Setup {
    let db = TestDatabase::migrated(backend).await;
    let stripe = StripeEmulator::start().await;
    let price = stripe.monthly_price().await;
    let billing = spawn_billing_with_stripe(&db, &stripe, &[("STRIPE_DEFAULT_PRICE_ID", &price)]).await;
    stripe.register_billing(&db, billing.http_addr).await;
    let client = BillingServiceClient::new(channel(billing.grpc_addr).await);
    Setup { db, stripe, billing, client }
}

fn checkout(user: &str, email: &str) -> CreateCheckoutSessionRequest {
    CreateCheckoutSessionRequest { user_id: user.to_owned(), email: email.to_owned(), ..Default::default() }
}

async fn one_trial_per_user_and_email(backend: Backend) {
    let Setup { db: _db, stripe, billing, mut client } = setup(backend).await;

    // The first checkout carries the trial; a retry carries it instead, and the first
    // session can no longer be completed.
    let first =
        client.create_checkout_session(checkout("user-1", "ana@example.com")).await.unwrap().into_inner();
    assert!(first.trial_applied);
    assert_eq!(first.trial_days, 14);
    assert!(first.url.contains(&first.session_id));
    let again =
        client.create_checkout_session(checkout("user-1", "ana@example.com")).await.unwrap().into_inner();
    assert!(again.trial_applied, "the newest session carries the trial");
    let first_now = stripe.get(&format!("/v1/checkout/sessions/{}", first.session_id)).await;
    assert_eq!(first_now["status"], "expired", "one open session with a trial per user");

    // A new user id with the same (differently written) email gets none either.
    let same_email =
        client.create_checkout_session(checkout("user-2", " ANA@Example.com ")).await.unwrap().into_inner();
    assert!(!same_email.trial_applied);

    // Even after the trial is used and the subscription canceled.
    stripe.post(&format!("/_emulator/checkout/sessions/{}/complete", again.session_id), &[]).await;
    let sub = stripe.get("/v1/subscriptions").await["data"][0]["id"].as_str().unwrap().to_owned();
    stripe.send("DELETE", &format!("/v1/subscriptions/{sub}"), &[]).await;
    let after_cancel =
        client.create_checkout_session(checkout("user-1", "ana@example.com")).await.unwrap().into_inner();
    assert!(!after_cancel.trial_applied);

    // An expired session gives its reservation back.
    let other =
        client.create_checkout_session(checkout("user-3", "bia@example.com")).await.unwrap().into_inner();
    assert!(other.trial_applied);
    stripe.post(&format!("/_emulator/checkout/sessions/{}/expire", other.session_id), &[]).await;
    let mut status_client = client.clone();
    wait_until("the reservation released", Duration::from_secs(10), || {
        let mut c = status_client.clone();
        async move {
            c.get_subscription_status(GetSubscriptionStatusRequest { user_id: "user-3".to_owned() })
                .await
                .unwrap()
                .into_inner()
                .trial_eligible
        }
    })
    .await;
    let retry = status_client
        .create_checkout_session(checkout("user-3", "bia@example.com"))
        .await
        .unwrap()
        .into_inner();
    assert!(retry.trial_applied, "the released trial can be taken again");
    billing.running.stop().await.unwrap();
}

async fn concurrent_checkouts_make_one_customer_and_one_trial(backend: Backend) {
    let Setup { db, stripe, billing, client } = setup(backend).await;

    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..20 {
        let mut client = client.clone();
        calls.spawn(
            async move { client.create_checkout_session(checkout("user-c", "carla@example.com")).await },
        );
    }
    let results: Vec<_> = calls.join_all().await.into_iter().map(|r| r.unwrap().into_inner()).collect();

    assert_eq!(results.len(), 20);
    let customers = stripe.get("/v1/customers?email=carla@example.com").await;
    assert_eq!(customers["data"].as_array().unwrap().len(), 1, "one Stripe customer for the user");
    assert_eq!(customers["data"][0]["metadata"]["user_id"], "user-c");
    let customer = customers["data"][0]["id"].as_str().unwrap();
    let open = stripe.get(&format!("/v1/checkout/sessions?customer={customer}&status=open")).await;
    let open = open["data"].as_array().unwrap();
    assert_eq!(open.len(), 1, "every older session was closed: {open:?}");
    assert_eq!(open[0]["amount_total"], 0, "the open session carries the trial");
    let ledger = trial_usage::Entity::find().all(&db.connect().await).await.unwrap();
    assert_eq!(ledger.len(), 1, "one trial reserved");
    assert_eq!(ledger[0].checkout_session_id.as_deref(), open[0]["id"].as_str(), "held by the open session");
    billing.running.stop().await.unwrap();
}

async fn sync_after_checkout_returns_a_fresh_revision(backend: Backend) {
    let Setup { db, stripe, billing, mut client } = setup(backend).await;
    let session =
        client.create_checkout_session(checkout("user-s", "sara@example.com")).await.unwrap().into_inner();
    stripe.post(&format!("/_emulator/checkout/sessions/{}/complete", session.session_id), &[]).await;

    // Act: the success page syncs without waiting for the webhook.
    let synced = client
        .sync_checkout_session(SyncCheckoutSessionRequest { session_id: session.session_id.clone() })
        .await
        .unwrap()
        .into_inner();

    // Assert
    assert_eq!(synced.user_id, "user-s");
    assert_eq!(synced.status(), SubscriptionStatus::Trialing);
    assert!(synced.has_active_subscription);
    assert!(synced.revision > 0);
    let conn = db.connect().await;
    let logged = entitlement_changes::Entity::find_by_id(i64::try_from(synced.revision).unwrap())
        .one(&conn)
        .await
        .unwrap();
    assert_eq!(logged.map(|c| c.user_id).as_deref(), Some("user-s"), "the revision is in the log");
    let status = client
        .get_subscription_status(GetSubscriptionStatusRequest { user_id: "user-s".to_owned() })
        .await
        .unwrap()
        .into_inner();
    assert!(status.has_active_subscription);
    assert_eq!(status.reason(), AccessReason::Trialing);
    assert!(!status.trial_eligible);
    assert!(status.customer_id.starts_with("cus_"));
    assert!(status.revision >= synced.revision);
    let portal = client
        .create_portal_session(CreatePortalSessionRequest { user_id: "user-s".to_owned(), return_url: None })
        .await
        .unwrap()
        .into_inner();
    assert!(portal.url.contains("/portal/"), "{}", portal.url);
    billing.running.stop().await.unwrap();
}

#[tokio::test]
async fn bad_requests_name_their_field() {
    caixa_test_support::init_test_logging();
    let Setup { db: _db, stripe, billing, mut client } = setup(Backend::Sqlite).await;
    let cases = [
        (checkout("", "a@example.com"), "user_id"),
        (checkout("u", "not-an-email"), "email"),
        (checkout("u", ""), "email"),
        (
            CreateCheckoutSessionRequest {
                price_id: Some("prod_1".into()),
                ..checkout("u", "a@example.com")
            },
            "price_id",
        ),
        (
            CreateCheckoutSessionRequest {
                price_id: Some("price_missing".into()),
                ..checkout("u", "a@example.com")
            },
            "price_id",
        ),
        (
            CreateCheckoutSessionRequest {
                success_url: Some("/relative".into()),
                ..checkout("u", "a@example.com")
            },
            "success_url",
        ),
        (
            CreateCheckoutSessionRequest {
                cancel_url: Some("ftp://x.y/z".into()),
                ..checkout("u", "a@example.com")
            },
            "cancel_url",
        ),
    ];
    for (request, field) in cases {
        let status = client.create_checkout_session(request).await.expect_err(field);
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {}", status.message());
        assert!(status.message().starts_with(field), "{field}: {}", status.message());
    }
    let status = client
        .sync_checkout_session(SyncCheckoutSessionRequest { session_id: "sub_1".into() })
        .await
        .unwrap_err();
    assert!(status.message().starts_with("session_id"), "{}", status.message());
    let status = client
        .create_portal_session(CreatePortalSessionRequest { user_id: "nobody".into(), return_url: None })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("no Stripe customer"), "{}", status.message());

    // Stripe rate-limiting every attempt (the client retries with backoff) is UNAVAILABLE.
    stripe.post("/_emulator/rate_limit", &[("count", "10")]).await;
    let status = client.create_checkout_session(checkout("limited", "l@example.com")).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{}", status.message());
    billing.running.stop().await.unwrap();
}

#[tokio::test]
async fn without_stripe_checkout_says_which_variable_to_set() {
    caixa_test_support::init_test_logging();
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let billing = spawn_billing(&db, &[("STRIPE_DEFAULT_PRICE_ID", "price_1")]).await;
    let mut client = BillingServiceClient::new(channel(billing.grpc_addr).await);

    let status = client.create_checkout_session(checkout("u", "a@example.com")).await.unwrap_err();

    assert_eq!(status.code(), Code::FailedPrecondition);
    assert!(status.message().contains("STRIPE_TEST_SECRET_KEY"), "{}", status.message());
    billing.running.stop().await.unwrap();
}
