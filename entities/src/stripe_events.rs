//! The durable inbox of verified Stripe events.

use sea_orm::entity::prelude::*;

/// One Stripe event (`evt_...`), stored before it is acknowledged.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stripe_events")]
pub struct Model {
    /// Stripe event id; a repeated delivery is a no-op.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Stripe's livemode flag.
    pub livemode: bool,
    /// Event type, e.g. `customer.subscription.updated`.
    pub event_type: String,
    /// API version the event was rendered in.
    pub api_version: Option<String>,
    /// Stripe `created`.
    pub stripe_created: DateTimeUtc,
    /// Id of `data.object`.
    pub object_id: Option<String>,
    /// Customer the event concerns; events of one customer apply in order.
    pub customer_id: Option<String>,
    /// Endpoint that received it.
    pub endpoint_id: Option<Uuid>,
    /// The raw body as received and verified.
    pub payload: String,
    /// Where the event is in its processing.
    pub status: InboxStatus,
    /// Processing attempts so far.
    pub attempts: i32,
    /// Earliest time of the next attempt.
    pub next_attempt_at: DateTimeUtc,
    /// Worker holding the claim.
    pub locked_by: Option<String>,
    /// When the claim lapses.
    pub locked_until: Option<DateTimeUtc>,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// When the bridge stored it.
    pub received_at: DateTimeUtc,
    /// When processing finished.
    pub processed_at: Option<DateTimeUtc>,
    /// Row creation time.
    pub created_at: DateTimeUtc,
    /// Last row update time.
    pub updated_at: DateTimeUtc,
    /// The W3C `traceparent` of the delivery that stored it, when traces are on.
    pub trace_context: Option<String>,
}

crate::text_enum::text_enum! {
    /// Where an inbox event is: waiting, being applied, done, or given up on.
    InboxStatus("String(StringLen::N(16))") {
        /// Stored by the bridge, not yet attempted.
        Received = "received",
        /// Claimed by a worker whose lease has not lapsed.
        Processing = "processing",
        /// Failed; due again at `next_attempt_at`.
        Retry = "retry",
        /// Applied.
        Processed = "processed",
        /// A kind billing does not act on.
        Ignored = "ignored",
        /// Failed too often; waits for an operator's replay.
        Dead = "dead",
    }
}

impl InboxStatus {
    /// Still to be applied (waiting, due for a retry, or claimed).
    pub const PENDING: [InboxStatus; 3] =
        [InboxStatus::Received, InboxStatus::Retry, InboxStatus::Processing];
    /// Waiting for a worker: not yet attempted, or due again after a failure.
    pub const WAITING: [InboxStatus; 2] = [InboxStatus::Received, InboxStatus::Retry];
}

/// Standalone table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inbox_statuses_keep_their_stored_spelling() {
        let stored: Vec<&str> = InboxStatus::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(stored, ["received", "processing", "retry", "processed", "ignored", "dead"]);
        assert!(
            InboxStatus::PENDING
                .iter()
                .all(|s| !matches!(s, InboxStatus::Processed | InboxStatus::Ignored | InboxStatus::Dead))
        );
        assert_eq!(InboxStatus::Dead, "dead");
    }
}
