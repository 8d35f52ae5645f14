//! The HTTP bridge: Stripe's webhooks, liveness and readiness probes, and metrics.

mod commit;
mod endpoints;
pub mod webhook;

pub use commit::Committer;
pub use endpoints::EndpointCache;

use axum::{
    BoxError, Router, error_handling::HandleErrorLayer, extract::DefaultBodyLimit, http::StatusCode,
    routing::post,
};
use caixa_runtime::grpc::HealthState;
use metrics_exporter_prometheus::PrometheusHandle;
use tower::ServiceBuilder;

/// The bridge's routes.
pub fn router(
    health: HealthState,
    webhook: webhook::WebhookState,
    metrics: Option<PrometheusHandle>,
) -> Router {
    let limit = webhook.settings.max_body_bytes;
    // A slow body or store ends at the timeout. The delivery slots guard storage only
    // (`webhook::receive`), so bodies an attacker sends slowly never hold one.
    let guard = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(overloaded_or_slow))
        .timeout(webhook.settings.request_timeout);
    let webhooks = Router::new()
        .route("/stripe/webhook/{id}", post(webhook::receive))
        .route("/stripe/webhook/{id}/", post(webhook::receive))
        .layer(DefaultBodyLimit::max(limit))
        .layer(guard)
        .with_state(webhook);
    caixa_runtime::http::probes(health, metrics).merge(webhooks)
}

/// 408 when a delivery took too long; Stripe retries it.
async fn overloaded_or_slow(err: BoxError) -> (StatusCode, &'static str) {
    if err.is::<tower::timeout::error::Elapsed>() {
        metrics::counter!("caixa_webhook_rejected_total", "reason" => "timeout").increment(1);
        (StatusCode::REQUEST_TIMEOUT, "the delivery took too long; retry")
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, "delivery failed; retry")
    }
}
