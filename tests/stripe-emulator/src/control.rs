//! `/_emulator/...`: what Stripe's dashboard, a customer or the passage of time would
//! do, on demand. No API key needed; objects are found in whichever mode they live.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, RawQuery, State},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use serde_json::{Value, json};

use crate::{
    AppState,
    delivery::Chaos,
    error::{ApiResult, StripeError},
    form::{self, Params},
    world::{AfterRetries, World},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/_emulator/checkout/sessions/{id}/complete", post(complete_checkout))
        .route("/_emulator/checkout/sessions/{id}/expire", post(expire_checkout))
        .route("/_emulator/clock", get(clock))
        .route("/_emulator/clock/advance", post(advance))
        .route("/_emulator/payments/fail_next", post(fail_next))
        .route("/_emulator/customers/{id}/card", post(card))
        .route("/_emulator/subscriptions/{id}/cancel", post(cancel))
        .route("/_emulator/subscriptions/{id}/pause", post(pause))
        .route("/_emulator/subscriptions/{id}/resume", post(resume))
        .route("/_emulator/settings", post(settings))
        .route("/_emulator/chaos", post(chaos))
        .route("/_emulator/rate_limit", post(rate_limit))
        .route("/_emulator/latency", post(latency))
        .route("/_emulator/reset", post(reset))
        .route("/_emulator/deliveries", get(deliveries))
        .route("/_emulator/stats", get(stats))
}

/// Runs `f` under the lock with the request's form and query parameters.
fn with_world(
    app: &AppState,
    query: Option<String>,
    body: &[u8],
    f: impl FnOnce(&mut World, &Params) -> ApiResult<Value>,
) -> Response {
    let mut params = form::decode(query.as_deref().unwrap_or_default().as_bytes());
    if let (Value::Object(into), Value::Object(from)) = (&mut params, form::decode(body)) {
        into.extend(from);
    }
    let Ok(mut world) = app.world.lock() else {
        return StripeError::invalid("state", "emulator state poisoned").into_response();
    };
    match f(&mut world, &Params(params)) {
        Ok(value) => Json(value).into_response(),
        Err(err) => err.into_response(),
    }
}

fn mode_of(world: &World, id: &str, kind: &str) -> ApiResult<bool> {
    world
        .get_any(id)
        .and_then(|o| o["livemode"].as_bool())
        .ok_or_else(|| StripeError::no_such(kind, id, "id"))
}

async fn complete_checkout(
    State(app): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    with_world(&app, q, &body, |world, params| {
        let livemode = mode_of(world, &id, "checkout.session")?;
        world.complete_checkout(&id, livemode, params.str("promotion_code"))
    })
}

async fn expire_checkout(
    State(app): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    with_world(&app, q, &body, |world, _| {
        let livemode = mode_of(world, &id, "checkout.session")?;
        if world.get_any(&id).is_some_and(|s| s["status"] != "open") {
            return Err(StripeError::invalid("session", "Only open sessions can expire."));
        }
        Ok(world.expire_checkout(&id, livemode))
    })
}

async fn clock(State(app): State<AppState>) -> Response {
    with_world(&app, None, &[], |world, _| Ok(json!({ "now": world.now() })))
}

/// `seconds=N`, `days=N` or `to=<unix time>`; runs every transition due on the way.
async fn advance(State(app): State<AppState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    with_world(&app, q, &body, |world, params| {
        let now = world.now();
        let target = match (params.int("to")?, params.int("seconds")?, params.int("days")?) {
            (Some(to), _, _) => to,
            (None, Some(seconds), _) => now + seconds,
            (None, None, Some(days)) => now + days * 86_400,
            _ => return Err(StripeError::missing("seconds")),
        };
        if target < now {
            return Err(StripeError::invalid("to", "The clock only moves forward."));
        }
        world.advance_to(target);
        Ok(json!({ "now": world.now() }))
    })
}

async fn fail_next(State(app): State<AppState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    with_world(&app, q, &body, |world, params| {
        let count = u32::try_from(params.int("count")?.unwrap_or(1)).unwrap_or(1);
        world.controls.fail_next_payments += count;
        Ok(json!({ "fail_next_payments": world.controls.fail_next_payments }))
    })
}

/// `declines=true` makes every payment of the customer fail until set back to false.
async fn card(
    State(app): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    with_world(&app, q, &body, |world, params| {
        mode_of(world, &id, "customer")?;
        let declines = params.bool("declines")?.unwrap_or(true);
        if declines {
            world.controls.declining_customers.insert(id.clone());
        } else {
            world.controls.declining_customers.remove(&id);
        }
        Ok(json!({ "customer": id, "declines": declines }))
    })
}

/// Cancels now, or at period end with `at_period_end=true`.
async fn cancel(
    State(app): State<AppState>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    with_world(&app, q, &body, |world, params| {
        let livemode = mode_of(world, &id, "subscription")?;
        if params.bool("at_period_end")?.unwrap_or(false) {
            world.set_cancel_at_period_end(&id, livemode, true);
        } else {
            world.cancel_now(&id, livemode, "cancellation_requested");
        }
        world.get_any(&id).cloned().ok_or_else(|| StripeError::no_such("subscription", &id, "id"))
    })
}

async fn pause(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    with_world(&app, None, &[], |world, _| {
        let livemode = mode_of(world, &id, "subscription")?;
        world.update_subscription(&id, livemode, |s| s["status"] = json!("paused"));
        world.get_any(&id).cloned().ok_or_else(|| StripeError::no_such("subscription", &id, "id"))
    })
}

async fn resume(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    with_world(&app, None, &[], |world, _| {
        let livemode = mode_of(world, &id, "subscription")?;
        world.resume(&id, livemode);
        world.get_any(&id).cloned().ok_or_else(|| StripeError::no_such("subscription", &id, "id"))
    })
}

/// `after_retries=cancel|unpaid`, `retry_days[]=3&retry_days[]=5…`.
async fn settings(State(app): State<AppState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    with_world(&app, q, &body, |world, params| {
        match params.str("after_retries") {
            Some("cancel") => world.controls.after_retries = AfterRetries::Cancel,
            Some("unpaid") => world.controls.after_retries = AfterRetries::MarkUnpaid,
            Some(other) => {
                return Err(StripeError::invalid(
                    "after_retries",
                    format!("{other} is not cancel or unpaid"),
                ));
            }
            None => {}
        }
        if let Some(Value::Array(days)) = params.get("retry_days") {
            world.controls.retry_days = days.iter().filter_map(|d| d.as_str()?.parse().ok()).collect();
        }
        Ok(json!({
            "after_retries": if world.controls.after_retries == AfterRetries::Cancel { "cancel" } else { "unpaid" },
            "retry_days": world.controls.retry_days,
        }))
    })
}

/// `duplicates`, `delay_ms`, `shuffle_ms`, `drop_next`, `drop_percent`; all zero turns
/// chaos off.
async fn chaos(State(app): State<AppState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    with_world(&app, q, &body, |world, params| {
        let number = |name: &str| params.int(name).map(|v| v.unwrap_or(0).max(0));
        world.chaos = Chaos {
            duplicates: u32::try_from(number("duplicates")?).unwrap_or(0),
            delay_ms: u64::try_from(number("delay_ms")?).unwrap_or(0),
            shuffle_ms: u64::try_from(number("shuffle_ms")?).unwrap_or(0),
            drop_next: u32::try_from(number("drop_next")?).unwrap_or(0),
            drop_percent: u8::try_from(number("drop_percent")?.min(100)).unwrap_or(0),
        };
        Ok(json!({ "chaos": format!("{:?}", world.chaos) }))
    })
}

async fn rate_limit(State(app): State<AppState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    with_world(&app, q, &body, |world, params| {
        // Stripe's limits per second, per mode: `read`, `write` (0 turns one off).
        let rate = |name: &str| -> ApiResult<Option<u32>> {
            Ok(params.int(name)?.map(|v| u32::try_from(v.max(0)).unwrap_or(u32::MAX)))
        };
        let (read, write) = (rate("read")?, rate("write")?);
        if read.is_some() || write.is_some() {
            let livemode = params.str("mode") == Some("live");
            world.controls.rate_limits.set(livemode, read.unwrap_or(0), write.unwrap_or(0));
        } else {
            world.controls.rate_limit_next = u32::try_from(params.int("count")?.unwrap_or(1)).unwrap_or(1);
        }
        Ok(
            json!({ "rate_limit_next": world.controls.rate_limit_next, "limits": world.controls.rate_limits.describe() }),
        )
    })
}

/// `fixed_ms` and `jitter_ms` (see [`crate::limits::Latency`]); both 0 turns it off.
async fn latency(State(app): State<AppState>, RawQuery(q): RawQuery, body: Bytes) -> Response {
    with_world(&app, q, &body, |world, params| {
        let millis =
            |name: &str| -> ApiResult<u64> { Ok(u64::try_from(params.int(name)?.unwrap_or(0)).unwrap_or(0)) };
        world.controls.latency =
            crate::limits::Latency { fixed_ms: millis("fixed_ms")?, jitter_ms: millis("jitter_ms")? };
        let latency = world.controls.latency;
        Ok(json!({ "fixed_ms": latency.fixed_ms, "jitter_ms": latency.jitter_ms }))
    })
}

async fn reset(State(app): State<AppState>) -> Response {
    app.deliveries.clear();
    with_world(&app, None, &[], |world, _| {
        world.reset();
        Ok(json!({ "reset": true }))
    })
}

/// How many connections `/v1` requests came on, and how many requests.
async fn stats(State(app): State<AppState>) -> Response {
    with_world(&app, None, &[], |world, _| {
        let controls = &world.controls;
        Ok(json!({
            "connections": controls.connections.len(),
            "requests": controls.requests,
            "rate_limited": controls.rate_limited,
        }))
    })
}

async fn deliveries(State(app): State<AppState>) -> Response {
    Json(json!({ "data": app.deliveries.attempts() })).into_response()
}
