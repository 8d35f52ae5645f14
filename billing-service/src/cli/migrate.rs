//! Taking over from the old application: its trial history (`trial-import`) and the
//! shadow comparison of its answers with caixa's (`compare-access`).

use std::{collections::BTreeMap, path::PathBuf, process::ExitCode};

use chrono::{DateTime, NaiveDate, Utc};
use clap::Args;
use sea_orm::DatabaseConnection;
use serde_json::json;

use super::{CommandError, Output, csv_file};
use crate::{
    config::Settings,
    domain::{
        accounts::trials::{self, ImportReport, PastTrial},
        operations::compare::{self, Comparison},
    },
};

/// `trial-import` flags.
#[derive(Debug, Args)]
pub struct TrialImportArgs {
    /// The old application's trial history, header `user_id,email,used_at` (the seed's
    /// `TrialUsageTracking`); `email` and `used_at` may be empty, `used_at` is RFC 3339 or
    /// a date.
    #[arg(long, value_name = "FILE")]
    csv: PathBuf,
    /// Report what would be imported; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Table or JSON.
    #[command(flatten)]
    output: Output,
}

/// `compare-access` flags.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// The old application's answers, header `user_id,has_active_subscription`
    /// (`true`/`false`, `1`/`0`, `t`/`f`).
    #[arg(long, value_name = "FILE")]
    users: PathBuf,
    /// Table or JSON.
    #[command(flatten)]
    output: Output,
}

/// Reads the trial history whole; any bad line refuses it.
pub fn read_trials(path: &std::path::Path) -> Result<Vec<PastTrial>, CommandError> {
    let rows = csv_file::read("--csv", path, &["user_id", "email", "used_at"], &["email", "used_at"])?;
    csv_file::check_users("--csv", path, &rows, 0)?;
    let bad = |line: u64, what: String| {
        CommandError::Usage(format!("--csv {}: line {line}: {what}", path.display()))
    };
    csv_file::refuse_duplicates("--csv", path, &rows, 0, "user")?;
    let now = Utc::now();
    rows.into_iter()
        .map(|row| {
            let [user, email, used_at] = <[String; 3]>::try_from(row.values).unwrap_or_default();
            if !email.is_empty() && !email.contains('@') {
                return Err(bad(row.line, format!("email {email:?} is not an email address")));
            }
            let used_at = match used_at.as_str() {
                "" => now,
                text => parse_time(text).ok_or_else(|| {
                    bad(row.line, format!("used_at {text:?} is not a date or RFC 3339 time"))
                })?,
            };
            Ok(PastTrial { user, email: (!email.is_empty()).then_some(email), used_at })
        })
        .collect()
}

/// RFC 3339, a PostgreSQL timestamp with a zone (`2024-01-02 03:04:05.6+00`), or a date.
fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%#z"))
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0).map(|t| t.and_utc())
        })
}

/// `trial-import`.
pub async fn trial_import(
    db: &DatabaseConnection,
    live: bool,
    args: TrialImportArgs,
) -> Result<(), CommandError> {
    let past = read_trials(&args.csv)?;
    let report = trials::import(db, live, &past, args.dry_run).await?;
    print_import(&report, past.len(), args.dry_run, args.output);
    Ok(())
}

/// Prints what an import did (or would do).
pub fn print_import(report: &ImportReport, rows: usize, dry_run: bool, output: Output) {
    let other: Vec<_> = report.other_email.iter().map(|(u, e)| json!({ "user_id": u, "email": e })).collect();
    if output.json {
        println!(
            "{}",
            json!({ "dry_run": dry_run, "rows": rows, "added": report.added, "already_held": report.already_held,
                    "email_learned": report.email_learned, "held_under_other_email": other })
        );
        return;
    }
    for (user, email) in &report.other_email {
        println!("{user}: trial held under another email already; {email} stays free for other users");
    }
    let verb = if dry_run { "would add" } else { "added" };
    println!(
        "{rows} rows: {} {verb}, {} already held, {} emails learned, {} held under another email{}",
        report.added,
        report.already_held,
        report.email_learned,
        report.other_email.len(),
        if dry_run { " (dry run; nothing changed)" } else { "" }
    );
}

fn read_answers(path: &std::path::Path) -> Result<BTreeMap<String, bool>, CommandError> {
    let rows = csv_file::read("--users", path, &["user_id", "has_active_subscription"], &[])?;
    csv_file::check_users("--users", path, &rows, 0)?;
    csv_file::refuse_duplicates("--users", path, &rows, 0, "user")?;
    rows.into_iter()
        .map(|row| {
            let answer = match row.values[1].to_ascii_lowercase().as_str() {
                "true" | "t" | "1" | "yes" => true,
                "false" | "f" | "0" | "no" => false,
                other => {
                    return Err(CommandError::Usage(format!(
                        "--users {}: line {}: has_active_subscription {other:?} is not true or false",
                        path.display(),
                        row.line
                    )));
                }
            };
            Ok((row.values[0].clone(), answer))
        })
        .collect()
}

/// `compare-access`: exit 1 when any user's answers differ.
pub async fn compare_access(
    db: &DatabaseConnection,
    settings: &Settings,
    args: CompareArgs,
) -> Result<ExitCode, CommandError> {
    let answers = read_answers(&args.users)?;
    let policy = caixa_policy::Policy::with_graces(
        settings.common.access.grace,
        settings.common.access.trial_end_grace,
    );
    let Comparison { users, disagreements } =
        compare::compare(db, settings.stripe.live_mode, &policy, &answers).await?;
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    if args.output.json {
        let items: Vec<_> = disagreements
            .iter()
            .map(|d| {
                let subs: Vec<_> = d
                    .subscriptions
                    .iter()
                    .map(|(id, c, s)| json!({ "id": id, "customer": c, "status": s }))
                    .collect();
                json!({ "user_id": d.user, "old": d.old, "caixa": d.caixa, "reason": d.reason,
                        "customers": d.customers, "subscriptions": subs })
            })
            .collect();
        println!("{}", json!({ "users": users, "disagreements": items }));
    } else {
        for d in &disagreements {
            let old = d.old.map_or("not listed", yes_no);
            let subs: Vec<String> =
                d.subscriptions.iter().map(|(id, c, s)| format!("{id} ({s}, {c})")).collect();
            println!(
                "{}: old app {old}, caixa {} ({}); customers [{}]; subscriptions [{}]",
                d.user,
                yes_no(d.caixa),
                d.reason,
                d.customers.join(", "),
                subs.join(", ")
            );
        }
        println!("{users} users compared, {} disagree", disagreements.len());
    }
    Ok(if disagreements.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}
