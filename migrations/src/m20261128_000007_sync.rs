//! Where an interrupted `sync-stripe` stopped: one row per object type while a run is
//! incomplete, so the next run continues instead of starting over.

use sea_orm_migration::{prelude::*, schema::*};

use crate::cols::drop_tables;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table("sync_checkpoints")
                    .col(string_len("object_type", 32).primary_key())
                    // The last object applied: the next page starts after it.
                    .col(string_len_null("starting_after", 255))
                    .col(boolean("completed").default(false))
                    .col(timestamp_with_time_zone("updated_at"))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["sync_checkpoints"]).await
    }
}
