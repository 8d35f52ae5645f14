//! Operator subcommands of the `billing-service` binary (the seed's management commands,
//! kebab-case): `register-stripe-webhook`, `inbox`, `replay-event`, `reconcile`. Without a subcommand
//! the binary serves.

use std::process::ExitCode;

use caixa_runtime::config::{ConfigError, Env};
use sea_orm::ConnectionTrait;
use url::Url;

use std::sync::Arc;

use crate::{
    config::Settings,
    domain::reconcile::{ReconcileError, Reconciler},
    revisions::RevisionFeed,
    store::{
        StoreError,
        endpoints::{self, NewEndpoint},
        inbox,
    },
    stripe::{StripeApi, StripeCallError, event::EventKind},
};

/// The API version a registered endpoint's events are rendered in.
const WEBHOOK_API_VERSION: &str = "2026-09-30.endive";

/// Why a subcommand failed.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Bad settings.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Stripe refused or was unreachable.
    #[error(transparent)]
    Stripe(#[from] StripeCallError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Reconciliation failed.
    #[error(transparent)]
    Reconcile(#[from] ReconcileError),
    /// Wrong arguments.
    #[error("{0}")]
    Usage(String),
}

impl From<sea_orm::DbErr> for CommandError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Store(StoreError::Db(err))
    }
}

/// Creates a Stripe webhook endpoint at `{public_base}/stripe/webhook/{uuid}` for every
/// event kind billing acts on ([`EventKind::ALL`]) and stores it with its signing secret. Returns the endpoint's URL.
pub async fn register_webhook(
    db: &impl ConnectionTrait,
    stripe: &StripeApi,
    public_base: &Url,
    livemode: bool,
) -> Result<String, CommandError> {
    let id = uuid::Uuid::new_v4();
    let url = public_base
        .join(&format!("stripe/webhook/{id}"))
        .map_err(|e| CommandError::Usage(e.to_string()))?
        .to_string();
    let events: Vec<&'static str> = EventKind::ALL.iter().map(|kind| kind.name()).collect();
    let mut form =
        vec![("url".to_owned(), url.clone()), ("api_version".to_owned(), WEBHOOK_API_VERSION.to_owned())];
    form.extend(events.iter().map(|e| ("enabled_events[]".to_owned(), (*e).to_owned())));
    let endpoint = stripe.create_webhook_endpoint(&form, &format!("register-webhook-{id}")).await?;
    let new = NewEndpoint {
        id,
        stripe_id: endpoint.id,
        livemode,
        url: url.clone(),
        api_version: endpoint.api_version,
        secret: &endpoint.secret,
        enabled_events: events,
    };
    endpoints::insert(db, new).await?;
    Ok(url)
}

/// Runs a subcommand named by `args[1]`, or returns `None` when there is none (serve).
pub async fn run(env: &Env, args: &[String]) -> Option<ExitCode> {
    let command = args.get(1)?.as_str();
    if !["register-stripe-webhook", "inbox", "replay-event", "reconcile"].contains(&command) {
        eprintln!(
            "billing-service: unknown command {command:?}; commands: register-stripe-webhook URL, inbox, replay-event EVENT_ID, reconcile [--sweep]"
        );
        return Some(ExitCode::from(2));
    }
    match execute(env, command, args.get(2).map(String::as_str)).await {
        Ok(()) => Some(ExitCode::SUCCESS),
        Err(err) => {
            eprintln!("billing-service {command}: {err}");
            Some(ExitCode::FAILURE)
        }
    }
}

async fn execute(env: &Env, command: &str, arg: Option<&str>) -> Result<(), CommandError> {
    let settings = Settings::from_env(env)?;
    let db = sea_orm::Database::connect(&settings.common.database_url).await?;
    match (command, arg) {
        ("register-stripe-webhook", Some(base)) => {
            let base =
                Url::parse(base).map_err(|e| CommandError::Usage(format!("{base:?} is not a URL: {e}")))?;
            let stripe = StripeApi::from_settings(&settings.stripe)?
                .ok_or(StripeCallError::NotConfigured("STRIPE_TEST_SECRET_KEY or STRIPE_LIVE_SECRET_KEY"))?;
            let url = register_webhook(&db, &stripe, &base, settings.stripe.live_mode).await?;
            println!("registered {url}");
        }
        ("inbox", _) => {
            let stats = inbox::stats(&db).await?;
            for (status, count) in stats.counts {
                println!("{status:<12} {count}");
            }
            println!(
                "oldest unprocessed: {}",
                stats.oldest_unprocessed_secs.map_or("none".to_owned(), |s| format!("{s} s"))
            );
            for event in inbox::dead(&db).await? {
                println!(
                    "dead {} {} attempts={} error={}",
                    event.id,
                    event.event_type,
                    event.attempts,
                    event.last_error.unwrap_or_default()
                );
            }
        }
        ("replay-event", Some(id)) => {
            if !inbox::replay(&db, id).await? {
                return Err(CommandError::Usage(format!("no stored event {id}")));
            }
            println!("{id} queued again");
        }
        ("reconcile", flag) => {
            let sweep = match flag {
                None => false,
                Some("--sweep") => true,
                Some(other) => {
                    return Err(CommandError::Usage(format!("reconcile takes --sweep, not {other:?}")));
                }
            };
            let stripe = StripeApi::from_settings(&settings.stripe)?
                .ok_or(StripeCallError::NotConfigured("STRIPE_TEST_SECRET_KEY or STRIPE_LIVE_SECRET_KEY"))?;
            // The worker of a running billing applies what this stores; nothing to wake here.
            let reconciler = Reconciler::new(db, stripe, Arc::default(), RevisionFeed::default());
            let report = reconciler.pass(sweep).await?;
            if !report.ran {
                println!("another billing replica is reconciling; nothing done");
            }
            println!(
                "missed events {}, products {}, customers {}, subscriptions {}, reservations {}; cursor {}",
                report.missed_events,
                report.products,
                report.customers,
                report.subscriptions,
                report.reservations,
                report.cursor
            );
        }
        (command, None) => return Err(CommandError::Usage(format!("{command} needs an argument"))),
        (command, Some(_)) => return Err(CommandError::Usage(format!("unknown command {command}"))),
    }
    Ok(())
}
