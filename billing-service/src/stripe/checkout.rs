//! Checkout Sessions as billing reads them.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::objects::{Subscription, id_of, metadata_user, text, timestamp};

/// Where a Checkout Session stands: the stored enum, so that what Stripe says and what
/// `checkout_sessions` holds are one type.
pub use caixa_entities::checkout_sessions::SessionState as SessionStatus;

/// A Checkout Session (`cs_...`).
#[derive(Clone, Debug, PartialEq)]
pub struct CheckoutSession {
    /// Stripe id.
    pub id: String,
    /// Stripe's livemode flag.
    pub livemode: bool,
    /// Where it stands; `None` when Stripe did not say.
    pub status: Option<SessionStatus>,
    /// The user it was opened for (`client_reference_id`, else `metadata.user_id`).
    pub user_id: Option<String>,
    /// Its customer.
    pub customer_id: Option<String>,
    /// The email the user gave (`customer_details.email`, else `customer_email`).
    pub email: Option<String>,
    /// The subscription it made.
    pub subscription_id: Option<String>,
    /// That subscription, when the session was fetched with it expanded.
    pub subscription: Option<Subscription>,
    /// The hosted page.
    pub url: Option<String>,
    /// When it lapses unused.
    pub expires_at: Option<DateTime<Utc>>,
}

impl CheckoutSession {
    /// From Stripe's JSON.
    pub fn from_json(object: &Value) -> Self {
        let status = match object["status"].as_str() {
            Some("open") => Some(SessionStatus::Open),
            Some("complete") => Some(SessionStatus::Complete),
            Some("expired") => Some(SessionStatus::Expired),
            _ => None,
        };
        Self {
            id: id_of(&object["id"]).unwrap_or_default(),
            livemode: object["livemode"] == true,
            status,
            user_id: text(&object["client_reference_id"]).or_else(|| metadata_user(object)),
            customer_id: id_of(&object["customer"]),
            email: text(&object["customer_details"]["email"]).or_else(|| text(&object["customer_email"])),
            subscription_id: id_of(&object["subscription"]),
            subscription: object["subscription"]
                .is_object()
                .then(|| Subscription::from_json(&object["subscription"])),
            url: text(&object["url"]),
            expires_at: timestamp(&object["expires_at"]),
        }
    }
}
