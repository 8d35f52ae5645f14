//! The `sync` step: an account of many customers with subscriptions in the emulator,
//! taken over by `billing-service sync-stripe` (this binary in the billing role) into a
//! fresh PostgreSQL database. Reports objects per second and the process's peak RSS.

use std::time::{Duration, Instant};

use caixa_integration_tests::stripe::StripeEmulator;
use caixa_test_support::{
    database::{Backend, TestDatabase},
    process::ServiceProcess,
};

use crate::server::status_kib;

/// Stripe's API latency from afar, as the propagation step has it: 100 ms plus up to
/// 300 ms (p50 about 140 ms, p99 about 390 ms a call).
const STRIPE_LATENCY_MS: (&str, &str) = ("100", "300");

/// Gives every call to the emulator Stripe's latency from afar.
pub(crate) async fn far_away(stripe: &StripeEmulator) {
    let (fixed, jitter) = STRIPE_LATENCY_MS;
    stripe.post("/_emulator/latency", &[("fixed_ms", fixed), ("jitter_ms", jitter)]).await;
    println!("the emulator's API now answers in {fixed} ms plus up to {jitter} ms");
}

/// Seeds `customers` customers and syncs them, with Stripe's latency on every call when
/// `stripe_latency` and Stripe's test-mode rate limits (25 reads and 25 writes a second)
/// when `stripe_limits`; prints a Markdown table.
pub async fn run(
    customers: usize,
    (stripe_latency, stripe_limits): (bool, bool),
    billing_role: (&'static str, String),
) -> anyhow::Result<()> {
    let stripe = StripeEmulator::start().await;
    let seeding = Instant::now();
    stripe.seed_account(customers).await;
    println!("seeded {customers} customers in the emulator in {:.1} s", seeding.elapsed().as_secs_f64());
    if stripe_latency {
        far_away(&stripe).await;
    }
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let mut env = stripe.billing_env();
    env.extend([("DATABASE_URL", db.url.clone()), billing_role]);
    if stripe_limits {
        stripe.post("/_emulator/rate_limit", &[("read", "25"), ("write", "25")]).await;
        env.extend([
            ("STRIPE_READS_PER_SECOND", "25".to_owned()),
            ("STRIPE_WRITES_PER_SECOND", "25".to_owned()),
        ]);
        println!("the emulator keeps Stripe's test-mode limits, 25 reads and 25 writes a second");
    }
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let mut process =
        ServiceProcess::spawn_with_args(&exe.to_string_lossy(), &["sync-stripe", "--json"], &env);
    let pid = process.pid().unwrap_or_default();
    let mut peak = 0;
    let code = loop {
        peak = peak.max(status_kib(&format!("/proc/{pid}/status"), "VmHWM:"));
        if let Ok(code) =
            tokio::time::timeout(Duration::from_millis(50), process.wait_exit(Duration::from_secs(3600)))
                .await
        {
            break code;
        }
    };
    let took = started.elapsed();
    let output = process.output().await;
    anyhow::ensure!(code == Some(0), "sync-stripe failed: {output}");
    let summary: serde_json::Value = output
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v.get("objects").is_some())
        .ok_or_else(|| anyhow::anyhow!("no summary in {output}"))?;
    let objects: u64 = summary["objects"]
        .as_object()
        .map(|kinds| {
            kinds
                .values()
                .map(|t| {
                    t["created"].as_u64().unwrap_or(0)
                        + t["updated"].as_u64().unwrap_or(0)
                        + t["unchanged"].as_u64().unwrap_or(0)
                })
                .sum()
        })
        .unwrap_or(0);
    let seconds = summary["seconds"].as_f64().unwrap_or(took.as_secs_f64());
    println!("\n| measure | result |\n|---|---|");
    println!("| objects synced (customers, subscriptions, catalogue) | {objects} |");
    println!("| sync time, process start to exit | {:.1} s |", took.as_secs_f64());
    println!("| objects per second (the command's own clock) | {:.0} |", objects as f64 / seconds.max(0.001));
    println!("| revisions written | {} |", summary["revisions"]);
    println!("| sync-stripe peak RSS | {} MiB |", peak / 1024);
    let stats = stripe.get("/_emulator/stats").await;
    println!(
        "| Stripe requests (whole run), refused for rate limits | {}, {} |",
        stats["requests"], stats["rate_limited"]
    );
    Ok(())
}
