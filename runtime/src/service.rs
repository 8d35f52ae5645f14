//! What every service binary does around its own logic: bind listeners, parse settings,
//! install telemetry, run until a signal, and turn the outcome into an exit code.

use std::{fmt::Display, future::Future, net::SocketAddr, process::ExitCode};

use tokio::net::TcpListener;

use crate::{
    config::{CommonSettings, ConfigError, Env},
    telemetry,
};

/// A listen address that could not be bound.
#[derive(Debug, thiserror::Error)]
#[error("cannot listen on {addr}: {source}")]
pub struct BindError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// Why binding failed.
    #[source]
    pub source: std::io::Error,
}

/// Binds `addr`; port 0 picks a free port (read it back with [`local_addr`]).
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, BindError> {
    TcpListener::bind(addr).await.map_err(|source| BindError { addr, source })
}

/// The address `listener` is bound to.
pub fn local_addr(listener: &TcpListener, requested: SocketAddr) -> SocketAddr {
    listener.local_addr().unwrap_or(requested)
}

/// Runs a service binary. A bad setting prints one line naming the variable and exits
/// with code 2; a failure while running exits with 1; a clean drain exits with 0.
pub async fn run_binary<S, E, Fut>(
    name: &str,
    env: Env,
    parse: impl FnOnce(&Env) -> Result<S, ConfigError>,
    common: impl FnOnce(&S) -> &CommonSettings,
    run: impl FnOnce(S) -> Fut,
) -> ExitCode
where
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let settings = match parse(&env) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("{name}: {err}");
            return ExitCode::from(2);
        }
    };
    telemetry::init_service(common(&settings).log_format, name);
    let open_files = crate::listen::raise_open_files_limit();
    tracing::debug!(?open_files, "open-files limit");
    let outcome = run(settings).await;
    telemetry::trace::shutdown().await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "{name} failed");
            eprintln!("{name}: {err}");
            ExitCode::FAILURE
        }
    }
}
