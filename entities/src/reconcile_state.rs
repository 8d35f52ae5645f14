//! Where the reconciler is.

use sea_orm::entity::prelude::*;

/// The single row (`id = 1`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "reconcile_state")]
pub struct Model {
    /// Always 1.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i16,
    /// Stripe `created` (Unix seconds) of the newest event read so far.
    pub events_cursor: i64,
    /// When the last subscription sweep finished.
    pub last_sweep_at: Option<DateTimeUtc>,
    /// When the last pass finished without error.
    pub last_success_at: Option<DateTimeUtc>,
}

/// Standalone table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
