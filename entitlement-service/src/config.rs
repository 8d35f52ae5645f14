//! Typed settings, parsed once from the environment at start-up.

use std::net::SocketAddr;

use caixa_runtime::config::{CommonSettings, ConfigError, Env};
use tonic::transport::Uri;

/// Everything the entitlement service is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Database, log format, drain grace.
    pub common: CommonSettings,
    /// `ENTITLEMENT_GRPC_ADDR`: where the gRPC API listens.
    pub grpc_addr: SocketAddr,
    /// `BILLING_URL`: the billing service's gRPC endpoint, whose revision log it follows.
    pub billing_url: Uri,
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
        Ok(Self {
            common: CommonSettings::from_env(env)?,
            grpc_addr: env.socket_addr("ENTITLEMENT_GRPC_ADDR", "127.0.0.1:50052")?,
            billing_url,
        })
    }
}
