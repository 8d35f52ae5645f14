//! The `/v1` API: authentication and mode, rate limiting on demand, idempotency keys,
//! pagination and `expand[]`, shared by every resource's handlers.

mod catalog;
mod checkout;
mod created;
mod customers;
mod events;
mod headers;
mod known;
mod list;
mod pages;
mod promotions;
mod subscriptions;
mod webhook_endpoints;

use axum::{
    Router,
    body::Bytes,
    extract::{ConnectInfo, MatchedPath, RawPathParams, RawQuery, State},
    http::{HeaderMap, HeaderValue, Method, StatusCode},
    response::{IntoResponse, Response},
    routing::{MethodFilter, MethodRouter},
};
use serde_json::{Value, json};
use std::net::SocketAddr;

use headers::{is_api_version, mode_of, new_request_id, with_request_id};

pub use list::{list_page, page};

use crate::{
    AppState,
    error::{ApiResult, StripeError},
    form::{self, Params},
    world::World,
};

/// What a handler knows about its request besides the parameters.
pub struct Ctx {
    /// Test or live, from the key's prefix.
    pub livemode: bool,
    path: Vec<(String, String)>,
}

impl Ctx {
    /// A path parameter, like `{id}`.
    pub fn id(&self, name: &str) -> &str {
        self.path.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default()
    }
}

/// A resource handler: runs under the world's lock and returns the object to send.
pub type Op = fn(&mut World, &Ctx, &Params) -> ApiResult<Value>;

/// The whole router: `/v1`, the hosted pages and the `/_emulator` controls.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/customers", post(customers::create).merge(get(customers::list)))
        .route(
            "/v1/customers/{id}",
            get(customers::retrieve).merge(post(customers::update)).merge(delete(customers::delete)),
        )
        .route("/v1/products", post(catalog::create_product).merge(get(catalog::list_products)))
        .route("/v1/products/{id}", get(catalog::retrieve_product).merge(post(catalog::update_product)))
        .route(
            "/v1/products/{id}/features",
            post(catalog::attach_feature).merge(get(catalog::list_product_features)),
        )
        .route("/v1/prices", post(catalog::create_price).merge(get(catalog::list_prices)))
        .route("/v1/prices/{id}", get(catalog::retrieve_price).merge(post(catalog::update_price)))
        .route("/v1/entitlements/features", post(catalog::create_feature).merge(get(catalog::list_features)))
        .route("/v1/entitlements/active_entitlements", get(catalog::active_entitlements))
        .route("/v1/checkout/sessions", post(checkout::create).merge(get(checkout::list)))
        .route("/v1/checkout/sessions/{id}", get(checkout::retrieve))
        .route("/v1/checkout/sessions/{id}/expire", post(checkout::expire))
        .route("/v1/billing_portal/sessions", post(checkout::create_portal_session))
        .route("/v1/coupons", post(promotions::create_coupon))
        .route(
            "/v1/promotion_codes",
            post(promotions::create_promotion_code).merge(get(promotions::list_promotion_codes)),
        )
        .route("/v1/subscriptions", get(subscriptions::list))
        .route(
            "/v1/subscriptions/{id}",
            get(subscriptions::retrieve)
                .merge(post(subscriptions::update))
                .merge(delete(subscriptions::cancel)),
        )
        .route("/v1/subscriptions/{id}/resume", post(subscriptions::resume))
        .route("/v1/invoices/{id}", get(subscriptions::retrieve_invoice))
        .route("/v1/webhook_endpoints", post(webhook_endpoints::create).merge(get(webhook_endpoints::list)))
        .route(
            "/v1/webhook_endpoints/{id}",
            get(webhook_endpoints::retrieve)
                .merge(post(webhook_endpoints::update))
                .merge(delete(webhook_endpoints::delete)),
        )
        .route("/v1/events", get(events::list))
        .route("/v1/events/{id}", get(events::retrieve))
        .merge(pages::router())
        .merge(crate::control::router())
        .fallback(|method: Method, uri: axum::http::Uri| async move {
            with_request_id(StripeError::unrecognized_url(method.as_str(), uri.path()).into_response())
        })
        .with_state(state)
}

fn get(f: Op) -> MethodRouter<AppState> {
    op(MethodFilter::GET, f)
}

fn post(f: Op) -> MethodRouter<AppState> {
    op(MethodFilter::POST, f)
}

fn delete(f: Op) -> MethodRouter<AppState> {
    op(MethodFilter::DELETE, f)
}

/// Wraps a resource handler in authentication, idempotency and expansion.
fn op(method_filter: MethodFilter, f: Op) -> MethodRouter<AppState> {
    let handler = move |State(app): State<AppState>,
                        ConnectInfo(peer): ConnectInfo<SocketAddr>,
                        route: MatchedPath,
                        path: RawPathParams,
                        method: Method,
                        headers: HeaderMap,
                        RawQuery(query): RawQuery,
                        body: Bytes| async move {
        let path = path.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
        // Stripe is far away: the request waits before it is handled, holding no lock;
        // the first on a connection waits for its handshakes too.
        let delay = app
            .world
            .lock()
            .map(|mut w| {
                w.controls.requests += 1;
                let new_connection = w.controls.connections.insert(peer);
                w.controls.latency.sample(new_connection)
            })
            .unwrap_or_default();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let request =
            Request { route: route.as_str(), method: &method, headers: &headers, query, body: &body };
        let request_id = new_request_id();
        let mut response = call(&app, f, path, request, &request_id);
        if let Ok(value) = HeaderValue::from_str(&request_id) {
            response.headers_mut().insert("request-id", value);
        }
        response.headers_mut().insert("stripe-version", HeaderValue::from_static(crate::DEFAULT_API_VERSION));
        response
    };
    axum::routing::on(method_filter, handler)
}

/// What the API handler needs of the HTTP request.
struct Request<'a> {
    /// The route as declared (`/v1/customers/{id}`).
    route: &'a str,
    method: &'a Method,
    headers: &'a HeaderMap,
    query: Option<String>,
    body: &'a [u8],
}

fn call(
    app: &AppState,
    f: Op,
    path: Vec<(String, String)>,
    request: Request<'_>,
    request_id: &str,
) -> Response {
    let Request { route, method, headers, query, body } = request;
    let livemode = match mode_of(headers) {
        Ok(livemode) => livemode,
        Err(err) => return err.into_response(),
    };
    if let Some(version) = headers.get("stripe-version") {
        let version = version.to_str().unwrap_or_default();
        if !is_api_version(version) {
            return StripeError::invalid_version(version).into_response();
        }
    }
    let mut params = form::decode(query.as_deref().unwrap_or_default().as_bytes());
    if let (Value::Object(into), Value::Object(from)) = (&mut params, form::decode(body)) {
        into.extend(from);
    }
    if let Value::Object(names) = &params
        && let Some(name) = known::unknown(method, route, names.keys())
    {
        return StripeError::unknown_parameter(name).into_response();
    }
    let params = Params(params);
    let Ok(mut world) = app.world.lock() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "emulator state poisoned").into_response();
    };
    if world.controls.rate_limit_next > 0 {
        world.controls.rate_limit_next -= 1;
        return StripeError::rate_limited().into_response();
    }
    if !world.controls.rate_limits.allow(livemode, method != Method::GET) {
        world.controls.rate_limited += 1;
        return StripeError::rate_limited().into_response();
    }
    let idempotency = (method == Method::POST)
        .then(|| headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned))
        .flatten();
    let fingerprint = format!("{method} {} {}", path_string(&path), String::from_utf8_lossy(body));
    if let Some(key) = &idempotency
        && let Some((seen, status, body)) = world.idempotency.get(&(livemode, key.clone()))
    {
        if *seen != fingerprint {
            return StripeError::idempotency_mismatch(key).into_response();
        }
        let mut response =
            (StatusCode::from_u16(*status).unwrap_or(StatusCode::OK), axum::Json(body.clone()))
                .into_response();
        response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
        return response;
    }
    let ctx = Ctx { livemode, path };
    // Events the handler causes name this request.
    world.request = Some((request_id.to_owned(), idempotency.clone()));
    let result =
        f(&mut world, &ctx, &params).map(|object| expand(&world, object, &params.expand(), livemode));
    world.request = None;
    let (status, body) = match result {
        Ok(object) => (StatusCode::OK, object),
        Err(err) => (err.status, err.body()),
    };
    if let Some(key) = idempotency {
        world.idempotency.insert((livemode, key), (fingerprint, status.as_u16(), body.clone()));
    }
    (status, axum::Json(body)).into_response()
}

fn path_string(path: &[(String, String)]) -> String {
    path.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&")
}

/// Replaces ids at the `expand[]` paths with the objects they name.
fn expand(world: &World, mut object: Value, paths: &[String], livemode: bool) -> Value {
    for path in paths {
        let parts: Vec<&str> = path.split('.').collect();
        expand_at(world, &mut object, &parts, livemode);
    }
    object
}

fn expand_at(world: &World, node: &mut Value, parts: &[&str], livemode: bool) {
    let Some((first, rest)) = parts.split_first() else { return };
    if *first == "data" {
        if let Some(items) = node.get_mut("data").and_then(Value::as_array_mut) {
            for item in items {
                expand_at(world, item, rest, livemode);
            }
        }
        return;
    }
    let Some(child) = node.get_mut(*first) else { return };
    if rest.is_empty() {
        if let Some(found) = child.as_str().and_then(|id| world.get(id, livemode)) {
            *child = found.clone();
        }
    } else {
        expand_at(world, child, rest, livemode);
    }
}

/// Creates a product with a `features` list and a monthly price in test mode, for a
/// local stack that starts with an empty account; returns the price id.
pub(crate) fn seed_plan(world: &mut World, name: &str, amount: i64, currency: &str) -> ApiResult<String> {
    let ctx = Ctx { livemode: false, path: Vec::new() };
    let product = catalog::create_product(
        world,
        &ctx,
        &Params(json!({ "name": name, "metadata": { "features": "app,reports" } })),
    )?;
    let price = catalog::create_price(
        world,
        &ctx,
        &Params(json!({
            "product": product["id"], "currency": currency, "unit_amount": amount.to_string(),
            "recurring": { "interval": "month" },
        })),
    )?;
    Ok(price["id"].as_str().unwrap_or_default().to_owned())
}
