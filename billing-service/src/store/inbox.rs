//! The durable inbox of verified Stripe events (`stripe_events`): stored before the
//! webhook is acknowledged, claimed by workers in order per customer, retried with
//! backoff, dead-lettered after too many attempts.

use std::collections::HashSet;

use caixa_entities::stripe_events::{self, Entity as Events, InboxStatus};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QueryResult, sea_query::OnConflict,
};

use super::{StoreError, statement};
use crate::stripe::event::StripeEvent;

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

/// Where an event stands among a customer's events of the same second (Stripe stamps
/// events in whole seconds and their ids carry no order): in the order their objects
/// come to be, the customer, then its subscription, then its checkout session, then the
/// rest (invoices, entitlements). A subscription's own event, which can apply from its
/// payload, then comes before the invoice events that must ask Stripe.
fn rank(alias: &str) -> String {
    format!(
        "(CASE WHEN {alias}.event_type LIKE 'customer.subscription.%' THEN 1 \
               WHEN {alias}.event_type LIKE 'customer.%' THEN 0 \
               WHEN {alias}.event_type LIKE 'checkout.session.%' THEN 2 ELSE 3 END)"
    )
}

/// Claims up to `limit` events for `worker`: due ones, and ones whose claim lapsed (a
/// worker died), but only the oldest pending event of each customer (by [`rank`] within
/// a second), so one customer's events apply in order while different customers proceed
/// in parallel. On PostgreSQL `SKIP LOCKED` lets several billing replicas claim side by
/// side.
pub async fn claim(
    db: &impl ConnectionTrait,
    worker: &str,
    limit: u64,
    lease: Duration,
) -> Result<Vec<stripe_events::Model>, StoreError> {
    let now = Utc::now();
    let lock = if db.get_database_backend() == DbBackend::Postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
    let sql = format!(
        "UPDATE stripe_events SET status = '{processing}', locked_by = $1, locked_until = $2, \
             attempts = attempts + 1, updated_at = $3 \
         WHERE id IN ( \
             SELECT e.id FROM stripe_events e \
             WHERE ((e.status IN ('{received}', '{retry}') AND e.next_attempt_at <= $3) \
                    OR (e.status = '{processing}' AND e.locked_until < $3)) \
               AND NOT EXISTS ( \
                   SELECT 1 FROM stripe_events p \
                   WHERE p.customer_id = e.customer_id \
                     AND p.status IN ('{received}', '{retry}', '{processing}') \
                     AND (p.stripe_created < e.stripe_created \
                          OR (p.stripe_created = e.stripe_created AND {rank_p} < {rank_e}) \
                          OR (p.stripe_created = e.stripe_created AND {rank_p} = {rank_e} AND p.id < e.id))) \
             ORDER BY e.stripe_created, {rank_e}, e.id LIMIT $4 {lock}) \
         RETURNING *",
        rank_p = rank("p"),
        rank_e = rank("e"),
        // The enum's own spellings: the statuses cannot drift from the column's values.
        processing = InboxStatus::Processing.as_str(),
        received = InboxStatus::Received.as_str(),
        retry = InboxStatus::Retry.as_str(),
    );
    let stmt = statement(
        db,
        &sql,
        vec![worker.into(), (now + lease).into(), now.into(), i64::try_from(limit).unwrap_or(32).into()],
    );
    let rows = db.query_all_raw(stmt).await?;
    let mut events = rows
        .iter()
        .map(|row| stripe_events::Model::from_query_result(row, ""))
        .collect::<Result<Vec<_>, _>>()?;
    events.sort_by(|a, b| (a.stripe_created, &a.id).cmp(&(b.stripe_created, &b.id)));
    Ok(events)
}

/// Marks a claimed event done (`Processed` or `Ignored`), inside the apply transaction.
pub async fn finish(
    db: &impl ConnectionTrait,
    id: &str,
    worker: &str,
    status: InboxStatus,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let stmt = statement(
        db,
        "UPDATE stripe_events SET status = $1, processed_at = $2, updated_at = $2, locked_by = NULL, \
             locked_until = NULL, last_error = NULL WHERE id = $3 AND locked_by = $4",
        vec![status.as_str().into(), now.into(), id.into(), worker.into()],
    );
    db.execute_raw(stmt).await?;
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
    let stmt = statement(
        db,
        "UPDATE stripe_events SET status = $1, next_attempt_at = $2, last_error = $3, updated_at = $4, \
             locked_by = NULL, locked_until = NULL WHERE id = $5 AND locked_by = $6",
        vec![
            (if dead { InboxStatus::Dead } else { InboxStatus::Retry }).as_str().into(),
            (now + backoff).into(),
            error.into(),
            now.into(),
            event.id.clone().into(),
            worker.into(),
        ],
    );
    db.execute_raw(stmt).await?;
    Ok(dead)
}

/// Puts a dead (or any finished) event back in the queue for another attempt.
pub async fn replay(db: &impl ConnectionTrait, id: &str) -> Result<bool, StoreError> {
    let now = Utc::now();
    let stmt = statement(
        db,
        "UPDATE stripe_events SET status = $1, attempts = 0, next_attempt_at = $2, updated_at = $2 WHERE id = $3",
        vec![InboxStatus::Retry.as_str().into(), now.into(), id.into()],
    );
    Ok(db.execute_raw(stmt).await?.rows_affected() > 0)
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
    let rows = db
        .query_all_raw(statement(
            db,
            "SELECT status, COUNT(*) AS n FROM stripe_events GROUP BY status ORDER BY status",
            vec![],
        ))
        .await?;
    let counts = rows
        .iter()
        .map(|row: &QueryResult| Ok((row.try_get::<String>("", "status")?, row.try_get::<i64>("", "n")?)))
        .collect::<Result<Vec<_>, sea_orm::DbErr>>()?;
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
