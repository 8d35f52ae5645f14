//! A plain HTTP client for the emulator and a webhook receiver; one place for both.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{Router, body::Bytes, extract::State, http::HeaderMap, routing::post};
use http_body_util::{BodyExt, Full};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use serde_json::Value;
use stripe_emulator::{Emulator, EmulatorConfig};

pub const KEY: &str = "sk_test_emulator";

/// An emulator on port 0 and a client for it.
pub struct Api {
    pub emulator: Arc<Emulator>,
    key: String,
}

impl Api {
    pub async fn start() -> Self {
        let emulator =
            Emulator::start("127.0.0.1:0".parse().unwrap(), EmulatorConfig::default()).await.unwrap();
        Self { emulator: Arc::new(emulator), key: KEY.to_owned() }
    }

    pub fn with_key(&self, key: &str) -> Self {
        Self { emulator: self.emulator.clone(), key: key.to_owned() }
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        self.send("POST", path, form, &[]).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, &[], &[]).await
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let (status, body) = self.raw(method, path, form, headers).await;
        (status, serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}")))
    }

    /// The status and the exact body text (for parsing with async-stripe).
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        let (status, _, body) = self.exchange(method, path, form, headers).await;
        (status, body)
    }

    /// The status, the answer's headers and its body text.
    pub async fn exchange(
        &self,
        method: &str,
        path: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> (u16, HeaderMap, String) {
        let body = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        let mut request = axum::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.emulator.url()))
            .header("content-type", "application/x-www-form-urlencoded");
        if !self.key.is_empty() {
            request = request.header("authorization", format!("Bearer {}", self.key));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let response = client.request(request.body(Full::new(Bytes::from(body))).unwrap()).await.unwrap();
        let (status, answered) = (response.status().as_u16(), response.headers().clone());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, answered, String::from_utf8(bytes.to_vec()).unwrap())
    }

    /// Creates a product and a monthly price; returns the price id.
    pub async fn monthly_price(&self, amount: &str) -> String {
        let (_, product) = self.post("/v1/products", &[("name", "Caixa Pro")]).await;
        let (status, price) = self
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
        assert_eq!(status, 200, "{price}");
        price["id"].as_str().unwrap().to_owned()
    }

    /// A checkout session for a new customer, with `trial_days` of trial (0 for none).
    pub async fn checkout(&self, price: &str, trial_days: &str) -> Value {
        let (status, session) = self
            .post(
                "/v1/checkout/sessions",
                &[
                    ("mode", "subscription"),
                    ("line_items[0][price]", price),
                    ("line_items[0][quantity]", "1"),
                    ("customer_email", "ana@example.com"),
                    ("client_reference_id", "user-42"),
                    ("subscription_data[trial_period_days]", trial_days),
                    ("subscription_data[metadata][user_id]", "user-42"),
                    ("success_url", "http://localhost:3000/ok?session={CHECKOUT_SESSION_ID}"),
                    ("cancel_url", "http://localhost:3000/cancel"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{session}");
        session
    }
}

/// What a webhook receiver got: the signature header and the raw body.
#[derive(Clone, Debug)]
pub struct Received {
    pub signature: String,
    pub body: String,
}

/// An HTTP endpoint that records deliveries and answers with the given statuses in
/// turn (then 200).
#[derive(Clone)]
pub struct Receiver {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    pub async fn start(statuses: Vec<u16>) -> Self {
        let received = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(statuses.into_iter()));
        let state = (received.clone(), script);
        let app = Router::new().route("/hook", post(record)).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, received }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    /// Waits until `count` deliveries arrived (or panics after 10 s).
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..500 {
            let received = self.received.lock().unwrap().clone();
            if received.len() >= count {
                return received;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let types: Vec<String> = self
            .received
            .lock()
            .unwrap()
            .iter()
            .map(|r| {
                serde_json::from_str::<Value>(&r.body).map(|e| e["type"].to_string()).unwrap_or_default()
            })
            .collect();
        panic!("expected {count} deliveries, got {}: {types:?}", types.len());
    }
}

type ReceiverState = (Arc<Mutex<Vec<Received>>>, Arc<Mutex<std::vec::IntoIter<u16>>>);

async fn record(
    State((received, script)): State<ReceiverState>,
    headers: HeaderMap,
    body: Bytes,
) -> axum::http::StatusCode {
    let signature =
        headers.get("stripe-signature").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    received.lock().unwrap().push(Received { signature, body: String::from_utf8_lossy(&body).into_owned() });
    let status = script.lock().unwrap().next().unwrap_or(200);
    axum::http::StatusCode::from_u16(status).unwrap()
}

/// Registers `receiver` for `events` and returns the endpoint's signing secret.
pub async fn register(api: &Api, receiver: &Receiver, events: &[&str]) -> String {
    let mut form = vec![("url", receiver.url())];
    form.extend(events.iter().map(|e| ("enabled_events[]", (*e).to_owned())));
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, endpoint) = api.post("/v1/webhook_endpoints", &form).await;
    assert_eq!(status, 200, "{endpoint}");
    endpoint["secret"].as_str().unwrap().to_owned()
}
