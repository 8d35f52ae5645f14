//! Wakes Watch streams on commit instead of making them poll.

use caixa_types::Revision;
use tokio::sync::watch;

/// The newest revision committed by this process.
#[derive(Clone)]
pub struct RevisionFeed {
    tx: watch::Sender<Revision>,
}

impl Default for RevisionFeed {
    fn default() -> Self {
        Self { tx: watch::channel(Revision::default()).0 }
    }
}

impl RevisionFeed {
    /// Announces that `revision` has committed.
    pub fn publish(&self, revision: Revision) {
        self.tx.send_if_modified(|head| {
            let newer = revision > *head;
            if newer {
                *head = revision;
            }
            newer
        });
    }

    /// A receiver that wakes on every publish.
    pub fn subscribe(&self) -> watch::Receiver<Revision> {
        self.tx.subscribe()
    }
}
