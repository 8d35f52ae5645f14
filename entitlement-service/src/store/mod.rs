//! Reading the shared database: the snapshot at start-up, and the revision log when
//! billing cannot be reached; and the local snapshot file ([`local`]).

pub mod local;

use caixa_types::{Revision, RevisionError};
use std::sync::Arc;

use caixa_entities::{entitlement_changes, entitlements, revision_counter, state::UserState};
use futures_util::TryStreamExt;
use sea_orm::{
    AccessMode, ColumnTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, IsolationLevel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
    sea_query::{Expr, ExprTrait},
};

use crate::domain::{
    entry::{Entry, Plans},
    users::Users,
};

/// A consistent snapshot: every user's state and the revision it is at.
pub struct Snapshot {
    /// State per user.
    pub users: Users,
    /// The head revision when it was taken.
    pub revision: Revision,
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
    /// A revision the database holds that no revision can be.
    #[error(transparent)]
    Revision(#[from] RevisionError),
}

fn parse(user: &str, json: serde_json::Value) -> Result<UserState, StoreError> {
    serde_json::from_value(json)
        .map_err(|e| StoreError::Corrupt { user: user.to_owned(), reason: e.to_string() })
}

/// Loads every user's state and the head revision in one read transaction
/// (REPEATABLE READ on PostgreSQL, so the count, the rows and the head agree). Rows are
/// streamed and each state is parsed straight from its JSON text into its compact form,
/// so memory holds the result and a socket buffer, never a page of documents; the
/// database renders rows on one core while this parses on another.
pub async fn snapshot(
    db: &DatabaseConnection,
    livemode: bool,
    plans: &Plans,
) -> Result<Snapshot, StoreError> {
    let backend = db.get_database_backend();
    let postgres = backend == DbBackend::Postgres;
    let isolation = postgres.then_some(IsolationLevel::RepeatableRead);
    let txn = db.begin_with_config(isolation, Some(AccessMode::ReadOnly)).await?;
    let head = revision_counter::Entity::find_by_id(1i16).one(&txn).await?.map_or(0, |row| row.value);
    let of_mode = entitlements::Entity::find().filter(entitlements::Column::Livemode.eq(livemode));
    let count = of_mode.clone().count(&txn).await?;
    // Sized once, so the table never rehashes (and never holds two copies) while loading.
    let mut users = Users::with_capacity(usize::try_from(count).unwrap_or(0));
    {
        // The state as text: parsed here straight into its compact form, never into a
        // JSON tree first.
        let as_text = Expr::col(entitlements::Column::State).cast_as("text");
        let mut rows = of_mode
            .select_only()
            .columns([entitlements::Column::UserId, entitlements::Column::Revision])
            .column_as(as_text, "state")
            .into_tuple::<(String, i64, String)>()
            .stream(&txn)
            .await?;
        while let Some((user, revision, text)) = rows.try_next().await? {
            let state: UserState = serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt { user: user.clone(), reason: e.to_string() })?;
            users.upsert(Arc::new(Entry::new(&user, Revision::from_db(revision)?, &state, plans)));
        }
    }
    txn.commit().await?;
    Ok(Snapshot { users, revision: Revision::from_db(head)? })
}

/// A change read from the log.
pub struct LoggedChange {
    /// The entry.
    pub entry: Entry,
    /// Commit time (Unix seconds).
    pub committed_at: i64,
}

/// Up to `limit` log entries after `after`, and the revision through which the log has
/// been pruned (a follower behind it must re-snapshot).
pub async fn changes_after(
    db: &DatabaseConnection,
    after: Revision,
    livemode: bool,
    limit: u64,
    plans: &Plans,
) -> Result<(Vec<LoggedChange>, Revision, Revision), StoreError> {
    let counter = revision_counter::Entity::find_by_id(1i16).one(db).await?;
    let (head, pruned) = counter.map_or((0, 0), |c| (c.value, c.pruned_through));
    let rows = entitlement_changes::Entity::find()
        .filter(entitlement_changes::Column::Revision.gt(after.to_db()?))
        .filter(entitlement_changes::Column::Livemode.eq(livemode))
        .order_by_asc(entitlement_changes::Column::Revision)
        .limit(limit)
        .all(db)
        .await?;
    let mut changes = Vec::with_capacity(rows.len());
    for row in rows {
        let state = parse(&row.user_id, row.state)?;
        changes.push(LoggedChange {
            entry: Entry::new(&row.user_id, Revision::from_db(row.revision)?, &state, plans),
            committed_at: row.committed_at.timestamp(),
        });
    }
    Ok((changes, Revision::from_db(head)?, Revision::from_db(pruned)?))
}

/// Through which revision the log has been pruned: a follower behind it cannot catch up
/// from the log.
pub async fn pruned_through(db: &DatabaseConnection) -> Result<Revision, StoreError> {
    let counter = revision_counter::Entity::find_by_id(1i16).one(db).await?;
    Ok(Revision::from_db(counter.map_or(0, |c| c.pruned_through))?)
}
