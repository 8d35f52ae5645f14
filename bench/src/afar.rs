//! Stripe from afar: CreateCheckoutSession timed with every Stripe call taking a round
//! trip of `rtt` ms (and a new connection two more, its TCP and TLS handshakes), as from
//! a deployment far from Stripe's API. New users (customer and session made) and the
//! same users again (their open session closed beside the new one), p50 and p99 of each, and how many
//! connections billing opened for all of it.

use std::time::Instant;

use caixa_integration_tests::{
    http_get, metrics::Metrics, spawn_billing_with_stripe, stripe::StripeEmulator,
};
use caixa_proto::billing::v1::{CreateCheckoutSessionRequest, billing_service_client::BillingServiceClient};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
};
use hdrhistogram::Histogram;

fn millis(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    histogram.value_at_quantile(quantile) as f64 / 1000.0
}

/// Times `checkouts` new users' checkouts, then each user's second one.
pub async fn run(checkouts: usize, rtt: u64) -> anyhow::Result<()> {
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let stripe = StripeEmulator::start().await;
    let price = stripe.monthly_price().await;
    let billing =
        spawn_billing_with_stripe(&db, &stripe, &[("STRIPE_DEFAULT_PRICE_ID", price.as_str())]).await;
    stripe.post("/_emulator/latency", &[("fixed_ms", &rtt.to_string()), ("jitter_ms", "0")]).await;
    let mut client = BillingServiceClient::new(channel(billing.grpc_addr).await);
    let checkout = |user: String| CreateCheckoutSessionRequest {
        email: format!("{user}@example.com"),
        user_id: user,
        ..Default::default()
    };
    // Not counted: it brings billing the price (as a sync would before going live).
    client.create_checkout_session(checkout("warm-up".to_owned())).await?;
    let (mut new, mut again) = (Histogram::<u64>::new(3)?, Histogram::<u64>::new(3)?);
    for round in [&mut new, &mut again] {
        for n in 0..checkouts {
            let started = Instant::now();
            client.create_checkout_session(checkout(format!("afar-{n}"))).await?;
            round.record(started.elapsed().as_micros().max(1) as u64)?;
        }
    }
    let metrics = Metrics::parse(&http_get(billing.http_addr, "/metrics").await.1);
    let connections = metrics.value("caixa_stripe_connections_opened_total", &[]).unwrap_or(0.0);
    let calls: f64 = ["ok", "not_found", "rejected", "unreachable"]
        .iter()
        .flat_map(|outcome| [("GET", outcome), ("POST", outcome)])
        .filter_map(|(method, outcome)| {
            metrics.value("caixa_stripe_requests_total", &[("method", method), ("outcome", outcome)])
        })
        .sum();
    println!(
        "afar: {checkouts} checkouts each way, every Stripe call {rtt} ms, a new connection {} ms more",
        2 * rtt
    );
    println!("\n| measure | p50 | p99 |\n|---|---|---|");
    println!(
        "| CreateCheckoutSession, new user | {:.0} ms | {:.0} ms |",
        millis(&new, 0.5),
        millis(&new, 0.99)
    );
    println!(
        "| CreateCheckoutSession, same user again (older session expired beside the new one) | {:.0} ms | {:.0} ms |",
        millis(&again, 0.5),
        millis(&again, 0.99)
    );
    println!("| Stripe calls, connections opened (whole run) | {calls:.0} | {connections:.0} |");
    billing.running.stop().await.ok();
    Ok(())
}
