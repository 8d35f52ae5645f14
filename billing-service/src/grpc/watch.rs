//! `caixa.billing.v1.SubscriptionEvents.Watch`: the revision log as a resumable stream.

use std::{pin::Pin, sync::Arc, time::Duration};

use caixa_proto::billing::v1::{
    Heartbeat, WatchRequest, WatchResponse, subscription_events_server::SubscriptionEvents,
    watch_response::Event,
};
use caixa_runtime::{auth::Caller, shutdown::DrainSignal};
use sea_orm::DatabaseConnection;
use tokio::sync::{Semaphore, mpsc};
use tokio_stream::{Stream, wrappers::ReceiverStream};
use tonic::{Request, Response, Status};

use caixa_types::Revision;

use crate::{
    error::BillingError,
    revisions::RevisionFeed,
    store::revisions::{self, parse_state},
};

/// How many changes one read takes from the log.
const BATCH: u64 = 500;
/// How often an idle stream looks for commits made by other billing replicas.
const POLL: Duration = Duration::from_secs(1);

/// Serves the revision log.
pub struct WatchApi {
    db: DatabaseConnection,
    feed: RevisionFeed,
    livemode: bool,
    heartbeat: Duration,
    drain: DrainSignal,
    streams: Arc<Semaphore>,
}

impl WatchApi {
    /// The log of `livemode` data in `db`, woken by `feed`; streams end when `drain` fires
    /// so that followers reconnect elsewhere instead of holding the shutdown.
    pub fn new(
        db: DatabaseConnection,
        feed: RevisionFeed,
        livemode: bool,
        heartbeat: Duration,
        drain: DrainSignal,
    ) -> Self {
        Self {
            db,
            feed,
            livemode,
            heartbeat,
            drain,
            streams: Arc::new(Semaphore::new(Semaphore::MAX_PERMITS)),
        }
    }

    /// At most `streams` open at once; one more is refused with RESOURCE_EXHAUSTED.
    pub fn with_stream_limit(mut self, streams: usize) -> Self {
        self.streams = Arc::new(Semaphore::new(streams));
        self
    }
}

#[tonic::async_trait]
impl SubscriptionEvents for WatchApi {
    type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send>>;

    async fn watch(&self, request: Request<WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        let caller = request.extensions().get::<Caller>().map_or("anonymous", Caller::name).to_owned();
        let after = Revision::new(request.into_inner().after_revision);
        after.to_db().map_err(|err| BillingError::InvalidArgument {
            field: "after_revision",
            reason: err.to_string(),
        })?;
        let Ok(slot) = self.streams.clone().try_acquire_owned() else {
            metrics::counter!("caixa_watch_streams_refused_total").increment(1);
            return Err(Status::resource_exhausted(
                "too many Watch streams are open (MAX_WATCH_STREAMS); retry later",
            ));
        };
        let (_, pruned) = revisions::head(&self.db).await.map_err(BillingError::from)?;
        if after < pruned {
            return Err(BillingError::OutOfRange(format!(
                "revision {after} has been pruned (the log starts after {pruned}); load a fresh snapshot and watch from its revision"
            ))
            .into());
        }
        let (tx, rx) = mpsc::channel(BATCH as usize);
        let stream = Streamer {
            db: self.db.clone(),
            livemode: self.livemode,
            heartbeat: self.heartbeat,
            drain: self.drain.clone(),
        };
        tracing::info!(%caller, %after, "watch stream opened");
        metrics::counter!("caixa_watch_streams_opened_total", "caller" => caller).increment(1);
        let feed = self.feed.subscribe();
        tokio::spawn(async move {
            // The slot is given back when the stream ends.
            stream.run(after, feed, tx).await;
            drop(slot);
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

struct Streamer {
    db: DatabaseConnection,
    livemode: bool,
    heartbeat: Duration,
    drain: DrainSignal,
}

impl Streamer {
    /// Sends the backlog, then each commit as it happens, with heartbeats while idle,
    /// until the client goes away.
    async fn run(
        self,
        mut cursor: Revision,
        mut feed: tokio::sync::watch::Receiver<Revision>,
        tx: mpsc::Sender<Result<WatchResponse, Status>>,
    ) {
        let mut last_sent = tokio::time::Instant::now();
        let drained = self.drain.clone().wait();
        tokio::pin!(drained);
        loop {
            let changes = match revisions::changes_after(&self.db, cursor, self.livemode, BATCH).await {
                Ok(changes) => changes,
                Err(err) => {
                    let _ = tx.send(Err(super::status::dependency_status("the revision log", &err))).await;
                    return;
                }
            };
            let full = changes.len() as u64 == BATCH;
            for change in changes {
                let state = match parse_state(&change.state) {
                    Ok(state) => state,
                    Err(err) => {
                        tracing::error!(revision = change.revision, error = %err, "stored state unreadable");
                        let _ = tx
                            .send(Err(Status::data_loss(format!(
                                "revision {} cannot be read",
                                change.revision
                            ))))
                            .await;
                        return;
                    }
                };
                let revision = match Revision::from_db(change.revision) {
                    Ok(revision) => revision,
                    Err(err) => {
                        let _ =
                            tx.send(Err(super::status::dependency_status("the revision log", &err))).await;
                        return;
                    }
                };
                let mut message = state.to_proto(&change.user_id, revision, change.committed_at.timestamp());
                message.traceparent = change.trace_context.unwrap_or_default();
                if tx.send(Ok(WatchResponse { event: Some(Event::Change(message)) })).await.is_err() {
                    return;
                }
                cursor = revision;
                last_sent = tokio::time::Instant::now();
            }
            if full {
                continue;
            }
            if last_sent.elapsed() >= self.heartbeat {
                let head = revisions::head(&self.db).await.map(|(head, _)| head).unwrap_or(cursor);
                let beat = Heartbeat {
                    head_revision: head.get(),
                    sent_at: Some(caixa_proto::now()),
                    as_of: Some(caixa_proto::now()),
                };
                if tx.send(Ok(WatchResponse { event: Some(Event::Heartbeat(beat)) })).await.is_err() {
                    return;
                }
                last_sent = tokio::time::Instant::now();
            }
            let wait =
                POLL.min(self.heartbeat.saturating_sub(last_sent.elapsed()).max(Duration::from_millis(10)));
            tokio::select! {
                _ = feed.changed() => {}
                () = tokio::time::sleep(wait) => {}
                () = tx.closed() => return,
                () = &mut drained => {
                    let _ = tx.send(Err(Status::unavailable("billing is shutting down; reconnect and resume"))).await;
                    return;
                }
            }
        }
    }
}
