//! Reading typed settings from environment variables. Every failure names the variable,
//! so a bad deployment stops with one line that says what to fix.

use std::{collections::HashMap, fmt::Display, net::SocketAddr, str::FromStr, time::Duration};

use secrecy::SecretString;

/// A setting that is missing or cannot be parsed.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {variable}: {reason}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: String,
    /// What is wrong with it (never its value when the value may be a secret).
    pub reason: String,
}

impl ConfigError {
    /// An error about `variable`.
    pub fn new(variable: &str, reason: impl Into<String>) -> Self {
        Self { variable: variable.to_owned(), reason: reason.into() }
    }
}

/// A snapshot of environment variables to parse settings from. Tests and the local stack
/// build one from pairs instead of mutating the process environment.
#[derive(Clone, Debug, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

impl Env {
    /// The process environment.
    pub fn from_process() -> Self {
        Self { vars: std::env::vars().collect() }
    }

    /// Exactly these variables.
    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        Self { vars: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    /// Sets `name` to `value` unless it is already set.
    pub fn or_default(mut self, name: &str, value: impl Into<String>) -> Self {
        self.vars.entry(name.to_owned()).or_insert_with(|| value.into());
        self
    }

    /// Sets `name` to `value`, replacing any value.
    pub fn set(mut self, name: &str, value: impl Into<String>) -> Self {
        self.vars.insert(name.to_owned(), value.into());
        self
    }

    /// The value of `name`; an empty value counts as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    /// The value of the first of `names` that is set (for accepted aliases).
    pub fn first_of(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|name| self.get(name))
    }

    /// The value of `name`, or an error saying it is required.
    pub fn required(&self, name: &str) -> Result<&str, ConfigError> {
        self.get(name).ok_or_else(|| ConfigError::new(name, "is required but not set"))
    }

    /// `name` parsed as `T`, or `default` when unset.
    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        Ok(self.parse_opt(name)?.unwrap_or(default))
    }

    /// `name` parsed as `T`, if set.
    pub fn parse_opt<T>(&self, name: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.get(name)
            .map(|raw| {
                raw.parse::<T>().map_err(|err| ConfigError::new(name, format!("cannot parse {raw:?}: {err}")))
            })
            .transpose()
    }

    /// A listen address (`host:port`), or `default` when unset.
    pub fn socket_addr(&self, name: &str, default: &str) -> Result<SocketAddr, ConfigError> {
        let raw = self.get(name).unwrap_or(default);
        raw.parse().map_err(|_| {
            ConfigError::new(name, format!("{raw:?} is not a socket address like 127.0.0.1:50051"))
        })
    }

    /// A boolean written `true`/`false`/`1`/`0`/`yes`/`no`, or `default` when unset.
    pub fn bool(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(other) => Err(ConfigError::new(name, format!("{other:?} is not true or false"))),
        }
    }

    /// A duration given in whole seconds, or `default` when unset.
    pub fn seconds(&self, name: &str, default: Duration) -> Result<Duration, ConfigError> {
        Ok(self.parse_opt::<u64>(name)?.map(Duration::from_secs).unwrap_or(default))
    }
}

/// Settings every service has.
#[derive(Clone, Debug)]
pub struct CommonSettings {
    /// `DATABASE_URL`: PostgreSQL or SQLite. A secret (it may carry a password): it
    /// prints as `[REDACTED]` and is exposed only to open the pool.
    pub database_url: SecretString,
    /// `LOG_FORMAT`: human or JSON lines.
    pub log_format: crate::telemetry::LogFormat,
    /// `SHUTDOWN_GRACE_SECONDS`: how long in-flight calls may take to finish once a
    /// drain starts.
    pub shutdown_grace: Duration,
    /// Which mode's data is served and how access is decided.
    pub access: AccessSettings,
    /// Who may call the gRPC API.
    pub auth: crate::auth::AuthSettings,
    /// `GRPC_HEALTH_ADDR`: a plaintext port serving only gRPC health, for probes that
    /// cannot speak TLS (the kubelet's).
    pub health_addr: Option<SocketAddr>,
    /// How many connections each port keeps and when an idle one is closed.
    pub connections: crate::listen::ConnectionSettings,
}

/// What both services must agree on to give the same answer about a user: parsed here
/// once, so billing's status and the entitlement service's checks cannot disagree.
#[derive(Clone, Copy, Debug)]
pub struct AccessSettings {
    /// `STRIPE_LIVE_MODE`: live keys and live data when true, test otherwise.
    pub live_mode: bool,
    /// `ACCESS_GRACE_DAYS`: how long a past_due subscription keeps access.
    pub grace: Duration,
    /// `TRIAL_END_GRACE_SECONDS`: how long an ended trial keeps access while Stripe's
    /// word on the first payment is on its way.
    pub trial_end_grace: Duration,
}

impl AccessSettings {
    /// Reads `STRIPE_LIVE_MODE`, `ACCESS_GRACE_DAYS` and `TRIAL_END_GRACE_SECONDS`.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let days: u64 = env.parse_or("ACCESS_GRACE_DAYS", 3)?;
        let grace =
            days.checked_mul(86_400)
                .filter(|s| i64::try_from(*s).is_ok())
                .map(Duration::from_secs)
                .ok_or_else(|| ConfigError::new("ACCESS_GRACE_DAYS", format!("{days} days is too long")))?;
        let trial_end_grace: u32 = env.parse_or("TRIAL_END_GRACE_SECONDS", 3_600)?;
        Ok(Self {
            live_mode: env.bool("STRIPE_LIVE_MODE", false)?,
            grace,
            trial_end_grace: Duration::from_secs(trial_end_grace.into()),
        })
    }
}

/// The embedded default database: an SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://caixa.sqlite?mode=rwc";

impl CommonSettings {
    /// Reads the common settings.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let database_url = env.get("DATABASE_URL").unwrap_or(DEFAULT_DATABASE_URL).to_owned();
        if !(database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://")
            || database_url.starts_with("sqlite:"))
        {
            return Err(ConfigError::new(
                "DATABASE_URL",
                "must start with postgres://, postgresql:// or sqlite:",
            ));
        }
        Ok(Self {
            database_url: SecretString::from(database_url),
            log_format: env.parse_or("LOG_FORMAT", crate::telemetry::LogFormat::Human)?,
            shutdown_grace: env.seconds("SHUTDOWN_GRACE_SECONDS", Duration::from_secs(20))?,
            auth: crate::auth::AuthSettings::from_env(env, env.bool("STRIPE_LIVE_MODE", false)?)?,
            health_addr: env
                .get("GRPC_HEALTH_ADDR")
                .map(|_| env.socket_addr("GRPC_HEALTH_ADDR", ""))
                .transpose()?,
            access: AccessSettings::from_env(env)?,
            connections: crate::listen::ConnectionSettings::from_env(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_url_never_prints() {
        let env = Env::from_pairs([("DATABASE_URL", "postgres://app:hunter2@db/caixa")]);
        let settings = CommonSettings::from_env(&env).unwrap();
        assert!(!format!("{settings:?}").contains("hunter2"));
        use secrecy::ExposeSecret;
        assert_eq!(settings.database_url.expose_secret(), "postgres://app:hunter2@db/caixa");
    }

    #[test]
    fn access_settings_default_to_test_mode_and_three_days() {
        let access = AccessSettings::from_env(&Env::default()).unwrap();
        assert!(!access.live_mode);
        assert_eq!(access.grace, Duration::from_secs(3 * 86_400));
        assert_eq!(access.trial_end_grace, Duration::from_secs(3_600));
    }

    #[test]
    fn access_settings_name_the_variable_at_fault() {
        let env = Env::from_pairs([("ACCESS_GRACE_DAYS", "-1")]);
        assert_eq!(AccessSettings::from_env(&env).unwrap_err().variable, "ACCESS_GRACE_DAYS");
        let env = Env::from_pairs([("ACCESS_GRACE_DAYS", "99999999999999999")]);
        assert_eq!(AccessSettings::from_env(&env).unwrap_err().variable, "ACCESS_GRACE_DAYS");
        let env = Env::from_pairs([("TRIAL_END_GRACE_SECONDS", "-5")]);
        assert_eq!(AccessSettings::from_env(&env).unwrap_err().variable, "TRIAL_END_GRACE_SECONDS");
        let env = Env::from_pairs([("STRIPE_LIVE_MODE", "maybe")]);
        assert_eq!(AccessSettings::from_env(&env).unwrap_err().variable, "STRIPE_LIVE_MODE");
        let env = Env::from_pairs([("STRIPE_LIVE_MODE", "true"), ("ACCESS_GRACE_DAYS", "7")]);
        let access = AccessSettings::from_env(&env).unwrap();
        assert!(access.live_mode);
        assert_eq!(access.grace, Duration::from_secs(7 * 86_400));
    }
}
