//! How billing's requests reach Stripe: async-stripe's request descriptions
//! (`stripe_client_core`) sent over one pooled HTTP client per process. Connections are
//! kept alive and reused (HTTP/2 where Stripe offers it), so a call pays one round trip
//! instead of a TCP and a TLS handshake first, and every connection opened is counted.
//! Retries follow Stripe's advice: `Stripe-Should-Retry` when sent, else only what may
//! succeed on a second try (a timeout, a connection lost, 429, 5xx); a refused idempotency
//! key or any other 4xx is final.

use std::{
    fmt::Display,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use super::limiter::Limiter;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{
    Method, Request, StatusCode, Uri,
    header::{AUTHORIZATION, CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT},
};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use stripe_client_core::{
    CustomizedStripeRequest, IdempotencyKey, RequestBuilder, RequestStrategy, StripeClient, StripeClientErr,
    StripeMethod,
};

/// Attempts per call, the first included.
const ATTEMPTS: u32 = 3;

/// Why a request got no answer billing can use, as the transport saw it.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// Stripe answered with an error status (its JSON error body kept).
    #[error("Stripe answered {status}")]
    Status {
        /// HTTP status.
        status: u16,
        /// Stripe's error body.
        body: serde_json::Value,
    },
    /// No answer: connection refused or lost, timeout.
    #[error("no answer from Stripe: {0}")]
    Network(String),
    /// An answer that is not what the request expects.
    #[error("unreadable answer from Stripe: {0}")]
    Unreadable(String),
    /// The client or a request could not be built (a key that is no header value).
    #[error("cannot build a request to Stripe: {0}")]
    Setup(String),
}

impl StripeClientErr for TransportError {
    fn deserialize_err(msg: impl Display) -> Self {
        Self::Unreadable(msg.to_string())
    }
}

type Connector = Counted<HttpsConnector<HttpConnector>>;

/// A pooled client for Stripe's API at one base URL with one secret key.
#[derive(Clone)]
pub struct Transport {
    client: Client<Connector, Full<Bytes>>,
    limiter: Limiter,
    base: String,
    secret: HeaderValue,
    timeout: Duration,
}

impl Transport {
    /// A transport to `base` (`https://api.stripe.com/`, or an emulator) with `secret`,
    /// each try within `timeout` and the process's `limiter`.
    pub fn new(
        base: &str,
        secret: &str,
        timeout: Duration,
        limiter: Limiter,
    ) -> Result<Self, TransportError> {
        let mut secret = HeaderValue::from_str(&format!("Bearer {secret}"))
            .map_err(|_| TransportError::Setup("the secret key is not a valid header value".to_owned()))?;
        secret.set_sensitive(true);
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(timeout));
        let https = HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(32)
            .build(Counted(https));
        Ok(Self { client, limiter, base: base.trim_end_matches('/').to_owned(), secret, timeout })
    }

    async fn attempt(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Option<bool>, Bytes), TransportError> {
        let exchange = async {
            let response =
                self.client.request(request).await.map_err(|e| TransportError::Network(e.to_string()))?;
            let status = response.status();
            let advice = response
                .headers()
                .get("stripe-should-retry")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<bool>().ok());
            let body =
                response.into_body().collect().await.map_err(|e| TransportError::Network(e.to_string()))?;
            Ok((status, advice, body.to_bytes()))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .unwrap_or_else(|_| Err(TransportError::Network(format!("no answer within {:?}", self.timeout))))
    }

    fn request(
        &self,
        method: &Method,
        uri: &str,
        body: Option<&Bytes>,
        key: Option<&IdempotencyKey>,
    ) -> Result<Request<Full<Bytes>>, TransportError> {
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header(AUTHORIZATION, self.secret.clone())
            .header(USER_AGENT, concat!("caixa-billing/", env!("CARGO_PKG_VERSION")))
            .header(HeaderName::from_static("stripe-version"), stripe_shared::version::VERSION.as_str());
        if let Some(key) = key {
            builder = builder.header(HeaderName::from_static("idempotency-key"), key.as_str());
        }
        if body.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/x-www-form-urlencoded");
        }
        builder
            .body(Full::new(body.cloned().unwrap_or_default()))
            .map_err(|e| TransportError::Setup(e.to_string()))
    }
}

/// Whether an answer (or its absence) may turn out otherwise on another try.
fn retryable(status: Option<StatusCode>, advice: Option<bool>) -> bool {
    match (advice, status) {
        (Some(advice), _) => advice,
        (None, None) => true,
        (None, Some(status)) => status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error(),
    }
}

/// The wait before try `n` (1-based, after the first): 0.5 s, then 1 s, …, with jitter.
fn backoff(n: u32) -> Duration {
    let base = Duration::from_millis(500) * 2u32.saturating_pow(n.saturating_sub(1).min(5));
    // Calls that failed together do not come back together.
    base + Duration::from_millis(fastrand::u64(0..250))
}

impl StripeClient for Transport {
    type Err = TransportError;

    async fn execute(&self, request: CustomizedStripeRequest) -> Result<Bytes, TransportError> {
        let (request, config) = request.into_pieces();
        self.send(request, config.request_strategy.as_ref().and_then(RequestStrategy::get_key)).await
    }
}

impl Transport {
    /// Sends `request` (under `key` if given; a write without one gets a fresh key), with
    /// the budget's token for each try; Stripe's answer as it came.
    pub async fn send(
        &self,
        request: RequestBuilder,
        key: Option<IdempotencyKey>,
    ) -> Result<Bytes, TransportError> {
        let method = match request.method {
            StripeMethod::Get => Method::GET,
            StripeMethod::Post => Method::POST,
            StripeMethod::Delete => Method::DELETE,
        };
        let mut uri = format!("{}/v1{}", self.base, request.path);
        if let Some(query) = &request.query {
            uri.push(if uri.contains('?') { '&' } else { '?' });
            uri.push_str(query);
        }
        // A write is retried only under one idempotency key, so Stripe applies it once.
        let key = match key {
            Some(key) => Some(key),
            None if method != Method::GET => Some(IdempotencyKey::new_uuid_v4()),
            None => None,
        };
        let body = request.body.map(Bytes::from);
        let mut tries = 0;
        loop {
            tries += 1;
            self.limiter.acquire(method != Method::GET).await;
            let sent = self.attempt(self.request(&method, &uri, body.as_ref(), key.as_ref())?).await;
            let (status, advice) = match &sent {
                Ok((status, _, _)) if status.is_success() => return sent.map(|(_, _, bytes)| bytes),
                Ok((status, advice, _)) => (Some(*status), *advice),
                Err(_) => (None, None),
            };
            if tries >= ATTEMPTS || !retryable(status, advice) {
                return Err(match sent {
                    Ok((status, _, bytes)) => TransportError::Status {
                        status: status.as_u16(),
                        body: serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
                    },
                    Err(err) => err,
                });
            }
            metrics::counter!("caixa_stripe_retries_total").increment(1);
            tokio::time::sleep(backoff(tries)).await;
        }
    }
}

/// A connector that counts the connections it opens
/// (`caixa_stripe_connections_opened_total`).
#[derive(Clone)]
pub struct Counted<C>(C);

impl<C> tower::Service<Uri> for Counted<C>
where
    C: tower::Service<Uri> + Send,
    C::Future: Send + 'static,
{
    type Response = C::Response;
    type Error = C::Error;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, C::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move {
            let connection = connecting.await?;
            metrics::counter!("caixa_stripe_connections_opened_total").increment(1);
            Ok(connection)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_s_advice_decides_and_else_only_what_may_change_is_retried() {
        assert!(retryable(None, None), "no answer at all");
        assert!(retryable(Some(StatusCode::TOO_MANY_REQUESTS), None));
        assert!(retryable(Some(StatusCode::BAD_GATEWAY), None));
        assert!(!retryable(Some(StatusCode::CONFLICT), None), "an idempotency conflict is final");
        assert!(!retryable(Some(StatusCode::BAD_REQUEST), None));
        assert!(!retryable(Some(StatusCode::TOO_MANY_REQUESTS), Some(false)), "Stripe says no");
        assert!(retryable(Some(StatusCode::CONFLICT), Some(true)), "Stripe says yes");
    }

    #[test]
    fn backoff_grows_from_half_a_second() {
        assert!(backoff(1) >= Duration::from_millis(500) && backoff(1) < Duration::from_millis(750));
        assert!(backoff(2) >= Duration::from_secs(1) && backoff(2) < Duration::from_millis(1250));
        assert!(backoff(60) < Duration::from_secs(17), "capped");
    }
}
