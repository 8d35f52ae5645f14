//! `/v1/coupons` and `/v1/promotion_codes`: the codes a Checkout Session that allows
//! promotion codes accepts, and what a redeemed one takes off.

use serde_json::{Value, json};

use super::{Ctx, list_page};
use crate::{
    error::{ApiResult, StripeError},
    form::Params,
    render,
    world::World,
};

/// A coupon: `percent_off`, or `amount_off` with `currency`.
pub fn create_coupon(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let percent_off = match params.str("percent_off") {
        Some(raw) => {
            Some(raw.parse::<f64>().ok().filter(|p| *p > 0.0 && *p <= 100.0).ok_or_else(|| {
                StripeError::invalid("percent_off", "Must be greater than 0 and at most 100.")
            })?)
        }
        None => None,
    };
    let amount_off = params.int("amount_off")?;
    if percent_off.is_some() == amount_off.is_some() {
        return Err(StripeError::invalid("percent_off", "Provide exactly one of percent_off or amount_off."));
    }
    if amount_off.is_some() && params.str("currency").is_none() {
        return Err(StripeError::missing("currency"));
    }
    let id = params.str("id").map_or_else(|| world.new_id("coupon"), str::to_owned);
    Ok(world.insert(render::coupon(
        &id,
        ctx.livemode,
        world.now(),
        json!({
            "percent_off": percent_off, "amount_off": amount_off, "currency": params.str("currency"),
            "duration": params.str("duration").unwrap_or("once"), "name": params.str("name"),
            "metadata": params.metadata().unwrap_or(json!({})),
        }),
    )))
}

/// A customer-facing code for a coupon (`promotion[type]=coupon`, `promotion[coupon]`).
pub fn create_promotion_code(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let coupon_id = params.required("promotion.coupon")?;
    if params.str("promotion.type").is_some_and(|t| t != "coupon") {
        return Err(StripeError::invalid("promotion[type]", "Only `coupon` is supported."));
    }
    world
        .get(coupon_id, ctx.livemode)
        .filter(|c| c["object"] == "coupon")
        .ok_or_else(|| StripeError::no_such("coupon", coupon_id, "promotion[coupon]"))?;
    let id = world.new_id("promo");
    let code =
        params.str("code").map_or_else(|| id.trim_start_matches("promo_").to_uppercase(), str::to_owned);
    if world.promotion_code(&code, ctx.livemode).is_some() {
        return Err(StripeError::invalid(
            "code",
            format!("An active promotion code `{code}` already exists."),
        ));
    }
    Ok(world.insert(render::promotion_code(&id, ctx.livemode, world.now(), &code, coupon_id)))
}

pub fn list_promotion_codes(world: &mut World, ctx: &Ctx, params: &Params) -> ApiResult<Value> {
    let code = params.str("code").map(str::to_owned);
    let keep = |p: &Value| code.as_ref().is_none_or(|c| p["code"] == json!(c));
    list_page(world, "promotion_code", ctx.livemode, keep, params, "/v1/promotion_codes")
}

impl World {
    /// The active promotion code `code` (as customers type it, any case).
    pub fn promotion_code(&self, code: &str, livemode: bool) -> Option<Value> {
        self.list("promotion_code", livemode, |p| {
            p["active"] == true && p["code"].as_str().is_some_and(|c| c.eq_ignore_ascii_case(code))
        })
        .into_iter()
        .next()
    }

    /// What `code` takes off `amount` for the session `session`: the discount's amount and
    /// its id in the session's `discounts`. Refused when the session does not allow
    /// promotion codes or no active code is `code`.
    pub fn redeem(&mut self, session: &Value, code: &str, amount: i64) -> ApiResult<(i64, Value)> {
        if session["allow_promotion_codes"] != true {
            return Err(StripeError::invalid(
                "promotion_code",
                "This Checkout Session does not allow promotion codes.",
            ));
        }
        let livemode = session["livemode"] == true;
        let promo = self.promotion_code(code, livemode).ok_or_else(|| {
            StripeError::invalid("promotion_code", format!("`{code}` is not a valid promotion code."))
        })?;
        let coupon_id = promo["promotion"]["coupon"].as_str().unwrap_or_default();
        let coupon = self.get(coupon_id, livemode).cloned().unwrap_or(Value::Null);
        let off = match (coupon["percent_off"].as_f64(), coupon["amount_off"].as_i64()) {
            #[allow(clippy::cast_possible_truncation)]
            (Some(percent), _) => (amount as f64 * percent / 100.0).round() as i64,
            (None, Some(fixed)) => fixed,
            (None, None) => 0,
        }
        .min(amount);
        if let Some(p) = self.get_mut(promo["id"].as_str().unwrap_or_default(), livemode) {
            p["times_redeemed"] = json!(p["times_redeemed"].as_i64().unwrap_or(0) + 1);
        }
        Ok((off, json!([{ "coupon": null, "promotion_code": promo["id"] }])))
    }
}
