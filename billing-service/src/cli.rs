//! Operator subcommands of the `billing-service` binary (the seed's management commands,
//! kebab-case): `register-stripe-webhook`, `inbox`, `replay-event`. Without a subcommand
//! the binary serves.

use std::process::ExitCode;

use caixa_entities::{stripe_events, webhook_endpoints};
use caixa_runtime::config::{ConfigError, Env};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use url::Url;

use crate::{
    config::Settings,
    store::{StoreError, inbox},
    stripe::{StripeApi, StripeCallError},
};

/// The event types billing acts on; a registered endpoint asks Stripe for these.
pub const HANDLED_EVENTS: &[&str] = &[
    "checkout.session.completed",
    "checkout.session.expired",
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.trial_will_end",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "invoice.paid",
    "invoice.payment_failed",
    "product.created",
    "product.updated",
    "price.created",
    "price.updated",
    "entitlements.active_entitlement_summary.updated",
];

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
/// handled event and stores it with its signing secret. Returns the endpoint's URL.
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
    let mut form =
        vec![("url".to_owned(), url.clone()), ("api_version".to_owned(), "2026-09-30.endive".to_owned())];
    form.extend(HANDLED_EVENTS.iter().map(|e| ("enabled_events[]".to_owned(), (*e).to_owned())));
    let endpoint = stripe.post("/webhook_endpoints", &form, &format!("register-webhook-{id}")).await?;
    let secret = endpoint["secret"]
        .as_str()
        .ok_or_else(|| CommandError::Usage("Stripe returned no secret".to_owned()))?;
    let now = Utc::now();
    webhook_endpoints::ActiveModel {
        id: Set(id),
        stripe_id: Set(endpoint["id"].as_str().map(str::to_owned)),
        livemode: Set(livemode),
        url: Set(url.clone()),
        api_version: Set(endpoint["api_version"].as_str().map(str::to_owned)),
        secret: Set(secret.to_owned()),
        previous_secret: Set(None),
        previous_secret_expires_at: Set(None),
        enabled_events: Set(serde_json::json!(HANDLED_EVENTS)),
        enabled: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(url)
}

/// Runs a subcommand named by `args[1]`, or returns `None` when there is none (serve).
pub async fn run(env: &Env, args: &[String]) -> Option<ExitCode> {
    let command = args.get(1)?.as_str();
    if !["register-stripe-webhook", "inbox", "replay-event"].contains(&command) {
        eprintln!(
            "billing-service: unknown command {command:?}; commands: register-stripe-webhook URL, inbox, replay-event EVENT_ID"
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
            let dead = stripe_events::Entity::find()
                .filter(stripe_events::Column::Status.eq("dead"))
                .order_by_asc(stripe_events::Column::ReceivedAt)
                .all(&db)
                .await?;
            for event in dead {
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
        (command, None) => return Err(CommandError::Usage(format!("{command} needs an argument"))),
        (command, Some(_)) => return Err(CommandError::Usage(format!("unknown command {command}"))),
    }
    Ok(())
}
