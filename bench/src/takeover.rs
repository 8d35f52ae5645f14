//! The `takeover` step: an account as dj-stripe leaves one (`CUSTOMERS` customers: linked
//! by `djstripe_subscriber`, by `user_id` or only in dj-stripe's table, users with two
//! customers, deleted customers with trials) taken over as docs/migrating-from-dj-stripe.md
//! runs it, each command this binary in the billing role, into a fresh PostgreSQL
//! database. Reports each step's time and the comparison's verdict.

use std::time::Instant;

use caixa_integration_tests::{
    djstripe::{LegacyAccount, Takeover, TakeoverFiles},
    stripe::StripeEmulator,
};
use caixa_test_support::database::{Backend, TestDatabase};

use crate::sync::far_away;

/// Builds the account, runs the takeover and a second sync; prints a Markdown table.
pub async fn run(
    customers: usize,
    stripe_latency: bool,
    billing_role: (&'static str, String),
) -> anyhow::Result<()> {
    let stripe = StripeEmulator::start().await;
    let building = Instant::now();
    let account = LegacyAccount::build(&stripe, customers).await;
    let answers = account.answers(&stripe).await;
    println!(
        "built an account of {} users, {} customers in the emulator in {:.1} s",
        account.users.len(),
        account.links.len(),
        building.elapsed().as_secs_f64()
    );
    if stripe_latency {
        far_away(&stripe).await;
    }
    let db = TestDatabase::migrated(Backend::Postgres).await;
    let dir = tempfile::tempdir()?;
    let files = TakeoverFiles::write(dir.path(), &account, &answers);
    let takeover =
        Takeover { program: std::env::current_exe()?, db: &db, stripe: &stripe, env: vec![billing_role] };
    let started = Instant::now();
    let steps = takeover.all(&files).await;
    let whole = started.elapsed();
    let again = Instant::now();
    let (code, second) = takeover.json(&["sync-stripe"]).await;
    let second_took = again.elapsed();
    anyhow::ensure!(code == Some(0), "the second sync failed: {second}");

    println!("\n| measure | result |\n|---|---|");
    println!("| users, customers (deleted included) | {}, {} |", account.users.len(), account.links.len());
    for (name, took) in &steps.times {
        println!("| {name} | {:.1} s |", took.as_secs_f64());
    }
    println!("| the whole takeover | {:.1} s |", whole.as_secs_f64());
    println!("| revisions written by the sync | {} |", steps.sync["revisions"]);
    println!(
        "| trials imported, already held | {}, {} |",
        steps.trials["added"], steps.trials["already_held"]
    );
    println!(
        "| customers linked from the link file | {} |",
        steps.links["links"].as_array().map_or(0, Vec::len)
    );
    println!(
        "| users compared, disagreements | {}, {} |",
        steps.compare.1["users"],
        steps.compare.1["disagreements"].as_array().map_or(0, Vec::len)
    );
    println!(
        "| a second sync: time, revisions | {:.1} s, {} |",
        second_took.as_secs_f64(),
        second["revisions"]
    );
    anyhow::ensure!(steps.compare.0 == Some(0), "caixa disagrees with the old app: {}", steps.compare.1);
    anyhow::ensure!(second["revisions"] == 0, "a second sync wrote revisions: {second}");
    Ok(())
}
