//! Webhook delivery: each event POSTed to each endpoint, signed, retried with backoff on
//! a non-2xx answer or a timeout, stopping at the first 2xx. Chaos switches duplicate,
//! delay, shuffle or drop deliveries for reliability tests; a dropped delivery is still
//! in the events list, as with Stripe.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde_json::{Value, json};

/// One event for one endpoint.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub endpoint_id: String,
    pub url: String,
    pub secret: String,
    pub event_id: String,
    pub body: String,
}

/// Switches that make delivery misbehave the ways Stripe's may.
#[derive(Clone, Debug, Default)]
pub struct Chaos {
    /// Extra copies of every delivery.
    pub duplicates: u32,
    /// Fixed delay before the first attempt, in milliseconds.
    pub delay_ms: u64,
    /// Random extra delay of up to this many milliseconds, which shuffles the order.
    pub shuffle_ms: u64,
    /// Drop this many upcoming deliveries entirely (no attempt is made).
    pub drop_next: u32,
    /// Drop each delivery with this probability, in percent (no attempt is made).
    pub drop_percent: u8,
}

/// Sends deliveries in the background and records every attempt.
#[derive(Clone)]
pub struct Deliverer {
    client: Client<HttpConnector, Full<Bytes>>,
    retry_schedule: Arc<Vec<Duration>>,
    timeout: Duration,
    attempts: Arc<Mutex<Vec<Value>>>,
}

impl Deliverer {
    pub fn new(retry_schedule: Vec<Duration>, timeout: Duration) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            retry_schedule: Arc::new(retry_schedule),
            timeout,
            attempts: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Schedules `delivery`, as the chaos switches say.
    pub fn enqueue(&self, delivery: Delivery, chaos: &mut Chaos) {
        if chaos.drop_next > 0 {
            chaos.drop_next -= 1;
            self.record(&delivery, 0, None, Some("dropped by chaos switch"));
            return;
        }
        if chaos.drop_percent > 0 && random_below(100) < u64::from(chaos.drop_percent) {
            self.record(&delivery, 0, None, Some("dropped by chaos switch"));
            return;
        }
        for _ in 0..=chaos.duplicates {
            let jitter = if chaos.shuffle_ms > 0 { random_below(chaos.shuffle_ms) } else { 0 };
            let delay = Duration::from_millis(chaos.delay_ms + jitter);
            let this = self.clone();
            let delivery = delivery.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                this.deliver(delivery).await;
            });
        }
    }

    /// Every attempt so far: event, endpoint, attempt number, HTTP status or error.
    pub fn attempts(&self) -> Vec<Value> {
        self.attempts.lock().map(|a| a.clone()).unwrap_or_default()
    }

    /// Forgets recorded attempts.
    pub fn clear(&self) {
        if let Ok(mut attempts) = self.attempts.lock() {
            attempts.clear();
        }
    }

    async fn deliver(&self, delivery: Delivery) {
        let mut attempt = 1;
        loop {
            let outcome = self.attempt(&delivery).await;
            match &outcome {
                Ok(status) => self.record(&delivery, attempt, Some(*status), None),
                Err(err) => self.record(&delivery, attempt, None, Some(err)),
            }
            if matches!(outcome, Ok(status) if (200..300).contains(&status)) {
                return;
            }
            let Some(wait) = self.retry_schedule.get(attempt - 1) else {
                tracing::warn!(event = %delivery.event_id, url = %delivery.url, "webhook retries exhausted");
                return;
            };
            tokio::time::sleep(*wait).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, delivery: &Delivery) -> Result<u16, String> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
        let signature =
            crate::signature::sign(&delivery.secret, i64::try_from(now).unwrap_or(0), &delivery.body);
        let request = axum::http::Request::post(&delivery.url)
            .header("content-type", "application/json; charset=utf-8")
            .header("user-agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
            .header("stripe-signature", signature)
            .body(Full::new(Bytes::from(delivery.body.clone())))
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(self.timeout, self.client.request(request)).await {
            Ok(Ok(response)) => Ok(response.status().as_u16()),
            Ok(Err(err)) => Err(err.to_string()),
            Err(_) => Err("timed out".to_owned()),
        }
    }

    fn record(&self, delivery: &Delivery, attempt: usize, status: Option<u16>, error: Option<&str>) {
        if let Ok(mut attempts) = self.attempts.lock() {
            attempts.push(json!({
                "event": delivery.event_id,
                "endpoint": delivery.endpoint_id,
                "attempt": attempt,
                "status": status,
                "error": error,
            }));
        }
    }
}

/// A random number in `0..bound`, good enough for jitter.
fn random_below(bound: u64) -> u64 {
    uuid::Uuid::new_v4().as_u64_pair().0 % bound.max(1)
}
