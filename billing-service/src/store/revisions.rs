//! The revision log. Every change to a user's access-relevant state appends the user's
//! full state with the next revision, in the transaction that made the change.

use std::collections::HashMap;

use caixa_entities::{entitlement_changes, entitlements, revision_counter, state::UserState};
use caixa_types::Revision;
use chrono::Utc;
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect, UpdateMany,
    sea_query::{Expr, ExprTrait, Func, OnConflict},
};

use super::StoreError;

/// An update of the one counter row.
fn counter() -> UpdateMany<revision_counter::Entity> {
    revision_counter::Entity::update_many().filter(revision_counter::Column::Id.eq(1))
}

/// Takes the counter row's write lock, held until the transaction ends. Users' states
/// are computed after it: a state read before a concurrent apply committed would
/// otherwise be logged after that apply's, at a newer revision, and undo it.
pub async fn lock(db: &impl ConnectionTrait) -> Result<(), StoreError> {
    let value = revision_counter::Column::Value;
    counter().col_expr(value, Expr::col(value)).exec(db).await?;
    Ok(())
}

/// Takes the counter row's write lock early. SQLite allows one writer at a time; taking
/// the lock first avoids a reader-turned-writer failing with "database is locked".
pub async fn lock_for_sqlite(db: &impl ConnectionTrait) -> Result<(), StoreError> {
    if db.get_database_backend() == DbBackend::Sqlite {
        lock(db).await?;
    }
    Ok(())
}

/// A user and the mode of their data: whose state a write may have changed.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct UserKey {
    /// The application's user.
    pub user_id: String,
    /// Live or test data.
    pub livemode: bool,
}

impl UserKey {
    /// `user_id` in `livemode`.
    pub fn new(user_id: impl Into<String>, livemode: bool) -> Self {
        Self { user_id: user_id.into(), livemode }
    }
}

/// Recomputes the state of each user (with mode) once and records it; returns each
/// user's revision after the call.
pub async fn record_users(
    db: &impl ConnectionTrait,
    mut users: Vec<UserKey>,
) -> Result<Vec<Revision>, StoreError> {
    users.sort();
    users.dedup();
    if users.is_empty() {
        return Ok(Vec::new());
    }
    lock(db).await?;
    let mut written = Vec::with_capacity(users.len());
    for livemode in [false, true] {
        let ids: Vec<String> =
            users.iter().filter(|u| u.livemode == livemode).map(|u| u.user_id.clone()).collect();
        // Bounded so that the statements' parameters stay within every backend's limit.
        for chunk in ids.chunks(RECORD_CHUNK) {
            let mut states = super::subscriptions::user_states(db, chunk, livemode).await?;
            let states: Vec<(String, UserState)> =
                chunk.iter().map(|user| (user.clone(), states.remove(user).unwrap_or_default())).collect();
            written.extend(record_many(db, livemode, &states).await?);
        }
    }
    Ok(written)
}

/// Users recorded per statement.
const RECORD_CHUNK: usize = 1_000;

/// Stores `state` as the user's current state and appends it to the log, unless it
/// equals what is stored already (a repeated event changes nothing). Returns the
/// user's revision after the call.
pub async fn record(
    db: &impl ConnectionTrait,
    user_id: &str,
    livemode: bool,
    state: &UserState,
) -> Result<Revision, StoreError> {
    let revisions = record_many(db, livemode, &[(user_id.to_owned(), state.clone())]).await?;
    revisions.first().copied().ok_or_else(|| StoreError::Corrupt("no revision recorded".to_owned()))
}

/// [`record`] for many users of one mode (each once), in four statements however many
/// there are. Revisions are taken in the order given. Returns each user's revision
/// after the call, in that order.
pub async fn record_many(
    db: &impl ConnectionTrait,
    livemode: bool,
    states: &[(String, UserState)],
) -> Result<Vec<Revision>, StoreError> {
    if states.is_empty() {
        return Ok(Vec::new());
    }
    let current: HashMap<String, entitlements::Model> = entitlements::Entity::find()
        .filter(entitlements::Column::UserId.is_in(states.iter().map(|(user, _)| user.clone())))
        .filter(entitlements::Column::Livemode.eq(livemode))
        .all(db)
        .await?
        .into_iter()
        .map(|row| (row.user_id.clone(), row))
        .collect();
    // Compared as states, not as JSON, so that how a state was written (an older row's
    // explicit nulls, say) never counts as a change. `Some(revision)`: unchanged.
    let unchanged: Vec<Option<i64>> = states
        .iter()
        .map(|(user, state)| {
            let row = current.get(user)?;
            parse_state(&row.state).ok().filter(|held| held == state).map(|_| row.revision)
        })
        .collect();
    let count = unchanged.iter().filter(|u| u.is_none()).count();
    if count == 0 {
        return Ok(unchanged.into_iter().flatten().map(Revision::from_db).collect::<Result<_, _>>()?);
    }
    let mut next = take_revisions(db, count).await?;
    let (now, trace_context) = (Utc::now(), caixa_runtime::telemetry::trace::traceparent());
    let (mut revisions, mut rows, mut changes) = (Vec::new(), Vec::new(), Vec::new());
    for ((user, state), unchanged) in states.iter().zip(unchanged) {
        if let Some(revision) = unchanged {
            revisions.push(Revision::from_db(revision)?);
            continue;
        }
        let json = serde_json::to_value(state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        rows.push(entitlements::ActiveModel {
            user_id: Set(user.clone()),
            livemode: Set(livemode),
            revision: Set(next),
            state: Set(json.clone()),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
        changes.push(entitlement_changes::ActiveModel {
            revision: Set(next),
            user_id: Set(user.clone()),
            livemode: Set(livemode),
            state: Set(json),
            committed_at: Set(now),
            // The apply that wrote it, so the entitlement service's apply joins its trace.
            trace_context: Set(trace_context.clone()),
        });
        revisions.push(Revision::from_db(next)?);
        next += 1;
    }
    let key = [entitlements::Column::UserId, entitlements::Column::Livemode];
    let newer =
        [entitlements::Column::Revision, entitlements::Column::State, entitlements::Column::UpdatedAt];
    entitlements::Entity::insert_many(rows)
        .on_conflict(OnConflict::columns(key).update_columns(newer).to_owned())
        .exec_without_returning(db)
        .await?;
    entitlement_changes::Entity::insert_many(changes).exec_without_returning(db).await?;
    Ok(revisions)
}

/// The user's current revision (0 when billing never recorded them).
pub async fn of_user(
    db: &impl ConnectionTrait,
    user_id: &str,
    livemode: bool,
) -> Result<Revision, StoreError> {
    let held = entitlements::Entity::find()
        .filter(entitlements::Column::UserId.eq(user_id))
        .filter(entitlements::Column::Livemode.eq(livemode))
        .one(db)
        .await?
        .map_or(0, |row| row.revision);
    Ok(Revision::from_db(held)?)
}

/// Allocates `count` revisions; returns the first. The counter row stays locked until
/// the transaction ends, so revisions become visible in exactly the order they were
/// taken.
async fn take_revisions(db: &impl ConnectionTrait, count: usize) -> Result<i64, StoreError> {
    let count = i64::try_from(count).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let value = revision_counter::Column::Value;
    let row = counter()
        .col_expr(value, Expr::col(value).add(count))
        .exec_with_returning(db)
        .await?
        .pop()
        .ok_or_else(|| StoreError::Corrupt("revision_counter has no row".to_owned()))?;
    Ok(row.value - count + 1)
}

/// The newest committed revision and the highest pruned one.
pub async fn head(db: &impl ConnectionTrait) -> Result<(Revision, Revision), StoreError> {
    let row = revision_counter::Entity::find_by_id(1_i16)
        .one(db)
        .await?
        .ok_or_else(|| StoreError::Corrupt("revision_counter has no row".to_owned()))?;
    Ok((Revision::from_db(row.value)?, Revision::from_db(row.pruned_through)?))
}

/// Up to `limit` changes after `after`, oldest first.
pub async fn changes_after(
    db: &impl ConnectionTrait,
    after: Revision,
    livemode: bool,
    limit: u64,
) -> Result<Vec<entitlement_changes::Model>, StoreError> {
    Ok(entitlement_changes::Entity::find()
        .filter(entitlement_changes::Column::Revision.gt(after.to_db()?))
        .filter(entitlement_changes::Column::Livemode.eq(livemode))
        .order_by_asc(entitlement_changes::Column::Revision)
        .limit(limit)
        .all(db)
        .await?)
}

/// Reads a stored state.
pub fn parse_state(json: &serde_json::Value) -> Result<UserState, StoreError> {
    serde_json::from_value(json.clone()).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Deletes log entries committed before `before`, always keeping the newest one, and
/// records how far the log now starts. Returns the new `pruned_through`.
pub async fn prune(db: &impl ConnectionTrait, before: chrono::DateTime<Utc>) -> Result<Revision, StoreError> {
    let (head, pruned) = head(db).await?;
    let (head, pruned) = (head.to_db()?, pruned.to_db()?);
    use entitlement_changes::Column;
    let cut: Option<i64> = entitlement_changes::Entity::find()
        .select_only()
        .column_as(Expr::from(Func::max(Expr::col(Column::Revision))), "cut")
        .filter(Column::CommittedAt.lt(before))
        .filter(Column::Revision.lt(head))
        .into_tuple()
        .one(db)
        .await?
        .flatten();
    let cut = cut.unwrap_or(0);
    if cut <= pruned {
        return Ok(Revision::from_db(pruned)?);
    }
    entitlement_changes::Entity::delete_many().filter(Column::Revision.lte(cut)).exec(db).await?;
    counter().col_expr(revision_counter::Column::PrunedThrough, Expr::value(cut)).exec(db).await?;
    Ok(Revision::from_db(cut)?)
}
