//! CheckAccess measured as an outsider would: h2load (one thread, gRPC framing) at
//! several load shapes, beside the transport floor, `grpc.health.v1.Health/Check` on the
//! same server at the same shape. The ratio says how much of the cost is ours.
//! h2load sends one body on every call, so every call asks about the same user; the
//! tonic-client batch step covers users spread across the table.

use std::{net::SocketAddr, time::Duration};

use caixa_proto::entitlement::v1::CheckAccessRequest;
use hdrhistogram::Histogram;
use tonic_health::pb::HealthCheckRequest;

use crate::{h2load, server::Server};

/// Connections × concurrent streams on each.
pub const SHAPES: [(usize, usize); 4] = [(1, 1), (1, 16), (4, 16), (8, 32)];

/// CheckAccess, as h2load names it.
pub const CHECK: &str = "caixa.entitlement.v1.EntitlementService/CheckAccess";
/// The floor.
pub const HEALTH: &str = "grpc.health.v1.Health/Check";

/// One shape's figures.
pub struct Shape {
    /// CheckAccess calls per second and latency.
    pub check: (f64, Histogram<u64>),
    /// Health/Check calls per second and latency.
    pub floor: (f64, Histogram<u64>),
    /// CheckAccess ÷ floor of each round, sorted.
    pub ratios: Vec<f64>,
    /// The service's CPU time per call, in nanoseconds: CheckAccess, floor.
    pub cpu_per_call: (f64, f64),
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
        let percent = |r: f64| format!("{:.0} %", 100.0 * r);
        let (low, high) = (self.ratios.first().copied(), self.ratios.last().copied());
        format!(
            "{}; floor {}; {} of the floor (median of {} paired rounds; {}–{}); service CPU a call {:.1} µs, floor's {:.1} µs: {}",
            describe(&self.check),
            describe(&self.floor),
            percent(median(&self.ratios)),
            self.ratios.len(),
            percent(low.unwrap_or(0.0)),
            percent(high.unwrap_or(0.0)),
            self.cpu_per_call.0 / 1e3,
            self.cpu_per_call.1 / 1e3,
            percent(self.cpu_per_call.1 / self.cpu_per_call.0.max(1.0)),
        )
    }
}

/// The middle of sorted `values` (the mean of the middle two when their number is even).
fn median(values: &[f64]) -> f64 {
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Measures one shape: CheckAccess for a seeded user and the floor in paired rounds of
/// a second each, floor first in one round and CheckAccess first in the next, for twice
/// the step in all. On a virtual machine whose neighbours come and go, a run's rate
/// moves by ±10 % from one ten-second span to the next; a round's two halves share
/// their conditions, so the median of the rounds' ratios says what CheckAccess costs
/// over the floor, where one ratio of two long runs says mostly what the neighbours did.
pub async fn shape(server: &Server, users: usize, shape: (usize, usize), step: Duration) -> Shape {
    let check = check_frame(users);
    let health = health_frame();
    let addr = server.addr;
    // One second of one method: its rate and latency, and the service CPU it took.
    let run = |method, body| async move {
        let before = server.cpu_ns();
        let result = h2load::closed_loop(addr, method, body, shape, 1).await;
        (result, server.cpu_ns().saturating_sub(before))
    };
    let rounds = step.as_secs().max(1);
    let (mut checks, mut floors, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    // Service CPU (ns) and calls, summed over the rounds; calls = rate × one second.
    let (mut check_cost, mut floor_cost) = ((0u64, 0u64), (0u64, 0u64));
    for round in 0..rounds {
        let ((check, check_cpu), (floor, floor_cpu)) = if round % 2 == 0 {
            let floor = run(HEALTH, &health).await;
            (run(CHECK, &check).await, floor)
        } else {
            let check = run(CHECK, &check).await;
            (check, run(HEALTH, &health).await)
        };
        ratios.push(check.0 / floor.0.max(1.0));
        check_cost = (check_cost.0 + check_cpu, check_cost.1 + check.0 as u64);
        floor_cost = (floor_cost.0 + floor_cpu, floor_cost.1 + floor.0 as u64);
        checks.push(check);
        floors.push(floor);
    }
    ratios.sort_by(f64::total_cmp);
    let per_call = |(ns, calls): (u64, u64)| ns as f64 / calls.max(1) as f64;
    Shape {
        check: merge(checks),
        floor: merge(floors),
        ratios,
        cpu_per_call: (per_call(check_cost), per_call(floor_cost)),
    }
}

/// Equally long runs as one: the mean rate, every latency.
fn merge(runs: Vec<(f64, Histogram<u64>)>) -> (f64, Histogram<u64>) {
    let count = runs.len().max(1) as f64;
    let mut all = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("valid bounds");
    let mut total = 0.0;
    for (rate, latency) in runs {
        total += rate;
        all.add(&latency).expect("same bounds");
    }
    (total / count, all)
}

/// CheckAccess at one shape against any server (the baseline), calls per second and
/// latency.
pub async fn check_only(addr: SocketAddr, users: usize, shape: (usize, usize), step: Duration) -> String {
    let check = check_frame(users);
    describe(&h2load::closed_loop(addr, CHECK, &check, shape, step.as_secs().max(1)).await)
}

/// The floor's call: the health of the entitlement service.
pub fn health_frame() -> Vec<u8> {
    h2load::frame(&HealthCheckRequest { service: "caixa.entitlement.v1.EntitlementService".into() })
}

/// The CheckAccess call h2load repeats: one seeded user, a feature its plan grants.
pub fn check_frame(users: usize) -> Vec<u8> {
    h2load::frame(&CheckAccessRequest {
        user_id: format!("user-{}", 7_919 % users.max(1)),
        feature: "app".into(),
        consistency: None,
    })
}
