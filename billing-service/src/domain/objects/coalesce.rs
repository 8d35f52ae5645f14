//! A customer's backlog settled in one pass. When Stripe redelivers after an outage a
//! customer has many pending events, most naming the same few objects; refetching each
//! object once, after every event naming it was received, yields what refetching per
//! event would have ended at, for a fraction of Stripe's rate limit. The objects apply in
//! the order the events first named them, in one transaction that also settles the
//! events.

use caixa_entities::stripe_events::{self, InboxStatus};
use futures_util::future::join_all;
use sea_orm::DatabaseConnection;

use super::{
    apply::{ApplyError, Fetched, Settles, apply},
    intake::{Intake, Settled},
};
use crate::stripe::event::{StripeEvent, Target};

/// What settling a chain of events did.
#[derive(Debug, Default)]
pub struct ChainSettled {
    /// Revisions written (one per user whose state changed).
    pub revisions: Vec<caixa_types::Revision>,
    /// Events applied.
    pub processed: usize,
    /// Events of kinds billing does not act on.
    pub ignored: usize,
    /// Stripe objects refetched for them (one request each, however many events named
    /// the object).
    pub fetched: usize,
    /// The event that failed (by its place in the chain) and why: it and the events
    /// after it were not settled.
    pub stopped: Option<(usize, ApplyError)>,
}

impl ChainSettled {
    /// A chain whose first event failed.
    fn failed(err: ApplyError) -> Self {
        Self { stopped: Some((0, err)), ..Self::default() }
    }

    fn single(settled: Settled) -> Self {
        let ignored = usize::from(settled.ignored.is_some());
        Self { revisions: settled.revisions, processed: 1 - ignored, ignored, ..Self::default() }
    }
}

/// One object the chain names: the event that first named it (where it applies) and
/// the event that stands for it (whose payload stands in when Stripe cannot be asked).
struct Slot {
    first: usize,
    source: usize,
    target: Target,
}

impl Intake {
    /// Settles claimed `rows`, one customer's (or one object's) events in apply order.
    /// A single event takes [`Intake::settle`], which may apply it from its payload at
    /// once; several are coalesced: each object they name is refetched once.
    #[tracing::instrument(name = "settle events", level = "debug", skip_all, fields(events = rows.len()))]
    pub async fn settle_chain(
        &self,
        db: &DatabaseConnection,
        rows: &[stripe_events::Model],
        worker: &str,
    ) -> ChainSettled {
        match rows {
            [] => ChainSettled::default(),
            [row] => {
                self.settle(db, row, worker).await.map_or_else(ChainSettled::failed, ChainSettled::single)
            }
            _ => self.coalesce(db, rows, worker).await,
        }
    }

    async fn coalesce(
        &self,
        db: &DatabaseConnection,
        rows: &[stripe_events::Model],
        worker: &str,
    ) -> ChainSettled {
        let mut events = Vec::with_capacity(rows.len());
        let mut statuses = Vec::with_capacity(rows.len());
        let mut slots: Vec<Slot> = Vec::new();
        let mut stopped = None;
        for (at, row) in rows.iter().enumerate() {
            let event = match StripeEvent::parse(row.payload.as_bytes()) {
                Ok(event) => event,
                Err(err) => {
                    stopped = Some((at, ApplyError::BadPayload(err.to_string())));
                    break;
                }
            };
            match event.target(self.keys()) {
                None => statuses.push(InboxStatus::Ignored),
                Some(target) => {
                    statuses.push(InboxStatus::Processed);
                    let named =
                        target.key().and_then(|key| slots.iter_mut().find(|s| s.target.key() == Some(key)));
                    match named {
                        Some(slot) if slot.target.yields_to(&target) => {
                            (slot.source, slot.target) = (at, target)
                        }
                        Some(_) => {}
                        None => slots.push(Slot { first: at, source: at, target }),
                    }
                }
            }
            events.push(event);
        }
        let fetches = slots.iter().map(|slot| {
            let (event, created) = (&events[slot.source], rows[slot.source].stripe_created);
            self.fetch(event, slot.target.clone(), created)
        });
        let mut objects = Vec::with_capacity(slots.len());
        for (slot, fetched) in slots.iter().zip(join_all(fetches).await) {
            match fetched {
                Ok(object) => objects.push((slot.first, object)),
                Err(err) if stopped.as_ref().is_none_or(|(at, _)| slot.first < *at) => {
                    stopped = Some((slot.first, err));
                }
                Err(_) => {}
            }
        }
        let cut = stopped.as_ref().map_or(rows.len(), |(at, _)| *at);
        let objects: Vec<Fetched> =
            objects.into_iter().filter(|(first, _)| *first < cut).map(|(_, o)| o).collect();
        // Targets without a key apply from their own payload: no request was made.
        let fetched = slots.iter().filter(|slot| slot.target.key().is_some()).count();
        let settled: Vec<(&str, InboxStatus)> =
            rows.iter().zip(&statuses).take(cut).map(|(row, status)| (row.id.as_str(), *status)).collect();
        if settled.is_empty() {
            return ChainSettled { fetched, stopped, ..ChainSettled::default() };
        }
        let applied = match self.with_products(db, objects).await {
            Ok(objects) => {
                let settles = Settles { events: &settled, worker, then: None };
                apply(db, &objects, Some(settles)).await.map(|revisions| (revisions, objects))
            }
            Err(err) => Err(err),
        };
        match applied {
            Ok((revisions, objects)) => {
                self.copy_links(&objects).await;
                let ignored = settled.iter().filter(|(_, status)| *status == InboxStatus::Ignored).count();
                ChainSettled { revisions, processed: settled.len() - ignored, ignored, fetched, stopped }
            }
            // Nothing was written: the chain stops at its first event.
            Err(err) => ChainSettled { fetched, ..ChainSettled::failed(err) },
        }
    }
}
