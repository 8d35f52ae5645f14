//! `/v1/events`: newest first, filtered by `type`, `types[]` and `created`, over the
//! last 30 days only, as Stripe keeps them.

use serde_json::Value;

use super::{Ctx, created::Created, page};
use crate::{
    error::{ApiResult, StripeError},
    form::Params,
    world::World,
};

const RETENTION: i64 = 30 * 86_400;

pub fn list(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let one_type = params.str("type").map(str::to_owned);
    let types: Vec<String> = match params.get("types") {
        Some(Value::Array(items)) => items.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    };
    if one_type.is_some() && !types.is_empty() {
        return Err(StripeError::invalid("types", "You may pass either type or types, but not both."));
    }
    let created = Created::from_params(params)?;
    let oldest = world.now() - RETENTION;
    let items: Vec<&Value> = world
        .events(ctx.livemode)
        .into_iter()
        .filter(|event| {
            let kind = event["type"].as_str().unwrap_or_default();
            event["created"].as_i64().unwrap_or(0) >= oldest
                && one_type.as_ref().is_none_or(|t| matches_type(t, kind))
                && (types.is_empty() || types.iter().any(|t| matches_type(t, kind)))
                && created.keeps(event)
        })
        .collect();
    page(items, params, "/v1/events")
}

pub fn retrieve(world: &mut World, ctx: &Ctx, _: &Params) -> ApiResult<Value> {
    let id = ctx.id("id");
    world
        .events(ctx.livemode)
        .into_iter()
        .find(|e| e["id"] == id)
        .cloned()
        .ok_or_else(|| StripeError::no_such("event", id, "id"))
}

/// `customer.subscription.*` matches every subscription event, as in Stripe.
fn matches_type(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => kind.starts_with(prefix),
        None => pattern == kind,
    }
}
