//! A gRPC server with the standard services (health, reflection v1 and v1alpha) and a
//! graceful drain: on shutdown, health turns NOT_SERVING, listeners stop accepting, and
//! in-flight calls get a grace period to finish.

use std::{
    future::Future,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::{net::TcpListener, sync::watch, task::JoinSet};
use tonic::{service::Routes, transport::Server};
use tonic_health::{ServingStatus, server::HealthReporter};
use tracing::Instrument;

use crate::{
    auth::{AdmitLayer, Gate},
    listen::{AtCap, ConnectionSettings, Listener, Port},
    shutdown::DrainSignal,
};

/// Errors while building or running a server.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The reflection service could not load a descriptor set.
    #[error("reflection setup failed: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    /// A server stopped with a transport error.
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// The HTTP server failed.
    #[error("HTTP server failed: {0}")]
    Http(#[from] std::io::Error),
    /// Certificates or caller tokens cannot be loaded.
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthError),
    /// A server task panicked or was cancelled.
    #[error("server task ended abnormally: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The health a service reports, over gRPC health and its HTTP `/readyz`.
#[derive(Clone)]
pub struct HealthState {
    reporter: HealthReporter,
    alone: Routes,
    services: Arc<[&'static str]>,
    serving: Arc<AtomicBool>,
    draining: Arc<AtomicBool>,
}

impl HealthState {
    /// Health for the overall server (`""`) and each named service, starting NOT_SERVING.
    async fn new(services: &[&'static str]) -> (Self, Routes) {
        let (reporter, server) = tonic_health::server::health_reporter();
        let state = Self {
            reporter,
            alone: Routes::new(server.clone()),
            services: services.into(),
            serving: Arc::new(AtomicBool::new(true)),
            draining: Arc::new(AtomicBool::new(false)),
        };
        state.apply(false).await;
        (state, Routes::new(server))
    }

    /// Reports SERVING or NOT_SERVING. Once draining, it stays NOT_SERVING.
    pub async fn set_serving(&self, serving: bool) {
        let serving = serving && !self.draining.load(Ordering::SeqCst);
        if self.serving.load(Ordering::SeqCst) != serving {
            self.apply(serving).await;
        }
    }

    /// The health service alone, for a plaintext port the kubelet's gRPC probes can use
    /// when the API port requires mutual TLS.
    pub fn routes(&self) -> Routes {
        self.alone.clone()
    }

    /// Whether the service currently reports SERVING.
    pub fn is_serving(&self) -> bool {
        self.serving.load(Ordering::SeqCst)
    }

    /// Whether a drain has started.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    async fn begin_drain(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.apply(false).await;
    }

    async fn apply(&self, serving: bool) {
        self.serving.store(serving, Ordering::SeqCst);
        let status = if serving { ServingStatus::Serving } else { ServingStatus::NotServing };
        self.reporter.set_service_status("", status).await;
        for service in self.services.iter() {
            self.reporter.set_service_status(service, status).await;
        }
    }
}

/// The standard services for a server whose own services are `services`: health (all
/// NOT_SERVING until told otherwise) and reflection v1 and v1alpha advertising exactly
/// what this server serves.
pub async fn standard_routes(services: &[&'static str]) -> Result<(HealthState, Routes), ServeError> {
    let (health, routes) = HealthState::new(services).await;
    let builder = |reflection_name: &str| {
        let mut builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(caixa_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .with_service_name(HEALTH_SERVICE)
            .with_service_name(reflection_name);
        for service in services {
            builder = builder.with_service_name(*service);
        }
        builder
    };
    let v1 = builder("grpc.reflection.v1.ServerReflection").build_v1()?;
    let v1alpha = builder("grpc.reflection.v1alpha.ServerReflection").build_v1alpha()?;
    Ok((health, routes.add_service(v1).add_service(v1alpha)))
}

const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

/// How many calls a server takes on at once; beyond either limit calls are refused with
/// RESOURCE_EXHAUSTED instead of queueing without bound.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    /// Calls in progress on one connection.
    pub per_connection: Option<usize>,
    /// Calls in progress on the whole server.
    pub in_flight: Option<usize>,
}

impl Limits {
    /// For a probe port: checks are never refused; at most 64 Watch streams in all.
    pub fn probes() -> Self {
        Self { per_connection: Some(8), in_flight: Some(64) }
    }
}

/// Runs a service's servers and background tasks, and drains them together.
pub struct Supervisor {
    trigger: watch::Sender<bool>,
    tasks: JoinSet<Result<(), ServeError>>,
    grace: Duration,
}

impl Supervisor {
    /// A supervisor whose drain allows in-flight work `grace` to finish.
    pub fn new(grace: Duration) -> Self {
        Self { trigger: watch::channel(false).0, tasks: JoinSet::new(), grace }
    }

    /// A future that completes when the drain starts.
    pub fn drain_signal(&self) -> DrainSignal {
        DrainSignal::new(self.trigger.subscribe())
    }

    /// Serves the API `routes` on `tcp` until the drain, admitting calls through `gate`
    /// (and over TLS when it has certificates), within `limits` and `connections`.
    pub fn spawn_api(
        &mut self,
        tcp: TcpListener,
        routes: Routes,
        gate: Arc<Gate>,
        limits: Limits,
        connections: &ConnectionSettings,
    ) {
        let listener = Listener::new(tcp, Port::Api("grpc"), connections, AtCap::Refuse);
        self.spawn_grpc(listener, routes, gate, limits, connections.keepalive());
    }

    /// Serves gRPC health alone, in plaintext and open to all, on `tcp` when given.
    pub fn spawn_health_port(
        &mut self,
        tcp: Option<TcpListener>,
        health: &HealthState,
        connections: &ConnectionSettings,
    ) {
        if let Some(tcp) = tcp {
            let listener = Listener::new(tcp, Port::Probe("grpc-health"), connections, AtCap::Refuse);
            let keepalive = connections.keepalive();
            self.spawn_grpc(listener, health.routes(), Gate::open(), Limits::probes(), keepalive);
        }
    }

    /// Serves `routes` on `listener`. Peers are pinged after `keepalive` without a frame
    /// and dropped if the answer takes as long again.
    fn spawn_grpc(
        &mut self,
        listener: Listener,
        routes: Routes,
        gate: Arc<Gate>,
        limits: Limits,
        keepalive: Duration,
    ) {
        let drained = self.drain_signal().wait();
        let builder = Server::builder()
            .http2_keepalive_interval(Some(keepalive))
            .http2_keepalive_timeout(Some(keepalive));
        let builder = match limits.per_connection {
            // HTTP/2's MAX_CONCURRENT_STREAMS at twice the limit: calls just past it are
            // refused (the caller learns it should back off), and a client with far more
            // to send waits on its side of the connection instead of queueing frames the
            // server would only refuse.
            Some(limit) => builder
                .concurrency_limit_per_connection(limit)
                .load_shed(true)
                .max_concurrent_streams(u32::try_from(limit.saturating_mul(2)).ok()),
            None => builder,
        };
        let server = builder.layer(AdmitLayer::new(gate.clone(), limits.in_flight)).add_routes(routes);
        let gate_tls = gate.tls();
        if gate.authenticates() || gate.tls().is_some() {
            self.spawn({
                let drain = self.drain_signal();
                async move {
                    gate.clone().follow_files(drain).await;
                    Ok(())
                }
            });
        }
        self.spawn(async move {
            match gate_tls {
                Some(tls) => server.serve_with_incoming_shutdown(tls.incoming(listener), drained).await?,
                None => server.serve_with_incoming_shutdown(listener.incoming(), drained).await?,
            }
            Ok(())
        });
    }

    /// Runs a task that must stop by itself when the drain starts. It logs within the
    /// caller's span, so each service's lines say whose they are.
    pub fn spawn<F>(&mut self, task: F)
    where
        F: Future<Output = Result<(), ServeError>> + Send + 'static,
    {
        self.tasks.spawn(task.instrument(tracing::Span::current()));
    }

    /// Runs until `shutdown` completes (or a task fails), then drains: health turns
    /// NOT_SERVING, servers stop accepting, and in-flight work has the grace period.
    pub async fn run(
        mut self,
        health: &HealthState,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), ServeError> {
        let mut failure = None;
        tokio::select! {
            () = shutdown => {}
            Some(joined) = self.tasks.join_next() => {
                failure = flatten(joined).err();
                if let Some(err) = &failure {
                    tracing::error!(error = %err, "a server stopped; draining the rest");
                }
            }
        }
        health.begin_drain().await;
        let _ = self.trigger.send(true);
        let grace = self.grace;
        let finished = tokio::time::timeout(grace, async {
            while let Some(joined) = self.tasks.join_next().await {
                if let Err(err) = flatten(joined) {
                    tracing::error!(error = %err, "error while draining");
                    failure.get_or_insert(err);
                }
            }
        })
        .await;
        if finished.is_err() {
            tracing::warn!(grace_secs = grace.as_secs(), "grace period over; closing remaining calls");
            self.tasks.abort_all();
        }
        tracing::info!("stopped");
        failure.map_or(Ok(()), Err)
    }
}

fn flatten(joined: Result<Result<(), ServeError>, tokio::task::JoinError>) -> Result<(), ServeError> {
    joined?
}
