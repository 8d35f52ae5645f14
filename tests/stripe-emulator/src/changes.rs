//! Changes made to a subscription on request (API or controls) or by the lifecycle:
//! each emits `customer.subscription.updated` with `previous_attributes`, plus the
//! paused/resumed/deleted events Stripe sends alongside.

use serde_json::{Value, json};

use crate::{lifecycle::period_seconds, world::World};

impl World {
    /// Applies `change` to a subscription and emits `customer.subscription.updated` with
    /// `previous_attributes` (and the entitlement summary when access may have changed).
    pub fn update_subscription(&mut self, id: &str, livemode: bool, change: impl FnOnce(&mut Value)) {
        let Some(sub) = self.get_mut(id, livemode) else { return };
        let before = sub.clone();
        change(sub);
        let after = sub.clone();
        let previous = World::diff(&before, &after);
        if previous.as_object().is_some_and(|p| !p.is_empty()) {
            if before["status"] != "paused" && after["status"] == "paused" {
                self.emit("customer.subscription.paused", &after, None);
            }
            if before["status"] == "paused" && after["status"] != "paused" {
                self.emit("customer.subscription.resumed", &after, None);
            }
            self.emit("customer.subscription.updated", &after, Some(previous));
            self.refresh_entitlements(after["customer"].as_str().unwrap_or_default(), livemode);
        }
    }

    /// Sets or clears a cancellation at the end of the current period.
    pub fn set_cancel_at_period_end(&mut self, id: &str, livemode: bool, cancel: bool) {
        let now = self.now();
        self.update_subscription(id, livemode, |s| {
            s["cancel_at_period_end"] = json!(cancel);
            s["canceled_at"] = if cancel { json!(now) } else { Value::Null };
            s["cancel_at"] =
                if cancel { s["items"]["data"][0]["current_period_end"].clone() } else { Value::Null };
        });
    }

    /// Resumes a paused subscription with a new period starting now.
    pub fn resume(&mut self, id: &str, livemode: bool) {
        let now = self.now();
        let price =
            self.get(id, livemode).map(|s| s["items"]["data"][0]["price"].clone()).unwrap_or_default();
        let end = now + period_seconds(&price);
        self.update_subscription(id, livemode, |s| {
            s["status"] = json!("active");
            s["pause_collection"] = Value::Null;
            s["items"]["data"][0]["current_period_start"] = json!(now);
            s["items"]["data"][0]["current_period_end"] = json!(end);
        });
    }

    /// Ends a subscription now.
    pub fn cancel_now(&mut self, id: &str, livemode: bool, reason: &str) {
        let now = self.now();
        let Some(sub) = self.get_mut(id, livemode) else { return };
        if sub["status"] == "canceled" {
            return;
        }
        sub["status"] = json!("canceled");
        sub["ended_at"] = json!(now);
        if sub["canceled_at"].is_null() {
            sub["canceled_at"] = json!(now);
        }
        sub["cancellation_details"]["reason"] = json!(reason);
        let sub = sub.clone();
        self.sims.remove(id);
        self.emit("customer.subscription.deleted", &sub, None);
        self.refresh_entitlements(sub["customer"].as_str().unwrap_or_default(), livemode);
    }
}
