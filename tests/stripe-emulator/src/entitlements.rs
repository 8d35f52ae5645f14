//! Stripe Entitlements: a customer is entitled to the features of the products it has a
//! live subscription to; a change in that set emits
//! `entitlements.active_entitlement_summary.updated`.

use serde_json::Value;

use crate::{render, world::World};

/// Statuses under which Stripe keeps a customer's entitlements active.
const ENTITLING: &[&str] = &["trialing", "active", "past_due"];

impl World {
    /// The product_feature objects attached to `product`.
    pub fn features_of(&self, product: &str, livemode: bool) -> Vec<Value> {
        self.product_features
            .iter()
            .rev()
            .filter(|(p, _)| p == product)
            .filter_map(|(_, id)| self.get(id, livemode).cloned())
            .collect()
    }

    /// The customer's active entitlements, one per feature.
    pub fn active_entitlements(&self, customer: &str, livemode: bool) -> Vec<Value> {
        let mut features: Vec<Value> = Vec::new();
        let subscriptions = self.subscriptions_of(customer, livemode);
        for sub in subscriptions.iter().filter(|s| ENTITLING.iter().any(|status| s["status"] == *status)) {
            let product = sub["items"]["data"][0]["price"]["product"].as_str().unwrap_or_default();
            for attached in self.features_of(product, livemode) {
                let feature = &attached["entitlement_feature"];
                if !features.iter().any(|f| f["id"] == feature["id"]) {
                    features.push(feature.clone());
                }
            }
        }
        features
            .iter()
            .map(|f| {
                let id = format!("ent_{}", f["id"].as_str().unwrap_or_default().trim_start_matches("feat_"));
                render::active_entitlement(&id, livemode, f)
            })
            .collect()
    }

    /// Emits the summary event when the customer's set of features changed.
    pub fn refresh_entitlements(&mut self, customer: &str, livemode: bool) {
        let entitlements = self.active_entitlements(customer, livemode);
        let mut keys: Vec<String> =
            entitlements.iter().filter_map(|e| e["lookup_key"].as_str().map(str::to_owned)).collect();
        keys.sort();
        let known = self.entitled.get(customer).cloned().unwrap_or_default();
        if keys == known {
            return;
        }
        self.entitled.insert(customer.to_owned(), keys);
        let summary = render::entitlement_summary(customer, livemode, entitlements);
        self.emit("entitlements.active_entitlement_summary.updated", &summary, None);
    }
}
