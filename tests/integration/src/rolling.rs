//! A rolling restart of the production shape: two billing and two entitlement processes
//! on one PostgreSQL, Stripe delivering every event to both bridges, a caller running
//! CheckAccess through caixa-client with both entitlement URLs, and new subscribers
//! arriving all along. Each process in turn gets SIGTERM and a new one takes its place.
//! What the caller saw, and whether every event was applied and every user ends equal to
//! Stripe, is the outcome.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use caixa_client::{ClientConfig, EntitlementClient};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    process::ServiceProcess,
};

use crate::{inbox_settled, stripe::StripeEmulator, truth::Truth};

/// The binaries to run, with any settings they need to act as the service.
#[derive(Clone, Debug)]
pub struct Programs {
    /// The billing service, and extra settings for it.
    pub billing: (PathBuf, Vec<(&'static str, String)>),
    /// The entitlement service, and extra settings for it.
    pub entitlement: (PathBuf, Vec<(&'static str, String)>),
}

/// What the roll did and what the caller saw.
#[derive(Debug, Default)]
pub struct Outcome {
    /// CheckAccess calls made during the roll.
    pub checks: u64,
    /// Of them, failed at the caller (after the client's own retries).
    pub failed: u64,
    /// The longest a call took at the caller.
    pub longest: Duration,
    /// Users who subscribed, before and during the roll.
    pub users: usize,
    /// Stripe events the emulator made, and those the inbox lacks or has not applied.
    pub events: usize,
    /// Events lost: made by Stripe, never applied.
    pub lost: Vec<String>,
    /// Users whose answers differ from Stripe's at the end.
    pub mismatches: Vec<String>,
    /// The whole roll.
    pub roll: Duration,
}

/// The events among `made` that the inbox does not hold as applied.
async fn missing(conn: &sea_orm::DatabaseConnection, made: &[serde_json::Value]) -> Vec<String> {
    use caixa_entities::stripe_events::{self, InboxStatus};
    use sea_orm::EntityTrait;
    let stored = stripe_events::Entity::find().all(conn).await.unwrap_or_default();
    let applied: std::collections::HashSet<&str> = stored
        .iter()
        .filter(|row| matches!(row.status, InboxStatus::Processed | InboxStatus::Ignored))
        .map(|row| row.id.as_str())
        .collect();
    made.iter()
        .filter_map(|e| e["id"].as_str())
        .filter(|id| !applied.contains(id))
        .map(str::to_owned)
        .collect()
}

fn free_addr() -> String {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string()
}

struct Slot {
    program: PathBuf,
    env: Vec<(&'static str, String)>,
    listening: &'static str,
    process: ServiceProcess,
}

impl Slot {
    async fn start(program: &Path, env: Vec<(&'static str, String)>, listening: &'static str) -> Self {
        let process = ServiceProcess::spawn(&program.to_string_lossy(), &env);
        process.wait_for_log(listening, Duration::from_secs(30)).await;
        Self { program: program.to_owned(), env, listening, process }
    }

    /// SIGTERM, wait for the drain, start anew on the same ports.
    async fn restart(&mut self) {
        self.process.terminate();
        let code = self.process.wait_exit(Duration::from_secs(30)).await;
        assert_eq!(code, Some(0), "a drained service exits 0: {}", self.process.output().await);
        *self = Self::start(&self.program, self.env.clone(), self.listening).await;
    }
}

/// Runs the roll with `before` subscribers made first; one more subscribes every
/// `pace` while it lasts.
pub async fn run(programs: &Programs, before: usize, pace: Duration) -> Outcome {
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let stripe = Arc::new(StripeEmulator::start().await);
    let billing_addrs: Vec<(String, String)> = (0..2).map(|_| (free_addr(), free_addr())).collect();
    let entitlement_addrs: Vec<String> = (0..2).map(|_| free_addr()).collect();
    let mut slots = Vec::new();
    for (grpc, http) in &billing_addrs {
        let mut env = stripe.billing_env();
        env.extend([
            ("DATABASE_URL", db.url.clone()),
            ("BILLING_GRPC_ADDR", grpc.clone()),
            ("BILLING_HTTP_ADDR", http.clone()),
            ("INBOX_POLL_MS", "50".into()),
            ("INBOX_RETRY_BASE_MS", "50".into()),
            ("SHUTDOWN_GRACE_SECONDS", "5".into()),
        ]);
        env.extend(programs.billing.1.iter().cloned());
        slots.push(Slot::start(&programs.billing.0, env, "billing service listening").await);
        stripe.register_billing(&db, http.parse().unwrap()).await;
    }
    for (addr, (billing, _)) in entitlement_addrs.iter().zip(&billing_addrs) {
        let mut env = vec![
            ("DATABASE_URL", db.url.clone()),
            ("BILLING_URL", format!("http://{billing}")),
            ("ENTITLEMENT_GRPC_ADDR", addr.clone()),
            ("SHUTDOWN_GRACE_SECONDS", "5".into()),
        ];
        env.extend(programs.entitlement.1.iter().cloned());
        slots.push(Slot::start(&programs.entitlement.0, env, "entitlement service listening").await);
    }
    // Made once both bridges are registered, so that every event reaches them.
    let price = stripe.monthly_price().await;
    let mut users = Vec::new();
    for n in 0..before {
        let user = format!("before-{n}");
        stripe.subscribe(&price, &user, "7").await;
        users.push(user);
    }

    // The caller and the new subscribers, while each process in turn restarts.
    let urls: Vec<String> = entitlement_addrs.iter().map(|a| format!("http://{a}")).collect();
    let client =
        EntitlementClient::new(&urls.iter().map(String::as_str).collect::<Vec<_>>(), ClientConfig::default())
            .expect("client");
    let stop = Arc::new(AtomicBool::new(false));
    let (checks, failed, longest) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let caller = tokio::spawn({
        let (stop, checks, failed, longest, users) =
            (stop.clone(), checks.clone(), failed.clone(), longest.clone(), users.clone());
        async move {
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                if client.check(&users[n % users.len()], "").await.is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                longest.fetch_max(started.elapsed().as_micros() as u64, Ordering::Relaxed);
                checks.fetch_add(1, Ordering::Relaxed);
                n += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    });
    let subscribers = tokio::spawn({
        let (stop, stripe, price) = (stop.clone(), stripe.clone(), price.clone());
        async move {
            let mut made = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let user = format!("during-{}", made.len());
                stripe.subscribe(&price, &user, "7").await;
                made.push(user);
                tokio::time::sleep(pace).await;
            }
            made
        }
    });
    let rolling = Instant::now();
    for slot in &mut slots {
        slot.restart().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let roll = rolling.elapsed();
    stop.store(true, Ordering::Relaxed);
    caller.await.expect("caller");
    users.extend(subscribers.await.expect("subscribers"));

    // Everything Stripe said is applied, once, and every user equals Stripe. Each event
    // goes to both bridges: a delivery refused by a bridge that was restarting is retried
    // by Stripe, so the inbox is given a while to hold them all.
    let conn = db.connect().await;
    let made = crate::truth::list_all(&stripe, "/v1/events").await;
    let mut lost = Vec::new();
    for _ in 0..600 {
        lost = missing(&conn, &made).await;
        if lost.is_empty() && inbox_settled(&conn).await {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let truth = Truth::read(&stripe).await;
    let (entitlement, billing) = (entitlement_addrs[0].parse().unwrap(), billing_addrs[0].0.parse().unwrap());
    let mut mismatches = truth.mismatches(entitlement, billing, &users).await;
    for _ in 0..100 {
        if mismatches.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        mismatches = truth.mismatches(entitlement, billing, &users).await;
    }
    for slot in &slots {
        slot.process.terminate();
    }
    Outcome {
        checks: checks.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        longest: Duration::from_micros(longest.load(Ordering::Relaxed)),
        users: users.len(),
        events: made.len(),
        lost,
        mismatches,
        roll,
    }
}
