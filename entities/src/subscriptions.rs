//! Stripe subscriptions.

use sea_orm::entity::prelude::*;

/// A Stripe subscription (`sub_...`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    /// Stripe id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Stripe's livemode flag.
    pub livemode: bool,
    /// Owning customer.
    pub customer_id: String,
    /// The customer's user, copied so access lookups need no join.
    pub user_id: Option<String>,
    /// Stripe status (`trialing`, `active`, `past_due`, ...).
    pub status: String,
    /// Price of the first item.
    pub price_id: Option<String>,
    /// Product of that price.
    pub product_id: Option<String>,
    /// Quantity of the first item.
    pub quantity: i32,
    /// Trial start.
    pub trial_start: Option<DateTimeUtc>,
    /// Trial end.
    pub trial_end: Option<DateTimeUtc>,
    /// Current period start.
    pub current_period_start: Option<DateTimeUtc>,
    /// Current period end.
    pub current_period_end: Option<DateTimeUtc>,
    /// Cancels when the period ends.
    pub cancel_at_period_end: bool,
    /// Scheduled cancellation time.
    pub cancel_at: Option<DateTimeUtc>,
    /// When cancellation was requested.
    pub canceled_at: Option<DateTimeUtc>,
    /// When the subscription ended.
    pub ended_at: Option<DateTimeUtc>,
    /// Start of the current past_due episode (grace runs from here).
    pub past_due_since: Option<DateTimeUtc>,
    /// Latest invoice.
    pub latest_invoice_id: Option<String>,
    /// Stripe metadata.
    pub metadata: Json,
    /// Stripe `created`.
    pub stripe_created: DateTimeUtc,
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
