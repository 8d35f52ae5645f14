//! Reading the shared database: the snapshot at start-up, and the revision log when
//! billing cannot be reached.

use std::{collections::HashMap, sync::Arc};

use caixa_entities::{entitlement_changes, revision_counter, state::UserState};
use sea_orm::{
    AccessMode, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    IsolationLevel, QueryFilter, QueryOrder, QuerySelect, Statement, TransactionTrait,
};

use crate::domain::cache::Entry;

/// A consistent snapshot: every user's state and the revision it is at.
pub struct Snapshot {
    /// State per user.
    pub users: HashMap<String, Arc<Entry>>,
    /// The head revision when it was taken.
    pub revision: u64,
}

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Database failure.
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    /// A stored state could not be read.
    #[error("corrupt state for {user}: {reason}")]
    Corrupt {
        /// The user.
        user: String,
        /// The parse error.
        reason: String,
    },
}

fn parse(user: &str, json: serde_json::Value) -> Result<UserState, StoreError> {
    serde_json::from_value(json)
        .map_err(|e| StoreError::Corrupt { user: user.to_owned(), reason: e.to_string() })
}

/// Rows read per query while loading the snapshot.
const PAGE: i64 = 20_000;

/// Loads every user's state and the head revision in one read transaction
/// (REPEATABLE READ on PostgreSQL, so every page sees the same snapshot). Rows are read
/// in pages and each state is parsed straight from its JSON text, so memory holds the
/// result and one page, never a tree of every document.
pub async fn snapshot(db: &DatabaseConnection, livemode: bool) -> Result<Snapshot, StoreError> {
    let postgres = db.get_database_backend() == DbBackend::Postgres;
    let isolation = postgres.then_some(IsolationLevel::RepeatableRead);
    let txn = db.begin_with_config(isolation, Some(AccessMode::ReadOnly)).await?;
    let head = revision_counter::Entity::find_by_id(1i16).one(&txn).await?.map_or(0, |row| row.value);
    let mut users = HashMap::new();
    let mut last_id = 0i64;
    let sql = if postgres {
        "SELECT id, user_id, revision, state::text AS state FROM entitlements WHERE livemode = $1 AND id > $2 ORDER BY id LIMIT $3"
    } else {
        "SELECT id, user_id, revision, CAST(state AS TEXT) AS state FROM entitlements WHERE livemode = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
    };
    loop {
        let statement = Statement::from_sql_and_values(
            db.get_database_backend(),
            sql,
            [livemode.into(), last_id.into(), PAGE.into()],
        );
        let rows = txn.query_all_raw(statement).await?;
        let count = rows.len();
        for row in rows {
            last_id = row.try_get::<i64>("", "id")?;
            let user: String = row.try_get("", "user_id")?;
            let revision: i64 = row.try_get("", "revision")?;
            let text: String = row.try_get("", "state")?;
            let state: UserState = serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt { user: user.clone(), reason: e.to_string() })?;
            users.insert(user, Arc::new(Entry { revision: u64::try_from(revision).unwrap_or(0), state }));
        }
        if i64::try_from(count).unwrap_or(0) < PAGE {
            break;
        }
    }
    txn.commit().await?;
    users.shrink_to_fit();
    Ok(Snapshot { users, revision: u64::try_from(head).unwrap_or(0) })
}

/// A change read from the log.
pub struct LoggedChange {
    /// The user.
    pub user_id: String,
    /// The entry.
    pub entry: Entry,
    /// Commit time (Unix seconds).
    pub committed_at: i64,
}

/// Up to `limit` log entries after `after`, and the revision through which the log has
/// been pruned (a follower behind it must re-snapshot).
pub async fn changes_after(
    db: &DatabaseConnection,
    after: u64,
    livemode: bool,
    limit: u64,
) -> Result<(Vec<LoggedChange>, u64, u64), StoreError> {
    let counter = revision_counter::Entity::find_by_id(1i16).one(db).await?;
    let (head, pruned) = counter.map_or((0, 0), |c| (c.value, c.pruned_through));
    let rows = entitlement_changes::Entity::find()
        .filter(entitlement_changes::Column::Revision.gt(i64::try_from(after).unwrap_or(i64::MAX)))
        .filter(entitlement_changes::Column::Livemode.eq(livemode))
        .order_by_asc(entitlement_changes::Column::Revision)
        .limit(limit)
        .all(db)
        .await?;
    let mut changes = Vec::with_capacity(rows.len());
    for row in rows {
        let state = parse(&row.user_id, row.state)?;
        changes.push(LoggedChange {
            user_id: row.user_id,
            entry: Entry { revision: u64::try_from(row.revision).unwrap_or(0), state },
            committed_at: row.committed_at.timestamp(),
        });
    }
    Ok((changes, u64::try_from(head).unwrap_or(0), u64::try_from(pruned).unwrap_or(0)))
}
