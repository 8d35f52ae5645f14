//! `sync-stripe`'s checkpoints: while a run is incomplete, one row per object type says
//! how far it got.

use caixa_entities::sync_checkpoints::{self, Model};
use chrono::Utc;
use sea_orm::{ConnectionTrait, EntityTrait};

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
