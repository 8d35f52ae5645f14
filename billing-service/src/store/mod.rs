//! Persistence: the inbox of Stripe events, Stripe-derived rows, the trial ledger, webhook
//! endpoints and the revision log. Reads and writes only; what to write is decided in
//! `domain/`.

pub mod catalogue;
pub mod customers;
pub mod endpoints;
pub mod inbox;
pub mod reconcile;
pub mod revisions;
pub mod sessions;
pub mod subscriptions;
pub mod sync;
pub mod trials;

use sea_orm::{
    ActiveModelBehavior, ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, IntoActiveModel,
    Iterable, PrimaryKeyToColumn, QueryFilter, sea_query::OnConflict,
};

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or could not be reached.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// Stored JSON could not be read back.
    #[error("corrupt stored state: {0}")]
    Corrupt(String),
    /// A row read as missing was written meanwhile by another transaction; what was
    /// decided from the read no longer holds, so the whole apply is tried again.
    #[error("a concurrent write stored this row first; try again")]
    Raced,
    /// The service is shutting down and no longer stores anything.
    #[error("shutting down")]
    ShuttingDown,
    /// A stored revision no copy of the log can hold.
    #[error("stored revision out of range")]
    Revision(#[from] caixa_types::RevisionError),
}

impl StoreError {
    /// Whether PostgreSQL picked this transaction as a deadlock's victim or refused it for
    /// a serialization conflict: it wrote nothing, and the same work tried again goes
    /// through. Two applies that write the same rows in different orders (a checkout
    /// closing a session while the inbox settles that customer's events) can deadlock.
    pub fn is_transient_conflict(&self) -> bool {
        use sea_orm::{DbErr, RuntimeErr};
        let Self::Db(DbErr::Exec(RuntimeErr::SqlxError(err)) | DbErr::Query(RuntimeErr::SqlxError(err))) =
            self
        else {
            return false;
        };
        err.as_database_error()
            .and_then(|db| db.code())
            .is_some_and(|code| code == "40P01" || code == "40001")
    }
}

/// The stored rows of `E` whose `key` is among `ids` (Stripe's ids, the tables' keys).
async fn among<E: EntityTrait>(
    db: &impl ConnectionTrait,
    key: E::Column,
    ids: Vec<String>,
) -> Result<Vec<E::Model>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(E::find().filter(key.is_in(ids)).all(db).await?)
}

/// Inserts a new row or updates an existing one (`save` would try an UPDATE for a new row
/// whose key is set, as Stripe ids always are). A row that a concurrent writer inserted a
/// moment ago is [`StoreError::Raced`]: the caller decided from a read that no longer
/// holds and must decide again. `ON CONFLICT DO NOTHING` keeps the transaction usable,
/// where a failed INSERT would abort it on PostgreSQL.
async fn upsert<A>(db: &impl ConnectionTrait, row: A, is_new: bool) -> Result<(), StoreError>
where
    A: ActiveModelTrait + ActiveModelBehavior + Send + Clone,
    <A::Entity as EntityTrait>::Model: IntoActiveModel<A>,
{
    if is_new {
        let key: Vec<_> =
            <<A::Entity as EntityTrait>::PrimaryKey as Iterable>::iter().map(|k| k.into_column()).collect();
        let inserted = <A::Entity as EntityTrait>::insert(row.clone())
            .on_conflict(OnConflict::columns(key).do_nothing().to_owned())
            .exec_without_returning(db)
            .await?;
        if inserted > 0 {
            return Ok(());
        }
        // Overwriting would undo the other transaction's row (its link, a newer time)
        // without the checks an existing row goes through.
        return Err(StoreError::Raced);
    }
    row.update(db).await?;
    Ok(())
}
