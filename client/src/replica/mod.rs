//! `LocalReplica`: every user's entitlements in the caller's memory, loaded from the
//! entitlement service's `WatchEntitlements` (every user's state, then a heartbeat that
//! marks the snapshot whole) and kept current from the same stream. `check` runs the
//! shared access policy at call time, exactly as the service does, so trial ends and
//! grace periods need no message to take effect.
//!
//! Staleness is bounded: when nothing (change or heartbeat; the service sends one every
//! 5 s when idle) has arrived for `max_staleness`, `check` answers `None` and the caller
//! falls back to an RPC (the guard does) or its fail mode. After a lost stream it
//! reconnects and asks for the changes after the last revision it applied, so no change
//! is missed across a restart of the service.

mod entry;
mod follow;
mod index;
mod pages;
mod table;

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use caixa_policy::Policy;
use caixa_types::Revision;

use crate::{Access, ClientConfig, ClientError, transport::Pool};
use table::{BATCH, Entry, Table};

/// `user` and `feature` as the service reads them, or `None` when it would refuse either.
fn valid<'a>(user: &'a str, feature: &'a str) -> Option<(&'a str, &'a str)> {
    Some((caixa_types::input::user_id(user).ok()?, caixa_types::input::feature(feature).ok()?))
}

/// The service sends a heartbeat every 5 s on an idle stream.
const SILENCE: Duration = Duration::from_secs(12);

/// How a replica decides and how stale it may get.
#[derive(Clone, Debug)]
pub struct ReplicaConfig {
    /// Past this long without a message from the service, `check` answers `None`.
    pub max_staleness: Duration,
    /// The service's `STALENESS_BOUND_SECONDS`: once the service's data is older than
    /// this (it lost billing), answers say `stale`, as the service's do.
    pub staleness_bound: Duration,
    /// The service's `STALE_DENY_FEATURES`: denied with reason `STALE` while stale.
    pub stale_deny_features: Vec<String>,
    /// The policy's grace periods; must equal the service's (`ACCESS_GRACE_DAYS`,
    /// `TRIAL_END_GRACE_SECONDS`).
    pub policy: Policy,
    /// How long [`LocalReplica::start`] waits for the first complete snapshot.
    pub load_timeout: Duration,
}

impl Default for ReplicaConfig {
    fn default() -> Self {
        Self {
            max_staleness: Duration::from_secs(30),
            staleness_bound: Duration::from_secs(30),
            stale_deny_features: Vec::new(),
            policy: Policy::default(),
            load_timeout: Duration::from_secs(60),
        }
    }
}

struct Shared {
    users: Table,
    revision: AtomicU64,
    /// Milliseconds since `epoch` of the last message.
    contact_ms: AtomicI64,
    epoch: Instant,
    /// A coarse clock (Unix seconds) and freshness, kept by a ticker, so that a check
    /// reads two atomics instead of the system clock (which costs more than the check
    /// itself on some virtual machines).
    clock: AtomicI64,
    fresh: AtomicBool,
    /// Unix seconds the service's data is current as of (its last contact with billing),
    /// from its heartbeats; `i64::MAX` until one says.
    as_of: AtomicI64,
    config: ReplicaConfig,
}

/// An in-process replica of the entitlement service's answers. Cheap to clone.
#[derive(Clone)]
pub struct LocalReplica {
    shared: Arc<Shared>,
    /// Dropped with the last handle, which ends the task that follows the service (and
    /// closes its stream) at once.
    _alive: Arc<tokio::sync::oneshot::Sender<()>>,
}

impl LocalReplica {
    /// Loads every user's entitlements from the service at `urls` and keeps following
    /// it in a background task; returns once the snapshot is whole.
    pub async fn start(
        urls: &[&str],
        client: ClientConfig,
        config: ReplicaConfig,
    ) -> Result<Self, ClientError> {
        let pool = Pool::new(urls, client)?;
        let shared = Arc::new(Shared {
            users: Table::default(),
            revision: AtomicU64::new(0),
            contact_ms: AtomicI64::new(i64::MIN / 2),
            epoch: Instant::now(),
            clock: AtomicI64::new(now()),
            fresh: AtomicBool::new(false),
            as_of: AtomicI64::new(i64::MAX),
            config: config.clone(),
        });
        let (loaded_tx, loaded) = tokio::sync::oneshot::channel();
        let (alive, gone) = tokio::sync::oneshot::channel();
        tokio::spawn(follow::follow(pool, shared.clone(), loaded_tx, gone));
        tokio::spawn(tick(Arc::downgrade(&shared)));
        match tokio::time::timeout(config.load_timeout, loaded).await {
            Ok(Ok(())) => Ok(Self { shared, _alive: Arc::new(alive) }),
            _ => Err(ClientError::Unavailable(tonic::Status::unavailable(
                "the entitlement snapshot did not load in time",
            ))),
        }
    }

    /// May `user` use `feature` now, decided here; `None` when the replica is stale (ask
    /// the service instead).
    pub fn check(&self, user: &str, feature: &str) -> Option<Access> {
        self.check_at(user, feature, self.shared.clock.load(Ordering::Relaxed))
    }

    /// As [`Self::check`], at `now` (Unix seconds). The ids are read as the service reads
    /// them (surrounding whitespace is not part of a user id); one the service would
    /// refuse is `None`, left to the service to answer.
    pub fn check_at(&self, user: &str, feature: &str, now: i64) -> Option<Access> {
        if !self.is_fresh() {
            return None;
        }
        let (user, feature) = valid(user, feature)?;
        let revision = Revision::new(self.shared.revision.load(Ordering::Acquire));
        let users = self.shared.users.read();
        Some(self.decide(users.get(user), feature, now, revision))
    }

    /// As [`Self::check`], but `None` also while the replica has not yet applied
    /// `revision`: read your writes. A caller that just learnt a revision (from
    /// `SyncCheckoutSession`, say) passes it, and asks the service while this copy
    /// catches up, rather than refuse a user who has just paid.
    pub fn check_at_least(&self, user: &str, feature: &str, revision: impl Into<Revision>) -> Option<Access> {
        let access = self.check(user, feature)?;
        (access.revision >= revision.into()).then_some(access)
    }

    /// Several `(user, feature)` checks at once, answered in order; `None` when the
    /// replica is stale, or when the service would refuse any of the ids. Faster per
    /// check than [`Self::check`]: one look at the table for all, and each group of users is
    /// looked up before any of them is decided, so their cache misses overlap instead of
    /// queueing one behind the other.
    pub fn check_many(&self, checks: &[(&str, &str)]) -> Option<Vec<Access>> {
        if !self.is_fresh() {
            return None;
        }
        let now = self.shared.clock.load(Ordering::Relaxed);
        let revision = Revision::new(self.shared.revision.load(Ordering::Acquire));
        let users = self.shared.users.read();
        let mut answers = Vec::with_capacity(checks.len());
        for raw in checks.chunks(BATCH) {
            let mut read = [("", ""); BATCH];
            for (slot, (user, feature)) in read.iter_mut().zip(raw) {
                *slot = valid(user, feature)?;
            }
            let batch = &read[..raw.len()];
            let ids: [&str; BATCH] = std::array::from_fn(|i| batch.get(i).map_or("", |(user, _)| *user));
            let mut entries = [None; BATCH];
            users.get_many(&ids[..batch.len()], &mut entries);
            for (&(_, feature), entry) in batch.iter().zip(entries) {
                answers.push(self.decide(entry, feature, now, revision));
            }
        }
        Some(answers)
    }

    /// The policy's answer for a user's entry (none: no subscription).
    fn decide(&self, entry: Option<&Entry>, feature: &str, now: i64, revision: Revision) -> Access {
        let subscriptions = entry.map_or(&[][..], |e| e.subscriptions());
        let feature = Some(feature).filter(|f| !f.is_empty());
        let config = &self.shared.config;
        let decision = config.policy.decide(subscriptions, feature, now);
        let bound = i64::try_from(config.staleness_bound.as_secs()).unwrap_or(i64::MAX);
        let stale = now.saturating_sub(self.shared.as_of.load(Ordering::Relaxed)) > bound;
        let mut access = Access {
            allowed: decision.allowed,
            reason: decision.reason,
            status: decision.status,
            access_until: decision.access_until,
            subscription_id: decision.subscription.map(|s| s.stripe_id().clone()),
            revision,
            stale,
            degraded: false,
            limit: decision.limit,
            seats: decision.seats,
        };
        // As the service answers: a feature that must not be given away on old data.
        if stale && feature.is_some_and(|f| config.stale_deny_features.iter().any(|d| d == f)) {
            access.allowed = false;
            access.reason = crate::proto::AccessReason::Stale;
            access.access_until = None;
            access.limit = None;
            access.seats = 0;
        }
        access
    }

    /// Whether the last message from the service is within `max_staleness` (as of the
    /// ticker's last look, at most [`TICK`] ago).
    pub fn is_fresh(&self) -> bool {
        self.shared.fresh.load(Ordering::Acquire)
    }

    /// The newest revision applied.
    pub fn revision(&self) -> Revision {
        Revision::new(self.shared.revision.load(Ordering::Acquire))
    }

    /// How many users are held.
    pub fn users(&self) -> usize {
        self.shared.users.len()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// How often the coarse clock and freshness are refreshed.
pub const TICK: Duration = Duration::from_millis(100);

/// Keeps the clock and freshness current for as long as the replica lives.
async fn tick(shared: std::sync::Weak<Shared>) {
    let mut ticks = tokio::time::interval(TICK);
    loop {
        ticks.tick().await;
        let Some(shared) = shared.upgrade() else { return };
        shared.clock.store(now(), Ordering::Relaxed);
        shared.refresh_freshness();
        let since_ms = shared.epoch.elapsed().as_millis() as i64 - shared.contact_ms.load(Ordering::Acquire);
        metrics::gauge!("caixa_replica_contact_age_seconds").set(since_ms.max(0) as f64 / 1000.0);
        metrics::gauge!("caixa_replica_revision").set(shared.revision.load(Ordering::Acquire) as f64);
    }
}

impl Shared {
    fn touch(&self) {
        self.contact_ms.store(self.epoch.elapsed().as_millis() as i64, Ordering::Release);
        self.refresh_freshness();
    }

    fn refresh_freshness(&self) {
        let since = self.epoch.elapsed().as_millis() as i64 - self.contact_ms.load(Ordering::Acquire);
        let fresh = since <= self.config.max_staleness.as_millis() as i64;
        self.fresh.store(fresh, Ordering::Release);
    }
}
