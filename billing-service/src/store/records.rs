//! Stripe-derived rows, written from Stripe's JSON. A row is only overwritten by data at
//! least as new as what it holds (`as_of`), so an old payload can never roll it back.

use caixa_entities::{
    customers, products,
    state::{SubscriptionState, UserState},
    subscriptions,
};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};
use serde_json::{Value, json};

use super::StoreError;
use crate::domain::stripe_json::{id_of, normalize_email, subscription_item, timestamp};

/// What an upsert did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Upserted {
    /// False when the stored row was newer and left alone.
    pub applied: bool,
    /// The user the row belongs to now.
    pub user_id: Option<String>,
    /// The user it belonged to before, when that changed.
    pub previous_user_id: Option<String>,
}

/// Writes a customer (`deleted` customers keep their row, marked deleted).
pub async fn upsert_customer(
    db: &impl ConnectionTrait,
    object: &Value,
    as_of: DateTime<Utc>,
) -> Result<Upserted, StoreError> {
    let id = id_of(&object["id"]).unwrap_or_default();
    let existing = customers::Entity::find_by_id(id.clone()).one(db).await?;
    if existing.as_ref().is_some_and(|row| row.as_of > as_of) {
        return Ok(Upserted { user_id: existing.and_then(|row| row.user_id), ..Upserted::default() });
    }
    let now = Utc::now();
    let deleted = object["deleted"] == true;
    let metadata_user = object["metadata"]["user_id"].as_str().map(str::to_owned);
    let previous_user_id = existing.as_ref().and_then(|row| row.user_id.clone());
    // A link made at checkout survives a payload without metadata.
    let user_id = metadata_user.or_else(|| previous_user_id.clone());
    let is_new = existing.is_none();
    let mut row: customers::ActiveModel = match existing {
        Some(row) if deleted => {
            let mut row: customers::ActiveModel = row.into();
            row.deleted = Set(true);
            row.as_of = Set(as_of);
            row.updated_at = Set(now);
            row.update(db).await?;
            return Ok(Upserted { applied: true, user_id: previous_user_id, previous_user_id: None });
        }
        Some(row) => row.into(),
        None => customers::ActiveModel {
            id: Set(id),
            livemode: Set(object["livemode"] == true),
            deleted: Set(deleted),
            stripe_created: Set(timestamp(&object["created"]).unwrap_or(as_of)),
            created_at: Set(now),
            metadata: Set(json!({})),
            ..Default::default()
        },
    };
    if !deleted {
        row.email = Set(object["email"].as_str().map(str::to_owned));
        row.email_normalized = Set(object["email"].as_str().map(normalize_email));
        row.name = Set(object["name"].as_str().map(str::to_owned));
        row.metadata = Set(object["metadata"].clone());
    }
    row.user_id = Set(user_id.clone());
    row.as_of = Set(as_of);
    row.updated_at = Set(now);
    save(db, row, is_new).await?;
    let previous_user_id = previous_user_id.filter(|previous| Some(previous) != user_id.as_ref());
    Ok(Upserted { applied: true, user_id, previous_user_id })
}

/// Links a customer to a user (checkout's `client_reference_id`), creating a stub row if
/// the customer has not been seen yet.
pub async fn link_customer(
    db: &impl ConnectionTrait,
    customer_id: &str,
    user_id: &str,
    email: Option<&str>,
    livemode: bool,
    as_of: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = Utc::now();
    match customers::Entity::find_by_id(customer_id.to_owned()).one(db).await? {
        Some(row) if row.user_id.as_deref() == Some(user_id) => Ok(()),
        Some(row) => {
            let mut row: customers::ActiveModel = row.into();
            row.user_id = Set(Some(user_id.to_owned()));
            row.updated_at = Set(now);
            row.update(db).await?;
            Ok(())
        }
        None => {
            let stub = customers::ActiveModel {
                id: Set(customer_id.to_owned()),
                livemode: Set(livemode),
                user_id: Set(Some(user_id.to_owned())),
                email: Set(email.map(str::to_owned)),
                email_normalized: Set(email.map(normalize_email)),
                name: Set(None),
                deleted: Set(false),
                metadata: Set(json!({})),
                stripe_created: Set(as_of),
                // The stub is older than anything Stripe will send about the customer.
                as_of: Set(DateTime::<Utc>::UNIX_EPOCH),
                created_at: Set(now),
                updated_at: Set(now),
            };
            let inserted = customers::Entity::insert(stub)
                .on_conflict(
                    sea_orm::sea_query::OnConflict::column(customers::Column::Id).do_nothing().to_owned(),
                )
                .exec_without_returning(db)
                .await?;
            if inserted == 0 {
                // Stored a moment ago by another writer: only the link is ours to set.
                let sql = "UPDATE customers SET user_id = $1, updated_at = $2 WHERE id = $3";
                db.execute_raw(super::statement(
                    db,
                    sql,
                    vec![user_id.into(), now.into(), customer_id.into()],
                ))
                .await?;
            }
            Ok(())
        }
    }
}

/// Writes a subscription; its user comes from the customer link, else from the
/// subscription's `metadata.user_id` (set at checkout).
pub async fn upsert_subscription(
    db: &impl ConnectionTrait,
    object: &Value,
    as_of: DateTime<Utc>,
) -> Result<Upserted, StoreError> {
    let id = id_of(&object["id"]).unwrap_or_default();
    let customer_id = id_of(&object["customer"]).unwrap_or_default();
    let existing = subscriptions::Entity::find_by_id(id.clone()).one(db).await?;
    if existing.as_ref().is_some_and(|row| row.as_of > as_of) {
        return Ok(Upserted { user_id: existing.and_then(|row| row.user_id), ..Upserted::default() });
    }
    let linked = customers::Entity::find_by_id(customer_id.clone()).one(db).await?.and_then(|c| c.user_id);
    let user_id = linked.or_else(|| object["metadata"]["user_id"].as_str().map(str::to_owned));
    let previous_user_id =
        existing.as_ref().and_then(|row| row.user_id.clone()).filter(|p| Some(p) != user_id.as_ref());
    let status = object["status"].as_str().unwrap_or("incomplete").to_owned();
    let item = subscription_item(object);
    let period_start =
        timestamp(&item["current_period_start"]).or_else(|| timestamp(&object["current_period_start"]));
    // Grace runs from the start of the period whose payment failed.
    let past_due_since = match (&existing, status.as_str()) {
        (Some(row), "past_due") if row.status == "past_due" => row.past_due_since,
        (_, "past_due") => period_start.or(Some(as_of)),
        _ => None,
    };
    let now = Utc::now();
    let is_new = existing.is_none();
    let mut row: subscriptions::ActiveModel = match existing {
        Some(row) => row.into(),
        None => subscriptions::ActiveModel { id: Set(id), created_at: Set(now), ..Default::default() },
    };
    row.livemode = Set(object["livemode"] == true);
    row.customer_id = Set(customer_id);
    row.user_id = Set(user_id.clone());
    row.status = Set(status);
    row.price_id = Set(id_of(&item["price"]));
    row.product_id = Set(id_of(&item["price"]["product"]));
    row.quantity = Set(item["quantity"].as_i64().and_then(|q| i32::try_from(q).ok()).unwrap_or(1));
    row.trial_start = Set(timestamp(&object["trial_start"]));
    row.trial_end = Set(timestamp(&object["trial_end"]));
    row.current_period_start = Set(period_start);
    row.current_period_end =
        Set(timestamp(&item["current_period_end"]).or_else(|| timestamp(&object["current_period_end"])));
    row.cancel_at_period_end = Set(object["cancel_at_period_end"] == true);
    row.cancel_at = Set(timestamp(&object["cancel_at"]));
    row.canceled_at = Set(timestamp(&object["canceled_at"]));
    row.ended_at = Set(timestamp(&object["ended_at"]));
    row.past_due_since = Set(past_due_since);
    row.latest_invoice_id = Set(id_of(&object["latest_invoice"]));
    row.metadata = Set(object["metadata"].clone());
    row.stripe_created = Set(timestamp(&object["created"]).unwrap_or(as_of));
    row.as_of = Set(as_of);
    row.updated_at = Set(now);
    save(db, row, is_new).await?;
    Ok(Upserted { applied: true, user_id, previous_user_id })
}

/// Writes a product with the feature keys it grants.
pub async fn upsert_product(
    db: &impl ConnectionTrait,
    object: &Value,
    features: Vec<String>,
    as_of: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let id = id_of(&object["id"]).unwrap_or_default();
    let existing = products::Entity::find_by_id(id.clone()).one(db).await?;
    if existing.as_ref().is_some_and(|row| row.as_of > as_of) {
        return Ok(false);
    }
    let now = Utc::now();
    let is_new = existing.is_none();
    let mut row: products::ActiveModel = match existing {
        Some(row) => row.into(),
        None => products::ActiveModel { id: Set(id), created_at: Set(now), ..Default::default() },
    };
    row.livemode = Set(object["livemode"] == true);
    row.active = Set(object["active"] != false);
    row.name = Set(object["name"].as_str().unwrap_or_default().to_owned());
    row.description = Set(object["description"].as_str().map(str::to_owned));
    row.features = Set(json!(features));
    row.metadata = Set(object["metadata"].clone());
    row.as_of = Set(as_of);
    row.updated_at = Set(now);
    save(db, row, is_new).await?;
    Ok(true)
}

/// The user's full state, from their subscriptions and their products' features.
pub async fn user_state(
    db: &impl ConnectionTrait,
    user_id: &str,
    livemode: bool,
) -> Result<UserState, StoreError> {
    let rows = subscriptions::Entity::find()
        .filter(subscriptions::Column::UserId.eq(user_id))
        .filter(subscriptions::Column::Livemode.eq(livemode))
        .order_by_asc(subscriptions::Column::Id)
        .all(db)
        .await?;
    let mut subscriptions = Vec::with_capacity(rows.len());
    for row in rows {
        let features = match &row.product_id {
            Some(product) => products::Entity::find_by_id(product.clone())
                .one(db)
                .await?
                .and_then(|p| serde_json::from_value::<Vec<String>>(p.features).ok())
                .unwrap_or_default(),
            None => Vec::new(),
        };
        subscriptions.push(SubscriptionState {
            id: row.id,
            customer_id: row.customer_id,
            status: row.status,
            price_id: row.price_id,
            product_id: row.product_id,
            trial_start: row.trial_start.map(|t| t.timestamp()),
            trial_end: row.trial_end.map(|t| t.timestamp()),
            current_period_start: row.current_period_start.map(|t| t.timestamp()),
            current_period_end: row.current_period_end.map(|t| t.timestamp()),
            cancel_at_period_end: row.cancel_at_period_end,
            cancel_at: row.cancel_at.map(|t| t.timestamp()),
            ended_at: row.ended_at.map(|t| t.timestamp()),
            past_due_since: row.past_due_since.map(|t| t.timestamp()),
            features,
            livemode: row.livemode,
        });
    }
    Ok(UserState { subscriptions })
}

/// Users with a subscription to `product` (whose state changes with its features).
pub async fn users_of_product(
    db: &impl ConnectionTrait,
    product: &str,
) -> Result<Vec<(String, bool)>, StoreError> {
    let rows =
        subscriptions::Entity::find().filter(subscriptions::Column::ProductId.eq(product)).all(db).await?;
    let mut users: Vec<(String, bool)> =
        rows.into_iter().filter_map(|r| r.user_id.map(|u| (u, r.livemode))).collect();
    users.sort();
    users.dedup();
    Ok(users)
}

/// Writes a price.
pub async fn upsert_price(
    db: &impl ConnectionTrait,
    object: &Value,
    as_of: DateTime<Utc>,
) -> Result<bool, StoreError> {
    use caixa_entities::prices;
    let id = id_of(&object["id"]).unwrap_or_default();
    let existing = prices::Entity::find_by_id(id.clone()).one(db).await?;
    if existing.as_ref().is_some_and(|row| row.as_of > as_of) {
        return Ok(false);
    }
    let now = Utc::now();
    let is_new = existing.is_none();
    let mut row: prices::ActiveModel = match existing {
        Some(row) => row.into(),
        None => prices::ActiveModel { id: Set(id), created_at: Set(now), ..Default::default() },
    };
    row.livemode = Set(object["livemode"] == true);
    row.product_id = Set(id_of(&object["product"]).unwrap_or_default());
    row.active = Set(object["active"] != false);
    row.currency = Set(object["currency"].as_str().unwrap_or_default().to_owned());
    row.unit_amount = Set(object["unit_amount"].as_i64());
    row.recurring_interval = Set(object["recurring"]["interval"].as_str().map(str::to_owned));
    row.recurring_interval_count =
        Set(object["recurring"]["interval_count"].as_i64().and_then(|c| i32::try_from(c).ok()));
    row.lookup_key = Set(object["lookup_key"].as_str().map(str::to_owned));
    row.metadata = Set(object["metadata"].clone());
    row.as_of = Set(as_of);
    row.updated_at = Set(now);
    save(db, row, is_new).await?;
    Ok(true)
}

/// Inserts a new row or updates an existing one (`save` would try an UPDATE for a new row
/// whose key is set, as Stripe ids always are). A row that a concurrent writer inserted a
/// moment ago is updated instead; `ON CONFLICT DO NOTHING` keeps the transaction usable,
/// where a failed INSERT would abort it on PostgreSQL.
async fn save<A>(db: &impl ConnectionTrait, row: A, is_new: bool) -> Result<(), StoreError>
where
    A: ActiveModelTrait + sea_orm::ActiveModelBehavior + Send + Clone,
    <A::Entity as EntityTrait>::Model: sea_orm::IntoActiveModel<A>,
{
    use sea_orm::{Iterable, PrimaryKeyToColumn, sea_query::OnConflict};
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
    }
    row.update(db).await?;
    Ok(())
}
