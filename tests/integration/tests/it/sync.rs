//! `sync-stripe` takes over an existing Stripe account (no webhook ever delivered): every
//! user's access equals Stripe's, past trials count, a second run changes nothing, and an
//! interrupted run finishes where it stopped. The real binary, over real HTTP.

use std::time::Duration;

use caixa_entities::{entitlements, subscriptions, trial_usage};
use caixa_integration_tests::{
    billing_command, spawn_billing_with_stripe, spawn_entitlement, stripe::StripeEmulator, truth::Truth,
    wait_until,
};
use caixa_proto::billing::v1::{
    CreateCheckoutSessionRequest, GetSubscriptionStatusRequest, billing_service_client::BillingServiceClient,
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    grpc::channel,
    process::ServiceProcess,
};
use sea_orm::{EntityTrait, PaginatorTrait, QueryOrder};
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_billing-process");

fn env(db: &TestDatabase, stripe: &StripeEmulator) -> Vec<(&'static str, String)> {
    let mut env = stripe.billing_env();
    env.push(("DATABASE_URL", db.url.clone()));
    env
}

/// Runs `billing-service sync-stripe --json` to its end; returns the exit code and the
/// summary it printed.
async fn sync(db: &TestDatabase, stripe: &StripeEmulator) -> (Option<i32>, Value) {
    let (code, stdout, stderr) = billing_command(BINARY, db, stripe, &["sync-stripe", "--json"]).await;
    let summary = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|_| panic!("no JSON summary: {stdout} / {stderr}"));
    (code, summary)
}

/// Every subscription's `as_of`, by id.
async fn stamps(db: &TestDatabase) -> Vec<chrono::DateTime<chrono::Utc>> {
    let rows = subscriptions::Entity::find()
        .order_by_asc(subscriptions::Column::Id)
        .all(&db.connect().await)
        .await
        .unwrap();
    rows.into_iter().map(|row| row.as_of).collect()
}

fn tally(summary: &Value, kind: &str, what: &str) -> u64 {
    summary["objects"][kind][what].as_u64().unwrap_or_else(|| panic!("no {kind}.{what} in {summary}"))
}

async fn sync_takes_over_an_account(backend: Backend, users: usize) {
    // Arrange: an account billing has never heard of.
    let db = TestDatabase::migrated(backend).await;
    let stripe = StripeEmulator::start().await;
    let ids = stripe.seed_account(users).await;

    // Act
    let (code, first) = sync(&db, &stripe).await;
    let stamped = stamps(&db).await;
    let (again_code, second) = sync(&db, &stripe).await;

    // Assert: everything created once, then nothing changed.
    assert_eq!((code, again_code), (Some(0), Some(0)), "{first} {second}");
    assert_eq!(tally(&first, "customers", "created"), users as u64);
    assert_eq!(tally(&first, "subscriptions", "created"), users as u64);
    assert!(first["revisions"].as_u64().unwrap() >= users as u64, "{first}");
    assert_eq!(second["revisions"], 0, "a second run appends no revision: {second}");
    assert_eq!(tally(&second, "subscriptions", "unchanged"), users as u64);
    assert_eq!(tally(&second, "customers", "updated") + tally(&second, "subscriptions", "updated"), 0);
    // Found unchanged, each subscription is stamped as of the second run: an event dated
    // between the two runs must not go ahead of its refetch.
    let restamped = stamps(&db).await;
    assert_eq!(restamped.len(), users);
    assert!(stamped.iter().zip(&restamped).all(|(before, after)| after > before), "stamps moved forward");

    // Every user's access equals Stripe's; past trials are used, by user and by email.
    let billing = spawn_billing_with_stripe(&db, &stripe, &[("INBOX_WORKER", "false")]).await;
    let entitlement = spawn_entitlement(&db, billing.grpc_addr).await;
    let truth = Truth::read(&stripe).await;
    let mismatches = truth.mismatches(entitlement.grpc_addr, billing.grpc_addr, &ids).await;
    assert!(
        mismatches.is_empty(),
        "{} of {users} differ: {:?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(5)]
    );
    let mut client = BillingServiceClient::new(channel(billing.grpc_addr).await);
    let eligible = |user: &str| {
        let mut client = client.clone();
        let request = GetSubscriptionStatusRequest { user_id: user.to_owned() };
        async move { client.get_subscription_status(request).await.unwrap().into_inner().trial_eligible }
    };
    assert!(!eligible("s2").await, "a canceled subscription's past trial still counts");
    assert!(!eligible("s0").await, "a trialing user has used the trial");
    assert!(eligible("s1").await, "a user who never had a trial may have one");
    let same_email = CreateCheckoutSessionRequest {
        user_id: "someone-new".to_owned(),
        email: "S2@example.com".to_owned(),
        price_id: Some(stripe.get("/v1/prices").await["data"][0]["id"].as_str().unwrap().to_owned()),
        ..Default::default()
    };
    let checkout = client.create_checkout_session(same_email).await.unwrap().into_inner();
    assert!(!checkout.trial_applied, "the email's trial was used before billing existed");
    entitlement.running.stop().await.unwrap();
    billing.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_takes_over_an_account_on_postgres() {
    sync_takes_over_an_account(Backend::Postgres, 2_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_takes_over_an_account_on_sqlite() {
    sync_takes_over_an_account(Backend::Sqlite, 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn since_takes_only_customers_and_subscriptions_created_from_that_day() {
    // Arrange: the past-due users (s3, s8) come a month before the other eight.
    let db = TestDatabase::migrated(Backend::Sqlite).await;
    let stripe = StripeEmulator::start().await;
    let ids = stripe.seed_account(10).await;
    let now = stripe.get("/_emulator/clock").await["now"].as_i64().unwrap();
    let since = chrono::DateTime::from_timestamp(now - 15 * 86_400, 0).unwrap().date_naive().to_string();

    // Act
    let (code, stdout, stderr) =
        billing_command(BINARY, &db, &stripe, &["sync-stripe", "--since", &since, "--json"]).await;

    // Assert: the catalogue whole, the rest from that day only.
    let summary: Value =
        serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("{stdout} / {stderr}"));
    assert_eq!(code, Some(0), "{summary}");
    assert_eq!(tally(&summary, "products", "created"), 1, "{summary}");
    assert_eq!(tally(&summary, "customers", "created"), 8, "{summary}");
    assert_eq!(tally(&summary, "subscriptions", "created"), 8, "{summary}");
    let conn = db.connect().await;
    let mut synced: Vec<String> =
        entitlements::Entity::find().all(&conn).await.unwrap().into_iter().map(|s| s.user_id).collect();
    synced.sort();
    let mut expected: Vec<String> = ids.into_iter().filter(|u| u != "s3" && u != "s8").collect();
    expected.sort();
    assert_eq!(synced, expected, "only users created since {since}");
}

/// Every user's stored state and trial, for comparing two databases.
async fn outcome(db: &TestDatabase) -> (Vec<(String, Value)>, Vec<(String, String, String)>) {
    let conn = db.connect().await;
    let states =
        entitlements::Entity::find().order_by_asc(entitlements::Column::UserId).all(&conn).await.unwrap();
    let trials =
        trial_usage::Entity::find().order_by_asc(trial_usage::Column::UserId).all(&conn).await.unwrap();
    (
        states.into_iter().map(|s| (s.user_id, s.state)).collect(),
        trials.into_iter().map(|t| (t.user_id, t.email_normalized, t.state.to_string())).collect(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_sync_finishes_where_it_stopped() {
    // Arrange: one account, synced whole into one database, and interruptedly into another.
    let stripe = StripeEmulator::start().await;
    stripe.seed_account(600).await;
    let whole = TestDatabase::migrated(Backend::Postgres).await;
    assert_eq!(sync(&whole, &stripe).await.0, Some(0));
    let cut = TestDatabase::migrated(Backend::Postgres).await;
    let conn = cut.connect().await;
    let started = || async {
        wait_until("a page synced", Duration::from_secs(60), || async {
            caixa_entities::sync_checkpoints::Entity::find().count(&conn).await.unwrap() > 0
        })
        .await;
    };

    // Act: SIGTERM mid-run (a clean stop), then SIGKILL mid-run, then a run to the end.
    let mut term = spawn_sync(&cut, &stripe);
    started().await;
    term.terminate();
    let term_code = term.wait_exit(Duration::from_secs(60)).await;
    let mut kill = spawn_sync(&cut, &stripe);
    tokio::time::sleep(Duration::from_millis(300)).await;
    kill.kill();
    kill.wait_exit(Duration::from_secs(10)).await;
    let (last, summary) = sync(&cut, &stripe).await;

    // Assert: the stops were stops, the last run continued, and the outcome is the same.
    assert_eq!(term_code, Some(1), "SIGTERM ends the run early, with its checkpoint kept");
    assert_eq!(last, Some(0), "{summary}");
    assert_eq!(summary["resumed"], true, "the last run continued from a checkpoint: {summary}");
    assert_eq!(outcome(&cut).await, outcome(&whole).await, "an interrupted sync ends where a whole one does");
}

/// `billing-service sync-stripe` as a process that can be stopped.
fn spawn_sync(db: &TestDatabase, stripe: &StripeEmulator) -> ServiceProcess {
    ServiceProcess::spawn_with_args(BINARY, &["sync-stripe"], &env(db, stripe))
}

#[tokio::test]
async fn every_command_has_help_and_a_bad_flag_exits_2_naming_it() {
    let run = |args: &[&str]| {
        let output = std::process::Command::new(BINARY).args(args).env_clear().output().expect("run");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr),
        )
    };
    let (code, help) = run(&["--help"]);
    assert_eq!(code, Some(0));
    for command in caixa_integration_tests::BILLING_COMMANDS {
        assert!(help.contains(command), "{command} missing from --help");
        let (code, text) = run(&[command, "--help"]);
        assert_eq!(code, Some(0), "{command} --help: {text}");
        assert!(text.contains("Usage: billing-service"), "{command} --help: {text}");
    }
    let (code, text) = run(&["sync-stripe", "--no-such-flag"]);
    assert_eq!(code, Some(2));
    assert!(text.contains("--no-such-flag"), "{text}");
    let (code, text) = run(&["no-such-command"]);
    assert_eq!((code, text.contains("no-such-command")), (Some(2), true), "{text}");
}
