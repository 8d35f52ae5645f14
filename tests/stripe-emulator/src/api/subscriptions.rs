//! `/v1/subscriptions` and `/v1/invoices/{id}`.

use serde_json::{Value, json};

use super::{Ctx, created::Created, customers::merge_metadata, list_page};
use crate::{
    error::{ApiResult, StripeError},
    form::Params,
    world::World,
};

const STATUSES: &[&str] = &[
    "active",
    "past_due",
    "unpaid",
    "canceled",
    "incomplete",
    "incomplete_expired",
    "trialing",
    "paused",
    "all",
    "ended",
];

pub fn retrieve(world: &mut World, ctx: &Ctx, _: &Params) -> ApiResult<Value> {
    find(world, ctx).cloned()
}

/// Without `status`, Stripe lists every subscription that is not canceled.
pub fn list(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let status = params.str("status").map(str::to_owned);
    if let Some(status) = &status
        && !STATUSES.contains(&status.as_str())
    {
        return Err(StripeError::invalid(
            "status",
            format!("Invalid status: must be one of {}", STATUSES.join(", ")),
        ));
    }
    let customer = params.str("customer").map(str::to_owned);
    let price = params.str("price").map(str::to_owned);
    let created = Created::from_params(params)?;
    let keep = |s: &Value| {
        let status_ok = match status.as_deref() {
            None => s["status"] != "canceled" && s["status"] != "incomplete_expired",
            Some("all") => true,
            Some("ended") => s["status"] == "canceled" || s["status"] == "incomplete_expired",
            Some(wanted) => s["status"] == wanted,
        };
        status_ok
            && customer.as_ref().is_none_or(|c| s["customer"] == json!(c))
            && price.as_ref().is_none_or(|p| s["items"]["data"][0]["price"]["id"] == json!(p))
            && created.keeps(s)
    };
    list_page(world, "subscription", ctx.livemode, keep, params, "/v1/subscriptions")
}

/// Supports `cancel_at_period_end`, `metadata`, and switching the price or the quantity of
/// the single item.
pub fn update(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let sub = find(world, ctx)?.clone();
    if sub["status"] == "canceled" {
        return Err(StripeError::invalid(
            "id",
            "A canceled subscription can only update its cancellation_details and metadata.",
        ));
    }
    let cancel_at_period_end = params.bool("cancel_at_period_end")?;
    let new_price = match params.str("items.0.price") {
        Some(id) => Some(
            world
                .get(id, ctx.livemode)
                .filter(|p| p["object"] == "price" && p["type"] == "recurring")
                .cloned()
                .ok_or_else(|| StripeError::no_such("price", id, "items[0][price]"))?,
        ),
        None => None,
    };
    let quantity = params.int("items.0.quantity")?;
    if quantity.is_some_and(|q| q < 1) {
        return Err(StripeError::invalid("items[0][quantity]", "Must be at least 1."));
    }
    let metadata = params.metadata();
    let now = world.now();
    world.update_subscription(ctx.id("id"), ctx.livemode, |s| {
        if let Some(flag) = cancel_at_period_end {
            s["cancel_at_period_end"] = json!(flag);
            s["canceled_at"] = if flag { json!(now) } else { Value::Null };
            s["cancel_at"] =
                if flag { s["items"]["data"][0]["current_period_end"].clone() } else { Value::Null };
        }
        if let Some(metadata) = &metadata {
            merge_metadata(&mut s["metadata"], metadata);
        }
        if let Some(quantity) = quantity {
            s["items"]["data"][0]["quantity"] = json!(quantity);
        }
        if let Some(price) = &new_price {
            s["items"]["data"][0]["price"] = price.clone();
            s["items"]["data"][0]["plan"]["id"] = price["id"].clone();
            s["items"]["data"][0]["plan"]["product"] = price["product"].clone();
            s["items"]["data"][0]["plan"]["amount"] = price["unit_amount"].clone();
        }
    });
    find(world, ctx).cloned()
}

/// `DELETE /v1/subscriptions/{id}` ends it now.
pub fn cancel(world: &mut World, ctx: &Ctx, _: &Params) -> ApiResult<Value> {
    let sub = find(world, ctx)?.clone();
    if sub["status"] == "canceled" {
        return Err(StripeError::invalid(
            "id",
            format!("No such subscription: '{}' is already canceled.", ctx.id("id")),
        ));
    }
    world.cancel_now(ctx.id("id"), ctx.livemode, "cancellation_requested");
    find(world, ctx).cloned()
}

/// Resumes a paused subscription with a new period starting now.
pub fn resume(world: &mut World, ctx: &Ctx, _: &Params) -> ApiResult<Value> {
    let sub = find(world, ctx)?.clone();
    if sub["status"] != "paused" {
        return Err(StripeError::invalid("id", "Only a paused subscription can be resumed."));
    }
    world.resume(ctx.id("id"), ctx.livemode);
    find(world, ctx).cloned()
}

pub fn retrieve_invoice(world: &mut World, ctx: &Ctx, _: &Params) -> ApiResult<Value> {
    let id = ctx.id("id");
    world
        .get(id, ctx.livemode)
        .filter(|o| o["object"] == "invoice")
        .cloned()
        .ok_or_else(|| StripeError::no_such("invoice", id, "id"))
}

fn find<'w>(world: &'w World, ctx: &Ctx) -> ApiResult<&'w Value> {
    let id = ctx.id("id");
    world
        .get(id, ctx.livemode)
        .filter(|o| o["object"] == "subscription")
        .ok_or_else(|| StripeError::no_such("subscription", id, "id"))
}
