//! `cargo stack`: the whole system on this machine in one process, on the embedded
//! default (an SQLite file), with no Stripe account needed. Migrations are applied, then
//! billing and entitlement start on their usual ports; Ctrl-C drains both.

use std::path::Path;

use anyhow::Context;
use caixa_migrations::{Migrator, MigratorTrait};
use caixa_runtime::{config::Env, shutdown, telemetry};
use tokio::sync::watch;

const LOCAL_DATABASE_URL: &str = "sqlite://.caixa/local.sqlite?mode=rwc";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let env = Env::from_process().or_default("DATABASE_URL", LOCAL_DATABASE_URL);
    let database_url = env.get("DATABASE_URL").unwrap_or(LOCAL_DATABASE_URL).to_owned();
    if database_url == LOCAL_DATABASE_URL {
        std::fs::create_dir_all(Path::new(".caixa")).context("create .caixa/")?;
    }
    let billing_settings = billing_service::config::Settings::from_env(&env)?;
    telemetry::init(billing_settings.common.log_format);

    let mut options = sea_orm::ConnectOptions::new(database_url.clone());
    options.sqlx_logging(false);
    let db = sea_orm::Database::connect(options).await.context("open DATABASE_URL")?;
    Migrator::up(&db, None).await.context("apply migrations")?;
    db.close().await.ok();

    let billing = billing_service::startup::Application::build(billing_settings).await?;
    let billing_url = format!("http://{}", billing.grpc_addr());
    let entitlement_env = env.or_default("BILLING_URL", billing_url.as_str());
    let entitlement = entitlement_service::startup::Application::build(
        entitlement_service::config::Settings::from_env(&entitlement_env)?,
    )
    .await?;

    print_banner(&database_url, billing.grpc_addr(), billing.http_addr(), entitlement.grpc_addr());

    let (stop, stopped) = watch::channel(false);
    let wait = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let billing_task = tokio::spawn(billing.run_until_stopped(wait(stopped.clone())));
    let entitlement_task = tokio::spawn(entitlement.run_until_stopped(wait(stopped)));
    shutdown::signal().await;
    let _ = stop.send(true);
    entitlement_task.await?.context("entitlement service")?;
    billing_task.await?.context("billing service")?;
    Ok(())
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
