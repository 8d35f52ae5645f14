//! The signals that start a graceful drain, and the signal every task waits on.

use tokio::sync::watch;

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("SIGINT received, draining"),
        () = terminate => tracing::info!("SIGTERM received, draining"),
    }
}

/// Completes once a drain has started.
#[derive(Clone)]
pub struct DrainSignal(watch::Receiver<bool>);

impl DrainSignal {
    /// Follows `receiver`, which turns true when the drain starts.
    pub fn new(receiver: watch::Receiver<bool>) -> Self {
        Self(receiver)
    }

    /// Waits for the drain.
    pub async fn wait(mut self) {
        // An error means the supervisor is gone, which is a drain too.
        let _ = self.0.wait_for(|draining| *draining).await;
    }
}
