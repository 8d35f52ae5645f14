//! Prunes the revision log: followers further behind than the retention re-snapshot.

use std::time::Duration;

use caixa_runtime::{grpc::ServeError, shutdown::DrainSignal};
use sea_orm::DatabaseConnection;

use crate::store::revisions;

/// How often pruning runs.
const EVERY: Duration = Duration::from_secs(600);

/// Deletes log entries older than `retention` every ten minutes until the drain.
pub async fn run(db: DatabaseConnection, retention: Duration, drain: DrainSignal) -> Result<(), ServeError> {
    let drained = drain.wait();
    tokio::pin!(drained);
    loop {
        let before =
            chrono::Utc::now() - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::days(7));
        match revisions::prune(&db, before).await {
            Ok(through) => tracing::debug!(pruned_through = %through, "revision log pruned"),
            Err(err) => tracing::warn!(error = %err, "cannot prune the revision log"),
        }
        tokio::select! {
            () = &mut drained => return Ok(()),
            () = tokio::time::sleep(EVERY) => {}
        }
    }
}
