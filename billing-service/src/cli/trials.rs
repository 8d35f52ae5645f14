//! `trial-status`: the seed's `check_trial_status`.

use std::collections::BTreeMap;

use caixa_entities::subscriptions::Status;
use chrono::Utc;
use sea_orm::DatabaseConnection;
use serde_json::json;

use super::{CommandError, Output};
use crate::{
    config::Settings,
    store::{subscriptions, trials},
};

/// `trial-status`: the ledger and the subscriptions that had a trial, per user.
pub async fn trial_status(
    db: &DatabaseConnection,
    settings: &Settings,
    user: Option<&str>,
    ending_within: Option<u32>,
    output: Output,
) -> Result<(), CommandError> {
    let live = settings.stripe.live_mode;
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
