//! CheckAccess measured as an outsider would: h2load (one thread, gRPC framing) at
//! several load shapes, beside the transport floor, `grpc.health.v1.Health/Check` on the
//! same server at the same shape. The ratio says how much of the cost is ours.
//! h2load sends one body on every call, so every call asks about the same user; the
//! tonic-client batch step covers users spread across the table.

use std::{net::SocketAddr, time::Duration};

use caixa_proto::entitlement::v1::CheckAccessRequest;
use hdrhistogram::Histogram;
use tonic_health::pb::HealthCheckRequest;

use crate::h2load;

/// Connections × concurrent streams on each.
pub const SHAPES: [(usize, usize); 4] = [(1, 1), (1, 16), (4, 16), (8, 32)];

const CHECK: &str = "caixa.entitlement.v1.EntitlementService/CheckAccess";
const HEALTH: &str = "grpc.health.v1.Health/Check";

/// One shape's figures.
pub struct Shape {
    /// CheckAccess calls per second and latency.
    pub check: (f64, Histogram<u64>),
    /// Health/Check calls per second and latency.
    pub floor: (f64, Histogram<u64>),
}

fn describe((rate, latency): &(f64, Histogram<u64>)) -> String {
    format!(
        "{rate:.0}/s, p50 {} µs, p99 {} µs",
        latency.value_at_quantile(0.5),
        latency.value_at_quantile(0.99)
    )
}

impl Shape {
    /// `CheckAccess …; floor …; ratio`.
    pub fn describe(&self) -> String {
        format!(
            "{}; floor {}; {:.0} % of the floor",
            describe(&self.check),
            describe(&self.floor),
            100.0 * self.check.0 / self.floor.0.max(1.0)
        )
    }
}

/// Measures one shape: CheckAccess for a seeded user and the floor, in the order floor,
/// check, check, floor, each for half the step, so that a machine getting faster or
/// slower during the step (a neighbour on the host, frequency) weighs on both alike.
pub async fn shape(addr: SocketAddr, users: usize, shape: (usize, usize), step: Duration) -> Shape {
    let check = check_frame(users);
    let health =
        h2load::frame(&HealthCheckRequest { service: "caixa.entitlement.v1.EntitlementService".into() });
    let half = (step.as_secs() / 2).max(1);
    let first_floor = h2load::closed_loop(addr, HEALTH, &health, shape, half).await;
    let first_check = h2load::closed_loop(addr, CHECK, &check, shape, half).await;
    let second_check = h2load::closed_loop(addr, CHECK, &check, shape, half).await;
    let second_floor = h2load::closed_loop(addr, HEALTH, &health, shape, half).await;
    Shape { check: merge(first_check, second_check), floor: merge(first_floor, second_floor) }
}

/// Two equally long runs as one: the mean rate, every latency.
fn merge(
    (rate, mut latency): (f64, Histogram<u64>),
    (other_rate, other): (f64, Histogram<u64>),
) -> (f64, Histogram<u64>) {
    latency.add(&other).expect("same bounds");
    ((rate + other_rate) / 2.0, latency)
}

/// CheckAccess at one shape against any server (the baseline), calls per second and
/// latency.
pub async fn check_only(addr: SocketAddr, users: usize, shape: (usize, usize), step: Duration) -> String {
    let check = check_frame(users);
    describe(&h2load::closed_loop(addr, CHECK, &check, shape, step.as_secs().max(1)).await)
}

/// The CheckAccess call h2load repeats: one seeded user, a feature its plan grants.
fn check_frame(users: usize) -> Vec<u8> {
    h2load::frame(&CheckAccessRequest {
        user_id: format!("user-{}", 7_919 % users.max(1)),
        feature: "app".into(),
        consistency: None,
    })
}
