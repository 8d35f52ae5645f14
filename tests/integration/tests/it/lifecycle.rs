//! Customer and trial lifecycles as users live them: a trial confirmed however its
//! reservation fared, a deleted customer and a new checkout, a customer re-linked to
//! another user. (Retrying a checkout is in `billing_api`.)

use std::time::Duration;

use caixa_entities::{customers, stripe_events, trial_usage};
use caixa_integration_tests::{
    TestBilling, inbox_settled, spawn_billing_with_stripe, stripe::StripeEmulator, wait_until,
};
use caixa_proto::billing::v1::{
    CreateCheckoutSessionRequest, CreateCheckoutSessionResponse, GetSubscriptionStatusRequest,
    GetSubscriptionStatusResponse, billing_service_client::BillingServiceClient,
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
    on_both_backends,
};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter};
use tonic::transport::Channel;

on_both_backends!(
    a_lapsed_reservation_is_checked_with_stripe_before_it_is_given_back,
    a_trial_stripe_made_without_a_reservation_is_still_used,
    a_user_whose_customer_was_deleted_can_check_out_again,
    relinking_a_customer_moves_access_to_the_new_user
);

pub(crate) struct Setup {
    pub db: TestDatabase,
    pub conn: DatabaseConnection,
    pub stripe: StripeEmulator,
    pub billing: TestBilling,
    pub client: BillingServiceClient<Channel>,
}

pub(crate) async fn setup(backend: Backend, extra: &[(&str, &str)]) -> Setup {
    let db = TestDatabase::migrated(backend).await;
    let stripe = StripeEmulator::start().await;
    let price = stripe.monthly_price().await;
    let mut settings = vec![("STRIPE_DEFAULT_PRICE_ID", price.as_str())];
    settings.extend_from_slice(extra);
    let billing = spawn_billing_with_stripe(&db, &stripe, &settings).await;
    stripe.register_billing(&db, billing.http_addr).await;
    let client = BillingServiceClient::new(channel(billing.grpc_addr).await);
    let conn = db.connect().await;
    Setup { db, conn, stripe, billing, client }
}

pub(crate) async fn checkout(
    client: &mut BillingServiceClient<Channel>,
    user: &str,
    email: &str,
) -> CreateCheckoutSessionResponse {
    let request = CreateCheckoutSessionRequest {
        user_id: user.to_owned(),
        email: email.to_owned(),
        ..Default::default()
    };
    client.create_checkout_session(request).await.unwrap().into_inner()
}

pub(crate) async fn status(
    client: &mut BillingServiceClient<Channel>,
    user: &str,
) -> GetSubscriptionStatusResponse {
    let request = GetSubscriptionStatusRequest { user_id: user.to_owned() };
    client.get_subscription_status(request).await.unwrap().into_inner()
}

pub(crate) async fn settled(conn: &DatabaseConnection) {
    wait_until("every event applied", Duration::from_secs(15), || inbox_settled(conn)).await;
}

/// Delivers the first checkout's `checkout.session.completed` again, as Stripe does late
/// or an operator replays it, and waits until it is applied.
pub(crate) async fn replay_first_checkout(conn: &DatabaseConnection) {
    let first = || {
        stripe_events::Entity::find()
            .filter(stripe_events::Column::EventType.eq("checkout.session.completed"))
            .one(conn)
    };
    // Stripe delivers events concurrently: the checkout's may still be on its way.
    wait_until("the first checkout's event received", Duration::from_secs(15), || async {
        first().await.unwrap().is_some()
    })
    .await;
    settled(conn).await;
    let completed = first().await.unwrap().expect("the first checkout's event was received");
    assert!(billing_service::store::inbox::replay(conn, &completed.id).await.unwrap());
    settled(conn).await;
}

async fn a_lapsed_reservation_is_checked_with_stripe_before_it_is_given_back(backend: Backend) {
    // Arrange: ana's trial session completed at Stripe, but its event waits in the inbox
    // (no worker) past the reservation's expiry.
    let Setup { db: _db, conn, stripe, billing, mut client } =
        setup(backend, &[("INBOX_WORKER", "false")]).await;
    let ana = checkout(&mut client, "user-ana", "ana@example.com").await;
    assert!(ana.trial_applied);
    stripe.post(&format!("/_emulator/checkout/sessions/{}/complete", ana.session_id), &[]).await;
    conn.execute_unprepared("UPDATE trial_usage SET reservation_expires_at = created_at - interval '1 day'")
        .await
        .or(conn
            .execute_unprepared("UPDATE trial_usage SET reservation_expires_at = '2000-01-01T00:00:00+00:00'")
            .await)
        .unwrap();

    // Act: someone else signs up with ana's email.
    let other = checkout(&mut client, "user-other", "ANA@example.com").await;

    // Assert: Stripe was asked, the trial is used, and stays ana's.
    assert!(!other.trial_applied, "a lapsed reservation whose session completed still holds the email");
    let ledger = trial_usage::Entity::find().all(&conn).await.unwrap();
    assert_eq!(ledger.len(), 1);
    assert_eq!(
        (ledger[0].user_id.as_str(), ledger[0].state),
        ("user-ana", trial_usage::TrialState::Confirmed)
    );
    billing.running.stop().await.unwrap();
}

async fn a_trial_stripe_made_without_a_reservation_is_still_used(backend: Backend) {
    // Arrange: a trial session billing never recorded (its create timed out, say).
    let Setup { db: _db, conn, stripe, billing, mut client } = setup(backend, &[]).await;
    let price = stripe.monthly_price().await;
    stripe.subscribe(&price, "user-bia", "7").await;
    let c = client.clone();
    wait_until("bia's trial applied", Duration::from_secs(15), || {
        let mut c = c.clone();
        async move { status(&mut c, "user-bia").await.has_active_subscription }
    })
    .await;
    settled(&conn).await;

    // Act: another user with bia's email.
    let other = checkout(&mut client, "user-imposter", "user-bia@example.com").await;

    // Assert: the subscription's trial_start confirmed bia's trial, under her email.
    assert!(!other.trial_applied, "the email's trial was used");
    let bia = trial_usage::Entity::find()
        .filter(trial_usage::Column::UserId.eq("user-bia"))
        .one(&conn)
        .await
        .unwrap();
    let bia = bia.expect("bia's trial is in the ledger");
    assert_eq!(
        (bia.state, bia.email_normalized.as_str()),
        (trial_usage::TrialState::Confirmed, "user-bia@example.com")
    );
    assert!(bia.subscription_id.is_some());
    billing.running.stop().await.unwrap();
}

async fn a_user_whose_customer_was_deleted_can_check_out_again(backend: Backend) {
    // Arrange: cris subscribes, then her customer is deleted at Stripe.
    let Setup { db: _db, conn, stripe, billing, mut client } = setup(backend, &[]).await;
    let first = checkout(&mut client, "user-cris", "cris@example.com").await;
    stripe.post(&format!("/_emulator/checkout/sessions/{}/complete", first.session_id), &[]).await;
    let old = status(&mut client, "user-cris").await.customer_id;
    assert!(!old.is_empty());
    stripe.send("DELETE", &format!("/v1/customers/{old}"), &[]).await;
    wait_until("the deletion applied", Duration::from_secs(15), || {
        let (conn, old) = (&conn, old.clone());
        async move { customers::Entity::find_by_id(old).one(conn).await.unwrap().is_some_and(|c| c.deleted) }
    })
    .await;
    settled(&conn).await;

    // Act
    let again = checkout(&mut client, "user-cris", "cris@example.com").await;

    // Assert: a new customer, the old one kept as history, the trial still used.
    let new = status(&mut client, "user-cris").await.customer_id;
    assert!(!new.is_empty() && new != old, "a new customer: {new} vs {old}");
    assert!(!again.trial_applied, "deleting the customer does not give the trial back");
    let old_row = customers::Entity::find_by_id(old.clone()).one(&conn).await.unwrap().unwrap();
    assert!(old_row.deleted);
    assert_eq!((old_row.user_id, old_row.former_user_id.as_deref()), (None, Some("user-cris")));

    // Act: the first checkout's event, delivered late or replayed.
    replay_first_checkout(&conn).await;

    // Assert: cris keeps her new customer; the deleted one stays history.
    assert_eq!(status(&mut client, "user-cris").await.customer_id, new);
    let old_row = customers::Entity::find_by_id(old).one(&conn).await.unwrap().unwrap();
    assert_eq!((old_row.deleted, old_row.user_id), (true, None));
    billing.running.stop().await.unwrap();
}

async fn relinking_a_customer_moves_access_to_the_new_user(backend: Backend) {
    // Arrange: dani pays; her customer is then linked to user-eva in Stripe's dashboard.
    let Setup { db: _db, conn, stripe, billing, mut client } = setup(backend, &[]).await;
    let price = stripe.monthly_price().await;
    let session = stripe.subscribe(&price, "user-dani", "0").await;
    let c = client.clone();
    wait_until("dani's subscription applied", Duration::from_secs(15), || {
        let mut c = c.clone();
        async move { status(&mut c, "user-dani").await.has_active_subscription }
    })
    .await;
    settled(&conn).await;
    let before = status(&mut client, "user-dani").await.revision;

    // Act
    let customer = session["customer"].as_str().unwrap();
    stripe.post(&format!("/v1/customers/{customer}"), &[("metadata[user_id]", "user-eva")]).await;
    wait_until("the re-link applied", Duration::from_secs(15), || {
        let conn = &conn;
        async move {
            customers::Entity::find_by_id(customer)
                .one(conn)
                .await
                .unwrap()
                .and_then(|c| c.user_id)
                .as_deref()
                == Some("user-eva")
        }
    })
    .await;
    settled(&conn).await;
    // The checkout's own event, delivered late or replayed, must not undo the re-link.
    replay_first_checkout(&conn).await;

    // Assert: access moved, and both users got a revision for it.
    let (dani, eva) = (status(&mut client, "user-dani").await, status(&mut client, "user-eva").await);
    assert!(eva.has_active_subscription, "the new user has the subscription");
    assert!(!dani.has_active_subscription, "the old user no longer has it");
    assert!(dani.revision > before && eva.revision > before, "{} {} {before}", dani.revision, eva.revision);
    assert_eq!(eva.customer_id, customer);
    billing.running.stop().await.unwrap();
}
