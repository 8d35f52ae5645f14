//! The revision log followed by the entitlement service.

use sea_orm::entity::prelude::*;

/// One committed change: a user's full state at a revision.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "entitlement_changes")]
pub struct Model {
    /// Allocated from `revision_counter` inside the writing transaction.
    #[sea_orm(primary_key, auto_increment = false)]
    pub revision: i64,
    /// The application's user.
    pub user_id: String,
    /// Mode of the change.
    pub livemode: bool,
    /// The user's full state after the change (JSON).
    pub state: Json,
    /// Commit time.
    pub committed_at: DateTimeUtc,
    /// The W3C `traceparent` of the work that wrote it, when traces are on.
    pub trace_context: Option<String>,
}

/// Standalone table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
