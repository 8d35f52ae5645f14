//! Where an interrupted `sync-stripe` stopped.

use sea_orm::entity::prelude::*;

/// One object type of an incomplete sync run.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_checkpoints")]
pub struct Model {
    /// `products`, `prices`, `customers` or `subscriptions`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub object_type: String,
    /// The last object applied; the next page starts after it.
    pub starting_after: Option<String>,
    /// Every object of this type was applied in this run.
    pub completed: bool,
    /// Last change.
    pub updated_at: DateTimeUtc,
}

/// Standalone table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
