//! The revision log. Every change to a user's access-relevant state appends the user's
//! full state with the next revision, in the transaction that made the change.

use caixa_entities::{entitlement_changes, entitlements, state::UserState};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect,
};

use super::{StoreError, statement};

/// Takes the counter row's write lock early. SQLite allows one writer at a time; taking
/// the lock first avoids a reader-turned-writer failing with "database is locked".
pub async fn lock_for_sqlite(db: &impl ConnectionTrait) -> Result<(), StoreError> {
    if db.get_database_backend() == DbBackend::Sqlite {
        db.execute_raw(statement(db, "UPDATE revision_counter SET value = value WHERE id = 1", vec![]))
            .await?;
    }
    Ok(())
}

/// Stores `state` as the user's current state and appends it to the log, unless it
/// equals what is stored already (a repeated event changes nothing). Returns the
/// user's revision after the call.
pub async fn record(
    db: &impl ConnectionTrait,
    user_id: &str,
    livemode: bool,
    state: &UserState,
) -> Result<i64, StoreError> {
    let current = entitlements::Entity::find()
        .filter(entitlements::Column::UserId.eq(user_id))
        .filter(entitlements::Column::Livemode.eq(livemode))
        .one(db)
        .await?;
    let json = serde_json::to_value(state).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    // Compared as states, not as JSON, so that how a state was written (an older row's
    // explicit nulls, say) never counts as a change.
    if let Some(current) = &current
        && parse_state(&current.state).is_ok_and(|held| held == *state)
    {
        return Ok(current.revision);
    }
    let revision = next_revision(db).await?;
    let now = Utc::now();
    match current {
        Some(current) => {
            let mut row: entitlements::ActiveModel = current.into();
            row.revision = Set(revision);
            row.state = Set(json.clone());
            row.updated_at = Set(now);
            row.update(db).await?;
        }
        None => {
            entitlements::ActiveModel {
                user_id: Set(user_id.to_owned()),
                livemode: Set(livemode),
                revision: Set(revision),
                state: Set(json.clone()),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await?;
        }
    }
    entitlement_changes::ActiveModel {
        revision: Set(revision),
        user_id: Set(user_id.to_owned()),
        livemode: Set(livemode),
        state: Set(json),
        committed_at: Set(now),
        // The apply that wrote it, so the entitlement service's apply joins its trace.
        trace_context: Set(caixa_runtime::telemetry::trace::traceparent()),
    }
    .insert(db)
    .await?;
    Ok(revision)
}

/// The user's current revision (0 when billing never recorded them).
pub async fn of_user(db: &impl ConnectionTrait, user_id: &str, livemode: bool) -> Result<i64, StoreError> {
    Ok(entitlements::Entity::find()
        .filter(entitlements::Column::UserId.eq(user_id))
        .filter(entitlements::Column::Livemode.eq(livemode))
        .one(db)
        .await?
        .map_or(0, |row| row.revision))
}

/// Allocates the next revision. The counter row stays locked until the transaction
/// ends, so revisions become visible in exactly the order they were taken.
async fn next_revision(db: &impl ConnectionTrait) -> Result<i64, StoreError> {
    let row = db
        .query_one_raw(statement(
            db,
            "UPDATE revision_counter SET value = value + 1 WHERE id = 1 RETURNING value",
            vec![],
        ))
        .await?
        .ok_or_else(|| StoreError::Corrupt("revision_counter has no row".to_owned()))?;
    Ok(row.try_get::<i64>("", "value")?)
}

/// The newest committed revision and the highest pruned one.
pub async fn head(db: &impl ConnectionTrait) -> Result<(i64, i64), StoreError> {
    let row = db
        .query_one_raw(statement(
            db,
            "SELECT value, pruned_through FROM revision_counter WHERE id = 1",
            vec![],
        ))
        .await?
        .ok_or_else(|| StoreError::Corrupt("revision_counter has no row".to_owned()))?;
    Ok((row.try_get::<i64>("", "value")?, row.try_get::<i64>("", "pruned_through")?))
}

/// Up to `limit` changes after `after`, oldest first.
pub async fn changes_after(
    db: &impl ConnectionTrait,
    after: i64,
    livemode: bool,
    limit: u64,
) -> Result<Vec<entitlement_changes::Model>, StoreError> {
    Ok(entitlement_changes::Entity::find()
        .filter(entitlement_changes::Column::Revision.gt(after))
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
pub async fn prune(db: &impl ConnectionTrait, before: chrono::DateTime<Utc>) -> Result<i64, StoreError> {
    let (head, pruned) = head(db).await?;
    let cut = db
        .query_one_raw(statement(
            db,
            "SELECT COALESCE(MAX(revision), 0) AS cut FROM entitlement_changes WHERE committed_at < $1 AND revision < $2",
            vec![before.into(), head.into()],
        ))
        .await?
        .map(|row| row.try_get::<i64>("", "cut"))
        .transpose()?
        .unwrap_or(0);
    if cut <= pruned {
        return Ok(pruned);
    }
    db.execute_raw(statement(db, "DELETE FROM entitlement_changes WHERE revision <= $1", vec![cut.into()]))
        .await?;
    db.execute_raw(statement(
        db,
        "UPDATE revision_counter SET pruned_through = $1 WHERE id = 1",
        vec![cut.into()],
    ))
    .await?;
    Ok(cut)
}
