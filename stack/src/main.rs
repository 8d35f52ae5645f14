//! `cargo stack`: the whole system on this machine in one process, on the embedded
//! default (an SQLite file), with no Stripe account needed. Migrations are applied; when
//! no Stripe key is set the Stripe emulator starts with a plan to sell; then billing and
//! entitlement start on their usual ports, and the demo page (`demo`) on `DEMO_ADDR`.
//! Ctrl-C drains both.

mod demo;

use std::{path::Path, sync::atomic::AtomicBool};

use anyhow::Context;
use caixa_migrations::{Migrator, MigratorTrait};
use caixa_runtime::{config::Env, shutdown, telemetry};
use tokio::sync::watch;

const LOCAL_DATABASE_URL: &str = "sqlite://.caixa/local.sqlite?mode=rwc";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = Env::from_process().or_default("DATABASE_URL", LOCAL_DATABASE_URL);
    let (env, emulator) = with_stripe(env).await?;
    let database_url = env.get("DATABASE_URL").unwrap_or(LOCAL_DATABASE_URL).to_owned();
    if database_url == LOCAL_DATABASE_URL {
        std::fs::create_dir_all(Path::new(".caixa")).context("create .caixa/")?;
    }
    let billing_settings = billing_service::config::Settings::from_env(&env)?;
    let authenticated = billing_settings.common.auth.authenticates();
    telemetry::init(billing_settings.common.log_format);

    let mut options = sea_orm::ConnectOptions::new(database_url.clone());
    options.sqlx_logging(false);
    let db = sea_orm::Database::connect(options).await.context("open DATABASE_URL")?;
    Migrator::up(&db, None).await.context("apply migrations")?;
    db.close().await.ok();

    let stripe = billing_service::stripe::StripeApi::from_settings(&billing_settings.stripe)?;
    let billing = billing_service::startup::Application::build(billing_settings).await?;
    if let (Some(_), Some(stripe)) = (&emulator, &stripe) {
        // The emulator delivers its events to this stack's bridge, signed.
        let db = sea_orm::Database::connect(&database_url).await.context("open DATABASE_URL")?;
        let base = url::Url::parse(&format!("http://{}/", billing.http_addr()))?;
        billing_service::cli::register_webhook(&db, stripe, &base, false).await?;
        // The plan was made before billing listened: its catalogue is read from Stripe.
        sync_catalogue(db, stripe.clone()).await?;
    }
    let billing_url = format!("http://{}", billing.grpc_addr());
    let entitlement_env = env.or_default("BILLING_URL", billing_url.as_str());
    let entitlement = entitlement_service::startup::Application::build(
        entitlement_service::config::Settings::from_env(&entitlement_env)?,
    )
    .await?;

    print_banner(
        &caixa_runtime::database::redacted(&database_url),
        billing.grpc_addr(),
        billing.http_addr(),
        entitlement.grpc_addr(),
    );
    if !authenticated {
        println!(
            "  callers              NOT authenticated: any local process may call every method\n\
             \x20                      (set CALLER_TOKENS_FILE or mTLS; see docs/security.md)\n"
        );
    }
    if let Some(emulator) = &emulator {
        println!(
            "  Stripe emulator      {}  (no Stripe key set; see docs/local-development.md)\n",
            emulator.url()
        );
    }

    // The demo page is an extra: a port already taken (a Django runserver, say) costs the
    // page, not the stack.
    let demo_addr = entitlement_env.socket_addr("DEMO_ADDR", "127.0.0.1:8088")?;
    let demo_task = match demo::bind(demo_addr).await {
        Ok(listener) => {
            let demo_base = format!("http://{}", listener.local_addr()?);
            println!("  demo page            {demo_base}  (plans, checkout, access, portal in a browser)\n");
            let billing_grpc = format!("http://{}", billing.grpc_addr());
            let entitlement_grpc = format!("http://{}", entitlement.grpc_addr());
            let token = entitlement_env.get("DEMO_TOKEN").map(str::to_owned);
            let routes = demo::router(&billing_grpc, &entitlement_grpc, demo_base, token)?;
            Some(tokio::spawn(demo::serve(listener, routes)))
        }
        Err(error) => {
            println!("  demo page            not served: DEMO_ADDR {demo_addr}: {error}\n");
            None
        }
    };

    let (stop, stopped) = watch::channel(false);
    let wait = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let billing_task = tokio::spawn(billing.run_until_stopped(wait(stopped.clone())));
    let entitlement_task = tokio::spawn(entitlement.run_until_stopped(wait(stopped)));
    shutdown::signal().await;
    let _ = stop.send(true);
    if let Some(demo) = demo_task {
        demo.abort();
    }
    entitlement_task.await?.context("entitlement service")?;
    billing_task.await?.context("billing service")?;
    Ok(())
}

/// Reads the products and prices from Stripe into the database.
async fn sync_catalogue(
    db: sea_orm::DatabaseConnection,
    stripe: billing_service::stripe::StripeApi,
) -> anyhow::Result<()> {
    use billing_service::{domain::operations::sync, stripe::lists::Listing};
    struct Quiet;
    impl sync::Progress for Quiet {
        fn advanced(&self, _: Listing, _: u64, _: u64) {}
    }
    let options =
        sync::SyncOptions { only: vec![Listing::Products, Listing::Prices], since: None, dry_run: false };
    sync::Syncer::new(db, stripe).run(&options, &Quiet, &AtomicBool::new(false)).await?;
    Ok(())
}

/// Without a secret key for the active mode, starts the Stripe emulator on
/// `STRIPE_EMULATOR_ADDR` (default 127.0.0.1:12111), points billing at it and gives it a
/// plan to sell.
async fn with_stripe(env: Env) -> anyhow::Result<(Env, Option<stripe_emulator::Emulator>)> {
    let live = env.bool("STRIPE_LIVE_MODE", false)?;
    let key_var = if live { "STRIPE_LIVE_SECRET_KEY" } else { "STRIPE_TEST_SECRET_KEY" };
    if live || env.get(key_var).is_some() {
        return Ok((env, None));
    }
    let addr = env.socket_addr("STRIPE_EMULATOR_ADDR", "127.0.0.1:12111")?;
    let emulator = stripe_emulator::Emulator::start(addr, stripe_emulator::EmulatorConfig::default())
        .await
        .with_context(|| format!("start the Stripe emulator on {addr}"))?;
    let price = emulator.seed_plan("Caixa Pro", 4990, "brl").map_err(anyhow::Error::msg)?;
    let env = env
        .set("STRIPE_API_BASE", emulator.url())
        .set("STRIPE_TEST_SECRET_KEY", "sk_test_emulator")
        .set("STRIPE_TEST_PUBLIC_KEY", "pk_test_emulator")
        .or_default("STRIPE_DEFAULT_PRICE_ID", price);
    Ok((env, Some(emulator)))
}

fn print_banner(
    database_url: &str,
    billing_grpc: std::net::SocketAddr,
    billing_http: std::net::SocketAddr,
    entitlement_grpc: std::net::SocketAddr,
) {
    println!(
        "\n\
         caixa local stack (Ctrl-C to stop)\n\
         \x20 database             {database_url}\n\
         \x20 billing gRPC         {billing_grpc}\n\
         \x20 billing HTTP bridge  http://{billing_http}  (/healthz, /readyz)\n\
         \x20 entitlement gRPC     {entitlement_grpc}\n\
         \n\
         try:\n\
         \x20 grpcurl -plaintext {billing_grpc} list\n\
         \x20 grpcurl -plaintext {billing_grpc} caixa.billing.v1.BillingService/GetConfig\n\
         \x20 grpcurl -plaintext {entitlement_grpc} grpc.health.v1.Health/Check\n"
    );
}
