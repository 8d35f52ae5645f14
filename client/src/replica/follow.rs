//! The task that follows the service and the one writer of the replica's table.
//!
//! Checks never wait on it (the table has no lock): entries are built and hashed as
//! messages arrive, placed a batch at a time (at most [`MESSAGES`] that arrived
//! together), and each batch's revision is published once its entries are in place.
//! Ahead of a snapshot the service says how many users follow, and the table makes room
//! for them at once.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use caixa_proto::{
    billing::v1::{EntitlementState, Heartbeat},
    entitlement::v1::{
        BACKLOG_METADATA, WatchEntitlementsRequest, WatchEntitlementsResponse,
        entitlement_service_client::EntitlementServiceClient, watch_entitlements_response::Event,
    },
};
use futures_util::StreamExt;

use super::{
    SILENCE, Shared,
    entry::{Builder, Prepared},
    table::{Entry, Retired},
};
use crate::transport::Pool;

/// Messages placed as one batch, whose revision is published after the last of them.
const MESSAGES: usize = 64;

/// The writer's side of the table.
struct Writer {
    builder: Builder,
    batch: Vec<Prepared>,
    spent: Vec<Entry>,
    retired: Retired,
    newest: u64,
}

impl Writer {
    fn new(shared: &Shared) -> Self {
        let builder = Builder::new(shared.users.hasher());
        Self { builder, batch: Vec::new(), spent: Vec::new(), retired: Retired::default(), newest: 0 }
    }

    /// Builds `state`'s entry, to be placed by the next [`Self::flush`].
    fn stage(&mut self, state: &EntitlementState) {
        self.newest = self.newest.max(state.revision);
        self.batch.push(self.builder.prepare(state));
    }

    /// Makes room for `more` users, beside the checks.
    fn reserve(&mut self, shared: &Shared, more: usize) {
        shared.users.reserve(more, &mut self.retired);
    }

    /// Applies messages that arrived together, in order; `false` once the stream
    /// failed. The first heartbeat says the snapshot is whole: `loaded` is told then.
    fn take(
        &mut self,
        shared: &Shared,
        messages: Vec<Result<WatchEntitlementsResponse, tonic::Status>>,
        loaded: &mut Option<tokio::sync::oneshot::Sender<()>>,
    ) -> bool {
        let mut whole = true;
        for message in messages {
            let Ok(message) = message else {
                whole = false;
                break;
            };
            match message.event {
                Some(Event::Change(state)) => self.stage(&state),
                Some(Event::Heartbeat(beat)) => {
                    // What came before a heartbeat is in place before it says so.
                    self.flush(shared);
                    shared.heartbeat(&beat);
                    if let Some(done) = loaded.take() {
                        done.send(()).ok();
                    }
                }
                None => {}
            }
        }
        self.flush(shared);
        whole
    }

    /// Places what was staged, then says the revision it reaches.
    fn flush(&mut self, shared: &Shared) {
        if self.batch.is_empty() {
            return;
        }
        shared.users.place(&mut self.batch, &mut self.spent, &mut self.retired);
        self.spent.clear();
        shared.revision.fetch_max(self.newest, Ordering::AcqRel);
    }
}

impl Shared {
    /// Takes in what a heartbeat says: how current the service is, how far behind it.
    fn heartbeat(&self, beat: &Heartbeat) {
        if let Some(as_of) = beat.as_of {
            self.as_of.store(as_of.seconds, Ordering::Relaxed);
        }
        let behind = beat.head_revision.saturating_sub(self.revision.load(Ordering::Acquire));
        metrics::gauge!("caixa_replica_lag_revisions").set(behind as f64);
    }
}

/// Follows the service for as long as the replica lives (until `gone` says the last
/// handle dropped); reconnects after the revision it last applied, after a jittered
/// pause so that many callers restarted together do not reconnect in step.
pub(super) async fn follow(
    pool: Pool,
    shared: Arc<Shared>,
    loaded: tokio::sync::oneshot::Sender<()>,
    mut gone: tokio::sync::oneshot::Receiver<()>,
) {
    let mut loaded = Some(loaded);
    let mut writer = Writer::new(&shared);
    loop {
        let after = shared.revision.load(Ordering::Acquire);
        let request = pool.authorized(WatchEntitlementsRequest { after_revision: after });
        let mut service = EntitlementServiceClient::new(pool.channel());
        let watched = tokio::select! {
            watched = service.watch_entitlements(request) => watched,
            _ = &mut gone => return,
        };
        match watched {
            Ok(response) => {
                let backlog =
                    response.metadata().get(BACKLOG_METADATA).and_then(|v| v.to_str().ok()?.parse().ok());
                if let Some(users) = backlog.filter(|_| after == 0) {
                    writer.reserve(&shared, users);
                }
                let mut stream = response.into_inner().ready_chunks(MESSAGES);
                loop {
                    // A stream that stays silent past a few heartbeats is dead even if its
                    // connection is not (a draining server): reconnect.
                    let messages = tokio::select! {
                        messages = tokio::time::timeout(SILENCE, stream.next()) => messages,
                        _ = &mut gone => return,
                    };
                    let Ok(Some(messages)) = messages else { break };
                    shared.touch();
                    if !writer.take(&shared, messages, &mut loaded) {
                        break;
                    }
                }
                tracing::warn!("the entitlement stream ended; reconnecting");
            }
            Err(status) => tracing::warn!(%status, "cannot watch the entitlement service; retrying"),
        }
        let pause = Duration::from_millis(500 + u64::from(jitter_ms()));
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = &mut gone => return,
        }
    }
}

/// Up to a second, from the clock's nanoseconds: enough to spread reconnects.
fn jitter_ms() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos() % 1_000)
}
