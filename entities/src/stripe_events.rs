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
    /// `received`, `processing`, `processed`, `ignored` or `dead`.
    pub status: String,
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
}

/// Standalone table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
