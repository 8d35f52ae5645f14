//! Building the service from its settings and running it until stopped.

use std::{future::Future, net::SocketAddr, process::ExitCode, sync::Arc, time::Duration};

use caixa_proto::billing::v1::{
    billing_service_server::{BillingServiceServer, SERVICE_NAME as BILLING},
    subscription_events_server::{SERVICE_NAME as SUBSCRIPTION_EVENTS, SubscriptionEventsServer},
};
use caixa_runtime::{
    auth::Gate,
    config::Env,
    database::{self, DatabaseError},
    grpc::{self, Limits, ServeError, Supervisor},
    http::HttpLimits,
    listen::{AtCap, Listener, Port},
    service::{self, BindError, bind, local_addr},
    shutdown,
};
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;
use tokio::{net::TcpListener, sync::Notify};
use tracing::Instrument;

use crate::{
    config::Settings,
    domain::{
        accounts::billing::Billing, accounts::customers::UserLocks, catalogue::Catalogue,
        objects::intake::Intake, operations::reconcile::Reconciler,
    },
    events::worker::Worker,
    grpc::{BillingApi, WatchApi},
    http::webhook::WebhookState,
    revisions::RevisionFeed,
    stripe::{StripeApi, StripeCallError},
};

/// How often readiness re-checks the database.
const READINESS_INTERVAL: Duration = Duration::from_secs(2);

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// A listen address could not be bound.
    #[error(transparent)]
    Bind(#[from] BindError),
    /// The database pool could not be set up.
    #[error(transparent)]
    Database(#[from] DatabaseError),
    /// A server failed.
    #[error(transparent)]
    Serve(#[from] ServeError),
    /// The Stripe client could not be built.
    #[error(transparent)]
    Stripe(#[from] StripeCallError),
}

/// The billing service, bound to its ports and ready to run.
pub struct Application {
    settings: Settings,
    db: DatabaseConnection,
    stripe: Option<StripeApi>,
    grpc_listener: TcpListener,
    gate: Arc<Gate>,
    http_listener: TcpListener,
    health_listener: Option<TcpListener>,
}

impl Application {
    /// Binds the listeners (port 0 picks a free port) and opens the database pool.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let grpc_listener = bind(settings.grpc_addr).await?;
        let http_listener = bind(settings.http_addr).await?;
        let db = database::connect_lazy(settings.common.database_url.expose_secret()).await?;
        let stripe = StripeApi::from_settings(&settings.stripe)?;
        let gate = Gate::load(&settings.common.auth).map_err(ServeError::from)?;
        let health_listener = match settings.common.health_addr {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        Ok(Self { settings, db, stripe, grpc_listener, http_listener, gate, health_listener })
    }

    /// Where the plaintext health-only port listens, when configured.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Where the gRPC API listens.
    pub fn grpc_addr(&self) -> SocketAddr {
        local_addr(&self.grpc_listener, self.settings.grpc_addr)
    }

    /// Where the HTTP bridge listens.
    pub fn http_addr(&self) -> SocketAddr {
        local_addr(&self.http_listener, self.settings.http_addr)
    }

    /// Serves until `shutdown` completes, then drains and returns.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> Result<(), StartupError> {
        let span = tracing::info_span!("billing");
        self.run(shutdown).instrument(span).await
    }

    async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), StartupError> {
        let (grpc_addr, http_addr) = (self.grpc_addr(), self.http_addr());
        let (health, routes) = grpc::standard_routes(&[BILLING, SUBSCRIPTION_EVENTS]).await?;
        let feed = RevisionFeed::default();
        let live = self.settings.stripe.live_mode;
        let mut supervisor = Supervisor::new(self.settings.common.shutdown_grace);
        let heartbeat = self.settings.watch_heartbeat;
        let watch = WatchApi::new(self.db.clone(), feed.clone(), live, heartbeat, supervisor.drain_signal())
            .with_stream_limit(self.settings.grpc_limits.watch_streams);
        let intake = Intake::new(self.stripe.clone(), self.settings.stripe.user_keys.clone());
        let catalogue = Catalogue::load(self.db.clone(), live).await;
        supervisor.spawn(catalogue.clone().run(supervisor.drain_signal()));
        let routes = routes
            .add_service(BillingServiceServer::new(BillingApi::new(
                Billing {
                    db: self.db.clone(),
                    stripe: self.stripe.clone(),
                    settings: self.settings.stripe.clone(),
                    frontend_url: self.settings.frontend_url.clone(),
                    locks: UserLocks::default(),
                    feed: feed.clone(),
                    intake: intake.clone(),
                    policy: caixa_policy::Policy::with_graces(
                        self.settings.common.access.grace,
                        self.settings.common.access.trial_end_grace,
                    ),
                },
                catalogue,
            )))
            .add_service(SubscriptionEventsServer::new(watch));

        let limits = self.settings.grpc_limits;
        let limits =
            Limits { per_connection: Some(limits.per_connection), in_flight: Some(limits.in_flight) };
        let connections = self.settings.common.connections;
        supervisor.spawn_api(self.grpc_listener, routes, self.gate.clone(), limits, &connections);
        supervisor.spawn_health_port(self.health_listener, &health, &connections);
        let wakeup = Arc::new(Notify::new());
        if self.settings.inbox.enabled {
            let worker = Worker {
                db: self.db.clone(),
                intake,
                feed: feed.clone(),
                wakeup: wakeup.clone(),
                settings: self.settings.inbox.clone(),
            };
            supervisor.spawn(worker.run(supervisor.drain_signal()));
        }
        match (&self.stripe, self.settings.reconcile.interval.is_zero()) {
            (Some(stripe), false) => {
                let reconciler =
                    Reconciler::new(self.db.clone(), stripe.clone(), wakeup.clone(), feed.clone());
                let settings = self.settings.reconcile.clone();
                supervisor.spawn(crate::events::reconcile::run(
                    reconciler,
                    self.db.clone(),
                    settings,
                    supervisor.drain_signal(),
                ));
            }
            (None, false) => tracing::info!("reconciliation off: Stripe is not configured"),
            (_, true) => tracing::info!("reconciliation off: RECONCILE_INTERVAL_SECONDS=0"),
        }
        supervisor.spawn(crate::revisions::retention::run(
            self.db.clone(),
            self.settings.revision_retention,
            supervisor.drain_signal(),
        ));
        let webhook = WebhookState {
            committer: crate::http::Committer::start(self.db.clone()),
            settings: self.settings.webhook.clone(),
            live_mode: live,
            config_secret: self.settings.stripe.webhook_secret.clone(),
            endpoints: Arc::new(crate::http::EndpointCache::new(
                self.db.clone(),
                self.settings.webhook.endpoints_refresh,
            )),
            wakeup,
            slots: Arc::new(tokio::sync::Semaphore::new(self.settings.webhook.max_concurrent)),
        };
        let http = crate::http::router(health.clone(), webhook, caixa_runtime::metrics::prometheus());
        let drained = supervisor.drain_signal().wait();
        let listener = Listener::new(self.http_listener, Port::Api("http"), &connections, AtCap::CloseIdlest);
        let limits = HttpLimits {
            max_header_bytes: self.settings.webhook.max_header_bytes,
            header_timeout: self.settings.webhook.header_timeout,
            keepalive: connections.keepalive(),
        };
        supervisor.spawn(async move {
            caixa_runtime::http::serve(listener, http, limits, drained).await?;
            Ok(())
        });
        supervisor.spawn(database::watch_readiness(
            self.db,
            health.clone(),
            supervisor.drain_signal(),
            READINESS_INTERVAL,
        ));
        tracing::info!(%grpc_addr, %http_addr, live_mode = self.settings.stripe.live_mode, "billing service listening");
        supervisor.run(&health, shutdown).await?;
        Ok(())
    }
}

/// Runs the binary: reads settings from `env`, serves until SIGTERM or SIGINT.
pub async fn main_with(env: Env) -> ExitCode {
    service::run_binary(
        "billing-service",
        env,
        Settings::from_env,
        |s| &s.common,
        |settings| async { Application::build(settings).await?.run_until_stopped(shutdown::signal()).await },
    )
    .await
}
