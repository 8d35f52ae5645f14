//! Stripe's API: async-stripe's request descriptions sent over billing's pooled
//! [`Transport`]. Objects are returned as Stripe's JSON so that the apply path has one
//! mapping for refetched objects and webhook payloads alike, and a field that a newer API
//! version adds or drops never blocks an apply.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::Value;
use stripe_client_core::{IdempotencyKey, RequestBuilder, StripeMethod};

use super::{
    keys::UserKeys,
    transport::{Transport, TransportError},
};
use crate::config::StripeSettings;

/// Why a Stripe call failed, by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum StripeCallError {
    /// No secret key is configured for the active mode.
    #[error("Stripe is not configured: set {0}")]
    NotConfigured(&'static str),
    /// Network failure, timeout, rate limit or a 5xx: retry later.
    #[error("Stripe is unreachable: {0}")]
    Unreachable(String),
    /// The object does not exist (or no longer does).
    #[error("not found in Stripe: {0}")]
    NotFound(String),
    /// Stripe refused the request.
    #[error("Stripe refused the request ({status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Stripe's error type (`invalid_request_error`, `card_error`, ...).
        kind: String,
        /// The parameter at fault, if Stripe named one.
        param: Option<String>,
        /// Stripe's message.
        message: String,
    },
}

/// A configured Stripe client.
#[derive(Clone)]
pub struct StripeApi {
    client: Transport,
    keys: UserKeys,
}

impl StripeApi {
    /// A client for the active mode's key, or `None` when no key is configured.
    pub fn from_settings(settings: &StripeSettings) -> Result<Option<Self>, StripeCallError> {
        let Some(key) = &settings.secret_key else { return Ok(None) };
        let (reads, writes) = settings.rate;
        let limiter = super::limiter::Limiter::new(reads, writes);
        let client =
            Transport::new(settings.api_base.as_str(), key.expose_secret(), Duration::from_secs(10), limiter)
                .map_err(|err| StripeCallError::Unreachable(err.to_string()))?;
        Ok(Some(Self { client, keys: settings.user_keys.clone() }))
    }

    /// The metadata keys that name a customer's user.
    pub fn user_keys(&self) -> &UserKeys {
        &self.keys
    }

    /// `GET /v1{path}` as JSON.
    pub async fn get(&self, path: &str) -> Result<Value, StripeCallError> {
        self.send(RequestBuilder::new(StripeMethod::Get, path), None).await
    }

    /// `POST /v1{path}` with a form body and an idempotency key.
    pub async fn post(
        &self,
        path: &str,
        form: &[(String, String)],
        idempotency_key: &str,
    ) -> Result<Value, StripeCallError> {
        let mut builder = RequestBuilder::new(StripeMethod::Post, path);
        builder.body = Some(url::form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish());
        self.send_request(builder, idempotency_key).await
    }

    /// A write async-stripe's typed request describes, with an idempotency key.
    pub async fn send_request(
        &self,
        request: RequestBuilder,
        idempotency_key: &str,
    ) -> Result<Value, StripeCallError> {
        self.send(request, Some(idempotency_key)).await
    }

    #[tracing::instrument(name = "stripe request", level = "debug", skip_all)]
    async fn send(
        &self,
        builder: RequestBuilder,
        idempotency_key: Option<&str>,
    ) -> Result<Value, StripeCallError> {
        let key = idempotency_key
            .map(IdempotencyKey::new)
            .transpose()
            .map_err(|err| StripeCallError::Unreachable(format!("invalid idempotency key: {err}")))?;
        let method = match builder.method {
            StripeMethod::Get => "GET",
            StripeMethod::Post => "POST",
            StripeMethod::Delete => "DELETE",
        };
        let started = std::time::Instant::now();
        let sent = self.client.send(builder, key).await.map_err(classify);
        let outcome = match &sent {
            Ok(_) => "ok",
            Err(StripeCallError::NotFound(_)) => "not_found",
            Err(StripeCallError::Rejected { .. }) => "rejected",
            Err(_) => "unreachable",
        };
        metrics::counter!("caixa_stripe_requests_total", "method" => method, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("caixa_stripe_request_duration_seconds", "method" => method)
            .record(started.elapsed().as_secs_f64());
        // Parsed once, straight into the JSON billing's parsers read.
        serde_json::from_slice(&sent?).map_err(|err| StripeCallError::Unreachable(err.to_string()))
    }
}

fn classify(err: TransportError) -> StripeCallError {
    match err {
        TransportError::Status { status, body } => {
            let error = &body["error"];
            let text = |field: &str| error[field].as_str().map(str::to_owned);
            let message = text("message").unwrap_or_default();
            match status {
                404 => StripeCallError::NotFound(message),
                429 | 500.. => StripeCallError::Unreachable(format!("{status}: {message}")),
                _ => StripeCallError::Rejected {
                    status,
                    kind: text("type").unwrap_or_else(|| "api_error".to_owned()),
                    param: text("param"),
                    message,
                },
            }
        }
        other => StripeCallError::Unreachable(other.to_string()),
    }
}
