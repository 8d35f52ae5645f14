//! The inbox worker: claims each customer's due events (oldest first, customers in
//! parallel), settles each customer's chain with one refetch per object through the one
//! apply path, retries failures with exponential backoff and dead-letters them after too
//! many attempts.

use std::{sync::Arc, time::Duration};

use caixa_runtime::{grpc::ServeError, shutdown::DrainSignal};
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::{sync::Notify, task::JoinSet};
use tracing::Instrument;

use crate::{config::InboxSettings, domain::objects::intake::Intake, revisions::RevisionFeed, store::inbox};

/// Everything the worker needs.
pub struct Worker {
    /// The database.
    pub db: DatabaseConnection,
    /// Fetches what an event concerns and applies it.
    pub intake: Intake,
    /// Where committed revisions are announced.
    pub feed: RevisionFeed,
    /// Woken by the webhook bridge when an event is stored.
    pub wakeup: Arc<Notify>,
    /// Tuning.
    pub settings: InboxSettings,
}

impl Worker {
    /// Runs until the drain, finishing the events in hand.
    ///
    /// Events are applied as a pipeline, not in rounds: whenever one finishes (or the
    /// bridge stores a new one) the free slots are claimed again, so a new customer's
    /// first event never waits behind another customer's slow one. Each event is its own
    /// task, so events in flight keep going (and keep their database connections moving)
    /// while the loop claims more.
    pub async fn run(self, drain: DrainSignal) -> Result<(), ServeError> {
        let id = format!("billing-{}", uuid::Uuid::new_v4().simple());
        // SQLite has one writer; parallel appliers would only wait on each other.
        let concurrency = if self.db.get_database_backend() == DbBackend::Sqlite {
            1
        } else {
            self.settings.concurrency.max(1)
        };
        let lease = chrono::Duration::from_std(self.settings.lease).unwrap_or(chrono::Duration::seconds(60));
        let drained = drain.wait();
        tokio::pin!(drained);
        let reporter = tokio::spawn(report_every(self.db.clone(), REPORT_PERIOD));
        tracing::info!(worker = %id, concurrency, "inbox worker started");
        let this = Arc::new(self);
        let mut in_flight = JoinSet::new();
        loop {
            let free = concurrency.saturating_sub(in_flight.len());
            // Claim when half the slots are free, not for each slot as it frees: fewer,
            // larger claims under a backlog.
            if free > 0 && (in_flight.is_empty() || free >= concurrency.div_ceil(2)) {
                let sizes = (free as u64, (free * CHAIN_CAP) as u64);
                match inbox::claim(&this.db, &id, sizes, lease).await {
                    Ok(events) => {
                        for chain in inbox::chains(events) {
                            let (this, id) = (this.clone(), id.clone());
                            let span = chain.first().map_or_else(tracing::Span::current, apply_span);
                            in_flight.spawn(async move { this.process(&chain, &id).await }.instrument(span));
                        }
                    }
                    Err(err) => tracing::warn!(error = %err, "cannot claim inbox events"),
                }
            }
            tokio::select! {
                () = &mut drained => break,
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                () = this.wakeup.notified() => {}
                () = tokio::time::sleep(this.settings.poll) => {}
            }
        }
        while in_flight.join_next().await.is_some() {}
        reporter.abort();
        Ok(())
    }

    /// Settles one claimed chain: publishes what it wrote, records the failure of the
    /// event it stopped at and gives back the events behind that one.
    async fn process(&self, chain: &inbox::Chain, worker: &str) {
        let settled = self.intake.settle_chain(&self.db, chain, worker).await;
        if let Some(head) = settled.revisions.iter().max() {
            self.feed.publish(*head);
        }
        metrics::counter!("caixa_inbox_events_total", "outcome" => "processed")
            .increment(settled.processed as u64);
        metrics::counter!("caixa_inbox_events_total", "outcome" => "ignored")
            .increment(settled.ignored as u64);
        if chain.len() > 1 {
            metrics::counter!("caixa_inbox_coalesced_events_total")
                .increment((settled.processed + settled.ignored) as u64);
            metrics::counter!("caixa_inbox_coalesced_fetches_total").increment(settled.fetched as u64);
        }
        tracing::debug!(events = chain.len(), processed = settled.processed, ignored = settled.ignored, fetched = settled.fetched, revisions = ?settled.revisions, "events applied");
        let Some((at, err)) = settled.stopped else { return };
        let (Some(event), behind) = (chain.get(at), chain.get(at + 1..).unwrap_or_default()) else { return };
        let backoff = backoff(self.settings.retry_base, event.attempts);
        let failed = inbox::fail(
            &self.db,
            event,
            worker,
            &err.to_string(),
            self.settings.max_attempts,
            chrono::Duration::from_std(backoff).unwrap_or_default(),
        )
        .await;
        // When even the failure cannot be recorded, the claim lapses and another pass
        // (or replica) takes the events again: said, not dropped.
        let outcome = match failed {
            Ok(true) => "dead",
            Ok(false) => "retry",
            Err(record) => {
                tracing::error!(event = %event.id, error = %record, "the event's failure could not be recorded; its claim will lapse");
                "unrecorded"
            }
        };
        metrics::counter!("caixa_inbox_events_total", "outcome" => outcome).increment(1);
        tracing::warn!(event = %event.id, kind = %event.event_type, attempts = event.attempts, error = %err, outcome, "event not applied");
        let behind: Vec<&str> = behind.iter().map(|e| e.id.as_str()).collect();
        if let Err(err) = inbox::release(&self.db, &behind, worker).await {
            tracing::error!(events = behind.len(), error = %err, "events behind a failed one could not be given back; their claim will lapse");
        }
    }
}

/// Events a claim may take per free slot, in all: a claim for N customers takes at most
/// N × this many, the oldest first, so a customer with a longer backlog gets a prefix
/// now and the rest in a later claim.
const CHAIN_CAP: usize = 64;

/// The span of applying one inbox event: in the trace of the delivery that stored it
/// when traces are on, else the worker's own span (for the logs).
fn apply_span(event: &caixa_entities::stripe_events::Model) -> tracing::Span {
    use caixa_runtime::telemetry::trace;
    if !trace::enabled() {
        return tracing::Span::current();
    }
    let span = tracing::info_span!("apply event", event_id = %event.id, event_type = %event.event_type);
    trace::continue_from(&span, event.trace_context.as_deref());
    span
}

/// How often the inbox gauges are refreshed.
const REPORT_PERIOD: Duration = Duration::from_secs(5);

/// Refreshes the inbox gauges, apart from the worker so that counting never delays an
/// event.
async fn report_every(db: DatabaseConnection, period: Duration) {
    let mut ticks = tokio::time::interval(period);
    loop {
        ticks.tick().await;
        if let Ok(stats) = inbox::stats(&db).await {
            for (status, count) in &stats.counts {
                metrics::gauge!("caixa_inbox_events", "status" => status.clone()).set(*count as f64);
            }
            metrics::gauge!("caixa_inbox_oldest_unprocessed_seconds")
                .set(stats.oldest_unprocessed_secs.unwrap_or(0) as f64);
        }
    }
}

/// `base`, doubled per attempt so far, capped at one hour.
fn backoff(base: Duration, attempts: i32) -> Duration {
    let factor = 2u32.saturating_pow(u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(20));
    base.saturating_mul(factor).min(Duration::from_secs(3600))
}
