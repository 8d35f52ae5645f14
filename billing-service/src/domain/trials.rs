//! One free trial per user: a ledger row is reserved when a checkout with a trial is
//! created, confirmed by Stripe's `checkout.session.completed`, and released when the
//! session expires. Unique keys on (mode, user) and (mode, normalised email) make a second
//! trial impossible, even for two checkouts at the same moment.

use caixa_entities::{subscriptions, trial_usage};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait,
    QueryFilter, SqlErr,
};

use crate::store::{StoreError, statement};

/// Whether a new checkout for this user (and email) would carry a trial.
pub async fn eligible(
    db: &impl ConnectionTrait,
    user: &str,
    email: Option<&str>,
    livemode: bool,
) -> Result<bool, StoreError> {
    release_lapsed(db).await?;
    let mut taken = trial_usage::Entity::find()
        .filter(trial_usage::Column::Livemode.eq(livemode))
        .filter(trial_usage::Column::UserId.eq(user));
    if let Some(email) = email {
        taken = trial_usage::Entity::find().filter(trial_usage::Column::Livemode.eq(livemode)).filter(
            Condition::any()
                .add(trial_usage::Column::UserId.eq(user))
                .add(trial_usage::Column::EmailNormalized.eq(email)),
        );
    }
    if taken.count(db).await? > 0 {
        return Ok(false);
    }
    // Trials from before the ledger existed are on the subscriptions themselves.
    let earlier = subscriptions::Entity::find()
        .filter(subscriptions::Column::UserId.eq(user))
        .filter(subscriptions::Column::Livemode.eq(livemode))
        .filter(subscriptions::Column::TrialStart.is_not_null())
        .count(db)
        .await?;
    Ok(earlier == 0)
}

/// Reserves the user's trial until `expires_at`; `None` when not eligible (including
/// when a concurrent checkout reserved it first).
pub async fn reserve(
    db: &impl ConnectionTrait,
    user: &str,
    email: &str,
    livemode: bool,
    expires_at: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    if !eligible(db, user, Some(email), livemode).await? {
        return Ok(None);
    }
    let now = Utc::now();
    let row = trial_usage::ActiveModel {
        livemode: Set(livemode),
        user_id: Set(user.to_owned()),
        email_normalized: Set(email.to_owned()),
        state: Set("reserved".to_owned()),
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

/// Gives a reservation back (the checkout could not be created).
pub async fn release(db: &impl ConnectionTrait, id: i64) -> Result<(), StoreError> {
    let sql = "DELETE FROM trial_usage WHERE id = $1 AND state = 'reserved'";
    db.execute_raw(statement(db, sql, vec![id.into()])).await?;
    Ok(())
}

/// Reservations whose session lapsed without news from Stripe are given back.
async fn release_lapsed(db: &impl ConnectionTrait) -> Result<(), StoreError> {
    let sql = "DELETE FROM trial_usage WHERE state = 'reserved' AND reservation_expires_at < $1";
    db.execute_raw(statement(db, sql, vec![Utc::now().into()])).await?;
    Ok(())
}
