//! Judging the scenario: one reconciliation pass, then every user's access compared with
//! the access policy applied to Stripe's own objects at the same instant.

use std::{collections::HashMap, sync::Arc, time::Duration};

use billing_service::{
    domain::reconcile::{Reconciler, Report},
    revisions::RevisionFeed,
    store::revisions,
    stripe::objects::Subscription,
};
use caixa_entities::state::SubscriptionState;
use caixa_policy::Policy;
use caixa_proto::{
    billing::v1::{GetSubscriptionStatusRequest, billing_service_client::BillingServiceClient},
    entitlement::v1::{CheckAccessRequest, entitlement_service_client::EntitlementServiceClient},
};
use caixa_test_support::grpc::channel;
use serde_json::Value;

use super::drive::{Life, World};

/// What the scenario ended with.
#[derive(Debug)]
pub struct Verdict {
    /// Users whose access was compared.
    pub users_checked: usize,
    /// Every user whose answers differ from Stripe's truth, described.
    pub mismatches: Vec<String>,
    /// The most trials any one user had.
    pub max_trials_per_user: usize,
    /// The most trials any one email had.
    pub max_trials_per_email: usize,
    /// The reconciliation pass after the scenario.
    pub first_pass: Report,
    /// The pass after that: nothing should be left to heal.
    pub second_pass: Report,
}

impl Verdict {
    /// Whether every user converged, trials were granted once at most, and nothing was
    /// left to heal.
    pub fn converged(&self) -> bool {
        self.mismatches.is_empty()
            && self.max_trials_per_user <= 1
            && self.max_trials_per_email <= 1
            && self.second_pass.ran
            && self.second_pass.drift() == 0
    }
}

/// Every object of a Stripe list, page by page.
async fn list_all(world: &World, path: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let cursor = if after.is_empty() { String::new() } else { format!("&starting_after={after}") };
        let page = world
            .stripe
            .get(&format!("{path}{}limit=100{cursor}", if path.contains('?') { "&" } else { "?" }))
            .await;
        let data = page["data"].as_array().cloned().unwrap_or_default();
        after = data.last().and_then(|o| o["id"].as_str()).unwrap_or_default().to_owned();
        all.extend(data);
        if page["has_more"] != true {
            return all;
        }
    }
}

/// A subscription as the policy reads it, from Stripe's JSON alone.
fn state_of(object: &Value) -> SubscriptionState {
    let sub = Subscription::from_json(object);
    let seconds = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.timestamp());
    let past_due = sub.status == caixa_entities::subscriptions::Status::PastDue;
    SubscriptionState {
        id: sub.id,
        customer_id: sub.customer_id,
        status: sub.status.as_str().to_owned(),
        price_id: sub.price_id,
        product_id: sub.product_id,
        trial_start: seconds(sub.trial_start),
        trial_end: seconds(sub.trial_end),
        current_period_start: seconds(sub.current_period_start),
        current_period_end: seconds(sub.current_period_end),
        cancel_at_period_end: sub.cancel_at_period_end,
        cancel_at: seconds(sub.cancel_at),
        ended_at: seconds(sub.ended_at),
        // Grace runs from the start of the period whose payment failed.
        past_due_since: if past_due { seconds(sub.current_period_start) } else { None },
        features: Vec::new(),
        livemode: sub.livemode,
    }
}

/// Reconciles once, waits for everything to follow, and compares.
pub async fn judge(world: &World, lives: &[Life]) -> Verdict {
    let reconciler = Reconciler::new(
        world.conn.clone(),
        world.stripe.billing_api(),
        Arc::default(),
        RevisionFeed::default(),
    );
    let first_pass = reconciler.pass(true).await.expect("first reconciliation pass");
    world.quiet().await;
    let mut access = EntitlementServiceClient::new(channel(world.entitlement.grpc_addr).await);
    let head = revisions::head(&world.conn).await.expect("head revision").0;
    for _ in 0..300 {
        let probe = CheckAccessRequest { user_id: "u0".to_owned(), ..Default::default() };
        if access.check_access(probe).await.expect("CheckAccess").into_inner().revision >= head as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Stripe's truth: who owns each subscription (the customer's link, else the
    // subscription's own metadata), and each user's subscriptions.
    let customers: HashMap<String, Value> = list_all(world, "/v1/customers")
        .await
        .into_iter()
        .map(|c| (c["id"].as_str().unwrap_or_default().to_owned(), c))
        .collect();
    let subscriptions = list_all(world, "/v1/subscriptions?status=all").await;
    let mut truth: HashMap<String, Vec<SubscriptionState>> = HashMap::new();
    let (mut per_user, mut per_email) = (HashMap::<String, usize>::new(), HashMap::<String, usize>::new());
    let emails: HashMap<&str, &str> = lives.iter().map(|l| (l.user.as_str(), l.email.as_str())).collect();
    for sub in &subscriptions {
        let checkout_user = sub["metadata"]["user_id"].as_str().unwrap_or_default().to_owned();
        let owner = customers
            .get(sub["customer"].as_str().unwrap_or_default())
            .and_then(|c| c["metadata"]["user_id"].as_str())
            .map_or(checkout_user.clone(), str::to_owned);
        truth.entry(owner).or_default().push(state_of(sub));
        if !sub["trial_start"].is_null() {
            *per_user.entry(checkout_user.clone()).or_default() += 1;
            let email = emails.get(checkout_user.as_str()).copied().unwrap_or_default().to_lowercase();
            *per_email.entry(email).or_default() += 1;
        }
    }

    let policy = Policy::default();
    let mut billing = BillingServiceClient::new(channel(world.grpc_addr).await);
    let mut mismatches = Vec::new();
    let users: Vec<&String> = lives.iter().flat_map(|l| l.users.iter()).collect();
    for user in &users {
        let check = CheckAccessRequest { user_id: (*user).clone(), ..Default::default() };
        let answer = access.check_access(check).await.expect("CheckAccess").into_inner();
        let status = GetSubscriptionStatusRequest { user_id: (*user).clone() };
        let status = billing.get_subscription_status(status).await.expect("status").into_inner();
        let mut subs = truth.get(*user).cloned().unwrap_or_default();
        subs.sort_by(|a, b| a.id.cmp(&b.id));
        let expected = policy.decide(&subs, None, chrono::Utc::now().timestamp());
        let got = (answer.allowed, answer.reason(), status.has_active_subscription, status.reason());
        let want = (expected.allowed, expected.reason, expected.allowed, expected.reason);
        if got != want {
            mismatches.push(format!("{user}: CheckAccess/status {got:?}, Stripe says {want:?} ({subs:?})"));
        }
    }
    let second_pass = reconciler.pass(true).await.expect("second reconciliation pass");
    Verdict {
        users_checked: users.len(),
        mismatches,
        max_trials_per_user: per_user.values().copied().max().unwrap_or(0),
        max_trials_per_email: per_email.values().copied().max().unwrap_or(0),
        first_pass,
        second_pass,
    }
}
