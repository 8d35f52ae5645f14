//! The HTTP bridge: Stripe's webhooks, liveness and readiness probes, and metrics.

mod commit;
mod endpoints;
mod serve;
pub mod webhook;

pub use commit::Committer;
pub use endpoints::EndpointCache;
pub use serve::serve;

use axum::{
    BoxError, Router, error_handling::HandleErrorLayer, extract::DefaultBodyLimit, http::StatusCode,
    routing::post,
};
use caixa_runtime::grpc::HealthState;
use metrics_exporter_prometheus::PrometheusHandle;
use tower::{ServiceBuilder, limit::GlobalConcurrencyLimitLayer};

/// The bridge's routes.
pub fn router(
    health: HealthState,
    webhook: webhook::WebhookState,
    metrics: Option<PrometheusHandle>,
) -> Router {
    let limit = webhook.settings.max_body_bytes;
    // Outermost first: overload answers at once, a slow body or store ends at the timeout.
    let guard = ServiceBuilder::new()
        .layer(HandleErrorLayer::new(overloaded_or_slow))
        .load_shed()
        // One limit for both routes (a per-route limit would double it).
        .layer(GlobalConcurrencyLimitLayer::new(webhook.settings.max_concurrent))
        .timeout(webhook.settings.request_timeout);
    let webhooks = Router::new()
        .route("/stripe/webhook/{id}", post(webhook::receive))
        .route("/stripe/webhook/{id}/", post(webhook::receive))
        .layer(DefaultBodyLimit::max(limit))
        .layer(guard)
        .with_state(webhook);
    caixa_runtime::http::probes(health, metrics).merge(webhooks)
}

/// 503 when the delivery limit is reached, 408 when a delivery took too long; Stripe
/// retries both.
async fn overloaded_or_slow(err: BoxError) -> (StatusCode, &'static str) {
    if err.is::<tower::load_shed::error::Overloaded>() {
        metrics::counter!("caixa_webhook_rejected_total", "reason" => "overloaded").increment(1);
        (StatusCode::SERVICE_UNAVAILABLE, "too many deliveries in progress; retry")
    } else if err.is::<tower::timeout::error::Elapsed>() {
        metrics::counter!("caixa_webhook_rejected_total", "reason" => "timeout").increment(1);
        (StatusCode::REQUEST_TIMEOUT, "the delivery took too long; retry")
    } else {
        (StatusCode::INTERNAL_SERVER_ERROR, "delivery failed; retry")
    }
}
