//! The Stripe emulator as the billing service's Stripe: start it, talk to it, and
//! register billing's webhook endpoint with it.

use std::{net::SocketAddr, time::Duration};

use bytes::Bytes;
use caixa_entities::webhook_endpoints;
use caixa_test_support::database::TestDatabase;
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use sea_orm::{ActiveModelTrait, ActiveValue::Set};
use serde_json::Value;
use stripe_emulator::{Emulator, EmulatorConfig};

/// The key tests use with the emulator.
pub const TEST_KEY: &str = "sk_test_integration";

/// A running emulator.
pub struct StripeEmulator {
    /// The emulator.
    pub emulator: Emulator,
    /// One pooled client for every call, so thousands of calls reuse a few connections.
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl StripeEmulator {
    /// Starts one on port 0.
    pub async fn start() -> Self {
        let emulator =
            Emulator::start("127.0.0.1:0".parse().unwrap(), EmulatorConfig::default()).await.unwrap();
        Self { emulator, client: Client::builder(TokioExecutor::new()).build_http() }
    }

    /// Settings that point billing at it.
    pub fn billing_env(&self) -> Vec<(&'static str, String)> {
        vec![("STRIPE_API_BASE", self.emulator.url()), ("STRIPE_TEST_SECRET_KEY", TEST_KEY.to_owned())]
    }

    /// Billing's own Stripe client, pointed at the emulator.
    pub fn billing_api(&self) -> billing_service::stripe::StripeApi {
        let env = caixa_runtime::config::Env::from_pairs(self.billing_env());
        let settings = billing_service::config::Settings::from_env(&env).expect("billing settings");
        billing_service::stripe::StripeApi::from_settings(&settings.stripe)
            .expect("client")
            .expect("a key is set")
    }

    /// A form POST; panics unless Stripe answers 200.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let (status, body) = self.send("POST", path, form).await;
        assert_eq!(status, 200, "POST {path}: {body}");
        body
    }

    /// A GET; panics unless Stripe answers 200.
    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send("GET", path, &[]).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    /// Any request, returning status and JSON.
    pub async fn send(&self, method: &str, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let request = request(method, &format!("{}{path}", self.emulator.url()), body);
        let response = self.client.request(request).await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    /// A product with a monthly price; returns the price id.
    pub async fn monthly_price(&self) -> String {
        self.plan("Caixa Pro", &[("metadata[features]", "app,reports")], "4990").await
    }

    /// A product named `name` with `metadata` (form fields) and a monthly price of
    /// `amount` in BRL cents; returns the price id.
    pub async fn plan(&self, name: &str, metadata: &[(&str, &str)], amount: &str) -> String {
        let mut form = vec![("name", name)];
        form.extend_from_slice(metadata);
        let product = self.post("/v1/products", &form).await;
        let price = self
            .post(
                "/v1/prices",
                &[
                    ("product", product["id"].as_str().unwrap()),
                    ("currency", "brl"),
                    ("unit_amount", amount),
                    ("recurring[interval]", "month"),
                ],
            )
            .await;
        price["id"].as_str().unwrap().to_owned()
    }

    /// A completed checkout for `user` (with a trial when `trial_days` > 0); returns the
    /// completed session.
    pub async fn subscribe(&self, price: &str, user: &str, trial_days: &str) -> Value {
        let email = format!("{user}@example.com");
        let session = self
            .post(
                "/v1/checkout/sessions",
                &[
                    ("mode", "subscription"),
                    ("line_items[0][price]", price),
                    ("customer_email", &email),
                    ("client_reference_id", user),
                    ("subscription_data[trial_period_days]", trial_days),
                    ("subscription_data[metadata][user_id]", user),
                    ("success_url", "http://localhost:3000/ok"),
                ],
            )
            .await;
        self.post(&format!("/_emulator/checkout/sessions/{}/complete", session["id"].as_str().unwrap()), &[])
            .await
    }

    /// Every event the emulator holds, oldest first, as Stripe would redeliver them.
    pub async fn events_oldest_first(&self) -> Vec<Value> {
        let mut events = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let path = match &after {
                Some(id) => format!("/v1/events?limit=100&starting_after={id}"),
                None => "/v1/events?limit=100".to_owned(),
            };
            let page = self.get(&path).await;
            let data = page["data"].as_array().cloned().unwrap_or_default();
            after = data.last().and_then(|e| e["id"].as_str()).map(str::to_owned);
            events.extend(data);
            if page["has_more"] != true || after.is_none() {
                break;
            }
        }
        events.reverse();
        events
    }

    /// An account of `users` customers (`s0`, `s1`, …), one subscription each, in every
    /// status by `i % 5` (trialing, active, canceled after a trial, past_due, canceling at
    /// period end); features on the product. No webhook endpoint: nothing is delivered.
    /// Returns the user ids.
    pub async fn seed_account(&self, users: usize) -> Vec<String> {
        use futures_util::StreamExt;
        let stripe = self;
        let price = stripe.monthly_price().await;
        let one = |i: usize| {
            let price = price.clone();
            async move {
                let user = format!("s{i}");
                let email = format!("{user}@example.com");
                let customer =
                    stripe.post("/v1/customers", &[("email", &email), ("metadata[user_id]", &user)]).await;
                let customer = customer["id"].as_str().unwrap().to_owned();
                let trial = if matches!(kind(i), "trialing" | "canceled_after_trial") { "7" } else { "0" };
                let session = stripe
                    .post(
                        "/v1/checkout/sessions",
                        &[
                            ("mode", "subscription"),
                            ("customer", &customer),
                            ("line_items[0][price]", &price),
                            ("subscription_data[trial_period_days]", trial),
                            ("subscription_data[metadata][user_id]", &user),
                            ("success_url", "http://localhost/ok"),
                        ],
                    )
                    .await;
                let done = stripe
                    .post(
                        &format!("/_emulator/checkout/sessions/{}/complete", session["id"].as_str().unwrap()),
                        &[],
                    )
                    .await;
                let sub = done["subscription"].as_str().unwrap().to_owned();
                match kind(i) {
                    "canceled_after_trial" => {
                        drop(stripe.post(&format!("/_emulator/subscriptions/{sub}/cancel"), &[]).await)
                    }
                    "past_due" => {
                        stripe
                            .post(&format!("/_emulator/customers/{customer}/card"), &[("declines", "true")])
                            .await;
                    }
                    "cancel_at_period_end" => {
                        stripe
                            .post(&format!("/v1/subscriptions/{sub}"), &[("cancel_at_period_end", "true")])
                            .await;
                    }
                    _ => {}
                }
                user
            }
        };
        // Past-due subscriptions need a renewal to fail: theirs first, then the clock moves.
        let mut ids: Vec<String> = futures_util::stream::iter((0..users).filter(|i| kind(*i) == "past_due"))
            .map(one)
            .buffer_unordered(8)
            .collect()
            .await;
        stripe.post("/_emulator/clock/advance", &[("days", "31")]).await;
        ids.extend(
            futures_util::stream::iter((0..users).filter(|i| kind(*i) != "past_due"))
                .map(one)
                .buffer_unordered(8)
                .collect::<Vec<_>>()
                .await,
        );
        ids
    }

    /// Registers billing's bridge as a webhook endpoint for every event, and stores the
    /// endpoint (with its secret) where billing looks it up. Returns its uuid.
    pub async fn register_billing(&self, db: &TestDatabase, billing_http: SocketAddr) -> uuid::Uuid {
        let id = uuid::Uuid::new_v4();
        let url = format!("http://{billing_http}/stripe/webhook/{id}");
        let endpoint = self.post("/v1/webhook_endpoints", &[("url", &url), ("enabled_events[]", "*")]).await;
        let now = chrono::Utc::now();
        webhook_endpoints::ActiveModel {
            id: Set(id),
            stripe_id: Set(endpoint["id"].as_str().map(str::to_owned)),
            livemode: Set(false),
            url: Set(url),
            api_version: Set(endpoint["api_version"].as_str().map(str::to_owned)),
            secret: Set(endpoint["secret"].as_str().unwrap().to_owned()),
            previous_secret: Set(None),
            previous_secret_expires_at: Set(None),
            enabled_events: Set(serde_json::json!(["*"])),
            enabled: Set(true),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&db.connect().await)
        .await
        .unwrap();
        id
    }

    /// Waits until every webhook delivery has ended in a 2xx (none still retrying).
    pub async fn wait_for_deliveries(&self) {
        let mut stable = 0;
        let mut last = usize::MAX;
        for _ in 0..400 {
            let log = self.get_raw("/_emulator/deliveries").await;
            let attempts = log["data"].as_array().map(Vec::len).unwrap_or(0);
            let events = self.get("/v1/events?limit=100").await["data"].as_array().map(Vec::len).unwrap_or(0);
            let delivered = log["data"]
                .as_array()
                .map(|a| {
                    a.iter().filter(|d| d["status"].as_u64().is_some_and(|s| (200..300).contains(&s))).count()
                })
                .unwrap_or(0);
            stable = if attempts == last && delivered >= events { stable + 1 } else { 0 };
            if stable >= 5 {
                return;
            }
            last = attempts;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("webhook deliveries did not settle");
    }

    /// Every delivery attempt the emulator made (or dropped).
    pub async fn get_deliveries(&self) -> Vec<Value> {
        self.get_raw("/_emulator/deliveries").await["data"].as_array().cloned().unwrap_or_default()
    }

    async fn get_raw(&self, path: &str) -> Value {
        self.send("GET", path, &[]).await.1
    }
}

fn request(method: &str, uri: &str, body: String) -> http::Request<Full<Bytes>> {
    http::Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {TEST_KEY}"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body)))
        .unwrap()
}

/// What seeded user `i`'s subscription is.
fn kind(i: usize) -> &'static str {
    ["trialing", "active", "canceled_after_trial", "past_due", "cancel_at_period_end"][i % 5]
}
