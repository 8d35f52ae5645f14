//! `sync-stripe`'s checkpoints: while a run is incomplete, one row per object type says
//! how far it got.

use caixa_entities::sync_checkpoints::{self, Model};
use chrono::Utc;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbBackend, EntityTrait, sea_query::OnConflict};

use super::StoreError;

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
    use sync_checkpoints::Column;
    let row = sync_checkpoints::ActiveModel {
        object_type: Set(object_type.to_owned()),
        starting_after: Set(after.map(str::to_owned)),
        completed: Set(completed),
        updated_at: Set(Utc::now()),
    };
    let newer = [Column::StartingAfter, Column::Completed, Column::UpdatedAt];
    sync_checkpoints::Entity::insert(row)
        .on_conflict(OnConflict::column(Column::ObjectType).update_columns(newer).to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(())
}

/// Forgets every checkpoint: the run finished.
pub async fn clear(db: &impl ConnectionTrait) -> Result<(), StoreError> {
    sync_checkpoints::Entity::delete_many().exec(db).await?;
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
        db.execute_unprepared(sql).await?;
    }
    Ok(())
}
