//! Two writers that both read an object as new: the one that inserts second must not
//! overwrite the first one's row (its link, a newer time) without the checks an existing
//! row goes through. It rolls back and decides again from what is stored.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use billing_service::{
    domain::objects::apply::{Fetched, Source, apply},
    stripe::{
        keys::UserKeys,
        objects::{Customer, StripeObject},
    },
};
use caixa_entities::customers;
use caixa_test_support::database::{Backend, TestDatabase};
use chrono::{SubsecRound, Utc};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set, Statement, TransactionTrait};
use serde_json::json;

/// Whether a session of this database waits on a lock (another transaction's row).
async fn someone_waits(db: &sea_orm::DatabaseConnection) -> bool {
    let sql = "SELECT count(*) AS waiting FROM pg_stat_activity \
               WHERE datname = current_database() AND wait_event_type = 'Lock'";
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap();
    row.unwrap().try_get::<i64>("", "waiting").unwrap() > 0
}

// PostgreSQL only: SQLite has one writer at a time, and the apply path takes its lock
// before reading, so there two applies cannot both read a row as missing.
#[tokio::test]
async fn an_apply_that_finds_its_new_row_inserted_meanwhile_decides_again() {
    // Arrange: another transaction has inserted the customer, linked and newer, but not
    // committed yet.
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let (conn, other) = (db.connect().await, db.connect().await);
    let linked_at = Utc::now().trunc_subsecs(6);
    let txn = other.begin().await.unwrap();
    customers::ActiveModel {
        id: Set("cus_raced".into()),
        livemode: Set(false),
        user_id: Set(Some("user-1".into())),
        former_user_id: Set(None),
        email: Set(Some("ana@example.com".into())),
        email_normalized: Set(Some("ana@example.com".into())),
        name: Set(None),
        deleted: Set(false),
        metadata: Set(json!({ "user_id": "user-1" })),
        stripe_created: Set(linked_at),
        as_of: Set(linked_at),
        created_at: Set(linked_at),
        updated_at: Set(linked_at),
    }
    .insert(&txn)
    .await
    .unwrap();
    let older = Customer::from_json(
        &json!({
            "id": "cus_raced", "object": "customer", "livemode": false,
            "email": "ana@example.com", "metadata": {}, "created": linked_at.timestamp(),
        }),
        &UserKeys::default(),
    );
    let older = Fetched {
        object: StripeObject::Customer(older),
        as_of: linked_at - chrono::Duration::minutes(1),
        source: Source::Stripe,
    };

    // Act: an older, unlinked state is applied; it reads the row as missing and waits
    // on the other transaction's insert, which then commits.
    let applying = tokio::spawn(async move { apply(&conn, &[older], None).await });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !someone_waits(&other).await {
        assert!(!applying.is_finished(), "the apply did not wait for the other insert");
        assert!(tokio::time::Instant::now() < deadline, "the apply never waited on the other insert");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    txn.commit().await.unwrap();
    let revisions = applying.await.unwrap();

    // Assert: decided again from the stored row, the older state is refused and the link
    // and time of the other writer stand.
    assert!(revisions.unwrap().is_empty(), "nothing changed for any user");
    let row = customers::Entity::find_by_id("cus_raced").one(&other).await.unwrap().unwrap();
    assert_eq!(row.user_id.as_deref(), Some("user-1"), "the link is kept");
    assert_eq!(row.as_of, linked_at, "the newer state is kept");
}

/// Two transactions that update the same two rows in opposite orders: PostgreSQL picks
/// one as the deadlock's victim, and billing reads that failure as one to try again.
#[tokio::test]
async fn a_deadlock_victim_is_told_to_try_again() {
    // Arrange: two customers, two connections, each holding one row.
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let (first, second) = (db.connect().await, db.connect().await);
    for id in ["cus_a", "cus_b"] {
        let customer = Customer::from_json(
            &json!({ "id": id, "object": "customer", "livemode": false }),
            &UserKeys::default(),
        );
        apply(
            &first,
            &[Fetched {
                object: StripeObject::Customer(customer),
                as_of: Utc::now(),
                source: Source::Stripe,
            }],
            None,
        )
        .await
        .unwrap();
    }
    let touch = |id: &str| {
        Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "UPDATE customers SET updated_at = now() WHERE id = $1",
            [id.into()],
        )
    };
    let (a, b) = (first.begin().await.unwrap(), second.begin().await.unwrap());
    a.execute_raw(touch("cus_a")).await.unwrap();
    b.execute_raw(touch("cus_b")).await.unwrap();

    // Act: each reaches for the other's row.
    let (from_a, from_b) = tokio::join!(a.execute_raw(touch("cus_b")), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        b.execute_raw(touch("cus_a")).await
    });

    // Assert: exactly one failed, and as a conflict to try again; other errors are not.
    let failures: Vec<billing_service::store::StoreError> =
        [from_a.err(), from_b.err()].into_iter().flatten().map(Into::into).collect();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].is_transient_conflict(), "{:?}", failures[0]);
    assert!(!billing_service::store::StoreError::Raced.is_transient_conflict());
}
