//! Stripe's objects as billing reads them, parsed once from Stripe's JSON (a refetched
//! object or an event's payload alike). Parsing is lenient on purpose: a field that a newer
//! API version adds or drops must never block an apply, so what is missing becomes `None`.

use caixa_entities::subscriptions::Status;
use chrono::{DateTime, Utc};
use serde_json::Value;

pub use super::catalogue::{Price, Product, entitlement_features};
pub use super::checkout::{CheckoutSession, SessionStatus};
use super::keys::{PRIMARY, UserKeys};

/// The id in a field that holds either an id or an expanded object.
pub fn id_of(value: &Value) -> Option<String> {
    match value {
        Value::String(id) if !id.is_empty() => Some(id.clone()),
        Value::Object(object) => object.get("id").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// A Unix-seconds field as a time.
pub fn timestamp(value: &Value) -> Option<DateTime<Utc>> {
    value.as_i64().and_then(|seconds| DateTime::from_timestamp(seconds, 0))
}

pub(super) fn text(value: &Value) -> Option<String> {
    value.as_str().map(str::to_owned)
}

/// The user a Stripe object names in `metadata.user_id` (set by billing at checkout).
pub(super) fn metadata_user(object: &Value) -> Option<String> {
    text(&object["metadata"]["user_id"])
}

/// A customer (`cus_...`).
#[derive(Clone, Debug, PartialEq)]
pub struct Customer {
    /// Stripe id.
    pub id: String,
    /// Stripe's livemode flag.
    pub livemode: bool,
    /// Deleted at Stripe (a deleted customer keeps only its id).
    pub deleted: bool,
    /// Email as given.
    pub email: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// The user its metadata names under the first of the link keys set.
    pub user_id: Option<String>,
    /// Whether that key is another than billing's own `user_id`: the link is then copied
    /// to `metadata.user_id` at Stripe, so that both apps agree during a dual run.
    pub named_by_other_key: bool,
    /// All metadata.
    pub metadata: Value,
    /// Stripe `created`.
    pub created: Option<DateTime<Utc>>,
}

impl Customer {
    /// From Stripe's JSON, its user named by the first of `keys` set in its metadata.
    pub fn from_json(object: &Value, keys: &UserKeys) -> Self {
        let (user_id, named_by_other_key) = match keys.user_of(&object["metadata"]) {
            Some((user, key)) => (Some(user), key != PRIMARY),
            None => (None, false),
        };
        Self {
            id: id_of(&object["id"]).unwrap_or_default(),
            livemode: object["livemode"] == true,
            deleted: object["deleted"] == true,
            email: text(&object["email"]),
            name: text(&object["name"]),
            user_id,
            named_by_other_key,
            metadata: object["metadata"].clone(),
            created: timestamp(&object["created"]),
        }
    }
}

/// A subscription (`sub_...`), reduced to its first item: billing sells one price per
/// subscription.
#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    /// Stripe id.
    pub id: String,
    /// Stripe's livemode flag.
    pub livemode: bool,
    /// Owning customer.
    pub customer_id: String,
    /// Status; a missing or unknown one reads as `incomplete` (grants nothing).
    pub status: Status,
    /// Price of the first item.
    pub price_id: Option<String>,
    /// Product of that price.
    pub product_id: Option<String>,
    /// Quantity of the first item.
    pub quantity: i32,
    /// Trial start.
    pub trial_start: Option<DateTime<Utc>>,
    /// Trial end.
    pub trial_end: Option<DateTime<Utc>>,
    /// Current period start (the item's, or the subscription's in older API versions).
    pub current_period_start: Option<DateTime<Utc>>,
    /// Current period end.
    pub current_period_end: Option<DateTime<Utc>>,
    /// Cancels at period end.
    pub cancel_at_period_end: bool,
    /// Scheduled cancellation.
    pub cancel_at: Option<DateTime<Utc>>,
    /// When cancellation was requested.
    pub canceled_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// Latest invoice.
    pub latest_invoice_id: Option<String>,
    /// `metadata.user_id`.
    pub user_id: Option<String>,
    /// All metadata.
    pub metadata: Value,
    /// Stripe `created`.
    pub created: Option<DateTime<Utc>>,
}

impl Subscription {
    /// From Stripe's JSON.
    pub fn from_json(object: &Value) -> Self {
        let item = &object["items"]["data"][0];
        let status = object["status"].as_str().unwrap_or("incomplete");
        let status = status.parse().unwrap_or_else(|_| {
            tracing::warn!(status, "unknown subscription status; treated as incomplete");
            Status::Incomplete
        });
        Self {
            id: id_of(&object["id"]).unwrap_or_default(),
            livemode: object["livemode"] == true,
            customer_id: id_of(&object["customer"]).unwrap_or_default(),
            status,
            price_id: id_of(&item["price"]),
            product_id: id_of(&item["price"]["product"]),
            quantity: item["quantity"].as_i64().and_then(|q| i32::try_from(q).ok()).unwrap_or(1),
            trial_start: timestamp(&object["trial_start"]),
            trial_end: timestamp(&object["trial_end"]),
            current_period_start: timestamp(&item["current_period_start"])
                .or_else(|| timestamp(&object["current_period_start"])),
            current_period_end: timestamp(&item["current_period_end"])
                .or_else(|| timestamp(&object["current_period_end"])),
            cancel_at_period_end: object["cancel_at_period_end"] == true,
            cancel_at: timestamp(&object["cancel_at"]),
            canceled_at: timestamp(&object["canceled_at"]),
            ended_at: timestamp(&object["ended_at"]),
            latest_invoice_id: id_of(&object["latest_invoice"]),
            user_id: metadata_user(object),
            metadata: object["metadata"].clone(),
            created: timestamp(&object["created"]),
        }
    }
}

/// A Stripe object billing keeps.
#[derive(Clone, Debug, PartialEq)]
pub enum StripeObject {
    /// A customer (possibly deleted).
    Customer(Customer),
    /// A subscription.
    Subscription(Subscription),
    /// A Checkout Session, its subscription inside when expanded.
    CheckoutSession(CheckoutSession),
    /// A product with its features.
    Product(Product),
    /// A price.
    Price(Price),
    /// No object: the subscribers of this customer are recomputed.
    Subscribers(String),
}

impl StripeObject {
    /// The Stripe id it is about.
    pub fn id(&self) -> &str {
        match self {
            Self::Customer(c) => &c.id,
            Self::Subscription(s) => &s.id,
            Self::CheckoutSession(s) => &s.id,
            Self::Product(p) => &p.id,
            Self::Price(p) => &p.id,
            Self::Subscribers(customer) => customer,
        }
    }
}

#[cfg(test)]
mod tests;
