//! Reconciliation: whatever the webhooks missed, billing fetches from Stripe itself.
//!
//! Each pass reads Stripe's events since its cursor and stores every one the inbox lacks
//! (the inbox worker applies them in order, as if delivered). A sweep, on a slower cycle,
//! walks every product, customer and subscription and applies through the one apply path
//! each one whose stored row says something else about access, then checks lapsed trial
//! reservations with Stripe. Every object found different is counted as drift and logged.

use std::sync::Arc;

use chrono::Utc;
use sea_orm::DatabaseConnection;
use tokio::sync::Notify;

use crate::domain::{
    accounts::sessions::{self, SessionCheckError},
    objects::apply::{ApplyError, Fetched, StripeObject, apply},
    objects::intake::Intake,
    objects::stored::{Stored, StoredRows},
};
use crate::{
    revisions::RevisionFeed,
    store::{
        StoreError,
        inbox::{self, NewEvent},
        reconcile, subscriptions,
    },
    stripe::{
        StripeApi, StripeCallError,
        lists::{Listing, Page},
    },
};

/// How far back an events pass reads before its cursor: events created in the same
/// second as the cursor, or listed late, are read again (storing them twice is a no-op).
const OVERLAP_SECONDS: i64 = 300;
/// Stripe keeps events for 30 days.
const EVENT_RETENTION_SECONDS: i64 = 30 * 86_400;

/// Why a pass failed (the next one tries again).
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// Stripe failed.
    #[error(transparent)]
    Stripe(#[from] StripeCallError),
    /// Applying failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// Checking a trial reservation failed.
    #[error(transparent)]
    Session(#[from] SessionCheckError),
    /// Reading or writing the reconciler's own state failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sea_orm::DbErr> for ReconcileError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Store(err.into())
    }
}

/// What one pass found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// False when another replica holds the reconciler's lock (nothing was done).
    pub ran: bool,
    /// Events the inbox lacked, now stored.
    pub missed_events: u64,
    /// Products found different from Stripe, now applied.
    pub products: u64,
    /// Customers found different.
    pub customers: u64,
    /// Subscriptions found different.
    pub subscriptions: u64,
    /// Lapsed trial reservations settled with Stripe.
    pub reservations: u64,
    /// The events cursor after the pass (Stripe time, Unix seconds).
    pub cursor: i64,
}

impl Report {
    /// Objects found different from Stripe, of every kind.
    pub fn drift(&self) -> u64 {
        self.missed_events + self.products + self.customers + self.subscriptions + self.reservations
    }
}

impl Report {
    fn count_of(&mut self, listing: Listing) -> &mut u64 {
        match listing {
            Listing::Products | Listing::Prices => &mut self.products,
            Listing::Customers => &mut self.customers,
            Listing::Subscriptions => &mut self.subscriptions,
        }
    }
}

/// Runs reconciliation passes.
#[derive(Clone)]
pub struct Reconciler {
    db: DatabaseConnection,
    stripe: StripeApi,
    intake: Intake,
    /// Wakes the inbox worker when missed events are stored.
    wakeup: Arc<Notify>,
    feed: RevisionFeed,
    dry_run: bool,
}

impl Reconciler {
    /// A reconciler of `db` against `stripe`.
    pub fn new(db: DatabaseConnection, stripe: StripeApi, wakeup: Arc<Notify>, feed: RevisionFeed) -> Self {
        let intake = Intake::with(&stripe);
        Self { db, stripe, intake, wakeup, feed, dry_run: false }
    }

    /// A reconciler that only counts what it would heal, and changes nothing (lapsed
    /// reservations are not checked either: checking settles them).
    pub fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }

    /// One pass: missed events always, the sweep when `sweep` is set. Only one replica
    /// runs a pass at a time.
    pub async fn pass(&self, sweep: bool) -> Result<Report, ReconcileError> {
        let Some(lock) = reconcile::try_lock(&self.db).await? else {
            return Ok(Report::default());
        };
        let mut report = Report { ran: true, ..Report::default() };
        self.missed_events(&mut report).await?;
        if sweep {
            self.sweep(&mut report).await?;
        }
        if !self.dry_run {
            reconcile::finished(&self.db, Utc::now(), sweep).await?;
        }
        lock.release().await?;
        count(&report);
        Ok(report)
    }

    /// Stores every handled event since the cursor that the inbox lacks.
    async fn missed_events(&self, report: &mut Report) -> Result<(), ReconcileError> {
        let state = reconcile::state(&self.db).await?;
        let oldest = Utc::now().timestamp() - EVENT_RETENTION_SECONDS;
        let since = (state.events_cursor - OVERLAP_SECONDS).max(oldest).max(0);
        let mut newest = state.events_cursor;
        let mut after: Option<String> = None;
        loop {
            let Page { items, next } = self.stripe.events_page(since, after.as_deref()).await?;
            for (event, raw) in items {
                newest = newest.max(event.created.map_or(0, |t| t.timestamp()));
                if event.kind.is_none() {
                    continue;
                }
                let missed = match self.dry_run {
                    true => inbox::find(&self.db, &event.id).await?.is_none(),
                    false => inbox::insert(&self.db, NewEvent::from_event(&event, raw, None)).await?,
                };
                if missed {
                    tracing::info!(event = %event.id, kind = %event.type_name, "missed event recovered from Stripe");
                    report.missed_events += 1;
                }
            }
            match next {
                Some(id) => after = Some(id),
                None => break,
            }
        }
        if !self.dry_run {
            reconcile::advance_cursor(&self.db, newest).await?;
        }
        report.cursor = newest;
        if report.missed_events > 0 {
            self.wakeup.notify_one();
        }
        Ok(())
    }

    /// Applies every product, customer and subscription whose stored row differs from
    /// Stripe's, then settles lapsed reservations.
    async fn sweep(&self, report: &mut Report) -> Result<(), ReconcileError> {
        for listing in [Listing::Products, Listing::Customers, Listing::Subscriptions] {
            let mut after: Option<String> = None;
            loop {
                let Page { items, next } = self.stripe.objects_page(listing, None, after.as_deref()).await?;
                let stored = StoredRows::load(&self.db, &items).await?;
                let mut same = Vec::new();
                for object in items {
                    if stored.compare(&object) == Stored::Same {
                        if let StripeObject::Subscription(sub) = object {
                            same.push(sub.id);
                        }
                    } else {
                        tracing::info!(?listing, id = object.id(), "differed from Stripe; healed");
                        *report.count_of(listing) += 1;
                        if !self.dry_run {
                            self.heal(object).await?;
                        }
                    }
                }
                if !self.dry_run {
                    subscriptions::confirm_unchanged(&self.db, same, Utc::now()).await?;
                }
                match next {
                    Some(id) => after = Some(id),
                    None => break,
                }
            }
        }
        if !self.dry_run {
            report.reservations = sessions::check_lapsed(&self.db, &self.stripe, None).await? as u64;
        }
        Ok(())
    }

    /// Applies what Stripe says now through the one apply path.
    async fn heal(&self, object: StripeObject) -> Result<(), ReconcileError> {
        let objects = self.intake.with_products(&self.db, vec![Fetched::now(object)]).await?;
        if let Some(head) = apply(&self.db, &objects, None).await?.into_iter().max() {
            self.feed.publish(head);
        }
        crate::domain::accounts::links::copy_links(&self.stripe, &objects).await;
        Ok(())
    }
}

/// Exports what a pass found.
fn count(report: &Report) {
    for (kind, n) in [
        ("event", report.missed_events),
        ("product", report.products),
        ("customer", report.customers),
        ("subscription", report.subscriptions),
        ("reservation", report.reservations),
    ] {
        metrics::counter!("caixa_reconcile_drift_total", "kind" => kind).increment(n);
    }
    let now = Utc::now().timestamp();
    metrics::gauge!("caixa_reconcile_last_success_timestamp_seconds").set(now as f64);
    metrics::gauge!("caixa_reconcile_cursor_lag_seconds").set((now - report.cursor).max(0) as f64);
}
