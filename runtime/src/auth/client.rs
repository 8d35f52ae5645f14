//! How a caixa service proves who it is when it calls another one (the entitlement
//! service following billing's Watch): a bearer token, a client certificate, or both.
//! The files are read at each connection, so rotated Secrets apply at the next one.

use std::path::PathBuf;

use tonic::{
    metadata::MetadataValue,
    transport::{Certificate, ClientTlsConfig, Endpoint, Identity},
};

use crate::config::{ConfigError, Env};

/// Credentials for calls to one service, read from `<PREFIX>_TOKEN_FILE`,
/// `<PREFIX>_TLS_CA_FILE`, `<PREFIX>_TLS_CERT_FILE`, `<PREFIX>_TLS_KEY_FILE` and
/// `<PREFIX>_TLS_DOMAIN`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientCredentials {
    /// File holding the bearer token.
    pub token_file: Option<PathBuf>,
    /// CA that signs the server's certificate (TLS when set).
    pub ca_file: Option<PathBuf>,
    /// Client certificate and key for mutual TLS.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// Name to check the server's certificate against, when not the URL's host.
    pub domain: Option<String>,
}

/// Why credentials cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct CredentialsError {
    what: String,
    reason: String,
}

impl ClientCredentials {
    /// Reads the `<prefix>_...` settings.
    pub fn from_env(env: &Env, prefix: &str) -> Result<Self, ConfigError> {
        let path = |name: &str| env.get(&format!("{prefix}_{name}")).map(PathBuf::from);
        let identity = match (path("TLS_CERT_FILE"), path("TLS_KEY_FILE")) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(ConfigError::new(
                    &format!("{prefix}_TLS_CERT_FILE"),
                    format!("{prefix}_TLS_CERT_FILE and {prefix}_TLS_KEY_FILE go together"),
                ));
            }
        };
        if identity.is_some() && path("TLS_CA_FILE").is_none() {
            return Err(ConfigError::new(
                &format!("{prefix}_TLS_CA_FILE"),
                "is required with a client certificate",
            ));
        }
        Ok(Self {
            token_file: path("TOKEN_FILE"),
            ca_file: path("TLS_CA_FILE"),
            identity,
            domain: env.get(&format!("{prefix}_TLS_DOMAIN")).map(str::to_owned),
        })
    }

    /// `endpoint` with TLS configured from the files as they are now.
    pub fn endpoint(&self, endpoint: Endpoint) -> Result<Endpoint, CredentialsError> {
        let Some(ca) = &self.ca_file else { return Ok(endpoint) };
        let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read(ca)?));
        if let Some((cert, key)) = &self.identity {
            config = config.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        if let Some(domain) = &self.domain {
            config = config.domain_name(domain.clone());
        }
        endpoint
            .tls_config(config)
            .map_err(|err| CredentialsError { what: "TLS".to_owned(), reason: err.to_string() })
    }

    /// Adds the bearer token, as the file holds it now, to `request`.
    pub fn authorize<T>(&self, request: &mut tonic::Request<T>) -> Result<(), CredentialsError> {
        let Some(file) = &self.token_file else { return Ok(()) };
        let token = String::from_utf8(read(file)?).map_err(|_| CredentialsError {
            what: file.display().to_string(),
            reason: "is not UTF-8".to_owned(),
        })?;
        let mut value: MetadataValue<_> =
            format!("Bearer {}", token.trim()).parse().map_err(|_| CredentialsError {
                what: file.display().to_string(),
                reason: "holds characters a header cannot carry".to_owned(),
            })?;
        value.set_sensitive(true);
        request.metadata_mut().insert("authorization", value);
        Ok(())
    }
}

fn read(path: &PathBuf) -> Result<Vec<u8>, CredentialsError> {
    std::fs::read(path)
        .map_err(|err| CredentialsError { what: path.display().to_string(), reason: err.to_string() })
}
