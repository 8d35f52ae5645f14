//! The numbers a product sets on the features it grants (`limits.<feature>` metadata, or
//! an Entitlements feature's `limit` metadata), kept beside its features: a JSON object
//! from feature to a whole number or `"unlimited"`. Products stored before read as none.

use sea_orm_migration::{prelude::*, schema::*};

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
                Table::alter()
                    .table("products")
                    .add_column(json_binary("limits").default(Expr::val("{}")))
                    .take(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.alter_table(Table::alter().table("products").drop_column("limits").take()).await
    }
}
