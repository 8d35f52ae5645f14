//! The seed's flow on one page, for a newcomer's browser: the pricing table from
//! `ListPlans`, Subscribe → the checkout page → back to a success page that syncs the
//! session and watches `CheckAccess` turn true, then the customer portal. The page is
//! plain HTML and a little script; these handlers turn its JSON calls into the real gRPC
//! calls a web backend makes, with the Rust client.

use std::{net::SocketAddr, time::Duration};

use axum::{
    Json, Router,
    extract::State,
    http::StatusCode,
    response::{Html, IntoResponse, Response},
    routing::{get, post},
};
use caixa_client::{BillingClient, ClientConfig, ClientError, EntitlementClient, Limit};
use caixa_proto::billing::v1::{
    CreateCheckoutSessionRequest, CreatePortalSessionRequest, ListPlansRequest, SyncCheckoutSessionRequest,
};
use serde::Deserialize;
use serde_json::{Value, json};

const PAGE: &str = include_str!("page.html");

/// The clients the page's calls go through.
#[derive(Clone)]
struct Demo {
    billing: BillingClient,
    entitlement: EntitlementClient,
    base: String,
}

/// The demo's routes, calling billing at `billing` and entitlement at `entitlement`, and
/// sending Stripe back to `base` (the demo's own URL).
pub fn router(
    billing: &str,
    entitlement: &str,
    base: String,
    token: Option<String>,
) -> anyhow::Result<Router> {
    let mut config = ClientConfig::default().with_deadline(Duration::from_secs(10));
    config.token = token;
    let demo = Demo {
        billing: BillingClient::new(&[billing], config.clone())?,
        entitlement: EntitlementClient::new(&[entitlement], config)?,
        base,
    };
    Ok(Router::new()
        .route("/", get(page))
        .route("/success", get(page))
        .route("/api/plans", get(plans))
        .route("/api/checkout", post(checkout))
        .route("/api/sync", post(sync))
        .route("/api/access", post(access))
        .route("/api/portal", post(portal))
        .with_state(demo))
}

/// Serves the demo on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, router: Router) {
    if let Err(error) = axum::serve(listener, router).await {
        tracing::warn!(%error, "the demo page stopped");
    }
}

/// Binds the demo's address.
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    Ok(tokio::net::TcpListener::bind(addr).await?)
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

/// A failed call as the page shows it: the service's own words.
struct Failed(ClientError);

impl IntoResponse for Failed {
    fn into_response(self) -> Response {
        (StatusCode::BAD_GATEWAY, Json(json!({ "error": self.0.to_string() }))).into_response()
    }
}

impl From<ClientError> for Failed {
    fn from(error: ClientError) -> Self {
        Self(error)
    }
}

async fn plans(State(demo): State<Demo>) -> Result<Json<Value>, Failed> {
    let plans = demo.billing.list_plans(ListPlansRequest {}).await?.plans;
    let plans: Vec<Value> = plans
        .into_iter()
        .map(|p| {
            let features: Vec<Value> = p
                .features
                .iter()
                .map(|f| json!({ "feature": f.feature, "limit": f.limit.as_ref().map(Limit::from_proto) }))
                .collect();
            json!({
                "price_id": p.price_id, "name": p.name, "description": p.description,
                "unit_amount": p.unit_amount, "currency": p.currency, "interval": p.interval,
                "trial_days": p.trial_days, "features": features, "default": p.default,
            })
        })
        .collect();
    Ok(Json(json!({ "plans": plans })))
}

#[derive(Deserialize)]
struct Checkout {
    user_id: String,
    email: String,
    price_id: String,
    seats: u32,
}

async fn checkout(State(demo): State<Demo>, Json(form): Json<Checkout>) -> Result<Json<Value>, Failed> {
    let success = format!("{}/success?session_id={{CHECKOUT_SESSION_ID}}", demo.base);
    let opened = demo
        .billing
        .create_checkout_session(CreateCheckoutSessionRequest {
            user_id: form.user_id,
            email: form.email,
            price_id: Some(form.price_id),
            success_url: Some(success),
            cancel_url: Some(format!("{}/", demo.base)),
            quantity: Some(form.seats),
            allow_promotion_codes: true,
        })
        .await?;
    Ok(Json(json!({ "url": opened.url, "trial_days": opened.trial_days })))
}

#[derive(Deserialize)]
struct Session {
    session_id: String,
}

async fn sync(State(demo): State<Demo>, Json(form): Json<Session>) -> Result<Json<Value>, Failed> {
    let request = SyncCheckoutSessionRequest { session_id: form.session_id };
    let synced = demo.billing.sync_checkout_session(request).await?;
    Ok(Json(
        json!({ "user_id": synced.user_id, "revision": synced.revision, "status": synced.status().as_str_name() }),
    ))
}

#[derive(Deserialize)]
struct Check {
    user_id: String,
    feature: String,
    #[serde(default)]
    revision: u64,
}

async fn access(State(demo): State<Demo>, Json(form): Json<Check>) -> Result<Json<Value>, Failed> {
    let client =
        if form.revision > 0 { demo.entitlement.at_least_as_fresh(form.revision) } else { demo.entitlement };
    let access = client.check(&form.user_id, &form.feature).await?;
    Ok(Json(json!({
        "allowed": access.allowed, "reason": access.reason.as_str_name(), "seats": access.seats,
        "limit": access.limit, "revision": access.revision.get(),
    })))
}

#[derive(Deserialize)]
struct User {
    user_id: String,
}

async fn portal(State(demo): State<Demo>, Json(form): Json<User>) -> Result<Json<Value>, Failed> {
    let request =
        CreatePortalSessionRequest { user_id: form.user_id, return_url: Some(format!("{}/", demo.base)) };
    let url = demo.billing.create_portal_session(request).await?.url;
    Ok(Json(json!({ "url": url })))
}
