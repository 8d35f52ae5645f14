//! The reconciliation loop: a pass every `RECONCILE_INTERVAL_SECONDS`, with a sweep when
//! the last one is older than `RECONCILE_SWEEP_SECONDS`.

use caixa_runtime::{grpc::ServeError, shutdown::DrainSignal};
use chrono::Utc;
use sea_orm::DatabaseConnection;

use crate::{config::ReconcileSettings, domain::operations::reconcile::Reconciler, store::reconcile};

/// Runs passes until the drain; a failed pass is logged and tried again next interval.
pub async fn run(
    reconciler: Reconciler,
    db: DatabaseConnection,
    settings: ReconcileSettings,
    drain: DrainSignal,
) -> Result<(), ServeError> {
    let drained = drain.wait();
    tokio::pin!(drained);
    let sweep_every = chrono::Duration::from_std(settings.sweep).unwrap_or(chrono::Duration::hours(1));
    loop {
        tokio::select! {
            () = &mut drained => return Ok(()),
            () = tokio::time::sleep(settings.interval) => {}
        }
        let sweep = match reconcile::state(&db).await {
            Ok(state) => state.last_sweep_at.is_none_or(|at| at + sweep_every <= Utc::now()),
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the reconciler's state");
                continue;
            }
        };
        let pass = reconciler.pass(sweep);
        tokio::select! {
            () = &mut drained => return Ok(()),
            result = pass => match result {
                Ok(report) if report.ran => {
                    tracing::info!(sweep, drift = report.drift(), cursor = report.cursor, "reconciliation pass done");
                }
                Ok(_) => tracing::debug!("another replica is reconciling"),
                Err(err) => tracing::warn!(error = %err, "reconciliation pass failed; retried next interval"),
            },
        }
    }
}
