//! A user with several customers (old accounts hold duplicates from races and
//! re-signups): every customer keeps the user, the portal and new checkouts use the
//! customer whose subscription grants access, else the newest created, and events
//! alternating between the customers write no revision.

use std::time::Duration;

use caixa_entities::customers;
use caixa_integration_tests::wait_until;
use caixa_test_support::{database::Backend, on_both_backends};
use sea_orm::{DatabaseConnection, EntityTrait};

use crate::lifecycle::{Setup, checkout, replay_first_checkout, settled, setup, status};

on_both_backends!(
    a_user_keeps_every_customer_and_checks_out_with_the_one_that_grants,
    a_customer_dj_stripe_linked_is_linked_by_its_webhook_and_the_link_copied
);

async fn user_of(conn: &DatabaseConnection, id: &str) -> Option<String> {
    customers::Entity::find_by_id(id.to_owned()).one(conn).await.unwrap().and_then(|c| c.user_id)
}

async fn a_user_keeps_every_customer_and_checks_out_with_the_one_that_grants(backend: Backend) {
    // Arrange: gil checks out (a trial on customer A); then a second customer B naming gil
    // is made in Stripe's dashboard, newer than A.
    let Setup { db: _db, conn, stripe, billing, mut client } = setup(backend, &[]).await;
    let first = checkout(&mut client, "user-gil", "gil@example.com").await;
    stripe.post(&format!("/_emulator/checkout/sessions/{}/complete", first.session_id), &[]).await;
    settled(&conn).await;
    let a = status(&mut client, "user-gil").await.customer_id;
    let b = stripe
        .post("/v1/customers", &[("email", "gil@example.com"), ("metadata[user_id]", "user-gil")])
        .await;
    let b = b["id"].as_str().unwrap().to_owned();
    wait_until("B linked", Duration::from_secs(15), || async { user_of(&conn, &b).await.is_some() }).await;
    settled(&conn).await;
    let before = status(&mut client, "user-gil").await;

    // Act: events alternate between the two customers, and the first checkout's event
    // arrives again.
    for (round, id) in [&a, &b, &a, &b].into_iter().enumerate() {
        stripe.post(&format!("/v1/customers/{id}"), &[("name", &format!("Gil {round}"))]).await;
        settled(&conn).await;
    }
    replay_first_checkout(&conn).await;

    // Assert: both customers keep gil, A (whose trial grants) is the one used, and no
    // revision was written.
    let after = status(&mut client, "user-gil").await;
    assert_eq!(user_of(&conn, &a).await.as_deref(), Some("user-gil"));
    assert_eq!(user_of(&conn, &b).await.as_deref(), Some("user-gil"));
    assert_eq!((after.customer_id.as_str(), after.has_active_subscription), (a.as_str(), true));
    assert_eq!(after.revision, before.revision, "alternating events wrote revisions");

    // Act: A's subscription is canceled: nothing grants.
    let sub = after.subscription.unwrap().subscription_id;
    stripe.post(&format!("/_emulator/subscriptions/{sub}/cancel"), &[]).await;
    let c = client.clone();
    wait_until("the cancellation applied", Duration::from_secs(15), || {
        let mut c = c.clone();
        async move { !status(&mut c, "user-gil").await.has_active_subscription }
    })
    .await;
    let next = checkout(&mut client, "user-gil", "gil@example.com").await;

    // Assert: the newest customer, B, serves the status and the new checkout, without a
    // second trial.
    let canceled = status(&mut client, "user-gil").await;
    assert_eq!((canceled.customer_id.as_str(), canceled.has_active_subscription), (b.as_str(), false));
    let session = stripe.get(&format!("/v1/checkout/sessions/{}", next.session_id)).await;
    assert_eq!(session["customer"].as_str(), Some(b.as_str()), "{session}");
    assert!(!next.trial_applied);
    billing.running.stop().await.unwrap();
}

async fn a_customer_dj_stripe_linked_is_linked_by_its_webhook_and_the_link_copied(backend: Backend) {
    // Arrange
    let Setup { db: _db, conn, stripe, billing, mut client } = setup(backend, &[]).await;

    // Act: the old app makes a customer for its user 77, as dj-stripe does.
    let made = stripe
        .post("/v1/customers", &[("email", "u77@example.com"), ("metadata[djstripe_subscriber]", "77")])
        .await;
    let id = made["id"].as_str().unwrap().to_owned();
    wait_until("the copy reached Stripe", Duration::from_secs(15), || async {
        stripe.get(&format!("/v1/customers/{id}")).await["metadata"]["user_id"] == "77"
    })
    .await;
    settled(&conn).await;

    // Assert: linked by its webhook, the link copied to metadata.user_id at Stripe, and
    // the copy's own event changed nothing.
    assert_eq!(user_of(&conn, &id).await.as_deref(), Some("77"));
    let at_stripe = stripe.get(&format!("/v1/customers/{id}")).await;
    assert_eq!(at_stripe["metadata"]["djstripe_subscriber"], "77", "the old app's key is kept");
    let gil = status(&mut client, "77").await;
    assert_eq!((gil.customer_id.as_str(), gil.revision), (id.as_str(), 0), "no subscription: no revision");
    billing.running.stop().await.unwrap();
}
