//! `WatchEntitlements`: the backlog, a heartbeat that marks it whole, then live changes.

use std::{pin::Pin, sync::Arc, time::Duration};

use caixa_proto::{
    billing::v1::Heartbeat,
    entitlement::v1::{WatchEntitlementsResponse, watch_entitlements_response::Event},
};
use tokio_stream::Stream;
use tonic::Status;

use super::entitlement::ts;
use crate::domain::{
    cache::{Cache, Change},
    entry::Entry,
};

/// What a watcher receives.
pub type Changes = Pin<Box<dyn Stream<Item = Result<WatchEntitlementsResponse, Status>> + Send>>;

/// The backlog (current states newer than `after`), a heartbeat saying the backlog is
/// complete up to `head` (a replica's snapshot is then whole), then live changes, with
/// heartbeats; until the service drains, when the watcher is told to watch again.
pub(super) fn changes(
    backlog: Vec<Arc<Entry>>,
    (after, head): (u64, u64),
    cache: Arc<Cache>,
    mut live: tokio::sync::broadcast::Receiver<Change>,
    drained: impl Future<Output = ()> + Send + 'static,
) -> Changes {
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    tokio::spawn(async move {
        tokio::pin!(drained);
        let mut sent = after;
        for entry in backlog {
            sent = sent.max(entry.revision);
            let change = entry.to_proto(None);
            if tx.send(Ok(WatchEntitlementsResponse { event: Some(Event::Change(change)) })).await.is_err() {
                return;
            }
        }
        let whole =
            Heartbeat { head_revision: head.max(sent), sent_at: Some(ts(chrono::Utc::now().timestamp())) };
        if tx.send(Ok(WatchEntitlementsResponse { event: Some(Event::Heartbeat(whole)) })).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                change = live.recv() => match change {
                    Ok(change) if change.entry.revision > sent => {
                        sent = change.entry.revision;
                        let state = change.entry.to_proto(Some(change.changed_at));
                        if tx.send(Ok(WatchEntitlementsResponse { event: Some(Event::Change(state)) })).await.is_err() { return; }
                    }
                    Ok(_) => {}
                    Err(_) => {
                        let _ = tx.send(Err(Status::unavailable("fell behind the live changes; watch again from your last revision"))).await;
                        return;
                    }
                },
                () = tokio::time::sleep(Duration::from_secs(5)) => {
                    let beat = Heartbeat { head_revision: cache.revision(), sent_at: Some(ts(chrono::Utc::now().timestamp())) };
                    if tx.send(Ok(WatchEntitlementsResponse { event: Some(Event::Heartbeat(beat)) })).await.is_err() { return; }
                }
                () = tx.closed() => return,
                () = &mut drained => {
                    let _ = tx.send(Err(Status::unavailable("the entitlement service is shutting down; watch again from your last revision"))).await;
                    return;
                }
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}
