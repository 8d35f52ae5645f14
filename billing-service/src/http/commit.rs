//! Group commit for the webhook bridge. Deliveries that arrive while a commit is under
//! way wait for the next one and are stored together, by one statement in one
//! transaction: the database flushes its log once for all of them instead of once each.
//! Each delivery is acknowledged only after the commit that holds it, so nothing
//! acknowledged can be lost; a batch the database refuses is retried row by row, so one
//! bad row cannot fail its neighbours.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::store::{
    StoreError,
    inbox::{self, NewEvent},
};

/// Most deliveries one commit stores.
const MAX_BATCH: usize = 256;

/// Most payload bytes one commit stores, so that one statement stays a modest message.
const MAX_BATCH_BYTES: usize = 512 * 1024;

/// How many commits may be under way at once: while some flush, the next batch gathers.
const COMMITTERS: usize = 2;

type Reply = oneshot::Sender<Result<bool, StoreError>>;

/// Stores deliveries in groups. Cheap to clone.
#[derive(Clone)]
pub struct Committer {
    queue: mpsc::Sender<(NewEvent, Reply)>,
}

impl Committer {
    /// Starts the committers on `db`. They stop once every handle is dropped and the
    /// queue is empty.
    pub fn start(db: DatabaseConnection) -> Self {
        let (queue, receiver) = mpsc::channel(MAX_BATCH * COMMITTERS * 4);
        let receiver = Arc::new(Mutex::new(receiver));
        for _ in 0..COMMITTERS {
            tokio::spawn(commit(db.clone(), receiver.clone()));
        }
        Self { queue }
    }

    /// Stores `event` durably; returns false when it was already stored.
    pub async fn store(&self, event: NewEvent) -> Result<bool, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send((event, reply)).await.map_err(|_| StoreError::ShuttingDown)?;
        answer.await.map_err(|_| StoreError::ShuttingDown)?
    }
}

async fn commit(db: DatabaseConnection, receiver: Arc<Mutex<mpsc::Receiver<(NewEvent, Reply)>>>) {
    loop {
        let Some(batch) = gather(&receiver).await else { return };
        let (events, replies): (Vec<NewEvent>, Vec<Reply>) = batch.into_iter().unzip();
        // Deliveries per commit = caixa_webhook_received_total ÷ this.
        metrics::counter!("caixa_webhook_commits_total").increment(1);
        for (reply, result) in replies.into_iter().zip(store(&db, events).await) {
            // A delivery whose caller went away still counts as stored.
            let _ = reply.send(result);
        }
    }
}

/// Waits for one delivery, then takes whatever else is already waiting, up to
/// [`MAX_BATCH`] deliveries or [`MAX_BATCH_BYTES`]; `None` once the bridge is gone.
async fn gather(receiver: &Mutex<mpsc::Receiver<(NewEvent, Reply)>>) -> Option<Vec<(NewEvent, Reply)>> {
    let mut receiver = receiver.lock().await;
    let first = receiver.recv().await?;
    let mut bytes = first.0.payload.len();
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH && bytes < MAX_BATCH_BYTES {
        let Ok(next) = receiver.try_recv() else { break };
        bytes += next.0.payload.len();
        batch.push(next);
    }
    Some(batch)
}

/// One statement for the batch; if the database refuses it, row by row. A result per
/// event, in order.
async fn store(db: &DatabaseConnection, events: Vec<NewEvent>) -> Vec<Result<bool, StoreError>> {
    match inbox::insert_many(db, &events).await {
        Ok(fresh) => fresh.into_iter().map(Ok).collect(),
        Err(err) if events.len() == 1 => vec![Err(err)],
        Err(err) => {
            tracing::warn!(error = %err, deliveries = events.len(), "a group commit failed; storing its deliveries one by one");
            let mut results = Vec::with_capacity(events.len());
            for event in events {
                results.push(inbox::insert(db, event).await);
            }
            results
        }
    }
}
