//! `/v1/products`, `/v1/prices` and Stripe Entitlements features.

use serde_json::{Value, json};

use super::{Ctx, customers::merge_metadata, list_page, page};
use crate::{
    error::{ApiResult, StripeError},
    form::Params,
    render::{self, PriceSpec},
    world::World,
};

pub fn create_product(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let name = params.required("name")?.to_owned();
    let id = params.str("id").map_or_else(|| world.new_id("prod"), str::to_owned);
    if world.get_any(&id).is_some() {
        return Err(StripeError::invalid("id", format!("Product already exists: {id}")));
    }
    let metadata = params.metadata().unwrap_or(json!({}));
    let mut product =
        render::product(&id, ctx.livemode, world.now(), &name, &params.0["description"], metadata);
    product["active"] = json!(params.bool("active")?.unwrap_or(true));
    let product = world.insert(product);
    world.emit("product.created", &product, None);
    Ok(product)
}

pub fn retrieve_product(world: &mut World, ctx: &Ctx, _: &Params) -> ApiResult<Value> {
    find(world, ctx, "product").cloned()
}

pub fn update_product(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let before = find(world, ctx, "product")?.clone();
    let mut after = before.clone();
    for field in ["name", "description", "default_price"] {
        if let Some(value) = params.get(field) {
            after[field] = value.clone();
        }
    }
    if let Some(active) = params.bool("active")? {
        after["active"] = json!(active);
    }
    if let Some(metadata) = params.metadata() {
        merge_metadata(&mut after["metadata"], &metadata);
    }
    after["updated"] = json!(world.now());
    store_and_emit(world, ctx, "product.updated", &before, after)
}

pub fn list_products(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let active = params.bool("active")?;
    let keep = |p: &Value| active.is_none_or(|a| p["active"] == a);
    list_page(world, "product", ctx.livemode, keep, params, "/v1/products")
}

pub fn create_price(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let product = match (params.str("product"), params.str("product_data.name")) {
        (Some(product), _) => {
            world
                .get(product, ctx.livemode)
                .ok_or_else(|| StripeError::no_such("product", product, "product"))?;
            product.to_owned()
        }
        (None, Some(name)) => {
            let id = world.new_id("prod");
            let product =
                world.insert(render::product(&id, ctx.livemode, world.now(), name, &Value::Null, json!({})));
            world.emit("product.created", &product, None);
            id
        }
        (None, None) => return Err(StripeError::missing("product")),
    };
    let spec = PriceSpec {
        product,
        currency: params.required("currency")?.to_lowercase(),
        unit_amount: params.int("unit_amount")?.ok_or_else(|| StripeError::missing("unit_amount"))?,
        interval: params.str("recurring.interval").map(str::to_owned),
        interval_count: params.int("recurring.interval_count")?.unwrap_or(1),
        active: params.bool("active")?.unwrap_or(true),
        lookup_key: params.get("lookup_key").cloned().unwrap_or(Value::Null),
        nickname: params.get("nickname").cloned().unwrap_or(Value::Null),
        metadata: params.metadata().unwrap_or(json!({})),
    };
    if let Some(interval) = &spec.interval
        && !["day", "week", "month", "year"].contains(&interval.as_str())
    {
        return Err(StripeError::invalid(
            "recurring[interval]",
            format!("Invalid recurring[interval]: {interval}"),
        ));
    }
    let id = world.new_id("price");
    let price = world.insert(render::price(&id, ctx.livemode, world.now(), &spec));
    world.emit("price.created", &price, None);
    Ok(price)
}

pub fn retrieve_price(world: &mut World, ctx: &Ctx, _: &Params) -> ApiResult<Value> {
    find(world, ctx, "price").cloned()
}

pub fn update_price(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let before = find(world, ctx, "price")?.clone();
    let mut after = before.clone();
    for field in ["nickname", "lookup_key"] {
        if let Some(value) = params.get(field) {
            after[field] = value.clone();
        }
    }
    if let Some(active) = params.bool("active")? {
        after["active"] = json!(active);
    }
    if let Some(metadata) = params.metadata() {
        merge_metadata(&mut after["metadata"], &metadata);
    }
    store_and_emit(world, ctx, "price.updated", &before, after)
}

pub fn list_prices(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let active = params.bool("active")?;
    let product = params.str("product").map(str::to_owned);
    let keep = |p: &Value| {
        active.is_none_or(|a| p["active"] == a) && product.as_ref().is_none_or(|id| p["product"] == json!(id))
    };
    list_page(world, "price", ctx.livemode, keep, params, "/v1/prices")
}

pub fn create_feature(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let name = params.required("name")?.to_owned();
    let lookup_key = params.required("lookup_key")?.to_owned();
    if !world.list("entitlements.feature", ctx.livemode, |f| f["lookup_key"] == json!(lookup_key)).is_empty()
    {
        return Err(StripeError::invalid(
            "lookup_key",
            format!("A feature with lookup_key {lookup_key} already exists."),
        ));
    }
    let id = world.new_id(if ctx.livemode { "feat" } else { "feat_test" });
    let metadata = params.metadata().unwrap_or(json!({}));
    Ok(world.insert(render::feature(&id, ctx.livemode, &name, &lookup_key, metadata)))
}

pub fn list_features(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let keep = |_: &Value| true;
    list_page(world, "entitlements.feature", ctx.livemode, keep, params, "/v1/entitlements/features")
}

/// Attaches a feature to a product: subscribers of the product are entitled to it.
pub fn attach_feature(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let product = find(world, ctx, "product")?["id"].as_str().unwrap_or_default().to_owned();
    let feature_id = params.required("entitlement_feature")?;
    let feature = world
        .get(feature_id, ctx.livemode)
        .cloned()
        .ok_or_else(|| StripeError::no_such("feature", feature_id, "entitlement_feature"))?;
    let id = world.new_id("prodft");
    let attached = world.insert(render::product_feature(&id, ctx.livemode, feature));
    world.product_features.push((product.clone(), id));
    let customers: Vec<String> = world
        .list("subscription", ctx.livemode, |s| s["items"]["data"][0]["price"]["product"] == json!(product))
        .iter()
        .filter_map(|s| s["customer"].as_str().map(str::to_owned))
        .collect();
    for customer in customers {
        world.refresh_entitlements(&customer, ctx.livemode);
    }
    Ok(attached)
}

pub fn list_product_features(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let product = find(world, ctx, "product")?["id"].clone();
    let items = world.features_of(product.as_str().unwrap_or_default(), ctx.livemode);
    page(items, params, &format!("/v1/products/{}/features", product.as_str().unwrap_or_default()))
}

pub fn active_entitlements(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let customer = params.required("customer")?;
    let items = world.active_entitlements(customer, ctx.livemode);
    page(items, params, "/v1/entitlements/active_entitlements")
}

fn find<'w>(world: &'w World, ctx: &Ctx, kind: &str) -> ApiResult<&'w Value> {
    let id = ctx.id("id");
    world
        .get(id, ctx.livemode)
        .filter(|o| o["object"] == kind)
        .ok_or_else(|| StripeError::no_such(kind, id, "id"))
}

fn store_and_emit(
    world: &mut World,
    ctx: &Ctx,
    event: &str,
    before: &Value,
    after: Value,
) -> ApiResult<Value> {
    let previous = World::diff(before, &after);
    if let Some(stored) = world.get_mut(ctx.id("id"), ctx.livemode) {
        *stored = after.clone();
    }
    world.emit(event, &after, Some(previous));
    Ok(after)
}
