//! Stripe products, with the features they grant.

use sea_orm::entity::prelude::*;

/// A Stripe product (`prod_...`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "products")]
pub struct Model {
    /// Stripe id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Stripe's livemode flag.
    pub livemode: bool,
    /// Available for new subscriptions.
    pub active: bool,
    /// Display name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Feature lookup keys granted (JSON array of strings).
    pub features: Json,
    /// Stripe metadata.
    pub metadata: Json,
    /// Numbers set on features (JSON object: feature to a whole number or `"unlimited"`).
    pub limits: Json,
    /// Stripe time of the data this row reflects.
    pub as_of: DateTimeUtc,
    /// Row creation time.
    pub created_at: DateTimeUtc,
    /// Last row update time.
    pub updated_at: DateTimeUtc,
}

/// No declared relations: Stripe objects may arrive in any order.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
