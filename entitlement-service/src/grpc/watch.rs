//! `WatchEntitlements`: the backlog, a heartbeat that marks it whole, then live changes.

use std::{pin::Pin, sync::Arc, time::Duration};

use caixa_proto::{
    billing::v1::Heartbeat,
    entitlement::v1::{WatchEntitlementsResponse, watch_entitlements_response::Event},
};
use caixa_types::Revision;
use tokio_stream::Stream;
use tonic::Status;

use crate::domain::{
    cache::{Cache, Change},
    entry::Entry,
};

/// What a watcher receives.
pub type Changes = Pin<Box<dyn Stream<Item = Result<WatchEntitlementsResponse, Status>> + Send>>;

/// The backlog (current states newer than `after`), a heartbeat saying the backlog is
/// complete up to `head` (a replica's snapshot is then whole), then live changes, with
/// heartbeats; until the service drains, even in the middle of the backlog, when the
/// watcher is told to watch again.
pub(super) fn changes(
    backlog: Vec<Arc<Entry>>,
    (after, head): (Revision, Revision),
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
            if !send(&tx, Event::Change(entry.to_proto(None)), drained.as_mut()).await {
                return;
            }
        }
        let whole = Heartbeat {
            head_revision: head.max(sent).get(),
            sent_at: Some(caixa_proto::now()),
            as_of: Some(caixa_proto::timestamp(cache.as_of())),
        };
        if !send(&tx, Event::Heartbeat(whole), drained.as_mut()).await {
            return;
        }
        loop {
            let event = tokio::select! {
                change = live.recv() => match change {
                    Ok(change) if change.entry.revision > sent => {
                        sent = change.entry.revision;
                        Event::Change(change.entry.to_proto(Some(change.changed_at)))
                    }
                    Ok(_) => continue,
                    Err(_) => {
                        let _ = tx.try_send(Err(Status::unavailable("fell behind the live changes; watch again from your last revision")));
                        return;
                    }
                },
                () = tokio::time::sleep(Duration::from_secs(5)) => {
                    Event::Heartbeat(Heartbeat {
                        head_revision: cache.revision().get(),
                        sent_at: Some(caixa_proto::now()),
                        as_of: Some(caixa_proto::timestamp(cache.as_of())),
                    })
                }
                () = tx.closed() => return,
                () = drained.as_mut() => return shutting_down(&tx),
            };
            if !send(&tx, event, drained.as_mut()).await {
                return;
            }
        }
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

type Sender = tokio::sync::mpsc::Sender<Result<WatchEntitlementsResponse, Status>>;

/// Sends `event`; false when the stream is over: the watcher left, or the drain began
/// first (the watcher is then told).
async fn send(tx: &Sender, event: Event, drained: Pin<&mut impl Future<Output = ()>>) -> bool {
    tokio::select! {
        sent = tx.send(Ok(WatchEntitlementsResponse { event: Some(event) })) => sent.is_ok(),
        () = drained => {
            shutting_down(tx);
            false
        }
    }
}

/// Tells the watcher to watch again elsewhere, without waiting for room in the stream:
/// a watcher that reads slowly must not hold the drain (with no room it just sees the
/// stream end, and reconnects all the same).
fn shutting_down(tx: &Sender) {
    let status =
        Status::unavailable("the entitlement service is shutting down; watch again from your last revision");
    let _ = tx.try_send(Err(status));
}
