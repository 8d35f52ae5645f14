//! The Checkout Sessions billing opened, and whether each is still open: a returning
//! user's checkout closes the older ones it knows of beside opening the new one, instead
//! of asking Stripe for them first.

use sea_orm_migration::{prelude::*, schema::*};

use crate::cols::{drop_tables, index, livemode, with_timestamps};

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
                    .table("checkout_sessions")
                    .col(string_len("id", 255).primary_key())
                    .col(livemode())
                    .col(string_len("user_id", 255))
                    .col(string_len("customer_id", 255))
                    // open, complete or expired, as Stripe last said.
                    .col(string_len("status", 16))
                    .col(timestamp_with_time_zone_null("expires_at"))
                    .take(),
            ))
            .await?;
        manager.create_index(index("checkout_sessions", &["customer_id", "status"])).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["checkout_sessions"]).await
    }
}
