//! The trial ledger (`trial_usage`): unique keys on (mode, user) and (mode, normalised
//! email) make a second trial impossible, even for two checkouts at the same moment.

use caixa_entities::trial_usage::{self, TrialState};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, SqlErr,
    sea_query::{Alias, Expr, ExprTrait, Func, OnConflict, Query},
};

use super::StoreError;
use trial_usage::Column;

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
    trial_usage::Entity::update_many()
        .col_expr(Column::CheckoutSessionId, Expr::value(session))
        .col_expr(Column::ReservationExpiresAt, Expr::value(expires_at))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Unties a reservation from its session: a create Stripe may have made without
/// answering carries it now, unknown, so the user's next checkout asks Stripe.
pub async fn detach(db: &impl ConnectionTrait, id: i64) -> Result<(), StoreError> {
    trial_usage::Entity::update_many()
        .col_expr(Column::CheckoutSessionId, Expr::value(None::<String>))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// Gives a reservation back.
pub async fn release(db: &impl ConnectionTrait, id: i64) -> Result<(), StoreError> {
    trial_usage::Entity::delete_many()
        .filter(Column::Id.eq(id))
        .filter(Column::State.eq(TrialState::Reserved))
        .exec(db)
        .await?;
    Ok(())
}

/// Reservations whose session should have ended by `now` (of `user` or `email` when
/// given, else all), for a check with Stripe.
pub async fn lapsed(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    holder: Option<(&str, &str)>,
) -> Result<Vec<trial_usage::Model>, StoreError> {
    let mut query = trial_usage::Entity::find()
        .filter(trial_usage::Column::State.eq(TrialState::Reserved))
        .filter(trial_usage::Column::ReservationExpiresAt.lt(now));
    if let Some((user, email)) = holder {
        query = query.filter(
            Condition::any()
                .add(trial_usage::Column::UserId.eq(user))
                .add(trial_usage::Column::EmailNormalized.eq(email)),
        );
    }
    Ok(query.all(db).await?)
}

/// Holds a reservation until `until` (its session is still open).
pub async fn extend(db: &impl ConnectionTrait, id: i64, until: DateTime<Utc>) -> Result<(), StoreError> {
    trial_usage::Entity::update_many()
        .col_expr(Column::ReservationExpiresAt, Expr::value(until))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// The reservation `user` holds in `livemode`, if any (for an open session, or from a
/// create that never answered), with the session it is attached to.
pub async fn held(
    db: &impl ConnectionTrait,
    user: &str,
    livemode: bool,
) -> Result<Option<(i64, Option<String>)>, StoreError> {
    let row = trial_usage::Entity::find()
        .filter(Column::UserId.eq(user))
        .filter(Column::Livemode.eq(livemode))
        .filter(Column::State.eq(TrialState::Reserved))
        .one(db)
        .await?;
    Ok(row.map(|row| (row.id, row.checkout_session_id)))
}

/// Gives back the user's reservations that no session carries (a create that failed
/// before Stripe answered), once Stripe has been checked for open sessions.
pub async fn release_unattached(
    db: &impl ConnectionTrait,
    user: &str,
    livemode: bool,
) -> Result<(), StoreError> {
    trial_usage::Entity::delete_many()
        .filter(Column::UserId.eq(user))
        .filter(Column::Livemode.eq(livemode))
        .filter(Column::State.eq(TrialState::Reserved))
        .filter(Column::CheckoutSessionId.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// Records that `user` used their trial on `subscription`: their reservation (if any) is
/// confirmed, else a confirmed row is added under `email_key`, unless the ledger already
/// holds a trial of that user or email. A row held under `placeholder` (the email was
/// not known then) moves to `email_key` when no other row holds it.
pub async fn confirm_used(
    db: &impl ConnectionTrait,
    user: &str,
    (email_key, placeholder): (&str, &str),
    livemode: bool,
    subscription: &str,
) -> Result<(), StoreError> {
    let now = Utc::now();
    trial_usage::Entity::update_many()
        .col_expr(Column::State, Expr::value(TrialState::Confirmed))
        .col_expr(Column::SubscriptionId, kept_or(Column::SubscriptionId, subscription))
        .col_expr(Column::ConfirmedAt, kept_or(Column::ConfirmedAt, now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::UserId.eq(user))
        .filter(Column::Livemode.eq(livemode))
        .filter(Column::State.eq(TrialState::Reserved))
        .exec(db)
        .await?;
    // Either key may be held already (the user's own confirmed row, or another user's
    // trial on the same email): then the ledger says enough.
    let row = trial_usage::ActiveModel {
        livemode: Set(livemode),
        user_id: Set(user.to_owned()),
        email_normalized: Set(email_key.to_owned()),
        state: Set(TrialState::Confirmed),
        subscription_id: Set(Some(subscription.to_owned())),
        reserved_at: Set(now),
        confirmed_at: Set(Some(now)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    trial_usage::Entity::insert(row)
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    if email_key != placeholder {
        let holder = Alias::new("holder");
        let email_held = Query::select()
            .expr(Expr::val(1))
            .from_as(trial_usage::Entity, holder.clone())
            .and_where(Expr::col((holder.clone(), Column::Livemode)).eq(livemode))
            .and_where(Expr::col((holder, Column::EmailNormalized)).eq(email_key))
            .to_owned();
        trial_usage::Entity::update_many()
            .col_expr(Column::EmailNormalized, Expr::value(email_key))
            .col_expr(Column::UpdatedAt, Expr::value(now))
            .filter(Column::UserId.eq(user))
            .filter(Column::Livemode.eq(livemode))
            .filter(Column::EmailNormalized.eq(placeholder))
            .filter(Expr::exists(email_held).not())
            .exec(db)
            .await?;
    }
    Ok(())
}

/// Confirms the reservation of `session`: its trial became `subscription`.
pub async fn confirm_session(
    db: &impl ConnectionTrait,
    session: &str,
    subscription: Option<&str>,
) -> Result<(), StoreError> {
    let now = Utc::now();
    trial_usage::Entity::update_many()
        .col_expr(Column::State, Expr::value(TrialState::Confirmed))
        .col_expr(Column::SubscriptionId, Expr::value(subscription.map(str::to_owned)))
        .col_expr(Column::ConfirmedAt, Expr::value(now))
        .col_expr(Column::UpdatedAt, Expr::value(now))
        .filter(Column::CheckoutSessionId.eq(session))
        .filter(Column::State.eq(TrialState::Reserved))
        .exec(db)
        .await?;
    Ok(())
}

/// Gives back the reservation of a session that expired unused.
pub async fn release_session(db: &impl ConnectionTrait, session: &str) -> Result<(), StoreError> {
    trial_usage::Entity::delete_many()
        .filter(Column::CheckoutSessionId.eq(session))
        .filter(Column::State.eq(TrialState::Reserved))
        .exec(db)
        .await?;
    Ok(())
}

/// `column`'s value when it has one, else `value`: a later confirmation never
/// overwrites what the first recorded.
fn kept_or(column: Column, value: impl Into<sea_orm::Value>) -> Expr {
    Func::coalesce([Expr::col(column), Expr::value(value)]).into()
}

/// The ledger in `livemode`, of `user` when given.
pub async fn ledger(
    db: &impl ConnectionTrait,
    livemode: bool,
    user: Option<&str>,
) -> Result<Vec<trial_usage::Model>, StoreError> {
    let mut query = trial_usage::Entity::find().filter(trial_usage::Column::Livemode.eq(livemode));
    if let Some(user) = user {
        query = query.filter(trial_usage::Column::UserId.eq(user));
    }
    Ok(query.all(db).await?)
}

/// What importing one past trial found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Imported {
    /// Added: the user, and the email unless another user holds it, hold a trial now.
    Added,
    /// The ledger already held this user's trial under this email (a second import).
    AlreadyHeld,
    /// The user held a trial without an email; it is held under this email now.
    EmailLearned,
    /// The user held a trial under another email already: this one stays free for
    /// another user.
    HeldUnderOtherEmail,
}

/// Records a trial the old application saw `user` use at `used_at`: a confirmed row under
/// `email_key` (or the user's placeholder when the email is held by another user or
/// unknown). `placeholder` is the user's key without an email.
pub async fn import_used(
    db: &impl ConnectionTrait,
    livemode: bool,
    user: &str,
    (email_key, placeholder): (Option<&str>, &str),
    used_at: DateTime<Utc>,
) -> Result<Imported, StoreError> {
    let existing = trial_usage::Entity::find()
        .filter(trial_usage::Column::Livemode.eq(livemode))
        .filter(trial_usage::Column::UserId.eq(user))
        .one(db)
        .await?;
    let email_free = match email_key {
        Some(email) => {
            trial_usage::Entity::find()
                .filter(trial_usage::Column::Livemode.eq(livemode))
                .filter(trial_usage::Column::EmailNormalized.eq(email))
                .count(db)
                .await?
                == 0
        }
        None => false,
    };
    let now = Utc::now();
    match existing {
        Some(row) if Some(row.email_normalized.as_str()) == email_key || email_key.is_none() => {
            Ok(Imported::AlreadyHeld)
        }
        Some(row) if row.email_normalized == placeholder && email_free => {
            let mut row: trial_usage::ActiveModel = row.into();
            row.email_normalized = Set(email_key.unwrap_or(placeholder).to_owned());
            row.updated_at = Set(now);
            row.update(db).await?;
            Ok(Imported::EmailLearned)
        }
        Some(_) => Ok(Imported::HeldUnderOtherEmail),
        None => {
            let key = email_key.filter(|_| email_free).unwrap_or(placeholder);
            trial_usage::ActiveModel {
                livemode: Set(livemode),
                user_id: Set(user.to_owned()),
                email_normalized: Set(key.to_owned()),
                state: Set(TrialState::Confirmed),
                checkout_session_id: Set(None),
                subscription_id: Set(None),
                reserved_at: Set(used_at),
                reservation_expires_at: Set(None),
                confirmed_at: Set(Some(used_at)),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(db)
            .await?;
            Ok(Imported::Added)
        }
    }
}
