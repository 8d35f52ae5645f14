//! `sync-stripe`: the seed's `sync_stripe`, with progress, a checkpoint, and a clean stop
//! on Ctrl-C or SIGTERM.

use std::{
    io::IsTerminal,
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use sea_orm::DatabaseConnection;
use serde_json::json;

use super::{CommandError, Output};
use crate::{
    domain::operations::sync::{Progress, SyncOptions, SyncSummary, Syncer},
    stripe::{StripeApi, lists::Listing},
};

/// `sync-stripe` arguments.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Only these kinds, comma separated: products, prices, features (with products),
    /// customers, subscriptions.
    #[arg(long, value_delimiter = ',', value_name = "KINDS")]
    only: Vec<String>,
    /// Only customers and subscriptions created on or after this date (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    since: Option<chrono::NaiveDate>,
    /// Count what would change; change nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    output: Output,
}

/// Progress on a terminal: a bar with objects done, rate and elapsed time.
struct Bar(ProgressBar);

impl Progress for Bar {
    fn advanced(&self, listing: Listing, done: u64, total: u64) {
        self.0.set_message(format!("{} {done}", listing.name()));
        self.0.set_position(total);
    }
}

/// Progress anywhere else (logs, CI, a Kubernetes Job): a plain line every few seconds.
struct Lines {
    started: Instant,
    last: std::sync::Mutex<Instant>,
}

impl Progress for Lines {
    fn advanced(&self, listing: Listing, done: u64, total: u64) {
        let mut last = self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.elapsed() >= Duration::from_secs(5) {
            *last = Instant::now();
            let rate = total as f64 / self.started.elapsed().as_secs_f64().max(0.001);
            eprintln!("sync-stripe: {} {done}, {total} objects in all, {rate:.0}/s", listing.name());
        }
    }
}

/// Runs the sync; exit code 1 when it was interrupted (run it again to continue).
pub async fn run(
    db: &DatabaseConnection,
    stripe: StripeApi,
    args: SyncArgs,
) -> Result<ExitCode, CommandError> {
    let mut only = Vec::new();
    for name in &args.only {
        let listing = match name.as_str() {
            "features" => Listing::Products,
            other => Listing::parse(other).ok_or_else(|| {
                CommandError::Usage(format!(
                    "--only: {other:?} is not one of products, prices, features, customers, subscriptions"
                ))
            })?,
        };
        only.push(listing);
    }
    let since = args.since.and_then(|d| d.and_hms_opt(0, 0, 0)).map(|t| t.and_utc().timestamp());
    let options = SyncOptions { only, since, dry_run: args.dry_run };
    let stop = Arc::new(AtomicBool::new(false));
    tokio::spawn(watch_signals(stop.clone()));
    let started = Instant::now();
    let summary = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {pos} objects ({per_sec}) {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        let result = Syncer::new(db.clone(), stripe).run(&options, &Bar(bar.clone()), &stop).await;
        bar.finish_and_clear();
        result?
    } else {
        let lines = Lines { started, last: std::sync::Mutex::new(Instant::now()) };
        Syncer::new(db.clone(), stripe).run(&options, &lines, &stop).await?
    };
    print(&summary, args.dry_run, started.elapsed(), args.output);
    if summary.interrupted {
        eprintln!("sync-stripe: interrupted; run it again to continue from where it stopped");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Sets `stop` on Ctrl-C or SIGTERM, so the sync ends after the page in hand.
async fn watch_signals(stop: Arc<AtomicBool>) {
    caixa_runtime::shutdown::signal().await;
    stop.store(true, Ordering::Relaxed);
}

fn print(summary: &SyncSummary, dry_run: bool, took: Duration, output: Output) {
    if output.json {
        let kinds: serde_json::Map<_, _> = summary
            .tallies
            .iter()
            .map(|(l, t)| {
                let tally = json!({ "created": t.created, "updated": t.updated, "unchanged": t.unchanged, "unlinked": t.unlinked });
                (l.name().to_owned(), tally)
            })
            .collect();
        let document = json!({ "dry_run": dry_run, "resumed": summary.resumed, "interrupted": summary.interrupted,
                               "revisions": summary.revisions, "seconds": took.as_secs_f64(), "objects": kinds });
        println!("{document}");
        return;
    }
    let verb = if dry_run { "would sync (dry run; nothing changed)" } else { "synced" };
    println!(
        "{verb} in {:.1} s{}",
        took.as_secs_f64(),
        if summary.resumed { ", continuing an interrupted run" } else { "" }
    );
    println!("{:<14} {:>8} {:>8} {:>10} {:>9}", "object", "created", "updated", "unchanged", "unlinked");
    for (listing, t) in &summary.tallies {
        println!(
            "{:<14} {:>8} {:>8} {:>10} {:>9}",
            listing.name(),
            t.created,
            t.updated,
            t.unchanged,
            t.unlinked
        );
    }
    println!("revisions written: {}", summary.revisions);
}
