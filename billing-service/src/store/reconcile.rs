//! Where the reconciler is (`reconcile_state`, one row), and the lock that lets one
//! billing replica at a time run it.

use caixa_entities::reconcile_state::{self, Column, Model};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait,
    QueryFilter, Statement, TransactionTrait, sea_query::Expr,
};

use super::StoreError;

/// An arbitrary, fixed key for `pg_try_advisory_xact_lock`.
const LOCK_KEY: i64 = 0x6361_6978_6172_6563; // "caixarec"

/// The reconciler's state.
pub async fn state(db: &impl ConnectionTrait) -> Result<Model, StoreError> {
    reconcile_state::Entity::find_by_id(1_i16)
        .one(db)
        .await?
        .ok_or_else(|| StoreError::Corrupt("reconcile_state has no row".to_owned()))
}

/// The reconciler's lock, held until released (or dropped).
pub struct PassLock(Option<DatabaseTransaction>);

impl PassLock {
    /// Lets another replica reconcile.
    pub async fn release(self) -> Result<(), StoreError> {
        if let Some(txn) = self.0 {
            txn.rollback().await?;
        }
        Ok(())
    }
}

/// Takes the reconciler's lock: `None` when another replica holds it. On PostgreSQL it is
/// an advisory lock held by an open transaction; SQLite has one billing process, so there
/// is nothing to take (and its single connection must stay free for the pass itself).
pub async fn try_lock(db: &DatabaseConnection) -> Result<Option<PassLock>, StoreError> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(Some(PassLock(None)));
    }
    let txn = db.begin().await?;
    let row = txn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_try_advisory_xact_lock($1) AS held",
            [LOCK_KEY.into()],
        ))
        .await?;
    let held = row.map(|r| r.try_get::<bool>("", "held")).transpose()?.unwrap_or(false);
    Ok(held.then_some(PassLock(Some(txn))))
}

/// Moves the events cursor forward to `cursor` (never back).
pub async fn advance_cursor(db: &impl ConnectionTrait, cursor: i64) -> Result<(), StoreError> {
    reconcile_state::Entity::update_many()
        .col_expr(Column::EventsCursor, Expr::value(cursor))
        .filter(Column::Id.eq(1))
        .filter(Column::EventsCursor.lt(cursor))
        .exec(db)
        .await?;
    Ok(())
}

/// Records a finished pass (and sweep).
pub async fn finished(db: &impl ConnectionTrait, at: DateTime<Utc>, swept: bool) -> Result<(), StoreError> {
    let mut update = reconcile_state::Entity::update_many().col_expr(Column::LastSuccessAt, Expr::value(at));
    if swept {
        update = update.col_expr(Column::LastSweepAt, Expr::value(at));
    }
    update.filter(Column::Id.eq(1)).exec(db).await?;
    Ok(())
}
