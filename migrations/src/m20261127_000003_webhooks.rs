//! Webhook endpoints and the durable event inbox.

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
                    .table("webhook_endpoints")
                    // The uuid in `/stripe/webhook/{uuid}`.
                    .col(pk_uuid("id"))
                    .col(string_len_null("stripe_id", 255))
                    .col(livemode())
                    .col(text("url"))
                    .col(string_len_null("api_version", 32))
                    .col(string_len("secret", 255))
                    // Rotation: the previous secret keeps verifying until it expires.
                    .col(string_len_null("previous_secret", 255))
                    .col(timestamp_with_time_zone_null("previous_secret_expires_at"))
                    .col(json_binary("enabled_events"))
                    .col(boolean("enabled").default(true))
                    .take(),
            ))
            .await?;
        manager.create_index(unique_index("webhook_endpoints", &["stripe_id"])).await?;

        manager
            .create_table(with_timestamps(
                Table::create()
                    .table("stripe_events")
                    .col(string_len("id", 255).primary_key())
                    .col(livemode())
                    .col(string_len("event_type", 128))
                    .col(string_len_null("api_version", 32))
                    .col(timestamp_with_time_zone("stripe_created"))
                    .col(string_len_null("object_id", 255))
                    // Ordering key: events of one customer apply in order.
                    .col(string_len_null("customer_id", 255))
                    .col(uuid_null("endpoint_id"))
                    // The raw body exactly as received and verified.
                    .col(text("payload"))
                    .col(string_len("status", 16))
                    .col(integer("attempts").default(0))
                    .col(timestamp_with_time_zone("next_attempt_at"))
                    .col(string_len_null("locked_by", 255))
                    .col(timestamp_with_time_zone_null("locked_until"))
                    .col(text_null("last_error"))
                    .col(timestamp_with_time_zone("received_at"))
                    .col(timestamp_with_time_zone_null("processed_at"))
                    .take(),
            ))
            .await?;
        manager.create_index(index("stripe_events", &["status", "next_attempt_at"])).await?;
        manager.create_index(index("stripe_events", &["customer_id", "stripe_created"])).await?;
        manager.create_index(index("stripe_events", &["object_id"])).await?;
        manager.create_index(index("stripe_events", &["event_type"])).await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_tables(manager, &["stripe_events", "webhook_endpoints"]).await
    }
}
