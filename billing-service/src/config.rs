//! Typed settings, parsed once from the environment at start-up.

use std::{net::SocketAddr, time::Duration};

use caixa_runtime::config::{CommonSettings, ConfigError, Env};
use caixa_types::PriceId;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::stripe::keys::UserKeys;

/// Everything the billing service is configured with.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Database, log format, drain grace.
    pub common: CommonSettings,
    /// `BILLING_GRPC_ADDR`: where the gRPC API listens.
    pub grpc_addr: SocketAddr,
    /// `BILLING_HTTP_ADDR`: where the HTTP bridge (webhooks, probes) listens.
    pub http_addr: SocketAddr,
    /// Stripe account and product settings.
    pub stripe: StripeSettings,
    /// `FRONTEND_URL`: base of the default success, cancel and return URLs.
    pub frontend_url: Url,
    /// How webhooks are accepted.
    pub webhook: WebhookSettings,
    /// How the inbox worker processes events.
    pub inbox: InboxSettings,
    /// `WATCH_HEARTBEAT_SECONDS`: how often an idle Watch stream sends a heartbeat.
    pub watch_heartbeat: Duration,
    /// How much the gRPC API takes at once.
    pub grpc_limits: GrpcLimits,
    /// `REVISION_RETENTION_HOURS`: how long the revision log keeps a change.
    pub revision_retention: Duration,
    /// How billing catches up with what webhooks missed.
    pub reconcile: ReconcileSettings,
}

/// What the gRPC API takes at once before it refuses (RESOURCE_EXHAUSTED).
#[derive(Clone, Copy, Debug)]
pub struct GrpcLimits {
    /// `MAX_CONCURRENT_REQUESTS`: calls in progress on one connection.
    pub per_connection: usize,
    /// `MAX_IN_FLIGHT`: calls in progress on the whole service.
    pub in_flight: usize,
    /// `MAX_WATCH_STREAMS`: `SubscriptionEvents.Watch` streams open at once (each follower
    /// holds one; each polls the database while idle).
    pub watch_streams: usize,
}

/// Continuous reconciliation with Stripe.
#[derive(Clone, Debug)]
pub struct ReconcileSettings {
    /// `RECONCILE_INTERVAL_SECONDS`: how often Stripe's events are read for ones the inbox
    /// missed; 0 turns reconciliation off.
    pub interval: Duration,
    /// `RECONCILE_SWEEP_SECONDS`: how often every subscription, customer and product is
    /// compared with Stripe's.
    pub sweep: Duration,
}

/// Webhook acceptance.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    /// `STRIPE_WEBHOOK_TOLERANCE_SECONDS`: how far a signature's timestamp may be from now.
    pub tolerance_secs: i64,
    /// `WEBHOOK_MAX_BODY_BYTES`: larger bodies get 413.
    pub max_body_bytes: usize,
    /// `HTTP_MAX_HEADER_BYTES`: larger request heads get 431.
    pub max_header_bytes: usize,
    /// `HTTP_HEADER_TIMEOUT_SECONDS`: a client that has not sent its request head by then
    /// is cut off (slowloris).
    pub header_timeout: Duration,
    /// `WEBHOOK_REQUEST_TIMEOUT_SECONDS`: a delivery whose body has not arrived and been
    /// stored by then gets 408.
    pub request_timeout: Duration,
    /// `WEBHOOK_MAX_CONCURRENT`: deliveries in progress before new ones get 503 at once
    /// (Stripe retries them).
    pub max_concurrent: usize,
    /// `WEBHOOK_ENDPOINTS_REFRESH_SECONDS`: how old the in-memory copy of the registered
    /// endpoints and their secrets may get (a disabled endpoint or an expired secret
    /// stops verifying within this time; new ones are seen at their first delivery).
    pub endpoints_refresh: Duration,
    /// `STRIPE_WEBHOOK_ENDPOINT_ID`: the uuid under which `STRIPE_WEBHOOK_SECRET` is served
    /// (`/stripe/webhook/{uuid}`), for the seed's single-secret setup.
    pub default_endpoint_id: uuid::Uuid,
}

/// The inbox worker.
#[derive(Clone, Debug)]
pub struct InboxSettings {
    /// `INBOX_WORKER`: run the worker in this process.
    pub enabled: bool,
    /// `INBOX_CONCURRENCY`: events applied in parallel (one per customer; 1 on SQLite).
    pub concurrency: usize,
    /// `INBOX_MAX_ATTEMPTS`: attempts before an event is dead-lettered.
    pub max_attempts: i32,
    /// `INBOX_LEASE_SECONDS`: how long a claim lasts before another worker may take over.
    pub lease: Duration,
    /// `INBOX_RETRY_BASE_MS`: first retry delay; doubles per attempt, capped at one hour.
    pub retry_base: Duration,
    /// `INBOX_POLL_MS`: how often an idle worker looks for due retries.
    pub poll: Duration,
}

/// Stripe settings of the active mode.
#[derive(Clone, Debug)]
pub struct StripeSettings {
    /// `STRIPE_LIVE_MODE` (parsed with the common access settings): live keys and live
    /// data when true.
    pub live_mode: bool,
    /// Secret key of the active mode (`STRIPE_LIVE_SECRET_KEY` or `STRIPE_TEST_SECRET_KEY`);
    /// `None` runs without Stripe (calls that need it fail with FAILED_PRECONDITION).
    pub secret_key: Option<SecretString>,
    /// Publishable key of the active mode, handed to frontends.
    pub publishable_key: Option<String>,
    /// `STRIPE_DEFAULT_PRICE_ID`: price used when a checkout names none.
    pub default_price_id: Option<PriceId>,
    /// `STRIPE_WEBHOOK_SECRET` (or the seed's `DJSTRIPE_WEBHOOK_SECRET`).
    pub webhook_secret: Option<SecretString>,
    /// `STRIPE_API_BASE`: Stripe's API, or the emulator.
    pub api_base: Url,
    /// `STRIPE_TRIAL_DAYS`: free trial offered to eligible users.
    pub trial_days: u32,
    /// `STRIPE_CUSTOMER_USER_KEYS`: the metadata keys that name a customer's user, in
    /// order (default `user_id,djstripe_subscriber`).
    pub user_keys: UserKeys,
    /// `STRIPE_READS_PER_SECOND`, `STRIPE_WRITES_PER_SECOND`: this process's share of
    /// Stripe's rate limits (0: unlimited). Against Stripe itself they default to
    /// Stripe's limits for the mode (100 each live, 25 each in test mode); elsewhere (an
    /// emulator) to unlimited. Several replicas split them.
    pub rate: (f64, f64),
}

impl Settings {
    /// Parses and validates every setting; the error names the variable at fault.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let common = CommonSettings::from_env(env)?;
        Ok(Self {
            stripe: StripeSettings::from_env(env, common.access.live_mode)?,
            common,
            grpc_addr: env.socket_addr("BILLING_GRPC_ADDR", "127.0.0.1:50051")?,
            http_addr: env.socket_addr("BILLING_HTTP_ADDR", "127.0.0.1:8080")?,
            frontend_url: http_url(env, "FRONTEND_URL", "http://localhost:3000")?,
            webhook: WebhookSettings {
                tolerance_secs: env.parse_or("STRIPE_WEBHOOK_TOLERANCE_SECONDS", 300)?,
                max_body_bytes: env.parse_or("WEBHOOK_MAX_BODY_BYTES", 256 * 1024)?,
                max_header_bytes: env.parse_or::<usize>("HTTP_MAX_HEADER_BYTES", 16 * 1024)?.max(8192),
                header_timeout: env.seconds("HTTP_HEADER_TIMEOUT_SECONDS", Duration::from_secs(10))?,
                request_timeout: env.seconds("WEBHOOK_REQUEST_TIMEOUT_SECONDS", Duration::from_secs(30))?,
                max_concurrent: env.parse_or::<usize>("WEBHOOK_MAX_CONCURRENT", 64)?.max(1),
                endpoints_refresh: env
                    .seconds("WEBHOOK_ENDPOINTS_REFRESH_SECONDS", Duration::from_secs(5))?,
                default_endpoint_id: env.parse_or("STRIPE_WEBHOOK_ENDPOINT_ID", uuid::Uuid::nil())?,
            },
            inbox: InboxSettings {
                enabled: env.bool("INBOX_WORKER", true)?,
                concurrency: env.parse_or("INBOX_CONCURRENCY", 8)?,
                max_attempts: env.parse_or("INBOX_MAX_ATTEMPTS", 10)?,
                lease: env.seconds("INBOX_LEASE_SECONDS", Duration::from_secs(60))?,
                retry_base: Duration::from_millis(env.parse_or("INBOX_RETRY_BASE_MS", 1000)?),
                poll: Duration::from_millis(env.parse_or("INBOX_POLL_MS", 1000)?),
            },
            watch_heartbeat: env.seconds("WATCH_HEARTBEAT_SECONDS", Duration::from_secs(5))?,
            grpc_limits: GrpcLimits {
                per_connection: env.parse_or::<usize>("MAX_CONCURRENT_REQUESTS", 64)?.max(1),
                in_flight: env.parse_or::<usize>("MAX_IN_FLIGHT", 256)?.max(1),
                watch_streams: env.parse_or::<usize>("MAX_WATCH_STREAMS", 64)?.max(1),
            },
            reconcile: ReconcileSettings {
                interval: env.seconds("RECONCILE_INTERVAL_SECONDS", Duration::from_secs(300))?,
                sweep: env.seconds("RECONCILE_SWEEP_SECONDS", Duration::from_secs(3600))?,
            },
            revision_retention: Duration::from_secs(
                3600 * env.parse_or::<u64>("REVISION_RETENTION_HOURS", 168)?,
            ),
        })
    }
}

impl StripeSettings {
    fn from_env(env: &Env, live_mode: bool) -> Result<Self, ConfigError> {
        let (secret_var, public_var) = if live_mode {
            ("STRIPE_LIVE_SECRET_KEY", "STRIPE_LIVE_PUBLIC_KEY")
        } else {
            ("STRIPE_TEST_SECRET_KEY", "STRIPE_TEST_PUBLIC_KEY")
        };
        let secret_key = env
            .get(secret_var)
            .map(|key| check_key(secret_var, key, live_mode, &["sk_", "rk_"]))
            .transpose()?
            .map(|key| SecretString::from(key.to_owned()));
        let publishable_key = env
            .get(public_var)
            .map(|key| check_key(public_var, key, live_mode, &["pk_"]))
            .transpose()?
            .map(str::to_owned);
        let webhook_secret = match env.first_of(&["STRIPE_WEBHOOK_SECRET", "DJSTRIPE_WEBHOOK_SECRET"]) {
            Some(secret) if !secret.starts_with("whsec_") => {
                return Err(ConfigError::new("STRIPE_WEBHOOK_SECRET", "must start with whsec_"));
            }
            other => other.map(|s| SecretString::from(s.to_owned())),
        };
        let api_base = http_url(env, "STRIPE_API_BASE", "https://api.stripe.com")?;
        let default_price_id = env
            .get("STRIPE_DEFAULT_PRICE_ID")
            .map(PriceId::parse)
            .transpose()
            .map_err(|err| ConfigError::new("STRIPE_DEFAULT_PRICE_ID", err.reason))?;
        Ok(Self {
            live_mode,
            secret_key,
            publishable_key,
            default_price_id,
            webhook_secret,
            api_base: api_base.clone(),
            rate: (
                rate(env, "STRIPE_READS_PER_SECOND", &api_base, live_mode)?,
                rate(env, "STRIPE_WRITES_PER_SECOND", &api_base, live_mode)?,
            ),
            trial_days: env.parse_or("STRIPE_TRIAL_DAYS", 14)?,
            user_keys: match env.get("STRIPE_CUSTOMER_USER_KEYS") {
                Some(list) => UserKeys::parse(list)
                    .map_err(|err| ConfigError::new("STRIPE_CUSTOMER_USER_KEYS", err.to_string()))?,
                None => UserKeys::default(),
            },
        })
    }

    /// Whether a secret key is configured for the active mode.
    pub fn is_configured(&self) -> bool {
        self.secret_key.as_ref().is_some_and(|k| !k.expose_secret().is_empty())
    }
}

/// A rate of `var`, by default Stripe's limit for the mode when `base` is Stripe's.
fn rate(env: &Env, var: &str, base: &Url, live_mode: bool) -> Result<f64, ConfigError> {
    let stripe = base.host_str() == Some("api.stripe.com");
    let default = match (stripe, live_mode) {
        (false, _) => 0.0,
        (true, true) => 100.0,
        (true, false) => 25.0,
    };
    let rate: f64 = env.parse_or(var, default)?;
    if !rate.is_finite() || rate < 0.0 {
        return Err(ConfigError::new(var, "must be a number of operations a second, 0 or more"));
    }
    Ok(rate)
}

/// Refuses a key of the wrong kind or the wrong mode, without echoing the key.
fn check_key<'a>(
    var: &str,
    key: &'a str,
    live_mode: bool,
    prefixes: &[&str],
) -> Result<&'a str, ConfigError> {
    let Some(prefix) = prefixes.iter().find(|p| key.starts_with(**p)) else {
        return Err(ConfigError::new(var, format!("must start with {}", prefixes.join(" or "))));
    };
    let rest = &key[prefix.len()..];
    let (expected, wrong) = if live_mode { ("live_", "test_") } else { ("test_", "live_") };
    if rest.starts_with(wrong) {
        let mode = if live_mode { "live" } else { "test" };
        return Err(ConfigError::new(
            var,
            format!(
                "holds a {}-mode key but STRIPE_LIVE_MODE selects {mode} mode",
                wrong.trim_end_matches('_')
            ),
        ));
    }
    if !rest.starts_with(expected) {
        return Err(ConfigError::new(var, format!("must be a {expected}key ({prefix}{expected}...)")));
    }
    Ok(key)
}

fn http_url(env: &Env, var: &str, default: &str) -> Result<Url, ConfigError> {
    let raw = env.get(var).unwrap_or(default);
    let url = Url::parse(raw).map_err(|err| ConfigError::new(var, format!("{raw:?} is not a URL: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ConfigError::new(var, "must be an http:// or https:// URL"));
    }
    Ok(url)
}
