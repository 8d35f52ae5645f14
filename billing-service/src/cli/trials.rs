//! `trial-status`: the seed's `check_trial_status`.

use std::collections::BTreeMap;

use caixa_entities::subscriptions::Status;
use chrono::Utc;
use clap::Args;
use sea_orm::DatabaseConnection;
use serde_json::json;

use super::{CommandError, Output};
use crate::{
    config::Settings,
    domain::accounts::trials::PastTrial,
    store::{subscriptions, trials},
};

/// `trial-status` flags.
#[derive(Debug, Args)]
pub struct TrialStatusArgs {
    /// Only this user.
    #[arg(long)]
    user: Option<String>,
    /// Only trials ending within this many days.
    #[arg(long, value_name = "DAYS")]
    ending_within: Option<u32>,
    /// Record that this user used their trial (the seed's "trial not tracked" fix).
    #[arg(long, value_name = "USER", conflicts_with_all = ["user", "ending_within"])]
    mark_used: Option<String>,
    /// With --mark-used: the user's email, held too.
    #[arg(long, requires = "mark_used")]
    email: Option<String>,
    /// Table or JSON.
    #[command(flatten)]
    output: Output,
}

/// `trial-status`: the ledger and the subscriptions that had a trial, per user; or,
/// with `--mark-used`, one user's trial recorded by hand.
pub async fn trial_status(
    db: &DatabaseConnection,
    settings: &Settings,
    args: TrialStatusArgs,
) -> Result<(), CommandError> {
    let TrialStatusArgs { user, ending_within, mark_used, email, output } = args;
    let live = settings.stripe.live_mode;
    if let Some(user) = mark_used {
        let user = caixa_types::input::user_id(&user)
            .map_err(|e| CommandError::Usage(format!("--mark-used: {e}")))?;
        if email.as_ref().is_some_and(|e| !e.contains('@')) {
            return Err(CommandError::Usage("--email is not an email address".to_owned()));
        }
        let trial = PastTrial { user: user.to_owned(), email, used_at: Utc::now() };
        let report = crate::domain::accounts::trials::import(db, live, &[trial], false).await?;
        super::migrate::print_import(&report, 1, false, output);
        return Ok(());
    }
    let user = user.as_deref();
    let now = Utc::now();
    let mut users: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for row in trials::ledger(db, live, user).await? {
        let how = if row.email_normalized.contains('@') { "user and email" } else { "user" };
        users.insert(
            row.user_id.clone(),
            json!({ "user_id": row.user_id, "trial": row.state.as_str(), "held_by": how,
            "email": row.email_normalized, "subscription_id": row.subscription_id }),
        );
    }
    for sub in subscriptions::with_trials(db, live).await? {
        let Some(owner) = sub.user_id.clone() else { continue };
        if user.is_some_and(|u| u != owner) {
            continue;
        }
        let phase = match (sub.status, sub.trial_end) {
            (Status::Trialing, Some(end)) if end > now => "trialing",
            (Status::Active | Status::PastDue, _) => "converted",
            _ => "lapsed",
        };
        let entry =
            users.entry(owner.clone()).or_insert_with(|| json!({ "user_id": owner, "trial": "confirmed" }));
        entry["phase"] = json!(phase);
        entry["trial_end"] = json!(sub.trial_end);
        entry["subscription_id"] = json!(sub.id);
    }
    if let Some(days) = ending_within {
        let horizon = now + chrono::Duration::days(i64::from(days));
        users.retain(|_, u| {
            u["phase"] == "trialing"
                && u["trial_end"]
                    .as_str()
                    .and_then(|t| t.parse::<chrono::DateTime<Utc>>().ok())
                    .is_some_and(|t| t <= horizon)
        });
    }
    let count = |phase: &str| users.values().filter(|u| u["phase"] == phase).count();
    let totals = json!({ "users": users.len(), "trialing": count("trialing"), "converted": count("converted"),
                         "lapsed": count("lapsed"), "reserved": users.values().filter(|u| u["trial"] == "reserved").count() });
    if output.json {
        println!("{}", json!({ "trials": users.values().collect::<Vec<_>>(), "totals": totals }));
        return Ok(());
    }
    println!("{:<24}  {:<10}  {:<10}  {:<15}  trial end", "user", "trial", "phase", "held by");
    for u in users.values() {
        let text = |f: &str| u[f].as_str().unwrap_or("-").to_owned();
        println!(
            "{:<24}  {:<10}  {:<10}  {:<15}  {}",
            text("user_id"),
            text("trial"),
            text("phase"),
            text("held_by"),
            text("trial_end")
        );
    }
    println!("totals: {totals}");
    Ok(())
}
