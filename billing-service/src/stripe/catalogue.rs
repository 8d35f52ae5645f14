//! The catalogue's objects as billing reads them: products, with the features they grant
//! and the numbers they set on them, and prices.

use std::collections::BTreeMap;

use caixa_types::Limit;
use serde_json::Value;

use super::objects::{id_of, text};

/// The product metadata key prefix that sets a feature's limit: `limits.projects=10`.
pub const LIMIT_PREFIX: &str = "limits.";

/// A product (`prod_...`) with the feature keys it grants.
#[derive(Clone, Debug, PartialEq)]
pub struct Product {
    /// Stripe id.
    pub id: String,
    /// Stripe's livemode flag.
    pub livemode: bool,
    /// Sold now.
    pub active: bool,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// All metadata.
    pub metadata: Value,
    /// Feature keys: the `features` metadata list, the `limits.<feature>` metadata keys,
    /// plus the Stripe Entitlements features attached to the product (added with
    /// [`Product::with_features`]); sorted, unique.
    pub features: Vec<String>,
    /// The numbers set on features: the product's `limits.<feature>` metadata first, then
    /// an Entitlements feature's own `limit` metadata.
    pub limits: BTreeMap<String, Limit>,
}

impl Product {
    /// From Stripe's JSON; features and limits from its metadata only.
    pub fn from_json(object: &Value) -> Self {
        let id = id_of(&object["id"]).unwrap_or_default();
        let limits = metadata_limits(&id, &object["metadata"]);
        let features = metadata_features(object).into_iter().chain(limits.keys().cloned());
        Self {
            livemode: object["livemode"] == true,
            active: object["active"] != false,
            name: object["name"].as_str().unwrap_or_default().to_owned(),
            description: text(&object["description"]),
            metadata: object["metadata"].clone(),
            features: Vec::new(),
            limits: BTreeMap::new(),
            id,
        }
        .with_features(features.map(|f| (f, None)))
        .with_limits(limits)
    }

    /// The product granting `more` features as well, with the limits they carry where
    /// the product's own metadata sets none.
    pub fn with_features(mut self, more: impl IntoIterator<Item = (String, Option<Limit>)>) -> Self {
        for (feature, limit) in more {
            if let Some(limit) = limit {
                self.limits.entry(feature.clone()).or_insert(limit);
            }
            self.features.push(feature);
        }
        self.features.sort();
        self.features.dedup();
        self
    }

    fn with_limits(mut self, limits: BTreeMap<String, Limit>) -> Self {
        self.limits.extend(limits);
        self
    }
}

/// Feature keys from a product's `features` metadata: comma or space separated.
fn metadata_features(product: &Value) -> Vec<String> {
    product["metadata"]["features"]
        .as_str()
        .unwrap_or_default()
        .split([',', ' '])
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Limits from `limits.<feature>` metadata keys. A value that is neither a whole number
/// nor `unlimited` is left out and said in the log, naming the product and the key.
fn metadata_limits(product: &str, metadata: &Value) -> BTreeMap<String, Limit> {
    let Some(metadata) = metadata.as_object() else { return BTreeMap::new() };
    metadata
        .iter()
        .filter_map(|(key, value)| {
            let feature = key.strip_prefix(LIMIT_PREFIX).map(str::trim).filter(|f| !f.is_empty())?;
            parsed(product, key, value).map(|limit| (feature.to_owned(), limit))
        })
        .collect()
}

fn parsed(product: &str, key: &str, value: &Value) -> Option<Limit> {
    let text = value.as_str().unwrap_or_default();
    match text.parse() {
        Ok(limit) => Some(limit),
        Err(error) => {
            tracing::warn!(product, key, %error, "limit left out");
            None
        }
    }
}

/// The Stripe Entitlements features in a list of a product's features
/// (`GET /products/{id}/features`): each lookup key, with the limit its feature's
/// `limit` metadata sets.
pub fn entitlement_features(list: &Value) -> Vec<(String, Option<Limit>)> {
    let Some(items) = list["data"].as_array() else { return Vec::new() };
    items
        .iter()
        .filter_map(|item| {
            let feature = &item["entitlement_feature"];
            let key = text(&feature["lookup_key"])?;
            let limit = feature["metadata"]
                .get("limit")
                .and_then(|value| parsed(feature["id"].as_str().unwrap_or_default(), "limit", value));
            Some((key, limit))
        })
        .collect()
}

/// A price (`price_...`).
#[derive(Clone, Debug, PartialEq)]
pub struct Price {
    /// Stripe id.
    pub id: String,
    /// Stripe's livemode flag.
    pub livemode: bool,
    /// Its product.
    pub product_id: String,
    /// Sold now.
    pub active: bool,
    /// Currency.
    pub currency: String,
    /// Amount in the currency's smallest unit.
    pub unit_amount: Option<i64>,
    /// `day`, `week`, `month`, `year`; `None` for a one-time price.
    pub recurring_interval: Option<String>,
    /// Intervals per period.
    pub recurring_interval_count: Option<i32>,
    /// Lookup key.
    pub lookup_key: Option<String>,
    /// All metadata.
    pub metadata: Value,
}

impl Price {
    /// From Stripe's JSON.
    pub fn from_json(object: &Value) -> Self {
        Self {
            id: id_of(&object["id"]).unwrap_or_default(),
            livemode: object["livemode"] == true,
            product_id: id_of(&object["product"]).unwrap_or_default(),
            active: object["active"] != false,
            currency: object["currency"].as_str().unwrap_or_default().to_owned(),
            unit_amount: object["unit_amount"].as_i64(),
            recurring_interval: text(&object["recurring"]["interval"]),
            recurring_interval_count: object["recurring"]["interval_count"]
                .as_i64()
                .and_then(|c| i32::try_from(c).ok()),
            lookup_key: text(&object["lookup_key"]),
            metadata: object["metadata"].clone(),
        }
    }
}
