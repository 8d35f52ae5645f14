//! The trial ledger's writes, on both databases: a trial confirmed before the user's email
//! was known is held under the user's key and moves to the email once one is known (unless
//! another user holds that email), a reservation is confirmed once, and a lapsed
//! session's reservation is given back.

use billing_service::{domain::accounts::trials as rules, store::trials};
use caixa_entities::trial_usage::{self, TrialState};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    on_both_backends,
};
use chrono::{Duration, Utc};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder};

on_both_backends!(
    a_trial_confirmed_without_an_email_moves_to_the_email_once_known,
    an_email_another_user_holds_stays_with_them,
    a_reservation_is_confirmed_once_and_keeps_its_first_subscription,
    reservations_are_given_back_by_session_and_when_unattached
);

async fn rows(conn: &DatabaseConnection) -> Vec<(String, String, TrialState, Option<String>)> {
    trial_usage::Entity::find()
        .order_by_asc(trial_usage::Column::Id)
        .all(conn)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.user_id, r.email_normalized, r.state, r.subscription_id))
        .collect()
}

async fn a_trial_confirmed_without_an_email_moves_to_the_email_once_known(backend: Backend) {
    // Arrange: a trial Stripe made for a customer billing has no email for.
    let db = TestDatabase::migrated(backend).await;
    let conn = db.connect().await;
    rules::confirm_used(&conn, "7", None, false, "sub_1").await.unwrap();
    let placeholder = rules::user_key("7");
    assert_eq!(rows(&conn).await, [("7".into(), placeholder, TrialState::Confirmed, Some("sub_1".into()))]);

    // Act: the same trial seen again, now with the customer's email.
    rules::confirm_used(&conn, "7", Some("ana@example.com".into()), false, "sub_1").await.unwrap();

    // Assert: one row, held under the email, so that email has had its trial too.
    let held = ("7".into(), "ana@example.com".into(), TrialState::Confirmed, Some("sub_1".into()));
    assert_eq!(rows(&conn).await, [held]);
    assert!(trials::taken(&conn, "someone-else", Some("ana@example.com"), false).await.unwrap());
    assert!(!trials::taken(&conn, "someone-else", Some("ana@example.com"), true).await.unwrap(), "per mode");
}

async fn an_email_another_user_holds_stays_with_them(backend: Backend) {
    // Arrange: user 8 used a trial under ana's email; user 7's trial has no email yet.
    let db = TestDatabase::migrated(backend).await;
    let conn = db.connect().await;
    rules::confirm_used(&conn, "8", Some("ana@example.com".into()), false, "sub_8").await.unwrap();
    rules::confirm_used(&conn, "7", None, false, "sub_7").await.unwrap();

    // Act: user 7's customer turns out to have the same email.
    rules::confirm_used(&conn, "7", Some("ana@example.com".into()), false, "sub_7").await.unwrap();

    // Assert: the email stays with user 8; user 7 keeps the placeholder row.
    let expected = [
        ("8".into(), "ana@example.com".into(), TrialState::Confirmed, Some("sub_8".into())),
        ("7".into(), rules::user_key("7"), TrialState::Confirmed, Some("sub_7".into())),
    ];
    assert_eq!(rows(&conn).await, expected);
}

async fn a_reservation_is_confirmed_once_and_keeps_its_first_subscription(backend: Backend) {
    // Arrange: a reservation for a checkout.
    let db = TestDatabase::migrated(backend).await;
    let conn = db.connect().await;
    let expires = Utc::now() + Duration::hours(1);
    let id = trials::reserve(&conn, "7", "ana@example.com", false, expires).await.unwrap().expect("reserved");
    trials::attach(&conn, id, "cs_1", expires).await.unwrap();

    // Act: the trial's subscription is confirmed, then a second one is reported.
    rules::confirm_used(&conn, "7", Some("ana@example.com".into()), false, "sub_1").await.unwrap();
    rules::confirm_used(&conn, "7", Some("ana@example.com".into()), false, "sub_2").await.unwrap();

    // Assert: one confirmed row, naming the first subscription, dated once.
    let held = trial_usage::Entity::find().all(&conn).await.unwrap();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!((held[0].state, held[0].subscription_id.as_deref()), (TrialState::Confirmed, Some("sub_1")));
    assert_eq!(held[0].checkout_session_id.as_deref(), Some("cs_1"));
    assert!(held[0].confirmed_at.is_some());
    assert!(trials::reserve(&conn, "7", "other@example.com", false, expires).await.unwrap().is_none());
}

async fn reservations_are_given_back_by_session_and_when_unattached(backend: Backend) {
    // Arrange: three users' reservations; one attached to a session, one extended.
    let db = TestDatabase::migrated(backend).await;
    let conn = db.connect().await;
    let soon = Utc::now() + Duration::minutes(5);
    let a = trials::reserve(&conn, "a", "a@example.com", false, soon).await.unwrap().unwrap();
    trials::reserve(&conn, "b", "b@example.com", false, soon).await.unwrap().unwrap();
    let c = trials::reserve(&conn, "c", "c@example.com", false, soon).await.unwrap().unwrap();
    trials::attach(&conn, a, "cs_a", soon).await.unwrap();
    trials::attach(&conn, c, "cs_c", soon).await.unwrap();
    let later = Utc::now() + Duration::hours(2);
    trials::extend(&conn, c, later).await.unwrap();

    // Act: a's session expired unused; b's checkout failed before Stripe answered.
    trials::release_session(&conn, "cs_a").await.unwrap();
    trials::release_unattached(&conn, "b", false).await.unwrap();
    trials::release_unattached(&conn, "c", false).await.unwrap();

    // Assert: only c's reservation, attached and extended, is left.
    let left = trial_usage::Entity::find().all(&conn).await.unwrap();
    assert_eq!(left.iter().map(|r| r.user_id.as_str()).collect::<Vec<_>>(), ["c"]);
    assert_eq!(left[0].reservation_expires_at.map(|t| t.timestamp()), Some(later.timestamp()));
    let confirmed = trial_usage::Entity::find()
        .filter(trial_usage::Column::State.eq(TrialState::Confirmed))
        .all(&conn)
        .await
        .unwrap();
    assert!(confirmed.is_empty());
    trials::release(&conn, c).await.unwrap();
    assert!(trial_usage::Entity::find().all(&conn).await.unwrap().is_empty(), "release gives it back");
}
