//! Reading Stripe's JSON: ids that may be expanded objects, Unix timestamps, the single
//! subscription item, feature lists.

use chrono::{DateTime, Utc};
use serde_json::Value;

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

/// The first subscription item (caixa sells one price per subscription).
pub fn subscription_item(subscription: &Value) -> &Value {
    &subscription["items"]["data"][0]
}

/// Trimmed, lowercased email: the key for one trial per email.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Feature keys from a product's `features` metadata: comma or space separated.
pub fn metadata_features(product: &Value) -> Vec<String> {
    product["metadata"]["features"]
        .as_str()
        .unwrap_or_default()
        .split([',', ' '])
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The customer an event concerns: its ordering key in the inbox.
pub fn customer_of(object: &Value) -> Option<String> {
    match object["object"].as_str() {
        Some("customer") => id_of(&object["id"]),
        _ => id_of(&object["customer"]),
    }
}
