//! The connections open on one port: counted against its cap, each with its activity, so
//! the idlest can be found and closed when a newcomer needs its place.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use tokio::task::AbortHandle;

use super::guarded::Activity;

/// One port's open connections.
pub(super) struct Registry {
    name: &'static str,
    cap: usize,
    idle: Duration,
    epoch: Instant,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    next: u64,
    entries: HashMap<u64, Entry>,
}

struct Entry {
    activity: Arc<Activity>,
    /// Set once the connection's task runs; only such a connection can be closed for a
    /// newcomer.
    abort: Option<AbortHandle>,
}

/// A connection's place in its port's registry, given back when dropped.
pub(crate) struct Ticket {
    registry: Arc<Registry>,
    id: u64,
    pub(crate) activity: Arc<Activity>,
}

impl Registry {
    pub(super) fn new(name: &'static str, cap: usize, idle: Duration) -> Self {
        Self { name, cap, idle, epoch: Instant::now(), open: Mutex::new(Open::default()) }
    }

    pub(super) fn name(&self) -> &'static str {
        self.name
    }

    pub(super) fn cap(&self) -> usize {
        self.cap
    }

    /// A place for a new connection, or `None` when the port is full (and, when
    /// `close_idlest`, none of its connections is idle).
    pub(super) fn admit(self: &Arc<Self>, close_idlest: bool) -> Option<Ticket> {
        let mut open = self.lock();
        if open.entries.len() >= self.cap {
            let idlest = close_idlest.then(|| open.idlest()).flatten();
            let Some(id) = idlest else {
                metrics::counter!("caixa_connections_refused_total", "listener" => self.name).increment(1);
                return None;
            };
            if let Some(Entry { abort: Some(abort), .. }) = open.entries.remove(&id) {
                abort.abort();
            }
            metrics::counter!("caixa_connections_closed_total", "listener" => self.name, "why" => "evicted")
                .increment(1);
        }
        let id = open.next;
        open.next += 1;
        let activity = Arc::new(Activity::new(self.epoch, self.idle));
        open.entries.insert(id, Entry { activity: activity.clone(), abort: None });
        metrics::gauge!("caixa_connections_open", "listener" => self.name).set(open.entries.len() as f64);
        Some(Ticket { registry: self.clone(), id, activity })
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        // The map stays consistent whatever panicked while holding it: entries are only
        // inserted and removed whole.
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Open {
    /// The connection with no request in progress that has sent nothing the longest.
    fn idlest(&self) -> Option<u64> {
        self.entries
            .iter()
            .filter(|(_, entry)| entry.abort.is_some() && !entry.activity.is_busy())
            .min_by_key(|(_, entry)| entry.activity.last_read())
            .map(|(id, _)| *id)
    }
}

/// Lets a port close one of its connections for a newcomer (see [`Closer::closes`]).
pub struct Closer {
    registry: Arc<Registry>,
    id: u64,
}

impl Closer {
    /// The connection is served by `task`: aborting it closes the connection.
    pub fn closes(self, task: AbortHandle) {
        if let Some(entry) = self.registry.lock().entries.get_mut(&self.id) {
            entry.abort = Some(task);
        }
    }
}

impl Ticket {
    pub(crate) fn closer(&self) -> Closer {
        Closer { registry: self.registry.clone(), id: self.id }
    }

    pub(crate) fn listener(&self) -> &'static str {
        self.registry.name
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut open = self.registry.lock();
        open.entries.remove(&self.id);
        metrics::gauge!("caixa_connections_open", "listener" => self.registry.name)
            .set(open.entries.len() as f64);
    }
}
