//! Overload: calls offered at a fixed rate (open loop, each with a 1 s deadline, as a
//! well-behaved caller sets), whatever the service answers, so that offered load above
//! capacity piles up in the service until it sheds.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use caixa_proto::entitlement::v1::{
    CheckAccessRequest, entitlement_service_client::EntitlementServiceClient,
};
use caixa_test_support::grpc::channel;
use hdrhistogram::Histogram;
use tonic::Code;

/// What an overload step saw.
pub struct Overload {
    /// Calls offered per second (as actually sent).
    pub offered: f64,
    /// Answered calls per second.
    pub served: f64,
    /// Calls refused with RESOURCE_EXHAUSTED, and how fast the refusal came.
    pub shed: u64,
    shed_latency: Histogram<u64>,
    /// Calls that ran out of deadline or failed otherwise.
    pub failed: u64,
    served_latency: Histogram<u64>,
}

impl Overload {
    /// One line per outcome.
    pub fn describe(&self) -> String {
        let q = |h: &Histogram<u64>, q: f64| h.value_at_quantile(q);
        format!(
            "offered {:.0}/s; served {:.0}/s (p50 {} µs, p99 {} µs); shed {} (p99 {} µs to refuse); failed {}",
            self.offered,
            self.served,
            q(&self.served_latency, 0.5),
            q(&self.served_latency, 0.99),
            self.shed,
            q(&self.shed_latency, 0.99),
            self.failed
        )
    }
}

/// Offers `rate` CheckAccess calls per second for `step` over 8 connections.
pub async fn run(addr: SocketAddr, users: usize, rate: f64, step: Duration) -> Overload {
    let mut clients = Vec::new();
    for _ in 0..8 {
        clients.push(EntitlementServiceClient::new(channel(addr).await));
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Code, u64)>();
    let started = Instant::now();
    let mut sent = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    while started.elapsed() < step {
        tick.tick().await;
        let due = (started.elapsed().as_secs_f64() * rate) as u64;
        while sent < due {
            let mut client = clients[sent as usize % clients.len()].clone();
            let tx = tx.clone();
            let user = format!("user-{}", sent.wrapping_mul(0x9E37_79B9) % users as u64);
            tokio::spawn(async move {
                let mut request = tonic::Request::new(CheckAccessRequest {
                    user_id: user,
                    feature: "app".into(),
                    consistency: None,
                });
                request.set_timeout(Duration::from_secs(1));
                let at = Instant::now();
                let code = client.check_access(request).await.map_or_else(|s| s.code(), |_| Code::Ok);
                let _ = tx.send((code, at.elapsed().as_micros().max(1) as u64));
            });
            sent += 1;
        }
    }
    let offered = sent as f64 / started.elapsed().as_secs_f64();
    drop(tx);
    let histogram = || Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let (mut served_latency, mut shed_latency, mut failed) = (histogram(), histogram(), 0);
    while let Some((code, micros)) = rx.recv().await {
        match code {
            Code::Ok => served_latency.record(micros).unwrap(),
            Code::ResourceExhausted => shed_latency.record(micros).unwrap(),
            _ => failed += 1,
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Overload {
        offered,
        served: served_latency.len() as f64 / seconds,
        shed: shed_latency.len(),
        shed_latency,
        failed,
        served_latency,
    }
}
