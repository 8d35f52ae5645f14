//! The local snapshot in the running service: a restart starts from it and catches up
//! from the log before it says SERVING; a snapshot it cannot use sends it to the
//! database instead. One user's row is deleted from the database's table after the
//! snapshot is written, so that only a start from the file knows that user.

use std::path::Path;

use billing_service::store::revisions;
use caixa_entities::{
    entitlements,
    state::{SubscriptionState, UserState},
};
use caixa_integration_tests::{TestEntitlement, spawn_billing, spawn_entitlement_with};
use caixa_proto::{
    billing::v1::SubscriptionStatus, entitlement::v1::entitlement_service_client::EntitlementServiceClient,
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    on_both_backends,
};
use entitlement_service::store::local::FORMAT;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use tonic::transport::Channel;

use crate::entitlement::{check, client};

on_both_backends!(
    a_restart_starts_from_the_local_snapshot_and_catches_up_from_the_log,
    a_snapshot_it_cannot_use_sends_it_to_the_database
);

fn state(n: usize, status: SubscriptionStatus) -> UserState {
    let now = chrono::Utc::now().timestamp();
    UserState {
        subscriptions: vec![SubscriptionState {
            id: format!("sub_{n}"),
            customer_id: format!("cus_{n}"),
            status,
            current_period_start: Some(now - 86_400),
            current_period_end: Some(now + 86_400 * 20),
            ..Default::default()
        }],
    }
}

async fn record(conn: &DatabaseConnection, n: usize, status: SubscriptionStatus) {
    revisions::record(conn, &format!("user-{n}"), false, &state(n, status)).await.unwrap();
}

async fn start(db: &TestDatabase, billing: std::net::SocketAddr, file: &Path) -> TestEntitlement {
    let file = file.to_str().unwrap();
    spawn_entitlement_with(db, billing, &[("SNAPSHOT_FILE", file), ("SNAPSHOT_INTERVAL_SECONDS", "3600")])
        .await
}

async fn allowed(access: &mut EntitlementServiceClient<Channel>, user: &str) -> bool {
    access.check_access(check(user, "")).await.unwrap().into_inner().allowed
}

/// Three active users, a snapshot of them written at shutdown, and user-1's row gone
/// from the database.
async fn snapshot_of_three(db: &TestDatabase, billing: std::net::SocketAddr, file: &Path) -> Vec<u8> {
    let conn = db.connect().await;
    for n in 0..3 {
        record(&conn, n, SubscriptionStatus::Active).await;
    }
    let entitlement = start(db, billing, file).await;
    let mut access = client(entitlement.grpc_addr).await;
    assert!(allowed(&mut access, "user-2").await, "loaded from the database");
    entitlement.running.stop().await.unwrap();
    entitlements::Entity::delete_many()
        .filter(entitlements::Column::UserId.eq("user-1"))
        .exec(&conn)
        .await
        .unwrap();
    std::fs::read(file).expect("written at shutdown")
}

async fn a_restart_starts_from_the_local_snapshot_and_catches_up_from_the_log(backend: Backend) {
    // Arrange: the snapshot, then changes while the service is down: a new user, and
    // user-0 canceled.
    let db = TestDatabase::migrated(backend).await;
    let billing = spawn_billing(&db, &[("INBOX_WORKER", "false")]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("entitlements.snapshot");
    snapshot_of_three(&db, billing.grpc_addr, &file).await;
    let conn = db.connect().await;
    record(&conn, 3, SubscriptionStatus::Active).await;
    record(&conn, 0, SubscriptionStatus::Canceled).await;

    // Act
    let entitlement = start(&db, billing.grpc_addr, &file).await;
    let mut access = client(entitlement.grpc_addr).await;

    // Assert: user-1, whom only the file holds, and the log's changes, as soon as SERVING.
    assert!(allowed(&mut access, "user-1").await, "started from the file");
    assert!(allowed(&mut access, "user-3").await, "the new user, from the log");
    assert!(!allowed(&mut access, "user-0").await, "the cancellation, from the log");
    entitlement.running.stop().await.unwrap();
    billing.running.stop().await.unwrap();
}

async fn a_snapshot_it_cannot_use_sends_it_to_the_database(backend: Backend) {
    // Arrange
    let db = TestDatabase::migrated(backend).await;
    let billing = spawn_billing(&db, &[("INBOX_WORKER", "false")]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("entitlements.snapshot");
    let whole = snapshot_of_three(&db, billing.grpc_addr, &file).await;
    let mut flipped = whole.clone();
    flipped[whole.len() / 2] ^= 0x01;
    let mut other_format = whole.clone();
    other_format[8..12].copy_from_slice(&(FORMAT + 1).to_le_bytes());
    let partial = dir.path().join("entitlements.snapshot.partial");

    for (case, bytes, from_file) in [
        ("a partial write beside a whole one", whole.clone(), true),
        ("a flipped bit", flipped, false),
        ("cut short", whole[..whole.len() - 9].to_vec(), false),
        ("another format", other_format, false),
        ("older than the log", whole.clone(), false),
    ] {
        if case == "older than the log" {
            let conn = db.connect().await;
            record(&conn, 4, SubscriptionStatus::Active).await;
            record(&conn, 5, SubscriptionStatus::Active).await;
            let pruned =
                revisions::prune(&conn, chrono::Utc::now() + chrono::Duration::seconds(1)).await.unwrap();
            assert_eq!(pruned.get(), 4, "the log now starts after the snapshot's revision");
        }
        std::fs::write(&file, bytes).unwrap();
        std::fs::write(&partial, &whole[..whole.len() / 2]).unwrap();

        // Act
        let entitlement = start(&db, billing.grpc_addr, &file).await;
        let mut access = client(entitlement.grpc_addr).await;

        // Assert: the database's answers (no user-1) unless the file was whole.
        assert_eq!(allowed(&mut access, "user-1").await, from_file, "{case}");
        assert!(allowed(&mut access, "user-0").await, "{case}");
        assert!(allowed(&mut access, "user-2").await, "{case}");
        entitlement.running.stop().await.unwrap();
    }
    billing.running.stop().await.unwrap();
}

#[tokio::test]
async fn with_the_database_and_billing_gone_it_starts_from_the_local_snapshot_and_says_stale() {
    // Arrange: the snapshot; then billing stops and PostgreSQL refuses connections, and
    // the file grows older than the staleness bound.
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let billing = spawn_billing(&db, &[("INBOX_WORKER", "false")]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("entitlements.snapshot");
    snapshot_of_three(&db, billing.grpc_addr, &file).await;
    let billing_addr = billing.grpc_addr;
    billing.running.stop().await.unwrap();
    db.set_reachable(false).await;
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;

    // Act
    let path = file.to_str().unwrap();
    let settings = [("SNAPSHOT_FILE", path), ("STALENESS_BOUND_SECONDS", "1")];
    let entitlement = spawn_entitlement_with(&db, billing_addr, &settings).await;
    let mut access = client(entitlement.grpc_addr).await;
    let answer = access.check_access(check("user-1", "")).await.unwrap().into_inner();

    // Assert: the file's answer, said to be as old as the file.
    assert!(answer.allowed, "{answer:?}");
    assert!(answer.stale, "current only as of the file: {answer:?}");
    db.set_reachable(true).await;
    entitlement.running.stop().await.unwrap();
}
