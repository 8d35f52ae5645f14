//! `cargo run --release -p caixa-bench -- sync [CUSTOMERS] [stripe-latency] [stripe-limits]`
//! seeds an emulator account (default 10,000 customers with subscriptions) and measures
//! `sync-stripe` into PostgreSQL: objects per second and peak RSS; with `stripe-latency`
//! every API call takes as long as Stripe's from afar, with `stripe-limits` the emulator
//! keeps Stripe's test-mode rate limits and the sync its budget under them.
//!
//! `cargo run --release -p caixa-bench -- takeover [CUSTOMERS] [stripe-latency]` builds an
//! account as dj-stripe leaves one (default 10,000 customers) and times its takeover:
//! sync, trial history, link file, shadow comparison (docs/migrating-from-dj-stripe.md).
//!
//! `cargo run --release -p caixa-bench -- drain [CUSTOMERS] [EVENTS] [stripe-latency]
//! [stripe-limits]` stores a backlog of the newest EVENTS (default 100,000) of an emulator
//! account of CUSTOMERS (default 20,000) in billing's inbox, as Stripe redelivers after an
//! outage, and times a billing process draining it.
//!
//! `cargo run --release -p caixa-bench -- afar [CHECKOUTS] [RTT_MS]` times checkouts with
//! every Stripe call a round trip of RTT_MS (default 140, São Paulo to Stripe) and a new
//! connection two more: new users, then the same users again (default 20 each).
//!
//! `cargo run --release -p caixa-bench -- rolling [USERS]` restarts two billing and two
//! entitlement processes in turn under a caller and new subscribers (default 200 users
//! first) and reports the longest CheckAccess the caller saw.
//!
//! `cargo run --release -p caixa-bench -- convergence [USERS]` runs the convergence
//! scenario (default 5,000 users) and reports how long access takes to equal Stripe's.
//!
//! `cargo run --release -p caixa-bench -- [USERS] [SECONDS_PER_STEP] [STEPS]`: seeds USERS
//! (default 1,000,000) into a fresh PostgreSQL database, then measures the entitlement
//! service's cold start, CheckAccess at several load shapes from h2load beside the
//! transport floor (gRPC health on the same server), CheckAccessBatch, the same load
//! against a query-per-check baseline, webhook ingest (wrk) and webhook → CheckAccess
//! propagation. `scripts/bench-tools.sh` installs h2load and wrk.
//! STEPS (comma separated: unary,batch,baseline,overload,replica,ingest,propagation; all by default) picks the
//! steps after the cold start. Prints a Markdown table (docs/performance.md keeps the
//! results).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a failed step should stop it loudly

mod afar;
mod baseline;
mod drain;
mod h2load;
mod ingest;
mod instructions;
mod load;
mod overload;
mod propagation;
mod replica;
mod rolling;
mod seed;
mod server;
mod snapshot;
mod sync;
mod takeover;
mod unary;

use std::{
    process::ExitCode,
    time::{Duration, Instant},
};

use caixa_test_support::database::{Backend, TestDatabase};

/// The services' allocator, since this binary re-runs itself as either service.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Set in the environment of the bench binary re-run as the billing service (the
/// convergence scenario kills and restarts it).
const BILLING_ROLE: &str = "CAIXA_BENCH_SERVE_BILLING";

fn main() -> anyhow::Result<ExitCode> {
    if std::env::var_os(BILLING_ROLE).is_some() {
        server::pin_to_own_core(true);
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
        let env = caixa_runtime::config::Env::from_process();
        let args: Vec<String> = std::env::args().collect();
        return Ok(runtime.block_on(billing_service::cli::main(&args, env)));
    }
    match std::env::args().nth(1).as_deref() {
        Some("convergence") => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(convergence())?;
            return Ok(ExitCode::SUCCESS);
        }
        Some("afar") => {
            let checkouts: usize = std::env::args().nth(2).map(|a| a.parse()).transpose()?.unwrap_or(20);
            let rtt: u64 = std::env::args().nth(3).map(|a| a.parse()).transpose()?.unwrap_or(140);
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(afar::run(checkouts, rtt))?;
            return Ok(ExitCode::SUCCESS);
        }
        Some("drain") => {
            let arg = |n: usize, default: usize| -> anyhow::Result<usize> {
                Ok(std::env::args().nth(n).map(|a| a.parse()).transpose()?.unwrap_or(default))
            };
            let mut step = drain::Drain {
                customers: arg(2, 20_000)?,
                events: arg(3, 100_000)?,
                stripe_latency: false,
                stripe_limits: false,
            };
            for option in std::env::args().skip(4) {
                match option.as_str() {
                    "stripe-latency" => step.stripe_latency = true,
                    "stripe-limits" => step.stripe_limits = true,
                    other => anyhow::bail!(
                        "unknown drain option {other:?} (expected stripe-latency, stripe-limits)"
                    ),
                }
            }
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(drain::run(step, (BILLING_ROLE, "1".to_owned())))?;
            return Ok(ExitCode::SUCCESS);
        }
        Some("rolling") => {
            let users: usize = std::env::args().nth(2).map(|a| a.parse()).transpose()?.unwrap_or(200);
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(rolling::step(users, (BILLING_ROLE, "1".to_owned())))?;
            return Ok(ExitCode::SUCCESS);
        }
        Some(step @ ("sync" | "takeover")) => {
            let customers: usize = std::env::args().nth(2).map(|a| a.parse()).transpose()?.unwrap_or(10_000);
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let (mut stripe_latency, mut stripe_limits) = (false, false);
            for option in std::env::args().skip(3) {
                match option.as_str() {
                    "stripe-latency" => stripe_latency = true,
                    "stripe-limits" if step == "sync" => stripe_limits = true,
                    other => anyhow::bail!(
                        "unknown {step} option {other:?} (expected stripe-latency, stripe-limits)"
                    ),
                }
            }
            let role = (BILLING_ROLE, "1".to_owned());
            match step {
                "sync" => runtime.block_on(sync::run(customers, (stripe_latency, stripe_limits), role))?,
                _ => runtime.block_on(takeover::run(customers, stripe_latency, role))?,
            }
            return Ok(ExitCode::SUCCESS);
        }
        _ => {}
    }
    let serving = std::env::var_os(server::SERVE_ROLE).is_some();
    // Before the runtime starts, so that its threads inherit the core.
    let service_core = server::pin_to_own_core(serving);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    if serving {
        let env = caixa_runtime::config::Env::from_process();
        return Ok(runtime.block_on(entitlement_service::startup::main_with(env)));
    }
    // Quiet unless asked: RUST_LOG=debug shows the in-process billing service's events.
    if std::env::var_os("RUST_LOG").is_some() {
        caixa_runtime::telemetry::init(caixa_runtime::telemetry::LogFormat::Human);
    }
    runtime.block_on(benchmark(service_core))?;
    Ok(ExitCode::SUCCESS)
}

/// The convergence scenario at benchmark size: how long from the end of the chaos until
/// every user's access equals Stripe's.
async fn convergence() -> anyhow::Result<()> {
    use caixa_integration_tests::convergence::{Scenario, run};
    let users: usize = std::env::args().nth(2).map(|a| a.parse()).transpose()?.unwrap_or(5_000);
    let seed = Scenario::seed_from_env();
    let mut scenario = Scenario::new(users, seed, std::env::current_exe()?);
    scenario.billing_env.push((BILLING_ROLE, "1".to_owned()));
    println!("convergence: {users} users, seed {seed}");
    let outcome = run(&scenario).await;
    let verdict = &outcome.verdict;
    println!("\n| measure | result |\n|---|---|");
    println!("| users compared | {} |", verdict.users_checked);
    println!("| objects healed by the reconciliation pass | {} |", verdict.first_pass.drift());
    println!(
        "| end of scenario → every user equal to Stripe | {:.1} s |",
        outcome.time_to_converge.as_secs_f64()
    );
    println!("| whole scenario | {:.1} s |", outcome.total.as_secs_f64());
    println!(
        "| mismatches, second-pass drift | {}, {} |",
        verdict.mismatches.len(),
        verdict.second_pass.drift()
    );
    anyhow::ensure!(verdict.converged(), "seed {seed} did not converge: {verdict:#?}");
    Ok(())
}

/// The steps after the cold start, all run unless the third argument names some.
const STEPS: [&str; 8] =
    ["snapshot", "unary", "batch", "baseline", "overload", "replica", "ingest", "propagation"];

/// Steps run only when named: counting instructions under callgrind takes minutes.
const NAMED_ONLY: [&str; 1] = ["instructions"];

async fn benchmark(service_core: Option<usize>) -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let users: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1_000_000);
    let step = Duration::from_secs(args.next().map(|a| a.parse()).transpose()?.unwrap_or(5));
    let steps = args.next().unwrap_or_else(|| STEPS.join(","));
    let runs = |name: &str| steps.split(',').any(|s| s == name);
    if let Some(unknown) = steps.split(',').find(|s| !STEPS.contains(s) && !NAMED_ONLY.contains(s)) {
        anyhow::bail!("unknown step {unknown:?}; steps are {},{}", STEPS.join(","), NAMED_ONLY.join(","));
    }
    println!(
        "caixa benchmark: {users} users, {} s per step; {}",
        step.as_secs(),
        match service_core {
            Some(core) => format!("service on core {core}, everything else on the others"),
            None => format!("{} cores shared by everything", std::thread::available_parallelism()?),
        }
    );

    let db = TestDatabase::migrated(Backend::Postgres).await;
    let started = Instant::now();
    seed::users(&db, users).await?;
    println!("seeded in {:.1} s", started.elapsed().as_secs_f64());

    let billing = caixa_integration_tests::spawn_billing(&db, &[("INBOX_WORKER", "false")]).await;
    let mut first_rows = Vec::new();
    if runs("snapshot") {
        first_rows = snapshot::run(&db, billing.grpc_addr, service_core, users).await?;
    }
    let entitlement = server::Server::start(&db, billing.grpc_addr, service_core).await?;
    println!("\n| measure | result |\n|---|---|");
    for (measure, result) in first_rows {
        println!("| {measure} | {result} |");
    }
    println!(
        "| cold start to SERVING, own process ({users} users) | {:.2} s |",
        entitlement.cold_start.as_secs_f64()
    );
    println!(
        "| service RSS once SERVING: peak, now | {} MiB, {} MiB |",
        entitlement.peak_rss_kib() / 1024,
        entitlement.rss_kib() / 1024
    );

    if runs("unary") {
        for shape in unary::SHAPES {
            let result = unary::shape(&entitlement, users, shape, step).await;
            println!("| CheckAccess, h2load {} × {} | {} |", shape.0, shape.1, result.describe());
        }
    }
    if runs("batch") {
        for callers in [1, 4] {
            let before = entitlement.cpu_ns();
            let (rate, checks) = load::batch(entitlement.addr, users, 1000, callers, step).await;
            // What the service spends a check, whatever the client can send.
            let cpu = entitlement.cpu_ns().saturating_sub(before) as f64 / checks.max(1) as f64;
            println!(
                "| CheckAccessBatch of 1,000, {callers} in flight | {rate:.0} checks/s; service CPU {cpu:.0} ns a check |"
            );
        }
    }
    if runs("baseline") {
        let ours = unary::check_only(entitlement.addr, users, (4, 16), step).await;
        let baseline_addr = baseline::serve(&db).await;
        let slow = unary::check_only(baseline_addr, users, (4, 16), step).await;
        println!(
            "| CheckAccess, h2load 4 × 16: this service; a query per check (the seed's design) | {ours}; {slow} |"
        );
    }

    if runs("overload") {
        let capacity = overload::capacity(entitlement.addr, users, step).await;
        println!(
            "| overload: batch capacity ({} checks a call), h2load closed loop 8 × 256 | {capacity:.0} calls/s |",
            overload::BATCH
        );
        let rss_before = entitlement.rss_kib();
        let result = overload::run(
            entitlement.addr,
            entitlement.http_addr,
            users,
            overload::factor() * capacity,
            step,
        )
        .await;
        println!(
            "| overload: {} × capacity offered by h2load for {} s | {result} |",
            overload::factor(),
            step.as_secs()
        );
        println!(
            "| overload: service RSS before, after | {} MiB, {} MiB |",
            rss_before / 1024,
            entitlement.rss_kib() / 1024
        );
        let after = load::unary(entitlement.addr, users, 16, Duration::from_secs(2)).await;
        println!("| overload: first 2 s after the load drops, concurrency 16 | {} |", after.describe());
    }

    let mut followed = None;
    if runs("replica") {
        let (rows, replica) = replica::run(entitlement.addr, entitlement.http_addr, users, step).await;
        for (measure, result) in rows {
            println!("| {measure} | {result} |");
        }
        followed = Some(replica);
    }

    println!("| service peak RSS after the load steps | {} MiB |", entitlement.peak_rss_kib() / 1024);
    // Last while the service runs: it doubles the users the service and the replica hold.
    if let Some(replica) = followed {
        let (measure, result) = replica::stall(&db, &replica, users).await;
        println!("| {measure} | {result} |");
    }
    entitlement.stop().await;
    for (table, bytes, rows) in seed::sizes(&db).await? {
        let per_row = if rows > 0 { format!("{} bytes a row", bytes / rows) } else { "empty".to_owned() };
        println!(
            "| PostgreSQL: {table} with its indexes | {:.0} MiB, {rows} rows, {per_row} |",
            bytes as f64 / 1_048_576.0
        );
    }

    if runs("instructions") {
        for (measure, result) in instructions::run(&db, billing.grpc_addr, users).await? {
            println!("| {measure} | {result} |");
        }
    }

    if runs("ingest") {
        for (measure, result) in ingest::run(&db, service_core, step, (BILLING_ROLE, "1".to_owned())).await {
            println!("| {measure} | {result} |");
        }
    }
    if runs("propagation") {
        let near = propagation::run(&db, 200, None).await;
        println!("| new subscriber → CheckAccess allows (200 trials) | {} |", near.granted);
        println!("| cancelled → CheckAccess denies (200 trials) | {} |", near.revoked);
        // Stripe's API from afar: p50 ≈ 140 ms, p99 ≈ 390 ms a call.
        let far = propagation::run(&db, 100, Some((100, 300))).await;
        let api = "Stripe's API at 100 ms + up to 300 ms";
        println!("| new subscriber → CheckAccess allows, {api} (100 trials) | {} |", far.granted);
        println!("| cancelled → CheckAccess denies, {api} (100 trials) | {} |", far.revoked);
    }
    billing.running.stop().await.ok();
    Ok(())
}
