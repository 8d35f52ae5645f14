//! Hosted pages for local development: a checkout page whose button completes the
//! session and redirects to the success URL, and a minimal customer portal.

use axum::{
    Router,
    body::Bytes,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};

use crate::{AppState, form::Params};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/checkout/{id}", get(checkout_page))
        .route("/checkout/{id}/pay", post(pay))
        .route("/portal/{id}", get(portal_page))
}

async fn checkout_page(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(world) = app.world.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    let Some(session) = world.get_any(&id) else {
        return (StatusCode::NOT_FOUND, "no such checkout session").into_response();
    };
    let extras = world.checkout_extras.get(&id).cloned().unwrap_or_default();
    let trial = extras["trial_days"].as_i64().unwrap_or(0);
    let status = session["status"].as_str().unwrap_or_default();
    let email = session["customer_email"].as_str().unwrap_or("(existing customer)");
    let cancel = session["cancel_url"].as_str().unwrap_or("#");
    let quantity = extras["quantity"].as_i64().unwrap_or(1);
    let code = if session["allow_promotion_codes"] == true {
        "<label>Promotion code <input name=promotion_code id=promotion_code></label>"
    } else {
        ""
    };
    let action = if status == "open" {
        format!(
            "<form method=post action=\"/checkout/{id}/pay\">{code}<button id=pay>Subscribe</button></form>"
        )
    } else {
        format!("<p>This session is {status}.</p>")
    };
    Html(format!(
        "<!doctype html><title>Checkout (Stripe emulator)</title><h1>Checkout</h1>\
         <p>Customer: {email}</p><p>Price: {}</p><p>Seats: {quantity}</p><p>Free trial: {trial} days</p>{action}\
         <p><a href=\"{cancel}\">Cancel</a></p>",
        extras["price"].as_str().unwrap_or_default()
    ))
    .into_response()
}

async fn pay(State(app): State<AppState>, Path(id): Path<String>, body: Bytes) -> Response {
    let form = Params(crate::form::decode(&body));
    let Ok(mut world) = app.world.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    let livemode = world.get_any(&id).and_then(|s| s["livemode"].as_bool()).unwrap_or(false);
    match world.complete_checkout(&id, livemode, form.str("promotion_code")) {
        Ok(session) => {
            let target = session["success_url"].as_str().unwrap_or("/").replace("{CHECKOUT_SESSION_ID}", &id);
            (StatusCode::SEE_OTHER, [(header::LOCATION, target)]).into_response()
        }
        Err(err) => err.into_response(),
    }
}

async fn portal_page(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(world) = app.world.lock() else { return StatusCode::INTERNAL_SERVER_ERROR.into_response() };
    let Some(session) = world.get_any(&id).cloned() else {
        return (StatusCode::NOT_FOUND, "no such portal session").into_response();
    };
    let livemode = session["livemode"].as_bool().unwrap_or(false);
    let subs: String = world
        .subscriptions_of(session["customer"].as_str().unwrap_or_default(), livemode)
        .iter()
        .map(|s| {
            format!(
                "<li>{} — {}</li>",
                s["id"].as_str().unwrap_or_default(),
                s["status"].as_str().unwrap_or_default()
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><title>Customer portal (Stripe emulator)</title><h1>Your subscriptions</h1><ul>{subs}</ul>\
         <p><a href=\"{}\">Return</a></p>",
        session["return_url"].as_str().unwrap_or("#")
    ))
    .into_response()
}
