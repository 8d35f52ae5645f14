//! The same migrations on PostgreSQL and SQLite: complete, reversible, and enforcing the
//! unique keys that make duplicates impossible.

use caixa_entities::{stripe_events, trial_usage};
use caixa_migrations::{Migrator, MigratorTrait};
use caixa_test_support::{
    database::{Backend, TestDatabase, schema_dump, table_names},
    on_both_backends,
};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, DatabaseConnection, EntityTrait, Set};

const TABLES: &[&str] = &[
    "checkout_sessions",
    "customers",
    "entitlement_changes",
    "entitlements",
    "prices",
    "products",
    "reconcile_state",
    "revision_counter",
    "seaql_migrations",
    "stripe_events",
    "subscriptions",
    "sync_checkpoints",
    "trial_usage",
    "webhook_endpoints",
];

on_both_backends!(up_down_up_gives_the_same_schema, unique_keys_refuse_duplicates);

async fn up_down_up_gives_the_same_schema(backend: Backend) {
    // Arrange
    let test_db = TestDatabase::empty(backend).await;
    let db = test_db.connect().await;

    // Act
    Migrator::up(&db, None).await.expect("first up");
    let first = schema_dump(&db).await;
    let tables_after_up = table_names(&db).await;
    Migrator::down(&db, None).await.expect("down");
    let tables_after_down = table_names(&db).await;
    let pending_after_down = Migrator::get_pending_migrations(&db).await.expect("status").len();
    Migrator::up(&db, None).await.expect("second up");
    let second = schema_dump(&db).await;

    // Assert
    assert_eq!(tables_after_up, TABLES);
    assert_eq!(tables_after_down, ["seaql_migrations"], "down must remove every table it created");
    assert_eq!(pending_after_down, Migrator::migrations().len());
    assert!(
        first.iter().any(|line| line.contains("idx_trial_usage_livemode_email_normalized")),
        "one-trial-per-email index missing: {first:?}"
    );
    assert_eq!(first, second);
    assert!(caixa_migrations::schema_is_at_head(&db).await.expect("status"));
}

async fn unique_keys_refuse_duplicates(backend: Backend) {
    // Arrange
    let test_db = TestDatabase::migrated(backend).await;
    let db = test_db.connect().await;

    // Act + Assert: the same event id twice.
    insert_event(&db, "evt_1").await.expect("first delivery stored");
    assert!(insert_event(&db, "evt_1").await.is_err(), "a repeated event id must be refused");
    assert_eq!(stripe_events::Entity::find().all(&db).await.expect("read").len(), 1);

    // A second trial by user id, or by email under another user id.
    insert_trial(&db, "user-1", "ana@example.com", "cs_1").await.expect("first trial");
    assert!(insert_trial(&db, "user-1", "other@example.com", "cs_2").await.is_err(), "same user");
    assert!(insert_trial(&db, "user-2", "ana@example.com", "cs_3").await.is_err(), "same email");
    // The other mode keeps its own ledger.
    let mut live = trial_active("user-1", "ana@example.com", "cs_4");
    live.livemode = Set(true);
    live.insert(&db).await.expect("live-mode trial is separate");
}

async fn insert_event(db: &DatabaseConnection, id: &str) -> Result<(), sea_orm::DbErr> {
    let now = Utc::now();
    stripe_events::ActiveModel {
        id: Set(id.to_owned()),
        livemode: Set(false),
        event_type: Set("customer.created".to_owned()),
        api_version: Set(None),
        stripe_created: Set(now),
        object_id: Set(Some("cus_1".to_owned())),
        customer_id: Set(Some("cus_1".to_owned())),
        endpoint_id: Set(None),
        payload: Set("{}".to_owned()),
        status: Set(stripe_events::InboxStatus::Received),
        attempts: Set(0),
        next_attempt_at: Set(now),
        locked_by: Set(None),
        locked_until: Set(None),
        last_error: Set(None),
        received_at: Set(now),
        processed_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        trace_context: Set(None),
    }
    .insert(db)
    .await
    .map(drop)
}

fn trial_active(user: &str, email: &str, session: &str) -> trial_usage::ActiveModel {
    let now = Utc::now();
    trial_usage::ActiveModel {
        livemode: Set(false),
        user_id: Set(user.to_owned()),
        email_normalized: Set(email.to_owned()),
        state: Set(trial_usage::TrialState::Reserved),
        checkout_session_id: Set(Some(session.to_owned())),
        subscription_id: Set(None),
        reserved_at: Set(now),
        reservation_expires_at: Set(None),
        confirmed_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

async fn insert_trial(
    db: &DatabaseConnection,
    user: &str,
    email: &str,
    session: &str,
) -> Result<(), sea_orm::DbErr> {
    trial_active(user, email, session).insert(db).await.map(drop)
}
