//! A small pool of HTTP/2 channels, balanced per call, with a deadline on every call and
//! UNAVAILABLE retried on another channel while the retry budget allows.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tonic::transport::{Channel, Endpoint};
use tower::retry::budget::{Budget, TpsBudget};

use crate::{ClientConfig, ClientError};

/// Channels to one service's endpoints.
pub(crate) struct Pool {
    channels: Vec<Channel>,
    next: AtomicUsize,
    config: ClientConfig,
    authorization: Option<tonic::metadata::MetadataValue<tonic::metadata::Ascii>>,
    budget: Arc<TpsBudget>,
}

impl Pool {
    /// Channels to every URL, connected on first use (call inside a Tokio runtime).
    pub(crate) fn new(urls: &[&str], config: ClientConfig) -> Result<Self, ClientError> {
        let endpoint_error =
            |url: &str, reason: String| ClientError::Endpoint { url: url.to_owned(), reason };
        if urls.is_empty() {
            return Err(endpoint_error("", "no endpoint URL given".to_owned()));
        }
        let mut channels = Vec::new();
        for url in urls {
            let mut endpoint = Endpoint::from_shared((*url).to_owned())
                .map_err(|err| endpoint_error(url, err.to_string()))?
                .connect_timeout(config.connect_timeout)
                .tcp_nodelay(true)
                .http2_keep_alive_interval(Duration::from_secs(30))
                .keep_alive_while_idle(true);
            if let Some(tls) = &config.tls {
                endpoint =
                    endpoint.tls_config(tls.clone()).map_err(|err| endpoint_error(url, err.to_string()))?;
            }
            channels.extend((0..config.channels_per_endpoint.max(1)).map(|_| endpoint.connect_lazy()));
        }
        let authorization = match &config.token {
            Some(token) => Some(
                format!("Bearer {token}")
                    .parse()
                    .map_err(|_| endpoint_error(urls[0], "the token is not valid header text".to_owned()))?,
            ),
            None => None,
        };
        // Retries may add `retry_ratio` of the calls made in the last 10 s, and at least one
        // a second so that a quiet client can still retry.
        let budget =
            Arc::new(TpsBudget::new(Duration::from_secs(10), 1, config.retry_ratio.clamp(0.0, 1000.0)));
        Ok(Self { channels, next: AtomicUsize::new(0), config, authorization, budget })
    }

    /// A request carrying the pool's credentials and no deadline (for streams).
    pub(crate) fn authorized<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Some(value) = &self.authorization {
            request.metadata_mut().insert("authorization", value.clone());
        }
        request
    }

    pub(crate) fn channel(&self) -> Channel {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.channels[n % self.channels.len()].clone()
    }

    /// Makes one call with the pool's deadline, retrying UNAVAILABLE within the budget.
    pub(crate) async fn call<Req, Resp, F, Fut>(&self, message: Req, send: F) -> Result<Resp, ClientError>
    where
        Req: Clone,
        F: Fn(Channel, tonic::Request<Req>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<Resp>, tonic::Status>>,
    {
        self.budget.deposit();
        let started = Instant::now();
        loop {
            let Some(remaining) =
                self.config.deadline.checked_sub(started.elapsed()).filter(|r| !r.is_zero())
            else {
                return Err(ClientError::Unavailable(tonic::Status::deadline_exceeded(
                    "the call's deadline passed",
                )));
            };
            let mut request = self.authorized(message.clone());
            request.set_timeout(remaining);
            let answer = match tokio::time::timeout(remaining, send(self.channel(), request)).await {
                Ok(answer) => answer,
                Err(_) => Err(tonic::Status::deadline_exceeded("no answer within the call's deadline")),
            };
            match answer {
                Ok(response) => return Ok(response.into_inner()),
                Err(status) if status.code() == tonic::Code::Unavailable && self.budget.withdraw() => {
                    metrics::counter!("caixa_client_retries_total").increment(1);
                }
                Err(status) => return Err(ClientError::from_status(status)),
            }
        }
    }
}
