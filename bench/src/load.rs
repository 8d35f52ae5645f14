//! Load generators and measurements.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use caixa_proto::entitlement::v1::{
    CheckAccessBatchRequest, CheckAccessRequest, entitlement_service_client::EntitlementServiceClient,
};
use caixa_test_support::grpc::{channel, wait_for_health};
use hdrhistogram::Histogram;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;

/// Throughput and latency of one load step.
pub struct Measured {
    /// Calls per second.
    pub per_second: f64,
    histogram: Histogram<u64>,
}

impl Measured {
    /// `N/s, p50/p90/p99/p99.9` in microseconds.
    pub fn describe(&self) -> String {
        let q = |q: f64| self.histogram.value_at_quantile(q);
        format!(
            "{:.0}/s; p50 {} µs, p90 {} µs, p99 {} µs, p99.9 {} µs",
            self.per_second,
            q(0.5),
            q(0.9),
            q(0.99),
            q(0.999)
        )
    }
}

/// Waits until the entitlement service reports SERVING.
pub async fn wait_serving(addr: SocketAddr) {
    wait_for_health(
        addr,
        "caixa.entitlement.v1.EntitlementService",
        ServingStatus::Serving,
        Duration::from_secs(600),
    )
    .await;
}

/// A cheap pseudo-random user index.
fn user(seed: &mut u64, users: usize) -> String {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    format!("user-{}", *seed % users as u64)
}

/// `concurrency` callers, each looping CheckAccess for `step`, over up to 8 connections.
pub async fn unary(addr: SocketAddr, users: usize, concurrency: usize, step: Duration) -> Measured {
    let mut channels: Vec<Channel> = Vec::new();
    for _ in 0..concurrency.min(8) {
        channels.push(channel(addr).await);
    }
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..concurrency {
        let mut client = EntitlementServiceClient::new(channels[n % channels.len()].clone());
        tasks.spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
            let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (n as u64 + 1);
            while started.elapsed() < step {
                let request = CheckAccessRequest {
                    user_id: user(&mut seed, users),
                    feature: "app".into(),
                    consistency: None,
                };
                let at = Instant::now();
                let answer = client.check_access(request).await.unwrap().into_inner();
                histogram.record(at.elapsed().as_micros().max(1) as u64).unwrap();
                assert!(answer.allowed, "seeded users have access");
            }
            histogram
        });
    }
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    for part in tasks.join_all().await {
        histogram.add(part).unwrap();
    }
    Measured { per_second: histogram.len() as f64 / started.elapsed().as_secs_f64(), histogram }
}

/// Batches of `size` checks for `step`, from `callers` callers each with one batch in
/// flight (over two connections); returns checks per second and checks made.
pub async fn batch(
    addr: SocketAddr,
    users: usize,
    size: usize,
    callers: usize,
    step: Duration,
) -> (f64, usize) {
    let channels = [channel(addr).await, channel(addr).await];
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..callers {
        let mut client =
            EntitlementServiceClient::new(channels[n % 2].clone()).max_decoding_message_size(64 << 20);
        tasks.spawn(async move {
            let mut seed = 42u64 + n as u64;
            let mut checks = 0usize;
            while started.elapsed() < step {
                let request = CheckAccessBatchRequest {
                    checks: (0..size)
                        .map(|_| CheckAccessRequest {
                            user_id: user(&mut seed, users),
                            feature: String::new(),
                            consistency: None,
                        })
                        .collect(),
                };
                let results = client.check_access_batch(request).await.unwrap().into_inner().results;
                assert!(results.iter().all(|r| r.allowed), "seeded users have access");
                checks += results.len();
            }
            checks
        });
    }
    let checks: usize = tasks.join_all().await.into_iter().sum();
    (checks as f64 / started.elapsed().as_secs_f64(), checks)
}
