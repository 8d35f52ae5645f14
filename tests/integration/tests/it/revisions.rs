//! The revision log: strictly increasing in commit order under concurrent writers, every
//! revision seen exactly once by a follower, and a clear error for a pruned revision.

use caixa_proto::billing::v1::SubscriptionStatus;
use std::time::Duration;

use billing_service::store::revisions;
use caixa_entities::state::{SubscriptionState, UserState};
use caixa_entities::{entitlement_changes, entitlements};
use caixa_integration_tests::spawn_billing;
use caixa_proto::billing::v1::{
    WatchRequest, subscription_events_client::SubscriptionEventsClient, watch_response::Event,
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
    on_both_backends,
};
use sea_orm::{ConnectionTrait, EntityTrait, QueryOrder, TransactionTrait};
use tonic::Code;

on_both_backends!(
    concurrent_writers_give_a_gapless_ordered_log,
    a_pruned_revision_asks_for_a_snapshot,
    an_unchanged_state_written_the_old_way_is_not_a_change,
    many_users_recorded_at_once_take_revisions_in_order_and_skip_the_unchanged
);

fn state(n: usize) -> UserState {
    UserState {
        subscriptions: vec![SubscriptionState {
            id: format!("sub_{n}"),
            customer_id: format!("cus_{n}"),
            status: SubscriptionStatus::Active,
            ..Default::default()
        }],
    }
}

async fn concurrent_writers_give_a_gapless_ordered_log(backend: Backend) {
    // Arrange: a follower watching from the start.
    let db = TestDatabase::migrated(backend).await;
    let billing = spawn_billing(&db, &[("INBOX_WORKER", "false")]).await;
    let mut watch = SubscriptionEventsClient::new(channel(billing.grpc_addr).await)
        .watch(WatchRequest { after_revision: 0 })
        .await
        .unwrap()
        .into_inner();

    // Act: 50 writers, each in its own transaction, committing in whatever order they may.
    let mut writers = tokio::task::JoinSet::new();
    for n in 0..50 {
        let conn = db.connect().await;
        writers.spawn(async move {
            let txn = conn.begin().await.unwrap();
            revisions::lock_for_sqlite(&txn).await.unwrap();
            let revision = revisions::record(&txn, &format!("user-{n}"), false, &state(n)).await.unwrap();
            tokio::time::sleep(Duration::from_millis((n % 7) as u64)).await;
            txn.commit().await.unwrap();
            revision
        });
    }
    let mut written: Vec<u64> = writers.join_all().await.into_iter().map(|r| r.get()).collect();
    written.sort();

    // Assert: revisions 1..=50, and the follower saw each once, in order.
    assert_eq!(written, (1..=50).collect::<Vec<_>>());
    let mut seen = Vec::new();
    while seen.len() < 50 {
        let message =
            tokio::time::timeout(Duration::from_secs(10), watch.message()).await.unwrap().unwrap().unwrap();
        if let Some(Event::Change(change)) = message.event {
            seen.push(change.revision);
        }
    }
    assert_eq!(seen, (1..=50).collect::<Vec<u64>>());
    drop(watch);
    billing.running.stop().await.unwrap();
}

async fn a_pruned_revision_asks_for_a_snapshot(backend: Backend) {
    // Arrange: three revisions, the first two pruned.
    let db = TestDatabase::migrated(backend).await;
    let conn = db.connect().await;
    for n in 0..3 {
        revisions::record(&conn, &format!("user-{n}"), false, &state(n)).await.unwrap();
    }
    let pruned = revisions::prune(&conn, chrono::Utc::now() + chrono::Duration::seconds(1)).await.unwrap();
    let billing = spawn_billing(&db, &[("INBOX_WORKER", "false")]).await;
    let mut client = SubscriptionEventsClient::new(channel(billing.grpc_addr).await);

    // Act
    let refused = client.watch(WatchRequest { after_revision: 0 }).await.expect_err("revision 1 is gone");
    let mut resumed = client.watch(WatchRequest { after_revision: 2 }).await.unwrap().into_inner();

    // Assert
    assert_eq!(pruned.get(), 2, "the newest revision is always kept");
    assert_eq!(refused.code(), Code::OutOfRange);
    assert!(refused.message().contains("fresh snapshot"), "{}", refused.message());
    let Some(Event::Change(change)) = resumed.message().await.unwrap().unwrap().event else {
        panic!("a change")
    };
    assert_eq!(change.revision, 3);
    drop(resumed);
    billing.running.stop().await.unwrap();
}

async fn an_unchanged_state_written_the_old_way_is_not_a_change(backend: Backend) {
    // Arrange: a state stored with explicit nulls, as earlier versions wrote it.
    let db = TestDatabase::migrated(backend).await;
    let conn = db.connect().await;
    let first = revisions::record(&conn, "user-1", false, &state(1)).await.unwrap();
    let mut old_style = serde_json::to_value(state(1)).unwrap();
    old_style["subscriptions"][0]["trial_end"] = serde_json::Value::Null;
    old_style["subscriptions"][0]["price_id"] = serde_json::Value::Null;
    let backend_kind = conn.get_database_backend();
    conn.execute_raw(sea_orm::Statement::from_sql_and_values(
        backend_kind,
        if backend_kind == sea_orm::DbBackend::Postgres {
            "UPDATE entitlements SET state = $1 WHERE user_id = 'user-1'"
        } else {
            "UPDATE entitlements SET state = ? WHERE user_id = 'user-1'"
        },
        [old_style.into()],
    ))
    .await
    .unwrap();

    // Act
    let same = revisions::record(&conn, "user-1", false, &state(1)).await.unwrap();
    let mut changed_state = state(1);
    changed_state.subscriptions[0].status = SubscriptionStatus::PastDue;
    let changed = revisions::record(&conn, "user-1", false, &changed_state).await.unwrap();

    // Assert
    assert_eq!(same, first, "the same state, however it was written, keeps its revision");
    assert_eq!(changed.get(), first.get() + 1);
}

async fn many_users_recorded_at_once_take_revisions_in_order_and_skip_the_unchanged(backend: Backend) {
    // Arrange: users 0, 1 and 2 at revisions 1, 2 and 3.
    let db = TestDatabase::migrated(backend).await;
    let conn = db.connect().await;
    for n in 0..3 {
        revisions::record(&conn, &format!("user-{n}"), false, &state(n)).await.unwrap();
    }
    let mut changed = state(0);
    changed.subscriptions[0].status = SubscriptionStatus::Canceled;

    // Act: user-1 unchanged, user-5 new, user-0 changed, in one call.
    let batch =
        [("user-1".to_owned(), state(1)), ("user-5".to_owned(), state(5)), ("user-0".to_owned(), changed)];
    let written = revisions::record_many(&conn, false, &batch).await.unwrap();

    // Assert: the unchanged user keeps its revision; the others take 4 and 5 in the order
    // given, in the log and as their current state.
    assert_eq!(written.iter().map(|r| r.get()).collect::<Vec<_>>(), [2, 4, 5]);
    let log = entitlement_changes::Entity::find()
        .order_by_asc(entitlement_changes::Column::Revision)
        .all(&conn)
        .await
        .unwrap();
    let log: Vec<(i64, &str)> = log.iter().map(|c| (c.revision, c.user_id.as_str())).collect();
    assert_eq!(log, [(1, "user-0"), (2, "user-1"), (3, "user-2"), (4, "user-5"), (5, "user-0")]);
    let current = entitlements::Entity::find().all(&conn).await.unwrap();
    let of = |user: &str| current.iter().find(|row| row.user_id == user).unwrap();
    assert_eq!((of("user-0").revision, of("user-1").revision, of("user-5").revision), (5, 2, 4));
    assert_eq!(revisions::parse_state(&of("user-0").state).unwrap(), batch[2].1, "the new state is current");
    assert_eq!(current.len(), 4, "one current row per user");
}
