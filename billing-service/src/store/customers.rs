//! Stripe customers and their link to a user.

use caixa_entities::customers::{self, ActiveModel, Model};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, Statement,
    sea_query::{Expr, Func},
};
use serde_json::json;

use super::{StoreError, upsert};
use crate::stripe::objects::Customer;

/// The stored customer `id`.
pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<Model>, StoreError> {
    Ok(customers::Entity::find_by_id(id.to_owned()).one(db).await?)
}

/// The stored customers among `ids`.
pub async fn find_many(db: &impl ConnectionTrait, ids: Vec<String>) -> Result<Vec<Model>, StoreError> {
    super::among::<customers::Entity>(db, customers::Column::Id, ids).await
}

/// The user's linked, not deleted customers in `livemode`, newest created first (Stripe's
/// `created` has whole seconds: of two made in one second, the one stored later).
pub async fn linked(db: &impl ConnectionTrait, user: &str, livemode: bool) -> Result<Vec<Model>, StoreError> {
    use sea_orm::QueryOrder;
    Ok(customers::Entity::find()
        .filter(customers::Column::UserId.eq(user))
        .filter(customers::Column::Livemode.eq(livemode))
        .filter(customers::Column::Deleted.eq(false))
        .order_by_desc(customers::Column::StripeCreated)
        .order_by_desc(customers::Column::CreatedAt)
        .order_by_desc(customers::Column::Id)
        .all(db)
        .await?)
}

/// Who a customer row belongs to: decided by the domain.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Link {
    /// The user it belongs to now.
    pub user_id: Option<String>,
    /// The user it belonged to until now, when that changed (kept as history).
    pub former_user_id: Option<String>,
    /// Its email in the form trials are keyed by.
    pub email_key: Option<String>,
}

/// Writes `customer` over `existing` (or as a new row), linked as `link` says, as of
/// `as_of`.
pub async fn save(
    db: &impl ConnectionTrait,
    existing: Option<Model>,
    customer: &Customer,
    link: Link,
    as_of: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let is_new = existing.is_none();
    let mut row: ActiveModel = match existing {
        Some(row) => row.into(),
        None => ActiveModel {
            id: Set(customer.id.clone()),
            livemode: Set(customer.livemode),
            deleted: Set(customer.deleted),
            stripe_created: Set(customer.created.unwrap_or(as_of)),
            created_at: Set(now),
            metadata: Set(json!({})),
            ..Default::default()
        },
    };
    if !customer.deleted {
        row.email = Set(customer.email.clone());
        row.email_normalized = Set(link.email_key);
        row.name = Set(customer.name.clone());
        row.metadata = Set(customer.metadata.clone());
    }
    row.user_id = Set(link.user_id);
    if link.former_user_id.is_some() {
        row.former_user_id = Set(link.former_user_id);
    }
    row.as_of = Set(as_of);
    row.updated_at = Set(now);
    upsert(db, row, is_new).await
}

/// Marks a stored customer deleted, keeping its row; its link becomes history, so the
/// user can be linked to a new customer.
pub async fn mark_deleted(
    db: &impl ConnectionTrait,
    row: Model,
    as_of: DateTime<Utc>,
) -> Result<(), StoreError> {
    let former = row.user_id.clone().or_else(|| row.former_user_id.clone());
    let mut row: ActiveModel = row.into();
    row.deleted = Set(true);
    row.user_id = Set(None);
    row.former_user_id = Set(former);
    row.as_of = Set(as_of);
    row.updated_at = Set(Utc::now());
    row.update(db).await?;
    Ok(())
}

/// Sets the user of a stored customer; a link it had before becomes history.
pub async fn set_user(db: &impl ConnectionTrait, id: &str, user_id: &str) -> Result<(), StoreError> {
    use customers::Column;
    let former = Func::coalesce([Expr::col(Column::UserId), Expr::col(Column::FormerUserId)]);
    customers::Entity::update_many()
        .col_expr(Column::FormerUserId, former.into())
        .col_expr(Column::UserId, Expr::value(user_id))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(())
}

/// How many deleted customers the user had in `livemode`.
pub async fn deleted_of(db: &impl ConnectionTrait, user: &str, livemode: bool) -> Result<u64, StoreError> {
    use sea_orm::PaginatorTrait;
    Ok(customers::Entity::find()
        .filter(customers::Column::FormerUserId.eq(user))
        .filter(customers::Column::Livemode.eq(livemode))
        .filter(customers::Column::Deleted.eq(true))
        .count(db)
        .await?)
}

/// Stores a stub for a customer not seen yet, linked to `user_id`; its `as_of` is older
/// than anything Stripe will send about it. `email` is (as given, as keyed). Returns
/// false when another writer stored the customer a moment ago.
pub async fn insert_stub(
    db: &impl ConnectionTrait,
    id: &str,
    user_id: &str,
    email: Option<(&str, String)>,
    livemode: bool,
    created: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let now = Utc::now();
    let stub = ActiveModel {
        id: Set(id.to_owned()),
        livemode: Set(livemode),
        user_id: Set(Some(user_id.to_owned())),
        former_user_id: Set(None),
        email: Set(email.as_ref().map(|(given, _)| (*given).to_owned())),
        email_normalized: Set(email.map(|(_, key)| key)),
        name: Set(None),
        deleted: Set(false),
        metadata: Set(json!({})),
        stripe_created: Set(created),
        as_of: Set(DateTime::<Utc>::UNIX_EPOCH),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let inserted = customers::Entity::insert(stub)
        .on_conflict(sea_orm::sea_query::OnConflict::column(customers::Column::Id).do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok(inserted > 0)
}

/// Every linked, not deleted customer in `livemode`.
pub async fn all_linked(db: &impl ConnectionTrait, livemode: bool) -> Result<Vec<Model>, StoreError> {
    Ok(customers::Entity::find()
        .filter(customers::Column::UserId.is_not_null())
        .filter(customers::Column::Livemode.eq(livemode))
        .filter(customers::Column::Deleted.eq(false))
        .all(db)
        .await?)
}

/// Takes the user's checkout lock for the rest of `txn` (PostgreSQL's advisory lock on a
/// hash of the user), waiting while another replica holds it.
pub async fn lock_user(txn: &impl ConnectionTrait, user: &str) -> Result<(), StoreError> {
    let sql = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))";
    let key = format!("caixa-checkout:{user}");
    txn.execute_raw(Statement::from_sql_and_values(DbBackend::Postgres, sql, [key.into()])).await?;
    Ok(())
}
