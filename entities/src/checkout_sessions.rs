//! The Checkout Sessions billing opened.

use sea_orm::entity::prelude::*;

/// A session billing opened for a user, with what Stripe last said of it.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "checkout_sessions")]
pub struct Model {
    /// `cs_...`.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Mode it was opened in.
    pub livemode: bool,
    /// The user it was opened for.
    pub user_id: String,
    /// The customer it bills.
    pub customer_id: String,
    /// Open, complete or expired.
    pub status: SessionState,
    /// When Stripe expires it unless it completes first.
    pub expires_at: Option<DateTimeUtc>,
    /// Row creation time.
    pub created_at: DateTimeUtc,
    /// Last row update time.
    pub updated_at: DateTimeUtc,
}

crate::text_enum::text_enum! {
    /// Where a Checkout Session stands, in Stripe's words.
    SessionState("String(StringLen::N(16))") {
        /// The user may still pay.
        Open = "open",
        /// Paid (or set up): its subscription exists.
        Complete = "complete",
        /// Closed without completing.
        Expired = "expired",
    }
}

/// Standalone table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
