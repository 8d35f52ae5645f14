//! Stripe objects, each built from Stripe's own example in `fixtures/fixtures3.json` with
//! the emulator's values laid over it, so every field Stripe sends is present and the
//! example's placeholder values never leak into a fresh object.

use std::sync::OnceLock;

use serde_json::{Value, json};

static FIXTURES: OnceLock<Value> = OnceLock::new();

fn template(resource: &str) -> Value {
    let fixtures = FIXTURES.get_or_init(|| {
        serde_json::from_str(include_str!("../fixtures/fixtures3.json")).unwrap_or(Value::Null)
    });
    fixtures["resources"][resource].clone()
}

/// The fixture for `resource` with the top-level fields of `fields` replacing its own.
fn build(resource: &str, fields: Value) -> Value {
    let mut object = template(resource);
    if let (Some(object), Value::Object(fields)) = (object.as_object_mut(), fields) {
        object.extend(fields);
    }
    object
}

pub fn customer(id: &str, livemode: bool, created: i64, params: &Value) -> Value {
    build(
        "customer",
        json!({
            "id": id, "livemode": livemode, "created": created,
            "email": params["email"], "name": params["name"], "phone": params["phone"],
            "description": params["description"],
            "metadata": params.get("metadata").cloned().unwrap_or(json!({})),
            "address": null, "currency": null, "discount": null, "shipping": null,
            "invoice_prefix": id.trim_start_matches("cus_")[..8].to_uppercase(),
        }),
    )
}

pub fn deleted_customer(id: &str, livemode: bool) -> Value {
    json!({ "id": id, "object": "customer", "deleted": true, "livemode": livemode })
}

pub fn product(
    id: &str,
    livemode: bool,
    created: i64,
    name: &str,
    description: &Value,
    metadata: Value,
) -> Value {
    build(
        "product",
        json!({
            "id": id, "livemode": livemode, "created": created, "updated": created, "name": name,
            "description": description, "metadata": metadata, "default_price": null,
            "package_dimensions": null, "type": "service",
        }),
    )
}

/// A recurring price (`interval` set) or a one-time price.
pub fn price(id: &str, livemode: bool, created: i64, p: &PriceSpec) -> Value {
    let recurring = p.interval.as_ref().map(|interval| {
        json!({ "interval": interval, "interval_count": p.interval_count, "meter": null,
                "usage_type": "licensed", "trial_period_days": null })
    });
    build(
        "price",
        json!({
            "id": id, "livemode": livemode, "created": created, "active": p.active,
            "product": p.product, "currency": p.currency, "unit_amount": p.unit_amount,
            "unit_amount_decimal": p.unit_amount.to_string(), "recurring": recurring,
            "type": if p.interval.is_some() { "recurring" } else { "one_time" },
            "lookup_key": p.lookup_key, "nickname": p.nickname, "metadata": p.metadata,
            "custom_unit_amount": null, "transform_quantity": null,
        }),
    )
}

/// What a price is made of.
pub struct PriceSpec {
    pub product: String,
    pub currency: String,
    pub unit_amount: i64,
    pub interval: Option<String>,
    pub interval_count: i64,
    pub active: bool,
    pub lookup_key: Value,
    pub nickname: Value,
    pub metadata: Value,
}

pub fn feature(id: &str, livemode: bool, name: &str, lookup_key: &str, metadata: Value) -> Value {
    build(
        "entitlements.feature",
        json!({ "id": id, "livemode": livemode, "name": name, "lookup_key": lookup_key,
                "metadata": metadata, "active": true }),
    )
}

pub fn product_feature(id: &str, livemode: bool, feature: Value) -> Value {
    build("product_feature", json!({ "id": id, "livemode": livemode, "entitlement_feature": feature }))
}

pub fn active_entitlement(id: &str, livemode: bool, feature: &Value) -> Value {
    build(
        "entitlements.active_entitlement",
        json!({ "id": id, "livemode": livemode, "feature": feature["id"], "lookup_key": feature["lookup_key"] }),
    )
}

pub fn entitlement_summary(customer: &str, livemode: bool, entitlements: Vec<Value>) -> Value {
    json!({
        "object": "entitlements.active_entitlement_summary", "customer": customer, "livemode": livemode,
        "entitlements": { "object": "list", "data": entitlements, "has_more": false,
                          "url": "/v1/entitlements/active_entitlements" },
    })
}

pub fn subscription_item(id: &str, sub: &str, created: i64, price: &Value, period: (i64, i64)) -> Value {
    build(
        "subscription_item",
        json!({
            "id": id, "subscription": sub, "created": created, "price": price, "quantity": 1,
            "current_period_start": period.0, "current_period_end": period.1,
            "billing_thresholds": null, "metadata": {}, "plan": plan_of(price),
        }),
    )
}

/// The legacy `plan` view of a recurring price, which Stripe still sends.
fn plan_of(price: &Value) -> Value {
    json!({
        "id": price["id"], "object": "plan", "active": price["active"], "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"], "billing_scheme": "per_unit",
        "created": price["created"], "currency": price["currency"],
        "interval": price["recurring"]["interval"], "interval_count": price["recurring"]["interval_count"],
        "livemode": price["livemode"], "metadata": price["metadata"], "meter": null,
        "nickname": price["nickname"], "product": price["product"], "tiers_mode": null,
        "transform_usage": null, "trial_period_days": null, "usage_type": "licensed",
    })
}

pub fn subscription(
    id: &str,
    livemode: bool,
    created: i64,
    customer: &str,
    item: Value,
    metadata: Value,
) -> Value {
    build(
        "subscription",
        json!({
            "id": id, "livemode": livemode, "created": created, "start_date": created,
            "billing_cycle_anchor": created, "billing_cycle_anchor_config": null,
            "customer": customer, "currency": item["price"]["currency"], "metadata": metadata,
            "items": { "object": "list", "data": [item], "has_more": false, "total_count": 1,
                       "url": format!("/v1/subscription_items?subscription={id}") },
            "status": "active", "cancel_at": null, "canceled_at": null, "cancel_at_period_end": false,
            "ended_at": null, "trial_start": null, "trial_end": null, "latest_invoice": null,
            "next_pending_invoice_item_invoice": null, "pause_collection": null, "pending_update": null,
            "pending_invoice_item_interval": null, "transfer_data": null, "billing_thresholds": null,
            "managed_payments": null, "billing_schedules": [], "test_clock": null,
            "cancellation_details": { "comment": null, "feedback": null, "reason": null },
            "trial_settings": { "end_behavior": { "missing_payment_method": "create_invoice" } },
        }),
    )
}

/// An invoice for one period of a subscription; `paid` decides its status.
pub fn invoice(id: &str, sub: &Value, now: i64, amount: i64, reason: &str, period: (i64, i64)) -> Value {
    let item = &sub["items"]["data"][0];
    let line = json!({
        "id": format!("il_{}", &id[3..]), "object": "line_item", "amount": amount,
        "currency": sub["currency"], "description": format!("1 × {}", item["price"]["product"].as_str().unwrap_or("plan")),
        "discount_amounts": [], "discountable": true, "discounts": [], "invoice": id,
        "livemode": sub["livemode"], "metadata": {}, "period": { "start": period.0, "end": period.1 },
        "quantity": 1, "subscription": sub["id"], "pretax_credit_amounts": [], "taxes": [],
        "parent": { "type": "subscription_item_details", "invoice_item_details": null,
                    "subscription_item_details": { "invoice_item": null, "proration": false,
                        "proration_details": { "credited_items": null },
                        "subscription": sub["id"], "subscription_item": item["id"] } },
        "pricing": { "type": "price_details", "unit_amount_decimal": item["price"]["unit_amount_decimal"],
                     "price_details": { "price": item["price"]["id"], "product": item["price"]["product"] } },
        "subtotal": amount, "quantity_decimal": "1",
    });
    build(
        "invoice",
        json!({
            "id": id, "livemode": sub["livemode"], "created": now, "customer": sub["customer"],
            "currency": sub["currency"], "billing_reason": reason, "status": "open",
            "amount_due": amount, "amount_paid": 0, "amount_remaining": amount, "amount_overpaid": 0,
            "subtotal": amount, "subtotal_excluding_tax": amount, "total": amount, "total_excluding_tax": amount,
            "attempt_count": 0, "attempted": false, "auto_advance": true, "due_date": null,
            "effective_at": now, "period_start": period.0, "period_end": period.1,
            "lines": { "object": "list", "data": [line], "has_more": false, "url": format!("/v1/invoices/{id}/lines") },
            "from_invoice": null, "last_finalization_error": null, "shipping_cost": null, "shipping_details": null,
            "customer_shipping": null, "customer_address": null, "next_payment_attempt": null,
            "number": format!("EMU-{}", &id[3..11].to_uppercase()), "webhooks_delivered_at": null,
            "hosted_invoice_url": null, "invoice_pdf": null,
            "status_transitions": { "finalized_at": now, "marked_uncollectible_at": null, "paid_at": null, "voided_at": null },
            "parent": { "type": "subscription_details", "quote_details": null,
                        "subscription_details": { "metadata": sub["metadata"], "subscription": sub["id"] } },
        }),
    )
}

pub fn checkout_session(id: &str, livemode: bool, created: i64, url: &str, fields: Value) -> Value {
    let mut session = build(
        "checkout.session",
        json!({
            "id": id, "livemode": livemode, "created": created, "expires_at": created + 24 * 3600,
            "url": url, "mode": "subscription", "status": "open", "payment_status": "unpaid",
            "payment_intent": null, "invoice": null, "subscription": null, "customer_details": null,
            "after_expiration": null, "shipping_address_collection": null, "shipping_cost": null,
            "custom_text": { "after_submit": null, "shipping_address": null, "submit": null,
                             "terms_of_service_acceptance": null },
            "total_details": { "amount_discount": 0, "amount_shipping": 0, "amount_tax": 0 },
            "payment_method_configuration_details": null, "consent_collection": null,
            "customer_creation": "always", "invoice_creation": null, "ui_mode": "hosted_page",
        }),
    );
    if let (Some(object), Value::Object(fields)) = (session.as_object_mut(), fields) {
        object.extend(fields);
    }
    session
}

pub fn coupon(id: &str, livemode: bool, created: i64, fields: Value) -> Value {
    let mut coupon = build(
        "coupon",
        json!({ "id": id, "livemode": livemode, "created": created, "duration_in_months": null,
                "max_redemptions": null, "redeem_by": null, "times_redeemed": 0, "valid": true }),
    );
    if let (Some(object), Value::Object(fields)) = (coupon.as_object_mut(), fields) {
        object.extend(fields);
    }
    coupon
}

pub fn promotion_code(id: &str, livemode: bool, created: i64, code: &str, coupon: &str) -> Value {
    build(
        "promotion_code",
        json!({ "id": id, "livemode": livemode, "created": created, "code": code, "active": true,
                "customer": null, "expires_at": null, "times_redeemed": 0,
                "promotion": { "type": "coupon", "coupon": coupon } }),
    )
}

pub fn portal_session(
    id: &str,
    livemode: bool,
    created: i64,
    customer: &str,
    return_url: &Value,
    url: &str,
) -> Value {
    build(
        "billing_portal.session",
        json!({ "id": id, "livemode": livemode, "created": created, "customer": customer,
                "return_url": return_url, "url": url, "flow": null, "configuration": "bpc_emulator_default" }),
    )
}

pub fn webhook_endpoint(id: &str, livemode: bool, created: i64, fields: Value) -> Value {
    build(
        "webhook_endpoint",
        json!({ "id": id, "livemode": livemode, "created": created, "status": "enabled" }),
    )
    .as_object()
    .cloned()
    .map(|mut object| {
        if let Value::Object(fields) = fields {
            object.extend(fields);
        }
        Value::Object(object)
    })
    .unwrap_or(Value::Null)
}

/// An event; `request` is the API request that caused it (its id and idempotency key),
/// `None` for what happened on Stripe's side (a renewal, a test clock).
pub fn event(
    id: String,
    (event_type, created, livemode): (&str, i64, bool),
    data: Value,
    pending: usize,
    request: Option<&(String, Option<String>)>,
) -> Value {
    let (request_id, key) = request.map_or((None, None), |(id, key)| (Some(id.as_str()), key.as_deref()));
    json!({
        "id": id, "object": "event", "api_version": crate::DEFAULT_API_VERSION, "created": created,
        "data": data, "livemode": livemode, "pending_webhooks": pending,
        "request": { "id": request_id, "idempotency_key": key }, "type": event_type,
    })
}
