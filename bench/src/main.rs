//! `cargo run --release -p caixa-bench -- [USERS] [SECONDS_PER_STEP]`: seeds USERS
//! (default 1,000,000) into a fresh PostgreSQL database, then measures the entitlement
//! service's cold start, CheckAccess at several concurrencies, CheckAccessBatch, the
//! same load against a query-per-check baseline, and webhook → CheckAccess propagation.
//! Prints a Markdown table (docs/performance.md keeps the results).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed step should stop it loudly

mod baseline;
mod load;
mod seed;

use std::time::{Duration, Instant};

use caixa_test_support::database::{Backend, TestDatabase};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let users: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1_000_000);
    let step = Duration::from_secs(args.next().map(|a| a.parse()).transpose()?.unwrap_or(5));
    println!(
        "caixa benchmark: {users} users, {} s per step, {} cores",
        step.as_secs(),
        std::thread::available_parallelism()?
    );

    let db = TestDatabase::migrated(Backend::Postgres).await;
    let started = Instant::now();
    seed::users(&db, users).await?;
    println!("seeded in {:.1} s", started.elapsed().as_secs_f64());

    let billing = caixa_integration_tests::spawn_billing(&db, &[("INBOX_WORKER", "false")]).await;
    let rss_before = load::peak_rss_kib();
    let started = Instant::now();
    let entitlement = caixa_integration_tests::spawn_entitlement(&db, billing.grpc_addr).await;
    load::wait_serving(entitlement.grpc_addr).await;
    let cold_start = started.elapsed();
    let rss = load::peak_rss_kib();
    println!("\n| measure | result |\n|---|---|");
    println!("| cold start to SERVING ({users} users) | {:.2} s |", cold_start.as_secs_f64());
    println!(
        "| peak RSS of the process after load (before: {} MiB) | {} MiB |",
        rss_before / 1024,
        rss / 1024
    );

    let mut fast_64 = 0.0;
    for concurrency in [1, 16, 64, 256] {
        let result = load::unary(entitlement.grpc_addr, users, concurrency, step).await;
        println!("| CheckAccess unary, concurrency {concurrency} | {} |", result.describe());
        if concurrency == 64 {
            fast_64 = result.per_second;
        }
    }
    let batch = load::batch(entitlement.grpc_addr, users, 1000, step).await;
    println!("| CheckAccessBatch of 1,000 | {batch:.0} checks/s |");

    let baseline_addr = baseline::serve(&db).await;
    let slow = load::unary(baseline_addr, users, 64, step).await;
    println!("| baseline (a query per check), concurrency 64 | {} |", slow.describe());
    println!(
        "| memory ÷ baseline throughput at concurrency 64 | {:.1}× |",
        fast_64 / slow.per_second.max(1.0)
    );

    let propagation = load::propagation(&db, 200).await;
    println!("| webhook → CheckAccess flips (200 trials) | {propagation} |");
    entitlement.running.stop().await.ok();
    billing.running.stop().await.ok();
    Ok(())
}
