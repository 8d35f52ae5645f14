//! The durable inbox of verified Stripe events (`stripe_events`): stored before the
//! webhook is acknowledged, claimed by workers in order per customer, retried with
//! backoff, dead-lettered after too many attempts.

use std::collections::HashSet;

use caixa_entities::stripe_events::{self, Column, Entity as Events, InboxStatus};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, ExprTrait, OnConflict},
};

use super::StoreError;

mod claim;

use crate::stripe::event::StripeEvent;
pub use claim::{Chain, chains, claim, rank, release};

/// A verified event, as the bridge stores it.
pub struct NewEvent {
    /// `evt_...`.
    pub id: String,
    /// Event type.
    pub event_type: String,
    /// Stripe's livemode flag.
    pub livemode: bool,
    /// API version the event was rendered in.
    pub api_version: Option<String>,
    /// Stripe `created`.
    pub created: DateTime<Utc>,
    /// `data.object.id`.
    pub object_id: Option<String>,
    /// The customer the event concerns (the ordering key).
    pub customer_id: Option<String>,
    /// Endpoint that received it.
    pub endpoint_id: Option<uuid::Uuid>,
    /// The raw body.
    pub payload: String,
    /// The `traceparent` of the span that received it, when traces are on.
    pub trace_context: Option<String>,
}

impl NewEvent {
    /// `event`, whose raw JSON is `payload`, as received at `endpoint_id` (none when the
    /// reconciler found it in Stripe's event list).
    pub fn from_event(event: &StripeEvent, payload: String, endpoint_id: Option<uuid::Uuid>) -> Self {
        Self {
            id: event.id.clone(),
            event_type: event.type_name.clone(),
            livemode: event.livemode,
            api_version: event.api_version.clone(),
            created: event.created.unwrap_or_else(Utc::now),
            object_id: event.object_id(),
            customer_id: event.customer(),
            endpoint_id,
            payload,
            trace_context: caixa_runtime::telemetry::trace::traceparent(),
        }
    }
}

/// Stores `event`; returns false when it was already stored (a repeated delivery).
pub async fn insert(db: &impl ConnectionTrait, event: NewEvent) -> Result<bool, StoreError> {
    Ok(insert_many(db, std::slice::from_ref(&event)).await?.first().copied().unwrap_or(false))
}

/// Stores `events` in one statement (one transaction); returns, for each, whether it is
/// new: false for one already stored, or repeated earlier in `events`.
pub async fn insert_many(db: &impl ConnectionTrait, events: &[NewEvent]) -> Result<Vec<bool>, StoreError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let now = Utc::now();
    let mut seen = HashSet::new();
    let first: Vec<bool> = events.iter().map(|e| seen.insert(e.id.clone())).collect();
    let rows: Vec<stripe_events::ActiveModel> =
        events.iter().zip(&first).filter(|(_, first)| **first).map(|(e, _)| row(e, now)).collect();
    let inserted = Events::insert_many(rows)
        .on_conflict(OnConflict::column(stripe_events::Column::Id).do_nothing().to_owned())
        .exec_with_returning_keys(db)
        .await;
    let inserted: HashSet<String> = match inserted {
        Ok(keys) => keys.into_iter().collect(),
        Err(sea_orm::DbErr::RecordNotInserted) => HashSet::new(),
        Err(err) => return Err(err.into()),
    };
    Ok(events.iter().zip(first).map(|(e, first)| first && inserted.contains(&e.id)).collect())
}

fn row(event: &NewEvent, now: DateTime<Utc>) -> stripe_events::ActiveModel {
    stripe_events::ActiveModel {
        id: Set(event.id.clone()),
        livemode: Set(event.livemode),
        event_type: Set(event.event_type.clone()),
        api_version: Set(event.api_version.clone()),
        stripe_created: Set(event.created),
        object_id: Set(event.object_id.clone()),
        customer_id: Set(event.customer_id.clone()),
        endpoint_id: Set(event.endpoint_id),
        payload: Set(event.payload.clone()),
        status: Set(InboxStatus::Received),
        attempts: Set(0),
        next_attempt_at: Set(now),
        locked_by: Set(None),
        locked_until: Set(None),
        last_error: Set(None),
        received_at: Set(now),
        processed_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        trace_context: Set(event.trace_context.clone()),
    }
}

/// Marks claimed events done (`Processed` or `Ignored`), inside the apply transaction.
pub async fn finish(
    db: &impl ConnectionTrait,
    ids: &[&str],
    worker: &str,
    status: InboxStatus,
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    unlocked(Events::update_many())
        .col_expr(Column::Status, Expr::value(status))
        .col_expr(Column::ProcessedAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .col_expr(Column::LastError, Expr::value(None::<String>))
        .filter(Column::Id.is_in(ids.iter().copied()))
        .filter(Column::LockedBy.eq(worker))
        .exec(db)
        .await?;
    Ok(())
}

/// Records a failed attempt: retried after `backoff`, or dead once `attempts` reached
/// `max_attempts`. The error is kept either way.
pub async fn fail(
    db: &impl ConnectionTrait,
    event: &stripe_events::Model,
    worker: &str,
    error: &str,
    max_attempts: i32,
    backoff: Duration,
) -> Result<bool, StoreError> {
    let now = Utc::now();
    let dead = event.attempts >= max_attempts;
    unlocked(Events::update_many())
        .col_expr(Column::Status, Expr::value(if dead { InboxStatus::Dead } else { InboxStatus::Retry }))
        .col_expr(Column::NextAttemptAt, Expr::value(now + backoff))
        .col_expr(Column::LastError, Expr::value(error))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(event.id.as_str()))
        .filter(Column::LockedBy.eq(worker))
        .exec(db)
        .await?;
    Ok(dead)
}

/// Puts a dead (or any finished) event back in the queue for another attempt.
pub async fn replay(db: &impl ConnectionTrait, id: &str) -> Result<bool, StoreError> {
    let now = Utc::now();
    let replayed = Events::update_many()
        .col_expr(Column::Status, Expr::value(InboxStatus::Retry))
        .col_expr(Column::Attempts, Expr::value(0))
        .col_expr(Column::NextAttemptAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(replayed.rows_affected > 0)
}

/// An update that also gives the event's claim back.
fn unlocked(update: sea_orm::UpdateMany<Events>) -> sea_orm::UpdateMany<Events> {
    update
        .col_expr(Column::LockedBy, Expr::value(None::<String>))
        .col_expr(Column::LockedUntil, Expr::value(None::<DateTime<Utc>>))
}

/// Counts per status and the age of the oldest unprocessed event.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct InboxStats {
    /// (status, count), sorted by status.
    pub counts: Vec<(String, i64)>,
    /// Seconds since the oldest event still waiting was received.
    pub oldest_unprocessed_secs: Option<i64>,
}

/// Reads the inbox's counts.
pub async fn stats(db: &impl ConnectionTrait) -> Result<InboxStats, StoreError> {
    let counts: Vec<(InboxStatus, i64)> = Events::find()
        .select_only()
        .column(Column::Status)
        .column_as(Expr::col(Column::Id).count(), "n")
        .group_by(Column::Status)
        .order_by_asc(Column::Status)
        .into_tuple()
        .all(db)
        .await?;
    let counts = counts.into_iter().map(|(status, n)| (status.as_str().to_owned(), n)).collect();
    let oldest = stripe_events::Entity::find()
        .filter(stripe_events::Column::Status.is_in(InboxStatus::PENDING))
        .order_by_asc(stripe_events::Column::ReceivedAt)
        .one(db)
        .await?
        .map(|event| (Utc::now() - event.received_at).num_seconds());
    Ok(InboxStats { counts, oldest_unprocessed_secs: oldest })
}

/// Dead-lettered events, oldest first.
pub async fn dead(db: &impl ConnectionTrait) -> Result<Vec<stripe_events::Model>, StoreError> {
    Ok(Events::find()
        .filter(stripe_events::Column::Status.eq(InboxStatus::Dead))
        .order_by_asc(stripe_events::Column::ReceivedAt)
        .all(db)
        .await?)
}

/// The newest stored events, of `kind` and in `status` when given.
pub async fn recent(
    db: &impl ConnectionTrait,
    kind: Option<&str>,
    status: Option<InboxStatus>,
    limit: u64,
) -> Result<Vec<stripe_events::Model>, StoreError> {
    use sea_orm::QuerySelect;
    let mut query = Events::find().order_by_desc(stripe_events::Column::ReceivedAt).limit(limit);
    if let Some(kind) = kind {
        query = query.filter(stripe_events::Column::EventType.eq(kind));
    }
    if let Some(status) = status {
        query = query.filter(stripe_events::Column::Status.eq(status));
    }
    Ok(query.all(db).await?)
}

/// The stored event `id`.
pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<stripe_events::Model>, StoreError> {
    Ok(Events::find_by_id(id.to_owned()).one(db).await?)
}
