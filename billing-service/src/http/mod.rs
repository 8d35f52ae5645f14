//! The HTTP bridge: liveness and readiness probes (and, later, Stripe's webhooks).

use axum::{Router, extract::State, http::StatusCode, routing::get};
use caixa_runtime::grpc::HealthState;

/// The bridge's routes.
pub fn router(health: HealthState) -> Router {
    Router::new().route("/healthz", get(|| async { "ok" })).route("/readyz", get(readyz)).with_state(health)
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
