//! `fix-customer-links`: customers that belong to no user (the seed's
//! `fix_customer_links`), by the rules or by an operator's link file.

use std::path::{Path, PathBuf};

use clap::Args;
use sea_orm::DatabaseConnection;
use serde_json::json;

use super::{CommandError, Output, csv_file};
use crate::{
    domain::accounts::links::{self, LinkPlan},
    stripe::StripeApi,
};

/// `fix-customer-links` flags.
#[derive(Debug, Args)]
pub struct FixLinksArgs {
    /// CSV of the application's users, `user_id,email` per line (a header line is
    /// skipped), for the email rule.
    #[arg(long, value_name = "FILE")]
    users: Option<PathBuf>,
    /// CSV of links to make instead of the rules, header `customer_id,user_id` (dj-stripe's
    /// `djstripe_customer.id, subscriber_id`), for customers whose metadata never named
    /// their user.
    #[arg(long, value_name = "FILE", conflicts_with = "users")]
    links: Option<PathBuf>,
    /// Report the links; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Table or JSON.
    #[command(flatten)]
    output: Output,
}

/// Reads `user_id,email` lines (a first line without an `@` is a header).
fn read_users(path: &Path) -> Result<Vec<(String, String)>, CommandError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CommandError::Usage(format!("--users {}: {e}", path.display())))?;
    let mut users = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        match line.split_once(',') {
            Some((user, email)) if email.contains('@') => {
                users.push((user.trim().to_owned(), email.trim().to_owned()))
            }
            _ if n == 0 => {}
            _ => {
                return Err(CommandError::Usage(format!(
                    "--users {} line {}: expected user_id,email",
                    path.display(),
                    n + 1
                )));
            }
        }
    }
    Ok(users)
}

/// Reads a link file; a customer named twice, or unknown to Stripe, refuses it whole.
async fn file_plan(
    db: &DatabaseConnection,
    stripe: &StripeApi,
    path: &Path,
) -> Result<LinkPlan, CommandError> {
    let rows = csv_file::read("--links", path, &["customer_id", "user_id"], &[])?;
    csv_file::check_users("--links", path, &rows, 1)?;
    csv_file::refuse_duplicates("--links", path, &rows, 0, "customer")?;
    if let Some(row) = rows.iter().find(|r| !r.values[0].starts_with("cus_")) {
        return Err(CommandError::Usage(format!(
            "--links {}: line {}: {:?} is not a customer id (cus_...)",
            path.display(),
            row.line,
            row.values[0]
        )));
    }
    let pairs: Vec<(String, String)> =
        rows.iter().map(|r| (r.values[0].clone(), r.values[1].clone())).collect();
    let (plan, unknown) = links::plan_file(db, stripe, &pairs).await?;
    if let Some(first) = unknown.first() {
        let line = rows.iter().find(|r| &r.values[0] == first).map_or(0, |r| r.line);
        return Err(CommandError::Usage(format!(
            "--links {}: line {line}: Stripe has no customer {first} ({} unknown in all); nothing was linked",
            path.display(),
            unknown.len()
        )));
    }
    Ok(plan)
}

/// `fix-customer-links`.
pub async fn fix_links(
    db: &DatabaseConnection,
    stripe: &StripeApi,
    live: bool,
    args: FixLinksArgs,
) -> Result<(), CommandError> {
    let FixLinksArgs { users, links: link_file, dry_run, output } = args;
    let plan = match &link_file {
        Some(path) => file_plan(db, stripe, path).await?,
        None => {
            let users = users.as_deref().map(read_users).transpose()?.unwrap_or_default();
            links::plan(db, stripe, live, &users).await?
        }
    };
    let revisions = if dry_run { 0 } else { links::execute(db, stripe, &plan.links).await? };
    if output.json {
        let links: Vec<_> = plan
            .links
            .iter()
            .map(|l| json!({ "customer": l.customer, "user": l.user, "rule": l.rule.name() }))
            .collect();
        let ambiguous: Vec<_> = plan
            .ambiguous
            .iter()
            .map(|a| json!({ "key": a.key, "users": a.users, "customers": a.customers }))
            .collect();
        println!(
            "{}",
            json!({ "dry_run": dry_run, "links": links, "ambiguous": ambiguous, "unlinked": plan.unlinked, "revisions": revisions })
        );
        return Ok(());
    }
    let verb = if dry_run { "would link" } else { "linked" };
    for link in &plan.links {
        println!("{verb} {} -> {} (by {})", link.customer, link.user, link.rule.name());
    }
    for a in &plan.ambiguous {
        println!("ambiguous {}: users {:?}, customers {:?}; left alone", a.key, a.users, a.customers);
    }
    println!(
        "{} {verb}, {} ambiguous, {} still unlinked{}",
        plan.links.len(),
        plan.ambiguous.len(),
        plan.unlinked.len(),
        if dry_run { " (dry run; nothing changed)".to_owned() } else { format!("; {revisions} revisions") }
    );
    Ok(())
}
