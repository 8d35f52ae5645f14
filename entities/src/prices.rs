//! Stripe prices.

use sea_orm::entity::prelude::*;

/// A Stripe price (`price_...`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "prices")]
pub struct Model {
    /// Stripe id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Stripe's livemode flag.
    pub livemode: bool,
    /// Product this price belongs to.
    pub product_id: String,
    /// Available for new subscriptions.
    pub active: bool,
    /// ISO currency code, lowercase.
    pub currency: String,
    /// Amount in the currency's smallest unit.
    pub unit_amount: Option<i64>,
    /// `day`, `week`, `month` or `year` for recurring prices.
    pub recurring_interval: Option<String>,
    /// Number of intervals per period.
    pub recurring_interval_count: Option<i32>,
    /// Stripe lookup key.
    pub lookup_key: Option<String>,
    /// Stripe metadata.
    pub metadata: Json,
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
