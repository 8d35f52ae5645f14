//! How a client reaches the services: deadlines, pool size, retries, credentials.

use std::time::Duration;

use tonic::transport::ClientTlsConfig;

/// Settings shared by [`crate::EntitlementClient`] and [`crate::BillingClient`].
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Deadline of every call (sent as `grpc-timeout`), retries included.
    pub deadline: Duration,
    /// HTTP/2 channels per endpoint URL; calls are spread over all of them.
    pub channels_per_endpoint: usize,
    /// Retries allowed as a share of calls (0.1: at most ~10 % extra load).
    pub retry_ratio: f32,
    /// `Authorization: Bearer` token, when the services authenticate callers by token.
    pub token: Option<String>,
    /// TLS (and a client certificate for mutual TLS), when the services require it.
    pub tls: Option<ClientTlsConfig>,
    /// Timeout of establishing a connection.
    pub connect_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            deadline: Duration::from_millis(500),
            channels_per_endpoint: 2,
            retry_ratio: 0.1,
            token: None,
            tls: None,
            connect_timeout: Duration::from_secs(2),
        }
    }
}

impl ClientConfig {
    /// The default settings with `deadline`.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// The default settings with a bearer token.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
}
