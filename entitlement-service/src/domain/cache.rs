//! Every user's state, in memory, with the revision it is at and when it was last known
//! to be current. Reads never wait on I/O; a caller that needs a newer revision waits on
//! a watch channel, bounded by its deadline.

use std::{
    sync::{
        Arc, RwLock, RwLockReadGuard,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use caixa_types::Revision;
use tokio::sync::{broadcast, watch};

use super::{
    entry::{Entry, Plans},
    users::Users,
};

/// A change applied to the cache, for `WatchEntitlements` subscribers.
#[derive(Debug, Clone)]
pub struct Change {
    /// The new entry.
    pub entry: Arc<Entry>,
    /// Commit time (Unix seconds).
    pub changed_at: i64,
}

/// The in-memory state cannot be trusted: a writer panicked mid-change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unusable;

/// The cache.
pub struct Cache {
    users: RwLock<Users>,
    plans: Plans,
    revision: watch::Sender<Revision>,
    as_of: AtomicI64,
    changes: broadcast::Sender<Change>,
}

impl Default for Cache {
    fn default() -> Self {
        Self {
            users: RwLock::new(Users::default()),
            plans: Plans::default(),
            revision: watch::channel(Revision::default()).0,
            as_of: AtomicI64::new(0),
            changes: broadcast::channel(4096).0,
        }
    }
}

impl Cache {
    /// The interned plans entries are built with.
    pub fn plans(&self) -> &Plans {
        &self.plans
    }

    /// Replaces everything with a snapshot taken at `revision`.
    pub fn load(&self, users: Users, revision: Revision, now: i64) {
        metrics::gauge!("caixa_entitlement_users").set(users.len() as f64);
        metrics::gauge!("caixa_entitlement_revision").set(revision.get() as f64);
        let old = match self.users.write() {
            Ok(mut map) => Some(std::mem::replace(&mut *map, users)),
            Err(_) => None,
        };
        // Freeing a million entries takes a while; not while holding the lock.
        drop(old);
        self.revision.send_replace(revision);
        self.touch(now);
    }

    /// Applies one user's entry (ignored if not newer than what is held).
    pub fn apply(&self, entry: Entry, changed_at: i64) {
        let revision = entry.revision;
        let entry = Arc::new(entry);
        let Ok(mut users) = self.users.write() else {
            // A writer panicked mid-change: nothing held can be trusted, and the revision
            // must not claim this change. Checks answer UNAVAILABLE from now on.
            tracing::error!(%revision, "the in-memory state is poisoned; this change is not applied");
            return;
        };
        let (newer, held) = (users.upsert(entry.clone()), users.len());
        drop(users);
        if newer {
            metrics::gauge!("caixa_entitlement_users").set(held as f64);
            let _ = self.changes.send(Change { entry, changed_at });
        }
        let advanced = self.revision.send_if_modified(|held| {
            let advanced = revision > *held;
            if advanced {
                *held = revision;
            }
            advanced
        });
        if advanced {
            // How far behind billing's commit this copy is, as of this change.
            let lag = chrono::Utc::now().timestamp().saturating_sub(changed_at).max(0);
            metrics::gauge!("caixa_entitlement_revision").set(revision.get() as f64);
            metrics::gauge!("caixa_follower_lag_seconds").set(lag as f64);
        }
    }

    /// Notes that the source confirmed we are current (a heartbeat at or below our head).
    pub fn touch(&self, now: i64) {
        self.as_of.store(now, Ordering::SeqCst);
    }

    /// A user's entry; `Err` when the state is unusable (a writer panicked mid-change).
    pub fn get(&self, user_id: &str) -> Result<Option<Arc<Entry>>, Unusable> {
        Ok(self.users.read().map_err(|_| Unusable)?.get(user_id).cloned())
    }

    /// Whether the state can be answered from (false once a writer panicked mid-change).
    pub fn usable(&self) -> bool {
        !self.users.is_poisoned()
    }

    /// Read access to every user at once, for a batch of checks: one lock, no clones.
    /// Hold it briefly; writers wait for it.
    pub fn read(&self) -> Option<RwLockReadGuard<'_, Users>> {
        self.users.read().ok()
    }

    /// Every entry, for the local snapshot; `None` when the state is unusable. Clones
    /// pointers only, so the read lock is held for one pass over the table.
    pub fn entries(&self) -> Option<Vec<Arc<Entry>>> {
        let users = self.users.read().ok()?;
        Some(users.iter().cloned().collect())
    }

    /// Entries changed after `revision`, oldest first, for a new `WatchEntitlements`
    /// subscriber.
    pub fn changed_after(&self, revision: Revision) -> Vec<Arc<Entry>> {
        let Ok(users) = self.users.read() else { return Vec::new() };
        let mut entries: Vec<Arc<Entry>> = users.iter().filter(|e| e.revision > revision).cloned().collect();
        entries.sort_by_key(|e| e.revision);
        entries
    }

    /// The revision the cache is at.
    pub fn revision(&self) -> Revision {
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
    pub async fn wait_for(&self, revision: Revision, within: Duration) -> bool {
        let mut rx = self.revision.subscribe();
        tokio::time::timeout(within, rx.wait_for(|held| *held >= revision)).await.is_ok_and(|r| r.is_ok())
    }
}

#[cfg(test)]
impl Cache {
    /// Poisons the state as a writer panicking mid-change would.
    pub(crate) fn poison(self: &Arc<Self>) {
        let cache = self.clone();
        let _ = std::thread::spawn(move || {
            let _held = cache.users.write();
            panic!("a writer panics mid-change");
        })
        .join();
    }
}
