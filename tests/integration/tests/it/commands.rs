//! The diagnostics commands on a live database: every report parses as JSON, webhooks
//! show their last delivery, disabling honours `--dry-run`, reconcile `--dry-run` stores
//! nothing. The real binary.

use std::time::Duration;

use caixa_entities::stripe_events;
use caixa_integration_tests::{
    billing_command, inbox_settled, spawn_billing_with_stripe, stripe::StripeEmulator, wait_until,
};
use caixa_test_support::{
    database::{Backend, TestDatabase},
    on_both_backends,
};
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::Value;

const BINARY: &str = env!("CARGO_BIN_EXE_billing-process");

on_both_backends!(reports_parse_and_changes_honour_dry_run);

async fn command(db: &TestDatabase, stripe: &StripeEmulator, args: &[&str]) -> Value {
    let (code, stdout, stderr) = billing_command(BINARY, db, stripe, args).await;
    assert_eq!(code, Some(0), "{args:?}: {stdout} {stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("{args:?} printed no JSON: {stdout}"))
}

async fn reports_parse_and_changes_honour_dry_run(backend: Backend) {
    // Arrange: a billing that received a few events; one more event Stripe never delivered.
    let db = TestDatabase::migrated(backend).await;
    let stripe = StripeEmulator::start().await;
    let billing = spawn_billing_with_stripe(&db, &stripe, &[]).await;
    let endpoint = stripe.register_billing(&db, billing.http_addr).await.to_string();
    let price = stripe.monthly_price().await;
    stripe.subscribe(&price, "user-cmd", "7").await;
    let conn = db.connect().await;
    wait_until("events applied", Duration::from_secs(10), || inbox_settled(&conn)).await;
    stripe.wait_for_deliveries().await;
    billing.running.stop().await.unwrap();
    stripe.post("/_emulator/chaos", &[("drop_next", "1")]).await;
    stripe.post("/v1/products", &[("name", "Never delivered")]).await;
    let stored = stripe_events::Entity::find().count(&conn).await.unwrap();

    // Act and assert: reports.
    let hooks = command(&db, &stripe, &["webhooks", "list", "--json"]).await;
    let ours = hooks["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == endpoint.as_str())
        .cloned()
        .unwrap();
    assert!(ours["last_delivery"].is_string(), "{ours}");
    let events = command(&db, &stripe, &["events", "recent", "--json", "--limit", "3"]).await;
    assert_eq!(events["events"].as_array().unwrap().len(), 3);
    let subs = command(&db, &stripe, &["subscriptions", "list", "--json", "--user", "user-cmd"]).await;
    assert_eq!(
        (subs["subscriptions"][0]["status"].as_str(), subs["subscriptions"][0]["access"].as_bool()),
        (Some("trialing"), Some(true))
    );
    let trials = command(&db, &stripe, &["trial-status", "--json", "--user", "user-cmd"]).await;
    assert_eq!(trials["trials"][0]["phase"], "trialing", "{trials}");
    let inbox = command(&db, &stripe, &["inbox", "--json"]).await;
    assert!(inbox["counts"]["processed"].as_i64().unwrap() > 0, "{inbox}");

    // Changes honour --dry-run.
    let dry = command(&db, &stripe, &["reconcile", "--dry-run", "--json"]).await;
    assert!(dry["missed_events"].as_u64().unwrap() >= 1, "the undelivered event is counted: {dry}");
    assert_eq!(stripe_events::Entity::find().count(&conn).await.unwrap(), stored, "a dry run stores nothing");
    let real = command(&db, &stripe, &["reconcile", "--json"]).await;
    assert_eq!(real["missed_events"], dry["missed_events"]);
    assert!(stripe_events::Entity::find().count(&conn).await.unwrap() > stored);
    let disable = |dry_run: bool| {
        let mut args = vec!["webhooks", "disable", endpoint.as_str()];
        if dry_run {
            args.push("--dry-run");
        }
        let (db, stripe) = (&db, &stripe);
        async move {
            let (code, _, stderr) = billing_command(BINARY, db, stripe, &args).await;
            assert_eq!(code, Some(0), "{stderr}");
        }
    };
    let enabled = || async {
        command(&db, &stripe, &["webhooks", "list", "--json"]).await["endpoints"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["id"] == endpoint.as_str())
            .unwrap()["enabled"]
            .as_bool()
    };
    disable(true).await;
    assert_eq!(enabled().await, Some(true), "--dry-run leaves the endpoint enabled");
    disable(false).await;
    assert_eq!(enabled().await, Some(false));
}
