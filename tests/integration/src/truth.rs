//! Stripe's truth, read from the emulator's own objects, and the users whose answers
//! (CheckAccess and GetSubscriptionStatus) differ from the access policy applied to it.

use std::{collections::HashMap, net::SocketAddr};

use billing_service::stripe::objects::Subscription;
use caixa_entities::state::SubscriptionState;
use caixa_policy::Policy;
use caixa_proto::{
    billing::v1::{GetSubscriptionStatusRequest, billing_service_client::BillingServiceClient},
    entitlement::v1::{CheckAccessRequest, entitlement_service_client::EntitlementServiceClient},
};
use caixa_test_support::grpc::channel;
use serde_json::Value;

use crate::stripe::StripeEmulator;

/// What Stripe says.
pub struct Truth {
    /// Each user's subscriptions, as the policy reads them. A subscription belongs to its
    /// customer's `metadata.user_id`, else to its own (set at checkout).
    pub subscriptions: HashMap<String, Vec<SubscriptionState>>,
    /// How many subscriptions with a trial each checkout user had.
    pub trials_by_user: HashMap<String, usize>,
}

/// Every object of a Stripe list, page by page.
pub async fn list_all(stripe: &StripeEmulator, path: &str) -> Vec<Value> {
    let mut all = Vec::new();
    let mut after = String::new();
    loop {
        let cursor = if after.is_empty() { String::new() } else { format!("&starting_after={after}") };
        let page = stripe
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
pub fn state_of(object: &Value) -> SubscriptionState {
    let sub = Subscription::from_json(object);
    let seconds = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.timestamp());
    let past_due = sub.status == caixa_entities::subscriptions::Status::PastDue;
    SubscriptionState {
        id: sub.id,
        customer_id: sub.customer_id,
        status: sub.status.to_proto(),
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
        quantity: u32::try_from(sub.quantity).unwrap_or(0),
        limits: Default::default(),
    }
}

impl Truth {
    /// Reads every customer and subscription of the emulator.
    pub async fn read(stripe: &StripeEmulator) -> Self {
        let customers: HashMap<String, Value> = list_all(stripe, "/v1/customers")
            .await
            .into_iter()
            .map(|c| (c["id"].as_str().unwrap_or_default().to_owned(), c))
            .collect();
        let mut truth = Self { subscriptions: HashMap::new(), trials_by_user: HashMap::new() };
        for sub in list_all(stripe, "/v1/subscriptions?status=all").await {
            let checkout_user = sub["metadata"]["user_id"].as_str().unwrap_or_default().to_owned();
            let owner = customers
                .get(sub["customer"].as_str().unwrap_or_default())
                .and_then(|c| c["metadata"]["user_id"].as_str())
                .map_or(checkout_user.clone(), str::to_owned);
            truth.subscriptions.entry(owner).or_default().push(state_of(&sub));
            if !sub["trial_start"].is_null() {
                *truth.trials_by_user.entry(checkout_user).or_default() += 1;
            }
        }
        truth
    }

    /// The users among `users` whose CheckAccess (at `entitlement`) or status (at
    /// `billing`) differs from the policy applied to Stripe's objects now, described.
    pub async fn mismatches(
        &self,
        entitlement: SocketAddr,
        billing: SocketAddr,
        users: &[String],
    ) -> Vec<String> {
        let policy = Policy::default();
        let mut access = EntitlementServiceClient::new(channel(entitlement).await);
        let mut billing = BillingServiceClient::new(channel(billing).await);
        let mut mismatches = Vec::new();
        for user in users {
            let check = CheckAccessRequest { user_id: user.clone(), ..Default::default() };
            let answer = access.check_access(check).await.expect("CheckAccess").into_inner();
            let status = GetSubscriptionStatusRequest { user_id: user.clone() };
            let status = billing.get_subscription_status(status).await.expect("status").into_inner();
            let mut subs = self.subscriptions.get(user).cloned().unwrap_or_default();
            subs.sort_by(|a, b| a.id.cmp(&b.id));
            let expected = policy.decide(&subs, None, chrono::Utc::now().timestamp());
            let got = (answer.allowed, answer.reason(), status.has_active_subscription, status.reason());
            let want = (expected.allowed, expected.reason, expected.allowed, expected.reason);
            if got != want {
                mismatches
                    .push(format!("{user}: CheckAccess/status {got:?}, Stripe says {want:?} ({subs:?})"));
            }
        }
        mismatches
    }
}
