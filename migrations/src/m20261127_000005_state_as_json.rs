//! Entitlement states as `json` rather than `jsonb` on PostgreSQL. A state is written
//! whole and read whole, never queried inside; `jsonb` decomposed it on every write and
//! re-rendered and re-escaped it on every read, which made rendering text the largest
//! cost of loading a snapshot. `json` keeps the text as written. SQLite stores text
//! either way, so nothing changes there.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const TABLES: [&str; 2] = ["entitlements", "entitlement_changes"];

async fn retype(manager: &SchemaManager<'_>, to: &str) -> Result<(), DbErr> {
    if manager.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    for table in TABLES {
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "ALTER TABLE {table} ALTER COLUMN state TYPE {to} USING state::{to}"
            ))
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        retype(manager, "json").await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        retype(manager, "jsonb").await
    }
}
