//! Wakes Watch streams on commit instead of making them poll.

use tokio::sync::watch;

/// The newest revision committed by this process.
#[derive(Clone)]
pub struct RevisionFeed {
    tx: watch::Sender<i64>,
}

impl Default for RevisionFeed {
    fn default() -> Self {
        Self { tx: watch::channel(0).0 }
    }
}

impl RevisionFeed {
    /// Announces that `revision` has committed.
    pub fn publish(&self, revision: i64) {
        self.tx.send_if_modified(|head| {
            let newer = revision > *head;
            if newer {
                *head = revision;
            }
            newer
        });
    }

    /// A receiver that wakes on every publish.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.tx.subscribe()
    }
}
