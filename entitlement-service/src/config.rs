//! Typed settings, parsed once from the environment at start-up.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use caixa_runtime::{
    auth::client::ClientCredentials,
    config::{CommonSettings, ConfigError, Env},
};
use tonic::transport::Uri;

/// Everything the entitlement service is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Database, log format, drain grace.
    pub common: CommonSettings,
    /// `ENTITLEMENT_GRPC_ADDR`: where the gRPC API listens.
    pub grpc_addr: SocketAddr,
    /// `ENTITLEMENT_HTTP_ADDR`: where `/healthz`, `/readyz` and `/metrics` are served
    /// (not served when unset).
    pub http_addr: Option<SocketAddr>,
    /// `BILLING_URL`: the billing service's gRPC endpoint, whose revision log it follows.
    pub billing_url: Uri,
    /// `BILLING_TOKEN_FILE`, `BILLING_TLS_*`: how this service proves who it is to billing.
    pub billing_credentials: ClientCredentials,
    /// `STALENESS_BOUND_SECONDS`: after this long without contact with billing (or the
    /// log), answers say `stale`.
    pub staleness_bound: Duration,
    /// `STALE_DENY_FEATURES`: features (comma separated) denied with reason STALE while
    /// stale; every other feature keeps its last known answer.
    pub stale_deny_features: Vec<String>,
    /// `FRESHNESS_WAIT_CAP_MS`: longest wait for an `at_least_as_fresh` revision.
    pub freshness_wait_cap: Duration,
    /// `MAX_CONCURRENT_REQUESTS`: calls in progress per connection before new ones are
    /// refused with RESOURCE_EXHAUSTED.
    pub max_concurrent_requests: usize,
    /// `MAX_IN_FLIGHT`: calls in progress on the whole service before new ones are refused
    /// with RESOURCE_EXHAUSTED: the bound on how long an admitted call can queue.
    pub max_in_flight: usize,
    /// `SNAPSHOT_FILE`: where the local snapshot is kept (not kept when unset). A start
    /// reads it, then the log's changes since, instead of every user from the database.
    pub snapshot_file: Option<PathBuf>,
    /// `SNAPSHOT_INTERVAL_SECONDS`: how often the local snapshot is rewritten (also at
    /// shutdown).
    pub snapshot_interval: Duration,
}

impl Settings {
    /// Parses and validates every setting; the error names the variable at fault.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let raw = env.get("BILLING_URL").unwrap_or("http://127.0.0.1:50051");
        let billing_url: Uri = raw
            .parse()
            .map_err(|err| ConfigError::new("BILLING_URL", format!("{raw:?} is not a URL: {err}")))?;
        if !matches!(billing_url.scheme_str(), Some("http" | "https")) || billing_url.host().is_none() {
            return Err(ConfigError::new("BILLING_URL", "must be an http:// or https:// URL with a host"));
        }
        let billing_credentials = ClientCredentials::from_env(env, "BILLING")?;
        if billing_credentials.ca_file.is_some() && billing_url.scheme_str() != Some("https") {
            return Err(ConfigError::new("BILLING_URL", "must be https:// when BILLING_TLS_CA_FILE is set"));
        }
        Ok(Self {
            common: CommonSettings::from_env(env)?,
            grpc_addr: env.socket_addr("ENTITLEMENT_GRPC_ADDR", "127.0.0.1:50052")?,
            http_addr: env
                .get("ENTITLEMENT_HTTP_ADDR")
                .map(|_| env.socket_addr("ENTITLEMENT_HTTP_ADDR", ""))
                .transpose()?,
            billing_url,
            billing_credentials,
            staleness_bound: env.seconds("STALENESS_BOUND_SECONDS", Duration::from_secs(30))?,
            stale_deny_features: env
                .get("STALE_DENY_FEATURES")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|f| !f.is_empty())
                .map(str::to_owned)
                .collect(),
            freshness_wait_cap: std::time::Duration::from_millis(
                env.parse_or("FRESHNESS_WAIT_CAP_MS", 2000)?,
            ),
            max_concurrent_requests: env.parse_or("MAX_CONCURRENT_REQUESTS", 128)?,
            max_in_flight: env.parse_or::<usize>("MAX_IN_FLIGHT", 512)?.max(1),
            snapshot_file: env.get("SNAPSHOT_FILE").filter(|f| !f.trim().is_empty()).map(PathBuf::from),
            snapshot_interval: snapshot_interval(env)?,
        })
    }
}

fn snapshot_interval(env: &Env) -> Result<Duration, ConfigError> {
    let interval = env.seconds("SNAPSHOT_INTERVAL_SECONDS", Duration::from_secs(300))?;
    if interval.is_zero() {
        return Err(ConfigError::new("SNAPSHOT_INTERVAL_SECONDS", "must be at least 1"));
    }
    Ok(interval)
}
