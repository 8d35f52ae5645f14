//! The `drain` step: Stripe redelivers everything at once after an outage. An emulator
//! account of CUSTOMERS customers with subscriptions makes the events; the newest EVENTS
//! of them (oldest first) are stored in a fresh PostgreSQL inbox with billing's own
//! `store::inbox::insert_many`, as the bridge stores deliveries; then billing (this binary
//! in the billing role, a serving process) drains the backlog. Reports events per second
//! and the Stripe requests it took (a refetch per object named, not per event).

use std::time::{Duration, Instant};

use billing_service::{
    store::inbox::{self, NewEvent},
    stripe::event::StripeEvent,
};
use caixa_entities::stripe_events::{Column, Entity as Events, InboxStatus};
use caixa_integration_tests::stripe::StripeEmulator;
use caixa_test_support::{
    database::{Backend, TestDatabase},
    process::ServiceProcess,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use crate::sync::far_away;

/// What the step is asked to do.
pub struct Drain {
    /// Customers seeded in the emulator.
    pub customers: usize,
    /// Events stored as the backlog (at most as many as the account made).
    pub events: usize,
    /// Stripe's latency from afar on every call.
    pub stripe_latency: bool,
    /// Stripe's test-mode limits at the emulator and in billing's budget.
    pub stripe_limits: bool,
}

/// Runs the step; prints a Markdown table.
pub async fn run(step: Drain, billing_role: (&'static str, String)) -> anyhow::Result<()> {
    let stripe = StripeEmulator::start().await;
    let seeding = Instant::now();
    stripe.seed_account(step.customers).await;
    let mut events = stripe.events_oldest_first().await;
    println!(
        "seeded {} customers ({} events) in the emulator in {:.1} s",
        step.customers,
        events.len(),
        seeding.elapsed().as_secs_f64()
    );
    let skip = events.len().saturating_sub(step.events);
    events.drain(..skip);
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let conn = db.connect().await;
    let mut customers = std::collections::HashSet::new();
    for chunk in events.chunks(1000) {
        let mut rows = Vec::with_capacity(chunk.len());
        for event in chunk {
            let payload = event.to_string();
            let parsed = StripeEvent::parse(payload.as_bytes())?;
            customers.extend(parsed.customer());
            rows.push(NewEvent::from_event(&parsed, payload, None));
        }
        inbox::insert_many(&conn, &rows).await?;
    }
    let pending = || Events::find().filter(Column::Status.is_in(InboxStatus::PENDING)).count(&conn);
    let backlog = pending().await?;
    println!("stored a backlog of {backlog} events for {} customers", customers.len());
    if step.stripe_latency {
        far_away(&stripe).await;
    }
    let mut env = stripe.billing_env();
    env.extend([
        billing_role,
        ("DATABASE_URL", db.url.clone()),
        ("BILLING_GRPC_ADDR", "127.0.0.1:0".to_owned()),
        ("BILLING_HTTP_ADDR", "127.0.0.1:0".to_owned()),
        ("RECONCILE_INTERVAL_SECONDS", "0".to_owned()),
    ]);
    if step.stripe_limits {
        stripe.post("/_emulator/rate_limit", &[("read", "25"), ("write", "25")]).await;
        env.extend([
            ("STRIPE_READS_PER_SECOND", "25".to_owned()),
            ("STRIPE_WRITES_PER_SECOND", "25".to_owned()),
        ]);
        println!("the emulator keeps Stripe's test-mode limits, 25 reads and 25 writes a second");
    }
    let before = stripe.get("/_emulator/stats").await;
    let exe = std::env::current_exe()?;
    let started = Instant::now();
    let mut process = ServiceProcess::spawn(&exe.to_string_lossy(), &env);
    let mut last_report = Instant::now();
    loop {
        let left = pending().await?;
        if left == 0 {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            println!("{left} events pending after {:.0} s", started.elapsed().as_secs_f64());
            last_report = Instant::now();
        }
        anyhow::ensure!(process.pid().is_some(), "billing exited: {}", process.output().await);
        // Counting the pending events costs the database too: not more often than this.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let took = started.elapsed();
    let after = stripe.get("/_emulator/stats").await;
    process.terminate();
    process.wait_exit(Duration::from_secs(30)).await;
    let count = |status: InboxStatus| Events::find().filter(Column::Status.eq(status)).count(&conn);
    let (processed, ignored, dead) = (
        count(InboxStatus::Processed).await?,
        count(InboxStatus::Ignored).await?,
        count(InboxStatus::Dead).await?,
    );
    let requests = after["requests"].as_u64().unwrap_or(0) - before["requests"].as_u64().unwrap_or(0);
    let refused = after["rate_limited"].as_u64().unwrap_or(0) - before["rate_limited"].as_u64().unwrap_or(0);
    println!("\n| measure | result |\n|---|---|");
    println!("| backlog: events, customers | {backlog}, {} |", customers.len());
    println!("| drained (process start to none pending) | {:.1} s |", took.as_secs_f64());
    println!("| events per second | {:.0} |", backlog as f64 / took.as_secs_f64());
    println!("| processed, ignored, dead | {processed}, {ignored}, {dead} |");
    println!(
        "| Stripe requests, per event, refused for rate limits | {requests}, {:.2}, {refused} |",
        requests as f64 / backlog.max(1) as f64
    );
    println!("| Stripe requests per second | {:.0} |", requests as f64 / took.as_secs_f64());
    anyhow::ensure!(dead == 0, "{dead} events dead-lettered");
    Ok(())
}
