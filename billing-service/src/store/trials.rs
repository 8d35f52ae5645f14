//! The trial ledger (`trial_usage`): unique keys on (mode, user) and (mode, normalised
//! email) make a second trial impossible, even for two checkouts at the same moment.

use caixa_entities::trial_usage::{self, TrialState};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, SqlErr,
};

use super::{StoreError, statement};

/// Whether the ledger holds a trial (reserved or used) of `user` or of `email`.
pub async fn taken(
    db: &impl ConnectionTrait,
    user: &str,
    email: Option<&str>,
    livemode: bool,
) -> Result<bool, StoreError> {
    let mut holder = Condition::any().add(trial_usage::Column::UserId.eq(user));
    if let Some(email) = email {
        holder = holder.add(trial_usage::Column::EmailNormalized.eq(email));
    }
    let count = trial_usage::Entity::find()
        .filter(trial_usage::Column::Livemode.eq(livemode))
        .filter(holder)
        .count(db)
        .await?;
    Ok(count > 0)
}

/// Reserves a trial until `expires_at`; `None` when the user or email holds one already
/// (including a reservation a concurrent checkout made a moment ago).
pub async fn reserve(
    db: &impl ConnectionTrait,
    user: &str,
    email: &str,
    livemode: bool,
    expires_at: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    let now = Utc::now();
    let row = trial_usage::ActiveModel {
        livemode: Set(livemode),
        user_id: Set(user.to_owned()),
        email_normalized: Set(email.to_owned()),
        state: Set(TrialState::Reserved),
        checkout_session_id: Set(None),
        subscription_id: Set(None),
        reserved_at: Set(now),
        reservation_expires_at: Set(Some(expires_at)),
        confirmed_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    match row.insert(db).await {
        Ok(row) => Ok(Some(row.id)),
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => Ok(None),
        Err(err) => Err(err.into()),
    }
}

/// Ties a reservation to the session that carries the trial.
pub async fn attach(
    db: &impl ConnectionTrait,
    id: i64,
    session: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    let sql = "UPDATE trial_usage SET checkout_session_id = $1, reservation_expires_at = $2, updated_at = $3 WHERE id = $4";
    db.execute_raw(statement(db, sql, vec![session.into(), expires_at.into(), Utc::now().into(), id.into()]))
        .await?;
    Ok(())
}

/// Gives a reservation back.
pub async fn release(db: &impl ConnectionTrait, id: i64) -> Result<(), StoreError> {
    let sql = "DELETE FROM trial_usage WHERE id = $1 AND state = $2";
    db.execute_raw(statement(db, sql, vec![id.into(), TrialState::Reserved.as_str().into()])).await?;
    Ok(())
}

/// Gives back every reservation whose session lapsed before `now`.
pub async fn release_lapsed(db: &impl ConnectionTrait, now: DateTime<Utc>) -> Result<(), StoreError> {
    let sql = "DELETE FROM trial_usage WHERE state = $1 AND reservation_expires_at < $2";
    db.execute_raw(statement(db, sql, vec![TrialState::Reserved.as_str().into(), now.into()])).await?;
    Ok(())
}

/// Confirms the reservation of `session`: its trial became `subscription`.
pub async fn confirm_session(
    db: &impl ConnectionTrait,
    session: &str,
    subscription: Option<&str>,
) -> Result<(), StoreError> {
    let sql = "UPDATE trial_usage SET state = $1, subscription_id = $2, confirmed_at = $3, updated_at = $3 \
               WHERE checkout_session_id = $4 AND state = $5";
    let values = vec![
        TrialState::Confirmed.as_str().into(),
        subscription.map(str::to_owned).into(),
        Utc::now().into(),
        session.into(),
        TrialState::Reserved.as_str().into(),
    ];
    db.execute_raw(statement(db, sql, values)).await?;
    Ok(())
}

/// Gives back the reservation of a session that expired unused.
pub async fn release_session(db: &impl ConnectionTrait, session: &str) -> Result<(), StoreError> {
    let sql = "DELETE FROM trial_usage WHERE checkout_session_id = $1 AND state = $2";
    db.execute_raw(statement(db, sql, vec![session.into(), TrialState::Reserved.as_str().into()])).await?;
    Ok(())
}
