//! The one-trial-per-user ledger.

use sea_orm::entity::prelude::*;

/// A trial reserved at checkout or confirmed by Stripe. Unique per user id and per normalised email in each mode.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "trial_usage")]
pub struct Model {
    /// Surrogate key.
    #[sea_orm(primary_key)]
    pub id: i64,
    /// Mode the trial was taken in.
    pub livemode: bool,
    /// The application's user.
    pub user_id: String,
    /// Trimmed, lowercased email.
    pub email_normalized: String,
    /// Reserved or confirmed.
    pub state: TrialState,
    /// Checkout session that carries the trial.
    pub checkout_session_id: Option<String>,
    /// Subscription the trial became.
    pub subscription_id: Option<String>,
    /// When the reservation was taken.
    pub reserved_at: DateTimeUtc,
    /// When an unconfirmed reservation lapses (the session's expiry).
    pub reservation_expires_at: Option<DateTimeUtc>,
    /// When Stripe confirmed the trial.
    pub confirmed_at: Option<DateTimeUtc>,
    /// Row creation time.
    pub created_at: DateTimeUtc,
    /// Last row update time.
    pub updated_at: DateTimeUtc,
}

crate::text_enum::text_enum! {
    /// How far a trial in the ledger has come.
    TrialState("String(StringLen::N(16))") {
        /// Held for an open checkout session.
        Reserved = "reserved",
        /// Used: Stripe made the subscription.
        Confirmed = "confirmed",
    }
}

/// Standalone table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
