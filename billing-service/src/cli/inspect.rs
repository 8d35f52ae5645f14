//! Reports: the inbox, recent events, subscriptions with their access now, trials, a
//! reconciliation pass. Each prints a table, or one JSON document with `--json`.

use std::collections::BTreeMap;

use caixa_entities::{stripe_events::InboxStatus, subscriptions::Status};
use chrono::Utc;
use clap::Args;
use sea_orm::DatabaseConnection;
use serde_json::json;

use super::{CommandError, Output};
use crate::{
    config::Settings,
    domain::operations::reconcile::Report,
    store::{inbox, subscriptions},
};

/// `events recent` arguments.
#[derive(Debug, Args)]
pub struct RecentArgs {
    /// Only events of this type, e.g. customer.subscription.updated.
    #[arg(long = "type", value_name = "TYPE")]
    kind: Option<String>,
    /// Only events in this status: received, processing, retry, processed, ignored, dead.
    #[arg(long)]
    status: Option<InboxStatus>,
    /// How many, newest first.
    #[arg(long, default_value_t = 20)]
    limit: u64,
    #[command(flatten)]
    output: Output,
}

/// `subscriptions list` arguments.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this user's.
    #[arg(long)]
    user: Option<String>,
    /// Only in this status: trialing, active, past_due, canceled, unpaid, paused, incomplete.
    #[arg(long)]
    status: Option<Status>,
    #[command(flatten)]
    output: Output,
}

/// `inbox`.
pub async fn inbox(db: &DatabaseConnection, output: Output) -> Result<(), CommandError> {
    let stats = inbox::stats(db).await?;
    let dead = inbox::dead(db).await?;
    if output.json {
        let counts: BTreeMap<_, _> = stats.counts.iter().cloned().collect();
        let dead: Vec<_> = dead
            .iter()
            .map(|e| json!({ "id": e.id, "type": e.event_type, "attempts": e.attempts, "error": e.last_error }))
            .collect();
        println!(
            "{}",
            json!({ "counts": counts, "oldest_unprocessed_seconds": stats.oldest_unprocessed_secs, "dead": dead })
        );
        return Ok(());
    }
    for (status, count) in &stats.counts {
        println!("{status:<12} {count}");
    }
    println!(
        "oldest unprocessed: {}",
        stats.oldest_unprocessed_secs.map_or("none".to_owned(), |s| format!("{s} s"))
    );
    for event in dead {
        let error = event.last_error.unwrap_or_default();
        println!("dead {} {} attempts={} error={error}", event.id, event.event_type, event.attempts);
    }
    Ok(())
}

/// `events recent`.
pub async fn recent_events(db: &DatabaseConnection, args: RecentArgs) -> Result<(), CommandError> {
    let events = inbox::recent(db, args.kind.as_deref(), args.status, args.limit).await?;
    if args.output.json {
        let items: Vec<_> = events
            .iter()
            .map(|e| json!({ "id": e.id, "type": e.event_type, "status": e.status.as_str(), "customer": e.customer_id,
                             "attempts": e.attempts, "received_at": e.received_at, "error": e.last_error }))
            .collect();
        println!("{}", json!({ "events": items }));
        return Ok(());
    }
    println!("{:<30}  {:<44}  {:<10}  {:>8}  received", "id", "type", "status", "attempts");
    for e in &events {
        println!(
            "{:<30}  {:<44}  {:<10}  {:>8}  {}",
            e.id, e.event_type, e.status, e.attempts, e.received_at
        );
    }
    println!("{} event(s)", events.len());
    Ok(())
}

/// `subscriptions list`, with the access each subscription grants now.
pub async fn subscriptions(
    db: &DatabaseConnection,
    settings: &Settings,
    args: ListArgs,
) -> Result<(), CommandError> {
    let live = settings.stripe.live_mode;
    let policy = caixa_policy::Policy::with_graces(
        settings.common.access.grace,
        settings.common.access.trial_end_grace,
    );
    let now = Utc::now().timestamp();
    let rows = subscriptions::list(db, live, args.user.as_deref(), args.status).await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let state = match &row.user_id {
            Some(user) => subscriptions::user_state(db, user, live).await?,
            None => caixa_entities::state::UserState::default(),
        };
        let own: Vec<_> = state.subscriptions.into_iter().filter(|s| s.id == row.id).collect();
        let decision = policy.decide(&own, None, now);
        items.push((
            row,
            decision.allowed,
            decision.reason.as_str_name().trim_start_matches("ACCESS_REASON_").to_owned(),
            decision.access_until,
        ));
    }
    if args.output.json {
        let list: Vec<_> = items
            .iter()
            .map(|(r, allowed, reason, until)| {
                json!({ "id": r.id, "user_id": r.user_id, "customer_id": r.customer_id,
                "status": r.status.as_str(), "access": allowed, "reason": reason, "access_until": until,
                "current_period_end": r.current_period_end, "trial_end": r.trial_end })
            })
            .collect();
        println!("{}", json!({ "subscriptions": list }));
        return Ok(());
    }
    println!("{:<30}  {:<20}  {:<18}  {:<6}  reason", "id", "user", "status", "access");
    for (row, allowed, reason, _) in &items {
        let user = row.user_id.as_deref().unwrap_or("-");
        println!(
            "{:<30}  {user:<20}  {:<18}  {:<6}  {reason}",
            row.id,
            row.status,
            if *allowed { "yes" } else { "no" }
        );
    }
    println!("{} subscription(s)", items.len());
    Ok(())
}

/// What a reconciliation pass found.
pub fn reconcile_report(report: &Report, output: Output) {
    if output.json {
        println!(
            "{}",
            json!({ "ran": report.ran, "missed_events": report.missed_events, "products": report.products,
                    "customers": report.customers, "subscriptions": report.subscriptions,
                    "reservations": report.reservations, "cursor": report.cursor })
        );
        return;
    }
    if !report.ran {
        println!("another billing replica is reconciling; nothing done");
    }
    println!(
        "missed events {}, products {}, customers {}, subscriptions {}, reservations {}; cursor {}",
        report.missed_events,
        report.products,
        report.customers,
        report.subscriptions,
        report.reservations,
        report.cursor
    );
}
