//! Keeps the local snapshot: rewrites it at an interval when the cache has moved on, and
//! once more at shutdown, so that the next start reads it instead of every user.

use std::{path::PathBuf, sync::Arc, time::Duration};

use caixa_runtime::shutdown::DrainSignal;
use caixa_types::Revision;

use crate::{domain::cache::Cache, store::local};

/// The snapshot keeper's settings.
pub struct Keeper {
    /// The cache to write.
    pub cache: Arc<Cache>,
    /// Where.
    pub path: PathBuf,
    /// The mode the cache holds.
    pub livemode: bool,
    /// How often.
    pub interval: Duration,
}

impl Keeper {
    /// Writes at each interval the cache has moved on, and at the drain. Start it once the
    /// cache is loaded: an empty cache must never replace a whole snapshot.
    pub async fn run(self, drain: DrainSignal) {
        let drained = drain.wait();
        tokio::pin!(drained);
        let mut written = None;
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.interval) => {}
                () = &mut drained => {
                    self.write(&mut written).await;
                    return;
                }
            }
            self.write(&mut written).await;
        }
    }

    async fn write(&self, written: &mut Option<Revision>) {
        let revision = self.cache.revision();
        if *written == Some(revision) {
            return;
        }
        let Some(entries) = self.cache.entries() else {
            tracing::error!("the in-memory state is unusable; the local snapshot is left as it was");
            return;
        };
        let (path, livemode, started) = (self.path.clone(), self.livemode, std::time::Instant::now());
        let now = chrono::Utc::now().timestamp();
        let users = entries.len();
        let wrote =
            tokio::task::spawn_blocking(move || local::write(&path, &entries, revision, livemode, now)).await;
        match wrote {
            Ok(Ok(())) => {
                *written = Some(revision);
                let took = started.elapsed();
                metrics::histogram!("caixa_entitlement_snapshot_write_seconds").record(took.as_secs_f64());
                tracing::info!(users, %revision, took_ms = took.as_millis() as u64, "local snapshot written");
            }
            Ok(Err(err)) => {
                metrics::counter!("caixa_entitlement_snapshot_write_failures_total").increment(1);
                tracing::warn!(error = %err, "cannot write the local snapshot");
            }
            Err(err) => tracing::warn!(error = %err, "the local snapshot's writer stopped"),
        }
    }
}
