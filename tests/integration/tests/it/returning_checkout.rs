//! A returning user's checkout: the older session billing opened is expired beside the
//! new one (two calls, one wait), the trial moves to the new session, a session made
//! before billing knew the customer is found by asking Stripe, and an older session that
//! completed meanwhile leaves the new one without a trial.

use billing_service::{
    domain::objects::apply::{Fetched, StripeObject, apply},
    store::trials,
    stripe::objects::Customer,
};
use caixa_entities::trial_usage::TrialState;
use caixa_integration_tests::{TestBilling, spawn_billing_with_stripe, stripe::StripeEmulator};
use caixa_proto::billing::v1::{
    CreateCheckoutSessionRequest, CreateCheckoutSessionResponse, billing_service_client::BillingServiceClient,
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
    on_both_backends,
};
use sea_orm::DatabaseConnection;
use tonic::transport::Channel;

on_both_backends!(
    a_returning_users_checkout_closes_the_older_session_beside_the_new_one,
    after_a_create_that_never_answered_stripe_is_asked,
    a_session_billing_never_saw_is_found_at_stripe_and_closed,
    an_older_session_completed_meanwhile_leaves_the_new_one_without_a_trial
);

struct Setup {
    _db: TestDatabase,
    conn: DatabaseConnection,
    stripe: StripeEmulator,
    billing: TestBilling,
    client: BillingServiceClient<Channel>,
}

/// Billing with a price, and no webhook endpoint: it learns only what it asks.
async fn setup(backend: Backend) -> Setup {
    let db = TestDatabase::migrated(backend).await;
    let conn = db.connect().await;
    let stripe = StripeEmulator::start().await;
    let price = stripe.monthly_price().await;
    let billing = spawn_billing_with_stripe(&db, &stripe, &[("STRIPE_DEFAULT_PRICE_ID", &price)]).await;
    let client = BillingServiceClient::new(channel(billing.grpc_addr).await);
    Setup { _db: db, conn, stripe, billing, client }
}

impl Setup {
    /// A checkout for `user`, and the Stripe calls it made.
    async fn checkout(&mut self, user: &str) -> (CreateCheckoutSessionResponse, u64) {
        let requests = || async { self.stripe.get("/_emulator/stats").await["requests"].as_u64().unwrap() };
        let before = requests().await;
        let request = CreateCheckoutSessionRequest {
            user_id: user.to_owned(),
            email: format!("{user}@example.com"),
            ..Default::default()
        };
        let answer = self.client.clone().create_checkout_session(request).await.unwrap().into_inner();
        (answer, requests().await - before)
    }

    async fn status_at_stripe(&self, session: &str) -> String {
        self.stripe.get(&format!("/v1/checkout/sessions/{session}")).await["status"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

async fn a_returning_users_checkout_closes_the_older_session_beside_the_new_one(backend: Backend) {
    // Arrange: a first checkout, with the trial.
    let mut s = setup(backend).await;
    let (first, _) = s.checkout("user-1").await;
    assert!(first.trial_applied);

    // Act: the user comes back, twice.
    let (second, calls) = s.checkout("user-1").await;
    let (third, calls_again) = s.checkout("user-1").await;

    // Assert: each is the create and the older session's expiry (made side by side); the
    // trial moved with the newest session; one reservation, on it.
    assert_eq!((calls, calls_again), (2, 2), "Stripe calls of a returning user's checkout");
    assert!(second.trial_applied && third.trial_applied, "the newest session carries the trial");
    assert_eq!(s.status_at_stripe(&first.session_id).await, "expired");
    assert_eq!(s.status_at_stripe(&second.session_id).await, "expired");
    assert_eq!(s.status_at_stripe(&third.session_id).await, "open");
    let ledger = trials::ledger(&s.conn, false, Some("user-1")).await.unwrap();
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(ledger[0].state, TrialState::Reserved);
    assert_eq!(ledger[0].checkout_session_id.as_deref(), Some(third.session_id.as_str()));
    s.billing.running.stop().await.unwrap();
}

async fn a_session_billing_never_saw_is_found_at_stripe_and_closed(backend: Backend) {
    // Arrange: the user's customer and an open session, made before billing took the
    // account over; billing stores the customer only (and knows the price from another
    // user's checkout).
    let mut s = setup(backend).await;
    s.checkout("user-0").await;
    let customer = s
        .stripe
        .post("/v1/customers", &[("email", "old@example.com"), ("metadata[user_id]", "user-9")])
        .await;
    let id = customer["id"].as_str().unwrap();
    let price = s.stripe.monthly_price().await;
    let session = s
        .stripe
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("customer", id),
                ("line_items[0][price]", &price),
                ("line_items[0][quantity]", "1"),
                ("success_url", "http://localhost/ok"),
            ],
        )
        .await;
    let keys = s.stripe.billing_api().user_keys().clone();
    apply(&s.conn, &[Fetched::now(StripeObject::Customer(Customer::from_json(&customer, &keys)))], None)
        .await
        .unwrap();

    // Act
    let (answer, calls) = s.checkout("user-9").await;

    // Assert: Stripe was asked for the customer's open sessions, the old one expired
    // before the new one was made; the next checkout knows its sessions.
    assert_eq!(calls, 3, "list, expire, create");
    assert_eq!(s.status_at_stripe(session["id"].as_str().unwrap()).await, "expired");
    assert_eq!(s.status_at_stripe(&answer.session_id).await, "open");
    let (_, calls) = s.checkout("user-9").await;
    assert_eq!(calls, 2, "create and expire");
    s.billing.running.stop().await.unwrap();
}

async fn an_older_session_completed_meanwhile_leaves_the_new_one_without_a_trial(backend: Backend) {
    // Arrange: the first session, with the trial, completes; billing has not heard.
    let mut s = setup(backend).await;
    let (first, _) = s.checkout("user-1").await;
    assert!(first.trial_applied);
    s.stripe.post(&format!("/_emulator/checkout/sessions/{}/complete", first.session_id), &[]).await;

    // Act
    let (again, _) = s.checkout("user-1").await;

    // Assert: the trial was used by the first session; the session handed out has none,
    // and the one made beside the expiry (with the trial) was expired.
    assert!(!again.trial_applied, "{again:?}");
    assert_eq!(s.status_at_stripe(&again.session_id).await, "open");
    let sessions = s.stripe.get("/v1/checkout/sessions?limit=10").await;
    let statuses: Vec<(String, String)> = sessions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_str().unwrap().to_owned(), s["status"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(statuses.len(), 3, "{statuses:?}");
    let withdrawn = statuses.iter().filter(|(id, _)| *id != first.session_id && *id != again.session_id);
    assert!(withdrawn.clone().all(|(_, status)| status == "expired"), "{statuses:?}");
    let ledger = trials::ledger(&s.conn, false, Some("user-1")).await.unwrap();
    assert_eq!(ledger.iter().map(|t| t.state).collect::<Vec<_>>(), [TrialState::Confirmed], "{ledger:?}");
    s.billing.running.stop().await.unwrap();
}

async fn after_a_create_that_never_answered_stripe_is_asked(backend: Backend) {
    // Arrange: a first checkout; then a create Stripe made but never answered (a session
    // billing does not know, its reservation left unattached).
    let mut s = setup(backend).await;
    let (first, _) = s.checkout("user-1").await;
    let customer = s.stripe.get(&format!("/v1/checkout/sessions/{}", first.session_id)).await["customer"]
        .as_str()
        .unwrap()
        .to_owned();
    let price = s.stripe.monthly_price().await;
    let unknown = s
        .stripe
        .post(
            "/v1/checkout/sessions",
            &[
                ("mode", "subscription"),
                ("customer", &customer),
                ("line_items[0][price]", &price),
                ("line_items[0][quantity]", "1"),
                ("subscription_data[trial_period_days]", "14"),
                ("success_url", "http://localhost/ok"),
            ],
        )
        .await;
    let (reservation, _) = trials::held(&s.conn, "user-1", false).await.unwrap().unwrap();
    trials::detach(&s.conn, reservation).await.unwrap();

    // Act
    let (again, calls) = s.checkout("user-1").await;

    // Assert: Stripe was asked, so the unknown session is closed too; one trial, on the
    // newest session.
    assert_eq!(calls, 4, "list, two expiries, create");
    assert_eq!(s.status_at_stripe(unknown["id"].as_str().unwrap()).await, "expired");
    assert_eq!(s.status_at_stripe(&first.session_id).await, "expired");
    assert!(again.trial_applied);
    let ledger = trials::ledger(&s.conn, false, Some("user-1")).await.unwrap();
    assert_eq!(ledger.len(), 1, "{ledger:?}");
    assert_eq!(ledger[0].checkout_session_id.as_deref(), Some(again.session_id.as_str()));
    s.billing.running.stop().await.unwrap();
}
