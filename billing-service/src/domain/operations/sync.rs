//! Taking over an existing Stripe account (`sync-stripe`): every product, price, customer
//! and subscription, a page at a time, through the one apply path. Each changed user gets
//! one revision; a subscription that ever had a trial marks its user's (and email's)
//! trial used. A second run changes nothing; an interrupted run continues from its
//! checkpoint.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use sea_orm::{DatabaseConnection, DbBackend};

use crate::domain::{
    objects::apply::{ApplyError, Fetched, apply},
    objects::intake::Intake,
    objects::stored::{Stored, StoredRows},
};
use crate::{
    store::{StoreError, subscriptions, sync},
    stripe::{
        StripeApi, StripeCallError,
        lists::{Listing, Page},
        objects::StripeObject,
    },
};

/// Why a sync stopped with an error (its checkpoint lets the next run continue).
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// Stripe failed (after the client's own retries with backoff).
    #[error(transparent)]
    Stripe(#[from] StripeCallError),
    /// Applying failed.
    #[error(transparent)]
    Apply(#[from] ApplyError),
}

impl From<StoreError> for SyncError {
    fn from(err: StoreError) -> Self {
        Self::Apply(err.into())
    }
}

/// What to sync.
#[derive(Clone, Debug, Default)]
pub struct SyncOptions {
    /// Only these kinds (all when empty).
    pub only: Vec<Listing>,
    /// Only customers and subscriptions created at or after this time (Unix seconds).
    pub since: Option<i64>,
    /// Report what would change; change nothing.
    pub dry_run: bool,
}

/// What a sync did to one kind of object.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    /// Objects billing did not have.
    pub created: u64,
    /// Objects whose stored row said something else.
    pub updated: u64,
    /// Objects already as Stripe has them.
    pub unchanged: u64,
    /// Customers and subscriptions that belong to no user (linked neither by metadata
    /// nor by checkout): `fix-customer-links` can link them.
    pub unlinked: u64,
}

/// What a sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// Per kind, in the order applied.
    pub tallies: Vec<(Listing, Tally)>,
    /// Revisions written (one per user whose access changed).
    pub revisions: u64,
    /// The run continued an interrupted one.
    pub resumed: bool,
    /// The run was stopped before it finished; the next run continues.
    pub interrupted: bool,
}

/// Told how far a sync has come.
pub trait Progress {
    /// `done` objects of `listing` so far, `total` of every kind.
    fn advanced(&self, listing: Listing, done: u64, total: u64);
}

/// Transactions that write one page at once on PostgreSQL.
const WRITERS: usize = 4;

/// Runs syncs.
pub struct Syncer {
    db: DatabaseConnection,
    stripe: StripeApi,
    intake: Intake,
}

impl Syncer {
    /// A syncer of `db` from `stripe`.
    pub fn new(db: DatabaseConnection, stripe: StripeApi) -> Self {
        let intake = Intake::with(&stripe);
        Self { db, stripe, intake }
    }

    /// Syncs until done, or until `stop` is set (checked between pages).
    pub async fn run(
        &self,
        options: &SyncOptions,
        progress: &dyn Progress,
        stop: &AtomicBool,
    ) -> Result<SyncSummary, SyncError> {
        let checkpoints = sync::checkpoints(&self.db).await?;
        let mut summary = SyncSummary { resumed: !checkpoints.is_empty(), ..SyncSummary::default() };
        let mut total = 0;
        // Statistics are refreshed whenever the objects applied have doubled since the
        // last time (`sync::analyze` says why): a few times a run, whatever its size.
        let mut analyze_at = 100;
        for listing in Listing::ALL {
            if !options.only.is_empty() && !options.only.contains(&listing) {
                continue;
            }
            let checkpoint = checkpoints.iter().find(|c| c.object_type == listing.name());
            if checkpoint.is_some_and(|c| c.completed) {
                continue;
            }
            let mut after = checkpoint.and_then(|c| c.starting_after.clone());
            let mut tally = Tally::default();
            let mut page = self.stripe.objects_page(listing, options.since, after.as_deref()).await?;
            loop {
                if stop.load(Ordering::Relaxed) {
                    summary.tallies.push((listing, tally));
                    summary.interrupted = true;
                    return Ok(summary);
                }
                let Page { items, next } = page;
                let last = items.last().map(|o| o.id().to_owned());
                // The next page is fetched while this one applies: the walk waits on
                // Stripe's list latency otherwise.
                let prefetch = async {
                    match &next {
                        Some(id) => Some(self.stripe.objects_page(listing, options.since, Some(id)).await),
                        None => None,
                    }
                };
                let work = self.apply_page(items, options, &mut tally, &mut total);
                let (revisions, fetched) = tokio::join!(work, prefetch);
                summary.revisions += revisions?;
                if !options.dry_run && total >= analyze_at {
                    sync::analyze(&self.db).await?;
                    analyze_at = total * 2;
                }
                progress.advanced(listing, tally.created + tally.updated + tally.unchanged, total);
                if !options.dry_run {
                    let at = last.as_deref().or(after.as_deref());
                    sync::save(&self.db, listing.name(), at, next.is_none()).await?;
                }
                match (fetched, next) {
                    (Some(fetched), Some(id)) => {
                        after = Some(id);
                        page = fetched?;
                    }
                    _ => break,
                }
            }
            summary.tallies.push((listing, tally));
        }
        if !options.dry_run {
            // The service's own connections plan by these statistics next.
            sync::analyze(&self.db).await?;
            sync::clear(&self.db).await?;
        }
        Ok(summary)
    }

    /// Classifies and tallies one page, and applies what changed (unless a dry run);
    /// returns the revisions written.
    async fn apply_page(
        &self,
        items: Vec<StripeObject>,
        options: &SyncOptions,
        tally: &mut Tally,
        total: &mut u64,
    ) -> Result<u64, SyncError> {
        let stored_rows = StoredRows::load(&self.db, &items).await?;
        let mut changed = Vec::new();
        let mut same = Vec::new();
        for object in items {
            *total += 1;
            let stored = stored_rows.compare(&object);
            match stored {
                Stored::Missing => tally.created += 1,
                Stored::Different => tally.updated += 1,
                Stored::Same => tally.unchanged += 1,
            }
            if stored_rows.unlinked(&object) {
                tally.unlinked += 1;
            }
            match (stored, object) {
                (Stored::Same, StripeObject::Subscription(sub)) => same.push(sub.id),
                (Stored::Same, _) => {}
                (_, object) => changed.push(Fetched::now(object)),
            }
        }
        if options.dry_run {
            return Ok(0);
        }
        subscriptions::confirm_unchanged(&self.db, same, Utc::now()).await?;
        if changed.is_empty() {
            return Ok(0);
        }
        let mut objects = self.intake.with_products(&self.db, changed).await?;
        // Products a page's subscriptions lack are stored first: a state computed beside
        // an uncommitted product would miss its features.
        let split = objects.iter().take_while(|f| matches!(f.object, StripeObject::Product(_))).count();
        let rest = objects.split_off(split);
        let mut revisions = 0;
        if !objects.is_empty() {
            revisions += apply(&self.db, &objects, None).await?.len();
        }
        // On PostgreSQL a page is written by several transactions at once: each waits on
        // its round trips, and they meet only at the revision counter, taken just before
        // commit. SQLite has one writer.
        let writers = match self.db.get_database_backend() {
            DbBackend::Postgres => WRITERS,
            _ => 1,
        };
        let parts = rest.chunks(rest.len().div_ceil(writers).max(1)).map(|part| apply(&self.db, part, None));
        for written in futures_util::future::join_all(parts).await {
            revisions += written?.len();
        }
        crate::domain::accounts::links::copy_links(&self.stripe, &rest).await;
        Ok(revisions as u64)
    }
}
