//! A Stripe account as a Django app on dj-stripe leaves it, and the takeover of it: the
//! users are the app's integer primary keys; customers name them under
//! `metadata.djstripe_subscriber` (most), `metadata.user_id` (some) or nowhere (their link
//! is only in dj-stripe's own table); subscriptions come from Checkout Sessions with no
//! user metadata; some users have two live customers, some a deleted customer whose trial
//! only the app's own table remembers.

mod takeover;

use std::collections::{BTreeMap, HashMap};

use caixa_policy::Policy;
use futures_util::StreamExt;

pub use self::takeover::{Takeover, TakeoverFiles};
use crate::{
    stripe::StripeEmulator,
    truth::{list_all, state_of},
};

/// How a user's customers were left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// One customer naming the user under `djstripe_subscriber`.
    Subscriber,
    /// One customer naming the user under `user_id`.
    UserId,
    /// One customer naming nobody: the link is in dj-stripe's table only.
    Unnamed,
    /// Two live customers (a race in `get_or_create`): the older one's subscription
    /// canceled, the newer one's live.
    TwoCustomers,
    /// A deleted customer whose subscription had a trial, and a new customer with no
    /// subscription (a re-signup that never paid).
    DeletedWithTrial,
}

const SHAPES: [Shape; 8] = [
    Shape::Subscriber,
    Shape::Subscriber,
    Shape::Subscriber,
    Shape::UserId,
    Shape::Unnamed,
    Shape::TwoCustomers,
    Shape::DeletedWithTrial,
    Shape::Subscriber,
];

/// What a user's (live) subscription is.
const STATUSES: [&str; 7] =
    ["trialing", "active", "canceled_after_trial", "past_due", "cancel_at_period_end", "paused", "none"];

/// The account, and what the old app knows about it.
#[derive(Debug, Default)]
pub struct LegacyAccount {
    /// The app's users (primary keys as text).
    pub users: Vec<String>,
    /// Each user's email.
    pub emails: HashMap<String, String>,
    /// dj-stripe's `djstripe_customer` links: customer → user, deleted ones included.
    pub links: Vec<(String, String)>,
    /// The customers whose metadata names nobody: only dj-stripe's table links them.
    pub unnamed: std::collections::HashSet<String>,
    /// Every user who used a trial: Stripe's `trial_start` on a live or deleted
    /// customer, or the app's table.
    pub trials: Vec<String>,
    /// The app's trial history (`TrialUsageTracking`): the only record for a deleted
    /// customer's trial and for one Stripe never started; like the seed's, it misses some
    /// trials Stripe has.
    pub trial_history: Vec<String>,
}

/// The user at `index` and its shape and status.
fn user_at(index: usize) -> (String, Shape, &'static str) {
    (format!("{}", 1000 + index), SHAPES[index % SHAPES.len()], STATUSES[(index / 2) % STATUSES.len()])
}

impl LegacyAccount {
    /// Makes an account of about `customers` customers at `stripe` (no webhook endpoint:
    /// nothing is delivered).
    pub async fn build(stripe: &StripeEmulator, customers: usize) -> Self {
        let price = stripe.monthly_price().await;
        // Two customers for some users: about 8 customers for 7 users.
        let users = customers * SHAPES.len() / (SHAPES.len() + 2);
        let one = |index: usize| {
            let price = price.clone();
            async move { Made::user(stripe, &price, index).await }
        };
        // Past-due subscriptions need a failed renewal: theirs first, then the clock moves.
        let past_due = |i: &usize| user_at(*i).2 == "past_due";
        let mut made: Vec<Made> = futures_util::stream::iter((0..users).filter(past_due))
            .map(one)
            .buffer_unordered(8)
            .collect()
            .await;
        stripe.post("/_emulator/clock/advance", &[("days", "31")]).await;
        made.extend(
            futures_util::stream::iter((0..users).filter(|i| !past_due(i)))
                .map(one)
                .buffer_unordered(8)
                .collect::<Vec<_>>()
                .await,
        );
        let mut account = Self::default();
        for m in made {
            account.emails.insert(m.user.clone(), m.email);
            if m.shape == Shape::Unnamed {
                account.unnamed.extend(m.customers.iter().cloned());
            }
            account.links.extend(m.customers.into_iter().map(|c| (c, m.user.clone())));
            if m.stripe_trial || m.app_trial {
                account.trials.push(m.user.clone());
            }
            if m.app_trial {
                account.trial_history.push(m.user.clone());
            }
            account.users.push(m.user);
        }
        account.users.sort();
        account
    }

    /// What the old app answers for each user: the policy applied to the subscriptions
    /// of every customer dj-stripe links to them, read from Stripe's own objects.
    pub async fn answers(&self, stripe: &StripeEmulator) -> BTreeMap<String, bool> {
        let owner: HashMap<&str, &str> = self.links.iter().map(|(c, u)| (c.as_str(), u.as_str())).collect();
        let mut subs: HashMap<&str, Vec<_>> = HashMap::new();
        for sub in list_all(stripe, "/v1/subscriptions?status=all").await {
            if let Some(user) = sub["customer"].as_str().and_then(|c| owner.get(c)) {
                subs.entry(user).or_default().push(state_of(&sub));
            }
        }
        let now = chrono::Utc::now().timestamp();
        let policy = Policy::default();
        self.users
            .iter()
            .map(|u| {
                let mine = subs.get(u.as_str()).map(Vec::as_slice).unwrap_or_default();
                (u.clone(), policy.decide(mine, None, now).allowed)
            })
            .collect()
    }
}

/// One user, as made.
struct Made {
    user: String,
    email: String,
    shape: Shape,
    customers: Vec<String>,
    stripe_trial: bool,
    app_trial: bool,
}

impl Made {
    async fn user(stripe: &StripeEmulator, price: &str, index: usize) -> Self {
        let (user, shape, status) = user_at(index);
        let email = format!("user{user}@example.com");
        let mut made =
            Self { user, email, shape, customers: Vec::new(), stripe_trial: false, app_trial: false };
        let key = match shape {
            Shape::UserId => "metadata[user_id]",
            Shape::Unnamed => "",
            _ => "metadata[djstripe_subscriber]",
        };
        let first = made.customer(stripe, key).await;
        match shape {
            Shape::TwoCustomers => {
                made.subscribe(stripe, price, &first, "canceled_after_trial").await;
                let second = made.customer(stripe, key).await;
                made.subscribe(stripe, price, &second, status).await;
            }
            Shape::DeletedWithTrial => {
                made.subscribe(stripe, price, &first, "trialing").await;
                stripe.send("DELETE", &format!("/v1/customers/{first}"), &[]).await;
                made.customer(stripe, key).await;
            }
            _ => made.subscribe(stripe, price, &first, status).await,
        }
        // The app's table misses some trials Stripe has (the seed's "trial not tracked"),
        // holds every deleted customer's, and one Stripe never started (a lapsed session).
        made.app_trial = (made.stripe_trial && !index.is_multiple_of(3))
            || shape == Shape::DeletedWithTrial
            || index.is_multiple_of(11);
        made
    }

    async fn customer(&mut self, stripe: &StripeEmulator, key: &str) -> String {
        let mut form = vec![("email", self.email.as_str()), ("name", "Legacy user")];
        if !key.is_empty() {
            form.push((key, self.user.as_str()));
        }
        let id = stripe.post("/v1/customers", &form).await["id"].as_str().unwrap().to_owned();
        self.customers.push(id.clone());
        id
    }

    /// A subscription in `status` through a Checkout Session, as dj-stripe apps make
    /// them: no user metadata, no client reference.
    async fn subscribe(&mut self, stripe: &StripeEmulator, price: &str, customer: &str, status: &str) {
        if status == "none" {
            return;
        }
        let trial = matches!(status, "trialing" | "canceled_after_trial");
        self.stripe_trial |= trial;
        let form = [
            ("mode", "subscription"),
            ("customer", customer),
            ("line_items[0][price]", price),
            ("subscription_data[trial_period_days]", if trial { "7" } else { "0" }),
            ("success_url", "http://localhost/ok"),
        ];
        let session = stripe.post("/v1/checkout/sessions", &form).await;
        let path = format!("/_emulator/checkout/sessions/{}/complete", session["id"].as_str().unwrap());
        let sub = stripe.post(&path, &[]).await["subscription"].as_str().unwrap().to_owned();
        match status {
            "canceled_after_trial" => {
                drop(stripe.post(&format!("/_emulator/subscriptions/{sub}/cancel"), &[]).await)
            }
            "past_due" => {
                stripe.post(&format!("/_emulator/customers/{customer}/card"), &[("declines", "true")]).await;
            }
            "cancel_at_period_end" => {
                stripe.post(&format!("/v1/subscriptions/{sub}"), &[("cancel_at_period_end", "true")]).await;
            }
            "paused" => drop(stripe.post(&format!("/_emulator/subscriptions/{sub}/pause"), &[]).await),
            _ => {}
        }
    }
}
