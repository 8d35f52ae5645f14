//! Every user's state, in memory, with the revision it is at and when it was last known
//! to be current. Reads never wait on I/O; a caller that needs a newer revision waits on
//! a watch channel, bounded by its deadline.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use caixa_entities::state::UserState;
use tokio::sync::{broadcast, watch};

/// One user's state at the revision that last changed it.
#[derive(Debug, Clone, Default)]
pub struct Entry {
    /// The revision of this state.
    pub revision: u64,
    /// The state.
    pub state: UserState,
}

/// A change applied to the cache, for `WatchEntitlements` subscribers.
#[derive(Debug, Clone)]
pub struct Change {
    /// The user.
    pub user_id: String,
    /// The new entry.
    pub entry: Arc<Entry>,
    /// Commit time (Unix seconds).
    pub changed_at: i64,
}

/// The cache.
pub struct Cache {
    users: RwLock<HashMap<String, Arc<Entry>>>,
    revision: watch::Sender<u64>,
    as_of: AtomicI64,
    changes: broadcast::Sender<Change>,
}

impl Default for Cache {
    fn default() -> Self {
        Self {
            users: RwLock::new(HashMap::new()),
            revision: watch::channel(0).0,
            as_of: AtomicI64::new(0),
            changes: broadcast::channel(4096).0,
        }
    }
}

impl Cache {
    /// Replaces everything with a snapshot taken at `revision`.
    pub fn load(&self, users: HashMap<String, Arc<Entry>>, revision: u64, now: i64) {
        if let Ok(mut map) = self.users.write() {
            *map = users;
        }
        self.revision.send_replace(revision);
        self.touch(now);
    }

    /// Applies one user's state at `revision` (ignored if not newer than what is held).
    pub fn apply(&self, user_id: String, entry: Entry, changed_at: i64) {
        let revision = entry.revision;
        let entry = Arc::new(entry);
        let newer = match self.users.write() {
            Ok(mut map) => {
                let newer = map.get(&user_id).is_none_or(|held| held.revision < revision);
                if newer {
                    map.insert(user_id.clone(), entry.clone());
                }
                newer
            }
            Err(_) => false,
        };
        if newer {
            let _ = self.changes.send(Change { user_id, entry, changed_at });
        }
        self.revision.send_if_modified(|held| {
            let advanced = revision > *held;
            if advanced {
                *held = revision;
            }
            advanced
        });
    }

    /// Notes that the source confirmed we are current (a heartbeat at or below our head).
    pub fn touch(&self, now: i64) {
        self.as_of.store(now, Ordering::SeqCst);
    }

    /// A user's entry.
    pub fn get(&self, user_id: &str) -> Option<Arc<Entry>> {
        self.users.read().ok().and_then(|map| map.get(user_id).cloned())
    }

    /// Entries changed after `revision`, for a new `WatchEntitlements` subscriber.
    pub fn changed_after(&self, revision: u64) -> Vec<(String, Arc<Entry>)> {
        let Ok(map) = self.users.read() else { return Vec::new() };
        let mut entries: Vec<(String, Arc<Entry>)> =
            map.iter().filter(|(_, e)| e.revision > revision).map(|(u, e)| (u.clone(), e.clone())).collect();
        entries.sort_by_key(|(_, e)| e.revision);
        entries
    }

    /// The revision the cache is at.
    pub fn revision(&self) -> u64 {
        *self.revision.borrow()
    }

    /// When the cache was last known to be current (Unix seconds).
    pub fn as_of(&self) -> i64 {
        self.as_of.load(Ordering::SeqCst)
    }

    /// Number of users held.
    pub fn len(&self) -> usize {
        self.users.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether no user is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Live changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Waits until the cache reaches `revision`, for at most `within`. Returns whether
    /// it did.
    pub async fn wait_for(&self, revision: u64, within: Duration) -> bool {
        let mut rx = self.revision.subscribe();
        tokio::time::timeout(within, rx.wait_for(|held| *held >= revision)).await.is_ok_and(|r| r.is_ok())
    }
}
