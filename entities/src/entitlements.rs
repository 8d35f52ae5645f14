//! Current entitlement state per user.

use sea_orm::entity::prelude::*;

/// A user's full access-relevant state at its latest revision.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "entitlements")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The application's user.
    pub user_id: String,
    /// Mode the state was computed in.
    pub livemode: bool,
    /// Revision of the latest change.
    pub revision: i64,
    /// Every subscription snapshot of the user (JSON).
    pub state: Json,
    /// Row creation time.
    pub created_at: DateTimeUtc,
    /// Last row update time.
    pub updated_at: DateTimeUtc,
}

/// Standalone table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
