//! The W3C `traceparent` of the work that stored a row, kept beside an inbox event and a
//! revision so that the work they cause later (the worker's apply, the entitlement
//! service's apply) joins the delivery's trace. Null when traces are off.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The tables that carry a trace context.
const TABLES: [&str; 2] = ["stripe_events", "entitlement_changes"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            // One column per statement: SQLite alters one thing at a time.
            manager
                .alter_table(
                    Table::alter().table(table).add_column(string_len_null("trace_context", 64)).take(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in TABLES {
            manager.alter_table(Table::alter().table(table).drop_column("trace_context").take()).await?;
        }
        Ok(())
    }
}
