//! `/v1/webhook_endpoints`. The signing secret is returned only by create, as in Stripe.

use serde_json::{Value, json};

use super::{Ctx, customers::merge_metadata, list_page};
use crate::{
    error::{ApiResult, StripeError},
    form::Params,
    render,
    world::World,
};

pub fn create(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let url = valid_url(params.required("url")?)?;
    let events = enabled_events(params)?.ok_or_else(|| StripeError::missing("enabled_events"))?;
    let id = world.new_id("we");
    let api_version = params.str("api_version").unwrap_or(crate::DEFAULT_API_VERSION);
    let endpoint = render::webhook_endpoint(
        &id,
        ctx.livemode,
        world.now(),
        json!({
            "url": url, "enabled_events": events, "api_version": api_version,
            "description": params.get("description").cloned().unwrap_or(Value::Null),
            "metadata": params.metadata().unwrap_or(json!({})),
        }),
    );
    let secret = format!("whsec_{}", uuid::Uuid::new_v4().simple());
    world.set_secret(&id, secret.clone());
    let mut created = world.insert(endpoint);
    created["secret"] = json!(secret);
    Ok(created)
}

pub fn retrieve(world: &mut World, ctx: &Ctx, _: &Params) -> ApiResult<Value> {
    find(world, ctx).cloned()
}

pub fn update(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let url = params.str("url").map(valid_url).transpose()?;
    let events = enabled_events(params)?;
    let disabled = params.bool("disabled")?;
    let metadata = params.metadata();
    find(world, ctx)?;
    let Some(endpoint) = world.get_mut(ctx.id("id"), ctx.livemode) else {
        return Err(StripeError::no_such("webhook_endpoint", ctx.id("id"), "id"));
    };
    if let Some(url) = url {
        endpoint["url"] = json!(url);
    }
    if let Some(events) = events {
        endpoint["enabled_events"] = events;
    }
    if let Some(disabled) = disabled {
        endpoint["status"] = json!(if disabled { "disabled" } else { "enabled" });
    }
    if let Some(metadata) = metadata {
        merge_metadata(&mut endpoint["metadata"], &metadata);
    }
    Ok(endpoint.clone())
}

pub fn delete(world: &mut World, ctx: &Ctx, _: &Params) -> ApiResult<Value> {
    find(world, ctx)?;
    world.remove(ctx.id("id"));
    Ok(json!({ "id": ctx.id("id"), "object": "webhook_endpoint", "deleted": true }))
}

pub fn list(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let keep = |_: &Value| true;
    list_page(world, "webhook_endpoint", ctx.livemode, keep, params, "/v1/webhook_endpoints")
}

fn enabled_events(params: &Params) -> ApiResult<Option<Value>> {
    match params.get("enabled_events") {
        None => Ok(None),
        Some(Value::Array(events)) if !events.is_empty() && events.iter().all(Value::is_string) => {
            Ok(Some(Value::Array(events.clone())))
        }
        Some(_) => Err(StripeError::invalid(
            "enabled_events",
            "enabled_events must be a non-empty list of event types.",
        )),
    }
}

fn valid_url(raw: &str) -> ApiResult<String> {
    match url::Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => Ok(raw.to_owned()),
        _ => Err(StripeError::invalid("url", format!("Invalid URL: {raw}"))),
    }
}

fn find<'w>(world: &'w World, ctx: &Ctx) -> ApiResult<&'w Value> {
    let id = ctx.id("id");
    world
        .get(id, ctx.livemode)
        .filter(|o| o["object"] == "webhook_endpoint")
        .ok_or_else(|| StripeError::no_such("webhook_endpoint", id, "id"))
}
