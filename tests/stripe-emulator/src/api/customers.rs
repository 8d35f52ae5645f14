//! `/v1/customers`.

use serde_json::{Value, json};

use super::{Ctx, created::Created, list_page};
use crate::{
    error::{ApiResult, StripeError},
    form::Params,
    render,
    world::World,
};

const EDITABLE: &[&str] = &["email", "name", "phone", "description"];

pub fn create(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let id = world.new_id("cus");
    let customer = world.insert(render::customer(&id, ctx.livemode, world.now(), &params.0));
    world.emit("customer.created", &customer, None);
    Ok(customer)
}

pub fn retrieve(world: &mut World, ctx: &Ctx, _: &Params) -> ApiResult<Value> {
    find(world, ctx).cloned()
}

pub fn update(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let before = find(world, ctx)?.clone();
    if before["deleted"] == true {
        return Err(StripeError::invalid("id", "You cannot update a deleted customer."));
    }
    let mut after = before.clone();
    for field in EDITABLE {
        if let Some(value) = params.get(field) {
            after[*field] = value.clone();
        }
    }
    if let Some(metadata) = params.metadata() {
        merge_metadata(&mut after["metadata"], &metadata);
    }
    let previous = World::diff(&before, &after);
    if let Some(stored) = world.get_mut(ctx.id("id"), ctx.livemode) {
        *stored = after.clone();
    }
    world.emit("customer.updated", &after, Some(previous));
    Ok(after)
}

/// Deleting a customer cancels its subscriptions, as in Stripe.
pub fn delete(world: &mut World, ctx: &Ctx, _: &Params) -> ApiResult<Value> {
    let customer = find(world, ctx)?.clone();
    if customer["deleted"] == true {
        return Err(StripeError::no_such("customer", ctx.id("id"), "id"));
    }
    let subscriptions = world.subscriptions_of(customer["id"].as_str().unwrap_or_default(), ctx.livemode);
    for sub in subscriptions {
        world.cancel_now(sub["id"].as_str().unwrap_or_default(), ctx.livemode, "cancellation_requested");
    }
    let stub = render::deleted_customer(ctx.id("id"), ctx.livemode);
    if let Some(stored) = world.get_mut(ctx.id("id"), ctx.livemode) {
        *stored = stub.clone();
    }
    world.emit("customer.deleted", &customer, None);
    Ok(stub)
}

pub fn list(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let email = params.str("email").map(str::to_owned);
    let created = Created::from_params(params)?;
    let keep = |c: &Value| {
        c["deleted"] != true && email.as_ref().is_none_or(|e| c["email"] == json!(e)) && created.keeps(c)
    };
    list_page(world, "customer", ctx.livemode, keep, params, "/v1/customers")
}

fn find<'w>(world: &'w World, ctx: &Ctx) -> ApiResult<&'w Value> {
    let id = ctx.id("id");
    world.get(id, ctx.livemode).ok_or_else(|| StripeError::no_such("customer", id, "id"))
}

/// Stripe's metadata update: keys set to "" are removed, others replaced.
pub fn merge_metadata(target: &mut Value, update: &Value) {
    if !target.is_object() {
        *target = json!({});
    }
    let (Some(target), Some(update)) = (target.as_object_mut(), update.as_object()) else { return };
    for (key, value) in update {
        if value.as_str() == Some("") {
            target.remove(key);
        } else {
            target.insert(key.clone(), value.clone());
        }
    }
}
