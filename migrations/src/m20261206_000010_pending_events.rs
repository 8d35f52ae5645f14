//! The inbox's pending events in Stripe's order, and nothing else: a claim walks them
//! oldest first and stops once it has its heads, so its cost follows the events in
//! flight, not the events already processed or the length of a backlog.

use sea_orm_migration::prelude::*;

use crate::cols::index;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The statuses of events still to be applied, as stored (frozen here: migrations never
/// read the entities crate).
const PENDING: [&str; 3] = ["received", "retry", "processing"];

/// The claim's scan (pending events in Stripe's order) and its probe (a customer's
/// earlier pending events).
const INDEXES: [(&str, [&str; 2]); 2] = [
    ("idx_stripe_events_pending", ["stripe_created", "id"]),
    ("idx_stripe_events_pending_customer", ["customer_id", "stripe_created"]),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, cols) in INDEXES {
            let mut pending = index("stripe_events", &cols);
            pending.name(name).and_where(Expr::col("status").is_in(PENDING));
            manager.create_index(pending).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            manager.drop_index(Index::drop().name(name).table("stripe_events").to_owned()).await?;
        }
        Ok(())
    }
}
