//! The `billing-service` command line: without a subcommand it serves; the subcommands
//! are the seed's management commands (kebab-case) and the diagnostics an operator needs.
//! Exit codes: 0 done, 1 failed, 2 bad usage or settings.

mod csv_file;
mod inspect;
mod links;
mod migrate;
mod sync;
mod trials;
mod webhooks;

use std::{process::ExitCode, sync::Arc};

use caixa_runtime::config::{ConfigError, Env};
use clap::{Args, Parser, Subcommand};
use sea_orm::DatabaseConnection;
use url::Url;

pub use self::webhooks::register_webhook;
use crate::{
    config::Settings,
    domain::{
        operations::reconcile::{ReconcileError, Reconciler},
        operations::sync::SyncError,
    },
    revisions::RevisionFeed,
    store::{StoreError, inbox},
    stripe::{StripeApi, StripeCallError},
};

/// Owns Stripe for the application: checkout, portal, status, webhooks, and the revision
/// log. Run without a command to serve (settings from the environment).
#[derive(Debug, Parser)]
#[command(name = "billing-service", version, propagate_version = true)]
pub struct Cli {
    /// What to do; nothing serves.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Output switches shared by the reports.
#[derive(Clone, Copy, Debug, Default, Args)]
pub struct Output {
    /// One JSON document on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Import an existing Stripe account: products, prices, customers, subscriptions and
    /// trial history (seed: sync_stripe).
    SyncStripe(sync::SyncArgs),
    /// Trials per user: used or not, how, trialing now, converted, lapsed; or mark one
    /// used by hand (seed: check_trial_status).
    TrialStatus(trials::TrialStatusArgs),
    /// Import the old application's trial history (the seed's TrialUsageTracking), so
    /// nobody gets a second trial.
    TrialImport(migrate::TrialImportArgs),
    /// Link customers that belong to no user: by metadata, by checkout, by email against
    /// --users, or from a link file (seed: fix_customer_links).
    FixCustomerLinks(links::FixLinksArgs),
    /// Compare the old application's answers with caixa's, user by user, before a
    /// cut-over; exit 1 while any disagree.
    CompareAccess(migrate::CompareArgs),
    /// Create a Stripe webhook endpoint for this bridge and store its secret (seed:
    /// register_stripe_webhook).
    RegisterStripeWebhook {
        /// Public base URL of the HTTP bridge, e.g. https://billing.example.com/.
        url: Url,
        /// Say what would be registered; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Register even when an enabled endpoint already serves this URL.
        #[arg(long)]
        force: bool,
    },
    /// Webhook endpoints: list them, or disable one.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Stored Stripe events (the inbox).
    #[command(subcommand)]
    Events(EventsCommand),
    /// The inbox at a glance: counts per status, the oldest waiting, dead events.
    Inbox {
        /// Table or JSON.
        #[command(flatten)]
        output: Output,
    },
    /// Queue a stored (dead) event for another attempt.
    ReplayEvent {
        /// The `evt_...` id.
        event_id: String,
        /// Say what would be queued; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Subscriptions as billing has them, with the access each grants now.
    #[command(subcommand)]
    Subscriptions(SubscriptionsCommand),
    /// One reconciliation pass: events the inbox missed, and with --sweep every object
    /// compared with Stripe's.
    Reconcile {
        /// Also compare every product, customer and subscription.
        #[arg(long)]
        sweep: bool,
        /// Count what would be healed; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Table or JSON.
        #[command(flatten)]
        output: Output,
    },
}

/// `webhooks ...`.
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Every endpoint: mode, URL, enabled, secret rotation state.
    List {
        /// Table or JSON.
        #[command(flatten)]
        output: Output,
    },
    /// Stop accepting deliveries at an endpoint.
    Disable {
        /// The endpoint's uuid (as in /stripe/webhook/{uuid}).
        id: uuid::Uuid,
        /// Say what would be disabled; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `events ...`.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// The newest stored events.
    Recent(inspect::RecentArgs),
}

/// `subscriptions ...`.
#[derive(Debug, Subcommand)]
pub enum SubscriptionsCommand {
    /// Subscriptions, with the access each grants now.
    List(inspect::ListArgs),
}

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
    /// The sync failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// Linking failed.
    #[error(transparent)]
    Link(#[from] crate::domain::accounts::links::LinkError),
    /// Wrong arguments.
    #[error("{0}")]
    Usage(String),
}

impl From<sea_orm::DbErr> for CommandError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Store(StoreError::Db(err))
    }
}

/// The binary: runs the command `args` name, or serves when they name none.
pub async fn main(args: &[String], env: Env) -> ExitCode {
    match parse(args) {
        Err(code) => code,
        Ok(Some(command)) => run(&env, command).await,
        Ok(None) => crate::startup::main_with(env).await,
    }
}

/// Parses `args`: `Err` with the exit code when the binary should stop (help, version,
/// bad usage: clap has printed why), `Ok(None)` to serve.
pub fn parse(args: &[String]) -> Result<Option<Command>, ExitCode> {
    // The usage lines name the service, whatever the file is called.
    let args = std::iter::once("billing-service").chain(args.iter().skip(1).map(String::as_str));
    match Cli::try_parse_from(args) {
        Ok(cli) => Ok(cli.command),
        Err(err) => {
            let code = err.exit_code();
            let _ = err.print();
            Err(ExitCode::from(u8::try_from(code).unwrap_or(2)))
        }
    }
}

/// Runs `command` with settings from `env`.
pub async fn run(env: &Env, command: Command) -> ExitCode {
    let settings = match Settings::from_env(env) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("billing-service: {err}");
            return ExitCode::from(2);
        }
    };
    match execute(&settings, command).await {
        Ok(code) => code,
        Err(CommandError::Usage(message)) => {
            eprintln!("billing-service: {message}");
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("billing-service: {err}");
            ExitCode::FAILURE
        }
    }
}

fn stripe(settings: &Settings) -> Result<StripeApi, CommandError> {
    let var = if settings.stripe.live_mode { "STRIPE_LIVE_SECRET_KEY" } else { "STRIPE_TEST_SECRET_KEY" };
    StripeApi::from_settings(&settings.stripe)?
        .ok_or(CommandError::Stripe(StripeCallError::NotConfigured(var)))
}

async fn connect(settings: &Settings) -> Result<DatabaseConnection, CommandError> {
    Ok(sea_orm::Database::connect(secrecy::ExposeSecret::expose_secret(&settings.common.database_url))
        .await?)
}

async fn execute(settings: &Settings, command: Command) -> Result<ExitCode, CommandError> {
    let db = connect(settings).await?;
    let live = settings.stripe.live_mode;
    match command {
        Command::SyncStripe(args) => return sync::run(&db, stripe(settings)?, args).await,
        Command::TrialStatus(args) => trials::trial_status(&db, settings, args).await?,
        Command::TrialImport(args) => migrate::trial_import(&db, live, args).await?,
        Command::FixCustomerLinks(args) => links::fix_links(&db, &stripe(settings)?, live, args).await?,
        Command::CompareAccess(args) => return migrate::compare_access(&db, settings, args).await,
        Command::RegisterStripeWebhook { url, dry_run, force } => {
            webhooks::register(&db, &stripe(settings)?, &url, live, (dry_run, force)).await?;
        }
        Command::Webhooks(WebhooksCommand::List { output }) => webhooks::list(&db, output).await?,
        Command::Webhooks(WebhooksCommand::Disable { id, dry_run }) => {
            webhooks::disable(&db, id, dry_run).await?
        }
        Command::Events(EventsCommand::Recent(args)) => inspect::recent_events(&db, args).await?,
        Command::Inbox { output } => inspect::inbox(&db, output).await?,
        Command::ReplayEvent { event_id, dry_run } => {
            if inbox::find(&db, &event_id).await?.is_none() {
                return Err(CommandError::Usage(format!("no stored event {event_id}")));
            }
            if dry_run {
                println!("would queue {event_id} again (dry run; nothing changed)");
            } else {
                inbox::replay(&db, &event_id).await?;
                println!("{event_id} queued again");
            }
        }
        Command::Subscriptions(SubscriptionsCommand::List(args)) => {
            inspect::subscriptions(&db, settings, args).await?;
        }
        Command::Reconcile { sweep, dry_run, output } => {
            // The worker of a running billing applies what this stores.
            let mut reconciler =
                Reconciler::new(db, stripe(settings)?, Arc::default(), RevisionFeed::default());
            if dry_run {
                reconciler = reconciler.dry_run();
            }
            let report = reconciler.pass(sweep).await?;
            inspect::reconcile_report(&report, output);
        }
    }
    Ok(ExitCode::SUCCESS)
}
