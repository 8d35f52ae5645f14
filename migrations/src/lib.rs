//! Schema migrations. They are frozen history: they never depend on the entities crate,
//! so changing an entity can never rewrite a migration that has already run somewhere.

pub use sea_orm_migration::{MigrationStatus, prelude::*};

pub mod cli;
mod cols;
mod m20261127_000001_catalogue;
mod m20261127_000002_subscriptions;
mod m20261127_000003_webhooks;
mod m20261127_000004_entitlements;
mod m20261127_000005_state_as_json;
mod m20261128_000006_lifecycle;
mod m20261128_000007_sync;
mod m20261128_000008_trace_context;
mod m20261204_000009_customers_per_user;
mod m20261206_000010_pending_events;
mod m20261206_000011_checkout_sessions;
mod m20261207_000012_limits;

/// Every migration, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_catalogue::Migration),
            Box::new(m20261127_000002_subscriptions::Migration),
            Box::new(m20261127_000003_webhooks::Migration),
            Box::new(m20261127_000004_entitlements::Migration),
            Box::new(m20261127_000005_state_as_json::Migration),
            Box::new(m20261128_000006_lifecycle::Migration),
            Box::new(m20261128_000007_sync::Migration),
            Box::new(m20261128_000008_trace_context::Migration),
            Box::new(m20261204_000009_customers_per_user::Migration),
            Box::new(m20261206_000010_pending_events::Migration),
            Box::new(m20261206_000011_checkout_sessions::Migration),
            Box::new(m20261207_000012_limits::Migration),
        ]
    }
}

/// Whether every known migration has been applied to `db`.
pub async fn schema_is_at_head<C: ConnectionTrait>(db: &C) -> Result<bool, DbErr> {
    Ok(Migrator::get_pending_migrations_read_only(db).await?.is_empty())
}
