//! `/v1/checkout/sessions` (subscription mode) and `/v1/billing_portal/sessions`.

use serde_json::{Value, json};

use super::{Ctx, list_page};
use crate::{
    error::{ApiResult, StripeError},
    form::Params,
    render,
    world::World,
};

pub fn create(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    match params.str("mode") {
        Some("subscription") => {}
        Some(other) => {
            return Err(StripeError::invalid(
                "mode",
                format!("The emulator supports mode=subscription, not {other}."),
            ));
        }
        None => return Err(StripeError::missing("mode")),
    }
    let price_id = params.required("line_items.0.price")?;
    let price = world
        .get(price_id, ctx.livemode)
        .filter(|p| p["object"] == "price")
        .cloned()
        .ok_or_else(|| StripeError::no_such("price", price_id, "line_items[0][price]"))?;
    if price["active"] != true {
        return Err(StripeError::invalid(
            "line_items[0][price]",
            format!("The price `{price_id}` is not active."),
        ));
    }
    if price["type"] != "recurring" {
        return Err(StripeError::invalid(
            "line_items[0][price]",
            "You must provide at least one recurring price in `subscription` mode when using prices.",
        ));
    }
    let success_url = params.required("success_url")?;
    if let Some(customer) = params.str("customer") {
        world
            .get(customer, ctx.livemode)
            .filter(|c| c["deleted"] != true)
            .ok_or_else(|| StripeError::no_such("customer", customer, "customer"))?;
    }
    let trial_days = params.int("subscription_data.trial_period_days")?.unwrap_or(0);
    if !(0..=730).contains(&trial_days) {
        return Err(StripeError::invalid(
            "subscription_data[trial_period_days]",
            "Must be between 1 and 730.",
        ));
    }
    let quantity = params.int("line_items.0.quantity")?.unwrap_or(1);
    if !(1..=999_999).contains(&quantity) {
        return Err(StripeError::invalid("line_items[0][quantity]", "Must be between 1 and 999999."));
    }
    let allow_promotion_codes = params.bool("allow_promotion_codes")?;
    if allow_promotion_codes == Some(true) && params.get("discounts").is_some() {
        return Err(StripeError::invalid(
            "allow_promotion_codes",
            "You may only specify one of these parameters: allow_promotion_codes, discounts.",
        ));
    }
    let amount = if trial_days > 0 { 0 } else { price["unit_amount"].as_i64().unwrap_or(0) * quantity };
    let id = world.new_id(if ctx.livemode { "cs_live" } else { "cs_test" });
    let url = format!("{}/checkout/{id}", world.public_url);
    let session = render::checkout_session(
        &id,
        ctx.livemode,
        world.now(),
        &url,
        json!({
            "customer": params.str("customer"),
            "customer_email": params.str("customer_email"),
            "client_reference_id": params.str("client_reference_id"),
            "metadata": params.metadata().unwrap_or(json!({})),
            "success_url": success_url,
            "cancel_url": params.str("cancel_url"),
            "currency": price["currency"],
            "amount_subtotal": amount,
            "amount_total": amount,
            "allow_promotion_codes": allow_promotion_codes,
        }),
    );
    world.checkout_extras.insert(
        id.clone(),
        json!({
            "price": price_id,
            "quantity": quantity,
            "trial_days": trial_days,
            "metadata": params.get("subscription_data.metadata").cloned().unwrap_or(json!({})),
        }),
    );
    Ok(world.insert(session))
}

pub fn retrieve(world: &mut World, ctx: &Ctx, _: &Params) -> ApiResult<Value> {
    find(world, ctx).cloned()
}

pub fn list(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let customer = params.str("customer").map(str::to_owned);
    let status = params.str("status").map(str::to_owned);
    let keep = |s: &Value| {
        customer.as_ref().is_none_or(|c| s["customer"] == json!(c))
            && status.as_ref().is_none_or(|st| s["status"] == json!(st))
    };
    list_page(world, "checkout.session", ctx.livemode, keep, params, "/v1/checkout/sessions")
}

pub fn expire(world: &mut World, ctx: &Ctx, _: &Params) -> ApiResult<Value> {
    let session = find(world, ctx)?.clone();
    if session["status"] != "open" {
        return Err(StripeError::invalid(
            "session",
            format!(
                "Only Checkout Sessions with a status of `open` can be expired; this one is {}.",
                session["status"]
            ),
        ));
    }
    Ok(world.expire_checkout(ctx.id("id"), ctx.livemode))
}

pub fn create_portal_session(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let customer = params.required("customer")?;
    world
        .get(customer, ctx.livemode)
        .filter(|c| c["deleted"] != true)
        .ok_or_else(|| StripeError::no_such("customer", customer, "customer"))?;
    let id = world.new_id("bps");
    let url = format!("{}/portal/{id}", world.public_url);
    let return_url = params.get("return_url").cloned().unwrap_or(Value::Null);
    Ok(world.insert(render::portal_session(&id, ctx.livemode, world.now(), customer, &return_url, &url)))
}

fn find<'w>(world: &'w World, ctx: &Ctx) -> ApiResult<&'w Value> {
    let id = ctx.id("id");
    world
        .get(id, ctx.livemode)
        .filter(|o| o["object"] == "checkout.session")
        .ok_or_else(|| StripeError::no_such("checkout.session", id, "session"))
}

impl World {
    /// Expires an open session and emits `checkout.session.expired`.
    pub fn expire_checkout(&mut self, id: &str, livemode: bool) -> Value {
        let Some(session) = self.get_mut(id, livemode) else { return Value::Null };
        session["status"] = json!("expired");
        session["url"] = Value::Null;
        let session = session.clone();
        self.emit("checkout.session.expired", &session, None);
        session
    }
}
