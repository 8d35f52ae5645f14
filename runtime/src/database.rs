//! The connection pool and the readiness rule: the database answers and its schema is
//! at the head migration.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr};

/// Why the database is not ready.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// The pool could not be configured from `DATABASE_URL`.
    #[error("cannot open DATABASE_URL: {0}")]
    Open(#[source] DbErr),
    /// The database does not answer.
    #[error("database unreachable: {0}")]
    Unreachable(#[source] DbErr),
    /// Migrations are pending.
    #[error("schema is not at the head migration; run `caixa-migrate up`")]
    SchemaBehind,
}

/// Opens a pool without connecting yet, so a service can start (and report NOT_SERVING)
/// while its database is still down.
pub async fn connect_lazy(url: &str) -> Result<DatabaseConnection, DatabaseError> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_lazy(true)
        .max_connections(16)
        .connect_timeout(Duration::from_secs(3))
        .acquire_timeout(Duration::from_secs(3))
        .sqlx_logging(false)
        .map_sqlx_sqlite_opts(|opts| {
            // WAL lets readers proceed while a writer commits; the timeout waits out a
            // short write lock instead of failing at once.
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(5))
        });
    Database::connect(options).await.map_err(DatabaseError::Open)
}

/// Checks that the database answers and its schema is at head.
pub async fn check_ready(db: &DatabaseConnection) -> Result<(), DatabaseError> {
    db.execute_unprepared("SELECT 1").await.map_err(DatabaseError::Unreachable)?;
    match caixa_migrations::schema_is_at_head(db).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(DatabaseError::SchemaBehind),
        Err(err) => Err(DatabaseError::Unreachable(err)),
    }
}

/// Keeps `health` in step with the database until the drain: SERVING while the database
/// answers and its schema is at head, NOT_SERVING otherwise. Transitions are logged.
pub async fn watch_readiness(
    db: DatabaseConnection,
    health: crate::grpc::HealthState,
    drain: crate::shutdown::DrainSignal,
    interval: Duration,
) -> Result<(), crate::grpc::ServeError> {
    let drained = drain.wait();
    tokio::pin!(drained);
    loop {
        let ready = check_ready(&db).await;
        let was_serving = health.is_serving();
        health.set_serving(ready.is_ok()).await;
        match (&ready, was_serving) {
            (Ok(()), false) => tracing::info!("database ready; serving"),
            (Err(err), true) => tracing::warn!(reason = %err, "database not ready; not serving"),
            (Err(err), false) => tracing::debug!(reason = %err, "database still not ready"),
            (Ok(()), true) => {}
        }
        tokio::select! {
            () = &mut drained => return Ok(()),
            () = tokio::time::sleep(interval) => {}
        }
    }
}

/// `url` with any password replaced by `***`, for banners and logs.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, path) = rest.split_once('/').map_or((rest, None), |(a, p)| (a, Some(p)));
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => match user_info.split_once(':') {
            Some((user, _password)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    match path {
        Some(path) => format!("{scheme}://{authority}/{path}"),
        None => format!("{scheme}://{authority}"),
    }
}

#[cfg(test)]
mod tests {
    use super::redacted;

    #[test]
    fn passwords_are_masked_and_the_rest_kept() {
        assert_eq!(redacted("postgres://app:hunter2@db:5432/caixa"), "postgres://app:***@db:5432/caixa");
        assert_eq!(redacted("postgres://app@db/caixa"), "postgres://app@db/caixa");
        assert_eq!(
            redacted("sqlite://.caixa/local.sqlite?mode=rwc"),
            "sqlite://.caixa/local.sqlite?mode=rwc"
        );
        assert_eq!(redacted("postgres://a:p%40ss@db"), "postgres://a:***@db");
    }
}
