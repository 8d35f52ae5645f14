//! Stripe subscriptions.

use caixa_proto::billing::v1::SubscriptionStatus;
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
    /// Stripe's status.
    pub status: Status,
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

crate::text_enum::text_enum! {
    /// A Stripe subscription's status, spelled as Stripe spells it.
    Status("String(StringLen::N(32))") {
        /// First payment not made yet.
        Incomplete = "incomplete",
        /// First payment never made.
        IncompleteExpired = "incomplete_expired",
        /// In its free trial.
        Trialing = "trialing",
        /// Paid.
        Active = "active",
        /// A renewal payment failed; Stripe is retrying.
        PastDue = "past_due",
        /// Ended.
        Canceled = "canceled",
        /// Retries exhausted without payment.
        Unpaid = "unpaid",
        /// Paused (a trial that ended without a payment method, or paused collection).
        Paused = "paused",
    }
}

/// No declared relations: Stripe objects may arrive in any order.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

impl Status {
    /// The proto enum: the column stores Stripe's names, read through the one table.
    pub fn to_proto(self) -> SubscriptionStatus {
        caixa_types::status_from_stripe(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_keeps_stripes_spelling_and_maps_to_the_proto_and_back() {
        for status in Status::ALL {
            assert_eq!(status.as_str().parse::<Status>(), Ok(*status));
            // Every column value is one of Stripe's names in the one table.
            assert_ne!(status.to_proto(), SubscriptionStatus::Unspecified, "{status:?}");
            assert_eq!(caixa_types::stripe_name(status.to_proto()), Some(status.as_str()));
        }
        assert_eq!(Status::PastDue.as_str(), "past_due");
        assert!("frozen".parse::<Status>().unwrap_err().contains("frozen"));
    }
}
