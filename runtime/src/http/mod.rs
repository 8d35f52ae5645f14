//! The plain HTTP endpoints every service serves beside gRPC: liveness, readiness and
//! Prometheus metrics.

mod serve;

pub use serve::{HttpLimits, serve};

use axum::{Router, extract::State, http::StatusCode, routing::get};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::grpc::HealthState;

/// `/healthz` (the process answers), `/readyz` (it reports SERVING and is not draining)
/// and `/metrics` (the Prometheus text format).
pub fn probes(health: HealthState, metrics: Option<PrometheusHandle>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .with_state(health)
        .route("/metrics", get(move || async move { metrics.map(|m| m.render()).unwrap_or_default() }))
}

/// 200 while serving; 503 while the database (or snapshot) is not ready or a drain is
/// under way, so a load balancer stops sending traffic.
async fn readyz(State(health): State<HealthState>) -> (StatusCode, &'static str) {
    if health.is_draining() {
        (StatusCode::SERVICE_UNAVAILABLE, "draining")
    } else if health.is_serving() {
        (StatusCode::OK, "ready")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: database unreachable, schema behind or state not loaded",
        )
    }
}
