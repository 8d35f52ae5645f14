//! Customer links that outlive deletion, and the reconciler's place.
//!
//! A deleted customer used to keep its user's link, and the link is unique per user: the
//! user could never be linked to a new customer. The link now moves to `former_user_id`
//! (history) when a customer is deleted or re-linked; rows already deleted are moved here.
//!
//! `reconcile_state` holds one row: how far the reconciler has read Stripe's events and
//! when its passes last ran.

use sea_orm_migration::{prelude::*, schema::*};

use crate::cols::{drop_tables, index};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter().table("customers").add_column(string_len_null("former_user_id", 255)).take(),
            )
            .await?;
        manager.create_index(index("customers", &["former_user_id"])).await?;
        manager
            .get_connection()
            .execute_unprepared(
                "UPDATE customers SET former_user_id = user_id, user_id = NULL WHERE deleted AND user_id IS NOT NULL",
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table("reconcile_state")
                    .col(small_integer("id").primary_key())
                    // Stripe `created` (Unix seconds) of the newest event read so far.
                    .col(big_integer("events_cursor").default(0))
                    .col(timestamp_with_time_zone_null("last_sweep_at"))
                    .col(timestamp_with_time_zone_null("last_success_at"))
                    .take(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table("reconcile_state")
                    .columns(["id", "events_cursor"])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["reconcile_state"]).await?;
        manager
            .drop_index(Index::drop().name("idx_customers_former_user_id").table("customers").to_owned())
            .await?;
        manager.alter_table(Table::alter().table("customers").drop_column("former_user_id").take()).await
    }
}
