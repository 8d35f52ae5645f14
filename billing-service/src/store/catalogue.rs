//! The catalogue: products (with the feature keys they grant) and prices.

use caixa_entities::{prices, products};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};
use serde_json::json;

use super::{StoreError, upsert};
use crate::stripe::objects::{Price, Product};

/// Every stored product and price of one mode: the plans on sale are chosen from them
/// (tens of rows, read whole).
pub async fn of_mode(
    db: &impl ConnectionTrait,
    livemode: bool,
) -> Result<(Vec<products::Model>, Vec<prices::Model>), StoreError> {
    let products = products::Entity::find().filter(products::Column::Livemode.eq(livemode)).all(db).await?;
    let prices = prices::Entity::find().filter(prices::Column::Livemode.eq(livemode)).all(db).await?;
    Ok((products, prices))
}

/// The stored product `id`.
pub async fn product(db: &impl ConnectionTrait, id: &str) -> Result<Option<products::Model>, StoreError> {
    Ok(products::Entity::find_by_id(id.to_owned()).one(db).await?)
}

/// The stored products among `ids`.
pub async fn products(
    db: &impl ConnectionTrait,
    ids: Vec<String>,
) -> Result<Vec<products::Model>, StoreError> {
    super::among::<products::Entity>(db, products::Column::Id, ids).await
}

/// The stored prices among `ids`.
pub async fn prices(db: &impl ConnectionTrait, ids: Vec<String>) -> Result<Vec<prices::Model>, StoreError> {
    super::among::<prices::Entity>(db, prices::Column::Id, ids).await
}

/// Writes `product` over `existing` (or as a new row) as of `as_of`.
pub async fn save_product(
    db: &impl ConnectionTrait,
    existing: Option<products::Model>,
    product: &Product,
    as_of: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let is_new = existing.is_none();
    let mut row: products::ActiveModel = match existing {
        Some(row) => row.into(),
        None => {
            products::ActiveModel { id: Set(product.id.clone()), created_at: Set(now), ..Default::default() }
        }
    };
    row.livemode = Set(product.livemode);
    row.active = Set(product.active);
    row.name = Set(product.name.clone());
    row.description = Set(product.description.clone());
    row.features = Set(json!(product.features));
    row.limits = Set(json!(product.limits));
    row.metadata = Set(product.metadata.clone());
    row.as_of = Set(as_of);
    row.updated_at = Set(now);
    upsert(db, row, is_new).await
}

/// The stored price `id`.
pub async fn price(db: &impl ConnectionTrait, id: &str) -> Result<Option<prices::Model>, StoreError> {
    Ok(prices::Entity::find_by_id(id.to_owned()).one(db).await?)
}

/// Writes `price` over `existing` (or as a new row) as of `as_of`.
pub async fn save_price(
    db: &impl ConnectionTrait,
    existing: Option<prices::Model>,
    price: &Price,
    as_of: DateTime<Utc>,
) -> Result<(), StoreError> {
    let now = Utc::now();
    let is_new = existing.is_none();
    let mut row: prices::ActiveModel = match existing {
        Some(row) => row.into(),
        None => prices::ActiveModel { id: Set(price.id.clone()), created_at: Set(now), ..Default::default() },
    };
    row.livemode = Set(price.livemode);
    row.product_id = Set(price.product_id.clone());
    row.active = Set(price.active);
    row.currency = Set(price.currency.clone());
    row.unit_amount = Set(price.unit_amount);
    row.recurring_interval = Set(price.recurring_interval.clone());
    row.recurring_interval_count = Set(price.recurring_interval_count);
    row.lookup_key = Set(price.lookup_key.clone());
    row.metadata = Set(price.metadata.clone());
    row.as_of = Set(as_of);
    row.updated_at = Set(now);
    upsert(db, row, is_new).await
}
