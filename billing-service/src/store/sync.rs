//! `sync-stripe`'s checkpoints: while a run is incomplete, one row per object type says
//! how far it got.

use caixa_entities::sync_checkpoints::{self, Model};
use chrono::Utc;
use sea_orm::{ConnectionTrait, DbBackend, EntityTrait};

use super::{StoreError, statement};

/// The checkpoints of an incomplete run (empty when the last run finished).
pub async fn checkpoints(db: &impl ConnectionTrait) -> Result<Vec<Model>, StoreError> {
    Ok(sync_checkpoints::Entity::find().all(db).await?)
}

/// Records that `object_type` was applied up to `after` (and whether it is done).
pub async fn save(
    db: &impl ConnectionTrait,
    object_type: &str,
    after: Option<&str>,
    completed: bool,
) -> Result<(), StoreError> {
    let sql = "INSERT INTO sync_checkpoints (object_type, starting_after, completed, updated_at) \
               VALUES ($1, $2, $3, $4) ON CONFLICT (object_type) DO UPDATE \
               SET starting_after = excluded.starting_after, completed = excluded.completed, \
                   updated_at = excluded.updated_at";
    let values =
        vec![object_type.into(), after.map(str::to_owned).into(), completed.into(), Utc::now().into()];
    db.execute_raw(statement(db, sql, values)).await?;
    Ok(())
}

/// Forgets every checkpoint: the run finished.
pub async fn clear(db: &impl ConnectionTrait) -> Result<(), StoreError> {
    db.execute_raw(statement(db, "DELETE FROM sync_checkpoints", vec![])).await?;
    Ok(())
}

/// Refreshes PostgreSQL's statistics of the tables a sync fills. A connection keeps a
/// generic plan made while a table was nearly empty (a sequential scan) until the
/// table's statistics change; a sync grows a table from nothing to millions of rows
/// faster than autovacuum looks, so each lookup would scan the whole table. SQLite keeps
/// no statistics unless asked and plans by its indexes; nothing to do there.
pub async fn analyze(db: &impl ConnectionTrait) -> Result<(), StoreError> {
    if db.get_database_backend() == DbBackend::Postgres {
        let sql = "ANALYZE customers, subscriptions, entitlements, entitlement_changes, trial_usage, \
                   products, prices";
        db.execute_raw(statement(db, sql, vec![])).await?;
    }
    Ok(())
}
