//! A user may have several customers per mode (accounts dj-stripe made hold duplicates
//! from races and re-signups): the unique index on a customer's user becomes a plain one.

use sea_orm_migration::prelude::*;

use crate::cols::{index, unique_index};

#[derive(DeriveMigrationName)]
pub struct Migration;

const NAME: &str = "idx_customers_livemode_user_id";

async fn replace(manager: &SchemaManager<'_>, with: IndexCreateStatement) -> Result<(), DbErr> {
    manager.drop_index(Index::drop().name(NAME).table("customers").to_owned()).await?;
    manager.create_index(with).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace(manager, index("customers", &["livemode", "user_id"])).await
    }

    /// Fails while any user has two linked customers in one mode: the older release
    /// cannot hold them.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        replace(manager, unique_index("customers", &["livemode", "user_id"])).await
    }
}
