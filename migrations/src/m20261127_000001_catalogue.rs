//! Stripe customers, products and prices.

use sea_orm_migration::{prelude::*, schema::*};

use crate::cols::{as_of, drop_tables, index, livemode, stripe_id_pk, unique_index, with_timestamps};

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
                    .table("customers")
                    .col(stripe_id_pk())
                    .col(livemode())
                    // The application's user; NULLs do not collide in a unique index, so
                    // unlinked customers are fine while a user has at most one per mode.
                    .col(string_len_null("user_id", 255))
                    .col(string_len_null("email", 512))
                    .col(string_len_null("email_normalized", 512))
                    .col(string_len_null("name", 512))
                    .col(boolean("deleted").default(false))
                    .col(json_binary("metadata"))
                    .col(timestamp_with_time_zone("stripe_created"))
                    .col(as_of())
                    .take(),
            ))
            .await?;
        manager.create_index(unique_index("customers", &["livemode", "user_id"])).await?;
        manager.create_index(index("customers", &["email_normalized"])).await?;

        manager
            .create_table(with_timestamps(
                Table::create()
                    .table("products")
                    .col(stripe_id_pk())
                    .col(livemode())
                    .col(boolean("active"))
                    .col(string_len("name", 512))
                    .col(text_null("description"))
                    // Feature lookup keys: Stripe Entitlements features plus the
                    // product's `features` metadata list.
                    .col(json_binary("features"))
                    .col(json_binary("metadata"))
                    .col(as_of())
                    .take(),
            ))
            .await?;
        manager.create_index(index("products", &["livemode", "active"])).await?;

        manager
            .create_table(with_timestamps(
                Table::create()
                    .table("prices")
                    .col(stripe_id_pk())
                    .col(livemode())
                    // No foreign key: Stripe may deliver a price before its product.
                    .col(string_len("product_id", 255))
                    .col(boolean("active"))
                    .col(string_len("currency", 3))
                    .col(big_integer_null("unit_amount"))
                    .col(string_len_null("recurring_interval", 16))
                    .col(integer_null("recurring_interval_count"))
                    .col(string_len_null("lookup_key", 255))
                    .col(json_binary("metadata"))
                    .col(as_of())
                    .take(),
            ))
            .await?;
        manager.create_index(index("prices", &["product_id"])).await?;
        manager.create_index(index("prices", &["livemode", "active"])).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["prices", "products", "customers"]).await
    }
}
