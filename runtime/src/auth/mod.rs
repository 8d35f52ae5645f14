//! Who may call the gRPC APIs. Callers prove who they are with a client certificate
//! (mutual TLS; the identity is the certificate's SAN or CN) or a bearer token (checked
//! against hashed tokens in a file); a method policy says which caller may call which
//! methods. Files are read again while running, so rotated Secrets apply without a
//! restart.

pub mod client;
mod held;
mod layer;
mod policy;
pub mod tls;
mod tokens;

use std::{
    path::{Path, PathBuf},
    sync::{Arc, RwLock},
    time::Duration,
};

pub use layer::{Admit, AdmitLayer, Admitted, Refusal};
pub use policy::{ANYONE, MethodPolicy, PolicyError};
pub use tokens::{Tokens, TokensError, hash_hex};

use self::tls::TlsFiles;
use crate::{
    config::{ConfigError, Env},
    shutdown::DrainSignal,
};

/// An authenticated caller, attached to each request's extensions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller(Arc<str>);

impl Caller {
    /// The caller's name (token file entry or certificate identity).
    pub fn name(&self) -> &str {
        &self.0
    }
}

impl<S: Into<Arc<str>>> From<S> for Caller {
    fn from(name: S) -> Self {
        Self(name.into())
    }
}

/// How a gRPC server authenticates and authorizes its callers.
#[derive(Clone, Debug, Default)]
pub struct AuthSettings {
    /// `GRPC_TLS_CERT_FILE`, `GRPC_TLS_KEY_FILE`, `GRPC_TLS_CLIENT_CA_FILE`: serve TLS,
    /// and with a client CA require (or accept) client certificates.
    pub tls: Option<TlsFiles>,
    /// `CALLER_TOKENS_FILE`: `<caller> <sha256 hex>` per line.
    pub tokens_file: Option<PathBuf>,
    /// `CALLER_POLICY` (rules separated by `;`) or `CALLER_POLICY_FILE`.
    pub policy: Option<MethodPolicy>,
    /// `GRPC_REFLECTION_OPEN`: reflection without credentials (default true).
    pub reflection_open: bool,
    /// `ALLOW_UNAUTHENTICATED`: run without caller authentication in live mode.
    pub allow_unauthenticated: bool,
    /// `AUTH_RELOAD_SECONDS`: how often certificate and token files are read again.
    pub reload_every: Duration,
}

impl AuthSettings {
    /// Reads the settings; in live mode, running without authentication must be asked
    /// for explicitly.
    pub fn from_env(env: &Env, live_mode: bool) -> Result<Self, ConfigError> {
        let path = |name: &str| env.get(name).map(PathBuf::from);
        let tls = match (path("GRPC_TLS_CERT_FILE"), path("GRPC_TLS_KEY_FILE")) {
            (Some(cert), Some(key)) => Some(TlsFiles {
                cert,
                key,
                client_ca: path("GRPC_TLS_CLIENT_CA_FILE"),
                client_cert_optional: env.get("CALLER_TOKENS_FILE").is_some(),
            }),
            (None, None) if env.get("GRPC_TLS_CLIENT_CA_FILE").is_some() => {
                return Err(ConfigError::new(
                    "GRPC_TLS_CLIENT_CA_FILE",
                    "needs GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE",
                ));
            }
            (None, None) => None,
            (Some(_), None) => {
                return Err(ConfigError::new("GRPC_TLS_KEY_FILE", "is required with GRPC_TLS_CERT_FILE"));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new("GRPC_TLS_CERT_FILE", "is required with GRPC_TLS_KEY_FILE"));
            }
        };
        let policy = match (env.get("CALLER_POLICY"), path("CALLER_POLICY_FILE")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "CALLER_POLICY",
                    "set either CALLER_POLICY or CALLER_POLICY_FILE",
                ));
            }
            (Some(text), None) => Some(
                MethodPolicy::parse(text)
                    .map_err(|err| ConfigError::new("CALLER_POLICY", err.to_string()))?,
            ),
            (None, Some(file)) => {
                let text = std::fs::read_to_string(&file).map_err(|err| {
                    ConfigError::new("CALLER_POLICY_FILE", format!("{}: {err}", file.display()))
                })?;
                Some(
                    MethodPolicy::parse(&text)
                        .map_err(|err| ConfigError::new("CALLER_POLICY_FILE", err.to_string()))?,
                )
            }
            (None, None) => None,
        };
        let settings = Self {
            tls,
            tokens_file: path("CALLER_TOKENS_FILE"),
            policy,
            reflection_open: env.bool("GRPC_REFLECTION_OPEN", true)?,
            allow_unauthenticated: env.bool("ALLOW_UNAUTHENTICATED", false)?,
            reload_every: env.seconds("AUTH_RELOAD_SECONDS", Duration::from_secs(10))?,
        };
        if settings.policy.is_some() && !settings.authenticates() {
            return Err(ConfigError::new(
                "CALLER_POLICY",
                "needs callers to authenticate: set CALLER_TOKENS_FILE or GRPC_TLS_CLIENT_CA_FILE",
            ));
        }
        if live_mode && !settings.authenticates() && !settings.allow_unauthenticated {
            return Err(ConfigError::new(
                "ALLOW_UNAUTHENTICATED",
                "live mode requires caller authentication (CALLER_TOKENS_FILE or GRPC_TLS_CLIENT_CA_FILE); \
                 set ALLOW_UNAUTHENTICATED=true to run without it",
            ));
        }
        if live_mode && settings.authenticates() {
            settings.check_live(env)?;
        }
        // The files are read now, so a missing or broken one stops start-up as bad
        // settings (exit 2) before any port is bound.
        Gate::load(&settings).map_err(|err| match err {
            AuthError::Tokens { path, reason } => {
                ConfigError::new("CALLER_TOKENS_FILE", format!("{}: {reason}", path.display()))
            }
            AuthError::Tls(err) => ConfigError::new("GRPC_TLS_CERT_FILE", err.to_string()),
        })?;
        Ok(settings)
    }

    /// Live mode with authentication denies by default: a policy must say who may call
    /// what, and a bearer token must not cross the network in plaintext unless asked for.
    fn check_live(&self, env: &Env) -> Result<(), ConfigError> {
        if self.policy.is_none() {
            return Err(ConfigError::new(
                "CALLER_POLICY",
                "live mode with caller authentication needs a policy (CALLER_POLICY or CALLER_POLICY_FILE): \
                 without one every authenticated caller could call every method",
            ));
        }
        if self.tokens_file.is_some() && self.tls.is_none() && !env.bool("ALLOW_PLAINTEXT_TOKENS", false)? {
            return Err(ConfigError::new(
                "ALLOW_PLAINTEXT_TOKENS",
                "live mode sends bearer tokens only over TLS: set GRPC_TLS_CERT_FILE and GRPC_TLS_KEY_FILE, \
                 or ALLOW_PLAINTEXT_TOKENS=true behind a mesh that encrypts",
            ));
        }
        Ok(())
    }

    /// Whether callers must prove who they are.
    pub fn authenticates(&self) -> bool {
        self.tokens_file.is_some() || self.tls.as_ref().is_some_and(|t| t.client_ca.is_some())
    }
}

/// Why the authentication files cannot be loaded at start.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The tokens file.
    #[error("CALLER_TOKENS_FILE {path}: {reason}")]
    Tokens {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The TLS files.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// The tokens file, read again when it changes.
pub struct ReloadingTokens {
    path: PathBuf,
    current: RwLock<(String, Arc<Tokens>)>,
}

impl ReloadingTokens {
    /// Loads `path` now.
    pub fn load(path: &Path) -> Result<Self, AuthError> {
        let (text, tokens) = read_tokens(path)?;
        Ok(Self { path: path.to_owned(), current: RwLock::new((text, Arc::new(tokens))) })
    }

    fn tokens(&self) -> Arc<Tokens> {
        match self.current.read() {
            Ok(current) => current.1.clone(),
            Err(poisoned) => poisoned.into_inner().1.clone(),
        }
    }

    /// The caller holding `token`.
    pub fn caller(&self, token: &str) -> Option<String> {
        self.tokens().caller(token).map(str::to_owned)
    }

    /// Reads the file again; a file that no longer parses keeps the loaded tokens.
    pub fn reload(&self) {
        match read_tokens(&self.path) {
            Ok((text, tokens)) => {
                if let Ok(mut current) = self.current.write()
                    && current.0 != text
                {
                    *current = (text, Arc::new(tokens));
                    tracing::info!(path = %self.path.display(), "caller tokens reloaded");
                }
            }
            Err(err) => {
                tracing::error!(error = %err, "caller tokens cannot be reloaded; keeping the loaded ones")
            }
        }
    }
}

fn read_tokens(path: &Path) -> Result<(String, Tokens), AuthError> {
    let fail = |reason: String| AuthError::Tokens { path: path.to_owned(), reason };
    let text = std::fs::read_to_string(path).map_err(|err| fail(err.to_string()))?;
    let tokens = Tokens::parse(&text).map_err(|err| fail(err.to_string()))?;
    Ok((text, tokens))
}

/// Everything a server needs to admit calls: loaded credentials and the policy.
pub struct Gate {
    tokens: Option<ReloadingTokens>,
    mtls: bool,
    policy: Option<MethodPolicy>,
    reflection_open: bool,
    tls: Option<Arc<tls::ReloadingTls>>,
    reload_every: Duration,
}

impl Gate {
    /// Loads the files `settings` name.
    pub fn load(settings: &AuthSettings) -> Result<Arc<Self>, AuthError> {
        let tokens = settings.tokens_file.as_deref().map(ReloadingTokens::load).transpose()?;
        let tls = settings.tls.clone().map(tls::ReloadingTls::load).transpose()?;
        Ok(Arc::new(Self {
            tokens,
            mtls: settings.tls.as_ref().is_some_and(|t| t.client_ca.is_some()),
            policy: settings.policy.clone(),
            reflection_open: settings.reflection_open,
            tls,
            reload_every: settings.reload_every,
        }))
    }

    /// A gate that admits every call (local development).
    pub fn open() -> Arc<Self> {
        Arc::new(Self {
            tokens: None,
            mtls: false,
            policy: None,
            reflection_open: true,
            tls: None,
            reload_every: Duration::from_secs(10),
        })
    }

    /// Whether callers must prove who they are.
    pub fn authenticates(&self) -> bool {
        self.tokens.is_some() || self.mtls
    }

    /// The server's TLS, when it serves TLS.
    pub fn tls(&self) -> Option<Arc<tls::ReloadingTls>> {
        self.tls.clone()
    }

    /// Reads the token and certificate files again every reload interval until the drain.
    pub async fn follow_files(self: Arc<Self>, drain: DrainSignal) {
        let drained = drain.wait();
        tokio::pin!(drained);
        loop {
            tokio::select! {
                () = &mut drained => return,
                () = tokio::time::sleep(self.reload_every) => {
                    if let Some(tokens) = &self.tokens {
                        tokens.reload();
                    }
                    if let Some(tls) = &self.tls {
                        tls.reload();
                    }
                }
            }
        }
    }
}
