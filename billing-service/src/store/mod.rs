//! Persistence: the webhook inbox, Stripe-derived records, and the revision log.

pub mod inbox;
pub mod records;
pub mod revisions;

use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or could not be reached.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// Stored JSON could not be read back.
    #[error("corrupt stored state: {0}")]
    Corrupt(String),
}

/// A statement written with `$1, $2, …` placeholders, rendered for the connection's
/// backend (SQLite takes `?1, ?2, …`).
pub fn statement(db: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Statement {
    let backend = db.get_database_backend();
    let sql = match backend {
        DbBackend::Postgres => sql.to_owned(),
        _ => sql.replace('$', "?"),
    };
    Statement::from_sql_and_values(backend, sql, values)
}
