//! The task that follows the service and the one writer of the replica's table.
//!
//! Readers must not wait on it for long: a check that meets the write lock waits for
//! whatever the writer does under it. So entries are built and hashed before the lock,
//! the lock is taken once for all the messages that arrived together (at most
//! [`MESSAGES`]) and released between batches, an index that must grow is built under a
//! read lock and swapped in, and what is displaced is dropped after the lock is released.
//! Ahead of a snapshot the service says how many users follow, and the table makes room
//! for them at once.

use std::{
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
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
    table::Entry,
};
use crate::transport::Pool;

/// Messages applied under one hold of the write lock: some 30 µs of placing, so that a
/// writer the scheduler preempts while it holds the lock is rarely caught holding it.
const MESSAGES: usize = 64;

/// The writer's side of the table.
struct Writer {
    builder: Builder,
    batch: Vec<Prepared>,
    spent: Vec<Entry>,
    newest: u64,
}

impl Writer {
    fn new(shared: &Shared) -> Self {
        let hasher = shared.users.read().map(|users| users.hasher()).unwrap_or_default();
        Self { builder: Builder::new(hasher), batch: Vec::new(), spent: Vec::new(), newest: 0 }
    }

    /// Builds `state`'s entry, to be placed by the next [`Self::flush`].
    fn stage(&mut self, state: &EntitlementState) {
        self.newest = self.newest.max(state.revision);
        self.batch.push(self.builder.prepare(state));
    }

    /// Makes room for `more` users: the grown index is built while readers use the old
    /// one, and the write lock is held only to swap them.
    fn reserve(shared: &Shared, more: usize) {
        let Some(grown) = shared.users.read().ok().and_then(|users| users.grown_index(more)) else { return };
        let Ok(mut users) = shared.users.write() else { return };
        let held = Instant::now();
        let old = users.install(grown);
        drop(users);
        shared.held(held);
        drop(old);
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

    /// Places what was staged, under one hold of the write lock.
    fn flush(&mut self, shared: &Shared) {
        if self.batch.is_empty() {
            return;
        }
        Self::reserve(shared, self.batch.len());
        // A poisoned table answers nothing from then on (every read fails); its revision
        // must not claim changes it never took.
        let Ok(mut users) = shared.users.write() else {
            self.batch.clear();
            return;
        };
        let held = Instant::now();
        users.place(&mut self.batch, &mut self.spent);
        drop(users);
        shared.held(held);
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

    /// Records a hold of the write lock that began at `since`.
    fn held(&self, since: Instant) {
        let held = since.elapsed();
        self.longest_hold_ns.fetch_max(held.as_nanos() as u64, Ordering::Relaxed);
        metrics::histogram!("caixa_replica_write_hold_seconds").record(held.as_secs_f64());
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
                    Writer::reserve(&shared, users);
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
