//! The shadow comparison before a cut-over: the old application's answer to "has an
//! active subscription" for each user, against what caixa would answer now, with the
//! Stripe objects behind every disagreement.

use std::collections::{BTreeMap, BTreeSet};

use caixa_policy::Policy;
use chrono::Utc;
use sea_orm::ConnectionTrait;

use crate::store::{StoreError, customers, subscriptions};

/// Users whose states are read per query.
const CHUNK: usize = 1000;

/// A user on whom caixa and the old application disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disagreement {
    /// The user.
    pub user: String,
    /// The old application's answer; `None` when its file does not name the user.
    pub old: Option<bool>,
    /// caixa's answer.
    pub caixa: bool,
    /// caixa's reason (`ACTIVE`, `NO_SUBSCRIPTION`, ...).
    pub reason: String,
    /// The user's linked customers.
    pub customers: Vec<String>,
    /// The user's subscriptions: `(id, customer, status)`.
    pub subscriptions: Vec<(String, String, String)>,
}

/// What a comparison found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Users compared: those in the file, and those caixa grants whom it does not name.
    pub users: usize,
    /// Where the answers differ, by user.
    pub disagreements: Vec<Disagreement>,
}

/// Compares `answers` (`user → has_active_subscription` as the old application says)
/// with caixa's answers under `policy` now. A user caixa grants whom the file does not
/// name is a disagreement too: the old application would have denied them.
pub async fn compare(
    db: &impl ConnectionTrait,
    livemode: bool,
    policy: &Policy,
    answers: &BTreeMap<String, bool>,
) -> Result<Comparison, StoreError> {
    let mut users: BTreeSet<String> = answers.keys().cloned().collect();
    users.extend(subscriptions::list(db, livemode, None, None).await?.into_iter().filter_map(|s| s.user_id));
    let mut customers_of: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for customer in customers::all_linked(db, livemode).await? {
        if let Some(user) = customer.user_id {
            customers_of.entry(user).or_default().push(customer.id);
        }
    }
    let users: Vec<String> = users.into_iter().collect();
    let now = Utc::now().timestamp();
    let mut comparison = Comparison { users: users.len(), disagreements: Vec::new() };
    for chunk in users.chunks(CHUNK) {
        let states = subscriptions::user_states(db, chunk, livemode).await?;
        for user in chunk {
            let subs = states.get(user).map(|s| s.subscriptions.as_slice()).unwrap_or_default();
            let decision = policy.decide(subs, None, now);
            let old = answers.get(user).copied();
            if old.unwrap_or(false) == decision.allowed {
                continue;
            }
            let mut linked = customers_of.get(user).cloned().unwrap_or_default();
            linked.sort();
            comparison.disagreements.push(Disagreement {
                user: user.clone(),
                old,
                caixa: decision.allowed,
                reason: decision.reason.as_str_name().trim_start_matches("ACCESS_REASON_").to_owned(),
                customers: linked,
                subscriptions: subs
                    .iter()
                    .map(|s| {
                        let status = caixa_types::stripe_name(s.status).unwrap_or_default().to_owned();
                        (s.id.clone(), s.customer_id.clone(), status)
                    })
                    .collect(),
            });
        }
    }
    Ok(comparison)
}
