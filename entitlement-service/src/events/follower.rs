//! Keeps the cache current: follows billing's `Watch` stream; when billing cannot be
//! reached, reads the revision log straight from the shared database until it can; on a
//! pruned revision, loads a fresh snapshot.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use caixa_proto::billing::v1::{
    WatchRequest, subscription_events_client::SubscriptionEventsClient, watch_response::Event,
};
use caixa_runtime::auth::client::ClientCredentials;
use caixa_runtime::{grpc::ServeError, shutdown::DrainSignal};
use caixa_types::Revision;
use sea_orm::DatabaseConnection;
use tonic::{Code, transport::Endpoint};

use crate::{
    domain::{cache::Cache, entry::Entry},
    store::{self, local::LocalError},
};

/// How long to wait before trying billing again after losing it.
const RECONNECT: Duration = Duration::from_secs(1);
/// How often the database fallback reads the log.
const DB_POLL: Duration = Duration::from_millis(500);

/// The follower's dependencies.
pub struct Follower {
    /// Shared cache.
    pub cache: Arc<Cache>,
    /// The shared database.
    pub db: DatabaseConnection,
    /// Billing's gRPC endpoint.
    pub billing: Endpoint,
    /// How to prove who this service is to billing.
    pub credentials: ClientCredentials,
    /// Which mode to follow.
    pub livemode: bool,
    /// The local snapshot to start from, when one is kept.
    pub snapshot_file: Option<PathBuf>,
}

/// What one read of the log from the database did.
enum Page {
    /// The cache's revision was pruned, through this one: only a snapshot catches up.
    Pruned(Revision),
    /// Changes were applied; `more` when the log holds more past them.
    Applied { more: bool },
}

/// Why following stopped for a moment.
enum Lost {
    /// The revision we are at was pruned: load a snapshot.
    Pruned,
    /// Billing is unreachable or the stream broke.
    Unreachable(String),
}

impl Follower {
    /// Loads the cache at start-up: from the local snapshot and the log's changes since
    /// it when that snapshot is usable, else every user from the database.
    pub async fn start(&self) -> Result<(), store::StoreError> {
        if let Some(path) = &self.snapshot_file {
            match self.start_from_file(path).await {
                Ok(()) => return Ok(()),
                Err(reason) => {
                    tracing::warn!(%reason, "cannot start from the local snapshot; loading every user from the database");
                    metrics::counter!("caixa_entitlement_snapshot_fallbacks_total", "reason" => reason.label())
                        .increment(1);
                }
            }
        }
        self.snapshot().await?;
        metrics::counter!("caixa_entitlement_starts_total", "from" => "database").increment(1);
        Ok(())
    }

    async fn start_from_file(&self, path: &Path) -> Result<(), LocalError> {
        let (cache, livemode, at) = (self.cache.clone(), self.livemode, path.to_owned());
        let loaded = tokio::task::spawn_blocking(move || store::local::read(&at, livemode, cache.plans()))
            .await
            .map_err(|e| LocalError::Io { path: path.to_owned(), source: std::io::Error::other(e) })??;
        // Every change since must still be in the log. When the database cannot say,
        // billing's Watch will: a pruned revision reloads from the database then.
        if let Ok(pruned) = store::pruned_through(&self.db).await
            && loaded.revision < pruned
        {
            return Err(LocalError::TooOld { revision: loaded.revision, pruned });
        }
        let users = loaded.users.len();
        // Current as of when it was written, until the log says more.
        self.cache.load(loaded.users, loaded.revision, loaded.written_at);
        tracing::info!(users, revision = %loaded.revision, "started from the local snapshot");
        metrics::counter!("caixa_entitlement_starts_total", "from" => "file").increment(1);
        self.catch_up().await
    }

    /// Applies the log's changes since the cache's revision, from the database, up to its
    /// head. A database that cannot answer leaves the cache as it is: its answers say
    /// how old they are, and the follower catches up from billing.
    async fn catch_up(&self) -> Result<(), LocalError> {
        loop {
            match self.apply_page(10_000).await {
                Ok(Page::Pruned(pruned)) => {
                    return Err(LocalError::TooOld { revision: self.cache.revision(), pruned });
                }
                Ok(Page::Applied { more: true }) => {}
                Ok(Page::Applied { more: false }) | Err(_) => return Ok(()),
            }
        }
    }

    /// Applies up to `limit` of the log's changes after the cache's revision, read from
    /// the database; at the log's head the cache is marked current.
    async fn apply_page(&self, limit: u64) -> Result<Page, store::StoreError> {
        let after = self.cache.revision();
        let (changes, head, pruned) =
            store::changes_after(&self.db, after, self.livemode, limit, self.cache.plans()).await?;
        if pruned > after {
            return Ok(Page::Pruned(pruned));
        }
        let read = changes.len();
        for change in changes {
            self.cache.apply(change.entry, change.committed_at);
        }
        let at_head = self.cache.revision() >= head;
        if at_head {
            self.cache.touch(chrono::Utc::now().timestamp());
        }
        Ok(Page::Applied { more: !at_head && read > 0 })
    }

    /// Loads a snapshot into the cache.
    #[tracing::instrument(name = "load snapshot", level = "debug", skip_all)]
    pub async fn snapshot(&self) -> Result<(), store::StoreError> {
        let snapshot = store::snapshot(&self.db, self.livemode, self.cache.plans()).await?;
        tracing::info!(users = snapshot.users.len(), revision = %snapshot.revision, "snapshot loaded");
        self.cache.load(snapshot.users, snapshot.revision, chrono::Utc::now().timestamp());
        Ok(())
    }

    /// Follows until the drain.
    pub async fn run(self, drain: DrainSignal) -> Result<(), ServeError> {
        let drained = drain.wait();
        tokio::pin!(drained);
        loop {
            let lost = tokio::select! {
                () = &mut drained => return Ok(()),
                lost = self.follow_billing() => lost,
            };
            match lost {
                Lost::Pruned => {
                    tracing::warn!("our revision was pruned from the log; loading a fresh snapshot");
                    if let Err(err) = self.snapshot().await {
                        tracing::warn!(error = %err, "snapshot failed");
                    }
                }
                Lost::Unreachable(reason) => {
                    tracing::warn!(%reason, "billing unreachable; reading the log from the database");
                    following("database");
                    tokio::select! {
                        () = &mut drained => return Ok(()),
                        () = self.follow_database(RECONNECT) => {}
                    }
                }
            }
        }
    }

    async fn follow_billing(&self) -> Lost {
        let endpoint = match self.credentials.endpoint(self.billing.clone()) {
            Ok(endpoint) => endpoint,
            Err(err) => return Lost::Unreachable(err.to_string()),
        };
        let channel = match endpoint.connect().await {
            Ok(channel) => channel,
            Err(err) => return Lost::Unreachable(err.to_string()),
        };
        let after = self.cache.revision();
        let mut request = tonic::Request::new(WatchRequest { after_revision: after.get() });
        if let Err(err) = self.credentials.authorize(&mut request) {
            return Lost::Unreachable(err.to_string());
        }
        caixa_runtime::telemetry::trace::inject(request.metadata_mut());
        let mut stream = match SubscriptionEventsClient::new(channel).watch(request).await {
            Ok(response) => response.into_inner(),
            Err(status) if status.code() == Code::OutOfRange => return Lost::Pruned,
            Err(status) if matches!(status.code(), Code::PermissionDenied | Code::Unauthenticated) => {
                // Not a network blip: these credentials will never be let in.
                tracing::error!(code = ?status.code(), message = status.message(),
                    "billing refuses this service's Watch: check its certificate's first name or its token against billing's CALLER_POLICY");
                return Lost::Unreachable(status.to_string());
            }
            Err(status) => return Lost::Unreachable(status.to_string()),
        };
        tracing::info!(%after, "following billing's revision log");
        following("billing");
        loop {
            match stream.message().await {
                Ok(Some(message)) => match message.event {
                    Some(Event::Change(change)) => {
                        let changed_at = change.changed_at.as_ref().map_or(0, |t| t.seconds);
                        let span = apply_span(&change);
                        span.in_scope(|| {
                            self.cache.apply(Entry::from_proto(&change, self.cache.plans()), changed_at);
                        });
                        self.cache.touch(chrono::Utc::now().timestamp());
                    }
                    Some(Event::Heartbeat(beat)) => {
                        // How many revisions billing has committed that this copy lacks.
                        let behind = beat.head_revision.saturating_sub(self.cache.revision().get());
                        metrics::gauge!("caixa_follower_lag_revisions").set(behind as f64);
                        if behind == 0 {
                            self.cache.touch(chrono::Utc::now().timestamp());
                        }
                    }
                    None => {}
                },
                Ok(None) => return Lost::Unreachable("stream ended".to_owned()),
                Err(status) if status.code() == Code::OutOfRange => return Lost::Pruned,
                Err(status) => return Lost::Unreachable(status.to_string()),
            }
        }
    }

    /// Reads the log from the database for `period`.
    async fn follow_database(&self, period: Duration) {
        let until = tokio::time::Instant::now() + period;
        while tokio::time::Instant::now() < until {
            match self.apply_page(1000).await {
                Ok(Page::Pruned(_)) => {
                    if let Err(err) = self.snapshot().await {
                        tracing::warn!(error = %err, "snapshot failed");
                    }
                }
                Ok(Page::Applied { .. }) => {}
                Err(err) => tracing::debug!(error = %err, "database unreachable too; serving from memory"),
            }
            tokio::time::sleep(DB_POLL).await;
        }
    }
}

/// The span of applying one revision, in the trace of the work that committed it
/// (disabled when traces are off, or when the revision carries no trace).
fn apply_span(change: &caixa_proto::billing::v1::EntitlementState) -> tracing::Span {
    use caixa_runtime::telemetry::trace;
    if !trace::enabled() || change.traceparent.is_empty() {
        return tracing::Span::none();
    }
    let span = tracing::info_span!("apply revision", revision = change.revision, user_id = %change.user_id);
    trace::continue_from(&span, Some(&change.traceparent));
    span
}

/// Exports where changes come from now: `caixa_follower_source{source}` is 1 for the one
/// in use (billing's Watch, or the database fallback) and 0 for the other.
fn following(source: &'static str) {
    for each in ["billing", "database"] {
        metrics::gauge!("caixa_follower_source", "source" => each).set(if each == source {
            1.0
        } else {
            0.0
        });
    }
}
