//! Load generators and measurements.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use caixa_proto::{
    billing::v1::{CreateCheckoutSessionRequest, billing_service_client::BillingServiceClient},
    entitlement::v1::{
        CheckAccessBatchRequest, CheckAccessRequest, WatchEntitlementsRequest,
        entitlement_service_client::EntitlementServiceClient,
    },
};
use caixa_test_support::{
    database::TestDatabase,
    grpc::{channel, wait_for_health},
};
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
/// flight (over two connections); returns checks per second.
pub async fn batch(addr: SocketAddr, users: usize, size: usize, callers: usize, step: Duration) -> f64 {
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
    checks as f64 / started.elapsed().as_secs_f64()
}

fn check(user: &str) -> CheckAccessRequest {
    CheckAccessRequest { user_id: user.to_owned(), feature: String::new(), consistency: None }
}

/// Waits until no inbox event is pending on two looks 20 ms apart.
async fn settle(db: &sea_orm::DatabaseConnection) {
    use sea_orm::{ConnectionTrait, Statement};
    let pending = Statement::from_string(
        sea_orm::DbBackend::Postgres,
        "SELECT count(*) AS n FROM stripe_events WHERE status IN ('received', 'retry', 'processing')",
    );
    let mut quiet = 0;
    while quiet < 2 {
        let row = db.query_one_raw(pending.clone()).await.unwrap().unwrap();
        quiet = if row.try_get::<i64>("", "n").unwrap() == 0 { quiet + 1 } else { 0 };
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Signed webhooks from the emulator to billing, timed until CheckAccess flips; with
/// `latency` (fixed, jitter in ms: see the emulator's `/_emulator/latency`), every call
/// billing makes to Stripe's API takes as long as it does from afar.
pub async fn propagation(db: &TestDatabase, trials: usize, latency: Option<(u64, u64)>) -> String {
    use caixa_integration_tests::{spawn_billing_with_stripe, spawn_entitlement, stripe::StripeEmulator};
    let stripe = StripeEmulator::start().await;
    let price = stripe.monthly_price().await;
    if let Some((fixed, jitter)) = latency {
        let (fixed, jitter) = (fixed.to_string(), jitter.to_string());
        stripe.post("/_emulator/latency", &[("fixed_ms", &fixed), ("jitter_ms", &jitter)]).await;
    }
    let billing = spawn_billing_with_stripe(
        db,
        &stripe,
        &[("STRIPE_DEFAULT_PRICE_ID", &price), ("INBOX_POLL_MS", "1000")],
    )
    .await;
    stripe.register_billing(db, billing.http_addr).await;
    let entitlement = spawn_entitlement(db, billing.grpc_addr).await;
    wait_serving(entitlement.grpc_addr).await;
    let mut api = BillingServiceClient::new(channel(billing.grpc_addr).await);
    let mut access = EntitlementServiceClient::new(channel(entitlement.grpc_addr).await);
    let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
    let conn = db.connect().await;
    // Users new to this run, whatever ran on the database before.
    let run = uuid::Uuid::new_v4().simple().to_string();
    // Trial 0 is not counted: it brings billing the product (as a sync would have before
    // going live), which costs a call to Stripe once.
    for n in 0..=trials {
        let user = format!("new-user-{}-{n}", &run[..8]);
        let session = api
            .create_checkout_session(CreateCheckoutSessionRequest {
                user_id: user.clone(),
                email: format!("{user}@example.com"),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        // Each trial starts on a quiet system: the previous one's events are all applied.
        settle(&conn).await;
        // Ask CheckAccess whenever the service announces a change (and every 5 ms in any
        // case), rather than spinning on it and taking the cores the pipeline needs.
        let after = access.check_access(check(&user)).await.unwrap().into_inner().revision;
        let mut changes = access
            .watch_entitlements(WatchEntitlementsRequest { after_revision: after })
            .await
            .unwrap()
            .into_inner();
        let at = Instant::now();
        stripe.post(&format!("/_emulator/checkout/sessions/{}/complete", session.session_id), &[]).await;
        while !access.check_access(check(&user)).await.unwrap().into_inner().allowed {
            assert!(at.elapsed() < Duration::from_secs(30), "access never flipped for {user}");
            let _ = tokio::time::timeout(Duration::from_millis(5), changes.message()).await;
        }
        if n > 0 {
            histogram.record(at.elapsed().as_micros().max(1) as u64).unwrap();
        }
    }
    entitlement.running.stop().await.ok();
    billing.running.stop().await.ok();
    format!(
        "p50 {:.1} ms, p99 {:.1} ms",
        histogram.value_at_quantile(0.5) as f64 / 1000.0,
        histogram.value_at_quantile(0.99) as f64 / 1000.0
    )
}
