//! Webhook endpoints (`/stripe/webhook/{uuid}`) and their signing secrets.

use caixa_entities::webhook_endpoints::{self, Model};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait};

use super::StoreError;

/// The stored endpoint `id`.
pub async fn find(db: &impl ConnectionTrait, id: uuid::Uuid) -> Result<Option<Model>, StoreError> {
    Ok(webhook_endpoints::Entity::find_by_id(id).one(db).await?)
}

/// An endpoint registered with Stripe.
pub struct NewEndpoint<'a> {
    /// The uuid in its URL.
    pub id: uuid::Uuid,
    /// Stripe's id (`we_...`).
    pub stripe_id: Option<String>,
    /// Mode of the events it accepts.
    pub livemode: bool,
    /// Its public URL.
    pub url: String,
    /// The API version Stripe renders its events in.
    pub api_version: Option<String>,
    /// Its signing secret.
    pub secret: &'a str,
    /// The event types Stripe sends to it.
    pub enabled_events: Vec<&'static str>,
}

/// Stores a newly registered endpoint, enabled.
pub async fn insert(db: &impl ConnectionTrait, endpoint: NewEndpoint<'_>) -> Result<(), StoreError> {
    let now = Utc::now();
    webhook_endpoints::ActiveModel {
        id: Set(endpoint.id),
        stripe_id: Set(endpoint.stripe_id),
        livemode: Set(endpoint.livemode),
        url: Set(endpoint.url),
        api_version: Set(endpoint.api_version),
        secret: Set(endpoint.secret.to_owned()),
        previous_secret: Set(None),
        previous_secret_expires_at: Set(None),
        enabled_events: Set(serde_json::json!(endpoint.enabled_events)),
        enabled: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(db)
    .await?;
    Ok(())
}

/// Every endpoint, newest first.
pub async fn list(db: &impl ConnectionTrait) -> Result<Vec<Model>, StoreError> {
    use sea_orm::QueryOrder;
    Ok(webhook_endpoints::Entity::find().order_by_desc(webhook_endpoints::Column::CreatedAt).all(db).await?)
}

/// The enabled endpoint at `url`, if any.
pub async fn enabled_at(db: &impl ConnectionTrait, url_prefix: &str) -> Result<Option<Model>, StoreError> {
    use sea_orm::{ColumnTrait, QueryFilter};
    Ok(webhook_endpoints::Entity::find()
        .filter(webhook_endpoints::Column::Enabled.eq(true))
        .filter(webhook_endpoints::Column::Url.starts_with(url_prefix))
        .one(db)
        .await?)
}

/// Stops accepting deliveries at endpoint `id`; false when there is no such endpoint.
pub async fn disable(db: &impl ConnectionTrait, id: uuid::Uuid) -> Result<bool, StoreError> {
    use sea_orm::{ColumnTrait, QueryFilter, sea_query::Expr};
    use webhook_endpoints::Column;
    let disabled = webhook_endpoints::Entity::update_many()
        .col_expr(Column::Enabled, Expr::value(false))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::Id.eq(id))
        .exec(db)
        .await?;
    Ok(disabled.rows_affected > 0)
}

/// When each endpoint last stored a delivery.
pub async fn last_deliveries(
    db: &impl ConnectionTrait,
) -> Result<std::collections::HashMap<uuid::Uuid, chrono::DateTime<Utc>>, StoreError> {
    use caixa_entities::stripe_events::{Column, Entity as Events};
    use sea_orm::{
        ColumnTrait, QueryFilter, QuerySelect,
        sea_query::{Expr, Func},
    };
    let rows: Vec<(uuid::Uuid, chrono::DateTime<Utc>)> = Events::find()
        .select_only()
        .column(Column::EndpointId)
        .column_as(Expr::from(Func::max(Expr::col(Column::ReceivedAt))), "last")
        .filter(Column::EndpointId.is_not_null())
        .group_by(Column::EndpointId)
        .into_tuple()
        .all(db)
        .await?;
    Ok(rows.into_iter().collect())
}
