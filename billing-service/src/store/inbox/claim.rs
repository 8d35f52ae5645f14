//! Claiming inbox events: each customer's oldest pending event (its head) and the events
//! waiting behind it, so that one worker settles a customer's backlog in one pass, in the
//! customer's order, while other customers proceed in parallel.

use caixa_entities::stripe_events::{self, Column, Entity as Events, InboxStatus};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, FromQueryResult,
    QueryFilter, TransactionTrait,
    sea_query::{Alias, Expr, ExprTrait, LockBehavior, LockType, Order, Query, SelectStatement},
};

use super::{StoreError, unlocked};

/// How a customer's events of the same second are ordered (Stripe stamps events in whole
/// seconds and their ids carry no order): in the order their objects come to be, the
/// customer, then its subscription, then its checkout session, then the rest (invoices,
/// entitlements). A subscription's own event, which can apply from its payload, then
/// comes before the invoice events that must ask Stripe. The first prefix that matches
/// gives the rank; [`OTHERS`] is the rank of the rest. The SQL claim and [`rank`] both
/// read this one table.
const RANKS: [(&str, i32); 3] = [("customer.subscription.", 1), ("customer.", 0), ("checkout.session.", 2)];

/// The rank of event types no prefix in [`RANKS`] matches.
const OTHERS: i32 = 3;

/// The rank of `event_type` among a customer's events of one second.
pub fn rank(event_type: &str) -> i32 {
    RANKS.iter().find(|(prefix, _)| event_type.starts_with(prefix)).map_or(OTHERS, |(_, rank)| *rank)
}

/// [`rank`] in SQL, for the events aliased `of`.
fn rank_sql(of: &Alias) -> Expr {
    let like = |prefix: &str| Expr::col((of.clone(), Column::EventType)).like(format!("{prefix}%"));
    let [(prefix, rank), rest @ ..] = RANKS;
    let case = rest
        .iter()
        .fold(Expr::case(like(prefix), rank), |case, (prefix, rank)| case.case(like(prefix), *rank));
    case.finally(OTHERS).into()
}

/// The order events apply in: Stripe's time, then [`rank`], then id.
fn order_key(event: &stripe_events::Model) -> (DateTime<Utc>, i32, &str) {
    (event.stripe_created, rank(&event.event_type), &event.id)
}

/// A column of the events aliased `of`.
fn column_of(of: &Alias) -> impl Fn(Column) -> Expr + '_ {
    move |column| Expr::col((of.clone(), column))
}

/// `status IN (…)` with the statuses written into the statement, not bound: only then
/// can PostgreSQL prove the pending-events partial indexes apply, whatever plan it caches.
fn status_in(col: &impl Fn(Column) -> Expr, statuses: &[InboxStatus]) -> Expr {
    col(Column::Status).is_in(statuses.iter().map(|s| Expr::Constant(s.as_str().into())))
}

/// Held by a worker whose lease lapsed (it died or stalled).
fn lapsed(col: &impl Fn(Column) -> Expr, now: DateTime<Utc>) -> Expr {
    status_in(col, &[InboxStatus::Processing]).and(col(Column::LockedUntil).lt(now))
}

/// Events a worker may take as a head: waiting and due, or lapsed.
fn due(col: &impl Fn(Column) -> Expr, now: DateTime<Utc>) -> Condition {
    Condition::any()
        .add(status_in(col, &InboxStatus::WAITING).and(col(Column::NextAttemptAt).lte(now)))
        .add(lapsed(col, now))
}

/// Events that may join a claimed head: any not held by a live claim, whatever their
/// retry time (the head's turn is theirs).
fn free(col: &impl Fn(Column) -> Expr, now: DateTime<Utc>) -> Condition {
    Condition::any().add(status_in(col, &InboxStatus::WAITING)).add(lapsed(col, now))
}

/// Due heads, oldest first: due events with no earlier pending event of their customer.
/// The scan walks the pending events in Stripe's order (a partial index holds only
/// those) and stops at `limit`, so its cost follows the events in flight, not the
/// backlog.
fn heads(now: DateTime<Utc>, limit: u64, backend: DbBackend) -> SelectStatement {
    let (e, p) = (Alias::new("e"), Alias::new("p"));
    let col = |of: &Alias, column: Column| column_of(of)(column);
    let (created_p, created_e) = (col(&p, Column::StripeCreated), col(&e, Column::StripeCreated));
    let earlier = Condition::any()
        .add(created_p.clone().lt(created_e.clone()))
        .add(created_p.clone().eq(created_e.clone()).and(rank_sql(&p).lt(rank_sql(&e))))
        .add(
            created_p
                .eq(created_e)
                .and(rank_sql(&p).eq(rank_sql(&e)))
                .and(col(&p, Column::Id).lt(col(&e, Column::Id))),
        );
    let before_it = Query::select()
        .expr(Expr::val(1))
        .from_as(Events, p.clone())
        .and_where(col(&p, Column::CustomerId).eq(col(&e, Column::CustomerId)))
        .and_where(status_in(&column_of(&p), &InboxStatus::PENDING))
        .cond_where(earlier)
        .to_owned();
    let mut heads = Query::select();
    heads
        .column((e.clone(), Column::Id))
        .column((e.clone(), Column::CustomerId))
        .from_as(Events, e.clone())
        .and_where(status_in(&column_of(&e), &InboxStatus::PENDING))
        .cond_where(due(&column_of(&e), now))
        .and_where(Expr::exists(before_it).not())
        .order_by((e.clone(), Column::StripeCreated), Order::Asc)
        .order_by((e.clone(), Column::Id), Order::Asc)
        .limit(limit);
    if backend == DbBackend::Postgres {
        heads.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    heads
}

/// Claims, for `worker`, up to `limit` customers' due heads and, behind each, the
/// customer's other pending events not held by a live claim, at most `cap` events in
/// all (a prefix of each customer's events, in their order). Returned in apply order.
///
/// On PostgreSQL the heads are locked `SKIP LOCKED` until the claim commits, so several
/// billing replicas claim side by side and never take one customer's events twice; a
/// customer whose head another claim holds has no head to offer.
pub async fn claim(
    db: &DatabaseConnection,
    worker: &str,
    (limit, cap): (u64, u64),
    lease: Duration,
) -> Result<Vec<stripe_events::Model>, StoreError> {
    let now = Utc::now();
    let backend = db.get_database_backend();
    // SQLite has one writer and a deferred transaction that reads first cannot always
    // become one; its single worker needs no row locks.
    let txn = if backend == DbBackend::Postgres { Some(db.begin().await?) } else { None };
    let claimed = match &txn {
        Some(txn) => take(txn, worker, (limit, cap), lease, now).await?,
        None => take(db, worker, (limit, cap), lease, now).await?,
    };
    if let Some(txn) = txn {
        txn.commit().await?;
    }
    Ok(claimed)
}

async fn take(
    db: &impl ConnectionTrait,
    worker: &str,
    (limit, cap): (u64, u64),
    lease: Duration,
    now: DateTime<Utc>,
) -> Result<Vec<stripe_events::Model>, StoreError> {
    let backend = db.get_database_backend();
    // The plan that stays cheap at any backlog walks the pending events in order, probes
    // each customer's earlier ones by index, and stops at `limit`. Right after a burst
    // (Stripe redelivering everything) the table's statistics are stale and the planner
    // would rather sort the whole backlog and probe every event in it: hundreds of
    // milliseconds a claim at 100,000 pending. The settings hold for the heads' query
    // alone (and, being `LOCAL`, never outlive the claim's transaction).
    let plan = |on: &str| format!("SET LOCAL enable_sort = {on}; SET LOCAL enable_bitmapscan = {on}");
    let postgres = backend == DbBackend::Postgres;
    if postgres {
        db.execute_unprepared(&plan("off")).await?;
    }
    let heads: Vec<(String, Option<String>)> =
        HeadRow::find_by_statement(backend.build(&heads(now, limit, backend)))
            .all(db)
            .await?
            .into_iter()
            .map(|row| (row.id, row.customer_id))
            .collect();
    if postgres {
        db.execute_unprepared(&plan("on")).await?;
    }
    if heads.is_empty() {
        return Ok(Vec::new());
    }
    let customers: Vec<&str> = heads.iter().filter_map(|(_, customer)| customer.as_deref()).collect();
    let ids: Vec<&str> = heads.iter().map(|(id, _)| id.as_str()).collect();
    let c = Alias::new("c");
    let behind = Query::select()
        .column((c.clone(), Column::Id))
        .from_as(Events, c.clone())
        .cond_where(
            Condition::all().add(free(&column_of(&c), now)).add(
                Condition::any()
                    .add(Expr::col((c.clone(), Column::Id)).is_in(ids))
                    .add(Expr::col((c.clone(), Column::CustomerId)).is_in(customers)),
            ),
        )
        .order_by((c.clone(), Column::StripeCreated), Order::Asc)
        .order_by_expr(rank_sql(&c), Order::Asc)
        .order_by((c.clone(), Column::Id), Order::Asc)
        .limit(Ord::max(cap, limit))
        .to_owned();
    let mut events = Events::update_many()
        .col_expr(Column::Status, Expr::value(InboxStatus::Processing))
        .col_expr(Column::LockedBy, Expr::value(worker))
        .col_expr(Column::LockedUntil, Expr::value(now + lease))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::Id.in_subquery(behind))
        .filter(free(&|column: Column| Expr::col(column), now))
        .exec_with_returning(db)
        .await?;
    events.sort_by(|a, b| order_key(a).cmp(&order_key(b)));
    Ok(events)
}

#[derive(FromQueryResult)]
struct HeadRow {
    id: String,
    customer_id: Option<String>,
}

/// Gives claimed events back untouched (their attempt not counted), for a later claim:
/// those behind an event that failed, which must not apply before it.
pub async fn release(db: &impl ConnectionTrait, ids: &[&str], worker: &str) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    unlocked(Events::update_many())
        .col_expr(Column::Status, Expr::value(InboxStatus::Received))
        .col_expr(Column::Attempts, Expr::col(Column::Attempts).sub(1))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::Id.is_in(ids.iter().copied()))
        .filter(Column::LockedBy.eq(worker))
        .exec(db)
        .await?;
    Ok(())
}

/// Claimed events settled together, in apply order: one customer's, or (for events with
/// no customer, such as the catalogue's) those naming one object.
pub type Chain = Vec<stripe_events::Model>;

/// Splits claimed `events` (in apply order) into chains, each kept in apply order.
pub fn chains(events: Vec<stripe_events::Model>) -> Vec<Chain> {
    let mut chains: Vec<Chain> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for event in events {
        let key =
            event.customer_id.clone().or_else(|| event.object_id.clone()).unwrap_or_else(|| event.id.clone());
        match index.get(&key).and_then(|&at| chains.get_mut(at)) {
            Some(chain) => chain.push(event),
            None => {
                index.insert(key, chains.len());
                chains.push(vec![event]);
            }
        }
    }
    chains
}
