//! The webhook endpoints and their signing secrets, held in memory so that a delivery
//! costs no database read before its signature is checked: a flood of forged or
//! misaddressed deliveries then costs CPU for an HMAC, not a connection from the pool
//! that good deliveries need to store their events.
//!
//! The table is small (a row per registered endpoint) and read whole. It is re-read
//! when older than `WEBHOOK_ENDPOINTS_REFRESH_SECONDS`, and sooner (at most once a
//! second) when a delivery names an unknown endpoint or fails every secret, so that a
//! newly registered endpoint or a rotated secret is seen within a second of its first
//! delivery. A disabled endpoint or an expired secret stops verifying within the
//! refresh period.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use secrecy::SecretString;

use crate::store::{StoreError, endpoints};

/// The shortest time between two re-reads caused by deliveries.
const MIN_GAP: Duration = Duration::from_secs(1);

/// One endpoint as a delivery needs it.
#[derive(Clone)]
pub struct Endpoint {
    /// The stored endpoint's uuid; `None` for the configured default secret.
    pub id: Option<uuid::Uuid>,
    /// Its secrets, each with the time it stops verifying (the previous one's expiry).
    pub secrets: Vec<(SecretString, Option<DateTime<Utc>>)>,
    /// The mode of the events it accepts.
    pub livemode: bool,
}

impl Endpoint {
    /// The secrets that verify at `now`.
    pub fn secrets_at(&self, now: DateTime<Utc>) -> impl Iterator<Item = &SecretString> {
        self.secrets.iter().filter(move |(_, until)| until.is_none_or(|u| u > now)).map(|(s, _)| s)
    }
}

struct Snapshot {
    loaded: Instant,
    endpoints: HashMap<uuid::Uuid, Arc<Endpoint>>,
}

/// The endpoints, re-read from the database as described above.
pub struct EndpointCache {
    db: DatabaseConnection,
    max_age: Duration,
    snapshot: RwLock<Option<Arc<Snapshot>>>,
    /// One re-read at a time; callers that waited use its result.
    reload: tokio::sync::Mutex<()>,
}

impl EndpointCache {
    /// An empty cache over `db`, re-read when older than `max_age`.
    pub fn new(db: DatabaseConnection, max_age: Duration) -> Self {
        Self { db, max_age, snapshot: RwLock::new(None), reload: tokio::sync::Mutex::new(()) }
    }

    /// The enabled endpoint `id`. `recheck` asks for a re-read unless one happened in the
    /// last second (the caller's copy was unknown or did not verify).
    pub async fn get(&self, id: uuid::Uuid, recheck: bool) -> Result<Option<Arc<Endpoint>>, StoreError> {
        let wanted = if recheck { MIN_GAP } else { self.max_age };
        let snapshot = match self.current().filter(|s| s.loaded.elapsed() < wanted) {
            Some(fresh) => fresh,
            None => self.reload(wanted).await?,
        };
        Ok(snapshot.endpoints.get(&id).cloned())
    }

    fn current(&self) -> Option<Arc<Snapshot>> {
        self.snapshot.read().ok().and_then(|s| s.clone())
    }

    async fn reload(&self, wanted: Duration) -> Result<Arc<Snapshot>, StoreError> {
        let _one_at_a_time = self.reload.lock().await;
        if let Some(fresh) = self.current().filter(|s| s.loaded.elapsed() < wanted) {
            return Ok(fresh);
        }
        let rows = match endpoints::list(&self.db).await {
            Ok(rows) => rows,
            Err(err) => {
                // A stale table beats refusing every delivery while the database is away.
                if let Some(stale) = self.current() {
                    tracing::warn!(error = %err, "cannot re-read webhook endpoints; using the last read");
                    return Ok(stale);
                }
                return Err(err);
            }
        };
        let endpoints = rows
            .into_iter()
            .filter(|row| row.enabled)
            .map(|row| {
                let mut secrets = vec![(SecretString::from(row.secret), None)];
                if let (Some(previous), Some(until)) = (row.previous_secret, row.previous_secret_expires_at) {
                    secrets.push((SecretString::from(previous), Some(until)));
                }
                (row.id, Arc::new(Endpoint { id: Some(row.id), secrets, livemode: row.livemode }))
            })
            .collect();
        let snapshot = Arc::new(Snapshot { loaded: Instant::now(), endpoints });
        if let Ok(mut slot) = self.snapshot.write() {
            *slot = Some(snapshot.clone());
        }
        Ok(snapshot)
    }
}
