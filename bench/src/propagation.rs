//! Propagation: signed webhooks from the Stripe emulator through billing's bridge, inbox
//! and revision log to the entitlement service, timed until CheckAccess answers anew.

use std::time::{Duration, Instant};

use caixa_proto::{
    billing::v1::{CreateCheckoutSessionRequest, billing_service_client::BillingServiceClient},
    entitlement::v1::{
        CheckAccessRequest, WatchEntitlementsRequest, entitlement_service_client::EntitlementServiceClient,
    },
};
use caixa_test_support::{database::TestDatabase, grpc::channel};
use hdrhistogram::Histogram;
use tonic::transport::Channel;

use crate::load::wait_serving;

/// Times until access flips: for new subscribers, then for the same subscribers
/// cancelled.
pub struct Propagation {
    /// Checkout completed → CheckAccess allows.
    pub granted: String,
    /// Subscription cancelled → CheckAccess denies.
    pub revoked: String,
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

/// Runs `change` and times it until CheckAccess answers `allowed` for `user`. CheckAccess
/// is asked whenever the service announces a change (and every 5 ms in any case), rather
/// than spinning on it and taking the cores the pipeline needs.
async fn flip(
    access: &mut EntitlementServiceClient<Channel>,
    user: &str,
    allowed: bool,
    change: impl Future<Output = ()>,
) -> Duration {
    let after = access.check_access(check(user)).await.unwrap().into_inner().revision;
    let mut changes = access
        .watch_entitlements(WatchEntitlementsRequest { after_revision: after })
        .await
        .unwrap()
        .into_inner();
    let at = Instant::now();
    change.await;
    while access.check_access(check(user)).await.unwrap().into_inner().allowed != allowed {
        assert!(at.elapsed() < Duration::from_secs(30), "access never became {allowed} for {user}");
        let _ = tokio::time::timeout(Duration::from_millis(5), changes.message()).await;
    }
    at.elapsed()
}

fn describe(histogram: &Histogram<u64>) -> String {
    format!(
        "p50 {:.1} ms, p99 {:.1} ms",
        histogram.value_at_quantile(0.5) as f64 / 1000.0,
        histogram.value_at_quantile(0.99) as f64 / 1000.0
    )
}

/// `trials` new subscribers, each timed from the checkout's completion until CheckAccess
/// allows; then each of them cancelled, timed until CheckAccess denies. With `latency`
/// (fixed, jitter in ms: see the emulator's `/_emulator/latency`), every call billing
/// makes to Stripe's API takes as long as it does from afar.
pub async fn run(db: &TestDatabase, trials: usize, latency: Option<(u64, u64)>) -> Propagation {
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
    let conn = db.connect().await;
    // Users new to this run, whatever ran on the database before.
    let run = uuid::Uuid::new_v4().simple().to_string();
    let (mut granted, mut revoked) = (histogram(), histogram());
    let mut subscribed = Vec::new();
    // Trial 0 is not counted: it brings billing the product (as a sync would have before
    // going live), which costs a call to Stripe once.
    for n in 0..=trials {
        let user = format!("new-user-{}-{n}", &run[..8]);
        let request = CreateCheckoutSessionRequest {
            user_id: user.clone(),
            email: format!("{user}@example.com"),
            ..Default::default()
        };
        let session = api.create_checkout_session(request).await.unwrap().into_inner();
        // Each trial starts on a quiet system: the previous one's events are all applied.
        settle(&conn).await;
        let complete = format!("/_emulator/checkout/sessions/{}/complete", session.session_id);
        let mut done = serde_json::Value::Null;
        let took = flip(&mut access, &user, true, async { done = stripe.post(&complete, &[]).await }).await;
        if n > 0 {
            granted.record(took.as_micros().max(1) as u64).unwrap();
            subscribed.push((user, done["subscription"].as_str().unwrap().to_owned()));
        }
    }
    // A cancellation is dated by Stripe in whole seconds; one dated within the clock-skew
    // bound of the subscription's last refetch waits for Stripe, as it may be older.
    settle(&conn).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    for (user, subscription) in &subscribed {
        settle(&conn).await;
        let cancel = format!("/_emulator/subscriptions/{subscription}/cancel");
        let took = flip(&mut access, user, false, async {
            stripe.post(&cancel, &[]).await;
        })
        .await;
        revoked.record(took.as_micros().max(1) as u64).unwrap();
    }
    entitlement.running.stop().await.ok();
    billing.running.stop().await.ok();
    Propagation { granted: describe(&granted), revoked: describe(&revoked) }
}

fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap()
}
