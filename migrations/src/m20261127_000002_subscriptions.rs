//! Subscriptions and the one-trial-per-user ledger.

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
                    .table("subscriptions")
                    .col(stripe_id_pk())
                    .col(livemode())
                    .col(string_len("customer_id", 255))
                    // Copied from the customer link so access lookups need no join.
                    .col(string_len_null("user_id", 255))
                    .col(string_len("status", 32))
                    .col(string_len_null("price_id", 255))
                    .col(string_len_null("product_id", 255))
                    .col(integer("quantity").default(1))
                    .col(timestamp_with_time_zone_null("trial_start"))
                    .col(timestamp_with_time_zone_null("trial_end"))
                    .col(timestamp_with_time_zone_null("current_period_start"))
                    .col(timestamp_with_time_zone_null("current_period_end"))
                    .col(boolean("cancel_at_period_end").default(false))
                    .col(timestamp_with_time_zone_null("cancel_at"))
                    .col(timestamp_with_time_zone_null("canceled_at"))
                    .col(timestamp_with_time_zone_null("ended_at"))
                    // Start of the current past_due episode; the grace period runs from it.
                    .col(timestamp_with_time_zone_null("past_due_since"))
                    .col(string_len_null("latest_invoice_id", 255))
                    .col(json_binary("metadata"))
                    .col(timestamp_with_time_zone("stripe_created"))
                    .col(as_of())
                    .take(),
            ))
            .await?;
        manager.create_index(index("subscriptions", &["customer_id"])).await?;
        manager.create_index(index("subscriptions", &["user_id", "livemode"])).await?;
        manager.create_index(index("subscriptions", &["status"])).await?;

        // A row is a trial reserved at checkout or confirmed by Stripe; a released
        // reservation deletes its row. The unique keys make a second trial impossible by
        // user id and by normalised email, even under concurrent checkouts.
        manager
            .create_table(with_timestamps(
                Table::create()
                    .table("trial_usage")
                    .col(big_pk_auto("id"))
                    .col(livemode())
                    .col(string_len("user_id", 255))
                    .col(string_len("email_normalized", 512))
                    .col(string_len("state", 16))
                    .col(string_len_null("checkout_session_id", 255))
                    .col(string_len_null("subscription_id", 255))
                    .col(timestamp_with_time_zone("reserved_at"))
                    .col(timestamp_with_time_zone_null("reservation_expires_at"))
                    .col(timestamp_with_time_zone_null("confirmed_at"))
                    .take(),
            ))
            .await?;
        manager.create_index(unique_index("trial_usage", &["livemode", "user_id"])).await?;
        manager.create_index(unique_index("trial_usage", &["livemode", "email_normalized"])).await?;
        manager.create_index(unique_index("trial_usage", &["checkout_session_id"])).await?;
        manager.create_index(index("trial_usage", &["state", "reservation_expires_at"])).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["trial_usage", "subscriptions"]).await
    }
}
