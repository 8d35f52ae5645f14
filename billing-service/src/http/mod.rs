//! The HTTP bridge: Stripe's webhooks, liveness and readiness probes, and metrics.

pub mod webhook;

use axum::{
    Router,
    extract::{DefaultBodyLimit, State},
    http::StatusCode,
    routing::{get, post},
};
use caixa_runtime::grpc::HealthState;
use metrics_exporter_prometheus::PrometheusHandle;

/// The bridge's routes.
pub fn router(
    health: HealthState,
    webhook: webhook::WebhookState,
    metrics: Option<PrometheusHandle>,
) -> Router {
    let limit = webhook.settings.max_body_bytes;
    let webhooks = Router::new()
        .route("/stripe/webhook/{id}", post(webhook::receive))
        .route("/stripe/webhook/{id}/", post(webhook::receive))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(webhook);
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(health)
        .route("/metrics", get(move || async move { metrics.map(|m| m.render()).unwrap_or_default() }))
        .merge(webhooks)
}

/// 200 while serving; 503 while the database is not ready or a drain is under way, so a
/// load balancer stops sending traffic.
async fn readyz(State(health): State<HealthState>) -> (StatusCode, &'static str) {
    if health.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else if health.is_serving() {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: database unreachable or schema behind")
    }
}
