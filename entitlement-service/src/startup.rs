//! Building the service from its settings and running it until stopped.

use std::{future::Future, net::SocketAddr, process::ExitCode, sync::Arc, time::Duration};

use caixa_proto::entitlement::v1::entitlement_service_server::{
    EntitlementServiceServer, SERVICE_NAME as ENTITLEMENT,
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
use tokio::net::TcpListener;
use tonic::transport::Endpoint;
use tracing::Instrument;

use crate::{
    config::Settings,
    domain::cache::Cache,
    events::{follower::Follower, keeper::Keeper},
    grpc::EntitlementApi,
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
}

/// The entitlement service, bound to its port and ready to run.
pub struct Application {
    settings: Settings,
    db: DatabaseConnection,
    grpc_listener: TcpListener,
    gate: Arc<Gate>,
    health_listener: Option<TcpListener>,
    http_listener: Option<TcpListener>,
}

impl Application {
    /// Binds the listener (port 0 picks a free port) and opens the database pool.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let grpc_listener = bind(settings.grpc_addr).await?;
        let db = database::connect_lazy(settings.common.database_url.expose_secret()).await?;
        let gate = Gate::load(&settings.common.auth).map_err(ServeError::from)?;
        let health_listener = match settings.common.health_addr {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let http_listener = match settings.http_addr {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        Ok(Self { settings, db, grpc_listener, gate, health_listener, http_listener })
    }

    /// Where the plaintext health-only port listens, when configured.
    pub fn health_addr(&self) -> Option<SocketAddr> {
        self.health_listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Where the gRPC API listens.
    pub fn grpc_addr(&self) -> SocketAddr {
        local_addr(&self.grpc_listener, self.settings.grpc_addr)
    }

    /// Serves until `shutdown` completes, then drains and returns.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> Result<(), StartupError> {
        let span = tracing::info_span!("entitlement");
        self.run(shutdown).instrument(span).await
    }

    async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), StartupError> {
        let grpc_addr = self.grpc_addr();
        // Installed before anything records, so that no metric handle is made a no-op.
        let metrics = caixa_runtime::metrics::prometheus();
        let (health, routes) = grpc::standard_routes(&[ENTITLEMENT]).await?;
        let cache = Arc::new(Cache::default());
        let mut supervisor = Supervisor::new(self.settings.common.shutdown_grace);
        let api = EntitlementApi {
            cache: cache.clone(),
            policy: caixa_policy::Policy::with_graces(
                self.settings.common.access.grace,
                self.settings.common.access.trial_end_grace,
            ),
            staleness_bound: self.settings.staleness_bound,
            stale_deny_features: self.settings.stale_deny_features.clone(),
            freshness_wait_cap: self.settings.freshness_wait_cap,
            // A quarter of the slots at most wait for a revision.
            waiting: Arc::new(tokio::sync::Semaphore::new((self.settings.max_in_flight / 4).max(1))),
            drain: supervisor.drain_signal(),
        };
        let routes = routes.add_service(EntitlementServiceServer::new(api));
        let connections = self.settings.common.connections;
        let limits = Limits {
            per_connection: Some(self.settings.max_concurrent_requests),
            in_flight: Some(self.settings.max_in_flight),
        };
        supervisor.spawn_api(self.grpc_listener, routes, self.gate.clone(), limits, &connections);
        supervisor.spawn_health_port(self.health_listener, &health, &connections);
        let http_addr = self.http_listener.as_ref().and_then(|l| l.local_addr().ok());
        if let Some(tcp) = self.http_listener {
            let probes = caixa_runtime::http::probes(health.clone(), metrics);
            let drained = supervisor.drain_signal().wait();
            let listener = Listener::new(tcp, Port::Probe("http"), &connections, AtCap::CloseIdlest);
            let limits = HttpLimits {
                max_header_bytes: 16 * 1024,
                header_timeout: connections.idle,
                keepalive: connections.keepalive(),
            };
            supervisor.spawn(async move {
                caixa_runtime::http::serve(listener, probes, limits, drained).await?;
                Ok(())
            });
        }
        let follower = Follower {
            cache: cache.clone(),
            db: self.db.clone(),
            billing: Endpoint::from(self.settings.billing_url.clone())
                .connect_timeout(Duration::from_secs(2)),
            credentials: self.settings.billing_credentials.clone(),
            livemode: self.settings.common.access.live_mode,
            snapshot_file: self.settings.snapshot_file.clone(),
        };
        let keeper = self.settings.snapshot_file.clone().map(|path| Keeper {
            cache: cache.clone(),
            path,
            livemode: self.settings.common.access.live_mode,
            interval: self.settings.snapshot_interval,
        });
        let ready = health.clone();
        let drain = supervisor.drain_signal();
        supervisor.spawn(async move {
            // SERVING only once a consistent snapshot is in memory.
            loop {
                match follower.start().await {
                    Ok(()) => break,
                    Err(err) => tracing::warn!(error = %err, "cannot load the snapshot yet"),
                }
                tokio::time::sleep(READINESS_INTERVAL).await;
            }
            ready.set_serving(true).await;
            match keeper {
                Some(keeper) => tokio::join!(follower.run(drain.clone()), keeper.run(drain)).0,
                None => follower.run(drain).await,
            }
        });
        // A state that can no longer be trusted takes the service out of rotation.
        let (watched, out) = (cache.clone(), health.clone());
        let drain = supervisor.drain_signal().wait();
        supervisor.spawn(async move {
            tokio::select! {
                () = drain => {}
                () = async {
                    while watched.usable() {
                        tokio::time::sleep(READINESS_INTERVAL).await;
                    }
                } => {
                    tracing::error!("the in-memory state is poisoned: NOT_SERVING until restarted");
                    out.set_serving(false).await;
                }
            }
            Ok(())
        });
        let http_addr = http_addr.map(|a| a.to_string()).unwrap_or_default();
        tracing::info!(%grpc_addr, %http_addr, billing_url = %self.settings.billing_url, "entitlement service listening");
        supervisor.run(&health, shutdown).await?;
        Ok(())
    }
}

/// Runs the binary: reads settings from `env`, serves until SIGTERM or SIGINT.
pub async fn main_with(env: Env) -> ExitCode {
    service::run_binary(
        "entitlement-service",
        env,
        Settings::from_env,
        |s| &s.common,
        |settings| async { Application::build(settings).await?.run_until_stopped(shutdown::signal()).await },
    )
    .await
}
