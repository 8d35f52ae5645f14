//! The single-row counter that allocates revisions in commit order.

use sea_orm::entity::prelude::*;

/// The counter row (`id = 1`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "revision_counter")]
pub struct Model {
    /// Always 1.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i16,
    /// Last allocated revision.
    pub value: i64,
    /// Revisions at or below this were pruned from the log.
    pub pruned_through: i64,
}

/// Standalone table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
