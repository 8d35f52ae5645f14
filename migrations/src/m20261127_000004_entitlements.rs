//! Per-user entitlement state, the revision log that followers read, and the counter
//! that allocates revisions in commit order.

use sea_orm_migration::{prelude::*, schema::*};

use crate::cols::{drop_tables, index, livemode, unique_index, with_timestamps};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(with_timestamps(
                Table::create()
                    .table("entitlements")
                    .col(big_pk_auto("id"))
                    .col(string_len("user_id", 255))
                    .col(livemode())
                    .col(big_integer("revision"))
                    // The user's full state (every subscription snapshot), as in the log.
                    .col(json_binary("state"))
                    .take(),
            ))
            .await?;
        manager.create_index(unique_index("entitlements", &["user_id", "livemode"])).await?;
        manager.create_index(index("entitlements", &["revision"])).await?;

        manager
            .create_table(
                Table::create()
                    .table("entitlement_changes")
                    .col(big_integer("revision").primary_key())
                    .col(string_len("user_id", 255))
                    .col(livemode())
                    .col(json_binary("state"))
                    .col(timestamp_with_time_zone("committed_at"))
                    .take(),
            )
            .await?;
        manager.create_index(index("entitlement_changes", &["user_id"])).await?;
        manager.create_index(index("entitlement_changes", &["committed_at"])).await?;

        // One row. A writer increments `value` inside its transaction and holds the row
        // lock until commit, so revisions become visible in the order they were taken;
        // a plain sequence would let a later revision commit before an earlier one.
        manager
            .create_table(
                Table::create()
                    .table("revision_counter")
                    .col(small_integer("id").primary_key())
                    .col(big_integer("value"))
                    // Revisions at or below this have been pruned from the log.
                    .col(big_integer("pruned_through").default(0))
                    .take(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table("revision_counter")
                    .columns(["id", "value", "pruned_through"])
                    .values_panic([1.into(), 0i64.into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["revision_counter", "entitlement_changes", "entitlements"]).await
    }
}
