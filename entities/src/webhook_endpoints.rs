//! Webhook endpoints Stripe delivers to.

use sea_orm::entity::prelude::*;

/// One `/stripe/webhook/{id}` endpoint and its signing secrets.
#[derive(Clone, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    /// The uuid in the endpoint's URL.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Stripe id (`we_...`), once registered.
    pub stripe_id: Option<String>,
    /// Mode of the events it accepts.
    pub livemode: bool,
    /// Public URL registered with Stripe.
    pub url: String,
    /// API version events are rendered in.
    pub api_version: Option<String>,
    /// Current signing secret (`whsec_...`).
    pub secret: String,
    /// Previous secret, accepted until `previous_secret_expires_at`.
    pub previous_secret: Option<String>,
    /// End of the rotation window.
    pub previous_secret_expires_at: Option<DateTimeUtc>,
    /// Event types Stripe sends here (JSON array).
    pub enabled_events: Json,
    /// Accepting deliveries.
    pub enabled: bool,
    /// Row creation time.
    pub created_at: DateTimeUtc,
    /// Last row update time.
    pub updated_at: DateTimeUtc,
}

// Written by hand so that secrets can never reach a log through `{:?}`.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("webhook_endpoints::Model")
            .field("id", &self.id)
            .field("stripe_id", &self.stripe_id)
            .field("livemode", &self.livemode)
            .field("url", &self.url)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// Standalone table.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
