//! Stripe customers, linked to the application's users.

use sea_orm::entity::prelude::*;

/// A Stripe customer (`cus_...`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    /// Stripe id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Stripe's livemode flag.
    pub livemode: bool,
    /// The application's user, once linked (a user may have several); cleared when the customer
    /// is deleted or linked to another user.
    pub user_id: Option<String>,
    /// The user it was linked to before it was deleted or re-linked (history).
    pub former_user_id: Option<String>,
    /// Email as Stripe has it.
    pub email: Option<String>,
    /// Trimmed, lowercased email, for trial eligibility.
    pub email_normalized: Option<String>,
    /// Customer name.
    pub name: Option<String>,
    /// Deleted in Stripe.
    pub deleted: bool,
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
