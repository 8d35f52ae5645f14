//! Stripe subscriptions, and the per-user state computed from them.

use super::revisions::UserKey;
use std::collections::{BTreeMap, HashMap};

use caixa_types::Limit;

use caixa_entities::{
    products,
    state::{SubscriptionState, UserState},
    subscriptions::{self, ActiveModel, Model},
};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    sea_query::Expr,
};

use super::{StoreError, upsert};
use crate::stripe::objects::Subscription;

/// Who a subscription row belongs to and when its grace started: decided by the domain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ownership {
    /// The user it belongs to.
    pub user_id: Option<String>,
    /// Start of its current past_due episode.
    pub past_due_since: Option<DateTime<Utc>>,
}

/// The stored subscription `id`.
pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<Model>, StoreError> {
    Ok(subscriptions::Entity::find_by_id(id.to_owned()).one(db).await?)
}

/// The stored subscriptions among `ids`.
pub async fn find_many(db: &impl ConnectionTrait, ids: Vec<String>) -> Result<Vec<Model>, StoreError> {
    super::among::<subscriptions::Entity>(db, subscriptions::Column::Id, ids).await
}

/// Writes `sub` over `existing` (or as a new row) as of `as_of`.
pub async fn save(
    db: &impl ConnectionTrait,
    existing: Option<Model>,
    sub: &Subscription,
    ownership: Ownership,
    as_of: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let is_new = existing.is_none();
    let mut row: ActiveModel = match existing {
        Some(row) => row.into(),
        None => ActiveModel { id: Set(sub.id.clone()), created_at: Set(now), ..Default::default() },
    };
    row.livemode = Set(sub.livemode);
    row.customer_id = Set(sub.customer_id.clone());
    row.user_id = Set(ownership.user_id);
    row.status = Set(sub.status);
    row.price_id = Set(sub.price_id.clone());
    row.product_id = Set(sub.product_id.clone());
    row.quantity = Set(sub.quantity);
    row.trial_start = Set(sub.trial_start);
    row.trial_end = Set(sub.trial_end);
    row.current_period_start = Set(sub.current_period_start);
    row.current_period_end = Set(sub.current_period_end);
    row.cancel_at_period_end = Set(sub.cancel_at_period_end);
    row.cancel_at = Set(sub.cancel_at);
    row.canceled_at = Set(sub.canceled_at);
    row.ended_at = Set(sub.ended_at);
    row.past_due_since = Set(ownership.past_due_since);
    row.latest_invoice_id = Set(sub.latest_invoice_id.clone());
    row.metadata = Set(sub.metadata.clone());
    row.stripe_created = Set(sub.created.unwrap_or(as_of));
    row.as_of = Set(as_of);
    row.updated_at = Set(now);
    upsert(db, row, is_new).await
}

/// Stamps `ids`, found by a listing to equal Stripe's, as of `as_of` (never moving a stamp
/// back): their data is Stripe's as of that listing, so an event's payload must be dated
/// after it to go ahead of a refetch (`lifecycle::payload_leads`).
pub async fn confirm_unchanged(
    db: &impl ConnectionTrait,
    ids: Vec<String>,
    as_of: DateTime<Utc>,
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    subscriptions::Entity::update_many()
        .col_expr(subscriptions::Column::AsOf, Expr::value(as_of))
        .filter(subscriptions::Column::Id.is_in(ids))
        .filter(subscriptions::Column::AsOf.lt(as_of))
        .exec(db)
        .await?;
    Ok(())
}

/// Moves every subscription of `customer` to `user` (the customer was re-linked).
/// Returns their users after the move, each once.
pub async fn reassign(
    db: &impl ConnectionTrait,
    customer: &str,
    user: Option<&str>,
) -> Result<Vec<UserKey>, StoreError> {
    let moved = subscriptions::Entity::update_many()
        .col_expr(subscriptions::Column::UserId, Expr::value(user.map(str::to_owned)))
        .col_expr(subscriptions::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(subscriptions::Column::CustomerId.eq(customer))
        .exec_with_returning(db)
        .await?;
    let mut users: Vec<UserKey> =
        moved.into_iter().filter_map(|row| Some(UserKey::new(row.user_id?, row.livemode))).collect();
    users.sort();
    users.dedup();
    Ok(users)
}

/// The subscriptions of `customer` that had a trial: `(id, livemode)`.
pub async fn trials_of_customer(
    db: &impl ConnectionTrait,
    customer: &str,
) -> Result<Vec<(String, bool)>, StoreError> {
    let rows = subscriptions::Entity::find()
        .filter(subscriptions::Column::CustomerId.eq(customer))
        .filter(subscriptions::Column::TrialStart.is_not_null())
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|row| (row.id, row.livemode)).collect())
}

/// The user's full state, from their subscriptions and their products' features.
pub async fn user_state(
    db: &impl ConnectionTrait,
    user_id: &str,
    livemode: bool,
) -> Result<UserState, StoreError> {
    let mut states = user_states(db, &[user_id.to_owned()], livemode).await?;
    Ok(states.remove(user_id).unwrap_or_default())
}

/// The full state of each of `users` (all in one mode), in two statements however many
/// there are: an apply or a sync page recomputes hundreds at once.
pub async fn user_states(
    db: &impl ConnectionTrait,
    users: &[String],
    livemode: bool,
) -> Result<HashMap<String, UserState>, StoreError> {
    let mut states: HashMap<String, UserState> =
        users.iter().map(|user| (user.clone(), UserState::default())).collect();
    if users.is_empty() {
        return Ok(states);
    }
    let rows = subscriptions::Entity::find()
        .filter(subscriptions::Column::UserId.is_in(users.iter().cloned()))
        .filter(subscriptions::Column::Livemode.eq(livemode))
        .order_by_asc(subscriptions::Column::Id)
        .all(db)
        .await?;
    let mut product_ids: Vec<String> = rows.iter().filter_map(|row| row.product_id.clone()).collect();
    product_ids.sort();
    product_ids.dedup();
    let grants: HashMap<String, Grant> = if product_ids.is_empty() {
        HashMap::new()
    } else {
        products::Entity::find()
            .filter(products::Column::Id.is_in(product_ids))
            .all(db)
            .await?
            .into_iter()
            .map(|p| {
                let features = serde_json::from_value(p.features).unwrap_or_default();
                let limits = serde_json::from_value(p.limits).unwrap_or_default();
                (p.id, Grant { features, limits })
            })
            .collect()
    };
    for row in rows {
        let Some(state) = row.user_id.as_ref().and_then(|user| states.get_mut(user)) else { continue };
        let grant = row.product_id.as_ref().and_then(|p| grants.get(p)).cloned().unwrap_or_default();
        state.subscriptions.push(snapshot(row, grant));
    }
    Ok(states)
}

/// What a product grants: its features and the numbers set on them.
#[derive(Clone, Default)]
struct Grant {
    features: Vec<String>,
    limits: BTreeMap<String, Limit>,
}

/// A stored subscription as it appears in its user's state.
fn snapshot(row: Model, Grant { features, limits }: Grant) -> SubscriptionState {
    let seconds = |t: Option<DateTime<Utc>>| t.map(|t| t.timestamp());
    SubscriptionState {
        id: row.id,
        customer_id: row.customer_id,
        status: row.status.to_proto(),
        price_id: row.price_id,
        product_id: row.product_id,
        trial_start: seconds(row.trial_start),
        trial_end: seconds(row.trial_end),
        current_period_start: seconds(row.current_period_start),
        current_period_end: seconds(row.current_period_end),
        cancel_at_period_end: row.cancel_at_period_end,
        cancel_at: seconds(row.cancel_at),
        ended_at: seconds(row.ended_at),
        past_due_since: seconds(row.past_due_since),
        features,
        livemode: row.livemode,
        // Stripe's quantity is never negative; a row that says so grants no seat.
        quantity: u32::try_from(row.quantity).unwrap_or(0),
        limits,
    }
}

/// Users (with mode) owning a subscription that matches `filter`, each once.
async fn owners(
    db: &impl ConnectionTrait,
    filter: sea_orm::sea_query::SimpleExpr,
) -> Result<Vec<UserKey>, StoreError> {
    let rows = subscriptions::Entity::find().filter(filter).all(db).await?;
    let mut users: Vec<UserKey> =
        rows.into_iter().filter_map(|r| r.user_id.map(|u| UserKey::new(u, r.livemode))).collect();
    users.sort();
    users.dedup();
    Ok(users)
}

/// Users with a subscription to `product` (whose state changes with its features).
pub async fn users_of_product(db: &impl ConnectionTrait, product: &str) -> Result<Vec<UserKey>, StoreError> {
    owners(db, subscriptions::Column::ProductId.eq(product)).await
}

/// Users of the subscriptions of `customer`.
pub async fn users_of_customer(
    db: &impl ConnectionTrait,
    customer: &str,
) -> Result<Vec<UserKey>, StoreError> {
    owners(db, subscriptions::Column::CustomerId.eq(customer)).await
}

/// Whether any of the user's subscriptions in `livemode` ever had a trial.
pub async fn had_trial(db: &impl ConnectionTrait, user: &str, livemode: bool) -> Result<bool, StoreError> {
    let count = subscriptions::Entity::find()
        .filter(subscriptions::Column::UserId.eq(user))
        .filter(subscriptions::Column::Livemode.eq(livemode))
        .filter(subscriptions::Column::TrialStart.is_not_null())
        .count(db)
        .await?;
    Ok(count > 0)
}

/// Subscriptions in `livemode`, of `user` and in `status` when given, by id.
pub async fn list(
    db: &impl ConnectionTrait,
    livemode: bool,
    user: Option<&str>,
    status: Option<caixa_entities::subscriptions::Status>,
) -> Result<Vec<Model>, StoreError> {
    let mut query = subscriptions::Entity::find()
        .filter(subscriptions::Column::Livemode.eq(livemode))
        .order_by_asc(subscriptions::Column::Id);
    if let Some(user) = user {
        query = query.filter(subscriptions::Column::UserId.eq(user));
    }
    if let Some(status) = status {
        query = query.filter(subscriptions::Column::Status.eq(status));
    }
    Ok(query.all(db).await?)
}

/// Subscriptions in `livemode` that had a trial, by user.
pub async fn with_trials(db: &impl ConnectionTrait, livemode: bool) -> Result<Vec<Model>, StoreError> {
    Ok(subscriptions::Entity::find()
        .filter(subscriptions::Column::Livemode.eq(livemode))
        .filter(subscriptions::Column::TrialStart.is_not_null())
        .order_by_asc(subscriptions::Column::UserId)
        .all(db)
        .await?)
}
