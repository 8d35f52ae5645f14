//! How subscriptions live: checkout completion, trials that end, renewals, failed
//! payments and their retries, cancellation, pause and resume. Every transition emits
//! the events Stripe emits for it.

use serde_json::{Value, json};

use crate::{
    error::{ApiResult, StripeError},
    render,
    world::{AfterRetries, World},
};

const DAY: i64 = 86_400;
/// Stripe sends `trial_will_end` three days before a trial ends.
const TRIAL_WILL_END_NOTICE: i64 = 3 * DAY;

/// Simulation state of one subscription that Stripe does not show.
#[derive(Debug, Default, Clone)]
pub struct SubSim {
    pub trial_will_end_sent: bool,
    /// When the first payment of the current failure episode failed.
    pub failing_since: Option<i64>,
    pub retry_at: Option<i64>,
    pub retries_done: usize,
}

/// Length of one billing period (months are 30 days, years 365, in the emulator).
pub fn period_seconds(price: &Value) -> i64 {
    let count = price["recurring"]["interval_count"].as_i64().unwrap_or(1).max(1);
    let unit = match price["recurring"]["interval"].as_str() {
        Some("day") => DAY,
        Some("week") => 7 * DAY,
        Some("year") => 365 * DAY,
        _ => 30 * DAY,
    };
    unit * count
}

impl World {
    /// Completes an open Checkout Session as if the customer paid (or started a trial).
    pub fn complete_checkout(
        &mut self,
        session_id: &str,
        livemode: bool,
        promotion_code: Option<&str>,
    ) -> ApiResult<Value> {
        let session = self
            .get(session_id, livemode)
            .cloned()
            .ok_or_else(|| StripeError::no_such("checkout session", session_id, "session"))?;
        if session["status"] != "open" {
            return Err(StripeError::invalid(
                "session",
                format!("This Checkout Session is {}.", session["status"].as_str().unwrap_or("")),
            ));
        }
        let extras = self.checkout_extras.get(session_id).cloned().unwrap_or(Value::Null);
        let price_id = extras["price"].as_str().unwrap_or_default();
        let price = self
            .get(price_id, livemode)
            .cloned()
            .ok_or_else(|| StripeError::no_such("price", price_id, "price"))?;
        // A code is checked before anything is made: a refused one leaves the session open.
        let trial_days = extras["trial_days"].as_i64().unwrap_or(0);
        let quantity = extras["quantity"].as_i64().unwrap_or(1);
        let full = if trial_days > 0 { 0 } else { price["unit_amount"].as_i64().unwrap_or(0) * quantity };
        let (discount, discounts) = match promotion_code.filter(|c| !c.is_empty()) {
            Some(code) => self.redeem(&session, code, full)?,
            None => (0, json!([])),
        };
        let customer_id = match session["customer"].as_str() {
            Some(id) => id.to_owned(),
            None => {
                let id = self.new_id("cus");
                let params = json!({ "email": session["customer_email"] });
                let customer = self.insert(render::customer(&id, livemode, self.now(), &params));
                self.emit("customer.created", &customer, None);
                id
            }
        };
        if trial_days == 0 && self.payment_fails(&customer_id) {
            return Err(StripeError::card_declined());
        }
        let now = self.now();
        let sub_id = self.new_id("sub");
        let end = if trial_days > 0 { now + trial_days * DAY } else { now + period_seconds(&price) };
        let mut item = render::subscription_item(&self.new_id("si"), &sub_id, now, &price, (now, end));
        item["quantity"] = json!(quantity);
        let mut sub =
            render::subscription(&sub_id, livemode, now, &customer_id, item, extras["metadata"].clone());
        if trial_days > 0 {
            sub["status"] = json!("trialing");
            sub["trial_start"] = json!(now);
            sub["trial_end"] = json!(end);
        }
        let amount = full - discount;
        if !discounts.as_array().is_none_or(Vec::is_empty) {
            sub["discounts"] = json!([self.new_id("di")]);
        }
        let invoice = self.new_invoice(&sub, amount, "subscription_create", (now, end));
        sub["latest_invoice"] = invoice["id"].clone();
        self.sims.insert(sub_id.clone(), SubSim::default());
        let sub = self.insert(sub);
        self.emit("customer.subscription.created", &sub, None);
        self.settle_invoice(&invoice["id"], livemode, true);
        let email = self.get(&customer_id, livemode).map(|c| c["email"].clone()).unwrap_or(Value::Null);
        let completed = {
            let session = self
                .get_mut(session_id, livemode)
                .ok_or_else(|| StripeError::no_such("checkout session", session_id, "session"))?;
            session["status"] = json!("complete");
            session["discounts"] = discounts;
            session["amount_total"] = json!(amount);
            session["total_details"]["amount_discount"] = json!(discount);
            session["payment_status"] = json!(if amount == 0 { "no_payment_required" } else { "paid" });
            session["customer"] = json!(customer_id);
            session["subscription"] = json!(sub_id);
            session["invoice"] = invoice["id"].clone();
            session["customer_details"] = json!({ "email": email, "name": null, "phone": null, "address": null,
                "tax_exempt": "none", "tax_ids": [], "business_name": null, "individual_name": null });
            session.clone()
        };
        self.emit("checkout.session.completed", &completed, None);
        self.refresh_entitlements(&customer_id, livemode);
        Ok(completed)
    }

    /// Moves the clock to `target`, running every transition that falls due on the way,
    /// in time order.
    pub fn advance_to(&mut self, target: i64) {
        while let Some((at, sub_id, action)) = self.next_due(target) {
            self.set_now(at);
            self.run(&sub_id, action);
        }
        self.set_now(target);
    }

    fn next_due(&self, target: i64) -> Option<(i64, String, Action)> {
        let mut due: Vec<(i64, String, Action)> = Vec::new();
        for (id, sim) in &self.sims {
            let Some(sub) = self.get_any(id) else { continue };
            let period_end = sub["items"]["data"][0]["current_period_end"].as_i64().unwrap_or(i64::MAX);
            match sub["status"].as_str() {
                Some("trialing") => {
                    let trial_end = sub["trial_end"].as_i64().unwrap_or(i64::MAX);
                    if !sim.trial_will_end_sent
                        && trial_end - TRIAL_WILL_END_NOTICE > sub["created"].as_i64().unwrap_or(0)
                    {
                        due.push((trial_end - TRIAL_WILL_END_NOTICE, id.clone(), Action::TrialWillEnd));
                    }
                    due.push((trial_end, id.clone(), Action::Renew));
                }
                Some("active") => due.push((period_end, id.clone(), Action::Renew)),
                Some("past_due") => {
                    if let Some(at) = sim.retry_at {
                        due.push((at, id.clone(), Action::Retry));
                    }
                }
                _ => {}
            }
        }
        due.into_iter().filter(|(at, _, _)| *at <= target).min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)))
    }

    fn run(&mut self, sub_id: &str, action: Action) {
        let Some(sub) = self.get_any(sub_id).cloned() else { return };
        let livemode = sub["livemode"].as_bool().unwrap_or(false);
        match action {
            Action::TrialWillEnd => {
                if let Some(sim) = self.sims.get_mut(sub_id) {
                    sim.trial_will_end_sent = true;
                }
                self.emit("customer.subscription.trial_will_end", &sub, None);
            }
            Action::Renew if sub["cancel_at_period_end"] == true => {
                self.cancel_now(sub_id, livemode, "cancellation_requested")
            }
            Action::Renew => {
                let price = sub["items"]["data"][0]["price"].clone();
                let start = self.now();
                let period = (start, start + period_seconds(&price));
                let paid = self.charge(&sub, "subscription_cycle", period);
                self.update_subscription(sub_id, livemode, |s| {
                    s["items"]["data"][0]["current_period_start"] = json!(period.0);
                    s["items"]["data"][0]["current_period_end"] = json!(period.1);
                    s["status"] = json!(if paid { "active" } else { "past_due" });
                });
            }
            Action::Retry => {
                let period = (
                    sub["items"]["data"][0]["current_period_start"].as_i64().unwrap_or(0),
                    sub["items"]["data"][0]["current_period_end"].as_i64().unwrap_or(0),
                );
                if self.charge(&sub, "subscription_cycle", period) {
                    self.update_subscription(sub_id, livemode, |s| s["status"] = json!("active"));
                } else if self.sims.get(sub_id).is_some_and(|s| s.retry_at.is_none()) {
                    match self.controls.after_retries {
                        AfterRetries::Cancel => self.cancel_now(sub_id, livemode, "payment_failed"),
                        AfterRetries::MarkUnpaid => {
                            self.update_subscription(sub_id, livemode, |s| s["status"] = json!("unpaid"))
                        }
                    }
                }
            }
        }
    }

    /// Charges one period; on failure schedules the next retry (or none when the retry
    /// schedule is used up). Returns whether the payment succeeded.
    fn charge(&mut self, sub: &Value, reason: &str, period: (i64, i64)) -> bool {
        let item = &sub["items"]["data"][0];
        let amount =
            item["price"]["unit_amount"].as_i64().unwrap_or(0) * item["quantity"].as_i64().unwrap_or(1);
        let invoice = self.new_invoice(sub, amount, reason, period);
        let sub_id = sub["id"].as_str().unwrap_or_default().to_owned();
        if let Some(s) = self.get_mut(&sub_id, sub["livemode"].as_bool().unwrap_or(false)) {
            s["latest_invoice"] = invoice["id"].clone();
        }
        let paid = !self.payment_fails(sub["customer"].as_str().unwrap_or_default());
        self.settle_invoice(&invoice["id"], sub["livemode"].as_bool().unwrap_or(false), paid);
        let now = self.now();
        let retry_days = self.controls.retry_days.clone();
        if let Some(sim) = self.sims.get_mut(&sub_id) {
            if paid {
                *sim = SubSim { trial_will_end_sent: true, ..SubSim::default() };
            } else {
                // Retry days count from the first failure, like Stripe's retry schedule.
                let since = *sim.failing_since.get_or_insert(now);
                sim.retry_at = retry_days.get(sim.retries_done).map(|days| since + days * DAY);
                sim.retries_done += 1;
            }
        }
        paid
    }

    /// Whether the next payment of `customer` fails (consuming a one-shot failure).
    fn payment_fails(&mut self, customer: &str) -> bool {
        if self.controls.declining_customers.contains(customer) {
            return true;
        }
        if self.controls.fail_next_payments > 0 {
            self.controls.fail_next_payments -= 1;
            return true;
        }
        false
    }

    fn new_invoice(&mut self, sub: &Value, amount: i64, reason: &str, period: (i64, i64)) -> Value {
        let invoice = render::invoice(&self.new_id("in"), sub, self.now(), amount, reason, period);
        self.insert(invoice)
    }

    /// Marks an invoice paid or failed and emits the matching events.
    fn settle_invoice(&mut self, id: &Value, livemode: bool, paid: bool) {
        let now = self.now();
        let Some(invoice) = self.get_mut(id.as_str().unwrap_or_default(), livemode) else { return };
        settle(invoice, paid, now);
        let invoice = invoice.clone();
        self.emit_settled(&invoice, paid);
    }

    fn emit_settled(&mut self, invoice: &Value, paid: bool) {
        if paid {
            self.emit("invoice.paid", invoice, None);
            self.emit("invoice.payment_succeeded", invoice, None);
        } else {
            self.emit("invoice.payment_failed", invoice, None);
        }
    }
}

fn settle(invoice: &mut Value, paid: bool, now: i64) {
    invoice["attempted"] = json!(true);
    invoice["attempt_count"] = json!(invoice["attempt_count"].as_i64().unwrap_or(0) + 1);
    if paid {
        invoice["status"] = json!("paid");
        invoice["amount_paid"] = invoice["amount_due"].clone();
        invoice["amount_remaining"] = json!(0);
        invoice["status_transitions"]["paid_at"] = json!(now);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    TrialWillEnd,
    Renew,
    Retry,
}
